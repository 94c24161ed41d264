//! Every imported scenario loads: the text [`render`](super::render) makes
//! is loaded the way `replay` and `validate` load it, and when it is over
//! the loader's budget (a session of hundreds of thousands of commands),
//! the capture is cut after as many steps as fit, with a warning.
//!
//! Cutting rather than raising the budget for imported files: the loader
//! cannot tell an imported file from any other, and the budget is what
//! bounds the memory a scenario may take (from a file or from the control
//! API); a replay of the first steps, said to be cut, is still an honest
//! replay, where a file nothing can load is not.

use super::model::{Answers, Capture, CapturedSession, End, Item, ItemKind};
use crate::Scenario;
use crate::scenario::ScenarioError;
use crate::scenario::load::{self, MAX_DOCUMENT_BYTES};

/// How many times the cut is tightened before giving up.
const ATTEMPTS: usize = 8;

/// `render(capture)`, cut down until it loads. An error says why nothing
/// loadable came out (nothing to replay, or a scenario that does not load
/// for another reason than its size, which would be a bug).
pub(crate) fn loadable(
    capture: &Capture,
    render: &dyn Fn(&Capture) -> (String, Vec<String>),
) -> Result<(String, Vec<String>), String> {
    let (text, extra) = render(capture);
    let too_big = match check(&text) {
        Ok(()) => return Ok((text, extra)),
        Err(Problem::TooBig(why)) => why,
        Err(Problem::Other(why)) => return Err(why),
    };
    let total: usize = capture.sessions.iter().map(|s| commands(&s.items)).sum();
    let mut keep = estimate(&text, total);
    for _ in 0..ATTEMPTS {
        let (cut, note) = cut_after(capture, keep, &too_big);
        let (text, extra) = render(&cut);
        match check(&text) {
            Ok(()) => {
                let mut warnings = vec![note];
                warnings.extend(extra);
                return Ok((text, warnings));
            }
            Err(Problem::TooBig(_)) => keep = keep * 4 / 5,
            Err(Problem::Other(why)) => return Err(why),
        }
    }
    Err(format!(
        "the scenario is too large to load ({too_big}) even with the capture cut short"
    ))
}

enum Problem {
    /// Over the loader's budget or size cap: cutting helps.
    TooBig(String),
    /// Anything else.
    Other(String),
}

/// Load `text` as `replay` would (the file size cap included).
fn check(text: &str) -> Result<(), Problem> {
    if text.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(Problem::TooBig(format!(
            "{} bytes, over the {MAX_DOCUMENT_BYTES}-byte file limit",
            text.len()
        )));
    }
    match Scenario::from_yaml(text) {
        Ok(s) if s.plan().replay.is_empty() => Err(Problem::Other(
            "no session could be imported (every session found starts before the capture does)"
                .to_string(),
        )),
        Ok(_) => Ok(()),
        Err(e) if over_budget(&e) => Err(Problem::TooBig(e.to_string())),
        Err(e) => Err(Problem::Other(format!(
            "the scenario made from it does not load, which is a bug in the importer: {e}"
        ))),
    }
}

fn over_budget(e: &ScenarioError) -> bool {
    e.problems
        .iter()
        .any(|p| p.message.starts_with(load::BUDGET_BREACHED))
}

/// How many commands probably fit: the share of the text's YAML counts
/// that the budget allows, with some room.
fn estimate(text: &str, total: usize) -> usize {
    let budget = load::budget();
    let mut unlimited = budget.clone();
    unlimited.max_events = usize::MAX;
    unlimited.max_nodes = usize::MAX;
    unlimited.max_total_scalar_bytes = usize::MAX;
    let ratio = match serde_saphyr::budget::check_yaml_budget(
        text,
        unlimited,
        serde_saphyr::budget::EnforcingPolicy::AllContent,
    ) {
        Ok(r) => [
            (budget.max_events, r.events),
            (budget.max_nodes, r.nodes),
            (budget.max_total_scalar_bytes, r.total_scalar_bytes),
            (MAX_DOCUMENT_BYTES as usize, text.len()),
        ]
        .iter()
        .map(|&(limit, used)| limit as f64 / used.max(1) as f64)
        .fold(1.0, f64::min),
        Err(_) => 0.5,
    };
    ((total as f64 * ratio * 0.9) as usize).max(1)
}

fn is_command(item: &Item) -> bool {
    matches!(item.kind, ItemKind::Command(_) | ItemKind::HiddenCommand)
}

fn commands(items: &[Item]) -> usize {
    items.iter().filter(|it| is_command(it)).count()
}

/// The items up to the `left`-th command and what it sent after it (its
/// message, its TLS), with the replies to those; the end is left out.
fn first_commands(items: &[Item], left: usize) -> Vec<Item> {
    // Kept steps are a prefix of the steps, so a reply's step number says
    // whether what it answers is kept.
    let mut sent = 0;
    let mut steps = 0;
    let mut kept = Vec::new();
    for item in items {
        if is_command(item) {
            sent += 1;
        }
        let keep = match &item.kind {
            ItemKind::Reply { answers, .. } => match answers {
                Answers::Greeting => true,
                Answers::Step(n) => *n < steps,
                Answers::Unasked => sent <= left,
            },
            ItemKind::End(_) => false,
            _ => sent <= left,
        };
        if keep && item.kind.is_step() {
            steps += 1;
        }
        if keep {
            kept.push(item.clone());
        }
    }
    kept
}

/// The capture with its first `keep` commands (sessions in order), each
/// with the reply the builder paired it with, and the warning that says so.
fn cut_after(capture: &Capture, keep: usize, why: &str) -> (Capture, String) {
    let mut cut = Capture {
        sessions: Vec::new(),
        warnings: capture.warnings.clone(),
    };
    let mut left = keep;
    let mut note = String::new();
    for (i, s) in capture.sessions.iter().enumerate() {
        let total = commands(&s.items);
        if total <= left {
            left -= total;
            cut.sessions.push(s.clone());
            continue;
        }
        let dropped = capture.sessions.len() - i - 1;
        if left > 0 {
            let mut kept = CapturedSession {
                label: s.label.clone(),
                client: s.client,
                server: s.server,
                started: s.started,
                begin_missing: s.begin_missing,
                implicit_tls: s.implicit_tls,
                items: first_commands(&s.items, left),
            };
            kept.items.push(Item {
                at: None,
                kind: ItemKind::End(End::CutOff),
            });
            note = format!(
                "{}: only its first {left} of {total} commands are imported (and {dropped} later session(s) left out): the whole capture is over the scenario loader's budget ({why}); the replay ends there",
                s.label,
            );
            cut.sessions.push(kept);
        } else {
            note = format!(
                "{} and {dropped} later session(s) left out: the whole capture is over the scenario loader's budget ({why})",
                s.label
            );
        }
        break;
    }
    cut.warnings.push(note.clone());
    (cut, note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::builder::SessionBuilder;

    /// A cut keeps each kept command's own reply, wherever the pipelined
    /// wire put it, and no reply to a command it drops.
    #[test]
    fn a_cut_keeps_the_replies_paired_with_what_it_keeps() {
        let mut b = SessionBuilder::new(CapturedSession::default(), true);
        b.server_line(b"220 hi", None);
        b.command(b"EHLO c", None);
        b.server_line(b"250 hello", None);
        for line in ["MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA"] {
            b.command(line.as_bytes(), None);
        }
        for line in ["250 sender", "250 recipient", "354 go"] {
            b.server_line(line.as_bytes(), None);
        }
        b.data_end(Some(3), None, None);
        b.server_line(b"250 queued", None);
        let s = b.finish(End::ClientClosed, None);
        let cut = |left| CapturedSession {
            items: first_commands(&s.items, left),
            ..CapturedSession::default()
        };
        let two = cut(3);
        assert_eq!(
            two.commands(),
            ["EHLO c", "MAIL FROM:<a@b>", "RCPT TO:<c@d>"]
        );
        assert_eq!(
            two.replies(),
            [["220 hi"], ["250 hello"], ["250 sender"], ["250 recipient"]]
        );
        let all = cut(4);
        assert_eq!(all.data(), [(Some(3), None)]);
        assert_eq!(
            all.replies().last().map(|r| r[0].as_str()),
            Some("250 queued")
        );
        assert_eq!(all.end(), None, "the cut adds its own end");
    }
}
