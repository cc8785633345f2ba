//! Re-offers on an anchored call (RFC 3264 §8): a re-INVITE from the caller
//! or the agent for hold (`sendonly`, `inactive`, `c=0.0.0.0`, §8.4),
//! resume, or a changed codec list. The answer is what the leg will really
//! use: the codec it has while the offer still lists it (a phone resuming
//! with Opus first keeps G.711), else the offer's first we speak, and the
//! relay is told the leg's new codec and re-bridged so that it transcodes
//! (or stops transcoding) to match. The answer is written from the new
//! offer (same streams, RFC 3264 §8.1), stamped with the leg's own `o=`
//! line, its version raised only when the answer changed.

use std::time::Instant;

use bytes::Bytes;
use tracing::warn;

use super::{EventKind, MediaCommand, MediaLeg, Output, Switch};
use crate::call::session::SessionEvent;
use crate::call::CallRef;
use crate::media::sdp::{self, Direction, SdpError};

impl Switch {
    /// A re-INVITE's offer on leg `leg` of call `id`. `None` when the call
    /// is not anchored or the re-INVITE has no offer (the caller of this
    /// answers with the leg's last SDP); `Err` when the offer cannot be
    /// taken (answered 488, the session stays as it was, RFC 3261 §14.2).
    pub(super) fn media_reoffer(
        &mut self,
        now: Instant,
        id: CallRef,
        leg: MediaLeg,
        body: &[u8],
    ) -> Option<Result<Bytes, SdpError>> {
        if body.is_empty() || leg == MediaLeg::Supervisor {
            return None;
        }
        let anchoring = self.anchoring.as_ref()?;
        let codecs = anchoring.plan.codecs.clone();
        let hold_music = anchoring.plan.hold_music.clone();
        let entry = self.calls.get_mut(&id)?;
        let answered = entry.call.answered.is_some();
        let held_before = entry.held_by();
        let m = entry.media.as_mut()?;
        let (port, current) = match leg {
            MediaLeg::Caller => (m.a_port, Some(m.a_choice)),
            _ => (m.b_port, m.b_choice),
        };
        let anchor = anchoring.anchor_at(port);
        let parsed = std::str::from_utf8(body)
            .map_err(|_| SdpError::Malformed {
                reason: "not UTF-8".into(),
            })
            .and_then(sdp::parse)
            .and_then(|offer| {
                let choice = sdp::rechoose(&offer, current.map(|c| c.codec), &codecs)?;
                m.check_reoffer(leg, &offer)?;
                Ok((offer, choice))
            });
        let (offer, choice) = match parsed {
            Ok(p) => p,
            Err(e) => {
                warn!(call = %id, ?leg, %e, "re-offer refused, the session stays as it was");
                return Some(Err(e));
            }
        };
        let direction = if offer.rtp.is_none() {
            Direction::Inactive
        } else {
            offer.direction
        };
        let text = offer.rewrite_as(anchor, &choice.formats(), direction.mirror());
        let text = m.secure_answer(leg, text);
        let codec_changed = current.map(|c| c.codec.kind) != Some(choice.codec.kind);
        let answer = match leg {
            MediaLeg::Caller => {
                m.a_choice = choice;
                Bytes::from(m.a_origin.stamp(&text))
            }
            _ => {
                m.b_choice = Some(choice);
                let answer = Bytes::from(m.b_origin.stamp(&text));
                m.b_sdp_sent = Some(answer.clone());
                answer
            }
        };
        let mut commands = Vec::new();
        if offer.rtp.is_some() {
            commands.push(MediaCommand::SetRemote {
                call: id,
                leg,
                remote: m.leg_remote(leg, &offer, choice),
            });
            if leg == MediaLeg::Caller {
                m.a_offer = offer;
            }
        }
        let change = Change {
            held: direction != Direction::SendRecv,
            codec_changed,
            answered,
        };
        let (hold, held_after) = hold_commands(held_before, id, leg, change, hold_music);
        commands.extend(hold);
        if leg == MediaLeg::Caller {
            if let Some(entry) = self.calls.get_mut(&id) {
                entry.a.sdp_sent = Some(answer.clone());
            }
        }
        let event = self.hold_changed(now, id, held_before, held_after);
        for c in commands {
            self.out.push_back(Output::Media(c));
        }
        if let Some(kind) = event {
            self.emit(now, kind);
        }
        Some(Ok(answer))
    }

    /// The switch put the caller on hold for `by` (an API consultation).
    pub(super) fn hold_started(&mut self, now: Instant, id: CallRef, by: MediaLeg) {
        if let Some(kind) = self.hold_changed(now, id, None, Some(by)) {
            self.emit(now, kind);
        }
    }

    /// The party who held the call left it (an attended transfer took
    /// their leg away): the session, the record and the event hear it.
    pub(super) fn hold_ended(&mut self, now: Instant, id: CallRef) {
        let before = self.calls.get(&id).and_then(|e| e.held_by());
        if let Some(kind) = self.hold_changed(now, id, before, None) {
            self.emit(now, kind);
        }
    }

    /// Hold began or ended: the session, the record and the event hear it.
    fn hold_changed(
        &mut self,
        now: Instant,
        id: CallRef,
        before: Option<MediaLeg>,
        after: Option<MediaLeg>,
    ) -> Option<EventKind> {
        let entry = self.calls.get_mut(&id)?;
        let call = entry.uuid;
        let (event, kind) = match (before, after) {
            (None, Some(by)) => {
                entry.detail.held(now);
                let who = if by == MediaLeg::Caller {
                    "caller"
                } else {
                    "agent"
                };
                (
                    SessionEvent::Held { by },
                    EventKind::CallHeld { call, by: who },
                )
            }
            (Some(_), None) => {
                entry.detail.resumed(now);
                (SessionEvent::Resumed, EventKind::CallResumed { call })
            }
            _ => return None,
        };
        self.session_event(now, id, event);
        Some(kind)
    }
}

/// What a re-offer changed for the call's bridge.
#[derive(Clone, Copy)]
struct Change {
    /// The offer holds (anything but `sendrecv`).
    held: bool,
    codec_changed: bool,
    /// The call is answered: its legs are bridged unless on hold.
    answered: bool,
}

/// The relay commands for a re-offer on `leg` (RFC 3264 §8.4): a hold
/// unbridges and plays music to the other party, a resume bridges again,
/// and a codec change on a bridged call re-bridges so that the relay
/// chooses its path (transcoding or not) anew. Gives the commands and who
/// holds the call after.
fn hold_commands(
    held_by: Option<MediaLeg>,
    id: CallRef,
    leg: MediaLeg,
    change: Change,
    hold_music: String,
) -> (Vec<MediaCommand>, Option<MediaLeg>) {
    let other = match leg {
        MediaLeg::Caller => MediaLeg::Agent,
        _ => MediaLeg::Caller,
    };
    match (change.held, held_by) {
        (true, None) => {
            let commands = vec![
                MediaCommand::Unbridge { call: id },
                MediaCommand::Play {
                    call: id,
                    leg: other,
                    intro: Vec::new(),
                    music: vec![hold_music],
                },
            ];
            (commands, Some(leg))
        }
        (false, Some(_)) => (vec![MediaCommand::Bridge { call: id }], None),
        (false, None) if change.codec_changed && change.answered => {
            (vec![MediaCommand::Bridge { call: id }], None)
        }
        _ => (Vec::new(), held_by),
    }
}
