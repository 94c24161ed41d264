//! What a probe found, as plain data: the [`Report`] and its parts. This is
//! the `--json` schema (`docs/probe.md`); field names are stable, new fields
//! may be added.

use crate::client::TlsInfo;
use serde::Serialize;

/// The schema identifier written as `schema` in every JSON report.
pub const SCHEMA: &str = "smtp-harness.probe/1";

/// Everything one probe found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// What was probed, as given.
    pub target: String,
    /// The conclusion.
    pub verdict: Verdict,
    /// Each observation that supports the verdict, strongest first.
    pub evidence: Vec<Evidence>,
    /// The greeting; `None` when none arrived.
    pub banner: Option<Banner>,
    /// EHLO / HELO.
    pub greeting: Option<Greeting>,
    /// STARTTLS.
    pub starttls: Option<Starttls>,
    /// The harmless verbs tried, in order.
    pub verbs: Vec<VerbProbe>,
    /// The test message (`--send-test` only).
    pub test_message: Option<TestMessage>,
    /// Every line sent and received, in order.
    pub transcript: Vec<Line>,
}

/// How sure the probe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing suspicious: exit code 0.
    Clean,
    /// At least one finding: exit code 1.
    Finding,
    /// No SMTP conversation was possible (refused, silent, not SMTP): exit code 2.
    CouldNotProbe,
}

impl Status {
    /// The CLI's exit code: 0 clean, 1 finding, 2 could not probe.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Clean => 0,
            Status::Finding => 1,
            Status::CouldNotProbe => 2,
        }
    }
}

/// The conclusion.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Clean, finding, or could not probe.
    pub status: Status,
    /// True when some evidence points at a middlebox.
    pub proxy_suspected: bool,
    /// One line: `no interference`, `possible SMTP proxy (masked banner, EHLO refused)`,
    /// `could not probe: no greeting within 5s`.
    pub summary: String,
    /// [`Status::exit_code`].
    pub exit_code: u8,
}

/// One observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Stable identifier (`masked_banner`, `ehlo_refused`, …; see docs/probe.md).
    pub id: &'static str,
    /// Short label used in the summary (`masked banner`).
    pub label: String,
    /// What exactly was seen.
    pub detail: String,
    /// Points at a middlebox (as opposed to a server problem such as a broken TLS setup).
    pub proxy: bool,
}

/// What the banner looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BannerKind {
    /// Sanitized by a PIX/ASA: only `*`, digits and spaces (nmap: "Cisco PIX sanitized smtpd").
    Masked,
    /// A third-party gateway's product string (InterScan, Barracuda, …).
    ThirdParty,
    /// The default shape of a Microsoft server (IIS SMTP or Exchange).
    Microsoft,
    /// Anything else (Postfix, Exim, aiosmtpd …).
    Other,
}

/// The greeting and what it says about the server.
#[derive(Debug, Clone, Serialize)]
pub struct Banner {
    /// Reply code (220 to proceed).
    pub code: u16,
    /// Text of each line.
    pub lines: Vec<String>,
    /// Classification.
    pub kind: BannerKind,
    /// Exchange generation when a Microsoft shape was seen: `5.5`, `2000/2003`, `2007+`.
    pub exchange: Option<String>,
    /// The Microsoft ESMTP version (`6.0.3790.3959`), when the banner carries one.
    pub version: Option<String>,
    /// The host name the banner names, when it names one.
    pub host: Option<String>,
    /// The third-party product seen, when any.
    pub product: Option<String>,
}

/// A reply as seen: code and text lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenReply {
    /// Reply code.
    pub code: u16,
    /// Text of each line, without the code.
    pub lines: Vec<String>,
}

impl SeenReply {
    /// The reply as one line: `500 5.5.1 Command unrecognized` (first line only).
    pub fn first_line(&self) -> String {
        match self.lines.first() {
            Some(l) if !l.is_empty() => format!("{} {l}", self.code),
            _ => self.code.to_string(),
        }
    }
}

impl From<&crate::protocol::Reply> for SeenReply {
    fn from(r: &crate::protocol::Reply) -> SeenReply {
        SeenReply {
            code: r.code,
            lines: r.lines.clone(),
        }
    }
}

/// EHLO, and HELO when EHLO was refused.
#[derive(Debug, Clone, Serialize)]
pub struct Greeting {
    /// The reply to EHLO (`None`: no reply).
    pub ehlo: Option<SeenReply>,
    /// EHLO got a 250.
    pub ehlo_accepted: bool,
    /// The reply to HELO, sent only when EHLO was refused.
    pub helo: Option<SeenReply>,
    /// The keywords advertised (every EHLO line after the first), as sent.
    pub keywords: Vec<String>,
    /// Keywords overwritten with X's (`XXXXXXXA`).
    pub masked_keywords: Vec<String>,
}

/// What happened to STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StarttlsStatus {
    /// Advertised, and the handshake completed.
    Works,
    /// Not advertised, refused, and nothing suggests it was taken away.
    NotOffered,
    /// Taken away on the way: keyword missing or masked where it should be, or the verb refused.
    Stripped,
    /// Advertised but refused with 4xx, or the handshake failed.
    Broken,
    /// Not tried (the session ended earlier).
    NotChecked,
}

/// STARTTLS: advertised, tried, handshake.
#[derive(Debug, Clone, Serialize)]
pub struct Starttls {
    /// The conclusion.
    pub status: StarttlsStatus,
    /// STARTTLS was among the EHLO keywords.
    pub advertised: bool,
    /// The reply to `STARTTLS` (`None` if not sent or no reply).
    pub reply: Option<SeenReply>,
    /// The handshake, when the server said 220.
    pub handshake: Option<Handshake>,
    /// The EHLO keywords inside TLS, when the handshake worked.
    pub keywords_after_tls: Vec<String>,
    /// Why the status was chosen.
    pub reason: String,
}

/// A TLS handshake attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Handshake {
    /// It completed.
    pub ok: bool,
    /// Version, cipher, certificates (when it completed).
    #[serde(flatten)]
    pub info: Option<TlsInfo>,
    /// Why it failed.
    pub error: Option<String>,
}

/// How a verb was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerbStatus {
    /// Answered as a server that knows the verb does (2xx, 3xx, or a meaningful 4xx/5xx).
    Answered,
    /// 502 / 504: the server knows it does not do this.
    NotImplemented,
    /// 500, or the same reply as a made-up verb: nobody there knows the verb.
    Unrecognized,
    /// No reply: timeout or connection lost.
    NoReply,
}

/// Why a verb is expected to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// The server advertised it in its EHLO reply.
    Advertised,
    /// RFC 5321 4.5.1 requires every server to know it (EHLO, VRFY, NOOP …).
    Required,
    /// Optional; its absence proves nothing.
    Optional,
    /// The made-up verb used to learn the "unknown command" reply.
    Control,
}

/// One harmless verb.
#[derive(Debug, Clone, Serialize)]
pub struct VerbProbe {
    /// The verb (`VRFY`).
    pub verb: String,
    /// The line sent (`VRFY postmaster`).
    pub sent: String,
    /// The reply, if any.
    pub reply: Option<SeenReply>,
    /// How it was answered.
    pub status: VerbStatus,
    /// Why it should have worked.
    pub expected: Expectation,
    /// Unrecognized although advertised or required: something in the path filters it.
    pub filtered: bool,
}

/// The `--send-test` message.
#[derive(Debug, Clone, Serialize)]
pub struct TestMessage {
    /// MAIL FROM address.
    pub from: String,
    /// RCPT TO address.
    pub to: String,
    /// Replies in order (MAIL, RCPT, DATA, end of data).
    pub replies: Vec<SeenReply>,
    /// The final reply was 250.
    pub accepted: bool,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Direction of a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// We sent it.
    Sent,
    /// The peer sent it.
    Received,
    /// Not on the wire (TLS handshake, timeout).
    Note,
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Who.
    pub dir: Dir,
    /// Milliseconds since the probe started.
    pub at_ms: u64,
    /// The line without CRLF.
    pub text: String,
}
