//! `smtp-harness schema`: the JSON Schema of scenario or profile files.

use super::args::{SchemaArgs, SchemaKind};
use std::process::ExitCode;

pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let text = match args.kind {
        SchemaKind::Scenario => crate::schema::scenario_json(),
        SchemaKind::Profile => crate::schema::profile_json(),
        SchemaKind::Proxies => crate::schema::proxies_json(),
    };
    outln!("{text}")?;
    Ok(ExitCode::SUCCESS)
}
