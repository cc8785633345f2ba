//! Conferences on a customer's call (`Command::Conference`, the API's
//! `POST /calls/{id}/conference`): the agent brings in a colleague or a
//! number; the switch rings it as one more leg of the customer's session
//! (as a consultation, but the caller is not held), and when it answers
//! the relay mixes every party: each hears all the others. A running
//! consultation becomes a conference too (`consult/conference`, or the
//! agent's `*3`). A party that hangs up leaves the others talking; when
//! the call's agent leaves, another agent in the conference takes the
//! agent leg (re-INVITEd onto it, as an attended transfer does) and the
//! call goes on; with no agent left, the call ends, and with it every
//! party's leg. Party management (mute, gain, drop, list) is in
//! `conference_parties.rs`; `*3` on a consultation the agent's phone
//! placed itself in `conference/placed.rs`.

mod factory;
mod placed;

use std::time::Instant;

use tracing::{info, warn};

use super::command::CommandError;
use super::demux::Owner;
use super::event::EventKind;
use super::inbound::{Refusal, Req};
use super::legs::Purpose;
use super::presence::Engagement;
use super::transfer::Target;
use super::{MediaCommand, Output, Switch};
use crate::call::session::{ConferenceParty, LegEvent, LegOutcome, PartyVoice};
use crate::call::{CallRef, CallUuid};
use crate::media::command::MediaLeg;
use crate::media::sdp;
use crate::sip::dialog::{self, Dialog};
use crate::sip::parse::{Message, Method};
use crate::sip::transaction::{AckTemplate, ClientKey, TxMethod};
use crate::sip::{build, Peer};

/// The digits an agent presses during a consultation to turn it into a
/// conference.
pub const CONFERENCE_KEYS: &str = "*3";

impl Switch {
    pub(super) fn conference_command(
        &mut self,
        now: Instant,
        call: CallUuid,
        to: &str,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        let result = self.add_party(now, id, to);
        if let Err(err) = &result {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "conference party refused"));
        }
        result.map(|_| ())
    }

    /// Rings `to` for the call's conference, giving the party's number.
    /// Nothing changes on an error.
    fn add_party(&mut self, now: Instant, id: CallRef, to: &str) -> Result<u8, CommandError> {
        let entry = self.calls.get(&id).ok_or(CommandError::NotTalking)?;
        // Were the caller's ACK never to come, the call ends and hangs
        // the party up with it.
        if !entry.is_talking() || entry.b.is_none() {
            return Err(CommandError::NotTalking);
        }
        if entry.media.is_none() {
            return Err(CommandError::NoMedia);
        }
        if entry.phase.consult().is_some() || entry.phase.supervisor().is_some() {
            return Err(CommandError::Consulting);
        }
        if let Some(c) = entry.phase.conference() {
            let mut probe = c.clone();
            probe.reserve().map_err(|_| CommandError::ConferenceFull)?;
        }
        let from = entry.agent.clone().unwrap_or_default();
        let place = match self.transfer_target(&from, to)? {
            Target::Agent(agent) => self.consult_agent(now, id, &agent)?,
            Target::Number(number) => {
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
        let leg = self.consultation_leg(id, &from, place, target.clone(), port);
        let sdp = self.consult_offer(id, port);
        let reserved = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.phase.start_conference())
            .map(|c| c.reserve());
        let (party, media) = match reserved {
            Some(Ok(r)) => r,
            _ => {
                if let Some(a) = self.anchoring.as_mut() {
                    let _ = a.pool.release(port);
                }
                return Err(CommandError::ConferenceFull);
            }
        };
        if let Some(agent) = leg.agent() {
            let agent = agent.to_string();
            self.busy.insert(agent.clone(), id);
            self.engage(now, &agent, Engagement::Conferenced(id, party));
        }
        let call_id = leg.leg.call_id.clone();
        let transport = leg.leg.forks[0].peer.transport;
        let name = leg.agent().map_or_else(|| target.clone(), str::to_string);
        self.leg_event(
            now,
            id,
            LegEvent::PartyOffered {
                n: party,
                party: name,
            },
        );
        if let Some(c) = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.phase.conference_mut())
        {
            c.parties.push(ConferenceParty {
                id: party,
                media,
                leg,
                voice: PartyVoice::default(),
                joined: None,
            });
        }
        self.demux
            .insert(&call_id, Owner::Party { call: id, party });
        self.out.push_back(Output::Media(MediaCommand::Open {
            call: id,
            leg: media,
            port,
        }));
        info!(call = %id, party, "conference: a party rings");
        self.send_party_invite(now, id, party, transport, &sdp);
        Ok(party)
    }

    fn send_party_invite(
        &mut self,
        now: Instant,
        id: CallRef,
        party: u8,
        transport: crate::sip::Transport,
        sdp: &[u8],
    ) {
        let branch = dialog::branch(&self.token());
        let (local, contact) = (self.plan.local_on(transport), self.contact_on(transport));
        let Some(p) = self.party_mut(id, party) else {
            return;
        };
        let leg = &mut p.leg.leg;
        let f = &mut leg.forks[0];
        f.via = dialog::via(transport, local, &branch);
        f.branch = branch.clone();
        let peer = f.peer;
        let invite = leg.invite(0);
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
                let purpose = Purpose::Party(party);
                self.demux
                    .insert(&branch, Owner::Client { call: id, purpose });
            }
            Err(err) => {
                warn!(call = %id, party, %err, "cannot send the conference party's INVITE");
                self.party_left(now, id, party, "failed");
            }
        }
    }

    pub(super) fn party_mut(&mut self, id: CallRef, party: u8) -> Option<&mut ConferenceParty> {
        self.calls
            .get_mut(&id)?
            .phase
            .conference_mut()?
            .party_mut(party)
    }

    /// A response to a conference party's INVITE.
    pub(super) fn on_party_response(
        &mut self,
        now: Instant,
        peer: Peer,
        id: CallRef,
        party: u8,
        msg: &Message,
    ) {
        let status = msg.status().unwrap_or(0);
        let Some(p) = self.party_mut(id, party) else {
            // Dropped or ended meanwhile: a 2xx is hung up as a stray.
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
                p.leg.leg.forks[0].state.on_provisional();
            }
            200..=299 if p.leg.answered => {
                let ack = p.leg.leg.forks[0].dialog.as_ref().and_then(|d| {
                    let bytes = d.ack.clone()?;
                    Some((d.next_hop(), bytes))
                });
                if let Some((peer, bytes)) = ack {
                    self.out.push_back(Output::Transmit { peer, bytes });
                }
            }
            200..=299 => self.party_answered(now, id, party, msg),
            _ => {
                p.leg.leg.forks[0].state.on_final_response();
                warn!(call = %id, party, status, "a conference party failed to join");
                self.referred_party_done(now, id, party, status);
                let outcome = LegOutcome::of_status(status);
                self.leg_event(now, id, LegEvent::PartyLeft { n: party, outcome });
                self.party_left(now, id, party, "failed");
            }
        }
    }

    /// The party answered: ACK, and the relay mixes it in.
    fn party_answered(&mut self, now: Instant, id: CallRef, party: u8, msg: &Message) {
        let branch = dialog::branch(&self.token());
        let Some(codecs) = self.anchoring.as_ref().map(|a| a.plan.codecs.clone()) else {
            return;
        };
        let Some(p) = self.party_mut(id, party) else {
            return;
        };
        let leg = &p.leg.leg;
        let f = &leg.forks[0];
        let mut d = Dialog::as_uac(msg, &f.uri, f.peer, &leg.from, &leg.local_tag);
        let (call_id, cseq) = (leg.call_id.clone(), leg.cseq);
        let local = self.plan.local_on(d.next_hop().transport);
        let ack = d.ack(local, &branch, &call_id, cseq);
        d.ack = Some(ack.clone());
        let peer = d.next_hop();
        let Some(p) = self.party_mut(id, party) else {
            return;
        };
        let leg = &mut p.leg.leg;
        leg.forks[0].state.on_answer();
        leg.forks[0].dialog = Some(d);
        leg.winner = Some(0);
        p.leg.answered = true;
        p.joined = Some(now);
        let media = p.media;
        self.out.push_back(Output::Transmit { peer, bytes: ack });
        let remote = std::str::from_utf8(msg.body())
            .ok()
            .and_then(|t| sdp::parse(t).ok())
            .and_then(|s| {
                let choice = sdp::choose(&s, &codecs).ok()?;
                Some(crate::call::session::media::remote(&s, choice))
            });
        let Some(remote) = remote else {
            warn!(call = %id, party, "a conference party's answer is unusable: it is hung up");
            return self.party_left(now, id, party, "failed");
        };
        self.out.push_back(Output::Media(MediaCommand::SetRemote {
            call: id,
            leg: media,
            remote,
        }));
        info!(call = %id, party, "a conference party joined");
        self.referred_party_done(now, id, party, 200);
        self.leg_event(now, id, LegEvent::PartyAnswered { n: party });
        self.party_joined_event(now, id, party);
        self.remix(id);
    }

    fn party_joined_event(&mut self, now: Instant, id: CallRef, party: u8) {
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        let Some(p) = entry.phase.conference().and_then(|c| c.party(party)) else {
            return;
        };
        let kind = EventKind::PartyJoined {
            call: entry.uuid,
            party,
            who: p.leg.target.clone(),
            role: if p.agent().is_some() {
                "agent"
            } else {
                "external"
            },
        };
        self.emit(now, kind);
    }

    /// Tells the relay who is in the call's conference now.
    pub(super) fn remix(&mut self, id: CallRef) {
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        let Some(c) = entry.phase.conference() else {
            return;
        };
        let parties = c.mix(entry.b.is_some());
        self.out.push_back(Output::Media(MediaCommand::Conference {
            call: id,
            parties,
        }));
    }

    /// A request in a party's dialog: it hangs up, or refreshes.
    pub(super) fn on_party_request(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        method: &Method,
        id: CallRef,
        party: u8,
    ) {
        let ours = self
            .calls
            .get(&id)
            .and_then(|e| e.phase.conference())
            .and_then(|c| c.party(party))
            .is_some_and(|p| Some(p.leg.leg.local_tag.as_str()) == req.msg.to().tag());
        if !ours {
            return self.refuse(now, req, Refusal::plain(481));
        }
        match method {
            Method::Bye => {
                self.respond(now, req, 200, None, &[], None);
                if let Some(p) = self.party_mut(id, party) {
                    // Its dialog is over: nothing to hang up.
                    p.leg.leg.forks[0].dialog = None;
                    p.leg.leg.forks[0].state.on_final_response();
                }
                info!(call = %id, party, "a conference party hung up");
                self.party_left(now, id, party, "hung_up");
            }
            // A new offer would move the relay's leg: not taken (RFC 3261 §14.2).
            Method::Invite | Method::Update => self.respond(now, req, 488, None, &[], None),
            _ => self.respond(now, req, 200, None, &[], None),
        }
    }

    /// The party leaves the conference (`how`: hung_up, dropped, failed):
    /// its leg is hung up or cancelled if still up, the others go on.
    pub(super) fn party_left(&mut self, now: Instant, id: CallRef, party: u8, how: &'static str) {
        let Some(p) = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.phase.conference_mut())
            .and_then(|c| c.remove(party))
        else {
            return;
        };
        let joined = p.joined.is_some();
        let outcome = match how {
            "hung_up" => LegOutcome::HungUp,
            "dropped" => LegOutcome::Ended,
            _ => LegOutcome::Failed,
        };
        self.leg_event(now, id, LegEvent::PartyLeft { n: party, outcome });
        let call = self.calls.get(&id).map(|e| (e.uuid, e.queue.clone()));
        let uuid = call.as_ref().map(|c| c.0);
        self.forget_party(now, id, uuid, p, how, call);
        if joined {
            self.remix(id);
        }
    }

    /// The call (`uuid`, if known) ended with this party in its
    /// conference; `call`: its id and queue, for the party's wrap-up.
    pub(super) fn party_call_ended(
        &mut self,
        now: Instant,
        id: CallRef,
        uuid: Option<CallUuid>,
        p: ConferenceParty,
        call: Option<(CallUuid, Option<String>)>,
    ) {
        self.forget_party(now, id, uuid, p, "call_ended", call);
    }

    /// A live call's id and queue, for a party's wrap-up.
    pub(super) fn uuid_and_queue(&self, id: CallRef) -> Option<(CallUuid, Option<String>)> {
        let entry = self.calls.get(&id)?;
        Some((entry.uuid, entry.queue.clone()))
    }

    /// The party's leg goes; an agent who talked in a queue's call wraps
    /// up as that queue says.
    fn forget_party(
        &mut self,
        now: Instant,
        id: CallRef,
        uuid: Option<CallUuid>,
        p: ConferenceParty,
        how: &'static str,
        call: Option<(CallUuid, Option<String>)>,
    ) {
        let party = p.id;
        let who = p.leg.target.clone();
        let engagement = Engagement::Conferenced(id, party);
        match call.filter(|_| p.joined.is_some() && p.agent().is_some()) {
            Some((uuid, queue)) => self.release_to_wrap_up(now, &engagement, uuid, queue),
            None => self.release(now, &engagement),
        }
        self.drop_consultation(now, id, p.leg);
        if let Some(call) = uuid {
            self.emit(
                now,
                EventKind::PartyLeft {
                    call,
                    party,
                    who,
                    how,
                },
            );
        }
    }

    /// The call's agent hung up (BYE answered). With another agent in the
    /// conference, that agent takes the agent leg and the call goes on:
    /// `true`. Otherwise `false`: the call ends as usual (and its parties
    /// with it).
    pub(super) fn conference_agent_left(&mut self, now: Instant, id: CallRef) -> bool {
        let next = self
            .calls
            .get(&id)
            .and_then(|e| e.phase.conference())
            .and_then(|c| c.joined_agent())
            .map(|p| p.id);
        let Some(next) = next else {
            return false;
        };
        let Some(entry) = self.calls.get_mut(&id) else {
            return false;
        };
        let Some(p) = entry.phase.conference_mut().and_then(|c| c.remove(next)) else {
            return false;
        };
        let left = entry.agent.clone();
        let uuid = entry.uuid;
        // Its dialog is over: drop_b_leg sends it nothing.
        self.report_call_gone(now, id);
        self.release_callee(now, id);
        self.drop_b_leg(now, id);
        self.emit(
            now,
            EventKind::PartyLeft {
                call: uuid,
                party: crate::call::session::conference::AGENT_PARTY,
                who: left.unwrap_or_default(),
                how: "hung_up",
            },
        );
        info!(call = %id, party = next, "the agent left the conference: another agent in it takes the call");
        self.leg_event(now, id, LegEvent::PartyTookCall { n: next });
        self.release(now, &Engagement::Conferenced(id, next));
        self.demux.remove_dialog(&p.leg.leg.call_id);
        let colleague = p.agent().map(str::to_string);
        let voice = p.voice;
        self.adopt_b_leg(now, id, id, p.leg.leg, colleague);
        if let Some(c) = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.phase.conference_mut())
        {
            c.agent = voice;
        }
        self.reinvite_b(now, id);
        self.remix(id);
        self.pump(now);
        true
    }

    /// `ConsultConference`: the answered consultation joins the call.
    pub(super) fn consult_conference(
        &mut self,
        now: Instant,
        call: CallUuid,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        let result = self.merge_consultation(now, id);
        if let Err(err) = &result {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "consultation not turned into a conference"));
        }
        result
    }

    fn merge_consultation(&mut self, now: Instant, id: CallRef) -> Result<(), CommandError> {
        let entry = self.calls.get_mut(&id).ok_or(CommandError::NotConsulting)?;
        if !entry.phase.consult().is_some_and(|c| c.answered) {
            return Err(CommandError::NotConsulting);
        }
        let uuid = entry.uuid;
        let c = entry
            .phase
            .leave_consult()
            .ok_or(CommandError::NotConsulting)?;
        let reserved = entry.phase.start_conference().map(|conf| conf.reserve());
        let Some(Ok((party, _))) = reserved else {
            // Never met: a consultation excludes supervisors and conferences.
            return Err(CommandError::ConferenceFull);
        };
        let held_by_us = c.held_by_us;
        let target = c.target.clone();
        let branch = c.leg.forks[0].branch.clone();
        let call_id = c.leg.call_id.clone();
        let agent = c.agent().map(str::to_string);
        if let Some(conf) = entry.phase.conference_mut() {
            conf.parties.push(ConferenceParty {
                id: party,
                // The consultation's media stays on its relay leg.
                media: MediaLeg::Supervisor,
                leg: *c,
                voice: PartyVoice::default(),
                joined: Some(now),
            });
        }
        self.demux
            .insert(&call_id, Owner::Party { call: id, party });
        if !branch.is_empty() && self.demux.client_branch(&branch).is_some() {
            let purpose = Purpose::Party(party);
            self.demux
                .insert(&branch, Owner::Client { call: id, purpose });
        }
        self.release(now, &Engagement::Consulted(id));
        if let Some(agent) = agent {
            self.engage(now, &agent, Engagement::Conferenced(id, party));
        }
        if held_by_us {
            // The relay stops the caller's music as it mixes it in.
            self.hold_ended(now, id);
        }
        info!(call = %id, party, "the consultation became a conference");
        self.leg_event(now, id, LegEvent::ConsultConferenced { n: party });
        self.emit(
            now,
            EventKind::CallConsultEnded {
                call: uuid,
                to: target,
                how: "conference",
            },
        );
        self.party_joined_event(now, id, party);
        self.remix(id);
        Ok(())
    }

    /// `*3` from the agent during a consultation merges it. Whether the
    /// digits were that code.
    pub(super) fn conference_keys(&mut self, now: Instant, id: CallRef) -> bool {
        let typed = self
            .calls
            .get(&id)
            .is_some_and(|e| e.phase.consult().is_some() && e.digits.ends_with(CONFERENCE_KEYS));
        if !typed {
            return false;
        }
        if let Some(entry) = self.calls.get_mut(&id) {
            // The code is used up: a later digit must not fire it again.
            entry.digits.clear();
        }
        if let Err(err) = self.merge_consultation(now, id) {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "*3 ignored"));
        }
        true
    }
}
