//! Checks a [`ScenarioFile`] and turns it into a [`Plan`]: templates parsed,
//! regexes compiled, defaults filled in. Every check reports the exact place
//! in the file, and all problems are collected rather than stopping at the
//! first, so `validate` shows everything in one run.

use super::model::*;
use super::problem::Problem;
use super::template::Template;
use crate::protocol::Reply;
use serde_saphyr::{Location, Spanned};
use std::time::Duration;

pub use super::rules::{CompiledRule, VerbMatch};
pub use super::security::{AuthPlan, Mechanism, TlsPlan};

/// A reply whose lines may hold placeholders.
#[derive(Debug, Clone)]
pub struct ReplyTemplate {
    /// The reply code.
    pub code: u16,
    /// One template per line.
    pub lines: Vec<Template>,
}

impl ReplyTemplate {
    /// Render into a [`Reply`].
    pub fn render(&self, vars: &dyn super::template::Vars) -> Reply {
        Reply::multi(
            self.code,
            self.lines.iter().map(|t| t.render(vars)).collect(),
        )
    }
}

/// The built-in replies, scenario texts or RFC defaults.
#[derive(Debug, Clone)]
pub struct Replies {
    /// HELO.
    pub helo: ReplyTemplate,
    /// MAIL accepted.
    pub mail_ok: ReplyTemplate,
    /// RCPT accepted.
    pub rcpt_ok: ReplyTemplate,
    /// DATA accepted.
    pub data_start: ReplyTemplate,
    /// Message accepted.
    pub data_ok: ReplyTemplate,
    /// RSET.
    pub rset: ReplyTemplate,
    /// NOOP.
    pub noop: ReplyTemplate,
    /// VRFY.
    pub vrfy: ReplyTemplate,
    /// HELP.
    pub help: ReplyTemplate,
    /// QUIT.
    pub quit: ReplyTemplate,
    /// STARTTLS accepted.
    pub starttls: ReplyTemplate,
    /// Unknown verb.
    pub unknown: ReplyTemplate,
    /// Known but unimplemented verb.
    pub not_implemented: ReplyTemplate,
    /// Idle timeout.
    pub timeout: ReplyTemplate,
    /// Shutting down.
    pub shutdown: ReplyTemplate,
    /// Refusals of commands out of order or malformed.
    pub errors: super::error_replies::ErrorReplies,
}

/// Resolved limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Command line octets including CRLF.
    pub command_line: usize,
    /// Text line octets including CRLF.
    pub text_line: usize,
    /// Recipients per message.
    pub recipients: usize,
    /// Message octets.
    pub message_size: usize,
    /// Wait for the client at most this long, reading or writing.
    pub idle_timeout: Duration,
    /// A line must arrive whole within this long of its first octet.
    pub line_deadline: Option<Duration>,
    /// Concurrent sessions allowed.
    pub max_sessions: Option<usize>,
    /// What the recorder keeps in memory (as stated; defaults apply later).
    pub keep: super::keep::Keep,
}

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Host name.
    pub hostname: String,
    /// Greeting.
    pub banner: ReplyTemplate,
    /// Delay before the greeting.
    pub banner_delay: Duration,
    /// Hang up after the greeting.
    pub banner_close: bool,
    /// Deface the greeting.
    pub banner_mask: Option<crate::protocol::mask::BannerMask>,
    /// First line of the EHLO reply.
    pub ehlo_greeting: Template,
    /// EHLO keywords.
    pub ehlo_keywords: Vec<Template>,
    /// Keywords not overwritten with X's (`None`: no masking).
    pub ehlo_mask_except: Option<Vec<String>>,
    /// Built-in replies.
    pub replies: Replies,
    /// Whose smtpd the built-in engine copies.
    pub dialect: crate::scenario::model::Dialect,
    /// Delay before the end-of-data reply.
    pub data_delay: Duration,
    /// Which sequences end a message; which bare newlines are refused.
    pub end_of_data: crate::protocol::eod::EndOfData,
    /// The replies to a refused bare LF and bare CR.
    pub bare_reply: [ReplyTemplate; 2],
    /// Limits.
    pub limits: Limits,
    /// Rules, in order.
    pub rules: Vec<CompiledRule>,
    /// Captured sessions to serve back, in order.
    pub replay: Vec<super::replay::ReplaySession>,
    /// TLS, if the scenario offers it.
    pub tls: Option<TlsPlan>,
    /// AUTH, if the scenario offers it.
    pub auth: Option<AuthPlan>,
    /// Names of the advertised EHLO keywords, upper-cased (for parameter checks).
    pub advertised: Vec<String>,
    /// Exchange mail handling, consulted at RCPT (`None`: accept everyone).
    pub routing: Option<crate::routing::Routing>,
    /// Clients allowed to use XCLIENT (`None`: XCLIENT not implemented).
    pub xclient: Option<Vec<crate::routing::Cidr>>,
    /// Whether EHLO lists XCLIENT to those clients (`xclient.advertise`).
    pub xclient_advertised: bool,
    /// Faults.
    pub faults: Vec<super::faults::FaultEntry>,
}

/// The keywords a scenario advertises when it names none: what this server
/// really implements.
pub const DEFAULT_KEYWORDS: &[&str] = &[
    "PIPELINING",
    "SIZE {message_size}",
    "VRFY",
    "ENHANCEDSTATUSCODES",
    "8BITMIME",
];

/// Collects every problem of one file (scenario or proxy profile) with its
/// location, so `validate` reports them all at once.
pub(crate) struct Checker<'a> {
    pub(crate) file: &'a str,
    pub(crate) problems: Vec<Problem>,
}

impl Checker<'_> {
    pub(crate) fn problem(&mut self, loc: &Location, msg: impl Into<String>) {
        self.problems.push(Problem::at(self.file, loc, msg));
    }

    /// `spec` parsed as a reply, or the built-in `default` when absent.
    pub(crate) fn reply(
        &mut self,
        spec: Option<&Spanned<ReplyText>>,
        default: &str,
    ) -> ReplyTemplate {
        match spec {
            Some(s) => self.reply_text(&s.value, &s.referenced),
            // Built-in texts are constants covered by tests.
            None => parse_reply(&[default.to_string()]).expect("built-in reply parses"),
        }
    }

    pub(super) fn reply_text(&mut self, text: &ReplyText, loc: &Location) -> ReplyTemplate {
        match parse_reply(&text.0) {
            Ok(r) => r,
            Err(e) => {
                self.problem(loc, e);
                ReplyTemplate {
                    code: 500,
                    lines: vec![],
                }
            }
        }
    }

    pub(super) fn template(&mut self, text: &Spanned<String>) -> Template {
        Template::parse(&text.value).unwrap_or_else(|e| {
            self.problem(&text.referenced, e);
            Template::literal("")
        })
    }

    pub(super) fn duration(d: Option<&Spanned<DurationSpec>>) -> Duration {
        d.map_or(Duration::ZERO, |d| d.value.0)
    }

    /// A stated count, refused (`None`) when below `min`.
    pub(crate) fn at_least(
        &mut self,
        v: Option<&Spanned<usize>>,
        min: usize,
        what: &str,
    ) -> Option<usize> {
        let v = v?;
        if v.value < min {
            self.problem(&v.referenced, format!("{what} must be at least {min}"));
            return None;
        }
        Some(v.value)
    }

    /// A timeout, refused when zero: it would cut every session at once.
    /// (The parser already refuses anything above 24 hours.)
    pub(crate) fn timeout(
        &mut self,
        d: Option<&Spanned<DurationSpec>>,
        what: &str,
    ) -> Option<Duration> {
        let d = d?;
        if d.value.0.is_zero() {
            self.problem(
                &d.referenced,
                format!("{what} must be above 0s, for example 30s or 5m"),
            );
            return None;
        }
        Some(d.value.0)
    }
}

/// Parse reply lines: the first starts with a code in 200–599; later lines
/// may repeat it (`250-x` / `250 x`) or be bare text.
pub fn parse_reply(lines: &[String]) -> Result<ReplyTemplate, String> {
    let first = lines
        .first()
        .ok_or("expected a reply such as \"250 2.0.0 Ok\"")?;
    let code = match Reply::parse_line(first.as_bytes()) {
        Some((code, _, _)) => code,
        None => {
            return Err(format!(
                "expected a reply starting with a three-digit code, such as \"250 2.0.0 Ok\"; found {first:?}"
            ));
        }
    };
    if !(200..=599).contains(&code) {
        return Err(format!("reply code {code} is outside 200–599"));
    }
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let text = match Reply::parse_line(line.as_bytes()) {
            Some((c, _, text)) if c == code => std::str::from_utf8(text).unwrap_or_default(),
            Some((c, _, _)) => {
                return Err(format!(
                    "every line of a reply needs the same code: {code} then {c}"
                ));
            }
            None => line.as_str(),
        };
        out.push(Template::parse(text)?);
    }
    Ok(ReplyTemplate { code, lines: out })
}

/// The recorder's bounds as `limits:` states them.
fn keep(c: &mut Checker, limits: &LimitsSpec) -> super::keep::Keep {
    let min = super::keep::Keep::MIN_SESSION_EVENTS;
    let keep = super::keep::Keep {
        session_events: c.at_least(limits.session_events.as_ref(), min, "`session_events`"),
        total_events: c.at_least(limits.total_events.as_ref(), min, "`total_events`"),
        message_memory: limits.message_memory.as_ref().map(|v| v.value),
        messages_memory: limits.messages_memory.as_ref().map(|v| v.value),
        messages_disk: limits.messages_disk.as_ref().map(|v| v.value),
    };
    if let (Some(session), Some(total), Some(at)) = (
        keep.session_events,
        keep.total_events,
        limits.total_events.as_ref(),
    ) && total < session
    {
        c.problem(
            &at.referenced,
            format!("`total_events` ({total}) is less than `session_events` ({session})"),
        );
    }
    keep
}

/// Check `file` and build its [`Plan`], or list every problem.
///
/// `merged` is set for the result of an `extends:` merge: its files were
/// each checked alone already, and a child's rule that shadows its parent's
/// rules is the point of extending, not a mistake.
pub fn compile(file: &ScenarioFile, source: &str, merged: bool) -> Result<Plan, Vec<Problem>> {
    let mut c = Checker {
        file: source,
        problems: Vec::new(),
    };
    let banner = file.banner.clone().unwrap_or_default();
    let ehlo = file.ehlo.clone().unwrap_or_default();
    let replies = file.replies.clone().unwrap_or_default();
    let data = file.data.clone().unwrap_or_default();
    let limits = file.limits.clone().unwrap_or_default();

    let limit = |c: &mut Checker, v: &Option<Spanned<usize>>, default, min, what: &str| {
        c.at_least(v.as_ref(), min, what).unwrap_or(default)
    };
    let limits = Limits {
        command_line: limit(&mut c, &limits.command_line, 512, 8, "`command_line`"),
        text_line: limit(&mut c, &limits.text_line, 1000, 3, "`text_line`"),
        recipients: limit(&mut c, &limits.recipients, 100, 1, "`recipients`"),
        message_size: limit(
            &mut c,
            &limits.message_size,
            10_240_000,
            0,
            "`message_size`",
        ),
        idle_timeout: c
            .timeout(limits.idle_timeout.as_ref(), "`idle_timeout`")
            .unwrap_or(Duration::from_secs(300)),
        line_deadline: c.timeout(limits.line_deadline.as_ref(), "`line_deadline`"),
        max_sessions: limits.max_sessions.as_ref().map(|m| m.value),
        keep: keep(&mut c, &limits),
    };
    let ehlo_keywords: Vec<Template> = match &ehlo.keywords {
        Some(k) => k
            .iter()
            .map(|kw| {
                if kw.value.trim().is_empty() || kw.value.contains(['\r', '\n']) {
                    c.problem(&kw.referenced, "an EHLO keyword is one non-empty line");
                }
                c.template(kw)
            })
            .collect(),
        None => DEFAULT_KEYWORDS
            .iter()
            .map(|k| Template::parse(k).expect("built-in keyword parses"))
            .collect(),
    };
    let mut ehlo_keywords = ehlo_keywords;
    let offers_starttls = file
        .tls
        .as_ref()
        .is_some_and(|t| t.starttls.unwrap_or(true) && !t.implicit.unwrap_or(false));
    if offers_starttls
        && !ehlo_keywords
            .iter()
            .any(|k| k.source().eq_ignore_ascii_case("STARTTLS"))
    {
        ehlo_keywords.push(Template::literal("STARTTLS"));
    }
    let replies = Replies {
        helo: c.reply(
            file.helo.as_ref().and_then(|h| h.reply.as_ref()),
            "250 {hostname}",
        ),
        mail_ok: c.reply(replies.mail_ok.as_ref(), "250 2.1.0 Ok"),
        rcpt_ok: c.reply(replies.rcpt_ok.as_ref(), "250 2.1.5 Ok"),
        data_start: c.reply(
            replies.data_start.as_ref(),
            "354 End data with <CR><LF>.<CR><LF>",
        ),
        data_ok: c.reply(data.reply.as_ref(), "250 2.0.0 Ok: queued as {queue_id}"),
        rset: c.reply(replies.rset.as_ref(), "250 2.0.0 Ok"),
        noop: c.reply(replies.noop.as_ref(), "250 2.0.0 Ok"),
        vrfy: c.reply(
            replies.vrfy.as_ref(),
            "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery",
        ),
        help: c.reply(
            replies.help.as_ref(),
            "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
        ),
        quit: c.reply(replies.quit.as_ref(), "221 2.0.0 Bye"),
        starttls: c.reply(replies.starttls.as_ref(), "220 2.0.0 Ready to start TLS"),
        unknown: c.reply(
            replies.unknown.as_ref(),
            "500 5.5.2 Error: command not recognized",
        ),
        not_implemented: c.reply(
            replies.not_implemented.as_ref(),
            "502 5.5.1 Error: command not implemented",
        ),
        timeout: c.reply(
            replies.timeout.as_ref(),
            "421 4.4.2 {hostname} Error: timeout exceeded",
        ),
        shutdown: c.reply(
            replies.shutdown.as_ref(),
            "421 4.3.2 {hostname} Service shutting down",
        ),
        errors: super::error_replies::compile(&mut c, &replies),
    };
    let hostname = file.hostname.as_deref().unwrap_or("mx.example.test");
    let auth = file.auth.as_ref().map(|a| c.auth(a, hostname));
    if let Some(auth) = &auth
        && !ehlo_keywords
            .iter()
            .any(|k| crate::protocol::mask::keyword_name(&k.source()) == "AUTH")
        && !auth.mechanisms.is_empty()
    {
        let names: Vec<&str> = auth.mechanisms.iter().map(|m| m.name()).collect();
        let keyword = Template::literal(format!("AUTH {}", names.join(" ")));
        if auth.after_tls {
            // Added to the post-TLS list below, not to the plaintext one.
        } else {
            ehlo_keywords.push(keyword);
        }
    }
    let tls = file.tls.as_ref().map(|t| c.tls(t, &ehlo_keywords));
    let tls = match (tls, &auth) {
        (Some(mut tls), Some(auth)) if auth.after_tls => {
            let names: Vec<&str> = auth.mechanisms_after_tls.iter().map(|m| m.name()).collect();
            tls.keywords_after
                .push(Template::literal(format!("AUTH {}", names.join(" "))));
            Some(tls)
        }
        // Other mechanisms after TLS: the derived post-TLS list says so.
        (Some(mut tls), Some(auth))
            if auth.mechanisms_after_tls != auth.mechanisms
                && file.tls.as_ref().is_some_and(|t| t.keywords_after.is_none()) =>
        {
            tls.keywords_after
                .retain(|k| crate::protocol::mask::keyword_name(&k.source()) != "AUTH");
            let names: Vec<&str> = auth.mechanisms_after_tls.iter().map(|m| m.name()).collect();
            if !names.is_empty() {
                tls.keywords_after
                    .push(Template::literal(format!("AUTH {}", names.join(" "))));
            }
            Some(tls)
        }
        (tls, _) => tls,
    };
    let advertised = ehlo_keywords
        .iter()
        .chain(tls.iter().flat_map(|t| t.keywords_after.iter()))
        .map(|k| crate::protocol::mask::keyword_name(&k.source()))
        .collect();
    let rules: Vec<_> = file
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| c.rule(i, r))
        .collect();
    if !merged {
        c.unreachable_rules(&rules, &file.rules);
    }
    let mail = super::routing::compile(file, source, &mut c.problems);
    let plan = Plan {
        routing: mail.routing,
        xclient: mail.xclient,
        xclient_advertised: file
            .xclient
            .as_ref()
            .and_then(|x| x.advertise)
            .unwrap_or(true),
        faults: c.faults(&file.faults, super::faults::Runner::Server),
        name: file.name.clone().unwrap_or_else(|| "unnamed".into()),
        description: file.description.clone().unwrap_or_default(),
        hostname: file
            .hostname
            .clone()
            .unwrap_or_else(|| "mx.example.test".into()),
        banner: c.reply(banner.reply.as_ref(), "220 {hostname} ESMTP smtp-harness"),
        banner_delay: Checker::duration(banner.delay.as_ref()),
        banner_close: banner.then == Some(Then::Close),
        banner_mask: banner.mask,
        ehlo_mask_except: ehlo.mask_except.clone(),
        ehlo_greeting: match &ehlo.greeting {
            Some(g) => c.template(g),
            None => Template::parse("{hostname}").expect("built-in greeting parses"),
        },
        ehlo_keywords,
        replies,
        dialect: file.dialect.unwrap_or_default(),
        data_delay: Checker::duration(data.delay.as_ref()),
        end_of_data: super::eod::compile(&mut c, &data),
        bare_reply: {
            // Postfix 3.7.11's text (`smtpd_forbid_bare_newline_reject_code`
            // 550); the CR one is ours: Postfix does not refuse bare CRs.
            let given = data.bare_newline.as_ref().and_then(|b| b.reply.as_ref());
            [
                c.reply(given, "550 5.5.2 {hostname} Error: bare <LF> received"),
                c.reply(given, "550 5.5.2 {hostname} Error: bare <CR> received"),
            ]
        },
        limits,
        rules,
        tls,
        auth,
        advertised,
        replay: file
            .replay
            .as_ref()
            .map(|r| super::replay::compile(r, source, &mut c.problems))
            .unwrap_or_default(),
    };
    if c.problems.is_empty() {
        Ok(plan)
    } else {
        Err(c.problems)
    }
}

#[cfg(test)]
mod tests {
    use crate::Scenario;
    use std::time::Duration;

    #[test]
    fn zero_timeouts_are_refused_where_they_are_written() {
        for (yaml, want) in [
            (
                "limits: {idle_timeout: 0s}",
                "<inline>:1:24: `idle_timeout` must be above 0s",
            ),
            (
                "limits:\n  line_deadline: 0",
                "<inline>:2:18: `line_deadline` must be above 0s",
            ),
        ] {
            let err = Scenario::from_yaml(yaml).unwrap_err().to_string();
            assert!(err.starts_with(want), "{yaml}: {err}");
        }
    }

    #[test]
    fn the_line_deadline_is_off_unless_set() {
        let plain = Scenario::from_yaml("{}").unwrap();
        assert_eq!(plain.plan().limits.line_deadline, None);
        let set = Scenario::from_yaml("limits: {line_deadline: 1.5s}").unwrap();
        assert_eq!(
            set.plan().limits.line_deadline,
            Some(Duration::from_millis(1500))
        );
    }
}
