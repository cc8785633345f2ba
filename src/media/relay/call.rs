//! One call's media, as a pure core: the legs' latches, streams and
//! forwarding paths, prompts, digits, mixing and detection. It owns no
//! socket and reads no clock: its driver (`thread.rs`) hands it packets,
//! commands and timer expiries with the time, then sends what it queued
//! ([`CallMedia::transmits`]) and passes on its events
//! ([`CallMedia::poll_event`]). Per packet: a latch check, an in-place
//! header rewrite, one copy into the send queue; no allocation, no lock,
//! no log above `trace`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::forward::{forward, forward_path, ForwardPath, Forwarded};
use super::mixer::Mixer;
use super::stats::{DropReason, LocalCounters, RelayStats, DROP_REASONS};
use super::transmit::Transmits;
use super::{RelayConfig, PACKET_BYTES_MAX, TICK_PHASES};
use crate::call::CallRef;
use crate::media::command::{LegId, LegRemote, MediaEvent, MediaLeg};
use crate::media::dtmf::DtmfReceiver;
use crate::media::latch::{Latch, Verdict};
use crate::media::mix::{Mode, Party, Voice};
use crate::media::prompts::{PromptId, PromptSet};
use crate::media::rtcp::{rewrite_ssrcs, SsrcRewrite};
use crate::media::rtp::{OutboundStream, SourceKey};
use crate::media::sdp::Codec;
use crate::media::watch::InactivityWatch;
use digits::DigitsOut;
use player::Player;

mod detect;
mod digits;
mod legs;
mod mix;
mod player;
mod secure;
#[cfg(test)]
mod tests;

/// A new leg's port and stream numbers, drawn by the handle (its sockets
/// stay with the driver).
pub(super) struct LegSetup {
    pub leg: LegId,
    /// The part it plays in the core's commands, if opened by one.
    pub side: Option<MediaLeg>,
    pub port: u16,
    pub ssrc: u32,
    pub initial_seq: u16,
    pub initial_ts: u32,
}

pub(super) enum Command {
    AddLeg(Box<LegSetup>),
    SetRemote(u8, LegRemote),
    Bridge {
        a: u8,
        b: u8,
        a_to_b: ForwardPath,
        b_to_a: ForwardPath,
    },
    Unbridge(u8),
    /// Play `intro` once, then loop `music`, to the leg (until it is bridged).
    Play {
        leg: u8,
        intro: Vec<PromptId>,
        music: Vec<PromptId>,
    },
    /// Record the caller (left) and what it hears of the others (right).
    Record {
        caller: u8,
        agent: u8,
        path: std::path::PathBuf,
        /// Given the file when set (mode 0640).
        group: Option<u32>,
    },
    /// A supervisor leg joins the caller and agent legs in `mode`.
    Supervise {
        caller: u8,
        agent: u8,
        supervisor: u8,
        mode: Mode,
    },
    /// The supervisor left: its leg sinks until the call ends.
    EndSupervision,
    /// The call is a conference of exactly these legs (see
    /// [`Mixer::set_conference`]); prompts playing to them stop.
    Conference(Vec<(u8, Voice)>),
    /// Send `digit` to the leg as RFC 4733 events (SIP INFO interworking).
    SendDigit {
        leg: u8,
        digit: char,
    },
    /// Listen to the leg for an answering machine (`detect.rs`).
    Detect {
        leg: u8,
        beep: bool,
    },
    /// Makes the core panic: the relay thread's guard is tested with it.
    #[cfg(test)]
    Panic,
}

/// Input number of the supervision mixer in the legs' [`SourceKey`]s.
const MIXER_INPUT: u32 = 0x4000_0000;
/// How often a call's dropped packets are logged, per reason: one warn
/// line, with the call id and the count, then quiet for this long.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(60);

struct Leg {
    id: LegId,
    /// The part the core knows it by; its digits are reported under it.
    side: Option<MediaLeg>,
    port: u16,
    rtp_latch: Latch,
    rtcp_latch: Latch,
    /// What this leg sends out (fed by its bridged partner).
    stream: OutboundStream,
    /// The leg this one's packets go to.
    peer: Option<usize>,
    /// How this leg's packets reach the peer.
    to_peer: ForwardPath,
    telephone_event: Option<u8>,
    dtmf: DtmfReceiver,
    /// Digits being generated towards this leg; its relayed audio pauses
    /// meanwhile, as a phone's does while it sends an event.
    digits_out: Option<Box<DigitsOut>>,
    /// The leg's codec and its payload type, once its SDP is known.
    codec: Option<(Codec, u8)>,
    /// The packet length the leg takes (its SDP's `a=ptime`).
    ptime: Duration,
    /// The leg's SDP as last applied, to rebuild paths when it changes.
    remote: Option<LegRemote>,
    /// SRTP contexts, when the leg's SDP set keys.
    srtp: Option<Box<secure::LegSrtp>>,
}

pub(super) struct CallMedia {
    call: CallRef,
    config: RelayConfig,
    stats: Arc<RelayStats>,
    legs: Vec<Leg>,
    counters: LocalCounters,
    /// The time the driver gave with its latest input.
    now: Instant,
    /// When the next tick (inactivity check, counters flush) is due.
    next_tick: Instant,
    watch: InactivityWatch,
    received_at_last_tick: u64,
    /// Packets to send, until the driver takes them.
    tx: Transmits,
    /// Events for the switch, until the driver takes them.
    events: VecDeque<MediaEvent>,
    /// Where transcoded packets are built.
    tx_buf: Box<[u8; PACKET_BYTES_MAX]>,
    prompts: Arc<PromptSet>,
    player: Option<Player>,
    /// Recording and supervision; `None` for a plain bridged call.
    mixer: Option<Box<Mixer>>,
    /// When each drop reason was last logged for this call.
    drops_warned: [Option<Instant>; DROP_REASONS],
    /// Answering-machine detection on a leg, while it listens.
    detect: Option<Box<detect::Detect>>,
}

impl CallMedia {
    pub fn new(
        call: CallRef,
        config: &RelayConfig,
        stats: Arc<RelayStats>,
        prompts: Arc<PromptSet>,
        now: Instant,
    ) -> Self {
        Self {
            call,
            watch: InactivityWatch::new(config.media_timeout, now),
            // Each call ticks at its own phase: calls started together must
            // not all flush and check inactivity in the same instant.
            next_tick: now + tick_phase(call, config.tick),
            config: config.clone(),
            stats,
            legs: Vec::with_capacity(2),
            counters: LocalCounters::default(),
            now,
            received_at_last_tick: 0,
            tx: Transmits::default(),
            events: VecDeque::new(),
            tx_buf: Box::new([0; PACKET_BYTES_MAX]),
            prompts,
            player: None,
            mixer: None,
            drops_warned: [None; DROP_REASONS],
            detect: None,
        }
    }

    pub fn call(&self) -> CallRef {
        self.call
    }

    /// When the core next needs [`handle_timeout`](Self::handle_timeout):
    /// its tick, or the next prompt, mix or digit frame.
    pub fn poll_timeout(&self) -> Instant {
        [
            self.player_deadline(),
            self.mixer.as_ref().map(|m| m.deadline()),
            self.digits_deadline(),
        ]
        .into_iter()
        .flatten()
        .fold(self.next_tick, Instant::min)
    }

    /// Does what is due at `now`: the tick, prompt, mix and digit frames.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.wake(now);
        if self.next_tick <= now {
            // A late tick is not caught up on: the next one is a period on.
            self.next_tick = (self.next_tick + self.config.tick).max(now);
            self.on_tick();
        }
        if self.player_deadline().is_some_and(|d| d <= now) {
            self.on_player();
        }
        if self.mixer.as_ref().is_some_and(|m| m.deadline() <= now) {
            self.on_mix();
        }
        if self.digits_deadline().is_some_and(|d| d <= now) {
            self.on_digits_out();
        }
    }

    /// Applies a command of the switch at `now`.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        self.wake(now);
        self.apply(command);
    }

    /// Handles a datagram that arrived at `now` on socket `i` (2n: leg n's
    /// RTP, 2n + 1: its RTCP) from `src`; may rewrite it in place.
    pub fn handle_packet(&mut self, now: Instant, i: usize, packet: &mut [u8], src: SocketAddr) {
        if now != self.now {
            self.wake(now);
        }
        if i / 2 < self.legs.len() {
            self.on_packet(i, packet, src);
        }
    }

    /// A datagram on socket `i` that cannot be taken (cut short, from an
    /// unknown address family).
    pub fn drop_malformed(&mut self) {
        self.counters.drop(DropReason::Malformed);
    }

    /// Packets queued to send since the driver last emptied the queue.
    pub fn transmits(&mut self) -> &mut Transmits {
        &mut self.tx
    }

    /// Counts packets the driver could not send.
    pub fn send_failed(&mut self, packets: usize) {
        self.counters.dropped[DropReason::SendFailed as usize] += packets as u64;
    }

    /// The next event for the switch, oldest first.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Counts an event the switch's full queue refused.
    pub fn event_dropped(&mut self) {
        self.counters.events_dropped += 1;
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::AddLeg(setup) => self.add_leg(*setup),
            Command::SetRemote(n, remote) => self.set_remote(usize::from(n), remote),
            Command::Bridge {
                a,
                b,
                a_to_b,
                b_to_a,
            } => {
                let (a, b) = (usize::from(a), usize::from(b));
                if a >= self.legs.len() || b >= self.legs.len() {
                    return;
                }
                // The party now hears the other one instead of prompts.
                if self
                    .player
                    .as_ref()
                    .is_some_and(|p| p.leg == a || p.leg == b)
                {
                    self.player = None;
                }
                // Silence is judged from the bridge on: a caller that waited
                // in a queue without sending must not time out at once.
                self.watch = InactivityWatch::new(self.config.media_timeout, self.now);
                for i in [a, b] {
                    if let Some(old) = self.legs[i].peer.take() {
                        if old != a && old != b {
                            self.legs[old].peer = None;
                        }
                    }
                }
                self.legs[a].peer = Some(b);
                self.legs[a].to_peer = a_to_b;
                self.legs[b].peer = Some(a);
                self.legs[b].to_peer = b_to_a;
                // The recording's right channel follows the caller's peer.
                if let Some(m) = self.mixer.as_mut() {
                    match m.caller_leg() {
                        Some(c) if c == a => m.follow_bridge(b),
                        Some(c) if c == b => m.follow_bridge(a),
                        _ => {}
                    }
                }
            }
            Command::Unbridge(n) => {
                let n = usize::from(n);
                if let Some(p) = self.legs.get_mut(n).and_then(|l| l.peer.take()) {
                    self.legs[p].peer = None;
                }
            }
            Command::Play { leg, intro, music } => {
                self.start_play(usize::from(leg), &intro, music);
            }
            Command::Record {
                caller,
                agent,
                path,
                group,
            } => {
                let mixer = self.mixer_for(usize::from(caller), usize::from(agent));
                if let Err(e) = mixer.start_recording(&path, group) {
                    self.recording_failed(&e);
                }
            }
            Command::Supervise {
                caller,
                agent,
                supervisor,
                mode,
            } => {
                let supervisor = usize::from(supervisor);
                if supervisor >= self.legs.len() {
                    return;
                }
                let mixer = self.mixer_for(usize::from(caller), usize::from(agent));
                mixer.legs[Party::Supervisor as usize] = Some(supervisor);
                mixer.mode = Some(mode);
            }
            Command::SendDigit { leg, digit } => self.queue_digit(usize::from(leg), digit),
            Command::Detect { leg, beep } => self.start_detect(usize::from(leg), beep),
            Command::Conference(parties) => self.conference(&parties),
            #[cfg(test)]
            Command::Panic => panic!("a core bug, made for the test"),
            Command::EndSupervision => {
                if let Some(m) = self.mixer.as_mut() {
                    m.mode = None;
                    m.remove(Party::Supervisor as usize);
                }
                if self.mixer.as_ref().is_some_and(|m| m.is_idle()) {
                    self.mixer = None;
                }
            }
        }
    }

    /// Takes the driver's time: what is sent now is sent at this instant,
    /// and a leg's new source continues its timestamp from it.
    fn wake(&mut self, now: Instant) {
        self.now = now;
        for leg in &mut self.legs {
            leg.stream.clock(self.now);
        }
    }

    fn on_tick(&mut self) {
        let active = self.counters.received != self.received_at_last_tick;
        self.received_at_last_tick = self.counters.received;
        if let Some(silent_for) = self.watch.on_tick(active, self.now) {
            self.counters.timeouts += 1;
            tracing::info!(?silent_for, "media timeout");
            self.emit(MediaEvent::Timeout {
                call: self.call,
                silent_for,
            });
        }
        self.warn_drops();
        let received = self.counters.received;
        self.stats.flush(&mut self.counters);
        // `received` is a running total for the activity check, not a metric.
        self.counters.received = received;
    }

    /// Fails loudly: a call whose packets were dropped since the last tick
    /// gets a warn line per reason (comfort noise aside, dropped by
    /// design), then none for that reason for [`DROP_WARN_INTERVAL`].
    fn warn_drops(&mut self) {
        for reason in DropReason::ALL {
            let packets = self.counters.dropped[reason as usize];
            if packets == 0 || reason == DropReason::ComfortNoise {
                continue;
            }
            let last = &mut self.drops_warned[reason as usize];
            if last.is_some_and(|t| self.now.duration_since(t) < DROP_WARN_INTERVAL) {
                continue;
            }
            *last = Some(self.now);
            tracing::warn!(
                call = self.call.0,
                reason = reason.label(),
                packets,
                "call media dropped (next warning for this reason in {DROP_WARN_INTERVAL:?} at the earliest)"
            );
        }
    }

    fn on_packet(&mut self, i: usize, packet: &mut [u8], src: SocketAddr) {
        let (n, rtcp) = (i / 2, i % 2 == 1);
        let now = self.now;
        let leg = &mut self.legs[n];
        // SRTP is checked before the latch: forged packets must not move it.
        let packet = if crate::media::demux::is_stun(packet) {
            packet
        } else {
            match leg.unprotect(packet, rtcp) {
                Ok(len) => &mut packet[..len],
                Err(reason) => return self.counters.drop(reason),
            }
        };
        let leg = &mut self.legs[n];
        let latch = if rtcp {
            &mut leg.rtcp_latch
        } else {
            &mut leg.rtp_latch
        };
        match latch.handle(src, now) {
            Verdict::Forward => {}
            Verdict::Learnt { previous } => {
                tracing::debug!(leg = leg.id.n, %src, ?previous, rtcp, "media peer learnt");
                self.counters.learnt += 1;
                let leg = leg.id;
                self.emit(MediaEvent::PeerLearnt {
                    leg,
                    addr: src,
                    rtcp,
                });
            }
            Verdict::DropUnexpected => return self.counters.drop(DropReason::UnexpectedSource),
            Verdict::DropHijack => return self.counters.drop(DropReason::Hijack),
        }
        // Only accepted packets keep the call alive: a sprayer must not.
        self.counters.received += 1;
        if crate::media::demux::is_stun(packet) {
            // A phone's STUN keepalive (RFC 7983 §7): not media to relay.
            return;
        }
        if !rtcp {
            self.check_dtmf(n, packet);
            self.tap(n, packet);
            self.detect_packet(n, packet);
        }
        let Some(p) = self.legs[n].peer else {
            // Unbridged: the leg's media is received (and latched) but sinks here.
            return;
        };
        if !rtcp && self.mixer.as_ref().is_some_and(|m| m.feeds(p)) {
            // The peer hears a mix now, sent on the mixer's clock.
            return;
        }
        if !rtcp && self.legs[p].digits_out.is_some() {
            // Generated events have the peer's stream to themselves.
            return;
        }
        let (from, to) = two_mut(&mut self.legs, n, p);
        if rtcp {
            let Some(dst) = to.rtcp_latch.destination() else {
                return self.counters.drop(DropReason::NoDestination);
            };
            // Reports name SSRCs: ours towards `to`, and the original one of
            // the stream `from` is reporting on (RFC 3550 §6.4).
            let rewrite = SsrcRewrite {
                sender: to.stream.ssrc(),
                reported_ours: from.stream.ssrc(),
                reported_original: from.stream.source().map(|s| s.ssrc),
            };
            if rewrite_ssrcs(packet, rewrite).is_err() {
                return self.counters.drop(DropReason::Malformed);
            }
            match to.send_rtcp(&mut self.tx, packet, dst) {
                Ok(_) => self.counters.rtcp_packets += 1,
                Err(_) => self.counters.drop(DropReason::SendFailed),
            }
            return;
        }
        let Some(dst) = to.rtp_latch.destination() else {
            return self.counters.drop(DropReason::NoDestination);
        };
        let input = u32::from(from.id.n);
        let events_in = from.telephone_event;
        let mut outcome = forward(&mut from.to_peer, packet, input, events_in, &mut to.stream);
        if let Ok(Forwarded::Repacketize { ptime }) = outcome {
            // The sender's packets are not the length its SDP said: cut
            // them into the peer's from now on.
            let sent_as = from.remote.map(|r| LegRemote { ptime, ..r });
            if let Ok(path) = forward_path(sent_as, to.remote) {
                tracing::debug!(
                    leg = n,
                    ?ptime,
                    "re-packetising: the leg sends another ptime"
                );
                from.to_peer = path;
            }
            outcome = forward(&mut from.to_peer, packet, input, events_in, &mut to.stream);
        }
        let sent = match outcome {
            Ok(Forwarded::InPlace) => to.send_rtp(&mut self.tx, packet, dst).map(|_| packet.len()),
            Ok(Forwarded::Queued) => {
                let ForwardPath::Transcode(path) = &mut from.to_peer else {
                    return;
                };
                // One packet in may make none, one or several frames out.
                while let Some(built) = path.poll(input, &mut to.stream, &mut self.tx_buf[..]) {
                    let sent = built.and_then(|len| {
                        let out = &self.tx_buf[..len];
                        to.send_rtp(&mut self.tx, out, dst)
                            .map_err(|_| DropReason::SendFailed)
                    });
                    match sent {
                        Ok(len) => {
                            self.counters.rtp_packets += 1;
                            self.counters.rtp_bytes += len as u64;
                        }
                        Err(reason) => self.counters.drop(reason),
                    }
                }
                return;
            }
            Ok(Forwarded::Consumed) => return,
            // Still the wrong length after a new path: nothing to make of it.
            Ok(Forwarded::Repacketize { .. }) => {
                return self.counters.drop(DropReason::CodecUnhandled)
            }
            Err(reason) => return self.counters.drop(reason),
        };
        match sent {
            Ok(len) => {
                self.counters.rtp_packets += 1;
                self.counters.rtp_bytes += len as u64;
            }
            Err(_) => self.counters.drop(DropReason::SendFailed),
        }
    }

    /// Hands a recorded or supervised leg's audio to the mixer.
    fn tap(&mut self, n: usize, packet: &[u8]) {
        let Some(mixer) = self.mixer.as_mut() else {
            return;
        };
        let Some((codec, pt)) = self.legs[n].codec else {
            return;
        };
        let Ok(p) = rtp_types::RtpPacket::parse(packet) else {
            return;
        };
        if p.payload_type() == pt {
            mixer.tap(n, codec, p.payload());
        }
    }

    fn check_dtmf(&mut self, n: usize, packet: &[u8]) {
        let leg = &mut self.legs[n];
        let Some(te) = leg.telephone_event else {
            return;
        };
        // Most packets are audio: look at the type byte before parsing.
        if packet.get(1).map(|b| b & 0x7f) != Some(te) {
            return;
        }
        let Ok(p) = rtp_types::RtpPacket::parse(packet) else {
            return;
        };
        if p.payload_type() != te {
            return;
        }
        // The packet's arrival time: a replayed press is told from a
        // reordered packet by it.
        let now = self.now;
        let before = leg.dtmf.last_event();
        if let Ok(Some(digit)) = leg.dtmf.handle_at(p.payload(), p.timestamp(), now) {
            let replayed = before == leg.dtmf.last_event();
            let (id, side) = (leg.id, leg.side);
            // Events pass through a plain bridge; across transcoding or into
            // a mix they are dropped there, so the relay sends them anew.
            let regenerate = matches!(leg.to_peer, ForwardPath::Transcode(_))
                || leg
                    .peer
                    .is_some_and(|peer| self.mixer.as_ref().is_some_and(|m| m.feeds(peer)));
            match (regenerate, leg.peer) {
                (true, Some(peer)) => self.queue_digit(peer, digit),
                // Passed as it came, but a press replayed with its old
                // numbers (a recording played twice) gets a new segment on
                // the peer's stream, or the peer drops it as a duplicate.
                (false, Some(peer)) if replayed => self.legs[peer].stream.reset_source(),
                _ => {}
            }
            tracing::debug!(leg = id.n, %digit, "DTMF digit");
            self.emit(MediaEvent::Digit {
                leg: id,
                side,
                digit,
            });
        }
    }

    fn emit(&mut self, event: MediaEvent) {
        self.events.push_back(event);
    }

    /// Ends the call's media: the recording is closed and the counters
    /// flushed. Returns the legs' ports, for the driver to give back once it
    /// has closed their sockets.
    pub fn close(&mut self) -> Vec<u16> {
        if let Some(Err(e)) = self.mixer.as_mut().and_then(|m| m.finish_recording()) {
            self.recording_failed(&e);
        }
        self.stats.flush(&mut self.counters);
        let ports: Vec<u16> = self.legs.drain(..).map(|l| l.port).collect();
        for _ in &ports {
            self.stats.legs_changed(false);
        }
        ports
    }
}

/// Offset of a call's ticks within the tick period: one of
/// [`TICK_PHASES`] evenly spaced slots. Call ids spread over the slots by
/// the golden ratio (Fibonacci hashing), so consecutive ids land far apart.
/// Few slots, not one per call: each distinct expiry wakes the runtime.
pub(super) fn tick_phase(call: CallRef, tick: Duration) -> Duration {
    let slot = call.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TICK_PHASES.ilog2());
    tick / TICK_PHASES * slot as u32
}

fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b, "a bridge joins two different legs");
    if a < b {
        let (l, r) = v.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = v.split_at_mut(a);
        (&mut r[0], &mut l[b])
    }
}
