//! A call's whole life seen by a carrier and an agent phone written here:
//! what each leg sees (topology hiding), a graceful stop (503 for new calls,
//! BYE to calls in progress, exit 0), and the call's record in SQLite.

// The test plays a carrier's digest server, which takes the time as input.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use support::{free_udp_port, test_config, Phone, SwitchProc};
use switchyard::ops::cdr::CdrStore;
use switchyard::sip::parse::{Contacts, HeaderName, Message};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// A response to `req` from a phone, with `tag` on To and optional SDP.
fn reply(phone: &Phone, req: &Message, status: u16, reason: &str, tag: &str, sdp: bool) -> String {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for via in req.vias() {
        out += &format!("Via: {}\r\n", via.as_str());
    }
    let to = match req.to().tag() {
        Some(_) => req.to().as_str().to_string(),
        None => format!("{};tag={tag}", req.to().as_str()),
    };
    out += &format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {}\r\nContact: <sip:phone@{}>\r\n",
        req.from().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        phone.addr
    );
    if sdp {
        out += &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            SDP.len()
        );
    } else {
        out += "Content-Length: 0\r\n\r\n";
    }
    out
}

/// The next request the phone receives (responses skipped).
fn next_request(phone: &Phone) -> Message {
    loop {
        let msg = phone.recv();
        if msg.is_request() {
            return msg;
        }
    }
}

fn invite(carrier: &mut Phone, did: &str) -> (String, String) {
    let t = carrier.token();
    let call_id = format!("carrier-{t}");
    let text = format!(
        "INVITE sip:{did}@{s} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{t};rport\r\n\
         Record-Route: <sip:edge.carrier.example;lr>\r\nMax-Forwards: 70\r\n\
         From: \"Customer\" <sip:+15551234567@{a}>;tag=c{t}\r\nTo: <sip:{did}@{s}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:carrier@{a}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{SDP}",
        s = carrier.server,
        a = carrier.addr,
        len = SDP.len()
    );
    carrier.send(text.as_bytes());
    (call_id, format!("c{t}"))
}

#[test]
fn graceful_stop_hangs_up_calls_refuses_new_ones_and_keeps_the_record() {
    let mut switch = SwitchProc::start("lifecycle", &test_config("10s", free_udp_port()));
    let mut agent = Phone::new(switch.sip);
    let mut carrier = Phone::new(switch.sip);
    assert_eq!(
        agent
            .register("1001", "demo-1001", agent.addr, 3600)
            .status(),
        Some(200)
    );

    let (carrier_call_id, _) = invite(&mut carrier, "5550100");
    let offer = next_request(&agent);
    assert_eq!(offer.method().map(|m| m.as_str()), Some("INVITE"));
    // Topology hiding: nothing of the carrier's signalling path reaches the agent.
    let raw = String::from_utf8_lossy(offer.as_bytes()).to_string();
    assert_ne!(offer.call_id(), carrier_call_id);
    assert_eq!(offer.vias().len(), 1);
    assert!(
        !raw.contains(&carrier.addr.to_string()),
        "carrier address leaked:\n{raw}"
    );
    assert!(
        !raw.contains("edge.carrier.example") && !raw.contains("Record-Route"),
        "route leaked:\n{raw}"
    );
    assert!(
        offer.body().ends_with(b"m=audio 40000 RTP/AVP 0\r\n"),
        "SDP passed through"
    );
    // The agent sees who is calling.
    assert_eq!(offer.from().uri().user(), Some("+15551234567"));

    agent.send(reply(&agent, &offer, 180, "Ringing", "agent1", false).as_bytes());
    agent.send(reply(&agent, &offer, 200, "OK", "agent1", true).as_bytes());
    // The switch ACKs the agent's 2xx itself.
    let ack = next_request(&agent);
    assert_eq!(ack.method().map(|m| m.as_str()), Some("ACK"));

    let ok = carrier.recv_final();
    assert_eq!(ok.status(), Some(200));
    let raw = String::from_utf8_lossy(ok.as_bytes()).to_string();
    assert!(
        !raw.contains(&agent.addr.to_string()),
        "agent address leaked:\n{raw}"
    );
    assert_eq!(ok.vias().len(), 1);
    let Contacts::List(contact) = ok.contacts() else {
        panic!("contact")
    };
    assert_eq!(
        contact[0].uri().as_str(),
        format!("sip:switchyard@{}", switch.sip)
    );
    let to_tag = ok.to().tag().unwrap().to_string();
    carrier.send(
        format!(
            "ACK sip:switchyard@{s} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKack1;rport\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: <sip:5550100@{s}>;tag={to_tag}\r\nCall-ID: {carrier_call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            s = switch.sip,
            a = carrier.addr,
            from = ok.from().as_str(),
        )
        .as_bytes(),
    );
    switch.wait_metric("switchyard_calls_active", |v| v == 1.0);

    switch.terminate();
    let bye_to_carrier = next_request(&carrier);
    let bye_to_agent = next_request(&agent);
    assert_eq!(bye_to_carrier.method().map(|m| m.as_str()), Some("BYE"));
    assert_eq!(bye_to_agent.method().map(|m| m.as_str()), Some("BYE"));
    // The carrier's Record-Route is the route set of our BYE (RFC 3261 §12.1.1).
    assert_eq!(
        bye_to_carrier.header(&HeaderName::Route),
        Some("<sip:edge.carrier.example;lr>")
    );
    assert_eq!(bye_to_carrier.call_id(), carrier_call_id);
    assert_eq!(bye_to_carrier.from().tag(), Some(to_tag.as_str()));

    // While draining, a new call is refused with 503 and Retry-After.
    invite(&mut carrier, "5550100");
    let refused = carrier.recv_final();
    assert_eq!(refused.status(), Some(503));
    assert!(refused.header(&HeaderName::RetryAfter).is_some());

    carrier.send(reply(&carrier, &bye_to_carrier, 200, "OK", "x", false).as_bytes());
    agent.send(reply(&agent, &bye_to_agent, 200, "OK", "x", false).as_bytes());
    let status = switch.wait_exit();
    assert!(status.success(), "switch exited with {status}");

    let store = CdrStore::open_read_only(&switch.dir.join("cdr.sqlite")).expect("cdr store");
    let records = store.recent(10).expect("records");
    // The call hung up, and the caller turned away while draining.
    assert_eq!(records.len(), 2, "{records:#?}");
    let by_outcome = |outcome: &str| {
        records
            .iter()
            .map(|r| &r.row)
            .find(|r| r.outcome == outcome)
            .unwrap_or_else(|| panic!("no {outcome} record in {records:#?}"))
    };
    assert_eq!(by_outcome("rejected").rejected_status, Some(503));
    let row = by_outcome("shutdown");
    assert_eq!(row.dialled, "5550100");
    assert_eq!(row.agent.as_deref(), Some("1001"));
    assert_eq!(row.trunk.as_deref(), Some("demo-carrier"));
    assert_eq!(row.sip_call_id, carrier_call_id);
}

#[test]
fn http_surface_answers_json_and_prometheus_text() {
    let switch = SwitchProc::start("http", &test_config("10s", free_udp_port()));
    let (status, body) = switch.http_get("/healthz");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).expect("healthz is JSON");
    assert_eq!(health["status"], "ok");
    let metrics = switch.metrics();
    assert!(metrics.contains("switchyard_calls_active"), "{metrics}");
    let (status, body) = switch.http_get("/no/such/path");
    assert_eq!(status, 404);
    let error: serde_json::Value = serde_json::from_str(&body).expect("404 is JSON");
    assert_eq!(error["error"], "not_found");
    let (status, body) = support::http_request(switch.http, "POST", "/metrics");
    assert_eq!(status, 405);
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
}

#[test]
fn agent_calls_out_through_a_carrier_that_challenges() {
    let carrier = Phone::new("127.0.0.1:9".parse().unwrap());
    let config = test_config("10s", carrier.addr.port()).replace(
        "transport = \"udp\" }",
        "transport = \"udp\", username = \"centre\", password = \"trunk-secret\" }",
    );
    let switch = SwitchProc::start("outbound", &config);
    let mut agent = Phone::new(switch.sip);
    assert_eq!(
        agent
            .register("1002", "demo-1002", agent.addr, 3600)
            .status(),
        Some(200)
    );

    // The agent dials an outside number; the switch asks the agent to authenticate first.
    let uri = format!("sip:15557654321@{}", switch.sip);
    let dial = |agent: &mut Phone, cseq: u32, auth: &str| -> String {
        let t = agent.token();
        let text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:1002@{s}>;tag=agentcall\r\nTo: <{uri}>\r\nCall-ID: agent-out-call\r\nCSeq: {cseq} INVITE\r\n\
             Contact: <sip:1002@{a}>\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{SDP}",
            a = agent.addr,
            s = switch.sip,
            len = SDP.len()
        );
        agent.send(text.as_bytes());
        format!("z9hG4bK{t}")
    };
    let branch = dial(&mut agent, 1, "");
    let challenge = agent.recv_final();
    assert_eq!(challenge.status(), Some(401));
    // ACK the 401 in its transaction (RFC 3261 §17.1.1.3), so it is not retransmitted.
    agent.send(
        format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:1002@{s}>;tag=agentcall\r\nTo: {to}\r\nCall-ID: agent-out-call\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            a = agent.addr,
            s = switch.sip,
            to = challenge.to().as_str(),
        )
        .as_bytes(),
    );
    let value = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let answer = switchyard::sip::auth::answer_challenge(
        &value,
        "INVITE",
        &uri,
        "1002",
        "demo-1002",
        1,
        &mut rng,
    )
    .unwrap();
    dial(&mut agent, 2, &format!("Authorization: {answer}\r\n"));

    // The carrier challenges the switch, which answers with the trunk's credentials.
    let mut server = switchyard::sip::auth::DigestServer::new(
        "carrier.example",
        Default::default(),
        &mut rng,
        std::time::Instant::now(),
    );
    let first = next_request(&carrier);
    assert_eq!(first.request_uri().unwrap().user(), Some("15557654321"));
    let challenges = server.challenge(std::time::Instant::now(), &mut rng, false);
    let mut text = reply(
        &carrier,
        &first,
        407,
        "Proxy Authentication Required",
        "carrier1",
        false,
    );
    text = text.replace(
        "Content-Length: 0",
        &format!("Proxy-Authenticate: {}\r\nContent-Length: 0", challenges[0]),
    );
    // The 407 goes back to the switch, not to the dummy server address.
    carrier.sock.send_to(text.as_bytes(), switch.sip).unwrap();
    let second = loop {
        let msg = next_request(&carrier);
        if msg.method().map(|m| m.as_str()) == Some("INVITE") {
            break msg;
        }
    };
    assert!(second.cseq().seq > first.cseq().seq);
    let credentials = second
        .header(&HeaderName::ProxyAuthorization)
        .expect("credentials");
    let verified = server
        .verify(std::time::Instant::now(), "INVITE", credentials, |u| {
            (u == "centre").then(|| "trunk-secret".to_string())
        })
        .expect("the switch answered the challenge correctly");
    assert_eq!(verified.username, "centre");
    carrier
        .sock
        .send_to(
            reply(&carrier, &second, 200, "OK", "carrier2", true).as_bytes(),
            switch.sip,
        )
        .unwrap();
    let ok = agent.recv_final();
    assert_eq!(ok.status(), Some(200));
    // The agent's leg and the carrier's are separate dialogs.
    assert_eq!(ok.call_id(), "agent-out-call");
    assert_ne!(second.call_id(), "agent-out-call");
    assert!(agent
        .try_recv(Duration::from_millis(200))
        .is_none_or(|m| m.status() != Some(401)));
}
