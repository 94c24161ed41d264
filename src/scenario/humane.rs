//! What the YAML library says, said for a person writing a scenario or a
//! profile: the key the problem is under, what it expects and what it
//! found (`times: expected a whole number ≥ 0, found -1`, not `invalid
//! u32`), never the library's own vocabulary (`expected sequence start`,
//! `set DuplicateKeyPolicy in Options`). And where to look for the next
//! problem: the block a problem is in can be set aside so the rest of the
//! file is read too.

/// The byte offset of 1-based `line`, `column` (in characters) in `text`.
fn offset(text: &str, line: u64, column: u64) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(usize::try_from(line.checked_sub(1)?).ok()?)
        .map(str::len)
        .sum();
    let rest = text.get(start..)?;
    let col = usize::try_from(column.saturating_sub(1)).ok()?;
    let within = rest
        .char_indices()
        .nth(col)
        .map_or(rest.len(), |(i, _)| i);
    Some(start + within)
}

/// The key whose value starts at `at`: the name before the nearest `:`
/// behind it, across whitespace and line ends; `- ` items name their list.
fn key_before(text: &str, at: usize) -> Option<String> {
    let mut before = text.get(..at)?.trim_end();
    let mut item = false;
    if let Some(rest) = before.strip_suffix('-') {
        before = rest.trim_end();
        item = true;
    }
    let before = before.strip_suffix(':')?.trim_end();
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '"' || c == '\''))
        .map_or(0, |i| i + 1);
    let key = before[start..].trim_matches(['"', '\'']);
    if key.is_empty() {
        return None;
    }
    Some(if item {
        format!("an entry of `{key}`")
    } else {
        format!("`{key}`")
    })
}

/// What is written at `at`, as a phrase: the scalar itself, or what kind
/// of node starts there.
fn found_at(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or_default();
    let line = rest.lines().next().unwrap_or_default();
    if line.starts_with('{') || line.contains(": ") || line.trim_end().ends_with(':') {
        return "a mapping".to_string();
    }
    if line.starts_with('[') || line.starts_with("- ") {
        return "a list".to_string();
    }
    let token = line
        .split([',', '}', ']', '#'])
        .next()
        .unwrap_or_default()
        .trim();
    if token.is_empty() {
        "nothing".to_string()
    } else {
        token.to_string()
    }
}

/// The largest value of an unsigned integer type the library names.
fn unsigned_max(ty: &str) -> Option<u128> {
    Some(match ty {
        "u8" => u8::MAX.into(),
        "u16" => u16::MAX.into(),
        "u32" => u32::MAX.into(),
        "u64" | "usize" => u64::MAX.into(),
        _ => return None,
    })
}

/// The library's message about the value at `line`:`column` of `text`,
/// rewritten; a message already in our words is returned as it was.
pub fn explain(message: &str, text: &str, line: u64, column: u64) -> String {
    let at = offset(text, line, column);
    let key = at.and_then(|at| key_before(text, at));
    let found = at.map(|at| found_at(text, at)).unwrap_or_default();
    let said = |what: String| match &key {
        Some(k) => format!("{k}: {what}"),
        None => what,
    };
    if let Some(dup) = message.strip_prefix("duplicate mapping key: ") {
        let name = dup.split(", set DuplicateKeyPolicy").next().unwrap_or(dup);
        return format!("`{name}` is given twice in the same mapping; give each key once");
    }
    if let Some(ty) = message.strip_prefix("invalid ")
        && let Some(max) = unsigned_max(ty)
    {
        let range = match found.parse::<u128>() {
            Ok(_) => format!("a whole number from 0 to {max}"),
            Err(_) => "a whole number ≥ 0".to_string(),
        };
        return said(format!("expected {range}, found {found}"));
    }
    if matches!(message, "invalid i8" | "invalid i16" | "invalid i32" | "invalid i64") {
        return said(format!("expected a whole number, found {found}"));
    }
    if message == "invalid floating point" || message == "invalid f64" || message == "invalid f32"
    {
        return said(format!("expected a number such as 0.5, found {found}"));
    }
    if message.starts_with("invalid boolean") || message == "invalid bool" {
        return said(format!("expected true or false, found {found}"));
    }
    if message == "expected sequence start" {
        return said(format!(
            "expected a list (`- item` lines, or `[a, b]`), found {found}"
        ));
    }
    if message == "expected mapping start" {
        return said(format!(
            "expected a mapping (`key: value` lines, or `{{key: value}}`), found {found}"
        ));
    }
    plain_words(message)
}

/// serde's own words for types, in ours.
fn plain_words(message: &str) -> String {
    let mut m = message.to_string();
    for (theirs, ours) in [
        ("expected u8", "expected a whole number ≥ 0"),
        ("expected u16", "expected a whole number ≥ 0"),
        ("expected u32", "expected a whole number ≥ 0"),
        ("expected u64", "expected a whole number ≥ 0"),
        ("expected usize", "expected a whole number ≥ 0"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a mapping"),
        ("sequence start", "a list"),
        ("mapping start", "a mapping"),
    ] {
        m = m.replace(theirs, ours);
    }
    m
}

/// `text` with the block holding `line` blanked out (line numbers kept),
/// and the line of the key that block was under: the list item the line
/// is in, or else its top-level entry. `None` when there is nothing to set
/// aside.
pub fn set_aside(text: &str, line: u64) -> Option<(String, usize)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let bad = usize::try_from(line.checked_sub(1)?).ok()?;
    lines.get(bad)?;
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let content = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    // The nearest `- ` item at or above the line that encloses it.
    let mut start = None;
    let mut limit = indent(lines[bad]) + 1;
    for i in (0..=bad).rev() {
        let l = lines[i];
        if !content(l) {
            continue;
        }
        let ind = indent(l);
        if ind < limit {
            if l.trim_start().starts_with("- ") && ind > 0 {
                start = Some(i);
                break;
            }
            limit = ind;
            if ind == 0 {
                start = Some(i);
                break;
            }
        }
    }
    let start = start?;
    let own = indent(lines[start]);
    let mut end = start + 1;
    while end < lines.len() && (!content(lines[end]) || indent(lines[end]) > own) {
        end += 1;
    }
    let parent = (0..start)
        .rev()
        .find(|&i| content(lines[i]) && indent(lines[i]) < own)
        .unwrap_or(start);
    let mut out = String::with_capacity(text.len());
    for (i, l) in lines.iter().enumerate() {
        if (start..end).contains(&i) {
            out.push_str(if l.ends_with('\n') { "\n" } else { "" });
        } else {
            out.push_str(l);
        }
    }
    Some((out, parent + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_name_the_key_and_what_was_found() {
        let text = "rules:\n  - verb: MAIL\n    times: -1\n";
        assert_eq!(
            explain("invalid u32", text, 3, 12),
            "`times`: expected a whole number ≥ 0, found -1"
        );
        let text = "limits: {recipients: 99999999999999999999999}\n";
        assert_eq!(
            explain("invalid u64", text, 1, 22),
            "`recipients`: expected a whole number from 0 to 18446744073709551615, found 99999999999999999999999"
        );
    }

    #[test]
    fn structure_is_said_in_plain_words() {
        let text = "rules:\n  verb: MAIL\n";
        assert_eq!(
            explain("expected sequence start", text, 2, 3),
            "`rules`: expected a list (`- item` lines, or `[a, b]`), found a mapping"
        );
        assert_eq!(
            explain(
                "duplicate mapping key: banner, set DuplicateKeyPolicy in Options if acceptable",
                "banner: {}\nbanner: {}\n",
                2,
                1
            ),
            "`banner` is given twice in the same mapping; give each key once"
        );
    }

    #[test]
    fn the_block_of_a_problem_is_set_aside() {
        let text = "name: x\nrules:\n  - verb: MAIL\n    times: -1\n  - verb: RCPT\n    nth: 0.5\nlimits: {recipients: -1}\n";
        let (rest, parent) = set_aside(text, 4).expect("a block");
        assert_eq!(
            rest,
            "name: x\nrules:\n\n\n  - verb: RCPT\n    nth: 0.5\nlimits: {recipients: -1}\n"
        );
        assert_eq!(parent, 2);
        let (rest, parent) = set_aside(text, 7).expect("a block");
        assert!(rest.ends_with("nth: 0.5\n\n"), "{rest:?}");
        assert_eq!(parent, 7);
    }
}
