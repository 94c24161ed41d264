//! The probe's one SMTP session: banner, EHLO (HELO if refused), the
//! harmless verbs, the optional test message, STARTTLS, QUIT. Every step is
//! bounded by the client's timeout; the first step that gets no proper
//! reply ends the session, and what was learnt so far is kept.

use super::ProbeOptions;
use super::banner;
use super::ehlo;
use super::report::{
    Banner, Dir, Expectation, Greeting, Handshake, Line, SeenReply, Starttls, StarttlsStatus,
    TestMessage, VerbProbe, VerbStatus,
};
use super::verbs::{self, CONTROL, PROBES, Probe};
use crate::protocol::Reply;
use crate::client::{ClientError, SmtpClient};
use std::net::SocketAddr;
use tokio::time::Instant;

/// What the session observed; [`super::verdict`] turns it into a report.
#[derive(Debug, Default)]
pub struct Observed {
    /// Why the session could not start, if it could not.
    pub fatal: Option<String>,
    /// The greeting.
    pub banner: Option<Banner>,
    /// EHLO / HELO.
    pub greeting: Option<Greeting>,
    /// Verbs, control first.
    pub verbs: Vec<VerbProbe>,
    /// STARTTLS.
    pub starttls: Option<Starttls>,
    /// `--send-test`.
    pub test_message: Option<TestMessage>,
    /// The step where the connection went away or stopped answering.
    pub lost: Option<(String, String)>,
    /// Every line.
    pub transcript: Vec<Line>,
}

struct Session {
    client: SmtpClient,
    started: Instant,
    seen: Observed,
}

impl Session {
    fn log(&mut self, dir: Dir, text: impl Into<String>) {
        let at_ms = self.started.elapsed().as_millis() as u64;
        self.seen.transcript.push(Line {
            dir,
            at_ms,
            text: text.into(),
        });
    }

    fn log_reply(&mut self, r: &Reply) {
        let last = r.lines.len().saturating_sub(1);
        for (i, l) in r.lines.iter().enumerate() {
            let sep = if i < last { "-" } else { " " };
            let text = format!("{}{sep}{l}", r.code);
            self.log(Dir::Received, text.trim_end());
        }
    }

    async fn read(&mut self) -> Result<Reply, ClientError> {
        let r = self.client.read_reply().await;
        match &r {
            Ok(reply) => self.log_reply(reply),
            Err(e) => self.log(Dir::Note, format!("*** {e}")),
        }
        r
    }

    async fn cmd(&mut self, line: &str) -> Result<Reply, ClientError> {
        self.log(Dir::Sent, line);
        if let Err(e) = self.client.send_raw(format!("{line}\r\n").as_bytes()).await {
            self.log(Dir::Note, format!("*** {e}"));
            return Err(e);
        }
        self.read().await
    }

    /// A command whose failure ends the session: remember where.
    async fn step(&mut self, line: &str) -> Option<Reply> {
        match self.cmd(line).await {
            Ok(r) => Some(r),
            Err(e) => {
                self.seen.lost = Some((line.to_string(), e.to_string()));
                None
            }
        }
    }
}

/// Run the session against `addr`.
pub async fn observe(addr: SocketAddr, opts: &ProbeOptions) -> Observed {
    let started = Instant::now();
    let client = match SmtpClient::connect(addr, opts.timeout).await {
        Ok(c) => c,
        Err(e) => {
            return Observed {
                fatal: Some(format!("cannot connect to {addr}: {e}")),
                ..Observed::default()
            };
        }
    };
    let mut s = Session {
        client,
        started,
        seen: Observed::default(),
    };
    s.log(Dir::Note, format!("=== connected to {addr}"));
    if let Err(fatal) = converse(&mut s, opts).await {
        s.seen.fatal = Some(fatal);
    }
    s.client.close().await;
    s.seen
}

/// The conversation; `Err` when the peer is not usable as SMTP at all.
async fn converse(s: &mut Session, opts: &ProbeOptions) -> Result<(), String> {
    let t = opts.timeout;
    let greeting = s.read().await.map_err(|e| match e {
        ClientError::Timeout(_) => {
            format!("no greeting within {t:?} (a silent peer: not SMTP, or a tarpit)")
        }
        ClientError::Closed => "the peer closed the connection without a greeting".to_string(),
        ClientError::Garbage(g) => format!("not SMTP: {g}"),
        other => format!("no greeting: {other}"),
    })?;
    let b = banner::classify(greeting.code, &greeting.lines);
    s.seen.banner = Some(b);
    if greeting.code != 220 {
        return Err(format!(
            "service refused: {}",
            SeenReply::from(&greeting).first_line()
        ));
    }

    // EHLO, then HELO if refused.
    let ehlo_line = format!("EHLO {}", opts.helo_name);
    let ehlo = s.cmd(&ehlo_line).await.map_err(|e| unusable("EHLO", e))?;
    let ehlo_accepted = ehlo.code == 250;
    let mut greeting = Greeting {
        ehlo: Some(SeenReply::from(&ehlo)),
        ehlo_accepted,
        helo: None,
        keywords: Vec::new(),
        masked_keywords: Vec::new(),
    };
    if ehlo_accepted {
        greeting.keywords = ehlo::keywords(&ehlo.lines);
        greeting.masked_keywords = greeting
            .keywords
            .iter()
            .filter(|k| ehlo::is_masked_keyword(k))
            .cloned()
            .collect();
    } else {
        let helo = s
            .cmd(&format!("HELO {}", opts.helo_name))
            .await
            .map_err(|e| unusable("HELO", e))?;
        greeting.helo = Some(SeenReply::from(&helo));
    }
    let keywords = greeting.keywords.clone();
    s.seen.greeting = Some(greeting);

    // The harmless verbs, the made-up one first.
    let control = probe_verb(s, &CONTROL, &keywords, None).await;
    let control_reply = control.as_ref().and_then(|c| c.reply.clone());
    if let Some(c) = control {
        s.seen.verbs.push(c);
    }
    for p in PROBES {
        if s.seen.lost.is_some() {
            break;
        }
        if let Some(v) = probe_verb(s, p, &keywords, control_reply.as_ref()).await {
            s.seen.verbs.push(v);
        }
    }

    if let Some((from, to)) = &opts.send_test
        && s.seen.lost.is_none()
    {
        let m = send_test(s, from, to).await;
        s.seen.test_message = Some(m);
    }

    if s.seen.lost.is_none() {
        let tls = starttls(s, &keywords, opts).await;
        s.seen.starttls = Some(tls);
    }
    if s.seen.lost.is_none() {
        let _ = s.cmd("QUIT").await;
    }
    Ok(())
}

fn unusable(step: &str, e: ClientError) -> String {
    match e {
        ClientError::Garbage(g) => format!("not SMTP: after the greeting, {step} got {g}"),
        other => format!("{step}: {other}"),
    }
}

async fn probe_verb(
    s: &mut Session,
    p: &Probe,
    keywords: &[String],
    control: Option<&SeenReply>,
) -> Option<VerbProbe> {
    let reply = s.step(p.line).await;
    let reply = match reply {
        // An AUTH mechanism we do not have was accepted: cancel it (RFC 4954 4).
        Some(r) if r.code == 334 => {
            let _ = s.step("*").await;
            Some(r)
        }
        other => other,
    };
    let seen = reply.as_ref().map(SeenReply::from);
    let expected = if p.verb == CONTROL.verb {
        Expectation::Control
    } else {
        verbs::expectation(p, keywords)
    };
    let status = verbs::status(seen.as_ref(), p.verb, control);
    let filtered = status == VerbStatus::Unrecognized
        && matches!(expected, Expectation::Advertised | Expectation::Required);
    Some(VerbProbe {
        verb: p.verb.to_string(),
        sent: p.line.to_string(),
        reply: seen,
        status,
        expected,
        filtered,
    })
}

async fn send_test(s: &mut Session, from: &str, to: &str) -> TestMessage {
    let mut m = TestMessage {
        from: from.to_string(),
        to: to.to_string(),
        replies: Vec::new(),
        accepted: false,
        error: None,
    };
    let steps = [
        "RSET".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{to}>"),
        "DATA".to_string(),
    ];
    for (i, line) in steps.iter().enumerate() {
        let Some(r) = s.step(line).await else {
            m.error = Some(format!("no reply to {line}"));
            return m;
        };
        let ok = if i == 3 {
            r.code == 354
        } else {
            r.class() == 2
        };
        if i > 0 {
            m.replies.push(SeenReply::from(&r));
        }
        if !ok {
            m.error = Some(format!(
                "{line} refused: {}",
                SeenReply::from(&r).first_line()
            ));
            if i == 3 || r.code >= 500 {
                let _ = s.step("RSET").await;
            }
            return m;
        }
    }
    let body = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: smtp-harness probe test message\r\n\
         Message-ID: <probe.{}@smtp-harness.invalid>\r\n\r\n\
         This message tests whether mail passes unchanged. It can be deleted.\r\n",
        s.started.elapsed().as_nanos()
    );
    s.log(Dir::Sent, format!("<message: {} octets>", body.len()));
    match s.client.send_message(body.as_bytes()).await {
        Ok(r) => {
            s.log_reply(&r);
            m.accepted = r.code == 250;
            if !m.accepted {
                m.error = Some(format!(
                    "message refused: {}",
                    SeenReply::from(&r).first_line()
                ));
            }
            m.replies.push(SeenReply::from(&r));
        }
        Err(e) => {
            s.log(Dir::Note, format!("*** {e}"));
            m.error = Some(format!("no reply after the end of data: {e}"));
            s.seen.lost = Some(("<end of data>".into(), e.to_string()));
        }
    }
    m
}

async fn starttls(s: &mut Session, keywords: &[String], opts: &ProbeOptions) -> Starttls {
    let advertised = ehlo::advertises(keywords, "STARTTLS");
    let mut out = Starttls {
        status: StarttlsStatus::NotChecked,
        advertised,
        reply: None,
        handshake: None,
        keywords_after_tls: Vec::new(),
        reason: String::new(),
    };
    let Some(reply) = s.step("STARTTLS").await else {
        out.reason = "no reply to STARTTLS".into();
        return out;
    };
    out.reply = Some(SeenReply::from(&reply));
    let shown = SeenReply::from(&reply).first_line();
    match reply.code {
        220 => {
            let name = opts.server_name.clone();
            s.log(Dir::Note, "*** TLS handshake".to_string());
            match s.client.starttls(&name).await {
                Ok(info) => {
                    s.log(
                        Dir::Note,
                        format!("*** TLS established: {} {}", info.version, info.cipher),
                    );
                    out.handshake = Some(Handshake {
                        ok: true,
                        info: Some(info),
                        error: None,
                    });
                    if let Some(r) = s.step(&format!("EHLO {}", opts.helo_name)).await {
                        out.keywords_after_tls = ehlo::keywords(&r.lines);
                    }
                    if advertised {
                        out.status = StarttlsStatus::Works;
                        out.reason = "advertised, and the handshake completed".into();
                    } else {
                        out.status = StarttlsStatus::Stripped;
                        out.reason = "not advertised, yet the server accepted STARTTLS and the \
                                      handshake completed: the keyword was removed on the way"
                            .into();
                    }
                }
                Err(e) => {
                    s.log(Dir::Note, format!("*** {e}"));
                    out.handshake = Some(Handshake {
                        ok: false,
                        info: None,
                        error: Some(e.to_string()),
                    });
                    out.status = StarttlsStatus::Broken;
                    out.reason = format!("the server said {shown}, then the handshake failed: {e}");
                    s.seen.lost = Some(("<TLS handshake>".into(), e.to_string()));
                }
            }
        }
        400..=499 if advertised => {
            out.status = StarttlsStatus::Broken;
            out.reason = format!("advertised, but refused: {shown}");
        }
        500..=599 if advertised => {
            out.status = StarttlsStatus::Stripped;
            out.reason = format!("advertised, but the verb was refused: {shown}");
        }
        _ => {
            let (status, reason) = why_missing(s, keywords, &shown);
            out.status = status;
            out.reason = reason;
        }
    }
    out
}

/// STARTTLS is not advertised and was refused: is that the server, or was it
/// taken away?
fn why_missing(s: &Session, keywords: &[String], shown: &str) -> (StarttlsStatus, String) {
    if ehlo::advertises(keywords, "X-ANONYMOUSTLS") {
        return (
            StarttlsStatus::Stripped,
            format!(
                "X-ANONYMOUSTLS is advertised but STARTTLS is not (Exchange offers both), \
                 and STARTTLS got {shown}"
            ),
        );
    }
    if s.seen.banner.as_ref().and_then(|b| b.exchange.as_deref()) == Some("2007+") {
        return (
            StarttlsStatus::Stripped,
            format!(
                "Exchange 2007 and later always offer STARTTLS, but it is missing and got {shown}"
            ),
        );
    }
    if let Some(k) = keywords
        .iter()
        .find(|k| ehlo::is_masked_keyword(k) && k.len() == "STARTTLS".len())
    {
        // CHUNKING has the same length: say "maybe", do not claim it.
        return (
            StarttlsStatus::NotOffered,
            format!(
                "not advertised, but {k} has STARTTLS's length: a middlebox may have masked it \
                 (ASA turns STARTTLS into XXXXXXXA); STARTTLS got {shown}"
            ),
        );
    }
    (
        StarttlsStatus::NotOffered,
        format!("not advertised; STARTTLS got {shown}"),
    )
}
