//! Calls the router did not give: an agent on a direct DID call, an
//! internal call, a call out through a trunk, or listening in as a
//! supervisor is `Busy` for the queues. An offer held for such an agent
//! would ring nobody and count a miss; instead they get none until the
//! last such call ends.

use std::time::Instant;

use super::types::*;
use super::*;

impl Router {
    /// The agent is on one more call of their own. A pending offer is
    /// withdrawn without counting a miss (the call goes back to its place).
    pub(super) fn direct_call_started(&mut self, now: Instant, a: AgentId) -> Result<(), AcdError> {
        let ag = self.agent(a)?;
        if ag.direct_calls >= DIRECT_CALLS_PER_AGENT_MAX {
            return Err(AcdError::TooManyDirectCalls {
                agent: a,
                max: DIRECT_CALLS_PER_AGENT_MAX,
            });
        }
        let state = ag.state;
        self.agents[a.0 as usize].direct_calls += 1;
        match state {
            AgentState::Reserved(call) => {
                self.detach_offer(now, call, a, true);
                self.set_state(now, a, AgentState::Available);
            }
            AgentState::Available => self.set_state(now, a, AgentState::Available),
            // On a queue call, in wrap-up, paused, logged out or busy
            // already: the state stays; the count keeps them busy after.
            _ => {}
        }
        Ok(())
    }

    /// One of the agent's own calls ended; after the last they are free
    /// again (from now, for longest-idle), unless paused or logged out.
    /// With `wrap_up`, the call was one of that queue: they wrap up first,
    /// as its `wrap_up` says.
    pub(super) fn direct_call_ended(
        &mut self,
        now: Instant,
        a: AgentId,
        wrap_up: Option<QueueId>,
    ) -> Result<(), AcdError> {
        let ag = self.agent(a)?;
        if ag.direct_calls == 0 {
            return Err(AcdError::NoDirectCall(a));
        }
        if let Some(q) = wrap_up.filter(|q| self.queues.get(q.0 as usize).is_none()) {
            return Err(AcdError::UnknownQueue(q));
        }
        let ag = &mut self.agents[a.0 as usize];
        ag.direct_calls -= 1;
        if ag.direct_calls == 0 && ag.state == AgentState::Busy {
            match wrap_up {
                Some(queue) => self.start_wrap_up(now, a, queue),
                None => {
                    ag.idle_since = now;
                    self.set_state(now, a, AgentState::Available);
                }
            }
        }
        Ok(())
    }

    /// Calls of their own the agent is on.
    pub fn direct_calls(&self, agent: AgentId) -> u32 {
        self.agents
            .get(agent.0 as usize)
            .map_or(0, |a| a.direct_calls)
    }
}
