//! The event stream of the pure switch core, in virtual time (issue 9):
//! agent 1001 registers; a support call is queued, offered, answered and
//! hung up by the caller; during wrap-up 1001 is paused for lunch by a
//! command; a second caller waits and gives up; 1001 resumes. Each call's
//! events come in order and carry its id; 1001's state changes come in
//! order with the pause reason; stamps never go back. With anchored media,
//! a direct call makes 1001 busy (the event names the call), and the
//! caller's re-INVITEs put it on hold and take it off. Commands hang up a
//! talking call (BYE to both, outcome `operator`) and end a wrap-up early.

#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard::call::CallUuid;
use switchyard::config::Config;
use switchyard::sip::parse::{HeaderName, Message};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{Command, Event, EventKind, Output, Plan, Reply, Switch};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-first"

[[agents]]
id = "1001"
password = "pw-1001"
auto_login = true
skills = { support = 5 }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.0/8"]

[dids]
"5550200" = { queue = "support" }

[[queues]]
name = "support"
requires = "support:1"
wrap_up = "5s"
"#;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const PHONE: &str = "10.1.0.1:5060";
const CARRIER: &str = "10.0.0.1:5060";

struct Sim {
    switch: Switch,
    now: Instant,
    events: Vec<Event>,
}

impl Sim {
    /// Feeds a datagram from `from`; returns what the switch sent, by address.
    fn send(&mut self, from: &str, text: String) -> Vec<(SocketAddr, Message)> {
        let peer = Peer {
            transport: Transport::Udp,
            addr: from.parse().unwrap(),
        };
        self.switch
            .handle_datagram(self.now, peer, Bytes::from(text));
        self.drain()
    }

    fn drain(&mut self) -> Vec<(SocketAddr, Message)> {
        let mut sent = Vec::new();
        while let Some(out) = self.switch.poll_output() {
            match out {
                Output::Transmit { peer, bytes } => {
                    sent.push((peer.addr, Message::parse(bytes).unwrap()));
                }
                Output::Event(e) => self.events.push(e),
                _ => {}
            }
        }
        sent
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.switch.handle_timeout(self.now);
        self.drain();
    }

    fn command(&mut self, command: Command) {
        assert_eq!(
            self.switch.handle_command(self.now, command),
            Ok(Reply::Done)
        );
        self.drain();
    }
}

fn to_addr(sent: &[(SocketAddr, Message)], addr: &str, pred: impl Fn(&Message) -> bool) -> Message {
    let addr: SocketAddr = addr.parse().unwrap();
    sent.iter()
        .find(|(a, m)| *a == addr && pred(m))
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("nothing to {addr} matched in {sent:?}"))
}

/// A request as the simulated phones write it.
#[allow(clippy::too_many_arguments)]
fn request(
    method: &str,
    uri: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    via: &str,
    extra: &str,
    body: &str,
) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn response(req: &Message, status: u16, tag: &str, body: &str) -> String {
    let mut out = format!("SIP/2.0 {status} X\r\n");
    for via in req.header_all(&HeaderName::Via) {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    let to = match req.to().tag() {
        Some(_) => req.to().as_str().to_string(),
        None => format!("{};tag={tag}", req.to().as_str()),
    };
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {}\r\nContact: <sip:1001@{PHONE}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        req.from().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        body.len()
    ));
    out
}

fn register(sim: &mut Sim) {
    let aor = "<sip:1001@127.0.0.1:5060>";
    let reg = |cseq: u32, auth: &str| {
        request(
            "REGISTER",
            "sip:127.0.0.1:5060",
            &format!("{aor};tag=r1"),
            aor,
            "reg1",
            cseq,
            &format!("{PHONE};branch=z9hG4bKreg{cseq}"),
            &format!("Contact: <sip:1001@{PHONE}>\r\nExpires: 3600\r\n{auth}"),
            "",
        )
    };
    let sent = sim.send(PHONE, reg(1, ""));
    let challenge = to_addr(&sent, PHONE, |m| m.status() == Some(401));
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let value = switchyard::sip::auth::answer_challenge(
        challenge.header(&HeaderName::WwwAuthenticate).unwrap(),
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1001",
        "pw-1001",
        1,
        &mut rng,
    )
    .unwrap();
    let sent = sim.send(PHONE, reg(2, &format!("Authorization: {value}\r\n")));
    to_addr(&sent, PHONE, |m| m.status() == Some(200));
}

fn invite(n: u32) -> String {
    invite_to(n, "5550200", SDP)
}

fn invite_to(n: u32, did: &str, sdp: &str) -> String {
    let uri = &format!("sip:{did}@127.0.0.1:5060");
    request(
        "INVITE",
        uri,
        &format!("<sip:+15550000{n}@10.0.0.1>;tag=c{n}"),
        &format!("<{uri}>"),
        &format!("call{n}"),
        1,
        &format!("{CARRIER};branch=z9hG4bKinv{n}"),
        &format!("Contact: <sip:c@{CARRIER}>\r\n"),
        sdp,
    )
}

/// The call events of one call, by type.
fn steps(events: &[Event], call: CallUuid) -> Vec<String> {
    events
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::AgentState { .. }) && e.kind.call() == Some(call))
        .map(|e| {
            let json = serde_json::to_value(e).unwrap();
            let kind = json["type"].as_str().unwrap().to_string();
            match &e.kind {
                EventKind::CallEnded { outcome, .. } => format!("{kind}:{outcome}"),
                EventKind::CallQueued { position, .. } => format!("{kind}:{position:?}"),
                EventKind::CallOffered { agents, .. } => format!("{kind}:{}", agents.join(",")),
                _ => kind,
            }
        })
        .collect()
}

fn arrived(events: &[Event]) -> Vec<CallUuid> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::CallArrived { call, .. } => Some(call),
            _ => None,
        })
        .collect()
}

#[test]
fn answered_and_abandoned_calls_and_a_pause_come_out_in_order_with_their_call_ids() {
    let cfg = Config::parse(CONFIG, Path::new("sim.toml")).unwrap();
    let t0 = Instant::now();
    let mut sim = Sim {
        switch: Switch::new(Plan::from_config(&cfg), 5, t0),
        now: t0,
        events: Vec::new(),
    };
    register(&mut sim);

    // Call 1: queued, offered to 1001, answered, the caller hangs up.
    sim.advance(Duration::from_secs(1));
    let sent = sim.send(CARRIER, invite(1));
    let offer = to_addr(&sent, PHONE, |m| {
        m.method().is_some_and(|m| m.as_str() == "INVITE")
    });
    sim.advance(Duration::from_secs(2));
    let sent = sim.send(PHONE, response(&offer, 200, "a1", SDP));
    let ok = to_addr(&sent, CARRIER, |m| m.status() == Some(200));
    let to = ok.to().as_str().to_string();
    let uri = "sip:5550200@127.0.0.1:5060";
    let ack = request(
        "ACK",
        uri,
        "<sip:+155500001@10.0.0.1>;tag=c1",
        &to,
        "call1",
        1,
        &format!("{CARRIER};branch=z9hG4bKack1"),
        "",
        "",
    );
    sim.send(CARRIER, ack);
    sim.advance(Duration::from_secs(30));
    let bye = request(
        "BYE",
        uri,
        "<sip:+155500001@10.0.0.1>;tag=c1",
        &to,
        "call1",
        2,
        &format!("{CARRIER};branch=z9hG4bKbye1"),
        "",
        "",
    );
    let sent = sim.send(CARRIER, bye);
    let agent_bye = to_addr(&sent, PHONE, |m| {
        m.method().is_some_and(|m| m.as_str() == "BYE")
    });
    sim.send(PHONE, response(&agent_bye, 200, "a1", ""));

    // In wrap-up: lunch, due when it ends.
    sim.command(Command::AgentPause {
        agent: "1001".into(),
        reason: "lunch".into(),
    });
    sim.advance(Duration::from_secs(6));

    // Call 2: waits (1001 paused), the caller gives up.
    let sent = sim.send(CARRIER, invite(2));
    assert!(
        sent.iter().all(|(a, _)| a.to_string() != PHONE),
        "paused agent rung"
    );
    sim.advance(Duration::from_secs(10));
    let cancel = request(
        "CANCEL",
        uri,
        "<sip:+155500002@10.0.0.1>;tag=c2",
        &format!("<{uri}>"),
        "call2",
        1,
        &format!("{CARRIER};branch=z9hG4bKinv2"),
        "",
        "",
    );
    sim.send(CARRIER, cancel);
    sim.command(Command::AgentResume {
        agent: "1001".into(),
    });

    let calls = arrived(&sim.events);
    assert_eq!(calls.len(), 2);
    assert_eq!(
        steps(&sim.events, calls[0]),
        [
            "call_arrived",
            "call_queued:None",
            "call_offered:1001",
            "call_answered",
            "call_ended:completed",
            // The agent's wrap-up after it, cut short by the pause.
            "call_wrap_up_ended"
        ]
    );
    assert_eq!(
        steps(&sim.events, calls[1]),
        [
            "call_arrived",
            "call_queued:Some(1)",
            "call_abandoned",
            "call_ended:abandoned"
        ]
    );
    let agent: Vec<(String, Option<String>, Option<CallUuid>)> = sim
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentState {
                agent,
                state,
                reason,
                call,
                ..
            } if agent == "1001" => Some((state.to_string(), reason.clone(), *call)),
            _ => None,
        })
        .collect();
    let lunch = Some("lunch".to_string());
    assert_eq!(
        agent,
        [
            ("available".to_string(), None, None),
            ("ringing".to_string(), None, Some(calls[0])),
            ("on_call".to_string(), None, Some(calls[0])),
            ("wrap_up".to_string(), None, Some(calls[0])),
            ("paused".to_string(), lunch, None),
            ("available".to_string(), None, None),
        ]
    );
    let stamps: Vec<(u64, u64)> = sim.events.iter().map(|e| (e.at_ms, e.unix_ms)).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    let answered = sim
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::CallAnswered { .. }))
        .unwrap();
    assert_eq!(answered.at_ms, 3_000);
    let json = serde_json::to_value(answered).unwrap();
    assert_eq!(json["type"], "call_answered");
    assert_eq!(json["call"], calls[0].to_string());
    assert_eq!(json["agent"], "1001");
    assert_eq!(json["waited_ms"], 2_000);
}

/// The caller's audio, with a direction attribute.
fn caller_sdp(direction: &str, version: u32) -> String {
    format!(
        "v=0\r\no=c 1 {version} IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n"
    )
}

fn phase_of(sim: &mut Sim, call: CallUuid) -> String {
    let Ok(Reply::Calls { calls }) = sim.switch.handle_command(sim.now, Command::ListCalls) else {
        panic!("calls");
    };
    let c = calls.into_iter().find(|c| c.id == call).expect("listed");
    c.phase.to_string()
}

#[test]
fn a_direct_call_makes_the_agent_busy_and_hold_and_resume_come_out() {
    let config = CONFIG.replace(
        "\"5550200\" = { queue = \"support\" }",
        "\"5550200\" = { queue = \"support\" }\n\"5550100\" = { agent = \"1001\" }",
    ) + "\n[media]\nrtp_ports = \"20000-20009\"\nrtp_address = \"127.0.0.1\"\n";
    let cfg = Config::parse(&config, Path::new("sim.toml")).unwrap();
    let t0 = Instant::now();
    let mut sim = Sim {
        switch: Switch::new(Plan::from_config(&cfg), 6, t0),
        now: t0,
        events: Vec::new(),
    };
    register(&mut sim);
    let sent = sim.send(CARRIER, invite_to(1, "5550100", &caller_sdp("sendrecv", 1)));
    let offer = to_addr(&sent, PHONE, |m| {
        m.method().is_some_and(|m| m.as_str() == "INVITE")
    });
    let call = arrived(&sim.events)[0];
    let busy = sim.events.iter().find_map(|e| match &e.kind {
        EventKind::AgentState { state, call, .. } if *state == "busy" => Some(*call),
        _ => None,
    });
    assert_eq!(busy, Some(Some(call)), "1001 is busy with the direct call");

    let sent = sim.send(PHONE, response(&offer, 200, "a1", SDP));
    let ok = to_addr(&sent, CARRIER, |m| m.status() == Some(200));
    let to = ok.to().as_str().to_string();
    let uri = "sip:5550100@127.0.0.1:5060";
    let from = "<sip:+155500001@10.0.0.1>;tag=c1";
    let via = |b: &str| format!("{CARRIER};branch=z9hG4bK{b}");
    let contact = format!("Contact: <sip:c@{CARRIER}>\r\n");
    sim.send(
        CARRIER,
        request("ACK", uri, from, &to, "call1", 1, &via("ack1"), "", ""),
    );
    for (cseq, direction) in [(2, "sendonly"), (3, "sendrecv")] {
        sim.advance(Duration::from_secs(5));
        let body = caller_sdp(direction, cseq);
        let reinvite = request(
            "INVITE",
            uri,
            from,
            &to,
            "call1",
            cseq,
            &via(&format!("re{cseq}")),
            &contact,
            &body,
        );
        let sent = sim.send(CARRIER, reinvite);
        to_addr(&sent, CARRIER, |m| m.status() == Some(200));
        let ack = request(
            "ACK",
            uri,
            from,
            &to,
            "call1",
            cseq,
            &via(&format!("ack{cseq}")),
            "",
            "",
        );
        sim.send(CARRIER, ack);
        let expected = if cseq == 2 { "held" } else { "talking" };
        assert_eq!(phase_of(&mut sim, call), expected);
    }
    assert_eq!(
        steps(&sim.events, call),
        [
            "call_arrived",
            "call_offered:1001",
            "call_answered",
            "call_held",
            "call_resumed"
        ]
    );
    let held_by = sim.events.iter().find_map(|e| match e.kind {
        EventKind::CallHeld { by, .. } => Some(by),
        _ => None,
    });
    assert_eq!(held_by, Some("caller"));
}

/// Call `n` to the queue, answered by 1001's phone and ACKed by the
/// carrier: the call's id and the carrier's dialog To.
fn answered_queue_call(sim: &mut Sim, n: u32) -> (CallUuid, String) {
    let sent = sim.send(CARRIER, invite(n));
    let offer = to_addr(&sent, PHONE, |m| {
        m.method().is_some_and(|m| m.as_str() == "INVITE")
    });
    let sent = sim.send(PHONE, response(&offer, 200, &format!("a{n}"), SDP));
    let ok = to_addr(&sent, CARRIER, |m| m.status() == Some(200));
    let to = ok.to().as_str().to_string();
    let ack = request(
        "ACK",
        "sip:5550200@127.0.0.1:5060",
        &format!("<sip:+15550000{n}@10.0.0.1>;tag=c{n}"),
        &to,
        &format!("call{n}"),
        1,
        &format!("{CARRIER};branch=z9hG4bKack{n}"),
        "",
        "",
    );
    sim.send(CARRIER, ack);
    (*arrived(&sim.events).last().expect("arrived"), to)
}

#[test]
fn commands_end_a_wrap_up_early_and_hang_up_a_talking_call() {
    let cfg = Config::parse(CONFIG, Path::new("sim.toml")).unwrap();
    let t0 = Instant::now();
    let mut sim = Sim {
        switch: Switch::new(Plan::from_config(&cfg), 7, t0),
        now: t0,
        events: Vec::new(),
    };
    register(&mut sim);
    let (first, _) = answered_queue_call(&mut sim, 1);
    sim.advance(Duration::from_secs(10));
    let hang_up = Command::HangUp { call: first };
    assert_eq!(sim.switch.handle_command(sim.now, hang_up), Ok(Reply::Done));
    let byes: Vec<SocketAddr> = sim
        .drain()
        .into_iter()
        .filter(|(_, m)| m.method().is_some_and(|m| m.as_str() == "BYE"))
        .map(|(a, _)| a)
        .collect();
    let both: Vec<SocketAddr> = [PHONE, CARRIER]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert!(both.iter().all(|a| byes.contains(a)), "BYEs to {byes:?}");
    // The BYEs are not answered: the call ends when they time out (Timer F).
    sim.advance(Duration::from_secs(40));
    let ended = steps(&sim.events, first);
    assert_eq!(
        ended.last().map(String::as_str),
        Some("call_ended:operator")
    );
    // Its wrap-up (5 s, from when the call ended) runs out.
    sim.advance(Duration::from_secs(6));

    // 1001 is in wrap-up (5 s) after the second call; a waiting caller is
    // offered to them as soon as the wrap-up is ended by command.
    let (second, to) = answered_queue_call(&mut sim, 2);
    let uri = "sip:5550200@127.0.0.1:5060";
    let from = "<sip:+155500002@10.0.0.1>;tag=c2";
    let via = format!("{CARRIER};branch=z9hG4bKbye2");
    let sent = sim.send(
        CARRIER,
        request("BYE", uri, from, &to, "call2", 2, &via, "", ""),
    );
    let agent_bye = to_addr(&sent, PHONE, |m| {
        m.method().is_some_and(|m| m.as_str() == "BYE")
    });
    sim.send(PHONE, response(&agent_bye, 200, "a2", ""));
    assert_eq!(
        steps(&sim.events, second).last().map(String::as_str),
        Some("call_ended:completed")
    );
    let sent = sim.send(CARRIER, invite(3));
    assert!(
        sent.iter().all(|(a, _)| a.to_string() != PHONE),
        "rung in wrap-up"
    );
    let end = Command::EndWrapUp {
        agent: "1001".into(),
    };
    assert_eq!(sim.switch.handle_command(sim.now, end), Ok(Reply::Done));
    let sent = sim.drain();
    to_addr(&sent, PHONE, |m| {
        m.method().is_some_and(|m| m.as_str() == "INVITE")
    });
}
