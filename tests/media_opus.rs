//! Transcoding through the whole switch: a carrier's caller offers Opus
//! only, agent 1001 (SIPp) answers PCMU only. The switch answers the caller
//! in Opus and transcodes: the caller's 1 kHz Opus tone reaches the agent as
//! PCMU, the agent's 600 Hz PCMU tone reaches the caller as Opus (48 kHz RTP
//! clock), both checked with Goertzel after decoding.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use support::{
    free_port_block, free_udp_port, rtp_heard, send_tone, sipp_media_agent, test_config, Phone,
    SwitchProc,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::media::sdp::Codec;
use switchyard::media::tone::{tone_present, Sine};
use switchyard::media::transcode::{Transcoder, OPUS_PACKET_BYTES_MAX};

const OPUS_PT: u8 = 111;

/// Sends 1 kHz as Opus (20 ms frames, 48 kHz timestamps) for `packets` frames.
fn send_opus_tone(sock: &UdpSocket, to: SocketAddr, packets: u16) {
    let mut encoder = Transcoder::new(Codec::Pcmu, Codec::Opus).unwrap();
    let mut sine = Sine::new(1000.0, 8000, 0.3);
    for n in 0..packets {
        let mut pcm = [0i16; 160];
        sine.fill(&mut pcm);
        let mut frame = [0u8; OPUS_PACKET_BYTES_MAX];
        let len = encoder.encode_pcm(&pcm, &mut frame).unwrap();
        let mut pkt = vec![0x80, OPUS_PT];
        pkt.extend_from_slice(&n.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(n) * 960).to_be_bytes());
        pkt.extend_from_slice(&0x0905u32.to_be_bytes());
        pkt.extend_from_slice(&frame[..len]);
        let _ = sock.send_to(&pkt, to);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_opus_caller_and_a_pcmu_agent_hear_each_others_tones() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\n",
        test_config("10s", free_udp_port()),
        lo + 7
    );
    let switch = SwitchProc::start("media-opus", &config);
    // The agent is offered Opus first (the caller's codec) and PCMU too.
    let (agent, agent_rtp) = sipp_media_agent(
        &switch,
        "1001",
        &format!("m=audio {} RTP/AVP 111 0", lo + 2),
    );

    let mut phone = Phone::new(switch.sip);
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = caller_rtp.local_addr().unwrap().port();
    let t = phone.token();
    let (sip, addr) = (switch.sip, phone.addr);
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {OPUS_PT}\r\na=rtpmap:{OPUS_PT} opus/48000/2\r\n"
    );
    let head = |method: &str, cseq: u32, to: &str| {
        format!(
            "{method} sip:5550100@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t}{method}{cseq};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: {to}\r\nCall-ID: c{t}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:caller@{addr}>\r\n"
        )
    };
    let to = format!("<sip:5550100@{sip}>");
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", 1, &to),
        sdp.len()
    );
    phone.send(invite.as_bytes());
    let ok = loop {
        let msg = phone.recv();
        if msg.status() == Some(200) {
            break msg;
        }
    };
    let answer = std::str::from_utf8(ok.body()).unwrap().to_string();
    assert!(
        answer.contains(&format!("m=audio {lo} RTP/AVP {OPUS_PT}")),
        "the caller is answered in Opus on the switch's port: {answer}"
    );
    let dialog_to = ok.to().as_str().to_string();
    phone.send(format!("{}Content-Length: 0\r\n\r\n", head("ACK", 1, &dialog_to)).as_bytes());

    let caller_leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let agent_leg: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let caller_sock = caller_rtp.try_clone().unwrap();
    let caller_talks = std::thread::spawn(move || send_opus_tone(&caller_sock, caller_leg, 100));
    let agent_sock = agent_rtp.try_clone().unwrap();
    let agent_talks = std::thread::spawn(move || {
        send_tone(&agent_sock, agent_leg, 600.0, Duration::from_secs(2))
    });

    // The agent gets PCMU carrying the caller's 1 kHz.
    let at_agent = rtp_heard(&agent_rtp, Duration::from_millis(1500));
    assert!(
        at_agent.len() > 30,
        "{} packets at the agent",
        at_agent.len()
    );
    assert!(
        at_agent.iter().all(|p| p[1] & 0x7f == 0),
        "PCMU towards the agent"
    );
    let pcm: Vec<i16> = at_agent
        .iter()
        .skip(10)
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)).collect::<Vec<_>>())
        .collect();
    assert!(
        tone_present(&pcm, 1000.0, 8000),
        "the agent hears the Opus caller"
    );

    // The caller gets Opus at 48 kHz carrying the agent's 600 Hz.
    let at_caller = rtp_heard(&caller_rtp, Duration::from_millis(1000));
    assert!(
        at_caller.len() > 20,
        "{} packets at the caller",
        at_caller.len()
    );
    let mut decoder = Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap();
    let mut heard = Vec::new();
    for p in &at_caller {
        assert_eq!(p[1] & 0x7f, OPUS_PT, "Opus towards the caller");
        heard.extend_from_slice(decoder.decode(&p[12..]).unwrap());
    }
    let stamps: Vec<u32> = at_caller
        .iter()
        .map(|p| u32::from_be_bytes([p[4], p[5], p[6], p[7]]))
        .collect();
    assert!(
        stamps
            .windows(2)
            .filter(|w| w[1].wrapping_sub(w[0]) == 960)
            .count()
            > stamps.len() / 2,
        "Opus timestamps step 960 per 20 ms: {stamps:?}"
    );
    assert!(
        tone_present(&heard[heard.len() / 2..], 600.0, 8000),
        "the caller hears the PCMU agent"
    );

    caller_talks.join().unwrap();
    agent_talks.join().unwrap();
    phone.send(format!("{}Content-Length: 0\r\n\r\n", head("BYE", 2, &dialog_to)).as_bytes());
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}
