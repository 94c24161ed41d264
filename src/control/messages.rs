//! `/messages/{n}.eml` and `/messages/{n}`: one accepted message, raw or
//! parsed (envelope, headers, MIME parts), for the UI and for scripts.

use super::http::Response;
use super::routes::{message_number, not_here, server};
use super::Target;

pub(super) fn message(target: &Target, n: &str) -> Response {
    let Some(shared) = server(target) else {
        return not_here();
    };
    let n = match message_number(n) {
        Ok(n) => n,
        Err(response) => return response,
    };
    let messages = shared.recorder.messages();
    match n.checked_sub(1).and_then(|i| messages.get(i)) {
        Some(m) => match m.bytes() {
            Ok(data) => Response::bytes(200, "message/rfc822", data.to_vec()),
            Err(e) => Response::error(500, format!("cannot read message {n}: {e}")),
        },
        None => Response::error(
            404,
            format!("no message {n}; {} kept, numbered from 1", messages.len()),
        ),
    }
}

/// `GET /messages/{n}` (the parsed view) or `GET /messages/{n}/parts/{p}`
/// (one part's content, transfer encoding undone). A part is always sent
/// as a download (`application/octet-stream`, `attachment`, `nosniff`):
/// received HTML or SVG must never run on the control API's origin, which
/// can change what the harness does; its type is in the parsed view.
pub(super) fn parsed_message(
    kept: &[crate::message::Message],
    n: usize,
    part: Option<&str>,
) -> Response {
    let Some(m) = n.checked_sub(1).and_then(|i| kept.get(i)) else {
        return Response::error(
            404,
            format!("no message {n}; {} kept, numbered from 1", kept.len()),
        );
    };
    let raw = match m.bytes() {
        Ok(raw) => raw,
        Err(e) => return Response::error(500, format!("cannot read message {n}: {e}")),
    };
    let Some(part) = part else {
        return Response::json(200, &super::mime::detail(n, m, &raw));
    };
    match super::mime::part_content(&raw, part) {
        Ok((_, filename, bytes)) => {
            let mut response = Response::bytes(200, "application/octet-stream", bytes);
            let name = filename
                .map(|f| safe_filename(&f))
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| format!("message-{n}-part-{part}"));
            response.headers.push((
                "Content-Disposition",
                format!("attachment; filename=\"{name}\""),
            ));
            response
                .headers
                .push(("X-Content-Type-Options", "nosniff".to_string()));
            response
        }
        Err(e) => Response::error(404, format!("message {n}: {e}")),
    }
}

/// A file name that can go between the quotes of a header: printable
/// ASCII without quotes, backslashes or path separators.
pub(super) fn safe_filename(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '"' | '\\' | '/' => '_',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '_',
        })
        .collect()
}
