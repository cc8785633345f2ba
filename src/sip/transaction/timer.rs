//! Timer values of RFC 3261 §17 (Table 4 of Appendix A) and the small per-transaction
//! table of deadlines, keyed by each machine's own timer enum.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::TxError;

/// Shortest T1 accepted: a zero T1 would make retransmission timers fire forever at
/// the same instant.
pub const T1_MIN: Duration = Duration::from_millis(1);
/// Longest T1/T2/T4 accepted; keeps 64·T1 far from `Instant` overflow.
pub const TIMER_BASE_MAX: Duration = Duration::from_secs(60);
/// Timer D's floor on unreliable transports (RFC 3261 §17.1.1.2: "at least 32 seconds").
pub const TIMER_D_UNRELIABLE_MIN: Duration = Duration::from_secs(32);

/// T1 (RTT estimate), T2 (longest non-INVITE retransmit interval) and T4 (how long the
/// network keeps a message), RFC 3261 §17.1.1.1 and Table 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    t1: Duration,
    t2: Duration,
    t4: Duration,
}

impl Default for TimerConfig {
    /// The RFC's recommended values: T1 = 500 ms, T2 = 4 s, T4 = 5 s.
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// Checks the values so that no timer can be zero or overflow on unreliable transports.
    pub fn new(t1: Duration, t2: Duration, t4: Duration) -> Result<TimerConfig, TxError> {
        if !(T1_MIN..=TIMER_BASE_MAX).contains(&t1) {
            return Err(TxError::T1OutOfRange { t1 });
        }
        if t2 < t1 || t2 > TIMER_BASE_MAX {
            return Err(TxError::T2OutOfRange { t1, t2 });
        }
        if t4.is_zero() || t4 > TIMER_BASE_MAX {
            return Err(TxError::T4OutOfRange { t4 });
        }
        Ok(TimerConfig { t1, t2, t4 })
    }

    pub fn t1(&self) -> Duration {
        self.t1
    }

    pub fn t2(&self) -> Duration {
        self.t2
    }

    pub fn t4(&self) -> Duration {
        self.t4
    }

    /// 64·T1: Timers B, F, H, J (RFC 3261 Table 4), L and M (RFC 6026 §8.11).
    pub fn transaction_timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D on unreliable transports: at least 32 s (RFC 3261 §17.1.1.2), and no
    /// shorter than the server's 64·T1 window of final-response retransmissions.
    pub fn timer_d(&self) -> Duration {
        self.transaction_timeout().max(TIMER_D_UNRELIABLE_MIN)
    }

    /// The next retransmission interval of Timers E and G: doubled, capped at T2
    /// (RFC 3261 §17.1.2.2, §17.2.1).
    pub fn backoff_capped(&self, interval: Duration) -> Duration {
        interval.saturating_mul(2).min(self.t2)
    }
}

/// A machine's timer names. `ALL[t.index()] == t` for every timer.
pub(super) trait TimerName: Copy + 'static {
    const ALL: &'static [Self];
    fn index(self) -> usize;
}

/// Deadlines of one transaction, one slot per timer name; the earliest wins.
#[derive(Debug)]
pub(super) struct Timers<T, const N: usize> {
    deadlines: [Option<Instant>; N],
    name: PhantomData<T>,
}

impl<T: TimerName, const N: usize> Timers<T, N> {
    pub(super) fn new() -> Self {
        Timers {
            deadlines: [None; N],
            name: PhantomData,
        }
    }

    /// Arms `timer` to fire `after` from `now`; re-arming replaces the old deadline.
    pub(super) fn set(&mut self, timer: T, now: Instant, after: Duration) {
        // Durations are bounded by TimerConfig; an overflow would mean "never".
        self.deadlines[timer.index()] = now.checked_add(after);
    }

    pub(super) fn clear(&mut self, timer: T) {
        self.deadlines[timer.index()] = None;
    }

    pub(super) fn clear_all(&mut self) {
        self.deadlines = [None; N];
    }

    /// The earliest armed deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the earliest timer due at `now` (ties go to the first name).
    pub(super) fn take_expired(&mut self, now: Instant) -> Option<T> {
        let (index, _) = self
            .deadlines
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.filter(|at| *at <= now).map(|at| (i, at)))
            .min_by_key(|(_, at)| *at)?;
        self.deadlines[index] = None;
        Some(T::ALL[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Name {
        X,
        Y,
    }

    impl TimerName for Name {
        const ALL: &'static [Self] = &[Name::X, Name::Y];
        fn index(self) -> usize {
            self as usize
        }
    }

    #[test]
    fn earliest_due_timer_fires_first_and_is_disarmed() {
        let start = super::super::test_start();
        let mut timers: Timers<Name, 2> = Timers::new();
        timers.set(Name::X, start, Duration::from_secs(2));
        timers.set(Name::Y, start, Duration::from_secs(1));
        assert_eq!(timers.next(), Some(start + Duration::from_secs(1)));
        assert_eq!(timers.take_expired(start), None);
        let late = start + Duration::from_secs(3);
        assert_eq!(timers.take_expired(late), Some(Name::Y));
        assert_eq!(timers.take_expired(late), Some(Name::X));
        assert_eq!(timers.take_expired(late), None);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn config_rejects_zero_t1_and_t2_below_t1() {
        let ms = Duration::from_millis;
        assert_eq!(
            TimerConfig::new(ms(0), ms(4000), ms(5000)),
            Err(TxError::T1OutOfRange { t1: ms(0) })
        );
        assert_eq!(
            TimerConfig::new(ms(500), ms(100), ms(5000)),
            Err(TxError::T2OutOfRange {
                t1: ms(500),
                t2: ms(100)
            })
        );
        assert_eq!(
            TimerConfig::new(ms(500), ms(4000), ms(5000)),
            Ok(TimerConfig::default())
        );
    }

    #[test]
    fn timer_d_is_32s_with_default_t1_and_follows_64_t1_above() {
        assert_eq!(TimerConfig::default().timer_d(), Duration::from_secs(32));
        let slow = TimerConfig::new(
            Duration::from_secs(1),
            Duration::from_secs(4),
            Duration::from_secs(5),
        )
        .expect("valid config");
        assert_eq!(slow.timer_d(), Duration::from_secs(64));
    }
}
