//! Supervisors listening in on an agent's call, started from the
//! supervisor's phone by dialling a code and the agent's id:
//!
//! | dialled        | mode     | the supervisor...                          |
//! |----------------|----------|--------------------------------------------|
//! | `*50<agent>`   | monitor  | hears caller and agent, is heard by nobody |
//! | `*51<agent>`   | whisper  | hears both, is heard by the agent only     |
//! | `*52<agent>`   | barge    | hears both, is heard by both               |
//!
//! During the session, DTMF 4, 5 and 6 from the supervisor switch to
//! monitor, whisper and barge; 7 takes the call over (`escalate.rs`). Only agents with `supervisor = true` may
//! listen in; the agent must be on an answered, anchored call. The
//! supervisor's INVITE is answered 200 with an SDP answer on a port pair of
//! its own; the relay mixes what each party hears. When the call ends the
//! switch hangs up the supervisor (BYE); when the supervisor hangs up,
//! caller and agent go on as before.

use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, info};

use super::demux::{Owner, OwnerKind};
use super::inbound::Req;
use super::presence::Engagement;
use super::{MediaCommand, MediaLeg, Output, Switch, RETRY_AFTER};
use crate::call::session::SessionEvent;
use crate::call::session::SupervisorLeg;
use crate::call::{CallRef, CallUuid};
use crate::media::mix::Mode;
use crate::media::sdp::{self, SdpError};
use crate::sip::parse::{Message, Method};
use crate::sip::transaction::{ClientKey, TxMethod};

/// Supervisor sessions one call may have in its life: each keeps its port
/// pair until the call ends (the relay's legs are not reused).
pub const SUPERVISIONS_PER_CALL_MAX: usize = 2;
/// Supervisor dialogs open at once, switch-wide.
pub const SUPERVISORS_MAX: usize = 1_024;

/// Why a supervisor cannot listen in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuperviseError {
    #[error("no agent id after the code {0:?}")]
    NoAgent(String),
    #[error("agent {0:?} may not supervise (set supervisor = true)")]
    NotSupervisor(String),
    #[error("agent {0:?} is not on an answered call with anchored media")]
    NotOnCall(String),
    #[error("a supervisor is already listening to agent {0:?}")]
    AlreadySupervised(String),
    #[error("the call has had {SUPERVISIONS_PER_CALL_MAX} supervisor sessions")]
    TooManySessions,
    #[error("{SUPERVISORS_MAX} supervisor sessions are open")]
    TooManySupervisors,
    #[error("supervisor's offer refused: {0}")]
    BadOffer(#[from] SdpError),
    #[error("no RTP ports for the supervisor")]
    NoPorts,
}

impl SuperviseError {
    /// The SIP status the supervisor's phone gets.
    pub fn status(&self) -> u16 {
        match self {
            Self::NoAgent(_) => 484,
            Self::NotSupervisor(_) => 403,
            Self::NotOnCall(_) => 480,
            Self::AlreadySupervised(_) | Self::TooManySessions => 486,
            Self::BadOffer(e) => e.status(),
            Self::TooManySupervisors | Self::NoPorts => 503,
        }
    }
}

/// Reads `*50<agent>`, `*51<agent>`, `*52<agent>`; `None` for any other number.
pub fn parse(dialled: &str) -> Option<Result<(Mode, String), SuperviseError>> {
    let rest = dialled.strip_prefix('*')?;
    let mode = match rest.get(..2)? {
        "50" => Mode::Monitor,
        "51" => Mode::Whisper,
        "52" => Mode::Barge,
        _ => return None,
    };
    let agent = &rest[2..];
    if agent.is_empty() {
        return Some(Err(SuperviseError::NoAgent(dialled.to_string())));
    }
    Some(Ok((mode, agent.to_string())))
}

/// DTMF from the supervisor that switches mode.
fn mode_for_digit(digit: char) -> Option<Mode> {
    match digit {
        '4' => Some(Mode::Monitor),
        '5' => Some(Mode::Whisper),
        '6' => Some(Mode::Barge),
        _ => None,
    }
}

fn mode_index(mode: Mode) -> usize {
    match mode {
        Mode::Monitor => 0,
        Mode::Whisper => 1,
        // Consultations are not supervision; counted with barge, never met.
        Mode::Barge | Mode::Consult | Mode::Takeover | Mode::Conference => 2,
    }
}

impl Switch {
    /// An authenticated agent dialled a supervision code.
    pub(super) fn on_supervise(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        supervisor: &str,
        code: Result<(Mode, String), SuperviseError>,
    ) {
        let tag = self.token();
        let (mode, call, answer) = match code.and_then(|(mode, agent)| {
            self.join_supervisor(req.msg, supervisor, &agent)
                .map(|(call, answer)| (mode, call, answer))
        }) {
            Ok(joined) => joined,
            Err(err) => {
                debug!(%err, "supervision refused");
                self.stats.supervisions_refused += 1;
                let mut headers = vec![("Warning", format!("399 switchyard \"{err}\""))];
                if err.status() == 503 {
                    headers.push(("Retry-After", RETRY_AFTER.as_secs().to_string()));
                }
                return self.respond(now, req, err.status(), Some(&tag), &headers, None);
            }
        };
        self.stats.supervisions[mode_index(mode)] += 1;
        let _in_call = self.call_span(call).entered();
        info!(
            %call,
            mode = mode.label(),
            sip_call_id = %req.msg.call_id(),
            "supervisor joined"
        );
        let headers = [
            ("Contact", self.contact_on(req.source.transport)),
            ("Allow", crate::sip::build::ALLOW.to_string()),
        ];
        let body = Some(("application/sdp", answer.as_ref()));
        self.respond(now, req, 200, Some(&tag), &headers, body);
        let (bye_branch, bye) = self.feature_bye(req, &tag);
        let dialog = req.msg.call_id().to_string();
        let leg = SupervisorLeg {
            dialog: dialog.clone(),
            by: supervisor.to_string(),
            key: req.key.clone(),
            acked: false,
            answer,
            bye,
            bye_branch,
            peer: req.source,
            took_over: false,
        };
        self.session_event(now, call, SessionEvent::SupervisorJoined(Box::new(leg)));
        self.engage(now, supervisor, Engagement::Supervising(dialog.clone()));
        let owner = Owner::Supervisor {
            call,
            invite_branch: req.key.branch.clone(),
        };
        self.demux.insert(&dialog, owner);
        self.demux
            .insert(&req.key.branch, Owner::DialogInvite(dialog));
        self.out
            .push_back(Output::Media(MediaCommand::Supervise { call, mode }));
    }

    /// Checks the request, takes a port pair for the supervisor, opens its
    /// leg on the relay; returns the call and our SDP answer.
    fn join_supervisor(
        &mut self,
        msg: &Message,
        supervisor: &str,
        agent: &str,
    ) -> Result<(CallRef, Bytes), SuperviseError> {
        if !self
            .plan
            .agents
            .get(supervisor)
            .is_some_and(|a| a.supervisor)
        {
            return Err(SuperviseError::NotSupervisor(supervisor.to_string()));
        }
        if self.demux.count(OwnerKind::Supervisor) >= SUPERVISORS_MAX {
            return Err(SuperviseError::TooManySupervisors);
        }
        let not_on_call = || SuperviseError::NotOnCall(agent.to_string());
        let call = *self.busy.get(agent).ok_or_else(not_on_call)?;
        let entry = self.calls.get(&call).ok_or_else(not_on_call)?;
        let media = entry.media.as_ref().ok_or_else(not_on_call)?;
        // Answered and talking: a placed call's agent waiting for the
        // number to answer is not on a conversation yet.
        let talking = entry.call.answered.is_some() && entry.phase.is_talking();
        if !talking || entry.agent.as_deref() != Some(agent) {
            return Err(not_on_call());
        }
        // A consultation holds the relay's third leg; a conference the mixer.
        if entry.phase.supervisor().is_some()
            || entry.phase.consult().is_some()
            || entry.phase.conference().is_some()
        {
            return Err(SuperviseError::AlreadySupervised(agent.to_string()));
        }
        if media.supervisor_ports.len() >= SUPERVISIONS_PER_CALL_MAX {
            return Err(SuperviseError::TooManySessions);
        }
        let anchoring = self.anchoring.as_mut().ok_or_else(not_on_call)?;
        let text = std::str::from_utf8(msg.body()).map_err(|_| SdpError::Malformed {
            reason: "not UTF-8".into(),
        })?;
        if text.is_empty() {
            return Err(SdpError::Malformed {
                reason: "no offer in the INVITE".into(),
            }
            .into());
        }
        let offer = sdp::parse(text)?;
        if offer.secure {
            let reason = "a supervisor's leg is plain RTP".to_owned();
            return Err(sdp::SdpError::Crypto { reason }.into());
        }
        let choice = sdp::choose(&offer, &anchoring.plan.codecs)?;
        let port = anchoring
            .pool
            .allocate()
            .map_err(|_| SuperviseError::NoPorts)?;
        // The supervisor's dialog is a leg of its own: its own o= line.
        let session = call.0.rotate_left(16) ^ u64::from(port);
        let text = offer.rewrite_as(
            anchoring.anchor_at(port),
            &choice.formats(),
            offer.direction.mirror(),
        );
        let answer = Bytes::from(sdp::Origin::new(session).stamp(&text));
        if let Some(m) = self.calls.get_mut(&call).and_then(|e| e.media.as_mut()) {
            m.supervisor_ports.push(port);
        }
        let remote = crate::call::session::media::remote(&offer, choice);
        for command in [
            MediaCommand::Open {
                call,
                leg: MediaLeg::Supervisor,
                port,
            },
            MediaCommand::SetRemote {
                call,
                leg: MediaLeg::Supervisor,
                remote,
            },
        ] {
            self.out.push_back(Output::Media(command));
        }
        Ok((call, answer))
    }

    /// The ACK of our 200 to the supervisor of `call`.
    pub(super) fn on_supervisor_ack(&mut self, now: Instant, call: CallRef, call_id: &str) {
        let leg = self
            .calls
            .get_mut(&call)
            .and_then(|e| e.phase.supervisor_mut());
        if let Some(leg) = leg {
            if !leg.acked {
                leg.acked = true;
                let key = leg.key.clone();
                self.tx_ack_2xx(now, &key, call_id);
            }
        }
    }

    /// BYE, re-INVITE, INFO... from the supervisor of `call`.
    pub(super) fn on_supervisor_request(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        method: &Method,
        call: CallRef,
    ) {
        match method {
            Method::Bye => {
                self.respond(now, req, 200, None, &[], None);
                if let Some(leg) = self.end_supervision(now, req.msg.call_id()) {
                    if !leg.acked {
                        self.tx_ack_2xx(now, &leg.key, req.msg.call_id());
                    }
                    // The supervisor had taken the call over: it ends.
                    if self.taken_over(call) {
                        info!(%call, "the supervisor who took the call over hung up");
                        self.drive(now, call, crate::call::Input::Bye(crate::call::Side::B));
                    }
                }
            }
            Method::Invite => {
                // A session refresh: the supervisor keeps the session it has.
                let answer = self
                    .calls
                    .get(&call)
                    .and_then(|e| e.phase.supervisor())
                    .map(|l| l.answer.clone());
                let contact = [("Contact", self.contact_on(req.source.transport))];
                let body = answer.as_ref().map(|b| ("application/sdp", b.as_ref()));
                self.respond(now, req, 200, None, &contact, body);
                self.tx_ack_2xx(now, req.key, req.msg.call_id());
            }
            Method::Info => {
                let digit = req
                    .msg
                    .content_type()
                    .and_then(|kind| super::digits::info_digit(kind, req.msg.body()));
                self.respond(now, req, 200, None, &[], None);
                if let Some(digit) = digit {
                    self.supervisor_digit(now, call, digit);
                }
            }
            _ => self.respond(now, req, 200, None, &[], None),
        }
    }

    /// The call's media failed the supervisor, or the supervisor went
    /// silent: BYE to the supervisor, the call goes on.
    pub(super) fn supervisor_hang_up(&mut self, now: Instant, dialog: &str) {
        if let Some(leg) = self.end_supervision(now, dialog) {
            self.bye_supervisor(now, *leg);
        }
    }

    /// The supervisor of dialog `dialog` is gone: its table entries, its
    /// engagement and its leg in the call's session; caller and agent are
    /// alone again. Gives the leg back for its last words.
    fn end_supervision(&mut self, now: Instant, dialog: &str) -> Option<Box<SupervisorLeg>> {
        let Some(Owner::Supervisor { call, .. }) = self.demux.remove_dialog(dialog) else {
            return None;
        };
        let leg = self
            .calls
            .get_mut(&call)
            .and_then(|e| e.phase.leave_supervision());
        let took_over = leg.as_ref().is_some_and(|l| l.took_over);
        let of_call = self.uuid_and_queue(call);
        self.release_supervisor(now, dialog, took_over, of_call);
        let leg = leg?;
        self.out
            .push_back(Output::Media(MediaCommand::EndSupervision { call }));
        Some(leg)
    }

    /// The call ended with a supervisor listening: its session gave the
    /// leg back, the call is gone.
    /// `call` is the call's id and queue, for a wrap-up.
    pub(super) fn supervised_call_ended(
        &mut self,
        now: Instant,
        leg: SupervisorLeg,
        call: Option<(CallUuid, Option<String>)>,
    ) {
        self.demux.remove_dialog(&leg.dialog);
        self.release_supervisor(now, &leg.dialog, leg.took_over, call);
        self.bye_supervisor(now, leg);
    }

    /// The supervisor's engagement ends. One who took a queue's call over
    /// wraps up after it as its agent would; a listener is free at once.
    fn release_supervisor(
        &mut self,
        now: Instant,
        dialog: &str,
        took_over: bool,
        call: Option<(CallUuid, Option<String>)>,
    ) {
        let engagement = Engagement::Supervising(dialog.to_string());
        match call.filter(|_| took_over) {
            Some((uuid, queue)) => self.release_to_wrap_up(now, &engagement, uuid, queue),
            None => self.release(now, &engagement),
        }
    }

    fn bye_supervisor(&mut self, now: Instant, leg: SupervisorLeg) {
        let key = ClientKey {
            branch: leg.bye_branch,
            method: TxMethod::NonInvite("BYE".into()),
        };
        if let Err(err) = self.tx_send(now, key, leg.peer, leg.bye, None) {
            debug!(%err, "cannot send the supervisor's BYE");
        }
    }

    /// A digit from the supervisor of `call`: 4, 5, 6 switch mode, 7
    /// takes the call over.
    pub(super) fn supervisor_digit(&mut self, now: Instant, call: CallRef, digit: char) {
        let supervised = self
            .calls
            .get(&call)
            .is_some_and(|e| e.phase.supervisor().is_some());
        if self.taken_over(call) {
            // The agent is gone: no mode but the takeover's makes sense.
            return;
        }
        if supervised && digit == super::escalate::TAKEOVER_DIGIT {
            if let Err(err) = self.takeover(now, call) {
                info!(%call, %err, "supervisor's takeover refused");
            }
            return;
        }
        if let (true, Some(mode)) = (supervised, mode_for_digit(digit)) {
            info!(%call, mode = mode.label(), "supervisor changed mode");
            self.out
                .push_back(Output::Media(MediaCommand::Supervise { call, mode }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervision_codes_name_the_mode_and_the_agent() {
        assert_eq!(parse("*501001"), Some(Ok((Mode::Monitor, "1001".into()))));
        assert_eq!(parse("*511002"), Some(Ok((Mode::Whisper, "1002".into()))));
        assert_eq!(parse("*52abc"), Some(Ok((Mode::Barge, "abc".into()))));
        assert_eq!(parse("*47"), None, "a pause code is not ours");
        assert_eq!(parse("*5"), None);
        assert_eq!(parse("5550100"), None);
        let err = parse("*50").unwrap().unwrap_err();
        assert_eq!(err.status(), 484);
    }

    #[test]
    fn refusals_carry_the_status_a_phone_understands() {
        assert_eq!(SuperviseError::NotSupervisor("1".into()).status(), 403);
        assert_eq!(SuperviseError::NotOnCall("1".into()).status(), 480);
        assert_eq!(SuperviseError::AlreadySupervised("1".into()).status(), 486);
        assert_eq!(SuperviseError::NoPorts.status(), 503);
    }

    #[test]
    fn digits_four_to_six_switch_the_mode() {
        assert_eq!(mode_for_digit('4'), Some(Mode::Monitor));
        assert_eq!(mode_for_digit('5'), Some(Mode::Whisper));
        assert_eq!(mode_for_digit('6'), Some(Mode::Barge));
        assert_eq!(mode_for_digit('1'), None);
    }
}
