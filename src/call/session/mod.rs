//! A call's session: everything about one call, in one place. It owns the
//! call machine ([`Call`]: what both legs' SIP state asks for), the legs
//! (the caller's [`ALeg`], the agent's [`BLeg`] with its forks, the
//! [`SupervisorLeg`] while one listens and the [`Consultation`] while the
//! agent consults a colleague, both held by the talking phase), its anchored media ([`CallMedia`]), its
//! [`PhaseMachine`] (routing, menu, queued, ringing, talking, ended) and
//! what its record needs ([`CallDetail`]). Pure: no IO, no clock; the
//! switch feeds it with `now` and turns its decisions into SIP, media
//! commands and records.

// Functions stay under `too-many-lines-threshold` (clippy.toml).
#![warn(clippy::too_many_lines)]

pub mod a_leg;
pub mod b_leg;
pub mod conference;
pub mod consult;
pub mod detail;
pub mod legs;
pub mod media;
pub mod menu;
pub mod phase;
pub mod srtp;
pub mod supervisor;

use std::time::Duration;

use bytes::Bytes;

pub use a_leg::{ALeg, ALegOrigin};
pub use b_leg::{BLeg, Fork};
pub use conference::{Conference, ConferenceParty, PartyVoice};
pub use consult::Consultation;
pub use detail::{CallDetail, Direction, RecordDetail};
pub use legs::{CallLegs, LegEvent, LegOutcome, LegRecord, LegRole, LegVia, LEGS_PER_CALL_MAX};
pub use media::CallMedia;
pub use phase::{
    Hold, Phase, PhaseMachine, Recording, SessionAction, SessionEvent, Supervision, Talk,
};
pub use supervisor::SupervisorLeg;

use super::{Call, Origin, Side, State};

/// One call: its legs, its media, its phase, and what its record needs.
#[derive(Debug)]
pub struct Session {
    pub call: Call,
    pub a: ALeg,
    /// The agent who placed the call, when it came from an agent's phone.
    pub a_agent: Option<String>,
    pub b: Option<BLeg>,
    pub trunk: Option<String>,
    pub dialled: String,
    pub queue: Option<String>,
    pub ring_timeout: Duration,
    /// Where the call stands: menu, queued, ringing, talking (with its
    /// supervisor and recording), ended.
    pub phase: PhaseMachine,
    /// The agent who answered, else the last one offered the call alone.
    pub agent: Option<String>,
    /// The router tracks this call (queued and not yet forgotten by it).
    pub routed: bool,
    /// The agent who blind-transferred the call while its new callee is
    /// sought: the first fallback if that callee fails.
    pub transfer_from: Option<String>,
    /// When a failed transfer's fallback prompt is over: the call ends.
    pub fallback_hangup: Option<std::time::Instant>,
    /// The parties blind transfers moved the call between (the first
    /// transferor, then each target), and how often one came back.
    pub transfer_parties: Vec<String>,
    pub transfer_returns: u32,
    /// Its anchored media; `None` passes SDP through.
    pub media: Option<CallMedia>,
    /// DTMF digits received on either leg, oldest first, for the IVR and
    /// feature codes; at most the switch's `DIGITS_PER_CALL_MAX`.
    pub digits: String,
    /// The DID asked for the call to be recorded (its queue may too).
    pub record: bool,
    /// The call's id in logs, records, events and replies.
    pub uuid: crate::call::CallUuid,
    /// Its log span: every line about the call is logged inside it.
    pub span: tracing::Span,
    /// Who called, which way, IVR keys, queue times, hold: for its record.
    pub detail: CallDetail,
}

impl Session {
    /// Answered and not ending: from the callee's 200 on, before the
    /// caller's ACK too (RFC 3261 §13.3.1.4 lets the UAS act on the dialog
    /// once it sent its 2xx). The one rule for "talking": the API's view
    /// and every gate (transfer, escalation, consultation, conference,
    /// Replaces, takeover) ask it, so none refuses a call shown talking.
    pub fn is_talking(&self) -> bool {
        matches!(self.call.state, State::Answered { .. } | State::Connected)
    }

    /// Where the call stands, in the words of the API's call list: menu,
    /// consulting, held, dialling, queued, routing, ringing, talking, ending.
    pub fn phase_label(&self) -> &'static str {
        let held = self.media.is_some() && self.held_by().is_some();
        let dialling = self.call.origin
            == Origin::Placed {
                agent_answered: true,
            };
        if self.phase.consult().is_some() {
            return "consulting";
        }
        match (self.phase.menu(), &self.call.state) {
            (Some(_), _) => "menu",
            (None, _) if held && self.is_talking() => "held",
            (None, State::Routing | State::Offering { .. }) if dialling => "dialling",
            (None, State::Routing) if self.routed => "queued",
            (None, State::Routing) => "routing",
            (None, State::Offering { .. }) => "ringing",
            (None, _) if self.is_talking() => "talking",
            // Releasing or done.
            (None, _) => "ending",
        }
    }

    /// The leg that holds the answered call, while it does.
    pub fn held_by(&self) -> Option<crate::media::command::MediaLeg> {
        self.phase.held_by()
    }

    /// Our tag on that leg's dialog.
    pub fn local_tag(&self, side: Side) -> Option<&str> {
        match side {
            Side::A => Some(&self.a.local_tag),
            Side::B => self.b.as_ref().map(|b| b.local_tag.as_str()),
        }
    }

    /// The session description we last sent on that leg.
    pub fn last_sdp(&self, side: Side) -> Option<Bytes> {
        match side {
            Side::A => self.a.sdp_sent.clone(),
            Side::B => match &self.media {
                Some(m) => Some(m.b_sdp_sent.clone().unwrap_or(m.offer_for_b.clone())),
                None => Some(self.a.invite()?.body().clone()).filter(|b| !b.is_empty()),
            },
        }
    }

    /// The From of a new B leg: who calls (their number and name), not
    /// how they reached us. On a call the switch placed, the agent's phone
    /// shows the number it will reach, and the trunk gets the agent.
    pub fn b_from(&self, local: std::net::SocketAddr) -> String {
        let (name, user) = match (self.a.invite(), &self.a.origin) {
            (Some(invite), _) => {
                let caller = invite.from();
                let user = caller.uri().user().unwrap_or("anonymous").to_string();
                (caller.display_name().map(str::to_string), user)
            }
            // A campaign rings the customer with its caller ID.
            (None, ALegOrigin::Placed { dialog: None }) => match &self.detail.campaign {
                Some(c) => (None, c.caller_id.clone().unwrap_or("anonymous".into())),
                // A callback's agent sees whom they call back.
                None if self.detail.direction == detail::Direction::Callback => {
                    (Some("Callback".to_string()), self.dialled.clone())
                }
                None => (None, self.dialled.clone()),
            },
            // The agent taking a campaign call sees the customer's number.
            (None, _) => (None, self.a_agent.clone().unwrap_or(self.dialled.clone())),
        };
        match name {
            // The parser keeps escapes and drops the quotes: quote it again.
            Some(name) if !name.is_empty() => format!("\"{name}\" <sip:{user}@{local}>"),
            _ => format!("<sip:{user}@{local}>"),
        }
    }

    /// The SDP a B-leg INVITE carries: the caller's offer as rewritten for
    /// the callee; on a call the switch placed, while the agent rings, our
    /// own offer on the agent's (A-side) pair.
    pub fn fork_offer(&self) -> Bytes {
        let ringing_agent = matches!(self.a.origin, ALegOrigin::Placed { dialog: None });
        match (&self.media, self.a.invite()) {
            (Some(m), _) if ringing_agent => m.answer_for_a.clone().unwrap_or_default(),
            (Some(m), _) => m.offer_for_b.clone(),
            (None, Some(invite)) => invite.body().clone(),
            (None, None) => Bytes::new(),
        }
    }
}
