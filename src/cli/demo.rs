//! `smtp-harness demo`: the same client session twice — straight to a fake
//! Exchange 2003 and through a PIX Mailguard — printed side by side with
//! every difference marked.

use super::args::DemoArgs;
use owo_colors::OwoColorize;
use smtp_harness::client::{ClientError, SmtpClient};
use smtp_harness::{MockServer, Scenario};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// One line of a client's view of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Sent(String),
    Got(String),
    Note(String),
}

impl Line {
    fn text(&self) -> String {
        match self {
            Line::Sent(s) => format!(" -> {s}"),
            Line::Got(s) => format!("<-  {s}"),
            Line::Note(s) => format!("*** {s}"),
        }
    }
}

/// What a typical MTA does: EHLO, HELO if that is refused, one message, QUIT.
async fn client_session(addr: SocketAddr) -> Result<Vec<Line>, ClientError> {
    let mut out = Vec::new();
    let mut c = SmtpClient::connect(addr, Duration::from_secs(10)).await?;
    let got = |out: &mut Vec<Line>, r: smtp_harness::Reply| {
        let text = r.to_string();
        out.extend(text.lines().map(|l| Line::Got(l.to_string())));
        r
    };
    got(&mut out, c.read_reply().await?);
    let step = async |out: &mut Vec<Line>, c: &mut SmtpClient, line: &str| {
        out.push(Line::Sent(line.to_string()));
        c.command(line).await.map(|r| got(out, r))
    };
    let ehlo = step(&mut out, &mut c, "EHLO client.contoso.com").await?;
    if ehlo.code >= 500 {
        out.push(Line::Note("EHLO refused: falling back to HELO".into()));
        step(&mut out, &mut c, "HELO client.contoso.com").await?;
    }
    step(&mut out, &mut c, "MAIL FROM:<alice@contoso.com>").await?;
    step(&mut out, &mut c, "RCPT TO:<administrator@adatum.com>").await?;
    let data = step(&mut out, &mut c, "DATA").await?;
    if data.code == 354 {
        out.push(Line::Sent("<message: Subject: firewall demo>".into()));
        let r = c
            .send_message(b"Subject: firewall demo\r\n\r\nHello through the firewall.\r\n")
            .await?;
        got(&mut out, r);
    }
    step(&mut out, &mut c, "QUIT").await?;
    Ok(out)
}

const WIDTH: usize = 58;

/// Split a session into exchanges: a command (or note, or the banner) and
/// the replies that follow it.
fn exchanges(lines: &[Line]) -> Vec<Vec<Line>> {
    let mut out: Vec<Vec<Line>> = Vec::new();
    for line in lines {
        match (line, out.last_mut()) {
            (Line::Got(_), Some(last)) => last.push(line.clone()),
            _ => out.push(vec![line.clone()]),
        }
    }
    out
}

/// Pair up exchanges with the same opening line (longest common
/// subsequence), so a step one side skipped shows as a gap, not as every
/// later line differing.
fn align(a: &[Vec<Line>], b: &[Vec<Line>]) -> Vec<(Vec<Line>, Vec<Line>)> {
    let key = |x: &Vec<Line>| match &x[0] {
        Line::Got(_) => "banner".to_string(),
        other => other.text(),
    };
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if key(&a[i]) == key(&b[j]) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && key(&a[i]) == key(&b[j]) {
            out.push((a[i].clone(), b[j].clone()));
            (i, j) = (i + 1, j + 1);
        } else if j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push((a[i].clone(), Vec::new()));
            i += 1;
        } else {
            out.push((Vec::new(), b[j].clone()));
            j += 1;
        }
    }
    out
}

fn clip(s: &str) -> String {
    if s.chars().count() <= WIDTH {
        format!("{s:WIDTH$}")
    } else {
        let cut: String = s.chars().take(WIDTH - 1).collect();
        format!("{cut}…")
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let color = super::serve::color_enabled(args.color);
    let runtime = tokio::runtime::Runtime::new()?;
    let (direct, through) = runtime.block_on(async {
        let exchange = MockServer::start(Scenario::bundled("exchange-2003")?).await?;
        let firewall = MockServer::start(Scenario::bundled(&args.profile)?).await?;
        let direct = client_session(exchange.addr()).await?;
        let through = client_session(firewall.addr()).await?;
        anyhow::Ok((direct, through))
    })?;
    println!(
        "smtp-harness demo: one client session, straight to Exchange 2003 and through `{}`\n",
        args.profile
    );
    let header = format!(
        "{}   {}",
        clip("direct to the server"),
        clip(&format!("through {}", args.profile))
    );
    println!(
        "{}",
        if color {
            header.bold().to_string()
        } else {
            header
        }
    );
    let mut changes = 0;
    for (left, right) in align(&exchanges(&direct), &exchanges(&through)) {
        for i in 0..left.len().max(right.len()) {
            let l = left.get(i).map(Line::text).unwrap_or_default();
            let r = right.get(i).map(Line::text).unwrap_or_default();
            let differs = l != r;
            changes += usize::from(differs);
            let mark = if differs { "≠" } else { " " };
            let line = format!("{} {mark} {}", clip(&l), clip(&r));
            println!(
                "{}",
                if color && differs {
                    line.yellow().to_string()
                } else {
                    line
                }
            );
        }
    }
    println!("\n{changes} line(s) differ.");
    let banner_masked = through.iter().any(|l| matches!(l, Line::Got(s) if s.starts_with("220 ") && s[4..].chars().all(|c| matches!(c, '*' | '0' | '2' | ' '))));
    let ehlo_refused = through.iter().any(|l| matches!(l, Line::Note(_)));
    let mut evidence = Vec::new();
    if banner_masked {
        evidence.push("masked banner");
    }
    if ehlo_refused {
        evidence.push("EHLO refused, HELO fallback");
    }
    if evidence.is_empty() {
        println!("verdict through {}: no interference seen", args.profile);
    } else {
        println!(
            "verdict through {}: possible SMTP proxy ({})",
            args.profile,
            evidence.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
