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

use super::disposition::LastCall;
use super::Switch;
use crate::acd;
use crate::call::{CallRef, CallUuid};

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

    /// The engagement ended in a call of `queue` the agent was brought
    /// into (a conference party who talked): they wrap up as after a call
    /// of that queue, the wrap-up about `call`, as a transferring agent
    /// does. Outside a queue they are free at once ([`Self::release`]).
    pub(super) fn release_to_wrap_up(
        &mut self,
        now: Instant,
        engagement: &Engagement,
        call: CallUuid,
        queue: Option<String>,
    ) {
        let Some(qid) = queue.as_deref().and_then(|q| self.router.queue_id(q)) else {
            return self.release(now, engagement);
        };
        let Some(agent) = self.presence.agents.remove(engagement) else {
            return;
        };
        let Some(id) = self.router.agent_id(&agent) else {
            return;
        };
        info!(
            agent,
            ?engagement,
            ?queue,
            "agent left a queue call: wrap-up"
        );
        let last = LastCall {
            call,
            queue,
            ended: now,
            disposed: false,
            customer: None,
        };
        self.last_calls.insert(agent.clone(), last);
        let input = acd::Input::DirectCallEndedWrapUp {
            agent: id,
            queue: qid,
        };
        if let Err(err) = self.route(now, input) {
            warn!(agent, %err, "the router did not take the end of the agent's part in the call");
        }
    }

    /// The call is gone: its caller and callee engagements end.
    pub(super) fn release_call(&mut self, now: Instant, id: CallRef) {
        self.release(now, &Engagement::Caller(id));
        self.release_callee(now, id);
        self.release(now, &Engagement::Consulted(id));
    }

    /// The call's direct callee leaves it (hung up, transferred it on,
    /// was taken over). One who answered a queue's call (a transfer's
    /// target, a colleague the caller was handed to) wraps up as that
    /// queue's own agents do; one who never answered, or a call of no
    /// queue, frees them at once.
    pub(super) fn release_callee(&mut self, now: Instant, id: CallRef) {
        let engagement = Engagement::Callee(id);
        let talked = self
            .calls
            .get(&id)
            .and_then(|e| e.b.as_ref())
            .is_some_and(|b| b.winner.is_some());
        match self.uuid_and_queue(id).filter(|_| talked) {
            Some((call, queue)) => self.release_to_wrap_up(now, &engagement, call, queue),
            None => self.release(now, &engagement),
        }
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
