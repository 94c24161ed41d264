//! Runtime changes of one entry of the running profile, toxiproxy-style:
//! add or remove one fault (`faults:`) or one reply rule (`replies:`) by
//! name. Each change builds a whole new profile from the current model
//! plus or minus the entry and swaps it in, so new connections get it and
//! running ones keep the profile they started with. The control API and
//! `MockProxy` both call these.

use super::model::{FaultSpec, ProfileFile, ReplyRuleSpec};
use super::{Profile, Shared};
use crate::scenario::ScenarioError;
use crate::scenario::load::{self, Origin};
use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

/// Which list of the profile an edit touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `faults:`.
    Faults,
    /// `replies:`.
    Replies,
}

impl Section {
    /// The word for messages and control events.
    pub fn noun(self) -> &'static str {
        match self {
            Section::Faults => "fault",
            Section::Replies => "reply rule",
        }
    }
}

/// Why an edit changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The entry's text is not a fault (or reply rule): YAML or JSON
    /// syntax, an unknown key, a wrong type. Located.
    #[error("{0}")]
    Unreadable(ScenarioError),
    /// The profile with the entry does not check (e.g. two kinds in one
    /// fault). Located.
    #[error("{0}")]
    Invalid(ScenarioError),
    /// An entry of that name is already there.
    #[error("there is already a {0} named {1:?}; remove it first")]
    Exists(&'static str, String),
    /// No entry of that name.
    #[error("no {0} named {1:?}; there are: {2}")]
    Missing(&'static str, String, String),
    /// The entry's own `name:` differs from the name it was added under.
    #[error("the {0} says `name: {1}` but is added as {2:?}")]
    Renamed(&'static str, String, String),
    /// Others kept swapping the profile in between.
    #[error("the profile kept changing; try again")]
    Busy,
}

impl Shared {
    /// Read-modify-write of the profile: build a new one from the current
    /// model, `check` it, swap it in only if nobody swapped in between
    /// (else retry a few times).
    pub fn edit_profile<T>(
        &self,
        edit: impl Fn(&mut ProfileFile) -> Result<T, EditError>,
        check: impl Fn(&Profile, &T) -> Result<(), EditError>,
    ) -> Result<(Profile, T), EditError> {
        for _ in 0..8 {
            let current = self.profile();
            let mut model = current.model().clone();
            let what = edit(&mut model)?;
            let next = Profile::from_file_model(model, "<request>").map_err(EditError::Invalid)?;
            check(&next, &what)?;
            let mut slot = self.profile.write().unwrap_or_else(|e| e.into_inner());
            if slot.same_as(&current) {
                *slot = next.clone();
                return Ok((next, what));
            }
        }
        Err(EditError::Busy)
    }

    /// Add one entry (YAML or JSON text) to `section`, named `name` (or by
    /// its own `name:`, or the compiler's default: a fault's kind). Faults
    /// go last (every fault applies); reply rules first (the first match
    /// wins). Names stay unique, for removal by name. Returns the name.
    pub fn add_entry(
        &self,
        section: Section,
        name: Option<&str>,
        text: &str,
    ) -> Result<String, EditError> {
        // The compiler names an unnamed entry; that name must be new too.
        let unique = |profile: &Profile, at: &usize| {
            let names = names_of(profile, section);
            let added = names.get(*at).cloned().unwrap_or_default();
            if names.iter().filter(|n| **n == added).count() > 1 {
                return Err(EditError::Exists(section.noun(), added));
            }
            Ok(())
        };
        let (profile, at) = match section {
            Section::Faults => {
                let spec: Spanned<FaultSpec> = parse(text)?;
                let given = spec.value.name.clone();
                let edit = |model: &mut ProfileFile| {
                    let mut spec = spec.clone();
                    spec.value.name = pick(section, name, given.clone())?;
                    model.faults.push(spec);
                    Ok(model.faults.len() - 1)
                };
                self.edit_profile(edit, unique)?
            }
            Section::Replies => {
                let spec: Spanned<ReplyRuleSpec> = parse(text)?;
                let given = spec.value.name.clone();
                let edit = |model: &mut ProfileFile| {
                    let mut spec = spec.clone();
                    spec.value.name = pick(section, name, given.clone())?;
                    model.replies.insert(0, spec);
                    Ok(0)
                };
                self.edit_profile(edit, unique)?
            }
        };
        let added = names_of(&profile, section).swap_remove(at);
        self.recorder.control(
            match section {
                Section::Faults => "fault-added",
                Section::Replies => "reply-rule-added",
            },
            format!("{added:?} for new connections"),
        );
        Ok(added)
    }

    /// Remove the entry of `section` named `name`.
    pub fn remove_entry(&self, section: Section, name: &str) -> Result<(), EditError> {
        let edit = |model: &mut ProfileFile| {
            // Every entry of a kept model is named (from_file_model).
            let names: Vec<String> = match section {
                Section::Faults => model.faults.iter().map(|f| f.value.name.clone()).collect::<Vec<_>>(),
                Section::Replies => model.replies.iter().map(|r| r.value.name.clone()).collect(),
            }
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
            let Some(i) = names.iter().position(|n| n == name) else {
                return Err(EditError::Missing(
                    section.noun(),
                    name.to_string(),
                    list(&names),
                ));
            };
            match section {
                Section::Faults => {
                    model.faults.remove(i);
                }
                Section::Replies => {
                    model.replies.remove(i);
                }
            }
            Ok(())
        };
        self.edit_profile(edit, |_, _| Ok(()))?;
        self.recorder.control(
            match section {
                Section::Faults => "fault-removed",
                Section::Replies => "reply-rule-removed",
            },
            format!("{name:?} for new connections"),
        );
        Ok(())
    }

    /// The names of `section`'s entries, in order.
    pub fn names(&self, section: Section) -> Vec<String> {
        names_of(&self.profile(), section)
    }
}

fn names_of(profile: &Profile, section: Section) -> Vec<String> {
    match section {
        Section::Faults => profile.rules().faults.iter().map(|f| f.name.clone()).collect(),
        Section::Replies => profile.rules().replies.iter().map(|r| r.name.clone()).collect(),
    }
}

/// One entry from the request's text: JSON is YAML, so one parser gives
/// both the same line:column errors.
fn parse<T: DeserializeOwned>(text: &str) -> Result<T, EditError> {
    load::parse(text, &Origin::Inline).map_err(EditError::Unreadable)
}

/// The entry's name: the one it is added under, which its own `name:` may
/// repeat but not contradict.
fn pick(
    section: Section,
    name: Option<&str>,
    given: Option<String>,
) -> Result<Option<String>, EditError> {
    match (name, given) {
        (Some(n), Some(g)) if n != g => Err(EditError::Renamed(section.noun(), g, n.to_string())),
        (Some(n), _) => Ok(Some(n.to_string())),
        (None, g) => Ok(g),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
