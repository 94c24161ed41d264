//! The `expect:` key of scenario files: assertions a captured or written
//! scenario carries with it, checked on `verify()`, when a [`MockServer`]
//! drops, and printed by `serve`/`replay` at shutdown.
//!
//! ```yaml
//! expect:
//!   - name: EHLO exactly once
//!     verb: EHLO
//!     times: 1
//!   - name: RCPT to x@y at least once
//!     verb: RCPT
//!     args: '(?i)<x@y>'
//!     times: "1.."
//!   - name: the 3rd session sends QUIT
//!     command: '(?i)^QUIT$'
//!     session: 3
//! ```
//!
//! [`MockServer`]: crate::MockServer

use super::{Expect, Times};
use crate::scenario::Problem;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_saphyr::Spanned;
use std::borrow::Cow;
use std::fmt;

/// One entry of `expect:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// A name for the report.
    pub name: Option<String>,
    /// Count commands with this verb (case-insensitive).
    #[schemars(with = "Option<String>")]
    pub verb: Option<Spanned<String>>,
    /// Only those whose arguments match this regex.
    #[schemars(with = "Option<String>")]
    pub args: Option<Spanned<String>>,
    /// Count command lines matching this regex (verb included).
    #[schemars(with = "Option<String>")]
    pub command: Option<Spanned<String>>,
    /// How many: `1`, `0`, `"1.."`, `"..=3"`, `"2..=4"` (default `"1.."`).
    #[schemars(with = "Option<TimesSpec>")]
    pub times: Option<Spanned<TimesSpec>>,
    /// Only in the Nth session the server accepts (1-based).
    pub session: Option<u64>,
}

/// `times:` as written: a count or a range in Rust's notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimesSpec(pub Times);

impl<'de> Deserialize<'de> for TimesSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl de::Visitor<'_> for Visit {
            type Value = TimesSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count or a range like 1, \"1..\", \"..=3\" or \"2..=4\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TimesSpec, E> {
                s.parse().map(TimesSpec).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<TimesSpec, E> {
                Ok(TimesSpec(Times::exactly(n)))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl JsonSchema for TimesSpec {
    fn schema_name() -> Cow<'static, str> {
        "Times".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A count (`1`, `0`) or a range in Rust's notation (`\"1..\"`, `\"..=3\"`, `\"2..=4\"`).",
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9]*\s*(\.\.=?\s*[0-9]*)?\s*$"}
            ]
        })
    }
}

/// Check every entry (collecting every problem with its location) and build
/// the expectations.
pub fn compile(specs: &[Spanned<ExpectSpec>], source: &str) -> Result<Vec<Expect>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for spec in specs {
        let s = &spec.value;
        let regex = |field: &Option<Spanned<String>>,
                     key: &str,
                     problems: &mut Vec<Problem>|
         -> Option<regex::Regex> {
            let f = field.as_ref()?;
            match regex::Regex::new(&f.value) {
                Ok(r) => Some(r),
                Err(e) => {
                    let msg = e.to_string();
                    let last = msg.lines().last().unwrap_or("invalid").trim().to_string();
                    problems.push(Problem::at(
                        source,
                        &f.referenced,
                        format!("bad regex in `expect.{key}`: {last}"),
                    ));
                    None
                }
            }
        };
        let args = regex(&s.args, "args", &mut problems);
        let line = regex(&s.command, "command", &mut problems);
        if s.verb.is_none() && s.command.is_none() {
            problems.push(Problem::at(
                source,
                &spec.referenced,
                "an expectation needs `verb:` or `command:` (what to count)",
            ));
            continue;
        }
        let mut e = Expect::new();
        e.verb = s.verb.as_ref().map(|v| v.value.trim().to_ascii_uppercase());
        e.args = args;
        e.line = line;
        e.session = s.session;
        e.name = s.name.clone();
        if let Some(t) = &s.times {
            e.times = t.value.0;
        }
        out.push(e);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}
