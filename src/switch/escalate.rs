//! Escalation and takeover. An agent who cannot help escalates a talking
//! call (`*53` dialled as DTMF during the call, or the API's escalate):
//! the agent's leg goes (wrap-up), the caller joins `[switch]
//! escalation_queue` with its priority and hears the queue's music. A
//! supervisor listening in (`*50`–`*52`) may instead take the call over
//! (the API's takeover, or DTMF 7 from the supervisor): the agent's leg
//! gets a BYE and goes to wrap-up, the supervisor stays with the caller
//! and becomes the call's agent; the supervisor's hang-up then ends the
//! call, and the supervisor wraps up after it as the queue's agent would.

use std::time::Instant;

use tracing::{info, warn};

use super::command::CommandError;
use super::event::EventKind;
use super::transfer::Target;
use super::{MediaCommand, Output, Switch};
use crate::call::session::LegEvent;
use crate::call::{CallRef, CallUuid, Input};
use crate::media::mix::Mode;

/// The agent's DTMF that escalates a talking call.
pub const ESCALATE_KEYS: &str = "*53";
/// The supervisor's DTMF that takes the call over.
pub const TAKEOVER_DIGIT: char = '7';

impl Switch {
    /// Moves a talking call into the escalation queue. Nothing changes on
    /// an error.
    pub(super) fn escalate(&mut self, now: Instant, id: CallRef) -> Result<(), CommandError> {
        self.transferable(id)?;
        let entry = self.calls.get(&id).ok_or(CommandError::NotTalking)?;
        if entry.phase.supervisor().is_some() || entry.phase.consult().is_some() {
            return Err(CommandError::Consulting);
        }
        let (queue, priority) = self
            .plan
            .escalation
            .clone()
            .ok_or(CommandError::NoEscalationQueue)?;
        if self.router.queue_id(&queue).is_none() {
            return Err(CommandError::UnknownQueue(queue));
        }
        let from = entry.agent.clone();
        info!(call = %id, queue, priority, agent = ?from, "call escalated");
        self.release_transferor(now, id);
        self.drive(now, id, Input::Transfer);
        let uuid = match self.calls.get_mut(&id) {
            Some(entry) => {
                // A failed escalation goes back to the queue, not the agent.
                entry.transfer_from = None;
                entry.detail.transfers.push(queue.clone());
                entry.uuid
            }
            None => return Ok(()),
        };
        self.leg_event(now, id, LegEvent::Escalated);
        let by = from;
        let kind = EventKind::CallEscalated {
            call: uuid,
            by,
            queue: queue.clone(),
        };
        self.emit(now, kind);
        let target = Target::Queue {
            queue,
            priority,
            attributes: Vec::new(),
        };
        self.ring_target(now, id, target);
        Ok(())
    }

    pub(super) fn escalate_command(
        &mut self,
        now: Instant,
        call: CallUuid,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        let result = self.escalate(now, id);
        if let Err(err) = &result {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "escalation refused"));
        }
        result
    }

    /// A digit from the agent's leg: `*53` at the end of the call's digits
    /// escalates; refused, it is only logged (the call goes on).
    pub(super) fn agent_keys(&mut self, now: Instant, id: CallRef) {
        let typed = self
            .calls
            .get(&id)
            .is_some_and(|e| e.digits.ends_with(ESCALATE_KEYS));
        if !typed {
            return;
        }
        if let Some(entry) = self.calls.get_mut(&id) {
            // The code is used up: a later digit must not fire it again.
            entry.digits.clear();
        }
        if let Err(err) = self.escalate(now, id) {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "*53 ignored"));
        }
    }

    /// The supervisor listening in on `id` takes the call over.
    pub(super) fn takeover(&mut self, now: Instant, id: CallRef) -> Result<(), CommandError> {
        let entry = self.calls.get(&id).ok_or(CommandError::NotSupervised)?;
        let supervisor = entry
            .phase
            .supervisor()
            .map(|leg| leg.by.clone())
            .ok_or(CommandError::NotSupervised)?;
        if !entry.is_talking() || entry.b.is_none() {
            return Err(CommandError::NotTalking);
        }
        let from = entry.agent.clone();
        info!(call = %id, supervisor, agent = ?from, "supervisor took the call over");
        let dialog = entry
            .b
            .as_ref()
            .and_then(|b| b.forks.get(b.winner?))
            .and_then(|f| f.dialog.clone());
        if let Some(dialog) = dialog {
            self.send_in_dialog_bye(now, id, &dialog);
        }
        // The agent's part ends as in a transfer (wrap-up for a queue call).
        self.report_call_gone(now, id);
        self.release_callee(now, id);
        self.drop_b_leg(now, id);
        // Caller and supervisor hear each other; nothing goes to or comes
        // from the agent's leg any more.
        self.out
            .push_back(Output::Media(MediaCommand::Unbridge { call: id }));
        self.out.push_back(Output::Media(MediaCommand::Supervise {
            call: id,
            mode: Mode::Takeover,
        }));
        let uuid = match self.calls.get_mut(&id) {
            Some(entry) => {
                entry.agent = Some(supervisor.clone());
                if let Some(leg) = entry.phase.supervisor_mut() {
                    leg.took_over = true;
                }
                entry.detail.transfers.push(supervisor.clone());
                entry.uuid
            }
            None => return Ok(()),
        };
        let taken = LegEvent::TakenOver {
            supervisor: supervisor.clone(),
        };
        self.leg_event(now, id, taken);
        let kind = EventKind::CallTakenOver {
            call: uuid,
            supervisor,
            from,
        };
        self.emit(now, kind);
        Ok(())
    }

    pub(super) fn takeover_command(
        &mut self,
        now: Instant,
        call: CallUuid,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        let result = self.takeover(now, id);
        if let Err(err) = &result {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "takeover refused"));
        }
        result
    }

    /// Whether the call was taken over: talking, no agent leg, a
    /// supervisor's. Its supervisor hanging up ends it.
    pub(super) fn taken_over(&self, id: CallRef) -> bool {
        self.calls
            .get(&id)
            .is_some_and(|e| e.is_talking() && e.b.is_none())
    }
}
