//! Where a call stands as a whole, one [`Phase`] at a time (routing, in a
//! menu, queued, ringing, talking, ended), each phase holding only what it
//! needs: the menu machine while in a menu, the ring deadline while
//! ringing, hold, the supervisor and the recording while talking. The SIP state
//! of the two legs is the call machine's ([`Call`](crate::call::Call)).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::conference::{Conference, ConferenceParty};
use super::consult::Consultation;
use super::menu::CallMenu;
use super::supervisor::SupervisorLeg;
use crate::media::command::MediaLeg;

/// Where a call stands.
#[derive(Debug)]
pub enum Phase {
    /// Arrived, or sent by its dialplan to an agent or the carrier, and
    /// not ringing anyone yet.
    Routing,
    /// The caller is in an IVR menu.
    Menu(CallMenu),
    /// Waiting in a queue for the router's offer.
    Queued,
    /// The agent's phone (or the carrier) rings. A direct call's ring
    /// timeout ends at `deadline`; the router times queued offers itself.
    Ringing { deadline: Option<Instant> },
    /// Answered: caller and agent talk.
    Talking(Talk),
    /// Over; its record is being written.
    Ended,
}

/// What goes on around an answered call.
#[derive(Debug)]
pub struct Talk {
    pub hold: Hold,
    pub supervision: Supervision,
    pub recording: Recording,
    /// A blind transfer's new callee rings until then (the caller stays
    /// answered, so the phase stays talking).
    pub transfer_ring: Option<Instant>,
    /// The agent consults a colleague (API); boxed: most calls never do.
    pub consult: Option<Box<Consultation>>,
    /// Parties brought into the call; boxed: most calls never have any.
    pub conference: Option<Box<Conference>>,
}

/// Whether a party put the other on hold (RFC 3264 §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Off,
    /// By the leg whose re-offer held.
    By(MediaLeg),
}

/// Whether a supervisor listens in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supervision {
    Alone,
    /// Boxed: most calls are never supervised.
    Supervised(Box<SupervisorLeg>),
}

/// Whether the call is being recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recording {
    Off,
    On { path: PathBuf, since: Instant },
}

/// What happened to the call, as the switch saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The dialplan sent the caller to a menu.
    MenuEntered(CallMenu),
    /// The router took the call into a queue (again, after a missed offer).
    Queued,
    /// The agent leg (or the carrier leg) went out.
    Offered,
    /// A direct call's ring timeout was armed to end at this instant.
    RingTimerArmed(Instant),
    /// The ringing stopped (answered, refused, cancelled, given up).
    RingStopped,
    /// A blind transfer's new callee rings until then.
    TransferRingArmed(Instant),
    /// The caller was answered.
    Answered,
    /// A party's re-offer put the call on hold, or took it off.
    Held {
        by: MediaLeg,
    },
    Resumed,
    /// A supervisor's dialog was answered: it listens in.
    SupervisorJoined(Box<SupervisorLeg>),
    /// The agent consults a colleague: the leg rings.
    ConsultStarted(Box<Consultation>),
    /// The colleague answered the consultation.
    ConsultAnswered,
    /// The recording started, into this file.
    RecordingStarted {
        path: PathBuf,
    },
    /// The relay could not write the recording: the call goes on unrecorded.
    RecordingFailed,
    /// The call machine ended at `ended`.
    Ended {
        ended: Instant,
    },
}

/// What the switch must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionAction {
    /// Wake the call at this instant for its ring timeout.
    WakeForRing(Instant),
    /// Hang up the supervisor's dialog: the call it listened to ended.
    HangUpSupervisor(Box<SupervisorLeg>),
    /// Hang up (or cancel) the consultation: the call it belonged to ended.
    HangUpConsultation(Box<Consultation>),
    /// Hang up (or cancel) a conference party: the call ended.
    HangUpParty(Box<ConferenceParty>),
    /// The recording ended with the call: its file and length, for the record.
    RecordingEnded { path: PathBuf, length: Duration },
}

/// The phase of one call, and its transitions.
#[derive(Debug)]
pub struct PhaseMachine {
    phase: Phase,
}

impl Default for PhaseMachine {
    fn default() -> Self {
        PhaseMachine {
            phase: Phase::Routing,
        }
    }
}

impl PhaseMachine {
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The session's transition function: the phase and one event give the
    /// next phase and the actions, pushed onto `out` in order. An event that
    /// does not fit the phase (a supervisor for a call no longer talking, a
    /// ring timer for an answered call) changes nothing.
    pub fn handle(&mut self, now: Instant, event: SessionEvent, out: &mut Vec<SessionAction>) {
        if matches!(self.phase, Phase::Ended) {
            return;
        }
        match event {
            SessionEvent::MenuEntered(menu) => self.phase = Phase::Menu(menu),
            SessionEvent::Queued => {
                if !matches!(self.phase, Phase::Talking(_)) {
                    self.phase = Phase::Queued;
                }
            }
            SessionEvent::Offered => {
                if !matches!(self.phase, Phase::Talking(_) | Phase::Ringing { .. }) {
                    self.phase = Phase::Ringing { deadline: None };
                }
            }
            SessionEvent::RingTimerArmed(at) => {
                if !matches!(self.phase, Phase::Talking(_)) {
                    self.phase = Phase::Ringing { deadline: Some(at) };
                    out.push(SessionAction::WakeForRing(at));
                }
            }
            SessionEvent::TransferRingArmed(at) => {
                if let Phase::Talking(talk) = &mut self.phase {
                    talk.transfer_ring = Some(at);
                    out.push(SessionAction::WakeForRing(at));
                }
            }
            SessionEvent::RingStopped => match &mut self.phase {
                Phase::Ringing { deadline } => *deadline = None,
                Phase::Talking(talk) => talk.transfer_ring = None,
                _ => {}
            },
            SessionEvent::Answered => {
                if !matches!(self.phase, Phase::Talking(_)) {
                    self.phase = Phase::Talking(Talk {
                        hold: Hold::Off,
                        supervision: Supervision::Alone,
                        recording: Recording::Off,
                        transfer_ring: None,
                        consult: None,
                        conference: None,
                    });
                }
            }
            SessionEvent::Ended { ended } => self.end(ended, out),
            other => self.on_talk(now, other),
        }
    }

    /// The menu the caller is in.
    pub fn menu(&self) -> Option<&CallMenu> {
        match &self.phase {
            Phase::Menu(menu) => Some(menu),
            _ => None,
        }
    }

    pub fn menu_mut(&mut self) -> Option<&mut CallMenu> {
        match &mut self.phase {
            Phase::Menu(menu) => Some(menu),
            _ => None,
        }
    }

    /// The caller leaves its menu (it picked a target, or is refused): the
    /// menu comes back for its priority and attributes, and the call is
    /// routed anew.
    pub fn leave_menu(&mut self) -> Option<CallMenu> {
        if !matches!(self.phase, Phase::Menu(_)) {
            return None;
        }
        match std::mem::replace(&mut self.phase, Phase::Routing) {
            Phase::Menu(menu) => Some(menu),
            _ => unreachable!("the phase was checked to be a menu"),
        }
    }

    /// Whether a ring timeout armed for `at` is still the call's.
    pub fn ring_due(&self, at: Instant) -> bool {
        match &self.phase {
            Phase::Ringing { deadline } => *deadline == Some(at),
            Phase::Talking(talk) => talk.transfer_ring == Some(at),
            _ => false,
        }
    }

    pub fn is_talking(&self) -> bool {
        matches!(self.phase, Phase::Talking(_))
    }

    /// The leg that holds the call, while it does.
    pub fn held_by(&self) -> Option<MediaLeg> {
        match self.phase {
            Phase::Talking(Talk {
                hold: Hold::By(leg),
                ..
            }) => Some(leg),
            _ => None,
        }
    }

    /// The supervisor's leg, while one listens in.
    pub fn supervisor(&self) -> Option<&SupervisorLeg> {
        match &self.phase {
            Phase::Talking(Talk {
                supervision: Supervision::Supervised(leg),
                ..
            }) => Some(leg),
            _ => None,
        }
    }

    pub fn supervisor_mut(&mut self) -> Option<&mut SupervisorLeg> {
        match &mut self.phase {
            Phase::Talking(Talk {
                supervision: Supervision::Supervised(leg),
                ..
            }) => Some(leg),
            _ => None,
        }
    }

    /// The supervisor leaves (hung up, or is hung up on): its leg comes
    /// back for the last words on its dialog, and the call talks alone.
    pub fn leave_supervision(&mut self) -> Option<Box<SupervisorLeg>> {
        let Phase::Talking(talk) = &mut self.phase else {
            return None;
        };
        match std::mem::replace(&mut talk.supervision, Supervision::Alone) {
            Supervision::Supervised(leg) => Some(leg),
            Supervision::Alone => None,
        }
    }

    /// The consultation, while the agent consults.
    pub fn consult(&self) -> Option<&Consultation> {
        match &self.phase {
            Phase::Talking(talk) => talk.consult.as_deref(),
            _ => None,
        }
    }

    pub fn consult_mut(&mut self) -> Option<&mut Consultation> {
        match &mut self.phase {
            Phase::Talking(talk) => talk.consult.as_deref_mut(),
            _ => None,
        }
    }

    /// The consultation ends (completed, cancelled, failed): its leg comes
    /// back for the last words on its dialog.
    pub fn leave_consult(&mut self) -> Option<Box<Consultation>> {
        match &mut self.phase {
            Phase::Talking(talk) => talk.consult.take(),
            _ => None,
        }
    }

    /// The call's conference, while it has one.
    pub fn conference(&self) -> Option<&Conference> {
        match &self.phase {
            Phase::Talking(talk) => talk.conference.as_deref(),
            _ => None,
        }
    }

    pub fn conference_mut(&mut self) -> Option<&mut Conference> {
        match &mut self.phase {
            Phase::Talking(talk) => talk.conference.as_deref_mut(),
            _ => None,
        }
    }

    /// The call's conference, started (empty) if it has none; `None` when
    /// the call is not talking or a supervisor listens in (the supervisor
    /// mix and the conference mix are one mixer).
    pub fn start_conference(&mut self) -> Option<&mut Conference> {
        let Phase::Talking(talk) = &mut self.phase else {
            return None;
        };
        if talk.supervision != Supervision::Alone {
            return None;
        }
        Some(talk.conference.get_or_insert_with(Box::default))
    }

    pub fn is_recording(&self) -> bool {
        matches!(
            self.phase,
            Phase::Talking(Talk {
                recording: Recording::On { .. },
                ..
            })
        )
    }

    /// Hold, supervision and recording: only while talking.
    fn on_talk(&mut self, now: Instant, event: SessionEvent) {
        let Phase::Talking(talk) = &mut self.phase else {
            return;
        };
        match event {
            SessionEvent::Held { by } => talk.hold = Hold::By(by),
            SessionEvent::Resumed => talk.hold = Hold::Off,
            SessionEvent::SupervisorJoined(leg)
                if talk.consult.is_none() && talk.conference.is_none() =>
            {
                talk.supervision = Supervision::Supervised(leg);
            }
            SessionEvent::RecordingStarted { path } => {
                talk.recording = Recording::On { path, since: now };
            }
            SessionEvent::RecordingFailed => talk.recording = Recording::Off,
            // One consultation at a time, never beside a supervisor (they
            // share the relay's third leg): the switch checks.
            SessionEvent::ConsultStarted(leg)
                if talk.consult.is_none() && talk.supervision == Supervision::Alone =>
            {
                talk.consult = Some(leg);
            }
            SessionEvent::ConsultAnswered => {
                if let Some(c) = talk.consult.as_mut() {
                    c.answered = true;
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, ended: Instant, out: &mut Vec<SessionAction>) {
        let Phase::Talking(talk) = std::mem::replace(&mut self.phase, Phase::Ended) else {
            return;
        };
        if let Supervision::Supervised(leg) = talk.supervision {
            out.push(SessionAction::HangUpSupervisor(leg));
        }
        if let Some(consult) = talk.consult {
            out.push(SessionAction::HangUpConsultation(consult));
        }
        for party in talk.conference.map(|c| c.parties).unwrap_or_default() {
            out.push(SessionAction::HangUpParty(Box::new(party)));
        }
        if let Recording::On { path, since } = talk.recording {
            let length = ended.saturating_duration_since(since);
            out.push(SessionAction::RecordingEnded { path, length });
        }
    }
}

#[cfg(test)]
#[path = "phase_tests.rs"]
mod tests;
