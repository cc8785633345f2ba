//! Queued calls end to end: a carrier (SIPp) calls a queue DID, the
//! skill-based router picks an agent, the agent phone (SIPp) rings. Callers
//! wait for agents, skills pick the agent, a missed offer moves on, a caller
//! who hangs up while waiting counts as abandoned, wrap-up holds the next
//! call, and feature codes pause and resume an agent.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::scenarios::*;
use support::{free_udp_port, sipp_feature, sipp_register, Sipp, SwitchProc};

/// Two queues, a 2 s ring timeout and a 1 s wrap-up; agents log in when
/// their phones register and are never paused for missing offers.
fn queue_config() -> String {
    r#"
[switch]
sip_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
realm = "switchyard-test"
digest_challenge = "md5-first"
cdr_path = "cdr.sqlite"

[[agents]]
id = "1001"
password = "demo-1001"
auto_login = true
max_no_answer = 0
skills = { support = 9 }

[[agents]]
id = "1002"
password = "demo-1002"
auto_login = true
max_no_answer = 0
skills = { support = 4, sales = 6 }

[[agents]]
id = "1003"
password = "demo-1003"
auto_login = true
max_no_answer = 0
skills = { sales = 7 }

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]

[dids]
"5550200" = { queue = "support" }
"5550300" = { queue = "sales" }

[[queues]]
name = "support"
requires = "support:1"
strategy = "longest-idle"
ring_timeout = "2s"
wrap_up = "1s"

[[queues]]
name = "sales"
requires = "sales:1"
ring_timeout = "2s"
wrap_up = "1s"
"#
    .to_string()
}

fn agent(switch: &SwitchProc, port: u16, calls: u32, answer: &str) -> Sipp {
    let (port, calls) = (port.to_string(), calls.to_string());
    Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", answer)],
        &["-m", &calls, "-p", &port],
        None,
    )
}

fn carrier(switch: &SwitchProc, did: &str, calls: u32, after: &str) -> Sipp {
    let calls = calls.to_string();
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", after)],
        &["-m", &calls, "-s", did],
        Some(switch.sip),
    )
}

fn register(switch: &SwitchProc, user: &str, port: u16) {
    let password = format!("demo-{user}");
    sipp_register(&switch.dir, switch, user, &password, port, 200);
}

const SUPPORT_WAITING: &str = "switchyard_queue_calls_waiting{queue=\"support\"}";
const SUPPORT_ANSWERED: &str =
    "switchyard_queue_calls_total{queue=\"support\",outcome=\"answered\"}";

#[test]
fn caller_waits_until_an_agent_registers() {
    let switch = SwitchProc::start("q-wait", &queue_config());
    let caller = carrier(&switch, "5550200", 1, CARRIER_ANSWERED_HANGS_UP);
    switch.wait_metric(SUPPORT_WAITING, |v| v == 1.0);
    let port = free_udp_port();
    let phone = agent(&switch, port, 1, AGENT_ANSWERS);
    register(&switch, "1001", port);
    caller.expect_success();
    phone.expect_success();
    switch.wait_metric(SUPPORT_ANSWERED, |v| v == 1.0);
    switch.wait_metric(SUPPORT_WAITING, |v| v == 0.0);
    switch.wait_metric("switchyard_calls_active", |v| v == 0.0);
}

#[test]
fn support_call_rings_the_support_agent_never_the_sales_agent() {
    let switch = SwitchProc::start("q-skills", &queue_config());
    // 1003 (sales only) registers first, so it has been idle longest.
    let sales = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sales_port = sales.local_addr().unwrap().port();
    register(&switch, "1003", sales_port);
    let port = free_udp_port();
    let phone = agent(&switch, port, 1, AGENT_ANSWERS);
    register(&switch, "1001", port);
    carrier(&switch, "5550200", 1, CARRIER_ANSWERED_HANGS_UP).expect_success();
    phone.expect_success();
    switch.wait_metric(SUPPORT_ANSWERED, |v| v == 1.0);
    sales.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        sales.recv_from(&mut buf).is_err(),
        "the sales agent's phone got a message"
    );
}

#[test]
fn unanswered_offer_moves_on_to_the_next_agent() {
    let switch = SwitchProc::start("q-no-answer", &queue_config());
    let (first, second) = (free_udp_port(), free_udp_port());
    // 1001 registers first (idle longest) and lets its phone ring.
    let ringing = agent(&switch, first, 1, AGENT_RINGS_UNTIL_CANCELLED);
    register(&switch, "1001", first);
    let answering = agent(&switch, second, 1, AGENT_ANSWERS);
    register(&switch, "1002", second);
    carrier(&switch, "5550200", 1, CARRIER_ANSWERED_HANGS_UP).expect_success();
    ringing.expect_success();
    answering.expect_success();
    switch.wait_metric(SUPPORT_ANSWERED, |v| v == 1.0);
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}

#[test]
fn caller_who_hangs_up_while_waiting_counts_as_abandoned() {
    let switch = SwitchProc::start("q-abandon", &queue_config());
    carrier(&switch, "5550200", 1, CARRIER_CANCELS).expect_success();
    switch.wait_metric(
        "switchyard_queue_calls_total{queue=\"support\",outcome=\"abandoned\"}",
        |v| v == 1.0,
    );
    switch.wait_metric("switchyard_calls_total{outcome=\"abandoned\"}", |v| {
        v == 1.0
    });
    switch.wait_metric(SUPPORT_WAITING, |v| v == 0.0);
}

#[test]
fn second_call_waits_until_the_agents_wrap_up_ends() {
    let switch = SwitchProc::start("q-wrap-up", &queue_config());
    let port = free_udp_port();
    let phone = agent(&switch, port, 2, AGENT_ANSWERS);
    register(&switch, "1001", port);
    carrier(&switch, "5550200", 2, CARRIER_ANSWERED_HANGS_UP).expect_success();
    phone.expect_success();
    switch.wait_metric(SUPPORT_ANSWERED, |v| v == 2.0);
    // The second caller waited through the first call and the 1 s wrap-up.
    let waited = switch.wait_metric(
        "switchyard_queue_wait_seconds_sum{queue=\"support\",outcome=\"answered\"}",
        |v| v > 0.0,
    );
    assert!(
        waited >= Duration::from_secs(1).as_secs_f64(),
        "waits summed {waited}s"
    );
}

#[test]
fn paused_agent_gets_no_offer_until_it_resumes() {
    let switch = SwitchProc::start("q-pause", &queue_config());
    let (desk, contact) = (free_udp_port(), free_udp_port());
    let phone = agent(&switch, contact, 1, AGENT_ANSWERS);
    sipp_feature(
        &switch,
        "1001",
        "demo-1001",
        desk,
        contact,
        "*47",
        FEATURE_DONE,
    );
    switch.wait_metric("switchyard_agents{state=\"paused\"}", |v| v == 1.0);
    let caller = carrier(&switch, "5550200", 1, CARRIER_ANSWERED_HANGS_UP);
    switch.wait_metric(SUPPORT_WAITING, |v| v == 1.0);
    sipp_feature(
        &switch,
        "1001",
        "demo-1001",
        desk,
        contact,
        "*48",
        FEATURE_DONE,
    );
    caller.expect_success();
    phone.expect_success();
    switch.wait_metric(SUPPORT_ANSWERED, |v| v == 1.0);
    // Resuming an agent who is not paused is refused.
    let refused = FEATURE_REFUSED.replace("@STATUS@", "403");
    sipp_feature(&switch, "1001", "demo-1001", desk, contact, "*48", &refused);
}
