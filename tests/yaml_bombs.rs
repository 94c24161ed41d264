//! The scenario loader refuses YAML bombs cleanly (issue 8): alias
//! expansion ("billion laughs"), deep nesting, huge scalars, anchor floods
//! and `extends:` loops come back as errors, quickly, never as a panic, a
//! hang or gigabytes of memory. The fuzz target `scenario` (fuzz/) hunts for
//! more; these are the known shapes, kept as regression tests.

use smtp_harness::Scenario;
use std::time::{Duration, Instant};

/// Load `yaml`; it must fail (within 10 s even in a debug build on a busy machine: a
/// guard against hangs; release answers in milliseconds) and say something.
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
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty(), "{what}: empty error");
            text
        }
    }
}

#[test]
fn billion_laughs_is_refused() {
    // 10 aliases a level, 12 levels: 10^12 nodes if expanded.
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    refused("billion laughs", &bomb);
}

#[test]
fn an_alias_bomb_inside_a_real_key_is_refused() {
    let mut bomb = String::from("x0: &x0 \"250 ok\"\n");
    for i in 1..10 {
        let prev = format!("*x{}", i - 1);
        bomb.push_str(&format!(
            "x{i}: &x{i} [{}]\n",
            [prev.as_str(); 9].join(", ")
        ));
    }
    bomb.push_str("rules: *x9\n");
    refused("alias bomb in rules", &bomb);
}

#[test]
fn deep_flow_nesting_is_refused() {
    for depth in [100, 10_000, 200_000] {
        refused(
            "deep flow nesting",
            &format!("rules: {}{}\n", "[".repeat(depth), "]".repeat(depth)),
        );
        refused(
            "deep flow maps",
            &format!("banner: {}{}\n", "{a: ".repeat(depth), "}".repeat(depth)),
        );
    }
}

#[test]
fn deep_block_nesting_is_refused() {
    let mut yaml = String::new();
    for i in 0..500 {
        yaml.push_str(&" ".repeat(i));
        yaml.push_str("k:\n");
    }
    refused("deep block nesting", &yaml);
}

#[test]
fn huge_scalars_are_refused() {
    // 32 MiB in one scalar, over the 16 MiB scalar budget.
    let big = "x".repeat(32 << 20);
    refused("huge plain scalar", &format!("description: {big}\n"));
    refused(
        "huge quoted scalar",
        &format!("banner: {{reply: \"220 {big}\"}}\n"),
    );
    // Many medium scalars adding up.
    let mut many = String::from("rules:\n");
    let medium = "y".repeat(1 << 20);
    for _ in 0..20 {
        many.push_str(&format!("  - {{verb: NOOP, reply: \"250 {medium}\"}}\n"));
    }
    refused("scalars adding up", &many);
}

#[test]
fn anchor_floods_are_refused() {
    let mut yaml = String::from("rules:\n");
    for i in 0..5_000 {
        yaml.push_str(&format!("  - &r{i} {{verb: NOOP, reply: \"250 ok\"}}\n"));
    }
    refused("anchor flood", &yaml);
}

#[test]
fn self_extension_is_refused() {
    // Inline scenarios can only extend bundled ones; a bundled name that
    // does not exist is an error, not a loop.
    refused("unknown parent", "extends: no-such-scenario\n");
}

#[test]
fn binary_garbage_is_refused() {
    let garbage: String = (0..4096u32)
        .map(|i| char::from_u32((i * 7919) % 0xD7FF).unwrap_or('?'))
        .collect();
    refused("garbage", &garbage);
}
