//! Media anchoring, as the signalling core decides it: each call gets an
//! RTP/RTCP port pair per leg from the core's own [`PortPool`], the caller's
//! offer is rewritten for the agent (our address, the codecs we speak) and
//! the agent's answer for the caller (the caller's chosen codec). The relay
//! is never called from here: every decision leaves as an
//! [`Output::Media`](super::Output::Media) command that the driver carries
//! out, and what the relay reports comes back as a [`MediaInput`] (both
//! words live in [`crate::media::command`]).
//!
//! A plan without `[media]` keeps SDP end to end (pass-through).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::RngCore;
use tracing::{debug, warn};

use super::Switch;
use crate::call::session::media::latch_only;
use crate::call::session::CallMedia;
use crate::call::session::SessionEvent;
use crate::call::{CallRef, Input};
use crate::config::SrtpPolicy;
use crate::media::command::{MediaCommand, MediaInput, MediaLeg};
use crate::media::pool::{PoolError, PortPool};
use crate::media::sdp::{self, Anchor, Choice, Codec, Format, FormatKind, Origin, Sdp, SdpError};
use crate::sip::parse::Message;
use crate::sip::Transport;

/// Payload type we offer Opus and telephone-event on when the caller did
/// not (RFC 3551 §6: 96-127 are dynamic).
pub(super) const OPUS_PT: u8 = 111;
pub(super) const TELEPHONE_EVENT_PT: u8 = 101;

/// Where the switch anchors media, from the `[media]` section.
#[derive(Clone, Debug)]
pub struct MediaPlan {
    /// The relay binds here.
    pub bind_ip: IpAddr,
    /// Written into the SDP we send.
    pub advertise_ip: IpAddr,
    pub port_min: u16,
    pub port_max: u16,
    /// An answered call whose media stops this long is hung up.
    pub inactivity_timeout: Duration,
    /// Codecs either leg may use, preferred first.
    pub codecs: Vec<Codec>,
    /// Where the driver loads the prompts from.
    pub prompts_dir: PathBuf,
    /// What a queued caller hears between announcements.
    pub queue_music: String,
    /// Period of the position and expected-wait announcement; zero: never.
    pub announce_every: Duration,
    /// What a party put on hold hears.
    pub hold_music: String,
    /// Directory recordings are written to.
    pub recordings: PathBuf,
}

impl MediaPlan {
    pub fn from_config(cfg: &crate::config::MediaConfig) -> MediaPlan {
        MediaPlan {
            bind_ip: cfg.rtp_address,
            advertise_ip: cfg.advertise_address,
            port_min: cfg.port_min,
            port_max: cfg.port_max,
            inactivity_timeout: cfg.inactivity_timeout,
            codecs: cfg.codecs.clone(),
            prompts_dir: cfg.prompts.clone(),
            queue_music: cfg.queue_music.clone(),
            announce_every: cfg.announce_every,
            hold_music: cfg.hold_music.clone(),
            recordings: cfg.recordings.clone(),
        }
    }
}

/// Why a new call's media cannot be anchored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("caller's offer refused: {0}")]
    BadOffer(#[from] SdpError),
    #[error("no RTP ports for the call: {0}")]
    Ports(#[from] PoolError),
}

impl AnchorError {
    /// 488 (or 413) for a bad offer (RFC 3261 §21.4.26), 503 when out of ports.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadOffer(e) => e.status(),
            Self::Ports(_) => 503,
        }
    }
}

/// The core's media state: the port pool and its counters.
#[derive(Debug)]
pub struct Anchoring {
    pub plan: MediaPlan,
    pub pool: PortPool,
    /// Draws our SRTP keys ([`Switch::set_srtp_seed`]).
    pub keys: crate::call::session::srtp::KeySource,
}

impl Anchoring {
    /// `None` when the plan's range holds no pair (config validation refuses
    /// such a range, so only hand-built plans get here).
    pub fn new(plan: MediaPlan) -> Option<Anchoring> {
        let pool = PortPool::new(plan.port_min, plan.port_max).ok()?;
        // A fixed seed until the driver gives one from the OS: tests and
        // simulations stay deterministic.
        let keys = crate::call::session::srtp::KeySource::new([0x5e; 32]);
        Some(Anchoring { plan, pool, keys })
    }

    /// Parses the caller's offer, picks its codec and takes a pair per leg.
    /// `sessions` are the `o=` session ids of the caller's and agent's legs.
    pub fn anchor(&mut self, body: &[u8], sessions: (u64, u64)) -> Result<CallMedia, AnchorError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::Malformed {
            reason: "not UTF-8".into(),
        })?;
        let a_offer = sdp::parse(text)?;
        let a_choice = sdp::choose(&a_offer, &self.plan.codecs)?;
        let ports = self.allocate_legs()?;
        Ok(self.call_media(ports, a_offer, a_choice, None, sessions))
    }

    /// A pair for the caller's leg and one for the agent's; none is kept
    /// when the second cannot be had.
    pub(super) fn allocate_legs(&mut self) -> Result<(u16, u16), PoolError> {
        let a_port = self.pool.allocate()?;
        match self.pool.allocate() {
            Ok(b_port) => Ok((a_port, b_port)),
            Err(e) => {
                let _ = self.pool.release(a_port);
                Err(e)
            }
        }
    }

    /// A call's media on `ports` for the caller-side offer `a_offer`; with
    /// `our_offer` (a late offer) the offer is ours and the caller's answer
    /// is awaited in its ACK. Each leg's SDP is stamped with its own origin.
    pub(super) fn call_media(
        &self,
        (a_port, b_port): (u16, u16),
        a_offer: Sdp,
        a_choice: Choice,
        our_offer: Option<String>,
        (a_session, b_session): (u64, u64),
    ) -> CallMedia {
        let formats = self.formats_for_b(&a_offer, a_choice);
        let mut b_origin = Origin::new(b_session);
        let offer_for_b =
            Bytes::from(b_origin.stamp(&a_offer.rewrite(self.anchor_at(b_port), &formats)));
        let mut a_origin = Origin::new(a_session);
        let our_offer = our_offer.map(|text| Bytes::from(a_origin.stamp(&text)));
        CallMedia {
            a_port,
            b_port,
            a_offer,
            a_choice,
            offer_for_b,
            awaiting_answer: our_offer.is_some(),
            answer_for_a: our_offer,
            announce_at: None,
            supervisor_ports: Vec::new(),
            a_origin,
            b_origin,
            b_choice: None,
            b_sdp_sent: None,
            srtp: None,
        }
    }

    pub fn release(&mut self, media: &CallMedia) {
        let _ = self.pool.release(media.a_port);
        let _ = self.pool.release(media.b_port);
        for &port in &media.supervisor_ports {
            let _ = self.pool.release(port);
        }
    }

    pub(super) fn anchor_at(&self, port: u16) -> Anchor {
        Anchor {
            ip: self.plan.advertise_ip,
            rtp_port: port,
            rtcp_port: port + 1,
        }
    }

    /// The agent is offered the caller's codec first (no transcoding when it
    /// takes it), then every other codec we speak, and telephone-event.
    pub(super) fn formats_for_b(&self, a_offer: &Sdp, a_choice: Choice) -> Vec<Format> {
        let te = a_choice.telephone_event.unwrap_or(TELEPHONE_EVENT_PT);
        let mut formats = vec![a_choice.codec];
        for &codec in &self.plan.codecs {
            if formats.iter().any(|f| f.kind == FormatKind::Audio(codec)) {
                continue;
            }
            let pt = a_offer
                .codecs
                .iter()
                .find(|f| f.kind == FormatKind::Audio(codec))
                .map(|f| f.pt)
                .or(codec.static_pt())
                .unwrap_or(if te == OPUS_PT { OPUS_PT - 1 } else { OPUS_PT });
            formats.push(Format {
                pt,
                kind: FormatKind::Audio(codec),
            });
        }
        formats.push(Format {
            pt: te,
            kind: FormatKind::TelephoneEvent,
        });
        formats
    }
}

impl Switch {
    /// One report of the relay.
    pub fn handle_media(&mut self, now: Instant, input: MediaInput) {
        let _in_call = self.call_span(input.call()).entered();
        match input {
            MediaInput::Failed { call } => {
                warn!(%call, "the relay could not carry the call's media: hanging up");
                self.stats.media_failures += 1;
                self.drive(now, call, Input::MediaLost);
            }
            MediaInput::Timeout { call } => {
                // A caller waiting in a queue sends no RTP yet, and a call
                // on hold may be silent (`a=inactive`): only an answered,
                // bridged call's silence means a vanished phone.
                let vanished = self.calls.get(&call).is_some_and(|e| {
                    e.call.answered.is_some() && (e.media.is_none() || e.held_by().is_none())
                });
                if vanished {
                    warn!(%call, "no media on the answered call: hanging up");
                    self.stats.media_timeouts += 1;
                    self.drive(now, call, Input::MediaLost);
                }
            }
            MediaInput::Digit { call, leg, digit } => self.on_digit(now, call, leg, digit),
            MediaInput::DigitLost { call } => debug!(%call, "a digit could not be sent"),
            MediaInput::ConferenceFailed { call } => {
                warn!(%call, "the relay could not set up a conference party's media")
            }
            MediaInput::SupervisionFailed { call } => {
                let dialog = self
                    .calls
                    .get(&call)
                    .and_then(|e| e.phase.supervisor())
                    .map(|leg| leg.dialog.clone());
                if let Some(dialog) = dialog {
                    self.supervisor_hang_up(now, &dialog);
                }
            }
            MediaInput::Answering { call, verdict } => self.campaign_verdict(now, call, verdict),
            MediaInput::GreetingOver { call, beeped } => {
                self.campaign_greeting_over(now, call, beeped)
            }
            MediaInput::RecordingFailed { call } => {
                warn!(%call, "the call's recording failed; it goes on unrecorded");
                self.stats.recordings_failed += 1;
                self.session_event(now, call, SessionEvent::RecordingFailed);
            }
        }
        self.pump(now);
    }

    /// The caller is answered: record the call if its DID or queue asks,
    /// caller on the left channel, the parties it hears on the right: one
    /// file for the call's life, across transfers and conferences.
    pub(super) fn start_recording(&mut self, now: Instant, id: CallRef) {
        let Some(anchoring) = self.anchoring.as_ref() else {
            return;
        };
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        let wanted = entry.record
            || entry
                .queue
                .as_ref()
                .is_some_and(|q| self.plan.record_queues.contains(q));
        let talking = entry.phase.is_talking() && !entry.phase.is_recording();
        if !wanted || entry.media.is_none() || !talking {
            return;
        }
        let dir = anchoring.plan.recordings.clone();
        let path = dir.join(format!("{}-{}.wav", id.0, self.token()));
        let started = SessionEvent::RecordingStarted { path: path.clone() };
        self.session_event(now, id, started);
        self.stats.recordings_started += 1;
        debug!(call = %id, path = %path.display(), "recording");
        self.out
            .push_back(super::Output::Media(MediaCommand::Record {
                call: id,
                path,
            }));
    }

    /// Anchors a new call's media, or says why the call must be refused.
    /// `Ok(None)`: no `[media]`, or an INVITE without offer (pass-through).
    pub(super) fn anchor_call(
        &mut self,
        msg: &Message,
        (policy, transport): (SrtpPolicy, Transport),
    ) -> Result<Option<CallMedia>, AnchorError> {
        if self.anchoring.is_none() {
            return Ok(None);
        }
        // Each leg's own `o=` session id (RFC 4566 §5.2).
        let sessions = (
            u64::from(self.rng.next_u32()),
            u64::from(self.rng.next_u32()),
        );
        let Some(anchoring) = self.anchoring.as_mut() else {
            return Ok(None);
        };
        let anchored = if msg.body().is_empty() {
            anchoring.anchor_late(sessions)
        } else {
            anchoring.anchor(msg.body(), sessions)
        };
        let anchored = anchored.and_then(|mut m| {
            m.srtp = Some(crate::call::session::srtp::CallSrtp::new(
                &mut anchoring.keys,
            ));
            match crate::call::session::srtp::negotiate_caller(
                &mut m,
                policy,
                transport,
                msg.call_id(),
            ) {
                Ok(()) => Ok(m),
                Err(e) => {
                    anchoring.release(&m);
                    Err(AnchorError::BadOffer(e))
                }
            }
        });
        match anchored {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                match e {
                    AnchorError::BadOffer(_) => self.stats.media_offers_refused += 1,
                    AnchorError::Ports(_) => self.stats.media_ports_exhausted += 1,
                }
                debug!(%e, "call refused");
                Err(e)
            }
        }
    }

    /// Tells the relay to open both legs of a newly anchored call.
    pub(super) fn open_media(&mut self, id: CallRef) {
        let Some(m) = self.calls.get(&id).and_then(|e| e.media.as_ref()) else {
            return;
        };
        let commands = [
            MediaCommand::Open {
                call: id,
                leg: MediaLeg::Caller,
                port: m.a_port,
            },
            MediaCommand::Open {
                call: id,
                leg: MediaLeg::Agent,
                port: m.b_port,
            },
            MediaCommand::SetRemote {
                call: id,
                leg: MediaLeg::Caller,
                remote: m.caller_remote(),
            },
        ];
        for c in commands {
            self.out.push_back(super::Output::Media(c));
        }
    }

    /// The agent's SDP (early or final answer) arrived: point the agent leg
    /// at it, bridge, and give the SDP the caller gets. Without anchoring,
    /// the agent's SDP itself.
    pub(super) fn media_answer(&mut self, id: CallRef, b_sdp: Option<Bytes>) -> Option<Bytes> {
        let Some(anchoring) = self.anchoring.as_ref() else {
            return b_sdp;
        };
        let entry = self.calls.get_mut(&id)?;
        let Some(m) = entry.media.as_mut() else {
            return b_sdp;
        };
        let parsed = b_sdp
            .as_ref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(sdp::parse);
        let b_remote = match &parsed {
            Some(Ok(s)) => match sdp::choose(s, &anchoring.plan.codecs) {
                Ok(choice) => {
                    m.b_choice = Some(choice);
                    m.take_b_answer(id, s);
                    m.leg_remote(MediaLeg::Agent, s, choice)
                }
                Err(_) => latch_only(m.a_choice),
            },
            Some(Err(e)) => {
                debug!(call = %id, %e, "agent SDP unusable: latching on its packets");
                latch_only(m.a_choice)
            }
            None => latch_only(m.a_choice),
        };
        // The caller hears the agent from now on.
        m.announce_at = None;
        if m.answer_for_a.is_none() {
            // Our answer mirrors the caller's offer, not the agent's SDP
            // (RFC 3264 §6: one m= line per offered stream, in its order).
            let anchor = anchoring.anchor_at(m.a_port);
            let text =
                m.a_offer
                    .rewrite_as(anchor, &m.a_choice.formats(), m.a_offer.direction.mirror());
            let text = m.secure_a(text);
            m.answer_for_a = Some(Bytes::from(m.a_origin.stamp(&text)));
        }
        let answer = m.answer_for_a.clone();
        self.out
            .push_back(super::Output::Media(MediaCommand::SetRemote {
                call: id,
                leg: MediaLeg::Agent,
                remote: b_remote,
            }));
        self.out
            .push_back(super::Output::Media(MediaCommand::Bridge { call: id }));
        answer
    }

    /// Our answer to a queued caller's offer, sent in a 183 so it hears the
    /// queue's audio (early media, RFC 3960 §3); the final 200 repeats it.
    pub(super) fn early_answer(&mut self, id: CallRef) -> Option<Bytes> {
        let anchoring = self.anchoring.as_ref()?;
        let m = self.calls.get_mut(&id)?.media.as_mut()?;
        let anchor = anchoring.anchor_at(m.a_port);
        if m.answer_for_a.is_none() {
            let text =
                m.a_offer
                    .rewrite_as(anchor, &m.a_choice.formats(), m.a_offer.direction.mirror());
            let text = m.secure_a(text);
            m.answer_for_a = Some(Bytes::from(m.a_origin.stamp(&text)));
        }
        m.answer_for_a.clone()
    }

    /// The call is gone: its ports go back to the pool, the relay closes them.
    pub(super) fn release_media(&mut self, media: Option<CallMedia>, id: CallRef) {
        let (Some(anchoring), Some(m)) = (self.anchoring.as_mut(), media) else {
            return;
        };
        anchoring.release(&m);
        self.out
            .push_back(super::Output::Media(MediaCommand::Release { call: id }));
    }

    /// RTP port pairs free and in the pool, when anchoring.
    pub fn media_ports(&self) -> Option<(usize, usize)> {
        let a = self.anchoring.as_ref()?;
        Some((a.pool.capacity() - a.pool.in_use(), a.pool.capacity()))
    }
}

#[cfg(test)]
mod tests;
