//! `proxy --record`: what a real server said, as a `replay:` scenario.
//!
//! The proxy's transcript already holds the upstream leg byte for byte; this
//! turns that leg into the JSON Lines form the importer reads, so a recorded
//! session and an imported capture become the same kind of scenario.

use super::yaml::{ScenarioOptions, render};
use super::{Format, ImportError, ImportOptions, import_bytes};
use crate::transcript::{EventKind, Leg, Transcript};
use std::path::Path;

/// The upstream leg of every session in `transcript`, as a scenario.
pub fn scenario_from_proxy(
    transcript: &Transcript,
    name: &str,
) -> Result<(String, Vec<String>), ImportError> {
    let mut jsonl = String::new();
    for event in transcript.events() {
        let keep = match &event.kind {
            EventKind::Command { leg, .. }
            | EventKind::Reply { leg, .. }
            | EventKind::Data { leg, .. } => *leg == Leg::Upstream,
            EventKind::Connect { .. } | EventKind::Close { .. } | EventKind::Abort { .. } => true,
            _ => false,
        };
        if !keep {
            continue;
        }
        let Ok(mut value) = serde_json::to_value(event) else {
            continue;
        };
        if let Some(obj) = value.as_object_mut()
            && obj.contains_key("leg")
        {
            // The importer reads the client's view; here the proxy was the client.
            obj.insert("leg".into(), "client".into());
            obj.remove("original");
            obj.remove("rule");
        }
        jsonl.push_str(&value.to_string());
        jsonl.push('\n');
    }
    let options = ImportOptions {
        format: Some(Format::JsonLines),
        stream: None,
    };
    let (format, capture) = import_bytes(jsonl.as_bytes(), Path::new(name), &options)?;
    let (text, mut extra) = render(&capture, &ScenarioOptions::new(name, format));
    let mut warnings = capture.warnings;
    warnings.append(&mut extra);
    // What the recorder's bounds left out is not in the recording either.
    for s in transcript.sessions.iter().filter(|s| s.dropped > 0) {
        warnings.push(format!(
            "session {}: {} events were dropped from its middle (over --session-events) \
             and are not recorded",
            s.id, s.dropped
        ));
    }
    let last = transcript.sessions.iter().map(|s| s.id).max().unwrap_or(0);
    let forgotten = usize::try_from(last)
        .unwrap_or(usize::MAX)
        .saturating_sub(transcript.sessions.len());
    if forgotten > 0 {
        warnings.push(format!(
            "{forgotten} session(s) were forgotten (over --total-events) and are not recorded"
        ));
    }
    Ok((text, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{Closer, Keep, Recorder, Retention, Wire};

    fn session(r: &Recorder, noops: usize) {
        let addr = "127.0.0.1:25".parse().unwrap();
        let log = r.start_session(addr, addr);
        let reply = |code: u16, text: &str| EventKind::Reply {
            leg: Leg::Upstream,
            code,
            lines: vec![format!("{code} {text}")],
            rule: None,
            original: None,
        };
        log.push(reply(220, "mx ESMTP"));
        for _ in 0..noops {
            log.push(EventKind::Command {
                leg: Leg::Upstream,
                line: Wire(bytes::Bytes::from_static(b"NOOP")),
                bare_lf: false,
            });
            log.push(reply(250, "ok"));
        }
        log.close(EventKind::Close { by: Closer::Client });
    }

    #[test]
    fn a_recording_says_what_the_bounds_left_out() {
        let r = Recorder::new(Retention::All, vec![]);
        r.pin(Keep {
            session_events: Some(10),
            total_events: Some(25),
            ..Keep::default()
        });
        for _ in 0..3 {
            session(&r, 20);
        }
        let (_, warnings) = scenario_from_proxy(&r.transcript(), "rec.yaml").unwrap();
        let text = warnings.join("\n");
        assert!(
            text.contains("session 3: 33 events were dropped from its middle"),
            "{text}"
        );
        assert!(
            text.contains("1 session(s) were forgotten (over --total-events)"),
            "{text}"
        );
    }
}
