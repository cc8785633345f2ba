//! Attended transfer (RFC 5589 §7) as desk phones do it: the agent holds
//! the caller, calls a colleague from the same phone (the consultation, a
//! call of its own in the switch, placed by the agent), then presses
//! Transfer: a REFER in the customer's dialog whose Refer-To carries
//! `Replaces` (RFC 3891) naming the consultation's dialog. The switch is
//! the REFER's target and the consultation's other end at once, so it does
//! the join itself: the colleague's leg moves from the consultation into
//! the customer's session (re-INVITEd onto the caller's anchor, RFC 3264
//! §8), the agent's two legs are hung up, and the agent goes to wrap-up.
//! A Replaces naming no dialog of this agent gets 481 in the final NOTIFY
//! (RFC 3891 §3) and nothing changes.

use std::time::Instant;

use tracing::{info, warn};

use super::demux::Owner;
use super::event::EventKind;
use super::inbound::{Refusal, Req};
use super::legs::Purpose;
use super::presence::Engagement;
use super::{MediaLeg, Output, Switch};
use crate::call::session::{BLeg, LegEvent};
use crate::call::{CallRef, Input};
use crate::sip::dialog::Dialog;
use crate::sip::replaces::Replaces;
use crate::sip::transaction::{AckTemplate, ClientKey, TxMethod};

impl Switch {
    /// A REFER with Replaces in the agent's dialog of `call`.
    pub(super) fn on_refer_replaces(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        call: CallRef,
        refer_to: &str,
    ) {
        let replaces = match Replaces::in_refer_to(refer_to) {
            Ok(Some(r)) => r,
            Ok(None) => return self.refuse(now, req, Refusal::plain(400)),
            Err(err) => {
                warn!(call = %call, %err, "REFER with a bad Replaces refused");
                return self.refuse(now, req, Refusal::plain(err.status()));
            }
        };
        if let Some(replaced) = self.focus_of(call) {
            return self.on_focus_refer(now, req, call, &replaces, &replaced);
        }
        if let Err(err) = self.transferable(call) {
            warn!(call = %call, %err, "attended transfer refused");
            return self.refuse(now, req, Refusal::plain(491));
        }
        let contact = [("Contact", self.contact_on(req.source.transport))];
        self.respond(now, req, 202, None, &contact, None);
        self.refer_notify(now, call, "SIP/2.0 100 Trying", false);
        let Some(consult) = self.consultation(call, &replaces) else {
            warn!(call = %call, "Replaces names no consultation of this agent: 481, the call stays");
            let frag = "SIP/2.0 481 Call/Transaction Does Not Exist";
            return self.refer_notify(now, call, frag, true);
        };
        // A consultation's callee counts as a transfer target for the loop bound.
        let from = self.calls.get(&call).and_then(|e| e.agent.clone());
        let target = self
            .calls
            .get(&consult)
            .and_then(|e| e.b.as_ref())
            .map(|b| {
                let fork = b.forks.get(b.winner.unwrap_or(0));
                fork.and_then(|f| f.agent.clone())
                    .unwrap_or_else(|| b.to_user())
            });
        let from = from.unwrap_or_default();
        if self
            .check_loop(call, &from, target.as_deref().unwrap_or(""))
            .is_err()
        {
            return self.refer_notify(now, call, "SIP/2.0 482 Loop Detected", true);
        }
        self.refer_notify(now, call, "SIP/2.0 200 OK", true);
        self.join_consultation(now, call, consult);
    }

    /// The consultation a Replaces names: a connected call the same agent
    /// placed, whose caller-side dialog (the agent's phone and us) has the
    /// Call-ID and tags given. `None` for anything else: unknown, another
    /// agent's, the customer call itself, or not answered yet.
    pub(super) fn consultation(&self, call: CallRef, replaces: &Replaces) -> Option<CallRef> {
        let agent = self.calls.get(&call)?.agent.clone()?;
        let Some(&Owner::Leg {
            call: consult,
            side: crate::call::Side::A,
        }) = self.demux.dialog(&replaces.call_id)
        else {
            return None;
        };
        let entry = self.calls.get(&consult)?;
        let theirs = entry.a.invite()?.from().tag()?;
        let ok = consult != call
            && entry.a_agent.as_deref() == Some(agent.as_str())
            && entry.is_talking()
            && replaces.names(&entry.a.call_id, &entry.a.local_tag, theirs)
            && entry.b.as_ref().and_then(|b| b.winner).is_some();
        ok.then_some(consult)
    }

    /// The colleague's leg leaves the consultation for the customer's
    /// call; the agent's legs of both calls are hung up.
    fn join_consultation(&mut self, now: Instant, call: CallRef, consult: CallRef) {
        let Some(b) = self.calls.get_mut(&consult).and_then(|e| e.b.take()) else {
            return;
        };
        let colleague = b
            .forks
            .get(b.winner.unwrap_or(0))
            .and_then(|f| f.agent.clone());
        let target = colleague.clone().unwrap_or_else(|| b.to_user());
        let from = self.calls.get(&call).and_then(|e| e.agent.clone());
        info!(call = %call, consult = %consult, "attended transfer: the caller joins the consultation's callee");
        self.release_transferor(now, call);
        self.adopt_b_leg(now, call, consult, b, colleague);
        // The consultation ends: BYE to the agent, none to the colleague.
        self.drive(now, consult, Input::HangUp);
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        entry.detail.transfers.push(target.clone());
        let party = target.clone();
        entry.detail.legs.handle(now, LegEvent::Joined { party });
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
        self.reinvite_b(now, call);
    }

    /// `b`, taken from `consult`, becomes the agent leg of `call`: the
    /// demultiplexer, the busy table and the router's view follow.
    pub(super) fn adopt_b_leg(
        &mut self,
        now: Instant,
        call: CallRef,
        consult: CallRef,
        b: BLeg,
        colleague: Option<String>,
    ) {
        self.demux.insert(
            &b.call_id,
            Owner::Leg {
                call,
                side: crate::call::Side::B,
            },
        );
        for f in &b.forks {
            let ours = matches!(self.demux.client_branch(&f.branch),
                Some(Owner::Client { call: c, .. }) if *c == consult);
            if ours {
                self.demux.remove_client_branch(&f.branch);
            }
        }
        if let Some(agent) = &colleague {
            // Busy on the customer's call before the consultation lets go.
            self.busy.insert(agent.clone(), call);
            self.engage(now, agent, Engagement::Callee(call));
        }
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        entry.b = Some(b);
        entry.agent = colleague;
    }

    /// Offers the caller's anchor to the agent leg again (RFC 3264 §8): a
    /// leg that came from another call still sends to that call's ports.
    pub(super) fn reinvite_b(&mut self, now: Instant, call: CallRef) {
        let branch = crate::sip::dialog::branch(&self.token());
        let Some(entry) = self.calls.get(&call) else {
            return;
        };
        let sdp = entry.fork_offer();
        let Some(dialog) = winner_dialog(entry.b.as_ref()) else {
            return;
        };
        let transport = dialog.next_hop().transport;
        let (local, contact) = (self.plan.local_on(transport), self.contact_on(transport));
        let Some(b) = self.calls.get_mut(&call).and_then(|e| e.b.as_mut()) else {
            return;
        };
        b.cseq += 1;
        let cseq = b.cseq;
        let bytes = dialog.reinvite(local, &branch, &b.call_id, cseq, &contact, &sdp);
        let head = dialog.reinvite_ack_head(local, &branch, &b.call_id, cseq);
        let ack = AckTemplate::new(head).expect("our ACK head ends with CRLF");
        let key = ClientKey {
            branch: branch.clone(),
            method: TxMethod::Invite,
        };
        match self.tx_send(now, key, dialog.next_hop(), bytes, Some(ack)) {
            Ok(()) => {
                let purpose = Purpose::Reinvite { cseq };
                self.demux.insert(&branch, Owner::Client { call, purpose });
            }
            Err(err) => {
                warn!(call = %call, %err, "cannot re-INVITE the transfer's callee: hanging up");
                self.drive(now, call, Input::HangUp);
            }
        }
    }

    /// The answer to our re-INVITE of the agent leg: ACK a 2xx and bridge
    /// the caller to the SDP it carries; a failure ends the call, logged.
    pub(super) fn on_reinvite_response(
        &mut self,
        now: Instant,
        call: CallRef,
        cseq: u32,
        msg: &crate::sip::parse::Message,
        status: u16,
    ) {
        if status < 200 {
            return;
        }
        if status >= 300 {
            warn!(call = %call, status, "the transfer's callee refused the re-INVITE: hanging up");
            return self.drive(now, call, Input::HangUp);
        }
        let branch = crate::sip::dialog::branch(&self.token());
        let Some(dialog) = self
            .calls
            .get(&call)
            .and_then(|e| winner_dialog(e.b.as_ref()))
        else {
            return;
        };
        let local = self.plan.local_on(dialog.next_hop().transport);
        let call_id = self
            .calls
            .get(&call)
            .and_then(|e| e.b.as_ref())
            .map(|b| b.call_id.clone());
        let Some(call_id) = call_id else { return };
        let bytes = dialog.ack(local, &branch, &call_id, cseq);
        if let Some(d) = self
            .calls
            .get_mut(&call)
            .and_then(|e| e.b.as_mut())
            .and_then(|b| b.forks.get_mut(b.winner?))
            .and_then(|f| f.dialog.as_mut())
        {
            // For a retransmitted 2xx (see `on_stray_2xx`).
            d.ack = Some(bytes.clone());
        }
        self.out.push_back(Output::Transmit {
            peer: dialog.next_hop(),
            bytes,
        });
        let answer = Some(msg.body().clone()).filter(|b| !b.is_empty());
        let _ = self.media_answer(call, answer);
        let held = self.calls.get(&call).and_then(|e| e.held_by());
        if held == Some(MediaLeg::Agent) {
            // The agent who held the caller is gone: the hold ends with them.
            self.hold_ended(now, call);
        }
        info!(call = %call, "attended transfer done: the caller talks to the new callee");
    }
}

/// The answered fork's dialog of an agent leg.
fn winner_dialog(b: Option<&BLeg>) -> Option<Dialog> {
    let b = b?;
    b.forks.get(b.winner?)?.dialog.clone()
}
