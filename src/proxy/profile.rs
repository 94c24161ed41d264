//! [`Profile`]: how the proxy interferes, loaded from YAML.
//!
//! Profiles are the scenarios' sibling: same parser and budget
//! ([`crate::scenario::load`]), same `extends:` rules, same
//! `file:line:column` errors ([`ScenarioError`]).

use super::bundled;
use super::compile::{self, Rules};
use super::model::{FilterAction, ProfileFile, StarttlsMode};
use crate::scenario::load::{self, Layered, Origin};
use crate::scenario::{Problem, ScenarioError};
use serde_saphyr::Spanned;
use std::path::Path;
use std::sync::Arc;

/// A checked profile, ready to run; cheap to clone.
///
/// # Example
///
/// ```
/// use smtp_harness::Profile;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pix = Profile::bundled("pix-mailguard")?;
/// assert_eq!(pix.name(), "pix-mailguard");
/// let own = Profile::from_yaml("name: no-starttls\nstarttls:\n  mode: strip\n")?;
/// assert_eq!(own.name(), "no-starttls");
/// // A misspelled name says which ones exist.
/// let err = Profile::bundled("pix-mailgaurd").unwrap_err();
/// assert!(err.to_string().contains("pix-mailguard"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Profile {
    rules: Arc<Rules>,
    /// The merged model the rules were compiled from (`extends:` resolved,
    /// names filled in), so one fault or reply rule can be added or removed
    /// at runtime ([`Shared::edit_profile`](super::Shared::edit_profile)).
    model: Arc<ProfileFile>,
}

impl Profile {
    /// A bundled profile by name (`smtp-harness profiles` lists them).
    ///
    /// ```
    /// let p = smtp_harness::Profile::bundled("pix-mailguard").unwrap();
    /// assert_eq!(p.name(), "pix-mailguard");
    /// ```
    pub fn bundled(name: &str) -> Result<Profile, ScenarioError> {
        let text = bundled::text(name).ok_or_else(|| {
            Problem::file(
                name,
                crate::scenario::problem::unknown_name("profile", name, &bundled::names()),
            )
        })?;
        Self::load(text, Origin::Bundled(name.to_string()), None)
    }

    /// A profile from YAML text; `extends:` may name bundled profiles.
    ///
    /// ```
    /// let p = smtp_harness::Profile::from_yaml("banner: {mask: pix}").unwrap();
    /// let err = smtp_harness::Profile::from_yaml("banner: {mask: pixx}").unwrap_err();
    /// assert!(err.to_string().starts_with("<inline>:1:"));
    /// ```
    pub fn from_yaml(text: &str) -> Result<Profile, ScenarioError> {
        Self::load(text, Origin::Inline, None)
    }

    /// A profile from YAML text whose `extends:` may name files relative
    /// to `files` and inside it; with `None`, bundled profiles only. The
    /// proxy's control API loads profiles this way (`--control-files`).
    pub fn from_yaml_with_files(
        text: &str,
        files: Option<&Path>,
    ) -> Result<Profile, ScenarioError> {
        Self::load(text, Origin::Inline, files)
    }

    /// A profile file; relative `extends:` paths resolve against its
    /// directory and may not leave it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Profile, ScenarioError> {
        let path = path.as_ref();
        let text = load::read_document(path)?;
        let root = path.parent().map(Path::to_path_buf);
        Self::load(&text, Origin::File(path.to_path_buf()), root.as_deref())
    }

    /// A bundled name or a path: what the CLI accepts.
    pub fn resolve(name_or_path: &str) -> Result<Profile, ScenarioError> {
        if crate::scenario::problem::names_bundled(name_or_path, "profile", &bundled::names())? {
            Self::bundled(name_or_path)
        } else {
            Self::from_file(name_or_path)
        }
    }

    fn load(text: &str, origin: Origin, root: Option<&Path>) -> Result<Profile, ScenarioError> {
        let name = origin.display();
        let mut file: ProfileFile = load::load_layered(text, origin.clone(), root)?;
        if file.name.is_none()
            && let Origin::Bundled(n) = &origin
        {
            file.name = Some(n.clone());
        }
        Self::from_file_model(file, &name)
    }

    /// Compile a (merged) model, as a runtime edit does. Unnamed faults
    /// and reply rules get the names the compiler gives them, written into
    /// the kept model, so removing one never renames the others.
    pub(crate) fn from_file_model(
        mut file: ProfileFile,
        source: &str,
    ) -> Result<Profile, ScenarioError> {
        let rules = compile::compile(&file, source).map_err(|problems| ScenarioError { problems })?;
        file.name = Some(rules.name.clone());
        for (spec, entry) in file.faults.iter_mut().zip(&rules.faults) {
            spec.value.name.get_or_insert_with(|| entry.name.clone());
        }
        for (spec, rule) in file.replies.iter_mut().zip(&rules.replies) {
            spec.value.name.get_or_insert_with(|| rule.name.clone());
        }
        Ok(Profile {
            rules: Arc::new(rules),
            model: Arc::new(file),
        })
    }

    /// The merged model this profile was compiled from.
    pub(crate) fn model(&self) -> &ProfileFile {
        &self.model
    }

    /// Is this the very profile `other` is (not merely an equal one)?
    pub(crate) fn same_as(&self, other: &Profile) -> bool {
        Arc::ptr_eq(&self.rules, &other.rules)
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.rules.name
    }

    /// One line saying what it reproduces.
    pub fn description(&self) -> &str {
        &self.rules.description
    }

    /// The compiled rules the proxy applies.
    pub(crate) fn rules(&self) -> &Rules {
        &self.rules
    }

    pub(crate) fn rules_arc(&self) -> Arc<Rules> {
        Arc::clone(&self.rules)
    }
}

impl Default for Profile {
    /// The transparent profile: no interference.
    fn default() -> Self {
        let file = ProfileFile {
            name: Some("transparent".to_string()),
            ..ProfileFile::default()
        };
        Self::from_file_model(file, "transparent")
            .unwrap_or_else(|_| unreachable!("the empty profile has nothing to check"))
    }
}

impl Layered for ProfileFile {
    const KIND: &'static str = "profile";

    fn extends(&self) -> Option<&Spanned<String>> {
        self.extends.as_ref()
    }

    fn bundled_text(name: &str) -> Option<&'static str> {
        bundled::text(name)
    }

    fn bundled_names() -> Vec<&'static str> {
        bundled::names()
    }

    fn check(&self, source: &str) -> Result<(), Vec<Problem>> {
        use crate::scenario::model::DocKind;
        let kind = DocKind::check(self.kind.as_ref(), DocKind::Profile, source);
        match (compile::compile(self, source).map(|_| ()), kind) {
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(k)) => Err(vec![k]),
            (Err(p), None) => Err(p),
            (Err(mut p), Some(k)) => {
                p.insert(0, k);
                Err(p)
            }
        }
    }

    /// Sections merge field by field, child first; the child's reply rules
    /// and faults come before the parent's.
    fn merge(child: Self, parent: Self) -> Self {
        fn section<T>(c: Option<T>, p: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
            match (c, p) {
                (Some(c), Some(p)) => Some(f(c, p)),
                (c, p) => c.or(p),
            }
        }
        let mut replies = child.replies;
        replies.extend(parent.replies);
        let mut faults = child.faults;
        faults.extend(parent.faults);
        ProfileFile {
            kind: None,
            name: child.name.or(parent.name),
            description: child.description.or(parent.description),
            extends: None,
            seed: child.seed.or(parent.seed),
            // `replace` and `mask` exclude each other: the child's choice
            // replaces the parent's whole banner section.
            banner: child.banner.or(parent.banner),
            verbs: section(child.verbs, parent.verbs, |c, p| {
                // Likewise `allow` and `deny`.
                let list_set = c.allow.is_some() || c.deny.is_some();
                // A child that switches to `mask` drops the parent's answer.
                let reply = match c.action {
                    Some(FilterAction::Mask) => c.reply,
                    _ => c.reply.or(p.reply),
                };
                super::model::VerbsSpec {
                    allow: if list_set { c.allow } else { p.allow },
                    deny: if list_set { c.deny } else { p.deny },
                    action: c.action.or(p.action),
                    reply,
                }
            }),
            ehlo: section(child.ehlo, parent.ehlo, |c, p| super::model::EhloSpec {
                remove: c.remove.or(p.remove),
                mask_except: c.mask_except.or(p.mask_except),
                add: c.add.or(p.add),
            }),
            starttls: section(child.starttls, parent.starttls, |c, p| {
                let reply = match c.mode {
                    Some(StarttlsMode::Pass) => c.reply,
                    _ => c.reply.or(p.reply),
                };
                super::model::StarttlsSpec {
                    mode: c.mode.or(p.mode),
                    reply,
                }
            }),
            addresses: section(child.addresses, parent.addresses, |c, p| {
                super::model::AddressSpec {
                    domains: c.domains.or(p.domains),
                    mail_from: c.mail_from.or(p.mail_from),
                    rcpt_to: c.rcpt_to.or(p.rcpt_to),
                }
            }),
            replies,
            faults,
            timeouts: section(child.timeouts, parent.timeouts, |c, p| {
                super::model::TimeoutsSpec {
                    connect: c.connect.or(p.connect),
                    banner: c.banner.or(p.banner),
                    reply: c.reply.or(p.reply),
                    write: c.write.or(p.write),
                    idle: c.idle.or(p.idle),
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::compile::{BannerAction, StarttlsAction, Trigger};
    use crate::scenario::faults::Fault;
    use rstest::rstest;

    #[test]
    fn every_bundled_profile_loads_and_has_a_description() {
        for name in bundled::names() {
            let p = Profile::bundled(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name(), name);
            assert!(!p.description().is_empty(), "{name}");
            let text = bundled::text(name).unwrap_or_default();
            // The first line names the JSON Schema for editors.
            let text = text
                .strip_prefix("# yaml-language-server: $schema=../schema/profile.schema.json\n")
                .unwrap_or_else(|| panic!("{name} needs the $schema line first"));
            assert!(
                text.starts_with(&format!("# {name}:")),
                "{name} needs a header comment"
            );
        }
    }

    #[test]
    fn unknown_bundled_name_lists_the_known_ones() {
        let err = Profile::bundled("pix").unwrap_err().to_string();
        assert!(
            err.contains("pix-mailguard") && err.contains("transparent"),
            "{err}"
        );
    }

    #[rstest]
    #[case("banner: {mask: pixx}", "<inline>:1:")]
    #[case("bannner: {mask: pix}", "<inline>:1:1: unknown field `bannner`")]
    #[case(
        "verbs:\n  allow: [HELO]\n  deny: [EHLO]\n",
        "<inline>:3:9: `verbs` takes `allow` or `deny`"
    )]
    #[case(
        "faults:\n  - latency: 1s\n    bandwidth: 10\n",
        "<inline>:2:5: a fault takes exactly one of"
    )]
    #[case(
        "faults:\n  - latency: 1s\n    probability: 1.5\n",
        "<inline>:3:18: `probability`"
    )]
    #[case(
        "replies:\n  - text: '('\n    reply: 250 ok\n",
        "<inline>:2:11: bad regex in `text`"
    )]
    #[case(
        "replies:\n  - code: 2500\n    reply: 250 ok\n",
        "<inline>:2:11: \"2500\" is not a reply code"
    )]
    #[case(
        "banner:\n  replace: hello\n",
        "<inline>:2:12: expected a reply starting with a three-digit code"
    )]
    #[case("extends: nope\n", "<inline>:1:10: unknown bundled profile \"nope\"")]
    #[case("timeouts:\n  reply: 0s\n", "<inline>:2:10: `reply` must be above 0s")]
    #[case("timeouts: {conect: 1s}", "<inline>:1:12: unknown field `conect`")]
    fn problems_have_locations(#[case] yaml: &str, #[case] want: &str) {
        let err = Profile::from_yaml(yaml).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err}");
    }

    #[test]
    fn extends_merges_child_over_parent() {
        let p = Profile::from_yaml(
            "extends: pix-mailguard\nverbs: {action: mask}\nstarttls: {mode: strip}\nfaults:\n  - reply_then_close: 421 4.4.2 bye\n    on: data\n",
        )
        .unwrap();
        let r = p.rules();
        assert!(
            matches!(r.banner, BannerAction::Mask(_)),
            "banner kept from parent"
        );
        let verbs = r.verbs.as_ref().unwrap();
        assert_eq!(verbs.action, crate::proxy::model::FilterAction::Mask);
        assert!(verbs.filtered.matches("EHLO") && !verbs.filtered.matches("HELO"));
        assert!(matches!(r.starttls, StarttlsAction::Strip(_)));
        assert!(matches!(
            &r.faults[0].fault,
            Fault::Answer { on: Trigger::Verb(v), close: true, .. } if v == "DATA"
        ));
    }

    #[test]
    fn timeouts_default_and_merge_key_by_key() {
        use crate::proxy::compile::Timeouts;
        use std::time::Duration;
        let d = Timeouts::default();
        assert_eq!(Profile::bundled("transparent").unwrap().rules().timeouts, d);
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.yaml");
        std::fs::write(&base, "timeouts: {connect: 2s, reply: 3s}\n").unwrap();
        let child = dir.path().join("child.yaml");
        std::fs::write(&child, "extends: base.yaml\ntimeouts: {reply: 250ms}\n").unwrap();
        let t = Profile::from_file(&child).unwrap().rules().timeouts;
        assert_eq!(t.connect, Duration::from_secs(2), "kept from the parent");
        assert_eq!(t.reply, Duration::from_millis(250), "the child's wins");
        assert_eq!((t.banner, t.write, t.idle), (d.banner, d.write, d.idle));
    }

    #[test]
    fn extends_by_path_stays_in_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.yaml");
        std::fs::write(&base, "banner: {replace: '220 hidden'}\n").unwrap();
        let child = dir.path().join("child.yaml");
        std::fs::write(&child, "extends: base.yaml\nseed: 7\n").unwrap();
        let p = Profile::from_file(&child).unwrap();
        assert!(matches!(p.rules().banner, BannerAction::Replace(_)));
        assert_eq!(p.rules().seed, Some(7));
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "extends: ../../etc/passwd\n").unwrap();
        assert!(Profile::from_file(&bad).is_err());
    }
}
