//! The router's inputs from the call engine, the phones and the API: each
//! checks what it is told against the state and then uses `routing`.

use std::time::Instant;

use super::router::*;
use super::spec::Profile;
use super::types::*;
use super::*;

impl Router {
    pub(super) fn call_arrived(
        &mut self,
        now: Instant,
        id: CallId,
        queue: QueueId,
        priority: u8,
        attributes: Vec<(String, String)>,
        arrived: Instant,
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
                arrived,
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

    pub(super) fn call_abandoned(&mut self, now: Instant, id: CallId) -> Result<(), AcdError> {
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

    pub(super) fn offered_agents(
        &self,
        id: CallId,
        agent: AgentId,
    ) -> Result<&Vec<AgentId>, AcdError> {
        let c = self.calls.get(&id).ok_or(AcdError::UnknownCall(id))?;
        match &c.state {
            CallState::Offered { agents, .. } if agents.contains(&agent) => Ok(agents),
            _ => Err(AcdError::NotOffered { call: id, agent }),
        }
    }

    pub(super) fn offer_answered(
        &mut self,
        now: Instant,
        id: CallId,
        agent: AgentId,
    ) -> Result<(), AcdError> {
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

    pub(super) fn offer_rejected(
        &mut self,
        now: Instant,
        id: CallId,
        agent: AgentId,
    ) -> Result<(), AcdError> {
        self.offered_agents(id, agent)?;
        self.detach_offer(now, id, agent, false);
        self.after_miss(now, agent);
        Ok(())
    }

    pub(super) fn call_ended(&mut self, now: Instant, id: CallId) -> Result<(), AcdError> {
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
        self.start_wrap_up(now, agent, queue);
        Ok(())
    }

    /// The agent's wrap-up after a call of `queue`: its `wrap_up`, held
    /// for a disposition up to `disposition_wrap_up_max` where set.
    pub(super) fn start_wrap_up(&mut self, now: Instant, agent: AgentId, queue: QueueId) {
        let q = &self.queues[queue.0 as usize];
        let wrap_up = q.wrap_up;
        let wrap_up_max = q.disposition_wrap_up_max.map(|max| max.max(wrap_up));
        let ag = &mut self.agents[agent.0 as usize];
        if let Some(max) = wrap_up_max.filter(|m| !m.is_zero()) {
            // Held until a code arrives or `max` passes.
            ag.disposition_due = Some(now + wrap_up);
            let until = now + max;
            self.timers.insert((until, Timer::WrapUp(agent)));
            self.set_state(now, agent, AgentState::WrapUp(until));
        } else if wrap_up.is_zero() {
            self.end_wrap_up(now, agent);
        } else {
            let until = now + wrap_up;
            self.timers.insert((until, Timer::WrapUp(agent)));
            self.set_state(now, agent, AgentState::WrapUp(until));
        }
    }

    pub(super) fn end_wrap_up(&mut self, now: Instant, a: AgentId) {
        let ag = &mut self.agents[a.0 as usize];
        ag.idle_since = now;
        ag.disposition_due = None;
        let state = match ag.pending_pause.take() {
            Some(reason) => AgentState::Paused(reason),
            None => AgentState::Available,
        };
        self.set_state(now, a, state);
    }

    pub(super) fn agent_login(
        &mut self,
        now: Instant,
        a: AgentId,
        queue: Option<QueueId>,
    ) -> Result<(), AcdError> {
        let ag = self.agent(a)?;
        if ag.retired {
            return Err(AcdError::UnknownAgent(a));
        }
        let open = |q: &QueueId| self.queues.get(q.0 as usize).is_some_and(|q| !q.retired);
        let candidates: Vec<QueueId> = match queue {
            Some(q) if !open(&q) => return Err(AcdError::UnknownQueue(q)),
            Some(q) => vec![q],
            None => (0..self.queues.len() as u16)
                .map(QueueId)
                .filter(open)
                .collect(),
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

    pub(super) fn agent_logout(
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
            AgentState::Available | AgentState::Paused(_) | AgentState::Busy
                if ag.memberships.is_empty() =>
            {
                ag.pending_pause = None;
                AgentState::LoggedOut
            }
            AgentState::Reserved(_) => AgentState::Available,
            s => s,
        };
        self.set_state(now, a, state);
        Ok(())
    }

    pub(super) fn agent_pause(
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
            AgentState::Available | AgentState::Paused(_) | AgentState::Busy => {
                self.set_state(now, a, AgentState::Paused(reason));
                Ok(())
            }
            AgentState::OnCall(_) | AgentState::WrapUp(_) => {
                self.agents[a.0 as usize].pending_pause = Some(reason);
                Ok(())
            }
        }
    }

    pub(super) fn agent_resume(&mut self, now: Instant, a: AgentId) -> Result<(), AcdError> {
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

    pub(super) fn agent_registration(
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
}
