//! Expectations: reports for met and unmet cases (exact text), verification
//! on drop without a second panic, scoped guards, a scenario's `expect:`,
//! the proxy's upstream leg, and rules that answer and count (mounted,
//! scoped, in a builder, in YAML).

use smtp_harness::{Expect, Leg, MockProxy, MockServer, Profile, Rule, Scenario};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// One SMTP session: read the banner, send each command and read its reply.
fn talk(addr: SocketAddr, commands: &[&str]) -> Vec<String> {
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(sock.try_clone().expect("clone"));
    let mut writer = sock;
    let mut replies = Vec::new();
    let read_reply = |reader: &mut BufReader<TcpStream>| {
        let mut last = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return last;
            }
            last = line.trim_end().to_string();
            if last.as_bytes().get(3) != Some(&b'-') {
                return last;
            }
        }
    };
    replies.push(read_reply(&mut reader));
    for c in commands {
        writer
            .write_all(format!("{c}\r\n").as_bytes())
            .expect("write");
        replies.push(read_reply(&mut reader));
    }
    replies
}

const SESSION: &[&str] = &[
    "EHLO a.example",
    "EHLO b.example",
    "MAIL FROM:<a@b.example>",
    "RCPT TO:<z@y.example>",
    "QUIT",
];

fn mount_four(server: &MockServer) {
    Expect::verb("EHLO")
        .expect(1)
        .named("EHLO exactly once")
        .mount(server);
    Expect::verb("RCPT")
        .args("(?i)<x@y")
        .expect(1..)
        .named("RCPT to x@y at least once")
        .mount(server);
    Expect::verb("STARTTLS")
        .expect(0)
        .named("no STARTTLS")
        .mount(server);
    Expect::command_matching("^QUIT$")
        .in_session(1)
        .mount(server);
}

#[test]
fn report_for_unmet_expectations_lists_them_beside_the_transcript() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    mount_four(&server);
    talk(server.addr(), SESSION);
    server.wait_for_sessions_blocking(1).expect("session");
    let report = server.expectation_report();
    assert!(!report.is_met(), "two are unmet");
    assert_eq!(
        report.to_string(),
        r#"2 of 4 expectation(s) unmet
  UNMET "EHLO exactly once": expected exactly 1 (commands with verb EHLO), got 2 (mounted at tests/expectations.rs:55:10):
        #1  -> EHLO a.example
        #1  -> EHLO b.example
  UNMET "RCPT to x@y at least once": expected at least 1 (commands with verb RCPT, args /(?i)<x@y/), got 0 (mounted at tests/expectations.rs:60:10); the commands sent were:
        #1  -> EHLO a.example
        #1  -> EHLO b.example
        #1  -> MAIL FROM:<a@b.example>
        #1  -> RCPT TO:<z@y.example>
        #1  -> QUIT
  met   "no STARTTLS": expected never (commands with verb STARTTLS), got 0
  met   "expectation #4": expected at least 1 (commands with line /^QUIT$/ in session 1), got 1"#
    );
    assert_eq!(report.unmet().count(), 2);
    server.reset(); // so that dropping it does not fail this test
}

#[test]
fn report_for_met_expectations() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    Expect::verb("EHLO")
        .expect(2)
        .named("EHLO twice")
        .mount(&server);
    Expect::verb("rcpt")
        .args("(?i)<z@y")
        .expect(..=3)
        .mount(&server);
    Expect::verb("QUIT")
        .expect(1..=4)
        .in_session(1)
        .mount(&server);
    talk(server.addr(), SESSION);
    server.wait_for_sessions_blocking(1).expect("session");
    server.verify();
    assert_eq!(
        server.expectation_report().to_string(),
        r#"all 3 expectation(s) met
  met   "EHLO twice": expected exactly 2 (commands with verb EHLO), got 2
  met   "expectation #2": expected at most 3 (commands with verb RCPT, args /(?i)<z@y/), got 1
  met   "expectation #3": expected between 1 and 4 (commands with verb QUIT in session 1), got 1"#
    );
}

#[test]
#[should_panic(expected = "MockServer expectations: 1 of 1 expectation(s) unmet")]
fn dropping_the_server_panics_with_the_report() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    Expect::verb("EHLO")
        .named("EHLO at least once")
        .mount(&server);
    drop(server);
}

#[test]
fn no_second_panic_while_the_test_is_already_panicking() {
    // A double panic would abort the whole test binary; getting here with
    // the first message intact is the assertion.
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let server = MockServer::start_blocking(Scenario::default()).expect("start");
        Expect::verb("EHLO").expect(5).mount(&server);
        panic!("the test's own assertion failed");
    }));
    let payload = caught.expect_err("it panicked");
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert_eq!(message, "the test's own assertion failed");
}

/// A helper that asserts its own part of the conversation.
fn send_and_expect_one_mail(server: &MockServer) {
    let _guard = Expect::verb("MAIL")
        .expect(1)
        .named("helper sends one MAIL")
        .mount_as_scoped(server);
    talk(server.addr(), &["HELO h", "MAIL FROM:<a@b>", "QUIT"]);
    server
        .wait_for_sessions_blocking(1)
        .expect("session ended before the guard checks");
}

#[test]
fn scoped_expectations_verify_when_their_guard_drops() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    send_and_expect_one_mail(&server);
    // The guard is gone: a second MAIL now does not count against it.
    talk(server.addr(), &["HELO h", "MAIL FROM:<a@b>", "QUIT"]);
    server.wait_for_sessions_blocking(2).expect("sessions");
    server.verify(); // nothing left mounted

    let failed = catch_unwind(AssertUnwindSafe(|| {
        let guard = Expect::verb("DATA")
            .named("helper sends DATA")
            .mount_as_scoped(&server);
        assert!(!guard.report().is_met());
        drop(guard);
    }));
    let payload = failed.expect_err("an unmet scoped expectation panics");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.starts_with(
            "scoped expectation: 1 of 1 expectation(s) unmet\n  UNMET \"helper sends DATA\""
        ),
        "{message}"
    );
}

#[test]
fn a_scenario_carries_its_own_expectations() {
    let scenario = Scenario::from_yaml(
        r#"
expect:
  - name: EHLO exactly once per session
    verb: EHLO
    times: 3
  - name: the 3rd session sends QUIT
    command: '(?i)^QUIT$'
    session: 3
  - name: nobody tries x@y
    verb: RCPT
    args: '<x@y>'
    times: 0
"#,
    )
    .expect("valid");
    let server = MockServer::start_blocking(scenario).expect("start");
    assert_eq!(server.expectation_report().results.len(), 3);
    for _ in 0..3 {
        talk(server.addr(), &["EHLO c", "QUIT"]);
    }
    server.wait_for_sessions_blocking(3).expect("sessions");
    let report = server.expectation_report();
    assert!(report.is_met(), "{report}");
    talk(
        server.addr(),
        &["EHLO c", "MAIL FROM:<>", "RCPT TO:<x@y>", "QUIT"],
    );
    server.wait_for_sessions_blocking(4).expect("sessions");
    let report = server.expectation_report();
    assert!(!report.is_met(), "now two are unmet");
    let text = report.to_string();
    assert!(
        text.contains(r#"UNMET "EHLO exactly once per session": expected exactly 3"#),
        "{text}"
    );
    assert!(text.contains("        #4  -> RCPT TO:<x@y>"), "{text}");
    server.reset();
}

#[test]
fn scenario_expectations_report_problems_with_locations() {
    let err = Scenario::from_yaml("expect:\n  - verb: RCPT\n    args: '(unclosed'\n  - times: 2\n")
        .expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.contains("<inline>:3:11: bad regex in `expect.args`"),
        "{text}"
    );
    assert!(
        text.contains("<inline>:4:5: an expectation needs `verb:` or `command:`"),
        "{text}"
    );
    let err = Scenario::from_yaml("expect: [{verb: EHLO, times: '3..1'}]").expect_err("invalid");
    assert!(err.to_string().contains("is empty"), "{err}");
}

#[test]
fn proxy_expectations_count_the_upstream_leg() {
    let server = MockServer::start_blocking(Scenario::default()).expect("server");
    let proxy = MockProxy::start_blocking(
        server.addr(),
        Profile::bundled("starttls-strip").expect("profile"),
    )
    .expect("proxy");
    Expect::verb("STARTTLS")
        .on_leg(Leg::Upstream)
        .expect(0)
        .named("no STARTTLS reaches the server after it was stripped")
        .mount(&proxy);
    Expect::verb("STARTTLS")
        .expect(1)
        .named("the client tried")
        .mount(&proxy);
    talk(proxy.addr(), &["EHLO c", "STARTTLS", "QUIT"]);
    proxy.wait_for_sessions_blocking(1).expect("session");
    let report = proxy.expectation_report();
    assert!(report.is_met(), "{report}");
}

fn talk_and_read(addr: SocketAddr, commands: &[&str]) -> String {
    talk(addr, commands).join("\n")
}

#[test]
fn a_mounted_rule_answers_new_sessions_and_counts_its_replies() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    Rule::verb("MAIL")
        .named("greylist")
        .in_session(1)
        .reply("451 4.7.1 Greylisted")
        .expect(1)
        .mount(&server);
    let first = talk_and_read(server.addr(), &["EHLO c", "MAIL FROM:<a@b>", "QUIT"]);
    let second = talk_and_read(server.addr(), &["EHLO c", "MAIL FROM:<a@b>", "QUIT"]);
    assert!(first.contains("451 4.7.1 Greylisted"), "{first}");
    assert!(!second.contains("451"), "{second}");
    let t = server.wait_for_sessions_blocking(2).expect("sessions");
    assert_eq!(t.sessions[0].replies_by_rule("greylist"), 1);
    let report = server.expectation_report();
    assert!(report.is_met(), "{report}");
    assert!(
        report.to_string().contains(
            r#"met   "greylist": expected exactly 1 (replies of rule "greylist"), got 1"#
        ),
        "{report}"
    );
}

/// A helper that mounts a rule: every rule it mounts comes from the same
/// line, yet each is counted (and removed) as itself.
fn refuse_rcpt_in(server: &MockServer, session: u64) -> smtp_harness::RuleGuard<'_> {
    Rule::verb("RCPT")
        .in_session(session)
        .reply("450 4.2.0 later")
        .expect(1)
        .mount_as_scoped(server)
}

#[test]
fn rules_mounted_from_one_line_are_counted_each_as_itself() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    let first = refuse_rcpt_in(&server, 1);
    let second = refuse_rcpt_in(&server, 2);
    for _ in 0..2 {
        let replies = talk_and_read(
            server.addr(),
            &["EHLO c", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "QUIT"],
        );
        assert!(replies.contains("450 4.2.0 later"), "{replies}");
    }
    server.wait_for_sessions_blocking(2).expect("sessions");
    // Each guard checks its own rule: one reply each, not two.
    drop(second);
    drop(first);
    let report = server.expectation_report();
    assert!(report.is_met(), "{report}");
}

/// A rule mounted from the test belongs to the test: swapping the scenario
/// keeps it (ahead of the new scenario's rules) until its guard drops.
#[test]
fn a_mounted_rule_outlives_a_scenario_swap_but_not_its_guard() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    Rule::verb("MAIL").reply("451 4.7.1 mounted").mount(&server);
    let guard = Rule::verb("RCPT")
        .reply("452 4.5.3 scoped")
        .mount_as_scoped(&server);
    let next = Scenario::from_yaml(
        "banner: {reply: '220 swapped ESMTP'}\nrules: [{verb: MAIL, reply: '250 2.1.0 the scenario'}]\n",
    )
    .expect("scenario");
    server.set_scenario(next.clone()).expect("swap");
    let after = talk_and_read(
        server.addr(),
        &["EHLO c", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "QUIT"],
    );
    assert!(after.starts_with("220 swapped ESMTP"), "{after}");
    assert!(after.contains("451 4.7.1 mounted"), "{after}");
    assert!(after.contains("452 4.5.3 scoped"), "{after}");
    drop(guard);
    server.set_scenario(next).expect("swap");
    let later = talk_and_read(server.addr(), &["EHLO c", "RCPT TO:<c@d>", "QUIT"]);
    assert!(
        !later.contains("scoped"),
        "the guard took its rule along: {later}"
    );
    server.wait_for_sessions_blocking(2).expect("sessions");
}

#[test]
fn an_unmet_rule_names_the_test_line_that_mounted_it() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    Rule::verb("DATA").reply("554 no").expect(1).mount(&server);
    talk(server.addr(), &["EHLO c", "QUIT"]);
    server.wait_for_sessions_blocking(1).expect("session");
    let text = server.expectation_report().to_string();
    let line = line!() - 4;
    assert!(
        text.contains(&format!(
            r#"UNMET "rule at tests/expectations.rs:{line}:40": expected exactly 1 (replies of rule "rule at tests/expectations.rs:{line}:40"), got 0 (mounted at tests/expectations.rs:{line}:50)"#
        )),
        "{text}"
    );
    server.reset();
}

#[test]
fn a_scoped_rule_leaves_with_its_guard() {
    let server = MockServer::start_blocking(Scenario::default()).expect("start");
    {
        let _guard = Rule::verb("MAIL")
            .reply("452 4.3.1 full")
            .expect(1)
            .mount_as_scoped(&server);
        let replies = talk_and_read(server.addr(), &["EHLO c", "MAIL FROM:<a@b>", "QUIT"]);
        assert!(replies.contains("452 4.3.1 full"), "{replies}");
        server.wait_for_sessions_blocking(1).expect("session");
    }
    let replies = talk_and_read(server.addr(), &["EHLO c", "MAIL FROM:<a@b>", "QUIT"]);
    assert!(!replies.contains("452"), "the rule is gone: {replies}");
    assert!(server.expectation_report().results.is_empty());

    let failed = catch_unwind(AssertUnwindSafe(|| {
        let _guard = Rule::verb("RSET")
            .reply("250 ok")
            .expect(1)
            .mount_as_scoped(&server);
    }));
    assert!(
        failed.is_err(),
        "an unmet scoped rule panics when its guard drops"
    );
}

#[test]
fn a_bad_regex_panics_at_the_test_line_in_rule_and_expect_alike() {
    for (what, caught) in [
        (
            "a rule",
            catch_unwind(|| drop(Rule::verb("RCPT").args("(unclosed"))),
        ),
        (
            "an expectation",
            catch_unwind(|| drop(Expect::verb("RCPT").args("(unclosed"))),
        ),
    ] {
        let message = caught
            .expect_err("it panics")
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            message.starts_with(&format!("bad regex \"(unclosed\" in {what}")),
            "{message}"
        );
    }
}

#[test]
fn a_builder_rule_with_expect_adds_to_the_scenarios_expect_list() {
    let scenario = Scenario::builder()
        .rule(Rule::verb("NOOP").named("noop").reply("250 fine").expect(2))
        .build()
        .expect("valid");
    let server = MockServer::start_blocking(scenario).expect("start");
    assert_eq!(server.expectation_report().results.len(), 1);
    talk(server.addr(), &["EHLO c", "NOOP", "NOOP", "QUIT"]);
    server.wait_for_sessions_blocking(1).expect("session");
    server.verify();
}

#[test]
fn yaml_expectations_count_a_rules_replies() {
    let scenario = Scenario::from_yaml(
        "rules:\n  - name: no-vrfy\n    verb: VRFY\n    reply: '252 maybe'\nexpect:\n  - rule: no-vrfy\n    times: 1\n",
    )
    .expect("valid");
    let server = MockServer::start_blocking(scenario).expect("start");
    talk(server.addr(), &["EHLO c", "VRFY x", "QUIT"]);
    server.wait_for_sessions_blocking(1).expect("session");
    server.verify();
    let err = Scenario::from_yaml("expect: [{rule: x, verb: EHLO}]").expect_err("invalid");
    assert!(
        err.to_string().contains("`rule:` counts a rule's replies"),
        "{err}"
    );
}

#[test]
fn a_misspelled_bundled_name_suggests_the_closest() {
    let err = Scenario::bundled("pix-mailgaurd").expect_err("unknown");
    assert!(
        format!("{err:?}").contains(r#"did you mean "pix-mailguard"?"#),
        "{err:?}"
    );
    let err = Profile::bundled("starttls-strp").expect_err("unknown");
    assert!(
        err.to_string()
            .contains(r#"did you mean "starttls-strip"?"#),
        "{err}"
    );
}
