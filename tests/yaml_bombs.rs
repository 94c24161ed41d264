//! The scenario loader refuses YAML bombs cleanly (issue 8): alias
//! expansion ("billion laughs"), deep nesting, huge scalars, anchor floods
//! and `extends:` loops come back as errors, quickly, never as a panic, a
//! hang or gigabytes of memory. The fuzz target `scenario` (fuzz/) hunts for
//! more; these are the known shapes, kept as regression tests.
//!
//! Each bomb is built from pieces a scenario accepts, and the same shape at
//! a small size loads: so the refusal asserted here is the budget's, not a
//! type error or a semantic check that happens to come first.

use smtp_harness::Scenario;
use std::time::{Duration, Instant};

/// Load `yaml` within 10 s (even in a debug build on a busy machine: a guard
/// against hangs; release answers in milliseconds); its error text.
fn refused(what: &str, yaml: &str) -> String {
    let t0 = Instant::now();
    let result = Scenario::from_yaml(yaml);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "{what}: took {took:?} to answer"
    );
    match result {
        Ok(_) => panic!("{what}: loaded"),
        Err(e) => e.to_string(),
    }
}

/// `yaml` is refused and the error says `expected` (the budget or limit hit).
fn refused_for(what: &str, yaml: &str, expected: &str) {
    let text = refused(what, yaml);
    assert!(
        text.contains(expected),
        "{what}: expected an error with {expected:?}, got: {}",
        &text[..text.len().min(500)]
    );
}

/// The small version of a bomb loads: its pieces are valid scenario content.
fn loads(what: &str, yaml: &str) {
    if let Err(e) = Scenario::from_yaml(yaml) {
        panic!("{what} (small) should load: {e}");
    }
}

/// A fault whose flaky reply has `lines` lines, all but the last one alias
/// of the first, repeated `faults` times by alias: replayed events grow as
/// lines × faults from fewer than 1,000 aliases (the schema has no
/// recursion, so this product is as far as an expansion can go).
/// `anchors` more anchors (on EHLO keywords) dilute the alias/anchor ratio.
fn laughs(lines: usize, faults: usize, anchors: usize) -> String {
    let mut y = String::from("ehlo:\n  keywords:\n");
    for i in 0..anchors {
        y.push_str(&format!("    - &k{i} X-K{i}\n"));
    }
    y.push_str("faults:\n  - &f0\n    rate: 0.5\n    flaky:\n");
    y.push_str("      - &l0 \"451-4.3.0 lol\"\n");
    for _ in 1..lines {
        y.push_str("      - *l0\n");
    }
    y.push_str("      - \"451 4.3.0 lol\"\n");
    for _ in 1..faults {
        y.push_str("  - *f0\n");
    }
    y
}

#[test]
fn billion_laughs_is_refused() {
    loads("laughs", &laughs(5, 5, 0));
    // 798 aliases for 2 anchors: refused by the text's alias/anchor ratio.
    refused_for(
        "billion laughs",
        &laughs(400, 400, 0),
        "budget breached: AliasAnchorRatio",
    );
    loads("diluted laughs", &laughs(5, 5, 80));
    // The same with 80 anchors more passes the ratio; replaying it would
    // add about 160,000 events, over the replay limit.
    refused_for(
        "diluted billion laughs",
        &laughs(400, 400, 80),
        "alias replay limit exceeded",
    );
}

/// A multi-line NOOP reply whose first line is `pad` and repeated `n`
/// times by alias.
fn amplified(pad: &str, n: usize) -> String {
    let mut y = format!("replies:\n  noop:\n    - &l \"250-{pad}\"\n");
    for _ in 0..n {
        y.push_str("    - *l\n");
    }
    y.push_str("    - \"250 ok\"\n");
    y
}

#[test]
fn an_alias_bomb_inside_a_real_key_is_refused() {
    loads("amplified", &amplified("ok", 20));
    // 1 MiB in the text, 21 MiB once the aliases are replayed: over the
    // 16 MiB scalar budget only because replays count.
    refused_for(
        "alias bomb in replies",
        &amplified(&"x".repeat(1 << 20), 20),
        "budget breached: ScalarBytes",
    );
}

#[test]
fn deep_flow_nesting_is_refused() {
    loads("flow", "rules: [{verb: NOOP, reply: \"250 ok\"}]\n");
    loads("flow maps", "banner: {reply: \"220 hi\"}\n");
    // Under the parser's flow limit (255 levels) the budget's depth check
    // answers; far past it, a flow sequence trips the parser's recursion
    // limit first (it scans ahead before it emits events). Flow maps reach
    // the depth check first at any depth.
    for (depth, expected) in [
        (100, "budget breached: Depth"),
        (10_000, "recursion limit exceeded"),
        (200_000, "recursion limit exceeded"),
    ] {
        refused_for(
            "deep flow nesting",
            &format!("rules: {}{}\n", "[".repeat(depth), "]".repeat(depth)),
            expected,
        );
        refused_for(
            "deep flow maps",
            &format!(
                "banner: {}\"220 hi\"{}\n",
                "{reply: ".repeat(depth),
                "}".repeat(depth)
            ),
            "budget breached: Depth",
        );
    }
}

#[test]
fn deep_block_nesting_is_refused() {
    // `banner: reply: reply: …`: every key on the way is one a banner has.
    let nest = |depth: usize| {
        let mut yaml = String::from("banner:\n");
        for i in 1..depth {
            yaml.push_str(&" ".repeat(i));
            yaml.push_str("reply:\n");
        }
        yaml.push_str(&" ".repeat(depth));
        yaml.push_str("reply: \"220 hi\"\n");
        yaml
    };
    loads("block", &nest(1));
    refused_for("deep block nesting", &nest(500), "budget breached: Depth");
}

#[test]
fn huge_scalars_are_refused() {
    // 32 MiB in one scalar, over the 16 MiB scalar budget.
    let big = "x".repeat(32 << 20);
    refused_for(
        "huge plain scalar",
        &format!("description: {big}\n"),
        "budget breached: ScalarBytes",
    );
    refused_for(
        "huge quoted scalar",
        &format!("banner: {{reply: \"220 {big}\"}}\n"),
        "budget breached: ScalarBytes",
    );
    // Many medium scalars adding up, each a distinct EHLO keyword.
    let many = |size: usize| {
        let mut y = String::from("ehlo:\n  keywords:\n");
        let medium = "y".repeat(size);
        for i in 0..20 {
            y.push_str(&format!("    - \"X-PAD{i} {medium}\"\n"));
        }
        y
    };
    loads("scalars", &many(8));
    refused_for(
        "scalars adding up",
        &many(1 << 20),
        "budget breached: ScalarBytes",
    );
}

#[test]
fn anchor_floods_are_refused() {
    let flood = |n: usize| {
        let mut y = String::from("ehlo:\n  keywords:\n");
        for i in 0..n {
            y.push_str(&format!("    - &k{i} X-K{i}\n"));
        }
        y
    };
    loads("anchors", &flood(10));
    refused_for("anchor flood", &flood(5_000), "budget breached: Anchors");
}

#[test]
fn an_unknown_parent_is_refused() {
    // Inline scenarios can only extend bundled ones; a bundled name that
    // does not exist is an error, not a loop.
    refused_for(
        "unknown parent",
        "extends: no-such-scenario\n",
        "unknown bundled scenario \"no-such-scenario\"",
    );
}

#[test]
fn binary_garbage_is_refused() {
    let garbage: String = (0..4096u32)
        .map(|i| char::from_u32((i * 7919) % 0xD7FF).unwrap_or('?'))
        .collect();
    refused_for("garbage", &garbage, "<inline>:1:1:");
}
