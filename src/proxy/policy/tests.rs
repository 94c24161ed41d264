//! The proxy's policy without sockets: a script of client lines and
//! upstream replies in, the wire effects (and what is recorded) checked.
//! One row at least per behaviour of the bundled profiles and of
//! docs/proxy.md.

use super::*;
use crate::protocol::codec::{DataBody, LineEnding};
use crate::proxy::Profile;
use crate::proxy::fault;
use crate::proxy::replies::{ReplyReader, Upstream};
use bytes::BytesMut;
use rstest::rstest;

/// A policy for session 1 under `profile`: a bundled name, or YAML.
fn policy(profile: &str) -> Policy {
    let profile = match profile.contains([':', '{']) {
        true => Profile::from_yaml(profile),
        false => Profile::bundled(profile),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let faults = fault::decide(profile.rules(), 1);
    let peer = "192.0.2.7:40000".parse().unwrap();
    Policy::new(profile.rules_arc(), faults, peer, 1)
}

/// Feed one step: `S: …` an upstream reply (lines split by `|`), `D: …`
/// the end of a message (its last octets, `.` line included, `|` for
/// CRLF), `L: …` the head of an overlong command line, `LF: …` a command
/// ending in a bare LF, anything else a command line.
fn step(p: &mut Policy, input: &str) -> Vec<Action> {
    if let Some(reply) = input.strip_prefix("S: ") {
        let mut buf = BytesMut::from(format!("{}\r\n", reply.replace('|', "\r\n")).as_bytes());
        let mut reader = ReplyReader::new(MAX_LINE);
        return match reader.next(&mut buf) {
            Some(Upstream::Reply { reply, raw }) => p.reply(reply, raw),
            Some(Upstream::Garbage(raw)) => p.garbage(raw),
            other => panic!("not a reply: {input:?} → {other:?}"),
        };
    }
    if let Some(raw) = input.strip_prefix("D: ") {
        let raw = Bytes::from(raw.replace('|', "\r\n"));
        let body = DataBody {
            size: raw.len().saturating_sub(3),
            ..DataBody::plain(Bytes::new())
        };
        return p.data_end(body, raw);
    }
    if let Some(head) = input.strip_prefix("L: ") {
        return p.line_too_long(MAX_LINE + 10, Bytes::from(head.to_string()));
    }
    if let Some(line) = input.strip_prefix("LF: ") {
        return p.command(Bytes::from(line.to_string()), LineEnding::Lf);
    }
    p.command(Bytes::from(input.to_string()), LineEnding::Crlf)
}

/// Every action of a script, in order.
fn run(p: &mut Policy, script: &[&str]) -> Vec<Action> {
    script.iter().flat_map(|input| step(p, input)).collect()
}

/// Octets as a table shows them: the last CRLF dropped, inner ones `|`,
/// a bare LF `\n`.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_suffix("\r\n").unwrap_or(&text);
    text.replace("\r\n", "|").replace('\n', "\\n")
}

/// What an action list does on the wire and to the framing, as text:
/// `=> …` to the upstream, `<- …` to the client.
fn wire(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(_) => None,
            Action::ToUpstream(b) => Some(format!("=> {}", shown(b))),
            Action::ToClient(b) => Some(format!("<- {}", shown(b))),
            Action::ReadData => Some("read data".into()),
            Action::ReadChunk { size, relay } => Some(format!(
                "chunk {size} {}",
                if *relay { "relayed" } else { "swallowed" }
            )),
            Action::Opaque => Some("opaque".into()),
            Action::Close => Some("close".into()),
        })
        .collect()
}

/// The command lines recorded on `leg`.
fn recorded(actions: &[Action], leg: Leg) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(EventKind::Command { leg: l, line, .. }) if *l == leg => {
                Some(line.text())
            }
            _ => None,
        })
        .collect()
}

/// The rules of the replies recorded on the client leg (`-` for a reply
/// relayed as the upstream sent it).
fn rules(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(EventKind::Reply {
                leg: Leg::Client,
                rule,
                ..
            }) => Some(rule.clone().unwrap_or_else(|| "-".into())),
            _ => None,
        })
        .collect()
}

fn notes(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(EventKind::Note { text }) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

const FAULT_VERB_UP: &str =
    "faults:\n  - reply_then_close: \"421 4.4.2 bye\"\n    on: MAIL\n    direction: upstream\n";
const FAULT_VERB_DOWN: &str = "faults:\n  - reply_then_close: \"421 4.4.2 bye\"\n    on: MAIL\n";
const FAULT_DOT_UP: &str =
    "faults:\n  - reply_then_close: \"421 4.4.2 bye\"\n    on: \".\"\n    direction: upstream\n";
const FAULT_DOT_DOWN: &str = "faults:\n  - reply_then_close: \"421 4.4.2 bye\"\n    on: \".\"\n";
const FAULT_BANNER: &str = "faults:\n  - reply_then_close: \"421 4.3.2 bye\"\n";
const RULES: &str = "replies:\n  - name: hide-queue-id\n    verb: \".\"\n    code: 250\n    text: queued as\n    reply: \"250 2.0.0 OK\"\n  - code: [550, 551]\n    reply: \"250 2.1.5 relaxed\"\n  - verb: BANNER\n    reply: \"220 hidden\"\n";

#[rstest]
// The greeting: passed, masked (PIX/ASA `pix`, PIX 4.4 `all`), replaced,
// or replaced by a fault that then closes.
#[case::banner_passes("transparent", &["S: 220 mx 2020 ESMTP"], &["<- 220 mx 2020 ESMTP"])]
#[case::banner_masked_pix("pix-mailguard", &["S: 220 mx 2020"], &["<- 220 ***2020"])]
#[case::banner_masked_pix_multiline("asa-inspect-esmtp", &["S: 220-mx 1|220 ok"], &["<- 220-****|220 **"])]
#[case::banner_masked_all("banner: {mask: all}", &["S: 220 mx 2020"], &["<- 220 *******"])]
#[case::banner_replaced("banner: {replace: \"220 relay.example ready\"}", &["S: 220 mx"], &["<- 220 relay.example ready"])]
#[case::banner_fault(FAULT_BANNER, &["S: 220 mx"], &["<- 421 4.3.2 bye", "close"])]
// Verbs: PIX answers what it filters itself; the allowed ones pass.
#[case::pix_answers_ehlo("pix-mailguard", &["S: 220 2020", "EHLO c"], &["<- 220 2020", "<- 500 5.5.1 Command unrecognized"])]
#[case::pix_relays_helo("pix-mailguard", &["S: 220 2020", "HELO c", "S: 250 mx"], &["<- 220 2020", "=> HELO c", "<- 250 mx"])]
#[case::pix_answers_starttls("pix-mailguard", &["S: 220 2020", "STARTTLS"], &["<- 220 2020", "<- 500 5.5.1 Command unrecognized"])]
#[case::deny_list("verbs: {deny: [VRFY], reply: \"502 5.7.0 Disabled\"}", &["S: 220 mx", "VRFY kim", "NOOP"], &["<- 220 mx", "<- 502 5.7.0 Disabled", "=> NOOP"])]
// ASA masks the verb with X's of the same length: the server answers.
#[case::asa_masks_starttls("asa-inspect-esmtp", &["S: 220 2020", "STARTTLS", "S: 500 5.5.1 unrecognized"], &["<- 220 2020", "=> XXXXXXXX", "<- 500 5.5.1 unrecognized"])]
#[case::asa_masks_keeping_arguments("asa-inspect-esmtp", &["S: 220 2020", "X-LINK2STATE FIRST CHUNK"], &["<- 220 2020", "=> XXXXXXXXXXXX FIRST CHUNK"])]
#[case::asa_relays_allowed("asa-inspect-esmtp", &["S: 220 2020", "ehlo c"], &["<- 220 2020", "=> ehlo c"])]
// A masked BDAT is no BDAT to the upstream: no chunk is announced.
#[case::asa_masked_bdat_announces_no_chunk("asa-inspect-esmtp", &["S: 220 2020", "BDAT 5 LAST"], &["<- 220 2020", "=> XXXX 5 LAST"])]
// EHLO replies: ASA X-es keywords in place; remove and add; stripping.
#[case::asa_masks_ehlo_keywords("asa-inspect-esmtp", &["S: 220 2020", "EHLO c", "S: 250-mx|250-PIPELINING|250-STARTTLS|250 TURN"], &["<- 220 2020", "=> EHLO c", "<- 250-mx|250-PIPELINING|250-XXXXXXXA|250 XXXB"])]
#[case::ehlo_remove_add("ehlo: {remove: [CHUNKING], add: [XFOO]}", &["S: 220 mx", "EHLO c", "S: 250-mx|250-CHUNKING|250 SIZE 10"], &["<- 220 mx", "=> EHLO c", "<- 250-mx|250-SIZE 10|250 XFOO"])]
#[case::ehlo_unchanged_passes_as_sent("ehlo: {remove: [CHUNKING]}", &["S: 220 mx", "EHLO c", "S: 250-mx|250 SIZE 10"], &["<- 220 mx", "=> EHLO c", "<- 250-mx|250 SIZE 10"])]
#[case::ehlo_failure_untouched("asa-inspect-esmtp", &["S: 220 2020", "EHLO c", "S: 502 no"], &["<- 220 2020", "=> EHLO c", "<- 502 no"])]
#[case::strip_removes_keyword("starttls-strip", &["S: 220 mx", "EHLO c", "S: 250-mx|250-STARTTLS|250 SIZE 10"], &["<- 220 mx", "=> EHLO c", "<- 250-mx|250 SIZE 10"])]
#[case::strip_answers_verb("starttls-strip", &["S: 220 mx", "STARTTLS"], &["<- 220 mx", "<- 500 5.5.1 Command unrecognized"])]
#[case::strip_polite_reply("starttls: {mode: strip, reply: \"454 4.7.0 TLS not available\"}", &["S: 220 mx", "STARTTLS"], &["<- 220 mx", "<- 454 4.7.0 TLS not available"])]
// STARTTLS passed: after the upstream's 220 the bytes are opaque.
#[case::starttls_pass_goes_opaque("transparent", &["S: 220 mx", "STARTTLS", "S: 220 go ahead"], &["<- 220 mx", "=> STARTTLS", "<- 220 go ahead", "opaque"])]
#[case::starttls_refused_stays_plain("transparent", &["S: 220 mx", "STARTTLS", "S: 454 no"], &["<- 220 mx", "=> STARTTLS", "<- 454 no"])]
// Envelope rewriting (exchange-reroute): the domain only.
#[case::reroute_mail_from("exchange-reroute", &["MAIL FROM:<kim@CPANDL.net> BODY=8BITMIME"], &["=> MAIL FROM:<kim@adatum.com> BODY=8BITMIME"])]
#[case::reroute_rcpt_to("exchange-reroute", &["RCPT TO:<a@internal.adatum.com>"], &["=> RCPT TO:<a@adatum.com>"])]
#[case::reroute_other_domain("exchange-reroute", &["RCPT TO:<a@example.org>"], &["=> RCPT TO:<a@example.org>"])]
#[case::reroute_rcpt_off("addresses: {domains: {cpandl.net: adatum.com}, rcpt_to: false}", &["RCPT TO:<a@cpandl.net>", "MAIL FROM:<b@cpandl.net>"], &["=> RCPT TO:<a@cpandl.net>", "=> MAIL FROM:<b@adatum.com>"])]
// Reply rules: by code, by verb and text, for the banner; first match wins.
#[case::rule_by_code(RULES, &["S: 220 mx", "RCPT TO:<a@b>", "S: 550 no such user"], &["<- 220 hidden", "=> RCPT TO:<a@b>", "<- 250 2.1.5 relaxed"])]
#[case::rule_by_verb_and_text(RULES, &["S: 220 mx", "DATA", "S: 354 go", "D: hi|.|", "S: 250 2.0.0 queued as 1A2B"], &["<- 220 hidden", "=> DATA", "<- 354 go", "read data", "=> hi|.", "<- 250 2.0.0 OK"])]
#[case::rule_text_must_match(RULES, &["S: 220 mx", "DATA", "S: 354 go", "D: hi|.|", "S: 250 2.0.0 ok"], &["<- 220 hidden", "=> DATA", "<- 354 go", "read data", "=> hi|.", "<- 250 2.0.0 ok"])]
// Faults that reply and close, by direction.
#[case::fault_verb_upstream_not_relayed(FAULT_VERB_UP, &["S: 220 mx", "MAIL FROM:<a@b>"], &["<- 220 mx", "<- 421 4.4.2 bye", "close"])]
#[case::fault_verb_downstream_replaces_reply(FAULT_VERB_DOWN, &["S: 220 mx", "MAIL FROM:<a@b>", "S: 250 ok"], &["<- 220 mx", "=> MAIL FROM:<a@b>", "<- 421 4.4.2 bye", "close"])]
#[case::fault_other_verb_untouched(FAULT_VERB_UP, &["S: 220 mx", "HELO c", "S: 250 ok"], &["<- 220 mx", "=> HELO c", "<- 250 ok"])]
#[case::fault_dot_upstream_withholds_end(FAULT_DOT_UP, &["S: 220 mx", "DATA", "S: 354 go", "D: hi|.|"], &["<- 220 mx", "=> DATA", "<- 354 go", "read data", "=> hi", "<- 421 4.4.2 bye", "close"])]
#[case::fault_dot_downstream_replaces_reply(FAULT_DOT_DOWN, &["S: 220 mx", "DATA", "S: 354 go", "D: hi|.|", "S: 250 queued"], &["<- 220 mx", "=> DATA", "<- 354 go", "read data", "=> hi|.", "<- 421 4.4.2 bye", "close"])]
// DATA and BDAT: what the framer reads next.
#[case::data_354_reads_content("transparent", &["S: 220 mx", "DATA", "S: 354 go"], &["<- 220 mx", "=> DATA", "<- 354 go", "read data"])]
#[case::data_refused_stays_commands("transparent", &["S: 220 mx", "DATA", "S: 503 no"], &["<- 220 mx", "=> DATA", "<- 503 no"])]
#[case::data_end_relayed("transparent", &["S: 220 mx", "DATA", "S: 354 go", "D: a|..b|.|", "S: 250 ok"], &["<- 220 mx", "=> DATA", "<- 354 go", "read data", "=> a|..b|.", "<- 250 ok"])]
#[case::bdat_chunk_relayed("transparent", &["BDAT 10 LAST"], &["=> BDAT 10 LAST", "chunk 10 relayed"])]
#[case::bdat_empty_chunk("transparent", &["BDAT 0 LAST"], &["=> BDAT 0 LAST"])]
#[case::bdat_malformed_no_chunk("transparent", &["BDAT ten"], &["=> BDAT ten"])]
#[case::pix_refused_bdat_chunk_swallowed("pix-mailguard", &["S: 220 2020", "BDAT 5 LAST"], &["<- 220 2020", "chunk 5 swallowed", "<- 500 5.5.1 Command unrecognized"])]
// Pipelining: our own answers wait behind the replies the upstream owes.
#[case::own_answer_waits_its_turn("pix-mailguard", &["HELO c", "EHLO c", "NOOP", "S: 220 2020", "S: 250 mx", "S: 250 ok"], &["=> HELO c", "=> NOOP", "<- 220 2020", "<- 250 mx", "<- 500 5.5.1 Command unrecognized", "<- 250 ok"])]
#[case::unsolicited_reply_relayed("transparent", &["S: 220 mx", "S: 421 bye"], &["<- 220 mx", "<- 421 bye"])]
#[case::garbage_relayed("transparent", &["S: 220 mx", "S: hello there"], &["<- 220 mx", "<- hello there"])]
// Lines: the client's ending is kept; an overlong command is answered here.
#[case::bare_lf_kept("transparent", &["LF: NOOP"], &["=> NOOP\\n"])]
#[case::overlong_command_answered("transparent", &["S: 220 mx", "L: MAIL FROM:<aaaa"], &["<- 220 mx", "<- 500 5.5.2 Line too long"])]
fn profile_behaviour(#[case] profile: &str, #[case] script: &[&str], #[case] want: &[&str]) {
    let mut p = policy(profile);
    let got = wire(&run(&mut p, script));
    assert_eq!(got, want, "{profile}: {script:?}");
}

#[rstest]
#[case::relayed("transparent", &["S: 220 mx", "NOOP", "S: 250 ok"], &["-", "-"])]
#[case::banner_mask("pix-mailguard", &["S: 220 mx"], &["banner-mask"])]
#[case::banner_replace("banner: {replace: \"220 x\"}", &["S: 220 mx"], &["banner-replace"])]
#[case::verb_filter("pix-mailguard", &["S: 220 2020", "EHLO c"], &["banner-mask", "verb-filter"])]
#[case::ehlo_rewrite("starttls-strip", &["S: 220 mx", "EHLO c", "S: 250-mx|250 STARTTLS"], &["-", "ehlo-rewrite"])]
#[case::starttls_strip("starttls-strip", &["S: 220 mx", "STARTTLS"], &["-", "starttls-strip"])]
#[case::named_reply_rule(RULES, &["S: 220 mx", "DATA", "S: 354 go", "D: .|", "S: 250 queued as 1"], &["reply-rule-3", "-", "hide-queue-id"])]
#[case::default_rule_name(RULES, &["S: 220 mx", "RCPT TO:<a@b>", "S: 551 no"], &["reply-rule-3", "reply-rule-2"])]
#[case::fault(FAULT_VERB_UP, &["S: 220 mx", "MAIL FROM:<a@b>"], &["-", "fault reply_then_close"])]
#[case::line_limit("transparent", &["S: 220 mx", "L: x"], &["-", "line-limit"])]
fn the_transcript_names_the_rule(
    #[case] profile: &str,
    #[case] script: &[&str],
    #[case] want: &[&str],
) {
    let mut p = policy(profile);
    assert_eq!(rules(&run(&mut p, script)), want, "{profile}: {script:?}");
}

#[test]
fn a_rewritten_reply_keeps_the_original_lines() {
    let mut p = policy("pix-mailguard");
    let actions = step(&mut p, "S: 220 mx 2020");
    let original = actions.iter().find_map(|a| match a {
        Action::Record(EventKind::Reply {
            leg: Leg::Client,
            original,
            ..
        }) => Some(original.clone()),
        _ => None,
    });
    assert_eq!(original, Some(Some(vec!["220 mx 2020".to_string()])));
}

#[test]
fn a_rewritten_command_is_recorded_on_both_legs_as_it_went() {
    let mut p = policy("exchange-reroute");
    let actions = step(&mut p, "MAIL FROM:<kim@cpandl.net>");
    assert_eq!(
        recorded(&actions, Leg::Client),
        ["MAIL FROM:<kim@cpandl.net>"]
    );
    assert_eq!(
        recorded(&actions, Leg::Upstream),
        ["MAIL FROM:<kim@adatum.com>"]
    );
    assert_eq!(notes(&actions), ["address-rewrite: MAIL address rewritten"]);
    let mut asa = policy("asa-inspect-esmtp");
    let actions = step(&mut asa, "STARTTLS");
    assert_eq!(recorded(&actions, Leg::Upstream), ["XXXXXXXX"]);
    assert_eq!(
        notes(&actions),
        ["verb-filter: STARTTLS masked before relaying"]
    );
    let mut pix = policy("pix-mailguard");
    let actions = step(&mut pix, "EHLO c");
    assert_eq!(recorded(&actions, Leg::Client), ["EHLO c"]);
    assert!(recorded(&actions, Leg::Upstream).is_empty(), "not relayed");
}

/// AUTH: the line keeps its mechanism, SASL responses are `<redacted>` on
/// both legs and relayed untouched; the wire gets the real octets.
#[rstest]
#[case::initial_response(&["AUTH PLAIN AHRlc3QAc2VjcmV0"], &["=> AUTH PLAIN AHRlc3QAc2VjcmV0"], &["AUTH PLAIN <redacted>"])]
#[case::login_exchange(&["AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "dXNlcg==", "S: 334 UGFzc3dvcmQ6", "c2VjcmV0"], &["=> AUTH LOGIN", "<- 334 VXNlcm5hbWU6", "=> dXNlcg==", "<- 334 UGFzc3dvcmQ6", "=> c2VjcmV0"], &["AUTH LOGIN", "<redacted>", "<redacted>"])]
#[case::response_not_filtered(&["AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "EHLO"], &["=> AUTH LOGIN", "<- 334 VXNlcm5hbWU6", "=> EHLO"], &["AUTH LOGIN", "<redacted>"])]
#[case::pipelined_login_responses(&["AUTH LOGIN", "dXNlcg==", "c2VjcmV0", "MAIL FROM:<a@b>"], &["=> AUTH LOGIN", "=> dXNlcg==", "=> c2VjcmV0", "=> MAIL FROM:<a@b>"], &["AUTH LOGIN", "<redacted>", "<redacted>", "MAIL FROM:<a@b>"])]
#[case::command_after_initial_response(&["AUTH PLAIN AHRlc3QAc2VjcmV0", "MAIL FROM:<a@b>"], &["=> AUTH PLAIN AHRlc3QAc2VjcmV0", "=> MAIL FROM:<a@b>"], &["AUTH PLAIN <redacted>", "MAIL FROM:<a@b>"])]
#[case::failed_exchange_back_to_commands(&["AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "dXNlcg==", "S: 535 no", "NOOP"], &["=> AUTH LOGIN", "<- 334 VXNlcm5hbWU6", "=> dXNlcg==", "<- 535 no", "=> NOOP"], &["AUTH LOGIN", "<redacted>", "NOOP"])]
#[case::overlong_response_cancels(&["AUTH LOGIN", "S: 334 VXNlcm5hbWU6", "L: c2VjcmV0c2VjcmV0", "S: 501 cancelled"], &["=> AUTH LOGIN", "<- 334 VXNlcm5hbWU6", "=> *", "<- 501 cancelled"], &["AUTH LOGIN", "<redacted>"])]
fn sasl_is_tracked_and_redacted(
    #[case] script: &[&str],
    #[case] want_wire: &[&str],
    #[case] want_client_leg: &[&str],
) {
    // A filter that does not touch AUTH; the banner first, or the first
    // reply would be the banner's.
    let mut p = policy("verbs: {deny: [EHLO]}");
    run(&mut p, &["S: 220 mx"]);
    let actions = run(&mut p, script);
    assert_eq!(wire(&actions), want_wire, "{script:?}");
    assert_eq!(recorded(&actions, Leg::Client), want_client_leg);
    let mut both = recorded(&actions, Leg::Upstream);
    both.extend(recorded(&actions, Leg::Client));
    for secret in ["AHRlc3QAc2VjcmV0", "dXNlcg==", "c2VjcmV0"] {
        assert!(!both.iter().any(|l| l.contains(secret)), "{both:?}");
    }
}

#[test]
fn an_overlong_sasl_response_is_replaced_by_a_cancel_upstream() {
    let mut p = policy("transparent");
    run(&mut p, &["S: 220 mx", "AUTH LOGIN", "S: 334 VXNlcm5hbWU6"]);
    assert!(p.sasl_due());
    assert_eq!(&p.shown_head(b"c2VjcmV0")[..], b"<redacted>");
    let actions = step(&mut p, "L: c2VjcmV0");
    assert_eq!(recorded(&actions, Leg::Upstream), ["*"]);
    assert!(notes(&actions)[0].contains("the exchange is cancelled"));
    // The upstream's answer to the `*` ends the exchange.
    step(&mut p, "S: 501 5.7.0 cancelled");
    assert!(!p.sasl_due());
}

#[test]
fn upstream_oddities_are_noted() {
    let mut p = policy("transparent");
    assert_eq!(
        notes(&run(&mut p, &["S: 220 mx", "S: 421 bye"])),
        ["unsolicited reply from upstream, relayed"]
    );
    assert!(
        notes(&step(&mut p, "S: hello"))[0].starts_with("upstream sent a line that is not a reply")
    );
    let too_long = p.reply_too_long(MAX_LINE + 5, 64);
    assert!(wire(&too_long).is_empty());
    assert!(notes(&too_long)[0].contains("relayed cut to its first 64 octets"));
    let overlong = step(&mut p, "L: MAIL FROM:<a");
    assert_eq!(recorded(&overlong, Leg::Client), ["MAIL FROM:<a"]);
    assert!(notes(&overlong)[0].ends_with("not relayed"));
}

#[test]
fn fault_notes_say_what_was_held_back() {
    let mut p = policy(FAULT_VERB_UP);
    let actions = run(&mut p, &["S: 220 mx", "MAIL FROM:<a@b>"]);
    assert_eq!(
        notes(&actions),
        ["fault reply_then_close: MAIL not relayed"]
    );
    let mut p = policy(FAULT_DOT_UP);
    let actions = run(&mut p, &["S: 220 mx", "DATA", "S: 354 go", "D: x|.|"]);
    assert_eq!(
        notes(&actions),
        ["fault reply_then_close: end of data not relayed"]
    );
    let mut p = policy(FAULT_DOT_DOWN);
    let actions = run(
        &mut p,
        &["S: 220 mx", "DATA", "S: 354 go", "D: x|.|", "S: 250 ok"],
    );
    assert_eq!(
        notes(&actions),
        ["fault reply_then_close: closing after the reply"]
    );
}

/// A reply-then-close fault fires once per connection.
#[test]
fn a_fault_fires_once() {
    let mut p = policy(FAULT_VERB_DOWN);
    let first = run(&mut p, &["S: 220 mx", "MAIL FROM:<a@b>", "S: 250 ok"]);
    assert!(wire(&first).contains(&"close".to_string()));
    let again = run(&mut p, &["MAIL FROM:<a@b>", "S: 250 ok"]);
    assert_eq!(wire(&again), ["=> MAIL FROM:<a@b>", "<- 250 ok"]);
}

#[test]
fn placeholders_in_the_profiles_replies() {
    let mut p =
        policy("banner: {replace: \"220 {client_ip}:{client_port} #{session} {hostname}\"}");
    assert_eq!(
        wire(&step(&mut p, "S: 220 mx")),
        ["<- 220 192.0.2.7:40000 #1 localhost"]
    );
}

/// What the upstream owes bounds its clock: the banner first, then each
/// reply; nothing while only our own answers are pending.
#[test]
fn the_upstream_owes_what_the_queue_says() {
    let mut p = policy("timeouts: {banner: 7s, reply: 3s}");
    assert_eq!(p.owed(), Some(Duration::from_secs(7)));
    assert_eq!(p.overdue(), ("no banner within 7s".to_string(), "banner"));
    step(&mut p, "S: 220 mx");
    assert_eq!(p.owed(), None);
    assert!(p.between_commands());
    step(&mut p, "MAIL FROM:<a@b>");
    assert_eq!(p.owed(), Some(Duration::from_secs(3)));
    assert_eq!(
        p.overdue(),
        ("no reply to MAIL within 3s".to_string(), "reply")
    );
    assert!(!p.between_commands());
    run(&mut p, &["S: 250 ok", "DATA", "S: 354 go", "D: x|.|"]);
    assert_eq!(p.overdue().0, "no reply to the end of data within 3s");
    step(&mut p, "S: 250 ok");
    step(&mut p, "AUTH LOGIN");
    step(&mut p, "S: 334 VXNlcm5hbWU6");
    assert!(!p.between_commands(), "a SASL response is due");
}

#[test]
fn a_quoted_verb_is_short_and_printable() {
    assert_eq!(shown_verb("MAIL"), "MAIL");
    assert_eq!(shown_verb(&"X".repeat(16_000)), "X".repeat(32));
    assert_eq!(shown_verb("A\u{7}B\u{e9}"), "A?B?");
    assert_eq!(shown_verb(""), "an empty command");
}
