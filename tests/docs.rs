//! Every YAML example in the docs is a valid scenario, and every Rust
//! example runs: its lines appear, in order, in tests/doc_examples.rs.

use smtp_harness::Scenario;

fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    blocks(markdown, "```yaml")
}

/// The fenced blocks opened by exactly `fence`, with the line each starts on.
fn blocks(markdown: &str, fence: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, f) if f == fence => current = Some((i + 2, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), l) => {
                text.push_str(l);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn scenario_docs_examples_are_valid() {
    let doc = std::fs::read_to_string("docs/scenarios.md").unwrap();
    let blocks = yaml_blocks(&doc);
    assert!(blocks.len() >= 9, "found only {} yaml blocks", blocks.len());
    for (line, yaml) in blocks {
        if let Err(e) = Scenario::from_yaml(&yaml) {
            panic!("docs/scenarios.md block at line {line} is invalid:\n{e}\n---\n{yaml}");
        }
    }
}

/// Examples fenced ```` ```yaml legacy-tls ```` need the `legacy-tls`
/// feature: valid with it, refused with a sentence naming it without.
#[test]
fn legacy_tls_docs_examples_need_the_feature() {
    let doc = std::fs::read_to_string("docs/scenarios.md").unwrap();
    let blocks = blocks(&doc, "```yaml legacy-tls");
    assert!(!blocks.is_empty());
    for (line, yaml) in blocks {
        let result = Scenario::from_yaml(&yaml);
        if cfg!(feature = "legacy-tls") {
            if let Err(e) = result {
                panic!("docs/scenarios.md block at line {line} is invalid:\n{e}\n---\n{yaml}");
            }
        } else {
            let e = result.expect_err("refused without the feature").to_string();
            assert!(e.contains("--features legacy-tls"), "line {line}: {e}");
        }
    }
}

#[test]
fn smuggling_docs_examples_are_valid() {
    let doc = std::fs::read_to_string("docs/smuggling.md").unwrap();
    let blocks = yaml_blocks(&doc);
    assert!(!blocks.is_empty());
    for (line, yaml) in blocks {
        let scenario = Scenario::from_yaml(&yaml)
            .unwrap_or_else(|e| panic!("docs/smuggling.md line {line}: {e}"));
        assert_eq!(scenario.plan().end_of_data.sequences().len(), 2);
    }
}

#[test]
fn readme_example_is_valid() {
    let doc = std::fs::read_to_string("README.md").unwrap();
    for (line, yaml) in yaml_blocks(&doc) {
        Scenario::from_yaml(&yaml).unwrap_or_else(|e| panic!("README.md line {line}: {e}"));
    }
}

/// A line with its indentation and runs of spaces taken out: the examples
/// sit in modules and functions there, and rustfmt aligns nothing.
fn normal(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every Rust block of the README and the docs (`rust,ignore` ones are
/// sketches, said so beside them) is code that compiles and passes.
#[rstest::rstest]
#[case("README.md", 3)]
#[case("docs/proxy.md", 2)]
fn rust_examples_are_tests_that_run(#[case] doc: &str, #[case] count: usize) {
    let text = std::fs::read_to_string(doc).unwrap();
    let examples = std::fs::read_to_string("tests/doc_examples.rs").unwrap();
    let lines: Vec<String> = examples.lines().map(normal).collect();
    let found = blocks(&text, "```rust");
    assert_eq!(found.len(), count, "{doc}: Rust blocks");
    for (start, block) in found {
        let mut at = 0;
        for (i, line) in block.lines().enumerate() {
            let want = normal(line);
            if want.is_empty() {
                continue;
            }
            match lines[at..].iter().position(|l| *l == want) {
                Some(p) => at += p + 1,
                None => panic!(
                    "{doc}:{}: `{want}` is not in tests/doc_examples.rs (after line {at}): \
                     change both together",
                    start + i
                ),
            }
        }
    }
}
