//! How the router moves calls and agents: queueing, offering, freeing,
//! overflow and timers. Every path keeps the free and waiting sets in step
//! with the states, so no free agent is ever left beside a call it could take.

use std::time::Instant;

use rand::RngCore;

use super::router::*;
use super::types::*;
use super::*;

impl Router {
    /// Puts a call (arrived or overflowed, in no waiting set) into `queue`.
    pub(super) fn enqueue(&mut self, now: Instant, id: CallId, queue: QueueId) {
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

    pub(super) fn insert_waiting(&mut self, id: CallId) {
        let c = &self.calls[&id];
        let key = self.wait_key(id, c);
        let q = &mut self.queues[c.queue.0 as usize];
        q.waiting[c.tier as usize].insert(key);
        q.waiting_len += 1;
    }

    pub(super) fn remove_waiting(&mut self, id: CallId) {
        let c = &self.calls[&id];
        let key = self.wait_key(id, c);
        let q = &mut self.queues[c.queue.0 as usize];
        let removed = q.waiting[c.tier as usize].remove(&key);
        debug_assert!(removed, "a waiting call is in its tier's waiting set");
        q.waiting_len -= 1;
    }

    /// Sends a call (in no waiting set) to its queue's overflow target.
    pub(super) fn overflow(&mut self, now: Instant, id: CallId) {
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

    pub(super) fn clear_call_timers(&mut self, id: CallId) {
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
    pub(super) fn route_call(&mut self, now: Instant, id: CallId) {
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
    pub(super) fn offer(&mut self, now: Instant, id: CallId, agents: Vec<AgentId>) {
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
    pub(super) fn assign_free_agent(&mut self, now: Instant, a: AgentId) {
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
    pub(super) fn set_state(&mut self, now: Instant, a: AgentId, state: AgentState) {
        let ag = &mut self.agents[a.0 as usize];
        // A reload removed them: once their queue call is over they leave.
        let idle = matches!(
            state,
            AgentState::Available | AgentState::Paused(_) | AgentState::Busy
        );
        if ag.retired && idle && !ag.memberships.is_empty() {
            let staffed = !matches!(ag.state, AgentState::Paused(_) | AgentState::LoggedOut);
            for m in ag.memberships.drain(..) {
                let q = &mut self.queues[m.queue.0 as usize];
                q.logged_in -= 1;
                q.staffed -= u32::from(staffed);
            }
        }
        // Free while on a call of their own is busy, whatever freed them.
        let state = match state {
            AgentState::Available if ag.direct_calls > 0 => AgentState::Busy,
            s => s,
        };
        // Free, busy or paused in no queue is logged out (e.g. logged out
        // of everything during a call, once wrap-up ends).
        let idle = matches!(
            state,
            AgentState::Available | AgentState::Paused(_) | AgentState::Busy
        );
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
        if ag.state != state {
            let from = std::mem::replace(&mut ag.state, state);
            self.actions
                .push_back(Action::Event(Event::AgentStateChanged {
                    agent: a,
                    from,
                    to: state,
                }));
        }
        self.sync_index(now, a);
    }

    pub(super) fn sync_index(&mut self, now: Instant, a: AgentId) {
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

    pub(super) fn index(&mut self, a: AgentId, insert: bool) {
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

    pub(super) fn unindex(&mut self, a: AgentId) {
        if self.agents[a.0 as usize].indexed {
            self.index(a, false);
        }
    }

    /// Takes `agent` off the call's offer; the last one off puts the call
    /// back at its place in the queue (ahead of later arrivals). The caller
    /// then sets the agent's state.
    pub(super) fn detach_offer(
        &mut self,
        now: Instant,
        id: CallId,
        agent: AgentId,
        withdraw: bool,
    ) {
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

    pub(super) fn requeue(&mut self, now: Instant, id: CallId) {
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
    pub(super) fn after_miss(&mut self, now: Instant, a: AgentId) {
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

    /// A deadline passed: ring timeout, max wait, relaxation step or wrap-up end.
    pub(super) fn fire(&mut self, now: Instant, timer: Timer) {
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

    pub(super) fn detach_offer_after_timeout(&mut self, now: Instant, id: CallId, agent: AgentId) {
        // Re-insert the popped timer so detach_offer's removal stays exact.
        if let Some(CallState::Offered { deadline, .. }) = self.calls.get(&id).map(|c| &c.state) {
            self.timers.insert((*deadline, Timer::Ring(id)));
        }
        self.detach_offer(now, id, agent, true);
    }

    /// The call's next relaxation step: it moves to the next tier.
    pub(super) fn relax(&mut self, now: Instant, id: CallId) {
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
