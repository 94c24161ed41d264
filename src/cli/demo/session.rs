//! The client in the demo: what a typical MTA does. EHLO (HELO if refused),
//! STARTTLS when offered, MAIL with the parameters the server advertised,
//! one recipient, one message, QUIT. Every step is bounded.

use crate::client::{ClientError, SmtpClient};
use crate::probe::ehlo;
use std::net::SocketAddr;
use std::time::Duration;

/// The client's HELO name.
pub const CLIENT_NAME: &str = "client.contoso.com";
/// Envelope sender.
pub const FROM: &str = "alice@contoso.com";
/// Envelope recipient: a secondary domain of the Exchange organisation, so
/// an address-rewriting profile has something to show.
pub const TO: &str = "administrator@cpandl.net";

const MESSAGE: &[u8] = b"From: Alice <alice@contoso.com>\r\n\
To: <administrator@cpandl.net>\r\n\
Subject: Quarterly report\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Hello, the report is attached. Gr\xc3\xbc\xc3\x9fe, Alice\r\n";

/// Run the session; `Err` says where it stopped (the story still shows what
/// happened up to there).
pub async fn run(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let step = |what: &'static str| move |e: ClientError| format!("{what}: {e}");
    let mut c = SmtpClient::connect(addr, timeout)
        .await
        .map_err(step("connect"))?;
    let banner = c.read_reply().await.map_err(step("banner"))?;
    if banner.code != 220 {
        return Err(format!("refused at the banner: {banner}"));
    }
    let mut ehlo_reply = c
        .command(&format!("EHLO {CLIENT_NAME}"))
        .await
        .map_err(step("EHLO"))?;
    let mut keywords = Vec::new();
    if ehlo_reply.code == 250 {
        keywords = ehlo::keywords(&ehlo_reply.lines);
    } else {
        let helo = c
            .command(&format!("HELO {CLIENT_NAME}"))
            .await
            .map_err(step("HELO"))?;
        if helo.code != 250 {
            return Err(format!("HELO refused: {helo}"));
        }
    }
    if ehlo::advertises(&keywords, "STARTTLS") {
        let r = c.command("STARTTLS").await.map_err(step("STARTTLS"))?;
        if r.code == 220 {
            c.starttls("mail.adatum.com")
                .await
                .map_err(step("TLS handshake"))?;
            ehlo_reply = c
                .command(&format!("EHLO {CLIENT_NAME}"))
                .await
                .map_err(step("EHLO after TLS"))?;
            keywords = ehlo::keywords(&ehlo_reply.lines);
        }
    }
    let mut mail = format!("MAIL FROM:<{FROM}>");
    if ehlo::advertises(&keywords, "SIZE") {
        mail.push_str(&format!(" SIZE={}", MESSAGE.len()));
    }
    if ehlo::advertises(&keywords, "8BITMIME") {
        mail.push_str(" BODY=8BITMIME");
    }
    let r = c.command(&mail).await.map_err(step("MAIL"))?;
    if r.code != 250 {
        let _ = c.command("QUIT").await;
        return Err(format!("MAIL refused: {r}"));
    }
    let r = c
        .command(&format!("RCPT TO:<{TO}>"))
        .await
        .map_err(step("RCPT"))?;
    if r.class() == 2 {
        let r = c.command("DATA").await.map_err(step("DATA"))?;
        if r.code == 354 {
            c.send_message(MESSAGE).await.map_err(step("end of data"))?;
        }
    }
    c.command("QUIT").await.map_err(step("QUIT"))?;
    c.close().await;
    Ok(())
}
