//! The harmless verbs a probe tries, and how to read their replies.
//!
//! Each probe is chosen so that no server can act on it:
//! - `XPROBE` is made up: its reply teaches us how *this* path answers an
//!   unknown command, so a filtered verb can be told from one the server
//!   simply lacks.
//! - `VRFY postmaster` / `EXPN postmaster`: postmaster must exist (RFC 5321
//!   4.5.1) and is no secret.
//! - `HELP`, `NOOP`: no effect by definition.
//! - `ETRN example.invalid`: `.invalid` can never have a queue (RFC 2606).
//! - `AUTH X-SMTP-HARNESS-PROBE`: a mechanism no server has; no credential is
//!   ever sent. A `334` is cancelled with `*` (RFC 4954 4).
//! - `BDAT 0 LAST` is only sent outside a transaction (no MAIL FROM yet), where
//!   it must be refused (503); with zero octets there is no chunk to misread.

use super::report::{Expectation, SeenReply, VerbStatus};
use crate::protocol::mask::keyword_name;
use regex::Regex;
use std::sync::LazyLock;

static X_RUN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bx{4,}\b").unwrap_or_else(|e| panic!("bad built-in pattern: {e}"))
});

/// Does the reply echo a run of X's as long as the verb we sent? Then the
/// verb reached the server overwritten (ASA, or PIX in mask mode).
pub fn echoes_masked(reply: &SeenReply, verb: &str) -> bool {
    let masked = "X".repeat(verb.len());
    reply.lines.iter().any(|l| {
        l.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == masked)
    })
}

/// One verb to try.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// The verb.
    pub verb: &'static str,
    /// The whole line.
    pub line: &'static str,
    /// The EHLO keyword that advertises it, if one does.
    pub keyword: Option<&'static str>,
    /// RFC 5321 4.5.1 requires it.
    pub required: bool,
}

/// The made-up verb, sent first.
pub const CONTROL: Probe = Probe {
    verb: "XPROBE",
    line: "XPROBE",
    keyword: None,
    required: false,
};

/// The verbs, in the order sent (after [`CONTROL`]).
pub const PROBES: &[Probe] = &[
    Probe {
        verb: "NOOP",
        line: "NOOP",
        keyword: None,
        required: true,
    },
    Probe {
        verb: "VRFY",
        line: "VRFY postmaster",
        keyword: Some("VRFY"),
        required: true,
    },
    Probe {
        verb: "EXPN",
        line: "EXPN postmaster",
        keyword: Some("EXPN"),
        required: false,
    },
    Probe {
        verb: "HELP",
        line: "HELP",
        keyword: Some("HELP"),
        required: false,
    },
    Probe {
        verb: "ETRN",
        line: "ETRN example.invalid",
        keyword: Some("ETRN"),
        required: false,
    },
    Probe {
        verb: "AUTH",
        line: "AUTH X-SMTP-HARNESS-PROBE",
        keyword: Some("AUTH"),
        required: false,
    },
    Probe {
        verb: "BDAT",
        line: "BDAT 0 LAST",
        keyword: Some("CHUNKING"),
        required: false,
    },
];

/// Why this verb should work on this server.
pub fn expectation(p: &Probe, keywords: &[String]) -> Expectation {
    let advertised = p.keyword.is_some_and(|kw| {
        keywords
            .iter()
            .any(|k| keyword_name(k).eq_ignore_ascii_case(kw))
    });
    if advertised {
        Expectation::Advertised
    } else if p.required {
        Expectation::Required
    } else {
        Expectation::Optional
    }
}

/// A reply's text with the verb and quoting removed, lower-cased: servers
/// that echo the verb (`500 Error: command "ETRN" not recognized`) give the
/// same shape for every unknown verb.
pub fn shape(reply: &SeenReply, verb: &str) -> String {
    let text = reply.lines.join(" ").to_ascii_lowercase();
    let text = text.replace(&verb.to_ascii_lowercase(), "<verb>");
    // A masking middlebox forwards `XXXXXXXX`; the server echoes that.
    let text = X_RUN.replace_all(&text, "<verb>");
    let text: String = text
        .chars()
        .filter(|c| !matches!(c, '"' | '\'' | '`'))
        .collect();
    format!("{} {}", reply.code, text.trim())
}

/// How a verb was answered, given the control verb's reply.
pub fn status(reply: Option<&SeenReply>, verb: &str, control: Option<&SeenReply>) -> VerbStatus {
    let Some(r) = reply else {
        return VerbStatus::NoReply;
    };
    let like_unknown = control.is_some_and(|c| shape(c, CONTROL.verb) == shape(r, verb));
    match r.code {
        500 => VerbStatus::Unrecognized,
        _ if like_unknown => VerbStatus::Unrecognized,
        502 | 504 => VerbStatus::NotImplemented,
        _ => VerbStatus::Answered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: u16, text: &str) -> SeenReply {
        SeenReply {
            code,
            lines: vec![text.into()],
        }
    }

    #[test]
    fn echoed_verbs_have_one_shape() {
        assert_eq!(
            shape(&r(500, "Error: command \"ETRN\" not recognized"), "ETRN"),
            shape(
                &r(500, "Error: command \"XPROBE\" not recognized"),
                "XPROBE"
            )
        );
    }

    #[test]
    fn statuses() {
        let postfix_unknown = r(502, "5.5.2 Error: command not recognized");
        assert_eq!(
            status(Some(&postfix_unknown), "HELP", Some(&postfix_unknown)),
            VerbStatus::Unrecognized
        );
        assert_eq!(
            status(
                Some(&r(502, "5.5.1 VRFY command is disabled")),
                "VRFY",
                Some(&postfix_unknown)
            ),
            VerbStatus::NotImplemented
        );
        assert_eq!(
            status(Some(&r(252, "2.0.0 postmaster")), "VRFY", None),
            VerbStatus::Answered
        );
        assert_eq!(status(None, "VRFY", None), VerbStatus::NoReply);
    }
}
