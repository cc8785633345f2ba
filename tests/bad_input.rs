//! Bad input never hurts: malformed messages get 400 (or are dropped and
//! counted), the RFC 4475 torture messages get the answers RFC 4475 gives
//! for an endpoint, and the switch keeps serving after every one of them.

mod support;

use std::time::Duration;

use support::{free_udp_port, test_config, Phone, SwitchProc};
use switchyard::sip::parse::HeaderName;

/// Sends `bytes`, then an OPTIONS probe; returns the status of every
/// response that came back to the first message before the probe's 200.
/// With one SIP shard the switch handles datagrams from one socket in order,
/// so the probe marks the end (with more, only a dialog's messages keep
/// their order: see [`one_shard`]). Responses are read raw: a 400 copies the
/// sender's broken headers.
fn exchange(phone: &mut Phone, bytes: &[u8]) -> Vec<u16> {
    phone.send(bytes);
    let probe = phone.request("OPTIONS", &format!("sip:{}", phone.server), "probe", "");
    let probe_call_id = probe
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap()
        .to_string();
    phone.send(probe.as_bytes());
    let mut got = Vec::new();
    loop {
        let raw = phone.recv_raw();
        let text = String::from_utf8_lossy(&raw);
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if text
            .lines()
            .any(|l| l.strip_prefix("Call-ID: ") == Some(probe_call_id.as_str()))
        {
            assert_eq!(status, 200, "the switch still answers OPTIONS");
            return got;
        }
        got.push(status);
    }
}

/// The test config with one SIP shard, for [`exchange`]'s probe.
fn one_shard() -> String {
    test_config("10s", free_udp_port()).replace("[switch]\n", "[switch]\nsip_workers = 1\n")
}

fn final_statuses(statuses: &[u16]) -> Vec<u16> {
    statuses.iter().copied().filter(|s| *s >= 200).collect()
}

#[test]
fn malformed_request_with_a_via_gets_400_and_the_switch_keeps_serving() {
    let switch = SwitchProc::start("malformed-400", &one_shard());
    let mut phone = Phone::new(switch.sip);
    let bad = format!(
        "INVITE sip:5550100@{s} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKbad1;rport\r\n\
         From: <sip:x@{a}>;tag=1\r\nTo: <sip:5550100@{s}>\r\nCall-ID: bad1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        s = switch.sip,
        a = phone.addr
    );
    assert_eq!(
        final_statuses(&exchange(&mut phone, bad.as_bytes())),
        vec![400]
    );
    switch.wait_metric("switchyard_sip_malformed_total{action=\"answered\"}", |v| {
        v == 1.0
    });
}

#[test]
fn garbage_without_a_via_is_dropped_and_counted() {
    let switch = SwitchProc::start("malformed-drop", &one_shard());
    let mut phone = Phone::new(switch.sip);
    for garbage in [
        &b"\x00\x01\x02 not sip at all"[..],
        b"SIP/2.0 200\r\n\r\n",
        b"INVITE\r\n\r\n",
        &[0xff; 2000],
    ] {
        assert!(exchange(&mut phone, garbage).is_empty());
    }
    switch.wait_metric("switchyard_sip_malformed_total{action=\"dropped\"}", |v| {
        v == 4.0
    });
}

/// What the switch, as an RFC 3261 endpoint and registrar that authenticates,
/// answers to each torture message of RFC 4475 (see tests/data/rfc4475/INDEX.md).
/// `None`: no response (responses are absorbed, junk dropped).
const EXPECTED: &[(&str, Option<u16>)] = &[
    // 3.1.1 valid: served normally (INVITEs to unknown numbers get 404).
    // wsinv's To carries a tag: a re-INVITE for a dialog we do not have.
    ("wsinv", Some(481)),
    ("intmeth", Some(501)),
    ("esc01", Some(404)),
    ("escnull", Some(401)),
    ("esc02", Some(501)),
    ("lwsdisp", Some(200)),
    ("longreq", Some(404)),
    ("dblreq", Some(401)),
    ("semiuri", Some(200)),
    ("transports", Some(200)),
    ("mpart01", Some(415)),
    ("unreason", None),
    ("noreason", None),
    // 3.1.2 invalid.
    ("badinv01", Some(400)),
    ("clerr", Some(400)),
    ("ncl", Some(400)),
    ("scalar02", Some(400)),
    ("scalarlg", None),
    ("quotbal", Some(400)),
    ("ltgtruri", Some(400)),
    ("lwsruri", Some(400)),
    ("badaspec", Some(400)),
    ("baddn", Some(400)),
    ("badvers", Some(505)),
    ("mismatch01", Some(400)),
    ("mismatch02", Some(400)),
    ("bigcode", None),
    // 3.2, 3.3: transaction and application layer.
    ("badbranch", Some(200)),
    ("insuf", Some(400)),
    ("unkscm", Some(416)),
    ("novelsc", Some(416)),
    ("unksm2", Some(400)),
    ("bext01", Some(420)),
    ("invut", Some(415)),
    ("regaut01", Some(401)),
    ("multi01", Some(400)),
    ("mcl01", Some(400)),
    ("bcast", None),
    // zeromf is an OPTIONS to us: an endpoint processes it normally.
    ("zeromf", Some(200)),
    ("cparam01", Some(401)),
    ("cparam02", Some(401)),
    ("regescrt", Some(401)),
    ("sdp01", Some(406)),
    ("inv2543", Some(404)),
];

#[test]
fn rfc4475_torture_messages_get_the_rfc_answers() {
    // Answer at the source port: the messages' Vias name hosts and ports of
    // their own (INDEX.md "Safe replay").
    let config = one_shard().replace("[switch]\n", "[switch]\nforce_rport = true\n");
    let switch = SwitchProc::start("rfc4475", &config);
    let mut phone = Phone::new(switch.sip);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475");
    let mut wrong = Vec::new();
    for (name, expected) in EXPECTED {
        let bytes = std::fs::read(dir.join(format!("{name}.dat"))).expect("torture message");
        let finals = final_statuses(&exchange(&mut phone, &bytes));
        let got = finals.first().copied();
        if got != *expected || finals.len() > 1 {
            wrong.push(format!("{name}: expected {expected:?}, got {finals:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "answers differ from RFC 4475:\n{}",
        wrong.join("\n")
    );
    // Messages the RFC leaves to the implementation: whatever the answer,
    // the switch keeps serving (exchange() checks the probe).
    for name in ["lwsstart", "trws", "escruri", "baddate", "regbadct", "test"] {
        let bytes = std::fs::read(dir.join(format!("{name}.dat"))).expect("torture message");
        exchange(&mut phone, &bytes);
    }
}

#[test]
fn responses_go_to_the_via_port_without_rport() {
    // RFC 3261 §18.2.2: no rport, so the answer goes to the Via's port.
    let switch = SwitchProc::start("via-port", &one_shard());
    let phone = Phone::new(switch.sip);
    let listener = Phone::new(switch.sip);
    let options = format!(
        "OPTIONS sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {l};branch=z9hG4bKviaport\r\nMax-Forwards: 70\r\n\
         From: <sip:a@{l}>;tag=1\r\nTo: <sip:{s}>\r\nCall-ID: viaport\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        s = switch.sip,
        l = listener.addr
    );
    phone.send(options.as_bytes());
    assert_eq!(listener.recv().status(), Some(200));
    assert!(phone.try_recv(Duration::from_millis(200)).is_none());
}

#[test]
fn options_is_answered_with_allow() {
    let switch = SwitchProc::start("options", &one_shard());
    let mut phone = Phone::new(switch.sip);
    let req = phone.request("OPTIONS", &format!("sip:{}", switch.sip), "someone", "");
    phone.send(req.as_bytes());
    let ok = phone.recv_final();
    assert_eq!(ok.status(), Some(200));
    assert!(ok
        .header(&HeaderName::Allow)
        .is_some_and(|a| a.contains("INVITE")));
}

#[test]
fn unknown_require_option_is_listed_in_unsupported() {
    let switch = SwitchProc::start("require", &one_shard());
    let mut phone = Phone::new(switch.sip);
    let req = phone.request(
        "OPTIONS",
        &format!("sip:{}", switch.sip),
        "x",
        "Require: 100rel, foo\r\n",
    );
    phone.send(req.as_bytes());
    let refused = phone.recv_final();
    assert_eq!(refused.status(), Some(420));
    assert_eq!(
        refused.header(&HeaderName::Unsupported),
        Some("100rel, foo")
    );
}

#[test]
fn invite_with_max_forwards_zero_gets_483() {
    let switch = SwitchProc::start("zero-mf", &one_shard());
    let mut phone = Phone::new(switch.sip);
    let req = phone
        .request("INVITE", &format!("sip:5550100@{}", switch.sip), "x", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    phone.send(req.as_bytes());
    assert_eq!(phone.recv_final().status(), Some(483));
}
