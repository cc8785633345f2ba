//! Which agents are on calls the router did not give them: the caller leg
//! of a call an agent placed (internal, out through a trunk, to a DID),
//! the callee of a direct call (DID or extension, from ringing on), and a
//! supervisor listening in. Each such engagement is told to the router
//! once when it starts and once when it ends ([`acd::Input::DirectCallStarted`]),
//! so the agent is `Busy` for the queues meanwhile and no offer is held
//! for a phone that cannot ring.

use std::collections::HashMap;
use std::time::Instant;

use tracing::{info, warn};

use super::Switch;
use crate::acd;
use crate::call::CallRef;

/// What keeps an agent busy outside the queues.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Engagement {
    /// The agent placed the call.
    Caller(CallRef),
    /// The agent is rung, or talks, as the callee of a direct call.
    Callee(CallRef),
    /// The agent is the colleague an API consultation of the call rings
    /// or talks to (never a missed offer: the router is not offering).
    Consulted(CallRef),
    /// The agent is a party the call's conference rings or mixes, by the
    /// party's number in the call.
    Conferenced(CallRef, u8),
    /// The agent listens in, by the Call-ID of the supervisor's dialog.
    Supervising(String),
}

/// Engagements and their agents. At most two per call and one per
/// supervisor dialog, so bounded by the call and supervisor limits.
#[derive(Debug, Default)]
pub(super) struct Presence {
    agents: HashMap<Engagement, String>,
}

impl Switch {
    /// `agent` starts a call of their own; the router makes them busy.
    pub(super) fn engage(&mut self, now: Instant, agent: &str, engagement: Engagement) {
        let Some(id) = self.router.agent_id(agent) else {
            return;
        };
        if self.presence.agents.contains_key(&engagement) {
            return;
        }
        info!(
            agent,
            ?engagement,
            "agent busy on a call outside the queues"
        );
        self.presence.agents.insert(engagement, agent.to_string());
        if let Err(err) = self.route(now, acd::Input::DirectCallStarted { agent: id }) {
            warn!(agent, %err, "the router did not take the agent's own call");
        }
    }

    /// The engagement ended (idempotent): the router frees the agent after
    /// their last one.
    pub(super) fn release(&mut self, now: Instant, engagement: &Engagement) {
        let Some(agent) = self.presence.agents.remove(engagement) else {
            return;
        };
        let Some(id) = self.router.agent_id(&agent) else {
            return;
        };
        info!(agent, ?engagement, "agent's own call ended");
        if let Err(err) = self.route(now, acd::Input::DirectCallEnded { agent: id }) {
            warn!(agent, %err, "the router did not take the end of the agent's own call");
        }
    }

    /// The call is gone: its caller and callee engagements end.
    pub(super) fn release_call(&mut self, now: Instant, id: CallRef) {
        self.release(now, &Engagement::Caller(id));
        self.release(now, &Engagement::Callee(id));
        self.release(now, &Engagement::Consulted(id));
    }

    /// A call the agent is on outside the queues, if any.
    pub(super) fn own_call(&self, agent: &str) -> Option<CallRef> {
        self.presence.agents.iter().find_map(|(e, a)| match e {
            Engagement::Caller(id) | Engagement::Callee(id) if a == agent => Some(*id),
            _ => None,
        })
    }

    /// Engagements live now, for checks.
    pub fn engagements(&self) -> usize {
        self.presence.agents.len()
    }
}
