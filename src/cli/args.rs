//! The flags, and nothing but the flags.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "smtp-harness",
    version,
    about = "A scriptable fake SMTP server and interfering SMTP proxy for testing mail software",
    after_help = "Examples:\n  \
        smtp-harness serve                           # plain ESMTP server on 127.0.0.1:2525\n  \
        smtp-harness serve pix-mailguard             # what a client sees through a Cisco PIX\n  \
        smtp-harness serve my.yaml --listen 127.0.0.1:0 --transcript t.jsonl --maildir mail/\n  \
        smtp-harness validate scenarios/*.yaml profiles/*.yaml\n  \
        smtp-harness scenarios\n  \
        smtp-harness proxy --upstream mail.example.com:25 --profile pix-mailguard\n  \
        smtp-harness profiles\n  \
        smtp-harness probe mail.example.com:25\n  \
        smtp-harness demo --html story.html\n  \
        smtp-harness serve --control 127.0.0.1:8025   # HTTP control API (docs/control.md)\n  \
        smtp-harness schema > scenario.schema.json"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a fake SMTP server from a scenario.
    #[command(after_help = "Examples:\n  \
        smtp-harness serve exchange-2003\n  \
        smtp-harness serve ./scenario.yaml --listen 127.0.0.1:0\n  \
        smtp-harness serve postfix-default --quiet --transcript sessions.jsonl\n  \
        smtp-harness serve postfix-default --quiet --busy-poll 50   # a load test's upstream\n  \
        swaks --server 127.0.0.1:2525 --to user@example.com   # in another terminal")]
    Serve(ServeArgs),
    /// Check scenario, profile and `proxy --config` files; prints file:line:column for every problem.
    #[command(
        after_help = "A file's kind is decided by --kind; else by its own `kind: scenario` or \
        `kind: profile`; else a `proxies:` key makes it a `proxy --config` file; else by keys \
        only one kind has (scenarios: rules, limits, tls, auth, \
        replay …; profiles: verbs, starttls, addresses, seed, timeouts); else by what its \
        `extends:` names; else by a directory named `profiles`; otherwise it is a scenario. \
        Each result says which kind was assumed and why.\n\n\
        Exit status: 0 when every file is valid, 1 otherwise."
    )]
    Validate(ValidateArgs),
    /// Serve an imported scenario and report where each client diverges from the captured one.
    #[command(after_help = "Examples:\n  \
        smtp-harness import customer.pcap -o customer.yaml\n  \
        smtp-harness replay customer.yaml --listen 127.0.0.1:2525\n  \
        smtp-harness replay customer.yaml --json --quiet   # the report as JSON Lines on stdout\n  \
        smtp-harness replay customer.yaml --sessions 1 --quiet   # a CI gate: stops after one session\n\n\
        Exit status: 0 when every session did what the captured client did, 1 when one diverged \
        (or fewer than --sessions N ended, or an `expect:` entry is unmet), 2 when the \
        --transcript file could not be written.")]
    Replay(ReplayArgs),
    /// List the bundled scenarios.
    Scenarios,
    /// Show what a firewall does to a mail session, side by side, with the probe's verdict.
    #[command(after_help = "Examples:\n  \
        smtp-harness demo\n  \
        smtp-harness demo --profile asa-inspect-esmtp\n  \
        smtp-harness demo --profile starttls-strip --html story.html\n  \
        smtp-harness demo --profile ./my-firewall.yaml")]
    Demo(DemoArgs),
    /// Probe an SMTP server for interference: masked banner, refused EHLO, filtered verbs, STARTTLS.
    #[command(
        after_help = "Only harmless commands are sent (XPROBE, NOOP, VRFY postmaster, EXPN \
        postmaster, HELP, ETRN example.invalid, AUTH with a made-up mechanism, BDAT 0 LAST outside \
        a transaction, STARTTLS); mail only with --send-test.\n\n\
        Exit status: 0 no interference, 1 a finding, 2 could not probe.\n\n\
        Examples:\n  \
        smtp-harness probe mail.example.com:25\n  \
        smtp-harness probe 127.0.0.1:2525 --json --timeout 2s\n  \
        smtp-harness probe mx.example.com:25 --send-test --from me@example.com --to postmaster@example.com"
    )]
    Probe(ProbeArgs),
    /// Relay every client to a real SMTP server, interfering as a profile says.
    #[command(after_help = "Examples:\n  \
        smtp-harness proxy --upstream 127.0.0.1:25 --profile pix-mailguard\n  \
        smtp-harness proxy --upstream mx.example.com:25 --profile ./my-firewall.yaml --listen 127.0.0.1:0\n  \
        smtp-harness proxy --upstream 127.0.0.1:2526 --profile starttls-strip --transcript t.jsonl\n  \
        smtp-harness proxy --config proxies.yaml --control 127.0.0.1:8025   # several named proxies\n  \
        swaks --server 127.0.0.1:2525 --to user@example.com   # in another terminal")]
    Proxy(ProxyArgs),
    /// List the bundled proxy profiles.
    Profiles,
    /// Turn a capture (pcap, pcapng, swaks output, Exchange protocol log,
    /// JSON Lines transcript) into a replay scenario.
    #[command(after_help = "Examples:\n  \
        smtp-harness import customer.pcap -o customer.yaml\n  \
        smtp-harness import RECV2019012500-1.LOG --redact -o exchange.yaml\n  \
        smtp-harness import trace.pcapng --stream 3 --keep-timing\n\n\
        Exit status: 0 on success, 1 when the capture could not be read (what could be read\n\
        is still written to -o).")]
    Import(ImportArgs),
    /// Print the JSON Schema of scenario or profile files (for editors:
    /// `# yaml-language-server: $schema=…`).
    #[command(after_help = "Examples:\n  \
        smtp-harness schema > scenario.schema.json\n  \
        smtp-harness schema profile > profile.schema.json\n  \
        smtp-harness schema proxies > proxies.schema.json")]
    Schema(SchemaArgs),
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Which files.
    #[arg(value_enum, default_value_t = SchemaKind::Scenario)]
    pub kind: SchemaKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// Fake-server scenarios.
    Scenario,
    /// Proxy profiles.
    Profile,
    /// `proxy --config` files (several named proxies).
    Proxies,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The interference to show: a bundled profile (see `smtp-harness profiles`) or a YAML file.
    #[arg(long, default_value = "pix-mailguard", value_name = "NAME|FILE")]
    pub profile: String,
    /// Also write the story as one self-contained HTML page (a sequence diagram).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Then keep the server and proxy running, and print the web UI's
    /// address (opens nothing): more clients can go through the proxy and
    /// be watched live. Ctrl-C ends it.
    #[arg(long)]
    pub serve: bool,
    /// Colour the output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The server to probe.
    #[arg(value_name = "HOST:PORT")]
    pub target: String,
    /// Print the report as JSON (schema: docs/probe.md).
    #[arg(long)]
    pub json: bool,
    /// Bound on each step (connect, each reply, the TLS handshake).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Also send one test message (needs --from and --to).
    #[arg(long, requires_all = ["from", "to"])]
    pub send_test: bool,
    /// Envelope sender of the test message.
    #[arg(long, value_name = "ADDRESS", requires = "send_test")]
    pub from: Option<String>,
    /// Envelope recipient of the test message.
    #[arg(long, value_name = "ADDRESS", requires = "send_test")]
    pub to: Option<String>,
    /// The name to give in EHLO/HELO.
    #[arg(
        long,
        default_value = "probe.smtp-harness.invalid",
        value_name = "NAME"
    )]
    pub helo: String,
    /// Also print every line sent and received.
    #[arg(short, long)]
    pub verbose: bool,
    /// Colour the output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = crate::scenario::model::DurationSpec::parse(s)?;
    if d.is_zero() {
        return Err("the timeout must be more than 0s".into());
    }
    Ok(d)
}

/// `--listen`, `--control`: [`parse_listen`](crate::server::listener::parse_listen).
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    crate::server::listener::parse_listen(s)
}

/// `--upstream`: [`parse_upstream`](crate::proxy::config::parse_upstream).
fn parse_upstream(s: &str) -> Result<String, String> {
    crate::proxy::config::parse_upstream(s)
}

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// The real server, HOST:PORT. Every client is relayed there and only there.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_upstream, required_unless_present = "config")]
    pub upstream: Option<String>,
    /// A bundled profile name (see `smtp-harness profiles`) or a YAML file.
    #[arg(long, default_value = "transparent", value_name = "NAME|FILE")]
    pub profile: String,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:2525", value_name = "IP:PORT", value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// Run several named proxies from this file instead (each with its
    /// listen address, upstream and profile; docs/proxy.md); prints
    /// `proxy NAME listening on ADDR` for each.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["upstream", "profile", "listen", "record"])]
    pub config: Option<PathBuf>,
    /// Also write every event of both legs as JSON Lines to this file
    /// (with --config, each line names its proxy: `"proxy": NAME`).
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    /// On shutdown, write what the upstream said as a `replay:` scenario.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// No live transcript on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Colour the live transcript.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(flatten)]
    pub control: ControlArgs,
    /// Worker threads. One event loop is the cheapest per session (as for
    /// `serve`); more help only when the load generator runs elsewhere.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    #[command(flatten)]
    pub keep: KeepArgs,
}

/// The HTTP control API of `serve` and `proxy` (docs/control.md).
#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// Serve the HTTP control API on this address, and a web UI at its `/`
    /// (off by default; e.g. 127.0.0.1:8025, port 0 picks a free one). See
    /// docs/control.md and docs/ui.md.
    #[arg(id = "control", long = "control", value_name = "IP:PORT", value_parser = parse_listen)]
    pub addr: Option<SocketAddr>,
    /// Allow --control on an address other hosts can reach (anyone who can
    /// reach it can change what the harness does).
    #[arg(long = "control-allow-remote")]
    pub allow_remote: bool,
    /// Require `Authorization: Bearer TOKEN` on every control API request
    /// (for shared machines). Better from the environment variable
    /// SMTP_HARNESS_CONTROL_TOKEN, which other users cannot see in `ps`.
    #[arg(long = "control-token", value_name = "TOKEN", requires = "control")]
    pub token: Option<String>,
    /// Let what is sent to the control API name files (`extends:`,
    /// `tls.cert`, `tls.key`) in this directory and nowhere else; without
    /// it, it can name none.
    #[arg(long = "control-files", value_name = "DIR", requires = "control")]
    pub files: Option<PathBuf>,
}

/// What is kept in memory; each flag wins over the scenario's `limits:`.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Memory (docs/scenarios.md, `limits:`)")]
pub struct KeepArgs {
    /// Transcript events kept per session: the first and last halves, the
    /// middle counted in an "N events dropped" note [default: 10000].
    #[arg(long, value_name = "N", value_parser = at_least_two)]
    pub session_events: Option<usize>,
    /// Transcript events kept across all sessions; the oldest sessions go
    /// first [default: 50000].
    #[arg(long, value_name = "N", value_parser = at_least_two)]
    pub total_events: Option<usize>,
    /// Message bodies larger than this many octets are kept in temporary
    /// files, not in memory [default: 65536].
    #[arg(long, value_name = "OCTETS")]
    pub message_memory: Option<usize>,
    /// Octets of message bodies kept in memory in all [default: 8388608].
    #[arg(long, value_name = "OCTETS")]
    pub messages_memory: Option<usize>,
    /// Octets of message bodies kept in temporary files in all; the oldest
    /// messages go first [default: 1073741824].
    #[arg(long, value_name = "OCTETS")]
    pub messages_disk: Option<u64>,
}

fn at_least_two(s: &str) -> Result<usize, String> {
    let min = crate::transcript::Keep::MIN_SESSION_EVENTS;
    match s.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!("expected a whole number, at least {min}")),
    }
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The capture file.
    pub capture: PathBuf,
    /// Write the scenario here (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read as this format instead of detecting it: swaks, exchange, pcap, pcapng, jsonl.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<crate::import::Format>,
    /// Import only this session: the TCP stream number for pcap (as Wireshark's
    /// tcp.stream), the session's position from 0 otherwise.
    #[arg(long, value_name = "N")]
    pub stream: Option<usize>,
    /// Reproduce the captured delays before each reply.
    #[arg(long)]
    pub keep_timing: bool,
    /// Replace mail addresses, host names, IPs and AUTH data with placeholders.
    #[arg(long)]
    pub redact: bool,
    /// Write AUTH credentials as captured (by default they become
    /// `cmVkYWN0ZWQ=`, which a replay accepts for any credential).
    #[arg(long, conflicts_with = "redact")]
    pub keep_credentials: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A bundled scenario name (see `smtp-harness scenarios`) or a YAML file.
    #[arg(default_value = "postfix-default")]
    pub scenario: String,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:2525", value_name = "IP:PORT", value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// Also write every event as JSON Lines to this file. A write error is
    /// reported at once; serving goes on and the exit status is 2.
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<PathBuf>,
    /// Write every accepted message to this Maildir (DIR/<recipient>/new/…),
    /// synced before the 250; a message it cannot take gets 451 4.3.0.
    #[arg(long, value_name = "DIR")]
    pub maildir: Option<PathBuf>,
    /// No live transcript on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Colour the live transcript.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Worker threads. One event loop (like Postfix's smtp-sink) is the
    /// cheapest per session; more help only when the load generator runs elsewhere.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Keep polling for up to this many microseconds after each read instead
    /// of sleeping (adaptive; 0 = off). Lower latency and more sessions/s
    /// under load, for more CPU: see docs/PERFORMANCE.md. One thread only.
    #[arg(long, default_value_t = 0, value_name = "MICROS", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub busy_poll: u32,
    #[command(flatten)]
    pub control: ControlArgs,
    #[command(flatten)]
    pub keep: KeepArgs,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Report divergences as JSON Lines on stdout instead of text: one
    /// object per divergence, per ended session and a summary (docs/import.md).
    #[arg(long)]
    pub json: bool,
    /// Stop after this many sessions have ended, then exit 0 when every one
    /// did what the captured client did, 1 when one diverged.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub sessions: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    /// When stderr is a terminal and NO_COLOR is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Scenario or profile files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// What the files are; `auto` decides per file (see below).
    #[arg(long, value_enum, default_value_t = FileKind::Auto)]
    pub kind: FileKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileKind {
    /// Decide per file.
    Auto,
    /// Fake-server scenarios.
    Scenario,
    /// Proxy profiles.
    Profile,
    /// `proxy --config` files (several named proxies).
    Proxies,
}
