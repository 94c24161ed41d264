//! The routes that change what a running server or proxy does: its
//! scenario, rules and one-shot faults (a server), its profile (a proxy),
//! and a reset. Each answer is JSON; a refused change changes nothing.

use super::http::{Request, Response};
use super::routes::{body, body_text, not_here, problems, server};
use super::{Kind, State, Target};
use crate::scenario::model::RuleSpec;
use crate::scenario::{Origin, Scenario};
use serde_json::{Value, json};
use serde_saphyr::Spanned;
use std::sync::atomic::Ordering;

pub(super) fn scenario_json(s: &Scenario) -> Value {
    let rules: Vec<Value> = s
        .plan()
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| json!({ "index": i, "name": r.label }))
        .collect();
    json!({
        "name": s.name(),
        "rules": rules,
        "expectations": s.expectations().len(),
    })
}

pub(super) fn get_scenario(target: &Target) -> Response {
    match server(target) {
        Some(shared) => Response::json(200, &scenario_json(&shared.scenario())),
        None => not_here(),
    }
}

pub(super) fn put_scenario(target: &Target, req: &Request) -> Response {
    let Some(shared) = server(target) else {
        return not_here();
    };
    let text = match body_text(req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let scenario = match Scenario::from_yaml_with_files(text, target.files.as_deref()) {
        Ok(s) => s,
        Err(e) => return problems(&e),
    };
    if let Err(e) = shared.set_scenario(scenario.clone()) {
        return Response::error(422, e.to_string());
    }
    shared.recorder.control(
        "scenario",
        format!(
            "now {} ({} rules) for new sessions",
            scenario.name(),
            scenario.plan().rules.len()
        ),
    );
    Response::json(200, &scenario_json(&scenario))
}

pub(super) fn rules(target: &Target) -> Response {
    match server(target) {
        Some(shared) => Response::json(
            200,
            &json!({ "rules": scenario_json(&shared.scenario())["rules"] }),
        ),
        None => not_here(),
    }
}

/// [`Shared::edit_scenario`](crate::server::Shared::edit_scenario), its
/// refusals as responses.
pub(super) fn edit_scenario(
    shared: &crate::server::Shared,
    edit: impl Fn(&mut crate::scenario::model::ScenarioFile) -> Result<String, Response>,
) -> Result<(Scenario, String), Response> {
    use crate::server::EditError;
    shared
        .edit_scenario("<request>", edit)
        .map_err(|e| match e {
            EditError::Edit(response) => response,
            EditError::Invalid(e) => problems(&e),
            EditError::Tls(e) => Response::error(422, e.to_string()),
            EditError::Busy => Response::error(409, "the scenario kept changing; try again"),
        })
}

pub(super) fn add_rule(state: &State, target: &Target, req: &Request) -> Response {
    let Some(shared) = server(target) else {
        return not_here();
    };
    let text = match body_text(req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    // JSON is YAML, so one parser gives both the same line:column errors.
    let rule: Spanned<RuleSpec> = match crate::scenario::load::parse(text, &Origin::Inline) {
        Ok(r) => r,
        Err(e) => return problems(&e),
    };
    let at = match req.query_param("at") {
        None => 0,
        Some(v) => match v.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Response::error(400, format!("`at` is a rule index, not {v:?}")),
        },
    };
    let default_name = format!(
        "control-rule-{}",
        state.next_rule.fetch_add(1, Ordering::Relaxed)
    );
    let result = edit_scenario(shared, |model| {
        let mut rule = rule.clone();
        let name = rule
            .value
            .name
            .get_or_insert_with(|| default_name.clone())
            .clone();
        let index = at.min(model.rules.len());
        model.rules.insert(index, rule);
        Ok(format!("{name:?} at index {index}"))
    });
    match result {
        Ok((scenario, what)) => {
            shared.recorder.control("rule-added", what);
            Response::json(201, &scenario_json(&scenario))
        }
        Err(r) => r,
    }
}

pub(super) fn delete_rule(target: &Target, n: &str) -> Response {
    let Some(shared) = server(target) else {
        return not_here();
    };
    let Ok(n) = n.parse::<usize>() else {
        return Response::error(400, format!("rules are numbered from 0, not {n:?}"));
    };
    let result = edit_scenario(shared, |model| {
        if n >= model.rules.len() {
            return Err(Response::error(
                404,
                format!("no rule {n}; there are {} (GET /rules)", model.rules.len()),
            ));
        }
        let removed = model.rules.remove(n);
        let name = removed
            .value
            .name
            .unwrap_or_else(|| format!("rule {}", n + 1));
        Ok(format!("{name:?} from index {n}"))
    });
    match result {
        Ok((scenario, what)) => {
            shared.recorder.control("rule-removed", what);
            Response::json(200, &scenario_json(&scenario))
        }
        Err(r) => r,
    }
}

pub(super) fn faults(target: &Target) -> Response {
    match server(target) {
        Some(shared) => Response::json(200, &json!({ "armed": shared.faults.armed() })),
        None => not_here(),
    }
}

pub(super) fn arm_fault(target: &Target, req: &Request) -> Response {
    let Some(shared) = server(target) else {
        return not_here();
    };
    let bytes = match body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let request: crate::session::armed::FaultRequest = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(e) => {
            return Response::error(
                422,
                format!(
                    "{e}; expected e.g. {{\"verb\":\"MAIL\",\"reply\":\"451 4.3.0 try later\"}} or {{\"on\":\"banner\",\"action\":\"close\"}}"
                ),
            );
        }
    };
    match shared.faults.arm(request) {
        Ok(fault) => {
            shared.recorder.control("fault-armed", fault.describe());
            Response::json(201, &serde_json::to_value(&fault).unwrap_or(Value::Null))
        }
        Err(e) => Response::error(422, e),
    }
}

pub(super) fn clear_faults(target: &Target) -> Response {
    let Some(shared) = server(target) else {
        return not_here();
    };
    let n = shared.faults.clear();
    shared
        .recorder
        .control("faults-cleared", format!("{n} disarmed"));
    Response::json(200, &json!({ "disarmed": n }))
}

pub(super) fn reset(target: &Target) -> Response {
    let recorder = target.recorder();
    recorder.reset();
    target.expectations.restart(recorder.now_us());
    recorder.control("reset", "sessions, messages and counters");
    Response::json(200, &json!({ "reset": true }))
}

pub(super) fn put_profile(target: &Target, req: &Request) -> Response {
    let Kind::Proxy(shared) = &target.kind else {
        return not_here();
    };
    let text = match body_text(req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match crate::Profile::from_yaml_with_files(text, target.files.as_deref()) {
        Ok(profile) => {
            shared.set_profile(profile.clone());
            shared.recorder.control(
                "profile",
                format!("now {} for new connections", profile.name()),
            );
            Response::json(200, &json!({ "name": profile.name() }))
        }
        Err(e) => problems(&e),
    }
}
