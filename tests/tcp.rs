//! SIP over TCP: Content-Length framing, answers on the same connection,
//! requests to a phone that registered over TCP go down its connection, and a
//! stream that cannot be framed is closed.

// A real socket with a bounded wait: the test is a driver.
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use support::{free_udp_port, test_config, SwitchProc, EVENT_TIMEOUT};
use switchyard::sip::parse::{HeaderName, Message};

struct TcpPhone {
    stream: TcpStream,
    buf: BytesMut,
}

impl TcpPhone {
    fn connect(switch: &SwitchProc) -> TcpPhone {
        let stream = TcpStream::connect(switch.sip).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        TcpPhone {
            stream,
            buf: BytesMut::new(),
        }
    }

    fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).unwrap();
    }

    /// The next framed message, or `None` when the switch closed the stream.
    fn recv(&mut self) -> Option<Message> {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            if let Ok(Some(len)) = Message::frame(&self.buf) {
                let frame: Bytes = self.buf.split_to(len).freeze();
                return Some(Message::parse(frame).expect("the switch sends valid SIP"));
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return None,
            }
            assert!(
                Instant::now() < deadline,
                "nothing from the switch over TCP"
            );
            while self.buf.first() == Some(&b'\r') || self.buf.first() == Some(&b'\n') {
                self.buf.advance(1);
            }
        }
    }

    fn local(&self) -> std::net::SocketAddr {
        self.stream.local_addr().unwrap()
    }
}

fn options(phone: &TcpPhone, branch: &str) -> String {
    format!(
        "OPTIONS sip:{s} SIP/2.0\r\nVia: SIP/2.0/TCP {a};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
         From: <sip:x@{a}>;tag=1\r\nTo: <sip:{s}>\r\nCall-ID: tcp-{branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        s = phone.stream.peer_addr().unwrap(),
        a = phone.local()
    )
}

#[test]
fn two_requests_in_one_segment_get_two_answers_on_the_same_connection() {
    let switch = SwitchProc::start("tcp-frames", &test_config("10s", free_udp_port()));
    let mut phone = TcpPhone::connect(&switch);
    let both = options(&phone, "one") + &options(&phone, "two");
    phone.send(&both);
    let first = phone.recv().expect("first answer");
    let second = phone.recv().expect("second answer");
    assert_eq!((first.status(), first.call_id()), (Some(200), "tcp-one"));
    assert_eq!((second.status(), second.call_id()), (Some(200), "tcp-two"));
}

#[test]
fn unframeable_stream_is_closed() {
    let switch = SwitchProc::start("tcp-close", &test_config("10s", free_udp_port()));
    let mut phone = TcpPhone::connect(&switch);
    // No Content-Length: on a stream there is no way to find the next message.
    let text = options(&phone, "bad").replace("Content-Length: 0\r\n", "");
    phone.send(&text);
    assert!(phone.recv().is_none(), "the connection is closed");
    switch.wait_metric("switchyard_tcp_framing_errors_total", |v| v == 1.0);
}

#[test]
fn phone_registered_over_tcp_is_called_over_its_connection() {
    let switch = SwitchProc::start("tcp-register", &test_config("10s", free_udp_port()));
    let mut phone = TcpPhone::connect(&switch);
    let server = switch.sip;
    let local = phone.local();
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKreg{cseq}\r\nMax-Forwards: 70\r\n\
             From: <sip:1001@{server}>;tag=r1\r\nTo: <sip:1001@{server}>\r\nCall-ID: tcp-reg\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:1001@{local};transport=tcp>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    phone.send(&register(1, ""));
    let challenge = phone.recv().unwrap();
    assert_eq!(challenge.status(), Some(401));
    let value = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    let uri = format!("sip:{server}");
    let answer = switchyard::sip::auth::answer_challenge(
        &value,
        "REGISTER",
        &uri,
        "1001",
        "demo-1001",
        1,
        &mut rng,
    )
    .unwrap();
    phone.send(&register(2, &format!("Authorization: {answer}\r\n")));
    assert_eq!(phone.recv().unwrap().status(), Some(200));

    // A carrier call over UDP reaches the phone down its TCP connection.
    let mut carrier = support::Phone::new(switch.sip);
    let invite = carrier.request(
        "INVITE",
        &format!("sip:5550100@{}", switch.sip),
        "customer",
        "",
    );
    carrier.send(invite.as_bytes());
    let offer = phone.recv().expect("INVITE over TCP");
    assert_eq!(offer.method().map(|m| m.as_str()), Some("INVITE"));
    assert_eq!(offer.vias()[0].transport(), "TCP");
}

#[test]
fn an_oversized_request_gets_413_then_the_connection_closes() {
    let switch = SwitchProc::start("tcp-oversized", &test_config("10s", free_udp_port()));
    let mut phone = TcpPhone::connect(&switch);
    // A head announcing a body over the 65 535-byte limit: refused as
    // soon as the head is read, before any of the body is buffered.
    let text = options(&phone, "big").replace("Content-Length: 0", "Content-Length: 70000");
    phone.send(&text);
    phone.send(&"x".repeat(1000));
    let answer = phone.recv().expect("an answer before the close");
    assert_eq!((answer.status(), answer.call_id()), (Some(413), "tcp-big"));
    assert_eq!(answer.header(&HeaderName::Server), Some("switchyard"));
    assert!(phone.recv().is_none(), "the connection is closed");
    switch.wait_metric("switchyard_tcp_oversized_total", |v| v == 1.0);
    switch.wait_metric("switchyard_tcp_framing_errors_total", |v| v == 0.0);
}
