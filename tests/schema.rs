//! The JSON Schemas: committed copies are current, every bundled scenario and
//! profile names its schema on its first line and validates against it, and
//! the schema refuses what the loader refuses.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// YAML → JSON through the same parser the loader uses.
fn yaml_to_json(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("YAML parses into a JSON value")
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML files in {dir}");
    files
}

fn check_committed(file: &str, generated: &str) {
    let path = root().join("schema").join(file);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed.trim_end() != generated.trim_end() {
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, format!("{generated}\n")).expect("write schema");
            return;
        }
        panic!(
            "{} is stale; regenerate with `cargo run -- schema {} > schema/{file}` \
             (or run this test with UPDATE_SCHEMA=1)",
            path.display(),
            file.trim_end_matches(".schema.json")
        );
    }
}

#[test]
fn committed_schemas_are_current() {
    check_committed(
        "scenario.schema.json",
        &smtp_harness::schema::scenario_json(),
    );
    check_committed("profile.schema.json", &smtp_harness::schema::profile_json());
    check_committed("proxies.schema.json", &smtp_harness::schema::proxies_json());
}

/// The bundled `proxy --config` example names its schema, validates
/// against it and loads; the schema refuses what the loader refuses.
#[test]
fn the_proxies_example_validates_and_loads() {
    let validator =
        jsonschema::validator_for(&smtp_harness::schema::proxies()).expect("valid schema");
    let path = root().join("examples/proxies.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text.lines().next(),
        Some("# yaml-language-server: $schema=../schema/proxies.schema.json")
    );
    let errors: Vec<String> = validator
        .iter_errors(&yaml_to_json(&text))
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let loaded = smtp_harness::proxy::config::load(&path).expect("the example loads");
    let names: Vec<&str> = loaded.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["plain", "pix", "no-tls"]);
    let dir = tempfile::tempdir().expect("dir");
    let one = |s: &str| format!("proxies:\n  - {{{s}}}\n");
    let bad = [
        one("name: a, listen: '2525', upstream: 'h:25'"),
        one("name: a, listen: 'localhost:2525', upstream: 'h:25'"),
        one("name: a, listen: '127.0.0.1:0', upstream: '127.0.0.1'"),
        one("name: a/b, listen: '127.0.0.1:0', upstream: 'h:25'"),
        one("name: a, listen: '127.0.0.1:0', upstream: 'h:25', colour: red"),
        "proxies: []\n".to_string(),
    ];
    for yaml in bad {
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, &yaml).expect("write");
        assert!(
            smtp_harness::proxy::config::load(&file).is_err(),
            "loader: {yaml}"
        );
        assert!(!validator.is_valid(&yaml_to_json(&yaml)), "schema: {yaml}");
    }
    let good = one("name: a, listen: '[::1]:0', upstream: '[::1]:25'");
    assert!(validator.is_valid(&yaml_to_json(&good)), "schema: {good}");
}

fn validate_dir(dir: &str, schema: serde_json::Value, schema_file: &str) {
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");
    for path in yaml_files(dir) {
        let text = std::fs::read_to_string(&path).expect("read");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!("# yaml-language-server: $schema=../schema/{schema_file}"),
            "{} must name its schema on its first line",
            path.display()
        );
        let value = yaml_to_json(&text);
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

#[test]
fn every_bundled_scenario_validates() {
    validate_dir(
        "scenarios",
        smtp_harness::schema::scenario(),
        "scenario.schema.json",
    );
}

#[test]
fn every_bundled_profile_validates() {
    validate_dir(
        "profiles",
        smtp_harness::schema::profile(),
        "profile.schema.json",
    );
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let validator =
        jsonschema::validator_for(&smtp_harness::schema::scenario()).expect("valid schema");
    let ok = [
        "banner: {reply: '220 hi', delay: 250ms}",
        "rules: [{verb: [MAIL, RCPT], reply: 250}]",
        "rules: [{verb: RCPT, state: rcpt, reply: ['250-a', '250 b'], delay: 1.5}]",
        "expect: [{verb: EHLO, times: 1}, {command: '^QUIT', times: '1..', session: 3}]",
        "faults: [{latency: 1s, jitter: 200ms}, {flaky: 451 busy, rate: 0.5, verbs: [RCPT]}]",
    ];
    for yaml in ok {
        assert!(
            smtp_harness::Scenario::from_yaml(yaml).is_ok(),
            "loader: {yaml}"
        );
        assert!(validator.is_valid(&yaml_to_json(yaml)), "schema: {yaml}");
    }
    let bad = [
        "banner: {replly: x}",
        "rules: [{verb: MAIL, then: explode}]",
        "limits: {idle_timeout: soon}",
        "rules: [{state: nowhere}]",
        "expect: [{verb: EHLO, times: lots}]",
        "faults: [{latency: 1s, bandwidth: 3}]",
        "faults: [{jitter: 1s}]",
        "faults: [{latency: 1s, direction: upstream}]",
    ];
    for yaml in bad {
        assert!(
            smtp_harness::Scenario::from_yaml(yaml).is_err(),
            "loader: {yaml}"
        );
        assert!(!validator.is_valid(&yaml_to_json(yaml)), "schema: {yaml}");
    }
}

#[test]
fn the_cli_prints_the_same_schema() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smtp-harness"))
        .args(["schema", "profile"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(printed, smtp_harness::schema::profile());
    assert!(Path::new(&root().join("schema/scenario.schema.json")).exists());
}
