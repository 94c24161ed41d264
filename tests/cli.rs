//! The binary: serve, validate, scenarios.

mod common;

use common::Launched;
use rstest::rstest;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
}

fn validate(files: &[&Path]) -> (i32, String) {
    let out = bin().arg("validate").args(files).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn every_bundled_scenario_validates_and_is_listed() {
    let files: Vec<_> = std::fs::read_dir("scenarios")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() >= 6);
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (code, out) = validate(&refs);
    assert_eq!(code, 0, "{out}");
    let listing = String::from_utf8(bin().arg("scenarios").output().unwrap().stdout).unwrap();
    for f in &files {
        let name = f.file_stem().unwrap().to_str().unwrap();
        assert!(
            listing.lines().any(|l| l.starts_with(name)),
            "{name} not listed:\n{listing}"
        );
        // The bundled copy is the file: a scenario added to scenarios/ but
        // not to the binary would fail here.
        assert!(
            smtp_harness::scenario::bundled::text(name).is_some(),
            "{name} not bundled"
        );
    }
}

#[rstest]
#[case(
    "unknown key",
    "banner:\n  replly: '220 hi'\n",
    "bad.yaml:2:3: unknown field `replly`, expected one of"
)]
#[case(
    "wrong type",
    "limits:\n  recipients: lots\n",
    "bad.yaml:2:15: `recipients`: expected a whole number ≥ 0, found lots"
)]
#[case(
    "bad regex",
    "rules:\n  - verb: RCPT\n    args: '(unclosed'\n    reply: '550 no'\n",
    "bad.yaml:3:11: bad regex in `args`"
)]
#[case(
    "code range",
    "rules:\n  - verb: NOOP\n    reply: '700 nope'\n",
    "bad.yaml:3:12: reply code 700 is outside 200–599"
)]
#[case(
    "not a reply",
    "data:\n  reply: 'queued'\n",
    "bad.yaml:2:10: expected a reply starting with a three-digit code"
)]
#[case(
    "nth zero",
    "rules:\n  - verb: MAIL\n    nth: 0\n    reply: '451 later'\n",
    "bad.yaml:3:10: `nth` counts from 1"
)]
#[case(
    "shadowed",
    "rules:\n  - verb: [MAIL, RCPT]\n    reply: '451 no'\n  - verb: RCPT\n    reply: '250 ok'\n",
    "bad.yaml:4:5: this rule can never match: rule 1 (line 2)"
)]
#[case(
    "no reply",
    "rules:\n  - verb: MAIL\n",
    "bad.yaml:2:5: a rule needs a `reply`"
)]
#[case(
    "placeholder",
    "banner:\n  reply: '220 {hostnme}'\n",
    "bad.yaml:2:10: unknown placeholder {hostnme}"
)]
#[case(
    "state",
    "rules:\n  - verb: MAIL\n    state: sending\n    reply: '250 ok'\n",
    "bad.yaml:3:5: unknown variant `sending`, expected one of connected, greeted, mail, rcpt"
)]
#[case(
    "duration",
    "banner:\n  delay: 5 parsecs\n",
    "bad.yaml:2:10: unknown duration unit"
)]
#[case(
    "boolean",
    "limits: {recipients: yes}\n",
    "bad.yaml:1:22: `recipients`: expected a whole number ≥ 0, found yes"
)]
#[case(
    "mixed codes",
    "helo:\n  reply: ['250-a', '251 b']\n",
    "every line of a reply needs the same code"
)]
#[case("unknown parent", "extends: exchange-1999\n", "cannot read")]
fn validate_names_file_line_column(#[case] what: &str, #[case] yaml: &str, #[case] expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.yaml", yaml);
    let (code, out) = validate(&[&f]);
    assert_eq!(code, 1, "{what}: {out}");
    let shown = out.replace(&format!("{}/", dir.path().display()), "");
    assert!(
        shown.contains(expected),
        "{what}: expected {expected:?} in\n{shown}"
    );
}

#[test]
fn validate_reports_every_problem_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "two.yaml",
        "rules:\n  - verb: A\n    reply: '100 x'\n  - verb: B\n    args: '['\n    reply: '250 ok'\n",
    );
    let good = write(
        dir.path(),
        "good.yaml",
        "extends: postfix-default\nhostname: mx.test\n",
    );
    let (code, out) = validate(&[&bad, &good]);
    assert_eq!(code, 1);
    assert!(out.contains("two.yaml:3:12: reply code 100"), "{out}");
    assert!(out.contains("two.yaml:5:11: bad regex"), "{out}");
    assert!(out.contains("good.yaml: ok"), "{out}");
}

#[test]
fn extends_follows_relative_files_but_not_out_of_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("inner");
    std::fs::create_dir(&inner).unwrap();
    write(
        &inner,
        "base.yaml",
        "extends: exchange-2019\nhostname: base.test\n",
    );
    let child = write(
        &inner,
        "child.yaml",
        "extends: base.yaml\nbanner: {reply: '220 {hostname} child'}\n",
    );
    let (code, out) = validate(&[&child]);
    assert_eq!(code, 0, "{out}");
    let s = smtp_harness::Scenario::from_file(&child).unwrap();
    assert_eq!(s.plan().hostname, "base.test");
    assert_eq!(
        s.plan().limits.message_size,
        37_748_736,
        "grandparent's limits survive"
    );
    write(dir.path(), "outside.yaml", "hostname: x\n");
    let escape = write(&inner, "escape.yaml", "extends: ../outside.yaml\n");
    let (code, out) = validate(&[&escape]);
    assert_eq!(code, 1);
    assert!(out.contains("is outside"), "{out}");
    let looped = write(&inner, "loop.yaml", "extends: loop.yaml\n");
    let (code, out) = validate(&[&looped]);
    assert_eq!(code, 1);
    assert!(out.contains("loops"), "{out}");
}

#[test]
fn yaml_bombs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    let f = write(dir.path(), "bomb.yaml", &bomb);
    let (code, out) = validate(&[&f]);
    assert_eq!(code, 1, "{out}");
    let deep = write(
        dir.path(),
        "deep.yaml",
        &format!("rules: {}{}\n", "[".repeat(500), "]".repeat(500)),
    );
    let (code, _) = validate(&[&deep]);
    assert_eq!(code, 1);
}

fn smtp_session(addr: &str, lines: &[&str]) -> String {
    let text: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
    common::launch::session(addr, &text)
}

#[test]
fn serve_writes_transcript_maildir_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("t.jsonl");
    let maildir = dir.path().join("mail");
    let mut served = Launched::serve(&[
        "exchange-2003",
        "--transcript",
        jsonl.to_str().unwrap(),
        "--maildir",
        maildir.to_str().unwrap(),
    ]);
    let wire = smtp_session(
        &served.addr,
        &[
            "EHLO me",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<administrator@adatum.com>",
            "DATA",
            "Subject: cli\r\n\r\nhi\r\n.",
            "QUIT",
        ],
    );
    assert!(wire.contains("221 2.0.0"), "{wire}");
    let exit = served.stop("TERM");
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    let stderr = served.stderr();
    assert!(stderr.contains("#1  -> EHLO me"), "{stderr}");
    assert!(stderr.contains("#1 <-  221 2.0.0"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no colour when not a TTY");

    let events: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["type"], "connect");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "command" && e["line"] == "EHLO me")
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "message" && e["to"][0] == "administrator@adatum.com")
    );
    assert_eq!(events.last().unwrap()["type"], "close");

    let new = maildir.join("administrator@adatum.com").join("new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(text.starts_with("Return-Path: <a@example.org>\r\nX-Original-To: administrator@adatum.com\r\nDelivered-To: administrator@adatum.com\r\nSubject: cli\r\n"), "{text}");
    assert_eq!(
        std::fs::read_dir(maildir.join("administrator@adatum.com").join("tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn serve_sends_421_to_sessions_on_shutdown() {
    let mut served = Launched::serve(&["postfix-default", "--quiet"]);
    let s = TcpStream::connect(&served.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut banner = String::new();
    r.read_line(&mut banner).unwrap();
    let pid = served.child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let mut bye = String::new();
    r.read_line(&mut bye).unwrap();
    assert!(bye.starts_with("421 4.3.2"), "{bye:?}");
    assert!(served.child.wait().unwrap().success());
}

#[test]
fn serve_rejects_a_broken_scenario_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "broken.yaml", "banner: [\n");
    let out = bin()
        .args(["serve", f.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.yaml:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn help_has_examples() {
    let out = bin().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Examples:") && text.contains("--listen"),
        "{text}"
    );
}

#[test]
fn demo_shows_the_firewall_damage() {
    // The full checks live in tests/probe.rs; this is the smoke test.
    let out = bin().args(["demo", "--color", "never"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("behind `pix-mailguard`"), "{text}");
    assert!(text.contains("<- 500 5.5.1 Command unrecognized"), "{text}");
    assert!(text.contains("-> HELO client.contoso.com"), "{text}");
    assert!(
        text.contains("possible SMTP proxy (masked banner, EHLO refused"),
        "{text}"
    );
    let clean = bin()
        .args(["demo", "--profile", "transparent", "--color", "never"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&clean.stdout).contains("through  no interference"));
}

#[test]
fn replay_reports_divergences_per_session() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "captured.yaml",
        "replay:\n  sessions:\n    - banner: [\"220 captured.example ESMTP\"]\n      steps:\n        - client: \"HELO captured\"\n          reply: [\"250 captured.example\"]\n        - client: \"QUIT\"\n          reply: [\"221 bye\"]\n      end: server_closed\n",
    );
    let mut replay = Launched::start(&[
        "replay",
        f.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--json",
    ]);
    let wire = smtp_session(&replay.addr, &["HELO other", "QUIT"]);
    assert_eq!(
        wire,
        "220 captured.example ESMTP\r\n250 captured.example\r\n221 bye\r\n"
    );
    let v: serde_json::Value = serde_json::from_str(&replay.next_line()).unwrap();
    assert_eq!(
        (v["session"].as_u64(), v["step"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (v["expected"].as_str(), v["got"].as_str()),
        (Some("HELO captured"), Some("HELO other"))
    );
}

#[test]
fn proxy_record_writes_a_replay_of_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = dir.path().join("recorded.yaml");
    let upstream = Launched::serve(&["exchange-2019", "--quiet"]);
    let mut proxy = Launched::start(&[
        "proxy",
        "--upstream",
        &upstream.addr,
        "--profile",
        "pix-mailguard",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--record",
        recorded.to_str().unwrap(),
    ]);
    let through = smtp_session(
        &proxy.addr,
        &["HELO me", "MAIL FROM:<a@example.org>", "QUIT"],
    );
    assert!(
        through.starts_with("220 *"),
        "the client saw the masked banner: {through}"
    );
    assert!(proxy.stop("TERM").success());
    let scenario = smtp_harness::Scenario::from_file(&recorded).unwrap_or_else(|e| panic!("{e}"));
    let captured = &scenario.plan().replay[0];
    let banner = String::from_utf8_lossy(&captured.banner.as_ref().unwrap().1).into_owned();
    assert!(
        banner.contains("Microsoft ESMTP MAIL Service ready at"),
        "the recording holds the real server's banner: {banner}"
    );
    assert_eq!(captured.steps.len(), 3, "HELO, MAIL, QUIT");
}

#[test]
fn color_always_paints_the_live_transcript() {
    let mut served = Launched::start(&[
        "serve",
        "postfix-default",
        "--listen",
        "127.0.0.1:0",
        "--color",
        "always",
    ]);
    smtp_session(&served.addr, &["QUIT"]);
    served.stop("TERM");
    let err = served.stderr();
    assert!(
        err.contains("\u{1b}[32m#1 <-  220 "),
        "green 2xx replies: {err:?}"
    );
    assert!(
        err.contains("\u{1b}[36m#1  -> QUIT"),
        "cyan client commands: {err:?}"
    );
}

#[test]
fn serve_with_worker_threads_serves_concurrent_sessions() {
    let mut served = Launched::serve(&["postfix-default", "--quiet", "--threads", "2"]);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let addr = served.addr.clone();
            std::thread::spawn(move || smtp_session(&addr, &["HELO x", "QUIT"]))
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap().ends_with("221 2.0.0 Bye\r\n"));
    }
    assert!(served.stop("TERM").success());
    let bad = bin().args(["serve", "--threads", "0"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "clap refuses 0 threads");
}

#[test]
fn serve_with_busy_polling_serves_sessions_and_goes_quiet_between_them() {
    let mut served = Launched::serve(&["postfix-default", "--quiet", "--busy-poll", "50"]);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let addr = served.addr.clone();
            std::thread::spawn(move || {
                smtp_session(
                    &addr,
                    &["HELO x", "MAIL FROM:<a@x>", "RCPT TO:<b@y>", "QUIT"],
                )
            })
        })
        .collect();
    for h in handles {
        let got = h.join().unwrap();
        assert!(got.contains("250 2.1.5 Ok\r\n"), "{got}");
        assert!(got.ends_with("221 2.0.0 Bye\r\n"), "{got}");
    }
    // Polling stops after the window: an idle server uses (almost) no CPU.
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let pid = served.child.id();
    let before = ticks(pid);
    // Not a wait for readiness: the measured interval itself.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let used = ticks(pid) - before;
    // Clock ticks are 10 ms: a spinning loop would have used ~50.
    assert!(used <= 5, "{used} ticks of CPU in 0.5 s of idleness");
    assert!(served.stop("TERM").success());
    let both = bin()
        .args([
            "serve",
            "--busy-poll",
            "50",
            "--threads",
            "2",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!both.status.success());
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("--busy-poll works with one event loop"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
}

#[test]
fn replay_text_report_says_when_the_client_matched() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "captured.yaml",
        "replay:\n  sessions:\n    - banner: [\"220 captured.example ESMTP\"]\n      steps:\n        - client: \"QUIT\"\n          reply: [\"221 bye\"]\n      end: server_closed\n",
    );
    let mut replay = Launched::start(&[
        "replay",
        f.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ]);
    assert_eq!(
        smtp_session(&replay.addr, &["QUIT"]),
        "220 captured.example ESMTP\r\n221 bye\r\n"
    );
    // The whole line, newline included: a report line that did not end
    // would run into whatever the terminal prints next.
    assert_eq!(
        replay.next_line(),
        "session 1: the client did what the captured client did\n"
    );
}

/// A misspelled bundled name is answered with the closest names, in one
/// sentence, not with "cannot read …: No such file or directory", and exit
/// status 1 (bad input) from every command alike.
#[rstest]
#[case(&["serve", "pix-mailgaurd"], r#"pix-mailgaurd: no such file, and no bundled scenario has that name; did you mean "pix-mailguard"? (`smtp-harness scenarios` lists them)"#)]
#[case(&["proxy", "--upstream", "127.0.0.1:25", "--profile", "pix-mailgaurd"], r#"pix-mailgaurd: no such file, and no bundled profile has that name; did you mean "pix-mailguard"? (`smtp-harness profiles` lists them)"#)]
#[case(&["demo", "--profile", "startls-strip"], r#"did you mean "starttls-strip"?"#)]
#[case(&["replay", "exchange-2003x"], r#"did you mean "exchange-2003"?"#)]
fn a_misspelled_bundled_name_gets_the_closest_ones(#[case] args: &[&str], #[case] said: &str) {
    let out = bin().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(said), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
}

/// A path that does not exist is still reported as a missing file.
#[test]
fn a_missing_file_is_still_a_missing_file() {
    let out = bin().args(["serve", "./nothere.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read ./nothere.yaml"), "{stderr}");
}

/// Addresses without a port (or a port without an address) are refused
/// before anything starts, with the form expected: a proxy whose upstream
/// has no port would answer every client 421.
#[rstest]
#[case(&["serve", "--listen", "2525"], "a port alone is not enough: give the address too, e.g. 127.0.0.1:2525")]
#[case(&["serve", "--listen", "localhost:2525"], r#""localhost" is a host name, which is not looked up here: give an IP address, e.g. 127.0.0.1:2525"#)]
#[case(&["serve", "--control", "8025"], "e.g. 127.0.0.1:8025")]
#[case(&["proxy", "--upstream", "127.0.0.1"], "no port: expected HOST:PORT, e.g. 127.0.0.1:25")]
#[case(&["proxy", "--upstream", "mx.example.com:smtp"], r#""smtp" is not a port number"#)]
#[case(&["proxy", "--upstream", "::1:25"], "an IPv6 address goes in brackets")]
#[case(&["proxy", "--upstream", "127.0.0.1:25", "--listen", "2525"], "e.g. 127.0.0.1:2525")]
fn addresses_without_the_expected_form_are_refused_at_start(
    #[case] args: &[&str],
    #[case] said: &str,
) {
    let out = bin().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(said), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// The YAML block that follows `heading` in a doc file.
fn doc_yaml(doc: &str, heading: &str) -> String {
    let text = std::fs::read_to_string(doc).unwrap();
    let after = &text[text.find(heading).expect("heading")..];
    let start = after.find("```yaml\n").expect("a yaml block") + 8;
    let len = after[start..].find("```").expect("its end");
    after[start..start + len].to_string()
}

/// `validate` decides scenario or profile by what only one kind can say,
/// and says which it assumed: the docs' faults-only scenario is a scenario
/// (as `serve` runs it), not a profile.
#[rstest]
#[case(
    "docs faults",
    "",
    "ok (scenario unnamed; by default: it has only keys both kinds have"
)]
#[case(
    "kind profile",
    "kind: profile\nfaults:\n  - latency: 1ms\n",
    "ok (profile p.yaml; as its `kind:` says)"
)]
#[case(
    "kind scenario",
    "kind: scenario\nfaults:\n  - latency: 1ms\n",
    "ok (scenario unnamed; as its `kind:` says)"
)]
#[case(
    "profile keys",
    "verbs: {action: mask}\n",
    "ok (profile p.yaml; by its keys only profiles have: `verbs`)"
)]
#[case(
    "scenario keys",
    "faults: [{latency: 1ms}]\nlimits: {recipients: 5}\n",
    "ok (scenario unnamed; by its keys only scenarios have: `limits`)"
)]
#[case(
    "bundled profile parent",
    "extends: starttls-strip\n",
    "ok (profile starttls-strip; as it extends the bundled profile starttls-strip)"
)]
#[case(
    "both",
    "verbs: {action: mask}\nrules: []\n",
    "p.yaml: checked as a scenario, although it has keys of both kinds (scenario: `rules`; profile: `verbs`): add `kind:` to say"
)]
fn validate_says_which_kind_it_assumed(#[case] what: &str, #[case] yaml: &str, #[case] said: &str) {
    let dir = tempfile::tempdir().unwrap();
    let yaml = if yaml.is_empty() {
        doc_yaml("docs/scenarios.md", "## `faults`")
    } else {
        yaml.to_string()
    };
    let f = write(dir.path(), "p.yaml", &yaml);
    let (_, out) = validate(&[&f]);
    let shown = out.replace(&format!("{}/", dir.path().display()), "");
    assert!(
        shown.contains(said),
        "{what}: expected {said:?} in\n{shown}"
    );
}

/// The docs' faults example runs under `serve` and checks as a scenario;
/// a file that says `kind: profile` is refused by `serve` with where it says so.
#[test]
fn a_kind_key_is_checked_by_the_loaders() {
    let dir = tempfile::tempdir().unwrap();
    let docs = write(
        dir.path(),
        "f.yaml",
        &doc_yaml("docs/scenarios.md", "## `faults`"),
    );
    let (code, out) = validate(&[&docs]);
    assert_eq!(code, 0, "{out}");
    let p = write(dir.path(), "p.yaml", "kind: profile\nbanner: {mask: pix}\n");
    let out = bin().arg("serve").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("p.yaml:1:7: `kind: profile`: this file is a proxy profile; `smtp-harness proxy --profile FILE` runs it"),
        "{stderr}"
    );
    let s = write(dir.path(), "s.yaml", "kind: scenario\nname: x\n");
    let out = bin()
        .args(["proxy", "--upstream", "127.0.0.1:25", "--profile"])
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("s.yaml:1:7: `kind: scenario`: this file is a server scenario"),
        "{stderr}"
    );
}

/// The text view never cuts a reply short: the masked banner is the point
/// of the PIX demo, all of it, as long as the server's own banner.
#[test]
fn demo_text_shows_the_whole_masked_banner() {
    let out = bin().args(["demo", "--color", "never"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('…'), "{text}");
    let banner: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("<- 220"))
        .take_while(|l| !l.trim_start().starts_with('↳'))
        .collect();
    // Each column's rows joined again: a row break was a space.
    let column = |right: bool| -> Vec<String> {
        let rows: Vec<String> = banner
            .iter()
            .map(|l| {
                let at = l.char_indices().nth(38).map_or(l.len(), |(i, _)| i);
                let (left, rest) = l.split_at(at);
                // The arrow (or its indent) is 3 characters; the separator
                // between the columns (` ≠ `) 3 more.
                let side: String = if right {
                    rest.chars().skip(6).collect()
                } else {
                    left.chars().skip(3).collect()
                };
                side.trim_end().to_string()
            })
            .collect();
        rows
    };
    // The masked text has no spaces after the code (PIX masks them too), so
    // it was cut anywhere; the server's was broken at spaces.
    let (client, server) = (column(false).concat(), column(true).join(" "));
    assert!(client.starts_with("220 ***"), "{client}");
    assert!(!client[4..].contains(' '), "{client}");
    assert!(server.starts_with("220 mail.adatum.com"), "{server}");
    // PIX replaces characters one for one: as long as the server's banner.
    assert_eq!(
        client.chars().count(),
        server.chars().count(),
        "{client}\n{server}"
    );
}

/// `starttls-strip` took one word from the EHLO reply: that word is
/// marked, on its row only, in the text and in the HTML; the rest of the
/// reply is shown as relayed.
#[test]
fn demo_marks_the_word_that_vanished_not_the_whole_reply() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("story.html");
    let out = bin()
        .args([
            "demo",
            "--profile",
            "starttls-strip",
            "--color",
            "never",
            "--html",
        ])
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let changed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" ≠ ") && !l.contains("marks every change"))
        .collect();
    assert_eq!(changed.len(), 1, "{text}");
    assert!(changed[0].contains("[-STARTTLS-]"), "{text}");
    assert!(
        text.contains("↳ the proxy removed STARTTLS from the reply to EHLO (ehlo-rewrite)"),
        "{text}"
    );

    let page = std::fs::read_to_string(&html).unwrap();
    let marks: Vec<&str> = page
        .split(r#"<tspan class="mark">"#)
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap_or_default())
        .collect();
    assert_eq!(marks, ["STARTTLS"], "only the vanished word is marked");
    // The reply the client saw is an orange arrow, its label not.
    assert_eq!(page.matches(r#"class="msg changed words""#).count(), 1);
    assert_eq!(page.matches(r#"class="msg changed""#).count(), 0);
}

/// Every lane title fits its box and the page; every caption under an
/// arrow is wrapped to the room between two lanes and counted in the
/// arrow's height, so it never runs into a lifeline or the next arrow.
#[test]
fn demo_html_titles_fit_and_captions_stay_between_lanes() {
    let dir = tempfile::tempdir().unwrap();
    for profile in ["pix-mailguard", "starttls-strip", "asa-inspect-esmtp"] {
        let html = dir.path().join(format!("{profile}.html"));
        let out = bin()
            .args(["demo", "--profile", profile, "--color", "never", "--html"])
            .arg(&html)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page = std::fs::read_to_string(&html).unwrap();
        let svg = page
            .split("<svg")
            .nth(1)
            .unwrap()
            .split("</svg>")
            .next()
            .unwrap();
        assert!(!svg.contains('…'), "{profile}: something was cut");
        let attr = |tag: &str, name: &str| -> u32 {
            let at = tag.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
            tag[at..].split('"').next().unwrap().parse().unwrap()
        };
        for lane in page.split(r#"<g class="lane""#).skip(1) {
            let lane = lane.split("</g>").next().unwrap();
            let rect = lane.split("<rect").nth(1).unwrap();
            let (x, w, h) = (attr(rect, "x"), attr(rect, "width"), attr(rect, "height"));
            assert!(x + w <= 1200, "{profile}: a lane box leaves the page");
            let titles: Vec<&str> = lane
                .split(r#"class="lanetitle">"#)
                .skip(1)
                .map(|t| t.split('<').next().unwrap())
                .collect();
            assert!(!titles.is_empty());
            for t in &titles {
                // 13px bold: at most 8px a character.
                assert!(
                    t.chars().count() as u32 * 8 + 16 <= w,
                    "{profile}: {t:?} in {w}px"
                );
            }
            assert!(
                titles.len() as u32 * 16 + 18 <= h,
                "{profile}: {titles:?} in {h}px"
            );
        }
        for caption in page.split(r#"class="why">"#).skip(1) {
            let caption = caption.split('<').next().unwrap();
            // 56 characters of 12px: the room between two lanes.
            assert!(caption.chars().count() <= 56, "{profile}: {caption:?}");
        }
    }
}
