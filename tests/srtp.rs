//! SRTP (RFC 4568 SDES, RFC 3711) through the relay, on the wire: an agent
//! phone over TLS with `srtp = "mandatory"` is offered RTP/SAVP with our
//! key and talks SRTP while the carrier's leg stays plain RTP, both ways;
//! forged and replayed packets are dropped with their reason; a caller
//! offering SRTP gets our key in the answer; bad crypto lines get 488
//! with the reason. AEAD_AES_128_GCM (RFC 7714) is offered second after
//! AES_CM: an agent that takes only GCM talks GCM both ways, and a caller
//! offering only GCM gets a GCM key in the answer.

// Real sockets with bounded waits: the test is a driver.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::tls::{answer_with, register, TlsPhone};
use support::{free_port_block, free_udp_port, test_config, MediaCaller, SwitchProc};
use switchyard::media::sdp;
use switchyard::media::srtp::{
    MasterKey, SrtpContext, Suite, GCM_KEY_PARAMS_BYTES, GCM_TAG_BYTES, KEY_PARAMS_BYTES,
    RTP_OVERHEAD,
};

/// Packets each way; enough that a lost one or two do not matter.
const PACKETS: u16 = 25;
const RECEIVE_FOR: Duration = Duration::from_secs(10);

fn config(agent_srtp: &str, trunk_srtp: &str) -> String {
    let lo = free_port_block(16);
    test_config("10s", free_udp_port())
        .replace(
            "id = \"1001\"",
            &format!("id = \"1001\"\nsrtp = \"{agent_srtp}\""),
        )
        .replace(
            "name = \"demo-carrier\"",
            &format!("name = \"demo-carrier\"\nsrtp = \"{trunk_srtp}\""),
        )
        + &format!(
            "\n[media]\nrtp_ports = \"{lo}-{}\"\nrtp_address = \"127.0.0.1\"\n\n[tls]\nlisten = \"127.0.0.1:0\"\n",
            lo + 15
        )
}

/// A PCMU packet with `fill` as its 160-byte payload.
fn rtp(seq: u16, ssrc: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(fill, 160));
    p
}

/// Payloads received on `sock` for up to [`RECEIVE_FOR`], each passed
/// through `open` (which may refuse it), until `want` came.
fn receive(sock: &UdpSocket, want: usize, mut open: impl FnMut(&mut Vec<u8>) -> bool) -> usize {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + RECEIVE_FOR;
    let mut buf = [0u8; 2048];
    let mut good = 0;
    while good < want && Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let mut packet = buf[..n].to_vec();
            if open(&mut packet) {
                good += 1;
            }
        }
    }
    good
}

fn paced_send(sock: &UdpSocket, to: SocketAddr, packets: impl Iterator<Item = Vec<u8>>) {
    for p in packets {
        sock.send_to(&p, to).unwrap();
        // 20 ms apart, as a phone sends: the relay is not flooded.
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_tls_srtp_agent_talks_to_a_plain_carrier_through_the_relay() {
    let switch = SwitchProc::start("srtp-agent", &config("mandatory", "off"));
    let tls = switch.tls.unwrap();
    let mut phone = TlsPhone::connect(&switch);
    register(&mut phone, tls);
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();

    let mut carrier = MediaCaller::new(switch.sip, "5550100");
    carrier.invite(100);
    let offer = phone.recv().expect("INVITE over TLS");
    let offer_text = String::from_utf8_lossy(offer.body()).to_string();
    assert!(offer_text.contains("RTP/SAVP"), "{offer_text}");
    let offer_sdp = sdp::parse(&offer_text).unwrap();
    let switch_key = offer_sdp.crypto.usable.expect("our crypto line").key;
    let switch_b = offer_sdp.rtp.unwrap();

    let phone_key = MasterKey::from_bytes(&[0x42; KEY_PARAMS_BYTES]);
    let answer_sdp = format!(
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
        phone_rtp.local_addr().unwrap().port(),
        phone_key.to_inline()
    );
    let contact = format!("<sips:1001@{}>", phone.local);
    phone.send(&answer_with(
        &offer,
        (200, "OK"),
        "ph1",
        &contact,
        &answer_sdp,
    ));
    let ok = carrier.until(200);
    let ok_text = String::from_utf8_lossy(ok.body()).to_string();
    assert!(
        ok_text.contains("RTP/AVP") && !ok_text.contains("crypto"),
        "the carrier's leg is plain: {ok_text}"
    );
    let switch_a = sdp::parse(&ok_text).unwrap().rtp.unwrap();
    carrier.ack(&ok);

    // Carrier → phone: plain in, SRTP out with our key.
    paced_send(
        &carrier.rtp,
        switch_a,
        (1..=PACKETS).map(|s| rtp(s, 0xc0ffee, 0x55)),
    );
    let mut rx = SrtpContext::new(&switch_key);
    let heard = receive(&phone_rtp, 10, |p| match rx.unprotect_rtp(p) {
        Ok(n) => n == 172 && p[12..n].iter().all(|b| *b == 0x55),
        Err(_) => false,
    });
    assert!(
        heard >= 10,
        "the phone got {heard} SRTP packets it could open"
    );

    // Phone → carrier: SRTP in with the phone's key, plain out.
    let mut tx = SrtpContext::new(&phone_key);
    let mut sent = Vec::new();
    for s in 1..=PACKETS {
        let mut buf = rtp(s, 0xfeed, 0x33);
        let len = buf.len();
        buf.resize(len + RTP_OVERHEAD, 0);
        let n = tx.protect_rtp(&mut buf, len).unwrap();
        buf.truncate(n);
        sent.push(buf);
    }
    paced_send(&phone_rtp, switch_b, sent.clone().into_iter());
    let heard = receive(&carrier.rtp, 10, |p| {
        p.len() == 172 && p[12..].iter().all(|b| *b == 0x33)
    });
    assert!(heard >= 10, "the carrier got {heard} plain packets");

    // Plain RTP on the SRTP leg does not authenticate; an old packet again
    // is a replay. Both are dropped, counted by reason and logged.
    paced_send(
        &phone_rtp,
        switch_b,
        (1..=3).map(|s| rtp(s + 100, 0xfeed, 0)),
    );
    phone_rtp
        .send_to(&sent[PACKETS as usize - 1], switch_b)
        .unwrap();
    switch.wait_metric(
        "switchyard_rtp_packets_dropped_total{reason=\"srtp_auth\"}",
        |v| v >= 3.0,
    );
    switch.wait_metric(
        "switchyard_rtp_packets_dropped_total{reason=\"srtp_replay\"}",
        |v| v >= 1.0,
    );
    assert_eq!(carrier.bye().status(), Some(200));
    let log = switch.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("srtp_auth") && l.contains("call")),
        "no warn line for the dropped packets:\n{log}"
    );
}

#[test]
fn a_caller_offering_srtp_gets_our_key_in_the_answer() {
    let switch = SwitchProc::start("srtp-caller", &config("off", "optional"));
    let mut agent = support::Phone::new(switch.sip);
    let contact = agent.addr;
    let registered = agent.register("1001", "demo-1001", contact, 3600);
    assert_eq!(registered.status(), Some(200));
    let mut carrier = MediaCaller::new(switch.sip, "5550100");
    let key = MasterKey::from_bytes(&[7; KEY_PARAMS_BYTES]);
    let offer = format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
        carrier.rtp.local_addr().unwrap().port(),
        key.to_inline()
    );
    carrier.invite_with(&offer, 100);
    // The agent (srtp off) is offered plain RTP, without our key.
    let invite = agent.recv();
    let body = String::from_utf8_lossy(invite.body()).to_string();
    assert!(
        body.contains("RTP/AVP") && !body.contains("crypto"),
        "{body}"
    );
    let sdp_text = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                    m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let contact = format!("<sip:1001@{}>", agent.addr);
    agent.send(answer_with(&invite, (200, "OK"), "ag1", &contact, sdp_text).as_bytes());
    let ok = carrier.until(200);
    let answer = sdp::parse(std::str::from_utf8(ok.body()).unwrap()).unwrap();
    assert!(answer.secure, "our answer keeps RTP/SAVP");
    let ours = answer.crypto.usable.expect("our crypto line");
    assert_eq!(ours.tag, 5, "the tag of the line we took");
    assert_ne!(ours.key, key, "our own key, not the caller's");
    carrier.ack(&ok);
    // Over UDP the caller's key was exposed: said once, with the Call-ID.
    assert!(switch.log().contains("insecure transport"));
    assert_eq!(carrier.bye().status(), Some(200));
}

#[test]
fn bad_crypto_lines_and_srtp_against_policy_get_488_with_the_reason() {
    let switch = SwitchProc::start("srtp-488", &config("optional", "optional"));
    let cases = [
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",
            "30 bytes",
        ),
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{K}|2^20|1:4",
            "MKI",
        ),
        ("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{K}", "AES_256"),
        ("", "without a crypto line"),
    ];
    let key = MasterKey::from_bytes(&[1; KEY_PARAMS_BYTES]).to_inline();
    for (line, reason) in cases {
        let mut carrier = MediaCaller::new(switch.sip, "5550100");
        let line = line.replace("{K}", &key);
        let offer = format!(
            "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 40000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n{line}\r\n"
        );
        let refused = carrier.invite_with(&offer, 488);
        let warning = refused
            .headers()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case("Warning"))
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        assert!(warning.contains(reason), "{line}: {warning}");
    }
}

/// The key of the `suite` line with `tag` in an SDP text.
fn crypto_line(text: &str, tag: u32, suite: Suite) -> MasterKey {
    let prefix = format!("a=crypto:{tag} {} inline:", suite.name());
    let inline = text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in {text}"));
    MasterKey::from_inline_for(suite, inline.trim()).expect("a key of the suite")
}

#[test]
fn an_agent_taking_only_gcm_talks_gcm_through_the_relay() {
    let switch = SwitchProc::start("srtp-gcm-agent", &config("mandatory", "off"));
    let tls = switch.tls.unwrap();
    let mut phone = TlsPhone::connect(&switch);
    register(&mut phone, tls);
    let phone_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();

    let mut carrier = MediaCaller::new(switch.sip, "5550100");
    carrier.invite(100);
    let offer = phone.recv().expect("INVITE over TLS");
    let offer_text = String::from_utf8_lossy(offer.body()).to_string();
    // Both suites, AES_CM first.
    let cm_at = offer_text
        .find("AES_CM_128_HMAC_SHA1_80")
        .expect("AES_CM offered");
    let gcm_at = offer_text.find("AEAD_AES_128_GCM").expect("GCM offered");
    assert!(cm_at < gcm_at, "{offer_text}");
    let switch_key = crypto_line(&offer_text, 2, Suite::AeadAes128Gcm);
    let switch_b = sdp::parse(&offer_text).unwrap().rtp.unwrap();

    // The phone knows only GCM: it answers the second line.
    let phone_key =
        MasterKey::for_suite(Suite::AeadAes128Gcm, &[0x24; GCM_KEY_PARAMS_BYTES]).unwrap();
    let answer_sdp = format!(
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         a=crypto:2 AEAD_AES_128_GCM inline:{}\r\n",
        phone_rtp.local_addr().unwrap().port(),
        phone_key.to_inline()
    );
    let contact = format!("<sips:1001@{}>", phone.local);
    phone.send(&answer_with(
        &offer,
        (200, "OK"),
        "ph1",
        &contact,
        &answer_sdp,
    ));
    let ok = carrier.until(200);
    let switch_a = sdp::parse(std::str::from_utf8(ok.body()).unwrap())
        .unwrap()
        .rtp
        .unwrap();
    carrier.ack(&ok);

    // Carrier → phone: GCM with our key (16-byte tags).
    paced_send(
        &carrier.rtp,
        switch_a,
        (1..=PACKETS).map(|s| rtp(s, 0xc0ffee, 0x55)),
    );
    let mut rx = SrtpContext::new(&switch_key);
    let heard = receive(&phone_rtp, 10, |p| {
        let sealed = p.len() == 172 + GCM_TAG_BYTES;
        match rx.unprotect_rtp(p) {
            Ok(n) => sealed && n == 172 && p[12..n].iter().all(|b| *b == 0x55),
            Err(_) => false,
        }
    });
    assert!(heard >= 10, "the phone opened {heard} GCM packets");

    // Phone → carrier: GCM in with the phone's key, plain out.
    let mut tx = SrtpContext::new(&phone_key);
    let sent = (1..=PACKETS).map(|s| {
        let mut buf = rtp(s, 0xfeed, 0x33);
        let len = buf.len();
        buf.resize(len + RTP_OVERHEAD, 0);
        let n = tx.protect_rtp(&mut buf, len).unwrap();
        buf.truncate(n);
        buf
    });
    paced_send(&phone_rtp, switch_b, sent.collect::<Vec<_>>().into_iter());
    let heard = receive(&carrier.rtp, 10, |p| {
        p.len() == 172 && p[12..].iter().all(|b| *b == 0x33)
    });
    assert!(heard >= 10, "the carrier got {heard} plain packets");
    assert_eq!(carrier.bye().status(), Some(200));
}

#[test]
fn a_caller_offering_only_gcm_gets_a_gcm_key_in_the_answer() {
    let switch = SwitchProc::start("srtp-gcm-caller", &config("off", "optional"));
    let mut agent = support::Phone::new(switch.sip);
    let contact = agent.addr;
    let registered = agent.register("1001", "demo-1001", contact, 3600);
    assert_eq!(registered.status(), Some(200));
    let mut carrier = MediaCaller::new(switch.sip, "5550100");
    let key = MasterKey::for_suite(Suite::AeadAes128Gcm, &[7; GCM_KEY_PARAMS_BYTES]).unwrap();
    let offer = format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         a=crypto:3 AEAD_AES_128_GCM inline:{}\r\n",
        carrier.rtp.local_addr().unwrap().port(),
        key.to_inline()
    );
    carrier.invite_with(&offer, 100);
    let invite = agent.recv();
    let sdp_text = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                    m=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let contact = format!("<sip:1001@{}>", agent.addr);
    agent.send(answer_with(&invite, (200, "OK"), "ag1", &contact, sdp_text).as_bytes());
    let ok = carrier.until(200);
    let text = std::str::from_utf8(ok.body()).unwrap();
    let ours = crypto_line(text, 3, Suite::AeadAes128Gcm);
    assert_ne!(ours, key, "our own key, not the caller's");
    assert!(!text.contains("AES_CM"), "{text}");
    carrier.ack(&ok);
    assert_eq!(carrier.bye().status(), Some(200));
}
