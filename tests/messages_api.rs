//! `/messages` over HTTP: parsed header fields, the MIME tree, text and
//! HTML bodies, attachments and search, for messages a real client
//! (lettre) built and sent.

mod common;

use common::control_api::{get, raw};
use common::lettre_send as send;
use lettre::Message as Mail;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use serde_json::Value;
use smtp_harness::{MockServer, Scenario};
use std::net::SocketAddr;

/// Not text: every byte value, so a decoding that assumed UTF-8 or lost a
/// byte would show.
fn pdf_bytes() -> Vec<u8> {
    let mut b = b"%PDF-1.4\n".to_vec();
    b.extend((0..=255u8).cycle().take(3000));
    b
}

fn report() -> Mail {
    Mail::builder()
        .from("Alice Ärger <alice@example.com>".parse().expect("from"))
        .to("Carol <carol@example.org>".parse().expect("to"))
        .subject("Quarterly report – Q3 ✓")
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(
                    "Hello Carol,\nthe figures are attached.\n".to_string(),
                    "<p>Hello <b>Carol</b>, the figures are attached.</p>".to_string(),
                ))
                .singlepart(
                    Attachment::new("report.pdf".to_string())
                        .body(pdf_bytes(), "application/pdf".parse().expect("type")),
                ),
        )
        .expect("mail")
}

fn note(text: String) -> Mail {
    Mail::builder()
        .from("bob@example.net".parse().expect("from"))
        .to("dave@example.org".parse().expect("to"))
        .subject("lunch?")
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        )
        .expect("mail")
}

async fn json(control: SocketAddr, path: &str) -> Value {
    let (status, body) = get(control, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

/// The `n` of each listed message.
async fn listed(control: SocketAddr, query: &str) -> Vec<u64> {
    let list = json(control, &format!("/messages{query}")).await;
    list["messages"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["n"].as_u64().expect("n"))
        .collect()
}

async fn two_messages() -> (MockServer, SocketAddr) {
    let mut server = MockServer::start(Scenario::default())
        .await
        .expect("server");
    let control = server.start_control().await.expect("control");
    send(server.addr(), report()).await;
    send(server.addr(), note("see you at noon\n".to_string())).await;
    server.wait_for_sessions(2).await.expect("sessions");
    (server, control)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_header_fields_and_searches_them() {
    let (_server, control) = two_messages().await;
    let list = json(control, "/messages").await;
    let first = &list["messages"][0];
    assert_eq!(first["subject"], "Quarterly report – Q3 ✓", "{first}");
    assert_eq!(first["from"][0], "Alice Ärger <alice@example.com>");
    assert_eq!(first["to"][0], "Carol <carol@example.org>");
    assert_eq!(first["href"], "/messages/1");
    assert_eq!(first["eml"], "/messages/1.eml");
    assert_eq!(list["messages"][1]["subject"], "lunch?");

    assert_eq!(listed(control, "").await, [1, 2]);
    // Case-insensitive substrings, percent-encoded as browsers send them.
    assert_eq!(listed(control, "?subject=QUARTERLY%20report").await, [1]);
    assert_eq!(listed(control, "?subject=q3+%E2%9C%93").await, [1]);
    assert_eq!(listed(control, "?sender=bob").await, [2]);
    // The header's display name counts as the sender too.
    assert_eq!(listed(control, "?sender=%C3%A4rger").await, [1]);
    assert_eq!(listed(control, "?recipient=carol%40example.org").await, [1]);
    assert_eq!(listed(control, "?recipient=example.org").await, [1, 2]);
    assert_eq!(
        listed(control, "?sender=bob&subject=quarterly").await,
        [] as [u64; 0]
    );
    assert_eq!(listed(control, "?subject=").await, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_parsed_into_headers_parts_and_attachments() {
    let (_server, control) = two_messages().await;
    let m = json(control, "/messages/1").await;
    assert_eq!(m["parsed"], true);
    assert_eq!(m["mail_from"], "alice@example.com");
    assert_eq!(m["recipients"][0]["original"], "carol@example.org");
    let subject = m["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .find(|h| h["name"] == "Subject")
        .expect("a Subject field");
    // Decoded from lettre's RFC 2047 words; as received, still encoded.
    assert_eq!(subject["value"], "Quarterly report – Q3 ✓");
    assert!(
        subject["raw"].as_str().expect("raw").contains("=?utf-8?"),
        "{subject}"
    );

    // The MIME tree: mixed → (alternative → plain, html), pdf.
    let parts = m["parts"].as_array().expect("parts");
    let types: Vec<&str> = parts
        .iter()
        .map(|p| p["content_type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "application/pdf"
        ]
    );
    assert_eq!(parts[0]["children"], serde_json::json!([1, 4]));
    assert_eq!(parts[1]["children"], serde_json::json!([2, 3]));

    // As on the wire: lettre sent CRLF line ends.
    assert_eq!(
        m["text"][0]["content"],
        "Hello Carol,\r\nthe figures are attached.\r\n"
    );
    assert_eq!(
        m["html"][0]["content"],
        "<p>Hello <b>Carol</b>, the figures are attached.</p>"
    );
    let attachment = &m["attachments"][0];
    assert_eq!(attachment["filename"], "report.pdf");
    assert_eq!(attachment["content_type"], "application/pdf");
    assert_eq!(attachment["size"], pdf_bytes().len());

    // The attachment's content, base64 undone, byte for byte, as a
    // download that no browser renders on the control API's origin.
    let href = attachment["href"].as_str().expect("href");
    let req = format!("GET {href} HTTP/1.1\r\nHost: {control}\r\n\r\n");
    let (status, head, body) = raw(control, req.as_bytes()).await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, pdf_bytes());
    assert!(
        head.contains("Content-Type: application/octet-stream"),
        "{head}"
    );
    assert!(
        head.contains("Content-Disposition: attachment; filename=\"report.pdf\""),
        "{head}"
    );
    assert!(head.contains("X-Content-Type-Options: nosniff"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_numbers_are_answered_and_long_bodies_are_cut() {
    let (server, control) = two_messages().await;
    for (path, status) in [
        ("/messages/0", 400),
        ("/messages/x", 400),
        ("/messages/9", 404),
        ("/messages/1/parts/99", 404),
        ("/messages/1/parts/x", 404),
        ("/messages/1/parts/0", 404),
    ] {
        let (got, body) = get(control, path).await;
        assert_eq!(got, status, "{path}: {}", String::from_utf8_lossy(&body));
    }
    let (_, body) = get(control, "/messages/1/parts/0").await;
    assert!(
        String::from_utf8_lossy(&body).contains("multipart container"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // A text body over the inline limit (1 MiB) is cut in the parsed view;
    // the part's link has all of it.
    let long = "0123456789abcdef\n".repeat(80_000);
    send(server.addr(), note(long.clone())).await;
    server.wait_for_sessions(3).await.expect("sessions");
    let m = json(control, "/messages/3").await;
    let text = &m["text"][0];
    assert_eq!(text["truncated"], true);
    assert_eq!(text["content"].as_str().expect("text").len(), 1 << 20);
    let (status, whole) = get(control, text["href"].as_str().expect("href")).await;
    assert_eq!(status, 200);
    assert_eq!(text["size"], whole.len());
    // The same text, with the CRLF line ends of the wire.
    assert_eq!(
        String::from_utf8_lossy(&whole)
            .replace("\r\n", "\n")
            .trim_end(),
        long.trim_end()
    );
}
