//! Differential test: the same command sequences sent to a real Postfix
//! (Debian's package, an instance of its own, see `common::postfix`) and to
//! `MockServer` running the bundled `postfix-default` scenario must get the
//! same replies, line for line, once queue ids are normalised. The method
//! is in docs/fidelity.md.

mod common;

use common::postfix::{Postfix, PostfixBuilder};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One thing the client does.
#[derive(Clone)]
enum Step {
    /// A command line (CRLF added), then one reply.
    Line(String),
    /// These octets as they are, then this many replies.
    Raw(Vec<u8>, usize),
}

/// A named sequence, sent on a fresh connection after the banner.
struct Sequence {
    name: &'static str,
    steps: Vec<Step>,
}

fn seq<S: AsRef<str>>(name: &'static str, lines: &[S]) -> Sequence {
    Sequence {
        name,
        steps: lines
            .iter()
            .map(|l| Step::Line(l.as_ref().to_string()))
            .collect(),
    }
}

fn raw<S: AsRef<str>>(name: &'static str, before: &[S], bytes: &[u8], replies: usize) -> Sequence {
    let mut steps: Vec<Step> = before
        .iter()
        .map(|l| Step::Line(l.as_ref().to_string()))
        .collect();
    steps.push(Step::Raw(bytes.to_vec(), replies));
    Sequence { name, steps }
}

/// No command before the octets.
const NONE: &[&str] = &[];

/// EHLO, MAIL and RCPT accepted.
const TX: &[&str] = &[
    "EHLO client.example",
    "MAIL FROM:<a@example.org>",
    "RCPT TO:<b@example.com>",
];

/// A transaction, then `more`.
fn tx(more: &[&str]) -> Vec<String> {
    TX.iter().chain(more).map(|s| s.to_string()).collect()
}

fn sequences() -> Vec<Sequence> {
    let mut all = greeting_sequences();
    all.extend(mail_sequences());
    all.extend(rcpt_sequences());
    all.extend(data_sequences());
    all.extend(other_verb_sequences());
    all.extend(syntax_sequences());
    all
}

fn greeting_sequences() -> Vec<Sequence> {
    vec![
        seq("quit at once", &["QUIT"]),
        seq("ehlo", &["EHLO client.example"]),
        seq("helo", &["HELO client.example"]),
        seq("helo alone", &["HELO"]),
        seq("ehlo alone", &["EHLO"]),
        seq("ehlo twice", &["EHLO a.example", "EHLO b.example"]),
        seq("helo then ehlo", &["HELO a.example", "EHLO b.example"]),
        seq("ehlo address literal", &["EHLO [127.0.0.1]"]),
        seq("helo two words", &["HELO a b"]),
        seq(
            "lower case verbs",
            &[
                "ehlo x",
                "mail from:<a@example.org>",
                "rcpt to:<b@example.com>",
            ],
        ),
        seq("quit with an argument", &["QUIT now"]),
        seq(
            "ehlo resets a transaction",
            &tx(&["EHLO again", "RCPT TO:<c@example.com>"]),
        ),
    ]
}

fn mail_sequences() -> Vec<Sequence> {
    let long = format!("MAIL FROM:<{}@example.org>", "a".repeat(300));
    vec![
        seq(
            "mail before helo",
            &["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.com>"],
        ),
        seq("null sender", &["EHLO x", "MAIL FROM:<>"]),
        seq(
            "size within",
            &["EHLO x", "MAIL FROM:<a@example.org> SIZE=1000"],
        ),
        seq(
            "size above",
            &["EHLO x", "MAIL FROM:<a@example.org> SIZE=999999999"],
        ),
        seq(
            "size not a number",
            &["EHLO x", "MAIL FROM:<a@example.org> SIZE=abc"],
        ),
        seq(
            "body 8bitmime",
            &["EHLO x", "MAIL FROM:<a@example.org> BODY=8BITMIME"],
        ),
        seq(
            "body binarymime",
            &["EHLO x", "MAIL FROM:<a@example.org> BODY=BINARYMIME"],
        ),
        seq(
            "body unknown",
            &["EHLO x", "MAIL FROM:<a@example.org> BODY=FOO"],
        ),
        seq(
            "unknown mail parameter",
            &["EHLO x", "MAIL FROM:<a@example.org> FOO=BAR"],
        ),
        seq(
            "smtputf8",
            &["EHLO x", "MAIL FROM:<a@example.org> SMTPUTF8"],
        ),
        raw(
            "utf-8 sender without smtputf8",
            &["EHLO x"],
            "MAIL FROM:<jörg@example.org>\r\n".as_bytes(),
            1,
        ),
        raw(
            "utf-8 sender with smtputf8",
            &["EHLO x"],
            "MAIL FROM:<jörg@example.org> SMTPUTF8\r\n".as_bytes(),
            1,
        ),
        raw(
            "utf-8 recipient without smtputf8",
            &["EHLO x", "MAIL FROM:<a@example.org>"],
            "RCPT TO:<zoë@example.com>\r\n".as_bytes(),
            1,
        ),
        raw(
            "utf-8 recipient with smtputf8",
            &["EHLO x", "MAIL FROM:<a@example.org> SMTPUTF8"],
            "RCPT TO:<zoë@example.com>\r\n".as_bytes(),
            1,
        ),
        raw("utf-8 ehlo", NONE, "EHLO münchen.example\r\n".as_bytes(), 1),
        seq(
            "dsn ret envid",
            &["EHLO x", "MAIL FROM:<a@example.org> RET=HDRS ENVID=x1"],
        ),
        seq(
            "auth parameter without auth",
            &["EHLO x", "MAIL FROM:<a@example.org> AUTH=<>"],
        ),
        seq(
            "sender without brackets",
            &["EHLO x", "MAIL FROM:a@example.org"],
        ),
        seq("bad sender syntax", &["EHLO x", "MAIL FROM:<a@b@c>"]),
        seq(
            "sender unbalanced bracket",
            &["EHLO x", "MAIL FROM:<a@example.org"],
        ),
        seq(
            "space after colon",
            &["EHLO x", "MAIL FROM: <a@example.org>"],
        ),
        seq("mail alone", &["EHLO x", "MAIL"]),
        seq("mail to", &["EHLO x", "MAIL TO:<a@example.org>"]),
        seq(
            "nested mail",
            &[
                "EHLO x",
                "MAIL FROM:<a@example.org>",
                "MAIL FROM:<c@example.org>",
            ],
        ),
        seq("long sender", &["EHLO x", &long]),
        seq(
            "mail after helo has no esmtp",
            &["HELO x", "MAIL FROM:<a@example.org> SIZE=10"],
        ),
    ]
}

fn rcpt_sequences() -> Vec<Sequence> {
    vec![
        seq("rcpt before mail", &["EHLO x", "RCPT TO:<b@example.com>"]),
        seq("rcpt before helo", &["RCPT TO:<b@example.com>"]),
        seq(
            "rcpt without brackets",
            &[
                "EHLO x",
                "MAIL FROM:<a@example.org>",
                "RCPT TO:b@example.com",
            ],
        ),
        seq(
            "rcpt null",
            &["EHLO x", "MAIL FROM:<a@example.org>", "RCPT TO:<>"],
        ),
        seq(
            "rcpt postmaster",
            &[
                "EHLO x",
                "MAIL FROM:<a@example.org>",
                "RCPT TO:<postmaster>",
            ],
        ),
        seq(
            "rcpt dsn",
            &tx(&["RCPT TO:<c@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@example.com"]),
        ),
        seq(
            "unknown rcpt parameter",
            &tx(&["RCPT TO:<c@example.com> FOO=BAR"]),
        ),
        seq("bad recipient syntax", &tx(&["RCPT TO:<c@d@e>"])),
        seq("rcpt alone", &tx(&["RCPT"])),
        seq("rcpt from", &tx(&["RCPT FROM:<c@example.com>"])),
        seq(
            "several recipients",
            &tx(&["RCPT TO:<c@example.com>", "RCPT TO:<d@example.net>"]),
        ),
    ]
}

fn data_sequences() -> Vec<Sequence> {
    let long_text = format!("{}\r\n", "x".repeat(1500));
    let mut message = b"DATA\r\n".to_vec();
    let mut with_long = message.clone();
    message.extend_from_slice(b"Subject: t\r\n\r\nhello\r\n..dot\r\n.\r\n");
    with_long.extend_from_slice(b"Subject: t\r\n\r\n");
    with_long.extend_from_slice(long_text.as_bytes());
    with_long.extend_from_slice(b".\r\n");
    vec![
        seq("data before helo", &["DATA"]),
        raw("bdat before helo", NONE, b"BDAT 3 LAST\r\nabc", 1),
        seq("data before mail", &["EHLO x", "DATA"]),
        seq("data before rcpt", &["EHLO x", "MAIL FROM:<a@example.org>", "DATA"]),
        seq("data with an argument", &tx(&["DATA x"])),
        raw("a message", TX, &message, 2),
        raw("a message with a 1500-octet line", TX, &with_long, 2),
        raw("two messages", &tx(&["DATA"]), b"hi\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\r\n.\r\n", 5),
        raw("pipelined transaction", NONE, b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n", 4),
        raw("bdat last", TX, b"BDAT 5 LAST\r\nhello", 1),
        raw("bdat in chunks", TX, b"BDAT 3\r\nabcBDAT 2\r\ndeBDAT 0 LAST\r\n", 3),
        raw("bdat ending in crlf", TX, b"BDAT 7 LAST\r\nhello\r\n", 1),
        raw("bdat empty last", TX, b"BDAT 0 LAST\r\n", 1),
        raw("bdat before mail", &["EHLO x"], b"BDAT 3 LAST\r\nabc", 1),
        seq("bdat bad syntax", &tx(&["BDAT x"])),
        seq("bdat alone", &tx(&["BDAT"])),
        seq("bdat negative size", &tx(&["BDAT -1"])),
        seq("bdat huge size", &tx(&["BDAT 99999999999999999999 LAST"])),
        seq("bdat unknown keyword", &tx(&["BDAT 3 FIRST"])),
        seq("bdat extra argument", &tx(&["BDAT 3 LAST more"])),
        raw("bdat last in lower case", TX, b"BDAT 3 last\r\nabc", 1),
        raw("data after bdat", TX, b"BDAT 3\r\nabcDATA\r\n", 2),
        seq("rset then rcpt", &tx(&["RSET", "RCPT TO:<c@example.com>"])),
    ]
}

fn other_verb_sequences() -> Vec<Sequence> {
    vec![
        seq("rset", &["EHLO x", "RSET"]),
        seq("rset with an argument", &["EHLO x", "RSET now"]),
        seq("noop", &["NOOP"]),
        seq("noop with an argument", &["EHLO x", "NOOP hello there"]),
        seq("vrfy postmaster", &["EHLO x", "VRFY postmaster"]),
        seq("vrfy remote", &["EHLO x", "VRFY <b@example.com>"]),
        seq("vrfy alone", &["EHLO x", "VRFY"]),
        seq("vrfy before helo", &["VRFY b@example.com"]),
        seq("expn", &["EHLO x", "EXPN staff"]),
        seq("help", &["EHLO x", "HELP"]),
        seq("help mail", &["HELP MAIL"]),
        seq("etrn alone", &["EHLO x", "ETRN"]),
        seq("etrn x", &["EHLO x", "ETRN x"]),
        seq("etrn domain", &["EHLO x", "ETRN example.com"]),
        seq("etrn before helo", &["ETRN example.com"]),
        seq(
            "etrn in a transaction",
            &["EHLO x", "MAIL FROM:<a@example.org>", "ETRN example.com"],
        ),
        seq("starttls with an argument", &["EHLO x", "STARTTLS x"]),
        seq("starttls", &["EHLO x", "STARTTLS"]),
        seq(
            "auth not enabled",
            &["EHLO x", "AUTH PLAIN AGFsaWNlAHNlY3JldA=="],
        ),
        seq("auth alone", &["EHLO x", "AUTH"]),
        seq("auth before helo", &["AUTH LOGIN"]),
        seq(
            "xclient unauthorised",
            &["EHLO x", "XCLIENT ADDR=192.0.2.1"],
        ),
        seq(
            "xforward unauthorised",
            &["EHLO x", "XFORWARD ADDR=192.0.2.1"],
        ),
        seq("turn", &["EHLO x", "TURN"]),
        seq("unknown verb", &["EHLO x", "FOO bar"]),
        seq("unknown verb before helo", &["FOO"]),
        seq(
            "send soml saml",
            &[
                "EHLO x",
                "SEND FROM:<a@example.org>",
                "SOML FROM:<a@example.org>",
                "SAML FROM:<a@example.org>",
            ],
        ),
    ]
}

fn syntax_sequences() -> Vec<Sequence> {
    let long_noop = format!("NOOP {}", "x".repeat(600));
    let long_line = format!("NOOP {}", "x".repeat(3000));
    let long_unknown = format!("FOO {}", "x".repeat(3000));
    let many: Vec<String> = (0..1001)
        .map(|i| format!("RCPT TO:<r{i}@example.com>\r\n"))
        .collect();
    let mut many_bytes = Vec::new();
    for line in &many {
        many_bytes.extend_from_slice(line.as_bytes());
    }
    // Postfix's hard error limit: the 421 follows the 20th error unasked
    // (the 11th to 20th replies are slowed down by a second each).
    let mut errors = vec!["EHLO x".to_string()];
    errors.extend((1..20).map(|i| format!("FOO{i}")));
    let mut sequences = vec![
        seq("empty line", &["EHLO x", ""]),
        seq("spaces only", &["EHLO x", "   "]),
        seq("a 600-octet command", &["EHLO x", &long_noop]),
        seq("a 3000-octet command", &["EHLO x", &long_line]),
        seq("a 3000-octet unknown command", &["EHLO x", &long_unknown]),
        raw("nul in a command", &["EHLO x"], b"NO\0OP\r\n", 1),
        raw("nul after the verb", &["EHLO x"], b"NOOP \0x\r\n", 1),
        raw("control character", &["EHLO x"], b"NOOP\x01\r\n", 1),
        raw(
            "tab separator",
            &["EHLO x"],
            b"MAIL\tFROM:<a@example.org>\r\n",
            1,
        ),
        raw("eight-bit verb", &["EHLO x"], b"\xe9HLO x\r\n", 1),
        raw("bare lf command", NONE, b"EHLO x\nNOOP\n", 2),
        raw(
            "1001 recipients",
            &["EHLO x", "MAIL FROM:<a@example.org>"],
            &many_bytes,
            1001,
        ),
    ];
    sequences.push(raw("twenty errors", &errors, b"FOO20\r\n", 2));
    sequences
}

/// What the client saw on one connection: the banner, then each reply, as
/// text lines; `<closed>` when the server hung up, `<silence>` when it said
/// nothing within the step's time.
async fn run(addr: SocketAddr, s: &Sequence) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut seen = Vec::new();
    if !reply(&mut r, &mut seen).await {
        return seen;
    }
    for step in &s.steps {
        let (bytes, count) = match step {
            Step::Line(l) => (format!("{l}\r\n").into_bytes(), 1),
            Step::Raw(b, n) => (b.clone(), *n),
        };
        if w.write_all(&bytes).await.is_err() {
            seen.push("<write failed>".into());
            return seen;
        }
        for _ in 0..count {
            if !reply(&mut r, &mut seen).await {
                return seen;
            }
        }
    }
    seen
}

/// Reads one reply into `seen`; false when the connection is done.
async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, seen: &mut Vec<String>) -> bool {
    loop {
        let mut line = Vec::new();
        match tokio::time::timeout(Duration::from_secs(10), r.read_until(b'\n', &mut line)).await {
            Err(_) => {
                seen.push("<silence>".into());
                return false;
            }
            Ok(Err(_)) | Ok(Ok(0)) => {
                seen.push("<closed>".into());
                return false;
            }
            Ok(Ok(_)) => {}
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        let last = text.as_bytes().get(3) != Some(&b'-');
        let code = text.get(..3).unwrap_or("").to_string();
        seen.push(normalise(&text));
        if last {
            // Postfix closes after these; so must we.
            if code == "221" || code == "421" || code == "521" {
                let mut rest = Vec::new();
                let closed = matches!(
                    tokio::time::timeout(Duration::from_secs(10), r.read_until(b'\n', &mut rest))
                        .await,
                    Ok(Ok(0)) | Ok(Err(_))
                );
                seen.push(if closed {
                    "<closed>".into()
                } else {
                    format!("<not closed: {:?}>", String::from_utf8_lossy(&rest))
                });
                return false;
            }
            return true;
        }
    }
}

/// Queue ids differ by nature: `queued as 4Xb2Lq1Zx7z5l` → `queued as QID`.
fn normalise(line: &str) -> String {
    match line.find("queued as ") {
        Some(i) => format!("{}queued as QID", &line[..i]),
        None => line.to_string(),
    }
}

fn diff(name: &str, steps: &[Step], real: &[String], ours: &[String]) -> String {
    let mut out = format!("--- {name}\n    sent: ");
    for s in steps {
        match s {
            Step::Line(l) => out.push_str(&format!("{l:?} ")),
            Step::Raw(b, _) if b.len() > 120 => out.push_str(&format!("<{} octets> ", b.len())),
            Step::Raw(b, _) => out.push_str(&format!("{:?} ", String::from_utf8_lossy(b))),
        }
    }
    out.push('\n');
    // Equal lines are left out, and a long run of differences is cut short
    // (1001 recipients): the first lines say what is wrong.
    let mut shown = 0;
    for i in 0..real.len().max(ours.len()) {
        let a = real.get(i).map_or("", String::as_str);
        let b = ours.get(i).map_or("", String::as_str);
        if a == b {
            continue;
        }
        shown += 1;
        if shown > 12 {
            let _ = writeln!(out, "    … more differences");
            break;
        }
        let _ = writeln!(
            out,
            "    reply line {i}:\n      postfix: {a}\n      ours:    {b}"
        );
    }
    out
}

#[test]
fn postfix_default_answers_as_postfix_does() {
    let Some(postfix) = PostfixBuilder::new("postfix_default_answers_as_postfix_does").start()
    else {
        return;
    };
    let version = postfix.postconf("mail_version");
    let ours = smtp_harness::MockServer::start_blocking(
        smtp_harness::Scenario::bundled("postfix-default").expect("bundled"),
    )
    .expect("start the mock");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let all = sequences();
    assert!(all.len() >= 60, "only {} sequences", all.len());
    let mut report = String::new();
    let mut differ = 0;
    for s in &all {
        // Both at once: the error-limit sequence waits ten seconds on each.
        let (real, mine) =
            rt.block_on(async { tokio::join!(run(postfix.addr(), s), run(ours.addr(), s)) });
        if real != mine {
            differ += 1;
            report.push_str(&diff(s.name, &s.steps, &real, &mine));
        }
    }
    println!(
        "{} sequences, {differ} differ from Postfix {version}",
        all.len()
    );
    assert!(
        differ == 0,
        "{differ} of {} sequences differ from Postfix {version}:\n{report}\n--- Postfix log ---\n{}",
        all.len(),
        tail(&postfix)
    );
}

fn tail(p: &Postfix) -> String {
    let log = p.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Sequences over TLS: `STARTTLS` does the handshake when answered 220
/// (any certificate accepted: both sides present their own), and the lines
/// after it go over TLS.
fn tls_sequences() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("ehlo after starttls", vec!["EHLO x", "STARTTLS", "EHLO y"]),
        (
            "starttls when tls is active",
            vec!["EHLO x", "STARTTLS", "EHLO y", "STARTTLS"],
        ),
        (
            "starttls twice without ehlo",
            vec!["EHLO x", "STARTTLS", "STARTTLS"],
        ),
        (
            "a transaction over tls",
            vec![
                "EHLO x",
                "STARTTLS",
                "EHLO y",
                "MAIL FROM:<a@example.org>",
                "RCPT TO:<b@example.com>",
                "RSET",
                "QUIT",
            ],
        ),
        (
            "mail over tls without ehlo",
            vec!["EHLO x", "STARTTLS", "MAIL FROM:<a@example.org>"],
        ),
        ("starttls before ehlo", vec!["STARTTLS", "EHLO y"]),
    ]
}

/// Plain commands sent to a server that requires TLS
/// (`smtpd_tls_security_level = encrypt`; ours: `tls.require`).
fn required_tls_sequences() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("ehlo", vec!["EHLO x"]),
        (
            "mail before starttls",
            vec!["EHLO x", "MAIL FROM:<a@example.org>"],
        ),
        ("mail before helo", vec!["MAIL FROM:<a@example.org>"]),
        (
            "rcpt before starttls",
            vec!["EHLO x", "RCPT TO:<b@example.com>"],
        ),
        (
            "noop, rset, vrfy",
            vec!["EHLO x", "NOOP", "RSET", "VRFY postmaster"],
        ),
        ("etrn", vec!["EHLO x", "ETRN example.com"]),
        ("help", vec!["EHLO x", "HELP"]),
        ("expn", vec!["EHLO x", "EXPN staff"]),
        ("data", vec!["EHLO x", "DATA"]),
        ("bdat", vec!["EHLO x", "BDAT 0 LAST"]),
        ("auth", vec!["EHLO x", "AUTH PLAIN"]),
        ("xclient", vec!["EHLO x", "XCLIENT ADDR=192.0.2.1"]),
        ("unknown verb", vec!["EHLO x", "FOO"]),
        ("helo", vec!["HELO x", "MAIL FROM:<a@example.org>"]),
        ("quit", vec!["EHLO x", "QUIT"]),
        ("starttls with an argument", vec!["EHLO x", "STARTTLS x"]),
        (
            "mail after starttls",
            vec!["EHLO x", "STARTTLS", "EHLO y", "MAIL FROM:<a@example.org>"],
        ),
    ]
}

/// What the client saw, as `run` writes it, with a real TLS handshake
/// after a `220` to STARTTLS.
async fn run_tls(addr: SocketAddr, lines: &[&str]) -> Vec<String> {
    use smtp_harness::client::{ClientError, SmtpClient};
    let mut seen = Vec::new();
    let mut c = match SmtpClient::connect(addr, Duration::from_secs(10)).await {
        Ok(c) => c,
        Err(e) => return vec![format!("<connect failed: {e}>")],
    };
    let mut next = c.read_reply().await;
    for line in std::iter::once(&"").chain(lines) {
        if !line.is_empty() {
            next = c.command(line).await;
        }
        let reply = match next {
            Ok(ref r) => r,
            Err(ClientError::Closed) => {
                seen.push("<closed>".into());
                return seen;
            }
            Err(e) => {
                seen.push(format!("<{e}>"));
                return seen;
            }
        };
        for (i, text) in reply.lines.iter().enumerate() {
            let sep = if i + 1 == reply.lines.len() { ' ' } else { '-' };
            seen.push(normalise(&format!("{}{sep}{text}", reply.code)));
        }
        if line.eq_ignore_ascii_case("STARTTLS") && reply.code == 220 {
            if let Err(e) = c.starttls("mail.example.com").await {
                seen.push(format!("<{e}>"));
                return seen;
            }
            seen.push("<tls>".into());
        }
        next = Err(ClientError::Closed);
    }
    seen
}

/// Every sequence against both; the report of those that differ.
fn compare_tls(
    postfix: &Postfix,
    ours: &smtp_harness::MockServer,
    all: &[(&'static str, Vec<&'static str>)],
) -> (usize, String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut report = String::new();
    let mut differ = 0;
    for (name, lines) in all {
        let (real, mine) = rt.block_on(async {
            tokio::join!(run_tls(postfix.addr(), lines), run_tls(ours.addr(), lines))
        });
        if real != mine {
            differ += 1;
            let steps: Vec<Step> = lines.iter().map(|l| Step::Line(l.to_string())).collect();
            report.push_str(&diff(name, &steps, &real, &mine));
        }
    }
    (differ, report)
}

#[test]
fn postfix_default_answers_as_postfix_does_over_tls() {
    let Some(postfix) =
        PostfixBuilder::new("postfix_default_answers_as_postfix_does_over_tls").start()
    else {
        return;
    };
    let ours = smtp_harness::MockServer::start_blocking(
        smtp_harness::Scenario::bundled("postfix-default").expect("bundled"),
    )
    .expect("start the mock");
    let (differ, report) = compare_tls(&postfix, &ours, &tls_sequences());
    assert!(
        differ == 0,
        "{differ} TLS sequences differ from Postfix:\n{report}\n--- Postfix log ---\n{}",
        tail(&postfix)
    );
}

#[test]
fn postfix_requiring_tls_answers_as_postfix_does() {
    let Some(postfix) = PostfixBuilder::new("postfix_requiring_tls_answers_as_postfix_does")
        .set("smtpd_tls_security_level", "encrypt")
        .start()
    else {
        return;
    };
    let scenario =
        smtp_harness::Scenario::from_yaml("extends: postfix-default\ntls:\n  require: true\n")
            .expect("scenario");
    let ours = smtp_harness::MockServer::start_blocking(scenario).expect("start the mock");
    let (differ, report) = compare_tls(&postfix, &ours, &required_tls_sequences());
    assert!(
        differ == 0,
        "{differ} sequences differ from Postfix with smtpd_tls_security_level = encrypt:\n{report}\n--- Postfix log ---\n{}",
        tail(&postfix)
    );
}
