//! A running router takes a new set of agents and queues (hot reload, and
//! the first build): everything is compiled and checked first, so an error
//! changes nothing; then agents and queues are updated in place, by name.
//!
//! What a reload does to what is in progress:
//! - a waiting caller keeps its place, its arrival time and its max-wait
//!   deadline; it moves to the tier its wait reaches under the new
//!   relaxation steps; an offer being rung stays until it is answered or
//!   times out;
//! - an agent keeps their state; their queues are matched again against
//!   the new requirements (a queue they no longer meet is left);
//! - a removed agent is logged out at once, or after the queue call they
//!   are on (and its wrap-up) ends; a removed queue takes no new caller or
//!   member, serves the callers it has, and its members leave it when the
//!   last one is gone.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::router::*;
use super::spec::{
    compile_agent_skills, compile_requirement, validate_queue, Profile, Requirement, SkillId,
    SkillTable,
};
use super::types::*;
use super::*;

/// Names added, removed and changed by a reconfiguration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconfigured {
    pub agents_added: Vec<String>,
    pub agents_removed: Vec<String>,
    pub agents_changed: Vec<String>,
    pub queues_added: Vec<String>,
    pub queues_removed: Vec<String>,
    pub queues_changed: Vec<String>,
}

/// One queue spec, compiled.
struct QueuePlan<'a> {
    spec: &'a QueueSpec,
    tiers: Vec<Requirement>,
    relax_after: Vec<Duration>,
}

impl Router {
    /// Makes the router's agents and queues those of the specs. An error
    /// (a limit, a duplicate name, an unknown overflow queue, a level out
    /// of range) leaves the router as it was.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        agents: &[AgentSpec],
        queues: &[QueueSpec],
    ) -> Result<Reconfigured, AcdError> {
        let now = self.clock(now);
        let mut skills = self.skills.clone();
        let agent_skills = self.compile_agents(agents, &mut skills)?;
        let plans = self.compile_queues(queues, &mut skills)?;
        self.skills = skills;

        // Everything is taken out of the indexes, changed, and put back.
        for i in 0..self.agents.len() {
            self.unindex(AgentId(i as u32));
        }
        let waiting = self.take_waiting();
        let mut report = Reconfigured::default();
        let kept_agents = self.apply_agents(now, agents, agent_skills, &mut report);
        let kept_queues = self.apply_queues(&plans, &mut report);
        self.rematch_memberships();
        self.put_back_waiting(waiting);
        self.retire_agents(now, &kept_agents, &mut report);
        self.retire_queues(&kept_queues, &mut report);
        self.recount_staffing();
        for i in 0..self.agents.len() {
            self.sync_index(now, AgentId(i as u32));
        }
        self.sweep_draining(now);
        Ok(report)
    }

    /// Whether a reload removed the agent (they may still be on a call).
    pub fn agent_retired(&self, agent: AgentId) -> bool {
        self.agents.get(agent.0 as usize).is_some_and(|a| a.retired)
    }

    /// Whether a reload removed the queue (it may still serve callers).
    pub fn queue_retired(&self, queue: QueueId) -> bool {
        self.queues.get(queue.0 as usize).is_some_and(|q| q.retired)
    }

    fn compile_agents(
        &self,
        agents: &[AgentSpec],
        skills: &mut SkillTable,
    ) -> Result<Vec<Vec<(SkillId, u8)>>, AcdError> {
        let mut seen = HashSet::with_capacity(agents.len());
        let mut added = 0usize;
        let mut out = Vec::with_capacity(agents.len());
        for spec in agents {
            if !seen.insert(spec.name.as_str()) {
                return Err(AcdError::DuplicateAgentName(spec.name.clone()));
            }
            added += usize::from(!self.agent_names.contains_key(&spec.name));
            out.push(compile_agent_skills(spec, skills)?);
        }
        if self.agents.len() + added > AGENTS_MAX {
            return Err(AcdError::TooManyAgents { max: AGENTS_MAX });
        }
        Ok(out)
    }

    fn compile_queues<'a>(
        &self,
        queues: &'a [QueueSpec],
        skills: &mut SkillTable,
    ) -> Result<Vec<QueuePlan<'a>>, AcdError> {
        let names: HashSet<&str> = queues.iter().map(|q| q.name.as_str()).collect();
        if names.len() != queues.len() {
            let mut seen = HashSet::new();
            let twice = queues.iter().find(|q| !seen.insert(&q.name));
            return Err(AcdError::DuplicateQueueName(
                twice.map(|q| q.name.clone()).unwrap_or_default(),
            ));
        }
        let added = queues
            .iter()
            .filter(|q| self.queue_slot(&q.name).is_none())
            .count();
        if self.queues.len() + added > QUEUES_MAX {
            return Err(AcdError::TooManyQueues { max: QUEUES_MAX });
        }
        let mut out = Vec::with_capacity(queues.len());
        for spec in queues {
            validate_queue(spec)?;
            if let Overflow::Queue(target) = &spec.overflow {
                if !names.contains(target.as_str()) {
                    return Err(AcdError::UnknownOverflowQueue {
                        queue: spec.name.clone(),
                        target: target.clone(),
                    });
                }
            }
            let mut tiers = vec![compile_requirement(&spec.name, &spec.requires, skills)?];
            let mut relax_after = vec![Duration::ZERO];
            for step in &spec.relax {
                tiers.push(compile_requirement(&spec.name, &step.requires, skills)?);
                relax_after.push(step.after);
            }
            out.push(QueuePlan {
                spec,
                tiers,
                relax_after,
            });
        }
        Ok(out)
    }

    /// A queue's slot by name, removed ones included (a queue removed and
    /// added again gets its old slot, so ids stay dense).
    fn queue_slot(&self, name: &str) -> Option<QueueId> {
        self.queue_names.get(name).copied().or_else(|| {
            self.queues
                .iter()
                .position(|q| q.name == name)
                .map(|i| QueueId(i as u16))
        })
    }

    /// Every waiting call, out of its waiting set.
    fn take_waiting(&mut self) -> Vec<CallId> {
        let mut out = Vec::new();
        for q in &mut self.queues {
            for set in &mut q.waiting {
                out.extend(set.iter().map(|k| k.3));
                set.clear();
            }
            q.waiting_len = 0;
        }
        out
    }

    /// Updates known agents and appends new ones; returns the ids the
    /// specs name.
    fn apply_agents(
        &mut self,
        now: Instant,
        agents: &[AgentSpec],
        compiled: Vec<Vec<(SkillId, u8)>>,
        report: &mut Reconfigured,
    ) -> HashSet<AgentId> {
        let mut kept = HashSet::with_capacity(agents.len());
        for (spec, skills) in agents.iter().zip(compiled) {
            let attributes = spec.attributes.clone();
            let id = match self.agent_names.get(&spec.name) {
                Some(&id) => {
                    let ag = &mut self.agents[id.0 as usize];
                    let changed = ag.skills != skills
                        || ag.attributes != attributes
                        || ag.max_no_answer != spec.max_no_answer;
                    if ag.retired {
                        report.agents_added.push(spec.name.clone());
                    } else if changed {
                        report.agents_changed.push(spec.name.clone());
                    }
                    ag.skills = skills;
                    ag.attributes = attributes;
                    ag.max_no_answer = spec.max_no_answer;
                    ag.retired = false;
                    id
                }
                None => {
                    let id = AgentId(self.agents.len() as u32);
                    self.agents.push(new_agent(spec, skills, now));
                    self.agent_names.insert(spec.name.clone(), id);
                    report.agents_added.push(spec.name.clone());
                    id
                }
            };
            kept.insert(id);
        }
        kept
    }

    /// Updates known queues and appends new ones; returns the ids the
    /// specs name.
    fn apply_queues(
        &mut self,
        plans: &[QueuePlan<'_>],
        report: &mut Reconfigured,
    ) -> HashSet<QueueId> {
        let mut names = HashMap::with_capacity(plans.len());
        for plan in plans {
            let id = match self.queue_slot(&plan.spec.name) {
                Some(id) => {
                    let q = &self.queues[id.0 as usize];
                    if q.retired {
                        report.queues_added.push(plan.spec.name.clone());
                    } else if !self.same_settings(q, plan) {
                        report.queues_changed.push(plan.spec.name.clone());
                    }
                    id
                }
                None => {
                    self.queues.push(new_queue(&plan.spec.name));
                    report.queues_added.push(plan.spec.name.clone());
                    QueueId(self.queues.len() as u16 - 1)
                }
            };
            names.insert(plan.spec.name.clone(), id);
        }
        for plan in plans {
            let overflow = match &plan.spec.overflow {
                Overflow::Busy => OverflowTarget::Busy,
                Overflow::Queue(target) => OverflowTarget::Queue(names[target]),
            };
            let q = &mut self.queues[names[&plan.spec.name].0 as usize];
            let spec = plan.spec;
            let n = plan.tiers.len();
            q.tiers = plan.tiers.clone();
            q.relax_after = plan.relax_after.clone();
            q.strategy = spec.strategy;
            q.ring_timeout = spec.ring_timeout;
            q.wrap_up = spec.wrap_up;
            q.disposition_wrap_up_max = spec.disposition_wrap_up_max;
            q.max_length = spec.max_length;
            q.max_wait = spec.max_wait;
            q.overflow = overflow;
            q.when_no_agents = spec.when_no_agents;
            q.service_level = spec.service_level;
            q.free = vec![BTreeSet::new(); n];
            q.waiting = vec![BTreeSet::new(); n];
            q.retired = false;
        }
        let kept = names.values().copied().collect();
        self.queue_names = names;
        kept
    }

    /// Each agent's queues matched again against the (new) tiers; a queue
    /// they no longer meet is left.
    fn rematch_memberships(&mut self) {
        let queues = &self.queues;
        for ag in &mut self.agents {
            let profile = Profile {
                skills: &ag.skills,
                attributes: &ag.attributes,
            };
            for m in &mut ag.memberships {
                m.tiers = 0;
                m.levels = [0; TIERS_MAX];
                for (t, req) in queues[m.queue.0 as usize].tiers.iter().enumerate() {
                    if let Some(level) = req.score(&profile) {
                        m.tiers |= 1 << t;
                        m.levels[t] = level;
                    }
                }
            }
            ag.memberships.retain(|m| m.tiers != 0);
        }
    }

    /// Waiting calls go back in their queue at the tier their wait has
    /// reached under the queue's relaxation steps now.
    fn put_back_waiting(&mut self, waiting: Vec<CallId>) {
        for id in waiting {
            let c = self.calls.get_mut(&id).expect("a waiting call is tracked");
            let q = &self.queues[c.queue.0 as usize];
            if let Some(at) = c.relax_at.take() {
                self.timers.remove(&(at, Timer::Relax(id)));
            }
            let waited = self.last_now.saturating_duration_since(c.entered);
            let reached = q
                .relax_after
                .iter()
                .filter(|&&after| after <= waited)
                .count();
            c.tier = (reached.max(1) - 1) as u8;
            c.relax_at = q
                .relax_after
                .get(c.tier as usize + 1)
                .map(|&after| c.entered + after);
            if let Some(at) = c.relax_at {
                self.timers.insert((at, Timer::Relax(id)));
            }
            self.insert_waiting(id);
        }
        // Offered calls keep their offer; their tier must exist too.
        for c in self.calls.values_mut() {
            let tiers = self.queues[c.queue.0 as usize].tiers.len();
            c.tier = c.tier.min(tiers as u8 - 1);
        }
    }

    fn retire_agents(&mut self, now: Instant, kept: &HashSet<AgentId>, report: &mut Reconfigured) {
        for i in 0..self.agents.len() {
            let a = AgentId(i as u32);
            if kept.contains(&a) || self.agents[i].retired {
                continue;
            }
            report.agents_removed.push(self.agents[i].name.clone());
            self.agents[i].retired = true;
            self.agents[i].pending_pause = None;
            // A logout withdraws an offer being rung; on a queue call or in
            // its wrap-up they leave when it ends (`set_state`).
            if !matches!(
                self.agents[i].state,
                AgentState::OnCall(_) | AgentState::WrapUp(_)
            ) {
                self.leave_all(now, a);
            }
        }
    }

    fn retire_queues(&mut self, kept: &HashSet<QueueId>, report: &mut Reconfigured) {
        for i in 0..self.queues.len() {
            let q = QueueId(i as u16);
            if kept.contains(&q) || self.queues[i].retired {
                continue;
            }
            report.queues_removed.push(self.queues[i].name.clone());
            self.queues[i].retired = true;
            // Callers still here that wait too long go to a queue that
            // stays, or get busy.
            if let OverflowTarget::Queue(next) = self.queues[i].overflow {
                if !kept.contains(&next) {
                    self.queues[i].overflow = OverflowTarget::Busy;
                }
            }
            self.draining.push(q);
        }
    }

    /// `logged_in` and `staffed` counted again from the memberships.
    fn recount_staffing(&mut self) {
        for q in &mut self.queues {
            q.logged_in = 0;
            q.staffed = 0;
        }
        for ag in &self.agents {
            let staffed = !matches!(ag.state, AgentState::Paused(_) | AgentState::LoggedOut);
            for m in &ag.memberships {
                let q = &mut self.queues[m.queue.0 as usize];
                q.logged_in += 1;
                q.staffed += u32::from(staffed);
            }
        }
    }

    /// A retired agent leaves every queue; idle, they are logged out.
    pub(super) fn leave_all(&mut self, now: Instant, a: AgentId) {
        if !self.agents[a.0 as usize].memberships.is_empty() {
            // Cannot fail: the agent exists and no queue is named.
            let _ = self.agent_logout(now, a, None);
        }
    }

    /// Members leave each removed queue that has no caller left.
    pub(super) fn sweep_draining(&mut self, now: Instant) {
        if self.draining.is_empty() {
            return;
        }
        // A queue still serves its callers while one waits or is rung.
        let busy: HashSet<QueueId> = self
            .calls
            .values()
            .filter(|c| !matches!(c.state, CallState::Connected { .. }))
            .map(|c| c.queue)
            .collect();
        let done: Vec<QueueId> = self
            .draining
            .iter()
            .copied()
            .filter(|q| !busy.contains(q))
            .collect();
        self.draining.retain(|q| busy.contains(q));
        for q in done {
            for i in 0..self.agents.len() {
                if self.agents[i].memberships.iter().any(|m| m.queue == q) {
                    let _ = self.agent_logout(now, AgentId(i as u32), Some(q));
                }
            }
        }
    }
}

impl Router {
    fn same_settings(&self, q: &Queue, plan: &QueuePlan<'_>) -> bool {
        let s = plan.spec;
        let overflow_same = match (q.overflow, &s.overflow) {
            (OverflowTarget::Busy, Overflow::Busy) => true,
            (OverflowTarget::Queue(id), Overflow::Queue(name)) => {
                self.queues[id.0 as usize].name == *name
            }
            _ => false,
        };
        overflow_same
            && q.strategy == s.strategy
            && q.ring_timeout == s.ring_timeout
            && q.wrap_up == s.wrap_up
            && q.disposition_wrap_up_max == s.disposition_wrap_up_max
            && q.max_length == s.max_length
            && q.max_wait == s.max_wait
            && q.when_no_agents == s.when_no_agents
            && q.service_level == s.service_level
            && q.relax_after == plan.relax_after
            && q.tiers == plan.tiers
    }
}

fn new_agent(spec: &AgentSpec, skills: Vec<(SkillId, u8)>, now: Instant) -> Agent {
    Agent {
        name: spec.name.clone(),
        skills,
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
        disposition_due: None,
        direct_calls: 0,
        indexed: false,
        retired: false,
    }
}

/// An empty queue; `apply_queues` fills in its settings.
fn new_queue(name: &str) -> Queue {
    Queue {
        name: name.to_owned(),
        tiers: Vec::new(),
        relax_after: Vec::new(),
        strategy: Strategy::default(),
        ring_timeout: Duration::ZERO,
        wrap_up: Duration::ZERO,
        disposition_wrap_up_max: None,
        max_length: 0,
        max_wait: None,
        overflow: OverflowTarget::Busy,
        when_no_agents: WhenNoAgents::default(),
        service_level: ServiceLevel {
            threshold: Duration::ZERO,
            target_percent: 0,
        },
        free: Vec::new(),
        waiting: Vec::new(),
        waiting_len: 0,
        logged_in: 0,
        staffed: 0,
        rr_last: None,
        stats: QueueStats::default(),
        handle_times: VecDeque::with_capacity(HANDLE_TIMES_MAX),
        handle_total: Duration::ZERO,
        retired: false,
    }
}
