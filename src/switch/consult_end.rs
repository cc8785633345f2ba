//! How an API consultation ends (see `consult.rs`): completed (the
//! colleague becomes the call's agent leg, the agent goes to wrap-up),
//! cancelled or failed (the colleague's leg ends, the agent is back with
//! the caller), or with the call (the colleague's leg is hung up too).

use std::time::Instant;

use tracing::{info, warn};

use super::command::CommandError;
use super::demux::{Owner, OwnerKind};
use super::event::EventKind;
use super::legs::{Purpose, Zombie, ZOMBIE_FORKS_MAX};
use super::presence::Engagement;
use super::{MediaCommand, Output, Switch};
use crate::call::session::{Consultation, LegEvent};
use crate::call::{CallRef, CallUuid, OnDrop};
use crate::sip::transaction::{ClientKey, TxMethod};

impl Switch {
    /// `ConsultComplete`: the caller is joined to the colleague.
    pub(super) fn consult_complete(
        &mut self,
        now: Instant,
        call: CallUuid,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        let entry = self.calls.get_mut(&id).ok_or(CommandError::NotConsulting)?;
        let Some(target) = entry.phase.consult().filter(|c| c.answered) else {
            return Err(CommandError::NotConsulting);
        };
        let (target, from) = (target.target.clone(), entry.agent.clone());
        // The colleague counts as a transfer target for the loop bound.
        self.check_loop(id, from.as_deref().unwrap_or(""), &target)?;
        let Some(entry) = self.calls.get_mut(&id) else {
            return Err(CommandError::NotConsulting);
        };
        let Some(c) = entry.phase.leave_consult() else {
            return Err(CommandError::NotConsulting);
        };
        let from = entry.agent.clone();
        let Consultation { target, leg, .. } = *c;
        let colleague = leg.agent.clone();
        info!(call = %id, "consultation completed: the caller joins the colleague");
        self.out
            .push_back(Output::Media(MediaCommand::EndSupervision { call: id }));
        for f in &leg.forks {
            self.demux.remove_client_branch(&f.branch);
        }
        self.demux.remove_dialog(&leg.call_id);
        self.release_transferor(now, id);
        self.adopt_b_leg(now, id, id, leg, colleague);
        self.release(now, &Engagement::Consulted(id));
        let Some(entry) = self.calls.get_mut(&id) else {
            return Ok(());
        };
        entry.detail.transfers.push(target.clone());
        entry.detail.legs.handle(now, LegEvent::ConsultJoined);
        entry.call.transfers += 1;
        let uuid = entry.uuid;
        self.emit(
            now,
            EventKind::CallTransferred {
                call: uuid,
                by: from,
                to: target,
            },
        );
        self.reinvite_b(now, id);
        self.pump(now);
        Ok(())
    }

    /// `ConsultCancel`: the colleague's leg ends, the agent has the caller back.
    pub(super) fn consult_cancel(
        &mut self,
        now: Instant,
        call: CallUuid,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        if self
            .calls
            .get(&id)
            .and_then(|e| e.phase.consult())
            .is_none()
        {
            return Err(CommandError::NotConsulting);
        }
        info!(call = %id, "consultation cancelled");
        self.end_consult(now, id, "cancelled");
        self.pump(now);
        Ok(())
    }

    /// The consultation ends without a transfer (`how`: cancelled, failed,
    /// hung_up): its leg goes, the agent and the caller talk again.
    pub(super) fn end_consult(&mut self, now: Instant, id: CallRef, how: &'static str) {
        let Some(c) = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.phase.leave_consult())
        else {
            return;
        };
        let held_by_us = c.held_by_us;
        let target = c.target.clone();
        self.drop_consultation(now, id, *c);
        self.out
            .push_back(Output::Media(MediaCommand::EndSupervision { call: id }));
        if held_by_us {
            self.out
                .push_back(Output::Media(MediaCommand::Bridge { call: id }));
            self.hold_ended(now, id);
        }
        let outcome = super::record_legs::consult_outcome(how);
        self.leg_event(now, id, LegEvent::ConsultEnded { outcome });
        if let Some(call) = self.calls.get(&id).map(|e| e.uuid) {
            self.emit(
                now,
                EventKind::CallConsultEnded {
                    call,
                    to: target,
                    how,
                },
            );
        }
    }

    /// The call ended while its agent consulted: the colleague's leg goes too.
    pub(super) fn consultation_call_ended(&mut self, now: Instant, id: CallRef, c: Consultation) {
        warn!(call = %id, "the call ended during its consultation: the colleague is hung up");
        self.drop_consultation(now, id, c);
    }

    /// Hangs up or cancels the consultation's leg and forgets it.
    pub(super) fn drop_consultation(&mut self, now: Instant, id: CallRef, c: Consultation) {
        let leg = c.leg;
        self.demux.remove_dialog(&leg.call_id);
        if let Some(agent) = &leg.agent {
            if self.busy.get(agent) == Some(&id) {
                self.busy.remove(agent);
            }
        }
        self.release(now, &Engagement::Consulted(id));
        let f = &leg.forks[0];
        if let Some(d) = &f.dialog {
            self.demux.remove_client_branch(&f.branch);
            let branch = crate::sip::dialog::branch(&self.token());
            let local = self.plan.local_on(d.next_hop().transport);
            let bytes = d.bye(local, &branch, &leg.call_id, leg.cseq + 1);
            let key = ClientKey {
                branch: branch.clone(),
                method: TxMethod::NonInvite("BYE".into()),
            };
            if self.tx_send(now, key, d.next_hop(), bytes, None).is_ok() {
                let purpose = Purpose::Ignore;
                self.demux
                    .insert(&branch, Owner::Client { call: id, purpose });
            }
            return;
        }
        if f.branch.is_empty() {
            return;
        }
        let cancel = leg.invite(0).cancel();
        match f.state.on_drop() {
            OnDrop::Nothing => {
                self.demux.remove_client_branch(&f.branch);
            }
            OnDrop::Cancel => {
                let key = ClientKey {
                    branch: f.branch.clone(),
                    method: TxMethod::NonInvite("CANCEL".into()),
                };
                // The INVITE's branch stays ours: its 487 is absorbed there.
                let _ = self.tx_send(now, key, f.peer, cancel, None);
            }
            OnDrop::CancelLater => {
                if self.demux.count(OwnerKind::Zombie) >= ZOMBIE_FORKS_MAX {
                    self.stats.zombies_dropped += 1;
                    self.demux.remove_client_branch(&f.branch);
                    return;
                }
                let zombie = Zombie {
                    peer: f.peer,
                    cancel,
                };
                self.demux
                    .insert(&f.branch, Owner::Zombie(Box::new(zombie)));
            }
        }
    }
}
