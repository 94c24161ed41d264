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
