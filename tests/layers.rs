//! Data flows one way: the `use` lines of `src/` form no cycle, and
//! `docs/architecture.md` ("Layers") lists every module's dependencies
//! exactly as the code has them, top layer first. A new `use crate::x` that
//! goes upward, or one the document does not show, fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crate's top-level modules: `src/x.rs` and `src/x/`.
fn modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .expect("src/")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let module = name.strip_suffix(".rs").unwrap_or(&name).to_string();
            (e.path().is_dir() || name.ends_with(".rs")).then_some(module)
        })
        .filter(|m| m != "lib" && m != "main")
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The names a file reaches through `crate::` (in `use` lines and paths,
/// `crate::{a, b::c}` included), comments left out.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for part in group[..end].split(',') {
                    let first = part.trim().split("::").next().unwrap_or_default();
                    names.insert(first.to_string());
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    names
}

/// Which module each root re-export (`pub use x::…::Name`) comes from.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut exports = BTreeMap::new();
    let flat = lib.replace('\n', " ");
    for item in flat.split("pub use ").skip(1) {
        let item = item.split(';').next().unwrap_or_default();
        let module = item
            .split("::")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let names = match (item.find('{'), item.rfind('}')) {
            (Some(a), Some(b)) => item[a + 1..b].to_string(),
            _ => item.rsplit("::").next().unwrap_or_default().to_string(),
        };
        for name in names.split(',') {
            let name = name.trim();
            if !name.is_empty() {
                exports.insert(name.to_string(), module.clone());
            }
        }
    }
    exports
}

/// What the code has: module → the other modules it uses.
fn code_graph() -> Graph {
    let src = root().join("src");
    let modules = modules(&src);
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let exports = root_exports(&lib);
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let name = first.as_os_str().to_string_lossy();
        let module = name.strip_suffix(".rs").unwrap_or(&name).to_string();
        if !modules.contains(&module) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        for used in crate_paths(&text) {
            let target = exports.get(&used).cloned().unwrap_or(used);
            if target != module && modules.contains(&target) {
                graph.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

/// What the document says, in its order (top layer first).
fn documented() -> Vec<(String, BTreeSet<String>)> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).expect("doc");
    let section = doc
        .split("\n## Layers\n")
        .nth(1)
        .expect("docs/architecture.md has a '## Layers' section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let module = cells[1].trim_matches('`').to_string();
            let uses = cells[2]
                .split(',')
                .map(|u| u.trim().trim_matches('`').to_string())
                .filter(|u| !u.is_empty() && u != "—")
                .collect();
            (module, uses)
        })
        .collect()
}

#[test]
fn the_documented_layers_are_the_use_lines() {
    let code = code_graph();
    let doc: Graph = documented().into_iter().collect();
    let mut wrong = Vec::new();
    for (module, uses) in &code {
        match doc.get(module) {
            None => wrong.push(format!("{module}: not in the table (uses {uses:?})")),
            Some(listed) if listed != uses => wrong.push(format!(
                "{module}: the code uses {uses:?}, the table says {listed:?}"
            )),
            Some(_) => {}
        }
    }
    for module in doc.keys().filter(|m| !code.contains_key(*m)) {
        wrong.push(format!("{module}: in the table, not in src/"));
    }
    // The rows as the code has them, in the document's order, to paste.
    let rows: Vec<String> = documented()
        .iter()
        .filter_map(|(m, _)| code.get(m).map(|uses| (m, uses)))
        .map(|(m, uses)| {
            let uses: Vec<String> = uses.iter().map(|u| format!("`{u}`")).collect();
            let uses = if uses.is_empty() {
                "—".to_string()
            } else {
                uses.join(", ")
            };
            format!("| `{m}` | {uses} |")
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "docs/architecture.md (## Layers) disagrees with src/:\n{}\n\nthe rows as the code has them:\n{}",
        wrong.join("\n"),
        rows.join("\n")
    );
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let order: Vec<String> = documented().into_iter().map(|(m, _)| m).collect();
    let code = code_graph();
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut upward = Vec::new();
    for (module, uses) in &code {
        for used in uses {
            if let (Some(a), Some(b)) = (rank(module), rank(used))
                && b <= a
            {
                upward.push(format!("{module} uses {used}, listed above it"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "upward dependencies:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_reader_finds_crate_paths_in_groups_and_skips_comments() {
    let names = crate_paths(
        "use crate::{a::X, b};\nlet x = crate::c::f(); // crate::d\nuse crate::Scenario;\n",
    );
    let want: BTreeSet<String> = ["a", "b", "c", "Scenario"].map(String::from).into();
    assert_eq!(names, want);
}
