//! Calls from a carrier (SIPp) through the switch to an agent phone (SIPp):
//! answered and hung up from either side, cancelled, busy, unanswered,
//! agent not registered, unknown DID. Each test has its own switch and ports.

mod support;

use support::scenarios::*;
use support::{free_udp_port, sipp_register, test_config, Sipp, SwitchProc};

/// A switch with agent 1001 registered (through SIPp, with digest auth) at a
/// port where an agent scenario will listen.
fn switch_with_agent(name: &str, no_answer: &str) -> (SwitchProc, u16) {
    let switch = SwitchProc::start(name, &test_config(no_answer, free_udp_port()));
    let agent_port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", agent_port, 200);
    (switch, agent_port)
}

fn agent(switch: &SwitchProc, port: u16, answer: &str) -> Sipp {
    let port = port.to_string();
    Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", answer)],
        &["-m", "1", "-p", &port],
        None,
    )
}

fn carrier(switch: &SwitchProc, did: &str, after: &str, status: &str) -> Sipp {
    let after = after.replace("@STATUS@", status);
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", &after)],
        &["-m", "1", "-s", did],
        Some(switch.sip),
    )
}

#[test]
fn answered_call_hung_up_by_carrier() {
    let (switch, port) = switch_with_agent("carrier-hangs-up", "10s");
    let phone = agent(&switch, port, AGENT_ANSWERS);
    carrier(&switch, "5550100", CARRIER_ANSWERED_HANGS_UP, "").expect_success();
    phone.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_calls_active", |v| v == 0.0);
}

#[test]
fn answered_call_hung_up_by_agent() {
    let (switch, port) = switch_with_agent("agent-hangs-up", "10s");
    let phone = agent(&switch, port, AGENT_ANSWERS_AND_HANGS_UP);
    carrier(&switch, "5550100", CARRIER_ANSWERED_AGENT_HANGS_UP, "").expect_success();
    phone.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}

#[test]
fn caller_cancels_while_agent_rings() {
    let (switch, port) = switch_with_agent("cancel", "10s");
    let phone = agent(&switch, port, AGENT_RINGS_UNTIL_CANCELLED);
    carrier(&switch, "5550100", CARRIER_CANCELS, "").expect_success();
    phone.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"abandoned\"}", |v| {
        v == 1.0
    });
}

#[test]
fn busy_agent_gives_caller_486() {
    let (switch, port) = switch_with_agent("busy", "10s");
    let phone = agent(&switch, port, AGENT_BUSY);
    carrier(&switch, "5550100", CARRIER_REFUSED, "486").expect_success();
    phone.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"busy\"}", |v| v == 1.0);
}

#[test]
fn unanswered_call_times_out_with_480_and_cancels_the_agent() {
    let (switch, port) = switch_with_agent("no-answer", "1s");
    let phone = agent(&switch, port, AGENT_RINGS_UNTIL_CANCELLED);
    carrier(&switch, "5550100", CARRIER_REFUSED, "480").expect_success();
    phone.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"no_answer\"}", |v| {
        v == 1.0
    });
}

#[test]
fn agent_not_registered_gives_480() {
    let switch = SwitchProc::start("unregistered", &test_config("10s", free_udp_port()));
    carrier(&switch, "5550101", CARRIER_REFUSED, "480").expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"unavailable\"}", |v| {
        v == 1.0
    });
}

#[test]
fn unknown_did_gives_404() {
    let switch = SwitchProc::start("unknown-did", &test_config("10s", free_udp_port()));
    carrier(&switch, "5559999", CARRIER_REFUSED, "404").expect_success();
    // No call was created for it.
    switch.wait_metric("switchyard_calls_started_total", |v| v == 0.0);
}

#[test]
fn queued_call_rings_a_skilled_agent() {
    let switch = SwitchProc::start("queue", &test_config("10s", free_udp_port()));
    // 1003 has only `sales`; 1001 has `support`: a support call must ring 1001.
    let sales_port = free_udp_port();
    let support_port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1003", "demo-1003", sales_port, 200);
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", support_port, 200);
    let phone = agent(&switch, support_port, AGENT_ANSWERS);
    carrier(&switch, "5550200", CARRIER_ANSWERED_HANGS_UP, "").expect_success();
    phone.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}
