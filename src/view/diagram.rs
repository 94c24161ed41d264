//! One session as an SVG sequence diagram: client | proxy | server lanes
//! for a proxy session (every change the proxy made in orange, with the
//! rule that made it), client | server for a fake server's session (a
//! replay's divergences from its capture in red). `demo --html` and the
//! control API's web UI draw with this one function and style with
//! [`CSS`].

use super::esc;
use super::story::Exchange;
use super::wrap::wrap;
use std::fmt::Write;

const NAMES: [&str; 3] = ["client", "proxy", "server"];
/// Three lanes: the page's width and where each lane is.
const WIDTH: u32 = 1200;
const XS: [u32; 3] = [170, 600, 1030];
/// Two lanes (no proxy): narrower, so the diagram is drawn larger where
/// the page is narrow (the web UI beside its list, a projector).
const WIDTH_TWO: u32 = 860;
const XS_TWO: [u32; 3] = [130, 430, 730];
/// Characters per label line between two lanes (12px monospace ≈ 7.3px each).
const LABEL: usize = 56;
/// Characters per label line between client and server (no proxy lane).
const LABEL_WIDE: usize = 76;
const LINE_H: u32 = 15;
/// The pixels a lane title's character takes (13px bold), and its line height.
const TITLE_PX: u32 = 8;
const TITLE_H: u32 = 16;

/// The widest the title box of the lane at `x` may be: the room between
/// two lanes, and within the page (`width`) on either side.
fn lane_room(x: u32, width: u32) -> u32 {
    420.min(2 * x.min(width - x) - 8)
}

/// Characters per line of the title of the lane at `x`.
fn title_chars(x: u32, width: u32) -> usize {
    ((lane_room(x, width) - 24) / TITLE_PX) as usize
}

/// Whose session it is: what the lanes are called.
#[derive(Debug, Clone)]
pub(crate) enum Lanes {
    /// Client, the proxy (its profile) and the server behind it.
    Proxy { profile: String, server: String },
    /// Client and the fake server (its scenario).
    Server { server: String },
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
    /// A replay's divergence: drawn as a red note.
    diverged: bool,
}

impl Arrow {
    fn new(from: usize, to: usize, lines: Vec<String>, full: String, leg: &'static str) -> Arrow {
        Arrow {
            from,
            to,
            lines,
            full,
            changed: false,
            note: None,
            marks: Vec::new(),
            by_words: false,
            leg,
            diverged: false,
        }
    }
}

fn label_lines(lines: &[String], width: usize) -> Vec<String> {
    let Some(first) = lines.first() else {
        return Vec::new();
    };
    // Whole, however long: a masked banner or a stripped keyword list is
    // what the page is there to show.
    let mut out = wrap(first, width, usize::MAX);
    if lines.len() > 1 {
        let rest: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.get(4..).unwrap_or(""))
            .collect();
        out.extend(wrap(&rest.join(" · "), width, usize::MAX));
    }
    out
}

/// A fake server's session: one arrow per command and reply, straight
/// between client and server.
fn server_arrows(story: &[Exchange]) -> Vec<Arrow> {
    let mut out = Vec::new();
    for x in story {
        if let Some(sent) = &x.client_sent {
            out.push(Arrow::new(0, 2, wrap(sent, LABEL_WIDE, 2), sent.clone(), "client"));
        }
        if let Some(d) = &x.diverged {
            // Narrow enough to stay on the page beside the server lane.
            let mut a = Arrow::new(2, 2, wrap(&format!("≠ {d}"), 32, 6), d.clone(), "client");
            a.diverged = true;
            out.push(a);
        }
        if let Some(saw) = &x.client_saw {
            out.push(Arrow::new(
                2,
                0,
                label_lines(saw, LABEL_WIDE),
                saw.join("\n"),
                "client",
            ));
        }
        for n in &x.notes {
            out.push(Arrow::new(2, 2, vec![n.clone()], n.clone(), "client"));
        }
    }
    out
}

fn proxy_arrows(story: &[Exchange]) -> Vec<Arrow> {
    let mut out = Vec::new();
    for x in story {
        let why = x.explain();
        if let Some(sent) = &x.client_sent {
            out.push(Arrow::new(0, 1, wrap(sent, LABEL, 2), sent.clone(), "client"));
            match &x.server_received {
                Some(r) => {
                    let mut a = Arrow::new(1, 2, wrap(r, LABEL, 2), r.clone(), "upstream");
                    a.changed = x.command_changed();
                    a.note = x.command_changed().then(|| why.clone()).flatten();
                    out.push(a);
                }
                None => {
                    let mut a = Arrow::new(
                        1,
                        1,
                        vec![format!("✕ {} kept from the server", x.label())],
                        "the proxy did not relay this command".into(),
                        "upstream",
                    );
                    a.changed = true;
                    out.push(a);
                }
            }
        }
        let words = x.word_change();
        if let Some(answered) = &x.server_answered {
            let mut a = Arrow::new(
                2,
                1,
                label_lines(answered, LABEL),
                answered.join("\n"),
                "upstream",
            );
            // What the client will not see, struck out where it was.
            a.marks = words.as_ref().map(|w| w.lost.clone()).unwrap_or_default();
            out.push(a);
        }
        if let Some(saw) = &x.client_saw {
            let changed = x.reply_changed();
            let mut a = Arrow::new(1, 0, label_lines(saw, LABEL), saw.join("\n"), "client");
            a.changed = changed;
            a.note = if changed && !x.command_changed() || x.server_received.is_none() {
                why.clone()
            } else {
                None
            };
            a.marks = words.as_ref().map(|w| w.got.clone()).unwrap_or_default();
            a.by_words = words.is_some();
            out.push(a);
        }
        for n in &x.notes {
            out.push(Arrow::new(1, 1, vec![n.clone()], n.clone(), "client"));
        }
    }
    out
}

/// The diagram of one session's story.
pub(crate) fn svg(story: &[Exchange], lanes: &Lanes) -> String {
    let (width, xs) = match lanes {
        Lanes::Proxy { .. } => (WIDTH, XS),
        Lanes::Server { .. } => (WIDTH_TWO, XS_TWO),
    };
    let (arrows, titles, shown) = match lanes {
        Lanes::Proxy { profile, server } => (
            proxy_arrows(story),
            [
                "Client".to_string(),
                format!("Proxy: {profile}"),
                format!("Server: {server}"),
            ],
            &[0usize, 1, 2][..],
        ),
        Lanes::Server { server } => (
            server_arrows(story),
            [
                "Client".to_string(),
                String::new(),
                format!("Server: {server}"),
            ],
            &[0usize, 2][..],
        ),
    };
    let heads: Vec<Vec<String>> = xs
        .iter()
        .zip(&titles)
        .map(|(x, t)| wrap(t, title_chars(*x, width), 2))
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
        r#"<svg class="seq" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="sequence diagram">"#
    );
    s.push_str(r##"<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#334"/></marker><marker id="headc" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#d9480f"/></marker></defs>"##);
    for &i in shown {
        let room = lane_room(xs[i], width);
        lane(&mut s, (i, xs[i], room), &heads[i], head_lines, head_h, height);
    }
    let mut y = top;
    for ((a, h), note) in arrows.iter().zip(heights).zip(&notes) {
        arrow(&mut s, a, (xs[a.from], xs[a.to]), note, y);
        y += h;
    }
    s.push_str("</svg>");
    s
}

/// A lane's title box and lifeline: lane `i` at `x`, its title box at most
/// `room` wide.
fn lane(
    s: &mut String,
    (i, x, room): (usize, u32, u32),
    lines: &[String],
    head_lines: u32,
    head_h: u32,
    height: u32,
) {
    let name = NAMES[i];
    // Wide enough for its longest line (13px bold ≈ 8px a character),
    // never wider than the room between two lanes.
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    let w = (longest * TITLE_PX + 24).clamp(room.min(300), room);
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

/// One arrow (or a note on a lifeline) from `x1` to `x2`, starting at `y`.
fn arrow(s: &mut String, a: &Arrow, (x1, x2): (u32, u32), note: &[String], y: u32) {
    let class = match (a.changed, a.by_words, a.diverged) {
        (_, _, true) => "msg diverged",
        (true, true, _) => "msg changed words",
        (true, false, _) => "msg changed",
        _ => "msg",
    };
    let _ = write!(
        s,
        r#"<g class="{class}" data-leg="{}" data-from="{}" data-to="{}"><title>{}</title>"#,
        a.leg,
        NAMES[a.from],
        NAMES[a.to],
        esc(&a.full)
    );
    let text_y = y + LINE_H;
    let arrow_y = y + LINE_H * a.lines.len() as u32 + 8;
    if x1 == x2 {
        // A note or a command the proxy kept: a box on the lifeline.
        let w = 26 + 7 * a.lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
        let kind = if a.changed || a.diverged { " kept" } else { "" };
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="{w}" height="{}" rx="4" class="note{kind}"/>"#,
            x1.saturating_sub(w / 2),
            y + 2,
            LINE_H * a.lines.len() as u32 + 8,
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

/// The diagram's style: in `demo --html`'s page and the web UI's sheet.
pub(crate) const CSS: &str = r#"
.legend{font-size:13px;color:#444;margin:8px 0}
.legend span{display:inline-block;padding:1px 8px;border-radius:4px;margin-right:8px}
.legend .c{background:#fff0e6;color:#d9480f;border:1px solid #d9480f}
.legend .n{background:#fff;border:1px solid #334}
.diagram{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;overflow-x:auto;padding:8px}
svg.seq{display:block;margin:0 auto;max-width:100%;height:auto;font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12px}
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
.diverged .note{fill:#fff5f5;stroke:#c92a2a}.diverged .notetext{fill:#c92a2a;font-weight:700}
.notetext{text-anchor:middle;fill:#1d2330}.kept + .notetext{fill:#d9480f;font-weight:700}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn x(sent: Option<&str>, received: Option<&str>, answered: &str, saw: &str) -> Exchange {
        Exchange {
            client_sent: sent.map(str::to_string),
            server_received: received.map(str::to_string),
            server_answered: Some(vec![answered.to_string()]),
            client_saw: Some(vec![saw.to_string()]),
            ..Exchange::default()
        }
    }

    #[test]
    fn a_proxy_change_is_marked_and_explained() {
        let story = [
            x(None, None, "220 mail.example ESMTP", "220 ****************"),
            x(Some("EHLO c"), Some("EHLO c"), "250 OK", "250 OK"),
        ];
        let lanes = Lanes::Proxy {
            profile: "pix".into(),
            server: "exchange".into(),
        };
        let svg = svg(&story, &lanes);
        assert!(svg.contains(r#"data-lane="proxy""#), "{svg}");
        assert_eq!(svg.matches(r#"class="msg changed""#).count(), 1, "{svg}");
        assert!(svg.contains("the proxy changed the banner"), "{svg}");
        assert!(svg.contains("220 ****************"), "{svg}");
    }

    #[test]
    fn a_server_session_has_two_lanes_and_shows_divergences() {
        let mut step = x(Some("MAIL FROM:<a@b>"), Some("MAIL FROM:<a@b>"), "250 OK", "250 OK");
        step.diverged = Some("diverged from captured step 3".into());
        let svg = svg(
            &[step],
            &Lanes::Server {
                server: "<b>".into(),
            },
        );
        assert!(!svg.contains(r#"data-lane="proxy""#), "{svg}");
        assert!(svg.contains(r#"class="msg diverged""#), "{svg}");
        assert!(svg.contains("Server: &lt;b&gt;"), "{svg}");
        assert!(!svg.contains("<b>"), "escaped: {svg}");
    }
}
