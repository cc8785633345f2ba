//! The switch's own call timers in one table of deadlines keyed by (kind,
//! call), like quinn-proto's `connection/timer.rs`: a call's ring timeout,
//! its IVR menu wait and its next queue announcement. `poll_timeout` is the
//! earliest entry; `handle_timeout` takes the due entries kind by kind.
//!
//! An entry is a wake-up, not the truth: the call keeps its own deadline
//! (the ringing phase's deadline, the menu's `deadline`, `announce_at`) and an entry that
//! no longer matches it is stale and skipped when it comes due, so a
//! deadline can be moved or dropped without touching the table. The
//! transaction layer, the registrar and the router keep their own timers.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::call::CallRef;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The agent leg rang for the call's `ring_timeout`.
    Ring,
    /// The caller in an IVR menu pressed nothing for the menu's `timeout`.
    Menu,
    /// The next position/expected-wait announcement to a queued caller.
    Announce,
    /// The next look at an answered call's liveness: a session refresh
    /// due or owed, a probe (`liveness.rs`).
    Liveness,
}

impl Timer {
    const ALL: [Timer; 4] = [Timer::Ring, Timer::Menu, Timer::Announce, Timer::Liveness];

    fn index(self) -> usize {
        match self {
            Timer::Ring => 0,
            Timer::Menu => 1,
            Timer::Announce => 2,
            Timer::Liveness => 3,
        }
    }
}

/// The deadlines of all calls, per kind in instant order (calls in
/// [`CallRef`] order at one instant).
#[derive(Debug, Default)]
pub struct Timers {
    by_kind: [BTreeSet<(Instant, CallRef)>; 4],
}

impl Timers {
    /// Wakes `call` for `timer` at `at`. An earlier entry for the same
    /// (kind, call) stays and is skipped as stale when it comes due.
    pub fn set(&mut self, timer: Timer, call: CallRef, at: Instant) {
        self.by_kind[timer.index()].insert((at, call));
    }

    /// The earliest deadline of any kind.
    pub fn poll_timeout(&self) -> Option<Instant> {
        Timer::ALL
            .iter()
            .filter_map(|t| self.by_kind[t.index()].first().map(|(at, _)| *at))
            .min()
    }

    /// Takes the earliest entry of `timer` due at `now`, if any.
    pub fn next_due(&mut self, timer: Timer, now: Instant) -> Option<(Instant, CallRef)> {
        let set = &mut self.by_kind[timer.index()];
        if set.first()?.0 > now {
            return None;
        }
        set.pop_first()
    }

    /// How many entries the table holds, stale ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_kind.iter().map(BTreeSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    // The one clock read of these tests: every other instant is t0 plus a Duration.
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_earliest_deadline_of_any_kind_is_the_timeout() {
        let t0 = t0();
        let mut timers = Timers::default();
        assert_eq!(timers.poll_timeout(), None);
        timers.set(Timer::Ring, CallRef(1), t0 + ms(15_000));
        timers.set(Timer::Announce, CallRef(2), t0 + ms(30_000));
        assert_eq!(timers.poll_timeout(), Some(t0 + ms(15_000)));
        timers.set(Timer::Menu, CallRef(3), t0 + ms(5_000));
        assert_eq!(timers.poll_timeout(), Some(t0 + ms(5_000)));
        assert_eq!(timers.len(), 3);
    }

    #[test]
    fn entries_come_due_at_their_exact_instant_in_order() {
        let t0 = t0();
        let mut timers = Timers::default();
        timers.set(Timer::Ring, CallRef(2), t0 + ms(15_000));
        timers.set(Timer::Ring, CallRef(1), t0 + ms(15_000));
        timers.set(Timer::Ring, CallRef(3), t0 + ms(20_000));
        assert_eq!(timers.next_due(Timer::Ring, t0 + ms(14_999)), None);
        let at = t0 + ms(15_000);
        assert_eq!(timers.next_due(Timer::Ring, at), Some((at, CallRef(1))));
        assert_eq!(timers.next_due(Timer::Ring, at), Some((at, CallRef(2))));
        assert_eq!(timers.next_due(Timer::Ring, at), None);
        assert_eq!(timers.poll_timeout(), Some(t0 + ms(20_000)));
        assert_eq!(
            timers.next_due(Timer::Ring, t0 + ms(25_000)),
            Some((t0 + ms(20_000), CallRef(3)))
        );
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn kinds_are_taken_apart_and_a_moved_deadline_leaves_a_stale_entry() {
        let t0 = t0();
        let mut timers = Timers::default();
        timers.set(Timer::Menu, CallRef(7), t0 + ms(5_000));
        timers.set(Timer::Menu, CallRef(7), t0 + ms(10_000));
        timers.set(Timer::Announce, CallRef(7), t0 + ms(5_000));
        let now = t0 + ms(5_000);
        assert_eq!(timers.next_due(Timer::Ring, now), None);
        assert_eq!(
            timers.next_due(Timer::Announce, now),
            Some((now, CallRef(7)))
        );
        // The first menu entry comes due; the caller checks it against the
        // menu's own deadline (now t0 + 10 s) and skips it.
        assert_eq!(timers.next_due(Timer::Menu, now), Some((now, CallRef(7))));
        assert_eq!(timers.next_due(Timer::Menu, now), None);
        assert_eq!(timers.poll_timeout(), Some(t0 + ms(10_000)));
    }
}
