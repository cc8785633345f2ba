//! Late offer on an anchored switch: a SIPp carrier sends an INVITE without
//! SDP; the switch's 200 carries its own offer (our address and port), the
//! agent is offered as usual, the carrier answers in the ACK (RFC 3261
//! §13.2.1) and audio then flows both ways through the switch. An ACK
//! without an answer ends the call with BYE on both legs, and is counted.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::scenarios::AGENT_ANSWERS_MEDIA_AT;
use support::{free_port_block, free_udp_port, sipp_register, test_config, Sipp, SwitchProc};
use switchyard::media::g711::{ulaw_decode, ulaw_encode};
use switchyard::media::tone::{tone_present, Sine};

const CALLER_HZ: f64 = 1000.0;
const AGENT_HZ: f64 = 600.0;
/// How long each side talks and listens.
const TALK_FOR: Duration = Duration::from_secs(3);
/// How long the caller listens before it speaks.
const QUIET_FOR: Duration = Duration::from_millis(1500);

const ACK_ANSWER: &str = "      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio @CALLER_RTP@ RTP/AVP 0
      a=rtpmap:0 PCMU/8000
";

const ACK_EMPTY: &str = "      Content-Length: 0
";

const TALK_THEN_BYE: &str = r#"
  <pause milliseconds="3500"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#;

const GETS_BYE: &str = r#"
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#;

fn media_config(lo: u16) -> String {
    format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\n",
        test_config("10s", free_udp_port()),
        lo + 7
    )
}

/// Agent 1001 registers and answers with audio at `rtp_port`; its INVITE's
/// SDP must name the switch's agent-side pair (the second one taken).
fn agent(switch: &SwitchProc, lo: u16, rtp_port: u16) -> Sipp {
    let agent_port = free_udp_port();
    let re = format!("c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio {} RTP/AVP 0", lo + 2);
    let sipp = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", AGENT_ANSWERS_MEDIA_AT),
            ("@MEDIA_RE@", &re),
            ("@AGENT_RTP@", &rtp_port.to_string()),
        ],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    sipp_register(&switch.dir, switch, "1001", "demo-1001", agent_port, 200);
    sipp
}

/// The carrier calls 5550100 (agent 1001) without SDP; our offer in the
/// 200 must name the caller-side pair with every codec we speak.
fn carrier(switch: &SwitchProc, lo: u16, ack_body: &str, after_ack: &str) -> Sipp {
    let re = format!("c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio {lo} RTP/AVP 0 8 111 101");
    Sipp::start(
        &switch.dir,
        "carrier_late_offer.xml",
        &[
            ("@MEDIA_RE@", &re),
            ("@ACK_BODY@", ack_body),
            ("@AFTER_ACK@", after_ack),
        ],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    )
}

/// Speaks a PCMU tone from `sock` to `to`, after keeping quiet for
/// `quiet_for`, and returns what `sock` hears meanwhile (decoded): while
/// quiet, and in all.
fn talk_and_listen(
    sock: UdpSocket,
    to: SocketAddr,
    hz: f64,
    quiet_for: Duration,
) -> JoinHandle<(Vec<i16>, Vec<i16>)> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let mut sine = Sine::new(hz, 8000, 0.3);
        let mut pcm = [0i16; 160];
        let mut heard = Vec::new();
        let mut heard_quiet = Vec::new();
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        let mut next_send = start + quiet_for;
        let mut n: u32 = 0;
        while start.elapsed() < TALK_FOR {
            if Instant::now() >= next_send {
                sine.fill(&mut pcm);
                let mut pkt = vec![0x80, 0];
                pkt.extend_from_slice(&(n as u16).to_be_bytes());
                pkt.extend_from_slice(&(n * 160).to_be_bytes());
                pkt.extend_from_slice(&(0x5000 + hz as u32).to_be_bytes());
                pkt.extend(pcm.iter().map(|&s| ulaw_encode(s)));
                let _ = sock.send_to(&pkt, to);
                n += 1;
                next_send += Duration::from_millis(20);
            }
            if let Ok((len, _)) = sock.recv_from(&mut buf) {
                if len > 12 {
                    let pcm = buf[12..len].iter().map(|&c| ulaw_decode(c));
                    if start.elapsed() < quiet_for {
                        heard_quiet.extend(pcm.clone());
                    }
                    heard.extend(pcm);
                }
            }
        }
        (heard_quiet, heard)
    })
}

#[test]
fn an_offerless_invite_gets_our_offer_and_its_ack_answer_carries_audio_both_ways() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("media-late-offer", &media_config(lo));
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let caller_port = caller_rtp.local_addr().unwrap().port().to_string();
    let agent_port = agent_rtp.local_addr().unwrap().port();
    let agent = agent(&switch, lo, agent_port);
    let ack = ACK_ANSWER.replace("@CALLER_RTP@", &caller_port);
    let caller = carrier(&switch, lo, &ack, TALK_THEN_BYE);
    let switch_a: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let switch_b: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    // The caller keeps quiet at first: what it hears then reached it only
    // through the address its ACK answered with (no packet to latch on).
    let caller_ears = talk_and_listen(caller_rtp, switch_a, CALLER_HZ, QUIET_FOR);
    let agent_ears = talk_and_listen(agent_rtp, switch_b, AGENT_HZ, Duration::ZERO);
    let ((caller_quiet, caller_heard), (_, agent_heard)) =
        (caller_ears.join().unwrap(), agent_ears.join().unwrap());
    caller.expect_success();
    agent.expect_success();
    assert!(
        caller_heard.len() > 160 * 30,
        "the caller heard {} samples",
        caller_heard.len()
    );
    assert!(
        agent_heard.len() > 160 * 30,
        "the agent heard {} samples",
        agent_heard.len()
    );
    assert!(
        caller_quiet.len() > 160 * 10 && tone_present(&caller_quiet, AGENT_HZ, 8000),
        "before speaking, the caller did not hear the agent at its ACK's address ({} samples)",
        caller_quiet.len()
    );
    assert!(
        tone_present(&caller_heard, AGENT_HZ, 8000),
        "the caller does not hear the agent"
    );
    assert!(
        tone_present(&agent_heard, CALLER_HZ, 8000),
        "the agent does not hear the caller"
    );
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_media_late_answers_refused_total", |v| v == 0.0);
}

#[test]
fn an_ack_without_an_answer_to_our_offer_hangs_up_both_legs_and_is_counted() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("media-late-offer-no-answer", &media_config(lo));
    let agent_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent = agent(&switch, lo, agent_rtp.local_addr().unwrap().port());
    let caller = carrier(&switch, lo, ACK_EMPTY, GETS_BYE);
    // Both scenarios end only once the switch sent each its BYE.
    caller.expect_success();
    agent.expect_success();
    switch.wait_metric("switchyard_media_late_answers_refused_total", |v| v == 1.0);
    switch.wait_metric("switchyard_calls_total{outcome=\"media_timeout\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_media_port_pairs_free", |v| v == 4.0);
}
