//! What the predictive pacer measures and how it turns that into a number
//! of dials: the answer rate, the time to answer, talk and wrap-up times
//! (running means that forget slowly), and the abandon rate over rolling
//! windows of an hour, a day and 30 days.

use std::collections::VecDeque;
use std::time::Duration;

/// Answers and abandons remembered one by one for the rolling hour; a
/// centre dialling faster than this loses the hour's oldest first (counted
/// too low, so the gate is stricter, never laxer: the abandons go with them
/// only in proportion).
pub const HOUR_EVENTS_MAX: usize = 200_000;
/// Hourly buckets kept: 30 days.
const HOURS_KEPT: usize = 30 * 24;

/// A running mean: exact for the first samples, then an exponential one.
#[derive(Clone, Debug)]
pub struct Mean {
    value: f64,
    samples: u64,
    /// The weight of a new sample at steady state: 1/500 remembers about
    /// the last 500.
    forget: f64,
}

impl Mean {
    pub fn new(prior: f64, remembers: u32) -> Mean {
        Mean {
            value: prior,
            samples: 0,
            forget: 1.0 / f64::from(remembers.max(1)),
        }
    }

    pub fn add(&mut self, sample: f64) {
        self.samples += 1;
        let weight = (1.0 / self.samples as f64).max(self.forget);
        self.value += weight * (sample - self.value);
    }

    pub fn value(&self) -> f64 {
        self.value
    }
}

/// Answers and abandons over the rolling hour, day and 30 days.
#[derive(Clone, Debug, Default)]
pub struct AbandonWindows {
    /// (when, abandoned) of each answered call in the last hour.
    hour: VecDeque<(Duration, bool)>,
    hour_abandons: u64,
    /// (hour since the epoch, answers, abandons).
    hours: VecDeque<(u64, u64, u64)>,
}

/// The rolling windows the abandon rate is held under, longest last.
pub const WINDOWS: [Duration; 3] = [
    Duration::from_secs(3_600),
    Duration::from_secs(24 * 3_600),
    Duration::from_secs(30 * 24 * 3_600),
];

impl AbandonWindows {
    /// An answered call, abandoned or handed to an agent.
    pub fn answered(&mut self, now: Duration, abandoned: bool) {
        if self.hour.len() >= HOUR_EVENTS_MAX {
            if let Some((_, a)) = self.hour.pop_front() {
                self.hour_abandons -= u64::from(a);
            }
        }
        self.hour.push_back((now, abandoned));
        self.hour_abandons += u64::from(abandoned);
        let h = now.as_secs() / 3_600;
        match self.hours.back_mut() {
            Some(b) if b.0 == h => {
                b.1 += 1;
                b.2 += u64::from(abandoned);
            }
            _ => {
                self.hours.push_back((h, 1, u64::from(abandoned)));
                if self.hours.len() > HOURS_KEPT {
                    self.hours.pop_front();
                }
            }
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Duration) {
        while let Some(&(t, a)) = self.hour.front() {
            if now.saturating_sub(t) < WINDOWS[0] {
                break;
            }
            self.hour.pop_front();
            self.hour_abandons -= u64::from(a);
        }
    }

    /// (answers, abandons) in each of [`WINDOWS`] ending at `now`; the day
    /// and the 30 days in whole hours.
    pub fn counts(&mut self, now: Duration) -> [(u64, u64); 3] {
        self.expire(now);
        let hour = (self.hour.len() as u64, self.hour_abandons);
        let h = now.as_secs() / 3_600;
        let sum = |hours: u64| {
            self.hours
                .iter()
                .filter(|b| b.0 + hours > h)
                .fold((0, 0), |(n, a), b| (n + b.1, a + b.2))
        };
        [hour, sum(24), sum(30 * 24)]
    }

    /// Whether one more abandon now keeps every window at or under `max`.
    pub fn room_for_one(&mut self, now: Duration, max: f64) -> bool {
        self.counts(now)
            .iter()
            .all(|&(answers, abandons)| (abandons + 1) as f64 <= max * answers as f64)
    }

    /// How many more abandons the windows can take, looking ahead: for the
    /// rolling hour, at each minute of the next hour, the cap on the
    /// answers still in the window then (with answers meanwhile at the last
    /// hour's rate) less the abandons still in it; for the day and the 30
    /// days, as they stand. Negative when a window is over the cap.
    pub fn budget(&mut self, now: Duration, max: f64) -> f64 {
        let counts = self.counts(now);
        let mut room = counts
            .iter()
            .map(|&(n, a)| max * n as f64 - a as f64)
            .fold(f64::INFINITY, f64::min);
        let (n, a) = counts[0];
        let rate = n as f64 / WINDOWS[0].as_secs_f64();
        let (mut gone_n, mut gone_a) = (0, 0);
        let mut oldest = self.hour.iter().peekable();
        for minute in 1..=60 {
            let ahead = Duration::from_secs(minute * 60);
            // Answers at or before this leave the window by `now + ahead`.
            let cutoff = (now + ahead).saturating_sub(WINDOWS[0]);
            while let Some(&&(t, abandoned)) = oldest.peek() {
                if t > cutoff {
                    break;
                }
                gone_n += 1;
                gone_a += u64::from(abandoned);
                oldest.next();
            }
            let answers = (n - gone_n) as f64 + rate * ahead.as_secs_f64();
            room = room.min(max * answers - (a - gone_a) as f64);
        }
        room
    }

    /// The abandon rate of the rolling hour; `None` before `min` answers.
    pub fn hour_rate(&mut self, now: Duration, min: u64) -> Option<f64> {
        let [(answers, abandons), _, _] = self.counts(now);
        (answers >= min).then(|| abandons as f64 / answers as f64)
    }
}

/// A distribution of durations as measured: counts in fixed-width bins,
/// halved whenever they pass a total, so old samples fade. Running sums
/// are kept beside the counts so that the pacer's many look-ups are cheap.
#[derive(Clone, Debug)]
pub struct Histogram {
    bin: f64,
    counts: Vec<f64>,
    /// `below[i]`: the sum of `counts[..i]`.
    below: Vec<f64>,
    total: f64,
}

/// Samples a histogram holds before halving.
const HISTOGRAM_SAMPLES: f64 = 2_000.0;
/// Samples before a histogram is trusted over the prior.
pub const HISTOGRAM_TRUSTED: f64 = 30.0;

impl Histogram {
    /// Bins of `bin` seconds up to `max` seconds (longer falls in the last).
    pub fn new(bin: f64, max: f64) -> Histogram {
        let bins = (max / bin).ceil() as usize + 1;
        Histogram {
            bin,
            counts: vec![0.0; bins],
            below: vec![0.0; bins + 1],
            total: 0.0,
        }
    }

    pub fn add(&mut self, secs: f64) {
        let i = ((secs.max(0.0) / self.bin) as usize).min(self.counts.len() - 1);
        self.counts[i] += 1.0;
        self.total += 1.0;
        if self.total > HISTOGRAM_SAMPLES {
            self.counts.iter_mut().for_each(|c| *c /= 2.0);
            self.total /= 2.0;
        }
        let mut sum = 0.0;
        for (b, c) in self.below[1..].iter_mut().zip(&self.counts) {
            sum += c;
            *b = sum;
        }
    }

    pub fn trusted(&self) -> bool {
        self.total >= HISTOGRAM_TRUSTED
    }

    /// Share of samples at or under `secs`, linear within a bin.
    pub fn cdf(&self, secs: f64) -> f64 {
        if self.total <= 0.0 {
            return 0.0;
        }
        let x = secs.max(0.0) / self.bin;
        let whole = (x as usize).min(self.counts.len());
        let part = self.counts.get(whole).map_or(0.0, |c| c * x.fract());
        ((self.below[whole] + part) / self.total).min(1.0)
    }
}

/// The pacer's live picture of the campaign.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Answered dials over ended dials.
    pub answer_rate: Mean,
    /// Seconds from dial to answer of answered dials.
    pub time_to_answer: Mean,
    pub talk: Mean,
    pub wrap_up: Mean,
    /// Answer times and talk times as measured, for the chance that a
    /// ringing call still answers and that a talking agent is free soon.
    pub answer_times: Histogram,
    pub talk_times: Histogram,
    pub abandons: AbandonWindows,
    /// The chance of abandon the pacer accepts for one more dial's answer,
    /// before the back-off near the cap: lowered by every abandon, raised
    /// by every connect, so that abandons settle at [`STEER_AT`] of the cap.
    pub risk: f64,
}

/// The share of `max_abandon` the accepted risk steers to on average; the
/// rest is room for chance, kept by the budget back-off.
pub const STEER_AT: f64 = 0.8;
/// How far (in log) one abandon lowers the accepted risk.
const RISK_STEP: f64 = 0.1;
pub const RISK_MIN: f64 = 0.002;
pub const RISK_MAX: f64 = 0.5;
/// Abandons the budget keeps in hand for calls already ringing; the
/// accepted risk falls to nothing as the budget falls to this.
pub const BUDGET_RESERVE: f64 = 1.0;
/// Budget above the reserve at which the accepted risk is whole.
pub const BUDGET_SPAN: f64 = 10.0;

impl Default for Measured {
    fn default() -> Self {
        // Priors a typical list starts near; live figures replace them
        // after a few dials.
        Measured {
            // A rate needs many dials to be sure of: 30 % from 1 000
            // dials is ±3 points.
            answer_rate: Mean::new(0.25, 1_000),
            time_to_answer: Mean::new(15.0, 200),
            talk: Mean::new(180.0, 200),
            wrap_up: Mean::new(15.0, 200),
            answer_times: Histogram::new(1.0, 120.0),
            talk_times: Histogram::new(5.0, 3_600.0),
            abandons: AbandonWindows::default(),
            risk: 0.02,
        }
    }
}

impl Measured {
    /// Share of answered calls answered within `secs` of the dial: as
    /// measured, or exponential with the mean until enough are measured.
    pub fn answered_within(&self, secs: f64) -> f64 {
        if self.answer_times.trusted() {
            self.answer_times.cdf(secs)
        } else {
            1.0 - (-secs / self.time_to_answer.value().max(1.0)).exp()
        }
    }

    /// Chance that a call ringing for `ringing` seconds answers within
    /// `within` more seconds.
    pub fn answer_chance(&self, ringing: f64, within: f64) -> f64 {
        let p = self.answer_rate.value().clamp(0.01, 1.0);
        let before = self.answered_within(ringing);
        let by = self.answered_within(ringing + within);
        (p * (by - before) / (1.0 - p * before).max(1e-9)).clamp(0.0, 1.0)
    }

    /// Chance that an agent `busy_for` seconds into a talk (or, with
    /// `talking` false, into wrap-up) is free within `within` seconds:
    /// from the measured talk times, or from the means until enough are.
    pub fn free_chance(&self, talking: bool, busy_for: f64, within: f64) -> f64 {
        let wrap = self.wrap_up.value();
        if !talking {
            return if wrap - busy_for <= within { 1.0 } else { 0.0 };
        }
        let talk_left = within - wrap;
        if talk_left <= 0.0 {
            return 0.0;
        }
        if self.talk_times.trusted() {
            let before = self.talk_times.cdf(busy_for);
            if before >= 1.0 - 1e-9 {
                return 1.0;
            }
            let by = self.talk_times.cdf(busy_for + talk_left);
            return ((by - before) / (1.0 - before)).clamp(0.0, 1.0);
        }
        let remaining = (self.talk.value() - busy_for).max(within);
        (talk_left / remaining).min(1.0)
    }

    /// An answered call was connected or abandoned: moves the accepted
    /// risk so that abandons settle at [`STEER_AT`] of `max_abandon`.
    pub fn steer(&mut self, abandoned: bool, max_abandon: f64) {
        let target = (max_abandon * STEER_AT).clamp(1e-4, 0.5);
        let step = if abandoned {
            -RISK_STEP
        } else {
            RISK_STEP * target / (1.0 - target)
        };
        self.risk = (self.risk * step.exp()).clamp(RISK_MIN, RISK_MAX);
    }

    /// The chance of abandon accepted for one more dial now, given the
    /// abandons the windows can still take: the steered risk, backed off
    /// gradually as the budget runs down; none with no budget left.
    pub fn accepted_risk(&self, budget: f64) -> f64 {
        self.risk * ((budget - BUDGET_RESERVE) / BUDGET_SPAN).clamp(0.0, 1.0)
    }
}

/// P(Z <= z) for a standard normal Z (Abramowitz and Stegun 26.2.17,
/// within 1e-7).
pub fn normal_below(z: f64) -> f64 {
    if z < 0.0 {
        return 1.0 - normal_below(-z);
    }
    let t = 1.0 / (1.0 + 0.231_641_9 * z);
    let poly = t
        * (0.319_381_53
            + t * (-0.356_563_782
                + t * (1.781_477_937 + t * (-1.821_255_978 + t * 1.330_274_429))));
    1.0 - (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt() * poly
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_forget_the_hour_but_keep_the_day() {
        let mut w = AbandonWindows::default();
        let t0 = Duration::from_secs(1_000 * 3_600);
        for i in 0..99 {
            w.answered(t0 + Duration::from_secs(i), false);
        }
        w.answered(t0 + Duration::from_secs(100), true);
        let [hour, day, _] = w.counts(t0 + Duration::from_secs(200));
        assert_eq!(hour, (100, 1));
        assert_eq!(day, (100, 1));
        // 1 in 100 = 1 %: one more abandon would be 2 %, over 1.5 %.
        assert!(!w.room_for_one(t0 + Duration::from_secs(200), 0.015));
        assert!(w.room_for_one(t0 + Duration::from_secs(200), 0.03));
        let later = t0 + Duration::from_secs(3_700);
        assert_eq!(w.counts(later)[0], (0, 0));
        assert_eq!(w.counts(later)[1], (100, 1));
        // Empty windows leave no room: no over-dialling before figures.
        assert!(!w.room_for_one(later, 0.03));
    }

    #[test]
    fn the_budget_sees_clean_answers_leave_the_hour() {
        let mut w = AbandonWindows::default();
        let t0 = Duration::from_secs(1_000 * 3_600);
        for _ in 0..100 {
            w.answered(t0, false);
        }
        let now = t0 + Duration::from_secs(3_000);
        w.answered(now, true);
        // Now: 1 abandon in 101 answers, room for 2 more at 3 %.
        assert!(w.room_for_one(now, 0.03));
        // In 10 minutes the 100 clean answers leave; the answers expected
        // meanwhile (101 an hour) do not make up for them.
        assert!(w.budget(now, 0.03) < 0.0, "{}", w.budget(now, 0.03));
        // A steady hour keeps its room.
        let mut w = AbandonWindows::default();
        for i in 0..3_600 {
            w.answered(t0 + Duration::from_secs(i), i % 100 == 0);
        }
        let b = w.budget(t0 + Duration::from_secs(3_600), 0.03);
        assert!((b - 72.0).abs() < 2.0, "{b}");
    }

    #[test]
    fn normal_below_matches_known_values() {
        assert!((normal_below(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_below(1.96) - 0.975).abs() < 1e-4);
        assert!((normal_below(-1.0) - 0.158_655).abs() < 1e-5);
    }

    #[test]
    fn a_long_ring_is_less_likely_answered() {
        let mut m = Measured::default();
        let fresh = m.answer_chance(0.0, 1_000.0);
        assert!((fresh - 0.25).abs() < 1e-6);
        assert!(m.answer_chance(30.0, 1_000.0) < fresh / 2.0);
        // Measured: every answer at 10 s; a call ringing 11 s never answers.
        for _ in 0..100 {
            m.answer_times.add(10.2);
        }
        assert!(m.answer_chance(0.0, 10.0) < 1e-9);
        assert!((m.answer_chance(0.0, 11.0) - 0.25).abs() < 1e-6);
        assert!(m.answer_chance(11.0, 100.0) < 1e-9);
    }

    #[test]
    fn agents_free_up_after_talk_and_wrap_up() {
        let mut m = Measured::default();
        for _ in 0..50 {
            m.talk_times.add(60.0);
            m.talk_times.add(120.0);
        }
        m.wrap_up.add(10.0);
        // 50 s into a talk: half end in 60–65 s (the 5 s bin), free 10 s later.
        assert!((m.free_chance(true, 50.0, 26.0) - 0.5).abs() < 1e-6);
        assert!(m.free_chance(true, 50.0, 9.0) < 1e-9);
        // Past 65 s only the 120 s talks are left.
        assert!((m.free_chance(true, 100.0, 40.0) - 1.0).abs() < 1e-6);
        assert_eq!(m.free_chance(false, 5.0, 5.0), 1.0);
        assert_eq!(m.free_chance(false, 5.0, 4.0), 0.0);
    }

    #[test]
    fn means_start_exact_then_forget_slowly() {
        let mut m = Mean::new(100.0, 50);
        m.add(10.0);
        assert_eq!(m.value(), 10.0);
        m.add(20.0);
        assert_eq!(m.value(), 15.0);
        for _ in 0..1_000 {
            m.add(50.0);
        }
        assert!((m.value() - 50.0).abs() < 1e-6);
    }
}
