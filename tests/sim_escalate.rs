//! Escalation and takeover decided by the pure switch core, in virtual
//! time and without sockets: agent 1001 answers a queue call and types
//! `*53` (RFC 4733 from the relay): the switch hangs 1001 up (wrap-up),
//! plays the supervisors' queue music to the caller and offers the call
//! to supervisor 1002 there, whose answer is bridged; the record names
//! the escalation. The API's escalate without an escalation queue, on an
//! unknown call and on a call not yet answered is refused 409/404 and
//! `*53` is then ignored. Supervisor 1002 listening in takes a call over
//! (API, and DTMF 7): 1001 gets a BYE and goes to wrap-up, the caller
//! hears 1002, whose hang-up ends the call; the record names 1002, who
//! wraps up after it as a `sales` agent (with a disposition code). The
//! escalated caller (priority 7) is offered before one already waiting.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

mod sim_wire;

use std::path::Path;
use std::time::{Duration, Instant};

use sim_wire::{drain, final_status, peer, reply, request, sdp, with_auth, Out};
use switchyard::call::{CallRef, CallUuid};
use switchyard::config::Config;
use switchyard::media::mix::Mode;
use switchyard::sip::parse::Message;
use switchyard::switch::{
    Command, CommandError, EventKind, MediaCommand, MediaInput, MediaLeg, Plan, Reply, Switch,
};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-only"
escalation_queue = "supervisors"
escalation_priority = 7

[[agents]]
id = "1001"
password = "pw-1001"
auto_login = true
skills = { sales = 5 }

[[agents]]
id = "1002"
password = "pw-1002"
auto_login = true
supervisor = true
skills = { escalations = 5 }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]

[dids]
"5550200" = { queue = "sales" }
"5550300" = { queue = "supervisors" }

[[queues]]
name = "sales"
requires = "sales:1"
wrap_up = "30s"
dispositions = ["sold"]

[[queues]]
name = "supervisors"
requires = "escalations:1"
wrap_up = "5s"

[media]
rtp_ports = "20000-20019"
rtp_address = "127.0.0.1"
"#;

const AGENT: &str = "10.0.0.21:5060";
const SUPERVISOR: &str = "10.0.0.22:5060";
const CARRIER: &str = "10.0.0.1:5060";
const DID_URI: &str = "sip:5550200@127.0.0.1:5060";

fn switch_from(config: &str, t0: Instant) -> Switch {
    let cfg = Config::parse(config, Path::new("esc.toml")).unwrap();
    let mut switch = Switch::new(Plan::from_config(&cfg), 9, t0);
    for (user, addr) in [("1001", AGENT), ("1002", SUPERVISOR)] {
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

fn invite_to(out: &Out, addr: &str) -> Option<Message> {
    out.sip
        .iter()
        .find(|(a, m)| a.to_string() == addr && m.method().is_some_and(|m| m.as_str() == "INVITE"))
        .map(|(_, m)| m.clone())
}

fn requests<'a>(out: &'a Out, addr: &str, method: &str) -> Vec<&'a Message> {
    out.sip
        .iter()
        .filter(|(a, m)| a.to_string() == addr && m.method().is_some_and(|m| m.as_str() == method))
        .map(|(_, m)| m)
        .collect()
}

/// Answers every BYE the switch sent in `out` with 200.
fn answer_byes(switch: &mut Switch, now: Instant, out: &Out) {
    for (addr, m) in &out.sip {
        if m.method().is_some_and(|m| m.as_str() == "BYE") {
            let bytes = reply(m, 200, "x", &addr.to_string(), "");
            switch.handle_datagram(now, peer(&addr.to_string()), bytes);
        }
    }
}

/// The carrier calls the sales queue; 1001 rings. The switch's INVITE.
fn ringing(switch: &mut Switch, now: Instant) -> Message {
    let to = "<sip:5550200@127.0.0.1>";
    let invite = request(
        "INVITE",
        DID_URI,
        "+15550001",
        CARRIER,
        "call-1",
        1,
        to,
        "",
        &sdp(4000),
    );
    switch.handle_datagram(now, peer(CARRIER), invite);
    let out = drain(switch);
    invite_to(&out, AGENT).expect("an INVITE to 1001")
}

/// ... and 1001 answers, the caller ACKs. The caller's dialog To.
fn answered(switch: &mut Switch, now: Instant, offer: &Message) -> String {
    switch.handle_datagram(
        now,
        peer(AGENT),
        reply(offer, 200, "agent1", AGENT, &sdp(4100)),
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
        DID_URI,
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
    caller_to
}

fn uuid_of(switch: &mut Switch, now: Instant) -> CallUuid {
    let Reply::Calls { calls } = switch.handle_command(now, Command::ListCalls).unwrap() else {
        panic!("calls expected");
    };
    calls[0].id
}

fn agent_state(switch: &mut Switch, now: Instant, agent: &str) -> &'static str {
    let Reply::Agents { agents } = switch.handle_command(now, Command::ListAgents).unwrap() else {
        panic!("agents expected");
    };
    agents.iter().find(|a| a.id == agent).unwrap().state
}

fn agent_digits(switch: &mut Switch, now: Instant, call: CallRef, digits: &str) -> Out {
    for digit in digits.chars() {
        let leg = MediaLeg::Agent;
        switch.handle_media(now, MediaInput::Digit { call, leg, digit });
    }
    drain(switch)
}

/// Nothing of the call is left in the switch's tables.
fn assert_clean(switch: &mut Switch, now: Instant) {
    switch.handle_timeout(now + Duration::from_secs(64));
    drain(switch);
    assert_eq!(switch.calls_active(), 0, "calls left");
    assert_eq!(switch.engagements(), 0, "engagements left");
    assert_eq!(switch.demux_entries(), 0, "demux entries left");
    assert_eq!(switch.transactions_active(), 0, "transactions left");
}

#[test]
fn star_53_sends_the_caller_to_the_supervisors_queue() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_from(CONFIG, t0);
    let call = CallRef(1);
    let offer = ringing(&mut switch, at(10));
    let caller_to = answered(&mut switch, at(1_000), &offer);
    assert_eq!(agent_state(&mut switch, at(1_100), "1001"), "on_call");

    let out = agent_digits(&mut switch, at(5_000), call, "*53");
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1, "1001 is let go");
    assert!(
        out.media.iter().any(|c| matches!(c, MediaCommand::Play { leg: MediaLeg::Caller, music, .. } if music != &["ringback"])),
        "the caller hears the queue's music: {:?}",
        out.media
    );
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallEscalated { by: Some(by), queue, .. } if by == "1001" && queue == "supervisors")));
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallQueued { queue, .. } if queue == "supervisors")));
    assert!(
        out.sip.iter().all(|(a, _)| a.to_string() != CARRIER),
        "the caller's leg stays as it is"
    );
    let invite = invite_to(&out, SUPERVISOR).expect("the supervisors' queue offers 1002");
    answer_byes(&mut switch, at(5_010), &out);
    drain(&mut switch);
    assert_eq!(agent_state(&mut switch, at(5_020), "1001"), "wrap_up");

    switch.handle_datagram(
        at(7_000),
        peer(SUPERVISOR),
        reply(&invite, 200, "sup1", SUPERVISOR, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert!(out.media.contains(&MediaCommand::Bridge { call }));

    let bye = request(
        "BYE",
        DID_URI,
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
    answer_byes(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1, "one record per customer call");
    let r = &out.records[0];
    assert_eq!(
        (r.agent.as_deref(), r.queue.as_deref()),
        (Some("1002"), Some("supervisors"))
    );
    assert_eq!(r.detail.transfers, vec!["supervisors".to_string()]);
    let legs: Vec<_> = r
        .detail
        .legs
        .iter()
        .map(|l| {
            (
                l.party.as_str(),
                l.role.label(),
                l.via.label(),
                l.answered.is_some(),
                l.outcome.label(),
            )
        })
        .collect();
    assert_eq!(
        legs,
        [
            ("1001", "agent", "offer", true, "escalated"),
            ("1002", "supervisor", "escalate", true, "caller_hung_up"),
        ]
    );
    let supervisor = &r.detail.legs[1];
    assert_eq!(
        supervisor.answered.unwrap() - supervisor.started,
        Duration::from_millis(2_000),
        "rang from the escalation (5 s) to the answer (7 s)"
    );
    assert_clean(&mut switch, at(9_020));
}

#[test]
fn escalation_in_the_wrong_state_or_without_a_queue_is_refused() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let plain = CONFIG
        .replace("escalation_queue = \"supervisors\"\n", "")
        .replace("escalation_priority = 7\n", "");
    let mut switch = switch_from(&plain, t0);
    let call = CallRef(1);
    let unknown: CallUuid = "00000000-0000-4000-8000-000000000000".parse().unwrap();
    assert_eq!(
        switch.handle_command(at(5), Command::Escalate { call: unknown }),
        Err(CommandError::UnknownCall(unknown))
    );
    let offer = ringing(&mut switch, at(10));
    let uuid = uuid_of(&mut switch, at(20));
    let err = switch
        .handle_command(at(30), Command::Escalate { call: uuid })
        .unwrap_err();
    assert_eq!((err.clone(), err.status()), (CommandError::NotTalking, 409));
    let _caller_to = answered(&mut switch, at(1_000), &offer);

    let err = switch
        .handle_command(at(2_000), Command::Escalate { call: uuid })
        .unwrap_err();
    assert_eq!(err, CommandError::NoEscalationQueue);
    assert_eq!(err.status(), 409);
    assert!(err.to_string().contains("escalation_queue"), "{err}");
    let out = agent_digits(&mut switch, at(3_000), call, "*53");
    assert!(out.sip.is_empty(), "*53 is ignored: {:?}", out.sip);
    assert!(out.events.is_empty());
    assert_eq!(agent_state(&mut switch, at(3_010), "1001"), "on_call");
    // Nothing changed: the caller still talks to 1001.
    let Reply::Calls { calls } = switch
        .handle_command(at(3_020), Command::ListCalls)
        .unwrap()
    else {
        panic!("calls expected");
    };
    assert_eq!(
        (calls[0].phase, calls[0].agent.as_deref()),
        ("talking", Some("1001"))
    );
}

/// 1002 dials `*501001` and ACKs: it listens in. Its dialog's To.
fn monitor(switch: &mut Switch, now: Instant) -> String {
    let out = with_auth(
        switch,
        now,
        "INVITE",
        "sip:*501001@127.0.0.1:5060",
        "1002",
        SUPERVISOR,
        "sup-1",
        &sdp(4300),
    );
    assert_eq!(final_status(&out), Some(200));
    let ok = out
        .sip
        .iter()
        .find(|(_, m)| m.status() == Some(200))
        .map(|(_, m)| m.clone())
        .unwrap();
    let sup_to = ok.to().as_str().to_string();
    let ack = request(
        "ACK",
        "sip:*501001@127.0.0.1:5060",
        "1002",
        SUPERVISOR,
        "sup-1",
        2,
        &sup_to,
        "",
        "",
    );
    switch.handle_datagram(now, peer(SUPERVISOR), ack);
    drain(switch);
    sup_to
}

/// Checks the takeover's effects in `out`: 1001 is let go, the caller
/// hears the supervisor; then 1002 hangs up and the call ends with
/// 1002 as its agent.
fn taken_over_then_supervisor_hangs_up(switch: &mut Switch, t: Instant, out: Out, sup_to: &str) {
    let call = CallRef(1);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1, "1001 gets a BYE");
    assert!(out.media.contains(&MediaCommand::Unbridge { call }));
    assert!(out.media.contains(&MediaCommand::Supervise {
        call,
        mode: Mode::Takeover
    }));
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallTakenOver { supervisor, from: Some(from), .. } if supervisor == "1002" && from == "1001")));
    assert!(out.sip.iter().all(|(a, _)| a.to_string() != CARRIER));
    answer_byes(switch, t, &out);
    drain(switch);
    assert_eq!(agent_state(switch, t, "1001"), "wrap_up");
    let Reply::Calls { calls } = switch.handle_command(t, Command::ListCalls).unwrap() else {
        panic!("calls expected");
    };
    assert_eq!(calls[0].agent.as_deref(), Some("1002"));

    let uri = "sip:*501001@127.0.0.1:5060";
    let bye = request("BYE", uri, "1002", SUPERVISOR, "sup-1", 3, sup_to, "", "");
    let t = t + Duration::from_secs(10);
    switch.handle_datagram(t, peer(SUPERVISOR), bye);
    let out = drain(switch);
    assert_eq!(final_status(&out), Some(200), "the supervisor's BYE");
    assert_eq!(
        requests(&out, CARRIER, "BYE").len(),
        1,
        "the caller is hung up"
    );
    answer_byes(switch, t, &out);
    let mut records = out.records;
    records.extend(drain(switch).records);
    assert_eq!(records.len(), 1, "one record per customer call");
    let r = &records[0];
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.detail.transfers, vec!["1002".to_string()]);
    let legs: Vec<_> = r
        .detail
        .legs
        .iter()
        .map(|l| {
            (
                l.party.as_str(),
                l.role.label(),
                l.via.label(),
                l.answered.is_some(),
            )
        })
        .collect();
    assert_eq!(
        legs,
        [
            ("1001", "agent", "offer", true),
            ("1002", "supervisor", "takeover", true),
        ]
    );
    assert_eq!(r.detail.legs[0].outcome.label(), "taken_over");
    assert_eq!(r.detail.legs[0].ended, r.detail.legs[1].started);
    // The supervisor was the call's agent at the end: a `sales` wrap-up
    // (30 s) about this call, then free.
    assert_eq!(agent_state(switch, t, "1002"), "wrap_up");
    let dispose = Command::Disposition {
        call: r.uuid,
        code: "sold".into(),
        note: None,
        agent: Some("1002".into()),
    };
    switch.handle_command(t, dispose).unwrap();
    switch.handle_timeout(t + Duration::from_secs(29));
    assert_eq!(
        agent_state(switch, t + Duration::from_secs(29), "1002"),
        "wrap_up"
    );
    switch.handle_timeout(t + Duration::from_secs(31));
    assert_eq!(
        agent_state(switch, t + Duration::from_secs(31), "1002"),
        "available"
    );
    assert_clean(switch, t + Duration::from_secs(31));
}

#[test]
fn a_monitoring_supervisor_takes_the_call_over_through_the_api() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_from(CONFIG, t0);
    let offer = ringing(&mut switch, at(10));
    let _caller_to = answered(&mut switch, at(1_000), &offer);
    let uuid = uuid_of(&mut switch, at(1_100));
    let err = switch
        .handle_command(at(1_200), Command::Takeover { call: uuid })
        .unwrap_err();
    assert_eq!(
        (err.clone(), err.status()),
        (CommandError::NotSupervised, 409)
    );
    assert!(
        drain(&mut switch).sip.is_empty(),
        "a refused takeover does nothing"
    );

    let sup_to = monitor(&mut switch, at(2_000));
    switch
        .handle_command(at(3_000), Command::Takeover { call: uuid })
        .unwrap();
    let out = drain(&mut switch);
    taken_over_then_supervisor_hangs_up(&mut switch, at(3_010), out, &sup_to);
}

#[test]
fn a_barging_supervisor_takes_the_call_over_with_dtmf_7() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_from(CONFIG, t0);
    let call = CallRef(1);
    let offer = ringing(&mut switch, at(10));
    let _caller_to = answered(&mut switch, at(1_000), &offer);
    let sup_to = monitor(&mut switch, at(2_000));
    let leg = MediaLeg::Supervisor;
    switch.handle_media(
        at(2_500),
        MediaInput::Digit {
            call,
            leg,
            digit: '6',
        },
    );
    let out = drain(&mut switch);
    assert_eq!(
        out.media,
        vec![MediaCommand::Supervise {
            call,
            mode: Mode::Barge
        }]
    );
    switch.handle_media(
        at(3_000),
        MediaInput::Digit {
            call,
            leg,
            digit: '7',
        },
    );
    let out = drain(&mut switch);
    taken_over_then_supervisor_hangs_up(&mut switch, at(3_010), out, &sup_to);
}

#[test]
fn the_escalated_caller_goes_ahead_of_one_already_waiting() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_from(CONFIG, t0);
    let offer = ringing(&mut switch, at(10));
    let _caller_to = answered(&mut switch, at(1_000), &offer);
    let escalated = uuid_of(&mut switch, at(1_100));
    let pause = Command::AgentPause {
        agent: "1002".into(),
        reason: "break".into(),
    };
    switch.handle_command(at(1_200), pause).unwrap();
    // Another caller waits in the supervisors' queue at priority 0.
    let to = "<sip:5550300@127.0.0.1>";
    let uri = "sip:5550300@127.0.0.1:5060";
    let invite = request(
        "INVITE",
        uri,
        "+15550002",
        CARRIER,
        "call-2",
        1,
        to,
        "",
        &sdp(4400),
    );
    switch.handle_datagram(at(2_000), peer(CARRIER), invite);
    let out = drain(&mut switch);
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallQueued { queue, .. } if queue == "supervisors")));
    switch
        .handle_command(at(3_000), Command::Escalate { call: escalated })
        .unwrap();
    drain(&mut switch);
    let resume = Command::AgentResume {
        agent: "1002".into(),
    };
    switch.handle_command(at(4_000), resume).unwrap();
    let out = drain(&mut switch);
    let offered: Vec<CallUuid> = out
        .events
        .iter()
        .filter_map(|e| match e {
            EventKind::CallOffered { call, agents } if agents == &["1002"] => Some(*call),
            _ => None,
        })
        .collect();
    // With escalation_priority = 0 the earlier caller is offered first.
    assert_eq!(
        offered,
        vec![escalated],
        "priority 7 beats the earlier caller"
    );
}

#[test]
fn escalation_settings_reach_the_plan() {
    let cfg = Config::parse(CONFIG, Path::new("esc.toml")).unwrap();
    let plan = Plan::from_config(&cfg);
    assert_eq!(plan.escalation, Some(("supervisors".to_string(), 7)));
}

/// `*53` after 1001's 200 but before the caller's ACK: the call is shown
/// talking, so it is escalated; the caller's late ACK changes nothing.
#[test]
fn star_53_before_the_callers_ack_escalates() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_from(CONFIG, t0);
    let call = CallRef(1);
    let offer = ringing(&mut switch, at(10));
    switch.handle_datagram(
        at(1_000),
        peer(AGENT),
        reply(&offer, 200, "agent1", AGENT, &sdp(4100)),
    );
    let out = drain(&mut switch);
    let caller_to = out
        .sip
        .iter()
        .find(|(a, m)| a.to_string() == CARRIER && m.status() == Some(200))
        .map(|(_, m)| m.to().as_str().to_string())
        .expect("the caller is answered");
    let Reply::Calls { calls } = switch
        .handle_command(at(1_010), Command::ListCalls)
        .unwrap()
    else {
        panic!("calls expected");
    };
    assert_eq!(calls[0].phase, "talking");

    let out = agent_digits(&mut switch, at(1_020), call, "*53");
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1, "1001 is let go");
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallEscalated { by: Some(by), .. } if by == "1001")));
    let invite = invite_to(&out, SUPERVISOR).expect("the supervisors' queue offers 1002");
    answer_byes(&mut switch, at(1_030), &out);
    drain(&mut switch);

    let ack = request(
        "ACK",
        DID_URI,
        "+15550001",
        CARRIER,
        "call-1",
        1,
        &caller_to,
        "",
        "",
    );
    switch.handle_datagram(at(1_100), peer(CARRIER), ack);
    let out = drain(&mut switch);
    assert!(
        out.sip.is_empty(),
        "the late ACK is absorbed: {:?}",
        out.sip
    );

    switch.handle_datagram(
        at(3_000),
        peer(SUPERVISOR),
        reply(&invite, 200, "sup1", SUPERVISOR, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert!(out.media.contains(&MediaCommand::Bridge { call }));
    let bye = request(
        "BYE",
        DID_URI,
        "+15550001",
        CARRIER,
        "call-1",
        2,
        &caller_to,
        "",
        "",
    );
    switch.handle_datagram(at(6_000), peer(CARRIER), bye);
    let out = drain(&mut switch);
    answer_byes(&mut switch, at(6_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_clean(&mut switch, at(6_020));
}
