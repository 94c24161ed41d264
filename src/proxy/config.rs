//! `proxy --config proxies.yaml`: several named proxies in one process, as
//! toxiproxy users expect. The file is plain serde data ([`ProxiesFile`]);
//! [`load`] checks it beside the model, collecting every problem with its
//! file:line:column, and loads each proxy's profile.
//!
//! ```yaml
//! proxies:
//!   - name: plain
//!     listen: 127.0.0.1:2525
//!     upstream: 127.0.0.1:2526
//!     profile: transparent
//!   - name: pix
//!     listen: 127.0.0.1:0          # port 0: a free port, printed at start
//!     upstream: 127.0.0.1:2526
//!     profile: ./my-firewall.yaml  # relative to this file
//! ```

use super::{Profile, bundled};
use crate::scenario::ScenarioError;
use crate::scenario::load::{self, Origin};
use crate::scenario::problem::{Problem, looks_like_a_name, unknown_name};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

/// A `proxy --config` file.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxiesFile {
    /// The proxies, each with its own listening address (at least one).
    #[schemars(length(min = 1))]
    pub proxies: Vec<ProxySpec>,
}

/// One proxy of the file.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    /// Its name in the control API (`/proxies/NAME/…`) and in transcripts:
    /// letters, digits, `.`, `_` and `-`, unique in the file.
    #[schemars(with = "String", regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"))]
    pub name: Spanned<String>,
    /// Where it listens: IP:PORT (`127.0.0.1:2525`, `[::1]:2525`); port 0
    /// picks a free port, printed at start.
    #[schemars(
        with = "String",
        regex(pattern = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$")
    )]
    pub listen: Spanned<String>,
    /// The real server, HOST:PORT; every client of this proxy is relayed
    /// there and only there.
    #[schemars(with = "String", regex(pattern = r"^([^:\[\]]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$"))]
    pub upstream: Spanned<String>,
    /// A bundled profile name (`smtp-harness profiles`) or a profile file,
    /// relative to this file; `transparent` when not given.
    #[schemars(with = "Option<String>")]
    pub profile: Option<Spanned<String>>,
}

/// One proxy, checked and ready to start.
#[derive(Debug, Clone)]
pub struct Configured {
    /// Its name.
    pub name: String,
    /// Where it listens (port 0: a free one).
    pub listen: SocketAddr,
    /// `HOST:PORT` of the real server.
    pub upstream: String,
    /// How it interferes.
    pub profile: Profile,
}

/// The profile of a proxy that names none.
pub const DEFAULT_PROFILE: &str = "transparent";

/// Read and check a `proxy --config` file: every problem of the file (and
/// of the profiles it names) at once, each with file:line:column.
pub fn load(path: &Path) -> Result<Vec<Configured>, ScenarioError> {
    let text = load::read_document(path)?;
    let file: ProxiesFile = load::parse(&text, &Origin::File(path.to_path_buf()))?;
    let shown = path.display().to_string();
    let dir = path.parent().unwrap_or(Path::new("."));
    check(&file, &shown, dir)
}

fn check(file: &ProxiesFile, shown: &str, dir: &Path) -> Result<Vec<Configured>, ScenarioError> {
    let mut problems = Vec::new();
    let mut names: HashMap<&str, u64> = HashMap::new();
    let mut addresses: HashMap<SocketAddr, (&str, u64)> = HashMap::new();
    let mut configured = Vec::new();
    if file.proxies.is_empty() {
        problems.push(Problem::file(
            shown,
            "proxies: expected a list of at least one proxy (name, listen, upstream, profile)",
        ));
    }
    for spec in &file.proxies {
        let mut at = |s: &Spanned<String>, message: String| {
            problems.push(Problem::at(shown, &s.referenced, message));
        };
        let name = spec.name.value.as_str();
        if !valid_name(name) {
            at(
                &spec.name,
                format!(
                    "name: expected letters, digits, `.`, `_` or `-` (it is part of the control API's \
                     paths, /proxies/NAME/…), found {name:?}"
                ),
            );
        } else if let Some(line) = names.insert(name, spec.name.referenced.line()) {
            at(
                &spec.name,
                format!("name: {name:?} is already the name of the proxy on line {line}; give each proxy its own"),
            );
        }
        let listen = match crate::server::listener::parse_listen(&spec.listen.value) {
            Ok(addr) => Some(addr),
            Err(e) => {
                at(&spec.listen, format!("listen: {e}"));
                None
            }
        };
        if let Some(addr) = listen.filter(|a| a.port() != 0) {
            let line = spec.listen.referenced.line();
            if let Some((other, line)) = addresses.insert(addr, (name, line)) {
                at(
                    &spec.listen,
                    format!("listen: {addr} is already where proxy {other:?} listens (line {line}); give each proxy its own address"),
                );
            }
        }
        let upstream = match parse_upstream(&spec.upstream.value) {
            Ok(u) => Some(u),
            Err(e) => {
                at(&spec.upstream, format!("upstream: {e}"));
                None
            }
        };
        let profile = match profile(spec.profile.as_ref(), shown, dir) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.extend(e.problems);
                None
            }
        };
        if let (Some(listen), Some(upstream), Some(profile)) = (listen, upstream, profile) {
            configured.push(Configured {
                name: name.to_string(),
                listen,
                upstream,
                profile,
            });
        }
    }
    if problems.is_empty() {
        Ok(configured)
    } else {
        problems.sort_by_key(|p| (p.file != shown, p.line, p.column));
        Err(ScenarioError { problems })
    }
}

/// A name that can be one segment of a URL path as it is.
fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The profile a proxy names: a file relative to the config file's
/// directory first, then a bundled name (as `--profile` reads it); a
/// name-like value that is neither gets the closest bundled names, at its
/// line and column.
fn profile(
    named: Option<&Spanned<String>>,
    shown: &str,
    dir: &Path,
) -> Result<Profile, ScenarioError> {
    let Some(named) = named else {
        return Profile::bundled(DEFAULT_PROFILE);
    };
    let arg = named.value.as_str();
    let path = dir.join(arg);
    if path.exists() {
        return Profile::from_file(&path);
    }
    let names = bundled::names();
    let message = if names.contains(&arg) {
        return Profile::bundled(arg);
    } else if looks_like_a_name(arg) {
        format!(
            "profile: {}; or a profile file, relative to this file",
            unknown_name("profile", arg, &names)
        )
    } else {
        format!(
            "profile: cannot read {}: no such file (a path is relative to this file)",
            path.display()
        )
    };
    Err(Problem::at(shown, &named.referenced, message).into())
}

/// The upstream server: a host (name or IP address) and a port, which the
/// proxy dials for every client. Without a port every client would get
/// 421, so it is refused here.
pub fn parse_upstream(s: &str) -> Result<String, String> {
    let expected = "expected HOST:PORT, e.g. 127.0.0.1:25, mail.example.com:25 or [::1]:25";
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("no port: {expected}"));
    };
    if host.is_empty() {
        return Err(format!("no host: {expected}"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!("an IPv6 address goes in brackets: {expected}"));
    }
    match port.parse::<u16>() {
        Ok(0) => Err(format!("port 0 cannot be dialled: {expected}")),
        Ok(_) => Ok(s.to_string()),
        Err(_) => Err(format!("{port:?} is not a port number: {expected}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Vec<Configured>, ScenarioError> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("proxies.yaml");
        std::fs::write(&path, text).expect("write");
        load(&path).map_err(|e| {
            let shown = path.display().to_string();
            ScenarioError {
                problems: e
                    .problems
                    .into_iter()
                    .map(|mut p| {
                        if p.file == shown {
                            p.file = "proxies.yaml".into();
                        }
                        p
                    })
                    .collect(),
            }
        })
    }

    #[test]
    fn two_proxies_load_with_their_profiles() {
        let got = load_text(
            "proxies:\n  - {name: plain, listen: 127.0.0.1:0, upstream: 127.0.0.1:25}\n  \
             - {name: pix, listen: 127.0.0.1:0, upstream: mx.example:25, profile: pix-mailguard}\n",
        )
        .expect("loads");
        let shown: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|c| (c.name.as_str(), c.upstream.as_str(), c.profile.name()))
            .collect();
        assert_eq!(
            shown,
            [
                ("plain", "127.0.0.1:25", "transparent"),
                ("pix", "mx.example:25", "pix-mailguard")
            ]
        );
    }

    #[test]
    fn every_problem_is_located_and_says_what_is_expected() {
        let err = load_text(
            "proxies:\n  - {name: a, listen: 127.0.0.1:2525, upstream: 127.0.0.1:25}\n  \
             - {name: a, listen: 127.0.0.1:2525, upstream: 127.0.0.1, profile: pix-mailgaurd}\n  \
             - {name: b/c, listen: '2525', upstream: h:25}\n  \
             - {name: d, listen: localhost:2525, upstream: h:25}\n",
        )
        .unwrap_err()
        .to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines,
            [
                r#"proxies.yaml:3:12: name: "a" is already the name of the proxy on line 2; give each proxy its own"#,
                r#"proxies.yaml:3:23: listen: 127.0.0.1:2525 is already where proxy "a" listens (line 2); give each proxy its own address"#,
                "proxies.yaml:3:49: upstream: no port: expected HOST:PORT, e.g. 127.0.0.1:25, mail.example.com:25 or [::1]:25",
                r#"proxies.yaml:3:69: profile: unknown bundled profile "pix-mailgaurd"; did you mean "pix-mailguard"? expected one of transparent, pix-mailguard, asa-inspect-esmtp, starttls-strip, exchange-reroute; or a profile file, relative to this file"#,
                r#"proxies.yaml:4:12: name: expected letters, digits, `.`, `_` or `-` (it is part of the control API's paths, /proxies/NAME/…), found "b/c""#,
                "proxies.yaml:4:25: listen: a port alone is not enough: give the address too, e.g. 127.0.0.1:2525",
                r#"proxies.yaml:5:23: listen: "localhost" is a host name, which is not looked up here: give an IP address, e.g. 127.0.0.1:2525 or [::1]:2525"#,
            ],
            "{err}"
        );
    }

    #[test]
    fn a_profile_path_is_relative_to_the_file_and_its_problems_are_its_own() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("fw.yaml"), "banner: {mask: pixx}\n").expect("write");
        let config = dir.path().join("proxies.yaml");
        std::fs::write(
            &config,
            "proxies:\n  - {name: fw, listen: 127.0.0.1:0, upstream: h:25, profile: fw.yaml}\n",
        )
        .expect("write");
        let err = load(&config).unwrap_err();
        let fw = dir.path().join("fw.yaml").display().to_string();
        assert_eq!(err.problems[0].file, fw, "{err}");
        assert_eq!(err.problems[0].line, 1, "{err}");
        std::fs::write(dir.path().join("fw.yaml"), "banner: {mask: pix}\n").expect("write");
        let got = load(&config).expect("loads");
        assert_eq!(got[0].profile.name(), fw, "named by its file");
    }

    #[test]
    fn unknown_keys_and_an_empty_list_are_refused() {
        let err = load_text("proxies:\n  - {name: a, listen: 127.0.0.1:0, upstrem: h:25}\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("proxies.yaml:2:"), "{err}");
        assert!(err.contains("upstrem"), "{err}");
        let err = load_text("proxies: []\n").unwrap_err().to_string();
        assert!(err.contains("at least one proxy"), "{err}");
    }
}
