//! Dial rules against toll fraud on the wire (issue 13 item 4): an agent
//! (SIPp, digest-authenticated) dialling a premium 900 number gets 403
//! with a reason phrase and the carrier (SIPp) sees no INVITE; an
//! ordinary number goes out and is answered; originate through the API
//! is held to the same rules; the demo dialplan refuses premium and
//! international numbers.

// Real sockets with bounded waits: the test is a driver.
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;

use support::api::{api_section, post, SUPERVISOR};
use support::scenarios::*;
use support::{free_udp_port, test_config, Sipp, SwitchProc};
use switchyard::config::Config;
use switchyard::dial_rules::DialRefused;

/// Agent 1002's phone (SIPp) registers and dials `number`; `after` is
/// what follows the final answer.
fn agent_dials(switch: &SwitchProc, contact_port: u16, number: &str, after: &str) -> Sipp {
    let after = after.replace("@USER@", "1002").replace("@CODE@", number);
    let contact = contact_port.to_string();
    Sipp::start(
        &switch.dir,
        "feature.xml",
        &[("@AFTER@", &after), ("@USER@", "1002"), ("@CODE@", number)],
        &[
            "-m",
            "1",
            "-au",
            "1002",
            "-ap",
            "demo-1002",
            "-key",
            "contact_port",
            &contact,
        ],
        Some(switch.sip),
    )
}

#[test]
fn a_premium_number_is_refused_before_the_carrier_and_an_ordinary_one_goes_out() {
    let carrier_port = free_udp_port();
    let config = test_config("10s", carrier_port) + &api_section(16);
    let switch = SwitchProc::start("dial-rules", &config);
    // The carrier takes one call: the ordinary one.
    let carrier = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", "1", "-p", &carrier_port.to_string()],
        None,
    );
    let contact_port = free_udp_port();
    let refused = FEATURE_REFUSED.replace("@STATUS@", "403");
    let premium = agent_dials(&switch, contact_port, "9005551234", &refused);
    let premium_messages = premium.expect_success_messages();
    assert!(
        premium_messages.contains("SIP/2.0 403 Number Barred By Dial Rules"),
        "no reason phrase:\n{premium_messages}"
    );
    switch.wait_metric("switchyard_dial_refused_total{reason=\"denied\"}", |v| {
        v == 1.0
    });
    let log = switch.log();
    let line = log
        .lines()
        .find(|l| l.contains("dial refused by dial rules"))
        .expect("a warning for the refused dial");
    for field in [
        "sip_call_id=",
        "agent=1002",
        "number=…34",
        "rule=900{3,32}",
        "reason=denied",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    assert!(!log.contains("9005551234"), "the whole number was logged");

    agent_dials(&switch, contact_port, "5551234", AGENT_CALL_ANSWERED).expect_success();
    let carrier_messages = carrier.expect_success_messages();
    assert!(
        carrier_messages.contains("INVITE sip:5551234@"),
        "{carrier_messages}"
    );
    assert!(
        !carrier_messages.contains("900555"),
        "the carrier saw the premium number:\n{carrier_messages}"
    );

    // Originate is held to the same rules (checked before "not built").
    let answer = post(
        switch.http,
        "/api/v1/calls",
        SUPERVISOR,
        r#"{"agent": "1002", "number": "+442071234567"}"#,
    );
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (403, Some("dial_refused")),
        "{answer:?}"
    );
    switch.wait_metric("switchyard_dial_refused_total{reason=\"denied\"}", |v| {
        v == 2.0
    });
}

#[test]
fn dial_rule_sets_are_per_agent_and_the_demo_refuses_premium_and_international() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans/default.toml");
    let text = std::fs::read_to_string(&demo).expect("demo dialplan");
    let demo = Config::parse(&text, &demo).expect("the demo dialplan is valid");
    for agent in ["1001", "1002", "1003", "1004"] {
        let rules = demo.dial_rules_for(agent);
        for number in [
            "9005551234",
            "19005551234",
            "0044201234567",
            "011442012345",
            "+442012345",
        ] {
            assert!(rules.check(number).is_err(), "{agent} may dial {number}");
        }
        assert_eq!(rules.check("5551234"), Ok(()), "{agent}");
    }

    let config = test_config("10s", free_udp_port())
        .replace("id = \"1003\"", "id = \"1003\"\ndial_rules = \"local\"")
        + "\n[[dial_rules]]\nname = \"local\"\nallow = [\"555{7}\"]\n";
    let config = Config::parse(&config, Path::new("t.toml")).expect("valid");
    assert_eq!(config.dial_rules_for("1003").check("5551234"), Ok(()));
    assert_eq!(
        config.dial_rules_for("1003").check("15551234567"),
        Err(DialRefused::NotAllowed)
    );
    // Other agents keep the built-in rules.
    assert_eq!(config.dial_rules_for("1001").check("15551234567"), Ok(()));
    assert_eq!(
        config.dial_rules_for("1001").check("9005551234"),
        Err(DialRefused::Denied)
    );
}
