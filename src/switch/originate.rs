//! Originate (click-to-call): the switch places a call itself. It rings
//! the agent's registered contacts (every one, as an offer does) with its
//! own SDP offer on the agent's pair of the relay, and the agent is busy
//! for the router from then on. When the agent answers, their dialog
//! becomes the call's A leg (ours as UAC) and the B leg dials the number
//! through the outbound trunk by the path an agent's own call out takes
//! ([`Switch::offer_carrier`]: trunk, identity, digest), so what applies
//! to one applies to the other. The call machine's side is
//! `call/placed.rs`.

use std::time::Instant;

use bytes::Bytes;
use rand::RngCore;
use tracing::info;

use super::command::{CommandError, NUMBER_CHARS_MAX};
use super::demux::Owner;
use super::event::EventKind;
use super::legs::{ALeg, ALegOrigin, Session};
use super::presence::Engagement;
use super::{MediaCommand, MediaLeg, Output, Switch};
use crate::call::session::detail::Direction;
use crate::call::session::PhaseMachine;
use crate::call::{Call, CallRef, CallUuid, Input, Private, Side};
use crate::sip::parse::Message;

impl Switch {
    /// Checks the command and places the call: the agent's phone rings.
    pub(super) fn originate(
        &mut self,
        now: Instant,
        agent: &str,
        number: &str,
    ) -> Result<CallUuid, CommandError> {
        self.agent_named(agent)?;
        if !valid_number(number) {
            return Err(CommandError::BadNumber);
        }
        if self.draining {
            return Err(CommandError::Draining);
        }
        let targets = self.agent_targets(now, agent);
        if targets.is_empty() {
            return Err(CommandError::NotRegistered(agent.to_string()));
        }
        let trunk = match self.carrier_order().first() {
            Some(t) => t.name.clone(),
            None => return Err(CommandError::NoOutboundTrunk),
        };
        // Toll fraud through the API is toll fraud too (issue 13 item 4).
        if let Err(refused) = self.plan.check_dial(agent, number) {
            self.dial_refused(agent, number, refused, "-");
            return Err(CommandError::DialRefused(refused));
        }
        if self.busy.contains_key(agent) || self.own_call(agent).is_some() {
            return Err(CommandError::AgentBusy(agent.to_string()));
        }
        if let Err(reason) = self.admission(now) {
            self.stats.refused_overload[reason as usize] += 1;
            return Err(CommandError::NoCapacity);
        }
        let (_, uuid) = self.place_agent_first(now, agent, number, targets, trunk, None)?;
        Ok(uuid)
    }

    /// Places a call agent first: the agent's `targets` ring with our
    /// offer, and the number is dialled through `trunk` once they answer.
    /// `callback`: a queue's callback (its queue and ring timeout), whose
    /// agent the router holds (no engagement of their own), shown to
    /// them as "Callback" and recorded as such.
    pub(super) fn place_agent_first(
        &mut self,
        now: Instant,
        agent: &str,
        number: &str,
        targets: Vec<super::legs::Target>,
        trunk: String,
        callback: Option<(String, std::time::Duration)>,
    ) -> Result<(CallRef, CallUuid), CommandError> {
        let sessions = (
            u64::from(self.rng.next_u32()),
            u64::from(self.rng.next_u32()),
        );
        let Some(anchoring) = self.anchoring.as_mut() else {
            return Err(CommandError::NoMedia);
        };
        // Our offer on the agent's pair; the number is offered once the
        // agent's answer says which codec they speak.
        let media = anchoring.anchor_late(sessions).map_err(|_| {
            self.stats.media_ports_exhausted += 1;
            CommandError::NoCapacity
        })?;
        let id = self.new_call_ref();
        let uuid = self.uuids.next(now, &mut self.rng);
        let span = tracing::info_span!(
            "call",
            id = %uuid,
            caller = %Private(agent),
            did = %Private(number),
            queue = tracing::field::Empty,
            agent = tracing::field::Empty,
        );
        let entry = Session {
            call: Call::placed(id, now),
            a: ALeg::placed(),
            a_agent: Some(agent.to_string()),
            b: None,
            trunk: Some(trunk.clone()),
            dialled: number.to_string(),
            queue: callback.as_ref().map(|c| c.0.clone()),
            ring_timeout: callback
                .as_ref()
                .map_or(self.plan.no_answer_timeout, |c| c.1),
            agent: None,
            routed: false,
            transfer_from: None,
            fallback_hangup: None,
            transfer_parties: Vec::new(),
            transfer_returns: 0,
            media: Some(media),
            digits: String::new(),
            record: false,
            phase: PhaseMachine::default(),
            uuid,
            span: span.clone(),
            // The agent places it: they are its caller.
            detail: crate::call::session::detail::CallDetail {
                caller: agent.to_string(),
                direction: match callback {
                    Some(_) => Direction::Callback,
                    None => Direction::Outbound,
                },
                ..Default::default()
            },
        };
        let _in_call = span.entered();
        info!(call = %id, trunk = %trunk, "call originated: ringing the agent");
        self.stats.calls_started += 1;
        self.calls.insert(id, entry);
        self.busy.insert(agent.to_string(), id);
        let direction = match &callback {
            Some((queue, _)) => {
                info!(call = %id, %queue, "callback: ringing the agent first");
                "callback"
            }
            None => {
                self.engage(now, agent, Engagement::Caller(id));
                "outbound"
            }
        };
        let event = EventKind::CallOriginated {
            call: uuid,
            agent: agent.to_string(),
            number: number.to_string(),
            trunk,
            direction,
        };
        self.emit(now, event);
        self.open_media(id);
        let to = format!("<sip:{agent}@{}>", self.plan.local);
        self.start_b_leg(now, id, Some(agent.to_string()), to, targets, None);
        self.offered_event(now, id, vec![agent.to_string()]);
        Ok((id, uuid))
    }

    /// The agent answered a placed call on `fork` (ACKed): their dialog
    /// becomes the A leg, they hear ringback, and the number is dialled.
    pub(super) fn dial_number(&mut self, now: Instant, id: CallRef, fork: usize) {
        let Some(b) = self.calls.get(&id).and_then(|e| e.b.as_ref()) else {
            return;
        };
        let Some(dialog) = b.forks.get(fork).and_then(|f| f.dialog.clone()) else {
            return;
        };
        let (call_id, local_tag, cseq) = (b.call_id.clone(), b.local_tag.clone(), b.cseq);
        let answer = dialog.answer.clone().unwrap_or_default();
        // The other forks were cancelled; the leg's tables go, the dialog stays.
        self.drop_b_leg(now, id);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        entry.a.call_id = call_id.clone();
        entry.a.local_tag = local_tag;
        entry.a.local_cseq = cseq;
        // What a re-INVITE without an offer gets back: our offer, as sent.
        entry.a.sdp_sent = entry.media.as_ref().and_then(|m| m.answer_for_a.clone());
        entry.a.origin = ALegOrigin::Placed {
            dialog: Some(dialog),
        };
        let (uuid, number) = (entry.uuid, entry.dialled.clone());
        let agent = entry.a_agent.clone().unwrap_or_default();
        let trunk = entry.trunk.clone().unwrap_or_default();
        let leg = Owner::Leg {
            call: id,
            side: Side::A,
        };
        self.demux.insert(&call_id, leg);
        // A campaign's customer answered: an agent is rung, not a number.
        if self.is_campaign_call(id) {
            return self.campaign_answered(now, id, &answer);
        }
        self.callback_agent_answered(now, id);
        self.busy.insert(agent.clone(), id);
        if !self.accept_late_answer(id, &answer) {
            info!(call = %id, "the agent's answer has no usable SDP: hanging up");
            return self.drive(now, id, Input::MediaLost);
        }
        self.offer_number(id);
        info!(call = %id, "the agent answered: dialling the number");
        self.emit(
            now,
            EventKind::CallDialling {
                call: uuid,
                agent,
                trunk,
            },
        );
        self.offer_carrier(now, id, &number);
    }

    /// The number's offer, written once the agent's answer fixed their
    /// codec (offered first, so that the legs need no transcoding when
    /// the number takes it); the agent hears ringback meanwhile.
    fn offer_number(&mut self, id: CallRef) {
        self.write_b_offer(id);
        self.out.push_back(Output::Media(MediaCommand::Play {
            call: id,
            leg: MediaLeg::Caller,
            intro: Vec::new(),
            music: vec![super::ivr::MENU_RINGBACK.to_owned()],
        }));
    }

    /// The B leg's offer on a placed call, from the A leg's answer.
    pub(super) fn write_b_offer(&mut self, id: CallRef) {
        let Some(anchoring) = self.anchoring.as_ref() else {
            return;
        };
        let Some(m) = self.calls.get_mut(&id).and_then(|e| e.media.as_mut()) else {
            return;
        };
        let formats = anchoring.formats_for_b(&m.a_offer, m.a_choice);
        let text = m.a_offer.rewrite(anchoring.anchor_at(m.b_port), &formats);
        m.offer_for_b = Bytes::from(m.b_origin.stamp(&text));
    }

    /// A 2xx again from the agent of a placed call (our ACK was lost):
    /// the ACK goes again. False when the 2xx is not theirs.
    pub(super) fn resend_placed_ack(&mut self, msg: &Message) -> bool {
        let Some(&Owner::Leg {
            call,
            side: Side::A,
        }) = self.demux.dialog(msg.call_id())
        else {
            return false;
        };
        let Some(entry) = self.calls.get(&call) else {
            return false;
        };
        let ALegOrigin::Placed {
            dialog: Some(dialog),
        } = &entry.a.origin
        else {
            return false;
        };
        let Some(bytes) = dialog.ack.clone() else {
            return false;
        };
        let peer = dialog.next_hop();
        self.out.push_back(Output::Transmit { peer, bytes });
        true
    }
}

/// A number the trunk may be asked for: digits, `+` and `*` only (all
/// valid in a SIP URI's user part unescaped), so nothing an API client
/// writes can change the SIP we send.
pub(super) fn valid_number(number: &str) -> bool {
    (1..=NUMBER_CHARS_MAX).contains(&number.len())
        && number
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digits_plus_and_star_may_be_dialled() {
        for good in ["5551234", "+4930123456", "*45", "0"] {
            assert!(valid_number(good), "{good}");
        }
        let long = "1".repeat(NUMBER_CHARS_MAX + 1);
        for bad in [
            "",
            "555 1234",
            "5551234@x",
            "a",
            "55;user=phone",
            "1\r\nX: y",
            "#1",
            &long,
        ] {
            assert!(!valid_number(bad), "{bad:?}");
        }
    }
}
