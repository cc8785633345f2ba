//! Admission of new calls on the core's own load, not only on `max_calls`.
//!
//! The driver measures what the core cannot see for itself and hands it
//! over as a [`LoadReport`] (how many inputs it found waiting at most,
//! how late the core's timers ran); the core adds its live transactions.
//! [`Admission`] turns those into a decision for each new out-of-dialog
//! INVITE. Everything else (in-dialog requests, ACK, BYE, CANCEL,
//! responses) finishes calls already admitted and is never refused here.
//!
//! Three levels, with hysteresis between them:
//! - **admitting**: every new call comes in;
//! - **refusing**: a signal is at or above its high mark: every new call
//!   gets 503 + Retry-After, which costs far less than a call;
//! - **recovering**: below the high marks again, new calls come in at a
//!   capped rate (a token bucket), the cap starting under the rate admitted
//!   before the overload and rising while no signal is high; another
//!   overload cuts it (additive increase, multiplicative decrease). Once
//!   every signal has stayed under its low mark for `calm` with no call
//!   refused, admission is back to normal.
//!
//! Pure: time comes in as `now`, the figures as inputs.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::inbound::Req;
use super::Switch;
use crate::config::OverloadConfig;

/// Labels of `switchyard_calls_refused_overload_total{reason}`, in
/// [`ShedReason`] order.
pub const OVERLOAD_REASONS: [&str; 5] = ["max_calls", "draining", "backlog", "lag", "transactions"];

/// The fewest calls per second let in while recovering.
const CAP_MIN: f64 = 1.0;
/// While recovering, the cap rises by this share of the rate admitted
/// before the overload, per second (at least `CAP_STEP_MIN`).
const CAP_RISE_PER_SECOND: f64 = 0.3;
const CAP_STEP_MIN: f64 = 5.0;
/// Each overload met while recovering cuts the cap to this share.
const CAP_CUT: f64 = 0.8;
/// The cap set on entering an overload, as a share of the rate admitted.
const CAP_ENTRY: f64 = 0.9;
/// A bucket holds this many seconds of the cap (at least one call).
const BURST: f64 = 0.1;
/// At most one shedding log line pair per this long; the rest are counted.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a new call was refused 503.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShedReason {
    MaxCalls,
    Draining,
    Backlog,
    Lag,
    Transactions,
}

impl ShedReason {
    pub fn label(self) -> &'static str {
        OVERLOAD_REASONS[self as usize]
    }
}

/// What the driver measured since its last report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The most inputs (datagrams, frames) seen waiting in front of the
    /// core at once: how far behind it fell.
    pub backlog: usize,
    /// How late, at worst, the core's timers and the driver's tick ran.
    pub lag: Duration,
}

/// A change of level worth a log line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    Started { reason: ShedReason },
    Stopped { refused: u64, lasted: Duration },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Level {
    Admitting,
    Refusing {
        reason: ShedReason,
    },
    Recovering {
        reason: ShedReason,
        calm_since: Option<Instant>,
    },
}

/// The admission state: levels, the recovering cap, what was refused.
#[derive(Debug)]
pub struct Admission {
    config: OverloadConfig,
    level: Level,
    /// When shedding started (refusing or recovering since).
    since: Option<Instant>,
    /// Calls admitted per second, smoothed over reports.
    rate: f64,
    admitted: u32,
    last_report: Option<Instant>,
    /// The last figures, and the transactions seen with them.
    last: (LoadReport, usize),
    /// The rate admitted when shedding started, and the cap now.
    entry: f64,
    cap: f64,
    tokens: f64,
    refilled: Option<Instant>,
    last_refusal: Option<Instant>,
    refused: u64,
    last_log: Option<Instant>,
    logged_start: bool,
    unlogged: u32,
}

impl Admission {
    pub fn new(config: OverloadConfig) -> Admission {
        Admission {
            config,
            level: Level::Admitting,
            since: None,
            rate: 0.0,
            admitted: 0,
            last_report: None,
            last: (LoadReport::default(), 0),
            entry: 0.0,
            cap: 0.0,
            tokens: 0.0,
            refilled: None,
            last_refusal: None,
            refused: 0,
            last_log: None,
            logged_start: false,
            unlogged: 0,
        }
    }

    /// New marks (a reload): judged at once on the last figures.
    pub fn set_config(&mut self, now: Instant, config: OverloadConfig) -> Option<Change> {
        self.config = config;
        let (report, transactions) = self.last;
        self.judge(now, report, transactions, Duration::ZERO)
    }

    /// True while new calls are refused or let in at a capped rate.
    pub fn shedding(&self) -> bool {
        self.level != Level::Admitting
    }

    /// The last figures: the driver's report and the live transactions.
    pub fn last(&self) -> (LoadReport, usize) {
        self.last
    }

    /// One report from the driver, with the core's live transactions.
    pub fn observe(
        &mut self,
        now: Instant,
        report: LoadReport,
        transactions: usize,
    ) -> Option<Change> {
        let dt = self
            .last_report
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        if !dt.is_zero() {
            let instant = f64::from(self.admitted) / dt.as_secs_f64();
            self.rate = 0.5 * self.rate + 0.5 * instant;
        }
        self.admitted = 0;
        self.last_report = Some(now);
        self.last = (report, transactions);
        self.judge(now, report, transactions, dt)
    }

    /// Whether one new call may come in now.
    pub fn admit(&mut self, now: Instant) -> Result<(), ShedReason> {
        let reason = match self.level {
            Level::Admitting => {
                self.admitted += 1;
                return Ok(());
            }
            Level::Refusing { reason } => reason,
            Level::Recovering { reason, .. } => {
                let dt = self
                    .refilled
                    .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                let burst = (self.cap * BURST).max(1.0);
                self.tokens = (self.tokens + self.cap * dt.as_secs_f64()).min(burst);
                self.refilled = Some(now);
                if self.tokens >= 1.0 {
                    self.tokens -= 1.0;
                    self.admitted += 1;
                    return Ok(());
                }
                reason
            }
        };
        self.refused += 1;
        self.last_refusal = Some(now);
        Err(reason)
    }

    /// Whether a change may be logged now, and how many episodes went
    /// unlogged before it: at most one start line per `LOG_EVERY`, and a
    /// stop line for each start line (the log would flap with the load).
    pub fn may_log(&mut self, now: Instant, change: Change) -> Option<u32> {
        match change {
            Change::Started { .. } => {
                let due = self
                    .last_log
                    .is_none_or(|t| now.saturating_duration_since(t) >= LOG_EVERY);
                self.logged_start = due;
                if !due {
                    self.unlogged += 1;
                    return None;
                }
                self.last_log = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
            Change::Stopped { .. } => std::mem::take(&mut self.logged_start).then_some(0),
        }
    }

    /// The first signal at or above its high mark.
    fn high(&self, report: LoadReport, transactions: usize) -> Option<ShedReason> {
        let c = &self.config;
        if report.backlog >= c.backlog_high as usize {
            Some(ShedReason::Backlog)
        } else if report.lag >= c.lag_high {
            Some(ShedReason::Lag)
        } else if transactions >= c.transactions_high as usize {
            Some(ShedReason::Transactions)
        } else {
            None
        }
    }

    /// Every signal at or below its low mark.
    fn low(&self, report: LoadReport, transactions: usize) -> bool {
        let c = &self.config;
        report.backlog <= c.backlog_low as usize
            && report.lag <= c.lag_low
            && transactions <= c.transactions_low as usize
    }

    /// The level's transition on new figures, `dt` after the last ones.
    fn judge(
        &mut self,
        now: Instant,
        report: LoadReport,
        transactions: usize,
        dt: Duration,
    ) -> Option<Change> {
        let high = self.high(report, transactions);
        let low = self.low(report, transactions);
        match (self.level, high) {
            (Level::Admitting, None) => None,
            (Level::Admitting, Some(reason)) => {
                self.entry = self.rate;
                self.cap = (self.rate * CAP_ENTRY).max(CAP_MIN);
                self.level = Level::Refusing { reason };
                self.since = Some(now);
                self.refused = 0;
                Some(Change::Started { reason })
            }
            (Level::Refusing { .. }, Some(reason)) => {
                self.level = Level::Refusing { reason };
                None
            }
            (Level::Recovering { .. }, Some(reason)) => {
                self.cap = (self.cap * CAP_CUT).max(CAP_MIN);
                self.level = Level::Refusing { reason };
                None
            }
            (Level::Refusing { reason }, None) => {
                self.tokens = 0.0;
                self.refilled = Some(now);
                let calm_since = low.then_some(now);
                self.level = Level::Recovering { reason, calm_since };
                None
            }
            (Level::Recovering { reason, calm_since }, None) => {
                let step = (self.entry * CAP_RISE_PER_SECOND).max(CAP_STEP_MIN);
                self.cap += step * dt.as_secs_f64();
                if !low {
                    self.level = Level::Recovering {
                        reason,
                        calm_since: None,
                    };
                    return None;
                }
                let calm_since = calm_since.unwrap_or(now);
                let calm = self.config.calm;
                let quiet = self
                    .last_refusal
                    .is_none_or(|t| now.saturating_duration_since(t) >= calm);
                if now.saturating_duration_since(calm_since) >= calm && quiet {
                    self.level = Level::Admitting;
                    let since = self.since.take().unwrap_or(now);
                    return Some(Change::Stopped {
                        refused: self.refused,
                        lasted: now.saturating_duration_since(since),
                    });
                }
                self.level = Level::Recovering {
                    reason,
                    calm_since: Some(calm_since),
                };
                None
            }
        }
    }
}

impl Switch {
    /// What the driver measured of the core's load since its last report.
    pub fn handle_load(&mut self, now: Instant, report: LoadReport) {
        let transactions = self.transactions_active();
        let change = self.admission.observe(now, report, transactions);
        self.log_admission(now, change);
    }

    /// True while new calls are refused (or let in at a capped rate) for load.
    pub fn shedding(&self) -> bool {
        self.admission.shedding()
    }

    /// The driver's last load report and the live transactions then.
    pub fn load(&self) -> (LoadReport, usize) {
        self.admission.last()
    }

    /// New marks from a reload, judged at once on the last figures.
    pub(super) fn reload_admission(&mut self, now: Instant) {
        let change = self.admission.set_config(now, self.plan.overload.clone());
        self.log_admission(now, change);
    }

    /// Whether a new call may come in (a step of `on_invite`): `Err` when
    /// the switch is draining, full, or loaded past its marks.
    pub(super) fn admission(&mut self, now: Instant) -> Result<(), ShedReason> {
        if self.draining {
            return Err(ShedReason::Draining);
        }
        if self.calls.len() >= self.plan.max_calls.min(super::CALLS_HARD_MAX) {
            return Err(ShedReason::MaxCalls);
        }
        self.admission.admit(now)
    }

    /// Refuses a new INVITE with 503 and Retry-After, counted by reason.
    pub(super) fn refuse_for_load(&mut self, now: Instant, req: &Req<'_>, reason: ShedReason) {
        self.stats.refused_overload[reason as usize] += 1;
        let secs = self.plan.overload.retry_after.as_secs().max(1);
        let headers = [("Retry-After", secs.to_string())];
        let tag = self.token();
        self.respond(now, req, 503, Some(&tag), &headers, None);
        self.refused_at_the_door(now, req, 503);
    }

    fn log_admission(&mut self, now: Instant, change: Option<Change>) {
        let Some(change) = change else {
            return;
        };
        let Some(unlogged) = self.admission.may_log(now, change) else {
            return;
        };
        let (report, transactions) = self.admission.last();
        match change {
            Change::Started { reason } => warn!(
                reason = reason.label(),
                backlog = report.backlog,
                lag_ms = report.lag.as_millis() as u64,
                transactions,
                calls = self.calls.len(),
                unlogged,
                "overload: refusing new calls with 503"
            ),
            Change::Stopped { refused, lasted } => info!(
                refused,
                lasted_ms = lasted.as_millis() as u64,
                "overload over: taking new calls again"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
