//! One campaign as a pure state machine: contacts in, dials, offers,
//! connections and abandons out. The driver places the calls, tells the
//! campaign how each went and what its agents do; the campaign decides whom
//! to dial, when, and which agent takes an answered call.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::Duration;

use super::contact::{Contact, ContactId, ContactState, Outcome, Retry};
use super::dnc::Dnc;
use super::pacing::Measured;
use super::tz::Window;

mod add;
mod answer;
mod predictive;
mod preview;

pub use predictive::RING_MIN;

/// How calls are paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An agent sees the contact first, and it is dialled on accept.
    Preview,
    /// One dial per free agent, who waits for it.
    Progressive,
    /// Dials ahead of the agents from live figures, under `max_abandon`.
    Predictive,
}

impl Mode {
    pub const NAMES: &'static str = "preview, progressive, predictive";

    pub fn from_name(name: &str) -> Option<Mode> {
        Some(match name {
            "preview" => Mode::Preview,
            "progressive" => Mode::Progressive,
            "predictive" => Mode::Predictive,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Preview => "preview",
            Mode::Progressive => "progressive",
            Mode::Predictive => "predictive",
        }
    }
}

/// What a campaign is told to do, from its `[[campaigns]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub mode: Mode,
    pub max_attempts: u32,
    pub retry: Retry,
    pub window: Window,
    /// Answered calls without an agent in `connect_within`, over answered.
    pub max_abandon: f64,
    /// An answered call waits this long for an agent, then hears the
    /// information message and counts as abandoned (2 s by regulation).
    pub connect_within: Duration,
    /// Dials in flight per agent at most, whatever the figures say.
    pub dials_per_agent_max: f64,
    /// A preview offer not accepted or skipped in this long goes back.
    pub preview_timeout: Duration,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            mode: Mode::Progressive,
            max_attempts: 3,
            retry: Retry::default(),
            window: Window::DEFAULT,
            max_abandon: 0.03,
            connect_within: Duration::from_secs(2),
            dials_per_agent_max: 4.0,
            preview_timeout: Duration::from_secs(60),
        }
    }
}

/// A dial the campaign asked for, numbered by the campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialId(pub u64);

/// Inputs. Agent names are the ACD's agent ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Start,
    /// No new dials; calls in progress go on.
    Pause,
    /// As pause, and final.
    Stop,
    /// The agent is free for the campaign (logged in, out of wrap-up, back
    /// from a pause or an inbound call).
    AgentReady(String),
    /// The agent is busy elsewhere (an inbound call, a pause).
    AgentAway(String),
    AgentLeft(String),
    PreviewAccepted(String),
    PreviewSkipped(String),
    /// The customer answered.
    Answered(DialId),
    /// The agent given the answered call answered their phone.
    AgentAnswered(DialId),
    /// The agent given the answered call did not answer or refused it.
    AgentMissed(DialId),
    /// The dial ended unanswered.
    DialEnded(DialId, Outcome),
    /// The answered call ended (either side hung up).
    Hangup(DialId),
    /// Disposition `do-not-call` for a call's number.
    DoNotCall(DialId),
    /// Time passed: due timers fire and the pacer looks again.
    Tick,
    /// What blending with inbound queues asks of the pacer now (see
    /// [`super::blend`]): while `back_off`, no new dial or offer (answered
    /// calls still get the campaign's free agents); `short` agents on the
    /// campaign's calls go to inbound as they free; `takes_per_sec`
    /// inbound callers a second are expected to take agents the campaign
    /// counts on (those arriving when no agent is kept for them).
    Blend {
        back_off: bool,
        short: u32,
        takes_per_sec: f64,
    },
}

/// Outputs, in the order the driver must act on them.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Place a call to `number` (E.164); `agent` is reserved for it.
    Dial {
        dial: DialId,
        contact: ContactId,
        number: String,
        agent: Option<String>,
    },
    /// Preview: show the contact to the agent, who accepts or skips.
    Offer { agent: String, contact: ContactId },
    /// The agent neither accepted nor skipped the offer in time: the
    /// contact went back, and the agent is away for the campaign.
    PreviewExpired { agent: String, contact: ContactId },
    /// Ring the agent for the answered call and bridge the two on their
    /// answer; the driver reports [`Event::AgentAnswered`] or
    /// [`Event::AgentMissed`].
    Connect { dial: DialId, agent: String },
    /// No agent in time: play the information message, hang up, keep the
    /// audit record.
    Abandon { dial: DialId, contact: ContactId },
    /// A contact changed: persist it.
    Contact(ContactId),
    /// Hang up a call still ringing, which has rung at least 15 s: it
    /// ends as no answer (the predictive pacer's way out of an abandon).
    Cancel { dial: DialId },
    /// The DNC gate refused a dial of this contact.
    Blocked(ContactId),
    /// Nothing is left to dial and no call is in progress.
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Idle,
    Running,
    Paused,
    Stopped,
    Finished,
}

#[derive(Clone, Debug, PartialEq)]
enum AgentState {
    Ready { since: Duration },
    Previewing(ContactId),
    Reserved(DialId),
    Talking { dial: DialId, since: Duration },
    WrapUp { since: Duration },
    Away,
}

#[derive(Clone, Debug)]
enum CallState {
    Ringing {
        agent: Option<String>,
    },
    Waiting {
        deadline: Duration,
    },
    /// Given to `agent`, whose phone rings.
    Offered {
        agent: String,
    },
    Connected,
}

#[derive(Clone, Debug)]
struct Call {
    contact: ContactId,
    placed: Duration,
    state: CallState,
    /// Agents who missed this answered call: not offered it again.
    missed: Vec<String>,
}

/// Counters for the campaign's metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub dials: u64,
    pub answers: u64,
    pub connects: u64,
    pub abandons: u64,
    pub blocked: u64,
    /// Ringing calls the pacer hung up (after at least 15 s).
    pub cancels: u64,
    /// Answered calls an agent was rung for and did not answer.
    pub agent_misses: u64,
}

/// How often the predictive pacer looks again when nothing happens.
pub const PACE_EVERY: Duration = Duration::from_secs(1);

pub struct Campaign {
    pub spec: Spec,
    contacts: Vec<Contact>,
    /// Pending contacts due now, in list order.
    due: VecDeque<ContactId>,
    /// Pending contacts due later.
    later: BinaryHeap<Reverse<(Duration, ContactId)>>,
    agents: BTreeMap<String, AgentState>,
    calls: BTreeMap<DialId, Call>,
    next_dial: u64,
    status: Status,
    next_pace: Option<Duration>,
    /// The last [`Event::Blend`]: (back off, agents short for inbound,
    /// inbound takes a second).
    blend: (bool, u32, f64),
    /// Preview offers out, by agent: when each expires.
    offers: BTreeMap<String, Duration>,
    pub measured: Measured,
    pub counters: Counters,
}

impl Campaign {
    /// A campaign over `contacts` as stored: a contact caught dialling or
    /// answered by a crash counts as failed or done, never dialled twice
    /// at once.
    pub fn new(spec: Spec, mut contacts: Vec<Contact>, now: Duration) -> Campaign {
        let mut due = VecDeque::new();
        let mut later = BinaryHeap::new();
        for (i, c) in contacts.iter_mut().enumerate() {
            let id = ContactId(i as u32);
            match c.state {
                ContactState::Dialling | ContactState::Previewing if c.attempts > 0 => {
                    c.dial_ended(Outcome::Failed, now, &spec.retry, spec.max_attempts)
                }
                ContactState::Previewing => c.state = ContactState::New,
                ContactState::Answered => c.state = ContactState::Done,
                _ => {}
            }
            if !c.is_pending() {
                continue;
            }
            match c.next_try {
                Some(t) if t > now => later.push(Reverse((t, id))),
                _ => due.push_back(id),
            }
        }
        Campaign {
            spec,
            contacts,
            due,
            later,
            agents: BTreeMap::new(),
            calls: BTreeMap::new(),
            next_dial: 1,
            status: Status::Idle,
            next_pace: None,
            blend: (false, 0, 0.0),
            offers: BTreeMap::new(),
            measured: Measured::default(),
            counters: Counters::default(),
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn contact(&self, id: ContactId) -> Option<&Contact> {
        self.contacts.get(id.0 as usize)
    }

    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// Contacts not final yet.
    pub fn contacts_left(&self) -> usize {
        self.contacts.iter().filter(|c| !c.state.is_final()).count()
    }

    /// Whether `agent` is spoken for by the campaign: a dial reserved for
    /// them, a contact previewed, or its call.
    pub fn agent_committed(&self, agent: &str) -> bool {
        matches!(
            self.agents.get(agent),
            Some(AgentState::Reserved(_) | AgentState::Previewing(_) | AgentState::Talking { .. })
        )
    }

    /// Calls placed and not answered yet.
    pub fn ringing(&self) -> usize {
        self.calls
            .values()
            .filter(|c| matches!(c.state, CallState::Ringing { .. }))
            .count()
    }

    /// The earliest time the campaign wants a [`Event::Tick`].
    pub fn poll_timeout(&self) -> Option<Duration> {
        let waiting = self.calls.values().filter_map(|c| match c.state {
            CallState::Waiting { deadline } => Some(deadline),
            _ => None,
        });
        let later = self
            .later
            .peek()
            .filter(|_| self.status == Status::Running)
            .map(|Reverse((t, _))| *t);
        let offers = self.offers.values().copied();
        waiting
            .chain(later)
            .chain(self.next_pace)
            .chain(offers)
            .min()
    }

    /// Takes one input at `now` (time since the Unix epoch: calling
    /// windows are wall-clock) and returns what to do.
    pub fn handle(&mut self, now: Duration, event: Event, dnc: &mut Dnc) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start if self.status != Status::Stopped => self.status = Status::Running,
            Event::Start => {}
            Event::Pause if self.status == Status::Running => self.status = Status::Paused,
            Event::Pause => {}
            Event::Stop => self.status = Status::Stopped,
            Event::AgentReady(agent) => self.agent_ready(now, agent, &mut out),
            Event::AgentAway(agent) => self.agent_gone(now, &agent, false, &mut out),
            Event::AgentLeft(agent) => self.agent_gone(now, &agent, true, &mut out),
            Event::PreviewAccepted(agent) => self.preview_accepted(now, agent, dnc, &mut out),
            Event::PreviewSkipped(agent) => self.preview_skipped(now, agent, &mut out),
            Event::Answered(dial) => self.answered(now, dial, &mut out),
            Event::AgentAnswered(dial) => self.agent_answered(now, dial),
            Event::AgentMissed(dial) => self.agent_missed(now, dial, &mut out),
            Event::DialEnded(dial, outcome) => self.dial_ended(now, dial, outcome, &mut out),
            Event::Hangup(dial) => self.hangup(now, dial, &mut out),
            Event::DoNotCall(dial) => self.do_not_call(dial, dnc, &mut out),
            Event::Tick => {
                self.expire_waiting(now, &mut out);
                self.expire_previews(now, &mut out);
            }
            Event::Blend {
                back_off,
                short,
                takes_per_sec,
            } => self.blend = (back_off, short, takes_per_sec),
        }
        self.pace(now, dnc, &mut out);
        out
    }

    fn agent_ready(&mut self, now: Duration, agent: String, out: &mut Vec<Action>) {
        if let Some(AgentState::WrapUp { since }) = self.agents.get(&agent) {
            self.measured
                .wrap_up
                .add(now.saturating_sub(*since).as_secs_f64());
        }
        match self.agents.get(&agent) {
            // Already working for the campaign: nothing changes.
            Some(
                AgentState::Previewing(_) | AgentState::Reserved(_) | AgentState::Ready { .. },
            ) => return,
            Some(AgentState::Talking { dial, .. }) if self.calls.contains_key(dial) => return,
            _ => {}
        }
        self.agents
            .insert(agent.clone(), AgentState::Ready { since: now });
        // An answered call waiting for an agent goes first, oldest first,
        // unless this agent missed it.
        let waiting = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.state, CallState::Waiting { .. }))
            .filter(|(_, c)| !c.missed.contains(&agent))
            .map(|(d, _)| *d)
            .next();
        if let Some(dial) = waiting {
            self.connect(now, dial, agent, out);
        }
    }

    fn agent_gone(&mut self, now: Duration, agent: &str, left: bool, out: &mut Vec<Action>) {
        let state = if left {
            self.agents.remove(agent)
        } else {
            self.agents.insert(agent.to_owned(), AgentState::Away)
        };
        self.offers.remove(agent);
        match state {
            Some(AgentState::Previewing(contact)) => self.unpreview(contact, out),
            Some(AgentState::Reserved(dial)) => {
                if let Some(Call {
                    state: CallState::Ringing { agent },
                    ..
                }) = self.calls.get_mut(&dial)
                {
                    *agent = None;
                }
            }
            Some(AgentState::Talking { dial, since }) if self.calls.contains_key(&dial) => {
                // Still on the campaign's call: it stays theirs.
                self.agents
                    .insert(agent.to_owned(), AgentState::Talking { dial, since });
            }
            // Wrapping up the campaign's call: away, but measured on return.
            Some(AgentState::WrapUp { since }) if !left => {
                self.agents
                    .insert(agent.to_owned(), AgentState::WrapUp { since });
            }
            _ => {}
        }
        let _ = now;
    }

    fn dial_ended(&mut self, now: Duration, dial: DialId, outcome: Outcome, out: &mut Vec<Action>) {
        let Some(call) = self.calls.get(&dial) else {
            return;
        };
        let CallState::Ringing { agent } = &call.state else {
            // Ended after the answer: a hang-up.
            return self.hangup(now, dial, out);
        };
        if let Some(agent) = agent {
            if self.agents.get(agent) == Some(&AgentState::Reserved(dial)) {
                self.agents
                    .insert(agent.clone(), AgentState::Ready { since: now });
            }
        }
        let contact = call.contact;
        self.calls.remove(&dial);
        self.measured.answer_rate.add(0.0);
        let c = &mut self.contacts[contact.0 as usize];
        c.dial_ended(outcome, now, &self.spec.retry, self.spec.max_attempts);
        if let Some(t) = c.next_try.filter(|_| c.is_pending()) {
            self.later.push(Reverse((t, contact)));
        }
        out.push(Action::Contact(contact));
    }

    fn do_not_call(&mut self, dial: DialId, dnc: &mut Dnc, out: &mut Vec<Action>) {
        let contact = match self.calls.get(&dial) {
            Some(call) => call.contact,
            None => return,
        };
        let c = &mut self.contacts[contact.0 as usize];
        dnc.add(&c.number);
        c.state = ContactState::DoNotCall;
        c.next_try = None;
        out.push(Action::Contact(contact));
    }

    /// The contact `dial` is calling, while the campaign follows the call.
    pub fn dial_contact(&self, dial: DialId) -> Option<ContactId> {
        self.calls.get(&dial).map(|c| c.contact)
    }

    /// A `do-not-call` disposition after the call: the contact is final
    /// and its number listed; the number, for the driver to store.
    pub fn list_do_not_call(&mut self, contact: ContactId, dnc: &mut Dnc) -> Option<String> {
        let c = self.contacts.get_mut(contact.0 as usize)?;
        dnc.add(&c.number);
        c.state = ContactState::DoNotCall;
        c.next_try = None;
        Some(c.number.clone())
    }

    /// Places the dials and offers the mode calls for now.
    fn pace(&mut self, now: Duration, dnc: &mut Dnc, out: &mut Vec<Action>) {
        while let Some(&Reverse((t, id))) = self.later.peek() {
            if t > now {
                break;
            }
            self.later.pop();
            self.due.push_back(id);
        }
        if self.status != Status::Running {
            self.next_pace = None;
            return;
        }
        // Backing off for inbound: no new dial or offer; the predictive
        // pacer still hangs up late calls likely to find no agent.
        match (self.spec.mode, self.blend.0) {
            (Mode::Predictive, _) => self.pace_predictive(now, dnc, out),
            (_, true) => {}
            (Mode::Preview, false) => self.pace_preview(now, out),
            (Mode::Progressive, false) => self.pace_progressive(now, dnc, out),
        }
        self.next_pace = (self.spec.mode == Mode::Predictive).then_some(now + PACE_EVERY);
        if self.calls.is_empty() && self.due.is_empty() && self.later.is_empty() {
            let previewing = self
                .agents
                .values()
                .any(|s| matches!(s, AgentState::Previewing(_)));
            if !previewing {
                self.status = Status::Finished;
                self.next_pace = None;
                out.push(Action::Finished);
            }
        }
    }

    fn ready_agents(&self) -> Vec<String> {
        let mut ready: Vec<(Duration, &String)> = self
            .agents
            .iter()
            .filter_map(|(a, s)| match s {
                AgentState::Ready { since } => Some((*since, a)),
                _ => None,
            })
            .collect();
        ready.sort();
        ready.into_iter().map(|(_, a)| a.clone()).collect()
    }

    fn pace_progressive(&mut self, now: Duration, dnc: &mut Dnc, out: &mut Vec<Action>) {
        for agent in self.ready_agents() {
            while let Some(contact) = self.next_contact(now) {
                if self.dial(now, contact, Some(agent.clone()), dnc, out) {
                    break;
                }
            }
        }
    }

    /// The next contact due now and inside its calling window; those out of
    /// their window wait for its opening.
    fn next_contact(&mut self, now: Duration) -> Option<ContactId> {
        while let Some(id) = self.due.pop_front() {
            let c = &mut self.contacts[id.0 as usize];
            if !c.is_pending() {
                continue;
            }
            if let Some(wait) = self.spec.window.wait(c.zone, now) {
                c.next_try = Some(now + wait);
                self.later.push(Reverse((now + wait, id)));
                continue;
            }
            return Some(id);
        }
        None
    }

    /// Dials `contact` unless the DNC gate stops it; true when dialled.
    fn dial(
        &mut self,
        now: Duration,
        contact: ContactId,
        agent: Option<String>,
        dnc: &mut Dnc,
        out: &mut Vec<Action>,
    ) -> bool {
        let c = &mut self.contacts[contact.0 as usize];
        if dnc.blocks(&c.number) {
            c.state = ContactState::DoNotCall;
            c.next_try = None;
            self.counters.blocked += 1;
            out.push(Action::Blocked(contact));
            out.push(Action::Contact(contact));
            return false;
        }
        c.state = ContactState::Dialling;
        c.attempts += 1;
        c.next_try = None;
        let dial = DialId(self.next_dial);
        self.next_dial += 1;
        self.counters.dials += 1;
        if let Some(a) = &agent {
            self.agents.insert(a.clone(), AgentState::Reserved(dial));
        }
        self.calls.insert(
            dial,
            Call {
                contact,
                placed: now,
                state: CallState::Ringing {
                    agent: agent.clone(),
                },
                missed: Vec::new(),
            },
        );
        out.push(Action::Contact(contact));
        out.push(Action::Dial {
            dial,
            contact,
            number: c.number.clone(),
            agent,
        });
        true
    }
}
