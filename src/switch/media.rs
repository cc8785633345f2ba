//! Media anchoring, as the signalling core decides it: each call gets an
//! RTP/RTCP port pair per leg from the core's own [`PortPool`], the caller's
//! offer is rewritten for the agent (our address, the codecs we speak) and
//! the agent's answer for the caller (the caller's chosen codec). The relay
//! is never called from here: every decision leaves as an
//! [`Output::Media`](super::Output::Media) command that the driver carries
//! out, and what the relay reports comes back as a [`MediaInput`].
//!
//! A plan without `[media]` keeps SDP end to end (pass-through).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::RngCore;
use tracing::debug;

use super::Switch;
use crate::acd::CallId;
use crate::call::{CallRef, Input};
use crate::media::mix::Mode;
use crate::media::packetize::{packet_time, PTIME_DEFAULT};
use crate::media::pool::{PoolError, PortPool};
use crate::media::relay::LegRemote;
use crate::media::sdp::{
    self, Anchor, Choice, Codec, Direction, Format, FormatKind, Sdp, SdpError,
};
use crate::sip::parse::Message;

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

/// A call's media leg: the caller's or the agent's (carrier's, dialling out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaLeg {
    Caller,
    Agent,
    /// A supervisor listening in (see `supervise.rs`).
    Supervisor,
}

/// What the driver must do on the relay.
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
    /// Record the caller (left) and agent (right) into a WAV at `path`.
    Record { call: CallRef, path: PathBuf },
    /// The supervisor leg joins caller and agent in `mode` (or changes it).
    Supervise { call: CallRef, mode: Mode },
    /// The supervisor left; caller and agent hear each other alone again.
    EndSupervision { call: CallRef },
    /// Send a digit to the leg as RFC 4733 events (a SIP INFO digit from
    /// the other party, RFC 6086 interworking).
    SendDigit {
        call: CallRef,
        leg: MediaLeg,
        digit: char,
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
            | Self::SendDigit { call, .. }
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
            // A digit that cannot be sent is lost, as on a lossy network.
            Self::SendDigit { .. } => MediaInput::DigitLost { call },
            _ => MediaInput::Failed { call },
        }
    }
}

/// What the relay reported, fed back to the core.
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

/// One call's anchored media.
#[derive(Debug)]
pub struct CallMedia {
    pub a_port: u16,
    pub b_port: u16,
    /// The caller's SDP (its offer, or for a late offer its answer once the
    /// ACK brought it; our own offer until then).
    pub(super) a_offer: Sdp,
    pub(super) a_choice: Choice,
    /// The INVITE had no offer: ours went to the caller, whose answer is
    /// due in the ACK (RFC 3261 §13.2.1).
    pub awaiting_answer: bool,
    /// The caller's offer as the agent gets it.
    pub offer_for_b: Bytes,
    /// Our answer to the caller, fixed once sent (early or final).
    pub answer_for_a: Option<Bytes>,
    /// When the caller, waiting in a queue, hears its next announcement.
    pub announce_at: Option<Instant>,
    /// The leg that put the call on hold (RFC 3264 §8.4), while it lasts.
    pub held_by: Option<MediaLeg>,
    /// Pairs of supervisors who listened in; held until the call ends.
    pub supervisor_ports: Vec<u16>,
}

/// The core's media state: the port pool and its counters.
#[derive(Debug)]
pub struct Anchoring {
    pub plan: MediaPlan,
    pub pool: PortPool,
    /// Announcement deadlines; stale entries are skipped when popped.
    announce_timers: BinaryHeap<Reverse<(Instant, CallRef)>>,
}

impl Anchoring {
    /// `None` when the plan's range holds no pair (config validation refuses
    /// such a range, so only hand-built plans get here).
    pub fn new(plan: MediaPlan) -> Option<Anchoring> {
        let pool = PortPool::new(plan.port_min, plan.port_max).ok()?;
        Some(Anchoring {
            plan,
            pool,
            announce_timers: BinaryHeap::new(),
        })
    }

    /// Parses the caller's offer, picks its codec and takes a pair per leg.
    pub fn anchor(&mut self, body: &[u8]) -> Result<CallMedia, AnchorError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::Malformed {
            reason: "not UTF-8".into(),
        })?;
        let a_offer = sdp::parse(text)?;
        let a_choice = sdp::choose(&a_offer, &self.plan.codecs)?;
        let ports = self.allocate_legs()?;
        Ok(self.call_media(ports, a_offer, a_choice, None))
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
    /// is awaited in its ACK.
    pub(super) fn call_media(
        &self,
        (a_port, b_port): (u16, u16),
        a_offer: Sdp,
        a_choice: Choice,
        our_offer: Option<Bytes>,
    ) -> CallMedia {
        let formats = self.formats_for_b(&a_offer, a_choice);
        let offer_for_b = Bytes::from(a_offer.rewrite(self.anchor_at(b_port), &formats));
        CallMedia {
            a_port,
            b_port,
            a_offer,
            a_choice,
            offer_for_b,
            awaiting_answer: our_offer.is_some(),
            answer_for_a: our_offer,
            announce_at: None,
            held_by: None,
            supervisor_ports: Vec::new(),
        }
    }

    /// The earliest announcement due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.announce_timers.peek().map(|Reverse((at, _))| *at)
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

impl CallMedia {
    /// The relay's view of the caller leg; before a late offer's answer,
    /// only what its packets teach (symmetric RTP).
    pub fn caller_remote(&self) -> LegRemote {
        if self.awaiting_answer {
            return latch_only(self.a_choice);
        }
        remote(&self.a_offer, self.a_choice)
    }
}

impl Switch {
    /// One report of the relay.
    pub fn handle_media(&mut self, now: Instant, input: MediaInput) {
        match input {
            MediaInput::Failed { call } => {
                self.stats.media_failures += 1;
                self.drive(now, call, Input::MediaLost);
            }
            MediaInput::Timeout { call } => {
                // A caller waiting in a queue sends no RTP yet, and a call
                // on hold may be silent (`a=inactive`): only an answered,
                // bridged call's silence means a vanished phone.
                let vanished = self.calls.get(&call).is_some_and(|e| {
                    e.call.answered.is_some()
                        && e.media.as_ref().is_none_or(|m| m.held_by.is_none())
                });
                if vanished {
                    self.stats.media_timeouts += 1;
                    self.drive(now, call, Input::MediaLost);
                }
            }
            MediaInput::Digit { call, leg, digit } => self.on_digit(now, call, leg, digit),
            MediaInput::DigitLost { call } => debug!(%call, "a digit could not be sent"),
            MediaInput::SupervisionFailed { call } => {
                let dialog = self.calls.get(&call).and_then(|e| e.supervisor.clone());
                if let Some(dialog) = dialog {
                    self.supervisor_hang_up(now, &dialog);
                }
            }
            MediaInput::RecordingFailed { call } => {
                self.stats.recordings_failed += 1;
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.recording = None;
                }
            }
        }
        self.pump(now);
    }

    /// A DTMF digit (RFC 4733 from the relay, or SIP INFO): the caller's
    /// go to its IVR menu if it is in one; all are kept on the call.
    pub(super) fn on_digit(&mut self, now: Instant, call: CallRef, leg: MediaLeg, digit: char) {
        if leg == MediaLeg::Supervisor {
            self.stats.dtmf_digits += 1;
            return self.supervisor_digit(call, digit);
        }
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        self.stats.dtmf_digits += 1;
        // Digits are what the caller typed, maybe an account number: debug only.
        debug!(call = %call, ?leg, %digit, "DTMF digit");
        if entry.digits.len() >= super::DIGITS_PER_CALL_MAX {
            entry.digits.remove(0);
        }
        entry.digits.push(digit);
        if leg == MediaLeg::Caller {
            self.menu_digit(now, call, digit);
        }
    }

    /// A SIP INFO digit on a bridged call reaches the other party in-band
    /// (RFC 4733), since a B2BUA answers the INFO itself. RFC 4733 digits
    /// need nothing: the relay carries them (or makes them anew across
    /// transcoding).
    pub(super) fn pass_info_digit(&mut self, call: CallRef, from: MediaLeg, digit: char) {
        let to = match from {
            MediaLeg::Caller => MediaLeg::Agent,
            MediaLeg::Agent => MediaLeg::Caller,
            MediaLeg::Supervisor => return,
        };
        let bridged = self.calls.get(&call).is_some_and(|e| {
            e.call.answered.is_some() && e.media.as_ref().is_some_and(|m| m.held_by.is_none())
        });
        if bridged {
            self.out
                .push_back(super::Output::Media(MediaCommand::SendDigit {
                    call,
                    leg: to,
                    digit,
                }));
        }
    }

    /// The caller is answered: record the call if its DID or queue asks,
    /// caller on the left channel, agent on the right.
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
        if !wanted || entry.media.is_none() || entry.recording.is_some() {
            return;
        }
        let dir = anchoring.plan.recordings.clone();
        let path = dir.join(format!("{}-{}.wav", id.0, self.token()));
        if let Some(entry) = self.calls.get_mut(&id) {
            entry.recording = Some((path.clone(), now));
        }
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
    pub(super) fn anchor_call(&mut self, msg: &Message) -> Result<Option<CallMedia>, AnchorError> {
        let Some(anchoring) = self.anchoring.as_mut() else {
            return Ok(None);
        };
        let anchored = if msg.body().is_empty() {
            let session = self.rng.next_u32();
            let Some(anchoring) = self.anchoring.as_mut() else {
                return Ok(None);
            };
            anchoring.anchor_late(session)
        } else {
            anchoring.anchor(msg.body())
        };
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
                Ok(choice) => remote(s, choice),
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
            let base = match &parsed {
                Some(Ok(s)) => s,
                _ => &m.a_offer,
            };
            let anchor = anchoring.anchor_at(m.a_port);
            m.answer_for_a = Some(Bytes::from(base.rewrite(anchor, &m.a_choice.formats())));
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
        let answer = m
            .answer_for_a
            .get_or_insert_with(|| Bytes::from(m.a_offer.rewrite(anchor, &m.a_choice.formats())))
            .clone();
        Some(answer)
    }

    /// A queued caller starts hearing the queue: its position and expected
    /// wait, then the music; again every `announce_every`.
    pub(super) fn start_queue_audio(&mut self, now: Instant, id: CallRef) {
        self.announce(now, id);
    }

    /// Announcements due at `now`.
    pub(super) fn handle_media_timeout(&mut self, now: Instant) {
        loop {
            let Some(anchoring) = self.anchoring.as_mut() else {
                return;
            };
            let Some(Reverse((at, id))) = anchoring.announce_timers.peek().copied() else {
                return;
            };
            if at > now {
                return;
            }
            anchoring.announce_timers.pop();
            let due = self
                .calls
                .get(&id)
                .and_then(|e| e.media.as_ref())
                .is_some_and(|m| m.announce_at == Some(at));
            if due {
                self.announce(now, id);
            }
        }
    }

    fn announce(&mut self, now: Instant, id: CallRef) {
        let Some(anchoring) = self.anchoring.as_ref() else {
            return;
        };
        let (music, every) = (
            anchoring.plan.queue_music.clone(),
            anchoring.plan.announce_every,
        );
        let call = CallId(id.0);
        let position = self.router.position(call);
        let wait = match (position, self.router.call_queue(call)) {
            (Some(pos), Some((queue, _))) => self.router.expected_wait(queue, pos),
            _ => None,
        };
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        if entry.call.answered.is_some() {
            return;
        }
        let Some(m) = entry.media.as_mut() else {
            return;
        };
        let first = m.announce_at.is_none();
        m.announce_at = None;
        if !every.is_zero() {
            let at = now + every;
            m.announce_at = Some(at);
            if let Some(a) = self.anchoring.as_mut() {
                a.announce_timers.push(Reverse((at, id)));
            }
        }
        let intro = announcement(position, wait);
        // Between announcements the music plays on untouched.
        if intro.is_empty() && !first {
            return;
        }
        self.out.push_back(super::Output::Media(MediaCommand::Play {
            call: id,
            leg: MediaLeg::Caller,
            intro,
            music: vec![music],
        }));
    }

    /// A re-INVITE's offer on an anchored call (RFC 3264 §8): `sendonly`,
    /// `inactive` or `c=0.0.0.0` put the call on hold, and the other party
    /// hears music; `sendrecv` takes it off hold and bridges again. Gives
    /// our answer, the leg's last SDP with the direction mirrored; `None`
    /// when the call is not anchored or the offer does not parse.
    pub(super) fn media_reoffer(
        &mut self,
        id: CallRef,
        leg: MediaLeg,
        body: &[u8],
    ) -> Option<Bytes> {
        let anchoring = self.anchoring.as_ref()?;
        let hold_music = anchoring.plan.hold_music.clone();
        let codecs = anchoring.plan.codecs.clone();
        let offer = sdp::parse(std::str::from_utf8(body).ok()?).ok()?;
        let entry = self.calls.get_mut(&id)?;
        let m = entry.media.as_mut()?;
        let ours = match leg {
            MediaLeg::Caller => m.answer_for_a.clone()?,
            MediaLeg::Agent => m.offer_for_b.clone(),
            // Supervisors' dialogs are handled in supervise.rs.
            MediaLeg::Supervisor => return None,
        };
        let direction = if offer.rtp.is_none() {
            Direction::Inactive
        } else {
            offer.direction
        };
        let held = direction != Direction::SendRecv;
        let other = match leg {
            MediaLeg::Caller => MediaLeg::Agent,
            MediaLeg::Agent | MediaLeg::Supervisor => MediaLeg::Caller,
        };
        let mut commands = Vec::new();
        if offer.rtp.is_some() {
            if let Ok(choice) = sdp::choose(&offer, &codecs) {
                commands.push(MediaCommand::SetRemote {
                    call: id,
                    leg,
                    remote: remote(&offer, choice),
                });
            }
        }
        match (held, m.held_by) {
            (true, None) => {
                m.held_by = Some(leg);
                commands.push(MediaCommand::Unbridge { call: id });
                commands.push(MediaCommand::Play {
                    call: id,
                    leg: other,
                    intro: Vec::new(),
                    music: vec![hold_music],
                });
            }
            (false, Some(_)) => {
                m.held_by = None;
                commands.push(MediaCommand::Bridge { call: id });
            }
            _ => {}
        }
        for c in commands {
            self.out.push_back(super::Output::Media(c));
        }
        let answer = with_direction(std::str::from_utf8(&ours).ok()?, mirror(direction));
        Some(Bytes::from(answer))
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

/// The digit of a SIP INFO body: `application/dtmf-relay` carries
/// `Signal=<digit>` lines (the de-facto format phones send),
/// `application/dtmf` the digit alone. Events 10 and 11 name `*` and `#`
/// (RFC 4733 §3.2).
pub fn info_digit(content_type: &str, body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    let value = if content_type == "application/dtmf-relay" {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim())
        })?
    } else {
        text.trim()
    };
    match value {
        "10" => Some('*'),
        "11" => Some('#'),
        v if v.len() == 1 => {
            let c = v.chars().next()?.to_ascii_uppercase();
            matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
        }
        _ => None,
    }
}

/// The answer's direction for an offer's (RFC 3264 §6.1).
fn mirror(d: Direction) -> Direction {
    match d {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        other => other,
    }
}

/// `sdp` with its direction attributes replaced by `d`, written once after
/// the audio `m=` line's attributes (we anchor only the first, audio, stream).
fn with_direction(sdp: &str, d: Direction) -> String {
    let attr = match d {
        Direction::SendRecv => "a=sendrecv",
        Direction::SendOnly => "a=sendonly",
        Direction::RecvOnly => "a=recvonly",
        Direction::Inactive => "a=inactive",
    };
    let mut out = String::with_capacity(sdp.len() + attr.len() + 2);
    let mut in_audio = false;
    let mut written = false;
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if matches!(
            line,
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        ) {
            continue;
        }
        if line.starts_with("m=") {
            if in_audio && !written {
                out.push_str(attr);
                out.push_str("\r\n");
                written = true;
            }
            in_audio = line.starts_with("m=audio") && !written;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !written {
        out.push_str(attr);
        out.push_str("\r\n");
    }
    out
}

/// Most numbers the prompts can say ("n0" .. "n20").
pub const SPOKEN_NUMBER_MAX: u64 = 20;

/// The prompt names of "you are caller number N, the expected wait is about
/// M minutes". A part whose number has no prompt is left out, not rounded.
pub fn announcement(position: Option<usize>, wait: Option<Duration>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(pos) = position.filter(|&p| p as u64 <= SPOKEN_NUMBER_MAX) {
        names.push("caller_number".to_string());
        names.push(format!("n{pos}"));
    }
    if let Some(wait) = wait {
        let minutes = (wait.as_secs() + 30) / 60;
        match minutes {
            0 => names.extend(["expected_wait".into(), "less_than_a_minute".into()]),
            1 => names.extend(["expected_wait".into(), "n1".into(), "minute".into()]),
            m if m <= SPOKEN_NUMBER_MAX => {
                names.extend(["expected_wait".into(), format!("n{m}"), "minutes".into()])
            }
            _ => {}
        }
    }
    names
}

pub(super) fn remote(s: &Sdp, choice: Choice) -> LegRemote {
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
    }
}

/// A leg whose SDP we could not use: its address is learnt from its packets
/// (symmetric RTP), its codec assumed to be the caller's.
fn latch_only(choice: Choice) -> LegRemote {
    let mut r = LegRemote {
        rtp: None,
        rtcp: None,
        codec: Codec::Pcmu,
        codec_pt: choice.codec.pt,
        telephone_event: choice.telephone_event,
        ptime: PTIME_DEFAULT,
    };
    if let FormatKind::Audio(c) = choice.codec.kind {
        r.codec = c;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=carrier 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

    fn anchoring(lo: u16, hi: u16) -> Anchoring {
        Anchoring::new(MediaPlan {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            advertise_ip: IpAddr::from([192, 0, 2, 1]),
            port_min: lo,
            port_max: hi,
            inactivity_timeout: Duration::from_secs(60),
            codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::Opus],
            prompts_dir: PathBuf::from("prompts"),
            queue_music: "hold_music".into(),
            announce_every: Duration::from_secs(30),
            hold_music: "hold_music".into(),
            recordings: PathBuf::from("recordings"),
        })
        .expect("range holds pairs")
    }

    #[test]
    fn the_agent_is_offered_our_address_with_the_callers_codec_first() {
        let mut a = anchoring(20_000, 20_009);
        let m = a.anchor(OFFER.as_bytes()).unwrap();
        assert_eq!((m.a_port, m.b_port), (20_000, 20_002));
        let offer = sdp::parse(std::str::from_utf8(&m.offer_for_b).unwrap()).unwrap();
        assert_eq!(offer.rtp, Some("192.0.2.1:20002".parse().unwrap()));
        let kinds: Vec<(u8, FormatKind)> = offer.codecs.iter().map(|f| (f.pt, f.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (8, FormatKind::Audio(Codec::Pcma)),
                (0, FormatKind::Audio(Codec::Pcmu)),
                (OPUS_PT, FormatKind::Audio(Codec::Opus)),
            ]
        );
        assert_eq!(offer.telephone_event, Some(101));
        // The caller is answered on its own pair, in the codec it prefers.
        let r = m.caller_remote();
        assert_eq!(r.rtp, Some("10.0.0.9:4000".parse().unwrap()));
        assert_eq!(
            (r.codec, r.codec_pt, r.telephone_event),
            (Codec::Pcma, 8, Some(101))
        );
    }

    #[test]
    fn announcements_say_position_and_rounded_minutes_and_skip_what_has_no_prompt() {
        let names = |p, w: Option<u64>| announcement(p, w.map(Duration::from_secs));
        assert_eq!(
            names(Some(3), Some(150)),
            vec!["caller_number", "n3", "expected_wait", "n3", "minutes"]
        );
        assert_eq!(
            names(Some(1), Some(20)),
            vec!["caller_number", "n1", "expected_wait", "less_than_a_minute"]
        );
        assert_eq!(names(None, Some(89)), vec!["expected_wait", "n1", "minute"]);
        // Caller 21 and an hour's wait have no prompts: nothing wrong is said.
        assert!(names(Some(21), Some(3600)).is_empty());
    }

    #[test]
    fn a_hold_answer_mirrors_the_direction_on_the_audio_stream_only() {
        let ours = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\na=sendrecv\r\nm=video 0 RTP/AVP 96\r\n";
        let held = with_direction(ours, mirror(Direction::SendOnly));
        assert_eq!(
            held,
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\na=recvonly\r\nm=video 0 RTP/AVP 96\r\n"
        );
        let resumed = with_direction(&held, mirror(Direction::SendRecv));
        assert!(resumed.contains("a=sendrecv\r\nm=video"));
        assert!(!resumed.contains("recvonly"));
        assert_eq!(mirror(Direction::Inactive), Direction::Inactive);
    }

    #[test]
    fn info_bodies_give_their_digit_and_junk_gives_none() {
        let relay = "application/dtmf-relay";
        assert_eq!(
            info_digit(relay, b"Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(info_digit(relay, b"signal = #\r\n"), Some('#'));
        assert_eq!(info_digit(relay, b"Signal=11\r\n"), Some('#'));
        assert_eq!(info_digit(relay, b"Signal=d\r\n"), Some('D'));
        assert_eq!(info_digit("application/dtmf", b"7\r\n"), Some('7'));
        assert_eq!(info_digit(relay, b"Signal=E\r\n"), None);
        assert_eq!(info_digit(relay, b"Duration=160\r\n"), None);
        assert_eq!(info_digit(relay, &[0xff, 0xfe]), None);
    }

    #[test]
    fn an_offer_without_our_codecs_is_488_and_takes_no_ports() {
        let mut a = anchoring(20_000, 20_009);
        let g729 = OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 18").replace(
            "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n",
            "a=rtpmap:18 G729/8000\r\n",
        );
        let err = a.anchor(g729.as_bytes()).unwrap_err();
        assert!(matches!(
            err,
            AnchorError::BadOffer(SdpError::NoCommonCodec { .. })
        ));
        assert_eq!(err.status(), 488);
        assert_eq!(a.anchor(b"not sdp").unwrap_err().status(), 488);
        assert_eq!(a.pool.in_use(), 0);
    }

    #[test]
    fn running_out_of_pairs_is_503_and_gives_back_the_half_taken() {
        // Three pairs: one call takes two, the next finds one and returns it.
        let mut a = anchoring(20_000, 20_005);
        let first = a.anchor(OFFER.as_bytes()).unwrap();
        let err = a.anchor(OFFER.as_bytes()).unwrap_err();
        assert_eq!(err.status(), 503);
        assert_eq!(a.pool.in_use(), 2);
        a.release(&first);
        assert_eq!(a.pool.in_use(), 0);
        assert!(a.anchor(OFFER.as_bytes()).is_ok());
    }

    #[test]
    fn only_a_failure_on_the_callers_or_agents_media_ends_the_call() {
        let call = CallRef(3);
        let open = |leg| MediaCommand::Open {
            call,
            leg,
            port: 20_000,
        };
        assert_eq!(
            open(MediaLeg::Caller).on_failure(),
            MediaInput::Failed { call }
        );
        assert_eq!(
            MediaCommand::Bridge { call }.on_failure(),
            MediaInput::Failed { call }
        );
        assert_eq!(
            open(MediaLeg::Supervisor).on_failure(),
            MediaInput::SupervisionFailed { call }
        );
        let record = MediaCommand::Record {
            call,
            path: PathBuf::from("r.wav"),
        };
        assert_eq!(record.on_failure(), MediaInput::RecordingFailed { call });
        let digit = MediaCommand::SendDigit {
            call,
            leg: MediaLeg::Agent,
            digit: '1',
        };
        assert_eq!(digit.on_failure(), MediaInput::DigitLost { call });
    }
}
