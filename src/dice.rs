//! Seeded dice for faults, shared by the fake server and the proxy: a
//! seeded run is repeatable connection by connection, with no `rand`
//! dependency.

use std::time::Duration;

/// SplitMix64: tiny, fast, and good enough for dice (not for secrets).
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    /// Dice from a seed.
    pub fn new(seed: u64) -> Dice {
        Dice(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Independent dice drawn from these: one stream per direction of a
    /// connection, say, each as repeatable as these.
    pub fn fork(&mut self) -> Dice {
        Dice::new(self.next_u64())
    }

    /// A duration in `[0, max]`.
    pub fn up_to(&mut self, max: Duration) -> Duration {
        max.mul_f64(self.unit())
    }
}

/// The dice of one session: the one derivation of every random draw the
/// server and the proxy make. The same `(seed, session, stream)` always
/// gives the same dice; `stream` keeps the draws of two faults (or two
/// directions) of one session apart. Without a seed the clock decides, so
/// runs differ, which is the point.
pub fn session_dice(seed: Option<u64>, session: u64, stream: u64) -> Dice {
    let seed = seed.unwrap_or_else(clock_seed);
    Dice::new(seed ^ session.wrapping_mul(0xA24B_AED4_963E_E407) ^ stream.rotate_left(48))
}

/// A seed from the clock, mixed with a stack address so two sessions in
/// the same nanosecond differ.
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    nanos ^ (&local as *const u8 as u64).rotate_left(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_dice_repeat_and_streams_differ() {
        let draw = |seed, session, stream| session_dice(Some(seed), session, stream).next_u64();
        assert_eq!(draw(1, 2, 3), draw(1, 2, 3));
        assert_ne!(draw(1, 2, 3), draw(1, 3, 3), "sessions differ");
        assert_ne!(draw(1, 2, 3), draw(1, 2, 4), "streams differ");
        assert_ne!(draw(1, 2, 3), draw(2, 2, 3), "seeds differ");
    }

    #[test]
    fn dice_are_uniform_enough() {
        let mut d = Dice::new(7);
        let mean = (0..10_000).map(|_| d.unit()).sum::<f64>() / 10_000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }
}
