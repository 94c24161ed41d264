//! `data.end_of_data` and `data.bare_newline`: checked, and turned into
//! the framer's [`EndOfData`].

use super::compile::Checker;
use super::model::DataSpec;
use crate::protocol::eod::{EndOfData, Seq};

/// The end of data `data` asks for; every unknown name is a problem at its
/// key.
pub(super) fn compile(c: &mut Checker, data: &DataSpec) -> EndOfData {
    let mut eod = match &data.end_of_data {
        None => EndOfData::STRICT,
        Some(spec) => {
            // `<CRLF>.<CRLF>` always ends a message; the list adds others.
            let mut eod = EndOfData::STRICT;
            for name in &spec.value.0 {
                if let Some(preset) = EndOfData::preset(name) {
                    for seq in preset.sequences() {
                        eod = eod.with(seq);
                    }
                } else if let Some(seq) = Seq::parse(name) {
                    eod = eod.with(seq);
                } else {
                    c.problem(&spec.referenced, unknown_sequence(name));
                }
            }
            eod
        }
    };
    if let Some(refuse) = data.bare_newline.as_ref().and_then(|b| b.refuse.as_ref()) {
        for kind in &refuse.value.0 {
            match kind.to_ascii_lowercase().as_str() {
                "lf" => eod.refuse_bare_lf = true,
                "cr" => eod.refuse_bare_cr = true,
                other => c.problem(
                    &refuse.referenced,
                    format!("`refuse`: unknown bare newline `{other}` (lf or cr)"),
                ),
            }
        }
    }
    eod
}

fn unknown_sequence(name: &str) -> String {
    let presets: Vec<&str> = EndOfData::PRESETS.iter().map(|(n, _)| *n).collect();
    format!(
        "`end_of_data`: unknown `{name}`: a preset ({}) or a sequence such as `lf.crlf` \
         (before and after the dot, each crlf, lf or cr)",
        presets.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use crate::Scenario;
    use crate::protocol::eod::{Break, EndOfData, Seq};

    #[test]
    fn presets_sequences_and_lists_compile() {
        let plan = |yaml: &str| Scenario::from_yaml(yaml).unwrap().plan().end_of_data;
        assert_eq!(plan("{}"), EndOfData::STRICT);
        assert_eq!(plan("data: {end_of_data: strict}"), EndOfData::STRICT);
        let both = plan("data: {end_of_data: [crlf.crlf, '<LF>.<CR><LF>']}");
        assert_eq!(both, EndOfData::preset("exchange").unwrap());
        let more = plan("data: {end_of_data: [exchange, cr.cr]}");
        assert!(more.ends_at(Seq {
            before: Break::Cr,
            after: Break::Cr
        }));
        let refuse = plan("data: {bare_newline: {refuse: [lf, CR]}}");
        assert!(refuse.refuse_bare_lf && refuse.refuse_bare_cr);
    }

    #[test]
    fn unknown_names_are_refused_where_they_are_written() {
        for (yaml, want) in [
            (
                "data:\n  end_of_data: [strict, lf.dot]",
                "<inline>:2:16: `end_of_data`: unknown `lf.dot`",
            ),
            (
                "data:\n  bare_newline: {refuse: nul}",
                "<inline>:2:26: `refuse`: unknown bare newline `nul`",
            ),
        ] {
            let err = Scenario::from_yaml(yaml).unwrap_err().to_string();
            assert!(err.starts_with(want), "{yaml}: {err}");
        }
    }
}
