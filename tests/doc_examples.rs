//! The Rust examples of README.md and docs/proxy.md, compiled and run.
//! `tests/docs.rs` checks that every line of each such block appears here,
//! in order, so the docs cannot drift from code that works; lines added
//! here stand for the examples' "client under test" (`my_client`, a small
//! SMTP client that falls back to HELO).

use smtp_harness::{Expect, MockServer, Rule, Scenario};

/// What the README calls "code under test": one message from
/// alice@example.com to bob@adatum.com, EHLO first and HELO if refused.
mod my_client {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpStream};

    type Result<T> = std::io::Result<T>;

    const MESSAGE: &str = "Subject: hello\r\n\r\nHello Bob.\r\n.";

    fn reply(from: &mut impl BufRead) -> Result<String> {
        loop {
            let mut line = String::new();
            if from.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("the server closed the connection"));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line);
            }
        }
    }

    fn talk(sock: &mut TcpStream, from: &mut impl BufRead, line: &str) -> Result<String> {
        sock.write_all(format!("{line}\r\n").as_bytes())?;
        reply(from)
    }

    pub fn send_blocking(addr: SocketAddr) -> Result<()> {
        let mut sock = TcpStream::connect(addr)?;
        let mut from = BufReader::new(sock.try_clone()?);
        reply(&mut from)?;
        if talk(&mut sock, &mut from, "EHLO client.example.com")?.starts_with('5') {
            talk(&mut sock, &mut from, "HELO client.example.com")?;
        }
        for line in [
            "MAIL FROM:<alice@example.com>",
            "RCPT TO:<bob@adatum.com>",
            "DATA",
            MESSAGE,
            "QUIT",
        ] {
            let answer = talk(&mut sock, &mut from, line)?;
            if answer.starts_with(['4', '5']) {
                return Err(std::io::Error::other(format!("{line}: {answer}")));
            }
        }
        Ok(())
    }

    pub async fn send(addr: SocketAddr) -> Result<()> {
        tokio::task::spawn_blocking(move || send_blocking(addr))
            .await
            .map_err(std::io::Error::other)?
    }

    /// One session that says only what `lines` say, for the expectations
    /// example.
    pub fn session(addr: SocketAddr, lines: &[&str]) -> Result<()> {
        let mut sock = TcpStream::connect(addr)?;
        let mut from = BufReader::new(sock.try_clone()?);
        reply(&mut from)?;
        for line in lines {
            talk(&mut sock, &mut from, line)?;
        }
        Ok(())
    }
}

#[rustfmt::skip]
mod async_example {
    use super::my_client;
    use smtp_harness::{MockServer, Scenario};

    #[tokio::test]
    async fn my_client_falls_back_to_helo() -> Result<(), Box<dyn std::error::Error>> {
        let server = MockServer::start(Scenario::bundled("pix-mailguard")?).await?; // 127.0.0.1:0
        my_client::send(server.addr()).await?; // code under test
        let t = server.wait_for_sessions(1).await?; // no sleeps
        assert!(t.client_sent("HELO"));
        let m = &server.messages()[0];
        assert_eq!(m.rcpt_to(), ["bob@adatum.com"]);
        assert_eq!(m.header("Subject")?.as_deref(), Some("hello")); // bodies over 64 KiB are read from a temp file
        Ok(())
    }
}

#[rustfmt::skip]
mod blocking_example {
    use super::my_client;
    use smtp_harness::{MockServer, Scenario};

    #[test]
    fn my_blocking_client_sends_one_message() -> Result<(), Box<dyn std::error::Error>> {
        let server = MockServer::start_blocking(Scenario::bundled("postfix-default")?)?;
        my_client::send_blocking(server.addr())?; // code under test
        let t = server.wait_for_sessions_blocking(1)?; // no sleeps
        assert!(t.client_sent("DATA"));
        assert_eq!(server.messages()[0].mail_from, "alice@example.com");
        Ok(())
    }
}

#[rustfmt::skip]
#[test]
fn rules_and_expectations() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start_blocking(Scenario::bundled("postfix-default")?)?;
    // Answer, and count: this rule must answer exactly once.
    Rule::verb("MAIL").in_session(1).reply("451 4.3.0 try later").expect(1).mount(&server);
    // Only count.
    Expect::verb("EHLO").expect(1).named("EHLO exactly once").mount(&server);
    Expect::verb("RCPT").args("(?i)<x@y>").expect(1..).mount(&server);
    Expect::verb("STARTTLS").expect(0).named("no STARTTLS").mount(&server);
    // Scoped: removed and checked when the guard drops (for helper functions).
    let _greylist = Rule::verb("RCPT").reply("450 4.2.0 later").expect(1..).mount_as_scoped(&server);
    let _quit = Expect::verb("QUIT").in_session(3).mount_as_scoped(&server);
    // ... run the client ...
    let addr = server.addr();
    my_client::session(addr, &["EHLO c", "MAIL FROM:<a@b>", "RSET"])?;
    my_client::session(addr, &["HELO c", "MAIL FROM:<a@b>", "RCPT TO:<x@y>"])?;
    my_client::session(addr, &["HELO c", "QUIT"])?;
    server.wait_for_sessions_blocking(3)?;
    server.verify();
    Ok(())
}

#[rustfmt::skip]
mod proxy_examples {
    use super::my_client;
    use smtp_harness::{MockProxy, MockServer, Profile, Scenario};

    #[tokio::test]
    async fn through_a_pix() -> Result<(), Box<dyn std::error::Error>> {
        // Arrange: a fake Exchange 2003 behind a PIX.
        let server = MockServer::start(Scenario::bundled("exchange-2003")?).await?;
        let proxy = MockProxy::start(server.addr(), Profile::bundled("pix-mailguard")?).await?;
        // Act: point the client under test at proxy.addr().
        my_client::send(proxy.addr()).await?;
        // Assert: the client sent EHLO, the upstream never saw it.
        let t = proxy.wait_for_sessions(1).await?;
        assert!(t.client_sent("EHLO") && !t.upstream_received("EHLO"));
        Ok(())
    }

    #[tokio::test]
    async fn the_firewall_starts_cutting() -> Result<(), Box<dyn std::error::Error>> {
        let server = MockServer::start(Scenario::default()).await?;
        let proxy = MockProxy::start(server.addr(), Profile::bundled("transparent")?).await?;
        // Sessions from now on lose the reply to the final dot.
        proxy.add_fault("lost-dot", "{reply_then_close: 421 4.4.2 timed out, on: '.'}")?;
        proxy.add_reply_rule("greylist", "{verb: RCPT, code: 250, reply: 451 4.7.1 later}")?;
        assert_eq!(proxy.faults(), ["lost-dot"]);
        // ... the client under test sends ...
        let refused = my_client::send(proxy.addr()).await.unwrap_err();
        assert!(refused.to_string().contains("451 4.7.1 later"), "{refused}");
        proxy.remove_fault("lost-dot")?;     // plain relaying again
        proxy.remove_reply_rule("greylist")?;
        my_client::send(proxy.addr()).await?;
        Ok(())
    }
}
