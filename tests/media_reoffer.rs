//! A re-offer that drops the caller's codec (RFC 3264 §8.3.2): the caller
//! starts in PCMU, then re-INVITEs offering PCMA only. The switch answers
//! PCMA, its `o=` version one up, and the relay follows: the agent, still
//! in PCMU, keeps hearing the caller's tone (Goertzel), now transcoded,
//! with no packet dropped.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use support::{
    assert_no_rtp_drops, free_port_block, free_udp_port, rtp_heard, send_tone, sipp_media_agent,
    test_config, MediaCaller, SwitchProc,
};
use switchyard::media::g711::{alaw_encode, ulaw_decode};
use switchyard::media::tone::{tone_present, Sine};

/// Sends a PCMA (payload type 8) sine from `sock` to `to`, 20 ms a packet.
fn send_alaw_tone(sock: &UdpSocket, to: SocketAddr, freq_hz: f64, for_how_long: Duration) {
    let mut sine = Sine::new(freq_hz, 8000, 0.3);
    let mut pcm = [0i16; 160];
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < for_how_long {
        sine.fill(&mut pcm);
        let mut pkt = vec![0x80, 8];
        pkt.extend_from_slice(&(n as u16).to_be_bytes());
        pkt.extend_from_slice(&n.wrapping_mul(160).to_be_bytes());
        pkt.extend_from_slice(&0xA1A1_0001u32.to_be_bytes());
        pkt.extend(pcm.iter().map(|&s| alaw_encode(s)));
        let _ = sock.send_to(&pkt, to);
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the agent's PCMU packets carry a 1 kHz tone.
fn agent_hears_tone(packets: &[Vec<u8>]) -> bool {
    let pcm: Vec<i16> = packets
        .iter()
        .filter(|p| p[1] & 0x7f == 0)
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    tone_present(&pcm, 1000.0, 8000)
}

#[test]
fn a_reoffer_dropping_the_callers_codec_is_answered_in_the_new_one_and_the_relay_follows() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\n",
        test_config("10s", free_udp_port()),
        lo + 7,
        prompts.display()
    );
    let switch = SwitchProc::start("media-reoffer", &config);
    let (agent, agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {} RTP/AVP 0", lo + 2));
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let first = String::from_utf8(ok.body().to_vec()).unwrap();
    assert!(
        first.contains(&format!("m=audio {lo} RTP/AVP 0\r\n")),
        "{first}"
    );
    let to_switch: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let talker = caller.rtp.try_clone().unwrap();
    send_tone(&talker, to_switch, 1000.0, Duration::from_millis(200));
    let talker_thread = {
        let talker = talker.try_clone().unwrap();
        std::thread::spawn(move || send_tone(&talker, to_switch, 1000.0, Duration::from_secs(1)))
    };
    assert!(
        agent_hears_tone(&rtp_heard(&agent_rtp, Duration::from_millis(900))),
        "the agent hears the caller in PCMU"
    );
    talker_thread.join().unwrap();

    // The caller now offers PCMA only.
    let port = caller.rtp.local_addr().unwrap().port();
    let pcma = format!(
        "v=0\r\no=caller 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"
    );
    let moved = caller.reinvite_with(&pcma);
    let answer = String::from_utf8(moved.body().to_vec()).unwrap();
    assert!(
        answer.contains(&format!("m=audio {lo} RTP/AVP 8\r\n")),
        "{answer}"
    );
    let version = |sdp: &str| {
        let o = sdp
            .lines()
            .find(|l| l.starts_with("o=switchyard "))
            .unwrap();
        o.split(' ').nth(2).unwrap().parse::<u64>().unwrap()
    };
    assert_eq!(version(&answer), version(&first) + 1, "{answer}");

    let talker_thread = std::thread::spawn(move || {
        send_alaw_tone(&talker, to_switch, 1000.0, Duration::from_millis(2500))
    });
    // The first packets after the switch-over may still be on their way.
    let _settle = rtp_heard(&agent_rtp, Duration::from_millis(300));
    assert!(
        agent_hears_tone(&rtp_heard(&agent_rtp, Duration::from_millis(1500))),
        "the agent hears the caller's PCMA, transcoded to its PCMU"
    );
    talker_thread.join().unwrap();
    caller.bye();
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    assert_no_rtp_drops(&switch);
}
