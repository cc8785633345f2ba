//! Inputs an operator or the agent's desktop gives through the API rather
//! than the phones: ending wrap-up early and changing an agent's skills;
//! and what a snapshot of an agent needs to read.

use std::time::Instant;

use super::router::*;
use super::spec::{compile_agent_skills, Profile};
use super::types::*;
use super::*;

impl Router {
    /// Wrap-up ends now rather than at its deadline.
    pub(super) fn end_wrap_up_early(&mut self, now: Instant, a: AgentId) -> Result<(), AcdError> {
        let AgentState::WrapUp(until) = self.agent(a)?.state else {
            return Err(AcdError::AgentNotInWrapUp(a));
        };
        self.timers.remove(&(until, Timer::WrapUp(a)));
        self.end_wrap_up(now, a);
        Ok(())
    }

    /// A disposition code arrived: a wrap-up held for one ends, at once or
    /// when the queue's `wrap_up` is over. Anything else stays as it is.
    pub(super) fn disposition(&mut self, now: Instant, a: AgentId) -> Result<(), AcdError> {
        let ag = self.agent(a)?;
        let (AgentState::WrapUp(until), Some(earliest)) = (ag.state, ag.disposition_due) else {
            return Ok(());
        };
        self.timers.remove(&(until, Timer::WrapUp(a)));
        if earliest <= now {
            self.end_wrap_up(now, a);
        } else {
            // No code is due any more; the plain wrap-up runs out.
            // Still in wrap-up, only sooner: no state change to announce.
            let ag = &mut self.agents[a.0 as usize];
            ag.disposition_due = None;
            ag.state = AgentState::WrapUp(earliest);
            self.timers.insert((earliest, Timer::WrapUp(a)));
        }
        Ok(())
    }

    /// New skills: each queue the agent is in is matched again, tier by
    /// tier; a queue they no longer meet at all is left. An error (a level
    /// out of range, too many skill names) changes nothing.
    pub(super) fn set_skills(
        &mut self,
        now: Instant,
        a: AgentId,
        skills: Vec<(String, u8)>,
    ) -> Result<(), AcdError> {
        let spec = AgentSpec {
            name: self.agent(a)?.name.clone(),
            skills,
            attributes: Vec::new(),
            max_no_answer: 0,
        };
        let compiled = compile_agent_skills(&spec, &mut self.skills)?;
        self.unindex(a);
        let staffed = !matches!(
            self.agents[a.0 as usize].state,
            AgentState::Paused(_) | AgentState::LoggedOut
        );
        let ag = &mut self.agents[a.0 as usize];
        ag.skills = compiled;
        let mut memberships = std::mem::take(&mut ag.memberships);
        let profile = Profile {
            skills: &ag.skills,
            attributes: &ag.attributes,
        };
        for m in &mut memberships {
            m.tiers = 0;
            m.levels = [0; TIERS_MAX];
            for (t, req) in self.queues[m.queue.0 as usize].tiers.iter().enumerate() {
                if let Some(level) = req.score(&profile) {
                    m.tiers |= 1 << t;
                    m.levels[t] = level;
                }
            }
        }
        for m in memberships.iter().filter(|m| m.tiers == 0) {
            let q = &mut self.queues[m.queue.0 as usize];
            q.logged_in -= 1;
            q.staffed -= u32::from(staffed);
        }
        memberships.retain(|m| m.tiers != 0);
        self.agents[a.0 as usize].memberships = memberships;
        // The same state again: indexes the agent under the new keys, or
        // logs them out if they are free in no queue now.
        let state = self.agents[a.0 as usize].state;
        self.set_state(now, a, state);
        Ok(())
    }

    /// The queues an agent is logged in to.
    pub fn agent_queues(&self, agent: AgentId) -> Vec<QueueId> {
        self.agents
            .get(agent.0 as usize)
            .map(|a| a.memberships.iter().map(|m| m.queue).collect())
            .unwrap_or_default()
    }

    /// Whether the agent's phone is registered, as the router was told.
    pub fn agent_registered(&self, agent: AgentId) -> bool {
        self.agents
            .get(agent.0 as usize)
            .is_some_and(|a| a.registered)
    }

    /// How many agents the router knows (ids run from 0).
    pub fn agents_len(&self) -> usize {
        self.agents.len()
    }
}
