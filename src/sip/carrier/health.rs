//! OPTIONS health checks of one carrier (RFC 3261 §11), as Kamailio's
//! dispatcher probes its gateways: a probe every `interval`; a probe that
//! gets no answer before the next one is due (or cannot be sent) is a
//! miss; `down_after` misses in a row mark the trunk down, one answer marks
//! it up again. Any final response counts as an answer (a carrier that
//! says 404 or 405 to OPTIONS is alive), except 408 and 503: the peer (or
//! a proxy before it) says it cannot take requests now. Time comes in as
//! `now`; the switch sends the probes and matches their answers.

use std::time::{Duration, Instant};

/// A trunk's health changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthChange {
    Up,
    Down,
}

/// One trunk's checks. A trunk starts up: calls go out at once, and the
/// first probe goes at start.
#[derive(Clone, Debug)]
pub struct HealthCheck {
    interval: Duration,
    down_after: u32,
    up: bool,
    /// Misses in a row.
    misses: u32,
    /// When the next probe is due; also the deadline of the one in flight.
    next_at: Instant,
    in_flight: bool,
}

impl HealthCheck {
    pub fn new(interval: Duration, down_after: u32, now: Instant) -> HealthCheck {
        HealthCheck {
            interval,
            down_after: down_after.max(1),
            up: true,
            misses: 0,
            next_at: now,
            in_flight: false,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    pub fn poll_timeout(&self) -> Instant {
        self.next_at
    }

    /// At the deadline: the probe in flight (if any) missed, and a new one
    /// is due. Returns whether to send a probe now, and the change the
    /// miss made.
    pub fn handle_timeout(&mut self, now: Instant) -> (bool, Option<HealthChange>) {
        if now < self.next_at {
            return (false, None);
        }
        let change = match self.in_flight {
            true => self.miss(),
            false => None,
        };
        self.in_flight = true;
        self.next_at = now + self.interval;
        (true, change)
    }

    /// The probe in flight got a final response `status`.
    pub fn on_response(&mut self, status: u16) -> Option<HealthChange> {
        if !self.in_flight || status < 200 {
            return None;
        }
        self.in_flight = false;
        if matches!(status, 408 | 503) {
            return self.miss();
        }
        self.misses = 0;
        if self.up {
            return None;
        }
        self.up = true;
        Some(HealthChange::Up)
    }

    /// The probe in flight could not be sent, or its transaction timed out.
    pub fn on_failure(&mut self) -> Option<HealthChange> {
        if !self.in_flight {
            return None;
        }
        self.in_flight = false;
        self.miss()
    }

    fn miss(&mut self) -> Option<HealthChange> {
        self.misses = self.misses.saturating_add(1);
        if self.up && self.misses >= self.down_after {
            self.up = false;
            return Some(HealthChange::Down);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[allow(clippy::disallowed_methods)] // one real instant; the rest is virtual
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn three_unanswered_probes_mark_the_trunk_down_at_the_third_deadline() {
        let t0 = t0();
        let mut h = HealthCheck::new(5 * SEC, 3, t0);
        assert_eq!(h.poll_timeout(), t0);
        assert_eq!(h.handle_timeout(t0), (true, None));
        assert_eq!(h.poll_timeout(), t0 + 5 * SEC);
        // Not yet due: nothing.
        assert_eq!(h.handle_timeout(t0 + 4 * SEC), (false, None));
        assert_eq!(h.handle_timeout(t0 + 5 * SEC), (true, None));
        assert_eq!(h.handle_timeout(t0 + 10 * SEC), (true, None));
        assert!(h.is_up());
        assert_eq!(
            h.handle_timeout(t0 + 15 * SEC),
            (true, Some(HealthChange::Down))
        );
        assert!(!h.is_up());
        assert_eq!(h.poll_timeout(), t0 + 20 * SEC);
    }

    #[test]
    fn one_answer_marks_a_down_trunk_up_and_resets_the_misses() {
        let t0 = t0();
        let mut h = HealthCheck::new(SEC, 1, t0);
        h.handle_timeout(t0);
        assert_eq!(h.on_failure(), Some(HealthChange::Down));
        h.handle_timeout(t0 + SEC);
        // A provisional is no answer yet.
        assert_eq!(h.on_response(100), None);
        assert_eq!(h.on_response(200), Some(HealthChange::Up));
        // A second response to the same probe changes nothing.
        assert_eq!(h.on_response(200), None);
        assert!(h.is_up());
    }

    #[test]
    fn a_404_or_405_is_alive_but_503_and_408_are_misses() {
        let t0 = t0();
        let mut h = HealthCheck::new(SEC, 2, t0);
        for (i, status) in [404u16, 405, 486].into_iter().enumerate() {
            h.handle_timeout(t0 + SEC * i as u32);
            assert_eq!(h.on_response(status), None);
            assert!(h.is_up(), "{status}");
        }
        h.handle_timeout(t0 + 3 * SEC);
        assert_eq!(h.on_response(503), None);
        h.handle_timeout(t0 + 4 * SEC);
        assert_eq!(h.on_response(408), Some(HealthChange::Down));
    }

    #[test]
    fn an_answer_between_misses_keeps_the_trunk_up() {
        let t0 = t0();
        let mut h = HealthCheck::new(SEC, 2, t0);
        h.handle_timeout(t0);
        h.handle_timeout(t0 + SEC); // the first probe missed
        assert_eq!(h.on_response(200), None);
        h.handle_timeout(t0 + 2 * SEC);
        assert_eq!(h.handle_timeout(t0 + 3 * SEC), (true, None));
        assert!(h.is_up());
        assert_eq!(
            h.handle_timeout(t0 + 4 * SEC),
            (true, Some(HealthChange::Down))
        );
    }
}
