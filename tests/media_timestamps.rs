//! RTP timestamps follow the clock across a change of what a caller hears
//! (RFC 3550 §5.1: the timestamp increments monotonically and linearly in
//! time). A menu caller hears the prompt, presses 2, and the agent starts
//! talking two seconds later: the first packet of the agent's audio must
//! carry a timestamp about two seconds (16 000 ticks) after the prompt's
//! last one, with the marker bit. A timestamp that went on one frame
//! (160 ticks) instead made linphone's jitter buffer take the silence for
//! two seconds of delay, grow to half a second and drop the agent's first
//! words (tests/linphone.rs's menu call).

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use support::{
    free_port_block, free_udp_port, send_tone, sipp_media_agent, test_config, Phone, SwitchProc,
};
use switchyard::media::dtmf::EventPayload;

/// How long the agent stays silent after it answered.
const AGENT_SILENT_FOR: Duration = Duration::from_secs(2);

/// One RTP packet as the caller received it.
struct Heard {
    at: Instant,
    timestamp: u32,
    marker: bool,
}

#[test]
fn after_a_silent_gap_the_agents_audio_carries_a_timestamp_that_followed_the_clock() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let base = test_config("10s", free_udp_port())
        .replace("[dids]\n", "[dids]\n\"5550400\" = { menu = \"main\" }\n");
    let config = format!(
        "{base}\n[[menus]]\nname = \"main\"\nprompt = \"menu_main\"\n\
         options = {{ \"2\" = \"queue:sales\" }}\ntimeout = \"10s\"\nretries = 2\n\
         [media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\n",
        lo + 7,
        prompts.display()
    );
    let switch = SwitchProc::start("media-timestamps", &config);
    let agent_leg = lo + 2;
    let (agent, agent_rtp) =
        sipp_media_agent(&switch, "1003", &format!("m=audio {agent_leg} RTP/AVP"));

    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let port = rtp.local_addr().unwrap().port();
    let mut phone = Phone::new(switch.sip);
    let t = phone.token();
    let (sip, addr) = (switch.sip, phone.addr);
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    );
    let invite = format!(
        "INVITE sip:5550400@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: <sip:5550400@{sip}>\r\nCall-ID: c{t}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{addr}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    phone.send(invite.as_bytes());
    let to_switch: SocketAddr = loop {
        let msg = phone.recv();
        if msg.status() == Some(183) {
            let body = std::str::from_utf8(msg.body()).unwrap();
            let port = body
                .lines()
                .find_map(|l| l.strip_prefix("m=audio "))
                .and_then(|l| l.split(' ').next())
                .expect("m=audio port");
            break format!("127.0.0.1:{port}").parse().unwrap();
        }
    };

    let start = Instant::now();
    let mut heard = Vec::new();
    let mut buf = [0u8; 2048];
    let mut pressed = false;
    let mut talker = None;
    // The prompt for a second, the digit, the agent's silence, its tone.
    while start.elapsed() < Duration::from_secs(1) + AGENT_SILENT_FOR + Duration::from_secs(2) {
        if let Ok((n, _)) = rtp.recv_from(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 0 {
                heard.push(Heard {
                    at: Instant::now(),
                    timestamp: u32::from_be_bytes(buf[4..8].try_into().unwrap()),
                    marker: buf[1] & 0x80 != 0,
                });
            }
        }
        if !pressed && start.elapsed() > Duration::from_secs(1) {
            pressed = true;
            for (k, end) in [(1u16, false), (2, false), (3, true), (3, true), (3, true)] {
                let payload = EventPayload {
                    event: 2,
                    end,
                    volume: 10,
                    duration: 160 * k,
                }
                .to_bytes();
                let mut pkt = vec![0x80, 101];
                pkt.extend_from_slice(&k.to_be_bytes());
                pkt.extend_from_slice(&8_000u32.to_be_bytes());
                pkt.extend_from_slice(&0xD7u32.to_be_bytes());
                pkt.extend_from_slice(&payload);
                rtp.send_to(&pkt, to_switch).unwrap();
            }
        }
        if talker.is_none() && start.elapsed() > Duration::from_secs(1) + AGENT_SILENT_FOR {
            let sock = agent_rtp.try_clone().unwrap();
            let to: SocketAddr = format!("127.0.0.1:{agent_leg}").parse().unwrap();
            talker = Some(std::thread::spawn(move || {
                send_tone(&sock, to, 1000.0, Duration::from_secs(1))
            }));
        }
    }
    talker.expect("the agent talked").join().unwrap();
    drop(agent);

    // The longest silence the caller heard, and the timestamps around it.
    let (gap, before, after) = heard
        .windows(2)
        .map(|w| (w[1].at - w[0].at, &w[0], &w[1]))
        .max_by_key(|(gap, _, _)| *gap)
        .expect("packets heard");
    assert!(gap >= Duration::from_secs(1), "a silent gap: {gap:?}");
    assert!(after.marker, "the agent's audio starts a talkspurt");
    let ticks = after.timestamp.wrapping_sub(before.timestamp);
    let expected = (gap.as_secs_f64() * 8000.0) as u32;
    eprintln!("a gap of {gap:?}: the timestamp moved {ticks} ticks (the clock {expected})");
    assert!(
        ticks + 1_600 >= expected && ticks <= expected + 1_600,
        "after {gap:?} of silence the timestamp moved {ticks} ticks, not about {expected}"
    );
}
