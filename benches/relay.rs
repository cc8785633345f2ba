//! The switch's RTP relay as a load target for `benches/media/run-relay-bench.sh`.
//!
//! `cargo bench --bench relay -- calls=500 endpoints=44000 port_min=30000
//! port_max=39999 secs=40 workers=1 threads=1 tick_ms=250 map=/tmp/map.txt` allocates `calls` calls
//! of two legs each, as the switch would for caller and agent, bridges them,
//! writes one line per call in `udpbench load map=` form (`a_port a_dst b_port
//! b_dst`: endpoint A at `endpoints+4i` sends to leg A's port, endpoint B at
//! `endpoints+4i+2` to leg B's) and relays for `secs` seconds, then prints
//! the relay's counters. Loopback only.
//!
//! `cargo bench --bench relay -- mode=transcode frames=5000` instead prints
//! the CPU cost of one Opus<->PCMU transcoded call (both directions).

#![allow(clippy::disallowed_methods)] // a bench driver: real clock, real runtime

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use switchyard::call::CallRef;
use switchyard::media::command::LegRemote;
use switchyard::media::relay::{self, DropReason, RelayConfig};
use switchyard::media::sdp::Codec;

fn main() {
    let kv: HashMap<String, String> = std::env::args()
        .skip(1)
        .filter_map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let num = |k: &str, d: u64| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    if kv.get("mode").map(String::as_str) == Some("transcode") {
        return transcode_cost(num("frames", 5_000) as usize);
    }
    let calls = num("calls", 100) as usize;
    let endpoints = num("endpoints", 44_000) as u16;
    let secs = num("secs", 30);
    let workers = num("workers", 1) as usize;
    let map = kv
        .get("map")
        .cloned()
        .unwrap_or_else(|| "relay-map.txt".into());
    let mut config = RelayConfig::loopback(
        num("port_min", 30_000) as u16,
        num("port_max", 39_999) as u16,
    );
    config.media_timeout = Duration::from_secs(secs + 60);
    config.tick = Duration::from_millis(num("tick_ms", 250));
    // The relay's own epoll threads (0 means one).
    config.threads = num("threads", 1) as usize;

    let runtime = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    }
    .enable_all()
    .build()
    .expect("tokio runtime");

    runtime.block_on(async move {
        let (handle, mut events) = relay::start(config).expect("relay starts");
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let ip = IpAddr::from([127, 0, 0, 1]);
        let mut lines = String::new();
        for i in 0..calls {
            let call = CallRef(i as u64);
            let a = handle.allocate_leg(call).expect("leg A");
            let b = handle.allocate_leg(call).expect("leg B");
            let ea = endpoints + 4 * i as u16;
            let eb = ea + 2;
            for (leg, port) in [(a.leg, ea), (b.leg, eb)] {
                let remote = LegRemote {
                    rtp: Some(SocketAddr::new(ip, port)),
                    rtcp: Some(SocketAddr::new(ip, port + 1)),
                    codec: Codec::Pcmu,
                    codec_pt: 0,
                    telephone_event: Some(101),
                    ptime: Duration::from_millis(20),
                    srtp: None,
                };
                handle.set_remote(leg, remote).expect("remote");
            }
            handle.bridge(a.leg, b.leg).expect("bridge");
            let _ = writeln!(
                lines,
                "{ea} {} {eb} {}",
                a.rtp_addr.port(),
                b.rtp_addr.port()
            );
        }
        std::fs::write(&map, lines).expect("write the map file");
        println!("ready calls={calls} map={map}");
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let s = handle.stats();
        let drops: Vec<String> = DropReason::ALL
            .iter()
            .map(|r| format!("{}={}", r.label(), s.dropped(*r)))
            .collect();
        println!(
            "relay done relayed={} bytes={} learnt={} drops: {}",
            s.rtp_packets_relayed,
            s.rtp_bytes_relayed,
            s.peers_learnt,
            drops.join(" ")
        );
    });
}

/// One transcoded call: each 20 ms, a PCMU frame becomes Opus (caller to
/// agent) and an Opus frame becomes PCMU (agent to caller).
fn transcode_cost(frames: usize) {
    use switchyard::media::g711::ulaw_encode_into;
    use switchyard::media::tone::Sine;
    use switchyard::media::transcode::{Transcoder, OPUS_PACKET_BYTES_MAX};

    let mut to_opus = Transcoder::new(Codec::Pcmu, Codec::Opus).expect("encoder");
    let mut to_pcmu = Transcoder::new(Codec::Opus, Codec::Pcmu).expect("decoder");
    let mut sine = Sine::new(1000.0, 8000, 0.5);
    let mut pcm = [0i16; 160];
    let mut ulaw = [0u8; 160];
    let mut opus = [0u8; OPUS_PACKET_BYTES_MAX];
    let mut back = [0u8; OPUS_PACKET_BYTES_MAX];
    let start = std::time::Instant::now();
    for _ in 0..frames {
        sine.fill(&mut pcm);
        ulaw_encode_into(&pcm, &mut ulaw);
        let n = to_opus.frame(&ulaw, &mut opus).expect("encode");
        to_pcmu.frame(&opus[..n], &mut back).expect("decode");
    }
    let per_frame = start.elapsed() / frames as u32;
    // 50 frames per second each way; per_frame covers one frame each way.
    let core_share = per_frame.as_secs_f64() * 50.0;
    println!(
        "transcode opus<->pcmu frames={frames} us_per_20ms_both_ways={:.1} cpu%_per_call={:.2} calls_per_core={:.0}",
        per_frame.as_secs_f64() * 1e6,
        100.0 * core_share,
        1.0 / core_share
    );
}
