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
//!   - name: the greylisting rule answers once
//!     rule: greylist
//!     times: 1
//! ```
//!
//! The scenario keeps these as plain data and checks them here (so
//! problems carry `file:line:column`); the expect layer builds the matchers.
//!
//! [`MockServer`]: crate::MockServer

use super::Problem;
use super::times::Times;
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
    /// Count the replies of the rule with this `name:` instead of commands.
    #[schemars(with = "Option<String>")]
    pub rule: Option<Spanned<String>>,
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

/// Check every entry, collecting every problem with its location: a
/// regex that does not compile, an entry that counts nothing. The expect
/// layer turns checked entries into matchers.
pub fn check(specs: &[Spanned<ExpectSpec>], source: &str) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    for spec in specs {
        let s = &spec.value;
        for (field, key) in [(&s.args, "args"), (&s.command, "command")] {
            let Some(f) = field else { continue };
            if let Err(e) = regex::Regex::new(&f.value) {
                let msg = e.to_string();
                let last = msg.lines().last().unwrap_or("invalid").trim().to_string();
                problems.push(Problem::at(
                    source,
                    &f.referenced,
                    format!("bad regex in `expect.{key}`: {last}"),
                ));
            }
        }
        let counts_commands = s.verb.is_some() || s.command.is_some();
        match (&s.rule, counts_commands || s.args.is_some()) {
            (None, _) if !counts_commands => problems.push(Problem::at(
                source,
                &spec.referenced,
                "an expectation needs `verb:` or `command:` (what to count)",
            )),
            (Some(rule), true) => problems.push(Problem::at(
                source,
                &rule.referenced,
                "`rule:` counts a rule's replies; it cannot be combined with `verb:`, `args:` or `command:`",
            )),
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
