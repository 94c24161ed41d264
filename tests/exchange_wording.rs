//! No Exchange emulation answers in Postfix's words (issue 14, point 1).
//! Every error path of the built-in engine is sent, over loopback TCP, to
//! each bundled Exchange scenario (5.5 IMS, 2003, 2013–2019, and the
//! PIX/ASA-fronted and other scenarios that extend them). Each reply must
//! be the text the scenario file documents for that path under `replies:`
//! (read from the file itself, following `extends:`), and none may carry
//! Postfix's wording. A path whose key the scenario does not set fails the
//! completeness check before anything is sent.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::RawClient;
use serde_json::Value;
use smtp_harness::{MockServer, Scenario};

const SCENARIOS: &[&str] = &[
    "exchange-2003",
    "exchange-2019",
    "exchange55-ims-smtp-only",
    "exchange55-relay-restricted",
    "exchange55-multi-domain-reroute",
    "exchange55-override-proxy-out",
    "exchange55-sp2-imcea-bug",
    "exchange2003-eas-proxy-address",
    "third-party-banner",
    "pix-mailguard",
    "asa-inspect-esmtp",
];

/// One error path: commands that set it up (each must not fail with 5xx
/// unless it is the path itself), then the probe and the `replies:` key
/// that words its answer. `{to}` is a recipient the scenario accepts.
struct Path {
    key: &'static str,
    setup: &'static [&'static str],
    probe: Probe,
}

enum Probe {
    Line(&'static str),
    Bytes(&'static [u8]),
    /// RCPT to the accepted recipient until the limit is passed.
    PastRecipientLimit,
    /// A command line longer than the default 512-octet limit.
    LongLine,
}

const HELO: &str = "HELO client.example.org";
const MAIL: &str = "MAIL FROM:<sender@example.org>";
const RCPT: &str = "RCPT TO:<{to}>";

/// What a TLS ClientHello looks like on the wire when a firewall stripped
/// STARTTLS from EHLO and the client started the handshake anyway: binary,
/// with a NUL and control bytes, ended here by CRLF so the line is whole.
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x9a\x1f\r\n";

const PATHS: &[Path] = &[
    Path {
        key: "help",
        setup: &[HELO],
        probe: Probe::Line("HELP"),
    },
    Path {
        key: "not_implemented",
        setup: &[HELO],
        probe: Probe::Line("EXPN postmaster"),
    },
    Path {
        key: "not_implemented",
        setup: &[HELO],
        probe: Probe::Line("ETRN example.org"),
    },
    Path {
        key: "unknown",
        setup: &[HELO],
        probe: Probe::Line("TURN"),
    },
    Path {
        key: "unknown",
        setup: &[HELO],
        probe: Probe::Line("FOOBAR x"),
    },
    Path {
        key: "vrfy",
        setup: &[HELO],
        probe: Probe::Line("VRFY postmaster"),
    },
    Path {
        key: "vrfy_syntax",
        setup: &[HELO],
        probe: Probe::Line("VRFY"),
    },
    Path {
        key: "helo_syntax",
        setup: &[],
        probe: Probe::Line("HELO"),
    },
    Path {
        key: "helo_syntax",
        setup: &[],
        probe: Probe::Line("EHLO"),
    },
    Path {
        key: "need_helo",
        setup: &[],
        probe: Probe::Line(MAIL),
    },
    // AUTH before HELO: `need_helo` where AUTH is offered, else the verb
    // is not implemented (see `Documented::key`).
    Path {
        key: "need_helo",
        setup: &[],
        probe: Probe::Line("AUTH LOGIN"),
    },
    Path {
        key: "starttls_syntax",
        setup: &[HELO],
        probe: Probe::Line("STARTTLS now"),
    },
    Path {
        key: "auth_syntax",
        setup: &[HELO],
        probe: Probe::Line("AUTH"),
    },
    Path {
        key: "need_mail",
        setup: &[HELO],
        probe: Probe::Line("RCPT TO:<a@example.org>"),
    },
    Path {
        key: "need_rcpt",
        setup: &[HELO],
        probe: Probe::Line("DATA"),
    },
    Path {
        key: "no_recipients",
        setup: &[HELO, MAIL],
        probe: Probe::Line("DATA"),
    },
    Path {
        key: "nested_mail",
        setup: &[HELO, MAIL],
        probe: Probe::Line(MAIL),
    },
    Path {
        key: "mail_syntax",
        setup: &[HELO],
        probe: Probe::Line("MAIL <sender@example.org>"),
    },
    Path {
        key: "bad_sender",
        setup: &[HELO],
        probe: Probe::Line("MAIL FROM:<a b@@c>"),
    },
    Path {
        key: "rcpt_syntax",
        setup: &[HELO, MAIL],
        probe: Probe::Line("RCPT <a@example.org>"),
    },
    Path {
        key: "bad_recipient",
        setup: &[HELO, MAIL],
        probe: Probe::Line("RCPT TO:<a b@@c>"),
    },
    Path {
        key: "unsupported_param",
        setup: &[HELO],
        probe: Probe::Line("MAIL FROM:<sender@example.org> FOO=BAR"),
    },
    Path {
        key: "bad_size",
        setup: &[HELO],
        probe: Probe::Line("MAIL FROM:<sender@example.org> SIZE=lots"),
    },
    Path {
        key: "too_big",
        setup: &[HELO],
        probe: Probe::Line("MAIL FROM:<sender@example.org> SIZE=999999999999"),
    },
    Path {
        key: "rset_syntax",
        setup: &[HELO],
        probe: Probe::Line("RSET now"),
    },
    Path {
        key: "data_syntax",
        setup: &[HELO, MAIL, RCPT],
        probe: Probe::Line("DATA now"),
    },
    Path {
        key: "too_many_recipients",
        setup: &[HELO, MAIL],
        probe: Probe::PastRecipientLimit,
    },
    Path {
        key: "bad_syntax",
        setup: &[HELO],
        probe: Probe::Bytes(CLIENT_HELLO),
    },
    Path {
        key: "bad_syntax",
        setup: &[HELO],
        probe: Probe::Bytes(b"\r\n"),
    },
    Path {
        key: "line_too_long",
        setup: &[HELO],
        probe: Probe::LongLine,
    },
    Path {
        key: "utf8_address",
        setup: &[HELO],
        probe: Probe::Line("MAIL FROM:<jörg@example.org>"),
    },
    Path {
        key: "auth_in_transaction",
        setup: &[HELO, MAIL],
        probe: Probe::Line("AUTH LOGIN"),
    },
];

/// Keys for paths that need a state the stock scenarios do not reach (TLS
/// required or active, authenticated, BDAT): each scenario must still set
/// them; `stateful_paths_are_worded_as_documented` sends the reachable ones.
const STATEFUL_KEYS: &[&str] = &[
    "tls_active",
    "tls_required",
    "auth_required",
    "already_authenticated",
    "bdat_syntax",
    "data_after_bdat",
];

/// Postfix's wording, which no Exchange reply may carry.
const POSTFIX_MARKS: &[&str] = &[
    "Error:",
    "Syntax:",
    "command not recognized",
    "Unsupported option",
];

/// A scenario file as plain data, its `extends:` chain merged key by key
/// for the sections read here.
struct Documented {
    hostname: String,
    replies: serde_json::Map<String, Value>,
    recipient: String,
    /// A verb filter (`except:` list, reply) standing in front of Exchange.
    filter: Option<(Vec<String>, String)>,
    /// The scenario offers AUTH (an `auth:` section), STARTTLS (`tls:`).
    auth: bool,
    tls: bool,
}

fn read(name: &str) -> Value {
    let path = format!("{}/scenarios/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn documented(name: &str) -> Documented {
    let mut chain = vec![read(name)];
    while let Some(parent) = chain.last().and_then(|v| v["extends"].as_str()) {
        let parent = parent.to_string();
        chain.push(read(&parent));
    }
    let mut doc = Documented {
        hostname: String::new(),
        replies: serde_json::Map::new(),
        recipient: String::new(),
        filter: None,
        auth: false,
        tls: false,
    };
    // Parent first, so the child's keys win.
    for file in chain.iter().rev() {
        if let Some(h) = file["hostname"].as_str() {
            doc.hostname = h.to_string();
        }
        doc.auth |= file.get("auth").is_some();
        doc.tls |= file.get("tls").is_some();
        if let Some(r) = file["replies"].as_object() {
            doc.replies.extend(r.clone());
        }
        let dir = &file["directory"];
        if let Some(m) = dir["mailboxes"][0]["primary"].as_str() {
            doc.recipient = m.to_string();
        } else if let Some(d) = dir["domains"][0].as_str() {
            doc.recipient = format!("administrator@{d}");
        }
        for rule in file["rules"].as_array().into_iter().flatten() {
            if let (Some(except), Some(reply)) = (rule["except"].as_array(), rule["reply"].as_str())
            {
                let verbs = except
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                doc.filter = Some((verbs, reply.to_string()));
            }
        }
    }
    doc
}

impl Documented {
    fn text(&self, key: &str) -> String {
        let text = self.replies[key]
            .as_str()
            .unwrap_or_else(|| panic!("replies.{key} is not a string"));
        text.replace("{hostname}", &self.hostname)
    }

    /// What the scenario says the probe gets: its verb filter's reply when
    /// a filter stands in front and drops the verb, else `replies.KEY`.
    fn expected(&self, key: &str, probe: &[u8]) -> String {
        // A verb the scenario does not offer is not implemented.
        let key = if (probe.starts_with(b"AUTH") && !self.auth)
            || (probe.starts_with(b"STARTTLS") && !self.tls)
        {
            "not_implemented"
        } else {
            key
        };
        if let Some((allowed, reply)) = &self.filter {
            let verb = probe
                .split(|&b| b == b' ' || b == b'\r')
                .next()
                .unwrap_or_default();
            let verb = String::from_utf8_lossy(verb).to_ascii_uppercase();
            if !allowed.iter().any(|v| v.eq_ignore_ascii_case(&verb)) {
                return reply.clone();
            }
        }
        self.text(key)
    }
}

async fn run(server: &MockServer, doc: &Documented, path: &Path) -> (String, String) {
    let mut c = RawClient::connect(server.addr()).await;
    c.reply().await;
    for step in path.setup {
        let line = step.replace("{to}", &doc.recipient);
        let reply = c.reply_to(&line).await;
        assert!(
            reply[0].starts_with('2'),
            "setup {line:?} refused: {reply:?}"
        );
    }
    let probe: Vec<u8> = match path.probe {
        Probe::Line(l) => format!("{}\r\n", l.replace("{to}", &doc.recipient)).into_bytes(),
        Probe::Bytes(b) => b.to_vec(),
        Probe::LongLine => format!("NOOP {}\r\n", "x".repeat(600)).into_bytes(),
        Probe::PastRecipientLimit => {
            // The default limit is 100; the 101st is refused.
            for i in 0..100 {
                let reply = c.reply_to(&format!("RCPT TO:<{}>", doc.recipient)).await;
                assert!(reply[0].starts_with('2'), "RCPT {i} refused: {reply:?}");
            }
            format!("RCPT TO:<{}>\r\n", doc.recipient).into_bytes()
        }
    };
    c.send(&probe).await;
    let got = c.reply().await.join("\n");
    (got, doc.expected(path.key, &probe))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_path_of_every_exchange_scenario_is_worded_as_documented() {
    let mut wrong = Vec::new();
    for name in SCENARIOS {
        let doc = documented(name);
        // Completeness: every path's key is set by the scenario itself.
        for key in PATHS
            .iter()
            .map(|p| p.key)
            .chain(STATEFUL_KEYS.iter().copied())
        {
            assert!(
                doc.replies.contains_key(key),
                "{name}: replies.{key} is missing, so the engine would answer in Postfix's words",
            );
        }
        let server = MockServer::start(Scenario::bundled(name).expect("bundled"))
            .await
            .expect("start");
        for path in PATHS {
            let (got, expected) = run(&server, &doc, path).await;
            if let Some(mark) = POSTFIX_MARKS.iter().find(|m| got.contains(*m)) {
                wrong.push(format!(
                    "{name} {}: {got:?} carries Postfix's {mark:?}",
                    path.key
                ));
            } else if got != expected {
                wrong.push(format!(
                    "{name} {}: got {got:?}, documented {expected:?}",
                    path.key
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} replies off:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The paths behind a state: each scenario with CHUNKING and AUTH, made to
/// require TLS or AUTH, or to accept any credentials, by a scenario that
/// extends it, answers in the words its own file documents.
#[rstest::rstest]
#[case("exchange-2003")]
#[case("exchange-2019")]
#[tokio::test]
async fn stateful_paths_are_worded_as_documented(#[case] name: &str) {
    let doc = documented(name);
    let plain = B64.encode("\0someone\0secret");
    let cases: [(&str, &str, Vec<String>, &[u8]); 5] = [
        (
            "tls_required",
            "tls: {require: true}",
            vec![HELO.into()],
            b"MAIL FROM:<a@example.org>\r\n",
        ),
        (
            "auth_required",
            "auth: {require: true}",
            vec![HELO.into()],
            b"MAIL FROM:<a@example.org>\r\n",
        ),
        (
            "already_authenticated",
            "auth: {mechanisms: [PLAIN], accept_any: true, after_tls: false}",
            vec![HELO.into(), format!("AUTH PLAIN {plain}")],
            b"AUTH LOGIN\r\n",
        ),
        (
            "bdat_syntax",
            "",
            vec![
                "EHLO client.example.org".into(),
                MAIL.into(),
                RCPT.replace("{to}", &doc.recipient),
            ],
            b"BDAT lots\r\n",
        ),
        (
            "data_after_bdat",
            "",
            vec![
                "EHLO client.example.org".into(),
                MAIL.into(),
                RCPT.replace("{to}", &doc.recipient),
                "BDAT 5\r\nabc".into(),
            ],
            b"DATA\r\n",
        ),
    ];
    let mut wrong = Vec::new();
    for (key, overlay, setup, probe) in cases {
        let yaml = format!("extends: {name}\n{overlay}\n");
        let scenario = Scenario::from_yaml(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        let server = MockServer::start(scenario).await.expect("start");
        let mut c = RawClient::connect(server.addr()).await;
        c.reply().await;
        for line in &setup {
            let reply = c.reply_to(line).await;
            assert!(
                reply[0].starts_with('2'),
                "{name} {key}: setup {line:?} refused: {reply:?}"
            );
        }
        c.send(probe).await;
        let got = c.reply().await.join("\n");
        if got != doc.text(key) {
            wrong.push(format!(
                "{name} {key}: got {got:?}, documented {:?}",
                doc.text(key)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
