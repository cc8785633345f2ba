//! Wrap-up and dispositions: which call an agent's wrap-up is about, the
//! disposition code they give it (a command from the API, or `*49<n>`
//! from their phone for the queue's n-th code), and `none` for a wrap-up
//! that waited for a code and ran out. The router holds the agent in
//! wrap-up (`Input::Disposition` lets go); this file tells the events.

use std::time::Instant;

use super::command::CommandError;
use super::event::{millis, EventKind};
use super::Switch;
use crate::acd;
use crate::call::session::detail::Direction;
use crate::call::{CallRef, CallUuid};

/// Longest disposition note kept, in characters.
pub const DISPOSITION_NOTE_CHARS_MAX: usize = 512;
/// What a wrap-up with no code records.
pub const NO_DISPOSITION: &str = "none";

/// An agent's last queue call, for its wrap-up and disposition.
#[derive(Clone, Debug)]
pub struct LastCall {
    pub call: CallUuid,
    pub queue: Option<String>,
    /// When the call ended (and the wrap-up began).
    pub ended: Instant,
    /// A code was given.
    pub disposed: bool,
    /// The customer's number, for a `callback` disposition with a time.
    pub customer: Option<String>,
}

impl Switch {
    /// A connected queue call is ending: its agent's wrap-up is about it.
    pub(super) fn wrap_up_due(&mut self, now: Instant, id: CallRef) {
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        let Some(agent) = e.agent.clone() else {
            return;
        };
        let customer = match e.detail.direction {
            Direction::Inbound => Some(e.detail.caller.clone()),
            Direction::Outbound | Direction::Callback => Some(e.dialled.clone()),
            Direction::Internal => None,
        };
        let last = LastCall {
            call: e.uuid,
            queue: e.queue.clone(),
            ended: now,
            disposed: false,
            customer,
        };
        // One entry per agent: bounded by the agent table.
        self.last_calls.insert(agent, last);
    }

    /// The call an agent in wrap-up is wrapping up.
    pub(super) fn wrap_up_call(&self, agent: &str) -> Option<CallUuid> {
        self.last_calls.get(agent).map(|l| l.call)
    }

    /// The agent left wrap-up: `none` if a code was due and never came,
    /// then the wrap-up's length.
    pub(super) fn wrap_up_ended(&mut self, now: Instant, agent: &str) {
        let Some(last) = self.last_calls.get_mut(agent) else {
            return;
        };
        let required =
            self.plan.acd_queues.iter().any(|q| {
                Some(&q.name) == last.queue.as_ref() && q.disposition_wrap_up_max.is_some()
            });
        let missing = required && !last.disposed;
        last.disposed |= missing;
        let last = last.clone();
        if missing {
            let kind = EventKind::CallDisposition {
                call: last.call,
                agent: agent.to_string(),
                queue: last.queue.clone(),
                code: NO_DISPOSITION.to_string(),
                note: None,
            };
            self.emit(now, kind);
        }
        let kind = EventKind::CallWrapUpEnded {
            call: last.call,
            agent: agent.to_string(),
            queue: last.queue,
            wrap_up_ms: millis(now.saturating_duration_since(last.ended)),
        };
        self.emit(now, kind);
    }

    /// The disposition of a finished queue call, from the API. The code
    /// must be one of its queue's (any code when the queue lists none).
    pub(super) fn dispose(
        &mut self,
        now: Instant,
        call: CallUuid,
        code: &str,
        note: Option<String>,
        by: Option<&str>,
    ) -> Result<(), CommandError> {
        // Several agents may wrap one call up (a transfer's): the one
        // named, else the last to leave it.
        let agent = self
            .last_calls
            .iter()
            .filter(|(a, l)| l.call == call && by.is_none_or(|by| by == a.as_str()))
            .max_by_key(|(a, l)| (l.ended, a.as_str()))
            .map(|(a, _)| a.clone());
        let Some(agent) = agent else {
            // A call still up has no disposition yet; any other is unknown.
            return Err(CommandError::UnknownCall(call));
        };
        if note
            .as_ref()
            .is_some_and(|n| n.chars().count() > DISPOSITION_NOTE_CHARS_MAX)
        {
            return Err(CommandError::DispositionNote);
        }
        let queue = self.last_calls[&agent].queue.clone();
        let codes = queue.as_ref().and_then(|q| self.plan.dispositions.get(q));
        let known = match codes {
            Some(codes) => codes.iter().any(|c| c == code),
            None => !code.is_empty() && code != NO_DISPOSITION,
        };
        if !known || code.chars().count() > crate::config::NAME_CHARS_MAX {
            return Err(CommandError::UnknownDisposition(code.to_string()));
        }
        self.record_disposition(now, &agent, code.to_string(), note);
        Ok(())
    }

    /// `*49<n>`: the n-th code of the queue of the agent's last call.
    pub(super) fn dispose_by_index(&mut self, now: Instant, agent: &str, n: usize) -> bool {
        let Some(last) = self.last_calls.get(agent) else {
            return false;
        };
        let code = last
            .queue
            .as_ref()
            .and_then(|q| self.plan.dispositions.get(q))
            .and_then(|codes| codes.get(n.wrapping_sub(1)))
            .cloned();
        let Some(code) = code else {
            return false;
        };
        self.record_disposition(now, agent, code, None);
        true
    }

    fn record_disposition(
        &mut self,
        now: Instant,
        agent: &str,
        code: String,
        note: Option<String>,
    ) {
        let Some(last) = self.last_calls.get_mut(agent) else {
            return;
        };
        last.disposed = true;
        let call = last.call;
        if code == super::campaign_calls::DO_NOT_CALL_DISPOSITION {
            self.campaign_do_not_call(call);
        }
        let Some(last) = self.last_calls.get(agent) else {
            return;
        };
        let kind = EventKind::CallDisposition {
            call: last.call,
            agent: agent.to_string(),
            queue: last.queue.clone(),
            code,
            note,
        };
        self.emit(now, kind);
        if let Some(id) = self.router.agent_id(agent) {
            // Ends a wrap-up held for the code; otherwise changes nothing.
            let _ = self.route(now, acd::Input::Disposition { agent: id });
        }
    }
}
