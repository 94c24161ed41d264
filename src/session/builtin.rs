//! The built-in behaviour: a correct RFC 5321 server. Only the reply is
//! decided here; `Session::effect` applies what the reply means.

use super::Session;
use crate::protocol::address::{MAX_MAILBOX, PathError, parse_path};
use crate::protocol::{Command, Reply, Verb, mask, xclient};
use crate::routing::{self, Decision, cidr};
use crate::scenario::model::{Dialect, StateName, TlsFailure};

pub(super) fn reply(s: &mut Session, cmd: &Command) -> Reply {
    let plan = s.plan();
    let r = &plan.replies;
    let postfix = plan.dialect == Dialect::Postfix;
    match cmd.verb {
        // Postfix's wording, without an enhanced code.
        Verb::Helo | Verb::Ehlo if cmd.args.is_empty() => match &r.errors.helo_syntax {
            Some(text) => s.render(text),
            None => Reply::new(501, format!("Syntax: {} hostname", cmd.verb)),
        },
        Verb::Helo => s.render(&r.helo),
        Verb::Ehlo => {
            let vars = s.vars();
            let source = match &plan.tls {
                Some(tls) if s.tls_active() => &tls.keywords_after,
                _ => &plan.ehlo_keywords,
            };
            let mut keywords: Vec<String> = source.iter().map(|k| k.render(&vars)).collect();
            if plan.xclient_advertised && xclient_allowed(s) {
                keywords.push("XCLIENT ADDR NAME".into());
            }
            let keywords = match &plan.ehlo_mask_except {
                Some(allowed) => mask::mask_keywords(&keywords, allowed),
                None => keywords,
            };
            let mut lines = Vec::with_capacity(keywords.len() + 1);
            lines.push(plan.ehlo_greeting.render(&vars));
            lines.extend(keywords);
            Reply::multi(250, lines)
        }
        Verb::Mail => mail(s, cmd),
        Verb::Rcpt => rcpt(s, cmd),
        Verb::Data => data(s, cmd),
        Verb::Rset if !cmd.args.is_empty() => s.render(&r.errors.rset_syntax),
        Verb::Rset => s.render(&r.rset),
        Verb::Noop => s.render(&r.noop),
        Verb::Quit => s.render(&r.quit),
        Verb::Vrfy => vrfy(s, cmd),
        Verb::Help => s.render(&r.help),
        Verb::Starttls => starttls(s, cmd),
        Verb::Auth => s.auth_command(cmd),
        Verb::Xclient if plan.xclient.is_some() || postfix => xclient(s, cmd),
        Verb::Etrn if postfix => super::postfix::etrn(s, cmd),
        Verb::Other(ref v) if postfix && v == "XFORWARD" => super::postfix::xforward(s),
        Verb::Expn | Verb::Etrn | Verb::Bdat | Verb::Xclient => s.render(&r.not_implemented),
        Verb::Empty => s.render(&r.errors.bad_syntax),
        Verb::Other(_) => s.render(&r.unknown),
    }
}

/// Postfix's order: the recipients are checked before the arguments.
fn data(s: &Session, cmd: &Command) -> Reply {
    let e = &s.plan().replies.errors;
    match s.state() {
        StateName::Rcpt => {}
        StateName::Mail => return s.render(&e.no_recipients),
        _ => return s.render(&e.need_rcpt),
    }
    if !cmd.args.is_empty() {
        return s.render(&e.data_syntax);
    }
    if s.bdat.is_some() {
        return s.render(&e.data_after_bdat);
    }
    s.render(&s.plan().replies.data_start)
}

/// `VRFY address [SMTPUTF8]`; Postfix answers with the address as given.
fn vrfy(s: &Session, cmd: &Command) -> Reply {
    let words: Vec<&str> = cmd.args.split_whitespace().collect();
    let syntax_ok = match words.as_slice() {
        [_] => true,
        [_, utf8] => utf8.eq_ignore_ascii_case("SMTPUTF8"),
        _ => false,
    };
    if !syntax_ok {
        return s.render(&s.plan().replies.errors.vrfy_syntax);
    }
    if s.plan().dialect == Dialect::Postfix {
        return Reply::new(252, format!("2.0.0 {}", words[0]));
    }
    s.render(&s.plan().replies.vrfy)
}

fn starttls(s: &Session, cmd: &Command) -> Reply {
    let Some(tls) = s.plan().tls.as_ref().filter(|t| t.starttls && !t.implicit) else {
        return s.render(&s.plan().replies.not_implemented);
    };
    if s.tls_active() {
        return s.render(&s.plan().replies.errors.tls_active);
    }
    if !cmd.args.is_empty() {
        return s.render(&s.plan().replies.errors.starttls_syntax);
    }
    match tls.fail {
        Some(TlsFailure::Refuse) => {
            Reply::new(454, "4.7.0 TLS not available due to temporary reason")
        }
        _ => s.render(&s.plan().replies.starttls),
    }
}

fn mail(s: &Session, cmd: &Command) -> Reply {
    if s.tls_still_required() {
        return s.render(&s.plan().replies.errors.tls_required);
    }
    if s.plan().auth.as_ref().is_some_and(|a| a.require) && s.authenticated().is_none() {
        return s.render(&s.plan().replies.errors.auth_required);
    }
    let postfix = s.plan().dialect == Dialect::Postfix;
    let e = &s.plan().replies.errors;
    match s.state() {
        // Postfix's `smtpd_helo_required = no`.
        StateName::Connected if postfix => {}
        StateName::Connected => return s.render(&e.need_helo),
        StateName::Mail | StateName::Rcpt => return s.render(&e.nested_mail),
        StateName::Greeted => {}
    }
    let path = match parse_path(&cmd.args, "FROM") {
        Ok(p) if p.mailbox.len() > MAX_MAILBOX && !postfix => {
            return Reply::new(501, "5.1.7 Error: sender address too long");
        }
        Ok(p) => p,
        Err(PathError::BadPath) => return s.render(&e.bad_sender),
        Err(PathError::MissingKeyword) => return s.render(&e.mail_syntax),
    };
    if let Some(refusal) = unsupported_param(s, &path.params, MAIL_PARAMS) {
        return refusal;
    }
    // Postfix's default `strict_smtputf8 = no` takes a UTF-8 address
    // without SMTPUTF8 (checked by the differential test).
    if !postfix && !path.mailbox.is_ascii() && path.param_present("SMTPUTF8").is_none() {
        return s.render(&e.utf8_address);
    }
    if let Some(size) = path.param("SIZE") {
        match size.parse::<u64>() {
            Ok(n) if n > s.plan().limits.message_size as u64 => {
                return s.render(&e.too_big);
            }
            Ok(_) => {}
            Err(_) => return s.render(&e.bad_size),
        }
    }
    s.render(&s.plan().replies.mail_ok)
}

/// Postfix checks XCLIENT permission against the real client, once.
pub(super) fn xclient_allowed(s: &Session) -> bool {
    s.plan()
        .xclient
        .as_ref()
        .is_some_and(|hosts| cidr::any_contains(hosts, s.info.peer.ip()))
}

/// Postfix's XCLIENT: a new 220 greeting on success (the session effect
/// then applies the address and starts over).
fn xclient(s: &Session, cmd: &Command) -> Reply {
    if !xclient_allowed(s) {
        return Reply::new(550, "5.7.0 Error: insufficient authorization");
    }
    if matches!(s.state(), StateName::Mail | StateName::Rcpt) {
        return Reply::new(503, "5.5.1 Error: MAIL transaction in progress");
    }
    match xclient::parse(&cmd.args) {
        Ok(_) => {
            let mut greeting = s.render(&s.plan().banner);
            greeting.code = 220;
            greeting
        }
        Err(text) => Reply::new(501, text),
    }
}

fn rcpt(s: &mut Session, cmd: &Command) -> Reply {
    let e = &s.plan().replies.errors;
    if !matches!(s.state(), StateName::Mail | StateName::Rcpt) {
        return s.render(&e.need_mail);
    }
    let postfix = s.plan().dialect == Dialect::Postfix;
    let mailbox = match parse_path(&cmd.args, "TO") {
        Ok(p) if p.mailbox.len() > MAX_MAILBOX && !postfix => {
            return Reply::new(501, "5.1.3 Error: recipient address too long");
        }
        Ok(p) if !p.mailbox.is_empty() => {
            if let Some(refusal) = unsupported_param(s, &p.params, RCPT_PARAMS) {
                return refusal;
            }
            // As in `mail`: Postfix's `strict_smtputf8 = no`.
            if !postfix && !p.mailbox.is_ascii() && !s.smtputf8 {
                return s.render(&s.plan().replies.errors.utf8_address);
            }
            p.mailbox
        }
        Err(PathError::MissingKeyword) => return s.render(&e.rcpt_syntax),
        _ => return s.render(&e.bad_recipient),
    };
    if s.rcpts.len() >= s.plan().limits.recipients {
        return s.render(&e.too_many_recipients);
    }
    let Some(routing) = s.plan().routing.as_ref() else {
        return s.render(&s.plan().replies.rcpt_ok);
    };
    let client = routing::Client {
        ip: s.client_ip(),
        authenticated: s.authenticated().is_some(),
    };
    let decision = routing::route(&mailbox, client, routing);
    let reply = match &decision {
        Decision::Reject(reply) => reply.clone(),
        _ => s.render(&s.plan().replies.rcpt_ok),
    };
    s.pending_route = Some(decision);
    reply
}

/// ESMTP parameters of MAIL, each with the EHLO keyword that allows it.
const MAIL_PARAMS: &[(&str, &str)] = &[
    ("SIZE", "SIZE"),
    ("BODY", "8BITMIME"),
    ("SMTPUTF8", "SMTPUTF8"),
    ("RET", "DSN"),
    ("ENVID", "DSN"),
    ("AUTH", "AUTH"),
];

/// ESMTP parameters of RCPT.
const RCPT_PARAMS: &[(&str, &str)] = &[("NOTIFY", "DSN"), ("ORCPT", "DSN")];

/// A parameter for an extension this server did not advertise gets 555
/// (RFC 5321 4.1.1.11); `BODY=BINARYMIME` needs BINARYMIME, `BODY=7BIT` nothing.
fn unsupported_param(
    s: &Session,
    params: &[(String, Option<String>)],
    known: &[(&str, &str)],
) -> Option<Reply> {
    let advertised = &s.plan().advertised;
    let postfix = s.plan().dialect == Dialect::Postfix;
    for (name, value) in params {
        // Postfix echoes the parameter as it came.
        let shown = value
            .as_ref()
            .map_or_else(|| name.clone(), |v| format!("{name}={v}"));
        let unsupported = || match &s.plan().replies.errors.unsupported_param {
            Some(text) => Some(s.render(text)),
            None => Some(Reply::new(555, format!("5.5.4 Unsupported option: {shown}"))),
        };
        let needs = match (
            name.as_str(),
            value.as_deref().map(str::to_ascii_uppercase).as_deref(),
        ) {
            ("BODY", Some("7BIT")) => None,
            ("BODY", Some("8BITMIME")) => Some("8BITMIME"),
            ("BODY", Some("BINARYMIME")) => Some("BINARYMIME"),
            // RFC 6152 and 3030 define no other body type.
            ("BODY", _) => return unsupported(),
            // Postfix takes `AUTH=` (RFC 4954 5) with or without SASL.
            ("AUTH", _) if postfix => None,
            (n, _) => match known.iter().find(|(k, _)| *k == n) {
                Some((_, keyword)) => Some(*keyword),
                None => return unsupported(),
            },
        };
        if let Some(keyword) = needs
            && !advertised.iter().any(|a| a == keyword)
        {
            return unsupported();
        }
    }
    None
}
