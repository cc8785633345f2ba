//! A trunk with inbound credentials: its calls must come from its address
//! and pass digest auth too.

mod support;

use support::{free_udp_port, test_config, Phone, SwitchProc};
use switchyard::sip::parse::HeaderName;

/// The final response to the request with this Call-ID (retransmitted
/// answers to earlier, un-ACKed requests are skipped).
fn final_for(phone: &Phone, request: &str) -> Option<u16> {
    let call_id = request
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .unwrap();
    loop {
        let msg = phone.recv_final();
        if msg.call_id() == call_id {
            return msg.status();
        }
    }
}

#[test]
fn trunk_with_credentials_challenges_and_then_routes() {
    let config = test_config("10s", free_udp_port()).replace(
        "allow_from = [\"127.0.0.1\"]",
        "allow_from = [\"127.0.0.1\"]\ninbound_username = \"carrier\"\ninbound_password = \"trunk-in\"",
    );
    let switch = SwitchProc::start("trunk-auth", &config);
    let mut carrier = Phone::new(switch.sip);
    let uri = format!("sip:5559999@{}", switch.sip);

    let invite = carrier.request("INVITE", &uri, "customer", "");
    carrier.send(invite.as_bytes());
    let challenge = carrier.recv_final();
    assert_eq!(
        challenge.call_id(),
        invite
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .unwrap()
    );
    assert_eq!(challenge.status(), Some(401));

    // Wrong password: 403, and no call.
    let value = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
    let wrong = switchyard::sip::auth::answer_challenge(
        &value, "INVITE", &uri, "carrier", "guess", 1, &mut rng,
    )
    .unwrap();
    let invite = carrier.request(
        "INVITE",
        &uri,
        "customer",
        &format!("Authorization: {wrong}\r\n"),
    );
    carrier.send(invite.as_bytes());
    assert_eq!(final_for(&carrier, &invite), Some(403));

    // Right password: the call is routed (this number is unknown: 404).
    let right = switchyard::sip::auth::answer_challenge(
        &value, "INVITE", &uri, "carrier", "trunk-in", 2, &mut rng,
    )
    .unwrap();
    let invite = carrier.request(
        "INVITE",
        &uri,
        "customer",
        &format!("Authorization: {right}\r\n"),
    );
    carrier.send(invite.as_bytes());
    assert_eq!(final_for(&carrier, &invite), Some(404));
    switch.wait_metric("switchyard_auth_failures_total", |v| v == 1.0);
}
