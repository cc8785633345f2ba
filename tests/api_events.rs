//! The event stream over real HTTP (issue 11): an agent's pause and a
//! call's steps arrive in order with the call's id, and a client that
//! reconnects with `Last-Event-ID` gets exactly what followed.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Instant;

use serde_json::Value;
use support::api::{self, get, post, ADMIN, SUPERVISOR, VIEWER};
use support::{free_udp_port, test_config, MediaCaller, Phone, SwitchProc, EVENT_TIMEOUT};
use switchyard::ops::client::{Client, Events};
use switchyard::ops::sse::SSE_CLIENTS_MAX;

/// Reads events until one satisfies `want`; all read, in order, with ids.
fn until(events: &mut Events, want: impl Fn(&Value) -> bool) -> Vec<(u64, Value)> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let e = events
            .next_event()
            .expect("stream readable")
            .expect("stream open");
        let value: Value = serde_json::from_str(&e.data).expect("one JSON object per data:");
        let id = e.id.expect("every event has an id");
        let done = want(&value);
        seen.push((id, value));
        if done {
            return seen;
        }
    }
    panic!("event never came; seen {seen:?}");
}

#[test]
fn the_stream_tells_a_pause_and_a_calls_steps_in_order_and_resumes_after_last_event_id() {
    let config = test_config("10s", free_udp_port()) + &api::api_section(16);
    let switch = SwitchProc::start("api-events", &config);
    let h = switch.http;
    let mut phone = Phone::new(switch.sip);
    let contact = phone.addr;
    assert_eq!(
        phone.register("1001", "demo-1001", contact, 300).status(),
        Some(200)
    );

    let client = Client::new(&h.to_string(), Some(VIEWER.into()))
        .expect("address")
        .events_timeout(EVENT_TIMEOUT);
    let mut stream = client.events(None).expect("connect").expect("200");

    let pause = post(
        h,
        "/api/v1/agents/1001/pause",
        SUPERVISOR,
        r#"{"reason":"break"}"#,
    );
    assert_eq!(pause.status, 200);
    let mut seen = until(&mut stream, |e| {
        e["type"] == "agent_state" && e["state"] == "paused"
    });
    let (pause_id, paused) = seen.last().cloned().expect("the pause");
    assert_eq!(
        (&paused["agent"], &paused["reason"]),
        (&"1001".into(), &"break".into())
    );
    assert_eq!(
        post(h, "/api/v1/agents/1001/resume", SUPERVISOR, "").status,
        200
    );

    // A call to 1001's DID, hung up through the API while it rings.
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    caller.invite(100);
    seen.extend(until(&mut stream, |e| e["type"] == "call_offered"));
    let call = seen
        .iter()
        .find(|(_, e)| e["type"] == "call_arrived")
        .map(|(_, e)| e["call"].as_str().expect("call id").to_string())
        .expect("call_arrived");
    let hangup = post(h, &format!("/api/v1/calls/{call}/hangup"), ADMIN, "");
    assert_eq!(hangup.status, 200, "{hangup:?}");
    seen.extend(until(&mut stream, |e| e["type"] == "call_ended"));

    let steps: Vec<&str> = seen
        .iter()
        .filter(|(_, e)| e["call"] == call.as_str() && e["type"] != "agent_state")
        .map(|(_, e)| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(steps, ["call_arrived", "call_offered", "call_ended"]);
    let ended = &seen.last().expect("ended").1;
    assert_eq!(ended["outcome"], "operator");
    let ids: Vec<u64> = seen.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids {ids:?}");
    drop(stream);

    // Reconnect after the pause: everything since, in the same order.
    let mut again = client
        .events(Some(pause_id))
        .expect("connect")
        .expect("200");
    let last_id = ids.last().copied().expect("ids");
    let mut replayed = Vec::new();
    while replayed.last().map(|(id, _)| *id) != Some(last_id) {
        replayed.extend(until(&mut again, |_| true));
    }
    let expected: Vec<(u64, Value)> = seen.into_iter().filter(|(id, _)| *id > pause_id).collect();
    assert_eq!(replayed, expected);
    assert_eq!(replayed[0].1["state"], "available");
}

#[test]
fn streams_beyond_their_cap_get_503_and_requests_still_get_through() {
    let connections = u32::try_from(SSE_CLIENTS_MAX).expect("small") + 8;
    let config = test_config("10s", free_udp_port()) + &api::api_section(connections);
    let switch = SwitchProc::start("api-streams", &config);
    let client = Client::new(&switch.http.to_string(), Some(VIEWER.into()))
        .expect("address")
        .events_timeout(EVENT_TIMEOUT);
    let open: Vec<Events> = (0..SSE_CLIENTS_MAX)
        .map(|_| client.events(None).expect("connect").expect("200"))
        .collect();
    let refused = match client.events(None).expect("connect") {
        Ok(_) => panic!("a stream past the cap was served"),
        Err(response) => response,
    };
    assert_eq!(refused.status, 503);
    assert!(
        refused.body.contains("too_many_streams"),
        "{}",
        refused.body
    );
    assert_eq!(get(switch.http, "/api/v1/agents", VIEWER).status, 200);
    drop(open);
}
