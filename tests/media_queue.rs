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

use std::collections::HashSet;
use std::net::SocketAddr;

use support::scenarios::AGENT_ANSWERS_MEDIA_AT;
use support::{
    free_port_block, free_udp_port, sipp_register, test_config, Phone, Sipp, SwitchProc,
};
use switchyard::media::g711::{ulaw_decode, ulaw_encode};
use switchyard::media::prompts::Prompt;
use switchyard::media::sdp::Codec;
use switchyard::media::tone::{tone_present, Sine};

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

/// The queue config with media, prompts from the repository.
fn queue_config(lo: u16) -> String {
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\nannounce_every = \"30s\"\n",
        test_config("10s", free_udp_port()),
        lo + 7,
        prompts.display()
    )
}

/// Sends a 1 kHz PCMU tone from `sock` to `to` for `for_how_long`.
fn send_tone(sock: UdpSocket, to: SocketAddr, for_how_long: Duration) {
    let mut sine = Sine::new(1000.0, 8000, 0.3);
    let mut pcm = [0i16; 160];
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < for_how_long {
        sine.fill(&mut pcm);
        let mut pkt = vec![0x80, 0];
        pkt.extend_from_slice(&(n as u16).to_be_bytes());
        pkt.extend_from_slice(&(n * 160).to_be_bytes());
        pkt.extend_from_slice(&0xA6E7u32.to_be_bytes());
        pkt.extend(pcm.iter().map(|&s| ulaw_encode(s)));
        let _ = sock.send_to(&pkt, to);
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn when_an_agent_answers_the_queued_caller_hears_it_on_the_same_continuous_stream() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("media-queue-answer", &queue_config(lo));
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let mut phone = Phone::new(switch.sip);
    let t = phone.token();
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let (sip, addr) = (switch.sip, phone.addr);
    let invite = format!(
        "INVITE sip:5550200@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: <sip:5550200@{sip}>\r\nCall-ID: c{t}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{addr}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    phone.send(invite.as_bytes());
    while phone.recv().status() != Some(183) {}

    // The caller listens throughout, on its own thread.
    let listener = rtp.try_clone().unwrap();
    let heard = std::thread::spawn(move || {
        listener
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(6);
        let mut buf = [0u8; 2048];
        let mut packets = Vec::new();
        while Instant::now() < deadline {
            if let Ok((n, _)) = listener.recv_from(&mut buf) {
                packets.push(buf[..n].to_vec());
            }
        }
        packets
    });
    std::thread::sleep(Duration::from_millis(1500));

    // Agent 1001 comes on line; its audio socket speaks a tone to the
    // switch's agent-side pair (the second pair taken: after the caller's).
    let agent_port = free_udp_port();
    let agent_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent_rtp_port = agent_rtp.local_addr().unwrap().port().to_string();
    let re = format!("c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio {} RTP/AVP 0", lo + 2);
    let agent = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", AGENT_ANSWERS_MEDIA_AT),
            ("@MEDIA_RE@", &re),
            ("@AGENT_RTP@", &agent_rtp_port),
        ],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    let to_switch: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let talker =
        std::thread::spawn(move || send_tone(agent_rtp, to_switch, Duration::from_secs(5)));
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", agent_port, 200);

    let ok = loop {
        let msg = phone.recv();
        if msg.status() == Some(200) {
            break msg;
        }
    };
    let to = ok.to().as_str().to_string();
    let ack = format!(
        "ACK sip:5550200@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t}ack;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: {to}\r\nCall-ID: c{t}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    phone.send(ack.as_bytes());
    let packets = heard.join().unwrap();
    talker.join().unwrap();

    // Prompt frames first, then the agent's tone, on one stream.
    let mut prompt_frames = HashSet::new();
    for name in ["caller_number", "n1", "hold_music"] {
        let p = prompt(name);
        for i in 0..p.frames() {
            prompt_frames.insert(p.frame(Codec::Pcmu, i).unwrap().to_vec());
        }
    }
    let first_agent = packets
        .iter()
        .position(|p| !prompt_frames.contains(&p[12..]))
        .expect("the agent was never heard");
    assert!(
        first_agent > 20,
        "prompts were heard before the agent ({first_agent} packets)"
    );
    let (before, after) = (&packets[first_agent - 1], &packets[first_agent]);
    let seq = |p: &Vec<u8>| u16::from_be_bytes([p[2], p[3]]);
    let ts = |p: &Vec<u8>| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    assert_eq!(&before[8..12], &after[8..12], "SSRC kept across the switch");
    assert_eq!(
        seq(after),
        seq(before).wrapping_add(1),
        "sequence continues"
    );
    // One frame on, or the frames the switch-over took (RFC 3550 §5.1:
    // the timestamp follows the clock).
    let step = ts(after).wrapping_sub(ts(before));
    assert!(
        step % 160 == 0 && (160..=160 * 5).contains(&step),
        "timestamp continues by whole frames: {step}"
    );
    assert_eq!(
        after[1] & 0x80,
        0x80,
        "marker set on the new source's first packet"
    );
    let pcm: Vec<i16> = packets[first_agent..]
        .iter()
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    assert!(
        tone_present(&pcm, 1000.0, 8000),
        "the agent's tone is not what the caller hears"
    );

    let bye = format!(
        "BYE sip:5550200@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t}bye;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: {to}\r\nCall-ID: c{t}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    phone.send(bye.as_bytes());
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}
