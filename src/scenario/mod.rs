//! Scenarios: what the fake server does, as plain data.
//!
//! `model` is the YAML as written, `compile` checks it and builds the
//! [`Plan`] the session runs, `load` reads files and follows `extends:`,
//! `builder` writes scenarios in Rust. A [`Scenario`] is cheap to clone and
//! shared by every session of a server.

mod builder;
pub mod bundled;
pub mod compile;
mod eod;
pub mod error_replies;
pub mod expect;
pub mod faults;
mod humane;
pub mod keep;
pub mod load;
pub mod model;
pub mod ntlm;
pub mod problem;
pub mod replay;
mod routing;
pub mod rules;
pub mod security;
pub mod template;
mod times;

pub use builder::{Rule, ScenarioBuilder};
pub use compile::Plan;
pub use load::Origin;
pub use problem::{Problem, ScenarioError};
pub use times::Times;

use std::path::Path;
use std::sync::Arc;

/// A checked scenario, ready to serve.
///
/// # Example
///
/// ```
/// use smtp_harness::{MockServer, Scenario};
/// # use std::io::{BufRead, BufReader, Write};
/// # fn talk(addr: std::net::SocketAddr, lines: &[&str]) -> std::io::Result<Vec<String>> {
/// #     let mut sock = std::net::TcpStream::connect(addr)?;
/// #     let mut from = BufReader::new(sock.try_clone()?);
/// #     let mut reply = || -> std::io::Result<String> {
/// #         let mut all = String::new();
/// #         loop {
/// #             let mut line = String::new();
/// #             if from.read_line(&mut line)? == 0 || line.as_bytes().get(3) != Some(&b'-') {
/// #                 all.push_str(&line);
/// #                 return Ok(all);
/// #             }
/// #             all.push_str(&line);
/// #         }
/// #     };
/// #     let mut replies = vec![reply()?];
/// #     for line in lines {
/// #         sock.write_all(format!("{line}\r\n").as_bytes())?;
/// #         replies.push(reply()?);
/// #     }
/// #     Ok(replies)
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Only what differs from a correct ESMTP server.
/// let scenario = Scenario::from_yaml(r#"
/// name: slow-banner
/// banner:
///   reply: "220 {hostname} ESMTP ready"
///   delay: 10ms
/// "#)?;
/// let server = MockServer::start_blocking(scenario)?;
/// let replies = talk(server.addr(), &["QUIT"])?;
/// assert!(replies[0].contains("ESMTP ready"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Scenario {
    plan: Arc<Plan>,
    /// The merged model the plan was compiled from, so the control API can
    /// build a new scenario from this one plus or minus a rule.
    model: Arc<model::ScenarioFile>,
}

impl Scenario {
    /// A bundled scenario by name (`smtp-harness scenarios` lists them).
    ///
    /// ```
    /// let s = smtp_harness::Scenario::bundled("exchange-2003").unwrap();
    /// assert_eq!(s.name(), "exchange-2003");
    /// ```
    pub fn bundled(name: &str) -> Result<Scenario, ScenarioError> {
        let text = bundled::text(name).ok_or_else(|| {
            Problem::file(
                name,
                problem::unknown_name("scenario", name, &bundled::names()),
            )
        })?;
        Self::load(text, Origin::Bundled(name.to_string()), None)
    }

    /// A scenario from YAML text; `extends:` may name bundled scenarios.
    ///
    /// ```
    /// let s = smtp_harness::Scenario::from_yaml("banner: {reply: '220 hi'}").unwrap();
    /// assert_eq!(s.plan().banner.code, 220);
    /// let err = smtp_harness::Scenario::from_yaml("banner: {replly: x}").unwrap_err();
    /// assert!(err.to_string().starts_with("<inline>:1:10: unknown field `replly`"));
    /// ```
    pub fn from_yaml(text: &str) -> Result<Scenario, ScenarioError> {
        Self::load(text, Origin::Inline, None)
    }

    /// A scenario from YAML text that may name files (`extends:` paths,
    /// `tls.cert`, `tls.key`) relative to `files` and inside it; with
    /// `None`, it may name none. The control API loads scenarios this way,
    /// with the directory of `--control-files`.
    pub fn from_yaml_with_files(
        text: &str,
        files: Option<&Path>,
    ) -> Result<Scenario, ScenarioError> {
        Self::load(text, Origin::Inline, files)
    }

    /// A scenario file; relative `extends:` paths resolve against its
    /// directory and may not leave it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = load::read_document(path)?;
        let root = path.parent().map(Path::to_path_buf);
        Self::load(&text, Origin::File(path.to_path_buf()), root.as_deref())
    }

    /// A bundled name or a path: what the CLI accepts.
    pub fn resolve(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if problem::names_bundled(name_or_path, "scenario", &bundled::names())? {
            Self::bundled(name_or_path)
        } else {
            Self::from_file(name_or_path)
        }
    }

    /// Start writing a scenario in Rust.
    pub fn builder() -> ScenarioBuilder {
        ScenarioBuilder::default()
    }

    fn load(text: &str, origin: Origin, root: Option<&Path>) -> Result<Scenario, ScenarioError> {
        let name = origin.display();
        let file = load::load_chain(text, origin.clone(), root)?;
        let mut plan =
            compile::compile(&file, &name, true).map_err(|problems| ScenarioError { problems })?;
        if file.name.is_none()
            && let Origin::Bundled(n) = &origin
        {
            plan.name = n.clone();
        }
        Self::assemble(plan, file, &name)
    }

    /// Compile a (merged) model, as the control API does after adding or
    /// removing a rule; `source` names it in problems.
    pub(crate) fn from_file_model(
        file: model::ScenarioFile,
        source: &str,
    ) -> Result<Scenario, ScenarioError> {
        compile::compile(&file, source, false).map_err(|problems| ScenarioError { problems })?;
        let file = match file.extends.as_ref().map(|e| e.value.clone()) {
            Some(parent) => {
                let parent = bundled::text(&parent).ok_or_else(|| {
                    Problem::file(
                        source,
                        problem::unknown_name("scenario", &parent, &bundled::names()),
                    )
                })?;
                let parent = load::load_chain(parent, Origin::Bundled(source.to_string()), None)?;
                load::merge(file, parent)
            }
            None => file,
        };
        let plan =
            compile::compile(&file, source, true).map_err(|problems| ScenarioError { problems })?;
        Self::assemble(plan, file, source)
    }

    fn assemble(
        plan: Plan,
        mut file: model::ScenarioFile,
        source: &str,
    ) -> Result<Scenario, ScenarioError> {
        expect::check(&file.expect, source).map_err(|problems| ScenarioError { problems })?;
        // Keep the name the plan got (bundled scenarios without `name:`), so
        // a scenario rebuilt from this model is still called the same.
        file.name = Some(plan.name.clone());
        Ok(Scenario {
            plan: Arc::new(plan),
            model: Arc::new(file),
        })
    }

    /// The merged model this scenario was compiled from (`extends:` resolved).
    pub(crate) fn model(&self) -> &model::ScenarioFile {
        &self.model
    }

    /// The scenario's `expect:` list, checked; the expect layer counts it.
    pub(crate) fn expectations(&self) -> &[serde_saphyr::Spanned<expect::ExpectSpec>] {
        &self.model.expect
    }

    /// Is this the very same scenario (not merely an equal one)?
    pub(crate) fn same_as(&self, other: &Scenario) -> bool {
        Arc::ptr_eq(&self.plan, &other.plan)
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.plan.name
    }

    /// The compiled plan the session engine runs (public only to this
    /// crate's own tests, through the hidden `internals` feature).
    #[cfg(not(feature = "internals"))]
    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub(crate) fn plan_arc(&self) -> Arc<Plan> {
        Arc::clone(&self.plan)
    }
}

impl Default for Scenario {
    /// A plain, correct ESMTP server that accepts all mail.
    fn default() -> Self {
        Self::from_file_model(model::ScenarioFile::default(), "<default>")
            .expect("the empty scenario compiles")
    }
}
