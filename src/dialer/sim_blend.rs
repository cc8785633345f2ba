//! A blended day in virtual time: agents who answer one inbound queue and
//! work a predictive campaign at once. Inbound callers arrive as a Poisson
//! stream and take the longest-idle free agent at once, or wait in order
//! for the next agent to free up (the router offers at once); once a
//! second the campaign is told which agents it may have, as the switch's
//! driver does (`switch/campaigns.rs`): every free agent, or with blending
//! those the rule in [`super::blend`] does not withhold for the queue's
//! service level, from the queue's figures over the last `window` (arrival
//! rate, handle time, service level) as the switch's meters give them.
//! The customers are [`super::sim`]'s. Pure and seeded: the test
//! (`tests/sim_blend.rs`) prints the day with and without blending.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::blend::{Blender, Change, Decision, Inbound};
use super::campaign::{Action, Campaign, DialId, Event, Mode, Spec};
use super::contact::{Contact, Outcome};
use super::dnc::Dnc;
use super::sim::{self, Day, Happening, DAY_START};
use super::tz::Zone;
use crate::acd::erlang;

/// The day: the campaign's agents and customers, and the inbound queue.
#[derive(Clone, Debug)]
pub struct BlendDay {
    /// Agents, length, customers, outbound talk and wrap-up, seed.
    pub day: Day,
    /// Inbound callers an hour (Poisson arrivals).
    pub inbound_per_hour: f64,
    /// Mean inbound talk: a 30 s floor plus an exponential rest; wrap-up
    /// as outbound.
    pub inbound_talk: Duration,
    /// The queue's goal: `sl_target` answered within `sl_threshold`.
    pub sl_threshold: Duration,
    pub sl_target: f64,
    /// How far back the queue's figures look (`[metrics].interval`).
    pub window: Duration,
    /// Whether the rule withholds agents (`blend` of the campaign).
    pub blend: bool,
}

impl Default for BlendDay {
    /// 12 agents for 4 hours; 45 inbound calls an hour of 3 min (about
    /// 2.4 erlangs, 80 % in 20 s); the campaign's customers as
    /// [`Day::default`] (30 % answer, wrap-up 10 s) but for 5 min sales
    /// talks.
    fn default() -> Self {
        BlendDay {
            day: Day {
                agents: 12,
                length: Duration::from_secs(4 * 3_600),
                talk: Duration::from_secs(300),
                contacts: 20_000,
                ..Day::default()
            },
            inbound_per_hour: 45.0,
            inbound_talk: Duration::from_secs(180),
            sl_threshold: Duration::from_secs(20),
            sl_target: 0.8,
            window: Duration::from_secs(15 * 60),
            blend: true,
        }
    }
}

/// What the day gave.
#[derive(Clone, Debug, Default)]
pub struct BlendReport {
    pub blend: bool,
    pub inbound_offered: u64,
    pub inbound_answered: u64,
    /// Answered within the threshold.
    pub inbound_within: u64,
    pub inbound_wait_max: Duration,
    /// Minutes agents talked to the campaign's customers per agent hour.
    pub outbound_talk_minutes_per_agent_hour: f64,
    pub inbound_talk_minutes_per_agent_hour: f64,
    pub dials: u64,
    pub connects: u64,
    pub abandons: u64,
    pub abandon_day: f64,
    pub abandon_max_hour: f64,
    /// Times the queue made the campaign back off.
    pub back_offs: u64,
    /// The campaign connected an agent an inbound call had (must be 0).
    pub conflicts: u64,
    /// Inbound callers given an agent the campaign had (ready for it).
    pub taken_from_campaign: u64,
    /// Free agents the campaign had and blending took back.
    pub withdrawn: u64,
}

impl BlendReport {
    /// Answered within the threshold over offered.
    pub fn inbound_service_level(&self) -> f64 {
        self.inbound_within as f64 / self.inbound_offered.max(1) as f64
    }

    /// One plain line of figures.
    pub fn line(&self) -> String {
        format!(
            "blend {:<3} inbound SL {:5.1} % ({} calls, longest wait {} s)  outbound talk {:4.1} min/agent-hour  abandon {:4.2} % (max hour {:4.2} %)  connects {}  back-offs {}",
            if self.blend { "on" } else { "off" },
            self.inbound_service_level() * 100.0,
            self.inbound_offered,
            self.inbound_wait_max.as_secs(),
            self.outbound_talk_minutes_per_agent_hour,
            self.abandon_day * 100.0,
            self.abandon_max_hour * 100.0,
            self.connects,
            self.back_offs
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Customer(Happening),
    OutTalkEnd(DialId),
    Arrive,
    InTalkEnd(String),
    WrapEnd(String),
}

/// An agent's desk, as the router sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Desk {
    Free {
        since: Duration,
    },
    Inbound {
        since: Duration,
    },
    Outbound,
    /// After an inbound call (counted as busy on it) or a campaign call.
    WrapUp {
        inbound: bool,
    },
}

/// Steps of the day at most: a bound on the loop.
const STEPS_MAX: u64 = 20_000_000;
/// How often the driver tells the campaign its agents.
const TICK: Duration = Duration::from_secs(1);

struct Sim<'a> {
    spec: &'a BlendDay,
    now: Duration,
    campaign: Campaign,
    dnc: Dnc,
    people: StdRng,
    blender: Blender,
    blend_told: (bool, u32, f64),
    desks: BTreeMap<String, Desk>,
    /// What the campaign was last told of each agent: ready or not.
    told: BTreeMap<String, bool>,
    pending: BinaryHeap<Reverse<(Duration, u64, Next)>>,
    seq: u64,
    /// Inbound callers waiting, by arrival.
    queue: VecDeque<Duration>,
    /// The queue's meters over the window: arrivals, (end, handle time),
    /// (answered at, within the threshold).
    arrivals: VecDeque<Duration>,
    handled: VecDeque<(Duration, Duration)>,
    answers: VecDeque<(Duration, bool)>,
    ringing: BTreeMap<DialId, Duration>,
    talking: BTreeMap<DialId, (String, Duration)>,
    /// Outbound answered calls: (when, abandoned).
    answered: Vec<(Duration, bool)>,
    talk_out: Duration,
    talk_in: Duration,
    report: BlendReport,
}

/// Runs the blended day, returning its figures.
pub fn run(spec: &BlendDay) -> BlendReport {
    let day = &spec.day;
    let contacts = (0..day.contacts)
        .map(|i| Contact::new(format!("+1555{i:07}"), String::new(), Zone::UTC))
        .collect();
    let campaign_spec = Spec {
        mode: Mode::Predictive,
        ..Spec::default()
    };
    let start = DAY_START;
    let end = start + day.length;
    let mut sim = Sim {
        spec,
        now: start,
        campaign: Campaign::new(campaign_spec, contacts, start),
        dnc: Dnc::default(),
        people: StdRng::seed_from_u64(day.seed),
        blender: Blender::default(),
        blend_told: (false, 0, 0.0),
        desks: (0..day.agents)
            .map(|a| (format!("agent{a}"), Desk::Free { since: start }))
            .collect(),
        told: BTreeMap::new(),
        pending: BinaryHeap::new(),
        seq: 0,
        queue: VecDeque::new(),
        arrivals: VecDeque::new(),
        handled: VecDeque::new(),
        answers: VecDeque::new(),
        ringing: BTreeMap::new(),
        talking: BTreeMap::new(),
        answered: Vec::new(),
        talk_out: Duration::ZERO,
        talk_in: Duration::ZERO,
        report: BlendReport {
            blend: spec.blend,
            ..BlendReport::default()
        },
    };
    sim.input(Event::Start);
    let first = sim.inter_arrival();
    sim.at(start + first, Next::Arrive);
    let mut tick = start;
    for step in 0..STEPS_MAX {
        let next_event = sim.pending.peek().map(|Reverse((t, _, _))| *t);
        let next_core = sim.campaign.poll_timeout();
        let next = [next_event, next_core, Some(tick)]
            .into_iter()
            .flatten()
            .min()
            .expect("the tick is always there");
        if next >= end {
            break;
        }
        sim.now = next.max(sim.now);
        if next == tick {
            tick += TICK;
            sim.sync();
            sim.input(Event::Tick);
        } else if next_event == Some(next) {
            let Reverse((_, _, what)) = sim.pending.pop().expect("peeked");
            sim.happen(what);
        } else {
            sim.input(Event::Tick);
        }
        assert!(
            step + 1 < STEPS_MAX,
            "the day did not end in {STEPS_MAX} steps"
        );
    }
    sim.finish(end)
}

impl Sim<'_> {
    fn at(&mut self, when: Duration, what: Next) {
        self.seq += 1;
        self.pending.push(Reverse((when, self.seq, what)));
    }

    fn inter_arrival(&mut self) -> Duration {
        let mean = 3_600.0 / self.spec.inbound_per_hour.max(1e-6);
        Duration::from_secs_f64(sim::exponential(&mut self.people, mean))
    }

    fn talk(&mut self, mean: Duration) -> Duration {
        let floor = 30.0;
        let rest = (mean.as_secs_f64() - floor).max(0.0);
        Duration::from_secs_f64(floor + sim::exponential(&mut self.people, rest))
    }

    /// Feeds the campaign an event and carries out what follows, in order.
    fn input(&mut self, event: Event) {
        let mut inputs = VecDeque::from([event]);
        while let Some(event) = inputs.pop_front() {
            for action in self.campaign.handle(self.now, event, &mut self.dnc) {
                match action {
                    Action::Dial { dial, .. } => {
                        self.ringing.insert(dial, self.now);
                        let (after, what) = sim::customer(&mut self.people, &self.spec.day, dial);
                        self.at(self.now + after, Next::Customer(what));
                    }
                    Action::Connect { dial, agent } => {
                        if !matches!(self.desks.get(&agent), Some(Desk::Free { .. })) {
                            // An inbound call took them: as the driver does.
                            self.report.conflicts += 1;
                            self.told.remove(&agent);
                            inputs.push_back(Event::AgentMissed(dial));
                            continue;
                        }
                        self.answered.push((self.now, false));
                        self.desks.insert(agent.clone(), Desk::Outbound);
                        self.told.remove(&agent);
                        let talk = self.talk(self.spec.day.talk);
                        self.talking.insert(dial, (agent, self.now));
                        self.at(self.now + talk, Next::OutTalkEnd(dial));
                        inputs.push_back(Event::AgentAnswered(dial));
                    }
                    Action::Abandon { .. } => self.answered.push((self.now, true)),
                    Action::Cancel { dial } => {
                        self.ringing.remove(&dial);
                    }
                    _ => {}
                }
            }
        }
    }

    fn happen(&mut self, what: Next) {
        let now = self.now;
        let wrap_up = self.spec.day.wrap_up;
        match what {
            Next::Customer(Happening::Answer(dial)) => {
                if self.ringing.remove(&dial).is_some() {
                    self.input(Event::Answered(dial));
                }
            }
            Next::Customer(Happening::Ended(dial, code)) => {
                if self.ringing.remove(&dial).is_some() {
                    let outcome =
                        [Outcome::Busy, Outcome::NoAnswer, Outcome::Failed][code as usize];
                    self.input(Event::DialEnded(dial, outcome));
                }
            }
            Next::Customer(_) => {}
            Next::OutTalkEnd(dial) => {
                let (agent, since) = self.talking.remove(&dial).expect("a connected call");
                self.talk_out += now - since;
                self.desks
                    .insert(agent.clone(), Desk::WrapUp { inbound: false });
                self.input(Event::Hangup(dial));
                self.at(now + wrap_up, Next::WrapEnd(agent));
            }
            Next::Arrive => {
                self.report.inbound_offered += 1;
                self.arrivals.push_back(now);
                self.queue.push_back(now);
                let next = self.inter_arrival();
                self.at(now + next, Next::Arrive);
                self.offer_inbound();
            }
            Next::InTalkEnd(agent) => {
                let Some(Desk::Inbound { since }) = self.desks.get(&agent).copied() else {
                    unreachable!("an inbound talk ends on an inbound desk");
                };
                self.talk_in += now - since;
                self.handled.push_back((now, now - since + wrap_up));
                self.desks
                    .insert(agent.clone(), Desk::WrapUp { inbound: true });
                self.at(now + wrap_up, Next::WrapEnd(agent));
            }
            Next::WrapEnd(agent) => {
                self.desks.insert(agent, Desk::Free { since: now });
                self.offer_inbound();
            }
        }
    }

    /// Waiting callers take the longest-idle free agents, at once.
    fn offer_inbound(&mut self) {
        while let Some(&arrived) = self.queue.front() {
            let free = self
                .desks
                .iter()
                .filter_map(|(a, d)| match d {
                    Desk::Free { since } => Some((*since, a.clone())),
                    _ => None,
                })
                .min();
            let Some((_, agent)) = free else {
                return;
            };
            self.queue.pop_front();
            let waited = self.now - arrived;
            let within = waited <= self.spec.sl_threshold;
            self.report.inbound_answered += 1;
            self.report.inbound_within += u64::from(within);
            self.report.inbound_wait_max = self.report.inbound_wait_max.max(waited);
            self.answers.push_back((self.now, within));
            self.desks
                .insert(agent.clone(), Desk::Inbound { since: self.now });
            if self.told.get(&agent) == Some(&true) {
                self.report.taken_from_campaign += 1;
                self.told.insert(agent.clone(), false);
                self.input(Event::AgentAway(agent.clone()));
            }
            let talk = self.talk(self.spec.inbound_talk);
            self.at(self.now + talk, Next::InTalkEnd(agent));
        }
    }

    /// The queue as the switch's meters give it now.
    fn inbound(&mut self) -> Inbound {
        let from = self.now.saturating_sub(self.spec.window);
        while self.arrivals.front().is_some_and(|t| *t < from) {
            self.arrivals.pop_front();
        }
        while self.handled.front().is_some_and(|(t, _)| *t < from) {
            self.handled.pop_front();
        }
        while self.answers.front().is_some_and(|(t, _)| *t < from) {
            self.answers.pop_front();
        }
        let offered = self.arrivals.len();
        let rate = offered as f64 / self.spec.window.as_secs_f64();
        let handle = (!self.handled.is_empty()).then(|| {
            self.handled.iter().map(|(_, h)| *h).sum::<Duration>() / self.handled.len() as u32
        });
        let (threshold, target) = (self.spec.sl_threshold, self.spec.sl_target);
        let needed = handle
            .and_then(|h| erlang::agents_needed(rate, h, threshold, target))
            .unwrap_or(0)
            .max(u32::from(offered > 0));
        let within = self.answers.iter().filter(|(_, w)| *w).count();
        Inbound {
            queue: "inbound".into(),
            needed,
            busy: self
                .desks
                .values()
                .filter(|d| matches!(d, Desk::Inbound { .. } | Desk::WrapUp { inbound: true }))
                .count() as u32,
            waiting: self.queue.len() as u32,
            service_level: (!self.answers.is_empty())
                .then(|| within as f64 / self.answers.len() as f64),
            target,
            arrivals_per_sec: rate,
        }
    }

    /// The driver's look: which agents the campaign may have. Agents it
    /// has not been given come first, so that the rule withholds them
    /// rather than take back an agent the pacer counts on.
    fn sync(&mut self) {
        let mut free: Vec<(bool, Duration, String)> = self
            .desks
            .iter()
            .filter_map(|(a, d)| match d {
                Desk::Free { since } => Some((self.told.get(a) == Some(&true), *since, a.clone())),
                _ => None,
            })
            .collect();
        free.sort();
        let decision = if self.spec.blend {
            let inbound = self.inbound();
            let free: Vec<(String, Vec<usize>)> =
                free.iter().map(|(_, _, a)| (a.clone(), vec![0])).collect();
            let (decision, changes) = self.blender.decide(self.now, &[inbound], &free);
            self.report.back_offs += changes
                .iter()
                .filter(|c| matches!(c, Change::BackOff { .. }))
                .count() as u64;
            decision
        } else {
            Decision::default()
        };
        let told = (decision.back_off, decision.short, decision.takes_per_sec);
        if told != self.blend_told {
            self.blend_told = told;
            self.input(Event::Blend {
                back_off: decision.back_off,
                short: decision.short,
                takes_per_sec: decision.takes_per_sec,
            });
        }
        let desks: Vec<(String, Desk)> = self.desks.iter().map(|(a, d)| (a.clone(), *d)).collect();
        for (agent, desk) in desks {
            let ready = matches!(desk, Desk::Free { .. }) && !decision.withheld.contains(&agent);
            if self.told.get(&agent) != Some(&ready) {
                if !ready && matches!(desk, Desk::Free { .. }) {
                    self.report.withdrawn += 1;
                }
                self.told.insert(agent.clone(), ready);
                self.input(match ready {
                    true => Event::AgentReady(agent),
                    false => Event::AgentAway(agent),
                });
            }
        }
    }

    fn finish(mut self, end: Duration) -> BlendReport {
        self.talk_out += self
            .talking
            .values()
            .map(|(_, since)| end.saturating_sub(*since))
            .sum::<Duration>();
        self.talk_in += self
            .desks
            .values()
            .filter_map(|d| match d {
                Desk::Inbound { since } => Some(end.saturating_sub(*since)),
                _ => None,
            })
            .sum::<Duration>();
        let day = &self.spec.day;
        let agent_hours = f64::from(day.agents) * day.length.as_secs_f64() / 3_600.0;
        let abandons = self.answered.iter().filter(|(_, a)| *a).count() as u64;
        let c = &self.campaign.counters;
        BlendReport {
            outbound_talk_minutes_per_agent_hour: self.talk_out.as_secs_f64() / 60.0 / agent_hours,
            inbound_talk_minutes_per_agent_hour: self.talk_in.as_secs_f64() / 60.0 / agent_hours,
            dials: c.dials,
            connects: c.connects,
            abandons,
            abandon_day: abandons as f64 / self.answered.len().max(1) as f64,
            abandon_max_hour: sim::max_hour_rate(&self.answered, DAY_START, end),
            ..self.report
        }
    }
}
