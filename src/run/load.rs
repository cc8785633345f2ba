//! What the switch task measures of its own load for the core's admission
//! (`switch/overload.rs`): how long a standing queue of inputs it found,
//! and how late its timers ran. The core reads no clock, so this is the
//! driver's job; a report goes in every [`LOAD_PERIOD`].

use std::time::{Duration, Instant};

use crate::switch::LoadReport;

/// How often the core hears of its load.
pub const LOAD_PERIOD: Duration = Duration::from_millis(100);

/// Figures gathered between two reports.
#[derive(Debug, Default)]
pub struct LoadMeter {
    /// Inputs handled since the UDP socket was last found empty.
    run: usize,
    /// The longest such run since the last report.
    peak: usize,
    /// The latest a timer or tick ran since the last report.
    lag: Duration,
}

impl LoadMeter {
    /// One input taken off the socket.
    pub fn input(&mut self) {
        self.run += 1;
    }

    /// The socket had nothing more waiting: the standing queue is gone.
    pub fn drained(&mut self) {
        self.peak = self.peak.max(self.run);
        self.run = 0;
    }

    /// Something due at `due` ran at `now`.
    pub fn ran(&mut self, due: Instant, now: Instant) {
        self.lag = self.lag.max(now.saturating_duration_since(due));
    }

    /// The report for the core, `queued` inputs waiting in channels; a
    /// standing queue still there carries over to the next report.
    pub fn report(&mut self, queued: usize) -> LoadReport {
        let report = LoadReport {
            backlog: self.peak.max(self.run) + queued,
            lag: self.lag,
        };
        self.peak = 0;
        self.lag = Duration::ZERO;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_that_never_runs_dry_carries_over_and_one_that_did_is_reported_once() {
        let mut m = LoadMeter::default();
        for _ in 0..70 {
            m.input();
        }
        assert_eq!(m.report(3).backlog, 73);
        for _ in 0..10 {
            m.input();
        }
        m.drained();
        m.input();
        assert_eq!(m.report(0).backlog, 80);
        assert_eq!(m.report(0).backlog, 1);
    }

    // One clock read; the rest is arithmetic on it.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn lag_is_the_latest_run_since_the_last_report() {
        let mut m = LoadMeter::default();
        let t0 = Instant::now();
        m.ran(t0, t0 + Duration::from_millis(30));
        m.ran(t0, t0 + Duration::from_millis(10));
        // Early (a deadline in the future) counts as on time.
        m.ran(t0 + Duration::from_secs(1), t0);
        assert_eq!(m.report(0).lag, Duration::from_millis(30));
        assert_eq!(m.report(0).lag, Duration::ZERO);
    }
}
