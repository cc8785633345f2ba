//! A caller waiting in a queue, with media anchored: it gets 183 Session
//! Progress with our SDP (early media) and hears "you are caller number 1"
//! then the queue music, frame for frame as the prompts hold them, on one
//! RTP stream (one SSRC, rising sequence numbers).

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{free_port_block, free_udp_port, test_config, Phone, SwitchProc};
use switchyard::media::prompts::Prompt;
use switchyard::media::sdp::Codec;

/// How long the caller listens: the "caller number" prompt and some music.
const LISTEN_FOR: Duration = Duration::from_secs(4);

fn prompt(name: &str) -> Prompt {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("prompts/{name}.wav"));
    Prompt::from_wav(name, &std::fs::read(path).expect("prompt file")).expect("prompt decodes")
}

/// How many of `prompt`'s PCMU frames are among `payloads`.
fn frames_heard(prompt: &Prompt, payloads: &[Vec<u8>]) -> usize {
    (0..prompt.frames())
        .filter(|&i| {
            let frame = prompt.frame(Codec::Pcmu, i).expect("PCMU frame");
            payloads.iter().any(|p| p.as_slice() == frame)
        })
        .count()
}

#[test]
fn a_queued_caller_hears_its_position_then_the_music_as_early_media() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\nqueue_music = \"hold_music\"\nannounce_every = \"30s\"\n",
        test_config("10s", free_udp_port()),
        lo + 7,
        prompts.display()
    );
    let switch = SwitchProc::start("media-queue", &config);
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let mut phone = Phone::new(switch.sip);
    let t = phone.token();
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let head = |method: &str| {
        format!(
            "{method} sip:5550200@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: <sip:5550200@{sip}>\r\nCall-ID: c{t}\r\nCSeq: 1 {method}\r\n",
            sip = switch.sip,
            addr = phone.addr
        )
    };
    let invite = format!(
        "{}Contact: <sip:caller@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE"),
        phone.addr,
        sdp.len()
    );
    phone.send(invite.as_bytes());
    let progress = loop {
        let msg = phone.recv();
        if msg.status() == Some(183) {
            break msg;
        }
        assert_eq!(msg.status(), Some(100), "queued caller gets 100 then 183");
    };
    let body = std::str::from_utf8(progress.body()).unwrap().to_string();
    assert!(body.contains("c=IN IP4 127.0.0.1"), "183 SDP: {body}");
    let m_port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("m=audio port");
    assert!(
        (lo..lo + 7).contains(&m_port),
        "183 SDP names port {m_port}"
    );

    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + LISTEN_FOR;
    let mut buf = [0u8; 2048];
    let mut packets = Vec::new();
    while Instant::now() < deadline {
        if let Ok((n, from)) = rtp.recv_from(&mut buf) {
            assert_eq!(from.port(), m_port, "RTP comes from the port our SDP named");
            packets.push(buf[..n].to_vec());
        }
    }
    assert!(
        packets.len() > 100,
        "only {} RTP packets in {LISTEN_FOR:?}",
        packets.len()
    );
    let ssrc = &packets[0][8..12];
    let mut last_seq = None;
    for p in &packets {
        assert_eq!(p[1] & 0x7f, 0, "PCMU");
        assert_eq!(&p[8..12], ssrc, "one SSRC for the whole stream");
        let seq = u16::from_be_bytes([p[2], p[3]]);
        if let Some(last) = last_seq {
            assert!(
                seq.wrapping_sub(last) as i16 > 0,
                "sequence rises: {last} then {seq}"
            );
        }
        last_seq = Some(seq);
    }
    let payloads: Vec<Vec<u8>> = packets.iter().map(|p| p[12..].to_vec()).collect();
    let caller_number = prompt("caller_number");
    let heard = frames_heard(&caller_number, &payloads);
    assert!(
        heard * 10 >= caller_number.frames() * 9,
        "heard {heard} of {} frames of \"caller number\"",
        caller_number.frames()
    );
    assert!(
        frames_heard(&prompt("n1"), &payloads) > 0,
        "\"one\" was not said"
    );
    assert!(
        frames_heard(&prompt("hold_music"), &payloads) > 0,
        "no music after the announcement"
    );

    // The caller gives up: CANCEL, 487, ACK.
    phone.send(format!("{}Content-Length: 0\r\n\r\n", head("CANCEL")).as_bytes());
    let final_status = phone.recv_final();
    let mut statuses = vec![final_status.status()];
    if final_status.status() == Some(200) {
        statuses.push(phone.recv_final().status());
    }
    assert!(statuses.contains(&Some(487)), "statuses {statuses:?}");
    switch.wait_metric("switchyard_calls_total{outcome=\"abandoned\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_media_port_pairs_free", |v| v == 4.0);
}
