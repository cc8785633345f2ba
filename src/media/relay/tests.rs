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

/// A call of two legs bridged to two local endpoints, A and B.
fn bridged_call(handle: &MediaHandle, c: u64) -> (StdUdpSocket, StdUdpSocket, LegMedia, LegMedia) {
    let ip = IpAddr::from([127, 0, 0, 1]);
    let call = CallRef(c);
    let a_end = StdUdpSocket::bind((ip, 0)).expect("bind A");
    let b_end = StdUdpSocket::bind((ip, 0)).expect("bind B");
    b_end
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
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
    (a_end, b_end, a, b)
}

/// Whether a packet from A comes out to B (resent until through: the
/// relay thread may not have applied the bridge yet; 20 tries of 100 ms).
fn passes(a_end: &StdUdpSocket, b_end: &StdUdpSocket, a: &LegMedia, b: &LegMedia) -> bool {
    let mut packet = [0u8; 172];
    packet[0] = 0x80;
    let mut got = [0u8; 256];
    for _ in 0..20 {
        a_end.send_to(&packet, a.rtp_addr).expect("send");
        if let Ok((n, from)) = b_end.recv_from(&mut got) {
            assert_eq!((n, from), (172, b.rtp_addr));
            return true;
        }
    }
    false
}

#[test]
fn relay_threads_forward_without_a_caller_runtime() {
    let mut config = RelayConfig::loopback(31_100, 31_199);
    config.threads = 2;
    let (handle, _events) = start(config).expect("no runtime needed with threads");
    // Two calls, one on each relay thread; each forwards A to B.
    for c in 0..2 {
        let (a_end, b_end, a, b) = bridged_call(&handle, c);
        assert!(
            passes(&a_end, &b_end, &a, &b),
            "call {c}: no packet through the relay thread"
        );
    }
    assert_eq!(handle.stats().calls_active, 2);
}

#[test]
fn a_call_whose_core_panics_ends_alone_and_the_switch_is_told() {
    let mut config = RelayConfig::loopback(31_200, 31_299);
    config.threads = 1;
    let (handle, mut events) = start(config).expect("relay");
    let (a0, b0, la0, lb0) = bridged_call(&handle, 0);
    let (a1, b1, la1, lb1) = bridged_call(&handle, 1);
    assert!(passes(&a0, &b0, &la0, &lb0) && passes(&a1, &b1, &la1, &lb1));
    // Both calls share the one relay thread; call 0's core panics.
    handle.command(&[la0.leg], Command::Panic).expect("queued");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let told = runtime.block_on(async {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
                Ok(Some(MediaEvent::Timeout { call, silent_for })) => {
                    break Some((call, silent_for))
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break None,
            }
        }
    });
    assert_eq!(
        told,
        Some((CallRef(0), Duration::ZERO)),
        "the switch hears call 0 lost its media"
    );
    assert!(!passes(&a0, &b0, &la0, &lb0), "call 0's media has ended");
    assert!(
        passes(&a1, &b1, &la1, &lb1),
        "call 1 on the same thread goes on"
    );
    // Call 0's two legs are gone and their port pairs back in the pool.
    let s = handle.stats();
    assert_eq!(s.legs_active, 2, "call 1's legs only");
    assert_eq!(s.port_pairs_free, 50 - 2, "call 1 holds two pairs of 50");
}
