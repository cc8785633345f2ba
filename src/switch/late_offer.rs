//! Late offer: an INVITE without SDP on an anchored switch. The switch
//! makes the offer itself (RFC 3261 §13.2.1: the first reliable
//! non-failure response carries it, our 200): our address on the caller's
//! port pair, every codec of `[media].codecs` and telephone-event. A queued
//! or IVR caller gets the same SDP in its 183, so a phone that plays early
//! media sends to us and its packets teach the relay where it listens
//! (symmetric RTP). The agent is offered as usual, from our own offer, so
//! queues, menus and early media work unchanged. The caller's answer
//! arrives in the ACK (RFC 3264 §6); without a usable one the call ends
//! with BYE on both legs, as RFC 3261 §13.3.1.4 ends a call whose ACK never
//! came.
//!
//! Forwarding the offerless INVITE to the agent and relaying its offer back
//! was the other way; it needs an agent before the caller can be answered,
//! so a queued or IVR caller could hear nothing while it waits.

use std::net::IpAddr;

use tracing::debug;

use super::media::{Anchoring, OPUS_PT, TELEPHONE_EVENT_PT};
use super::{CallMedia, MediaCommand, MediaLeg, Output, Switch};
use crate::call::session::media::remote;
use crate::call::CallRef;
use crate::media::sdp::{self, Codec, SdpError};

/// Why a late offer's ACK did not complete the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LateAnswerError {
    #[error("the ACK carries no answer to our offer")]
    Missing,
    #[error("the answer in the ACK is unusable: {0}")]
    Unusable(#[from] SdpError),
}

impl Anchoring {
    /// Takes a pair per leg for an offerless INVITE and writes our offer.
    /// `sessions` are the legs' `o=` session ids (RFC 4566 §5.2), drawn by the caller.
    pub(super) fn anchor_late(
        &mut self,
        sessions: (u64, u64),
    ) -> Result<CallMedia, super::AnchorError> {
        let (a_port, b_port) = self.allocate_legs()?;
        let text = our_offer(self.plan.advertise_ip, a_port, &self.plan.codecs);
        let parsed = sdp::parse(&text).and_then(|o| {
            let choice = sdp::choose(&o, &self.plan.codecs)?;
            Ok((o, choice))
        });
        let (a_offer, a_choice) = match parsed {
            Ok(p) => p,
            Err(e) => {
                // Our own text: only a plan without codecs gets here.
                let _ = self.pool.release(a_port);
                let _ = self.pool.release(b_port);
                return Err(e.into());
            }
        };
        Ok(self.call_media((a_port, b_port), a_offer, a_choice, Some(text), sessions))
    }
}

impl Switch {
    /// The caller's ACK for our 2xx, on a call whose offer was ours: its
    /// answer points the caller leg. `Ok` also when no answer was due.
    pub(super) fn late_answer(&mut self, id: CallRef, body: &[u8]) -> Result<(), LateAnswerError> {
        let Some(anchoring) = self.anchoring.as_ref() else {
            return Ok(());
        };
        let Some(m) = self.calls.get_mut(&id).and_then(|e| e.media.as_mut()) else {
            return Ok(());
        };
        if !m.awaiting_answer {
            return Ok(());
        }
        if body.is_empty() {
            return Err(LateAnswerError::Missing);
        }
        let text = std::str::from_utf8(body).map_err(|_| SdpError::Malformed {
            reason: "not UTF-8".into(),
        })?;
        let answer = sdp::parse(text)?;
        let choice = sdp::choose(&answer, &anchoring.plan.codecs)?;
        m.awaiting_answer = false;
        let remote = remote(&answer, choice);
        m.a_offer = answer;
        m.a_choice = choice;
        self.out.push_back(Output::Media(MediaCommand::SetRemote {
            call: id,
            leg: MediaLeg::Caller,
            remote,
        }));
        Ok(())
    }

    /// Checks the ACK of a late offer; a missing or bad answer is counted
    /// and the call must end. True when the call may go on.
    pub(super) fn accept_late_answer(&mut self, id: CallRef, body: &[u8]) -> bool {
        match self.late_answer(id, body) {
            Ok(()) => true,
            Err(err) => {
                debug!(call = %id, %err, "late offer not answered");
                self.stats.media_late_answers_refused += 1;
                false
            }
        }
    }
}

/// Our offer: one audio stream at `port`, the codecs in order of preference
/// and telephone-event 0-15 (RFC 4733 §7.1.1).
/// Its `o=` line is a placeholder that the leg's [`Origin`](sdp::Origin) stamps.
fn our_offer(ip: IpAddr, port: u16, codecs: &[Codec]) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut pts = Vec::new();
    let mut maps = String::new();
    for codec in codecs {
        let (pt, map) = match codec {
            Codec::Pcmu => (0, "PCMU/8000"),
            Codec::Pcma => (8, "PCMA/8000"),
            Codec::G722 => (9, "G722/8000"),
            Codec::Opus => (OPUS_PT, "opus/48000/2"),
        };
        pts.push(pt.to_string());
        maps.push_str(&format!("a=rtpmap:{pt} {map}\r\n"));
    }
    let te = TELEPHONE_EVENT_PT;
    format!(
        "v=0\r\no=switchyard 0 0 IN {family} {ip}\r\ns=switchyard\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {} {te}\r\n{maps}a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\na=sendrecv\r\n",
        pts.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sdp::FormatKind;

    #[test]
    fn our_offer_names_every_codec_and_telephone_event_and_parses() {
        let ip = IpAddr::from([192, 0, 2, 1]);
        let text = our_offer(ip, 20_000, &[Codec::Pcma, Codec::Pcmu, Codec::Opus]);
        let offer = sdp::parse(&text).expect("our offer parses");
        assert_eq!(offer.rtp, Some("192.0.2.1:20000".parse().unwrap()));
        let kinds: Vec<(u8, FormatKind)> = offer.codecs.iter().map(|f| (f.pt, f.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (8, FormatKind::Audio(Codec::Pcma)),
                (0, FormatKind::Audio(Codec::Pcmu)),
                (OPUS_PT, FormatKind::Audio(Codec::Opus)),
            ]
        );
        assert_eq!(offer.telephone_event, Some(TELEPHONE_EVENT_PT));
        let v6 = our_offer("2001:db8::1".parse().unwrap(), 20_002, &[Codec::Pcmu]);
        assert!(v6.contains("c=IN IP6 2001:db8::1\r\n"), "{v6}");
        assert!(sdp::parse(&v6).is_ok());
    }
}
