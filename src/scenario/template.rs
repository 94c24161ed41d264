//! Reply text with placeholders (`{hostname}`, `{date}` …), parsed once when a
//! scenario is loaded so that rendering a reply is a walk over segments.

use std::fmt::Write;

/// A placeholder a reply can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// The scenario's host name.
    Hostname,
    /// The current time in RFC 5322 form (`Mon, 5 Aug 2026 16:24:41 +0000`).
    Date,
    /// The client's IP address.
    ClientIp,
    /// The client's port.
    ClientPort,
    /// The argument the client gave to HELO/EHLO.
    Helo,
    /// The id of the message just accepted.
    QueueId,
    /// The session id.
    Session,
    /// `limits.message_size`.
    MessageSize,
}

const VARS: &[(&str, Var)] = &[
    ("hostname", Var::Hostname),
    ("date", Var::Date),
    ("client_ip", Var::ClientIp),
    ("client_port", Var::ClientPort),
    ("helo", Var::Helo),
    ("queue_id", Var::QueueId),
    ("session", Var::Session),
    ("message_size", Var::MessageSize),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Var(Var),
}

/// A parsed reply line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// Supplies placeholder values at render time.
pub trait Vars {
    /// Append the value of `var` to `out`.
    fn write_var(&self, var: Var, out: &mut String);
}

impl Template {
    /// Parse `{name}` placeholders; `{{` and `}}` are literal braces.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let end = rest.find('}').ok_or_else(|| {
                        format!("unclosed placeholder in {text:?} (write {{{{ for a literal brace)")
                    })?;
                    let name = &rest[..end];
                    let var = VARS
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| *v)
                        .ok_or_else(|| {
                            let known: Vec<_> = VARS.iter().map(|(n, _)| *n).collect();
                            format!(
                                "unknown placeholder {{{name}}}; expected one of {}",
                                known.join(", ")
                            )
                        })?;
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Var(var));
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(Template { segments })
    }

    /// A template with no placeholders.
    pub fn literal(text: impl Into<String>) -> Template {
        Template {
            segments: vec![Segment::Text(text.into())],
        }
    }

    /// Render with the given values.
    pub fn render(&self, vars: &dyn Vars) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Var(v) => vars.write_var(*v, &mut out),
            }
        }
        out
    }

    /// The text with placeholders left as written, for docs and listings.
    pub fn source(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(&t.replace('{', "{{").replace('}', "}}")),
                Segment::Var(v) => {
                    let name = VARS.iter().find(|(_, x)| x == v).map_or("?", |(n, _)| n);
                    let _ = write!(out, "{{{name}}}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Vars for Fixed {
        fn write_var(&self, var: Var, out: &mut String) {
            out.push_str(match var {
                Var::Hostname => "mx.example",
                Var::ClientIp => "127.0.0.1",
                _ => "?",
            });
        }
    }

    #[test]
    fn renders_placeholders_and_escapes() {
        let t = Template::parse("{hostname} Hello [{client_ip}] {{literal}}").unwrap();
        assert_eq!(t.render(&Fixed), "mx.example Hello [127.0.0.1] {literal}");
        assert_eq!(t.source(), "{hostname} Hello [{client_ip}] {{literal}}");
    }

    #[test]
    fn unknown_placeholder_names_the_known_ones() {
        let err = Template::parse("{hostnme}").unwrap_err();
        assert!(err.contains("unknown placeholder {hostnme}"), "{err}");
        assert!(err.contains("hostname"), "{err}");
        assert!(Template::parse("{open").is_err());
    }
}
