//! How many times an expectation must match: `1`, `1..`, `..=3`, `2..=4`.
//!
//! Anything `Into<Times>` works, as in wiremock-rs, and scenario files write
//! the same forms as text (`times: "1.."`).

use std::fmt;
use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive, RangeTo, RangeToInclusive};
use std::str::FromStr;

/// An inclusive range of match counts.
///
/// # Example
///
/// ```
/// use smtp_harness::{Expect, Times};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert!(Times::from(2).contains(2));
/// assert!(!Times::from(2).contains(3));
/// assert!(Times::from(1..).contains(40)); // at least once
/// let _count_all_mail = Expect::verb("MAIL").expect(1..);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Times {
    /// At least this many.
    pub min: u64,
    /// At most this many (`None`: no upper bound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl Times {
    /// Exactly `n` times.
    pub const fn exactly(n: u64) -> Times {
        Times {
            min: n,
            max: Some(n),
        }
    }

    /// At least once: the default for an expectation without `times`.
    pub const AT_LEAST_ONCE: Times = Times { min: 1, max: None };

    /// Does `n` satisfy it?
    pub fn contains(&self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|max| n <= max)
    }
}

impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (0, Some(0)) => f.write_str("never"),
            (a, Some(b)) if a == b => write!(f, "exactly {a}"),
            (0, None) => f.write_str("any number of times"),
            (a, None) => write!(f, "at least {a}"),
            (0, Some(b)) => write!(f, "at most {b}"),
            (a, Some(b)) => write!(f, "between {a} and {b}"),
        }
    }
}

impl From<u64> for Times {
    fn from(n: u64) -> Times {
        Times::exactly(n)
    }
}

impl From<RangeFrom<u64>> for Times {
    fn from(r: RangeFrom<u64>) -> Times {
        Times {
            min: r.start,
            max: None,
        }
    }
}

impl From<RangeTo<u64>> for Times {
    /// `..3` is at most 2 (half-open, as in Rust).
    fn from(r: RangeTo<u64>) -> Times {
        Times {
            min: 0,
            max: Some(r.end.saturating_sub(1)),
        }
    }
}

impl From<RangeToInclusive<u64>> for Times {
    fn from(r: RangeToInclusive<u64>) -> Times {
        Times {
            min: 0,
            max: Some(r.end),
        }
    }
}

impl From<Range<u64>> for Times {
    /// `2..5` is 2, 3 or 4 (half-open, as in Rust).
    fn from(r: Range<u64>) -> Times {
        Times {
            min: r.start,
            max: Some(r.end.saturating_sub(1)),
        }
    }
}

impl From<RangeInclusive<u64>> for Times {
    fn from(r: RangeInclusive<u64>) -> Times {
        Times {
            min: *r.start(),
            max: Some(*r.end()),
        }
    }
}

impl From<RangeFull> for Times {
    fn from(_: RangeFull) -> Times {
        Times { min: 0, max: None }
    }
}

impl FromStr for Times {
    type Err = String;

    /// The Rust range forms as text: `3`, `1..`, `..3`, `..=3`, `2..5`, `2..=4`.
    fn from_str(s: &str) -> Result<Times, String> {
        let s = s.trim();
        let num = |t: &str| -> Result<u64, String> {
            t.trim().parse::<u64>().map_err(|_| {
                format!("expected a count or a range like 1, 1.., ..=3 or 2..=4, found {s:?}")
            })
        };
        let times = match s.split_once("..") {
            None => Times::exactly(num(s)?),
            Some((a, b)) => {
                let min = if a.trim().is_empty() { 0 } else { num(a)? };
                match b.strip_prefix('=') {
                    Some(b) => Times {
                        min,
                        max: Some(num(b)?),
                    },
                    None if b.trim().is_empty() => Times { min, max: None },
                    None => {
                        let end = num(b)?;
                        if end == 0 {
                            return Err(format!("the range {s:?} is empty"));
                        }
                        Times {
                            min,
                            max: Some(end - 1),
                        }
                    }
                }
            }
        };
        if times.max.is_some_and(|max| max < times.min) {
            return Err(format!("the range {s:?} is empty"));
        }
        Ok(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(x: impl Into<Times>) -> Times {
        x.into()
    }

    #[test]
    fn rust_ranges_and_text_agree() {
        for (text, times) in [
            ("1", t(1)),
            ("0", t(0)),
            ("1..", t(1..)),
            ("..3", t(..3)),
            ("..=3", t(..=3)),
            ("2..5", t(2..5)),
            ("2..=4", t(2..=4)),
            ("..", t(..)),
        ] {
            assert_eq!(text.parse::<Times>(), Ok(times), "{text}");
        }
        assert!("3..=1".parse::<Times>().is_err());
        assert!("x".parse::<Times>().is_err());
        assert!("..0".parse::<Times>().is_err());
    }

    #[test]
    fn display_reads_as_english() {
        assert_eq!(t(0).to_string(), "never");
        assert_eq!(t(1).to_string(), "exactly 1");
        assert_eq!(t(1..).to_string(), "at least 1");
        assert_eq!(t(..=3).to_string(), "at most 3");
        assert_eq!(t(2..=4).to_string(), "between 2 and 4");
        assert!(t(2..=4).contains(3) && !t(2..=4).contains(5) && !t(0).contains(1));
    }
}
