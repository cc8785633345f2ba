//! DTMF reaches the switch core both ways a phone sends it: RFC 4733
//! telephone-events in the RTP stream (relayed as digits by the media relay)
//! and SIP INFO `application/dtmf-relay`. A queued caller with anchored
//! media types "1", "2" in-band and "#" by INFO; the switch counts three.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use support::{free_port_block, free_udp_port, test_config, Phone, SwitchProc};
use switchyard::media::dtmf::EventPayload;

#[test]
fn rfc4733_and_sip_info_digits_both_arrive() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\n",
        test_config("10s", free_udp_port()),
        lo + 7
    );
    let switch = SwitchProc::start("media-dtmf", &config);
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let mut phone = Phone::new(switch.sip);
    let t = phone.token();
    let (sip, addr) = (switch.sip, phone.addr);
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    );
    let invite = format!(
        "INVITE sip:5550200@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: <sip:5550200@{sip}>\r\nCall-ID: c{t}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{addr}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    phone.send(invite.as_bytes());
    let progress = loop {
        let msg = phone.recv();
        if msg.status() == Some(183) {
            break msg;
        }
    };
    let body = std::str::from_utf8(progress.body()).unwrap();
    assert!(body.contains("telephone-event/8000"), "183 SDP: {body}");
    let m_port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("m=audio port");
    let to_switch: SocketAddr = format!("127.0.0.1:{m_port}").parse().unwrap();

    // "1" and "2", each a start, an update and three end packets (RFC 4733 §2.5.1).
    for (n, (event, ts)) in [(1u8, 8_000u32), (2, 16_000)].into_iter().enumerate() {
        for (k, end) in [(1u16, false), (2, false), (3, true), (3, true), (3, true)] {
            let payload = EventPayload {
                event,
                end,
                volume: 10,
                duration: 160 * k,
            }
            .to_bytes();
            let seq = (n as u16) * 8 + k;
            let mut pkt = vec![0x80, 101];
            pkt.extend_from_slice(&seq.to_be_bytes());
            pkt.extend_from_slice(&ts.to_be_bytes());
            pkt.extend_from_slice(&0xD7u32.to_be_bytes());
            pkt.extend_from_slice(&payload);
            rtp.send_to(&pkt, to_switch).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    switch.wait_metric("switchyard_dtmf_digits_total", |v| v == 2.0);

    // "#" by INFO, inside the early dialog the 183 set up.
    let to = progress.to().as_str().to_string();
    let info_body = "Signal=#\r\nDuration=160\r\n";
    let info = format!(
        "INFO sip:5550200@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t}info;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: {to}\r\nCall-ID: c{t}\r\nCSeq: 2 INFO\r\n\
         Content-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{info_body}",
        info_body.len()
    );
    phone.send(info.as_bytes());
    let answer = loop {
        let msg = phone.recv();
        if msg.cseq().seq == 2 {
            break msg;
        }
    };
    assert_eq!(answer.status(), Some(200));
    switch.wait_metric("switchyard_dtmf_digits_total", |v| v == 3.0);

    let cancel = format!(
        "CANCEL sip:5550200@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: <sip:5550200@{sip}>\r\nCall-ID: c{t}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    );
    phone.send(cancel.as_bytes());
    switch.wait_metric("switchyard_calls_total{outcome=\"abandoned\"}", |v| {
        v == 1.0
    });
}
