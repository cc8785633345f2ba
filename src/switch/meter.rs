//! What the core measures of its queues for dashboards: each queue's
//! answered waits, its figures over the last interval (a sliding window of
//! slots moved by the `now` the core is given, never by a clock), and the
//! single waits and handle times ops turns into histograms. Plain numbers;
//! `ops::metrics` exports them and the API shows them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::acd::{CallId, CallState, QueueId};

/// Slots the interval is cut into: the window slides by one slot.
pub const INTERVAL_SLOTS: u32 = 15;
/// Samples kept between two drains by the driver (every 500 ms); beyond,
/// they are dropped and counted.
pub const QUEUE_SAMPLES_MAX: usize = 16_384;

/// What one sample measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    /// Wait in the queue of a caller an agent answered.
    Answered,
    /// Wait in the queue of a caller who hung up first.
    Abandoned,
    /// Talk plus the queue's wrap-up of a finished queue call.
    Handled,
}

/// One wait or handle time, for a histogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSample {
    pub queue: String,
    pub kind: SampleKind,
    pub value: Duration,
}

/// Counts over a stretch of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntervalFigures {
    /// Callers who entered the queue.
    pub offered: u64,
    pub answered: u64,
    /// Answered within the queue's service-level threshold.
    pub answered_within_sl: u64,
    pub abandoned: u64,
    /// Queue calls that ended, and their handle times summed.
    pub handled: u64,
    pub handle_total: Duration,
}

impl IntervalFigures {
    /// Answered within the threshold over answered plus abandoned.
    pub fn service_level(&self) -> Option<f64> {
        let handled = self.answered + self.abandoned;
        (handled > 0).then(|| self.answered_within_sl as f64 / handled as f64)
    }

    /// Average handle time.
    pub fn handle_time(&self) -> Option<Duration> {
        let n = u32::try_from(self.handled).ok().filter(|&n| n > 0)?;
        Some(self.handle_total / n)
    }

    fn add(&mut self, other: &IntervalFigures) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.answered_within_sl += other.answered_within_sl;
        self.abandoned += other.abandoned;
        self.handled += other.handled;
        self.handle_total += other.handle_total;
    }
}

/// Per-queue measures, indexed like the router's queues.
#[derive(Debug)]
pub(super) struct Meters {
    origin: Instant,
    interval: Duration,
    queues: Vec<QueueMeter>,
    samples: VecDeque<QueueSample>,
    pub samples_dropped: u64,
}

#[derive(Clone, Debug, Default)]
struct QueueMeter {
    /// Answered waits since start: sum and count.
    waits: (Duration, u64),
    /// (slot number, its figures), oldest first.
    slots: VecDeque<(u64, IntervalFigures)>,
}

impl Meters {
    pub fn new(origin: Instant, interval: Duration, queues: usize) -> Meters {
        Meters {
            origin,
            interval: interval.max(Duration::from_millis(u64::from(INTERVAL_SLOTS))),
            queues: vec![QueueMeter::default(); queues],
            samples: VecDeque::new(),
            samples_dropped: 0,
        }
    }

    /// The interval's length.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A reload added queues (removed ones keep their index).
    pub fn resize(&mut self, queues: usize) {
        self.queues.resize(queues, QueueMeter::default());
    }

    /// Answered waits of queue `q` since start: sum and count.
    pub fn waits(&self, q: usize) -> (Duration, u64) {
        self.queues.get(q).map(|m| m.waits).unwrap_or_default()
    }

    /// Counts something that happened to queue `q` at `now`.
    pub fn record(&mut self, now: Instant, q: usize, change: impl FnOnce(&mut IntervalFigures)) {
        let slot = self.slot(now);
        let Some(meter) = self.queues.get_mut(q) else {
            return;
        };
        let oldest = slot.saturating_sub(u64::from(INTERVAL_SLOTS) - 1);
        while meter.slots.front().is_some_and(|(n, _)| *n < oldest) {
            meter.slots.pop_front();
        }
        if meter.slots.back().is_none_or(|(n, _)| *n < slot) {
            meter.slots.push_back((slot, IntervalFigures::default()));
        }
        // Time does not go back, but a `now` from before the newest slot
        // is counted in it rather than lost.
        let (_, figures) = meter.slots.back_mut().expect("a slot was just ensured");
        change(figures);
    }

    /// An answered caller's wait, for the since-start sum too.
    pub fn answered_wait(&mut self, q: usize, waited: Duration) {
        if let Some(meter) = self.queues.get_mut(q) {
            meter.waits.0 += waited;
            meter.waits.1 += 1;
        }
    }

    /// Queue `q`'s figures over the interval that ends at `now`.
    pub fn last_interval(&self, now: Instant, q: usize) -> IntervalFigures {
        let slot = self.slot(now);
        let oldest = slot.saturating_sub(u64::from(INTERVAL_SLOTS) - 1);
        let mut sum = IntervalFigures::default();
        if let Some(meter) = self.queues.get(q) {
            for (_, figures) in meter.slots.iter().filter(|(n, _)| *n >= oldest) {
                sum.add(figures);
            }
        }
        sum
    }

    /// Keeps one sample for the driver, or counts it dropped.
    pub fn sample(&mut self, queue: &str, kind: SampleKind, value: Duration) {
        if self.samples.len() >= QUEUE_SAMPLES_MAX {
            self.samples_dropped += 1;
            return;
        }
        let queue = queue.to_string();
        self.samples.push_back(QueueSample { queue, kind, value });
    }

    pub fn poll_sample(&mut self) -> Option<QueueSample> {
        self.samples.pop_front()
    }

    fn slot(&self, now: Instant) -> u64 {
        let width = self.interval / INTERVAL_SLOTS;
        let since = now.saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos() / width.as_nanos().max(1)).unwrap_or(u64::MAX)
    }
}

impl super::Switch {
    /// The queue's service-level goal as configured: (threshold, target 0..=1).
    pub(super) fn service_goal(&self, queue: QueueId) -> (Duration, f64) {
        let name = self.router.queue_name(queue).unwrap_or("");
        self.plan.acd_queues.iter().find(|q| q.name == name).map_or(
            (Duration::from_secs(20), 0.8),
            |q| {
                let sl = q.service_level;
                (sl.threshold, f64::from(sl.target_percent) / 100.0)
            },
        )
    }

    /// A caller entered `queue` (arrival, menu or overflow).
    pub(super) fn meter_offered(&mut self, now: Instant, queue: QueueId) {
        self.meters
            .record(now, usize::from(queue.0), |f| f.offered += 1);
    }

    /// The router says a caller of `queue` was answered (or gave up)
    /// after waiting `waited` in it.
    pub(super) fn meter_wait(
        &mut self,
        now: Instant,
        queue: QueueId,
        waited: Duration,
        answered: bool,
    ) {
        let (threshold, _) = self.service_goal(queue);
        let q = usize::from(queue.0);
        let kind = if answered {
            self.meters.answered_wait(q, waited);
            self.meters.record(now, q, |f| {
                f.answered += 1;
                f.answered_within_sl += u64::from(waited <= threshold);
            });
            SampleKind::Answered
        } else {
            self.meters.record(now, q, |f| f.abandoned += 1);
            SampleKind::Abandoned
        };
        let name = self.router.queue_name(queue).unwrap_or("").to_string();
        self.meters.sample(&name, kind, waited);
    }

    /// A connected queue call ends: its handle time is the talk so far
    /// plus the queue's wrap-up (as the router counts it for expected waits).
    pub(super) fn meter_handled(&mut self, now: Instant, call: CallId) {
        let Some(CallState::Connected { answered, .. }) = self.router.call_state(call) else {
            return;
        };
        let talk = now.saturating_duration_since(*answered);
        let Some((queue, _)) = self.router.call_queue(call) else {
            return;
        };
        let name = self.router.queue_name(queue).unwrap_or("").to_string();
        let wrap_up = self
            .plan
            .acd_queues
            .iter()
            .find(|q| q.name == name)
            .map_or(Duration::ZERO, |q| q.wrap_up);
        let handle = talk + wrap_up;
        self.meters.record(now, usize::from(queue.0), |f| {
            f.handled += 1;
            f.handle_total += handle;
        });
        self.meters.sample(&name, SampleKind::Handled, handle);
    }

    /// The next wait or handle time for a histogram; the driver drains
    /// these after each batch of inputs.
    pub fn poll_queue_sample(&mut self) -> Option<QueueSample> {
        self.meters.poll_sample()
    }

    /// Samples dropped because the driver did not drain them in time.
    pub fn queue_samples_dropped(&self) -> u64 {
        self.meters.samples_dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // one instant; the rest is arithmetic
    fn t0() -> Instant {
        Instant::now()
    }

    fn offered(m: &mut Meters, now: Instant) {
        m.record(now, 0, |f| f.offered += 1);
    }

    #[test]
    fn the_window_keeps_the_last_interval_and_forgets_older_slots() {
        let t0 = t0();
        let s = Duration::from_secs;
        // 150 s in 15 slots of 10 s.
        let mut m = Meters::new(t0, s(150), 1);
        offered(&mut m, t0);
        offered(&mut m, t0 + s(5));
        offered(&mut m, t0 + s(100));
        assert_eq!(m.last_interval(t0 + s(100), 0).offered, 3);
        // At 149 s the window is slots 0..=14: all three.
        assert_eq!(m.last_interval(t0 + s(149), 0).offered, 3);
        // At 150 s slot 0 (0..10 s) has left the window.
        assert_eq!(m.last_interval(t0 + s(150), 0).offered, 1);
        assert_eq!(m.last_interval(t0 + s(250), 0).offered, 0);
        m.record(t0 + s(400), 0, |f| {
            f.handled += 2;
            f.handle_total += s(90);
        });
        let f = m.last_interval(t0 + s(400), 0);
        assert_eq!((f.offered, f.handle_time()), (0, Some(s(45))));
        assert_eq!(m.queues[0].slots.len(), 1, "old slots are trimmed");
        assert_eq!(m.last_interval(t0, 7), IntervalFigures::default());
    }

    #[test]
    fn service_level_counts_abandoned_callers_against_the_target() {
        let f = IntervalFigures {
            answered: 3,
            answered_within_sl: 2,
            abandoned: 1,
            ..IntervalFigures::default()
        };
        assert_eq!(f.service_level(), Some(0.5));
        assert_eq!(IntervalFigures::default().service_level(), None);
    }

    #[test]
    fn samples_beyond_the_bound_are_counted_not_kept() {
        let mut m = Meters::new(t0(), Duration::from_secs(60), 1);
        for _ in 0..=QUEUE_SAMPLES_MAX {
            m.sample("support", SampleKind::Answered, Duration::from_secs(1));
        }
        assert_eq!(m.samples_dropped, 1);
        let first = m.poll_sample().expect("a sample");
        assert_eq!(
            (first.queue.as_str(), first.kind),
            ("support", SampleKind::Answered)
        );
    }
}
