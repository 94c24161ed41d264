//! Swaks-style text: `<-` for what the server said, ` ->` for what the
//! client sent, `===` for connection events, `***` for trouble. On the
//! proxy's upstream leg the arrows are doubled (`<=`, ` =>`).

use super::{Closer, Event, EventKind, Leg, SessionRecord};
use owo_colors::OwoColorize;
use std::fmt::Write;

fn closer(by: Closer) -> &'static str {
    match by {
        Closer::Client => "client",
        Closer::Server => "server",
        Closer::Upstream => "upstream",
        Closer::Timeout => "idle timeout",
        Closer::Shutdown => "shutdown",
        Closer::Error => "connection error",
    }
}

/// Render one event as one or more lines (each ending in `\n`).
pub fn render_event(e: &Event, color: bool) -> String {
    let mut out = String::new();
    let id = e.session;
    let paint = |text: String, style: fn(&str) -> String| if color { style(&text) } else { text };
    match &e.kind {
        EventKind::Connect { peer, local, .. } => {
            let _ = writeln!(
                out,
                "{}",
                paint(format!("=== #{id} connected {peer} -> {local}"), |s| s
                    .bold()
                    .to_string())
            );
        }
        EventKind::Command { leg, line, bare_lf } => {
            let arrow = if *leg == Leg::Client { " ->" } else { " =>" };
            let lf = if *bare_lf { "  [bare LF]" } else { "" };
            let _ = writeln!(
                out,
                "{}",
                paint(format!("#{id} {arrow} {}{lf}", line.text()), |s| s
                    .cyan()
                    .to_string())
            );
        }
        EventKind::Reply {
            leg,
            code,
            lines,
            rule,
            original,
        } => {
            let arrow = if *leg == Leg::Client { "<- " } else { "<= " };
            let style: fn(&str) -> String = match code / 100 {
                2 | 3 => |s| s.green().to_string(),
                4 => |s| s.yellow().to_string(),
                _ => |s| s.red().to_string(),
            };
            if let Some(orig) = original {
                for l in orig {
                    let _ = writeln!(
                        out,
                        "{}",
                        paint(format!("#{id} {arrow}  (was) {l}"), |s| s
                            .dimmed()
                            .to_string())
                    );
                }
            }
            for l in lines {
                let _ = writeln!(out, "{}", paint(format!("#{id} {arrow} {l}"), style));
            }
            if let Some(rule) = rule {
                let _ = writeln!(
                    out,
                    "{}",
                    paint(format!("#{id}     (by {rule})"), |s| s.dimmed().to_string())
                );
            }
        }
        EventKind::Data {
            leg,
            size,
            bare_lf,
            end_of_data,
            bare_newlines,
            bare_count,
        } => {
            let arrow = if *leg == Leg::Client { " ->" } else { " =>" };
            let lf = if *bare_lf { ", bare LF seen" } else { "" };
            let shape = data_shape(end_of_data.as_deref(), bare_newlines, *bare_count);
            let _ = writeln!(
                out,
                "{}",
                paint(
                    format!("#{id} {arrow} <message: {size} octets{lf}{shape}>"),
                    |s| s.cyan().to_string()
                )
            );
        }
        EventKind::Message {
            queue_id,
            from,
            to,
            size,
        } => {
            let _ = writeln!(
                out,
                "{}",
                paint(
                    format!(
                        "=== #{id} stored {queue_id}: <{from}> -> <{}> ({size} octets)",
                        to.join(">, <")
                    ),
                    |s| s.bold().to_string()
                )
            );
        }
        EventKind::Note { text } => {
            let _ = writeln!(
                out,
                "{}",
                paint(format!("*** #{id} {text}"), |s| s.magenta().to_string())
            );
        }
        EventKind::Control { action, detail } => {
            let who = if id == 0 {
                "control".to_string()
            } else {
                format!("#{id} control")
            };
            let _ = writeln!(
                out,
                "{}",
                paint(format!("*** {who}: {action}: {detail}"), |s| s
                    .magenta()
                    .bold()
                    .to_string())
            );
        }
        EventKind::Tls {
            version,
            cipher,
            sni,
        } => {
            let sni = sni
                .as_deref()
                .map(|n| format!(", SNI {n}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{}",
                paint(
                    format!("=== #{id} TLS started: {version}, {cipher}{sni}"),
                    |s| s.bold().to_string()
                )
            );
        }
        EventKind::Divergence {
            step,
            expected,
            got,
        } => {
            let _ = writeln!(
                out,
                "{}",
                paint(
                    format!(
                        "*** #{id} diverged at captured step {step}: expected {expected:?}, got {got:?}"
                    ),
                    |s| s.yellow().bold().to_string()
                )
            );
        }
        EventKind::Close { by } => {
            let _ = writeln!(
                out,
                "{}",
                paint(format!("=== #{id} closed by {}", closer(*by)), |s| s
                    .bold()
                    .to_string())
            );
        }
        EventKind::Abort {
            by,
            during,
            received,
            ..
        } => {
            let _ = writeln!(
                out,
                "{}",
                paint(
                    format!(
                        "*** #{id} aborted by {} during {during} after {received} octets",
                        closer(*by)
                    ),
                    |s| s.red().bold().to_string()
                )
            );
        }
    }
    out
}

/// Render a whole session.
pub fn render_session(s: &SessionRecord, color: bool) -> String {
    s.events.iter().map(|e| render_event(e, color)).collect()
}
/// `, ended by <LF>.<CRLF> (non-standard), bare LF at 5, CR at 9`: how a
/// message ended when not as RFC 5321 says, and where its bare newlines were.
fn data_shape(end: Option<&str>, bare: &[super::event::BareMark], count: usize) -> String {
    let mut out = String::new();
    if let Some(end) = end {
        if end.starts_with("bare ") {
            let _ = write!(out, ", {end}");
        } else {
            let _ = write!(out, ", ended by {end} (non-standard)");
        }
    }
    if !bare.is_empty() {
        let marks: Vec<String> = bare
            .iter()
            .map(|b| format!("{} at {}", b.kind.to_ascii_uppercase(), b.at))
            .collect();
        let _ = write!(out, ", bare {}", marks.join(", "));
        if count > bare.len() {
            let _ = write!(out, " … ({count} in all)");
        }
    }
    out
}

