//! docs/fidelity.md's table is kept true (issue 14, point 7): every bundled
//! scenario, every bundled profile (a proxy in front of `postfix-default`)
//! and a real Postfix are looked at with the tools people point at mail
//! servers (nmap -sV and four NSE scripts, a real Postfix delivering through
//! them, testssl.sh, our probe); the rows are rendered and compared with the
//! table in the document. On a difference the test prints the rows as they
//! are now, and `UPDATE_FIDELITY=1` writes them into the document.
//!
//! The last column, "matches the real product?", is computed as well: each
//! target names what the real product answers ([`reference`]: facts from
//! nmap's own signatures and public product documentation, written down in
//! `fidelity_table/reference.rs` with their sources, or the row measured
//! against the real Postfix) and the cell says where the measured row
//! differs.

mod common;
#[path = "fidelity_table/reference.rs"]
mod reference;
#[path = "fidelity_table/targets.rs"]
mod targets;

use common::postfix::PostfixBuilder;
use common::tools::{self, NMAP, TESTSSL};
use std::time::Instant;
use targets::{Row, Target};

const DOC: &str = "docs/fidelity.md";
const START: &str = "<!-- fidelity-table:start -->";
const END: &str = "<!-- fidelity-table:end -->";

const HEADER: &str = "| target | nmap -sV | smtp-commands (EHLO keywords) | smtp-ntlm-info | smtp-open-relay | smtp-enum-users | Postfix's PIX workarounds; delivery | testssl.sh | smtp-harness probe | matches the real product? |\n|---|---|---|---|---|---|---|---|---|---|\n";

#[test]
fn the_fidelity_table_is_what_the_tools_say() {
    let test = "the_fidelity_table_is_what_the_tools_say";
    let Some(nmap) = tools::require(&NMAP, test) else {
        return;
    };
    let Some(testssl) = tools::require(&TESTSSL, test) else {
        return;
    };
    // The real Postfix both as a target (the reference row) and, below,
    // as the client whose PIX detection is a column.
    let Some(real) = PostfixBuilder::new(test).start() else {
        return;
    };
    let began = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let running = targets::start_all(&rt, real.addr());
    let rows = targets::measure(&rt, &running, nmap, testssl, test);
    let wall = began.elapsed();
    let table = render(&rows);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "fidelity table: {} targets in {:.0} s wall time\n",
            rows.len(),
            wall.as_secs_f64()
        )
        .as_bytes(),
    );
    drop(running);
    compare_with_doc(&table);
}

/// The whole table, header included.
fn render(rows: &[Row]) -> String {
    let mut out = String::from(HEADER);
    for row in rows {
        let matches = reference::matches(row, rows);
        let cells: Vec<String> = std::iter::once(row.label.clone())
            .chain(row.cells.iter().cloned())
            .chain(std::iter::once(matches))
            .map(|c| cell(&c))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// A Markdown table cell: no pipe, no newline.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The table between the markers in docs/fidelity.md must be `table`;
/// `UPDATE_FIDELITY=1` rewrites it instead.
fn compare_with_doc(table: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
    let doc = std::fs::read_to_string(&path).expect("docs/fidelity.md");
    let (Some(a), Some(b)) = (doc.find(START), doc.find(END)) else {
        panic!("{DOC} has no {START} … {END} markers");
    };
    let current = doc[a + START.len()..b].trim();
    if current == table.trim() {
        return;
    }
    if std::env::var("UPDATE_FIDELITY").is_ok_and(|v| v == "1") {
        let new = format!("{}{START}\n{}\n{}", &doc[..a], table.trim(), &doc[b..]);
        std::fs::write(&path, new).expect("write docs/fidelity.md");
        return;
    }
    let theirs: Vec<&str> = current.lines().collect();
    let wrong: Vec<&str> = table
        .trim()
        .lines()
        .filter(|l| !theirs.contains(l))
        .collect();
    panic!(
        "{DOC}'s fidelity table is not what the tools say. Rows as they are now \
         (paste them, or run with UPDATE_FIDELITY=1):\n\n{}\n\nRows that differ:\n{}",
        table.trim(),
        wrong.join("\n")
    );
}

#[test]
fn every_bundled_scenario_and_profile_has_a_reference() {
    for target in Target::all() {
        assert!(
            reference::of(&target.label()).is_some(),
            "{}: add what the real product answers to tests/fidelity_table/reference.rs",
            target.label()
        );
    }
}
