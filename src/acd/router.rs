//! The router core: free agents indexed per (queue, tier) in the order of the
//! queue's strategy, waiting calls per (queue, tier) in (priority, arrival)
//! order, so each routing decision is a few B-tree operations, not a scan.
//!
//! A queue's *tiers* are its base requirement (tier 0) and its relaxation
//! steps (tier k after `relax[k-1].after`). Which tiers an agent meets in a
//! queue is computed once, at login; a relaxation step firing only moves the
//! call to the next tier's waiting set.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::RngCore;

use super::spec::{
    compile_agent_skills, compile_requirement, validate_queue, Profile, Requirement, SkillId,
    SkillTable,
};
use super::{
    AcdError, AgentId, AgentSpec, CallId, Overflow, OverflowTarget, PauseReason, QueueId,
    QueueSpec, ServiceLevel, Strategy, WhenNoAgents, ACTIONS_MAX, AGENTS_MAX, CALLS_MAX,
    HANDLE_TIMES_MAX, OVERFLOW_HOPS_MAX, QUEUES_MAX, RING_ALL_OFFERS_MAX, SKILL_LEVEL_MAX,
};

/// An event for the router, from the call engine, the phones or the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The dialplan sent a caller to a queue. Higher `priority` is served first.
    CallArrived {
        call: CallId,
        queue: QueueId,
        priority: u8,
        attributes: Vec<(String, String)>,
    },
    /// The caller hung up before an agent answered.
    CallAbandoned {
        call: CallId,
    },
    OfferAnswered {
        call: CallId,
        agent: AgentId,
    },
    /// The agent's phone refused or did not answer the offer.
    OfferRejected {
        call: CallId,
        agent: AgentId,
        reason: RejectReason,
    },
    /// The connected call ended; the agent goes to wrap-up.
    CallEnded {
        call: CallId,
    },
    /// `None`: every queue the agent qualifies for.
    AgentLogin {
        agent: AgentId,
        queue: Option<QueueId>,
    },
    /// `None`: every queue.
    AgentLogout {
        agent: AgentId,
        queue: Option<QueueId>,
    },
    AgentPause {
        agent: AgentId,
        reason: PauseReason,
    },
    AgentResume {
        agent: AgentId,
    },
    /// The agent's phone registered; only registered agents are offered calls.
    AgentRegistered {
        agent: AgentId,
    },
    AgentUnregistered {
        agent: AgentId,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    Busy,
    NoAnswer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    NoAgentsLoggedIn,
}

/// What the call engine must do, or what metrics should record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ring `agent` for `call`; report the outcome before `ring_timeout`.
    Offer {
        call: CallId,
        agent: AgentId,
        ring_timeout: Duration,
    },
    /// Stop ringing `agent`: another agent won, the caller left, or it timed out.
    WithdrawOffer {
        call: CallId,
        agent: AgentId,
    },
    /// The call left its queue. `Queue(q)`: the router now queues it in `q`.
    /// `Busy`: the router forgot it; the engine answers busy.
    Overflow {
        call: CallId,
        target: OverflowTarget,
    },
    /// The call was not queued; the router forgot it.
    Refuse {
        call: CallId,
        reason: RefuseReason,
    },
    Event(Event),
}

/// Facts for metrics and the wallboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    CallAnswered {
        call: CallId,
        queue: QueueId,
        agent: AgentId,
        waited: Duration,
    },
    CallAbandoned {
        call: CallId,
        queue: QueueId,
        waited: Duration,
    },
    AgentPaused {
        agent: AgentId,
        reason: PauseReason,
    },
}

/// Counters of one queue since the router started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub arrived: u64,
    pub answered: u64,
    pub answered_within_threshold: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub refused: u64,
    /// Summed over answered calls, from entering this queue.
    pub wait_total: Duration,
}

impl QueueStats {
    /// Answered within the threshold over answered plus abandoned.
    pub fn service_level(&self) -> Option<f64> {
        let handled = self.answered + self.abandoned;
        (handled > 0).then(|| self.answered_within_threshold as f64 / handled as f64)
    }

    pub fn average_wait(&self) -> Option<Duration> {
        let n = u32::try_from(self.answered).ok().filter(|&n| n > 0)?;
        Some(self.wait_total / n)
    }
}

/// A copy of the queue figures, for a driver to publish to readers.
#[derive(Clone, Debug, PartialEq)]
pub struct RouterSnapshot {
    pub queues: Vec<QueueSnapshot>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueueSnapshot {
    pub queue: QueueId,
    pub stats: QueueStats,
    pub waiting: usize,
    pub free_agents: usize,
    pub staffed: u32,
    pub expected_wait: Option<Duration>,
}

/// Where an agent is in its day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentState {
    LoggedOut,
    Available,
    /// Being offered `call`.
    Reserved(CallId),
    OnCall(CallId),
    /// Wrap-up ends at the instant.
    WrapUp(Instant),
    Paused(PauseReason),
}

/// Where a call is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    Waiting,
    Offered {
        agents: Vec<AgentId>,
        deadline: Instant,
    },
    Connected {
        agent: AgentId,
        answered: Instant,
    },
}

/// Call ids come from the call engine, not from peers, so a multiplicative
/// hash (as FxHash) is safe here and much cheaper than SipHash.
#[derive(Default, Clone, Copy)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type CallMap = HashMap<CallId, Call, BuildHasherDefault<IdHasher>>;

/// Free-agent key: (strategy key, tie-break, agent), smallest first.
pub(super) type FreeKey = (u64, u64, AgentId);
/// Waiting-call key: highest priority, then earliest arrival, then sequence.
pub(super) type WaitKey = (Reverse<u8>, u64, u64, CallId);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    Ring(CallId),
    MaxWait(CallId),
    Relax(CallId),
    WrapUp(AgentId),
}

/// Tiers: the base requirement plus at most `RELAX_STEPS_MAX` steps.
pub(super) const TIERS_MAX: usize = super::RELAX_STEPS_MAX + 1;

#[derive(Clone, Debug)]
pub(super) struct Membership {
    pub queue: QueueId,
    /// Bit t: the agent meets tier t.
    pub tiers: u8,
    /// Proficiency per tier, for the most-skilled strategy.
    pub levels: [u8; TIERS_MAX],
}

pub(super) struct Agent {
    pub name: String,
    pub skills: Vec<(SkillId, u8)>,
    pub attributes: Vec<(String, String)>,
    pub max_no_answer: u32,
    pub state: AgentState,
    pub registered: bool,
    pub memberships: Vec<Membership>,
    /// Fields of the strategy keys: change only while not indexed.
    pub idle_since: Instant,
    pub calls_today: u32,
    pub talk_time: Duration,
    pub free_tag: u64,
    pub misses: u32,
    pub pending_pause: Option<PauseReason>,
    /// In the free sets of its memberships.
    pub indexed: bool,
}

pub(super) struct Queue {
    pub name: String,
    pub tiers: Vec<Requirement>,
    /// Wait after which tier t applies; `relax_after[0]` is zero.
    pub relax_after: Vec<Duration>,
    pub strategy: Strategy,
    pub ring_timeout: Duration,
    pub wrap_up: Duration,
    pub max_length: usize,
    pub max_wait: Option<Duration>,
    pub overflow: OverflowTarget,
    pub when_no_agents: WhenNoAgents,
    pub service_level: ServiceLevel,
    pub free: Vec<BTreeSet<FreeKey>>,
    pub waiting: Vec<BTreeSet<WaitKey>>,
    pub waiting_len: usize,
    pub logged_in: u32,
    /// Logged in and not paused.
    pub staffed: u32,
    pub rr_last: Option<AgentId>,
    pub stats: QueueStats,
    pub handle_times: VecDeque<Duration>,
    pub handle_total: Duration,
}

pub(super) struct Call {
    pub queue: QueueId,
    pub priority: u8,
    pub attributes: Vec<(String, String)>,
    pub arrived: Instant,
    /// When it entered its current queue (arrival or overflow).
    pub entered: Instant,
    pub seq: u64,
    pub tier: u8,
    pub hops: u8,
    pub state: CallState,
    pub max_wait_at: Option<Instant>,
    pub relax_at: Option<Instant>,
}

/// The skill-based router. See the module doc.
pub struct Router {
    pub(super) epoch: Instant,
    pub(super) last_now: Instant,
    rng: StdRng,
    pub(super) agents: Vec<Agent>,
    pub(super) queues: Vec<Queue>,
    pub(super) calls: CallMap,
    agent_names: HashMap<String, AgentId>,
    queue_names: HashMap<String, QueueId>,
    pub(super) timers: BTreeSet<(Instant, Timer)>,
    pub(super) actions: VecDeque<Action>,
    seq: u64,
}

impl Router {
    /// Builds the router; every agent starts logged out and unregistered.
    pub fn new(
        now: Instant,
        agents: &[AgentSpec],
        queues: &[QueueSpec],
        rng: StdRng,
    ) -> Result<Router, AcdError> {
        if agents.len() > AGENTS_MAX {
            return Err(AcdError::TooManyAgents { max: AGENTS_MAX });
        }
        if queues.len() > QUEUES_MAX {
            return Err(AcdError::TooManyQueues { max: QUEUES_MAX });
        }
        let mut skills = SkillTable::default();
        let mut agent_names = HashMap::with_capacity(agents.len());
        let mut agent_table = Vec::with_capacity(agents.len());
        for (i, spec) in agents.iter().enumerate() {
            if agent_names
                .insert(spec.name.clone(), AgentId(i as u32))
                .is_some()
            {
                return Err(AcdError::DuplicateAgentName(spec.name.clone()));
            }
            agent_table.push(Agent {
                name: spec.name.clone(),
                skills: compile_agent_skills(spec, &mut skills)?,
                attributes: spec.attributes.clone(),
                max_no_answer: spec.max_no_answer,
                state: AgentState::LoggedOut,
                registered: false,
                memberships: Vec::new(),
                idle_since: now,
                calls_today: 0,
                talk_time: Duration::ZERO,
                free_tag: 0,
                misses: 0,
                pending_pause: None,
                indexed: false,
            });
        }
        let mut queue_names = HashMap::with_capacity(queues.len());
        for (i, spec) in queues.iter().enumerate() {
            if queue_names
                .insert(spec.name.clone(), QueueId(i as u16))
                .is_some()
            {
                return Err(AcdError::DuplicateQueueName(spec.name.clone()));
            }
        }
        let mut queue_table = Vec::with_capacity(queues.len());
        for spec in queues {
            validate_queue(spec)?;
            let overflow = match &spec.overflow {
                Overflow::Busy => OverflowTarget::Busy,
                Overflow::Queue(target) => match queue_names.get(target) {
                    Some(&q) => OverflowTarget::Queue(q),
                    None => {
                        return Err(AcdError::UnknownOverflowQueue {
                            queue: spec.name.clone(),
                            target: target.clone(),
                        })
                    }
                },
            };
            let mut tiers = vec![compile_requirement(
                &spec.name,
                &spec.requires,
                &mut skills,
            )?];
            let mut relax_after = vec![Duration::ZERO];
            for step in &spec.relax {
                tiers.push(compile_requirement(
                    &spec.name,
                    &step.requires,
                    &mut skills,
                )?);
                relax_after.push(step.after);
            }
            let n = tiers.len();
            queue_table.push(Queue {
                name: spec.name.clone(),
                tiers,
                relax_after,
                strategy: spec.strategy,
                ring_timeout: spec.ring_timeout,
                wrap_up: spec.wrap_up,
                max_length: spec.max_length,
                max_wait: spec.max_wait,
                overflow,
                when_no_agents: spec.when_no_agents,
                service_level: spec.service_level,
                free: vec![BTreeSet::new(); n],
                waiting: vec![BTreeSet::new(); n],
                waiting_len: 0,
                logged_in: 0,
                staffed: 0,
                rr_last: None,
                stats: QueueStats::default(),
                handle_times: VecDeque::with_capacity(HANDLE_TIMES_MAX),
                handle_total: Duration::ZERO,
            });
        }
        Ok(Router {
            epoch: now,
            last_now: now,
            rng,
            agents: agent_table,
            queues: queue_table,
            calls: CallMap::default(),
            agent_names,
            queue_names,
            timers: BTreeSet::new(),
            actions: VecDeque::new(),
            seq: 0,
        })
    }

    /// Feeds one input. An error leaves the router as it was.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), AcdError> {
        if self.actions.len() >= ACTIONS_MAX {
            return Err(AcdError::ActionBacklogFull { max: ACTIONS_MAX });
        }
        let now = self.clock(now);
        match input {
            Input::CallArrived {
                call,
                queue,
                priority,
                attributes,
            } => self.call_arrived(now, call, queue, priority, attributes),
            Input::CallAbandoned { call } => self.call_abandoned(now, call),
            Input::OfferAnswered { call, agent } => self.offer_answered(now, call, agent),
            Input::OfferRejected {
                call,
                agent,
                reason: _,
            } => self.offer_rejected(now, call, agent),
            Input::CallEnded { call } => self.call_ended(now, call),
            Input::AgentLogin { agent, queue } => self.agent_login(now, agent, queue),
            Input::AgentLogout { agent, queue } => self.agent_logout(now, agent, queue),
            Input::AgentPause { agent, reason } => self.agent_pause(now, agent, reason),
            Input::AgentResume { agent } => self.agent_resume(now, agent),
            Input::AgentRegistered { agent } => self.agent_registration(now, agent, true),
            Input::AgentUnregistered { agent } => self.agent_registration(now, agent, false),
        }
    }

    /// The next action, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest deadline: ring timeout, wrap-up end, max wait or relaxation step.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// Fires every deadline at or before `now`, each at its own instant.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let at = self.clock(at);
            self.fire(at, timer);
        }
        self.clock(now);
    }

    pub fn agent_id(&self, name: &str) -> Option<AgentId> {
        self.agent_names.get(name).copied()
    }

    pub fn queue_id(&self, name: &str) -> Option<QueueId> {
        self.queue_names.get(name).copied()
    }

    pub fn agent_name(&self, agent: AgentId) -> Option<&str> {
        self.agents.get(agent.0 as usize).map(|a| a.name.as_str())
    }

    pub fn queue_name(&self, queue: QueueId) -> Option<&str> {
        self.queues.get(queue.0 as usize).map(|q| q.name.as_str())
    }

    pub fn agent_state(&self, agent: AgentId) -> Option<AgentState> {
        self.agents.get(agent.0 as usize).map(|a| a.state)
    }

    pub fn call_state(&self, call: CallId) -> Option<&CallState> {
        self.calls.get(&call).map(|c| &c.state)
    }

    /// The queue a call is in and the attributes the dialplan gave it.
    pub fn call_queue(&self, call: CallId) -> Option<(QueueId, &[(String, String)])> {
        self.calls
            .get(&call)
            .map(|c| (c.queue, c.attributes.as_slice()))
    }

    pub fn queue_stats(&self, queue: QueueId) -> Option<&QueueStats> {
        self.queues.get(queue.0 as usize).map(|q| &q.stats)
    }

    /// Calls waiting in the queue (not being offered).
    pub fn waiting(&self, queue: QueueId) -> usize {
        self.queues
            .get(queue.0 as usize)
            .map_or(0, |q| q.waiting_len)
    }

    /// Calls the router tracks: waiting, offered or connected.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// 1-based place of a waiting call among its queue's waiting calls.
    /// Linear in the queue's length: for announcements, not the hot path.
    pub fn position(&self, call: CallId) -> Option<usize> {
        let c = self.calls.get(&call)?;
        if c.state != CallState::Waiting {
            return None;
        }
        let key = self.wait_key(call, c);
        let q = &self.queues[c.queue.0 as usize];
        Some(
            1 + q
                .waiting
                .iter()
                .map(|w| w.range(..key).count())
                .sum::<usize>(),
        )
    }

    /// Expected wait of the caller at `position` (1-based) in `queue`:
    /// callers ahead of it beyond the free agents, times the average recent
    /// handle time, shared by the staffed agents. `None` with no agent
    /// staffed or no handled call yet.
    pub fn expected_wait(&self, queue: QueueId, position: usize) -> Option<Duration> {
        let q = self.queues.get(queue.0 as usize)?;
        if position <= q.free[0].len() {
            return Some(Duration::ZERO);
        }
        if q.staffed == 0 || q.handle_times.is_empty() {
            return None;
        }
        let aht = q.handle_total / q.handle_times.len() as u32;
        let ahead = u32::try_from(position - q.free[0].len()).unwrap_or(u32::MAX);
        Some(aht.saturating_mul(ahead) / q.staffed)
    }

    pub fn snapshot(&self) -> RouterSnapshot {
        let queues = self
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| QueueSnapshot {
                queue: QueueId(i as u16),
                stats: q.stats,
                waiting: q.waiting_len,
                free_agents: q.free[0].len(),
                staffed: q.staffed,
                expected_wait: self.expected_wait(QueueId(i as u16), q.waiting_len + 1),
            })
            .collect();
        RouterSnapshot { queues }
    }

    /// Time only moves forward: an earlier `now` counts as the last one seen.
    fn clock(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn agent(&self, agent: AgentId) -> Result<&Agent, AcdError> {
        self.agents
            .get(agent.0 as usize)
            .ok_or(AcdError::UnknownAgent(agent))
    }

    fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn wait_key(&self, id: CallId, c: &Call) -> WaitKey {
        (Reverse(c.priority), self.ns(c.arrived), c.seq, id)
    }

    pub(super) fn free_key(&self, a: AgentId, strategy: Strategy, level: u8) -> FreeKey {
        let ag = &self.agents[a.0 as usize];
        let idle = self.ns(ag.idle_since);
        match strategy {
            Strategy::LongestIdle | Strategy::RingAll => (idle, 0, a),
            Strategy::MostSkilled => (
                u64::from(SKILL_LEVEL_MAX - level.min(SKILL_LEVEL_MAX)),
                idle,
                a,
            ),
            Strategy::RoundRobin => (u64::from(a.0), 0, a),
            Strategy::FewestCalls => (u64::from(ag.calls_today), idle, a),
            Strategy::LeastTalkTime => (
                u64::try_from(ag.talk_time.as_nanos()).unwrap_or(u64::MAX),
                idle,
                a,
            ),
            Strategy::Random => (ag.free_tag, 0, a),
        }
    }

    fn call_arrived(
        &mut self,
        now: Instant,
        id: CallId,
        queue: QueueId,
        priority: u8,
        attributes: Vec<(String, String)>,
    ) -> Result<(), AcdError> {
        if queue.0 as usize >= self.queues.len() {
            return Err(AcdError::UnknownQueue(queue));
        }
        if self.calls.contains_key(&id) {
            return Err(AcdError::DuplicateCall(id));
        }
        if self.calls.len() >= CALLS_MAX {
            return Err(AcdError::TooManyCalls { max: CALLS_MAX });
        }
        self.seq += 1;
        self.calls.insert(
            id,
            Call {
                queue,
                priority,
                attributes,
                arrived: now,
                entered: now,
                seq: self.seq,
                tier: 0,
                hops: 0,
                state: CallState::Waiting,
                max_wait_at: None,
                relax_at: None,
            },
        );
        self.enqueue(now, id, queue);
        Ok(())
    }

    /// Puts a call (arrived or overflowed, in no waiting set) into `queue`.
    fn enqueue(&mut self, now: Instant, id: CallId, queue: QueueId) {
        let q = &mut self.queues[queue.0 as usize];
        q.stats.arrived += 1;
        if q.logged_in == 0 && q.when_no_agents == WhenNoAgents::Refuse {
            q.stats.refused += 1;
            self.calls.remove(&id);
            self.actions.push_back(Action::Refuse {
                call: id,
                reason: RefuseReason::NoAgentsLoggedIn,
            });
            return;
        }
        let max_wait_at = q.max_wait.map(|w| now + w);
        let relax_at = q.relax_after.get(1).map(|&after| now + after);
        let c = self.calls.get_mut(&id).expect("enqueued call is tracked");
        c.queue = queue;
        c.entered = now;
        c.tier = 0;
        c.state = CallState::Waiting;
        c.max_wait_at = max_wait_at;
        c.relax_at = relax_at;
        if let Some(at) = max_wait_at {
            self.timers.insert((at, Timer::MaxWait(id)));
        }
        if let Some(at) = relax_at {
            self.timers.insert((at, Timer::Relax(id)));
        }
        self.route_call(now, id);
        let q = &self.queues[queue.0 as usize];
        if q.waiting_len > q.max_length && self.calls[&id].state == CallState::Waiting {
            self.remove_waiting(id);
            self.overflow(now, id);
        }
    }

    fn insert_waiting(&mut self, id: CallId) {
        let c = &self.calls[&id];
        let key = self.wait_key(id, c);
        let q = &mut self.queues[c.queue.0 as usize];
        q.waiting[c.tier as usize].insert(key);
        q.waiting_len += 1;
    }

    fn remove_waiting(&mut self, id: CallId) {
        let c = &self.calls[&id];
        let key = self.wait_key(id, c);
        let q = &mut self.queues[c.queue.0 as usize];
        let removed = q.waiting[c.tier as usize].remove(&key);
        debug_assert!(removed, "a waiting call is in its tier's waiting set");
        q.waiting_len -= 1;
    }

    /// Sends a call (in no waiting set) to its queue's overflow target.
    fn overflow(&mut self, now: Instant, id: CallId) {
        let c = self
            .calls
            .get_mut(&id)
            .expect("overflowing call is tracked");
        let q = &mut self.queues[c.queue.0 as usize];
        q.stats.overflowed += 1;
        let target = if c.hops >= OVERFLOW_HOPS_MAX {
            OverflowTarget::Busy
        } else {
            q.overflow
        };
        c.hops += 1;
        self.clear_call_timers(id);
        self.actions
            .push_back(Action::Overflow { call: id, target });
        match target {
            OverflowTarget::Busy => {
                self.calls.remove(&id);
            }
            OverflowTarget::Queue(next) => self.enqueue(now, id, next),
        }
    }

    fn clear_call_timers(&mut self, id: CallId) {
        let c = &self.calls[&id];
        if let Some(at) = c.max_wait_at {
            self.timers.remove(&(at, Timer::MaxWait(id)));
        }
        if let Some(at) = c.relax_at {
            self.timers.remove(&(at, Timer::Relax(id)));
        }
        if let CallState::Offered { deadline, .. } = c.state {
            self.timers.remove(&(deadline, Timer::Ring(id)));
        }
    }

    /// Offers a waiting call to the best free agent(s) of its queue and tier.
    /// A call in no waiting set goes straight to free agents if there are
    /// any (then no older call of its tier waits: see `check_invariants`),
    /// else into its tier's waiting set.
    fn route_call(&mut self, now: Instant, id: CallId) {
        let c = &self.calls[&id];
        let q = &self.queues[c.queue.0 as usize];
        let free = &q.free[c.tier as usize];
        let agents: Vec<AgentId> = match q.strategy {
            Strategy::RingAll => free.iter().take(RING_ALL_OFFERS_MAX).map(|k| k.2).collect(),
            Strategy::RoundRobin => {
                let after = q.rr_last.map_or(0, |a| u64::from(a.0) + 1);
                let next = free
                    .range((after, 0, AgentId(0))..)
                    .next()
                    .or_else(|| free.first());
                next.map(|k| k.2).into_iter().collect()
            }
            _ => free.first().map(|k| k.2).into_iter().collect(),
        };
        if agents.is_empty() {
            self.insert_waiting(id);
            return;
        }
        self.offer(now, id, agents);
    }

    /// Offers a call in no waiting set to agents that are free.
    fn offer(&mut self, now: Instant, id: CallId, agents: Vec<AgentId>) {
        let c = self.calls.get_mut(&id).expect("offered call is tracked");
        let q = &mut self.queues[c.queue.0 as usize];
        let deadline = now + q.ring_timeout;
        let ring_timeout = q.ring_timeout;
        if q.strategy == Strategy::RoundRobin {
            q.rr_last = agents.last().copied();
        }
        for &agent in &agents {
            self.actions.push_back(Action::Offer {
                call: id,
                agent,
                ring_timeout,
            });
        }
        // Ring-all alone offers to several agents; the one-agent case
        // keeps its single allocation.
        let reserve = if agents.len() == 1 {
            vec![]
        } else {
            agents.clone()
        };
        let first = agents[0];
        c.state = CallState::Offered { agents, deadline };
        self.timers.insert((deadline, Timer::Ring(id)));
        self.set_state(now, first, AgentState::Reserved(id));
        for agent in reserve.into_iter().skip(1) {
            self.set_state(now, agent, AgentState::Reserved(id));
        }
    }

    /// An agent just entered the free sets: it takes the best waiting call of
    /// its queues, highest priority first, then longest wait.
    fn assign_free_agent(&mut self, now: Instant, a: AgentId) {
        let ag = &self.agents[a.0 as usize];
        let mut best: Option<WaitKey> = None;
        for m in &ag.memberships {
            let q = &self.queues[m.queue.0 as usize];
            for (t, waiting) in q.waiting.iter().enumerate() {
                if m.tiers & (1 << t) == 0 {
                    continue;
                }
                if let Some(head) = waiting.first() {
                    if best.as_ref().is_none_or(|b| head < b) {
                        best = Some(*head);
                    }
                }
            }
        }
        let Some((_, _, _, id)) = best else { return };
        self.remove_waiting(id);
        self.offer(now, id, vec![a]);
    }

    /// Changes an agent's state, keeping staffed counts and free sets right;
    /// an agent that becomes free takes a waiting call at once.
    fn set_state(&mut self, now: Instant, a: AgentId, state: AgentState) {
        let ag = &mut self.agents[a.0 as usize];
        // Free or paused in no queue is logged out (e.g. logged out of
        // everything during a call, once wrap-up ends).
        let idle = matches!(state, AgentState::Available | AgentState::Paused(_));
        let state = if idle && ag.memberships.is_empty() {
            ag.pending_pause = None;
            AgentState::LoggedOut
        } else {
            state
        };
        let staffed = |s: AgentState| !matches!(s, AgentState::Paused(_) | AgentState::LoggedOut);
        let (was, is) = (staffed(ag.state), staffed(state));
        if was != is {
            for m in &ag.memberships {
                let q = &mut self.queues[m.queue.0 as usize];
                if is {
                    q.staffed += 1;
                } else {
                    q.staffed -= 1;
                }
            }
        }
        ag.state = state;
        self.sync_index(now, a);
    }

    fn sync_index(&mut self, now: Instant, a: AgentId) {
        let ag = &self.agents[a.0 as usize];
        let should =
            ag.state == AgentState::Available && ag.registered && !ag.memberships.is_empty();
        if ag.indexed && !should {
            self.unindex(a);
        } else if !ag.indexed && should {
            self.agents[a.0 as usize].free_tag = self.rng.next_u64();
            self.index(a, true);
            self.assign_free_agent(now, a);
        }
    }

    fn index(&mut self, a: AgentId, insert: bool) {
        let ag = &self.agents[a.0 as usize];
        for m in &ag.memberships {
            let strategy = self.queues[m.queue.0 as usize].strategy;
            for t in 0..TIERS_MAX {
                if m.tiers & (1 << t) == 0 {
                    continue;
                }
                let key = self.free_key(a, strategy, m.levels[t]);
                let free = &mut self.queues[m.queue.0 as usize].free[t];
                let changed = if insert {
                    free.insert(key)
                } else {
                    free.remove(&key)
                };
                debug_assert!(changed, "free set and agent index flag agree");
            }
        }
        self.agents[a.0 as usize].indexed = insert;
    }

    fn unindex(&mut self, a: AgentId) {
        if self.agents[a.0 as usize].indexed {
            self.index(a, false);
        }
    }

    fn call_abandoned(&mut self, now: Instant, id: CallId) -> Result<(), AcdError> {
        let c = self.calls.get(&id).ok_or(AcdError::UnknownCall(id))?;
        let waited = now.saturating_duration_since(c.entered);
        let queue = c.queue;
        match &c.state {
            CallState::Connected { .. } => return Err(AcdError::CallAlreadyConnected(id)),
            CallState::Waiting => self.remove_waiting(id),
            CallState::Offered { .. } => {}
        }
        self.clear_call_timers(id);
        let c = self.calls.remove(&id).expect("abandoned call is tracked");
        self.queues[queue.0 as usize].stats.abandoned += 1;
        self.actions.push_back(Action::Event(Event::CallAbandoned {
            call: id,
            queue,
            waited,
        }));
        if let CallState::Offered { agents, .. } = c.state {
            for agent in agents {
                self.actions
                    .push_back(Action::WithdrawOffer { call: id, agent });
                self.set_state(now, agent, AgentState::Available);
            }
        }
        Ok(())
    }

    fn offered_agents(&self, id: CallId, agent: AgentId) -> Result<&Vec<AgentId>, AcdError> {
        let c = self.calls.get(&id).ok_or(AcdError::UnknownCall(id))?;
        match &c.state {
            CallState::Offered { agents, .. } if agents.contains(&agent) => Ok(agents),
            _ => Err(AcdError::NotOffered { call: id, agent }),
        }
    }

    fn offer_answered(&mut self, now: Instant, id: CallId, agent: AgentId) -> Result<(), AcdError> {
        self.offered_agents(id, agent)?;
        self.clear_call_timers(id);
        let c = self.calls.get_mut(&id).expect("answered call is tracked");
        let waited = now.saturating_duration_since(c.entered);
        let queue = c.queue;
        let state = std::mem::replace(
            &mut c.state,
            CallState::Connected {
                agent,
                answered: now,
            },
        );
        let q = &mut self.queues[queue.0 as usize];
        q.stats.answered += 1;
        q.stats.wait_total += waited;
        if waited <= q.service_level.threshold {
            q.stats.answered_within_threshold += 1;
        }
        self.actions.push_back(Action::Event(Event::CallAnswered {
            call: id,
            queue,
            agent,
            waited,
        }));
        self.agents[agent.0 as usize].misses = 0;
        self.set_state(now, agent, AgentState::OnCall(id));
        if let CallState::Offered { agents, .. } = state {
            for other in agents.into_iter().filter(|&o| o != agent) {
                self.actions.push_back(Action::WithdrawOffer {
                    call: id,
                    agent: other,
                });
                self.set_state(now, other, AgentState::Available);
            }
        }
        Ok(())
    }

    fn offer_rejected(&mut self, now: Instant, id: CallId, agent: AgentId) -> Result<(), AcdError> {
        self.offered_agents(id, agent)?;
        self.detach_offer(now, id, agent, false);
        self.after_miss(now, agent);
        Ok(())
    }

    /// Takes `agent` off the call's offer; the last one off puts the call
    /// back at its place in the queue (ahead of later arrivals). The caller
    /// then sets the agent's state.
    fn detach_offer(&mut self, now: Instant, id: CallId, agent: AgentId, withdraw: bool) {
        let c = self.calls.get_mut(&id).expect("detached call is tracked");
        let CallState::Offered { agents, deadline } = &mut c.state else {
            unreachable!("detach_offer on a call that is not offered");
        };
        agents.retain(|&a| a != agent);
        let (empty, deadline) = (agents.is_empty(), *deadline);
        if withdraw {
            self.actions
                .push_back(Action::WithdrawOffer { call: id, agent });
        }
        if empty {
            self.timers.remove(&(deadline, Timer::Ring(id)));
            self.requeue(now, id);
        }
    }

    fn requeue(&mut self, now: Instant, id: CallId) {
        let c = self.calls.get_mut(&id).expect("requeued call is tracked");
        c.state = CallState::Waiting;
        if c.max_wait_at.is_some_and(|at| at <= now) {
            self.overflow(now, id);
            return;
        }
        self.route_call(now, id);
    }

    /// A missed offer sends the agent to the back of the idle line, or to
    /// pause after `max_no_answer` misses in a row.
    fn after_miss(&mut self, now: Instant, a: AgentId) {
        let ag = &mut self.agents[a.0 as usize];
        ag.misses += 1;
        ag.idle_since = now;
        if ag.max_no_answer > 0 && ag.misses >= ag.max_no_answer {
            let reason = PauseReason::NoAnswer;
            self.actions
                .push_back(Action::Event(Event::AgentPaused { agent: a, reason }));
            self.set_state(now, a, AgentState::Paused(reason));
        } else {
            self.set_state(now, a, AgentState::Available);
        }
    }

    fn call_ended(&mut self, now: Instant, id: CallId) -> Result<(), AcdError> {
        let c = self.calls.get(&id).ok_or(AcdError::UnknownCall(id))?;
        let CallState::Connected { agent, answered } = c.state else {
            return Err(AcdError::CallNotConnected(id));
        };
        let queue = c.queue;
        self.calls.remove(&id);
        let talk = now.saturating_duration_since(answered);
        let q = &mut self.queues[queue.0 as usize];
        let wrap_up = q.wrap_up;
        if q.handle_times.len() >= HANDLE_TIMES_MAX {
            let old = q.handle_times.pop_front().expect("full ring has a front");
            q.handle_total -= old;
        }
        q.handle_times.push_back(talk + wrap_up);
        q.handle_total += talk + wrap_up;
        let ag = &mut self.agents[agent.0 as usize];
        ag.calls_today += 1;
        ag.talk_time += talk;
        if wrap_up.is_zero() {
            self.end_wrap_up(now, agent);
        } else {
            let until = now + wrap_up;
            self.timers.insert((until, Timer::WrapUp(agent)));
            self.set_state(now, agent, AgentState::WrapUp(until));
        }
        Ok(())
    }

    fn end_wrap_up(&mut self, now: Instant, a: AgentId) {
        let ag = &mut self.agents[a.0 as usize];
        ag.idle_since = now;
        let state = match ag.pending_pause.take() {
            Some(reason) => AgentState::Paused(reason),
            None => AgentState::Available,
        };
        self.set_state(now, a, state);
    }

    fn agent_login(
        &mut self,
        now: Instant,
        a: AgentId,
        queue: Option<QueueId>,
    ) -> Result<(), AcdError> {
        let ag = self.agent(a)?;
        let candidates: Vec<QueueId> = match queue {
            Some(q) if q.0 as usize >= self.queues.len() => return Err(AcdError::UnknownQueue(q)),
            Some(q) => vec![q],
            None => (0..self.queues.len() as u16).map(QueueId).collect(),
        };
        let mut joined = Vec::new();
        for q in candidates {
            if ag.memberships.iter().any(|m| m.queue == q) {
                continue;
            }
            let profile = Profile {
                skills: &ag.skills,
                attributes: &ag.attributes,
            };
            let mut m = Membership {
                queue: q,
                tiers: 0,
                levels: [0; TIERS_MAX],
            };
            for (t, req) in self.queues[q.0 as usize].tiers.iter().enumerate() {
                if let Some(level) = req.score(&profile) {
                    m.tiers |= 1 << t;
                    m.levels[t] = level;
                }
            }
            if m.tiers != 0 {
                joined.push(m);
            } else if queue.is_some() {
                return Err(AcdError::AgentNotQualified { agent: a, queue: q });
            }
        }
        if joined.is_empty() {
            return Ok(());
        }
        self.unindex(a);
        let ag = &mut self.agents[a.0 as usize];
        let staffed = !matches!(ag.state, AgentState::Paused(_) | AgentState::LoggedOut);
        for m in &joined {
            let q = &mut self.queues[m.queue.0 as usize];
            q.logged_in += 1;
            q.staffed += u32::from(staffed);
        }
        ag.memberships.extend(joined);
        if ag.state == AgentState::LoggedOut {
            ag.idle_since = now;
            ag.misses = 0;
            self.set_state(now, a, AgentState::Available);
        } else {
            self.sync_index(now, a);
        }
        Ok(())
    }

    fn agent_logout(
        &mut self,
        now: Instant,
        a: AgentId,
        queue: Option<QueueId>,
    ) -> Result<(), AcdError> {
        let ag = self.agent(a)?;
        if let Some(q) = queue {
            if !ag.memberships.iter().any(|m| m.queue == q) {
                return Err(AcdError::AgentNotInQueue { agent: a, queue: q });
            }
        }
        // The agent stays Reserved (so unindexed) until its memberships are
        // gone, lest it be handed a call of a queue it is leaving.
        if let AgentState::Reserved(call) = ag.state {
            self.detach_offer(now, call, a, true);
        }
        self.unindex(a);
        let ag = &mut self.agents[a.0 as usize];
        let staffed = !matches!(ag.state, AgentState::Paused(_) | AgentState::LoggedOut);
        let queues = &mut self.queues;
        ag.memberships.retain(|m| {
            let leave = queue.is_none_or(|q| q == m.queue);
            if leave {
                let q = &mut queues[m.queue.0 as usize];
                q.logged_in -= 1;
                q.staffed -= u32::from(staffed);
            }
            !leave
        });
        let state = match ag.state {
            AgentState::Available | AgentState::Paused(_) if ag.memberships.is_empty() => {
                ag.pending_pause = None;
                AgentState::LoggedOut
            }
            AgentState::Reserved(_) => AgentState::Available,
            s => s,
        };
        self.set_state(now, a, state);
        Ok(())
    }

    fn agent_pause(
        &mut self,
        now: Instant,
        a: AgentId,
        reason: PauseReason,
    ) -> Result<(), AcdError> {
        match self.agent(a)?.state {
            AgentState::LoggedOut => Err(AcdError::AgentLoggedOut(a)),
            AgentState::Reserved(call) => {
                self.detach_offer(now, call, a, true);
                self.set_state(now, a, AgentState::Paused(reason));
                Ok(())
            }
            AgentState::Available | AgentState::Paused(_) => {
                self.set_state(now, a, AgentState::Paused(reason));
                Ok(())
            }
            AgentState::OnCall(_) | AgentState::WrapUp(_) => {
                self.agents[a.0 as usize].pending_pause = Some(reason);
                Ok(())
            }
        }
    }

    fn agent_resume(&mut self, now: Instant, a: AgentId) -> Result<(), AcdError> {
        let ag = self.agent(a)?;
        if ag.pending_pause.is_some() {
            self.agents[a.0 as usize].pending_pause = None;
            return Ok(());
        }
        if !matches!(ag.state, AgentState::Paused(_)) {
            return Err(AcdError::AgentNotPaused(a));
        }
        let ag = &mut self.agents[a.0 as usize];
        ag.misses = 0;
        ag.idle_since = now;
        self.set_state(now, a, AgentState::Available);
        Ok(())
    }

    fn agent_registration(
        &mut self,
        now: Instant,
        a: AgentId,
        registered: bool,
    ) -> Result<(), AcdError> {
        let ag = self.agent(a)?;
        if let (false, AgentState::Reserved(call)) = (registered, ag.state) {
            self.detach_offer(now, call, a, true);
            self.agents[a.0 as usize].registered = false;
            self.set_state(now, a, AgentState::Available);
            return Ok(());
        }
        self.agents[a.0 as usize].registered = registered;
        self.sync_index(now, a);
        Ok(())
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Ring(id) => {
                let Some(CallState::Offered { agents, .. }) = self.calls.get(&id).map(|c| &c.state)
                else {
                    unreachable!("a ring timer belongs to an offered call");
                };
                for agent in agents.clone() {
                    // The timer is already popped: detach must not find it.
                    self.detach_offer_after_timeout(now, id, agent);
                    self.after_miss(now, agent);
                }
            }
            Timer::MaxWait(id) => {
                let c = self
                    .calls
                    .get(&id)
                    .expect("a max-wait timer belongs to a tracked call");
                // An offered call overflows only if the offer fails (see requeue).
                if c.state == CallState::Waiting {
                    self.remove_waiting(id);
                    self.overflow(now, id);
                }
            }
            Timer::Relax(id) => self.relax(now, id),
            Timer::WrapUp(a) => self.end_wrap_up(now, a),
        }
    }

    fn detach_offer_after_timeout(&mut self, now: Instant, id: CallId, agent: AgentId) {
        // Re-insert the popped timer so detach_offer's removal stays exact.
        if let Some(CallState::Offered { deadline, .. }) = self.calls.get(&id).map(|c| &c.state) {
            self.timers.insert((*deadline, Timer::Ring(id)));
        }
        self.detach_offer(now, id, agent, true);
    }

    /// The call's next relaxation step: it moves to the next tier.
    fn relax(&mut self, now: Instant, id: CallId) {
        let c = &self.calls[&id];
        let waiting = c.state == CallState::Waiting;
        if waiting {
            self.remove_waiting(id);
        }
        let c = self
            .calls
            .get_mut(&id)
            .expect("a relax timer belongs to a tracked call");
        let q = &self.queues[c.queue.0 as usize];
        c.tier += 1;
        c.relax_at = q
            .relax_after
            .get(c.tier as usize + 1)
            .map(|&after| c.entered + after);
        if let Some(at) = c.relax_at {
            self.timers.insert((at, Timer::Relax(id)));
        }
        if waiting {
            self.route_call(now, id);
        }
    }
}
