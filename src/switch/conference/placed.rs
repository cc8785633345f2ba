//! `*3` on a consultation the agent's phone placed itself: the phone
//! holds the customer's call and INVITEs a colleague (a call of its own,
//! the same pair a REFER with `Replaces` joins). The agent's `*3` on that
//! call (RFC 4733 or SIP INFO, on its caller leg: the agent's phone)
//! moves the colleague's dialog into the customer's call as a conference
//! party: re-INVITEd onto a relay leg of the customer's call, mixed with
//! caller and agent; the agent's consultation dialog gets a BYE.

use std::time::Instant;

use tracing::{info, warn};

use super::super::command::CommandError;
use super::super::demux::Owner;
use super::super::legs::Purpose;
use super::super::presence::Engagement;
use super::super::{MediaCommand, Output, Switch};
use super::CONFERENCE_KEYS;
use crate::call::session::{BLeg, ConferenceParty, Consultation, LegEvent, PartyVoice};
use crate::call::{CallRef, Input};
use crate::media::command::MediaLeg;
use crate::sip::dialog;
use crate::sip::transaction::{AckTemplate, ClientKey, TxMethod};

impl Switch {
    /// `*3` at the end of the digits of a call an agent's phone placed:
    /// merge it into that agent's customer call. Whether the digits were
    /// that code (refused, it is logged and the calls go on).
    pub(in crate::switch) fn placed_consult_keys(&mut self, now: Instant, id: CallRef) -> bool {
        let typed = self
            .calls
            .get(&id)
            .is_some_and(|e| e.a_agent.is_some() && e.digits.ends_with(CONFERENCE_KEYS));
        if !typed {
            return false;
        }
        if let Some(entry) = self.calls.get_mut(&id) {
            // The code is used up: a later digit must not fire it again.
            entry.digits.clear();
        }
        if let Err(err) = self.merge_placed(now, id) {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "*3 on the agent's own call ignored"));
        }
        true
    }

    /// The customer call of the agent who placed `consult`: talking on
    /// its agent leg, anchored, neither consulting nor supervised.
    pub(in crate::switch) fn customer_call_of(
        &self,
        consult: CallRef,
    ) -> Result<CallRef, CommandError> {
        let entry = self
            .calls
            .get(&consult)
            .ok_or(CommandError::NotConsulting)?;
        let agent = entry
            .a_agent
            .as_deref()
            .ok_or(CommandError::NotConsulting)?;
        let answered = entry.b.as_ref().is_some_and(|b| b.winner.is_some());
        if !entry.is_talking() || !answered || entry.media.is_none() {
            return Err(CommandError::NotConsulting);
        }
        self.agent_call(agent, Some(consult))
            .ok_or(CommandError::NotConsulting)
    }

    /// Whether call `id` can take one more party: anchored, neither
    /// consulting nor supervised, not full.
    pub(in crate::switch) fn mergeable(&self, id: CallRef) -> Result<(), CommandError> {
        let e = self.calls.get(&id).ok_or(CommandError::NotTalking)?;
        if e.media.is_none() {
            return Err(CommandError::NoMedia);
        }
        if e.phase.consult().is_some() || e.phase.supervisor().is_some() {
            return Err(CommandError::Consulting);
        }
        if let Some(c) = e.phase.conference() {
            c.clone()
                .reserve()
                .map_err(|_| CommandError::ConferenceFull)?;
        }
        Ok(())
    }

    fn merge_placed(&mut self, now: Instant, consult: CallRef) -> Result<(), CommandError> {
        let id = self.customer_call_of(consult)?;
        self.merge_placed_into(now, id, consult)
    }

    /// The colleague's leg leaves `consult` (a call the agent's phone
    /// placed, answered) for call `id` as a party; the agent's
    /// consultation dialog is hung up. Nothing changes on an error.
    pub(in crate::switch) fn merge_placed_into(
        &mut self,
        now: Instant,
        id: CallRef,
        consult: CallRef,
    ) -> Result<(), CommandError> {
        self.mergeable(id)?;
        let port = self
            .anchoring
            .as_mut()
            .ok_or(CommandError::NoMedia)?
            .pool
            .allocate()
            .map_err(|_| CommandError::NoCapacity)?;
        let reserved = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.phase.start_conference())
            .map(|c| c.reserve());
        let Some(Ok((party, media))) = reserved else {
            if let Some(a) = self.anchoring.as_mut() {
                let _ = a.pool.release(port);
            }
            return Err(CommandError::ConferenceFull);
        };
        let Some(leg) = self.take_colleague(consult) else {
            // Checked above: a talking consultation has its answered leg.
            return Err(CommandError::NotConsulting);
        };
        let colleague = leg.agent.clone();
        let target = colleague.clone().unwrap_or_else(|| leg.to_user());
        info!(call = %id, consult = %consult, party, "*3: the agent's own consultation joins the call as a conference");
        if let Some(agent) = &colleague {
            // Busy on the customer's call before its own call lets go.
            self.busy.insert(agent.clone(), id);
            self.engage(now, agent, Engagement::Conferenced(id, party));
        }
        self.release(now, &Engagement::Callee(consult));
        let call_id = leg.call_id.clone();
        let consultation = Consultation {
            target: target.clone(),
            leg,
            port,
            // Its answer to our re-INVITE joins it (`party_answered`).
            answered: false,
            held_by_us: false,
        };
        self.leg_event(
            now,
            id,
            LegEvent::PartyOffered {
                n: party,
                party: target,
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
                leg: consultation,
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
        // The agent's phone held the caller for its consultation: the
        // caller now talks with the colleague (the phone resumes to speak).
        if self.calls.get(&id).and_then(|e| e.held_by()) == Some(MediaLeg::Agent) {
            self.hold_ended(now, id);
        }
        self.reinvite_party(now, id, party, port);
        // The consultation ends: BYE to the agent, none to the colleague.
        self.drive(now, consult, Input::HangUp);
        Ok(())
    }

    /// The answered leg of `consult`, as the only fork of its B leg; its
    /// dialog and branches no longer lead to `consult`.
    fn take_colleague(&mut self, consult: CallRef) -> Option<BLeg> {
        let mut b = self.calls.get_mut(&consult)?.b.take()?;
        for f in &b.forks {
            let ours = matches!(self.demux.client_branch(&f.branch),
                Some(Owner::Client { call, .. }) if *call == consult);
            if ours {
                self.demux.remove_client_branch(&f.branch);
            }
        }
        self.demux.remove_dialog(&b.call_id);
        let winner = b.winner?;
        let fork = b.forks.swap_remove(winner);
        b.agent = fork.agent.clone().or(b.agent.take());
        b.forks = vec![fork];
        b.winner = Some(0);
        Some(b)
    }

    /// Offers the party's relay leg to its existing dialog (RFC 3264 §8):
    /// a re-INVITE whose 2xx is answered as a party's (`party_answered`).
    fn reinvite_party(&mut self, now: Instant, id: CallRef, party: u8, port: u16) {
        let sdp = self.consult_offer(id, port);
        let branch = dialog::branch(&self.token());
        let Some(d) = self
            .party_mut(id, party)
            .and_then(|p| p.leg.leg.forks[0].dialog.clone())
        else {
            return;
        };
        let transport = d.next_hop().transport;
        let (local, contact) = (self.plan.local_on(transport), self.contact_on(transport));
        let Some(p) = self.party_mut(id, party) else {
            return;
        };
        let leg = &mut p.leg.leg;
        // Its branch is the party's from now on: the party's end forgets it.
        leg.forks[0].branch.clone_from(&branch);
        leg.cseq += 1;
        let (cseq, call_id) = (leg.cseq, leg.call_id.clone());
        let bytes = d.reinvite(local, &branch, &call_id, cseq, &contact, &sdp);
        let head = d.reinvite_ack_head(local, &branch, &call_id, cseq);
        let ack = AckTemplate::new(head).expect("our ACK head ends with CRLF");
        let key = ClientKey {
            branch: branch.clone(),
            method: TxMethod::Invite,
        };
        match self.tx_send(now, key, d.next_hop(), bytes, Some(ack)) {
            Ok(()) => {
                let purpose = Purpose::Party(party);
                self.demux
                    .insert(&branch, Owner::Client { call: id, purpose });
            }
            Err(err) => {
                warn!(call = %id, party, %err, "cannot re-INVITE the consulted party into the conference");
                self.party_left(now, id, party, "failed");
            }
        }
    }
}
