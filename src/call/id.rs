//! The call's one id across logs, records, events and API replies: a UUID
//! version 7 (RFC 9562 §5.7), unique across restarts and switches and
//! ordered by the time the call arrived. The core reads no clock: the
//! driver anchors wall-clock time to its monotonic `now` once
//! ([`CallUuids::set_wall_clock`]); random bits come from the core's seeded
//! RNG, so a simulation draws the same ids every run.
//!
//! Within one millisecond a 12-bit counter in `rand_a` keeps ids in
//! arrival order (RFC 9562 §6.2, method 1); a clock set back reuses the
//! last millisecond rather than going back.

use std::fmt;
use std::str::FromStr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::RngCore;

/// Bits of the in-millisecond counter (RFC 9562 `rand_a`).
const COUNTER_BITS: u32 = 12;
const COUNTER_MAX: u16 = (1 << COUNTER_BITS) - 1;
/// A fresh millisecond's counter starts randomly below this, leaving room
/// to count up (RFC 9562 §6.2: "guard" bits).
const COUNTER_SEED_MAX: u16 = (1 << (COUNTER_BITS - 1)) - 1;
/// Text form: 32 hex digits and 4 hyphens.
const TEXT_LEN: usize = 36;

/// A call's globally unique, time-ordered id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallUuid(u128);

/// A call id that does not read as a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a call id (a UUID like 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b)")]
pub struct CallUuidError(pub String);

impl CallUuid {
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// Milliseconds since the Unix epoch when the call arrived.
    pub fn unix_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl fmt::Display for CallUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl FromStr for CallUuid {
    type Err = CallUuidError;

    fn from_str(s: &str) -> Result<CallUuid, CallUuidError> {
        let bad = || CallUuidError(s.chars().take(TEXT_LEN + 4).collect());
        let hyphens_at = [8, 13, 18, 23];
        if s.len() != TEXT_LEN
            || !hyphens_at.iter().all(|&i| s.as_bytes()[i] == b'-')
            || s.bytes().filter(|&b| b == b'-').count() != hyphens_at.len()
        {
            return Err(bad());
        }
        let hex: String = s.chars().filter(|&c| c != '-').collect();
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        u128::from_str_radix(&hex, 16)
            .map(CallUuid)
            .map_err(|_| bad())
    }
}

impl serde::Serialize for CallUuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CallUuid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CallUuid, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Draws call ids. Wall-clock time is the anchor plus monotonic time since.
#[derive(Debug)]
pub struct CallUuids {
    /// When the core started: monotonic stamps count from it.
    started: Instant,
    anchor: Instant,
    anchor_ms: u64,
    last_ms: u64,
    counter: u16,
}

impl CallUuids {
    /// Anchored at the Unix epoch until the driver says otherwise: ids are
    /// still unique and ordered (tests and simulations).
    pub fn new(now: Instant) -> CallUuids {
        CallUuids {
            started: now,
            anchor: now,
            anchor_ms: 0,
            last_ms: 0,
            counter: 0,
        }
    }

    /// The wall clock read at `now` by the driver.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.anchor = now;
        self.anchor_ms = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }

    /// Wall-clock milliseconds since the Unix epoch at `now`.
    pub fn wall_ms(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.anchor).as_millis();
        self.anchor_ms
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// Monotonic milliseconds since the core started.
    pub fn monotonic_ms(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.started).as_millis();
        u64::try_from(since).unwrap_or(u64::MAX)
    }

    /// A new id for a call arriving at `now`.
    pub fn next(&mut self, now: Instant, rng: &mut impl RngCore) -> CallUuid {
        let ms = self.wall_ms(now);
        if ms > self.last_ms {
            self.last_ms = ms;
            self.counter = (rng.next_u32() as u16) & COUNTER_SEED_MAX;
        } else if self.counter < COUNTER_MAX {
            self.counter += 1;
        } else {
            // 4096 calls in one millisecond: borrow the next one.
            self.last_ms += 1;
            self.counter = 0;
        }
        let ts = u128::from(self.last_ms & 0xffff_ffff_ffff);
        let rand_b = u128::from(rng.next_u64() & 0x3fff_ffff_ffff_ffff);
        CallUuid(ts << 80 | 0x7 << 76 | u128::from(self.counter) << 64 | 0b10 << 62 | rand_b)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    #[test]
    fn ids_carry_version_7_variant_and_the_wall_clock_millisecond() {
        let t0 = origin();
        let mut ids = CallUuids::new(t0);
        let wall = UNIX_EPOCH + Duration::from_millis(1_709_251_200_250);
        ids.set_wall_clock(t0, wall);
        let mut rng = StdRng::seed_from_u64(1);
        let id = ids.next(t0 + Duration::from_millis(5), &mut rng);
        assert_eq!(id.unix_ms(), 1_709_251_200_255);
        let text = id.to_string();
        assert_eq!(text.len(), TEXT_LEN);
        assert_eq!(&text[14..15], "7", "{text}");
        assert!("89ab".contains(&text[19..20]), "{text}");
        assert_eq!(text.parse::<CallUuid>(), Ok(id));
    }

    #[test]
    fn ids_are_ordered_within_a_millisecond_and_across_a_clock_set_back() {
        let t0 = origin();
        let mut ids = CallUuids::new(t0);
        let mut rng = StdRng::seed_from_u64(2);
        let mut last = ids.next(t0, &mut rng);
        for n in 0..10_000u64 {
            // Many per millisecond, so the counter overflows too.
            let at = t0 + Duration::from_micros(n * 10);
            let id = ids.next(at, &mut rng);
            assert!(id > last, "{id} after {last}");
            last = id;
        }
        ids.set_wall_clock(t0 + Duration::from_secs(1), UNIX_EPOCH);
        let after_set_back = ids.next(t0 + Duration::from_secs(1), &mut rng);
        assert!(after_set_back > last);
    }

    #[test]
    fn the_same_seed_draws_the_same_ids() {
        let t0 = origin();
        let draw = || {
            let mut ids = CallUuids::new(t0);
            let mut rng = StdRng::seed_from_u64(3);
            (0..3).map(|_| ids.next(t0, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(), draw());
    }

    #[test]
    fn malformed_ids_are_errors() {
        for bad in [
            "",
            "not-a-uuid",
            "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g",
            "0190a1b2-c3d4-7e5f-8a9b0-c1d2e3f4a5b",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5bb",
            "+190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        ] {
            assert!(bad.parse::<CallUuid>().is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(
            &"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
                .parse::<CallUuid>()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(json, "\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\"");
        let back: CallUuid = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_string(), "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    }
}
