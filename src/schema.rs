//! JSON Schemas of scenario and profile files, generated with schemars from
//! the very serde types the loader reads, so they cannot drift.
//!
//! The types with hand-written `Deserialize` impls get hand-written schemas
//! here: [`OneOrMany<T>`] (a `T` or a list of them), [`ReplyText`] (a string,
//! a code as a number, or a list of lines) and [`DurationSpec`] (`250ms`,
//! `2s`, or seconds as a number). `Spanned<T>` fields are described as `T`
//! with `#[schemars(with = …)]` on the field (serde-saphyr's type is foreign).
//!
//! `schema/scenario.schema.json`, `schema/profile.schema.json` and
//! `schema/proxies.schema.json` (`proxy --config` files) are these
//! schemas committed for editors (`# yaml-language-server: $schema=…`); a test
//! fails when they are stale.

use crate::proxy::model::ProfileFile;
use crate::scenario::model::{DurationSpec, OneOrMany, ReplyText, ScenarioFile};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

/// Where the committed schemas are published, for `$id`.
pub const BASE_ID: &str = "https://smtp-harness.invalid/schema/";

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut one = generator.subschema_for::<T>();
        // `reply: 250`, `code: 550`: a number where text is expected is read as text.
        if one.get("type").and_then(|t| t.as_str()) == Some("string") {
            one.insert("type".into(), serde_json::json!(["string", "integer"]));
        }
        json_schema!({
            "anyOf": [one.clone(), {"type": "array", "items": one}]
        })
    }
}

impl JsonSchema for ReplyText {
    fn schema_name() -> Cow<'static, str> {
        "ReplyText".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A reply: \"550 5.1.1 User unknown\", a code alone (250), a block with one line per row, or a list of lines ([\"250-first\", \"250 last\"]).",
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]{3}"},
                {"type": "integer", "minimum": 100, "maximum": 999},
                {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{3}"}, "minItems": 1}
            ]
        })
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: 250ms, 2s, 1.5s, 5m, 1h, or a number of seconds (0s..24h).",
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]*)?\s*(ms|s|m|min|h)?\s*$"},
                {"type": "number", "minimum": 0, "maximum": 86400}
            ]
        })
    }
}

fn generate<T: JsonSchema>(file: &str, title: &str) -> serde_json::Value {
    let mut schema = SchemaGenerator::default().into_root_schema_for::<T>();
    schema.insert("$id".into(), format!("{BASE_ID}{file}").into());
    schema.insert("title".into(), title.into());
    schema.to_value()
}

/// The schema of scenario files (`smtp-harness schema`).
pub fn scenario() -> serde_json::Value {
    generate::<ScenarioFile>("scenario.schema.json", "smtp-harness scenario")
}

/// The schema of proxy profile files (`smtp-harness schema profile`).
pub fn profile() -> serde_json::Value {
    generate::<ProfileFile>("profile.schema.json", "smtp-harness proxy profile")
}

/// The schema of `proxy --config` files (`smtp-harness schema proxies`).
pub fn proxies() -> serde_json::Value {
    generate::<crate::proxy::config::ProxiesFile>(
        "proxies.schema.json",
        "smtp-harness proxies (proxy --config)",
    )
}

/// [`proxies`], pretty-printed, as committed in `schema/`.
pub fn proxies_json() -> String {
    serde_json::to_string_pretty(&proxies()).unwrap_or_default()
}

/// [`scenario`], pretty-printed, as committed in `schema/`.
pub fn scenario_json() -> String {
    serde_json::to_string_pretty(&scenario()).unwrap_or_default()
}

/// [`profile`], pretty-printed, as committed in `schema/`.
pub fn profile_json() -> String {
    serde_json::to_string_pretty(&profile()).unwrap_or_default()
}
