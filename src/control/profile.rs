//! The proxy's profile over HTTP: read it, and add or remove one fault or
//! reply rule by name ([`crate::proxy::edit`]), toxiproxy-style.

use super::http::Response;
use super::mime::percent_decode;
use super::routes::located;
use crate::proxy::edit::{EditError, Section};
use crate::proxy::{Profile, Shared};
use crate::scenario::model::Direction;
use serde_json::{Value, json};

/// `GET /profile`: its name, description, faults and reply rules.
pub(super) fn describe(profile: &Profile) -> Value {
    json!({
        "name": profile.name(),
        "description": profile.description(),
        "faults": entries(profile, Section::Faults)["faults"],
        "replies": entries(profile, Section::Replies)["replies"],
    })
}

/// `GET /profile/faults` or `GET /profile/replies`: the list, in order.
pub(super) fn entries(profile: &Profile, section: Section) -> Value {
    let rules = profile.rules();
    match section {
        Section::Faults => {
            let list: Vec<Value> = rules
                .faults
                .iter()
                .map(|f| {
                    json!({
                        "name": f.name,
                        "kind": f.fault.kind(),
                        "direction": match f.direction {
                            Direction::Upstream => "upstream",
                            Direction::Downstream => "downstream",
                        },
                        "probability": f.probability,
                    })
                })
                .collect();
            json!({ "faults": list })
        }
        Section::Replies => {
            let list: Vec<Value> = rules
                .replies
                .iter()
                .map(|r| {
                    json!({
                        "name": r.name,
                        "codes": r.codes,
                        "verbs": r.verbs,
                        "text": r.text.as_ref().map(|t| t.as_str()),
                        "reply": replacement(&r.reply),
                    })
                })
                .collect();
            json!({ "replies": list })
        }
    }
}

/// `POST /profile/faults` or `/profile/replies` (`?name=` optional).
pub(super) fn add(shared: &Shared, section: Section, name: Option<&str>, text: &str) -> Response {
    let name = name.map(percent_decode);
    match shared.add_entry(section, name.as_deref(), text) {
        Ok(added) => {
            let mut body = entries(&shared.profile(), section);
            body["added"] = json!(added);
            Response::json(201, &body)
        }
        Err(e) => refusal(&e),
    }
}

/// `DELETE /profile/faults/{name}` or `/profile/replies/{name}`.
pub(super) fn remove(shared: &Shared, section: Section, name: &str) -> Response {
    let name = percent_decode(name);
    match shared.remove_entry(section, &name) {
        Ok(()) => {
            let mut body = entries(&shared.profile(), section);
            body["removed"] = json!(name);
            Response::json(200, &body)
        }
        Err(e) => refusal(&e),
    }
}

/// A refused edit as an answer: what the client sent is wrong (400, with
/// file:line:column), the profile would not check with it (422, located),
/// a name clashes (409) or is unknown (404).
fn refusal(e: &EditError) -> Response {
    match e {
        EditError::Unreadable(e) => located(400, e),
        EditError::Invalid(e) => located(422, e),
        EditError::Renamed(..) => Response::error(400, e.to_string()),
        EditError::Exists(..) | EditError::Busy => Response::error(409, e.to_string()),
        EditError::Missing(..) => Response::error(404, e.to_string()),
    }
}

/// A reply rule's replacement as written: `451 4.7.1 later`, lines joined
/// by ` / `.
fn replacement(reply: &crate::scenario::compile::ReplyTemplate) -> String {
    let lines: Vec<String> = reply.lines.iter().map(|t| t.source()).collect();
    format!("{} {}", reply.code, lines.join(" / "))
}
