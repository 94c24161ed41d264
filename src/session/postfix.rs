//! What only Postfix's smtpd does (`dialect: postfix`): how it reads a
//! command line, and the verbs the RFC dialect leaves unimplemented.

use super::Session;
use crate::protocol::{Command, Reply, Verb};
use crate::scenario::model::StateName;

/// A command line as Postfix's smtpd reads it: a C string, so it ends at
/// its first NUL, split into words at spaces and tabs alike. Borrowed when
/// neither is there: every ordinary command, on `postfix-default`'s hot path.
pub(super) fn command_line(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr2(0, b'\t', line).is_none() {
        return std::borrow::Cow::Borrowed(line);
    }
    let end = memchr::memchr(0, line).unwrap_or(line.len());
    line[..end]
        .iter()
        .map(|&b| if b == b'\t' { b' ' } else { b })
        .collect::<Vec<u8>>()
        .into()
}

/// Postfix's ETRN when no `fast_flush_domains` entry matches (its default
/// is `$relay_domains`, empty on a stock install): every well-formed
/// domain is refused with 459, without an enhanced code.
pub(super) fn etrn(s: &Session, cmd: &Command) -> Reply {
    if matches!(s.state(), StateName::Mail | StateName::Rcpt) {
        return Reply::new(503, "Error: MAIL transaction in progress");
    }
    let words: Vec<&str> = cmd.args.split_whitespace().collect();
    let [domain] = words.as_slice() else {
        return Reply::new(500, "Syntax: ETRN domain");
    };
    let domain = domain.strip_prefix(['@', '#']).unwrap_or(domain);
    if !valid_hostname(domain) {
        return Reply::new(501, "Error: invalid parameter syntax");
    }
    Reply::new(459, format!("<{domain}>: service unavailable"))
}

/// Postfix's `valid_hostname`: dot-separated labels of letters, digits,
/// `-` and `_`, none empty, longer than 63 or starting or ending with
/// `-`; at most 255 octets; not all numeric.
fn valid_hostname(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    !name.is_empty()
        && name.len() <= 255
        && name.split('.').all(label_ok)
        && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Postfix's XFORWARD, allowed to the same clients as XCLIENT here.
pub(super) fn xforward(s: &Session) -> Reply {
    if !super::builtin::xclient_allowed(s) {
        return Reply::new(550, "5.7.0 Error: insufficient authorization");
    }
    Reply::new(250, "2.0.0 Ok")
}


/// Postfix's `smtpd_tls_security_level = encrypt` (our `tls.require`):
/// before the handshake only HELO, EHLO, STARTTLS, NOOP and QUIT (and
/// verbs it does not know, XCLIENT, XFORWARD) get their own answer; MAIL,
/// RCPT, DATA, BDAT, RSET, VRFY, ETRN and AUTH get 530, checked before the
/// session state (the differential test's `required_tls_sequences`). A
/// BDAT refused so carries no chunk, as in Postfix.
pub(super) fn tls_first(s: &Session, cmd: &Command) -> Option<Reply> {
    if !s.tls_still_required() {
        return None;
    }
    match cmd.verb {
        Verb::Mail
        | Verb::Rcpt
        | Verb::Data
        | Verb::Bdat
        | Verb::Rset
        | Verb::Vrfy
        | Verb::Etrn
        | Verb::Auth => Some(s.render(&s.plan().replies.errors.tls_required)),
        _ => None,
    }
}
