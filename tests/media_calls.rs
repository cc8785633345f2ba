//! Calls with their media anchored in the switch (`[media]`): a carrier
//! (SIPp) plays a 1 kHz G.711 tone from a pcap (tests/sipp/gen_tone_pcap.py)
//! and the agent's audio socket, a Rust RTP peer, must hear it — sent by the
//! switch's port, never by the carrier. Offers the switch cannot take get
//! 488, and a switch out of RTP ports answers 503.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::scenarios::*;
use support::{
    free_port_block, free_udp_port, sipp_dir, sipp_register, test_config, Sipp, SwitchProc,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::media::tone::tone_present;

/// How long the agent's socket listens for the tone.
const LISTEN_FOR: Duration = Duration::from_secs(8);
const TONE_HZ: f64 = 1000.0;

fn media_config(rtp_lo: u16, rtp_hi: u16) -> String {
    media_config_timeout(rtp_lo, rtp_hi, "10s")
}

fn media_config_timeout(rtp_lo: u16, rtp_hi: u16, inactivity: &str) -> String {
    format!(
        "{}\n[media]\nrtp_ports = \"{rtp_lo}-{rtp_hi}\"\nrtp_address = \"127.0.0.1\"\ninactivity_timeout = \"{inactivity}\"\n",
        test_config("10s", free_udp_port())
    )
}

/// A regex matching SDP that names the switch: our address on c=, an even
/// port of `lo..=hi` on m=.
fn anchored_re(lo: u16, hi: u16) -> String {
    let ports: Vec<String> = (lo..hi)
        .filter(|p| p % 2 == 0)
        .map(|p| p.to_string())
        .collect();
    format!(
        "c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio ({}) RTP/AVP 0",
        ports.join("|")
    )
}

fn carrier(switch: &SwitchProc, did: &str, after: &str, replace: &[(&str, &str)]) -> Sipp {
    let mut all = vec![("@AFTER@", after)];
    all.extend_from_slice(replace);
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &all,
        &["-m", "1", "-s", did],
        Some(switch.sip),
    )
}

/// RTP payloads arriving at `sock` for `LISTEN_FOR`, with their sources.
fn listen(sock: &UdpSocket) -> Vec<(SocketAddr, Vec<u8>)> {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + LISTEN_FOR;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n > 12 {
                got.push((from, buf[12..n].to_vec()));
            }
        }
    }
    got
}

#[test]
fn carrier_tone_reaches_the_agent_through_the_switch_only() {
    // Four whole pairs, even RTP port first.
    let block = free_port_block(10);
    let lo = block + block % 2;
    let hi = lo + 7;
    let switch = SwitchProc::start("media-tone", &media_config(lo, hi));
    let agent_port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", agent_port, 200);
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port().to_string();
    let re = anchored_re(lo, hi);
    let phone = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", AGENT_ANSWERS_MEDIA_AT),
            ("@MEDIA_RE@", &re),
            ("@AGENT_RTP@", &rtp_port),
        ],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    let pcap = sipp_dir().join("tone-1khz-pcmu.pcap");
    let caller = carrier(
        &switch,
        "5550100",
        CARRIER_PLAYS_PCAP,
        &[("@MEDIA_RE@", &re), ("@PCAP@", pcap.to_str().unwrap())],
    );
    let got = listen(&rtp);
    caller.expect_success();
    phone.expect_success();
    assert!(
        got.len() > 50,
        "only {} RTP packets reached the agent",
        got.len()
    );
    for (from, _) in &got {
        assert_eq!(from.ip().to_string(), "127.0.0.1");
        assert!(
            (lo..=hi).contains(&from.port()),
            "RTP from {from}, not from the switch's ports {lo}-{hi}"
        );
    }
    let pcm: Vec<i16> = got
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&c| ulaw_decode(c)))
        .collect();
    assert!(
        tone_present(&pcm, TONE_HZ, 8000),
        "no {TONE_HZ} Hz tone in what the agent heard"
    );
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_rtp_packets_relayed_total", |v| v > 50.0);
    switch.wait_metric("switchyard_media_port_pairs_free", |v| v == 4.0);
}

#[test]
fn an_offer_without_a_codec_we_speak_gets_488() {
    let block = free_port_block(8);
    let switch = SwitchProc::start("media-488", &media_config(block, block + 7));
    let caller = carrier(
        &switch,
        "5550100",
        &CARRIER_REFUSED.replace("@STATUS@", "488"),
        &[
            ("RTP/AVP 0", "RTP/AVP 18"),
            ("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000"),
        ],
    );
    caller.expect_success();
    switch.wait_metric("switchyard_media_offers_refused_total", |v| v == 1.0);
    switch.wait_metric("switchyard_calls_started_total", |v| v == 0.0);
}

#[test]
fn a_switch_out_of_rtp_ports_answers_503() {
    // One pair; a call needs two.
    let block = free_port_block(4);
    let lo = block + block % 2;
    let switch = SwitchProc::start("media-503", &media_config(lo, lo + 1));
    let caller = carrier(
        &switch,
        "5550100",
        &CARRIER_REFUSED.replace("@STATUS@", "503"),
        &[],
    );
    caller.expect_success();
    switch.wait_metric("switchyard_media_ports_exhausted_total", |v| v == 1.0);
    switch.wait_metric("switchyard_media_port_pairs_free", |v| v == 1.0);
}

#[test]
fn an_answered_call_without_rtp_is_hung_up_on_both_legs_at_the_inactivity_timeout() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("media-timeout", &media_config_timeout(lo, lo + 7, "1s"));
    let agent_port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", agent_port, 200);
    // Both sides answer and send nothing; each waits for the switch's BYE.
    let phone = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    let caller = carrier(&switch, "5550100", CARRIER_ANSWERED_AGENT_HANGS_UP, &[]);
    caller.expect_success();
    phone.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"media_timeout\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_media_timeouts_total", |v| v == 1.0);
    switch.wait_metric("switchyard_media_port_pairs_free", |v| v == 4.0);
}
