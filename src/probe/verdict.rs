//! From observations to evidence and a verdict.
//!
//! Proxy evidence, in the spirit of the Exchange Server Analyzer's "Possible
//! SMTP proxy detected" rule and nmap's fingerprints: a masked banner, a
//! third-party product in the banner, EHLO refused, keywords overwritten with
//! X's, verbs the server should know answered as unknown, verbs echoed back
//! as X's, two different "unknown command" replies on one connection (a
//! second party answers some verbs), STARTTLS taken away. Server problems
//! (STARTTLS refused or broken, a connection lost mid-probe) are findings
//! without pointing at a proxy.

use super::banner;
use super::report::{
    BannerKind, Evidence, Report, SCHEMA, StarttlsStatus, Status, VerbStatus, Verdict,
};
use super::run::Observed;
use super::verbs;

fn ev(
    id: &'static str,
    label: impl Into<String>,
    detail: impl Into<String>,
    proxy: bool,
) -> Evidence {
    Evidence {
        id,
        label: label.into(),
        detail: detail.into(),
        proxy,
    }
}

/// Every piece of evidence in `seen`, proxy evidence first.
pub fn evidence(seen: &Observed) -> Vec<Evidence> {
    let mut out = Vec::new();
    if let Some(b) = &seen.banner {
        match b.kind {
            BannerKind::Masked => out.push(ev(
                "masked_banner",
                "masked banner",
                format!(
                    "only `*`, digits and spaces, as a Cisco PIX/ASA leaves it (nmap: \
                     \"Cisco PIX sanitized smtpd\"): {}",
                    super::render::clip(
                        &format!(
                            "{} {}",
                            b.code,
                            b.lines.first().map(String::as_str).unwrap_or_default()
                        ),
                        40
                    )
                ),
                true,
            )),
            BannerKind::ThirdParty => out.push(ev(
                "third_party_banner",
                format!(
                    "third-party banner ({})",
                    b.product.as_deref().unwrap_or("unknown product")
                ),
                format!(
                    "a gateway's product string in the greeting: {}",
                    b.lines.join(" | ")
                ),
                true,
            )),
            _ if banner::non_default_microsoft(b) => out.push(ev(
                "non_default_banner",
                "non-default banner",
                format!(
                    "a Microsoft banner with {} lines; the default has one: {}",
                    b.lines.len(),
                    b.lines.join(" | ")
                ),
                true,
            )),
            _ => {}
        }
    }
    if let Some(g) = &seen.greeting {
        if !g.ehlo_accepted {
            let ehlo = g.ehlo.as_ref().map(|r| r.first_line()).unwrap_or_default();
            let helo = match &g.helo {
                Some(r) if r.code == 250 => "HELO fallback works".to_string(),
                Some(r) => format!("HELO refused too ({})", r.first_line()),
                None => "HELO not tried".to_string(),
            };
            out.push(ev(
                "ehlo_refused",
                "EHLO refused",
                format!("EHLO got {ehlo}; {helo}. RFC 5321 servers must know EHLO"),
                true,
            ));
        }
        if !g.masked_keywords.is_empty() {
            out.push(ev(
                "masked_keywords",
                format!("{} EHLO keyword(s) masked", g.masked_keywords.len()),
                format!(
                    "overwritten with X's in place, as ASA inspect esmtp does: {}",
                    g.masked_keywords.join(", ")
                ),
                true,
            ));
        }
    }
    let filtered: Vec<&str> = seen
        .verbs
        .iter()
        .filter(|v| v.filtered)
        .map(|v| v.verb.as_str())
        .collect();
    if !filtered.is_empty() {
        let why: Vec<String> = seen
            .verbs
            .iter()
            .filter(|v| v.filtered)
            .map(|v| {
                format!(
                    "{} ({}, got {})",
                    v.verb,
                    match v.expected {
                        super::report::Expectation::Advertised => "advertised",
                        _ => "required by RFC 5321",
                    },
                    v.reply.as_ref().map(|r| r.first_line()).unwrap_or_default()
                )
            })
            .collect();
        out.push(ev(
            "verbs_filtered",
            format!("{} filtered", filtered.join(", ")),
            format!("answered as unknown commands: {}", why.join("; ")),
            true,
        ));
    }
    let echoed: Vec<String> = seen
        .verbs
        .iter()
        .filter(|v| {
            v.reply
                .as_ref()
                .is_some_and(|r| verbs::echoes_masked(r, &v.verb))
        })
        .map(|v| v.verb.clone())
        .chain(
            seen.starttls
                .as_ref()
                .and_then(|t| t.reply.as_ref())
                .filter(|r| verbs::echoes_masked(r, "STARTTLS"))
                .map(|_| "STARTTLS".to_string()),
        )
        .collect();
    if !echoed.is_empty() {
        out.push(ev(
            "masked_verbs",
            "verbs masked in transit",
            format!(
                "the server echoed X's where we sent {}: the verbs were overwritten on the way",
                echoed.join(", ")
            ),
            true,
        ));
    }
    if let Some(e) = mixed_unknown_replies(seen) {
        out.push(e);
    }
    if let Some(t) = &seen.starttls {
        match t.status {
            StarttlsStatus::Stripped => out.push(ev(
                "starttls_stripped",
                "STARTTLS stripped",
                t.reason.clone(),
                true,
            )),
            StarttlsStatus::Broken => out.push(ev(
                "starttls_broken",
                "STARTTLS broken",
                t.reason.clone(),
                false,
            )),
            _ => {}
        }
    }
    if let Some(m) = &seen.test_message
        && !m.accepted
        && seen.lost.is_some()
    {
        out.push(ev(
            "end_of_data_lost",
            "no reply after the message",
            format!(
                "{}; a middlebox losing the end-of-data mark makes senders resend (KB 295725)",
                m.error.as_deref().unwrap_or("no final reply")
            ),
            true,
        ));
    } else if let Some((step, err)) = &seen.lost {
        let tls_failed = seen
            .starttls
            .as_ref()
            .is_some_and(|t| t.status == StarttlsStatus::Broken);
        if !tls_failed {
            out.push(ev(
                "connection_lost",
                format!("connection lost at {step}"),
                format!("{step}: {err}"),
                false,
            ));
        }
    }
    if let Some(g) = &seen.greeting
        && !g.ehlo_accepted
        && g.helo.as_ref().is_some_and(|r| r.code != 250)
    {
        out.push(ev(
            "greeting_refused",
            "EHLO and HELO refused",
            "neither greeting was accepted",
            false,
        ));
    }
    out.sort_by_key(|e| !e.proxy);
    out
}

/// Replies meaning "unknown command" with different shapes on one
/// connection: one from the server, another from something in between.
fn mixed_unknown_replies(seen: &Observed) -> Option<Evidence> {
    let control = seen
        .verbs
        .iter()
        .find(|v| v.expected == super::report::Expectation::Control)
        .and_then(|v| v.reply.clone());
    let mut shapes: Vec<(String, String, String)> = Vec::new();
    let mut add = |verb: &str, r: &super::report::SeenReply| {
        let shape = verbs::shape(r, verb);
        if !shapes.iter().any(|(s, _, _)| *s == shape) {
            shapes.push((shape, verb.to_string(), r.first_line()));
        }
    };
    for v in &seen.verbs {
        if let (VerbStatus::Unrecognized, Some(r)) = (v.status, &v.reply) {
            add(&v.verb, r);
        }
    }
    if let Some(r) = seen.starttls.as_ref().and_then(|t| t.reply.as_ref())
        && verbs::status(Some(r), "STARTTLS", control.as_ref()) == VerbStatus::Unrecognized
    {
        add("STARTTLS", r);
    }
    if let Some(r) = seen.greeting.as_ref().and_then(|g| g.ehlo.as_ref())
        && r.code == 500
    {
        add("EHLO", r);
    }
    if shapes.len() < 2 {
        return None;
    }
    let shown: Vec<String> = shapes
        .iter()
        .map(|(_, verb, line)| format!("{verb}: `{line}`"))
        .collect();
    Some(ev(
        "mixed_unknown_replies",
        "two voices answer unknown commands",
        format!(
            "one server words \"unknown command\" one way; here: {}",
            shown.join(", ")
        ),
        true,
    ))
}

/// Build the report.
pub fn report(target: String, seen: Observed) -> Report {
    let evidence = if seen.fatal.is_some() {
        Vec::new()
    } else {
        evidence(&seen)
    };
    let proxy_suspected = evidence.iter().any(|e| e.proxy);
    let (status, summary) = if let Some(fatal) = &seen.fatal {
        (Status::CouldNotProbe, format!("could not probe: {fatal}"))
    } else if proxy_suspected {
        let labels: Vec<&str> = evidence
            .iter()
            .filter(|e| e.proxy)
            .map(|e| e.label.as_str())
            .collect();
        let mut s = format!("possible SMTP proxy ({})", labels.join(", "));
        let others: Vec<&str> = evidence
            .iter()
            .filter(|e| !e.proxy)
            .map(|e| e.label.as_str())
            .collect();
        if !others.is_empty() {
            s.push_str(&format!("; also {}", others.join(", ")));
        }
        (Status::Finding, s)
    } else if !evidence.is_empty() {
        let labels: Vec<&str> = evidence.iter().map(|e| e.label.as_str()).collect();
        (
            Status::Finding,
            format!("no proxy seen, but: {}", labels.join(", ")),
        )
    } else {
        (Status::Clean, "no interference".to_string())
    };
    Report {
        schema: SCHEMA,
        target,
        verdict: Verdict {
            status,
            proxy_suspected,
            summary,
            exit_code: status.exit_code(),
        },
        evidence,
        banner: seen.banner,
        greeting: seen.greeting,
        starttls: seen.starttls,
        verbs: seen.verbs,
        test_message: seen.test_message,
        transcript: seen.transcript,
    }
}
