//! The call's media core in virtual time: no socket, no clock; packets,
//! commands and deadlines go in with the test's time, and what the core
//! queued to send is read back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CallMedia, Command, LegSetup};
use crate::call::CallRef;
use crate::media::command::{LegId, LegRemote, MediaEvent};
use crate::media::g711::{alaw_encode, ulaw_decode};
use crate::media::prompts::PromptSet;
use crate::media::relay::forward::forward_path;
use crate::media::relay::stats::RelayStats;
use crate::media::relay::RelayConfig;
use crate::media::sdp::Codec;

const CALL: CallRef = CallRef(7);
const HEADER: usize = 12;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn remote(port: u16, codec: Codec, pt: u8, ptime_ms: u64, te: Option<u8>) -> LegRemote {
    LegRemote {
        rtp: Some(addr(port)),
        rtcp: Some(addr(port + 1)),
        codec,
        codec_pt: pt,
        telephone_event: te,
        ptime: Duration::from_millis(ptime_ms),
        srtp: None,
    }
}

/// A call core with one leg per remote, legs 0 and 1 bridged.
fn bridged(t0: Instant, a: LegRemote, b: LegRemote) -> CallMedia {
    let mut config = RelayConfig::loopback(40_000, 40_099);
    config.media_timeout = Duration::from_secs(5);
    let stats = Arc::new(RelayStats::default());
    let mut media = CallMedia::new(CALL, &config, stats, Arc::new(PromptSet::default()), t0);
    for (n, r) in [a, b].into_iter().enumerate() {
        let setup = LegSetup {
            leg: LegId {
                call: CALL,
                n: n as u8,
            },
            side: None,
            port: 40_000 + 2 * n as u16,
            ssrc: 0x1000 + n as u32,
            initial_seq: 100,
            initial_ts: 1000,
        };
        media.handle_command(t0, Command::AddLeg(Box::new(setup)));
        media.handle_command(t0, Command::SetRemote(n as u8, r));
    }
    let bridge = Command::Bridge {
        a: 0,
        b: 1,
        a_to_b: forward_path(Some(a), Some(b)).expect("path a to b"),
        b_to_a: forward_path(Some(b), Some(a)).expect("path b to a"),
    };
    media.handle_command(t0, bridge);
    media
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&ts.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The queued packets as (socket, destination, bytes), emptying the queue.
fn sent(media: &mut CallMedia) -> Vec<(usize, SocketAddr, Vec<u8>)> {
    let tx = media.transmits();
    let out = (0..)
        .map_while(|i| tx.get(i))
        .map(|(t, bytes)| (t.socket, t.dst, bytes.to_vec()))
        .collect();
    tx.clear();
    out
}

fn seq(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[2], p[3]])
}

fn ts(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[4], p[5], p[6], p[7]])
}

fn ssrc(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[8], p[9], p[10], p[11]])
}

/// Runs the core's timers from `from` to `until` in virtual time, as the
/// relay thread would; returns the events and packets, each with its time.
#[allow(clippy::type_complexity)]
fn run_timers(
    media: &mut CallMedia,
    from: Instant,
    until: Instant,
) -> (Vec<(Instant, MediaEvent)>, Vec<(Instant, Vec<u8>)>) {
    let (mut events, mut packets) = (Vec::new(), Vec::new());
    let mut now = from;
    for _ in 0..100_000 {
        let next = media.poll_timeout().max(now);
        if next > until {
            break;
        }
        now = next;
        media.handle_timeout(now);
        packets.extend(sent(media).into_iter().map(|(_, _, p)| (now, p)));
        while let Some(e) = media.poll_event() {
            events.push((now, e));
        }
    }
    (events, packets)
}

#[test]
fn a_bridged_packet_goes_out_on_the_peers_socket_under_its_stream() {
    let t0 = Instant::now();
    let pcmu = |port| remote(port, Codec::Pcmu, 0, 20, None);
    let mut media = bridged(t0, pcmu(50_000), pcmu(50_010));
    let mut packet = rtp(0, 7, 160, 0xAAAA, &[0x55; 160]);
    media.handle_packet(t0, 0, &mut packet, addr(50_000));
    let out = sent(&mut media);
    assert_eq!(out.len(), 1, "one packet in, one out");
    let (socket, dst, p) = &out[0];
    // Leg 1's RTP socket, to leg 1's party, with leg 1's own SSRC.
    assert_eq!((*socket, *dst), (2, addr(50_010)));
    assert_eq!(ssrc(p), 0x1001);
    assert_eq!(&p[HEADER..], &[0x55; 160][..]);
    // From an address the leg's SDP did not give: not relayed.
    let mut stray = rtp(0, 8, 320, 0xAAAA, &[0x55; 160]);
    media.handle_packet(t0, 0, &mut stray, addr(51_000));
    assert!(
        sent(&mut media).is_empty(),
        "a stranger's packet is dropped"
    );
}

#[test]
fn pcma_in_30_ms_packets_reaches_a_pcmu_20_ms_leg_as_the_same_audio() {
    // SIPp's g711a.pcap habit: PCMA, 30 ms; the agent's phone: PCMU, 20 ms.
    let t0 = Instant::now();
    let mut media = bridged(
        t0,
        remote(50_000, Codec::Pcma, 8, 30, None),
        remote(50_010, Codec::Pcmu, 0, 20, None),
    );
    // A loud square wave, 240 samples (30 ms) a packet.
    let wave: Vec<i16> = (0..720)
        .map(|i| if (i / 4) % 2 == 0 { 8000 } else { -8000 })
        .collect();
    let mut out = Vec::new();
    for k in 0..3 {
        let now = t0 + Duration::from_millis(30 * k as u64);
        let payload: Vec<u8> = wave[240 * k..240 * (k + 1)]
            .iter()
            .map(|&s| alaw_encode(s))
            .collect();
        let mut packet = rtp(8, k as u16, 240 * k as u32, 0xBBBB, &payload);
        media.handle_packet(now, 0, &mut packet, addr(50_000));
        out.extend(sent(&mut media));
    }
    // 90 ms in: four whole 20 ms packets out (the rest waits for more).
    assert_eq!(
        out.len(),
        4,
        "{:?}",
        out.iter().map(|o| o.2.len()).collect::<Vec<_>>()
    );
    for (k, (socket, dst, p)) in out.iter().enumerate() {
        assert_eq!((*socket, *dst), (2, addr(50_010)));
        assert_eq!(p[1] & 0x7f, 0, "PCMU payload type");
        assert_eq!(p.len(), HEADER + 160, "20 ms of PCMU");
        if k > 0 {
            let prev = &out[k - 1].2;
            assert_eq!(seq(p), seq(prev).wrapping_add(1));
            assert_eq!(ts(p).wrapping_sub(ts(prev)), 160);
        }
        // Not silence: the same wave, within G.711's step.
        for (j, &code) in p[HEADER..].iter().enumerate() {
            let sample = i32::from(ulaw_decode(code));
            let expected = i32::from(wave[160 * k + j]);
            assert!(
                (sample - expected).abs() < 800,
                "packet {k} sample {j}: {sample} against {expected}"
            );
        }
    }
}

#[test]
fn a_silent_bridge_times_out_at_the_media_timeout_of_virtual_time() {
    let t0 = Instant::now();
    let pcmu = |port| remote(port, Codec::Pcmu, 0, 20, None);
    let mut media = bridged(t0, pcmu(50_000), pcmu(50_010));
    // Media for the first second, then nothing.
    for k in 0..50u16 {
        let now = t0 + Duration::from_millis(20 * u64::from(k));
        run_timers(&mut media, now, now);
        let mut packet = rtp(0, k, 160 * u32::from(k), 0xAAAA, &[0x55; 160]);
        media.handle_packet(now, 0, &mut packet, addr(50_000));
        sent(&mut media);
    }
    let last_packet = t0 + Duration::from_millis(980);
    let (events, _) = run_timers(&mut media, last_packet, t0 + Duration::from_secs(30));
    let timeouts: Vec<Instant> = events
        .iter()
        .filter(|(_, e)| matches!(e, MediaEvent::Timeout { call, .. } if *call == CALL))
        .map(|(at, _)| *at)
        .collect();
    let first = *timeouts.first().expect("the silent call is reported");
    // Five seconds of silence, judged on ticks of 250 ms.
    let silent = first.duration_since(last_packet);
    assert!(
        silent >= Duration::from_secs(5) && silent <= Duration::from_millis(5_500),
        "reported after {silent:?} of silence"
    );
}

#[test]
fn a_sip_info_digit_goes_out_as_rfc_4733_events_paced_in_virtual_time() {
    let t0 = Instant::now();
    let pcmu = |port| remote(port, Codec::Pcmu, 0, 20, Some(101));
    let mut media = bridged(t0, pcmu(50_000), pcmu(50_010));
    media.handle_command(t0, Command::SendDigit { leg: 1, digit: '5' });
    let (_, packets) = run_timers(&mut media, t0, t0 + Duration::from_secs(1));
    assert!(!packets.is_empty(), "the digit is sent");
    for (at, p) in &packets {
        assert_eq!(p[1] & 0x7f, 101, "telephone-event");
        assert_eq!(p[HEADER], 5, "event 5");
        assert!(at.duration_since(t0) <= Duration::from_millis(200));
    }
    // 100 ms of event, a packet per 20 ms, then the end sent three times.
    let ends: Vec<_> = packets
        .iter()
        .filter(|(_, p)| p[HEADER + 1] & 0x80 != 0)
        .collect();
    assert_eq!(ends.len(), 3, "the end is repeated three times");
    let running = packets.len() - ends.len();
    assert!(
        (4..=6).contains(&running),
        "{running} packets before the end"
    );
    // One event: one timestamp for all its packets (RFC 4733 §2.3.1).
    assert!(packets.iter().all(|(_, p)| ts(p) == ts(&packets[0].1)));
    let times: Vec<Instant> = packets.iter().map(|(at, _)| *at).collect();
    assert!(
        times.windows(2).all(|w| w[1] >= w[0]),
        "packets leave in time order"
    );
}
