//! The harness's own JSON Lines transcripts (`serve --transcript FILE`, see
//! `transcript::Event`): one event per line, `{"session":1,"at_us":…,
//! "type":"reply","leg":"client","code":220,"lines":["220 …"]}`.
//!
//! Only the client leg is imported (what the client saw). `data` events carry
//! the message size, not its content.

use super::Capture;
use super::builder::SessionBuilder;
use super::model::{CapturedSession, End};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

struct Open {
    builder: SessionBuilder,
    first_us: u64,
    end: Option<(End, Option<Duration>)>,
    /// The client's last command announced a BDAT chunk of this size: the
    /// `data` event after it is that chunk, whose reply answers the BDAT.
    chunk: Option<usize>,
}

impl Open {
    fn new(session: u64, first_us: u64) -> Open {
        Open {
            builder: SessionBuilder::new(
                CapturedSession {
                    label: format!("session {session}"),
                    ..CapturedSession::default()
                },
                true,
            ),
            first_us,
            end: None,
            chunk: None,
        }
    }

    /// One event of this session, of type `kind`, on line `line_no`.
    fn event(&mut self, kind: &str, v: &Value, line_no: usize, warnings: &mut Vec<String>) {
        let at_us = v.get("at_us").and_then(Value::as_u64);
        let at = at_us.map(|t| Duration::from_micros(t.saturating_sub(self.first_us)));
        // The upstream leg is a proxy's own conversation, not what the
        // client saw; events without a leg are the client's.
        let client_leg = v
            .get("leg")
            .and_then(Value::as_str)
            .is_none_or(|l| l == "client");
        let b = &mut self.builder;
        match kind {
            "connect" => connect(b.session_mut(), v),
            "command" if client_leg => {
                let line = v.get("line").and_then(Value::as_str).unwrap_or("");
                b.command(line.as_bytes(), at);
                self.chunk = super::builder::bdat_size(line.as_bytes());
            }
            "reply" if client_leg => {
                let lines = reply_lines(v);
                if lines.is_empty() {
                    warnings.push(format!("line {line_no}: a reply without lines; skipped"));
                } else {
                    b.server_reply(lines, at);
                }
            }
            "data" if client_leg => {
                let size = v
                    .get("size")
                    .and_then(Value::as_u64)
                    .and_then(|s| usize::try_from(s).ok());
                // A chunk is not a DATA message: read as one, its reply
                // would answer the BDAT and every later reply the command
                // before its own.
                match self.chunk.take() {
                    Some(announced) => b.bdat_chunk(None, size.unwrap_or(announced), at),
                    None => b.data_end(size, None, at),
                }
            }
            "close" | "abort" => {
                let how = match v.get("by").and_then(Value::as_str) {
                    Some("client") => End::ClientClosed,
                    Some("error") => End::CutOff,
                    _ => End::ServerClosed,
                };
                self.end = Some((how, at));
            }
            _ => {}
        }
    }
}

/// A `connect` event: who, and when.
fn connect(s: &mut CapturedSession, v: &Value) {
    let addr = |key| {
        v.get(key)
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
    };
    s.client = addr("peer");
    s.server = addr("local");
    s.started = v
        .get("unix_ms")
        .and_then(Value::as_u64)
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
}

/// A `reply` event's wire lines.
fn reply_lines(v: &Value) -> Vec<Vec<u8>> {
    v.get("lines")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| s.as_bytes().to_vec())
                .collect()
        })
        .unwrap_or_default()
}

/// Parse a JSON Lines transcript.
pub fn parse(bytes: &[u8]) -> Result<Capture, (String, Capture)> {
    let mut capture = Capture::default();
    let mut order: Vec<u64> = Vec::new();
    let mut open: HashMap<u64, Open> = HashMap::new();
    let mut bad: Vec<usize> = Vec::new();
    let mut events = 0usize;
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<Value>(line).ok();
        let Some((session, kind, v)) = parsed.as_ref().and_then(|v| {
            let session = v.get("session")?.as_u64()?;
            Some((session, v.get("type")?.as_str()?, v))
        }) else {
            bad.push(i + 1);
            continue;
        };
        events += 1;
        let entry = open.entry(session).or_insert_with(|| {
            order.push(session);
            Open::new(session, v.get("at_us").and_then(Value::as_u64).unwrap_or(0))
        });
        entry.event(kind, v, i + 1, &mut capture.warnings);
    }
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().take(10).map(usize::to_string).collect();
        capture.warnings.push(format!(
            "{} line(s) are not transcript events and were skipped (line {})",
            bad.len(),
            shown.join(", ")
        ));
    }
    for id in order {
        if let Some(o) = open.remove(&id) {
            let (end, at) = o.end.unwrap_or((End::CutOff, None));
            capture.sessions.push(o.builder.finish(end, at));
        }
    }
    if events == 0 {
        return Err((
            "not a JSON Lines transcript: no line is an event with `session` and `type`".into(),
            capture,
        ));
    }
    Ok(capture)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bdat_chunk_is_not_a_message_and_its_reply_answers_the_bdat() {
        let t = br#"{"session":1,"at_us":10,"type":"reply","leg":"client","code":220,"lines":["220 hi"]}
{"session":1,"at_us":20,"type":"command","leg":"client","line":"BDAT 6 LAST"}
{"session":1,"at_us":30,"type":"data","leg":"client","size":6}
{"session":1,"at_us":40,"type":"reply","leg":"client","code":250,"lines":["250 queued"]}
{"session":1,"at_us":50,"type":"command","leg":"client","line":"QUIT"}
{"session":1,"at_us":60,"type":"reply","leg":"client","code":221,"lines":["221 bye"]}
"#;
        let c = parse(t).unwrap();
        let yaml = crate::import::to_scenario_yaml(
            &c,
            &crate::import::ScenarioOptions::new("t.jsonl", crate::import::Format::JsonLines),
        );
        let bdat = yaml.find("BDAT 6 LAST").expect("the BDAT step");
        let quit = yaml.find("client: QUIT").expect("the QUIT step");
        assert!(yaml[bdat..quit].contains("250 queued"), "{yaml}");
        assert!(yaml[quit..].contains("221 bye"), "{yaml}");
        assert!(!yaml.contains("data:"), "a chunk is no DATA step: {yaml}");
    }

    #[test]
    fn reads_events() {
        let t = br#"{"session":1,"at_us":10,"type":"connect","peer":"127.0.0.1:5000","local":"127.0.0.1:2525","unix_ms":1700000000000}
{"session":1,"at_us":20,"type":"reply","leg":"client","code":220,"lines":["220 hi"]}
{"session":1,"at_us":30,"type":"command","leg":"client","line":"DATA"}
{"session":1,"at_us":40,"type":"reply","leg":"client","code":354,"lines":["354 go"]}
{"session":1,"at_us":50,"type":"data","leg":"client","size":123}
{"session":1,"at_us":60,"type":"reply","leg":"client","code":250,"lines":["250 ok"]}
{"session":1,"at_us":70,"type":"close","by":"client"}
"#;
        let c = parse(t).unwrap();
        let s = &c.sessions[0];
        assert_eq!(s.client.map(|a| a.port()), Some(5000));
        assert_eq!(s.data(), vec![(Some(123), None)]);
        assert_eq!(s.end(), Some(End::ClientClosed));
        assert_eq!(s.items[1].at, Some(Duration::from_micros(20)));
        assert!(parse(b"not json\n").is_err());
    }
}
