//! Media inactivity: a call whose media has stopped for `timeout` is ended by
//! the switch (a phone that vanished without BYE). The relay reports activity
//! once per tick, not per packet, so the check costs nothing on the hot path.

use std::time::{Duration, Instant};

/// Watches one call's media for silence.
#[derive(Debug, Clone)]
pub struct InactivityWatch {
    timeout: Duration,
    last_active: Instant,
    fired: bool,
}

impl InactivityWatch {
    /// Starts watching at `now`: a call that never sends media times out too.
    pub fn new(timeout: Duration, now: Instant) -> Self {
        Self {
            timeout,
            last_active: now,
            fired: false,
        }
    }

    /// Called once per tick with whether any packet arrived since the last
    /// one. Returns how long the media has been silent when the timeout is
    /// reached, once; new activity re-arms it.
    pub fn on_tick(&mut self, active: bool, now: Instant) -> Option<Duration> {
        if active {
            self.last_active = now;
            self.fired = false;
            return None;
        }
        let silent = now.saturating_duration_since(self.last_active);
        if self.fired || silent < self.timeout {
            return None;
        }
        self.fired = true;
        Some(silent)
    }

    /// When the timeout falls if no packet arrives.
    pub fn deadline(&self) -> Instant {
        self.last_active + self.timeout
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant as the tests' origin
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(250);
    const TIMEOUT: Duration = Duration::from_secs(30);

    #[test]
    fn silence_fires_once_at_the_first_tick_past_the_timeout() {
        let t0 = Instant::now();
        let mut w = InactivityWatch::new(TIMEOUT, t0);
        assert_eq!(w.deadline(), t0 + TIMEOUT);
        assert_eq!(w.on_tick(false, t0 + TIMEOUT - TICK), None);
        assert_eq!(w.on_tick(false, t0 + TIMEOUT), Some(TIMEOUT));
        assert_eq!(w.on_tick(false, t0 + TIMEOUT + TICK), None);
    }

    #[test]
    fn activity_pushes_the_deadline_and_rearms() {
        let t0 = Instant::now();
        let mut w = InactivityWatch::new(TIMEOUT, t0);
        assert_eq!(w.on_tick(true, t0 + Duration::from_secs(20)), None);
        assert_eq!(w.deadline(), t0 + Duration::from_secs(50));
        assert_eq!(w.on_tick(false, t0 + Duration::from_secs(49)), None);
        assert_eq!(
            w.on_tick(false, t0 + Duration::from_secs(50)),
            Some(TIMEOUT)
        );
        w.on_tick(true, t0 + Duration::from_secs(60));
        assert_eq!(
            w.on_tick(false, t0 + Duration::from_secs(90)),
            Some(TIMEOUT)
        );
    }
}
