//! A phone using SIP outbound (RFC 5626), as phones behind NAT do: it
//! registers with `+sip.instance`, `reg-id` and `Supported: outbound`, and a
//! Contact nobody can reach (its private address). The switch answers with
//! `Require: outbound` and sends the call over the flow the REGISTER came
//! on, the phone's own socket (§5.3), not to the Contact. Its keepalives
//! are answered: STUN over UDP (§4.4.2), a CRLF pong over TCP (§4.4.1);
//! and a TCP flow that closes takes its binding with it.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use switchyard::sip::parse::{HeaderName, Message};

use support::scenarios::CARRIER_ANSWERED_HANGS_UP;
use support::{free_udp_port, test_config, Phone, Sipp, SwitchProc};

/// A response to `req` from the phone, with our tag on a dialog-creating one.
fn respond(phone: &Phone, req: &Message, status: u16, reason: &str) {
    let vias: String = req
        .header_all(&HeaderName::Via)
        .map(|v| format!("Via: {v}\r\n"))
        .collect();
    let to = match req.to().tag() {
        Some(_) => req.to().as_str().to_string(),
        None => format!("{};tag=flowphone", req.to().as_str()),
    };
    let text = format!(
        "SIP/2.0 {status} {reason}\r\n{vias}From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n\
         Contact: <sip:1001@{}>\r\nContent-Length: 0\r\n\r\n",
        req.from().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        phone.addr
    );
    phone.send(text.as_bytes());
}

/// The next request the phone receives (responses skipped).
fn next_request(phone: &Phone) -> Message {
    loop {
        let msg = phone.recv();
        if msg.method().is_some() {
            return msg;
        }
    }
}

#[test]
fn a_phone_registered_with_outbound_is_called_over_its_own_flow() {
    let switch = SwitchProc::start("sip-outbound", &test_config("10s", free_udp_port()));
    let mut phone = Phone::new(switch.sip);
    // Port 9 (discard) on loopback: an INVITE sent to the Contact is lost.
    let contact = "<sip:1001@127.0.0.1:9;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1";
    let ok = phone.register_with(
        "1001",
        "demo-1001",
        contact,
        "Supported: outbound, path\r\n",
        600,
    );
    assert_eq!(ok.status(), Some(200));
    let require: Vec<&str> = ok.header_tokens(&HeaderName::Require).collect();
    assert_eq!(require, vec!["outbound"]);
    let bound = ok.header(&HeaderName::Contact).unwrap_or_default();
    assert!(bound.contains("reg-id=1"), "{bound}");

    let carrier = Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CARRIER_ANSWERED_HANGS_UP)],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    );
    let invite = next_request(&phone);
    assert_eq!(invite.method().map(|m| m.as_str()), Some("INVITE"));
    assert_eq!(
        invite.request_uri().unwrap().as_str(),
        "sip:1001@127.0.0.1:9;ob"
    );
    respond(&phone, &invite, 200, "OK");
    let ack = next_request(&phone);
    assert_eq!(ack.method().map(|m| m.as_str()), Some("ACK"));
    let bye = next_request(&phone);
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    respond(&phone, &bye, 200, "OK");
    carrier.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}

#[test]
fn outbound_keepalives_are_answered_stun_over_udp_and_pong_over_tcp() {
    let switch = SwitchProc::start("sip-keepalive", &test_config("10s", free_udp_port()));
    // RFC 5626 §4.4.2: a STUN Binding request on the SIP port.
    let phone = Phone::new(switch.sip);
    let mut binding = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    binding.extend(1..=12u8);
    phone.send(&binding);
    let answer = phone.recv_raw();
    assert_eq!(
        &answer[0..2],
        &[0x01, 0x01],
        "Binding success: {answer:02x?}"
    );
    assert_eq!(&answer[8..20], &binding[8..20]);
    let port = u16::from_be_bytes([answer[26], answer[27]]) ^ 0x2112;
    assert_eq!(port, phone.addr.port(), "the flow's own port");
    let sip_malformed = "switchyard_sip_malformed_total{action=\"dropped\"}";
    assert_eq!(
        support::metric_value(&switch.metrics(), sip_malformed).unwrap_or(0.0),
        0.0,
        "a keepalive is not a malformed SIP message"
    );

    // RFC 5626 §4.4.1: a double-CRLF ping over TCP gets a CRLF pong.
    let mut tcp = TcpStream::connect(switch.sip).expect("connect");
    tcp.set_read_timeout(Some(support::EVENT_TIMEOUT)).unwrap();
    tcp.write_all(b"\r\n\r\n").unwrap();
    let mut pong = [0u8; 2];
    tcp.read_exact(&mut pong).expect("a pong");
    assert_eq!(&pong, b"\r\n");
}

/// The next SIP message on a TCP stream (keepalive CRLFs skipped).
fn recv_tcp(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Message {
    let deadline = std::time::Instant::now() + support::EVENT_TIMEOUT;
    loop {
        while buf.first().is_some_and(|b| *b == b'\r' || *b == b'\n') {
            buf.remove(0);
        }
        if let Ok(Some(len)) = Message::frame(buf) {
            let frame: Vec<u8> = buf.drain(..len).collect();
            return Message::parse(bytes::Bytes::from(frame)).expect("valid SIP");
        }
        assert!(std::time::Instant::now() < deadline, "nothing over TCP");
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => panic!("the switch closed the connection"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
}

#[test]
fn a_closed_tcp_flow_unregisters_its_binding() {
    let switch = SwitchProc::start("sip-flow-closed", &test_config("10s", free_udp_port()));
    let mut tcp = TcpStream::connect(switch.sip).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let (server, local) = (switch.sip, tcp.local_addr().unwrap());
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKflow{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:1001@{server}>;tag=f1\r\nTo: <sip:1001@{server}>\r\n\
             Call-ID: flow-reg\r\nCSeq: {cseq} REGISTER\r\nSupported: outbound\r\n\
             Contact: <sip:1001@{local};transport=tcp;ob>;+sip.instance=\"<urn:uuid:2>\";reg-id=1\r\n\
             {auth}Content-Length: 0\r\n\r\n"
        )
    };
    let mut buf = Vec::new();
    tcp.write_all(register(1, "").as_bytes()).unwrap();
    let challenge = recv_tcp(&mut tcp, &mut buf);
    assert_eq!(challenge.status(), Some(401));
    let www = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
    let uri = format!("sip:{server}");
    let auth = switchyard::sip::auth::answer_challenge(
        &www,
        "REGISTER",
        &uri,
        "1001",
        "demo-1001",
        1,
        &mut rng,
    )
    .unwrap();
    tcp.write_all(register(2, &format!("Authorization: {auth}\r\n")).as_bytes())
        .unwrap();
    let ok = recv_tcp(&mut tcp, &mut buf);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header_tokens(&HeaderName::Require).collect::<Vec<_>>(),
        vec!["outbound"]
    );
    switch.wait_metric("switchyard_registrations_active", |v| v == 1.0);
    // The phone's connection goes: so does its flow's binding (RFC 5626 §5.3).
    drop(tcp);
    switch.wait_metric("switchyard_registrations_active", |v| v == 0.0);
}
