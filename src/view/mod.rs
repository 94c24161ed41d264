//! Sessions drawn for people: the story of a session (`story`: what each
//! side sent and saw, what a proxy changed and why) and its sequence
//! diagram (`diagram`, an SVG). One rendering for `demo --html` and the
//! control API's web UI. Pure functions of a [`SessionRecord`]; no I/O.
//!
//! What is drawn is what the transcript recorded, so secrets are already
//! gone: AUTH payloads and SASL responses are recorded redacted.

pub(crate) mod diagram;
pub(crate) mod story;
pub(crate) mod wrap;

use crate::transcript::SessionRecord;
use diagram::Lanes;
use std::fmt::Write;

/// Escape for HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// One session as an HTML fragment (no scripts, no inline styles): a line
/// of what the client saw at each step, what changed, and the diagram.
pub(crate) fn session_fragment(record: &SessionRecord, lanes: &Lanes) -> String {
    let story = match lanes {
        Lanes::Proxy { .. } => story::from_proxy(record),
        Lanes::Server { .. } => story::from_server(record),
    };
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<section class="session-view" data-session="{}">"#,
        record.id
    );
    let steps: Vec<String> = story
        .iter()
        .map(|x| format!("{} {}", x.label(), x.client_code().unwrap_or("-")))
        .collect();
    let _ = write!(
        h,
        r#"<p class="steps"><b>What the client saw:</b> {}</p>"#,
        esc(&steps.join(" · "))
    );
    match lanes {
        Lanes::Proxy { .. } => {
            let changes: Vec<String> = story
                .iter()
                .filter(|x| x.changed())
                .map(story::Exchange::label)
                .collect();
            let _ = write!(
                h,
                r#"<p class="legend"><span class="n">→ relayed unchanged</span><span class="c">→ changed by the proxy</span>{} change(s): {}</p>"#,
                changes.len(),
                esc(&changes.join(", "))
            );
        }
        Lanes::Server { .. } => {
            let diverged = story.iter().filter(|x| x.diverged.is_some()).count();
            if diverged > 0 {
                let _ = write!(
                    h,
                    r#"<p class="legend diverged-count"><span class="c">≠ diverged from the capture</span>{diverged} step(s)</p>"#
                );
            }
        }
    }
    let _ = write!(
        h,
        r#"<div class="diagram">{}</div></section>"#,
        diagram::svg(&story, lanes)
    );
    h
}
