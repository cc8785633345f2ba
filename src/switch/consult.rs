//! Consultation through the API (`Command::Consult`, then
//! `ConsultComplete` or `ConsultCancel`): attended transfer for an agent
//! whose phone cannot do it, or for a supervisor's desk. The caller is put
//! on hold (music), and the switch calls the colleague (an agent or a
//! number) as one more leg of the customer's session, its media on the
//! relay's third leg, mixed so that the agent and the colleague hear each
//! other and the caller hears only the music. Complete: the colleague's
//! leg becomes the call's agent leg (re-INVITEd onto it, as in
//! `attended.rs`) and the agent goes to wrap-up. Cancel (or a colleague
//! who refuses, hangs up or never answers): the colleague's leg ends and
//! the agent is back with the caller.

use std::time::Instant;

use bytes::Bytes;
use tracing::{info, warn};

use super::command::CommandError;
use super::demux::Owner;
use super::event::EventKind;
use super::inbound::{Refusal, Req};
use super::legs::Purpose;
use super::presence::Engagement;
use super::transfer::Target;
use super::{MediaCommand, MediaLeg, Output, Switch};
use crate::call::session::{BLeg, Consultation, Fork, SessionEvent};
use crate::call::{CallRef, CallUuid, ForkState};
use crate::media::mix::Mode;
use crate::media::sdp::{self, Origin};
use crate::sip::dialog::{self, Dialog};
use crate::sip::parse::{Message, Method};
use crate::sip::transaction::{AckTemplate, ClientKey, TxMethod};
use crate::sip::{build, Peer};

/// One place a consultation rings: its URI, where to send, its agent.
pub(super) type Place = (String, Peer, Option<String>);

impl Switch {
    /// The call with this id, or `UnknownCall`.
    pub(super) fn call_by_uuid(&self, call: CallUuid) -> Result<CallRef, CommandError> {
        self.calls
            .iter()
            .find(|(_, e)| e.uuid == call)
            .map(|(id, _)| *id)
            .ok_or(CommandError::UnknownCall(call))
    }

    /// Holds the caller of a connected call and rings `to` for its agent.
    pub(super) fn consult(
        &mut self,
        now: Instant,
        id: CallRef,
        to: &str,
    ) -> Result<(), CommandError> {
        self.transferable(id)?;
        let entry = self.calls.get(&id).ok_or(CommandError::NotTalking)?;
        if entry.phase.consult().is_some()
            || entry.phase.supervisor().is_some()
            || entry.phase.conference().is_some()
        {
            return Err(CommandError::Consulting);
        }
        let from = entry.agent.clone().unwrap_or_default();
        let place = match self.transfer_target(&from, to)? {
            Target::Agent(agent) => self.consult_agent(now, id, &agent)?,
            Target::Number(number) => {
                // The healthiest trunk by priority; a consultation does not fail over.
                let out = self
                    .carrier_order()
                    .first()
                    .and_then(|t| t.outbound.clone());
                let out = out.ok_or(CommandError::NoOutboundTrunk)?;
                (format!("sip:{number}@{}", out.peer.addr), out.peer, None)
            }
            Target::Queue { .. } => return Err(CommandError::BadTarget(to.to_string())),
        };
        let port = self
            .anchoring
            .as_mut()
            .ok_or(CommandError::NoMedia)?
            .pool
            .allocate()
            .map_err(|_| CommandError::NoCapacity)?;
        let target = super::transfer::uri_user(to).to_string();
        let consultation = self.consultation_leg(id, &from, place, target.clone(), port);
        let sdp = self.consult_offer(id, port);
        if let Some(agent) = consultation.agent() {
            let agent = agent.to_string();
            self.busy.insert(agent.clone(), id);
            self.engage(now, &agent, Engagement::Consulted(id));
        }
        let held = self.hold_for_consult(now, id);
        let call_id = consultation.leg.call_id.clone();
        self.session_event(
            now,
            id,
            SessionEvent::ConsultStarted(Box::new(consultation)),
        );
        if let Some(c) = self.calls.get_mut(&id).and_then(|e| e.phase.consult_mut()) {
            c.held_by_us = held;
        }
        self.demux.insert(&call_id, Owner::Consult { call: id });
        self.out.push_back(Output::Media(MediaCommand::Open {
            call: id,
            leg: MediaLeg::Supervisor,
            port,
        }));
        info!(call = %id, "consultation: the caller is held, the colleague rings");
        let uuid = self.calls.get(&id).map(|e| e.uuid);
        if let Some(call) = uuid {
            let by = Some(from).filter(|a| !a.is_empty());
            self.emit(
                now,
                EventKind::CallConsultStarted {
                    call,
                    by,
                    to: target,
                },
            );
        }
        self.send_consult_invite(now, id, &sdp);
        Ok(())
    }

    /// The first contact of a free, registered agent.
    pub(super) fn consult_agent(
        &self,
        now: Instant,
        id: CallRef,
        agent: &str,
    ) -> Result<Place, CommandError> {
        if self.busy.get(agent).is_some_and(|c| *c != id) || self.own_call(agent).is_some() {
            return Err(CommandError::AgentBusy(agent.to_string()));
        }
        self.agent_targets(now, agent)
            .into_iter()
            .next()
            .ok_or_else(|| CommandError::NotRegistered(agent.to_string()))
    }

    pub(super) fn consultation_leg(
        &mut self,
        id: CallRef,
        from: &str,
        (uri, peer, agent): Place,
        target: String,
        port: u16,
    ) -> Consultation {
        let (call_id, local_tag) = (self.token(), self.token());
        let local = self.plan.local;
        let to = match &agent {
            Some(a) => format!("<sip:{a}@{local}>"),
            None => format!("<{uri}>"),
        };
        let from = match self.calls.get(&id) {
            Some(_) if !from.is_empty() => format!("<sip:{from}@{local}>"),
            _ => format!("<sip:switchyard@{local}>"),
        };
        let fork = Fork {
            uri,
            peer,
            agent: agent.clone(),
            branch: String::new(),
            via: String::new(),
            state: ForkState::Calling,
            auth_tried: false,
            early_sdp: None,
            dialog: None,
        };
        Consultation {
            target,
            leg: BLeg {
                agent,
                call_id,
                local_tag,
                from,
                to,
                cseq: 1,
                forks: vec![fork],
                winner: None,
                credentials: None,
            },
            port,
            answered: false,
            held_by_us: false,
        }
    }

    /// Our offer to the colleague: the caller's codecs, on the consultation's port.
    pub(super) fn consult_offer(&mut self, id: CallRef, port: u16) -> Bytes {
        let session = u64::from(rand::RngCore::next_u32(&mut self.rng));
        let (Some(anchoring), Some(m)) = (
            self.anchoring.as_ref(),
            self.calls.get(&id).and_then(|e| e.media.as_ref()),
        ) else {
            return Bytes::new();
        };
        let formats = anchoring.formats_for_b(&m.a_offer, m.a_choice);
        let text = m.a_offer.rewrite(anchoring.anchor_at(port), &formats);
        Bytes::from(Origin::new(session).stamp(&text))
    }

    /// The caller hears hold music, unless the agent's phone holds it
    /// already. Whether the switch put it on hold.
    fn hold_for_consult(&mut self, now: Instant, id: CallRef) -> bool {
        if self.calls.get(&id).and_then(|e| e.held_by()).is_some() {
            return false;
        }
        let music = match self.anchoring.as_ref() {
            Some(a) => a.plan.hold_music.clone(),
            None => return false,
        };
        self.out
            .push_back(Output::Media(MediaCommand::Unbridge { call: id }));
        self.out.push_back(Output::Media(MediaCommand::Play {
            call: id,
            leg: MediaLeg::Caller,
            intro: Vec::new(),
            music: vec![music],
        }));
        self.hold_started(now, id, MediaLeg::Agent);
        true
    }

    fn send_consult_invite(&mut self, now: Instant, id: CallRef, sdp: &[u8]) {
        let branch = dialog::branch(&self.token());
        let Some(transport) = self
            .calls
            .get(&id)
            .and_then(|e| e.phase.consult())
            .map(|c| c.leg.forks[0].peer.transport)
        else {
            return;
        };
        let (local, contact) = (self.plan.local_on(transport), self.contact_on(transport));
        let Some(c) = self.calls.get_mut(&id).and_then(|e| e.phase.consult_mut()) else {
            return;
        };
        let f = &mut c.leg.forks[0];
        f.via = dialog::via(transport, local, &branch);
        f.branch = branch.clone();
        let peer = f.peer;
        let invite = c.leg.invite(0);
        let mut w = invite.request();
        w.header("Contact", &contact);
        w.header("Allow", build::ALLOW);
        w.header("User-Agent", build::product());
        let bytes = w.finish(Some(("application/sdp", sdp)));
        let ack = AckTemplate::new(invite.ack_head()).expect("our ACK head ends with CRLF");
        let key = ClientKey {
            branch: branch.clone(),
            method: TxMethod::Invite,
        };
        match self.tx_send(now, key, peer, bytes, Some(ack)) {
            Ok(()) => {
                let purpose = Purpose::Consult;
                self.demux
                    .insert(&branch, Owner::Client { call: id, purpose });
            }
            Err(err) => {
                warn!(call = %id, %err, "cannot send the consultation's INVITE");
                self.end_consult(now, id, "failed");
            }
        }
    }

    /// A response to the consultation's INVITE.
    pub(super) fn on_consult_response(
        &mut self,
        now: Instant,
        peer: Peer,
        id: CallRef,
        msg: &Message,
    ) {
        let status = msg.status().unwrap_or(0);
        let Some(c) = self.calls.get_mut(&id).and_then(|e| e.phase.consult_mut()) else {
            // Cancelled or ended meanwhile: a 2xx is hung up as a stray.
            if (200..300).contains(&status) {
                self.on_stray_2xx(now, peer, msg);
            }
            if status >= 200 {
                let branch = msg.vias()[0].branch().unwrap_or_default().to_string();
                self.demux.remove_client_branch(&branch);
            }
            return;
        };
        match status {
            0..=199 => {
                c.leg.forks[0].state.on_provisional();
            }
            200..=299 if c.answered => self.resend_consult_ack(id),
            200..=299 => self.consult_answered(now, id, msg),
            _ => {
                c.leg.forks[0].state.on_final_response();
                warn!(call = %id, status, "the consultation failed: the agent is back with the caller");
                self.end_consult(now, id, "failed");
            }
        }
    }

    /// The colleague answered: ACK, and the relay mixes agent and colleague.
    fn consult_answered(&mut self, now: Instant, id: CallRef, msg: &Message) {
        let branch = dialog::branch(&self.token());
        let codecs = match self.anchoring.as_ref() {
            Some(a) => a.plan.codecs.clone(),
            None => return,
        };
        let Some(c) = self.calls.get_mut(&id).and_then(|e| e.phase.consult_mut()) else {
            return;
        };
        let leg = &mut c.leg;
        let f = &mut leg.forks[0];
        f.state.on_answer();
        let mut d = Dialog::as_uac(msg, &f.uri, f.peer, &leg.from, &leg.local_tag);
        let local = self.plan.local_on(d.next_hop().transport);
        let ack = d.ack(local, &branch, &leg.call_id, leg.cseq);
        d.ack = Some(ack.clone());
        let peer = d.next_hop();
        f.dialog = Some(d);
        leg.winner = Some(0);
        self.out.push_back(Output::Transmit { peer, bytes: ack });
        let remote = std::str::from_utf8(msg.body())
            .ok()
            .and_then(|t| sdp::parse(t).ok())
            .and_then(|s| {
                let choice = sdp::choose(&s, &codecs).ok()?;
                Some(crate::call::session::media::remote(&s, choice))
            });
        let Some(remote) = remote else {
            warn!(call = %id, "the colleague's answer is unusable: the consultation ends");
            return self.end_consult(now, id, "failed");
        };
        self.session_event(now, id, SessionEvent::ConsultAnswered);
        for command in [
            MediaCommand::SetRemote {
                call: id,
                leg: MediaLeg::Supervisor,
                remote,
            },
            MediaCommand::Supervise {
                call: id,
                mode: Mode::Consult,
            },
        ] {
            self.out.push_back(Output::Media(command));
        }
        info!(call = %id, "consultation answered: the agent talks to the colleague");
    }

    fn resend_consult_ack(&mut self, id: CallRef) {
        let Some(d) = self
            .calls
            .get(&id)
            .and_then(|e| e.phase.consult())
            .and_then(|c| c.leg.forks[0].dialog.as_ref())
        else {
            return;
        };
        if let Some(bytes) = d.ack.clone() {
            let peer = d.next_hop();
            self.out.push_back(Output::Transmit { peer, bytes });
        }
    }

    /// A request in the consultation's dialog: the colleague hangs up
    /// (the agent is back with the caller), or refreshes the session.
    pub(super) fn on_consult_request(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        method: &Method,
        id: CallRef,
    ) {
        let ours = self
            .calls
            .get(&id)
            .and_then(|e| e.phase.consult())
            .is_some_and(|c| Some(c.leg.local_tag.as_str()) == req.msg.to().tag());
        if !ours {
            return self.refuse(now, req, Refusal::plain(481));
        }
        match method {
            Method::Bye => {
                self.respond(now, req, 200, None, &[], None);
                if let Some(c) = self.calls.get_mut(&id).and_then(|e| e.phase.consult_mut()) {
                    // Its dialog is over: nothing to hang up.
                    c.leg.forks[0].dialog = None;
                    c.leg.forks[0].state.on_final_response();
                }
                info!(call = %id, "the colleague hung up the consultation");
                self.end_consult(now, id, "hung_up");
            }
            // A new offer would move the relay's leg: not taken (RFC 3261 §14.2).
            Method::Invite | Method::Update => self.respond(now, req, 488, None, &[], None),
            _ => self.respond(now, req, 200, None, &[], None),
        }
    }

    pub(super) fn consult_command(
        &mut self,
        now: Instant,
        call: CallUuid,
        to: &str,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        let result = self.consult(now, id, to);
        if let Err(err) = &result {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "consultation refused"));
        }
        result
    }
}
