//! What the switch task measures of its own load for the core's admission
//! (`switch/overload.rs`): how deep a queue of inputs waited in front of
//! it, and how late its timers ran. The core reads no clock, so this is the
//! driver's job; a report goes in every [`LOAD_PERIOD`].

use std::time::{Duration, Instant};

use crate::switch::LoadReport;

/// How often the core hears of its load.
pub const LOAD_PERIOD: Duration = Duration::from_millis(100);

/// Figures gathered between two reports.
#[derive(Debug, Default)]
pub struct LoadMeter {
    /// The most inputs seen waiting since the last report.
    peak: usize,
    /// The latest a timer or tick ran since the last report.
    lag: Duration,
}

impl LoadMeter {
    /// `n` inputs were waiting behind the one just taken. A core that is
    /// busy but keeps up sees few; one that fell behind sees many.
    pub fn waiting(&mut self, n: usize) {
        self.peak = self.peak.max(n);
    }

    /// Something due at `due` ran at `now`.
    pub fn ran(&mut self, due: Instant, now: Instant) {
        self.lag = self.lag.max(now.saturating_duration_since(due));
    }

    /// The report for the core, `queued` inputs waiting now.
    pub fn report(&mut self, queued: usize) -> LoadReport {
        let report = LoadReport {
            backlog: self.peak.max(queued),
            lag: self.lag,
        };
        self.peak = 0;
        self.lag = Duration::ZERO;
        report
    }
}

/// Tables smaller than this at their peak are not worth a trim.
const TRIM_FLOOR: usize = 10_000;
/// At most one trim per this long.
const TRIM_EVERY: Duration = Duration::from_secs(10);

/// When to hand the heap that a past burst of calls freed back to the
/// OS. Allocators keep freed memory in their arenas (so RSS stays near the
/// peak after an overload); [`trim_heap`] returns it. It takes the
/// allocators' locks for a moment, so it runs only after the live calls and
/// transactions have fallen to under half their peak since the last trim.
#[derive(Debug, Default)]
pub struct Trim {
    peak: usize,
    last: Option<Instant>,
}

impl Trim {
    /// `entries`: live calls and transactions now. True when a trim is due.
    pub fn due(&mut self, now: Instant, entries: usize) -> bool {
        self.peak = self.peak.max(entries);
        let shrunk = self.peak >= TRIM_FLOOR && entries * 2 < self.peak;
        let rested = self
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= TRIM_EVERY);
        if !(shrunk && rested) {
            return false;
        }
        self.last = Some(now);
        self.peak = entries;
        true
    }
}

/// Returns freed heap to the OS: jemalloc's, which the switch binary
/// allocates from (src/main.rs), and glibc's, which SQLite and the other C
/// libraries use. False if jemalloc refused the purge.
pub fn trim_heap() -> bool {
    // `arena.<MALLCTL_ARENAS_ALL>.purge`: the unused pages of every arena.
    const PURGE_ALL: &[u8] = b"arena.4096.purge\0";
    // SAFETY: a NUL-terminated control name; nothing is read or written
    // through the null pointers, as the control takes no value.
    let purged = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    } == 0;
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
    purged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_takes_the_purge_of_every_arena() {
        assert!(trim_heap(), "jemalloc refused arena.<all>.purge");
    }

    // One clock read; the rest is arithmetic on it.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn a_trim_follows_a_fall_to_half_the_peak_at_most_every_ten_seconds() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut trim = Trim::default();
        // A small switch never trims.
        assert!(!trim.due(t0, 5000));
        assert!(!trim.due(t0 + s(1), 0));
        assert!(!trim.due(t0 + s(2), 300_000));
        assert!(!trim.due(t0 + s(3), 200_000));
        assert!(trim.due(t0 + s(4), 100_000));
        // Rested too briefly, then falling again.
        assert!(!trim.due(t0 + s(10), 10_000));
        assert!(trim.due(t0 + s(14), 0));
        assert!(!trim.due(t0 + s(30), 0));
    }

    #[test]
    fn the_backlog_is_the_deepest_queue_seen_or_what_waits_now() {
        let mut m = LoadMeter::default();
        for n in [3, 70, 12] {
            m.waiting(n);
        }
        assert_eq!(m.report(5).backlog, 70);
        // A queue still standing at the report is reported again.
        assert_eq!(m.report(40).backlog, 40);
        m.waiting(1);
        assert_eq!(m.report(0).backlog, 1);
        assert_eq!(m.report(0).backlog, 0);
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
