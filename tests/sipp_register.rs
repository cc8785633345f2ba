//! Agent phones register with digest auth (SIPp and our own phone).

mod support;

use std::time::Duration;

use support::{free_udp_port, sipp_register, test_config, Phone, SwitchProc};
use switchyard::sip::parse::{Contacts, HeaderName};

#[test]
fn sipp_registers_with_digest_auth() {
    let switch = SwitchProc::start("register", &test_config("10s", free_udp_port()));
    sipp_register(
        &switch.dir,
        &switch,
        "1002",
        "demo-1002",
        free_udp_port(),
        200,
    );
    switch.wait_metric("switchyard_registrations_active", |v| v == 1.0);
}

#[test]
fn wrong_password_is_refused_with_403() {
    let switch = SwitchProc::start("register-wrong", &test_config("10s", free_udp_port()));
    sipp_register(
        &switch.dir,
        &switch,
        "1002",
        "not-the-password",
        free_udp_port(),
        403,
    );
    switch.wait_metric("switchyard_auth_failures_total", |v| v == 1.0);
    switch.wait_metric("switchyard_registrations_active", |v| v == 0.0);
}

#[test]
fn register_refresh_and_removal() {
    let switch = SwitchProc::start("register-refresh", &test_config("10s", free_udp_port()));
    let mut phone = Phone::new(switch.sip);
    let contact = phone.addr;
    let ok = phone.register("1001", "demo-1001", contact, 120);
    assert_eq!(ok.status(), Some(200));
    let Contacts::List(list) = ok.contacts() else {
        panic!("contacts")
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].param("expires"), Some(Some("120")));

    // Too short an interval: 423 with Min-Expires (RFC 3261 §10.3 step 7).
    let brief = phone.register("1001", "demo-1001", contact, 5);
    assert_eq!(brief.status(), Some(423));
    assert_eq!(brief.header(&HeaderName::MinExpires), Some("60"));

    // Expires 0 removes the binding.
    let gone = phone.register("1001", "demo-1001", contact, 0);
    assert_eq!(gone.status(), Some(200));
    assert!(matches!(gone.contacts(), Contacts::List(l) if l.is_empty()));
    switch.wait_metric("switchyard_registrations_active", |v| v == 0.0);
}

#[test]
fn registering_another_users_aor_is_forbidden() {
    let switch = SwitchProc::start("register-other", &test_config("10s", free_udp_port()));
    let mut phone = Phone::new(switch.sip);
    // Authenticate as 1001 while registering 1002's AOR.
    let t = phone.token();
    let uri = format!("sip:{}", switch.sip);
    let register = |auth: &str| {
        format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{t}{n};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:1002@{s}>;tag=x{t}\r\nTo: <sip:1002@{s}>\r\nCall-ID: other{t}\r\nCSeq: {n} REGISTER\r\n\
             Contact: <sip:1002@{a}>\r\n{auth}Content-Length: 0\r\n\r\n",
            a = phone.addr,
            s = switch.sip,
            n = if auth.is_empty() { 1 } else { 2 },
        )
    };
    phone.send(register("").as_bytes());
    let challenge = phone.recv_final();
    assert_eq!(challenge.status(), Some(401));
    let value = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
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
    phone.send(register(&format!("Authorization: {answer}\r\n")).as_bytes());
    assert_eq!(phone.recv_final().status(), Some(403));
    assert!(
        phone.try_recv(Duration::from_millis(300)).is_none(),
        "nothing more is sent"
    );
}
