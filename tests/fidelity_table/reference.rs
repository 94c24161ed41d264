//! How each tool's output becomes one cell, and what the real product
//! answers: the facts the "matches the real product?" column is computed
//! from.
//!
//! Sources of the facts (all written down here; the test reads no file for
//! them):
//! - nmap -sV: nmap's own signatures (`nmap-service-probes`, nmap 7.93)
//!   applied to the real product's banner as the bundled scenarios quote
//!   it from public captures and Microsoft's documentation (Exchange 5.5
//!   IMS, IIS 6 / Exchange 2003, Exchange 2007–2019, a PIX-masked banner);
//! - the EHLO keywords: nmap's sample of an Exchange 2003 server, the
//!   Exchange 2016 EHLO reply, the 5.5 IMS's list (as the scenarios cite
//!   them);
//! - relay: a default Exchange refuses anonymous relay;
//! - Postfix's PIX workarounds: Postfix's smtp client turns them on when
//!   the banner holds only `2`, `0`, `*` and spaces (smtp_proto.c), which
//!   a PIX or ASA `mask-banner` produces from any banner;
//! - Postfix: the row measured against the real Postfix in the same run.

use crate::targets::{
    COLUMNS, COMMANDS, NMAP_SV, NTLM, PIX, PROBE, REAL_POSTFIX, RELAY, Row, TESTSSL, USERS,
};

/// smtp-commands: the EHLO keywords after the greeting, or the error.
pub fn commands(out: Option<Vec<String>>) -> String {
    let Some(lines) = out else {
        return "—".into();
    };
    let first = lines[0].replace("\\x0D", "");
    match first.split_once(", ") {
        Some((_greeting, keywords)) if !first.starts_with("SMTP:") => keywords.to_string(),
        _ => first,
    }
}

/// smtp-ntlm-info: the NetBIOS domain, DNS computer name and version.
pub fn ntlm(out: Option<Vec<String>>) -> String {
    let Some(lines) = out else {
        return "—".into();
    };
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "{} / {} / {}",
        field("NetBIOS_Domain_Name"),
        field("DNS_Computer_Name"),
        field("Product_Version")
    )
}

/// smtp-open-relay: `not open relay`, `open relay (n/16)` or the error.
pub fn relay(out: Option<Vec<String>>) -> String {
    let Some(lines) = out else {
        return "—".into();
    };
    let text = lines.join(" ").replace("\\x0D", "");
    if text.contains("doesn't seem to be an open relay") {
        return "not open relay".into();
    }
    if let Some(rest) = text.split("Server is an open relay (").nth(1) {
        let count = rest.split(" tests").next().unwrap_or(rest);
        return format!("open relay ({count})");
    }
    text.trim().to_string()
}

/// smtp-enum-users: the accounts "found", `none found`, or the error.
pub fn users(out: Option<Vec<String>>) -> String {
    let Some(lines) = out else {
        return "—".into();
    };
    let found: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.as_str())
        .filter(|l| !l.is_empty())
        .collect();
    if found.is_empty() {
        return "no answer".into();
    }
    if found
        .iter()
        .any(|l| l.contains("Couldn't find any accounts"))
    {
        return "none found".into();
    }
    if found.len() > 1 || !found[0].contains(' ') {
        return format!("{} found: {}", found.len(), found.join(", "));
    }
    found[0].to_string()
}

/// What the real product answers where it is known.
pub enum Real {
    /// Facts about single cells.
    Facts(&'static [Fact]),
    /// The same cells as another row of the table, in these columns.
    SameAs(&'static str, &'static [usize]),
    /// There is no product to compare with.
    Nothing,
}

/// What the real product's cell in a column is (`Is`) or holds (`Has`).
pub enum Fact {
    Is(usize, &'static str),
    Has(usize, &'static str),
}

impl Fact {
    fn holds(&self, cells: &[String]) -> bool {
        match self {
            Fact::Is(col, text) => cells[*col] == *text,
            Fact::Has(col, text) => cells[*col].contains(text),
        }
    }

    fn describe(&self) -> String {
        match self {
            Fact::Is(col, text) => format!("{}: real `{text}`", COLUMNS[*col]),
            Fact::Has(col, text) => format!("{}: real has `{text}`", COLUMNS[*col]),
        }
    }
}

/// One target's real product.
pub struct Reference {
    pub product: &'static str,
    pub real: Real,
    /// Why it matches, or why it differs and what is left.
    pub note: &'static str,
}

const EX2003_EHLO: &str = "TURN, SIZE, ETRN, PIPELINING, DSN, ENHANCEDSTATUSCODES, 8bitmime, BINARYMIME, CHUNKING, VRFY, X-EXPS GSSAPI NTLM LOGIN, X-EXPS=LOGIN, AUTH GSSAPI NTLM LOGIN, AUTH=LOGIN, X-LINK2STATE, XEXCH50, OK";
const EX2016_EHLO: &str = "SIZE 37748736, PIPELINING, DSN, ENHANCEDSTATUSCODES, STARTTLS, X-ANONYMOUSTLS, AUTH NTLM, X-EXPS GSSAPI NTLM, 8BITMIME, BINARYMIME, CHUNKING, XRDST";
const IMS55_EHLO: &str = "XEXCH50, HELP, VRFY, SIZE 0, ETRN, DSN, AUTH=LOGIN, TLS";
const EX2003: &[Fact] = &[
    Fact::Is(NMAP_SV, "smtp Microsoft ESMTP 6.0.3790.3959"),
    Fact::Is(COMMANDS, EX2003_EHLO),
    Fact::Is(RELAY, "not open relay"),
    Fact::Has(PIX, "off;"),
];
const IMS55: &[Fact] = &[
    Fact::Is(NMAP_SV, "smtp Microsoft Exchange smtpd 5.5.2653.13"),
    Fact::Is(COMMANDS, IMS55_EHLO),
    Fact::Has(PIX, "off;"),
];
const MASKED: &[Fact] = &[
    Fact::Is(NMAP_SV, "smtp Cisco PIX sanitized smtpd"),
    Fact::Has(PIX, "on (disable_esmtp);"),
];
/// Every tool column but the probe's.
const TOOLS: &[usize] = &[NMAP_SV, COMMANDS, NTLM, RELAY, USERS, PIX, TESTSSL];
const ALL: &[usize] = &[NMAP_SV, COMMANDS, NTLM, RELAY, USERS, PIX, TESTSSL, PROBE];

/// The reference for a row label.
pub fn of(label: &str) -> Option<Reference> {
    let r = |product, real, note| {
        Some(Reference {
            product,
            real,
            note,
        })
    };
    match label {
        "`asa-inspect-esmtp`" => r(
            "Exchange 2003 behind a Cisco ASA (`inspect esmtp`)",
            Real::Facts(MASKED),
            "EHLO keywords the ASA does not allow are X-ed in place (the last letter counting them), as in the 2006 capture; AUTH passes, so smtp-ntlm-info still reads the server's names",
        ),
        "`exchange-2003`" | "`exchange2003-eas-proxy-address`" => r(
            "Exchange 2003 (IIS 6 SMTP)",
            Real::Facts(EX2003),
            "smtp-ntlm-info reads the names the scenario's `auth.ntlm` gives; no TLS offered (STARTTLS not in EHLO, as nmap's sample)",
        ),
        "`exchange-2019`" => r(
            "Exchange 2019 front-end receive connector",
            Real::Facts(&[
                Fact::Is(NMAP_SV, "smtp Microsoft Exchange smtpd"),
                Fact::Is(COMMANDS, EX2016_EHLO),
                Fact::Is(RELAY, "not open relay"),
                Fact::Has(PIX, "off;"),
                Fact::Has(TESTSSL, "RSA 2048 bits"),
                Fact::Has(TESTSSL, "self signed · 1825 days"),
            ]),
            "the certificate has the shape of Setup's self-signed default (RSA 2048, five years, CN the NetBIOS name); TLS 1.2 only, as the scenario says of SChannel on Windows Server 2019 (not checked against a real one here)",
        ),
        "`exchange55-ims-smtp-only`" | "`exchange55-override-proxy-out`" => r(
            "Exchange 5.5 Internet Mail Service",
            Real::Facts(IMS55),
            "open relay and every user \"found\" on purpose: `relay.allow` lets the loopback clients stand for the organisation's own hosts, which the IMS relays for",
        ),
        "`exchange55-multi-domain-reroute`" => r(
            "Exchange 5.5 Internet Mail Service",
            Real::Facts(&[
                Fact::Is(NMAP_SV, "smtp Microsoft Exchange smtpd 5.5.2653.13"),
                Fact::Is(COMMANDS, IMS55_EHLO),
                Fact::Is(RELAY, "not open relay"),
            ]),
            "nobody may relay; unknown recipients refused at RCPT",
        ),
        "`exchange55-relay-restricted`" | "`exchange55-sp2-imcea-bug`" => r(
            "Exchange 5.5 Internet Mail Service (relay only for 192.168.0.1)",
            Real::Facts(IMS55),
            "XCLIENT (loopback tests play 192.168.0.1 with it) is accepted but not advertised, as the IMS has none. Open relay (2/16): nmap's two `relaytest%nmap.scanme.org@` addresses at the server's own name are local recipients, accepted and returned later by NDR (`ndr.mode: bounce`); whether the real IMS honours the %-hack is not known",
        ),
        "`pix-mailguard`" => r(
            "Exchange 2003 behind a Cisco PIX (Mailguard)",
            Real::Facts(&[
                Fact::Is(NMAP_SV, "smtp Cisco PIX sanitized smtpd"),
                Fact::Has(PIX, "on (disable_esmtp);"),
                Fact::Has(COMMANDS, "SMTP: EHLO 500"),
            ]),
            "EHLO refused (only the seven RFC 821 verbs pass), so the scripts that need EHLO stop there, as they do against a real PIX",
        ),
        "`postfix-default`" => r(
            "Postfix 3.7 (Debian 12)",
            Real::SameAs(REAL_POSTFIX, ALL),
            "measured against the real Postfix in the same run (testssl compared without the CN: the real one is the snakeoil certificate of the machine). The real one also offers TLS 1.0 and 1.1 (`smtpd_tls_protocols` allows them, Debian's OpenSSL speaks them); rustls cannot",
        ),
        "`smtp-smuggling-receiver`" => r(
            "none: a generic receiver open to SMTP smuggling",
            Real::Nothing,
            "copies no product, so nmap names none; an open relay from loopback like any test sink",
        ),
        "`third-party-banner`" => r(
            "Trend Micro InterScan in front of Exchange 2003",
            Real::Facts(&[
                Fact::Is(
                    NMAP_SV,
                    "smtp Trend Micro InterScan 3.6-Build_1157 (on Microsoft ESMTP 6.0.3790.3959)",
                ),
                Fact::Is(COMMANDS, EX2003_EHLO),
                Fact::Is(RELAY, "not open relay"),
            ]),
            "the gateway's banner line first, then Exchange's",
        ),
        "profile `asa-inspect-esmtp` → `postfix-default`" => r(
            "a Cisco ASA (`inspect esmtp`) in front of Postfix",
            Real::Facts(MASKED),
            "STARTTLS X-ed out of EHLO, so testssl finds no STARTTLS",
        ),
        "profile `exchange-reroute` → `postfix-default`" => r(
            "no middlebox: envelope rewriting only",
            Real::SameAs("`postfix-default`", TOOLS),
            "invisible to every tool here: it rewrites only cpandl.net/.org addresses",
        ),
        "profile `pix-mailguard` → `postfix-default`" => r(
            "a Cisco PIX (Mailguard) in front of Postfix",
            Real::Facts(MASKED),
            "the profile answers the filtered verbs itself (`action: answer`, `500 5.5.1 Command unrecognized`); a real PIX forwards them X-ed and Postfix answers `502 5.5.2 Error: command not recognized` (`action: mask` does that)",
        ),
        "profile `starttls-strip` → `postfix-default`" => r(
            "an ISP or firewall stripping STARTTLS",
            Real::Facts(&[
                Fact::Is(TESTSSL, "— (no STARTTLS in EHLO)"),
                Fact::Is(PIX, "off; sent"),
            ]),
            "STARTTLS gone from EHLO, the rest of Postfix's list intact",
        ),
        "profile `transparent` → `postfix-default`" => r(
            "no middlebox",
            Real::SameAs("`postfix-default`", ALL),
            "a transparent relay changes nothing any tool sees",
        ),
        REAL_POSTFIX => r(
            "the real product",
            Real::Nothing,
            "the reference row for `postfix-default`",
        ),
        _ => None,
    }
}

/// The last column: `yes`, `no (…)` or `—`, then the note.
pub fn matches(row: &Row, rows: &[Row]) -> String {
    let Some(reference) = of(&row.label) else {
        return "**no reference** (tests/fidelity_table/reference.rs)".into();
    };
    let differences: Vec<String> = match reference.real {
        Real::Nothing => return format!("— {}: {}", reference.product, reference.note),
        Real::Facts(facts) => facts
            .iter()
            .filter(|f| !f.holds(&row.cells))
            .map(Fact::describe)
            .collect(),
        Real::SameAs(other, cols) => {
            let Some(theirs) = rows.iter().find(|r| r.label == other) else {
                return format!("**no row {other}**");
            };
            cols.iter()
                .filter(|&&c| comparable(c, &row.cells[c]) != comparable(c, &theirs.cells[c]))
                .map(|&c| format!("{}: real `{}`", COLUMNS[c], theirs.cells[c]))
                .collect()
        }
    };
    if differences.is_empty() {
        format!("yes, {}: {}", reference.product, reference.note)
    } else {
        format!(
            "**no** ({}), {}: {}",
            differences.join("; "),
            reference.product,
            reference.note
        )
    }
}

/// testssl's cell without the CN (the real Postfix's snakeoil names the
/// machine it was installed on).
fn comparable(col: usize, cell: &str) -> String {
    if col != TESTSSL {
        return cell.to_string();
    }
    cell.split(" · ")
        .filter(|p| !p.starts_with("CN "))
        .collect::<Vec<_>>()
        .join(" · ")
}
