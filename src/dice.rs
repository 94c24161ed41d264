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

    /// A duration in `[0, max]`.
    pub fn up_to(&mut self, max: Duration) -> Duration {
        max.mul_f64(self.unit())
    }
}

/// A seed for one session of one fault: the same `(seed, session)` always
/// gives the same dice.
pub fn session_seed(seed: u64, session: u64) -> u64 {
    seed ^ session.wrapping_mul(0xA24B_AED4_963E_E407)
}

/// A seed from the clock, for faults without `seed:`.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
