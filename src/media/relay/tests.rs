use std::time::Instant;

use super::call::tick_phase;
use super::*;
use crate::media::sdp::Codec;

const TICK: Duration = Duration::from_millis(250);

#[test]
fn calls_tick_at_one_of_the_phase_slots_within_the_period() {
    let slot = TICK / TICK_PHASES;
    assert_eq!(slot, Duration::from_micros(15_625));
    for i in 0..500 {
        let phase = tick_phase(CallRef(i), TICK);
        assert!(phase < TICK);
        assert_eq!(phase.as_nanos() % slot.as_nanos(), 0);
    }
}

#[test]
fn calls_started_together_spread_their_ticks_evenly_over_the_slots() {
    // 500 calls over 16 slots: 31.25 each if perfectly even.
    let mut per_slot = [0usize; TICK_PHASES as usize];
    let slot = TICK / TICK_PHASES;
    for i in 0..500 {
        let s = tick_phase(CallRef(i), TICK).as_nanos() / slot.as_nanos();
        per_slot[s as usize] += 1;
    }
    assert!(
        per_slot.iter().all(|&n| (28..=35).contains(&n)),
        "{per_slot:?}"
    );
}

#[test]
fn consecutive_calls_tick_in_different_slots() {
    let start = Instant::now();
    assert_eq!(start + tick_phase(CallRef(0), TICK), start);
    let phases: Vec<Duration> = (0..8).map(|i| tick_phase(CallRef(i), TICK)).collect();
    assert!(phases.windows(2).all(|w| w[0] != w[1]), "{phases:?}");
}

#[test]
fn too_many_relay_threads_are_refused() {
    let mut config = RelayConfig::loopback(31_000, 31_099);
    config.threads = RELAY_THREADS_MAX + 1;
    let err = start(config).err().expect("refused");
    assert!(
        matches!(err, MediaError::TooManyThreads { threads } if threads == RELAY_THREADS_MAX + 1)
    );
}

#[test]
fn relay_threads_forward_without_a_caller_runtime() {
    let ip = IpAddr::from([127, 0, 0, 1]);
    let mut config = RelayConfig::loopback(31_100, 31_199);
    config.threads = 2;
    let (handle, _events) = start(config).expect("no runtime needed with threads");
    let recv_timeout = Some(Duration::from_secs(2));
    // Two calls, one on each relay thread; each forwards A to B.
    for c in 0..2 {
        let call = CallRef(c);
        let a_end = StdUdpSocket::bind((ip, 0)).expect("bind A");
        let b_end = StdUdpSocket::bind((ip, 0)).expect("bind B");
        b_end.set_read_timeout(recv_timeout).expect("timeout");
        let a = handle.allocate_leg(call).expect("leg A");
        let b = handle.allocate_leg(call).expect("leg B");
        for (leg, end) in [(a.leg, &a_end), (b.leg, &b_end)] {
            let remote = LegRemote {
                rtp: Some(end.local_addr().expect("addr")),
                rtcp: None,
                codec: Codec::Pcmu,
                codec_pt: 0,
                telephone_event: None,
                ptime: crate::media::packetize::PTIME_DEFAULT,
                srtp: None,
            };
            handle.set_remote(leg, remote).expect("remote");
        }
        handle.bridge(a.leg, b.leg).expect("bridge");
        let mut packet = [0u8; 172];
        packet[0] = 0x80;
        let mut got = [0u8; 256];
        // The task may not have applied the bridge yet: resend until through.
        let mut through = false;
        for _ in 0..20 {
            a_end.send_to(&packet, a.rtp_addr).expect("send");
            if let Ok((n, from)) = b_end.recv_from(&mut got) {
                assert_eq!((n, from), (172, b.rtp_addr));
                through = true;
                break;
            }
        }
        assert!(through, "call {c}: no packet through the relay thread");
    }
    assert_eq!(handle.stats().calls_active, 2);
}
