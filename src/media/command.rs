//! The words the signalling core and the relay speak, and nothing else: the
//! core's [`MediaCommand`]s in, the relay's [`MediaEvent`]s out, and the
//! [`MediaInput`] the core hears from both. Every one names its call by the
//! switch's own [`CallRef`] and a leg by its part in the call
//! ([`MediaLeg`]); the relay keeps its own map from those to its sockets,
//! so the driver between them forwards each word as it is. Pure data: no
//! IO, no clock.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::call::CallRef;
use crate::media::amd::Verdict;
use crate::media::mix::{Mode, Voice};
use crate::media::sdp::Codec;
use crate::media::srtp::MasterKey;

/// Conference parties one call may add in its life ([`MediaLeg::Party`]
/// numbers run below it): each keeps its relay leg until the call ends.
pub const CONFERENCE_JOINS_PER_CALL_MAX: usize = 16;
/// Most media legs in one call in its life: caller, agent, a few
/// supervisor or consultation legs, and the conference parties. The relay
/// refuses a leg past it.
pub const LEGS_PER_CALL_MAX: usize = 8 + CONFERENCE_JOINS_PER_CALL_MAX;
/// Parts a relay leg can play ([`MediaLeg::index`] runs below it).
pub const MEDIA_SIDES: usize = 3 + CONFERENCE_JOINS_PER_CALL_MAX;

/// A call's media leg: the caller's or the agent's (carrier's, dialling out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaLeg {
    Caller,
    Agent,
    /// A supervisor listening in (see `switch/supervise.rs`), or the
    /// colleague of a consultation.
    Supervisor,
    /// A party the agent brought into a conference, by its number in the
    /// call (below [`CONFERENCE_JOINS_PER_CALL_MAX`]).
    Party(u8),
}

impl MediaLeg {
    /// A distinct small number per part, below [`MEDIA_SIDES`].
    pub fn index(self) -> usize {
        match self {
            MediaLeg::Caller => 0,
            MediaLeg::Agent => 1,
            MediaLeg::Supervisor => 2,
            MediaLeg::Party(n) => 3 + usize::from(n) % CONFERENCE_JOINS_PER_CALL_MAX,
        }
    }
}

/// What the party's SDP said, as the relay needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegRemote {
    /// Its RTP address (`None`: unknown or on hold with `c=0.0.0.0`).
    pub rtp: Option<SocketAddr>,
    pub rtcp: Option<SocketAddr>,
    pub codec: Codec,
    /// Payload type of the codec on this leg.
    pub codec_pt: u8,
    /// Payload type of telephone-event on this leg, if negotiated.
    pub telephone_event: Option<u8>,
    /// The packet length the party takes (its `a=ptime`, see
    /// [`packet_time`](crate::media::packetize::packet_time)): what the
    /// relay sends it, re-packetising when the far leg's differs.
    pub ptime: Duration,
    /// SRTP on this leg (RFC 4568 SDES): our key for what we send, the
    /// party's for what it sends. `None`: plain RTP.
    pub srtp: Option<SrtpKeys>,
}

/// The two master keys of an SRTP leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrtpKeys {
    /// Ours, in our SDP: protects what the relay sends to the party.
    pub ours: MasterKey,
    /// The party's, from its SDP: unprotects what it sends.
    pub theirs: MasterKey,
}

/// What the core asks of the relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind the pair `port`/`port + 1` for this leg of the call.
    Open {
        call: CallRef,
        leg: MediaLeg,
        port: u16,
    },
    /// The leg's party receives at, and speaks, what its SDP said.
    SetRemote {
        call: CallRef,
        leg: MediaLeg,
        remote: LegRemote,
    },
    /// Relay between the caller and agent legs, both ways (any prompt
    /// playing to them stops).
    Bridge { call: CallRef },
    /// Stop relaying between the legs (hold).
    Unbridge { call: CallRef },
    /// Play the prompts named `intro` once, then loop `music`, to the leg.
    Play {
        call: CallRef,
        leg: MediaLeg,
        intro: Vec<String>,
        music: Vec<String>,
    },
    /// Record the call into a WAV at `path`: the caller left, what the
    /// caller hears of the other parties right, until the call is released.
    Record { call: CallRef, path: PathBuf },
    /// The supervisor leg joins caller and agent in `mode` (or changes it).
    Supervise { call: CallRef, mode: Mode },
    /// The supervisor left; caller and agent hear each other alone again.
    EndSupervision { call: CallRef },
    /// The call is a conference of exactly these legs: each hears all the
    /// others through the mixer, at its voice's gain and mute (sent anew
    /// whenever a party joins, leaves, or is muted).
    Conference {
        call: CallRef,
        parties: Vec<(MediaLeg, Voice)>,
    },
    /// Send a digit to the leg as RFC 4733 events (a SIP INFO digit from
    /// the other party, RFC 6086 interworking).
    SendDigit {
        call: CallRef,
        leg: MediaLeg,
        digit: char,
    },
    /// Listen to the leg's first seconds for an answering machine
    /// ([`crate::media::amd`]): [`MediaInput::Answering`] tells the
    /// verdict, then, for a machine when `beep`, [`MediaInput::GreetingOver`]
    /// when its greeting ends.
    Detect {
        call: CallRef,
        leg: MediaLeg,
        beep: bool,
    },
    /// The call is over: close its sockets.
    Release { call: CallRef },
}

impl MediaCommand {
    pub fn call(&self) -> CallRef {
        match self {
            Self::Open { call, .. }
            | Self::SetRemote { call, .. }
            | Self::Bridge { call }
            | Self::Unbridge { call }
            | Self::Play { call, .. }
            | Self::Record { call, .. }
            | Self::Supervise { call, .. }
            | Self::EndSupervision { call }
            | Self::Conference { call, .. }
            | Self::SendDigit { call, .. }
            | Self::Detect { call, .. }
            | Self::Release { call } => *call,
        }
    }

    /// What the core must hear when the relay cannot carry this out: a
    /// failure for a supervisor, a recording or a digit must not end the call.
    pub fn on_failure(&self) -> MediaInput {
        let call = self.call();
        match self {
            Self::Open {
                leg: MediaLeg::Supervisor,
                ..
            }
            | Self::SetRemote {
                leg: MediaLeg::Supervisor,
                ..
            }
            | Self::Supervise { .. }
            | Self::EndSupervision { .. } => MediaInput::SupervisionFailed { call },
            Self::Record { .. } => MediaInput::RecordingFailed { call },
            Self::Open {
                leg: MediaLeg::Party(_),
                ..
            }
            | Self::SetRemote {
                leg: MediaLeg::Party(_),
                ..
            }
            | Self::Conference { .. } => MediaInput::ConferenceFailed { call },
            // A digit that cannot be sent is lost, as on a lossy network.
            Self::SendDigit { .. } => MediaInput::DigitLost { call },
            // Not listened to: taken for a person, who reaches an agent.
            Self::Detect { .. } => MediaInput::Answering {
                call,
                verdict: Verdict::NotSure,
            },
            _ => MediaInput::Failed { call },
        }
    }
}

/// A relay leg: the `n`th leg the relay opened for `call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegId {
    pub call: CallRef,
    pub n: u8,
}

/// What the relay reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A leg's far end was learnt from its packets (or moved).
    PeerLearnt {
        leg: LegId,
        addr: SocketAddr,
        rtcp: bool,
    },
    /// An RFC 4733 digit arrived on a leg; `side` is the leg's part in the
    /// call, if the core opened it by one and no later leg took that part.
    Digit {
        leg: LegId,
        side: Option<MediaLeg>,
        digit: char,
    },
    /// The call's media has been silent for `silent_for`: end the call.
    Timeout { call: CallRef, silent_for: Duration },
    /// The call's recording could not be created or written (logged with
    /// the path and cause); the call goes on unrecorded.
    RecordingFailed { call: CallRef },
    /// The answering-machine detector's verdict on the listened leg.
    Answering { call: CallRef, verdict: Verdict },
    /// The machine's greeting is over: its beep ended (`beeped`), or a
    /// silence or the time limit came.
    GreetingOver { call: CallRef, beeped: bool },
}

impl MediaEvent {
    /// What the core must hear of this; `None` for what is only logged
    /// (a peer learnt) and for a digit on a leg the core does not name.
    pub fn input(&self) -> Option<MediaInput> {
        match *self {
            Self::PeerLearnt { .. } => None,
            Self::Digit { leg, side, digit } => Some(MediaInput::Digit {
                call: leg.call,
                leg: side?,
                digit,
            }),
            Self::Timeout { call, .. } => Some(MediaInput::Timeout { call }),
            Self::RecordingFailed { call } => Some(MediaInput::RecordingFailed { call }),
            Self::Answering { call, verdict } => Some(MediaInput::Answering { call, verdict }),
            Self::GreetingOver { call, beeped } => Some(MediaInput::GreetingOver { call, beeped }),
        }
    }
}

/// What the core hears of the relay: its reports, and its failures to
/// carry out a command ([`MediaCommand::on_failure`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaInput {
    /// A command for the call could not be carried out (a port held by
    /// another program, the call's media task jammed).
    Failed { call: CallRef },
    /// The call's media has been silent for the inactivity timeout.
    Timeout { call: CallRef },
    /// An RFC 4733 digit arrived on a leg.
    Digit {
        call: CallRef,
        leg: MediaLeg,
        digit: char,
    },
    /// The call's recording could not be made; it goes on unrecorded.
    RecordingFailed { call: CallRef },
    /// The supervisor's leg could not be set up: hang the supervisor up,
    /// the call goes on.
    SupervisionFailed { call: CallRef },
    /// A digit could not be sent to a leg; the call goes on.
    DigitLost { call: CallRef },
    /// A conference party's media could not be set up or mixed; the call
    /// goes on as it was.
    ConferenceFailed { call: CallRef },
    /// Who answered, as far as the detector could tell.
    Answering { call: CallRef, verdict: Verdict },
    /// The answering machine's greeting is over.
    GreetingOver { call: CallRef, beeped: bool },
}

impl MediaInput {
    /// The call the relay reports on.
    pub fn call(&self) -> CallRef {
        match *self {
            Self::Failed { call }
            | Self::Timeout { call }
            | Self::Digit { call, .. }
            | Self::RecordingFailed { call }
            | Self::SupervisionFailed { call }
            | Self::DigitLost { call }
            | Self::ConferenceFailed { call }
            | Self::Answering { call, .. }
            | Self::GreetingOver { call, .. } => call,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digit_reaches_the_core_only_on_a_leg_it_names() {
        let leg = LegId {
            call: CallRef(7),
            n: 1,
        };
        let heard = MediaEvent::Digit {
            leg,
            side: Some(MediaLeg::Agent),
            digit: '5',
        };
        assert_eq!(
            heard.input(),
            Some(MediaInput::Digit {
                call: CallRef(7),
                leg: MediaLeg::Agent,
                digit: '5'
            })
        );
        let stray = MediaEvent::Digit {
            leg,
            side: None,
            digit: '5',
        };
        assert_eq!(stray.input(), None);
    }

    #[test]
    fn a_timeout_and_a_failed_recording_reach_the_core_a_learnt_peer_does_not() {
        let call = CallRef(3);
        let timeout = MediaEvent::Timeout {
            call,
            silent_for: Duration::from_secs(30),
        };
        assert_eq!(timeout.input(), Some(MediaInput::Timeout { call }));
        let failed = MediaEvent::RecordingFailed { call };
        assert_eq!(failed.input(), Some(MediaInput::RecordingFailed { call }));
        let learnt = MediaEvent::PeerLearnt {
            leg: LegId { call, n: 0 },
            addr: "127.0.0.1:4000".parse().expect("an address"),
            rtcp: false,
        };
        assert_eq!(learnt.input(), None);
    }
}
