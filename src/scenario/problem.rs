//! What is wrong with a scenario, and where: `file:line:column: message`.

use serde_saphyr::Location;
use std::fmt;

/// One problem found in a scenario file.
///
/// # Example
///
/// ```
/// use smtp_harness::Scenario;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let err = Scenario::from_yaml("banner:\n  reply: 220 hi\n  delay: soon\n").unwrap_err();
/// let problem = &err.problems[0];
/// assert_eq!(problem.line, 3);
/// assert!(problem.message.contains("expected a duration"), "{problem}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or `<inline>`, `<builder>`, `bundled:NAME`).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// What was expected.
    pub message: String,
}

impl Problem {
    /// A problem at a YAML location.
    pub fn at(file: &str, loc: &Location, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_string(),
            line: loc.line(),
            column: loc.column(),
            message: message.into(),
        }
    }

    /// A problem about a whole file.
    pub fn file(file: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// `unknown bundled scenario "pix-mailgaurd"; did you mean "pix-mailguard"?
/// expected one of …`: the closest names first, then all.
pub fn unknown_name(kind: &str, name: &str, names: &[&str]) -> String {
    let hint = match did_you_mean(name, names) {
        Some(h) => format!("; {h}"),
        None => ";".to_string(),
    };
    format!(
        "unknown bundled {kind} {name:?}{hint} expected one of {}",
        names.join(", ")
    )
}

/// What a command line says for a name that is neither a file nor a
/// bundled document: one sentence, the closest names first.
/// Shown after the name: `pix-mailgaurd: no such file, and no bundled
/// scenario has that name; did you mean "pix-mailguard"? (`smtp-harness
/// scenarios` lists them)`
pub fn not_found(kind: &str, name: &str, names: &[&str]) -> String {
    let hint = did_you_mean(name, names).map_or(String::new(), |h| format!("; {h}"));
    format!(
        "no such file, and no bundled {kind} has that name{hint} (`smtp-harness {kind}s` lists them)"
    )
}

/// What a CLI argument names, the way `serve` and `proxy --profile` read
/// it: an existing file first, then a bundled name; a name-like argument
/// that is neither gets the closest bundled names. `Ok(true)`: load it as
/// the bundled `kind`; `Ok(false)`: read it as a file.
pub fn names_bundled(arg: &str, kind: &str, names: &[&str]) -> Result<bool, ScenarioError> {
    if std::path::Path::new(arg).exists() {
        return Ok(false);
    }
    if names.contains(&arg) {
        return Ok(true);
    }
    if looks_like_a_name(arg) {
        return Err(Problem::file(arg, not_found(kind, arg, names)).into());
    }
    Ok(false)
}

/// A command-line argument with no directory and no `.yaml`/`.yml`
/// ending: meant as a bundled name rather than a file.
pub fn looks_like_a_name(arg: &str) -> bool {
    let path = std::path::Path::new(arg);
    path.components().count() == 1
        && !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        )
}

/// `did you mean "x"?` when some names are a typo away from `name`.
fn did_you_mean(name: &str, names: &[&str]) -> Option<String> {
    match closest(name, names).as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one:?}?")),
        more => Some(format!("did you mean one of {}?", more.join(", "))),
    }
}

/// The names at the smallest edit distance from `name`, if that distance
/// is small enough to be a typo (at most a third of the name).
fn closest<'a>(name: &str, names: &[&'a str]) -> Vec<&'a str> {
    let name = name.to_ascii_lowercase();
    let scored: Vec<(usize, &str)> = names
        .iter()
        .map(|n| (edit_distance(&name, &n.to_ascii_lowercase()), *n))
        .collect();
    let Some(best) = scored.iter().map(|(d, _)| *d).min() else {
        return Vec::new();
    };
    if best > (name.chars().count() / 3).max(1) {
        return Vec::new();
    }
    scored
        .into_iter()
        .filter(|(d, _)| *d == best)
        .map(|(_, n)| n)
        .collect()
}

/// Levenshtein distance, counting an adjacent swap as one edit (the
/// commonest typo: `gaurd`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

/// Every problem found while loading a scenario (never empty). Its `Debug`
/// is its text, so `Scenario::bundled("x").unwrap()` and a test returning
/// `Result` print sentences, not a struct dump.
///
/// # Example
///
/// ```
/// use smtp_harness::Scenario;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let err = Scenario::from_yaml("banner: {reply: 220 hi, colour: red}\n").unwrap_err();
/// // One sentence per problem, each with file:line:column.
/// assert!(err.to_string().starts_with("<inline>:1:"), "{err}");
/// assert!(err.to_string().contains("colour"), "{err}");
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl From<Problem> for ScenarioError {
    fn from(p: Problem) -> Self {
        ScenarioError { problems: vec![p] }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ScenarioError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelled_name_gets_the_closest_ones() {
        let names = [
            "pix-mailguard",
            "exchange-2003",
            "exchange-2019",
            "postfix-default",
        ];
        let m = unknown_name("scenario", "pix-mailgaurd", &names);
        assert!(m.starts_with(r#"unknown bundled scenario "pix-mailgaurd"; did you mean "pix-mailguard"? expected one of pix-mailguard, "#), "{m}");
        let m = unknown_name("scenario", "exchange-20", &names);
        assert!(
            m.contains("did you mean one of exchange-2003, exchange-2019?"),
            "{m}"
        );
        let m = unknown_name("profile", "nothing-like-it", &names);
        assert_eq!(
            m,
            r#"unknown bundled profile "nothing-like-it"; expected one of pix-mailguard, exchange-2003, exchange-2019, postfix-default"#
        );
    }

    #[test]
    fn debug_is_the_sentence() {
        let e = ScenarioError::from(Problem::file("x.yaml", "no rules"));
        assert_eq!(format!("{e:?}"), "x.yaml: no rules");
    }
}
