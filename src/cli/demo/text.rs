//! The terminal view, 80 columns: the proxied session side by side (client
//! on the left, server on the right, `≠` on every line the proxy changed,
//! each change explained under it), then the direct session in one line,
//! the extensions the client lost, and the probe's verdicts.

use super::{Demo, Exchange, keywords};
use crate::probe::Status;
use crate::view::wrap::wrap;
use owo_colors::OwoColorize;
use std::fmt::Write;

/// Width of each column, arrow included.
const COL: usize = 38;
/// Width of text after the arrow.
const TEXT: usize = COL - 3;

/// A reply as display lines: the first line, then (for a multi-line reply)
/// the rest joined with spaces.
fn reply_lines(lines: &[String], width: usize) -> Vec<String> {
    let Some(first) = lines.first() else {
        return Vec::new();
    };
    // The first line whole, however long: for a masked banner the
    // masking is the point.
    let mut out = wrap(
        &first.replacen('-', " ", usize::from(lines.len() > 1)),
        width,
        usize::MAX,
    );
    if lines.len() > 1 {
        let rest: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.get(4..).unwrap_or(""))
            .collect();
        out.extend(
            wrap(&rest.join(" "), width.saturating_sub(2), usize::MAX)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    out
}

fn side(arrow: &str, lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{arrow} {l}")
            } else {
                format!("   {l}")
            }
        })
        .collect()
}

fn pad(s: &str) -> String {
    let n = s.chars().count();
    if n >= COL {
        s.chars().take(COL).collect()
    } else {
        format!("{s}{}", " ".repeat(COL - n))
    }
}

/// Print two columns row by row; `changed` marks the separator.
fn rows(out: &mut String, left: Vec<String>, right: Vec<String>, changed: bool, color: bool) {
    for i in 0..left.len().max(right.len()) {
        let l = pad(left.get(i).map(String::as_str).unwrap_or(""));
        let r = right.get(i).map(String::as_str).unwrap_or("");
        let line = if changed {
            let mark = if color {
                "≠".yellow().bold().to_string()
            } else {
                "≠".into()
            };
            let l = if color { l.yellow().to_string() } else { l };
            format!("{l} {mark} {r}")
        } else {
            format!("{l} │ {r}")
        };
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// Reply lines with each word of `words` (after the code) between
/// `open` and `close`.
fn mark(lines: &[String], words: &[String], open: &str, close: &str) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let (code, text) = l.split_at(l.len().min(4));
            let text: Vec<String> = text
                .split(' ')
                .map(|w| {
                    if words.iter().any(|m| m == w) {
                        format!("{open}{w}{close}")
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            format!("{code}{}", text.join(" "))
        })
        .collect()
}

/// [`rows`] for a reply changed by a few words: `≠` on the rows holding a
/// marked word, `│` on the others.
fn marked_rows(out: &mut String, left: Vec<String>, right: Vec<String>, color: bool) {
    let has_mark = |s: Option<&String>| s.is_some_and(|s| s.contains("[-") || s.contains("{+"));
    for i in 0..left.len().max(right.len()) {
        let changed = has_mark(left.get(i)) || has_mark(right.get(i));
        rows(
            out,
            left.get(i).cloned().into_iter().collect(),
            vec![right.get(i).cloned().unwrap_or_default()],
            changed,
            color,
        );
    }
}

fn exchange(out: &mut String, x: &Exchange, color: bool) {
    if let Some(sent) = &x.client_sent {
        let left = side("->", wrap(sent, TEXT, 2));
        let right = match &x.server_received {
            Some(r) => side("->", wrap(r, TEXT, 2)),
            None => vec!["   (never arrived)".to_string()],
        };
        rows(out, left, right, x.command_changed(), color);
    }
    if x.client_saw.is_some() || x.server_answered.is_some() {
        // A few words changed: mark them, wdiff-style (`[-lost-]`,
        // `{+added+}`), and `≠` only the rows they are on.
        let words = x.word_change();
        let (lost, got) = words
            .as_ref()
            .map(|w| (w.lost.as_slice(), w.got.as_slice()))
            .unwrap_or_default();
        let left = x
            .client_saw
            .as_ref()
            .map(|l| side("<-", reply_lines(&mark(l, got, "{+", "+}"), TEXT)))
            .unwrap_or_default();
        let right = x
            .server_answered
            .as_ref()
            .map(|l| side("<-", reply_lines(&mark(l, lost, "[-", "-]"), TEXT)))
            .unwrap_or_default();
        if words.is_some() {
            marked_rows(out, left, right, color);
        } else {
            rows(out, left, right, x.reply_changed(), color);
        }
    }
    for n in &x.notes {
        let _ = writeln!(out, "   * {n}");
    }
    if let Some(why) = x.explain() {
        for (i, l) in wrap(&why, 74, 3).into_iter().enumerate() {
            let l = if i == 0 {
                format!("  ↳ {l}")
            } else {
                format!("    {l}")
            };
            let _ = writeln!(out, "{}", if color { l.yellow().to_string() } else { l });
        }
    }
}

/// `banner 220 · EHLO 250 · …`
fn codes(story: &[Exchange]) -> String {
    story
        .iter()
        .map(|x| format!("{} {}", x.label(), x.client_code().unwrap_or("-")))
        .collect::<Vec<_>>()
        .join(" · ")
}

pub fn render(d: &Demo, color: bool) -> String {
    let bold = |s: &str| {
        if color {
            s.bold().to_string()
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        bold(&format!(
            "smtp-harness demo: {} behind `{}`",
            d.server.1, d.profile
        ))
    );
    for l in wrap(
        "One mail client sends the same message twice: straight to the server, and through \
         the proxy. Below, through the proxy: left what the client sent and saw, right what \
         the server received and answered; ≠ marks every change the proxy made.",
        79,
        5,
    ) {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        bold(&format!(
            "{} │ {}",
            pad("CLIENT sent / saw"),
            "SERVER received / answered"
        ))
    );
    let _ = writeln!(out, "{}┼{}", "─".repeat(COL + 1), "─".repeat(COL + 1));
    for x in &d.through {
        exchange(&mut out, x, color);
    }
    if let Some(e) = &d.through_error {
        let _ = writeln!(out, "   *** the client stopped: {e}");
    }
    let changes: Vec<String> = d
        .through
        .iter()
        .filter(|x| x.changed())
        .map(Exchange::label)
        .collect();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        bold(&format!(
            "{} change(s) by the proxy{}",
            changes.len(),
            if changes.is_empty() {
                String::new()
            } else {
                format!(": {}", changes.join(", "))
            }
        ))
    );
    for (name, story, err) in [
        ("direct ", &d.direct, &d.direct_error),
        ("through", &d.through, &d.through_error),
    ] {
        let text = codes(story);
        for (i, l) in wrap(&text, 68, 3).into_iter().enumerate() {
            let head = if i == 0 {
                format!("  {name}  ")
            } else {
                " ".repeat(11)
            };
            let _ = writeln!(out, "{head}{l}");
        }
        if let Some(e) = err {
            let _ = writeln!(out, "{}stopped: {e}", " ".repeat(11));
        }
    }
    let direct_kw = keywords(&d.direct);
    let through_kw = keywords(&d.through);
    let lost: Vec<&str> = direct_kw
        .iter()
        .filter(|k| !k.eq_ignore_ascii_case("OK"))
        .filter(|k| !through_kw.iter().any(|t| t.eq_ignore_ascii_case(k)))
        .map(String::as_str)
        .collect();
    if !lost.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            bold(&format!("Extensions the client lost: {}", lost.len()))
        );
        for l in wrap(&lost.join(", "), 75, 4) {
            let _ = writeln!(out, "  {l}");
        }
    }
    let differs: Vec<&String> = d
        .direct
        .iter()
        .filter_map(|x| x.client_sent.as_ref())
        .filter(|c| !c.starts_with("<message"))
        .filter(|c| !d.through.iter().any(|t| t.client_sent.as_ref() == Some(*c)))
        .collect();
    if !differs.is_empty() {
        let _ = writeln!(out, "\n{}", bold("Without the proxy the same client sent"));
        for c in differs {
            let _ = writeln!(out, "  -> {}", wrap(c, 74, 1).join(""));
        }
    }
    let _ = writeln!(out, "\n{}", bold("Probe verdict (smtp-harness probe)"));
    for (name, r) in [("direct ", &d.probe_direct), ("through", &d.probe_through)] {
        for (i, l) in wrap(&r.verdict.summary, 68, 4).into_iter().enumerate() {
            let l = if color {
                match r.verdict.status {
                    Status::Clean => l.green().bold().to_string(),
                    Status::Finding => l.red().bold().to_string(),
                    Status::CouldNotProbe => l.yellow().bold().to_string(),
                }
            } else {
                l
            };
            let head = if i == 0 {
                format!("  {name}  ")
            } else {
                " ".repeat(11)
            };
            let _ = writeln!(out, "{head}{l}");
        }
    }
    out
}
