//! Text wrapped to a width, for the terminal and the diagram alike.

/// Wrap on spaces; words longer than `width` are cut hard. At most `max`
/// lines, the last ending in `…` when something was left out.
pub(crate) fn wrap(text: &str, width: usize, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let room = if used == 0 {
                width
            } else {
                width.saturating_sub(used + 1)
            };
            if word.len() <= room {
                if used > 0 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 && word.len() <= width {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // Too long for any line: fill this one and carry on.
            let take = if room == 0 { width } else { room };
            if used > 0 && room > 0 {
                line.push(' ');
            } else if used > 0 {
                lines.push(std::mem::take(&mut line));
            }
            let rest = word.split_off(take.min(word.len()));
            line.extend(word.iter());
            lines.push(std::mem::take(&mut line));
            word = rest;
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    if lines.len() > max {
        lines.truncate(max);
        if let Some(last) = lines.last_mut() {
            let mut cut: String = last.chars().take(width.saturating_sub(1)).collect();
            cut.push('…');
            *last = cut;
        }
    }
    lines
}


#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_on_spaces_and_cuts_long_words() {
        assert_eq!(wrap("a bb ccc", 4, 5), ["a bb", "ccc"]);
        assert_eq!(wrap("**********", 4, 5), ["****", "****", "**"]);
        assert_eq!(wrap("**********", 4, 2), ["****", "***…"]);
        assert_eq!(wrap("", 4, 2), [""]);
    }
}
