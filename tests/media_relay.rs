//! The RTP relay on 127.0.0.1 with real UDP sockets: two fake endpoints send
//! RTP through a bridge; tones are checked with Goertzel at the far side.

#![allow(clippy::disallowed_methods)] // real sockets under a real clock

use std::net::SocketAddr;
use std::time::Duration;

use rtp_types::{RtpPacket, RtpPacketBuilder};
use switchyard::call::CallRef;
use switchyard::media::command::{LegId, LegRemote, MediaEvent};
use switchyard::media::dtmf::EventPayload;
use switchyard::media::g711::{ulaw_decode_into, ulaw_encode_into};
use switchyard::media::relay::{self, DropReason, MediaError, MediaHandle, RelayConfig};
use switchyard::media::sdp::Codec;
use switchyard::media::tone::{tone_present, Sine};
use switchyard::media::transcode::{Transcoder, OPUS_PACKET_BYTES_MAX};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

const WAIT: Duration = Duration::from_secs(5);
const TONE_HZ: f64 = 1000.0;
const HIJACK_HZ: f64 = 2000.0;

/// A block of `n` ports that were free a moment ago (the pool skips any
/// that got taken since).
fn port_block(n: u16) -> (u16, u16) {
    for _ in 0..200 {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let first = s.local_addr().unwrap().port() & !1;
        drop(s);
        if first < 1024 || first > u16::MAX - n {
            continue;
        }
        if (first..first + n).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return (first, first + n - 1);
        }
    }
    panic!("no block of {n} free UDP ports");
}

fn start(
    pairs: u16,
    tweak: impl FnOnce(&mut RelayConfig),
) -> (MediaHandle, mpsc::Receiver<MediaEvent>) {
    let (min, max) = port_block(2 * pairs);
    let mut config = RelayConfig::loopback(min, max);
    config.tick = Duration::from_millis(50);
    tweak(&mut config);
    relay::start(config).unwrap()
}

async fn endpoint() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

fn pcmu_remote(addr: SocketAddr) -> LegRemote {
    LegRemote {
        rtp: Some(addr),
        rtcp: Some(SocketAddr::new(addr.ip(), addr.port() + 1)),
        codec: Codec::Pcmu,
        codec_pt: 0,
        telephone_event: Some(101),
        ptime: switchyard::media::packetize::PTIME_DEFAULT,
        srtp: None,
    }
}

struct Sender {
    sine: Sine,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Sender {
    fn new(freq: f64, ssrc: u32, seq: u16, ts: u32) -> Self {
        Self {
            sine: Sine::new(freq, 8000, 0.5),
            ssrc,
            seq,
            ts,
        }
    }

    fn next(&mut self) -> Vec<u8> {
        let mut pcm = [0i16; 160];
        self.sine.fill(&mut pcm);
        let mut payload = [0u8; 160];
        ulaw_encode_into(&pcm, &mut payload);
        let p = RtpPacketBuilder::new()
            .payload_type(0)
            .sequence_number(self.seq)
            .timestamp(self.ts)
            .ssrc(self.ssrc)
            .payload(payload.as_slice())
            .write_vec()
            .unwrap();
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        p
    }
}

#[derive(Debug)]
struct Received {
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    pcm: Vec<i16>,
}

async fn recv(s: &UdpSocket) -> Received {
    let mut buf = [0u8; 2048];
    let (n, _) = timeout(WAIT, s.recv_from(&mut buf))
        .await
        .expect("a packet within the wait")
        .unwrap();
    let p = RtpPacket::parse(&buf[..n]).unwrap();
    let mut pcm = vec![0i16; p.payload().len()];
    ulaw_decode_into(p.payload(), &mut pcm);
    Received {
        ssrc: p.ssrc(),
        seq: p.sequence_number(),
        ts: p.timestamp(),
        marker: p.marker_bit(),
        pcm,
    }
}

async fn wait_stats(
    h: &MediaHandle,
    pred: impl Fn(&relay::RelaySnapshot) -> bool,
) -> relay::RelaySnapshot {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = h.stats();
        if pred(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats never matched: {s:?}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

async fn next_event(
    rx: &mut mpsc::Receiver<MediaEvent>,
    pred: impl Fn(&MediaEvent) -> bool,
) -> MediaEvent {
    timeout(WAIT, async {
        loop {
            let e = rx.recv().await.expect("relay alive");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the event within the wait")
}

#[tokio::test]
async fn tone_crosses_the_bridge_and_a_hijacker_is_ignored() {
    let (h, mut events) = start(8, |_| {});
    let call = CallRef(1);
    let a = h.allocate_leg(call).unwrap();
    let b = h.allocate_leg(call).unwrap();
    let (ea, ea_addr) = endpoint().await;
    let (eb, eb_addr) = endpoint().await;
    let (hijacker, _) = endpoint().await;
    h.set_remote(a.leg, pcmu_remote(ea_addr)).unwrap();
    h.set_remote(b.leg, pcmu_remote(eb_addr)).unwrap();
    h.bridge(a.leg, b.leg).unwrap();

    let mut caller = Sender::new(TONE_HZ, 0xCA11, 100, 8000);
    let mut spray = Sender::new(HIJACK_HZ, 0xBAD, 1, 1);
    let mut got = Vec::new();
    for k in 0..50 {
        ea.send_to(&caller.next(), a.rtp_addr).await.unwrap();
        if k >= 5 {
            hijacker.send_to(&spray.next(), a.rtp_addr).await.unwrap();
        }
        got.push(recv(&eb).await);
    }
    let first = &got[0];
    assert!(first.marker);
    for (k, r) in got.iter().enumerate() {
        assert_eq!(r.ssrc, first.ssrc, "one SSRC");
        assert_eq!(
            r.seq,
            first.seq.wrapping_add(k as u16),
            "consecutive sequence"
        );
        assert_eq!(
            r.ts,
            first.ts.wrapping_add(160 * k as u32),
            "timestamps step 160"
        );
        assert!(
            tone_present(&r.pcm, TONE_HZ, 8000),
            "packet {k} carries the caller's tone"
        );
        assert!(
            !tone_present(&r.pcm, HIJACK_HZ, 8000),
            "packet {k} is not the hijacker's"
        );
    }
    assert_ne!(first.ssrc, 0xCA11, "the relay sends under its own SSRC");

    // Symmetric: the agent's audio goes back to where the caller sent from.
    let mut agent = Sender::new(TONE_HZ, 0xA6E7, 5, 5);
    eb.send_to(&agent.next(), b.rtp_addr).await.unwrap();
    let back = recv(&ea).await;
    assert!(tone_present(&back.pcm, TONE_HZ, 8000));

    let e = next_event(
        &mut events,
        |e| matches!(e, MediaEvent::PeerLearnt { leg, .. } if *leg == a.leg),
    )
    .await;
    assert_eq!(
        e,
        MediaEvent::PeerLearnt {
            leg: a.leg,
            addr: ea_addr,
            rtcp: false
        }
    );
    let s = wait_stats(&h, |s| {
        s.dropped(DropReason::Hijack) >= 45 && s.rtp_packets_relayed >= 51
    })
    .await;
    assert_eq!(s.dropped(DropReason::Hijack), 45);
    assert_eq!(s.rtp_packets_relayed, 51);
}

#[tokio::test]
async fn source_switch_keeps_ssrc_sequence_and_timestamp_continuous() {
    let (h, _events) = start(8, |_| {});
    let call = CallRef(2);
    let player = h.allocate_leg(call).unwrap();
    let caller = h.allocate_leg(call).unwrap();
    let agent = h.allocate_leg(call).unwrap();
    let (ep, ep_addr) = endpoint().await;
    let (ec, ec_addr) = endpoint().await;
    let (ea, ea_addr) = endpoint().await;
    for (leg, addr) in [
        (player.leg, ep_addr),
        (caller.leg, ec_addr),
        (agent.leg, ea_addr),
    ] {
        h.set_remote(leg, pcmu_remote(addr)).unwrap();
    }
    h.bridge(player.leg, caller.leg).unwrap();
    let mut music = Sender::new(440.0, 0x3051C, 60_000, 4_000_000_000);
    let mut got = Vec::new();
    for _ in 0..10 {
        ep.send_to(&music.next(), player.rtp_addr).await.unwrap();
        got.push(recv(&ec).await);
    }
    h.bridge(agent.leg, caller.leg).unwrap();
    let mut voice = Sender::new(TONE_HZ, 0xA6E7, 7, 123);
    for _ in 0..10 {
        ea.send_to(&voice.next(), agent.rtp_addr).await.unwrap();
        got.push(recv(&ec).await);
    }
    let first = &got[0];
    // The voice's first timestamp follows the clock (RFC 3550 §5.1): one
    // frame after the music's last, or more if the switch-over took longer
    // than a frame here.
    let skipped = got[10].ts.wrapping_sub(got[9].ts) / 160 - 1;
    assert_eq!(got[10].ts.wrapping_sub(got[9].ts) % 160, 0, "whole frames");
    assert!(skipped <= 5, "{skipped} frames skipped at the switch-over");
    for (k, r) in got.iter().enumerate() {
        assert_eq!(r.ssrc, first.ssrc, "packet {k}: one SSRC across the switch");
        assert_eq!(
            r.seq,
            first.seq.wrapping_add(k as u16),
            "packet {k}: sequence continues"
        );
        let frames = k as u32 + if k >= 10 { skipped } else { 0 };
        assert_eq!(
            r.ts,
            first.ts.wrapping_add(160 * frames),
            "packet {k}: timestamp continues"
        );
        assert_eq!(
            r.marker,
            k == 0 || k == 10,
            "packet {k}: marker only at each source's start"
        );
    }
    assert!(tone_present(&got[9].pcm, 440.0, 8000));
    assert!(tone_present(&got[10].pcm, TONE_HZ, 8000));

    // The player, left unbridged, now reaches nobody.
    ep.send_to(&music.next(), player.rtp_addr).await.unwrap();
    let mut buf = [0u8; 64];
    assert!(timeout(Duration::from_millis(200), ec.recv_from(&mut buf))
        .await
        .is_err());
}

#[tokio::test]
async fn silent_call_times_out_once_and_is_counted() {
    let (h, mut events) = start(4, |c| c.media_timeout = Duration::from_millis(300));
    let call = CallRef(3);
    h.allocate_leg(call).unwrap();
    h.allocate_leg(call).unwrap();
    let e = next_event(&mut events, |e| matches!(e, MediaEvent::Timeout { .. })).await;
    let MediaEvent::Timeout {
        call: c,
        silent_for,
    } = e
    else {
        unreachable!()
    };
    assert_eq!(c, call);
    assert!(silent_for >= Duration::from_millis(300));
    let s = wait_stats(&h, |s| s.timeouts >= 1).await;
    assert_eq!(s.timeouts, 1);
    assert!(
        timeout(Duration::from_millis(400), events.recv())
            .await
            .is_err(),
        "fires once"
    );
}

#[tokio::test]
async fn running_out_of_ports_is_a_503_and_release_returns_them() {
    let (h, _events) = start(2, |_| {});
    let a = h.allocate_leg(CallRef(4)).unwrap();
    h.allocate_leg(CallRef(5)).unwrap();
    let err = h.allocate_leg(CallRef(6)).unwrap_err();
    assert!(matches!(err, MediaError::PortsExhausted), "{err}");
    assert_eq!(err.status(), 503);
    assert_eq!(h.stats().ports_exhausted, 1);
    // Calls in progress are untouched; releasing one frees its pair.
    h.release(a.leg.call);
    let deadline = tokio::time::Instant::now() + WAIT;
    let again = loop {
        match h.allocate_leg(CallRef(6)) {
            Ok(m) => break m,
            Err(MediaError::PortsExhausted) if tokio::time::Instant::now() < deadline => {
                sleep(Duration::from_millis(10)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(again.rtp_addr, a.rtp_addr);
}

#[tokio::test]
async fn rfc4733_digits_arrive_as_digit_events() {
    let (h, mut events) = start(4, |_| {});
    let call = CallRef(7);
    let a = h.allocate_leg(call).unwrap();
    let (ea, ea_addr) = endpoint().await;
    h.set_remote(a.leg, pcmu_remote(ea_addr)).unwrap();
    // Wait until the task has the remote (commands are in order: allocate, set_remote).
    for (digit_event, ts) in [(5u8, 800u32), (11, 2400)] {
        for (k, end) in [(1u16, false), (2, false), (3, true), (3, true), (3, true)] {
            let payload = EventPayload {
                event: digit_event,
                end,
                volume: 10,
                duration: 160 * k,
            }
            .to_bytes();
            let p = RtpPacketBuilder::new()
                .payload_type(101)
                .sequence_number(ts as u16 + k)
                .timestamp(ts)
                .ssrc(0xD7)
                .payload(payload.as_slice())
                .write_vec()
                .unwrap();
            ea.send_to(&p, a.rtp_addr).await.unwrap();
        }
    }
    let digits: Vec<char> = {
        let mut d = Vec::new();
        while d.len() < 2 {
            if let MediaEvent::Digit { leg, digit, .. } =
                next_event(&mut events, |e| matches!(e, MediaEvent::Digit { .. })).await
            {
                assert_eq!(leg, a.leg);
                d.push(digit);
            }
        }
        d
    };
    assert_eq!(digits, vec!['5', '#']);
    assert!(
        timeout(Duration::from_millis(200), async {
            loop {
                if let Some(MediaEvent::Digit { .. }) = events.recv().await {
                    return;
                }
            }
        })
        .await
        .is_err(),
        "each event reported once"
    );
}

#[tokio::test]
async fn bridge_requests_that_cannot_work_are_refused_and_codec_mismatch_is_not() {
    let (h, _events) = start(4, |_| {});
    let a = h.allocate_leg(CallRef(8)).unwrap();
    let b = h.allocate_leg(CallRef(8)).unwrap();
    let other = h.allocate_leg(CallRef(9)).unwrap();
    let mut opus = pcmu_remote("127.0.0.1:9".parse().unwrap());
    opus.codec = Codec::Opus;
    opus.codec_pt = 111;
    h.set_remote(a.leg, pcmu_remote("127.0.0.1:7".parse().unwrap()))
        .unwrap();
    h.set_remote(b.leg, opus).unwrap();
    // Different codecs are transcoded, not refused.
    h.bridge(a.leg, b.leg).unwrap();
    assert!(matches!(
        h.bridge(a.leg, other.leg),
        Err(MediaError::DifferentCalls(..))
    ));
    assert!(matches!(
        h.bridge(a.leg, a.leg),
        Err(MediaError::SelfBridge(_))
    ));
    let ghost = LegId {
        call: CallRef(8),
        n: 3,
    };
    assert!(matches!(
        h.bridge(a.leg, ghost),
        Err(MediaError::UnknownLeg(_))
    ));
}

#[tokio::test]
async fn a_burst_larger_than_one_receive_batch_is_relayed_whole_and_in_order() {
    let (h, _events) = start(4, |_| {});
    let call = CallRef(10);
    let a = h.allocate_leg(call).unwrap();
    let b = h.allocate_leg(call).unwrap();
    let (ea, ea_addr) = endpoint().await;
    let (eb, eb_addr) = endpoint().await;
    h.set_remote(a.leg, pcmu_remote(ea_addr)).unwrap();
    h.set_remote(b.leg, pcmu_remote(eb_addr)).unwrap();
    h.bridge(a.leg, b.leg).unwrap();
    let mut caller = Sender::new(TONE_HZ, 1, 0, 0);
    // Prime the latch, then send a burst without waiting.
    ea.send_to(&caller.next(), a.rtp_addr).await.unwrap();
    let first = recv(&eb).await;
    for _ in 0..37 {
        ea.send_to(&caller.next(), a.rtp_addr).await.unwrap();
    }
    for k in 1..=37u16 {
        let r = recv(&eb).await;
        assert_eq!(r.seq, first.seq.wrapping_add(k));
    }
}

#[tokio::test]
async fn an_opus_leg_bridged_to_a_pcmu_leg_hears_the_tone_both_ways() {
    let (h, _events) = start(4, |_| {});
    let call = CallRef(11);
    let a = h.allocate_leg(call).unwrap();
    let b = h.allocate_leg(call).unwrap();
    let (ea, ea_addr) = endpoint().await;
    let (eb, eb_addr) = endpoint().await;
    h.set_remote(a.leg, pcmu_remote(ea_addr)).unwrap();
    let mut opus = pcmu_remote(eb_addr);
    opus.codec = Codec::Opus;
    opus.codec_pt = 111;
    h.set_remote(b.leg, opus).unwrap();
    h.bridge(a.leg, b.leg).unwrap();

    // PCMU caller -> Opus agent: the agent decodes what it gets.
    let mut caller = Sender::new(TONE_HZ, 0xCA11, 0, 0);
    let mut agent_ear = Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap();
    let mut stamps = Vec::new();
    let mut last_pcm = Vec::new();
    let mut buf = [0u8; 2048];
    for _ in 0..15 {
        ea.send_to(&caller.next(), a.rtp_addr).await.unwrap();
        let (n, _) = timeout(WAIT, eb.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.payload_type(), 111);
        stamps.push(p.timestamp());
        last_pcm = agent_ear.decode(p.payload()).unwrap().to_vec();
    }
    assert!(
        tone_present(&last_pcm, TONE_HZ, 8000),
        "the agent hears the caller's tone"
    );
    for w in stamps.windows(2) {
        assert_eq!(
            w[1].wrapping_sub(w[0]),
            960,
            "Opus timestamps run at 48 kHz"
        );
    }

    // Opus agent -> PCMU caller.
    let mut agent_mouth = Transcoder::new(Codec::Pcmu, Codec::Opus).unwrap();
    let mut tone = Sine::new(TONE_HZ, 8000, 0.5);
    let mut heard = Vec::new();
    for k in 0..15u16 {
        let mut pcm = [0i16; 160];
        tone.fill(&mut pcm);
        let mut ulaw = [0u8; 160];
        ulaw_encode_into(&pcm, &mut ulaw);
        let mut frame = [0u8; OPUS_PACKET_BYTES_MAX];
        let len = agent_mouth.frame(&ulaw, &mut frame).unwrap();
        let packet = RtpPacketBuilder::new()
            .payload_type(111)
            .sequence_number(k)
            .timestamp(960 * u32::from(k))
            .ssrc(0xA6E7)
            .payload(&frame[..len])
            .write_vec()
            .unwrap();
        eb.send_to(&packet, b.rtp_addr).await.unwrap();
        heard = recv(&ea).await.pcm;
    }
    assert_eq!(heard.len(), 160);
    assert!(
        tone_present(&heard, TONE_HZ, 8000),
        "the caller hears the agent's tone"
    );
}

#[tokio::test]
async fn packets_from_a_stranger_do_not_keep_a_dead_call_alive() {
    let (h, mut events) = start(4, |c| c.media_timeout = Duration::from_millis(300));
    let call = CallRef(12);
    let a = h.allocate_leg(call).unwrap();
    // The phone at 127.0.0.1 went silent; a stranger on 127.0.0.2 sprays its port.
    let (_phone, phone_addr) = endpoint().await;
    h.set_remote(a.leg, pcmu_remote(phone_addr)).unwrap();
    let stranger = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let mut spray = Sender::new(HIJACK_HZ, 0xBAD, 0, 0);
    let spraying = async {
        loop {
            stranger.send_to(&spray.next(), a.rtp_addr).await.unwrap();
            sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = spraying => unreachable!(),
        e = next_event(&mut events, |e| matches!(e, MediaEvent::Timeout { .. })) => {
            assert!(matches!(e, MediaEvent::Timeout { call: c, .. } if c == call));
        }
    }
    let s = wait_stats(&h, |s| s.dropped(DropReason::UnexpectedSource) > 0).await;
    assert_eq!(s.peers_learnt, 0);
}

#[tokio::test]
async fn rtcp_is_relayed_under_the_ssrc_the_receiver_knows() {
    let (h, _events) = start(4, |_| {});
    let call = CallRef(13);
    let a = h.allocate_leg(call).unwrap();
    let b = h.allocate_leg(call).unwrap();
    let (ea, ea_addr) = endpoint().await;
    let (eb, eb_addr) = endpoint().await;
    let (ea_rtcp, _) = endpoint().await;
    let (eb_rtcp, _) = endpoint().await;
    // RTCP addresses unknown from SDP: learnt from the first report.
    for (leg, addr) in [(a.leg, ea_addr), (b.leg, eb_addr)] {
        let mut r = pcmu_remote(addr);
        r.rtcp = None;
        h.set_remote(leg, r).unwrap();
    }
    h.bridge(a.leg, b.leg).unwrap();
    let mut caller = Sender::new(TONE_HZ, 0xCA11, 0, 0);
    ea.send_to(&caller.next(), a.rtp_addr).await.unwrap();
    let relayed_ssrc = recv(&eb).await.ssrc;

    // B's receiver report latches B's RTCP address (A's is unknown: dropped).
    let mut rr = vec![0x80, 201, 0, 1];
    rr.extend(0xB0B0u32.to_be_bytes());
    eb_rtcp.send_to(&rr, b.rtcp_addr).await.unwrap();
    wait_stats(&h, |s| s.dropped(DropReason::NoDestination) >= 1).await;

    // A's sender report reaches B, naming the SSRC B sees on RTP.
    let mut sr = vec![0x80, 200, 0, 6];
    sr.extend(0xCA11u32.to_be_bytes());
    sr.extend([0u8; 20]);
    ea_rtcp.send_to(&sr, a.rtcp_addr).await.unwrap();
    let mut buf = [0u8; 256];
    let (n, from) = timeout(WAIT, eb_rtcp.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, b.rtcp_addr, "sent from leg B's RTCP port");
    assert_eq!(n, sr.len());
    assert_eq!(buf[1], 200);
    assert_eq!(
        u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        relayed_ssrc
    );
    wait_stats(&h, |s| s.rtcp_packets_relayed == 1).await;
}

/// The digits carried by the telephone-event packets (payload type `pt`)
/// `s` receives until `count` digits ended, with the packets' timestamps.
async fn digits_heard(s: &UdpSocket, pt: u8, count: usize) -> Vec<char> {
    let mut receiver = switchyard::media::dtmf::DtmfReceiver::default();
    let mut digits = Vec::new();
    let mut buf = [0u8; 2048];
    // Bounded: each digit is a handful of packets among 20 ms audio frames.
    for _ in 0..500 {
        if digits.len() == count {
            break;
        }
        let (n, _) = timeout(WAIT, s.recv_from(&mut buf)).await.unwrap().unwrap();
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        if p.payload_type() == pt {
            if let Ok(Some(d)) = receiver.handle(p.payload(), p.timestamp()) {
                digits.push(d);
            }
        }
    }
    digits
}

#[tokio::test]
async fn send_digit_puts_rfc4733_events_on_the_legs_stream() {
    let (h, _events) = start(4, |_| {});
    let call = CallRef(20);
    let a = h.allocate_leg(call).unwrap();
    let b = h.allocate_leg(call).unwrap();
    let (ea, ea_addr) = endpoint().await;
    let (_eb, eb_addr) = endpoint().await;
    h.set_remote(a.leg, pcmu_remote(ea_addr)).unwrap();
    h.set_remote(b.leg, pcmu_remote(eb_addr)).unwrap();
    h.bridge(a.leg, b.leg).unwrap();
    h.send_digit(a.leg, '7').unwrap();
    h.send_digit(a.leg, '#').unwrap();
    assert_eq!(digits_heard(&ea, 101, 2).await, vec!['7', '#']);
}

#[tokio::test]
async fn digits_from_a_pcmu_leg_reach_a_transcoded_opus_leg_as_events() {
    let (h, _events) = start(4, |_| {});
    let call = CallRef(21);
    let a = h.allocate_leg(call).unwrap();
    let b = h.allocate_leg(call).unwrap();
    let (ea, ea_addr) = endpoint().await;
    let (eb, eb_addr) = endpoint().await;
    h.set_remote(a.leg, pcmu_remote(ea_addr)).unwrap();
    let mut opus = pcmu_remote(eb_addr);
    opus.codec = Codec::Opus;
    opus.codec_pt = 111;
    opus.telephone_event = Some(96);
    h.set_remote(b.leg, opus).unwrap();
    h.bridge(a.leg, b.leg).unwrap();
    // The PCMU side presses 4 (RFC 4733 §2.5.1: start, update, three ends).
    for (k, end) in [(1u16, false), (2, false), (3, true), (3, true), (3, true)] {
        let payload = EventPayload {
            event: 4,
            end,
            volume: 10,
            duration: 160 * k,
        }
        .to_bytes();
        let p = RtpPacketBuilder::new()
            .payload_type(101)
            .sequence_number(k)
            .timestamp(1600)
            .ssrc(0xD7)
            .payload(payload.as_slice())
            .write_vec()
            .unwrap();
        ea.send_to(&p, a.rtp_addr).await.unwrap();
    }
    assert_eq!(
        digits_heard(&eb, 96, 1).await,
        vec!['4'],
        "the Opus side gets the digit on its own telephone-event type"
    );
}

#[tokio::test]
async fn a_bridged_leg_that_changes_codec_and_ptime_is_followed_at_once() {
    let (h, _events) = start(4, |_| {});
    let call = CallRef(23);
    let a = h.allocate_leg(call).unwrap();
    let b = h.allocate_leg(call).unwrap();
    let (ea, ea_addr) = endpoint().await;
    let (eb, eb_addr) = endpoint().await;
    h.set_remote(a.leg, pcmu_remote(ea_addr)).unwrap();
    h.set_remote(b.leg, pcmu_remote(eb_addr)).unwrap();
    h.bridge(a.leg, b.leg).unwrap();
    // B's re-offer switches it to Opus at 40 ms; no new bridge follows.
    let mut opus = pcmu_remote(eb_addr);
    opus.codec = Codec::Opus;
    opus.codec_pt = 111;
    opus.ptime = Duration::from_millis(40);
    h.set_remote(b.leg, opus).unwrap();
    let mut tx = Sender::new(TONE_HZ, 0xA1, 1, 0);
    let mut decoder = Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap();
    let mut heard = Vec::new();
    let mut buf = [0u8; 2048];
    // Bounded: 100 packets of 20 ms; Opus at 40 ms comes every other one.
    for _ in 0..100 {
        ea.send_to(&tx.next(), a.rtp_addr).await.unwrap();
        if let Ok(Ok((n, _))) = timeout(Duration::from_millis(20), eb.recv_from(&mut buf)).await {
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            if p.payload_type() == 111 {
                heard.extend_from_slice(decoder.decode(p.payload()).expect("Opus"));
                assert_eq!(decoder.pcm().len(), 320, "40 ms frames");
            }
        }
        if heard.len() >= 8_000 {
            break;
        }
    }
    assert!(
        heard.len() >= 8_000,
        "{} samples of Opus heard",
        heard.len()
    );
    assert!(tone_present(&heard[4_000..], TONE_HZ, 8000));
    assert_eq!(h.stats().dropped(DropReason::UnmappedPayloadType), 0);
}
