//! The route table, dispatch and the helpers the handlers share (the
//! handlers: `scenario_routes`, `messages`, `profile`, `stream`).
//! [`ROUTES`] is the one list of what the API serves; `/openapi.json` is
//! checked against it by a test.

use super::http::{Request, Response};
use super::stream::Job;
use super::{Kind, State, Target};
use crate::proxy::edit::Section;
use crate::scenario::ScenarioError;
use serde_json::{Value, json};

/// Which mode a route is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `serve`/`replay` and the proxy.
    Both,
    /// Only the fake server.
    Server,
    /// Only the proxy.
    Proxy,
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    Sessions,
    Session,
    Diagram,
    Events,
    Messages,
    Message,
    MessageParsed,
    MessagePart,
    Expectations,
    GetScenario,
    PutScenario,
    Rules,
    AddRule,
    DeleteRule,
    Faults,
    ArmFault,
    ClearFaults,
    Reset,
    PutProfile,
    GetProfile,
    Entries(Section),
    AddEntry(Section),
    RemoveEntry(Section),
    OpenApi,
    Ui(super::ui::Asset),
    Proxies,
}

/// One route: method, path pattern (`{name}` segments, optionally with a
/// suffix such as `{n}.eml`), and where it is served.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern, as in the OpenAPI document.
    pub path: &'static str,
    /// Server, proxy, or both.
    pub mode: Mode,
    handler: Handler,
}

const fn route(method: &'static str, path: &'static str, mode: Mode, handler: Handler) -> Route {
    Route {
        method,
        path,
        mode,
        handler,
    }
}

/// Everything the API serves.
pub const ROUTES: &[Route] = &[
    route("GET", "/sessions", Mode::Both, Handler::Sessions),
    route("GET", "/sessions/{id}", Mode::Both, Handler::Session),
    route("GET", "/sessions/{id}/diagram", Mode::Both, Handler::Diagram),
    route("GET", "/events", Mode::Both, Handler::Events),
    route("GET", "/messages", Mode::Server, Handler::Messages),
    route("GET", "/messages/{n}.eml", Mode::Server, Handler::Message),
    route("GET", "/messages/{n}", Mode::Server, Handler::MessageParsed),
    route(
        "GET",
        "/messages/{n}/parts/{part}",
        Mode::Server,
        Handler::MessagePart,
    ),
    route("GET", "/expectations", Mode::Both, Handler::Expectations),
    route("GET", "/scenario", Mode::Server, Handler::GetScenario),
    route("PUT", "/scenario", Mode::Server, Handler::PutScenario),
    route("GET", "/rules", Mode::Server, Handler::Rules),
    route("POST", "/rules", Mode::Server, Handler::AddRule),
    route("DELETE", "/rules/{n}", Mode::Server, Handler::DeleteRule),
    route("GET", "/faults", Mode::Server, Handler::Faults),
    route("POST", "/faults", Mode::Server, Handler::ArmFault),
    route("DELETE", "/faults", Mode::Server, Handler::ClearFaults),
    route("POST", "/reset", Mode::Both, Handler::Reset),
    route("PUT", "/profile", Mode::Proxy, Handler::PutProfile),
    route("GET", "/profile", Mode::Proxy, Handler::GetProfile),
    route(
        "GET",
        "/profile/faults",
        Mode::Proxy,
        Handler::Entries(Section::Faults),
    ),
    route(
        "POST",
        "/profile/faults",
        Mode::Proxy,
        Handler::AddEntry(Section::Faults),
    ),
    route(
        "DELETE",
        "/profile/faults/{name}",
        Mode::Proxy,
        Handler::RemoveEntry(Section::Faults),
    ),
    route(
        "GET",
        "/profile/replies",
        Mode::Proxy,
        Handler::Entries(Section::Replies),
    ),
    route(
        "POST",
        "/profile/replies",
        Mode::Proxy,
        Handler::AddEntry(Section::Replies),
    ),
    route(
        "DELETE",
        "/profile/replies/{name}",
        Mode::Proxy,
        Handler::RemoveEntry(Section::Replies),
    ),
    route("GET", "/proxies", Mode::Proxy, Handler::Proxies),
    route("GET", "/openapi.json", Mode::Both, Handler::OpenApi),
    route("GET", "/", Mode::Both, Handler::Ui(super::ui::Asset::Page)),
    route(
        "GET",
        "/ui/app.js",
        Mode::Both,
        Handler::Ui(super::ui::Asset::Script),
    ),
    route(
        "GET",
        "/ui/app.css",
        Mode::Both,
        Handler::Ui(super::ui::Asset::Style),
    ),
];

impl Route {
    /// Served under `/proxies/{name}` too: every route about one proxy
    /// (not the list, nor the API's own description).
    pub fn per_proxy(&self) -> bool {
        self.mode != Mode::Server && !matches!(self.handler, Handler::OpenApi | Handler::Proxies)
    }
}

/// Every method and path the API serves, the routes of a named proxy
/// (`/proxies/{name}/…`) included: what `/openapi.json` documents (its
/// test, in tests/control.rs, is the only caller).
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub fn all_paths() -> Vec<(&'static str, String)> {
    let root = ROUTES.iter().map(|r| (r.method, r.path.to_string()));
    let named = ROUTES
        .iter()
        .filter(|r| r.per_proxy())
        .map(|r| (r.method, format!("{}{}", super::proxies::PREFIX_PATTERN, r.path)));
    root.chain(named).collect()
}

/// The OpenAPI 3.1 document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Send this.
    Respond(Response),
    /// Write the answer as it is produced.
    Run(Job, Scope),
    /// Turn the connection into a Server-Sent Events stream.
    EventStream(Scope),
}

/// What a request is about: a server or proxy, and the path prefix its
/// routes are under (`""` at the root, `/proxies/{name}` for a named proxy).
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The server or proxy.
    pub target: Target,
    /// Prepended to the links in answers (`href`).
    pub prefix: String,
}

/// Match `path` against a pattern; returns the values of its parameters
/// in order (none for a pattern without one).
fn matches<'a>(pattern: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let pat: Vec<&str> = pattern.split('/').collect();
    let got: Vec<&str> = path.split('/').collect();
    if pat.len() != got.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, g) in pat.iter().zip(&got) {
        if let Some(rest) = p.strip_prefix('{') {
            let (_, suffix) = rest.split_once('}')?;
            let param = g.strip_suffix(suffix)?;
            if param.is_empty() {
                return None;
            }
            params.push(param);
        } else if p != g {
            return None;
        }
    }
    Some(params)
}

/// A message number from the path: numbered from 1.
pub(super) fn message_number(param: &str) -> Result<usize, Response> {
    match param.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Response::error(
            400,
            format!("messages are numbered from 1, not {param:?}"),
        )),
    }
}

fn mode_of(target: &Target) -> Mode {
    match target.kind {
        Kind::Server(_) => Mode::Server,
        Kind::Proxy(_) => Mode::Proxy,
    }
}

/// Route a request within `scope` (`None`: the root of several proxies,
/// which serves only what names no proxy), `path` being what follows the
/// scope's prefix ([`super::proxies::dispatch`] strips it).
pub(super) fn dispatch_in(
    state: &State,
    scope: Option<&Scope>,
    path: &str,
    req: &Request,
) -> Outcome {
    let mode = scope.map_or(Mode::Proxy, |s| mode_of(&s.target));
    let prefixed = scope.is_some_and(|s| !s.prefix.is_empty());
    let served: Vec<(&Route, Vec<&str>)> = ROUTES
        .iter()
        .filter(|r| r.mode == Mode::Both || r.mode == mode)
        .filter(|r| !prefixed || r.per_proxy())
        .filter_map(|r| matches(r.path, path).map(|p| (r, p)))
        .collect();
    let Some((route, params)) = served.iter().find(|(r, _)| r.method == req.method) else {
        return Outcome::Respond(unserved(&served, mode, prefixed, path, req));
    };
    let target = match (route.handler, scope) {
        // About the API itself, not one server or proxy: served at the
        // root whatever runs there.
        (Handler::OpenApi, _) => return Outcome::Respond(openapi()),
        (Handler::Proxies, _) => return Outcome::Respond(super::proxies::list(&state.targets)),
        // The UI's files are the same for all; at the root of several
        // proxies the page is a list of links to theirs.
        (Handler::Ui(super::ui::Asset::Page), None) => {
            return Outcome::Respond(super::ui::index(&state.targets.names()));
        }
        (Handler::Ui(asset), None) => return Outcome::Respond(super::ui::serve(asset, "")),
        (_, Some(scope)) => scope,
        (_, None) => return Outcome::Respond(super::proxies::not_at_root(&state.targets, path)),
    };
    handle(state, target, route.handler, params, req)
}

/// `GET /openapi.json`.
fn openapi() -> Response {
    Response::bytes(200, "application/json", OPENAPI.as_bytes().to_vec())
}

/// 404 (nothing here, or only in the other mode) or 405 (another method).
fn unserved(
    served: &[(&Route, Vec<&str>)],
    mode: Mode,
    prefixed: bool,
    path: &str,
    req: &Request,
) -> Response {
    if served.is_empty() {
        let elsewhere = ROUTES.iter().any(|r| matches(r.path, path).is_some());
        let at_root = ROUTES
            .iter()
            .any(|r| r.mode != Mode::Server && matches(r.path, path).is_some());
        let hint = if prefixed && at_root {
            " (served at the root, not per proxy)"
        } else if elsewhere {
            match mode {
                Mode::Proxy => " (served by `smtp-harness serve`, not by the proxy)",
                _ => " (served by `smtp-harness proxy`, not by the server)",
            }
        } else {
            "; see /openapi.json"
        };
        return Response::error(404, format!("no route {}{hint}", req.path));
    }
    let allow: Vec<&str> = served.iter().map(|(r, _)| r.method).collect();
    let mut response = Response::error(
        405,
        format!(
            "{} {} is not served; try {}",
            req.method,
            req.path,
            allow.join(", ")
        ),
    );
    response.headers.push(("Allow", allow.join(", ")));
    response
}

/// Answer a matched route for `scope`.
fn handle(
    state: &State,
    scope: &Scope,
    handler: Handler,
    params: &[&str],
    req: &Request,
) -> Outcome {
    let target = &scope.target;
    let param = params.first().copied().unwrap_or("");
    let run = |job| Outcome::Run(job, scope.clone());
    let response = match handler {
        Handler::Events => return Outcome::EventStream(scope.clone()),
        Handler::Sessions => return run(Job::Sessions),
        Handler::Session => match param.parse::<u64>() {
            Ok(id) => {
                let text = req.query_param("format") == Some("text");
                return run(Job::Session { id, text });
            }
            Err(_) => Response::error(400, format!("session ids are numbers, not {param:?}")),
        },
        Handler::Diagram => match param.parse::<u64>() {
            Ok(id) => return run(Job::Diagram { id }),
            Err(_) => Response::error(400, format!("session ids are numbers, not {param:?}")),
        },
        Handler::Messages => return run(Job::Messages),
        Handler::Message => super::messages::message(target, param),
        Handler::MessageParsed => match message_number(param) {
            Ok(n) => return run(Job::Message { n, part: None }),
            Err(response) => response,
        },
        Handler::MessagePart => match message_number(param) {
            Ok(n) => {
                let part = params.get(1).copied().unwrap_or("").to_string();
                return run(Job::Message {
                    n,
                    part: Some(part),
                });
            }
            Err(response) => response,
        },
        Handler::Expectations => return run(Job::Expectations),
        Handler::GetScenario => super::scenario_routes::get_scenario(target),
        Handler::PutScenario => super::scenario_routes::put_scenario(target, req),
        Handler::Rules => super::scenario_routes::rules(target),
        Handler::AddRule => super::scenario_routes::add_rule(state, target, req),
        Handler::DeleteRule => super::scenario_routes::delete_rule(target, param),
        Handler::Faults => super::scenario_routes::faults(target),
        Handler::ArmFault => super::scenario_routes::arm_fault(target, req),
        Handler::ClearFaults => super::scenario_routes::clear_faults(target),
        Handler::Reset => super::scenario_routes::reset(target),
        Handler::PutProfile => super::scenario_routes::put_profile(target, req),
        Handler::GetProfile => with_proxy(target, |p| {
            Response::json(200, &super::profile::describe(&p.profile()))
        }),
        Handler::Entries(section) => with_proxy(target, |p| {
            Response::json(200, &super::profile::entries(&p.profile(), section))
        }),
        Handler::AddEntry(section) => with_proxy(target, |p| match body_text(req) {
            Ok(text) => super::profile::add(p, section, req.query_param("name"), text),
            Err(r) => r,
        }),
        Handler::RemoveEntry(section) => {
            with_proxy(target, |p| super::profile::remove(p, section, param))
        }
        Handler::OpenApi => openapi(),
        Handler::Ui(asset) => super::ui::serve(asset, &scope.prefix),
        Handler::Proxies => super::proxies::list(&state.targets),
    };
    Outcome::Respond(response)
}

pub(super) fn server(target: &Target) -> Option<&std::sync::Arc<crate::server::Shared>> {
    match &target.kind {
        Kind::Server(s) => Some(s),
        Kind::Proxy(_) => None,
    }
}

fn with_proxy(target: &Target, f: impl FnOnce(&crate::proxy::Shared) -> Response) -> Response {
    match &target.kind {
        Kind::Proxy(p) => f(p),
        Kind::Server(_) => not_here(),
    }
}

pub(super) fn not_here() -> Response {
    Response::error(404, "not served in this mode")
}

/// Every expectation's result: counted as commands were recorded; the
/// report reads every kept event besides (on a blocking thread: see
/// [`Job::Expectations`]).
pub(crate) fn expectations(target: &Target) -> Response {
    let report = target
        .expectations
        .evaluate(&target.recorder().transcript());
    Response::json(
        200,
        &json!({
            "met": report.is_met(),
            "results": report.results,
            "text": report.to_string(),
        }),
    )
}

pub(super) fn problems(error: &ScenarioError) -> Response {
    located(422, error)
}

/// `error`'s problems, each with its file:line:column, as a `status` answer.
pub(super) fn located(status: u16, error: &ScenarioError) -> Response {
    let list: Vec<Value> = error
        .problems
        .iter()
        .map(|p| {
            json!({
                "file": p.file, "line": p.line, "column": p.column,
                "message": p.message, "text": p.to_string(),
            })
        })
        .collect();
    Response::json(
        status,
        &json!({ "error": error.to_string(), "problems": list }),
    )
}

/// The body of a request that must have one. Without `Content-Length` the
/// body is empty by HTTP's rules, and an empty scenario is a valid one (the
/// default): a client that forgot the length must not get that instead.
pub(super) fn body(req: &Request) -> Result<&[u8], Response> {
    if req.content_length.is_none() {
        return Err(Response::error(
            411,
            format!(
                "{} {} needs a body with Content-Length",
                req.method, req.path
            ),
        ));
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Response::error(
            400,
            "the body is empty; send `{}` for an empty document",
        ));
    }
    Ok(&req.body)
}

pub(super) fn body_text(req: &Request) -> Result<&str, Response> {
    std::str::from_utf8(body(req)?).map_err(|_| Response::error(400, "the body is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_capture_one_parameter() {
        assert_eq!(matches("/sessions/{id}", "/sessions/12"), Some(vec!["12"]));
        assert_eq!(
            matches("/messages/{n}.eml", "/messages/3.eml"),
            Some(vec!["3"])
        );
        assert_eq!(
            matches("/messages/{n}/parts/{part}", "/messages/3/parts/2"),
            Some(vec!["3", "2"])
        );
        assert_eq!(matches("/messages/{n}.eml", "/messages/3"), None);
        assert_eq!(matches("/sessions", "/sessions"), Some(vec![]));
        assert_eq!(matches("/sessions/{id}", "/sessions/"), None);
        assert_eq!(matches("/sessions", "/sessions/1"), None);
    }
}
