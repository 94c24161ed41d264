//! Round trip: a real capture → `import` → `replay` served to the same
//! client → the client receives the captured server bytes, exactly.

use rstest::rstest;
use smtp_harness::scenario::replay::Captured;
use smtp_harness::{MockServer, Scenario};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The captures live in the repository (sources and licences:
/// `tests/fixtures/README.md`), so a plain clone tests the same bytes.
fn captures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

async fn read_exactly(stream: &mut tokio::net::TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut buf))
        .await
        .expect("captured reply within 10s")
        .expect("read");
    buf
}

/// Play the captured client's side of session `index` and check every byte
/// the server sends. Returns how many replies were compared.
async fn replay_as_the_captured_client(scenario: &Scenario, index: usize) -> usize {
    let server = MockServer::start(scenario.clone()).await.unwrap();
    let captured = &scenario.plan().replay[index];
    // Sessions are served in order: skip to ours with empty connections.
    for _ in 0..index {
        let s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        drop(s);
    }
    server.wait_for_sessions(index as u64).await.unwrap();
    let mut c = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut compared = 0;
    // Where this client stops before the captured one did (the TLS
    // handshake, a minute's wait for a timeout notice).
    let mut stopped = false;
    if let Some((_, banner)) = &captured.banner {
        assert_eq!(
            read_exactly(&mut c, banner.len()).await,
            banner.to_vec(),
            "banner"
        );
        compared += 1;
    }
    for (i, step) in captured.steps.iter().enumerate() {
        match &step.expect {
            Captured::Command(Some(line)) => {
                c.write_all(format!("{line}\r\n").as_bytes()).await.unwrap()
            }
            Captured::Command(None) => c.write_all(b"dW5zZWVu\r\n").await.unwrap(),
            Captured::Message(size) => c.write_all(&message(*size)).await.unwrap(),
            Captured::Nothing if !step.delay.is_zero() => {
                // Sent once the client has been quiet that long
                // (the_exchange_timeout_notice_… checks it).
                stopped = true;
                break;
            }
            Captured::Nothing => {}
            Captured::StartTls => {
                stopped = true;
                break;
            }
        }
        if !step.wire.is_empty() {
            let got = read_exactly(&mut c, step.wire.len()).await;
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&step.wire),
                "step {}",
                i + 1
            );
            compared += 1;
        }
        if matches!(step.code, 421 | 521) {
            break;
        }
    }
    drop(c);
    let t = server.wait_for_sessions(index as u64 + 1).await.unwrap();
    // The empty connections before ours diverge (they said nothing).
    let ours: Vec<_> = t
        .divergences()
        .into_iter()
        .filter(|(session, _)| *session == index as u64 + 1)
        .map(|(_, d)| d)
        .collect();
    if stopped {
        assert!(
            ours.len() <= 1 && ours.iter().all(|d| d.got == "<end of session>"),
            "only where this client stopped: {ours:?}"
        );
    } else {
        assert!(ours.is_empty(), "{ours:?}");
    }
    compared
}

/// A message of the captured size (any when the capture does not say),
/// with its end of data.
fn message(size: Option<usize>) -> Vec<u8> {
    let Some(size) = size else {
        return b"Subject: replayed\r\n\r\nbody\r\n.\r\n".to_vec();
    };
    if size < 2 {
        return b".\r\n".to_vec();
    }
    let mut m = Vec::with_capacity(size + 5);
    // Whole lines while more than one line's worth is left, so the last
    // line gets at least its CRLF.
    while size - m.len() > 74 {
        m.extend_from_slice(&[b'b'; 70]);
        m.extend_from_slice(b"\r\n");
    }
    m.extend(std::iter::repeat_n(b'c', size - m.len() - 2));
    m.extend_from_slice(b"\r\n.\r\n");
    m
}

#[rstest]
#[case("zeek-smtp-exim-auth-login.pcap", 0, 9)]
// The 451 after a minute of quiet: the_exchange_timeout_notice_… below.
#[case("zeek-smtp-exchange-pipelining.pcap", 0, 6)]
#[case("zeek-smtp-postfix-bdat-invalid.pcapng", 2, 5)]
#[case("zeek-smtp-gmail-starttls.pcap", 0, 3)]
#[case("swaks-regression-00600-auth-plain.txt", 0, 8)]
#[case("swaks-recipes-dreamhost-rcpt-check.txt", 0, 5)]
#[case("ipban-exchange-recv-auth-successful.LOG", 0, 3)]
#[tokio::test]
async fn captured_server_bytes_come_back_exactly(
    #[case] file: &str,
    #[case] session: usize,
    #[case] at_least: usize,
) {
    let (yaml, warnings) =
        smtp_harness::import::run_import(&captures().join(file), None, None, false, false, false)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    let scenario = Scenario::from_yaml(&yaml)
        .unwrap_or_else(|e| panic!("{file}: imported scenario invalid: {e}\n{yaml}"));
    assert!(
        scenario.plan().replay.len() > session,
        "{file}: {} sessions; warnings {warnings:?}",
        scenario.plan().replay.len()
    );
    let compared = replay_as_the_captured_client(&scenario, session).await;
    assert!(
        compared >= at_least,
        "{file}: compared only {compared} replies"
    );
}

#[tokio::test]
async fn the_exchange_timeout_notice_is_sent_unprompted_and_the_server_hangs_up() {
    let (yaml, _) = smtp_harness::import::run_import(
        &captures().join("zeek-smtp-exchange-pipelining.pcap"),
        None,
        None,
        false,
        false,
        false,
    )
    .unwrap();
    // Exchange said it after a minute of quiet; the import keeps that wait
    // (replay waits for it), shortened here to keep the test quick.
    let quiet = "      delay: 60584ms\n";
    assert!(yaml.contains(quiet), "{yaml}");
    let yaml = yaml.replace(quiet, "      delay: 200ms\n");
    let server = MockServer::start(Scenario::from_yaml(&yaml).unwrap())
        .await
        .unwrap();
    let mut c = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    c.write_all(b"EHLO gras-os-desk.cern.ch\r\nMAIL From:<root@gras-os-desk.cern.ch> SIZE=695\r\nRCPT To:<jan.grashofer@cern.ch>\r\nDATA\r\n").await.unwrap();
    c.write_all(b"Subject: x\r\n\r\ny\r\n.\r\n").await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.ends_with(
            "Queued mail for delivery\r\n451 4.7.0 Timeout waiting for client input\r\n"
        ),
        "{text}"
    );
}

fn load_fixture(file: &str) -> Scenario {
    let (yaml, _) =
        smtp_harness::import::run_import(&captures().join(file), None, None, false, false, false)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    Scenario::from_yaml(&yaml).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Same banner, same steps (what the client sent, what the server answered
/// byte for byte). Who closed first after `221` may differ (swaks cannot
/// tell; a pcap shows swaks' FIN first) and does not matter: a 221 to QUIT
/// closes the replay.
fn assert_same_replay(first: (&str, &Scenario), second: (&str, &Scenario)) {
    let (a, b) = (&first.1.plan().replay[0], &second.1.plan().replay[0]);
    let names = format!("{} vs {}", first.0, second.0);
    assert_eq!(
        a.banner.as_ref().map(|b| b.1.clone()),
        b.banner.as_ref().map(|b| b.1.clone()),
        "{names}"
    );
    assert_eq!(a.steps.len(), b.steps.len(), "{names}");
    for (x, y) in a.steps.iter().zip(&b.steps) {
        assert_eq!(x.expect, y.expect, "{names}");
        assert_eq!(x.wire, y.wire, "{names}");
    }
    assert!(
        a.steps.len() >= 6,
        "EHLO, MAIL, RCPT, DATA, the message, QUIT: {names}"
    );
}

/// One real session (swaks against aiosmtpd), recorded at once as swaks
/// output and as a tcpdump capture: both imports give the same replay.
#[test]
fn swaks_output_and_pcap_of_one_session_import_to_the_same_scenario() {
    let (swaks, pcap) = ("aiosmtpd-swaks.txt", "aiosmtpd-swaks.pcap");
    assert_same_replay((swaks, &load_fixture(swaks)), (pcap, &load_fixture(pcap)));
}

/// Another real session captured three ways at once: on `lo` (Ethernet
/// framing) and on tcpdump's `any` pseudo-interface, whose Linux cooked
/// header is v2 by default since tcpdump 4.99 (`-y LINUX_SLL` for v1), which
/// is what a capture taken with `-i any` gives a support engineer.
#[rstest]
#[case("cooked-sll2.pcap")]
#[case("cooked-sll.pcap")]
#[case("cooked-ether.pcap")]
fn captures_on_the_any_interface_import_like_ethernet_ones(#[case] capture: &str) {
    let swaks = "cooked-swaks.txt";
    assert_same_replay(
        (swaks, &load_fixture(swaks)),
        (capture, &load_fixture(capture)),
    );
}
