//! A working day of a campaign in virtual time: simulated customers answer,
//! are busy, fail or ring out; simulated agents talk and wrap up. Pure and
//! seeded, so the benchmark (`benches/dialer.rs`) and the behaviour test
//! (`tests/sim_dialer.rs`) see the same day for the same seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::campaign::{Action, Campaign, DialId, Event, Mode, Spec};
use super::contact::{Contact, Outcome};
use super::dnc::Dnc;
use super::tz::Zone;

/// The day and its people.
#[derive(Clone, Debug)]
pub struct Day {
    pub agents: u32,
    pub length: Duration,
    /// Of all dials: answered by a person.
    pub answer_rate: f64,
    /// Of all dials: busy (after `busy_after`), and failed (after 2 s).
    pub busy_rate: f64,
    pub failed_rate: f64,
    /// Mean time from dial to answer of answered calls: a 4 s floor (call
    /// set-up, first rings) plus an exponential rest.
    pub time_to_answer: Duration,
    pub busy_after: Duration,
    /// Unanswered calls ring this long (at least 15 s by regulation).
    pub ring_timeout: Duration,
    /// Mean talk: a 30 s floor plus an exponential rest.
    pub talk: Duration,
    pub wrap_up: Duration,
    pub contacts: u32,
    pub seed: u64,
}

impl Default for Day {
    /// The day: 30 agents, 30 % answer, 12 s to answer, talk 120 s,
    /// wrap-up 10 s; 8 hours from 09:00 UTC.
    fn default() -> Self {
        Day {
            agents: 30,
            length: Duration::from_secs(8 * 3_600),
            answer_rate: 0.30,
            busy_rate: 0.10,
            failed_rate: 0.05,
            time_to_answer: Duration::from_secs(12),
            busy_after: Duration::from_secs(4),
            ring_timeout: Duration::from_secs(30),
            talk: Duration::from_secs(120),
            wrap_up: Duration::from_secs(10),
            contacts: 60_000,
            seed: 15,
        }
    }
}

/// What the day gave.
#[derive(Clone, Debug)]
pub struct Report {
    pub mode: Mode,
    /// Minutes agents talked per agent hour logged in.
    pub talk_minutes_per_agent_hour: f64,
    /// Highest abandon rate of any hour-long window within the day (windows
    /// starting every minute).
    pub abandon_max_hour: f64,
    pub abandon_day: f64,
    pub dials: u64,
    pub answers: u64,
    pub abandons: u64,
    pub blocked: u64,
    /// Answered calls on which an agent talked.
    pub connects: u64,
    /// Two calls connected to one agent at once (must be 0).
    pub double_connects: u64,
    /// Ringing calls the pacer hung up, and of those, any before 15 s of
    /// ringing (must be 0).
    pub cancels: u64,
    pub early_cancels: u64,
}

impl Report {
    /// One plain line for the benchmark.
    pub fn line(&self) -> String {
        format!(
            "dialer {:<11} talk {:5.1} min/agent-hour  abandon max-hour {:4.2} % day {:4.2} %  dials {} answers {} connects {} abandons {} cancels {}",
            self.mode.name(),
            self.talk_minutes_per_agent_hour,
            self.abandon_max_hour * 100.0,
            self.abandon_day * 100.0,
            self.dials,
            self.answers,
            self.connects,
            self.abandons,
            self.cancels
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Happening {
    Answer(DialId),
    Ended(DialId, u8),
    TalkEnd(DialId),
    WrapEnd(String),
}

/// 2026-12-07 09:00 UTC, a Monday.
pub const DAY_START: Duration = Duration::from_secs(1_796_634_000);

/// Steps of the day at most: a bound on the loop, far above a real day.
const STEPS_MAX: u64 = 20_000_000;

/// Runs `day` with `mode` and `dnc`, returning its figures.
pub fn run(mode: Mode, day: &Day, mut dnc: Dnc) -> Report {
    let mut people = StdRng::seed_from_u64(day.seed);
    let contacts = (0..day.contacts)
        .map(|i| Contact::new(format!("+1555{i:07}"), String::new(), Zone::UTC))
        .collect();
    let spec = Spec {
        mode,
        ..Spec::default()
    };
    let start = DAY_START;
    let end = start + day.length;
    let mut campaign = Campaign::new(spec, contacts, start);
    let mut pending: BinaryHeap<Reverse<(Duration, u64, Happening)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut talking: BTreeMap<String, (DialId, Duration)> = BTreeMap::new();
    let mut talk_total = Duration::ZERO;
    let mut answered: Vec<(Duration, bool)> = Vec::new();
    let mut double_connects = 0;
    // When each call still ringing was placed; a cancelled call is gone
    // from here and what its customer would have done is ignored.
    let mut ringing: BTreeMap<DialId, Duration> = BTreeMap::new();
    let (mut cancels, mut early_cancels) = (0, 0);
    let mut inputs = vec![Event::Start];
    inputs.extend((0..day.agents).map(|a| Event::AgentReady(format!("agent{a}"))));
    let mut now = start;
    for step in 0..STEPS_MAX {
        // Agents answer at once: a connect's answer is handled at once too.
        let mut k = 0;
        while k < inputs.len() {
            let input = inputs[k].clone();
            k += 1;
            for action in campaign.handle(now, input, &mut dnc) {
                match action {
                    Action::Dial { dial, .. } => {
                        ringing.insert(dial, now);
                        let (after, what) = customer(&mut people, day, dial);
                        seq += 1;
                        pending.push(Reverse((now + after, seq, what)));
                    }
                    Action::Connect { dial, agent } => {
                        if talking.contains_key(&agent) {
                            double_connects += 1;
                        }
                        answered.push((now, false));
                        let floor = 30.0;
                        let rest = day.talk.as_secs_f64() - floor;
                        let talk = floor + exponential(&mut people, rest);
                        talking.insert(agent, (dial, now));
                        inputs.push(Event::AgentAnswered(dial));
                        seq += 1;
                        pending.push(Reverse((
                            now + Duration::from_secs_f64(talk),
                            seq,
                            Happening::TalkEnd(dial),
                        )));
                    }
                    Action::Abandon { .. } => answered.push((now, true)),
                    Action::Cancel { dial } => {
                        let placed = ringing.remove(&dial).expect("a cancelled call rings");
                        cancels += 1;
                        if now - placed < Duration::from_secs(15) {
                            early_cancels += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
        inputs.clear();
        let next_event = pending.peek().map(|Reverse((t, _, _))| *t);
        let next_tick = campaign.poll_timeout();
        let next = match (next_event, next_tick) {
            (None, None) => break,
            (e, t) => e.into_iter().chain(t).min().expect("one of them is some"),
        };
        if next >= end {
            break;
        }
        now = next.max(now);
        if next_tick == Some(next) && next_event.is_none_or(|e| e > next) {
            inputs.push(Event::Tick);
            continue;
        }
        let Reverse((_, _, what)) = pending.pop().expect("peeked");
        match what {
            Happening::Answer(dial) | Happening::Ended(dial, _)
                if ringing.remove(&dial).is_none() => {}
            Happening::Answer(dial) => inputs.push(Event::Answered(dial)),
            Happening::Ended(dial, code) => {
                let outcome = [Outcome::Busy, Outcome::NoAnswer, Outcome::Failed][code as usize];
                inputs.push(Event::DialEnded(dial, outcome));
            }
            Happening::TalkEnd(dial) => {
                let agent = talking
                    .iter()
                    .find(|(_, (d, _))| *d == dial)
                    .map(|(a, _)| a.clone())
                    .expect("a talk that ends was connected");
                let (_, since) = talking.remove(&agent).expect("found above");
                talk_total += now - since;
                inputs.push(Event::Hangup(dial));
                seq += 1;
                pending.push(Reverse((now + day.wrap_up, seq, Happening::WrapEnd(agent))));
            }
            Happening::WrapEnd(agent) => inputs.push(Event::AgentReady(agent)),
        }
        assert!(
            step + 1 < STEPS_MAX,
            "the day did not end in {STEPS_MAX} steps (seed {})",
            day.seed
        );
    }
    // Talk still going at the end of the day counts up to the end.
    talk_total += talking
        .values()
        .map(|(_, since)| end.saturating_sub(*since))
        .sum::<Duration>();
    let agent_hours = f64::from(day.agents) * day.length.as_secs_f64() / 3_600.0;
    let abandons = answered.iter().filter(|(_, a)| *a).count() as u64;
    let c = &campaign.counters;
    Report {
        mode,
        talk_minutes_per_agent_hour: talk_total.as_secs_f64() / 60.0 / agent_hours,
        abandon_max_hour: max_hour_rate(&answered, start, end),
        abandon_day: abandons as f64 / answered.len().max(1) as f64,
        dials: c.dials,
        answers: c.answers,
        abandons,
        blocked: c.blocked,
        connects: c.connects,
        double_connects,
        cancels,
        early_cancels,
    }
}

/// What a dialled customer does: answer after a while, or end the dial.
pub(super) fn customer(rng: &mut StdRng, day: &Day, dial: DialId) -> (Duration, Happening) {
    let draw: f64 = rng.random();
    if draw < day.answer_rate {
        let floor = 4.0;
        let rest = day.time_to_answer.as_secs_f64() - floor;
        let limit = day.ring_timeout.as_secs_f64() - 1.0;
        let t = (floor + exponential(rng, rest)).min(limit);
        return (Duration::from_secs_f64(t), Happening::Answer(dial));
    }
    if draw < day.answer_rate + day.busy_rate {
        return (day.busy_after, Happening::Ended(dial, 0));
    }
    if draw < day.answer_rate + day.busy_rate + day.failed_rate {
        return (Duration::from_secs(2), Happening::Ended(dial, 2));
    }
    (day.ring_timeout, Happening::Ended(dial, 1))
}

pub(super) fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -mean * (1.0 - u).ln()
}

/// Highest abandons/answers over windows of an hour starting every minute
/// of the day and ending within it.
pub(super) fn max_hour_rate(answered: &[(Duration, bool)], start: Duration, end: Duration) -> f64 {
    let hour = Duration::from_secs(3_600);
    let mut worst: f64 = 0.0;
    let mut from = start;
    while from + hour <= end {
        let window = answered
            .iter()
            .filter(|(t, _)| *t >= from && *t < from + hour);
        let (n, a) = window.fold((0u64, 0u64), |(n, a), (_, ab)| (n + 1, a + u64::from(*ab)));
        if n > 0 {
            worst = worst.max(a as f64 / n as f64);
        }
        from += Duration::from_secs(60);
    }
    worst
}
