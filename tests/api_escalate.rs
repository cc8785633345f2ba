//! Escalate and takeover over real HTTP against the switch binary: a
//! call ringing agent 1001 is not talking (409 `not_talking`) and has no
//! supervisor listening in (409 `not_supervised`); an unknown call is 404.
//! A talking call (SIPp agent 1001, anchored media) escalated through the
//! API: the agent's phone gets a BYE and the caller waits in the
//! escalation queue. The rest of the happy paths are in tests/sim_escalate.rs.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Instant;

use serde_json::Value;
use support::api::{self, post, ADMIN, SUPERVISOR, VIEWER};
use support::{
    free_port_block, free_udp_port, sipp_media_agent, test_config, MediaCaller, Phone, SwitchProc,
    EVENT_TIMEOUT,
};
use switchyard::ops::client::Client;

/// A call id no switch gave out.
const NO_CALL: &str = "019aee1c-5f3b-7a41-9c2e-5b1f0d6e7a88";

fn error_of(a: &api::Answer) -> (u16, String) {
    let code = a.body["error"].as_str().unwrap_or("(no error)").to_string();
    (a.status, code)
}

#[test]
fn escalate_and_takeover_refuse_a_ringing_call_with_json_409() {
    let config = test_config("10s", free_udp_port()) + &api::api_section(16);
    let switch = SwitchProc::start("api-escalate", &config);
    let h = switch.http;
    let mut phone = Phone::new(switch.sip);
    let contact = phone.addr;
    assert_eq!(
        phone.register("1001", "demo-1001", contact, 300).status(),
        Some(200)
    );
    for what in ["escalate", "takeover"] {
        let path = format!("/api/v1/calls/{NO_CALL}/{what}");
        let answer = post(h, &path, SUPERVISOR, "");
        assert_eq!(error_of(&answer), (404, "unknown_call".into()), "{what}");
    }

    let client = Client::new(&h.to_string(), Some(VIEWER.into()))
        .expect("address")
        .events_timeout(EVENT_TIMEOUT);
    let mut stream = client.events(None).expect("connect").expect("200");
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    caller.invite(100);
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let call = loop {
        assert!(Instant::now() < deadline, "no call_offered");
        let e = stream.next_event().expect("readable").expect("open");
        let value: Value = serde_json::from_str(&e.data).expect("JSON");
        if value["type"] == "call_offered" {
            break value["call"].as_str().expect("call id").to_string();
        }
    };

    let escalate = post(h, &format!("/api/v1/calls/{call}/escalate"), SUPERVISOR, "");
    assert_eq!(error_of(&escalate), (409, "not_talking".into()));
    assert!(
        escalate.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not connected")),
        "{escalate:?}"
    );
    let takeover = post(h, &format!("/api/v1/calls/{call}/takeover"), SUPERVISOR, "");
    assert_eq!(error_of(&takeover), (409, "not_supervised".into()));
    // Viewers may not move calls.
    let viewer = post(h, &format!("/api/v1/calls/{call}/escalate"), VIEWER, "");
    assert_eq!(viewer.status, 403, "{viewer:?}");
    let hangup = post(h, &format!("/api/v1/calls/{call}/hangup"), ADMIN, "");
    assert_eq!(hangup.status, 200, "{hangup:?}");
}

#[test]
fn an_escalated_call_leaves_its_agent_and_waits_in_the_escalation_queue() {
    let block = free_port_block(12);
    let lo = block + block % 2;
    let plan = test_config("10s", free_udp_port()).replacen(
        "[switch]\n",
        "[switch]\nescalation_queue = \"sales\"\n",
        1,
    );
    let config = format!(
        "{plan}{}\n[media]\nrtp_ports = \"{lo}-{}\"\n",
        api::api_section(16),
        lo + 11
    );
    let switch = SwitchProc::start("api-escalate-talking", &config);
    let h = switch.http;
    let (agent, _agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {} RTP/AVP 0", lo + 2));
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let calls = api::get(h, "/api/v1/calls", VIEWER);
    let call = calls.body["calls"][0]["id"]
        .as_str()
        .expect("a call")
        .to_string();
    assert_eq!(calls.body["calls"][0]["phase"], "talking", "{calls:?}");

    let escalate = post(h, &format!("/api/v1/calls/{call}/escalate"), SUPERVISOR, "");
    assert_eq!(escalate.status, 200, "{escalate:?}");
    // The SIPp agent's scenario ends with the switch's BYE.
    agent.expect_success();
    let now = api::get(h, &format!("/api/v1/calls/{call}"), VIEWER);
    assert_eq!(
        (&now.body["phase"], &now.body["queue"]),
        (&Value::from("queued"), &Value::from("sales")),
        "{now:?}"
    );
    let again = post(h, &format!("/api/v1/calls/{call}/escalate"), SUPERVISOR, "");
    assert_eq!(error_of(&again), (409, "not_talking".into()));
    let hangup = post(h, &format!("/api/v1/calls/{call}/hangup"), ADMIN, "");
    assert_eq!(hangup.status, 200, "{hangup:?}");
}
