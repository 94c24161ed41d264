//! The page: one self-contained HTML file (inline CSS and SVG, no scripts,
//! no network resources) telling the proxied session as a sequence diagram
//! — client | proxy | server lanes, one arrow per command and reply, every
//! change the proxy made in orange with the rule that made it — above the
//! probe's verdict for both paths.

use super::{Demo, Exchange, keywords};
use crate::probe::{Report, Status};
use crate::view::diagram::{self, Lanes};
use crate::view::esc;
use std::fmt::Write;

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
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>smtp-harness demo: {}</title><style>{CSS}{}</style></head><body>",
        esc(&title),
        diagram::CSS
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
        diagram::svg(
            &d.through,
            &Lanes::Proxy {
                profile: d.profile.clone(),
                server: d.server.1.clone(),
            }
        )
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
    let direct_kw = keywords(&d.direct);
    let through_kw = keywords(&d.through);
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
