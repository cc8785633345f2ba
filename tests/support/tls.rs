//! A phone speaking SIP over TLS (rustls, trusting the switch's
//! self-signed certificate), for the TLS and SRTP wire tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use switchyard::sip::parse::{HeaderName, Message};

use super::{SwitchProc, EVENT_TIMEOUT};

/// A phone speaking SIP over a rustls client connection that trusts the
/// switch's self-signed certificate.
pub struct TlsPhone {
    pub stream: StreamOwned<ClientConnection, TcpStream>,
    buf: BytesMut,
    pub local: SocketAddr,
}

impl TlsPhone {
    pub fn connect(switch: &SwitchProc) -> TlsPhone {
        let cert = std::fs::read(switch.dir.join("switchyard-tls.crt")).expect("self-signed cert");
        let mut roots = RootCertStore::empty();
        for c in rustls::pki_types::pem::PemObject::pem_slice_iter(&cert) {
            let c: CertificateDer<'static> = c.expect("PEM");
            roots.add(c).expect("a usable root");
        }
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(switch.tls.expect("a TLS listener")).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = tcp.local_addr().unwrap();
        TlsPhone {
            stream: StreamOwned::new(conn, tcp),
            buf: BytesMut::new(),
            local,
        }
    }

    pub fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).unwrap();
        self.stream.flush().unwrap();
    }

    /// The next framed message, or `None` when the switch closed the stream.
    pub fn recv(&mut self) -> Option<Message> {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            while self.buf.first() == Some(&b'\r') || self.buf.first() == Some(&b'\n') {
                self.buf.advance(1);
            }
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
                "nothing from the switch over TLS"
            );
        }
    }
}

pub fn register(phone: &mut TlsPhone, tls: SocketAddr) {
    let local = phone.local;
    let request = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sips:{tls} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKreg{cseq}\r\nMax-Forwards: 70\r\n\
             From: <sips:1001@{tls}>;tag=r1\r\nTo: <sips:1001@{tls}>\r\nCall-ID: tls-reg\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sips:1001@{local}>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    phone.send(&request(1, ""));
    let challenge = phone.recv().expect("a challenge");
    assert_eq!(challenge.status(), Some(401));
    let value = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    let uri = format!("sips:{tls}");
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
    phone.send(&request(2, &format!("Authorization: {answer}\r\n")));
    assert_eq!(phone.recv().expect("an answer").status(), Some(200));
}

pub const PHONE_SDP: &str =
    "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                         m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// Our answer to `req`, echoing its transaction headers, with our SDP.
pub fn answer(req: &Message, status: u16, reason: &str, to_tag: &str, contact: &str) -> String {
    answer_with(req, (status, reason), to_tag, contact, PHONE_SDP)
}

/// As [`answer`], with `sdp` as the body.
pub fn answer_with(
    req: &Message,
    (status, reason): (u16, &str),
    to_tag: &str,
    contact: &str,
    sdp: &str,
) -> String {
    let mut text = format!("SIP/2.0 {status} {reason}\r\n");
    for via in req.header_all(&HeaderName::Via) {
        text += &format!("Via: {via}\r\n");
    }
    let to = req.header(&HeaderName::To).unwrap();
    let to = if to.contains("tag=") {
        to.to_string()
    } else {
        format!("{to};tag={to_tag}")
    };
    text += &format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: {contact}\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        req.header(&HeaderName::From).unwrap(),
        req.call_id(),
        req.header(&HeaderName::CSeq).unwrap(),
        sdp.len(),
    );
    text
}

/// The URI inside a name-addr.
pub fn uri_of(value: &str) -> String {
    let start = value.find('<').map_or(0, |i| i + 1);
    let end = value.find('>').unwrap_or(value.len());
    value[start..end].to_string()
}
