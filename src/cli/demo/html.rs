//! The page: one self-contained HTML file (inline CSS and SVG, no scripts,
//! no network resources) telling the proxied session as a sequence diagram
//! — client | proxy | server lanes, one arrow per command and reply, every
//! change the proxy made in orange with the rule that made it — above the
//! probe's verdict for both paths.

use super::text::wrap;
use super::{Demo, Exchange, story};
use crate::probe::{Report, Status};
use std::fmt::Write;

const WIDTH: u32 = 1200;
const LANES: [(&str, u32); 3] = [("client", 170), ("proxy", 600), ("server", 1030)];
/// Characters per label line between two lanes (12px monospace ≈ 7.3px each).
const LABEL: usize = 56;
const LINE_H: u32 = 15;
/// The pixels a lane title's character takes (13px bold), and its line height.
const TITLE_PX: u32 = 8;
const TITLE_H: u32 = 16;

/// The widest the title box of the lane at `x` may be: the room between
/// two lanes, and within the page on either side.
fn lane_room(x: u32) -> u32 {
    420.min(2 * x.min(WIDTH - x) - 8)
}

/// Characters per line of the title of the lane at `x`.
fn title_chars(x: u32) -> usize {
    ((lane_room(x) - 24) / TITLE_PX) as usize
}

/// Escape for HTML text and attribute values.
pub fn esc(s: &str) -> String {
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

/// One arrow.
struct Arrow {
    from: usize,
    to: usize,
    /// Display lines.
    lines: Vec<String>,
    /// The whole text (tooltip).
    full: String,
    changed: bool,
    /// Under the arrow, for changed ones.
    note: Option<String>,
    /// Words to mark in the label (the proxy took or put these), when the
    /// change was a few words and not the whole label.
    marks: Vec<String>,
    /// Changed by a few words ([`Arrow::marks`]): the arrow is marked, its
    /// label only where the words are.
    by_words: bool,
    /// `client` or `upstream`.
    leg: &'static str,
}

fn label_lines(lines: &[String]) -> Vec<String> {
    let Some(first) = lines.first() else {
        return Vec::new();
    };
    // Whole, however long: a masked banner or a stripped keyword list is
    // what the page is there to show.
    let mut out = wrap(first, LABEL, usize::MAX);
    if lines.len() > 1 {
        let rest: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.get(4..).unwrap_or(""))
            .collect();
        out.extend(wrap(&rest.join(" · "), LABEL, usize::MAX));
    }
    out
}

fn arrows(story: &[Exchange]) -> Vec<Arrow> {
    let mut out = Vec::new();
    for x in story {
        let why = x.explain();
        if let Some(sent) = &x.client_sent {
            out.push(Arrow {
                from: 0,
                to: 1,
                lines: wrap(sent, LABEL, 2),
                full: sent.clone(),
                changed: false,
                note: None,
                marks: Vec::new(),
                by_words: false,
                leg: "client",
            });
            match &x.server_received {
                Some(r) => out.push(Arrow {
                    from: 1,
                    to: 2,
                    lines: wrap(r, LABEL, 2),
                    full: r.clone(),
                    changed: x.command_changed(),
                    note: x.command_changed().then(|| why.clone()).flatten(),
                    marks: Vec::new(),
                    by_words: false,
                    leg: "upstream",
                }),
                None => out.push(Arrow {
                    from: 1,
                    to: 1,
                    lines: vec![format!("✕ {} kept from the server", x.label())],
                    full: "the proxy did not relay this command".into(),
                    changed: true,
                    note: None,
                    marks: Vec::new(),
                    by_words: false,
                    leg: "upstream",
                }),
            }
        }
        let words = x.word_change();
        if let Some(a) = &x.server_answered {
            out.push(Arrow {
                from: 2,
                to: 1,
                lines: label_lines(a),
                full: a.join("\n"),
                changed: false,
                note: None,
                // What the client will not see, struck out where it was.
                marks: words.as_ref().map(|w| w.lost.clone()).unwrap_or_default(),
                by_words: false,
                leg: "upstream",
            });
        }
        if let Some(s) = &x.client_saw {
            let changed = x.reply_changed();
            out.push(Arrow {
                from: 1,
                to: 0,
                lines: label_lines(s),
                full: s.join("\n"),
                changed,
                note: if changed && !x.command_changed() || x.server_received.is_none() {
                    why.clone()
                } else {
                    None
                },
                marks: words.as_ref().map(|w| w.got.clone()).unwrap_or_default(),
                by_words: words.is_some(),
                leg: "client",
            });
        }
        for n in &x.notes {
            out.push(Arrow {
                from: 1,
                to: 1,
                lines: vec![n.clone()],
                full: n.clone(),
                changed: false,
                note: None,
                marks: Vec::new(),
                by_words: false,
                leg: "client",
            });
        }
    }
    out
}

fn svg(story: &[Exchange], profile: &str, server: &str) -> String {
    let arrows = arrows(story);
    let titles = [
        "Client".to_string(),
        format!("Proxy: {profile}"),
        format!("Server: {server}"),
    ];
    let heads: Vec<Vec<String>> = LANES
        .iter()
        .zip(&titles)
        .map(|((_, x), t)| wrap(t, title_chars(*x), 2))
        .collect();
    let head_lines = heads.iter().map(Vec::len).max().unwrap_or(1) as u32;
    let head_h = 34 + TITLE_H * (head_lines - 1);
    let top = 36 + head_h;
    // A caption is wrapped like a label, so it stays between its lanes,
    // and its lines are counted, so the next arrow starts below it.
    let notes: Vec<Vec<String>> = arrows
        .iter()
        .map(|a| {
            a.note
                .as_ref()
                .map(|n| wrap(&format!("▲ {n}"), LABEL, usize::MAX))
                .unwrap_or_default()
        })
        .collect();
    let heights: Vec<u32> = arrows
        .iter()
        .zip(&notes)
        .map(|(a, n)| 26 + LINE_H * (a.lines.len() + n.len()) as u32)
        .collect();
    let height = top + heights.iter().sum::<u32>() + 30;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="seq" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="sequence diagram">"#
    );
    s.push_str(r##"<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#334"/></marker><marker id="headc" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#d9480f"/></marker></defs>"##);
    for ((name, x), lines) in LANES.iter().zip(&heads) {
        // Wide enough for its longest line (13px bold ≈ 8px a character),
        // never wider than the room between two lanes.
        let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
        let w = (longest * TITLE_PX + 24).clamp(300, lane_room(*x));
        let _ = write!(
            s,
            r#"<g class="lane" data-lane="{name}"><line x1="{x}" y1="{y1}" x2="{x}" y2="{y2}" class="lifeline"/><rect x="{rx}" y="10" width="{w}" height="{head_h}" rx="6" class="lanehead lanehead-{name}"/>"#,
            y1 = 10 + head_h,
            y2 = height - 10,
            rx = x - w / 2,
        );
        for (i, l) in lines.iter().enumerate() {
            let _ = write!(
                s,
                r#"<text x="{x}" y="{}" class="lanetitle">{}</text>"#,
                // Centred in a box made for the tallest title.
                32 + TITLE_H * i as u32 + TITLE_H * (head_lines - lines.len() as u32) / 2,
                esc(l)
            );
        }
        s.push_str("</g>");
    }
    let mut y = top;
    for ((a, h), note) in arrows.iter().zip(heights).zip(&notes) {
        let (x1, x2) = (LANES[a.from].1, LANES[a.to].1);
        let class = match (a.changed, a.by_words) {
            (true, true) => "msg changed words",
            (true, false) => "msg changed",
            _ => "msg",
        };
        let _ = write!(
            s,
            r#"<g class="{class}" data-leg="{}" data-from="{}" data-to="{}"><title>{}</title>"#,
            a.leg,
            LANES[a.from].0,
            LANES[a.to].0,
            esc(&a.full)
        );
        let text_y = y + LINE_H;
        let arrow_y = y + LINE_H * a.lines.len() as u32 + 8;
        if x1 == x2 {
            // A note or a command the proxy kept: a box on the proxy's lifeline.
            let w = 26 + 7 * a.lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="{w}" height="{}" rx="4" class="note{}"/>"#,
                x1 - w / 2,
                y + 2,
                LINE_H * a.lines.len() as u32 + 8,
                if a.changed { " kept" } else { "" }
            );
            for (i, l) in a.lines.iter().enumerate() {
                let _ = write!(
                    s,
                    r#"<text x="{x1}" y="{}" class="notetext">{}</text>"#,
                    text_y + 2 + LINE_H * i as u32,
                    esc(l)
                );
            }
        } else {
            let mid = (x1 + x2) / 2;
            for (i, l) in a.lines.iter().enumerate() {
                let _ = write!(
                    s,
                    r#"<text x="{mid}" y="{}" class="label">{}</text>"#,
                    text_y + LINE_H * i as u32,
                    marked(l, &a.marks)
                );
            }
            let (sx, ex) = if x2 > x1 {
                (x1 + 4, x2 - 6)
            } else {
                (x1 - 4, x2 + 6)
            };
            let marker = if a.changed { "headc" } else { "head" };
            let _ = write!(
                s,
                r##"<line x1="{sx}" y1="{arrow_y}" x2="{ex}" y2="{arrow_y}" class="arrow" marker-end="url(#{marker})"/>"##
            );
            for (i, n) in note.iter().enumerate() {
                let _ = write!(
                    s,
                    r#"<text x="{mid}" y="{}" class="why">{}</text>"#,
                    arrow_y + LINE_H * (i as u32 + 1),
                    esc(n)
                );
            }
        }
        s.push_str("</g>");
        y += h;
    }
    s.push_str("</svg>");
    s
}

/// A label line with the words in `marks` in a `mark` span.
fn marked(line: &str, marks: &[String]) -> String {
    line.split(' ')
        .map(|w| {
            if marks.iter().any(|m| m == w) {
                format!(r#"<tspan class="mark">{}</tspan>"#, esc(w))
            } else {
                esc(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn verdict_card(title: &str, r: &Report) -> String {
    let class = match r.verdict.status {
        Status::Clean => "clean",
        Status::Finding => "finding",
        Status::CouldNotProbe => "unknown",
    };
    let mut s = format!(
        r#"<div class="card {class}"><h3>{}</h3><p class="verdict">{}</p>"#,
        esc(title),
        esc(&r.verdict.summary)
    );
    if !r.evidence.is_empty() {
        s.push_str("<ul>");
        for e in &r.evidence {
            let _ = write!(s, "<li><b>{}</b>: {}</li>", esc(&e.label), esc(&e.detail));
        }
        s.push_str("</ul>");
    }
    s.push_str("</div>");
    s
}

const CSS: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f6f7f9;margin:0;padding:24px 32px}
h1{font-size:24px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 8px}h3{margin:0 0 6px;font-size:15px}
p.lead{max-width:980px;color:#444;margin:0 0 14px}
.cards{display:flex;gap:16px;flex-wrap:wrap}
.card{flex:1 1 420px;background:#fff;border-radius:8px;padding:12px 16px;border-left:6px solid #999;box-shadow:0 1px 3px #0002}
.card.clean{border-color:#2b8a3e}.card.finding{border-color:#c92a2a}.card.unknown{border-color:#e8a100}
.card .verdict{font-weight:600;margin:0 0 6px}.card.clean .verdict{color:#2b8a3e}.card.finding .verdict{color:#c92a2a}
.card ul{margin:0;padding-left:20px;font-size:13px;color:#333}
.legend{font-size:13px;color:#444;margin:8px 0}
.legend span{display:inline-block;padding:1px 8px;border-radius:4px;margin-right:8px}
.legend .c{background:#fff0e6;color:#d9480f;border:1px solid #d9480f}
.legend .n{background:#fff;border:1px solid #334}
.diagram{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;overflow-x:auto;padding:8px}
svg.seq{display:block;margin:0 auto;font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12px}
.lifeline{stroke:#c5cad3;stroke-width:2;stroke-dasharray:6 5}
.lanehead{fill:#e7ecf5;stroke:#7a8aa6}.lanehead-proxy{fill:#fff0e6;stroke:#d9480f}
.lanetitle{text-anchor:middle;font-weight:700;font-size:13px;fill:#1d2330;font-family:system-ui,sans-serif}
.label{text-anchor:middle;fill:#1d2330;white-space:pre}
.arrow{stroke:#334;stroke-width:1.6}
.changed .arrow{stroke:#d9480f;stroke-width:2.6}.changed .label{fill:#d9480f;font-weight:700}
.why{text-anchor:middle;fill:#d9480f;font-style:italic;font-family:system-ui,sans-serif}
.changed.words .label{fill:#1d2330;font-weight:400}
.mark{fill:#d9480f;font-weight:700;text-decoration:underline}
[data-from="server"] .mark{text-decoration:line-through}
.note{fill:#eef6ee;stroke:#2b8a3e}.note.kept{fill:#fff0e6;stroke:#d9480f}
.notetext{text-anchor:middle;fill:#1d2330}.kept + .notetext{fill:#d9480f;font-weight:700}
table.codes{border-collapse:collapse;font-size:13px;background:#fff}
table.codes td,table.codes th{border:1px solid #d5d9e0;padding:3px 8px;text-align:left;font-family:ui-monospace,monospace}
footer{margin-top:24px;font-size:12px;color:#666}
"#;

/// The page.
pub fn render(d: &Demo) -> String {
    let mut h = String::new();
    let title = format!("{} behind {}", d.server.1, d.profile);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>smtp-harness demo: {}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = write!(
        h,
        "<h1>What <code>{}</code> does to a mail session</h1><p class=\"lead\">A mail client sends the same message twice to {}: once straight to the server, once through the proxy. The diagram shows the proxied session on both legs: what the client sent and saw on the left, what the server received and answered on the right. Orange marks every change the proxy made.</p>",
        esc(&d.profile),
        esc(&d.server.1)
    );
    h.push_str("<div class=\"cards\">");
    h.push_str(&verdict_card(
        "Probe, straight to the server",
        &d.probe_direct,
    ));
    h.push_str(&verdict_card(
        &format!("Probe, through {}", d.profile),
        &d.probe_through,
    ));
    h.push_str("</div>");
    let changes: Vec<String> = d
        .through
        .iter()
        .filter(|x| x.changed())
        .map(Exchange::label)
        .collect();
    let _ = write!(
        h,
        "<h2>The session through the proxy</h2><p class=\"legend\"><span class=\"n\">→ relayed unchanged</span><span class=\"c\">→ changed by the proxy</span>{} change(s): {}</p>",
        changes.len(),
        esc(&changes.join(", "))
    );
    let _ = write!(
        h,
        "<div class=\"diagram\">{}</div>",
        svg(&d.through, &d.profile, &d.server.1)
    );
    if let Some(e) = &d.through_error {
        let _ = write!(h, "<p><b>The client stopped:</b> {}</p>", esc(e));
    }
    h.push_str("<h2>Both paths at a glance</h2><table class=\"codes\"><tr><th>path</th><th>steps (what the client saw)</th></tr>");
    for (name, st) in [("direct", &d.direct), ("through the proxy", &d.through)] {
        let steps: Vec<String> = st
            .iter()
            .map(|x| format!("{} {}", x.label(), x.client_code().unwrap_or("-")))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{name}</td><td>{}</td></tr>",
            esc(&steps.join(" · "))
        );
    }
    h.push_str("</table>");
    let direct_kw = story::keywords(&d.direct);
    let through_kw = story::keywords(&d.through);
    let lost: Vec<&str> = direct_kw
        .iter()
        .filter(|k| !k.eq_ignore_ascii_case("OK"))
        .filter(|k| !through_kw.iter().any(|t| t.eq_ignore_ascii_case(k)))
        .map(String::as_str)
        .collect();
    if !lost.is_empty() {
        let _ = write!(
            h,
            "<p><b>Extensions the client lost through the proxy ({}):</b> {}</p>",
            lost.len(),
            esc(&lost.join(", "))
        );
    }
    h.push_str("<footer>Made by <code>smtp-harness demo</code>. Self-contained: no scripts, no network resources.</footer></body></html>\n");
    h
}
