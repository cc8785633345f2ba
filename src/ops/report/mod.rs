//! Call-centre figures from the call records and the agent event log: a
//! pure function of the rows read from the store, so a test can feed it a
//! simulated hour and the HTTP handler (`ops::api::reports`) only reads
//! SQLite and formats. Times are Unix milliseconds throughout.
//!
//! Definitions (README, "Reports"): a queue is *offered* a call when the
//! call enters it (`enter`); *answered*, *abandoned* and *exits* come from
//! `connect`, `abandon` and `exit` lines of that queue. Abandons under
//! [`SHORT_ABANDON`] count apart and are left out of the service level,
//! which is answered within the queue's threshold over answered plus
//! (long) abandoned. Waits are the log's: from the call's entry into that
//! queue (after any menu, or at the overflow), as the router counts them.
//! Talk is answer to hang-up less hold; AHT is talk + hold + wrap-up over
//! handled calls.

mod time;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::ops::cdr::{AgentEventRow, CdrRow};

pub use time::{format_ms, parse_ms};

/// Abandons shorter than this are misdials, not lost callers.
pub const SHORT_ABANDON: Duration = Duration::from_secs(5);
/// Service-level threshold for a queue the caller names none for.
pub const SERVICE_LEVEL_DEFAULT: Duration = Duration::from_secs(20);
/// The windows of first-call resolution: no call again within each.
pub const FCR_WINDOWS: [(&str, Duration); 2] = [
    ("24h", Duration::from_secs(24 * 3600)),
    ("7d", Duration::from_secs(7 * 24 * 3600)),
];
/// Most intervals one report splits its window into.
pub const INTERVALS_MAX: u64 = 10_000;

/// The window a report covers: `[from_ms, to_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from_ms: u64,
    pub to_ms: u64,
}

/// One queue over one interval (or the whole window).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueueRow {
    pub queue: String,
    pub interval_start: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub overflowed: u64,
    pub timed_out: u64,
    /// Share (0..1) answered within the threshold; `None` with no call.
    pub service_level: Option<f64>,
    pub service_level_threshold_ms: u64,
    /// Average speed of answer.
    pub asa_ms: Option<u64>,
    pub aht_ms: Option<u64>,
    pub longest_wait_ms: u64,
    pub transfers: u64,
    /// Answered callers who did not call again within 24 h / 7 d.
    pub fcr_24h: Option<f64>,
    pub fcr_7d: Option<f64>,
}

/// One agent over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AgentRow {
    pub agent: String,
    pub handled: u64,
    pub aht_ms: Option<u64>,
    pub talk_ms: u64,
    pub hold_ms: u64,
    pub wrapup_ms: u64,
    pub logged_in_ms: u64,
    /// Time paused, by reason.
    pub pause_ms: BTreeMap<String, u64>,
    /// Talk + hold + wrap-up over logged-in time less pauses.
    pub occupancy: Option<f64>,
    pub calls_per_hour: Option<f64>,
    pub ring_no_answer: u64,
    pub dispositions: BTreeMap<String, u64>,
    pub fcr_24h: Option<f64>,
    pub fcr_7d: Option<f64>,
}

/// Queue figures per queue and interval (`None`: the whole window).
/// `records` may reach past the window (up to 7 days) for first-call
/// resolution; `events` outside the window are ignored.
pub fn queue_report(
    records: &[CdrRow],
    events: &[AgentEventRow],
    window: Window,
    interval: Option<Duration>,
    thresholds: &HashMap<String, Duration>,
) -> Vec<QueueRow> {
    let calls = index_calls(records);
    let step = interval
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
        .unwrap_or(window.to_ms.saturating_sub(window.from_ms).max(1));
    let bucket = |at: u64| (at - window.from_ms) / step;
    let mut rows: BTreeMap<(String, u64), Acc> = BTreeMap::new();
    for e in events.iter().filter(|e| window.contains(e.unix_ms)) {
        let Some(queue) = &e.queue else { continue };
        let acc = rows.entry((queue.clone(), bucket(e.unix_ms))).or_default();
        let dur = e.duration_ms.unwrap_or(0);
        match e.event.as_str() {
            "enter" => acc.offered += 1,
            "connect" => {
                acc.answered += 1;
                acc.waits.push(dur);
                if let Some(c) = e.call.as_deref().and_then(|c| calls.get(c)) {
                    acc.handled.push(c);
                }
            }
            "abandon" if dur < millis(SHORT_ABANDON) => acc.short_abandoned += 1,
            "abandon" => {
                acc.abandoned += 1;
                acc.longest = acc.longest.max(dur);
            }
            "exit" if e.reason.as_deref() == Some("overflow") => {
                acc.overflowed += 1;
                acc.longest = acc.longest.max(dur);
            }
            "exit" => {
                acc.timed_out += 1;
                acc.longest = acc.longest.max(dur);
            }
            "transfer" => acc.transfers += 1,
            _ => {}
        }
    }
    rows.into_iter()
        .map(|((queue, b), acc)| {
            let threshold = thresholds
                .get(&queue)
                .copied()
                .unwrap_or(SERVICE_LEVEL_DEFAULT);
            acc.queue_row(queue, window.from_ms + b * step, threshold, records)
        })
        .collect()
}

/// Agent figures over the window. Login, logout, pause and resume lines
/// before the window (each agent's last ones, as the store gives them)
/// tell what the agent was doing when it opened: they count from its
/// start, so a pause that began earlier is clipped to the window.
pub fn agent_report(records: &[CdrRow], events: &[AgentEventRow], window: Window) -> Vec<AgentRow> {
    let calls = index_calls(records);
    let mut agents: BTreeMap<String, AgentAcc> = BTreeMap::new();
    for e in events.iter().filter(|e| e.unix_ms < window.to_ms) {
        let Some(agent) = &e.agent else { continue };
        if e.unix_ms < window.from_ms {
            // Only a login or pause still open puts an agent in the report.
            let opens = matches!(e.event.as_str(), "login" | "pause");
            if let Some(acc) = agents.get_mut(agent) {
                acc.state_line(e, window.from_ms);
            } else if opens {
                let acc = agents.entry(agent.clone()).or_default();
                acc.state_line(e, window.from_ms);
            }
            continue;
        }
        let acc = agents.entry(agent.clone()).or_default();
        acc.state_line(e, e.unix_ms);
        match e.event.as_str() {
            "complete" => {
                acc.handled += 1;
                if let Some(c) = e.call.as_deref().and_then(|c| calls.get(c)) {
                    acc.calls.push(c);
                }
            }
            "wrapup_end" => acc.wrapup_ms += e.duration_ms.unwrap_or(0),
            "ring_no_answer" => acc.ring_no_answer += 1,
            "disposition" => {
                let code = e.reason.clone().unwrap_or_default();
                *acc.dispositions.entry(code).or_default() += 1;
            }
            _ => {}
        }
    }
    agents
        .into_iter()
        .map(|(agent, mut acc)| {
            acc.close(window.to_ms);
            acc.agent_row(agent, records)
        })
        .collect()
}

impl Window {
    fn contains(&self, at: u64) -> bool {
        (self.from_ms..self.to_ms).contains(&at)
    }
}

#[derive(Default)]
struct Acc<'r> {
    offered: u64,
    answered: u64,
    abandoned: u64,
    short_abandoned: u64,
    overflowed: u64,
    timed_out: u64,
    transfers: u64,
    waits: Vec<u64>,
    longest: u64,
    handled: Vec<&'r CdrRow>,
}

impl Acc<'_> {
    fn queue_row(self, queue: String, start: u64, threshold: Duration, all: &[CdrRow]) -> QueueRow {
        let within = self
            .waits
            .iter()
            .filter(|w| **w <= millis(threshold))
            .count() as u64;
        let (fcr_24h, fcr_7d) = fcr(&self.handled, all);
        QueueRow {
            queue,
            interval_start: format_ms(start),
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            short_abandoned: self.short_abandoned,
            overflowed: self.overflowed,
            timed_out: self.timed_out,
            service_level: ratio(within, self.answered + self.abandoned),
            service_level_threshold_ms: millis(threshold),
            asa_ms: mean(self.waits.iter().sum(), self.waits.len() as u64),
            aht_ms: mean(
                self.handled.iter().map(|r| handle_ms(r)).sum(),
                self.handled.len() as u64,
            ),
            longest_wait_ms: self
                .waits
                .iter()
                .copied()
                .max()
                .unwrap_or(0)
                .max(self.longest),
            transfers: self.transfers,
            fcr_24h,
            fcr_7d,
        }
    }
}

#[derive(Default)]
struct AgentAcc<'r> {
    handled: u64,
    calls: Vec<&'r CdrRow>,
    wrapup_ms: u64,
    ring_no_answer: u64,
    dispositions: BTreeMap<String, u64>,
    logged_in_since: Option<u64>,
    logged_in_ms: u64,
    paused_since: Option<(u64, String)>,
    pause_ms: BTreeMap<String, u64>,
}

impl AgentAcc<'_> {
    /// Login, logout, pause and resume lines open and close intervals;
    /// `at` is the line's time, or the window's start for an earlier one.
    fn state_line(&mut self, e: &AgentEventRow, at: u64) {
        match e.event.as_str() {
            "login" => {
                self.logged_in_since.get_or_insert(at);
            }
            "logout" => {
                self.end_pause(at);
                if let Some(since) = self.logged_in_since.take() {
                    self.logged_in_ms += at.saturating_sub(since);
                }
            }
            "pause" => {
                self.end_pause(at);
                self.paused_since = Some((at, e.reason.clone().unwrap_or_default()));
            }
            "resume" => self.end_pause(at),
            _ => {}
        }
    }

    fn end_pause(&mut self, at: u64) {
        if let Some((since, reason)) = self.paused_since.take() {
            *self.pause_ms.entry(reason).or_default() += at.saturating_sub(since);
        }
    }

    /// Intervals still open at the window's end end there.
    fn close(&mut self, end: u64) {
        self.end_pause(end);
        if let Some(since) = self.logged_in_since.take() {
            self.logged_in_ms += end.saturating_sub(since);
        }
    }

    fn agent_row(self, agent: String, all: &[CdrRow]) -> AgentRow {
        let hold_ms: u64 = self.calls.iter().map(|r| r.hold_ms.unwrap_or(0)).sum();
        let talk_ms: u64 = self
            .calls
            .iter()
            .map(|r| r.talk_ms.saturating_sub(r.hold_ms.unwrap_or(0)))
            .sum();
        let busy = talk_ms + hold_ms + self.wrapup_ms;
        let paused: u64 = self.pause_ms.values().sum();
        let staffed = self.logged_in_ms.saturating_sub(paused);
        let (fcr_24h, fcr_7d) = fcr(&self.calls, all);
        AgentRow {
            agent,
            handled: self.handled,
            aht_ms: mean(busy, self.handled),
            talk_ms,
            hold_ms,
            wrapup_ms: self.wrapup_ms,
            logged_in_ms: self.logged_in_ms,
            pause_ms: self.pause_ms,
            occupancy: ratio(busy, staffed),
            calls_per_hour: (self.logged_in_ms > 0)
                .then(|| self.handled as f64 * 3_600_000.0 / self.logged_in_ms as f64),
            ring_no_answer: self.ring_no_answer,
            dispositions: self.dispositions,
            fcr_24h,
            fcr_7d,
        }
    }
}

fn index_calls(records: &[CdrRow]) -> HashMap<&str, &CdrRow> {
    records
        .iter()
        .filter_map(|r| Some((r.call_uuid.as_deref()?, r)))
        .collect()
}

/// Talk (with hold inside) plus wrap-up.
fn handle_ms(r: &CdrRow) -> u64 {
    r.talk_ms + r.wrapup_ms.unwrap_or(0)
}

/// Shares of `calls` whose caller placed no other inbound call within each
/// of [`FCR_WINDOWS`] after it started.
fn fcr(calls: &[&CdrRow], all: &[CdrRow]) -> (Option<f64>, Option<f64>) {
    let mut by_caller: HashMap<&str, Vec<u64>> = HashMap::new();
    for r in all
        .iter()
        .filter(|r| r.direction.as_deref() == Some("inbound"))
    {
        if let (Some(caller), Some(at)) = (r.caller.as_deref(), parse_ms(&r.started_at)) {
            by_caller.entry(caller).or_default().push(at);
        }
    }
    let mut resolved = [0u64; FCR_WINDOWS.len()];
    let mut counted = 0u64;
    for r in calls {
        let (Some(caller), Some(at)) = (r.caller.as_deref(), parse_ms(&r.started_at)) else {
            continue;
        };
        counted += 1;
        let again = by_caller.get(caller).map(Vec::as_slice).unwrap_or(&[]);
        for (i, (_, within)) in FCR_WINDOWS.iter().enumerate() {
            let end = at + millis(*within);
            if !again.iter().any(|t| *t > at && *t <= end) {
                resolved[i] += 1;
            }
        }
    }
    (ratio(resolved[0], counted), ratio(resolved[1], counted))
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn mean(total: u64, n: u64) -> Option<u64> {
    (n > 0).then(|| total / n)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;
    const FROM: u64 = 1_709_280_000_000;

    fn line(at: u64, agent: &str, event: &str, reason: Option<&str>) -> AgentEventRow {
        AgentEventRow {
            at: format_ms(at),
            unix_ms: at,
            at_ms: 0,
            agent: Some(agent.into()),
            event: event.into(),
            queue: None,
            call: None,
            reason: reason.map(str::to_string),
            detail: None,
            duration_ms: None,
        }
    }

    #[test]
    fn a_login_and_pause_begun_before_the_window_count_from_its_start() {
        let events = [
            // Before the window: what the store gives as agents' last lines.
            line(FROM - 3 * H, "1001", "login", None),
            line(FROM - H, "1001", "pause", Some("lunch")),
            line(FROM - 2 * H, "1002", "logout", None),
            // In the window.
            line(FROM + H / 2, "1001", "resume", None),
            line(FROM + H, "1001", "logout", None),
        ];
        let window = Window {
            from_ms: FROM,
            to_ms: FROM + 2 * H,
        };
        let rows = agent_report(&[], &events, window);
        assert_eq!(rows.len(), 1, "an agent logged out before is not listed");
        let a = &rows[0];
        assert_eq!(a.agent, "1001");
        assert_eq!(a.logged_in_ms, H);
        assert_eq!(a.pause_ms.get("lunch"), Some(&(H / 2)));
    }

    #[test]
    fn an_agent_paused_through_the_whole_window_is_paused_all_of_it() {
        let events = [
            line(FROM - 3 * H, "1001", "login", None),
            line(FROM - H, "1001", "pause", Some("training")),
        ];
        let window = Window {
            from_ms: FROM,
            to_ms: FROM + H,
        };
        let rows = agent_report(&[], &events, window);
        assert_eq!(rows[0].logged_in_ms, H);
        assert_eq!(rows[0].pause_ms.get("training"), Some(&H));
        assert_eq!(rows[0].occupancy, None, "no staffed time");
    }
}
