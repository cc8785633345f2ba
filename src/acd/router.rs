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

use super::spec::{Requirement, SkillId, SkillTable};
use super::{
    AcdError, AgentId, AgentSpec, CallId, OverflowTarget, PauseReason, QueueId, QueueSpec,
    ServiceLevel, Strategy, WhenNoAgents, ACTIONS_MAX, SKILL_LEVEL_MAX,
};

use super::types::*;

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
    /// In wrap-up waiting for a disposition code: its earliest end (the
    /// queue's `wrap_up`), which the code cannot cut short.
    pub disposition_due: Option<Instant>,
    /// Calls the router did not give them that they are on (direct,
    /// internal, outbound, supervising): while any, never `Available`.
    pub direct_calls: u32,
    /// In the free sets of its memberships.
    pub indexed: bool,
    /// Removed by a reload: logged out once their queue call ends, and
    /// no longer reachable by name.
    pub retired: bool,
}

pub(super) struct Queue {
    pub name: String,
    pub tiers: Vec<Requirement>,
    /// Wait after which tier t applies; `relax_after[0]` is zero.
    pub relax_after: Vec<Duration>,
    pub strategy: Strategy,
    pub ring_timeout: Duration,
    pub wrap_up: Duration,
    pub disposition_wrap_up_max: Option<Duration>,
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
    /// Removed by a reload: takes no new caller or member.
    pub retired: bool,
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
    pub(super) rng: StdRng,
    pub(super) agents: Vec<Agent>,
    pub(super) queues: Vec<Queue>,
    pub(super) calls: CallMap,
    pub(super) agent_names: HashMap<String, AgentId>,
    pub(super) queue_names: HashMap<String, QueueId>,
    pub(super) timers: BTreeSet<(Instant, Timer)>,
    /// Skill names seen so far (agents' and queues'), for skill changes.
    pub(super) skills: SkillTable,
    pub(super) actions: VecDeque<Action>,
    pub(super) seq: u64,
    /// Queues a reload removed that still have callers; their members
    /// leave them once the last caller is gone.
    pub(super) draining: Vec<QueueId>,
}

impl Router {
    /// Builds the router; every agent starts logged out and unregistered.
    /// The same path as a reload: an empty router takes the specs.
    pub fn new(
        now: Instant,
        agents: &[AgentSpec],
        queues: &[QueueSpec],
        rng: StdRng,
    ) -> Result<Router, AcdError> {
        let mut router = Router {
            epoch: now,
            last_now: now,
            rng,
            agents: Vec::with_capacity(agents.len()),
            queues: Vec::with_capacity(queues.len()),
            calls: CallMap::default(),
            agent_names: HashMap::with_capacity(agents.len()),
            queue_names: HashMap::with_capacity(queues.len()),
            timers: BTreeSet::new(),
            skills: SkillTable::default(),
            actions: VecDeque::new(),
            seq: 0,
            draining: Vec::new(),
        };
        router.reconfigure(now, agents, queues)?;
        Ok(router)
    }

    /// Feeds one input. An error leaves the router as it was.
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), AcdError> {
        if self.actions.len() >= ACTIONS_MAX {
            return Err(AcdError::ActionBacklogFull { max: ACTIONS_MAX });
        }
        let now = self.clock(now);
        let done = match input {
            Input::CallArrived {
                call,
                queue,
                priority,
                attributes,
            } => self.call_arrived(now, call, queue, priority, attributes, now),
            Input::CallTransferredIn {
                call,
                queue,
                priority,
                attributes,
                arrived,
            } => self.call_arrived(now, call, queue, priority, attributes, arrived.min(now)),
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
            Input::DirectCallStarted { agent } => self.direct_call_started(now, agent),
            Input::DirectCallEnded { agent } => self.direct_call_ended(now, agent, None),
            Input::DirectCallEndedWrapUp { agent, queue } => {
                self.direct_call_ended(now, agent, Some(queue))
            }
            Input::EndWrapUp { agent } => self.end_wrap_up_early(now, agent),
            Input::Disposition { agent } => self.disposition(now, agent),
            Input::SetSkills { agent, skills } => self.set_skills(now, agent, skills),
        };
        self.sweep_draining(now);
        done
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
        let now = self.clock(now);
        self.sweep_draining(now);
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

    /// A call's priority and when it joined (its place in line).
    pub fn call_place(&self, call: CallId) -> Option<(u8, Instant)> {
        self.calls.get(&call).map(|c| (c.priority, c.arrived))
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

    /// When each queue's longest-waiting caller (waiting or being offered)
    /// entered it, in queue order: one pass over the calls.
    pub fn oldest_waiting(&self) -> Vec<Option<Instant>> {
        let mut oldest: Vec<Option<Instant>> = vec![None; self.queues.len()];
        for c in self.calls.values() {
            if matches!(c.state, CallState::Connected { .. }) {
                continue;
            }
            if let Some(slot) = oldest.get_mut(c.queue.0 as usize) {
                *slot = Some(slot.map_or(c.entered, |t| t.min(c.entered)));
            }
        }
        oldest
    }

    /// Time only moves forward: an earlier `now` counts as the last one seen.
    pub(super) fn clock(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    pub(super) fn agent(&self, agent: AgentId) -> Result<&Agent, AcdError> {
        self.agents
            .get(agent.0 as usize)
            .ok_or(AcdError::UnknownAgent(agent))
    }

    pub(super) fn ns(&self, at: Instant) -> u64 {
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
}
