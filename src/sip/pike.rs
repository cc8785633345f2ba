//! Per-source request rate limit, like Kamailio's pike: a token bucket per
//! source address over all SIP requests (issue 13, item 3).
//!
//! Pure: the driver calls `check` for each request and acts on the verdict.
//! Over the limit a source first gets 503 + Retry-After (INVITE/REGISTER),
//! then, past a second allowance, silence. Trusted sources (trunk CIDRs)
//! are never limited. Not wired into the transport yet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::sip::guard::Cidr;

/// Most sources tracked at once; the least recently seen is evicted.
pub const PIKE_SOURCES_MAX: usize = 8192;
/// How often a limited source is logged at most.
pub const PIKE_LOG_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PikeConfig {
    /// Requests allowed in a burst.
    pub burst: u32,
    /// Tokens refilled per second.
    pub rate_per_sec: u32,
    /// Refusals answered with 503 before the source is dropped silently.
    pub refusals_answered_max: u32,
    pub trusted: Vec<Cidr>,
}

impl Default for PikeConfig {
    fn default() -> Self {
        PikeConfig {
            burst: 40,
            rate_per_sec: 20,
            refusals_answered_max: 5,
            trusted: Vec::new(),
        }
    }
}

/// The verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Answer 503 with Retry-After (only INVITE/REGISTER); `log` once a minute.
    Refuse {
        log: bool,
    },
    /// No answer.
    Drop {
        log: bool,
    },
}

#[derive(Clone, Debug)]
struct Bucket {
    /// Tokens scaled by 1000 to refill in whole milli-tokens.
    milli_tokens: u64,
    refilled_at: Instant,
    refusals: u32,
    logged_at: Option<Instant>,
}

#[derive(Debug)]
pub struct Pike {
    config: PikeConfig,
    buckets: HashMap<IpAddr, Bucket>,
    limited_total: u64,
}

impl Pike {
    pub fn new(config: PikeConfig) -> Self {
        Pike {
            config,
            buckets: HashMap::new(),
            limited_total: 0,
        }
    }

    /// Checks one request from `ip`; `answerable` is true for INVITE/REGISTER.
    pub fn check(&mut self, ip: IpAddr, answerable: bool, now: Instant) -> Verdict {
        if self.config.trusted.iter().any(|c| c.contains(ip)) {
            return Verdict::Pass;
        }
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= PIKE_SOURCES_MAX {
            self.evict_oldest();
        }
        let full = u64::from(self.config.burst) * 1000;
        let rate = u64::from(self.config.rate_per_sec);
        let b = self.buckets.entry(ip).or_insert(Bucket {
            milli_tokens: full,
            refilled_at: now,
            refusals: 0,
            logged_at: None,
        });
        let elapsed_ms = u64::try_from(now.saturating_duration_since(b.refilled_at).as_millis())
            .unwrap_or(u64::MAX);
        b.milli_tokens = b
            .milli_tokens
            .saturating_add(elapsed_ms.saturating_mul(rate))
            .min(full);
        b.refilled_at = now;
        if b.milli_tokens >= 1000 {
            b.milli_tokens -= 1000;
            b.refusals = 0;
            return Verdict::Pass;
        }
        self.limited_total += 1;
        let log = b
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= PIKE_LOG_INTERVAL);
        if log {
            b.logged_at = Some(now);
        }
        if answerable && b.refusals < self.config.refusals_answered_max {
            b.refusals += 1;
            return Verdict::Refuse { log };
        }
        Verdict::Drop { log }
    }

    /// Requests refused or dropped since start.
    pub fn limited_total(&self) -> u64 {
        self.limited_total
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .buckets
            .iter()
            .min_by_key(|(_, b)| b.refilled_at)
            .map(|(&ip, _)| ip);
        if let Some(ip) = oldest {
            self.buckets.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one clock read of these tests; every other instant is t0 + a duration.
    #[allow(clippy::disallowed_methods)]
    fn epoch() -> Instant {
        Instant::now()
    }

    fn config() -> PikeConfig {
        PikeConfig {
            burst: 2,
            rate_per_sec: 1,
            refusals_answered_max: 1,
            trusted: Vec::new(),
        }
    }

    #[test]
    fn burst_then_503_then_silence_then_refill() {
        let mut p = Pike::new(config());
        let t0 = epoch();
        let a: IpAddr = "127.0.0.2".parse().expect("addr");
        assert_eq!(p.check(a, true, t0), Verdict::Pass);
        assert_eq!(p.check(a, true, t0), Verdict::Pass);
        assert_eq!(p.check(a, true, t0), Verdict::Refuse { log: true });
        assert_eq!(p.check(a, true, t0), Verdict::Drop { log: false });
        assert_eq!(
            p.check(a, true, t0 + Duration::from_millis(999)),
            Verdict::Drop { log: false }
        );
        assert_eq!(p.check(a, true, t0 + Duration::from_secs(1)), Verdict::Pass);
        assert_eq!(p.limited_total(), 3);
    }

    #[test]
    fn trusted_carrier_is_never_limited() {
        let mut p = Pike::new(PikeConfig {
            trusted: vec![Cidr {
                addr: "127.0.0.3".parse().expect("addr"),
                prefix_len: 32,
            }],
            ..config()
        });
        let t0 = epoch();
        let c: IpAddr = "127.0.0.3".parse().expect("addr");
        for _ in 0..100 {
            assert_eq!(p.check(c, true, t0), Verdict::Pass);
        }
    }
}
