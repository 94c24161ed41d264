//! The CSV dialect of Exchange protocol logs: comma-separated, a field is
//! quoted with `"` when it holds a comma or quote, `""` inside quotes is one
//! quote. Fields borrow from the line unless they hold an escaped quote.

use std::borrow::Cow;

/// Split one line into fields. Returns `None` when a quoted field is not
/// closed.
pub fn split(line: &[u8]) -> Option<Vec<Cow<'_, [u8]>>> {
    let mut fields = Vec::with_capacity(9);
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            let mut owned: Option<Vec<u8>> = None;
            let start = i + 1;
            let mut j = start;
            loop {
                match line.get(j) {
                    None => return None,
                    Some(b'"') if line.get(j + 1) == Some(&b'"') => {
                        let buf = owned.get_or_insert_with(Vec::new);
                        if buf.is_empty() {
                            buf.extend_from_slice(&line[start..j]);
                        }
                        buf.push(b'"');
                        j += 2;
                    }
                    Some(b'"') => break,
                    Some(&c) => {
                        if let Some(buf) = owned.as_mut() {
                            buf.push(c);
                        }
                        j += 1;
                    }
                }
            }
            fields.push(match owned {
                Some(v) => Cow::Owned(v),
                None => Cow::Borrowed(&line[start..j]),
            });
            // Skip to the separator (text after a closing quote is dropped).
            i = j + 1;
            match memchr::memchr(b',', &line[i.min(line.len())..]) {
                Some(k) => i += k + 1,
                None => return Some(fields),
            }
        } else {
            match memchr::memchr(b',', &line[i..]) {
                Some(k) => {
                    fields.push(Cow::Borrowed(&line[i..i + k]));
                    i += k + 1;
                }
                None => {
                    fields.push(Cow::Borrowed(&line[i..]));
                    return Some(fields);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(line: &str) -> Option<Vec<String>> {
        split(line.as_bytes()).map(|f| {
            f.iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect()
        })
    }

    #[test]
    fn quoted_and_plain() {
        assert_eq!(s("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(s("a,\"b, c\",d").unwrap(), ["a", "b, c", "d"]);
        assert_eq!(s("\"x\"\"y\",").unwrap(), ["x\"y", ""]);
        assert_eq!(s("a,\"open"), None);
        assert_eq!(s("").unwrap(), [""]);
    }
}
