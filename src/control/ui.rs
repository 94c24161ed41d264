//! The web UI: a page at `/`, its script and style sheet, compiled into the
//! binary (no CDN, no remote fonts). The page reads the same routes as any
//! client (`/sessions`, `/events`, `/messages`…), relative to one base path,
//! and passes the same guard ([`super::guard`]): it is same-origin. Every
//! answer carries a Content-Security-Policy that lets the page load only
//! from this API; a message's HTML is shown in a sandboxed frame with a
//! policy of its own that loads nothing at all (see `ui/app.js`).

use super::http::Response;

/// One of the UI's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asset {
    /// `/`: the page.
    Page,
    /// `/ui/app.js`.
    Script,
    /// `/ui/app.css` (with the sequence diagram's style).
    Style,
}

const PAGE: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// What the UI may load: only from this API; no inline script or style
/// (the diagram's SVG is styled by class), not framed elsewhere.
pub(crate) const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// The page's base, where its script finds the API: empty at the root,
/// `/proxies/NAME` for a named proxy (`proxy --config`).
const BASE_META: &str = r#"<meta name="smtp-harness-base" content="">"#;

/// Answer for one of the UI's files, for the server or proxy whose routes
/// are under `prefix`.
pub(crate) fn serve(asset: Asset, prefix: &str) -> Response {
    match asset {
        Asset::Page => {
            // The script's paths are relative ("sessions"): the base ends
            // in a slash, or is empty for the page's own directory.
            let dir = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            };
            let base = format!(
                r#"<meta name="smtp-harness-base" content="{}">"#,
                crate::view::esc(&dir)
            );
            html(PAGE.replacen(BASE_META, &base, 1).into_bytes())
        }
        Asset::Script => with_policy(Response::bytes(
            200,
            "text/javascript; charset=utf-8",
            SCRIPT.as_bytes().to_vec(),
        )),
        Asset::Style => {
            let css = format!("{STYLE}{}", crate::view::diagram::CSS);
            with_policy(Response::bytes(
                200,
                "text/css; charset=utf-8",
                css.into_bytes(),
            ))
        }
    }
}

/// `/` of `proxy --config`: one link per named proxy to its own UI.
pub(crate) fn index(names: &[&str]) -> Response {
    let mut items = String::new();
    for name in names {
        let name = crate::view::esc(name);
        items.push_str(&format!(
            "<li><a href=\"proxies/{name}/\">{name}</a></li>\n"
        ));
    }
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>smtp-harness proxies</title>\n<link rel=\"stylesheet\" href=\"ui/app.css\">\n\
         </head>\n<body>\n<header><h1>smtp-harness</h1></header>\n<main>\n\
         <h2>Proxies</h2>\n<ul id=\"proxies\">\n{items}</ul>\n</main>\n</body>\n</html>\n"
    );
    html(page.into_bytes())
}

/// An HTML answer under the UI's policy.
pub(crate) fn html(body: Vec<u8>) -> Response {
    with_policy(Response::bytes(200, "text/html; charset=utf-8", body))
}

fn with_policy(mut response: Response) -> Response {
    // `nosniff` and `no-store` are on every answer already (`http::head`).
    response
        .headers
        .push(("Content-Security-Policy", POLICY.to_string()));
    response
}
