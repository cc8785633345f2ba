//! Failed-auth guard: counts failed digest attempts per source address and
//! per user, and decides whether a source still gets answers (issue 13,
//! item 2).
//!
//! Pure: the switch asks `admit`/`is_banned` before answering a request
//! from a source, reports each failed or good digest with
//! `record_failure`/`record_success`, and logs the `BanEvent`s it gets
//! back. Like fail2ban and Kamailio's pike, bans are per *source*, never
//! per user: a per-user ban would let a guesser lock the real agent out.
//! Per-user failures make guessing from many sources expensive instead:
//! once a user has `user_attempts_max` failures in the window, the next
//! failure for that user bans its source at once. A correct password from
//! a source that is not banned always works.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most sources tracked at once; the least recently seen is evicted.
pub const GUARD_SOURCES_MAX: usize = 4096;
/// Most users whose failures are tracked at once; the stalest is evicted.
pub const GUARD_USERS_MAX: usize = 4096;
/// Ceiling on the exponential back-off between answered failures.
pub const GUARD_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Limits, from the dialplan's `[security]` table (defaults are on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// Failures within `window` before the source is banned.
    pub attempts_max: u32,
    /// Failures for one user (from any sources) within `window` after
    /// which each further failure for that user bans its source.
    pub user_attempts_max: u32,
    pub window: Duration,
    pub ban: Duration,
    /// First back-off delay; doubles with each further failure.
    pub backoff_first: Duration,
    /// Sources never limited (trunk CIDRs, an office network).
    pub trusted: Vec<Cidr>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            attempts_max: 10,
            user_attempts_max: 20,
            window: Duration::from_secs(600),
            ban: Duration::from_secs(3600),
            backoff_first: Duration::from_secs(1),
            trusted: Vec::new(),
        }
    }
}

/// An address prefix such as 10.0.0.0/8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let len = u32::from(self.prefix_len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let len = u32::from(self.prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What to do with a request from a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Process and answer it.
    Answer,
    /// Backing off or banned: no answer at all.
    Drop,
}

/// A source has just been banned; the driver logs it at warn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanEvent {
    pub source: IpAddr,
    pub failures: u32,
    pub until: Instant,
}

/// A current ban, as listed for the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ban {
    pub source: IpAddr,
    pub until: Instant,
}

#[derive(Clone, Debug)]
struct SourceState {
    failures: Vec<Instant>,
    next_answer: Option<Instant>,
    banned_until: Option<Instant>,
    last_seen: Instant,
}

/// The guard core.
#[derive(Debug)]
pub struct AuthGuard {
    config: GuardConfig,
    sources: HashMap<IpAddr, SourceState>,
    /// Failure instants per user, within the window.
    users: HashMap<String, Vec<Instant>>,
    bans_total: u64,
    failures_total: u64,
    /// Bumped by every ban made or lifted, so the driver knows when to
    /// save the list.
    bans_changed: u64,
}

impl AuthGuard {
    pub fn new(config: GuardConfig) -> Self {
        AuthGuard {
            config,
            sources: HashMap::new(),
            users: HashMap::new(),
            bans_total: 0,
            failures_total: 0,
            bans_changed: 0,
        }
    }

    /// Bans a source until `until` again (a ban saved before a restart);
    /// a trusted source is left alone. Not counted as a new ban.
    pub fn restore(&mut self, ip: IpAddr, until: Instant, now: Instant) {
        if self.is_trusted(ip) || until <= now {
            return;
        }
        if !self.sources.contains_key(&ip) && self.sources.len() >= GUARD_SOURCES_MAX {
            self.evict_oldest();
        }
        self.sources.insert(
            ip,
            SourceState {
                failures: Vec::new(),
                next_answer: None,
                banned_until: Some(until),
                last_seen: now,
            },
        );
    }

    /// Changes with every ban made or lifted.
    pub fn bans_changed(&self) -> u64 {
        self.bans_changed
    }

    /// Whether `ip` is banned at `now`: it gets no answer to anything.
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.sources
            .get(&ip)
            .and_then(|s| s.banned_until)
            .is_some_and(|until| now < until)
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.config.trusted.iter().any(|c| c.contains(ip))
    }

    /// Whether a request from `ip` may be answered at `now`.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Admission {
        let Some(state) = self.sources.get(&ip) else {
            return Admission::Answer;
        };
        if state.banned_until.is_some_and(|until| now < until) {
            return Admission::Drop;
        }
        if state.next_answer.is_some_and(|at| now < at) {
            return Admission::Drop;
        }
        Admission::Answer
    }

    /// A digest from `ip` failed (for `user`, when it names one of ours);
    /// returns the ban if this failure caused one.
    pub fn record_failure(
        &mut self,
        ip: IpAddr,
        user: Option<&str>,
        now: Instant,
    ) -> Option<BanEvent> {
        if self.is_trusted(ip) {
            return None;
        }
        self.failures_total += 1;
        let user_hot = user.is_some_and(|u| self.user_failure(u, now));
        if !self.sources.contains_key(&ip) && self.sources.len() >= GUARD_SOURCES_MAX {
            self.evict_oldest();
        }
        let config = &self.config;
        let state = self.sources.entry(ip).or_insert_with(|| SourceState {
            failures: Vec::new(),
            next_answer: None,
            banned_until: None,
            last_seen: now,
        });
        state.last_seen = now;
        state
            .failures
            .retain(|&at| now.saturating_duration_since(at) < config.window);
        state.failures.push(now);
        let count = u32::try_from(state.failures.len()).unwrap_or(u32::MAX);
        if count >= config.attempts_max || user_hot {
            let until = now + config.ban;
            state.banned_until = Some(until);
            state.failures.clear();
            state.next_answer = None;
            self.bans_total += 1;
            self.bans_changed += 1;
            return Some(BanEvent {
                source: ip,
                failures: count,
                until,
            });
        }
        let shift = count.saturating_sub(1).min(16);
        let delay = config
            .backoff_first
            .saturating_mul(1 << shift)
            .min(GUARD_BACKOFF_MAX);
        state.next_answer = Some(now + delay);
        None
    }

    /// A digest from `ip` succeeded: its failure history is forgotten.
    pub fn record_success(&mut self, ip: IpAddr) {
        if let Some(state) = self.sources.get(&ip) {
            if state.banned_until.is_none() {
                self.sources.remove(&ip);
            }
        }
    }

    /// Current bans, for the API.
    pub fn bans(&self, now: Instant) -> Vec<Ban> {
        self.sources
            .iter()
            .filter_map(|(&source, s)| {
                s.banned_until
                    .filter(|&until| now < until)
                    .map(|until| Ban { source, until })
            })
            .collect()
    }

    /// Lifts a ban; false if `ip` was not banned.
    pub fn lift(&mut self, ip: IpAddr) -> bool {
        let lifted = self
            .sources
            .remove(&ip)
            .is_some_and(|s| s.banned_until.is_some());
        if lifted {
            self.bans_changed += 1;
        }
        lifted
    }

    /// Bans since start (`switchyard_auth_bans_total`).
    pub fn bans_total(&self) -> u64 {
        self.bans_total
    }

    /// Failures counted since start, trusted sources left out.
    pub fn failures_total(&self) -> u64 {
        self.failures_total
    }

    /// Forgets sources and users with nothing left to remember at `now`,
    /// so the tables hold only live state.
    pub fn expire(&mut self, now: Instant) {
        let window = self.config.window;
        self.sources.retain(|_, s| {
            s.banned_until.is_some_and(|u| now < u)
                || s.next_answer.is_some_and(|a| now < a)
                || s.failures
                    .iter()
                    .any(|&at| now.saturating_duration_since(at) < window)
        });
        self.users.retain(|_, f| {
            f.retain(|&at| now.saturating_duration_since(at) < window);
            !f.is_empty()
        });
    }

    /// Counts a failure for `user`; true when the user had reached its
    /// limit before this one (so this failure bans its source).
    fn user_failure(&mut self, user: &str, now: Instant) -> bool {
        if !self.users.contains_key(user) && self.users.len() >= GUARD_USERS_MAX {
            let stalest = self
                .users
                .iter()
                .min_by_key(|(_, f)| f.last().copied())
                .map(|(u, _)| u.clone());
            if let Some(u) = stalest {
                self.users.remove(&u);
            }
        }
        let window = self.config.window;
        let failures = self.users.entry(user.to_owned()).or_default();
        failures.retain(|&at| now.saturating_duration_since(at) < window);
        let hot =
            u32::try_from(failures.len()).unwrap_or(u32::MAX) >= self.config.user_attempts_max;
        failures.push(now);
        hot
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .sources
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(&ip, _)| ip);
        if let Some(ip) = oldest {
            self.sources.remove(&ip);
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

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn a_restored_ban_holds_until_its_end_and_changes_mark_bans_and_lifts() {
        let mut g = AuthGuard::new(GuardConfig {
            attempts_max: 1,
            trusted: vec![Cidr {
                addr: ip("10.0.0.0"),
                prefix_len: 8,
            }],
            ..GuardConfig::default()
        });
        let t0 = epoch();
        let (a, b, trusted) = (ip("192.0.2.1"), ip("192.0.2.2"), ip("10.1.2.3"));
        g.restore(a, t0 + Duration::from_secs(30), t0);
        g.restore(b, t0, t0); // already over
        g.restore(trusted, t0 + Duration::from_secs(30), t0);
        assert!(g.is_banned(a, t0 + Duration::from_secs(29)));
        assert!(!g.is_banned(a, t0 + Duration::from_secs(30)));
        assert!(!g.is_banned(b, t0) && !g.is_banned(trusted, t0));
        // Restoring is no new ban and no change to save.
        assert_eq!((g.bans_total(), g.bans_changed()), (0, 0));
        assert!(g.record_failure(b, None, t0).is_some());
        assert_eq!(g.bans_changed(), 1);
        assert!(g.lift(a));
        assert_eq!(g.bans_changed(), 2);
        assert!(!g.lift(a));
        assert_eq!(g.bans_changed(), 2);
    }

    #[test]
    fn failures_back_off_exponentially_then_ban() {
        let mut g = AuthGuard::new(GuardConfig {
            attempts_max: 4,
            ..GuardConfig::default()
        });
        let t0 = epoch();
        let a = ip("127.0.0.2");
        assert_eq!(g.record_failure(a, None, t0), None);
        assert_eq!(g.admit(a, t0 + Duration::from_millis(999)), Admission::Drop);
        assert_eq!(g.admit(a, t0 + Duration::from_secs(1)), Admission::Answer);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(g.record_failure(a, None, t1), None);
        assert_eq!(
            g.admit(a, t1 + Duration::from_millis(1999)),
            Admission::Drop
        );
        assert_eq!(g.admit(a, t1 + Duration::from_secs(2)), Admission::Answer);
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(g.record_failure(a, None, t2), None);
        let t3 = t2 + Duration::from_secs(4);
        let ban = g.record_failure(a, None, t3).expect("fourth failure bans");
        assert_eq!(ban.until, t3 + Duration::from_secs(3600));
        assert_eq!(g.admit(a, t3 + Duration::from_secs(3599)), Admission::Drop);
        assert_eq!(
            g.admit(a, t3 + Duration::from_secs(3600)),
            Admission::Answer
        );
        assert_eq!(g.bans_total(), 1);
    }

    #[test]
    fn banned_source_does_not_block_another_source() {
        let mut g = AuthGuard::new(GuardConfig {
            attempts_max: 1,
            ..GuardConfig::default()
        });
        let t0 = epoch();
        assert!(g.record_failure(ip("127.0.0.2"), None, t0).is_some());
        assert_eq!(g.admit(ip("127.0.0.1"), t0), Admission::Answer);
        assert_eq!(g.bans(t0).len(), 1);
        assert!(g.lift(ip("127.0.0.2")));
        assert_eq!(g.admit(ip("127.0.0.2"), t0), Admission::Answer);
        assert!(g.bans(t0).is_empty());
    }

    #[test]
    fn trusted_networks_are_never_limited() {
        let mut g = AuthGuard::new(GuardConfig {
            attempts_max: 1,
            trusted: vec![Cidr {
                addr: ip("10.0.0.0"),
                prefix_len: 8,
            }],
            ..GuardConfig::default()
        });
        let t0 = epoch();
        assert_eq!(g.record_failure(ip("10.1.2.3"), None, t0), None);
        assert_eq!(g.admit(ip("10.1.2.3"), t0), Admission::Answer);
    }

    #[test]
    fn table_is_bounded() {
        let mut g = AuthGuard::new(GuardConfig::default());
        let t0 = epoch();
        for i in 0..(GUARD_SOURCES_MAX as u32 + 10) {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            g.record_failure(addr, None, t0 + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(g.sources.len(), GUARD_SOURCES_MAX);
    }

    #[test]
    fn a_user_guessed_from_many_sources_bans_each_new_source_at_once() {
        let mut g = AuthGuard::new(GuardConfig {
            attempts_max: 10,
            user_attempts_max: 3,
            ..GuardConfig::default()
        });
        let t0 = epoch();
        for i in 0..3u8 {
            let src = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, i));
            assert_eq!(g.record_failure(src, Some("1001"), t0), None);
        }
        let fourth = ip("127.0.1.9");
        let ban = g
            .record_failure(fourth, Some("1001"), t0)
            .expect("banned at once");
        assert_eq!(ban.failures, 1);
        assert!(g.is_banned(fourth, t0));
        // Another user from a fresh source is not affected.
        assert_eq!(g.record_failure(ip("127.0.2.1"), Some("1002"), t0), None);
        // A success elsewhere is untouched: the guard never bans a user.
        assert_eq!(g.admit(ip("127.0.3.1"), t0), Admission::Answer);
        assert_eq!(g.failures_total(), 5);
    }

    #[test]
    fn expire_forgets_what_is_over() {
        let mut g = AuthGuard::new(GuardConfig {
            attempts_max: 1,
            window: Duration::from_secs(10),
            ban: Duration::from_secs(5),
            ..GuardConfig::default()
        });
        let t0 = epoch();
        g.record_failure(ip("127.0.0.2"), Some("1001"), t0);
        g.expire(t0 + Duration::from_secs(4));
        assert_eq!(g.bans(t0 + Duration::from_secs(4)).len(), 1);
        g.expire(t0 + Duration::from_secs(11));
        assert!(g.sources.is_empty());
        assert!(g.users.is_empty());
    }
}
