//! Blind transfer (RFC 3515 REFER in the agent's dialog, or the API's
//! `Command::Transfer`): the switch takes the call over from the agent,
//! lets the agent's leg go (their wrap-up starts), keeps the caller's
//! anchored leg and rings the new callee (an agent, a queue's DID, or an
//! outside number through the agent's dial rules and the trunk) while the
//! caller hears ringback or the queue's music. The REFER's subscription
//! ends as soon as the switch holds the call (`SIP/2.0 200 OK`) or the
//! target is refused (the failure's status line; the call stays with the
//! agent). A new callee that fails hands the call back to the transferring
//! agent, then to the call's queue, else the call is hung up, logged.

use std::time::Instant;

use tracing::{info, warn};

use super::command::CommandError;
use super::demux::Owner;
use super::event::EventKind;
use super::inbound::{Refusal, Req};
use super::legs::Purpose;
use super::plan::Route;
use super::referrer::Referrer;
use super::timers::Timer;
use super::{Output, Switch};
use crate::call::session::LegEvent;
use crate::call::{CallRef, Input, Routing, Side};
use crate::config::TransferFallback;
use crate::media::command::{MediaCommand, MediaLeg};
use crate::sip::parse::HeaderName;
use crate::sip::transaction::{ClientKey, TxMethod};

/// Transfers one customer call may go through: more is a loop.
pub const TRANSFERS_PER_CALL_MAX: u32 = 5;
/// Longest transfer target kept (an extension, a DID or a number).
pub const TRANSFER_TARGET_CHARS_MAX: usize = 64;

/// Where a transfer sends the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Agent(String),
    Queue {
        queue: String,
        priority: u8,
        attributes: Vec<(String, String)>,
    },
    Number(String),
}

impl Switch {
    /// A REFER in a call's dialog, from the `side` leg.
    pub(super) fn on_refer(&mut self, now: Instant, req: &Req<'_>, call: CallRef, side: Side) {
        let span = self.call_span(call);
        let _in_call = span.enter();
        match self.referrer(call, side) {
            Referrer::Agent => {}
            Referrer::PlacingAgent if self.refers_to_factory(req) => {
                return self.on_placed_refer_to_factory(now, req, call);
            }
            Referrer::PlacingAgent => {
                // The agent's leg is the A leg here: moving it is not built.
                warn!(call = %call, "REFER on a call the agent placed refused: not supported");
                return self.refuse(now, req, Refusal::plain(403));
            }
            Referrer::Carrier { trunk, allowed } if !allowed => {
                warn!(call = %call, trunk, "REFER from the carrier's side refused: allow_refer is off");
                return self.refuse(now, req, Refusal::plain(403));
            }
            Referrer::Carrier { trunk, .. } => {
                info!(call = %call, trunk, "REFER from the carrier's side: the trunk allows it");
                if side == Side::A {
                    return self.on_carrier_refer(now, req, call);
                }
            }
        }
        let Some(to) = req.msg.header(&HeaderName::ReferTo).map(str::to_string) else {
            warn!(call = %call, "REFER without Refer-To refused");
            return self.refuse(now, req, Refusal::plain(400));
        };
        if to.contains("Replaces") {
            return self.on_refer_replaces(now, req, call, &to);
        }
        if self.is_conference_factory(uri_user(&to)) {
            return self.on_refer_to_factory(now, req, call);
        }
        if self.focus_of(call).is_some() {
            return self.on_focus_dial_out(now, req, call, &to);
        }
        if let Err(err) = self.transferable(call) {
            warn!(call = %call, %err, "REFER refused");
            let status = if err == CommandError::TransferLoop {
                403
            } else {
                491
            };
            return self.refuse(now, req, Refusal::plain(status));
        }
        let contact = [("Contact", self.contact_on(req.source.transport))];
        self.respond(now, req, 202, None, &contact, None);
        self.refer_notify(now, call, "SIP/2.0 100 Trying", false);
        if let Err(err) = self.transfer(now, call, &to, true) {
            let status = sip_status(&err);
            warn!(call = %call, %err, status, "transfer refused: the call stays with the agent");
            let frag = format!("SIP/2.0 {status} {}", crate::sip::build::reason(status));
            self.refer_notify(now, call, &frag, true);
        }
    }

    /// A connected, anchored call under the loop bound.
    pub(super) fn transferable(&self, id: CallRef) -> Result<(), CommandError> {
        let entry = self.calls.get(&id).ok_or(CommandError::NotTalking)?;
        if !entry.is_talking() || entry.b.is_none() {
            return Err(CommandError::NotTalking);
        }
        if entry.media.is_none() {
            return Err(CommandError::NoMedia);
        }
        if entry.call.transfers >= TRANSFERS_PER_CALL_MAX {
            return Err(CommandError::TransferLoop);
        }
        Ok(())
    }

    /// Moves a connected call to `to`. Nothing changes on an error.
    pub(super) fn transfer(
        &mut self,
        now: Instant,
        id: CallRef,
        to: &str,
        notify: bool,
    ) -> Result<(), CommandError> {
        self.transferable(id)?;
        let entry = self.calls.get(&id).ok_or(CommandError::NotTalking)?;
        let from = entry.agent.clone().unwrap_or_default();
        let target = self.transfer_target(&from, to)?;
        self.check_loop(id, &from, target_text(&target))?;
        if notify {
            self.refer_notify(now, id, "SIP/2.0 200 OK", true);
        }
        info!(call = %id, to = target_text(&target), "blind transfer");
        self.release_transferor(now, id);
        self.drive(now, id, Input::Transfer);
        let uuid = match self.calls.get_mut(&id) {
            Some(entry) => {
                entry.transfer_from = Some(from.clone()).filter(|a| !a.is_empty());
                entry
                    .detail
                    .transfers
                    .push(target_text(&target).to_string());
                entry.uuid
            }
            None => return Ok(()),
        };
        self.leg_event(now, id, LegEvent::Transferred);
        self.emit(
            now,
            EventKind::CallTransferred {
                call: uuid,
                by: Some(from).filter(|a| !a.is_empty()),
                to: target_text(&target).to_string(),
            },
        );
        self.ring_target(now, id, target);
        Ok(())
    }

    /// A transfer back to a party the call was with, one more time than
    /// `transfer_loop_max` allows, is a loop; otherwise it is counted.
    pub(super) fn check_loop(
        &mut self,
        id: CallRef,
        from: &str,
        party: &str,
    ) -> Result<(), CommandError> {
        let max = self.plan.transfer_loop_max;
        let entry = self.calls.get_mut(&id).ok_or(CommandError::NotTalking)?;
        let returning = entry.transfer_parties.iter().any(|p| p == party);
        if returning && entry.transfer_returns >= max {
            let returns = entry.transfer_returns;
            warn!(call = %id, to = party, returns, max, "transfer loop stopped: the call stays with the agent");
            return Err(CommandError::TransferLoop);
        }
        if entry.transfer_parties.is_empty() && !from.is_empty() {
            entry.transfer_parties.push(from.to_string());
        }
        if returning {
            entry.transfer_returns += 1;
        } else {
            entry.transfer_parties.push(party.to_string());
        }
        Ok(())
    }

    /// What `to` (a SIP URI or plain digits) names, for the transferring
    /// agent: an agent, a DID to a queue or an agent, or a number out.
    pub(super) fn transfer_target(&self, from: &str, to: &str) -> Result<Target, CommandError> {
        let user = uri_user(to);
        if user.is_empty() || user.len() > TRANSFER_TARGET_CHARS_MAX {
            return Err(CommandError::BadTarget(user.to_string()));
        }
        if user == from {
            return Err(CommandError::BadTarget(user.to_string()));
        }
        if self.plan.agents.contains_key(user) {
            return Ok(Target::Agent(user.to_string()));
        }
        match self.plan.dids.get(user) {
            Some(Route::Agent(agent)) if agent != from => return Ok(Target::Agent(agent.clone())),
            Some(Route::Queue {
                queue,
                priority,
                attributes,
            }) => {
                return Ok(Target::Queue {
                    queue: queue.clone(),
                    priority: *priority,
                    attributes: attributes.clone(),
                })
            }
            Some(_) => return Err(CommandError::BadTarget(user.to_string())),
            None => {}
        }
        let number_ok = user
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'+' || b == b'*');
        if !number_ok {
            return Err(CommandError::BadTarget(user.to_string()));
        }
        if let Err(refused) = self.plan.check_dial(from, user) {
            return Err(CommandError::DialRefused(refused));
        }
        if self.carrier_order().is_empty() {
            return Err(CommandError::NoOutboundTrunk);
        }
        Ok(Target::Number(user.to_string()))
    }

    /// The transferring agent's leg goes: BYE, the router ends their part
    /// (wrap-up for a queue call), their direct-call engagement ends.
    pub(super) fn release_transferor(&mut self, now: Instant, id: CallRef) {
        let dialog = self
            .calls
            .get(&id)
            .and_then(|e| e.b.as_ref())
            .and_then(|b| b.forks.get(b.winner?))
            .and_then(|f| f.dialog.clone());
        if let Some(dialog) = dialog {
            self.send_in_dialog_bye(now, id, &dialog);
        }
        self.report_call_gone(now, id);
        self.release_callee(now, id);
        self.drop_b_leg(now, id);
        // The caller waits on the switch: no relaying to a leg that is gone.
        self.out
            .push_back(Output::Media(MediaCommand::Unbridge { call: id }));
    }

    /// Rings the transfer's target; the caller hears ringback (a queue
    /// plays its own music).
    pub(super) fn ring_target(&mut self, now: Instant, id: CallRef, target: Target) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        match target {
            Target::Queue {
                queue,
                priority,
                attributes,
            } => {
                entry.call.routing = Routing::Queued;
                entry.queue = Some(queue.clone());
                entry.detail.queue_entered = None;
                // The caller keeps its place by waiting time since it
                // reached the switch, at least at the queue's priority.
                let arrived = entry.call.created;
                let least = self.plan.queue_transfers.get(&queue).map_or(0, |r| r.0);
                let priority = priority.max(least);
                self.enqueue_since(now, id, &queue, priority, attributes, Some(arrived));
                self.start_queue_audio(now, id);
            }
            Target::Agent(agent) => {
                entry.call.routing = Routing::Direct;
                self.play_ringback(id);
                self.offer_agent(now, id, &agent);
            }
            Target::Number(number) => {
                entry.call.routing = Routing::Direct;
                self.play_ringback(id);
                self.offer_carrier(now, id, &number);
            }
        }
    }

    fn play_ringback(&mut self, id: CallRef) {
        self.out.push_back(Output::Media(MediaCommand::Play {
            call: id,
            leg: MediaLeg::Caller,
            intro: Vec::new(),
            music: vec![super::ivr::MENU_RINGBACK.to_owned()],
        }));
    }

    /// The transfer's new callee answered: the caller is bridged to it.
    pub(super) fn reconnect(&mut self, now: Instant, id: CallRef, fork: usize) {
        let answer = self
            .calls
            .get(&id)
            .and_then(|e| e.b.as_ref())
            .and_then(|b| b.forks.get(fork))
            .and_then(|f| f.dialog.as_ref())
            .and_then(|d| d.answer.clone());
        // The caller's own answer (our anchor) stays as it was.
        let _ = self.media_answer(id, answer);
        self.session_event(now, id, crate::call::session::SessionEvent::RingStopped);
        if let Some(entry) = self.calls.get_mut(&id) {
            entry.transfer_from = None;
        }
        info!(call = %id, "transfer target answered: caller connected");
        self.answered_event(now, id);
    }

    /// The transfer's new callee failed: the call's queue's
    /// `transfer_fallback`, by default back to the transferring agent,
    /// else the call's queue, else the call ends. Never silently.
    pub(super) fn transfer_failed(&mut self, now: Instant, id: CallRef, status: u16) {
        warn!(call = %id, status, "transfer target failed");
        self.drop_b_leg(now, id);
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        let fallback = entry
            .queue
            .as_ref()
            .and_then(|q| self.plan.queue_transfers.get(q))
            .map(|r| r.1.clone())
            .unwrap_or_default();
        match fallback {
            TransferFallback::Agent => {}
            TransferFallback::Queue(queue) => return self.fall_back_to_queue(now, id, &queue),
            TransferFallback::Prompt { prompt, after } => {
                return self.fall_back_to_prompt(now, id, prompt, after)
            }
        }
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(agent) = entry.transfer_from.take() {
            info!(call = %id, agent, "the call goes back to the transferring agent");
            entry.call.routing = Routing::Direct;
            return self.offer_agent(now, id, &agent);
        }
        let queue = entry.queue.clone();
        if let Some(queue) = queue.filter(|q| self.router.queue_id(q).is_some()) {
            info!(call = %id, queue, "the call goes back to its queue");
            entry.call.routing = Routing::Queued;
            self.enqueue(now, id, &queue, 0, Vec::new());
            return self.start_queue_audio(now, id);
        }
        warn!(call = %id, "no fallback for the failed transfer: hanging up");
        self.drive(now, id, Input::HangUp);
    }

    /// `transfer_fallback = "queue:<name>"`: the caller waits there, in
    /// its place by waiting time since it reached the switch.
    fn fall_back_to_queue(&mut self, now: Instant, id: CallRef, queue: &str) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        info!(call = %id, queue, "transfer fallback: the call goes to the fallback queue");
        entry.transfer_from = None;
        entry.call.routing = Routing::Queued;
        entry.queue = Some(queue.to_string());
        entry.detail.queue_entered = None;
        let arrived = entry.call.created;
        self.enqueue_since(now, id, queue, 0, Vec::new(), Some(arrived));
        self.start_queue_audio(now, id);
    }

    /// `transfer_fallback = "prompt:<name>"`: the caller hears the prompt,
    /// then the switch hangs up (`transfer_fallback_hangup` after).
    fn fall_back_to_prompt(
        &mut self,
        now: Instant,
        id: CallRef,
        prompt: String,
        after: std::time::Duration,
    ) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        info!(call = %id, prompt, "transfer fallback: a prompt, then hang-up");
        entry.transfer_from = None;
        let at = now + after;
        entry.fallback_hangup = Some(at);
        self.timers.set(Timer::Menu, id, at);
        self.out.push_back(Output::Media(MediaCommand::Play {
            call: id,
            leg: MediaLeg::Caller,
            intro: vec![prompt],
            music: Vec::new(),
        }));
    }

    /// A fallback prompt is over: the call ends.
    pub(super) fn fallback_prompt_over(&mut self, now: Instant, id: CallRef, at: Instant) {
        let due = self
            .calls
            .get_mut(&id)
            .filter(|e| e.fallback_hangup == Some(at))
            .map(|e| e.fallback_hangup = None);
        if due.is_some() {
            // A timer fires outside the call's span: the line names the call.
            let span = self.call_span(id);
            let _in_call = span.enter();
            info!(call = %id, "transfer fallback prompt played: hanging up");
            self.drive(now, id, Input::HangUp);
        }
    }

    /// A NOTIFY of the REFER's subscription in the agent's dialog.
    pub(super) fn refer_notify(&mut self, now: Instant, id: CallRef, frag: &str, done: bool) {
        let branch = crate::sip::dialog::branch(&self.token());
        let Some(dialog) = self
            .calls
            .get(&id)
            .and_then(|e| e.b.as_ref())
            .and_then(|b| b.forks.get(b.winner?))
            .and_then(|f| f.dialog.clone())
        else {
            return;
        };
        // Over the transport the agent's dialog uses (TLS for TLS).
        let transport = dialog.next_hop().transport;
        let (local, contact) = (self.plan.local_on(transport), self.contact_on(transport));
        let Some(b) = self.calls.get_mut(&id).and_then(|e| e.b.as_mut()) else {
            return;
        };
        b.cseq += 1;
        let bytes = dialog.refer_notify(local, &branch, &b.call_id, b.cseq, &contact, frag, done);
        self.send_ignored(now, id, &branch, "NOTIFY", dialog.next_hop(), bytes);
    }

    pub(super) fn send_in_dialog_bye(
        &mut self,
        now: Instant,
        id: CallRef,
        dialog: &crate::sip::dialog::Dialog,
    ) {
        let branch = crate::sip::dialog::branch(&self.token());
        let local = self.plan.local_on(dialog.next_hop().transport);
        let Some(b) = self.calls.get_mut(&id).and_then(|e| e.b.as_mut()) else {
            return;
        };
        b.cseq += 1;
        let bytes = dialog.bye(local, &branch, &b.call_id, b.cseq);
        self.send_ignored(now, id, &branch, "BYE", dialog.next_hop(), bytes);
    }

    /// Sends a request whose outcome nobody waits for.
    fn send_ignored(
        &mut self,
        now: Instant,
        id: CallRef,
        branch: &str,
        method: &str,
        peer: crate::sip::Peer,
        bytes: bytes::Bytes,
    ) {
        let key = ClientKey {
            branch: branch.to_string(),
            method: TxMethod::NonInvite(method.into()),
        };
        if self.tx_send(now, key, peer, bytes, None).is_ok() {
            let owner = Owner::Client {
                call: id,
                purpose: Purpose::Ignore,
            };
            self.demux.insert(branch, owner);
        }
    }
}

/// The sipfrag status a refused target gets.
pub(super) fn sip_status(err: &CommandError) -> u16 {
    match err.status() {
        _ if *err == CommandError::TransferLoop => 482,
        403 => 403,
        404 | 400 => 404,
        _ => 503,
    }
}

fn target_text(target: &Target) -> &str {
    match target {
        Target::Agent(a) => a,
        Target::Queue { queue, .. } => queue,
        Target::Number(n) => n,
    }
}

/// The user part of a Refer-To (`<sip:1002@host;x>`), or the text itself
/// when it is plain digits or a name.
pub(super) fn uri_user(to: &str) -> &str {
    let t = to.trim().trim_start_matches('<');
    let t = ["sip:", "sips:", "tel:"]
        .iter()
        .find_map(|s| t.strip_prefix(s))
        .unwrap_or(t);
    let end = t.find(['@', ';', '>', '?']).unwrap_or(t.len());
    t[..end].trim()
}

#[cfg(test)]
mod tests {
    use super::uri_user;

    #[test]
    fn refer_to_user_part() {
        assert_eq!(uri_user("<sip:1002@127.0.0.1:5060>"), "1002");
        assert_eq!(uri_user("sip:+4930123;user=phone"), "+4930123");
        assert_eq!(uri_user("1003"), "1003");
        assert_eq!(uri_user("<tel:5000>"), "5000");
        assert_eq!(uri_user("<>"), "");
    }
}
