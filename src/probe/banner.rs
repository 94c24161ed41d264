//! Banner classification, after nmap's `nmap-service-probes` and the
//! Exchange Server Analyzer's "Possible SMTP proxy detected" rule.
//!
//! Precedence: a masked line wins (nothing else can be read from it), then a
//! third-party product string (a gateway greets first), then the Microsoft
//! shapes, then "other".

use super::report::{Banner, BannerKind};
use regex::Regex;
use std::sync::LazyLock;

/// nmap's "Cisco PIX sanitized smtpd": `^220 [\*\d\ ]{2,300}\r\n`, applied to
/// the text after the code. At least one `*` is required: a banner of only
/// digits is odd but not a mask.
static MASKED: LazyLock<Regex> = LazyLock::new(|| re(r"^[*\d ]{2,300}$"));

/// Exchange 5.5 Internet Mail Service.
static IMS55: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^\[?([-.+\w]+)\]? ESMTP Server \(Microsoft Exchange Internet Mail Service ([-\w.]+)\) ready",
    )
});
/// IIS SMTP (Exchange 2000/2003): `Version: X ready at`.
static IIS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^\[?([-.+\w]+)\]? Microsoft ESMTP MAIL Service, Version: ([-\w.]+) ready")
});
/// Exchange 2007 and later: `Microsoft ESMTP MAIL Service ready at`.
static EX2007: LazyLock<Regex> =
    LazyLock::new(|| re(r"^([-\w.]+) Microsoft ESMTP MAIL Service ready at"));

/// Product strings of SMTP gateways and filters that greet in front of the
/// real server: (pattern, product).
static PRODUCTS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\bInterScan\b", "Trend Micro InterScan"),
        (r"(?i)\bTrend ?Micro\b", "Trend Micro"),
        (r"(?i)\bBarracuda\b", "Barracuda"),
        (r"(?i)\bSymantec\b|\bBrightmail\b", "Symantec"),
        (r"(?i)\bMessageLabs\b", "Symantec MessageLabs"),
        (r"(?i)\bIronPort\b", "Cisco IronPort"),
        (r"(?i)\bCisco\b", "Cisco"),
        (r"(?i)\bSophos\b|\bAstaro\b", "Sophos"),
        (r"(?i)\bProofpoint\b|\bpphosted\b", "Proofpoint"),
        (r"(?i)\bMimecast\b", "Mimecast"),
        (r"(?i)\bFortiMail\b|\bFortinet\b", "Fortinet FortiMail"),
        (r"(?i)\bMcAfee\b|\bMX ?Logic\b", "McAfee"),
        (r"(?i)\bWebsense\b|\bForcepoint\b", "Forcepoint"),
        (r"(?i)\bSonicWall\b", "SonicWall"),
        (r"(?i)\bWatchGuard\b", "WatchGuard"),
        (r"(?i)\bKaspersky\b", "Kaspersky"),
        (r"(?i)\bESET\b", "ESET"),
        (r"(?i)\bPostini\b", "Postini"),
        (r"(?i)\bSpamTitan\b", "SpamTitan"),
        (r"(?i)\bMailMarshal\b", "MailMarshal"),
        (r"(?i)\bGFI\b", "GFI"),
    ]
    .into_iter()
    .map(|(p, name)| (re(p), name))
    .collect()
});

fn re(pattern: &str) -> Regex {
    // The patterns are constants; a typo is a bug the unit tests catch.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in pattern {pattern:?}: {e}"))
}

/// Is this banner line's text (after `220 `) sanitized by a PIX/ASA?
pub fn is_masked(text: &str) -> bool {
    MASKED.is_match(text) && text.contains('*')
}

/// Classify a greeting.
pub fn classify(code: u16, lines: &[String]) -> Banner {
    let mut banner = Banner {
        code,
        lines: lines.to_vec(),
        kind: BannerKind::Other,
        exchange: None,
        version: None,
        host: None,
        product: None,
    };
    for line in lines {
        if let Some(c) = IMS55.captures(line) {
            banner.exchange = Some("5.5".into());
            banner.host = Some(c[1].to_string());
            banner.version = Some(c[2].to_string());
        } else if let Some(c) = IIS.captures(line) {
            banner.exchange = Some("2000/2003".into());
            banner.host = Some(c[1].to_string());
            banner.version = Some(c[2].to_string());
        } else if let Some(c) = EX2007.captures(line) {
            banner.exchange = Some("2007+".into());
            banner.host = Some(c[1].to_string());
        }
        if banner.product.is_none() {
            banner.product = PRODUCTS
                .iter()
                .find(|(p, _)| p.is_match(line))
                .map(|(_, name)| name.to_string());
        }
    }
    banner.kind = if lines.iter().any(|l| is_masked(l)) {
        BannerKind::Masked
    } else if banner.product.is_some() {
        BannerKind::ThirdParty
    } else if banner.exchange.is_some() {
        BannerKind::Microsoft
    } else {
        BannerKind::Other
    };
    if banner.host.is_none() && banner.kind == BannerKind::Other {
        banner.host = lines
            .first()
            .and_then(|l| l.split_whitespace().next())
            .filter(|h| h.contains('.'))
            .map(str::to_string);
    }
    banner
}

/// The Analyzer's rule: a Microsoft banner must be exactly one line in the
/// default shape. Extra lines around it mean something else greets too.
pub fn non_default_microsoft(b: &Banner) -> bool {
    b.exchange.is_some() && b.lines.len() > 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn kind(lines: &[&str]) -> Banner {
        classify(
            220,
            &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[rstest]
    #[case(
        "mail.adatum.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready at  Mon, 23 Nov 2026 08:40:00 +0000",
        BannerKind::Microsoft,
        Some("2000/2003"),
        Some("6.0.3790.3959")
    )]
    #[case(
        "mail1.fabrikam.com Microsoft ESMTP MAIL Service ready at Fri, 5 Aug 2016 16:24:41 -0700",
        BannerKind::Microsoft,
        Some("2007+"),
        None
    )]
    #[case(
        "host.example.com ESMTP Server (Microsoft Exchange Internet Mail Service 5.5.2653.13) ready",
        BannerKind::Microsoft,
        Some("5.5"),
        Some("5.5.2653.13")
    )]
    #[case("*********0*****2*************", BannerKind::Masked, None, None)]
    #[case("******************************", BannerKind::Masked, None, None)]
    #[case("mx.example.com ESMTP Postfix", BannerKind::Other, None, None)]
    #[case(
        "mx.example.com ESMTP Barracuda Networks",
        BannerKind::ThirdParty,
        None,
        None
    )]
    #[case("20200220", BannerKind::Other, None, None)]
    fn classifies(
        #[case] line: &str,
        #[case] want: BannerKind,
        #[case] exchange: Option<&str>,
        #[case] version: Option<&str>,
    ) {
        let b = kind(&[line]);
        assert_eq!(b.kind, want, "{line}");
        assert_eq!(b.exchange.as_deref(), exchange);
        assert_eq!(b.version.as_deref(), version);
    }

    #[test]
    fn interscan_in_front_of_exchange() {
        let b = kind(&[
            "InterScan Version 3.6-Build_1157 Mon Ready",
            "mail.adatum.com Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready at  Mon",
        ]);
        assert_eq!(b.kind, BannerKind::ThirdParty);
        assert_eq!(b.product.as_deref(), Some("Trend Micro InterScan"));
        assert_eq!(b.exchange.as_deref(), Some("2000/2003"));
        assert!(non_default_microsoft(&b));
    }
}
