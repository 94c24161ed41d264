//! The scenario file as plain data: exactly what a YAML scenario can say.
//!
//! These types are deserialized by serde-saphyr and nothing else; checking
//! them (regexes, reply codes, impossible rules) is `validate.rs`, and turning
//! them into something fast to run is `compile.rs`. Every field is optional so
//! a scenario states only what differs from a correct RFC 5321 server, and so
//! `extends:` can merge field by field.

use serde::de::{self, Deserializer, IntoDeserializer};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

mod auth;
mod replies;
mod tls;
pub use auth::*;
pub use replies::*;
pub use tls::*;

/// What a file says it is (`kind:`): for `validate`, and so a profile
/// given to `serve` (or a scenario to `proxy`) is named as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// A fake server's scenario (`serve`, `replay`, `MockServer`).
    Scenario,
    /// A proxy profile (`proxy`, `demo`, `MockProxy`).
    Profile,
}

impl DocKind {
    /// The problem, if any, of a file of kind `expected` that says `kind:`.
    pub fn check(
        said: Option<&Spanned<DocKind>>,
        expected: DocKind,
        source: &str,
    ) -> Option<super::Problem> {
        let said = said?;
        if said.value == expected {
            return None;
        }
        let message = match said.value {
            DocKind::Profile => {
                "`kind: profile`: this file is a proxy profile; `smtp-harness proxy --profile FILE` \
                 runs it (`serve` and `MockServer` run scenarios)"
            }
            DocKind::Scenario => {
                "`kind: scenario`: this file is a server scenario; `smtp-harness serve FILE` runs it \
                 (`proxy --profile` and `MockProxy` take profiles)"
            }
        };
        Some(super::Problem::at(source, &said.referenced, message))
    }
}

/// `kind:` as a scenario's schema shows it.
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum ScenarioKindSchema {
    /// This file is a scenario.
    Scenario,
}

/// `kind:` as a profile's schema shows it.
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum ProfileKindSchema {
    /// This file is a proxy profile.
    Profile,
}

/// A whole scenario file.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// `scenario` (optional): says what this file is, so `validate` need
    /// not guess from its keys.
    #[schemars(with = "Option<ScenarioKindSchema>")]
    pub kind: Option<Spanned<DocKind>>,
    /// Short name, shown by `smtp-harness scenarios`.
    pub name: Option<String>,
    /// One line saying what the scenario reproduces.
    pub description: Option<String>,
    /// A bundled scenario name, or a path relative to this file, to start from.
    #[schemars(with = "Option<String>")]
    pub extends: Option<Spanned<String>>,
    /// The server's host name, used by `{hostname}` (default `mx.example.test`).
    pub hostname: Option<String>,
    /// The greeting.
    pub banner: Option<BannerSpec>,
    /// The EHLO reply.
    pub ehlo: Option<EhloSpec>,
    /// The HELO reply.
    pub helo: Option<ReplyOnly>,
    /// Texts of the built-in replies.
    pub replies: Option<RepliesSpec>,
    /// Whose smtpd the built-in engine copies where RFC 5321 leaves room
    /// (default `rfc`; `postfix`: Postfix 3.7's, checked against a real
    /// one by tests/fidelity_postfix.rs).
    pub dialect: Option<Dialect>,
    /// What happens at the end of DATA.
    pub data: Option<DataSpec>,
    /// Bounds on what a client may send.
    pub limits: Option<LimitsSpec>,
    /// Ordered overrides; the first match wins.
    #[serde(default)]
    #[schemars(with = "Vec<RuleSpec>")]
    pub rules: Vec<Spanned<RuleSpec>>,
    /// A captured conversation to serve back (see `smtp-harness import`).
    pub replay: Option<super::replay::ReplaySpec>,
    /// STARTTLS and implicit TLS.
    pub tls: Option<TlsSpec>,
    /// SMTP AUTH with scripted credentials.
    pub auth: Option<AuthSpec>,
    /// Local domains and mailboxes (Exchange's directory).
    pub directory: Option<DirectorySpec>,
    /// The reroute table: "Sent to" domain → `inbound` or a domain (Q307628).
    #[schemars(with = "Option<Vec<RerouteSpec>>")]
    pub reroute: Option<Vec<Spanned<RerouteSpec>>>,
    /// Who may relay; whether incoming mail is rerouted.
    pub relay: Option<RelaySpec>,
    /// Address types routed as SMTP besides SMTP (`OverrideProxyOut`, Q183801).
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub override_proxy_out: Option<Spanned<OneOrMany<String>>>,
    /// Bugs of particular versions, reproduced on purpose.
    pub quirks: Option<QuirksSpec>,
    /// Reject undeliverable recipients at RCPT, or accept and bounce.
    pub ndr: Option<NdrSpec>,
    /// Accept Postfix's XCLIENT from these clients.
    pub xclient: Option<XclientSpec>,
    /// Faults, toxiproxy-style: the one fault model proxy profiles share (docs/scenarios.md).
    #[serde(default)]
    #[schemars(with = "Vec<ServerFaultSchema>")]
    pub faults: Vec<Spanned<FaultSpec>>,
    /// Assertions about what clients send, checked on `verify()` and at shutdown.
    #[serde(default)]
    #[schemars(with = "Vec<super::expect::ExpectSpec>")]
    pub expect: Vec<Spanned<super::expect::ExpectSpec>>,
}

/// Which way bytes flow, in toxiproxy's terms. Only a proxy has two ways;
/// a fake server's faults are all `downstream` (its replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client → upstream: commands and message data.
    Upstream,
    /// Upstream → client (or server → client): replies.
    Downstream,
}

/// One entry of `faults:`, in a scenario or a proxy profile alike. The kind
/// is the one key among `latency`, `bandwidth`, `slice`, `close_after`,
/// `reply_then_close`, `tarpit` and `flaky` that is present (it tags the
/// entry); the other keys qualify it. A proxy has `direction` but no
/// `tarpit` or `flaky`. Checked by `faults.rs`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// A name for transcripts (default: the fault's kind).
    pub name: Option<String>,
    /// Proxy only: `upstream` (client → upstream) or `downstream`
    /// (upstream → client, the default).
    #[schemars(with = "Option<Direction>")]
    pub direction: Option<Spanned<Direction>>,
    /// Chance that a session gets this fault, 0.0–1.0 (default 1.0).
    #[schemars(with = "Option<f64>")]
    pub probability: Option<Spanned<f64>>,
    /// Seed for the dice (default: the profile's `seed`, else the clock, so runs differ).
    pub seed: Option<u64>,
    /// Wait this long before every reply (a proxy: before every chunk relayed).
    #[schemars(with = "Option<DurationSpec>")]
    pub latency: Option<Spanned<DurationSpec>>,
    /// With `latency`: up to this much more, at random.
    #[schemars(with = "Option<DurationSpec>")]
    pub jitter: Option<Spanned<DurationSpec>>,
    /// Send at this many bytes per second (a dribbling server or line).
    #[schemars(with = "Option<u64>")]
    pub bandwidth: Option<Spanned<u64>>,
    /// Send in pieces of this many bytes, one write each.
    #[schemars(with = "Option<usize>")]
    pub slice: Option<Spanned<usize>>,
    /// Close the connection after writing this many bytes (a proxy: both
    /// connections, after this many bytes in this direction).
    #[schemars(with = "Option<u64>")]
    pub close_after: Option<Spanned<u64>>,
    /// Send this reply, then close: at `on` (`banner`, a verb, or `.` for
    /// the end of message data; default `banner`).
    #[schemars(with = "Option<ReplyText>")]
    pub reply_then_close: Option<Spanned<ReplyText>>,
    /// With `reply_then_close`: when.
    #[schemars(with = "Option<String>")]
    pub on: Option<Spanned<String>>,
    /// Server only: a tarpit, waiting N times this long before the Nth reply.
    #[schemars(with = "Option<DurationSpec>")]
    pub tarpit: Option<Spanned<DurationSpec>>,
    /// Server only: answer commands with this reply at random (`rate` per command).
    #[schemars(with = "Option<ReplyText>")]
    pub flaky: Option<Spanned<ReplyText>>,
    /// With `flaky`: the chance per command, 0.0–1.0 (default 0.5).
    #[schemars(with = "Option<f64>")]
    pub rate: Option<Spanned<f64>>,
    /// With `flaky`: only these verbs (default all).
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub verbs: Option<Spanned<OneOrMany<String>>>,
}

/// The schema of a scenario's `faults:` entry: [`FaultSpec`] without the
/// proxy's `direction`.
pub(crate) struct ServerFaultSchema;

/// The schema of a proxy profile's `faults:` entry: [`FaultSpec`] without
/// what only a fake server does.
pub(crate) struct ProxyFaultSchema;

impl schemars::JsonSchema for ServerFaultSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ServerFault".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        fault_schema(generator, &["direction"])
    }
}

impl schemars::JsonSchema for ProxyFaultSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProxyFault".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        fault_schema(generator, &["tarpit", "flaky", "rate", "verbs"])
    }
}

/// [`FaultSpec`]'s schema without the keys `absent`, tagged as the loader
/// reads it: exactly one kind key per entry.
fn fault_schema(generator: &mut schemars::SchemaGenerator, absent: &[&str]) -> schemars::Schema {
    const KINDS: [&str; 7] = [
        "latency",
        "bandwidth",
        "slice",
        "close_after",
        "reply_then_close",
        "tarpit",
        "flaky",
    ];
    let mut schema = <FaultSpec as schemars::JsonSchema>::json_schema(generator);
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for key in absent {
            props.remove(*key);
        }
    }
    let one_of: Vec<_> = KINDS
        .iter()
        .filter(|k| !absent.contains(k))
        .map(|k| serde_json::json!({ "required": [k] }))
        .collect();
    schema.insert("oneOf".into(), one_of.into());
    schema
}

/// `directory:` — local domains and mailboxes.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorySpec {
    /// Domains delivered here (besides those of mailbox addresses and
    /// `inbound` reroute entries).
    #[schemars(with = "Option<Vec<String>>")]
    pub domains: Option<Vec<Spanned<String>>>,
    /// The mailboxes.
    #[schemars(with = "Option<Vec<MailboxSpec>>")]
    pub mailboxes: Option<Vec<Spanned<MailboxSpec>>>,
    /// The EAS `SMTPProxy` override: `LHS@this` reaches every mailbox.
    #[schemars(with = "Option<String>")]
    pub alternate_rhs: Option<Spanned<String>>,
    /// Accept unknown local recipients instead of `550 5.1.1 User unknown`.
    pub accept_all: Option<bool>,
}

/// One entry of `directory.mailboxes`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxSpec {
    /// The primary SMTP address.
    #[schemars(with = "Option<String>")]
    pub primary: Option<Spanned<String>>,
    /// Secondary (proxy) SMTP addresses.
    #[schemars(with = "Option<Vec<String>>")]
    pub proxies: Option<Vec<Spanned<String>>>,
}

/// One entry of `reroute:`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RerouteSpec {
    /// The domain or domains mail is sent to.
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub sent_to: Option<Spanned<OneOrMany<String>>>,
    /// `inbound` (deliver here) or the domain to rewrite to.
    #[schemars(with = "Option<String>")]
    pub route_to: Option<Spanned<String>>,
}

/// `relay:` — routing restrictions.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelaySpec {
    /// Client addresses or subnets that may relay (`192.168.0.1`, `10.0.0.0/8`, `::1`).
    #[schemars(with = "Option<Vec<String>>")]
    pub allow: Option<Vec<Spanned<String>>>,
    /// `false`: "Do not reroute incoming SMTP mail".
    pub reroute_incoming: Option<bool>,
    /// Clients that authenticated (SMTP AUTH) may relay, as Exchange
    /// allows by default (default false).
    pub authenticated: Option<bool>,
    /// How a refused relay is worded: `ims` (`550 5.7.1 Unable to relay`,
    /// the default), `exchange2003` (`550 5.7.1 Unable to relay for
    /// ADDRESS`) or `exchange2013` (`550 5.7.54 SMTP; Unable to relay
    /// recipient in non-accepted domain`).
    pub refusal: Option<crate::routing::RelayRefusal>,
}

/// `quirks:` — version-specific bugs.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuirksSpec {
    /// Exchange 5.5 before SP3 (Q237927): IMCEA one-offs rerouted even with
    /// rerouting off, and so relayed for any client.
    pub pre_sp3_imcea: Option<bool>,
}

/// `ndr:` — non-delivery.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NdrSpec {
    /// `reject` (5xx at RCPT, the default) or `bounce` (accept, then report).
    pub mode: Option<crate::routing::NdrMode>,
    /// `exchange55` or `exchange2003`.
    pub style: Option<crate::routing::NdrStyle>,
    /// Organization on the `MSEXCH:IMS` line.
    pub organization: Option<String>,
    /// Site on that line.
    pub site: Option<String>,
    /// Server on that line.
    pub server: Option<String>,
}

/// `xclient:` — Postfix's XCLIENT.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct XclientSpec {
    /// Clients allowed to use it (default loopback: `127.0.0.0/8`, `::1`).
    #[schemars(with = "Option<Vec<String>>")]
    pub hosts: Option<Vec<Spanned<String>>>,
    /// Advertise `XCLIENT ADDR NAME` in EHLO to those clients (default
    /// `true`, as Postfix does). `false` keeps a product's EHLO list as the
    /// product has it (Exchange has no XCLIENT) while tests still use it.
    pub advertise: Option<bool>,
}

/// `banner:` — the 220 greeting, or a refusal.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BannerSpec {
    /// The greeting; any code other than 220 refuses service (RFC 5321 3.1).
    #[schemars(with = "Option<ReplyText>")]
    pub reply: Option<Spanned<ReplyText>>,
    /// Wait this long before greeting.
    #[schemars(with = "Option<DurationSpec>")]
    pub delay: Option<Spanned<DurationSpec>>,
    /// `close` to hang up right after the banner.
    pub then: Option<Then>,
    /// Deface the greeting as a firewall does: `pix` or `all`.
    pub mask: Option<crate::protocol::mask::BannerMask>,
}

/// `ehlo:` — greeting line and keywords.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EhloSpec {
    /// The first line of the 250 reply, without the code.
    #[schemars(with = "Option<String>")]
    pub greeting: Option<Spanned<String>>,
    /// The keywords, one per line, in order (`SIZE 37748736`, `PIPELINING` …).
    #[schemars(with = "Option<Vec<String>>")]
    pub keywords: Option<Vec<Spanned<String>>>,
    /// Overwrite every keyword not named here with X's, as ASA does.
    pub mask_except: Option<Vec<String>>,
}

/// A section that only sets a reply (`helo:`).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyOnly {
    /// The reply.
    #[schemars(with = "Option<ReplyText>")]
    pub reply: Option<Spanned<ReplyText>>,
}

/// `data:` — the end of a message.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// The reply after `.` (default `250 2.0.0 Ok: queued as {queue_id}`);
    /// a 4xx/5xx reply means the message is not stored.
    #[schemars(with = "Option<ReplyText>")]
    pub reply: Option<Spanned<ReplyText>>,
    /// Wait this long before that reply.
    #[schemars(with = "Option<DurationSpec>")]
    pub delay: Option<Spanned<DurationSpec>>,
    /// Which sequences end a message (default `strict`): a preset
    /// (`strict`, `postfix`, `exchange`, `lenient`), a sequence named
    /// before and after the dot (`crlf.crlf`, `lf.crlf`, `lf.lf`,
    /// `crlf.lf`, `cr.cr`, `cr.crlf`, `crlf.cr`, `lf.cr`, `cr.lf`; also
    /// spelt `<LF>.<CRLF>`), or a list of them; `<CRLF>.<CRLF>` always
    /// ends a message. What follows the end is read as commands (SMTP
    /// smuggling).
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub end_of_data: Option<Spanned<OneOrMany<String>>>,
    /// Bare CR or LF in the message refused, as Postfix's
    /// `smtpd_forbid_bare_newline = reject`.
    pub bare_newline: Option<BareNewlineSpec>,
}

/// `data.bare_newline:` — refuse a message holding a bare CR or LF.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BareNewlineSpec {
    /// Which bare newlines are refused: `lf`, `cr`, or both (`[lf, cr]`).
    /// A message holding one is refused at its end; with `lf`, a command
    /// line ending in a bare LF is refused and the connection closed.
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub refuse: Option<Spanned<OneOrMany<String>>>,
    /// The reply at the message's end (default Postfix 3.7's
    /// `550 5.5.2 {hostname} Error: bare <LF> received`, or `<CR>` for a
    /// bare CR); the session goes on.
    #[schemars(with = "Option<ReplyText>")]
    pub reply: Option<Spanned<ReplyText>>,
}

/// `limits:` — every read is bounded; each bound has its RFC reply.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Command line length in octets including CRLF (RFC 5321: 512).
    #[schemars(with = "Option<usize>")]
    pub command_line: Option<Spanned<usize>>,
    /// Message text line length in octets including CRLF (RFC 5321: 1000).
    #[schemars(with = "Option<usize>")]
    pub text_line: Option<Spanned<usize>>,
    /// Recipients per message (RFC 5321: at least 100).
    #[schemars(with = "Option<usize>")]
    pub recipients: Option<Spanned<usize>>,
    /// Message size in octets, also advertised as `SIZE`.
    #[schemars(with = "Option<usize>")]
    pub message_size: Option<Spanned<usize>>,
    /// How long the server waits for the client (RFC 5321: 5 minutes),
    /// reading a command or writing a reply the client does not read.
    #[schemars(with = "Option<DurationSpec>")]
    pub idle_timeout: Option<Spanned<DurationSpec>>,
    /// Each line (a command, an AUTH response, a line of message text) must
    /// arrive whole within this long of its first octet, however often the
    /// client sends a piece of it (Postfix's `smtpd_per_record_deadline`).
    /// Default: none, only `idle_timeout` applies.
    #[schemars(with = "Option<DurationSpec>")]
    pub line_deadline: Option<Spanned<DurationSpec>>,
    /// Concurrent sessions; more get `421 4.3.2 Too many connections`.
    #[schemars(with = "Option<usize>")]
    pub max_sessions: Option<Spanned<usize>>,
    /// Transcript events kept per session (default 10000, at least 2): the
    /// first half and the last half; the middle is counted in an
    /// "N events dropped" note. Live output still shows every event.
    #[schemars(with = "Option<usize>", range(min = 2))]
    pub session_events: Option<Spanned<usize>>,
    /// Transcript events kept across all sessions (default 50000); the
    /// oldest sessions, ended ones first, are forgotten beyond it.
    #[schemars(with = "Option<usize>", range(min = 2))]
    pub total_events: Option<Spanned<usize>>,
    /// A message body larger than this many octets is kept in a temporary
    /// file, not in memory (default 65536).
    #[schemars(with = "Option<usize>")]
    pub message_memory: Option<Spanned<usize>>,
    /// Octets of message bodies kept in memory in all (default 8388608);
    /// more go to temporary files too.
    #[schemars(with = "Option<usize>")]
    pub messages_memory: Option<Spanned<usize>>,
    /// Octets of message bodies kept in temporary files in all (default
    /// 1073741824); the oldest messages are forgotten beyond it.
    #[schemars(with = "Option<u64>")]
    pub messages_disk: Option<Spanned<u64>>,
}

/// `dialect:` — whose command parser and error paths the built-in engine
/// copies. Reply texts stay the scenario's (`replies:`); this decides what
/// the texts alone cannot say: which lines are commands, which commands
/// exist, what is checked, in which order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// RFC 5321 as written: HELO/EHLO before MAIL, control characters and
    /// invalid UTF-8 refused as bad syntax, addresses up to 254 octets,
    /// message lines up to `limits.text_line`.
    #[default]
    Rfc,
    /// Postfix 3.7's smtpd with its stock settings: MAIL without HELO
    /// accepted (`smtpd_helo_required = no`); a command line ends at a NUL
    /// and splits at tabs too; invalid UTF-8 gets `500 5.5.2 Error: bad
    /// UTF-8 syntax`; no address length limit; long message lines accepted;
    /// `VRFY x` answers `252 2.0.0 x`; ETRN answered as without
    /// `fast_flush_domains` matches; AUTH without `auth:` is `503 … not
    /// enabled`; XCLIENT and XFORWARD refused to clients `xclient.hosts`
    /// does not list; `AUTH=` accepted without AUTH; the last BDAT is
    /// answered `250 2.0.0 Ok: N bytes queued as ID`; from the 10th error
    /// on each reply waits a second, after the 20th the server says `421`
    /// and hangs up.
    Postfix,
}

/// A session state a rule can be limited to.
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Rule, Scenario, StateName};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Refuse RCPT only inside a transaction, not as a first command.
/// let scenario = Scenario::builder()
///     .rule(Rule::verb("RCPT").state([StateName::Mail, StateName::Rcpt]).reply("452 4.5.3 too many"))
///     .build()?;
/// let server = MockServer::start_blocking(scenario)?;
/// let replies = talk(server.addr(), &["EHLO c", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.net>", "QUIT"])?;
/// assert!(replies[3].starts_with("452"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    /// Before HELO/EHLO.
    Connected,
    /// After HELO/EHLO, no transaction.
    Greeted,
    /// After MAIL, before any accepted RCPT.
    Mail,
    /// At least one RCPT accepted.
    Rcpt,
}

/// What happens after a reply.
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Rule, Scenario, Then};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Answer the first MAIL with a 421 and hang up, as an overloaded MTA does.
/// let scenario = Scenario::builder()
///     .rule(Rule::verb("MAIL").reply("421 4.3.2 busy").then(Then::Close))
///     .build()?;
/// let server = MockServer::start_blocking(scenario)?;
/// let replies = talk(server.addr(), &["EHLO c", "MAIL FROM:<a@example.com>"])?;
/// assert!(replies[2].starts_with("421"));
/// let t = server.wait_for_sessions_blocking(1)?;
/// assert_eq!(t.sessions[0].closed_by(), Some(smtp_harness::Closer::Server));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Then {
    /// Go on reading commands (the default).
    Continue,
    /// Close the connection (after the reply, if there is one).
    Close,
    /// Forget the transaction, as RSET does.
    Reset,
}

/// One entry of `rules:`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for transcripts and errors.
    pub name: Option<String>,
    /// The verb or verbs this rule answers.
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub verb: Option<Spanned<OneOrMany<String>>>,
    /// Answer every verb except these (an allow-list filter, as PIX does).
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub except: Option<Spanned<OneOrMany<String>>>,
    /// A regex the arguments must match (after the verb and its spaces).
    #[schemars(with = "Option<String>")]
    pub args: Option<Spanned<String>>,
    /// Only in these session states.
    #[schemars(with = "Option<OneOrMany<StateName>>")]
    pub state: Option<Spanned<OneOrMany<StateName>>>,
    /// Only the Nth time this rule's other conditions match in a session (1-based).
    #[schemars(with = "Option<u32>")]
    pub nth: Option<Spanned<u32>>,
    /// Only the first N times this rule's other conditions match in a session.
    #[schemars(with = "Option<u32>")]
    pub times: Option<Spanned<u32>>,
    /// Only in the Nth session the server accepts (1-based).
    #[schemars(with = "Option<u64>")]
    pub session: Option<Spanned<u64>>,
    /// The reply to send.
    #[schemars(with = "Option<ReplyText>")]
    pub reply: Option<Spanned<ReplyText>>,
    /// Wait this long before replying.
    #[schemars(with = "Option<DurationSpec>")]
    pub delay: Option<Spanned<DurationSpec>>,
    /// Send this reply at this many bytes per second (dribble it).
    #[schemars(with = "Option<u64>")]
    pub bandwidth: Option<Spanned<u64>>,
    /// Send this reply in pieces of this many bytes.
    #[schemars(with = "Option<usize>")]
    pub slice: Option<Spanned<usize>>,
    /// What to do after the reply.
    pub then: Option<Then>,
}

/// A reply as written in a scenario: `"550 5.1.1 User unknown"`, a list of
/// lines (`["250-first", "250 last"]`), or a block with one line per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyText(pub Vec<String>);

impl<'de> Deserialize<'de> for ReplyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let lines: OneOrMany<String> = OneOrMany::deserialize(d)?;
        let lines = lines
            .0
            .iter()
            .flat_map(|l| l.trim_end_matches('\n').split('\n'))
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        Ok(ReplyText(lines))
    }
}

/// A value that may be written as one item or as a list of items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for Visit<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                T::deserialize(s.into_deserializer()).map(|v| OneOrMany(vec![v]))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                // `reply: 250` is a reply with a code and no text.
                self.visit_str(&n.to_string())
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(Visit(PhantomData))
    }
}

/// A duration: `250ms`, `2s`, `1.5s`, `5m`, `1h`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    /// Parse the text form.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("expected a duration like 250ms, 2s or 5m, found {s:?}"))?;
        let secs = match unit.trim() {
            "ms" => value / 1000.0,
            "" | "s" => value,
            "m" | "min" => value * 60.0,
            "h" => value * 3600.0,
            other => {
                return Err(format!(
                    "unknown duration unit {other:?} in {s:?}; use ms, s, m or h"
                ));
            }
        };
        if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
            return Err(format!("duration {s:?} is outside 0s..24h"));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl de::Visitor<'_> for Visit {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like 250ms, 2s or 5m")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DurationSpec, E> {
                DurationSpec::parse(s).map(DurationSpec).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<DurationSpec, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<DurationSpec, E> {
                self.visit_str(&n.to_string())
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Written in whole milliseconds when it is (`250ms`, what the importer
/// writes), else in seconds (read back to within a nanosecond).
impl Serialize for DurationSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        if d.subsec_nanos().is_multiple_of(1_000_000) {
            format!("{}ms", d.as_millis()).serialize(s)
        } else {
            format!("{}s", d.as_secs_f64()).serialize(s)
        }
    }
}
