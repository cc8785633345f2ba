//! Originate over the wire: `POST /api/v1/calls` with the demo token rings
//! agent 1001's SIPp phone, which answers; then the SIPp carrier on the
//! trunk gets an INVITE for the number and answers in PCMA (the agent
//! speaks PCMU, so the relay transcodes). A tone the agent's socket sends
//! comes back from the carrier's RTP echo: media flows both ways through
//! the relay. Hung up through the API; the event stream, the API and the
//! call record tell the outcome.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::api::{self, get, post, SUPERVISOR, VIEWER};
use support::scenarios::{AGENT_ANSWERS_MEDIA_AT, CARRIER_UAS_ANSWERS};
use support::{
    free_port_block, free_udp_port, rtp_heard, send_tone, sipp_register, test_config, tone_share,
    Sipp, SwitchProc, EVENT_TIMEOUT,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::ops::client::{Client, Events};

const NUMBER: &str = "5551234";
const TONE_HZ: f64 = 1000.0;

/// Reads events until one satisfies `want`; all read, in order.
fn until(events: &mut Events, want: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let e = events.next_event().expect("readable").expect("open");
        let value: Value = serde_json::from_str(&e.data).expect("JSON");
        let done = want(&value);
        seen.push(value);
        if done {
            return seen;
        }
    }
    panic!("event never came; seen {seen:?}");
}

/// The `m=audio` port of the first SDP in a SIPp trace, once it is there.
fn offered_port(phone: &Sipp) -> u16 {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while Instant::now() < deadline {
        let trace = phone.messages();
        let port = trace
            .lines()
            .find_map(|l| l.trim().strip_prefix("m=audio "))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse().ok());
        if let Some(port) = port {
            return port;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the agent's phone got no offer:\n{}", phone.messages());
}

#[test]
fn a_call_placed_through_the_api_rings_the_agent_then_the_number_and_carries_audio_both_ways() {
    let block = free_port_block(10);
    let (lo, hi) = (block + block % 2, block + block % 2 + 7);
    let carrier_port = free_udp_port();
    let config = test_config("10s", carrier_port)
        + &format!("\n[media]\nrtp_ports = \"{lo}-{hi}\"\nrtp_address = \"127.0.0.1\"\n")
        + &api::api_section(16);
    let switch = SwitchProc::start("api-originate", &config);
    let h = switch.http;
    // The switch's own SDP, our address, PCMU first (the agent's codec).
    let ours = "o=switchyard (.|\\r|\\n)*c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio [0-9]+ RTP/AVP 0";

    let carrier = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", CARRIER_UAS_ANSWERS),
            ("@NUMBER@", NUMBER),
            ("@MEDIA_RE@", ours),
        ],
        &["-m", "1", "-p", &carrier_port.to_string(), "-rtp_echo"],
        None,
    );
    let agent_port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", agent_port, 200);
    let agent_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent_rtp_port = agent_rtp.local_addr().unwrap().port().to_string();
    let phone = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", AGENT_ANSWERS_MEDIA_AT),
            ("@MEDIA_RE@", ours),
            ("@AGENT_RTP@", &agent_rtp_port),
        ],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    let client = Client::new(&h.to_string(), Some(VIEWER.into()))
        .expect("address")
        .events_timeout(EVENT_TIMEOUT);
    let mut stream = client.events(None).expect("connect").expect("200");

    let body = format!(r#"{{"agent":"1001","number":"{NUMBER}"}}"#);
    let placed = post(h, "/api/v1/calls", SUPERVISOR, &body);
    assert_eq!(placed.status, 201, "{placed:?}");
    let call = placed.body["call"]
        .as_str()
        .expect("the call's id")
        .to_string();
    assert!(
        placed
            .head
            .contains(&format!("location: /api/v1/calls/{call}")),
        "{}",
        placed.head
    );
    let seen = until(&mut stream, |e| {
        e["type"] == "call_answered" && e["call"] == call.as_str()
    });
    let steps: Vec<&str> = seen
        .iter()
        .filter(|e| e["call"] == call.as_str() && e["type"] != "agent_state")
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "call_originated",
            "call_offered",
            "call_dialling",
            "call_answered"
        ]
    );
    let busy = seen
        .iter()
        .any(|e| e["type"] == "agent_state" && e["agent"] == "1001" && e["state"] == "busy");
    assert!(busy, "1001 is busy for the queues: {seen:?}");
    let one = get(h, &format!("/api/v1/calls/{call}"), VIEWER);
    assert_eq!(
        (one.status, &one.body["phase"], &one.body["agent"]),
        (200, &"talking".into(), &"1001".into()),
        "{one:?}"
    );

    // The agent talks to the switch's port for their leg; the carrier's
    // echo brings it back through the relay (transcoded both ways).
    let to_switch = SocketAddr::from(([127, 0, 0, 1], offered_port(&phone)));
    let talker = agent_rtp.try_clone().unwrap();
    let talking = std::thread::spawn(move || {
        send_tone(&talker, to_switch, TONE_HZ, Duration::from_secs(2));
    });
    let heard = rtp_heard(&agent_rtp, Duration::from_secs(3));
    talking.join().unwrap();
    assert!(heard.len() > 50, "only {} packets came back", heard.len());
    let pcm: Vec<i16> = heard
        .iter()
        .filter(|p| p[1] & 0x7f == 0)
        .flat_map(|p| p[12..].iter().map(|&b| ulaw_decode(b)))
        .collect();
    let share = tone_share(&pcm, TONE_HZ, 8000);
    assert!(share > 0.5, "the echo carries the tone in {share:.2} of it");

    let hangup = post(h, &format!("/api/v1/calls/{call}/hangup"), SUPERVISOR, "");
    assert_eq!(hangup.status, 200, "{hangup:?}");
    phone.expect_success();
    carrier.expect_success();
    let ended = until(&mut stream, |e| {
        e["type"] == "call_ended" && e["call"] == call.as_str()
    });
    let ended = ended.last().unwrap();
    assert_eq!(
        (&ended["outcome"], &ended["agent"]),
        (&"operator".into(), &"1001".into())
    );
    let gone = get(h, &format!("/api/v1/calls/{call}"), VIEWER);
    assert_eq!(gone.status, 404, "{gone:?}");
    let agent = get(h, "/api/v1/agents/1001", VIEWER);
    assert_eq!(agent.body["state"], "available", "{agent:?}");

    switch.wait_metric("switchyard_cdr_written_total", |v| v == 1.0);
    let db = rusqlite::Connection::open(switch.dir.join("cdr.sqlite")).expect("CDR store");
    let row: (
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
    ) = db
        .query_row(
            "SELECT outcome, agent, trunk, dialled, call_uuid FROM call_records",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("one call record");
    assert_eq!(
        row,
        (
            "operator".into(),
            Some("1001".into()),
            Some("demo-carrier".into()),
            NUMBER.into(),
            Some(call)
        )
    );
    switch.wait_metric("switchyard_media_port_pairs_free", |v| v == 4.0);
}
