//! The API steers the queues over the wire (issue 11): SIPp phones for
//! agents 1001 and 1002; 1001 (the most skilled) paused through the API,
//! a support call from a SIPp carrier rings 1002 only; 1001 resumed
//! through the API, the next support call rings 1001.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::BTreeSet;

use serde_json::json;
use support::api::{self, get, post, SUPERVISOR, VIEWER};
use support::scenarios::*;
use support::{free_udp_port, sipp_register, Sipp, SwitchProc};

fn config(far_end: u16) -> String {
    format!(
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
skills = {{ support = 9 }}

[[agents]]
id = "1002"
password = "demo-1002"
auto_login = true
skills = {{ support = 4 }}

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]
outbound = {{ address = "127.0.0.1:{far_end}", transport = "udp" }}

[dids]
"5550200" = {{ queue = "support" }}

[[queues]]
name = "support"
requires = "support:1"
strategy = "most-skilled"
ring_timeout = "15s"
wrap_up = "0s"
"#
    ) + &api::api_section(16)
}

fn answering_phone(switch: &SwitchProc, port: u16) -> Sipp {
    let args = ["-m", "1", "-p", &port.to_string()];
    Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &args,
        None,
    )
}

fn support_call(switch: &SwitchProc) {
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CARRIER_ANSWERED_HANGS_UP)],
        &["-m", "1", "-s", "5550200"],
        Some(switch.sip),
    )
    .expect_success();
}

/// Distinct Call-IDs in a SIPp message trace: the calls its phone saw.
fn calls_seen(messages: &str) -> BTreeSet<String> {
    messages
        .lines()
        .filter_map(|l| l.strip_prefix("Call-ID:"))
        .map(|v| v.trim().to_string())
        .collect()
}

#[test]
fn an_agent_paused_through_the_api_is_skipped_and_rung_again_once_resumed() {
    let switch = SwitchProc::start("api-wire", &config(free_udp_port()));
    let h = switch.http;
    let (port_1001, port_1002) = (free_udp_port(), free_udp_port());
    let phone_1001 = answering_phone(&switch, port_1001);
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", port_1001, 200);
    let phone_1002 = answering_phone(&switch, port_1002);
    sipp_register(&switch.dir, &switch, "1002", "demo-1002", port_1002, 200);

    let paused = post(
        h,
        "/api/v1/agents/1001/pause",
        SUPERVISOR,
        r#"{"reason":"break"}"#,
    );
    assert_eq!(paused.status, 200, "{paused:?}");
    support_call(&switch);
    phone_1002.expect_success();
    let seen = calls_seen(&phone_1001.messages());
    assert!(seen.is_empty(), "the paused agent's phone saw {seen:?}");

    let resumed = post(h, "/api/v1/agents/1001/resume", SUPERVISOR, "");
    assert_eq!(resumed.status, 200, "{resumed:?}");
    let agent = get(h, "/api/v1/agents/1001", VIEWER).body;
    assert_eq!(agent["state"], json!("available"));
    support_call(&switch);
    phone_1001.expect_success();
    switch.wait_metric(
        "switchyard_queue_calls_total{queue=\"support\",outcome=\"answered\"}",
        |v| v == 2.0,
    );
}
