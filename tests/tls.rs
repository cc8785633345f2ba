//! SIP over TLS on the wire: a phone registers over TLS and is called over
//! its TLS connection (REGISTER, INVITE, ACK, BYE), the self-signed
//! certificate is made with a private key and its fingerprint logged, and
//! bad input (garbage for a handshake, a handshake never finished, an
//! oversized message, an unusable certificate) is refused and counted.

// Real sockets with bounded waits: the test is a driver.
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use support::tls::{answer, register, uri_of, TlsPhone};
use support::{free_udp_port, test_config, SwitchProc, EVENT_TIMEOUT};
use switchyard::sip::parse::HeaderName;

fn tls_config(extra: &str) -> String {
    test_config("10s", free_udp_port()) + "\n[tls]\nlisten = \"127.0.0.1:0\"\n" + extra
}

#[test]
fn phone_registered_over_tls_is_called_over_its_tls_connection() {
    let switch = SwitchProc::start("tls-register", &tls_config(""));
    let tls = switch.tls.expect("tls= in the start line");
    let mut phone = TlsPhone::connect(&switch);
    register(&mut phone, tls);

    // A carrier call over UDP reaches the phone down its TLS connection,
    // with our TLS Via and a Contact that brings the dialog back over TLS.
    let mut carrier = support::MediaCaller::new(switch.sip, "5550100");
    carrier.invite(100);
    let offer = phone.recv().expect("INVITE over TLS");
    assert_eq!(offer.method().map(|m| m.as_str()), Some("INVITE"));
    assert_eq!(offer.vias()[0].transport(), "TLS");
    let contact = offer.header(&HeaderName::Contact).unwrap().to_string();
    assert!(
        contact.contains(&format!("{tls};transport=tls")),
        "contact {contact}"
    );

    let phone_contact = format!("<sips:1001@{}>", phone.local);
    phone.send(&answer(&offer, 200, "OK", "ph1", &phone_contact));
    let ok = carrier.until(200);
    carrier.ack(&ok);
    let acked = phone.recv().expect("ACK over TLS");
    assert_eq!(acked.method().map(|m| m.as_str()), Some("ACK"));

    // The phone hangs up over TLS: 200 to it, BYE to the carrier.
    let bye = format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKbye1\r\nMax-Forwards: 70\r\n\
         From: {to};tag=ph1\r\nTo: {from}\r\nCall-ID: {cid}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        target = uri_of(&contact),
        local = phone.local,
        to = offer.header(&HeaderName::To).unwrap(),
        from = offer.header(&HeaderName::From).unwrap(),
        cid = offer.call_id(),
    );
    phone.send(&bye);
    let done = phone.recv().expect("an answer to BYE");
    assert_eq!(
        (done.status(), done.call_id()),
        (Some(200), offer.call_id())
    );
    let far = carrier.phone.recv();
    assert_eq!(far.method().map(|m| m.as_str()), Some("BYE"));
    switch.wait_metric("switchyard_tls_handshakes_total{result=\"ok\"}", |v| {
        v == 1.0
    });
}

#[test]
fn the_self_signed_certificate_has_a_private_key_and_its_fingerprint_is_logged() {
    let switch = SwitchProc::start("tls-self-signed", &tls_config(""));
    let cert = switch.dir.join("switchyard-tls.crt");
    let key = switch.dir.join("switchyard-tls.key");
    assert!(cert.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key mode {mode:o}");
    }
    let fingerprint = switchyard::sip::transport::tls::fingerprint(&cert).unwrap();
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    // Logged before the start line the harness waited for.
    let log = switch.log();
    assert!(log.contains(&fingerprint), "fingerprint not logged:\n{log}");
}

#[test]
fn garbage_instead_of_a_handshake_is_closed_and_counted() {
    let switch = SwitchProc::start("tls-garbage", &tls_config(""));
    let mut tcp = TcpStream::connect(switch.tls.unwrap()).unwrap();
    tcp.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    tcp.write_all(b"OPTIONS sip:x SIP/2.0\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    // The switch closes the connection (after a TLS alert at most).
    let _ = tcp.read_to_end(&mut rest);
    assert!(!String::from_utf8_lossy(&rest).contains("SIP/2.0"));
    switch.wait_metric("switchyard_tls_handshakes_total{result=\"failed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_tcp_connections_active", |v| v == 0.0);
}

#[test]
fn a_handshake_never_finished_is_dropped_after_the_timeout() {
    let switch = SwitchProc::start("tls-stalled", &tls_config("handshake_timeout = \"1s\"\n"));
    let mut tcp = TcpStream::connect(switch.tls.unwrap()).unwrap();
    tcp.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    // Connected, sending nothing: the slot is held, then freed.
    switch.wait_metric("switchyard_tcp_connections_active", |v| v == 1.0);
    let mut rest = Vec::new();
    let closed = tcp.read_to_end(&mut rest);
    assert!(matches!(closed, Ok(0)), "closed by the switch: {closed:?}");
    switch.wait_metric("switchyard_tls_handshakes_total{result=\"failed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_tcp_connections_active", |v| v == 0.0);
}

#[test]
fn an_oversized_message_over_tls_gets_413_from_the_tcp_framer() {
    let switch = SwitchProc::start("tls-oversized", &tls_config(""));
    let mut phone = TlsPhone::connect(&switch);
    let text = format!(
        "OPTIONS sip:{s} SIP/2.0\r\nVia: SIP/2.0/TLS {a};branch=z9hG4bKbig\r\nMax-Forwards: 70\r\n\
         From: <sip:x@{a}>;tag=1\r\nTo: <sip:{s}>\r\nCall-ID: tls-big\r\nCSeq: 1 OPTIONS\r\nContent-Length: 70000\r\n\r\n",
        s = switch.tls.unwrap(),
        a = phone.local
    );
    phone.send(&text);
    let answer = phone.recv().expect("an answer before the close");
    assert_eq!((answer.status(), answer.call_id()), (Some(413), "tls-big"));
    assert_eq!(answer.vias()[0].transport(), "TLS");
    assert!(phone.recv().is_none(), "the connection is closed");
    switch.wait_metric("switchyard_tcp_oversized_total", |v| v == 1.0);
}

#[test]
fn check_names_the_field_of_an_unusable_certificate_or_key() {
    let dir = support::temp_dir("tls-check");
    std::fs::write(dir.join("bad.crt"), "not a certificate\n").unwrap();
    let config = test_config("10s", free_udp_port()).replace(
        "cdr_path = \"cdr.sqlite\"",
        &format!("cdr_path = \"{}\"", dir.join("cdr.sqlite").display()),
    ) + &format!(
        "\n[tls]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{d}/bad.crt\"\nkey = \"{d}/none.key\"\nca = \"{d}/none.pem\"\n",
        d = dir.display()
    );
    let path = dir.join("t.toml");
    std::fs::write(&path, &config).unwrap();
    let err = switchyard::config::Config::load(Path::new(&path)).expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("tls.certificate: cannot use certificate"),
        "{text}"
    );
    assert!(text.contains("bad.crt"), "{text}");
    assert!(text.contains("tls.ca: cannot use CA file"), "{text}");
    // A key without its certificate is refused by the parser.
    let half = test_config("10s", 5070) + "\n[tls]\nkey = \"k.pem\"\n";
    let err = switchyard::config::Config::parse(&half, Path::new("h.toml")).expect_err("half");
    assert!(
        err.to_string()
            .contains("tls.key: `key` needs `certificate` too"),
        "{err}"
    );
}

/// A carrier's CA and a certificate it signed for 127.0.0.1, as PEM.
fn carrier_pki() -> (String, String, String) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "test carrier CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names.push(rcgen::SanType::IpAddress(
        std::net::Ipv4Addr::LOCALHOST.into(),
    ));
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem())
}

/// The first SIP request the carrier reads over TLS, within the timeout;
/// `None` when the handshake or the read failed.
fn carrier_reads_one_request(
    listener: std::net::TcpListener,
    cert: &str,
    key: &str,
) -> std::thread::JoinHandle<Option<String>> {
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(cert.as_bytes())
        .map(Result::unwrap)
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().ok()?;
        tcp.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
        let conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Ok(Some(len)) = switchyard::sip::parse::Message::frame(&buf) {
                return Some(String::from_utf8_lossy(&buf[..len]).to_string());
            }
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// Agent 1002 (over UDP) dials an outside number, answering the digest
/// challenge; the call goes to the trunk.
fn agent_dials_out(switch: &SwitchProc) -> support::Phone {
    let mut agent = support::Phone::new(switch.sip);
    let contact = agent.addr;
    assert_eq!(
        agent.register("1002", "demo-1002", contact, 3600).status(),
        Some(200)
    );
    let uri = format!("sip:5551234@{}", switch.sip);
    let invite = |agent: &mut support::Phone, cseq: u32, auth: &str| {
        let t = agent.token();
        let text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:1002@{s}>;tag=out1\r\nTo: <{uri}>\r\nCall-ID: tls-trunk-call\r\nCSeq: {cseq} INVITE\r\n\
             Contact: <sip:1002@{a}>\r\n{auth}Content-Length: 0\r\n\r\n",
            a = agent.addr,
            s = switch.sip,
        );
        agent.send(text.as_bytes());
    };
    invite(&mut agent, 1, "");
    let challenge = agent.recv_final();
    assert_eq!(challenge.status(), Some(401));
    let value = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
    let answer = switchyard::sip::auth::answer_challenge(
        &value,
        "INVITE",
        &uri,
        "1002",
        "demo-1002",
        1,
        &mut rng,
    )
    .unwrap();
    invite(&mut agent, 2, &format!("Authorization: {answer}\r\n"));
    agent
}

#[test]
fn a_tls_trunk_is_called_over_tls_with_its_certificate_checked() {
    let (ca, cert, key) = carrier_pki();
    let (other_ca, _, _) = carrier_pki();
    for (trusted, reaches) in [(ca, true), (other_ca, false)] {
        let dir = support::temp_dir("tls-trunk-ca");
        std::fs::write(dir.join("ca.pem"), &trusted).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let carrier = listener.local_addr().unwrap();
        let config = test_config("10s", carrier.port()).replace(
            &format!("127.0.0.1:{}\", transport = \"udp\"", carrier.port()),
            &format!("127.0.0.1:{}\", transport = \"tls\"", carrier.port()),
        ) + &format!(
            "\n[tls]\nlisten = \"127.0.0.1:0\"\nca = \"{}\"\n",
            dir.join("ca.pem").display()
        );
        assert!(config.contains("transport = \"tls\""));
        let switch = SwitchProc::start("tls-trunk", &config);
        let read = carrier_reads_one_request(listener, &cert, &key);
        let _agent = agent_dials_out(&switch);
        let request = read.join().unwrap();
        if reaches {
            let request = request.expect("the INVITE over TLS");
            assert!(request.starts_with("INVITE sip:5551234@"), "{request}");
            assert!(request.contains("Via: SIP/2.0/TLS "), "{request}");
            assert!(request.contains(";transport=tls>"), "{request}");
            switch.wait_metric("switchyard_tls_handshakes_total{result=\"ok\"}", |v| {
                v == 1.0
            });
        } else {
            assert!(
                request.is_none(),
                "a carrier the CA did not sign got {request:?}"
            );
            switch.wait_metric("switchyard_tls_handshakes_total{result=\"failed\"}", |v| {
                v == 1.0
            });
        }
    }
}
