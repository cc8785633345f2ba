//! `Router::check_invariants`: a debug aid for tests that walks every table
//! and says which promise broke.

use super::router::Timer;
use super::types::{AgentState, CallState};
use super::{AgentId, Router, Strategy, ACTIONS_MAX};

impl Router {
    /// Checks that a call is offered to at most one agent (ring-all
    /// excepted), an agent holds at most one offer, every call sits in
    /// exactly one place, the free and waiting sets match the states, no
    /// free agent could take a waiting call, and every timer is live.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut reserved = 0usize;
        for (i, ag) in self.agents.iter().enumerate() {
            let a = AgentId(i as u32);
            let free =
                ag.state == AgentState::Available && ag.registered && !ag.memberships.is_empty();
            if free != ag.indexed {
                return Err(format!(
                    "agent {a:?} free={free} but indexed={}",
                    ag.indexed
                ));
            }
            let idle = matches!(
                ag.state,
                AgentState::Available | AgentState::Paused(_) | AgentState::Busy
            );
            let busy = ag.direct_calls > 0;
            if (ag.state == AgentState::Busy && !busy)
                || (ag.state == AgentState::Available && busy)
            {
                return Err(format!(
                    "agent {a:?} {:?} on {} direct calls",
                    ag.state, ag.direct_calls
                ));
            }
            if ag.state == AgentState::LoggedOut && !ag.memberships.is_empty() {
                return Err(format!("agent {a:?} logged out with memberships"));
            }
            if idle && ag.memberships.is_empty() {
                return Err(format!("agent {a:?} {:?} in no queue", ag.state));
            }
            for m in &ag.memberships {
                let q = &self.queues[m.queue.0 as usize];
                for t in 0..q.tiers.len() {
                    let key = self.free_key(a, q.strategy, m.levels[t]);
                    let member = m.tiers & (1 << t) != 0;
                    if q.free[t].contains(&key) != (member && ag.indexed) {
                        return Err(format!(
                            "agent {a:?} free-set entry wrong in {:?} tier {t}",
                            m.queue
                        ));
                    }
                }
            }
            match ag.state {
                AgentState::Reserved(call) => {
                    reserved += 1;
                    match self.calls.get(&call).map(|c| &c.state) {
                        Some(CallState::Offered { agents, .. }) if agents.contains(&a) => {}
                        other => {
                            return Err(format!("agent {a:?} reserved for {call:?} in {other:?}"))
                        }
                    }
                }
                AgentState::OnCall(call) => match self.calls.get(&call).map(|c| &c.state) {
                    Some(CallState::Connected { agent, .. }) if *agent == a => {}
                    other => return Err(format!("agent {a:?} on {call:?} in {other:?}")),
                },
                AgentState::WrapUp(until) if !self.timers.contains(&(until, Timer::WrapUp(a))) => {
                    return Err(format!("agent {a:?} in wrap-up without its timer"));
                }
                s if ag.disposition_due.is_some() && !matches!(s, AgentState::WrapUp(_)) => {
                    return Err(format!("agent {a:?} owes a disposition in state {s:?}"));
                }
                _ => {}
            }
        }
        let mut offered = 0usize;
        let mut waiting = 0usize;
        for (&id, c) in &self.calls {
            let q = &self.queues[c.queue.0 as usize];
            match &c.state {
                CallState::Waiting => {
                    waiting += 1;
                    if !q.waiting[c.tier as usize].contains(&self.wait_key(id, c)) {
                        return Err(format!("waiting call {id:?} missing from its waiting set"));
                    }
                }
                CallState::Offered { agents, deadline } => {
                    offered += agents.len();
                    let repeated = agents
                        .iter()
                        .enumerate()
                        .any(|(i, a)| agents[..i].contains(a));
                    if agents.is_empty() || repeated {
                        return Err(format!("call {id:?} offered to {agents:?}"));
                    }
                    if agents.len() > 1 && q.strategy != Strategy::RingAll {
                        return Err(format!("call {id:?} offered to {} agents", agents.len()));
                    }
                    for a in agents {
                        if self.agents[a.0 as usize].state != AgentState::Reserved(id) {
                            return Err(format!(
                                "call {id:?} offered to {a:?} not reserved for it"
                            ));
                        }
                    }
                    if !self.timers.contains(&(*deadline, Timer::Ring(id))) {
                        return Err(format!("offered call {id:?} without its ring timer"));
                    }
                }
                CallState::Connected { agent, .. } => {
                    if self.agents[agent.0 as usize].state != AgentState::OnCall(id) {
                        return Err(format!("call {id:?} connected to {agent:?} not on it"));
                    }
                }
            }
            if c.state != CallState::Waiting
                && q.waiting.iter().any(|w| w.contains(&self.wait_key(id, c)))
            {
                return Err(format!("call {id:?} in a waiting set but not waiting"));
            }
        }
        if offered != reserved {
            return Err(format!("{offered} offers but {reserved} reserved agents"));
        }
        let mut in_sets = 0usize;
        for (qi, q) in self.queues.iter().enumerate() {
            let len: usize = q.waiting.iter().map(|w| w.len()).sum();
            if len != q.waiting_len {
                return Err(format!(
                    "queue {qi}: waiting_len {} but {len} in sets",
                    q.waiting_len
                ));
            }
            in_sets += len;
            for (t, w) in q.waiting.iter().enumerate() {
                for &(_, _, _, id) in w {
                    match self.calls.get(&id) {
                        Some(c) if c.queue.0 as usize == qi && c.tier as usize == t => {}
                        _ => {
                            return Err(format!("queue {qi} tier {t}: stale waiting entry {id:?}"))
                        }
                    }
                }
                if !w.is_empty() && !q.free[t].is_empty() {
                    return Err(format!(
                        "queue {qi} tier {t}: a free agent and a waiting call"
                    ));
                }
            }
        }
        if in_sets != waiting {
            return Err(format!("{waiting} waiting calls but {in_sets} in sets"));
        }
        for &(at, timer) in &self.timers {
            let live = match timer {
                Timer::Ring(id) => matches!(
                    self.calls.get(&id).map(|c| &c.state),
                    Some(CallState::Offered { deadline, .. }) if *deadline == at
                ),
                Timer::MaxWait(id) => self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.max_wait_at == Some(at)),
                Timer::Relax(id) => self.calls.get(&id).is_some_and(|c| c.relax_at == Some(at)),
                Timer::WrapUp(a) => self.agents[a.0 as usize].state == AgentState::WrapUp(at),
            };
            if !live {
                return Err(format!("stale timer {timer:?} at {at:?}"));
            }
        }
        if self.actions.len() > ACTIONS_MAX + crate::acd::AGENTS_MAX {
            return Err(format!("{} undrained actions", self.actions.len()));
        }
        Ok(())
    }
}
