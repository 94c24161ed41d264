//! Malformed scenario and profile YAML: each problem names its key, what
//! was expected and what was found, at file:line:column, in our words and
//! never the YAML library's; and every problem of a file that can still be
//! read is reported at once.

use rstest::rstest;
use smtp_harness::{Profile, Scenario};

/// What the library says, which a scenario author should never have to read.
const JARGON: &[&str] = &[
    "invalid u",
    "invalid i",
    "invalid floating point",
    "sequence start",
    "mapping start",
    "DuplicateKeyPolicy",
    "Options",
    "strict mode",
];

fn scenario_problems(yaml: &str) -> Vec<String> {
    let err = Scenario::from_yaml(yaml).expect_err("a broken scenario");
    err.problems.iter().map(ToString::to_string).collect()
}

fn profile_problems(yaml: &str) -> Vec<String> {
    let err = Profile::from_yaml(yaml).expect_err("a broken profile");
    err.problems.iter().map(ToString::to_string).collect()
}

fn no_jargon(problems: &[String]) {
    for p in problems {
        for word in JARGON {
            assert!(!p.contains(word), "{word:?} in {p:?}");
        }
    }
}

#[rstest]
#[case(
    "rules:\n  - verb: MAIL\n    times: -1\n    reply: '451 later'\n",
    "<inline>:3:12: `times`: expected a whole number ≥ 0, found -1"
)]
#[case(
    "rules:\n  - verb: MAIL\n    nth: 1.5\n    reply: '451 later'\n",
    "<inline>:3:10: `nth`: expected a whole number ≥ 0, found 1.5"
)]
#[case(
    "limits: {recipients: 99999999999999999999999}\n",
    "<inline>:1:22: `recipients`: expected a whole number from 0 to 18446744073709551615, found 99999999999999999999999"
)]
#[case(
    "limits:\n  message_size: ten\n",
    "<inline>:2:17: `message_size`: expected a whole number ≥ 0, found ten"
)]
#[case(
    "rules:\n  verb: MAIL\n  reply: '250 ok'\n",
    "<inline>:2:3: `rules`: expected a list (`- item` lines, or `[a, b]`), found a mapping"
)]
#[case(
    "rules: 5\n",
    "<inline>:1:8: `rules`: expected a list (`- item` lines, or `[a, b]`), found 5"
)]
#[case(
    "ehlo:\n  keywords: PIPELINING\n",
    "<inline>:2:13: `keywords`: expected a list (`- item` lines, or `[a, b]`), found PIPELINING"
)]
#[case(
    "banner: {reply: '220 a'}\nbanner: {reply: '220 b'}\n",
    "<inline>:2:1: `banner` is given twice in the same mapping; give each key once"
)]
#[case(
    "tls: {starttls: maybe}\n",
    "<inline>:1:17: `starttls`: expected true or false, found maybe"
)]
#[case(
    "faults:\n  - latency: 1s\n    probability: high\n",
    "<inline>:3:18: `probability`: expected a number such as 0.5, found high"
)]
#[case(
    "banner:\n  replly: '220 hi'\n",
    "<inline>:2:3: unknown field `replly`, expected one of"
)]
fn scenario_problems_name_key_expectation_and_value(#[case] yaml: &str, #[case] said: &str) {
    let problems = scenario_problems(yaml);
    assert!(
        problems.iter().any(|p| p.starts_with(said)),
        "expected {said:?} in {problems:#?}"
    );
    no_jargon(&problems);
}

#[rstest]
#[case(
    "seed: -1\n",
    "<inline>:1:7: `seed`: expected a whole number ≥ 0, found -1"
)]
#[case(
    "name: a\nname: b\n",
    "<inline>:2:1: `name` is given twice in the same mapping; give each key once"
)]
#[case(
    "faults:\n  - slice: -5\n",
    "<inline>:2:12: `slice`: expected a whole number ≥ 0, found -5"
)]
fn profile_problems_are_said_the_same_way(#[case] yaml: &str, #[case] said: &str) {
    let problems = profile_problems(yaml);
    assert!(
        problems.iter().any(|p| p.starts_with(said)),
        "expected {said:?} in {problems:#?}"
    );
    no_jargon(&problems);
}

/// One file, five mistakes in four places: all of them, in file order,
/// each at its line and column.
#[test]
fn every_problem_of_a_readable_file_is_reported_at_once() {
    let yaml = "\
name: many
name: twice
rules:
  - verb: MAIL
    times: -1
    reply: '451 later'
  - verb: RCPT
    nth: 0.5
    reply: '550 no'
limits: {recipients: lots}
tls:
  starttls: maybe
banner:
  replly: '220 hi'
";
    let problems = scenario_problems(yaml);
    let at: Vec<&str> = problems
        .iter()
        .map(|p| p.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        at,
        [
            "<inline>:2:1",
            "<inline>:5:12",
            "<inline>:8:10",
            "<inline>:10:22",
            "<inline>:12:13",
            "<inline>:14:3"
        ],
        "{problems:#?}"
    );
    no_jargon(&problems);
}

/// Profiles share the loader: several problems at once there too.
#[test]
fn every_problem_of_a_profile_is_reported_at_once() {
    let yaml = "seed: -1\nfaults:\n  - latency: 1s\n    probability: lots\nname: a\nname: b\n";
    let problems = profile_problems(yaml);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    no_jargon(&problems);
}

/// A file that is not YAML stops at its first problem: nothing after it
/// can be read.
#[test]
fn broken_yaml_stops_at_its_first_problem() {
    let problems = scenario_problems("banner: [a\nrules: 5\n");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].starts_with("<inline>:"), "{problems:#?}");
}

/// Files that load keep loading: setting blocks aside only ever happens
/// after a problem.
#[test]
fn good_files_are_untouched() {
    for yaml in [
        "{}",
        "rules:\n  - verb: MAIL\n    times: 2\n    reply: '451 later'\n",
        "limits: {recipients: 5}\nfaults:\n  - latency: 10ms\n",
    ] {
        Scenario::from_yaml(yaml).expect(yaml);
    }
}
