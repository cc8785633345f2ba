//! Agents a queue's call was handed to wrap up as the queue's own agents
//! do, decided by the pure switch core in virtual time: 1001 answers a
//! `sales` call and hands it to 1002, by blind transfer (REFER) or by an
//! API consultation then complete; when 1002's part ends, 1002 goes to
//! `wrap_up` for `sales`'s `wrap_up`, the wrap-up is about that call (the
//! agent event log's `wrapup_start` line names it) and a disposition code
//! lands on each agent's own wrap-up. A direct call of no queue leaves its target free at once.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

mod sim_wire;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sim_wire::{drain, final_status, peer, reply, request, requests, sdp, with_auth, Out};
use switchyard::call::CallUuid;
use switchyard::config::Config;
use switchyard::ops::cdr::agent_events;
use switchyard::sip::parse::Message;
use switchyard::switch::{Command, Event, EventKind, Plan, Reply, Switch};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-only"
no_answer_timeout = "20s"

[[agents]]
id = "1001"
password = "pw-1001"
auto_login = true
skills = { sales = 5 }

[[agents]]
id = "1002"
password = "pw-1002"
auto_login = true
skills = { billing = 5 }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]

[dids]
"5550100" = { agent = "1001" }
"5550200" = { queue = "sales" }

[[queues]]
name = "sales"
requires = "sales:1"
wrap_up = "30s"

[[queues]]
name = "billing"
requires = "billing:1"
wrap_up = "5s"

[media]
rtp_ports = "20000-20019"
rtp_address = "127.0.0.1"
"#;

const AGENT: &str = "10.0.0.21:5060";
const TARGET: &str = "10.0.0.22:5060";
const CARRIER: &str = "10.0.0.1:5060";

fn switch_with_agents(t0: Instant) -> Switch {
    let cfg = Config::parse(CONFIG, Path::new("wrap.toml")).unwrap();
    let mut switch = Switch::new(Plan::from_config(&cfg), 11, t0);
    for (user, addr) in [("1001", AGENT), ("1002", TARGET)] {
        let out = with_auth(
            &mut switch,
            t0,
            "REGISTER",
            "sip:127.0.0.1:5060",
            user,
            addr,
            &format!("reg{user}"),
            "",
        );
        assert_eq!(final_status(&out), Some(200), "{user} registers");
    }
    switch
}

/// Answers every NOTIFY, BYE and re-INVITE the switch sent in `out` with 200.
fn answer_requests(switch: &mut Switch, now: Instant, out: &Out) {
    for (addr, m) in &out.sip {
        let Some(method) = m.method() else { continue };
        if matches!(method.as_str(), "NOTIFY" | "BYE" | "INVITE") && m.to().tag().is_some() {
            let body = if method.as_str() == "INVITE" {
                sdp(4300)
            } else {
                String::new()
            };
            let bytes = reply(m, 200, "ans", &addr.to_string(), &body);
            switch.handle_datagram(now, peer(&addr.to_string()), bytes);
        }
    }
}

/// A request from the phone at `addr` in the dialog `offer` formed.
fn in_dialog(method: &str, addr: &str, offer: &Message, cseq: u32, extra: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKw{cseq}{method}\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=ans\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:x@{addr}>\r\n{extra}Content-Length: 0\r\n\r\n",
        offer.to().as_str(),
        offer.from().as_str(),
        offer.call_id(),
    ))
}

/// The carrier calls `did`; the agent at `agent` answers and the caller
/// ACKs. The switch's INVITE to the agent and the caller's dialog To.
fn talking(switch: &mut Switch, now: Instant, did: &str, agent: &str) -> (Message, String) {
    let uri = format!("sip:{did}@127.0.0.1:5060");
    let to = format!("<sip:{did}@127.0.0.1>");
    let invite = request(
        "INVITE",
        &uri,
        "+15550001",
        CARRIER,
        "call-1",
        1,
        &to,
        "",
        &sdp(4000),
    );
    switch.handle_datagram(now, peer(CARRIER), invite);
    let out = drain(switch);
    let offer = requests(&out, agent, "INVITE")[0].clone();
    switch.handle_datagram(
        now,
        peer(agent),
        reply(&offer, 200, "ans", agent, &sdp(4100)),
    );
    let out = drain(switch);
    let caller_to = out
        .sip
        .iter()
        .find(|(a, m)| a.to_string() == CARRIER && m.status() == Some(200))
        .map(|(_, m)| m.to().as_str().to_string())
        .expect("the caller is answered");
    let ack = request(
        "ACK",
        &uri,
        "+15550001",
        CARRIER,
        "call-1",
        1,
        &caller_to,
        "",
        "",
    );
    switch.handle_datagram(now, peer(CARRIER), ack);
    drain(switch);
    (offer, caller_to)
}

fn agent_state(switch: &mut Switch, now: Instant, agent: &str) -> &'static str {
    let Reply::Agents { agents } = switch.handle_command(now, Command::ListAgents).unwrap() else {
        panic!("agents expected");
    };
    agents.iter().find(|a| a.id == agent).unwrap().state
}

fn call_uuid(switch: &mut Switch, now: Instant) -> CallUuid {
    let Reply::Calls { calls } = switch.handle_command(now, Command::ListCalls).unwrap() else {
        panic!("calls expected");
    };
    calls[0].id
}

/// The agent event log lines `out`'s events make for `agent`.
fn log_lines(out: &Out, agent: &str) -> Vec<(String, Option<String>)> {
    out.events
        .iter()
        .flat_map(|kind| {
            let event = Event {
                at_ms: 0,
                unix_ms: 0,
                kind: kind.clone(),
            };
            agent_events(&event)
        })
        .filter(|row| row.agent.as_deref() == Some(agent))
        .map(|row| (row.event, row.call))
        .collect()
}

/// 1002's part ended at `now`: it wraps up `call` for 30 s (the log says
/// so), then is available again.
fn assert_wraps_up(switch: &mut Switch, now: Instant, out: &Out, call: CallUuid) {
    assert!(
        out.events.iter().any(|e| matches!(e,
            EventKind::AgentState { agent, state: "wrap_up", call: Some(c), .. }
                if agent == "1002" && *c == call)),
        "1002 wraps up the call: {:?}",
        out.events
    );
    assert!(
        log_lines(out, "1002").contains(&("wrapup_start".to_string(), Some(call.to_string()))),
        "the agent log names the call: {:?}",
        log_lines(out, "1002")
    );
    assert_eq!(agent_state(switch, now, "1002"), "wrap_up");
    switch.handle_timeout(now + Duration::from_secs(29));
    drain(switch);
    assert_eq!(
        agent_state(switch, now + Duration::from_secs(29), "1002"),
        "wrap_up"
    );
    switch.handle_timeout(now + Duration::from_secs(31));
    drain(switch);
    assert_eq!(
        agent_state(switch, now + Duration::from_secs(31), "1002"),
        "available"
    );
}

#[test]
fn a_blind_transfer_target_wraps_up_the_queue_call_it_took() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, _caller_to) = talking(&mut switch, at(10), "5550200", AGENT);
    let call = call_uuid(&mut switch, at(20));

    let refer_to = "Refer-To: <sip:1002@127.0.0.1:5060>\r\n";
    switch.handle_datagram(
        at(1_000),
        peer(AGENT),
        in_dialog("REFER", AGENT, &offer, 2, refer_to),
    );
    let out = drain(&mut switch);
    answer_requests(&mut switch, at(1_010), &out);
    let invite = requests(&out, TARGET, "INVITE")[0].clone();
    drain(&mut switch);
    assert_eq!(agent_state(&mut switch, at(1_020), "1001"), "wrap_up");
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "ans", TARGET, &sdp(4200)),
    );
    drain(&mut switch);
    assert_eq!(agent_state(&mut switch, at(2_010), "1002"), "busy");

    // 1002 hangs up: the caller gets the BYE, 1002 wraps up.
    switch.handle_datagram(
        at(9_000),
        peer(TARGET),
        in_dialog("BYE", TARGET, &invite, 2, ""),
    );
    let out = drain(&mut switch);
    assert_eq!(
        requests(&out, CARRIER, "BYE").len(),
        1,
        "the caller is hung up"
    );
    answer_requests(&mut switch, at(9_010), &out);
    let mut out2 = drain(&mut switch);
    out2.events.splice(0..0, out.events.iter().cloned());
    assert_eq!(out2.records.len(), 1);
    assert_wraps_up(&mut switch, at(9_020), &out2, call);
}

#[test]
fn a_consulted_colleague_handed_the_call_wraps_up_and_gives_its_own_code() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to) = talking(&mut switch, at(10), "5550200", AGENT);
    let call = call_uuid(&mut switch, at(20));

    let to = "1002".to_string();
    switch
        .handle_command(at(1_000), Command::Consult { call, to })
        .unwrap();
    let out = drain(&mut switch);
    let invite = requests(&out, TARGET, "INVITE")[0].clone();
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "ans", TARGET, &sdp(4200)),
    );
    drain(&mut switch);
    switch
        .handle_command(at(3_000), Command::ConsultComplete { call })
        .unwrap();
    let out = drain(&mut switch);
    answer_requests(&mut switch, at(3_010), &out);
    drain(&mut switch);
    assert_eq!(agent_state(&mut switch, at(3_020), "1001"), "wrap_up");
    assert_eq!(agent_state(&mut switch, at(3_020), "1002"), "busy");

    // The caller hangs up: 1002 wraps up the call and may give it a code.
    let uri = "sip:5550200@127.0.0.1:5060";
    let bye = request(
        "BYE",
        uri,
        "+15550001",
        CARRIER,
        "call-1",
        2,
        &caller_to,
        "",
        "",
    );
    switch.handle_datagram(at(9_000), peer(CARRIER), bye);
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "BYE").len(), 1, "1002 is hung up");
    answer_requests(&mut switch, at(9_010), &out);
    let mut out2 = drain(&mut switch);
    out2.events.splice(0..0, out.events.iter().cloned());
    assert!(
        out2.events.iter().any(|e| matches!(e,
            EventKind::AgentState { agent, state: "wrap_up", call: Some(c), .. }
                if agent == "1002" && *c == call)),
        "{:?}",
        out2.events
    );
    // Both wrap the call up: each code lands on its agent's leg.
    for (agent, code) in [("1001", "callback"), ("1002", "sale")] {
        let dispose = Command::Disposition {
            call,
            code: code.into(),
            note: None,
            agent: Some(agent.into()),
        };
        switch.handle_command(at(9_015), dispose).unwrap();
        let out = drain(&mut switch);
        assert!(
            out.events.iter().any(|e| matches!(e,
                EventKind::CallDisposition { agent: a, code: c, .. } if a == agent && c == code)),
            "{agent}: {:?}",
            out.events
        );
    }
    assert_wraps_up(&mut switch, at(9_020), &out2, call);
}

#[test]
fn a_transfer_target_of_a_call_of_no_queue_is_free_at_once() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, _caller_to) = talking(&mut switch, at(10), "5550100", AGENT);

    let refer_to = "Refer-To: <sip:1002@127.0.0.1:5060>\r\n";
    switch.handle_datagram(
        at(1_000),
        peer(AGENT),
        in_dialog("REFER", AGENT, &offer, 2, refer_to),
    );
    let out = drain(&mut switch);
    answer_requests(&mut switch, at(1_010), &out);
    let invite = requests(&out, TARGET, "INVITE")[0].clone();
    drain(&mut switch);
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "ans", TARGET, &sdp(4200)),
    );
    drain(&mut switch);
    switch.handle_datagram(
        at(9_000),
        peer(TARGET),
        in_dialog("BYE", TARGET, &invite, 2, ""),
    );
    let out = drain(&mut switch);
    answer_requests(&mut switch, at(9_010), &out);
    drain(&mut switch);
    assert_eq!(agent_state(&mut switch, at(9_020), "1002"), "available");
    assert_eq!(agent_state(&mut switch, at(9_020), "1001"), "available");
}
