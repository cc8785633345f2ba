//! One call's media task: owns the legs' sockets and forwards between
//! bridged legs. Per packet: one receive into the reused buffer, a latch
//! check, an in-place header rewrite, one non-blocking send. No allocation,
//! no lock, no log above `trace`.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::batch::{RecvBatch, RECV_BATCH};
use super::mixer::Mixer;
use super::stats::{DropReason, LocalCounters, RelayStats};
use super::{
    lock, LegId, LegRemote, MediaEvent, RelayConfig, DRAIN_ROUNDS_MAX, PACKET_BYTES_MAX,
    TICK_PHASES,
};
use crate::acd::CallId;
use crate::media::dtmf::{DtmfReceiver, DtmfSender};
use crate::media::latch::{Expected, Latch, Verdict};
use crate::media::mix::{Mode, Party};
use crate::media::pool::PortPool;
use crate::media::prompts::{PromptId, PromptPlayer, PromptSet};
use crate::media::rtcp::{rewrite_ssrcs, SsrcRewrite};
use crate::media::rtp::{rewrite_in_place, OutboundStream, PayloadMap, RtpError, SourceKey};
use crate::media::sdp::Codec;
use crate::media::transcode::Transcoder;
use crate::media::watch::InactivityWatch;

/// A new leg's sockets and stream numbers, drawn by the handle.
pub(super) struct LegSetup {
    pub leg: LegId,
    pub port: u16,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub ssrc: u32,
    pub initial_seq: u16,
    pub initial_ts: u32,
}

/// How one leg's packets reach its peer.
pub(super) enum ForwardPath {
    /// Same codec: header rewrite and payload-type translation only.
    Map(Box<PayloadMap>),
    /// Different codecs: each audio frame is transcoded. Telephone-events
    /// are not carried across: the relay reports them as digits and sends
    /// them anew on the other leg's stream ([`DigitsOut`]).
    Transcode(Box<TranscodePath>),
}

pub(super) struct TranscodePath {
    pub transcoder: Transcoder,
    pub in_pt: u8,
    pub out_pt: u8,
    /// RTP clock rates of the two legs (8 kHz G.711, 48 kHz Opus).
    pub in_rate: u32,
    pub out_rate: u32,
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
    /// Record the caller (left) and agent (right) legs into a WAV file.
    Record {
        caller: u8,
        agent: u8,
        path: std::path::PathBuf,
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
    /// Send `digit` to the leg as RFC 4733 events (SIP INFO interworking).
    SendDigit {
        leg: u8,
        digit: char,
    },
}

/// Input number of the prompt player in the legs' [`SourceKey`]s (legs use
/// their index); each playlist is its own source segment.
const PLAYER_INPUT: u32 = 0x8000_0000;
/// Input number of the supervision mixer in the legs' [`SourceKey`]s.
const MIXER_INPUT: u32 = 0x4000_0000;
/// Input number of generated telephone-events; each event is its own segment.
const DTMF_INPUT: u32 = 0x2000_0000;
/// Digits waiting to be sent to one leg; more are dropped.
pub const DIGITS_QUEUED_MAX: usize = 16;
/// How long a generated digit lasts (RFC 4733 §2.5.1.2 leaves it to us;
/// phones send 100 ms or more).
const DIGIT_LENGTH: std::time::Duration = std::time::Duration::from_millis(100);

/// RFC 4733 events the relay generates towards one leg: where a digit
/// cannot be relayed as it came (transcoded legs, SIP INFO, a mixed leg).
struct DigitsOut {
    sender: DtmfSender,
    queue: std::collections::VecDeque<char>,
    /// Events started, so each gets a source segment of its own.
    events: u32,
    /// Packets sent within the current event (its source sequence).
    packets: u16,
}

impl Default for DigitsOut {
    fn default() -> Self {
        DigitsOut {
            sender: DtmfSender::new(super::mixer::MIX_PERIOD),
            queue: std::collections::VecDeque::new(),
            events: 0,
            packets: 0,
        }
    }
}

/// Prompts streamed to one leg.
struct Player {
    leg: usize,
    current: PromptPlayer,
    music: Vec<PromptId>,
    /// Playlists started, so each gets a fresh source segment.
    segment: u32,
}

struct Leg {
    id: LegId,
    port: u16,
    rtp: UdpSocket,
    rtcp: UdpSocket,
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
}

impl Leg {
    /// Socket `i` of the call's numbering: even is RTP, odd is RTCP.
    fn socket(&self, i: usize) -> &UdpSocket {
        if i.is_multiple_of(2) {
            &self.rtp
        } else {
            &self.rtcp
        }
    }
}

pub(super) struct CallTask {
    call: CallId,
    config: RelayConfig,
    pool: Arc<Mutex<PortPool>>,
    stats: Arc<RelayStats>,
    events: mpsc::Sender<MediaEvent>,
    legs: Vec<Leg>,
    counters: LocalCounters,
    /// Coarse clock: refreshed each tick, so packets read no clock.
    now: Instant,
    watch: InactivityWatch,
    received_at_last_tick: u64,
    /// Socket polled first next time, so no leg starves the others.
    next_socket: usize,
    /// Receive buffers; taken out while their packets are handled.
    batch: Option<Box<RecvBatch>>,
    /// Where transcoded packets are built.
    tx_buf: Box<[u8; PACKET_BYTES_MAX]>,
    prompts: Arc<PromptSet>,
    player: Option<Player>,
    /// Recording and supervision; `None` for a plain bridged call.
    mixer: Option<Box<Mixer>>,
}

impl CallTask {
    pub fn new(
        call: CallId,
        config: &RelayConfig,
        pool: Arc<Mutex<PortPool>>,
        stats: Arc<RelayStats>,
        events: mpsc::Sender<MediaEvent>,
        prompts: Arc<PromptSet>,
    ) -> Self {
        let now = Instant::now();
        Self {
            call,
            watch: InactivityWatch::new(config.media_timeout, now),
            config: config.clone(),
            pool,
            stats,
            events,
            legs: Vec::with_capacity(2),
            counters: LocalCounters::default(),
            now,
            received_at_last_tick: 0,
            next_socket: 0,
            batch: Some(RecvBatch::new()),
            tx_buf: Box::new([0; PACKET_BYTES_MAX]),
            prompts,
            player: None,
            mixer: None,
        }
    }

    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        // Each call ticks at its own phase: calls started together must not
        // all flush and check inactivity in the same instant (tail latency).
        let first = self.now + tick_phase(self.call, self.config.tick);
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::from_std(first), self.config.tick);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(c) => self.apply(c),
                    None => break,
                },
                _ = tick.tick() => self.on_tick(),
                _ = sleep_opt(self.player_deadline()) => self.on_player(),
                _ = sleep_opt(self.mixer.as_ref().map(|m| m.deadline())) => self.on_mix(),
                _ = sleep_opt(self.digits_deadline()) => self.on_digits_out(),
                i = readable_any(&self.legs, self.next_socket) => {
                    self.next_socket = (i + 1) % (2 * self.legs.len()).max(1);
                    self.on_readable(i);
                }
            }
        }
        self.close();
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::AddLeg(setup) => self.add_leg(*setup),
            Command::SetRemote(n, remote) => {
                let Some(leg) = self.legs.get_mut(usize::from(n)) else {
                    return;
                };
                leg.rtp_latch.set_expected(Expected::from_sdp(remote.rtp));
                leg.rtcp_latch.set_expected(Expected::from_sdp(remote.rtcp));
                leg.stream.set_frame_step(remote.codec.frame_samples());
                leg.telephone_event = remote.telephone_event;
                leg.codec = Some((remote.codec, remote.codec_pt));
            }
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
                self.watch = InactivityWatch::new(self.config.media_timeout, Instant::now());
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
            }
            Command::Unbridge(n) => {
                let n = usize::from(n);
                if let Some(p) = self.legs.get_mut(n).and_then(|l| l.peer.take()) {
                    self.legs[p].peer = None;
                }
            }
            Command::Play { leg, intro, music } => {
                let leg = usize::from(leg);
                if leg >= self.legs.len() {
                    return;
                }
                let segment = self.player.as_ref().map_or(0, |p| p.segment + 1);
                let (items, looped) = if intro.is_empty() {
                    (&music, true)
                } else {
                    (&intro, false)
                };
                let Ok(current) = PromptPlayer::new(items, looped, Instant::now()) else {
                    return;
                };
                let music = if intro.is_empty() { Vec::new() } else { music };
                self.player = Some(Player {
                    leg,
                    current,
                    music,
                    segment,
                });
            }
            Command::Record {
                caller,
                agent,
                path,
            } => {
                let mixer = self.mixer_for(usize::from(caller), usize::from(agent));
                if let Err(e) = mixer.start_recording(&path) {
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
            Command::EndSupervision => {
                if let Some(m) = self.mixer.as_mut() {
                    m.mode = None;
                    m.remove(Party::Supervisor);
                }
                if self.mixer.as_ref().is_some_and(|m| m.is_idle()) {
                    self.mixer = None;
                }
            }
        }
    }

    /// The call's mixer, made for these caller and agent legs if none yet.
    fn mixer_for(&mut self, caller: usize, agent: usize) -> &mut Mixer {
        let now = Instant::now();
        self.mixer
            .get_or_insert_with(|| Box::new(Mixer::new(caller, agent, now)))
    }

    fn recording_failed(&mut self, e: &super::record::RecordError) {
        tracing::warn!(%e, "recording failed");
        let call = self.call;
        self.emit(MediaEvent::RecordingFailed { call });
    }

    /// One mixing tick: a frame of each party into the recording, and the
    /// mix each supervised party hears, in its codec on its own stream.
    fn on_mix(&mut self) {
        let now = Instant::now();
        let Some(mixer) = self.mixer.as_mut() else {
            return;
        };
        match mixer.tick(now) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return self.recording_failed(&e),
        }
        let Some(mode) = mixer.mode else {
            return;
        };
        for party in Party::ALL {
            if !mode.mixes_for(party) {
                continue;
            }
            let Some(leg) = mixer.legs[party as usize].and_then(|n| self.legs.get_mut(n)) else {
                continue;
            };
            let (Some((codec, pt)), Some(dst)) = (leg.codec, leg.rtp_latch.destination()) else {
                continue;
            };
            let Some(len) = mixer.encode_for(party, codec, &mut self.tx_buf[HEADER_LEN..]) else {
                continue;
            };
            let ticks = mixer.ticks;
            let rw = leg.stream.rewrite(
                SourceKey {
                    input: MIXER_INPUT,
                    ssrc: 0,
                },
                ticks as u16,
                ticks.wrapping_mul(codec.frame_samples()),
            );
            let out = &mut self.tx_buf[..HEADER_LEN + len];
            write_header(out, &rw, pt);
            match leg.rtp.try_send_to(out, dst) {
                Ok(_) => {
                    self.counters.rtp_packets += 1;
                    self.counters.rtp_bytes += out.len() as u64;
                }
                Err(_) => self.counters.drop(DropReason::SendFailed),
            }
        }
    }

    /// When the player's next frame is due; now when a one-shot part ended
    /// and the music must start.
    fn player_deadline(&self) -> Option<Instant> {
        let p = self.player.as_ref()?;
        p.current
            .poll_timeout(&self.prompts)
            .or_else(|| (!p.music.is_empty()).then_some(self.now))
    }

    /// Sends the frame due now on the player's leg, under the leg's own
    /// SSRC and continuing its sequence and timestamps (RFC 3550 §5.1).
    fn on_player(&mut self) {
        let now = Instant::now();
        let Some(p) = self.player.as_mut() else {
            return;
        };
        let Some(frame) = p.current.poll_frame(&self.prompts, now) else {
            if p.current.poll_timeout(&self.prompts).is_some() {
                return;
            }
            if p.music.is_empty() {
                self.player = None;
                return;
            }
            let music = std::mem::take(&mut p.music);
            match PromptPlayer::new(&music, true, now) {
                Ok(current) => {
                    p.current = current;
                    p.segment += 1;
                }
                Err(_) => self.player = None,
            }
            return;
        };
        let source = SourceKey {
            input: PLAYER_INPUT | p.segment,
            ssrc: 0,
        };
        let Some(leg) = self.legs.get_mut(p.leg) else {
            return;
        };
        let (Some((codec, pt)), Some(dst)) = (leg.codec, leg.rtp_latch.destination()) else {
            return;
        };
        let Some(payload) = self
            .prompts
            .prompt(frame.prompt)
            .and_then(|pr| pr.frame(codec, frame.frame))
        else {
            return;
        };
        let step = frame.step as u32;
        let rw = leg.stream.rewrite(
            source,
            step as u16,
            step.wrapping_mul(codec.frame_samples()),
        );
        let len = HEADER_LEN + payload.len();
        if len > PACKET_BYTES_MAX {
            return;
        }
        let out = &mut self.tx_buf[..len];
        write_header(out, &rw, pt);
        out[HEADER_LEN..].copy_from_slice(payload);
        match leg.rtp.try_send_to(out, dst) {
            Ok(_) => {
                self.counters.rtp_packets += 1;
                self.counters.rtp_bytes += len as u64;
            }
            Err(_) => self.counters.drop(DropReason::SendFailed),
        }
    }

    fn add_leg(&mut self, s: LegSetup) {
        debug_assert_eq!(
            usize::from(s.leg.n),
            self.legs.len(),
            "legs arrive in order"
        );
        let (rtp, rtcp) = (s.rtp, s.rtcp);
        self.stats.legs_changed(true);
        self.legs.push(Leg {
            id: s.leg,
            port: s.port,
            rtp,
            rtcp,
            rtp_latch: Latch::new(self.config.relatch_after),
            rtcp_latch: Latch::new(self.config.relatch_after),
            stream: OutboundStream::new(s.ssrc, s.initial_seq, s.initial_ts),
            peer: None,
            to_peer: ForwardPath::Map(Box::new(PayloadMap::identity())),
            telephone_event: None,
            dtmf: DtmfReceiver::default(),
            digits_out: None,
            codec: None,
        });
    }

    fn on_tick(&mut self) {
        self.now = Instant::now();
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
        let received = self.counters.received;
        self.stats.flush(&mut self.counters);
        // `received` is a running total for the activity check, not a metric.
        self.counters.received = received;
    }

    /// Takes what socket `i` has queued, a batch per recvmmsg, and clears
    /// its readiness as soon as a batch comes back short (queue empty).
    fn on_readable(&mut self, i: usize) {
        let Some(mut batch) = self.batch.take() else {
            return;
        };
        for _ in 0..DRAIN_ROUNDS_MAX {
            let Some(leg) = self.legs.get(i / 2) else {
                break;
            };
            let socket = leg.socket(i);
            let mut got = 0;
            let result = socket.try_io(Interest::READABLE, || {
                got = batch.recv(socket.as_raw_fd())?;
                if got < RECV_BATCH {
                    // Drained: let tokio clear readiness and wait for the next edge.
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(())
            });
            for k in 0..got {
                match batch.packet(k) {
                    Some((packet, src)) => self.on_packet(i, packet, src),
                    None => self.counters.drop(DropReason::Malformed),
                }
            }
            if result.is_err() {
                break;
            }
        }
        self.batch = Some(batch);
    }

    fn on_packet(&mut self, i: usize, packet: &mut [u8], src: SocketAddr) {
        let (n, rtcp) = (i / 2, i % 2 == 1);
        let now = self.now;
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
            match to.rtcp.try_send_to(packet, dst) {
                Ok(_) => self.counters.rtcp_packets += 1,
                Err(_) => self.counters.drop(DropReason::SendFailed),
            }
            return;
        }
        let Some(dst) = to.rtp_latch.destination() else {
            return self.counters.drop(DropReason::NoDestination);
        };
        let map = match &mut from.to_peer {
            ForwardPath::Map(map) => map,
            ForwardPath::Transcode(path) => {
                let input = u32::from(from.id.n);
                let out = &mut self.tx_buf;
                let len = match transcode_packet(packet, input, path, &mut to.stream, out) {
                    Ok(len) => len,
                    Err(reason) => return self.counters.drop(reason),
                };
                match to.rtp.try_send_to(&out[..len], dst) {
                    Ok(_) => {
                        self.counters.rtp_packets += 1;
                        self.counters.rtp_bytes += len as u64;
                    }
                    Err(_) => self.counters.drop(DropReason::SendFailed),
                }
                return;
            }
        };
        match rewrite_in_place(packet, u32::from(from.id.n), &mut to.stream, map) {
            Ok(()) => {}
            Err(RtpError::Malformed { .. }) => return self.counters.drop(DropReason::Malformed),
            Err(RtpError::PayloadTypeNotMapped(_)) => {
                return self.counters.drop(DropReason::UnmappedPayloadType)
            }
        }
        match to.rtp.try_send_to(packet, dst) {
            Ok(_) => {
                self.counters.rtp_packets += 1;
                self.counters.rtp_bytes += packet.len() as u64;
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
        if let Ok(Some(digit)) = leg.dtmf.handle(p.payload(), p.timestamp()) {
            let id = leg.id;
            // Events pass through a plain bridge; across transcoding or into
            // a mix they are dropped there, so the relay sends them anew.
            let regenerate = matches!(leg.to_peer, ForwardPath::Transcode(_))
                || leg
                    .peer
                    .is_some_and(|peer| self.mixer.as_ref().is_some_and(|m| m.feeds(peer)));
            if let (true, Some(peer)) = (regenerate, leg.peer) {
                self.queue_digit(peer, digit);
            }
            tracing::debug!(leg = id.n, %digit, "DTMF digit");
            self.emit(MediaEvent::Digit { leg: id, digit });
        }
    }

    /// Queues `digit` to be sent to leg `n` (if it negotiated telephone-event).
    fn queue_digit(&mut self, n: usize, digit: char) {
        let Some(leg) = self.legs.get_mut(n) else {
            return;
        };
        if leg.telephone_event.is_none() || crate::media::dtmf::digit_to_event(digit).is_err() {
            return;
        }
        let out = leg.digits_out.get_or_insert_with(Box::default);
        if out.queue.len() < DIGITS_QUEUED_MAX {
            out.queue.push_back(digit);
        }
        if !out.sender.is_busy() {
            self.start_next_digit(n, Instant::now());
        }
    }

    /// Starts the next queued digit of leg `n`, or ends its generation.
    fn start_next_digit(&mut self, n: usize, now: Instant) {
        let leg = &mut self.legs[n];
        let Some(out) = leg.digits_out.as_mut() else {
            return;
        };
        match out.queue.pop_front() {
            Some(digit) => {
                out.events = out.events.wrapping_add(1);
                out.packets = 0;
                // The event's source timestamp: the stream rebases it, and it
                // stays the same for all the event's packets (RFC 4733 §2.3.1).
                let _ = out.sender.start(digit, DIGIT_LENGTH, 0, now);
            }
            None => leg.digits_out = None,
        }
    }

    fn digits_deadline(&self) -> Option<Instant> {
        self.legs
            .iter()
            .filter_map(|l| l.digits_out.as_ref()?.sender.poll_timeout())
            .min()
    }

    /// Sends the event packets due now, on each leg's own stream.
    fn on_digits_out(&mut self) {
        let now = Instant::now();
        for n in 0..self.legs.len() {
            let leg = &mut self.legs[n];
            let (pt, dst) = (leg.telephone_event, leg.rtp_latch.destination());
            let Some(out) = leg.digits_out.as_mut() else {
                continue;
            };
            let (Some(pt), Some(dst)) = (pt, dst) else {
                // Nowhere to send (the leg's address is not known yet): drop
                // the digits rather than wake for them again and again.
                leg.digits_out = None;
                continue;
            };
            while let Some(packet) = out.sender.poll_packet(now) {
                let source = SourceKey {
                    input: DTMF_INPUT | (out.events & 0x0FFF_FFFF),
                    ssrc: 0,
                };
                let rw = leg.stream.rewrite(source, out.packets, packet.timestamp);
                out.packets = out.packets.wrapping_add(1);
                let rw = crate::media::rtp::Rewritten {
                    marker: packet.marker,
                    ..rw
                };
                let payload = packet.payload.to_bytes();
                let len = HEADER_LEN + payload.len();
                let buf = &mut self.tx_buf[..len];
                write_header(buf, &rw, pt);
                buf[HEADER_LEN..].copy_from_slice(&payload);
                match leg.rtp.try_send_to(buf, dst) {
                    Ok(_) => self.counters.rtp_packets += 1,
                    Err(_) => self.counters.drop(DropReason::SendFailed),
                }
            }
            if !out.sender.is_busy() {
                self.start_next_digit(n, now);
            }
        }
    }

    fn emit(&mut self, event: MediaEvent) {
        if self.events.try_send(event).is_err() {
            self.counters.events_dropped += 1;
        }
    }

    fn close(mut self) {
        if let Some(Err(e)) = self.mixer.as_mut().and_then(|m| m.finish_recording()) {
            self.recording_failed(&e);
        }
        self.stats.flush(&mut self.counters);
        let ports: Vec<u16> = self.legs.iter().map(|l| l.port).collect();
        for _ in &ports {
            self.stats.legs_changed(false);
        }
        // Close the sockets before the ports can be handed out again.
        self.legs.clear();
        let mut pool = lock(&self.pool);
        for port in ports {
            let _ = pool.release(port);
        }
    }
}

/// RTP header length we write: no CSRCs, no extension.
const HEADER_LEN: usize = 12;

/// Transcodes one audio packet into `out` (header + payload); returns its
/// length. Timestamps are rescaled to the output clock (×6 from 8 kHz to
/// Opus' 48 kHz) before the stream rebases them.
fn transcode_packet(
    packet: &[u8],
    input: u32,
    path: &mut TranscodePath,
    stream: &mut OutboundStream,
    out: &mut [u8; PACKET_BYTES_MAX],
) -> Result<usize, DropReason> {
    let p = rtp_types::RtpPacket::parse(packet).map_err(|_| DropReason::Malformed)?;
    if p.payload_type() != path.in_pt {
        return Err(DropReason::UnmappedPayloadType);
    }
    let len = path
        .transcoder
        .frame(p.payload(), &mut out[HEADER_LEN..])
        .map_err(|_| DropReason::Malformed)?;
    let ts = scale_timestamp(p.timestamp(), path.in_rate, path.out_rate);
    let r = stream.rewrite(
        SourceKey {
            input,
            ssrc: p.ssrc(),
        },
        p.sequence_number(),
        ts,
    );
    let r = crate::media::rtp::Rewritten {
        marker: r.marker || p.marker_bit(),
        ..r
    };
    write_header(out, &r, path.out_pt);
    Ok(HEADER_LEN + len)
}

/// Writes a plain RTP header (version 2, no CSRC, no extension).
fn write_header(out: &mut [u8], rw: &crate::media::rtp::Rewritten, pt: u8) {
    out[0] = 0x80;
    out[1] = (u8::from(rw.marker) << 7) | (pt & 0x7f);
    out[2..4].copy_from_slice(&rw.sequence.to_be_bytes());
    out[4..8].copy_from_slice(&rw.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&rw.ssrc.to_be_bytes());
}

/// Rescales an RTP timestamp between clocks. Upscaling wraps consistently;
/// downscaling jumps once per 2^32 input ticks (about a day at 48 kHz),
/// which the receiver sees as one timestamp discontinuity.
fn scale_timestamp(ts: u32, from: u32, to: u32) -> u32 {
    if from == to || from == 0 {
        ts
    } else if to > from {
        ts.wrapping_mul(to / from)
    } else {
        ts / (from / to)
    }
}

/// Waits until any leg socket is readable; returns its index (2n for leg
/// n's RTP, 2n+1 for its RTCP). Errors count as readable: the read that
/// follows consumes them (ICMP port unreachable surfaces as ECONNREFUSED).
async fn readable_any(legs: &[Leg], first: usize) -> usize {
    let count = 2 * legs.len();
    poll_fn(|cx| {
        for k in 0..count {
            let i = (first + k) % count;
            if legs[i / 2].socket(i).poll_recv_ready(cx).is_ready() {
                return Poll::Ready(i);
            }
        }
        Poll::Pending
    })
    .await
}

/// Offset of a call's ticks within the tick period: one of
/// [`TICK_PHASES`] evenly spaced slots. Call ids spread over the slots by
/// the golden ratio (Fibonacci hashing), so consecutive ids land far apart.
/// Few slots, not one per call: each distinct expiry wakes the runtime.
pub(super) fn tick_phase(call: CallId, tick: Duration) -> Duration {
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

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
