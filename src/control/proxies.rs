//! Several proxies behind one control API (`proxy --config`): `GET
//! /proxies` lists them, and every route about one proxy is also served
//! under `/proxies/{name}`. [`dispatch`] is the one place that strips the
//! prefix: what follows it is routed as at the root, for that proxy.

use super::http::{Request, Response};
use super::routes::{Outcome, Scope, dispatch_in};
use super::{Kind, State, Targets};
use serde_json::json;

/// The prefix of a named proxy's routes, as the OpenAPI document writes it.
pub const PREFIX_PATTERN: &str = "/proxies/{proxy}";

/// Route a request: under `/proxies/{name}` to that proxy, else at the root.
pub(crate) fn dispatch(state: &State, req: &Request) -> Outcome {
    let Some((name, rest)) = split(&req.path) else {
        let root = state.targets.root.as_ref().map(|target| Scope {
            target: target.clone(),
            prefix: String::new(),
        });
        return dispatch_in(state, root.as_ref(), &req.path, req);
    };
    let Some(target) = state.targets.proxy(name) else {
        return Outcome::Respond(unknown(&state.targets, name));
    };
    let scope = Scope {
        target: target.clone(),
        prefix: format!("/proxies/{name}"),
    };
    dispatch_in(state, Some(&scope), rest, req)
}

/// `/proxies/NAME/rest` → (`NAME`, `/rest`); `None` for any other path
/// (`/proxies` itself included).
pub(crate) fn split(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/proxies/")?;
    let (name, rest) = match after.find('/') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    Some((name, rest))
}

/// `GET /proxies`: each proxy's name, addresses, profile and sessions.
pub(super) fn list(targets: &Targets) -> Response {
    let proxies: Vec<serde_json::Value> = targets
        .proxies
        .iter()
        .filter_map(|(name, target)| {
            let Kind::Proxy(shared) = &target.kind else {
                return None;
            };
            let recorder = &shared.recorder;
            let (started, ended) = (recorder.started(), recorder.ended());
            Some(json!({
                "name": name,
                "listen": target.listen.map(|a| a.to_string()),
                "upstream": shared.upstream,
                "profile": shared.profile().name(),
                "sessions": started,
                "running": started.saturating_sub(ended),
                "href": format!("/proxies/{name}"),
            }))
        })
        .collect();
    Response::json(200, &json!({ "proxies": proxies }))
}

/// A route about one proxy asked at the root of several.
pub(super) fn not_at_root(targets: &Targets, path: &str) -> Response {
    let names = targets.names();
    let example = names.first().copied().unwrap_or("NAME");
    Response::error(
        404,
        format!(
            "this process runs several proxies ({}): their routes are under /proxies/{{name}}, \
             e.g. /proxies/{example}{path}",
            names.join(", ")
        ),
    )
}

/// A name no proxy has.
fn unknown(targets: &Targets, name: &str) -> Response {
    let names = targets.names();
    let known = if names.is_empty() {
        "there is no proxy here (`smtp-harness serve` is a server)".to_string()
    } else {
        format!("the proxies are {}", names.join(", "))
    };
    Response::error(404, format!("no proxy named {name:?}; {known} (GET /proxies)"))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn the_prefix_is_stripped_once() {
        assert_eq!(split("/proxies/pix/sessions/3"), Some(("pix", "/sessions/3")));
        assert_eq!(split("/proxies/pix"), Some(("pix", "")));
        assert_eq!(split("/proxies/"), Some(("", "")));
        assert_eq!(split("/proxies"), None);
        assert_eq!(split("/sessions"), None);
    }
}
