//! Fixture tests: the real public captures in `tests/fixtures` (where each
//! came from, its licence and what it shows: `tests/fixtures/README.md`)
//! import to the sessions, commands and replies they hold; bad input gives
//! errors, never panics.

use super::*;
use std::path::{Path, PathBuf};

/// The captures live in the repository so a plain clone tests the same bytes.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

fn import(name: &str) -> Capture {
    match import_file(&fixture(name), &ImportOptions::default()) {
        Ok((_, c)) => c,
        Err(e) => panic!("{e}"),
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const ALL: [&str; 8] = [
    "zeek-smtp-exim-auth-login.pcap",
    "zeek-smtp-gmail-starttls.pcap",
    "zeek-smtp-exchange-pipelining.pcap",
    "zeek-smtp-postfix-bdat-invalid.pcapng",
    "swaks-regression-00600-auth-plain.txt",
    "swaks-recipes-dreamhost-rcpt-check.txt",
    "ipban-exchange-recv-auth-successful.LOG",
    "ipban-exchange-recv-auth-unsuccessful.LOG",
];

#[test]
fn formats_are_detected_from_content() {
    let expect = [
        Format::Pcap,
        Format::Pcap,
        Format::Pcap,
        Format::Pcapng,
        Format::Swaks,
        Format::Swaks,
        Format::Exchange,
        Format::Exchange,
    ];
    for (name, f) in ALL.iter().zip(expect) {
        assert_eq!(detect(&read(name)), Some(f), "{name}");
    }
}

#[test]
fn exim_pcap_with_retransmissions() {
    let c = import("zeek-smtp-exim-auth-login.pcap");
    assert_eq!(c.sessions.len(), 2, "{:#?}", c.warnings);
    let s = &c.sessions[0];
    assert_eq!(s.label, "stream 0");
    assert_eq!(
        s.client.map(|a| a.to_string()).as_deref(),
        Some("10.10.1.4:1470")
    );
    assert_eq!(
        s.server.map(|a| a.to_string()).as_deref(),
        Some("74.53.140.153:25")
    );
    let replies = s.replies();
    assert_eq!(replies[0].len(), 3);
    assert!(
        replies[0][0]
            .starts_with("220-xc90.websitewelcome.com ESMTP Exim 4.69 #1 Mon, 05 Oct 2009")
    );
    // Trailing space kept byte for byte.
    assert!(replies[0][0].ends_with("-0500 "), "{:?}", replies[0][0]);
    assert_eq!(replies[0][2], "220 and/or bulk e-mail.");
    assert_eq!(
        replies[1],
        [
            "250-xc90.websitewelcome.com Hello GP [122.162.143.157]",
            "250-SIZE 52428800",
            "250-PIPELINING",
            "250-AUTH PLAIN LOGIN",
            "250-STARTTLS",
            "250 HELP"
        ]
    );
    assert_eq!(
        s.commands(),
        [
            "EHLO GP",
            "AUTH LOGIN",
            "Z3VycGFydGFwQHBhdHJpb3RzLmlu",
            "cHVuamFiQDEyMw==",
            "MAIL FROM: <gurpartap@patriots.in>",
            "RCPT TO: <raj_deol2002in@yahoo.co.in>",
            "DATA",
            "QUIT"
        ]
    );
    // 14546 wire bytes between DATA and the final dot, one stuffed dot;
    // raw holds them plus the ".\r\n" terminator.
    assert_eq!(s.data(), vec![(Some(14545), Some(14549))]);
    assert_eq!(replies[replies.len() - 2], ["250 OK id=1Mugho-0003Dg-Un"]);
    assert_eq!(s.end(), Some(End::ClientClosed));
    assert!(!s.begin_missing);

    let s2 = &c.sessions[1];
    assert_eq!(s2.label, "stream 2");
    assert_eq!(s2.replies()[0], ["220 uprise ESMTP SubEthaSMTP null"]);
    assert_eq!(s2.replies()[1].len(), 4);
    assert_eq!(
        s2.commands()
            .iter()
            .filter(|c| c.starts_with("RCPT"))
            .count(),
        3
    );
    assert_eq!(s2.replies().last().map(|r| r[0].as_str()), Some("250 Ok"));
    assert_eq!(s2.end(), Some(End::CutOff));
    // The other TCP streams are reported, not imported.
    for n in [1, 3, 4, 5] {
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with(&format!("stream {n} ")) && w.contains("not SMTP")),
            "stream {n}: {:#?}",
            c.warnings
        );
    }
}

#[test]
fn exim_message_content_is_reassembled_exactly() {
    let c = import("zeek-smtp-exim-auth-login.pcap");
    let raw = c.sessions[0]
        .items
        .iter()
        .find_map(|i| match &i.kind {
            ItemKind::Data { raw, .. } => raw.clone(),
            _ => None,
        })
        .expect("message content");
    assert!(raw.ends_with(b"00_0004_01CA45B0.095693F0--\r\n\r\n.\r\n"));
    // Every line ends in CRLF: no duplicated or missing bytes at segment seams.
    assert_eq!(
        memchr::memchr_iter(b'\n', &raw).count(),
        memchr::memmem::find_iter(&raw, b"\r\n").count()
    );
}

#[test]
fn stream_selection() {
    let path = fixture("zeek-smtp-exim-auth-login.pcap");
    let only = |n| {
        import_file(
            &path,
            &ImportOptions {
                format: None,
                stream: Some(n),
            },
        )
    };
    let (_, c) = only(2).expect("stream 2 is SMTP");
    assert_eq!(c.sessions.len(), 1);
    assert_eq!(c.sessions[0].label, "stream 2");
    let e = only(1).expect_err("stream 1 is not SMTP");
    assert!(e.to_string().contains("TCP stream 1 is not SMTP"), "{e}");
    let e = only(99).expect_err("no stream 99");
    assert!(e.to_string().contains("there is no TCP stream 99"), "{e}");
    assert!(
        e.to_string().contains("zeek-smtp-exim-auth-login.pcap"),
        "{e}"
    );
}

#[test]
fn gmail_starttls_is_opaque_after_220() {
    let c = import("zeek-smtp-gmail-starttls.pcap");
    assert_eq!(c.sessions.len(), 1);
    let s = &c.sessions[0];
    assert_eq!(
        s.replies()[0],
        ["220 mx.google.com ESMTP hf10si4097299icc.190 - gsmtp"]
    );
    assert_eq!(s.replies()[1].len(), 6);
    assert_eq!(s.replies()[1][5], "250 CHUNKING");
    assert_eq!(s.commands(), ["EHLO openssl.client.net", "STARTTLS"]);
    assert_eq!(s.replies()[2], ["220 2.0.0 Ready to start TLS"]);
    assert!(s.tls_started());
    assert_eq!(s.replies().len(), 3, "nothing after TLS is read as SMTP");
    assert_eq!(s.end(), Some(End::ServerClosed));
}

#[test]
fn exchange_pipelining_pcap() {
    let c = import("zeek-smtp-exchange-pipelining.pcap");
    assert_eq!(c.sessions.len(), 1);
    let s = &c.sessions[0];
    let r = s.replies();
    assert_eq!(
        r[0],
        [
            "220 cernmxlb4.cern.ch Microsoft ESMTP MAIL Service ready at Tue, 8 Dec 2015 22:31:02 +0100"
        ]
    );
    // SOURCES.md says 15 lines; the wire holds 14 (checked independently).
    assert_eq!(r[1].len(), 14);
    assert!(r[1].contains(&"250-X-EXPS NTLM".to_string()));
    assert_eq!(r[1][13], "250 XSHADOW");
    assert_eq!(
        s.commands(),
        [
            "EHLO gras-os-desk.cern.ch",
            "MAIL From:<root@gras-os-desk.cern.ch> SIZE=695",
            "RCPT To:<jan.grashofer@cern.ch>",
            "DATA"
        ]
    );
    assert_eq!(r[3], ["250 2.1.5 Recipient OK"]);
    assert_eq!(r[4], ["354 Start mail input; end with <CRLF>.<CRLF>"]);
    assert!(r[5][0].ends_with("Queued mail for delivery"));
    assert_eq!(r[6], ["451 4.7.0 Timeout waiting for client input"]);
    assert_eq!(s.end(), Some(End::ServerClosed));
    // Pipelined RCPT+DATA get their own replies in the scenario, and the
    // 451 is a reply without a command.
    let yaml = to_scenario_yaml(&c, &ScenarioOptions::new("x.pcap", Format::Pcap));
    assert!(yaml.contains(
        "    - client: RCPT To:<jan.grashofer@cern.ch>\n      reply: [250 2.1.5 Recipient OK]\n    - client: DATA\n      reply: [354 Start mail input; end with <CRLF>.<CRLF>]\n"
    ), "{yaml}");
    assert!(
        yaml.contains(
            "    - reply: [451 4.7.0 Timeout waiting for client input]\n      delay: 60584ms\n    end: server_closed\n"
        ),
        "the captured quiet time before the unprompted 451, without --keep-timing: {yaml}"
    );
}

#[test]
fn postfix_bdat_pcapng_three_sessions() {
    let c = import("zeek-smtp-postfix-bdat-invalid.pcapng");
    assert_eq!(c.sessions.len(), 3);
    let bdat = ["BDAT", "BDAT 1234 SCRAMBLE", "BDAT SCRAMBLE"];
    for (s, cmd) in c.sessions.iter().zip(bdat) {
        let r = s.replies();
        assert_eq!(r[0], ["220 example.com ESMTP Postfix (Debian/GNU)"]);
        assert_eq!(r[1].len(), 10);
        assert_eq!(r[1][9], "250 CHUNKING");
        assert_eq!(
            r.last().map(|l| l[0].as_str()),
            Some("521 5.5.4 Syntax: BDAT count [LAST]")
        );
        assert_eq!(
            s.commands(),
            [
                "EHLO localhost",
                "MAIL FROM:<zeek@localhost>",
                "RCPT TO:<root@localhost>",
                cmd,
                "QUIT"
            ]
        );
        assert!(s.data().is_empty(), "an invalid BDAT carries no chunk");
        assert_eq!(s.end(), Some(End::ServerClosed));
    }
    let yaml = to_scenario_yaml(&c, &ScenarioOptions::new("x.pcapng", Format::Pcapng));
    assert_eq!(
        yaml.matches("    - client: QUIT\n    end: server_closed")
            .count(),
        3,
        "{yaml}"
    );
}

#[test]
fn swaks_auth_plain() {
    let c = import("swaks-regression-00600-auth-plain.txt");
    assert_eq!(c.sessions.len(), 1);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let s = &c.sessions[0];
    let r = s.replies();
    assert_eq!(r[0], ["220 SERVER ESMTP ready"]);
    assert_eq!(r[1].len(), 13);
    assert_eq!(r[1][11], "250-AUTH=login");
    assert_eq!(r[2], ["235 Authentication succeeded"]);
    assert_eq!(r[6], ["250 OK id=fakeemail"]);
    assert_eq!(r[7], ["221 SERVER closing connection"]);
    assert_eq!(
        s.commands(),
        [
            "EHLO hserver",
            "AUTH PLAIN AHZhbGlkdXNlcgB2YWxpZHBhc3N3b3Jk",
            "MAIL FROM:<recip@host1.nodns.test.swaks.net>",
            "RCPT TO:<user@host1.nodns.test.swaks.net>",
            "DATA",
            "QUIT"
        ]
    );
    // 10 message lines; the data size counts CRLF line ends.
    let (size, raw) = s.data()[0];
    assert_eq!(raw.map(|r| r - size.unwrap_or(0)), Some(3));
    assert_eq!(s.end(), Some(End::ServerClosed));
}

#[test]
fn swaks_dreamhost_excerpt() {
    let c = import("swaks-recipes-dreamhost-rcpt-check.txt");
    let s = &c.sessions[0];
    assert_eq!(s.replies()[0], ["220 spaceymail-mx3.g.dreamhost.com ESMTP"]);
    assert_eq!(s.replies()[1].len(), 6);
    assert_eq!(s.commands().len(), 4);
    assert!(s.data().is_empty());
    assert_eq!(s.replies().last().map(|r| r[0].as_str()), Some("221 Bye"));
}

#[test]
fn exchange_log_successful_auth() {
    let c = import("ipban-exchange-recv-auth-successful.LOG");
    assert_eq!(c.sessions.len(), 1);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let s = &c.sessions[0];
    assert_eq!(s.label, "session 08D7D4D2EFBC4CC6");
    assert_eq!(s.server.map(|a| a.port()), Some(10587));
    let r = s.replies();
    assert_eq!(
        r[0],
        [
            "220 mail.example.com Microsoft ESMTP MAIL Service ready at Thu, 2 Apr 2020 09:57:37 +0200"
        ]
    );
    assert_eq!(
        r[1],
        [
            "250-mail.example.com Hello [180.20.20.20]",
            "250-SIZE 37748736",
            "250-PIPELINING",
            "250-DSN",
            "250-ENHANCEDSTATUSCODES",
            "250-STARTTLS",
            "250-AUTH LOGIN",
            "250-8BITMIME",
            "250-BINARYMIME",
            "250 CHUNKING"
        ]
    );
    assert!(s.tls_started());
    assert_eq!(
        s.commands(),
        ["EHLO srv-app01", "STARTTLS", "EHLO srv-app01", "AUTH login"]
    );
    assert!(s.items.iter().any(|i| i.kind == ItemKind::HiddenCommand));
    assert_eq!(
        r.last().map(|l| l[0].as_str()),
        Some("235 2.7.0 Authentication successful")
    );
    assert_eq!(s.end(), Some(End::ClientClosed));
}

#[test]
fn exchange_log_messy_keeps_real_sessions() {
    let c = import("ipban-exchange-recv-auth-unsuccessful.LOG");
    let labels: Vec<&str> = c.sessions.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "session 08D7D4D2EFBC4D5E",
            "session 08D7D4D2EFBC4D65",
            "session 08D8FE5F13DE618F",
            "session 08DB994D2DD19B09",
            "session 08DB994D2DD19B38"
        ]
    );
    let partial: Vec<bool> = c.sessions.iter().map(|s| s.begin_missing).collect();
    assert_eq!(partial, [false, false, true, true, false]);
    let first = &c.sessions[0];
    assert_eq!(
        first.commands(),
        ["EHLO User", "RSET", "AUTH LOGIN", "QUIT"]
    );
    assert!(
        first
            .replies()
            .contains(&vec!["250 2.0.0 Resetting".to_string()])
    );
    assert_eq!(first.end(), Some(End::ServerClosed));
    let w = c.warnings.join("\n");
    assert!(w.contains("line 43: 12 fields"), "{w}");
    assert_eq!(w.matches("repeats sequence number 19").count(), 2, "{w}");
    assert!(w.contains("session 08D7D4D2EFBC3E30: a fragment"), "{w}");
    // The scenario holds the three complete sessions.
    let (yaml, extra) = render(&c, &ScenarioOptions::new("x.LOG", Format::Exchange));
    assert_eq!(yaml.matches("\n  - banner:").count(), 3, "{yaml}");
    assert_eq!(extra.len(), 2);
}

/// Every fixture's scenario is valid YAML of the documented shape, and the
/// reply lines read back are the captured bytes.
#[test]
fn scenarios_parse_back_exactly() {
    #[derive(serde::Deserialize)]
    struct Doc {
        name: String,
        #[allow(dead_code)]
        description: String,
        replay: Replay,
    }
    #[derive(serde::Deserialize)]
    struct Replay {
        sessions: Vec<Sess>,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Sess {
        banner: Vec<String>,
        #[serde(default)]
        delay: Option<String>,
        steps: Vec<Step>,
        end: String,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Step {
        #[serde(default)]
        client: Option<String>,
        #[serde(default)]
        data: Option<u64>,
        #[serde(default)]
        starttls: Option<bool>,
        #[serde(default)]
        reply: Option<Vec<String>>,
        #[serde(default)]
        delay: Option<String>,
    }
    for name in ALL {
        for keep_timing in [false, true] {
            // Credentials kept: this compares the client's lines exactly.
            let (yaml, _) = run_import(&fixture(name), None, None, keep_timing, false, true)
                .unwrap_or_else(|e| panic!("{e}"));
            let doc: Doc =
                serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{name}: {e}\n{yaml}"));
            assert!(doc.name.starts_with("imported-"));
            let (_, c) = import_file(&fixture(name), &ImportOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let complete: Vec<&CapturedSession> =
                c.sessions.iter().filter(|s| !s.begin_missing).collect();
            assert_eq!(doc.replay.sessions.len(), complete.len(), "{name}");
            for (d, s) in doc.replay.sessions.iter().zip(complete) {
                let mut from_yaml: Vec<Vec<String>> = vec![d.banner.clone()];
                from_yaml.extend(d.steps.iter().filter_map(|st| st.reply.clone()));
                assert_eq!(from_yaml, s.replies(), "{name}");
                let clients: Vec<String> =
                    d.steps.iter().filter_map(|st| st.client.clone()).collect();
                assert_eq!(clients, s.commands(), "{name}");
                assert_eq!(Some(d.end.as_str()), s.end().map(End::as_str));
                if !keep_timing {
                    // Only a reply sent unprompted keeps its wait: the
                    // client's quiet time before it.
                    let unprompted = |st: &&Step| st.client.is_none() && st.data.is_none() && st.starttls.is_none();
                    assert!(d.delay.is_none() && d.steps.iter().filter(|st| !unprompted(st)).all(|st| st.delay.is_none()), "{name}");
                }
            }
        }
    }
}

#[test]
fn keep_timing_emits_captured_delays() {
    let (yaml, _) = run_import(
        &fixture("ipban-exchange-recv-auth-unsuccessful.LOG"),
        None,
        None,
        true,
        false,
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The tarpit before "250 2.0.0 Resetting".
    assert!(
        yaml.contains(
            "    - client: RSET\n      reply: [250 2.0.0 Resetting]\n      delay: 5015ms\n"
        ),
        "{yaml}"
    );
    let (yaml, _) = run_import(
        &fixture("zeek-smtp-exchange-pipelining.pcap"),
        None,
        None,
        true,
        false,
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(yaml.contains("delay: 60584ms"), "{yaml}");
}

#[test]
fn redaction_is_consistent_and_complete() {
    for name in ALL {
        let (yaml, _) = run_import(&fixture(name), None, None, false, true, false)
            .unwrap_or_else(|e| panic!("{e}"));
        // The file name in the header is the user's choice; the content is not.
        let yaml = yaml.split_once("\nreplay:\n").map_or("", |(_, body)| body);
        for secret in [
            "websitewelcome",
            "10.10.1.4",
            "122.162.143.157",
            "gurpartap",
            "patriots.in",
            "Z3VycGFydGFw",
            "cHVuamFi",
            "yahoo",
            "cern.ch",
            "188.184",
            "mx.google.com",
            "jetmore",
            "dreamhost",
            "180.20.20.20",
            "mail.example.com",
            "srv-app01",
            "AHZhbGlkdXNlcgB2YWxpZHBhc3N3b3Jk",
            "uprise",
            "client: EHLO GP\n",
        ] {
            assert!(!yaml.contains(secret), "{name}: {secret} left in\n{yaml}");
        }
    }
    let (yaml, _) = run_import(
        &fixture("zeek-smtp-exim-auth-login.pcap"),
        None,
        None,
        false,
        true,
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The server's name is the same placeholder in the banner and the 221.
    assert!(
        yaml.contains("[\"220-host1.example ESMTP Exim 4.69"),
        "{yaml}"
    );
    assert!(
        yaml.contains("[221 host1.example closing connection]"),
        "{yaml}"
    );
    assert!(
        yaml.contains("[250 OK id=1Mugho-0003Dg-Un]"),
        "queue ids are kept\n{yaml}"
    );
}

// ---- bad input ----

fn bytes_err(bytes: &[u8], format: Option<Format>) -> ImportError {
    match import_bytes(
        bytes,
        Path::new("bad.file"),
        &ImportOptions {
            format,
            stream: None,
        },
    ) {
        Ok((f, c)) => panic!("expected an error, got {f}: {} sessions", c.sessions.len()),
        Err(e) => e,
    }
}

fn junk(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn empty_and_junk_files_are_clear_errors() {
    let e = bytes_err(b"", None);
    assert_eq!(e.to_string(), "bad.file: the file is empty");
    let e = bytes_err(&junk(4096), None);
    assert!(
        e.to_string()
            .starts_with("bad.file: cannot tell the capture format"),
        "{e}"
    );
    for f in Format::ALL {
        let e = bytes_err(&junk(4096), Some(f));
        assert!(e.to_string().starts_with("bad.file: "), "{e}");
        assert!(e.to_string().contains(&format!("read as {f}")), "{e}");
    }
    let e = bytes_err(&junk(4096), Some(Format::Swaks));
    assert!(e.problem.contains("not a swaks transcript"), "{e}");
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").expect("write");
    let e = import_file(&empty, &ImportOptions::default()).expect_err("empty");
    assert!(
        e.to_string().ends_with("empty.pcap: the file is empty"),
        "{e}"
    );
}

#[test]
fn csv_with_missing_columns() {
    let log = b"#Software: Microsoft Exchange Server\n#Fields: date-time,connector-id,sequence-number,event\n2020-01-01T00:00:00Z,c,0,+\n";
    let e = bytes_err(log, None);
    assert!(
        e.problem.contains("lacks the column(s) session-id, data"),
        "{e}"
    );
    // Rows short of the header's columns are skipped with a warning each.
    let good = read("ipban-exchange-recv-auth-successful.LOG");
    let mut cut: Vec<u8> = Vec::new();
    for (i, line) in good.split(|&b| b == b'\n').enumerate() {
        let line = if i == 8 { &line[..40] } else { line };
        cut.extend_from_slice(line);
        cut.push(b'\n');
    }
    let (_, c) =
        import_bytes(&cut, Path::new("cut.LOG"), &ImportOptions::default()).expect("partial");
    assert_eq!(c.sessions.len(), 1);
    assert!(
        c.warnings.iter().any(|w| w.starts_with("line 9:")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn truncated_pcap_keeps_what_was_read() {
    let full = read("zeek-smtp-exim-auth-login.pcap");
    let half = &full[..full.len() / 2];
    let e = bytes_err(half, None);
    assert!(e.problem.contains("truncated"), "{e}");
    let partial = e.partial.expect("partial capture");
    assert!(!partial.sessions.is_empty());
    assert!(partial.sessions[0].replies()[0][0].starts_with("220-xc90"));
    // Through the CLI entry point the partial scenario comes along.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("half.pcap");
    std::fs::write(&path, half).expect("write");
    let e = run_import(&path, None, None, false, false, false).expect_err("truncated");
    assert!(
        e.to_string()
            .contains("half.pcap: the capture is truncated"),
        "{e}"
    );
    assert!(e.partial_scenario.is_some_and(|y| y.contains("220-xc90")));
}

/// Cutting or corrupting any fixture anywhere gives a result or an error,
/// never a panic.
#[test]
fn damaged_fixtures_never_panic() {
    for name in ALL {
        let full = read(name);
        let step = (full.len() / 97).max(1);
        for cut in (0..full.len()).step_by(step) {
            let _ = import_bytes(&full[..cut], Path::new(name), &ImportOptions::default());
        }
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..60 {
            let mut bad = full.clone();
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % bad.len();
                bad[i] = (x >> 8) as u8;
            }
            if let Ok((f, c)) = import_bytes(&bad, Path::new(name), &ImportOptions::default()) {
                let mut o = ScenarioOptions::new(name, f);
                o.redact = true;
                o.keep_timing = true;
                o.include_partial = true;
                let _ = render(&c, &o);
            }
        }
    }
}

// ---- generated captures ----

#[test]
fn generated_pcap_imports_every_session() {
    let o = synth::SynthOptions {
        sessions: 300,
        message_size: 30_000,
        concurrency: 7,
        mss: 1000,
    };
    let bytes = synth::pcap(&o);
    let start = std::time::Instant::now();
    let (f, c) = import_bytes(&bytes, Path::new("synth.pcap"), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let secs = start.elapsed().as_secs_f64();
    println!(
        "import of {:.1} MiB synthetic pcap: {:.1} MiB/s (debug build unless --release)",
        bytes.len() as f64 / 1048576.0,
        bytes.len() as f64 / 1048576.0 / secs
    );
    assert_eq!(f, Format::Pcap);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.sessions.len(), 300);
    for (i, s) in c.sessions.iter().enumerate() {
        assert_eq!(s.replies()[0].len(), 3);
        assert_eq!(s.commands().len(), 5, "session {i}");
        assert_eq!(s.data().len(), 1);
        assert_eq!(s.end(), Some(End::ServerClosed));
        assert_eq!(
            s.replies()[5],
            [format!("250 2.0.0 Ok: queued as Q{i:08X}")]
        );
    }
}

/// A scenario is a file people commit and share: without `--keep-credentials`
/// an import never writes a captured credential, `--redact` or not.
#[test]
fn credentials_are_left_out_unless_asked_for() {
    const SECRET: &str = "AHZhbGlkdXNlcgB2YWxpZHBhc3N3b3Jk";
    let file = fixture("swaks-regression-00600-auth-plain.txt");
    let (plain, _) = run_import(&file, None, None, false, false, false).expect("import");
    assert!(!plain.contains(SECRET), "{plain}");
    assert!(plain.contains("AUTH PLAIN cmVkYWN0ZWQ="), "{plain}");
    let (kept, _) = run_import(&file, None, None, false, false, true).expect("import");
    assert!(kept.contains(SECRET), "asked for: {kept}");
    // The redacted scenario still loads, and a replay takes any credential.
    crate::Scenario::from_yaml(&plain).expect("loads");
}
