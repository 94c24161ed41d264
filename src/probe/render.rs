//! A report as text for people: the verdict first, then each finding with
//! its evidence, then what was seen step by step. Fits 80 columns.

use super::report::{BannerKind, Dir, Report, StarttlsStatus, Status, VerbStatus};
use owo_colors::OwoColorize;
use std::fmt::Write;

fn paint(on: bool, text: &str, f: fn(&str) -> String) -> String {
    if on { f(text) } else { text.to_string() }
}

/// Cut to `width` characters, marking the cut with `…`.
pub(crate) fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The report as text; `color` adds ANSI colours; `transcript` appends
/// every line sent and received.
pub fn render_text(r: &Report, color: bool, transcript: bool) -> String {
    let mut out = String::new();
    let verdict = match r.verdict.status {
        Status::Clean => paint(color, &r.verdict.summary, |s| s.green().bold().to_string()),
        Status::Finding => paint(color, &r.verdict.summary, |s| s.red().bold().to_string()),
        Status::CouldNotProbe => {
            paint(color, &r.verdict.summary, |s| s.yellow().bold().to_string())
        }
    };
    let _ = writeln!(
        out,
        "{}  {verdict}",
        paint(color, &r.target, |s| s.bold().to_string())
    );
    for e in &r.evidence {
        let mark = if e.proxy { "!" } else { "?" };
        let _ = writeln!(
            out,
            "  {mark} {}",
            paint(color, &e.label, |s| s.bold().to_string())
        );
        for l in wrap(&e.detail, 74) {
            let _ = writeln!(out, "      {l}");
        }
    }
    if let Some(b) = &r.banner {
        let kind = match b.kind {
            BannerKind::Masked => "masked (PIX/ASA sanitized)".to_string(),
            BannerKind::ThirdParty => {
                format!("third party: {}", b.product.as_deref().unwrap_or("?"))
            }
            BannerKind::Microsoft => "Microsoft ESMTP".to_string(),
            BannerKind::Other => "other".to_string(),
        };
        let exchange = b
            .exchange
            .as_ref()
            .map(|g| format!(", Exchange {g}"))
            .unwrap_or_default();
        let version = b
            .version
            .as_ref()
            .map(|v| format!(" v{v}"))
            .unwrap_or_default();
        let _ = writeln!(out, "\nbanner     {kind}{exchange}{version}");
        for l in &b.lines {
            let _ = writeln!(out, "           {}", clip(&format!("{} {l}", b.code), 68));
        }
    }
    if let Some(g) = &r.greeting {
        let ehlo = g.ehlo.as_ref().map(|x| x.first_line()).unwrap_or_default();
        if g.ehlo_accepted {
            let _ = writeln!(out, "EHLO       accepted, {} keyword(s)", g.keywords.len());
            for l in wrap(&g.keywords.join(", "), 68) {
                let _ = writeln!(out, "           {l}");
            }
        } else {
            let _ = writeln!(out, "EHLO       refused: {}", clip(&ehlo, 57));
            if let Some(h) = &g.helo {
                let _ = writeln!(out, "HELO       {}", clip(&h.first_line(), 68));
            }
        }
    }
    if let Some(t) = &r.starttls {
        let status = match t.status {
            StarttlsStatus::Works => "works",
            StarttlsStatus::NotOffered => "not offered",
            StarttlsStatus::Stripped => "STRIPPED",
            StarttlsStatus::Broken => "BROKEN",
            StarttlsStatus::NotChecked => "not checked",
        };
        let tls = t
            .handshake
            .as_ref()
            .and_then(|h| h.info.as_ref())
            .map(|i| format!(" ({} {})", i.version, i.cipher))
            .unwrap_or_default();
        let _ = writeln!(out, "STARTTLS   {status}{tls}");
        for l in wrap(&t.reason, 68) {
            let _ = writeln!(out, "           {l}");
        }
    }
    if !r.verbs.is_empty() {
        let _ = writeln!(out, "verbs");
        for v in &r.verbs {
            let status = match (v.filtered, v.status) {
                (true, _) => "FILTERED",
                (_, VerbStatus::Answered) => "ok",
                (_, VerbStatus::NotImplemented) => "not implemented",
                (_, VerbStatus::Unrecognized) => "unknown",
                (_, VerbStatus::NoReply) => "no reply",
            };
            let reply = v.reply.as_ref().map(|x| x.first_line()).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<26} {:<16} {}",
                clip(&v.sent, 26),
                status,
                clip(&reply, 32)
            );
        }
    }
    if let Some(m) = &r.test_message {
        let result = if m.accepted {
            "accepted".to_string()
        } else {
            format!("not accepted: {}", m.error.as_deref().unwrap_or("?"))
        };
        let _ = writeln!(
            out,
            "test mail  {} -> {}: {}",
            m.from,
            m.to,
            clip(&result, 50)
        );
    }
    if transcript && !r.transcript.is_empty() {
        let _ = writeln!(out, "\ntranscript");
        for l in &r.transcript {
            let arrow = match l.dir {
                Dir::Sent => " ->",
                Dir::Received => "<- ",
                Dir::Note => "   ",
            };
            let _ = writeln!(out, "  {arrow} {}", clip(&l.text, 74));
        }
    }
    out
}

/// Greedy word wrap.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&clip(word, width));
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
