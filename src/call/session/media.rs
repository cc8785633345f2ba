//! One call's anchored media as the session keeps it: the port pairs, the
//! offers and answers sent on each leg, hold, supervisors' ports. The port
//! pool and the media plan are the switch's (`switch/media.rs`).

use std::time::Instant;

use bytes::Bytes;

use crate::media::command::{LegRemote, MediaLeg};
use crate::media::packetize::{packet_time, PTIME_DEFAULT};
use crate::media::sdp::{Choice, Codec, FormatKind, Origin, Sdp};

/// One call's anchored media.
#[derive(Debug)]
pub struct CallMedia {
    pub a_port: u16,
    pub b_port: u16,
    /// The caller's SDP (its offer, or for a late offer its answer once the
    /// ACK brought it; our own offer until then).
    pub a_offer: Sdp,
    pub a_choice: Choice,
    /// The INVITE had no offer: ours went to the caller, whose answer is
    /// due in the ACK (RFC 3261 §13.2.1).
    pub awaiting_answer: bool,
    /// The caller's offer as the agent gets it.
    pub offer_for_b: Bytes,
    /// Our answer to the caller, fixed once sent (early or final).
    pub answer_for_a: Option<Bytes>,
    /// When the caller, waiting in a queue, hears its next announcement.
    pub announce_at: Option<Instant>,
    /// Pairs of supervisors who listened in; held until the call ends.
    pub supervisor_ports: Vec<u16>,
    /// Our `o=` line on the caller's leg and on the agent's (RFC 3264 §8).
    pub a_origin: Origin,
    pub b_origin: Origin,
    /// The agent's codec, once its SDP told it.
    pub b_choice: Option<Choice>,
    /// Our answer to the agent's last re-offer, if it made one.
    pub b_sdp_sent: Option<Bytes>,
    /// SRTP keys and what the parties' SDP said; `None` until anchored.
    pub srtp: Option<super::srtp::CallSrtp>,
}

impl CallMedia {
    /// The relay's view of the caller leg; before a late offer's answer,
    /// only what its packets teach (symmetric RTP).
    pub fn caller_remote(&self) -> LegRemote {
        if self.awaiting_answer {
            return latch_only(self.a_choice);
        }
        LegRemote {
            srtp: self.srtp.as_ref().and_then(|s| s.keys(MediaLeg::Caller)),
            ..remote(&self.a_offer, self.a_choice)
        }
    }
}

pub fn remote(s: &Sdp, choice: Choice) -> LegRemote {
    // `sdp::choose` picks only audio formats; G.711 is the RTP default.
    let codec = match choice.codec.kind {
        FormatKind::Audio(c) => c,
        FormatKind::TelephoneEvent => Codec::Pcmu,
    };
    LegRemote {
        rtp: s.rtp,
        rtcp: s.rtcp,
        codec,
        codec_pt: choice.codec.pt,
        telephone_event: choice.telephone_event,
        ptime: packet_time(s.ptime, s.maxptime, codec),
        srtp: None,
    }
}

/// A leg whose SDP we could not use: its address is learnt from its packets
/// (symmetric RTP), its codec assumed to be the caller's.
pub fn latch_only(choice: Choice) -> LegRemote {
    let mut r = LegRemote {
        rtp: None,
        rtcp: None,
        codec: Codec::Pcmu,
        codec_pt: choice.codec.pt,
        telephone_event: choice.telephone_event,
        ptime: PTIME_DEFAULT,
        srtp: None,
    };
    if let FormatKind::Audio(c) = choice.codec.kind {
        r.codec = c;
    }
    r
}
