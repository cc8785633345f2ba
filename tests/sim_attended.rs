//! Attended transfer decided by the pure switch core, in virtual time and
//! without sockets: agent 1001 answers a queue call, holds the caller
//! (who hears music), calls 1002 from the same phone, then sends REFER
//! with `Replaces` naming that consultation (RFC 3891, RFC 5589 §7). The
//! switch answers 202 and NOTIFYs `100 Trying` then `200 OK`, hangs up
//! 1001's two dialogs, re-INVITEs 1002 onto the caller's anchor and
//! bridges them; 1001 goes to wrap-up, 1002 is busy on the customer's
//! call and the record names 1002. A Replaces naming an unknown dialog,
//! another agent's consultation, the caller's own dialog or the
//! consultation with the wrong tags gets 481 in the final NOTIFY and
//! changes nothing. The API's consultation (consult, then complete or
//! cancel; a colleague who refuses; a caller who leaves meanwhile) and an
//! INVITE with Replaces from the agent's phone are checked the same way.
//! No demux entry, transaction or engagement is left.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

mod sim_wire;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sim_wire::{drain, final_status, peer, reply, request, sdp, with_auth, Out};
use switchyard::acd::AgentState;
use switchyard::call::{CallRef, CallUuid};
use switchyard::config::Config;
use switchyard::media::mix::Mode;
use switchyard::sip::parse::{HeaderName, Message};
use switchyard::switch::{
    Command, CommandError, EventKind, MediaCommand, MediaInput, MediaLeg, Plan, Reply, Switch,
};

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
skills = { support = 5 }

[[agents]]
id = "1003"
password = "pw-1003"

[[agents]]
id = "1004"
password = "pw-1004"

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]

[dids]
"5550200" = { queue = "sales" }

[[queues]]
name = "sales"
requires = "sales:1"
wrap_up = "5s"

[[queues]]
name = "support"
requires = "support:1"

[media]
rtp_ports = "20000-20019"
rtp_address = "127.0.0.1"
"#;

const AGENT: &str = "10.0.0.21:5060";
const TARGET: &str = "10.0.0.22:5060";
const CARRIER: &str = "10.0.0.1:5060";
const CONSULT: &str = "consult-1";
const OTHER: &str = "10.0.0.23:5060";
const OTHER_TARGET: &str = "10.0.0.24:5060";

/// A request from 1001's phone in the dialog the switch's INVITE `offer`
/// formed with it.
fn from_agent(method: &str, offer: &Message, cseq: u32, extra: &str, body: &str) -> Bytes {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    Bytes::from(format!(
        "{method} sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKa{cseq}{method}\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=agent1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:1001@{AGENT}>\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        offer.to().as_str(),
        offer.from().as_str(),
        offer.call_id(),
        body.len()
    ))
}

fn switch_with_agents(t0: Instant) -> Switch {
    switch_with(CONFIG, t0)
}

fn switch_with(config: &str, t0: Instant) -> Switch {
    let cfg = Config::parse(config, Path::new("attended.toml")).unwrap();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
    let phones = [
        ("1001", AGENT),
        ("1002", TARGET),
        ("1003", OTHER),
        ("1004", OTHER_TARGET),
    ];
    for (user, addr) in phones {
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

fn response_to<'a>(out: &'a Out, addr: &str, call_id: &str) -> Option<&'a Message> {
    out.sip
        .iter()
        .filter(|(a, m)| a.to_string() == addr && m.call_id() == call_id)
        .map(|(_, m)| m)
        .find(|m| m.status().is_some_and(|s| s >= 200))
}

fn notifies(out: &Out) -> Vec<(String, bool)> {
    requests(out, AGENT, "NOTIFY")
        .into_iter()
        .map(|m| {
            assert_eq!(m.header(&HeaderName::Event), Some("refer"));
            let state = m.header(&HeaderName::parse(b"Subscription-State")).unwrap();
            let body = String::from_utf8(m.body().to_vec()).unwrap();
            (body.trim().to_string(), state.starts_with("terminated"))
        })
        .collect()
}

/// Answers every NOTIFY and BYE the switch sent in `out` with 200.
fn ack_requests(switch: &mut Switch, now: Instant, out: &Out) {
    for (addr, m) in &out.sip {
        let Some(method) = m.method() else { continue };
        if matches!(method.as_str(), "NOTIFY" | "BYE") {
            let bytes = reply(m, 200, "x", &addr.to_string(), "");
            switch.handle_datagram(now, peer(&addr.to_string()), bytes);
        }
    }
}

fn assert_clean(switch: &mut Switch, now: Instant) {
    switch.handle_timeout(now + Duration::from_secs(64));
    drain(switch);
    assert_eq!(switch.calls_active(), 0, "calls left");
    assert_eq!(switch.engagements(), 0, "engagements left");
    assert_eq!(switch.demux_entries(), 0, "demux entries left");
    assert_eq!(switch.transactions_active(), 0, "transactions left");
}

fn caller_bye(switch: &mut Switch, now: Instant, caller_to: &str) -> Out {
    let bye = request(
        "BYE",
        "sip:5550200@127.0.0.1:5060",
        "+15550001",
        CARRIER,
        "call-1",
        2,
        caller_to,
        "",
        "",
    );
    switch.handle_datagram(now, peer(CARRIER), bye);
    drain(switch)
}

fn agent_state(switch: &Switch, agent: &str) -> AgentState {
    let id = switch.router().agent_id(agent).expect("a configured agent");
    switch.router().agent_state(id).expect("the agent")
}

/// The consultation as 1001's phone sees it.
struct Consultation {
    /// The switch's tag on it (To of its 200).
    to_tag: String,
    /// The INVITE the switch sent 1002 for it.
    target_invite: Message,
}

/// The carrier calls the sales queue and 1001 answers: the switch's
/// INVITE to 1001 and the caller's To.
fn answered(switch: &mut Switch, at: &impl Fn(u64) -> Instant) -> (Message, String) {
    let uri = "sip:5550200@127.0.0.1:5060";
    let invite = request(
        "INVITE",
        uri,
        "+15550001",
        CARRIER,
        "call-1",
        1,
        "<sip:5550200@127.0.0.1>",
        "",
        &sdp(4000),
    );
    switch.handle_datagram(at(10), peer(CARRIER), invite);
    let out = drain(switch);
    let offer = invite_to(&out, AGENT).expect("the queue offers the call to 1001");
    switch.handle_datagram(
        at(500),
        peer(AGENT),
        reply(&offer, 200, "agent1", AGENT, &sdp(4100)),
    );
    let out = drain(switch);
    let caller_to = response_to(&out, CARRIER, "call-1")
        .map(|m| m.to().as_str().to_string())
        .expect("the caller is answered");
    let ack = request(
        "ACK",
        uri,
        "+15550001",
        CARRIER,
        "call-1",
        1,
        &caller_to,
        "",
        "",
    );
    switch.handle_datagram(at(510), peer(CARRIER), ack);
    drain(switch);
    (offer, caller_to)
}

/// The carrier calls the sales queue, 1001 answers and holds the caller,
/// then calls 1002, who answers. The switch's INVITE to 1001, the
/// caller's To, and the consultation.
fn held_and_consulting(
    switch: &mut Switch,
    at: impl Fn(u64) -> Instant,
) -> (Message, String, Consultation) {
    let (offer, caller_to) = answered(switch, &at);

    // Hold: the caller hears music.
    let hold = sdp(4100).replace("m=audio", "a=sendonly\r\nm=audio");
    switch.handle_datagram(
        at(1_000),
        peer(AGENT),
        from_agent("INVITE", &offer, 2, "", &hold),
    );
    let out = drain(switch);
    assert!(
        out.media.iter().any(|c| matches!(c,
        MediaCommand::Play { call, leg: MediaLeg::Caller, .. } if *call == CallRef(1))),
        "hold music"
    );
    let ok = response_to(&out, AGENT, offer.call_id()).expect("the hold is answered");
    assert_eq!(ok.status(), Some(200));
    switch.handle_datagram(at(1_010), peer(AGENT), from_agent("ACK", &offer, 2, "", ""));
    drain(switch);

    // The consultation: 1001's phone calls 1002.
    let out = with_auth(
        switch,
        at(2_000),
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "1001",
        AGENT,
        CONSULT,
        &sdp(4500),
    );
    let target_invite = invite_to(&out, TARGET).expect("1002 rings for the consultation");
    switch.handle_datagram(
        at(3_000),
        peer(TARGET),
        reply(&target_invite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(switch);
    let ok = response_to(&out, AGENT, CONSULT).expect("1001's consultation is answered");
    assert_eq!(ok.status(), Some(200));
    let to = ok.to().as_str().to_string();
    let to_tag = ok.to().tag().expect("the switch's tag").to_string();
    let ack = request(
        "ACK",
        "sip:1002@127.0.0.1:5060",
        "1001",
        AGENT,
        CONSULT,
        2,
        &to,
        "",
        "",
    );
    switch.handle_datagram(at(3_010), peer(AGENT), ack);
    drain(switch);
    (
        offer,
        caller_to,
        Consultation {
            to_tag,
            target_invite,
        },
    )
}

fn refer_replaces(call_id: &str, to_tag: &str, from_tag: &str) -> String {
    format!(
        "Refer-To: <sip:1002@127.0.0.1:5060?Replaces={call_id}%3Bto-tag%3D{to_tag}%3Bfrom-tag%3D{from_tag}>\r\n\
         Referred-By: <sip:1001@127.0.0.1>\r\n"
    )
}

#[test]
fn refer_with_replaces_joins_the_caller_to_the_consulted_agent() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to, consult) = held_and_consulting(&mut switch, at);
    let call = CallRef(1);
    assert_eq!(
        switch.calls_active(),
        2,
        "the customer call and the consultation"
    );

    // Transfer: the phone names the consultation as it sees it.
    let from_tag = format!("t{CONSULT}");
    let extra = refer_replaces(CONSULT, &consult.to_tag, &from_tag);
    switch.handle_datagram(
        at(5_000),
        peer(AGENT),
        from_agent("REFER", &offer, 3, &extra, ""),
    );
    let out = drain(&mut switch);
    assert_eq!(
        response_to(&out, AGENT, offer.call_id()).and_then(|m| m.status()),
        Some(202)
    );
    assert_eq!(
        notifies(&out),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 200 OK".to_string(), true)
        ]
    );
    let byes = requests(&out, AGENT, "BYE");
    let mut bye_calls: Vec<&str> = byes.iter().map(|m| m.call_id()).collect();
    bye_calls.sort();
    let mut expected = vec![offer.call_id(), CONSULT];
    expected.sort();
    assert_eq!(bye_calls, expected, "1001's two dialogs are hung up");
    assert!(
        out.sip.iter().all(|(a, _)| a.to_string() != CARRIER),
        "the caller hears nothing in SIP: {:?}",
        out.sip
            .iter()
            .filter(|(a, _)| a.to_string() == CARRIER)
            .map(|(_, m)| (m.method().map(|x| x.as_str().to_string()), m.status()))
            .collect::<Vec<_>>()
    );
    assert!(requests(&out, TARGET, "BYE").is_empty(), "1002 stays");
    let reinvite = invite_to(&out, TARGET).expect("1002 is re-INVITEd onto the caller's anchor");
    assert_eq!(
        reinvite.call_id(),
        consult.target_invite.call_id(),
        "in the consultation's dialog"
    );
    assert_eq!(reinvite.to().tag(), Some("target1"));
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallTransferred { by: Some(by), to, .. } if by == "1001" && to == "1002")));
    assert!(
        matches!(agent_state(&switch, "1001"), AgentState::WrapUp(_)),
        "1001 wraps up"
    );
    ack_requests(&mut switch, at(5_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1, "the consultation's record");
    assert_eq!(out.records[0].sip_call_id, CONSULT);

    // 1002 answers the re-INVITE: ACKed, bridged to the caller, hold over.
    switch.handle_datagram(
        at(5_100),
        peer(TARGET),
        reply(&reinvite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    let acks = requests(&out, TARGET, "ACK");
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].cseq().seq, reinvite.cseq().seq);
    assert!(out.media.contains(&MediaCommand::Bridge { call }));
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::SetRemote { call: c, leg: MediaLeg::Agent, .. } if *c == call)));
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, EventKind::CallResumed { .. })));
    // A retransmitted 2xx is ACKed again, not hung up.
    switch.handle_datagram(
        at(5_600),
        peer(TARGET),
        reply(&reinvite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "ACK").len(), 1);
    assert!(requests(&out, TARGET, "BYE").is_empty());
    assert!(
        matches!(agent_state(&switch, "1002"), AgentState::Busy),
        "1002 is busy"
    );

    // The caller hangs up: 1002 gets the BYE; the record names 1002.
    let out = caller_bye(&mut switch, at(9_000), &caller_to);
    let bye = requests(&out, TARGET, "BYE");
    assert_eq!(bye.len(), 1, "1002 is hung up");
    assert_eq!(bye[0].call_id(), consult.target_invite.call_id());
    assert!(
        requests(&out, AGENT, "BYE").is_empty(),
        "1001 was released before"
    );
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1, "one record per customer call");
    let r = &out.records[0];
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.queue.as_deref(), Some("sales"));
    assert_eq!(r.detail.transfers, vec!["1002".to_string()]);
    assert_eq!(r.outcome.label(), "completed");
    assert_eq!(
        legs_of(r),
        [
            ("1001", "agent", "offer", true, "transferred"),
            ("1002", "colleague", "transfer", true, "caller_hung_up"),
        ]
    );
    assert_clean(&mut switch, at(9_020));
}

#[test]
fn replaces_naming_no_consultation_of_the_agent_gets_481_and_nothing_changes() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to, consult) = held_and_consulting(&mut switch, at);
    let from_tag = format!("t{CONSULT}");
    // Another agent's consultation: 1003 talks to 1004.
    let out = with_auth(
        &mut switch,
        at(4_000),
        "INVITE",
        "sip:1004@127.0.0.1:5060",
        "1003",
        OTHER,
        "other-1",
        &sdp(4700),
    );
    let invite = invite_to(&out, OTHER_TARGET).expect("1004 rings");
    let ok = reply(&invite, 200, "t4", OTHER_TARGET, &sdp(4800));
    switch.handle_datagram(at(4_100), peer(OTHER_TARGET), ok);
    let out = drain(&mut switch);
    let other_to = response_to(&out, OTHER, "other-1").expect("1003 is answered");
    let other_tag = other_to.to().tag().unwrap().to_string();
    let other_to = other_to.to().as_str().to_string();
    let uri = "sip:1004@127.0.0.1:5060";
    let ack = request("ACK", uri, "1003", OTHER, "other-1", 2, &other_to, "", "");
    switch.handle_datagram(at(4_110), peer(OTHER), ack);
    drain(&mut switch);
    assert_eq!(switch.calls_active(), 3);
    let wrong = [
        refer_replaces("other-1", &other_tag, "tother-1"),
        refer_replaces("no-such-call", &consult.to_tag, &from_tag),
        refer_replaces(CONSULT, "wrong", &from_tag),
        // The customer's own dialog is no consultation.
        refer_replaces(offer.call_id(), "agent1", offer.from().tag().unwrap()),
    ];
    for (i, extra) in wrong.iter().enumerate() {
        let cseq = 3 + i as u32;
        let now = at(5_000 + 100 * i as u64);
        switch.handle_datagram(
            now,
            peer(AGENT),
            from_agent("REFER", &offer, cseq, extra, ""),
        );
        let out = drain(&mut switch);
        assert_eq!(
            response_to(&out, AGENT, offer.call_id()).and_then(|m| m.status()),
            Some(202)
        );
        assert_eq!(
            notifies(&out).last(),
            Some(&(
                "SIP/2.0 481 Call/Transaction Does Not Exist".to_string(),
                true
            )),
            "{extra}"
        );
        assert!(
            requests(&out, AGENT, "BYE").is_empty(),
            "1001 keeps both calls"
        );
        assert!(invite_to(&out, TARGET).is_none());
        assert!(out.media.is_empty(), "the media is untouched");
        ack_requests(&mut switch, now, &out);
        drain(&mut switch);
    }
    // A Replaces that cannot be read is a bad request.
    let bad = "Refer-To: <sip:1002@127.0.0.1?Replaces=x%3Bto-tag%3D1>\r\n";
    switch.handle_datagram(
        at(6_000),
        peer(AGENT),
        from_agent("REFER", &offer, 9, bad, ""),
    );
    let out = drain(&mut switch);
    assert_eq!(
        response_to(&out, AGENT, offer.call_id()).and_then(|m| m.status()),
        Some(400)
    );
    assert_eq!(switch.calls_active(), 3);

    // 1003's call goes on untouched: 1003 hangs up.
    let bye = request("BYE", uri, "1003", OTHER, "other-1", 3, &other_to, "", "");
    switch.handle_datagram(at(6_500), peer(OTHER), bye);
    let out = drain(&mut switch);
    assert_eq!(requests(&out, OTHER_TARGET, "BYE").len(), 1);
    ack_requests(&mut switch, at(6_510), &out);
    drain(&mut switch);

    // Both calls go on: 1001 ends the consultation, the caller hangs up.
    let to = format!("<sip:1002@127.0.0.1:5060>;tag={}", consult.to_tag);
    let bye = request(
        "BYE",
        "sip:1002@127.0.0.1:5060",
        "1001",
        AGENT,
        CONSULT,
        3,
        &to,
        "",
        "",
    );
    switch.handle_datagram(at(7_000), peer(AGENT), bye);
    let out = drain(&mut switch);
    ack_requests(&mut switch, at(7_010), &out);
    let out = caller_bye(&mut switch, at(8_000), &caller_to);
    assert_eq!(
        requests(&out, AGENT, "BYE").len(),
        1,
        "1001 still had the caller"
    );
    ack_requests(&mut switch, at(8_010), &out);
    let out = drain(&mut switch);
    let r = out
        .records
        .iter()
        .find(|r| r.sip_call_id == "call-1")
        .expect("the customer's record");
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert!(r.detail.transfers.is_empty());
    assert_clean(&mut switch, at(8_020));
}

/// The id of the one talking call (the API's call list).
fn the_call(switch: &mut Switch, now: Instant) -> (CallUuid, String) {
    let Ok(Reply::Calls { calls }) = switch.handle_command(now, Command::ListCalls) else {
        panic!("calls");
    };
    let c = calls.into_iter().next().expect("a call");
    (c.id, c.phase.to_string())
}

fn phase(switch: &mut Switch, now: Instant) -> String {
    the_call(switch, now).1
}

/// 1001 talks to a queue caller; the API starts a consultation with 1002,
/// who rings. The switch's INVITE to 1001, the caller's To, the call's id
/// and the INVITE to 1002.
fn api_consulting(
    switch: &mut Switch,
    at: impl Fn(u64) -> Instant,
) -> (Message, String, CallUuid, Message) {
    let (offer, caller_to) = answered(switch, &at);
    let (id, _) = the_call(switch, at(900));
    let consult = Command::Consult {
        call: id,
        to: "1002".into(),
    };
    assert_eq!(switch.handle_command(at(1_000), consult), Ok(Reply::Done));
    let out = drain(switch);
    assert!(
        out.media
            .contains(&MediaCommand::Unbridge { call: CallRef(1) }),
        "{:?}",
        out.media
    );
    assert!(
        out.media.iter().any(|c| matches!(
            c,
            MediaCommand::Play {
                leg: MediaLeg::Caller,
                ..
            }
        )),
        "the caller hears hold music"
    );
    assert!(
        out.media.iter().any(|c| matches!(
            c,
            MediaCommand::Open {
                leg: MediaLeg::Supervisor,
                ..
            }
        )),
        "the consultation's media leg"
    );
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallConsultStarted { by: Some(by), to, .. } if by == "1001" && to == "1002")));
    assert!(out
        .sip
        .iter()
        .all(|(a, _)| a.to_string() != CARRIER && a.to_string() != AGENT));
    let invite = invite_to(&out, TARGET).expect("1002 rings");
    assert_eq!(phase(switch, at(1_001)), "consulting");
    assert!(
        matches!(agent_state(switch, "1002"), AgentState::Busy),
        "1002 is busy, not offered"
    );
    // A second consultation, or a blind transfer meanwhile, is refused.
    let again = Command::Consult {
        call: id,
        to: "1002".into(),
    };
    assert_eq!(
        switch.handle_command(at(1_002), again),
        Err(CommandError::Consulting)
    );
    let early = Command::ConsultComplete { call: id };
    assert_eq!(
        switch.handle_command(at(1_003), early),
        Err(CommandError::NotConsulting)
    );
    switch.handle_datagram(
        at(1_100),
        peer(TARGET),
        reply(&invite, 180, "t2", TARGET, ""),
    );
    drain(switch);
    (offer, caller_to, id, invite)
}

#[test]
fn api_consult_then_complete_joins_the_caller_to_the_colleague() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to, id, invite) = api_consulting(&mut switch, at);
    let call = CallRef(1);

    // 1002 answers: ACKed; agent and colleague are mixed, the caller keeps its music.
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "t2", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "ACK").len(), 1);
    assert!(out.media.contains(&MediaCommand::Supervise {
        call,
        mode: Mode::Consult
    }));
    assert!(!out.media.contains(&MediaCommand::Bridge { call }));

    assert_eq!(
        switch.handle_command(at(3_000), Command::ConsultComplete { call: id }),
        Ok(Reply::Done)
    );
    let out = drain(&mut switch);
    assert!(out.media.contains(&MediaCommand::EndSupervision { call }));
    let byes = requests(&out, AGENT, "BYE");
    assert_eq!(byes.len(), 1, "1001 is released");
    assert_eq!(byes[0].call_id(), offer.call_id());
    let reinvite = invite_to(&out, TARGET).expect("1002 is re-INVITEd onto the agent leg");
    assert_eq!(reinvite.call_id(), invite.call_id());
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallTransferred { by: Some(by), to, .. } if by == "1001" && to == "1002")));
    assert!(matches!(
        agent_state(&switch, "1001"),
        AgentState::WrapUp(_)
    ));
    ack_requests(&mut switch, at(3_010), &out);
    switch.handle_datagram(
        at(3_100),
        peer(TARGET),
        reply(&reinvite, 200, "t2", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert!(out.media.contains(&MediaCommand::Bridge { call }));
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, EventKind::CallResumed { .. })));
    assert_eq!(phase(&mut switch, at(3_200)), "talking");
    assert!(matches!(agent_state(&switch, "1002"), AgentState::Busy));
    assert_eq!(
        switch.handle_command(at(3_300), Command::ConsultCancel { call: id }),
        Err(CommandError::NotConsulting)
    );

    let out = caller_bye(&mut switch, at(9_000), &caller_to);
    assert_eq!(requests(&out, TARGET, "BYE").len(), 1, "1002 is hung up");
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].agent.as_deref(), Some("1002"));
    assert_eq!(out.records[0].detail.transfers, vec!["1002".to_string()]);
    assert_eq!(
        legs_of(&out.records[0]),
        [
            ("1001", "agent", "offer", true, "transferred"),
            ("1002", "colleague", "consult", true, "caller_hung_up"),
        ]
    );
    assert_clean(&mut switch, at(9_020));
}

#[test]
fn api_consult_then_cancel_gives_the_caller_back_to_the_agent() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to, id, invite) = api_consulting(&mut switch, at);
    let call = CallRef(1);
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "t2", TARGET, &sdp(4200)),
    );
    drain(&mut switch);

    assert_eq!(
        switch.handle_command(at(3_000), Command::ConsultCancel { call: id }),
        Ok(Reply::Done)
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "BYE").len(), 1, "1002 is hung up");
    assert!(
        requests(&out, AGENT, "BYE").is_empty(),
        "1001 keeps the call"
    );
    assert!(out.media.contains(&MediaCommand::EndSupervision { call }));
    assert!(
        out.media.contains(&MediaCommand::Bridge { call }),
        "caller and 1001 talk again"
    );
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallConsultEnded { how, to, .. } if *how == "cancelled" && to == "1002")));
    assert_eq!(phase(&mut switch, at(3_100)), "talking");
    ack_requests(&mut switch, at(3_010), &out);
    assert!(
        matches!(agent_state(&switch, "1002"), AgentState::Available),
        "1002 is free again"
    );

    let out = caller_bye(&mut switch, at(9_000), &caller_to);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1);
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records[0].agent.as_deref(), Some("1001"));
    assert!(out.records[0].detail.transfers.is_empty());
    assert_eq!(
        legs_of(&out.records[0])[0],
        ("1001", "agent", "offer", true, "caller_hung_up")
    );
    assert_eq!(legs_of(&out.records[0])[1].2, "consult");
    assert_clean(&mut switch, at(9_020));
}

#[test]
fn a_colleague_who_refuses_or_a_caller_who_leaves_ends_the_consultation() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to, id, invite) = api_consulting(&mut switch, at);
    let call = CallRef(1);

    // 1002 is busy: the agent is back with the caller, nothing is left of the leg.
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 486, "t2", TARGET, ""),
    );
    let out = drain(&mut switch);
    assert!(out.media.contains(&MediaCommand::Bridge { call }));
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallConsultEnded { how, .. } if *how == "failed")));
    assert_eq!(phase(&mut switch, at(2_100)), "talking");

    // Again, and the caller hangs up while 1002 rings: 1002's ringing is cancelled.
    let consult = Command::Consult {
        call: id,
        to: "1002".into(),
    };
    assert_eq!(switch.handle_command(at(3_000), consult), Ok(Reply::Done));
    let out = drain(&mut switch);
    let invite = invite_to(&out, TARGET).expect("1002 rings again");
    switch.handle_datagram(
        at(3_100),
        peer(TARGET),
        reply(&invite, 180, "t3", TARGET, ""),
    );
    drain(&mut switch);
    // The caller hangs up: 1001 gets the BYE; once the call is over, 1002's
    // ringing is cancelled.
    let out = caller_bye(&mut switch, at(4_000), &caller_to);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1);
    ack_requests(&mut switch, at(4_005), &out);
    let out = drain(&mut switch);
    assert_eq!(
        requests(&out, TARGET, "CANCEL").len(),
        1,
        "1002 stops ringing"
    );
    assert_eq!(out.records.len(), 1);
    for (addr, m) in &out.sip {
        if m.method().is_some_and(|m| m.as_str() == "CANCEL") {
            let ok = reply(m, 200, "t3", TARGET, "");
            switch.handle_datagram(at(4_010), peer(&addr.to_string()), ok);
        }
    }
    switch.handle_datagram(
        at(4_020),
        peer(TARGET),
        reply(&invite, 487, "t3", TARGET, ""),
    );
    drain(&mut switch);
    assert_eq!(out.records[0].agent.as_deref(), Some("1001"));
    assert_clean(&mut switch, at(4_040));
}

/// An INVITE from `user`'s phone at `addr` carrying `extra` headers, with
/// the digest dance: the final response (and all the switch sent).
fn invite_with(
    switch: &mut Switch,
    now: Instant,
    user: &str,
    addr: &str,
    call_id: &str,
    extra: &str,
) -> Out {
    let uri = "sip:1002@127.0.0.1:5060";
    let to = format!("<{uri}>");
    let body = sdp(4600);
    switch.handle_datagram(
        now,
        peer(addr),
        request("INVITE", uri, user, addr, call_id, 1, &to, extra, &body),
    );
    let out = drain(switch);
    let challenge = out
        .sip
        .iter()
        .map(|(_, m)| m)
        .find(|m| m.status() == Some(401))
        .expect("a challenge");
    let ack = request(
        "ACK",
        uri,
        user,
        addr,
        call_id,
        1,
        challenge.to().as_str(),
        "",
        "",
    );
    let ack = String::from_utf8(ack.to_vec())
        .unwrap()
        .replace("1ACK", "1INVITE");
    switch.handle_datagram(now, peer(addr), Bytes::from(ack));
    let www = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let auth = switchyard::sip::auth::answer_challenge(
        &www,
        "INVITE",
        uri,
        user,
        &format!("pw-{user}"),
        1,
        &mut rng,
    )
    .unwrap();
    let extra = format!("{extra}Authorization: {auth}\r\n");
    switch.handle_datagram(
        now,
        peer(addr),
        request("INVITE", uri, user, addr, call_id, 2, &to, &extra, &body),
    );
    drain(switch)
}

#[test]
fn an_invite_with_replaces_from_the_agent_takes_over_its_leg() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to) = answered(&mut switch, &at);
    let call = CallRef(1);
    let ours = offer.from().tag().unwrap().to_string();

    // Names that are not 1001's dialog: 481, nothing changes.
    let wrong = [
        (
            "1001",
            AGENT,
            format!("Replaces: nosuchcall;to-tag={ours};from-tag=agent1\r\n"),
        ),
        (
            "1001",
            AGENT,
            format!(
                "Replaces: {};to-tag=wrong;from-tag=agent1\r\n",
                offer.call_id()
            ),
        ),
        (
            "1002",
            TARGET,
            format!(
                "Replaces: {};to-tag={ours};from-tag=agent1\r\n",
                offer.call_id()
            ),
        ),
    ];
    for (i, (user, addr, extra)) in wrong.iter().enumerate() {
        let out = invite_with(
            &mut switch,
            at(1_000 + i as u64),
            user,
            addr,
            &format!("rep-bad{i}"),
            extra,
        );
        assert_eq!(final_status(&out), Some(481), "{user}: {extra}");
        assert!(out.media.is_empty());
        assert!(out
            .sip
            .iter()
            .all(|(_, m)| m.method().is_none_or(|m| m.as_str() != "BYE")));
    }
    assert_eq!(switch.calls_active(), 1);

    // 1001's phone (another device of theirs, or the other order of a
    // transfer) replaces its own leg: answered on the call's agent-side
    // media, the old dialog is hung up.
    let extra = format!(
        "Replaces: {};to-tag={ours};from-tag=agent1\r\n",
        offer.call_id()
    );
    let out = invite_with(&mut switch, at(2_000), "1001", AGENT, "rep-ok", &extra);
    let ok = response_to(&out, AGENT, "rep-ok").expect("the new dialog is answered");
    assert_eq!(ok.status(), Some(200));
    assert!(
        String::from_utf8_lossy(ok.body()).contains("m=audio 20002 "),
        "the agent side of the call"
    );
    let bye = requests(&out, AGENT, "BYE");
    assert_eq!(bye.len(), 1);
    assert_eq!(
        bye[0].call_id(),
        offer.call_id(),
        "the old dialog is hung up"
    );
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::SetRemote { call: c, leg: MediaLeg::Agent, .. } if *c == call)));
    assert!(
        out.sip.iter().all(|(a, _)| a.to_string() != CARRIER),
        "the caller hears nothing in SIP"
    );
    ack_requests(&mut switch, at(2_010), &out);
    drain(&mut switch);

    // The caller hangs up: the BYE goes to the new dialog.
    let out = caller_bye(&mut switch, at(5_000), &caller_to);
    let bye = requests(&out, AGENT, "BYE");
    assert_eq!(bye.len(), 1);
    assert_eq!(bye[0].call_id(), "rep-ok");
    ack_requests(&mut switch, at(5_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].agent.as_deref(), Some("1001"));
    assert_clean(&mut switch, at(5_020));
}

#[test]
fn an_attended_transfer_counts_in_the_loop_bound() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let strict = CONFIG.replace(
        "no_answer_timeout = \"20s\"\n",
        "no_answer_timeout = \"20s\"\ntransfer_loop_max = 0\n",
    );
    assert_ne!(strict, CONFIG);
    let mut switch = switch_with(&strict, t0);
    let (_offer, caller_to, id, invite) = api_consulting(&mut switch, at);
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "t2", TARGET, &sdp(4200)),
    );
    drain(&mut switch);
    let complete = Command::ConsultComplete { call: id };
    assert_eq!(switch.handle_command(at(3_000), complete), Ok(Reply::Done));
    let out = drain(&mut switch);
    ack_requests(&mut switch, at(3_010), &out);
    let reinvite = invite_to(&out, TARGET).expect("1002 is re-INVITEd");
    switch.handle_datagram(
        at(3_100),
        peer(TARGET),
        reply(&reinvite, 200, "t2", TARGET, &sdp(4200)),
    );
    drain(&mut switch);
    assert_eq!(phase(&mut switch, at(3_200)), "talking");

    // 1001 handed the call to 1002 by consultation: sending it back is a
    // loop with `transfer_loop_max = 0`, and the call stays with 1002.
    let back = Command::Transfer {
        call: id,
        to: "1001".into(),
    };
    assert_eq!(
        switch.handle_command(at(4_000), back),
        Err(CommandError::TransferLoop)
    );
    let out = drain(&mut switch);
    assert!(
        requests(&out, TARGET, "BYE").is_empty(),
        "1002 keeps the call"
    );
    assert_eq!(phase(&mut switch, at(4_001)), "talking");

    let out = caller_bye(&mut switch, at(9_000), &caller_to);
    assert_eq!(requests(&out, TARGET, "BYE").len(), 1, "1002 is hung up");
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records[0].detail.transfers, vec!["1002".to_string()]);
    assert_clean(&mut switch, at(9_020));
}

/// Each leg's party, role, how it came, whether it was answered, how it ended.
fn legs_of(r: &switchyard::switch::CallRecord) -> Vec<(&str, &str, &str, bool, &str)> {
    r.detail
        .legs
        .iter()
        .map(|l| {
            let answered = l.answered.is_some();
            (
                l.party.as_str(),
                l.role.label(),
                l.via.label(),
                answered,
                l.outcome.label(),
            )
        })
        .collect()
}

/// `*3` from 1001's phone on the consultation it placed itself: 1002's
/// dialog moves into the caller's call as a conference party (re-INVITEd
/// onto a relay leg of that call), the consultation dialog gets a BYE,
/// the caller's hold ends and the relay mixes caller, 1001 and 1002.
/// 1002 hanging up leaves caller and 1001 talking; 1002 wraps up.
#[test]
fn star_3_on_the_phones_own_consultation_makes_a_conference() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to, consult) = held_and_consulting(&mut switch, at);
    let call = CallRef(1);

    // The agent's phone is the caller leg of its own call: RFC 4733 there.
    for digit in ['*', '3'] {
        let leg = MediaLeg::Caller;
        switch.handle_media(
            at(5_000),
            MediaInput::Digit {
                call: CallRef(2),
                leg,
                digit,
            },
        );
    }
    let out = drain(&mut switch);
    let byes = requests(&out, AGENT, "BYE");
    assert_eq!(byes.len(), 1, "the consultation dialog is hung up");
    assert_eq!(byes[0].call_id(), CONSULT);
    assert!(requests(&out, TARGET, "BYE").is_empty(), "1002 stays");
    assert!(out.sip.iter().all(|(a, _)| a.to_string() != CARRIER));
    let reinvite = invite_to(&out, TARGET).expect("1002 is re-INVITEd onto the caller's call");
    assert_eq!(reinvite.call_id(), consult.target_invite.call_id());
    assert_eq!(reinvite.to().tag(), Some("target1"));
    let party = MediaLeg::Party(0);
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::Open { call: c, leg, .. } if *c == call && *leg == party)));
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, EventKind::CallResumed { .. })));
    ack_requests(&mut switch, at(5_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1, "the consultation's record");
    assert_eq!(out.records[0].sip_call_id, CONSULT);

    // 1002 answers: ACKed, its media set, the three are mixed.
    switch.handle_datagram(
        at(5_100),
        peer(TARGET),
        reply(&reinvite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    let acks = requests(&out, TARGET, "ACK");
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].cseq().seq, reinvite.cseq().seq);
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::SetRemote { call: c, leg, .. } if *c == call && *leg == party)));
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::Conference { call: c, parties } if *c == call
            && [MediaLeg::Caller, MediaLeg::Agent, party]
                .iter()
                .all(|l| parties.iter().any(|(p, _)| p == l)))));
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::PartyJoined { who, .. } if who == "1002")));
    assert!(matches!(agent_state(&switch, "1002"), AgentState::Busy));

    // 1002 hangs up: the caller and 1001 go on; 1002 wraps up the call.
    let bye = format!(
        "BYE sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TARGET};branch=z9hG4bKt9\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=target1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        reinvite.to().as_str().split(";tag=").next().unwrap(),
        reinvite.from().as_str(),
        reinvite.call_id(),
    );
    switch.handle_datagram(at(7_000), peer(TARGET), Bytes::from(bye));
    let out = drain(&mut switch);
    assert!(
        response_to(&out, TARGET, reinvite.call_id()).is_some_and(|m| m.status() == Some(200)),
        "1002's BYE is answered"
    );
    assert!(out.sip.iter().all(|(a, _)| a.to_string() != CARRIER));
    assert!(requests(&out, AGENT, "BYE").is_empty(), "1001 stays");
    assert!(matches!(
        agent_state(&switch, "1002"),
        AgentState::WrapUp(_)
    ));

    // The caller hangs up: 1001 gets the BYE; one record with 1002's leg.
    let out = caller_bye(&mut switch, at(9_000), &caller_to);
    let bye = requests(&out, AGENT, "BYE");
    assert_eq!(bye.len(), 1);
    assert_eq!(bye[0].call_id(), offer.call_id());
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    let r = &out.records[0];
    assert_eq!(r.agent.as_deref(), Some("1001"));
    let legs = legs_of(r);
    assert!(
        legs.iter()
            .any(|(party, _, _, answered, _)| *party == "1002" && *answered),
        "{legs:?}"
    );
    assert_clean(&mut switch, at(9_020));
}

/// A desk phone's network conference key (RFC 4579): 1001's phone holds
/// the caller and consults 1002, then INVITEs the conference factory and
/// REFERs the focus once per held call with Replaces naming its dialogs.
/// The factory's dialog becomes 1001's leg of the caller's call (the old
/// one gets a BYE); the REFER naming it is done at once, the one naming
/// the consultation moves 1002 in as a party; the caller's call is a
/// conference of the three.
#[test]
fn a_phones_network_conference_mixes_caller_agent_and_colleague() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let config = CONFIG.replace(
        "no_answer_timeout = \"20s\"",
        "no_answer_timeout = \"20s\"\nconference_factory = \"conference\"",
    );
    let mut switch = switch_with(&config, t0);
    let (offer, caller_to, consult) = held_and_consulting(&mut switch, at);
    let call = CallRef(1);

    // The conference key: INVITE to the factory, answered by the focus.
    let factory = "sip:conference@127.0.0.1:5060";
    let out = with_auth(
        &mut switch,
        at(5_000),
        "INVITE",
        factory,
        "1001",
        AGENT,
        "focus-1",
        &sdp(4600),
    );
    let ok = response_to(&out, AGENT, "focus-1").expect("the factory answers");
    assert_eq!(ok.status(), Some(200));
    let contact = ok.header(&HeaderName::Contact).unwrap_or_default();
    assert!(contact.contains("isfocus"), "{contact}");
    let byes = requests(&out, AGENT, "BYE");
    assert_eq!(byes.len(), 1, "the replaced agent dialog is hung up");
    assert_eq!(byes[0].call_id(), offer.call_id());
    assert!(out.sip.iter().all(|(a, _)| a.to_string() != CARRIER));
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::SetRemote { call: c, leg: MediaLeg::Agent, .. } if *c == call)));
    let focus_to = ok.to().as_str().to_string();
    let ack = request(
        "ACK", factory, "1001", AGENT, "focus-1", 2, &focus_to, "", "",
    );
    switch.handle_datagram(at(5_010), peer(AGENT), ack);
    ack_requests(&mut switch, at(5_010), &out);
    drain(&mut switch);

    // REFER naming the customer dialog the focus replaced: done at once.
    let switch_tag = offer.from().tag().unwrap().to_string();
    let extra = refer_replaces(offer.call_id(), &switch_tag, "agent1");
    let refer = request(
        "REFER", factory, "1001", AGENT, "focus-1", 3, &focus_to, &extra, "",
    );
    switch.handle_datagram(at(5_100), peer(AGENT), refer);
    let out = drain(&mut switch);
    assert_eq!(
        response_to(&out, AGENT, "focus-1").and_then(|m| m.status()),
        Some(202)
    );
    assert_eq!(
        notifies(&out),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 200 OK".to_string(), true)
        ]
    );
    ack_requests(&mut switch, at(5_110), &out);
    drain(&mut switch);

    // REFER naming the consultation: 1002 joins as a party.
    let extra = refer_replaces(CONSULT, &consult.to_tag, &format!("t{CONSULT}"));
    let refer = request(
        "REFER", factory, "1001", AGENT, "focus-1", 4, &focus_to, &extra, "",
    );
    switch.handle_datagram(at(5_200), peer(AGENT), refer);
    let out = drain(&mut switch);
    assert_eq!(
        notifies(&out),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 200 OK".to_string(), true)
        ]
    );
    let byes = requests(&out, AGENT, "BYE");
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].call_id(), CONSULT, "the consultation is hung up");
    let reinvite = invite_to(&out, TARGET).expect("1002 is re-INVITEd into the call");
    assert_eq!(reinvite.call_id(), consult.target_invite.call_id());
    ack_requests(&mut switch, at(5_210), &out);
    drain(&mut switch);
    switch.handle_datagram(
        at(5_300),
        peer(TARGET),
        reply(&reinvite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    let party = MediaLeg::Party(0);
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::Conference { call: c, parties } if *c == call
            && [MediaLeg::Caller, MediaLeg::Agent, party]
                .iter()
                .all(|l| parties.iter().any(|(p, _)| p == l)))));

    // A REFER naming a dialog the agent does not have: 481, nothing moves.
    let extra = refer_replaces("nope", "x", "y");
    let refer = request(
        "REFER", factory, "1001", AGENT, "focus-1", 5, &focus_to, &extra, "",
    );
    switch.handle_datagram(at(6_000), peer(AGENT), refer);
    let out = drain(&mut switch);
    assert_eq!(
        notifies(&out).last().map(|(f, _)| f.clone()),
        Some("SIP/2.0 481 Call/Transaction Does Not Exist".to_string())
    );
    ack_requests(&mut switch, at(6_010), &out);
    drain(&mut switch);

    // REFER without Replaces (RFC 4579 §5.5): the focus dials the target
    // out. A target the dial rules refuse ends the REFER with 403.
    let extra = "Refer-To: <sip:nobody@127.0.0.1:5060>\r\nReferred-By: <sip:1001@127.0.0.1>\r\n";
    let refer = request(
        "REFER", factory, "1001", AGENT, "focus-1", 6, &focus_to, extra, "",
    );
    switch.handle_datagram(at(6_100), peer(AGENT), refer);
    let out = drain(&mut switch);
    assert_eq!(
        notifies(&out),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 403 Forbidden".to_string(), true)
        ]
    );
    let invites = out
        .sip
        .iter()
        .filter(|(_, m)| m.method().map(|x| x.as_str()) == Some("INVITE"));
    assert_eq!(invites.count(), 0, "nobody is dialled");
    ack_requests(&mut switch, at(6_110), &out);
    drain(&mut switch);
    // 1003 is rung; its answer ends the REFER's subscription with 200.
    let extra = "Refer-To: <sip:1003@127.0.0.1:5060>\r\n";
    let refer = request(
        "REFER", factory, "1001", AGENT, "focus-1", 7, &focus_to, extra, "",
    );
    switch.handle_datagram(at(6_200), peer(AGENT), refer);
    let out = drain(&mut switch);
    assert_eq!(
        notifies(&out),
        vec![("SIP/2.0 100 Trying".to_string(), false)],
        "the subscription stays open while 1003 rings"
    );
    let ring = invite_to(&out, OTHER).expect("1003 is dialled out");
    ack_requests(&mut switch, at(6_210), &out);
    drain(&mut switch);
    switch.handle_datagram(
        at(6_500),
        peer(OTHER),
        reply(&ring, 200, "other1", OTHER, &sdp(4700)),
    );
    let out = drain(&mut switch);
    assert_eq!(notifies(&out), vec![("SIP/2.0 200 OK".to_string(), true)]);
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::Conference { call: c, parties } if *c == call
            && parties.iter().any(|(p, _)| *p == MediaLeg::Party(1)))));
    ack_requests(&mut switch, at(6_510), &out);
    drain(&mut switch);

    // The caller hangs up: the focus dialog and 1002 get BYEs.
    let out = caller_bye(&mut switch, at(9_000), &caller_to);
    let byes = requests(&out, AGENT, "BYE");
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].call_id(), "focus-1");
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    // The call ends with its agent leg: its parties are hung up with it.
    assert_eq!(requests(&out, TARGET, "BYE").len(), 1, "1002 is hung up");
    assert_eq!(requests(&out, OTHER, "BYE").len(), 1, "1003 is hung up");
    ack_requests(&mut switch, at(9_020), &out);
    drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].agent.as_deref(), Some("1001"));
    assert_clean(&mut switch, at(9_030));
}

/// The simpler phones' form: a REFER in the customer's dialog to the
/// conference factory URI moves the agent's own consultation in as a
/// party.
#[test]
fn a_refer_to_the_conference_factory_merges_the_phones_consultation() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let config = CONFIG.replace(
        "no_answer_timeout = \"20s\"",
        "no_answer_timeout = \"20s\"\nconference_factory = \"conference\"",
    );
    let mut switch = switch_with(&config, t0);
    let (offer, caller_to, consult) = held_and_consulting(&mut switch, at);
    let refer_to = "Refer-To: <sip:conference@127.0.0.1:5060>\r\n";
    switch.handle_datagram(
        at(5_000),
        peer(AGENT),
        from_agent("REFER", &offer, 3, refer_to, ""),
    );
    let out = drain(&mut switch);
    assert_eq!(
        response_to(&out, AGENT, offer.call_id()).and_then(|m| m.status()),
        Some(202)
    );
    assert_eq!(
        notifies(&out),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 200 OK".to_string(), true)
        ]
    );
    let byes = requests(&out, AGENT, "BYE");
    assert_eq!(byes.len(), 1);
    assert_eq!(byes[0].call_id(), CONSULT);
    let reinvite = invite_to(&out, TARGET).expect("1002 is re-INVITEd into the call");
    assert_eq!(reinvite.call_id(), consult.target_invite.call_id());
    ack_requests(&mut switch, at(5_010), &out);
    drain(&mut switch);
    switch.handle_datagram(
        at(5_100),
        peer(TARGET),
        reply(&reinvite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::PartyJoined { who, .. } if who == "1002")));
    let out = caller_bye(&mut switch, at(9_000), &caller_to);
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    ack_requests(&mut switch, at(9_020), &out);
    drain(&mut switch);
    assert_clean(&mut switch, at(9_030));
}

/// The conference factory refuses an agent on no talking call (403), and
/// `*3` on an agent's own call with no customer call of theirs is ignored:
/// nothing is sent, both calls go on.
#[test]
fn the_factory_and_star_3_refuse_an_agent_with_no_customer_call() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let config = CONFIG.replace(
        "no_answer_timeout = \"20s\"",
        "no_answer_timeout = \"20s\"\nconference_factory = \"conference\"",
    );
    let mut switch = switch_with(&config, t0);
    let factory = "sip:conference@127.0.0.1:5060";
    let out = with_auth(
        &mut switch,
        at(10),
        "INVITE",
        factory,
        "1001",
        AGENT,
        "focus-0",
        &sdp(4600),
    );
    assert_eq!(
        response_to(&out, AGENT, "focus-0").and_then(|m| m.status()),
        Some(403)
    );
    assert_eq!(switch.calls_active(), 0);

    // 1001 calls 1002 directly (no customer call), then types *3.
    let out = with_auth(
        &mut switch,
        at(100),
        "INVITE",
        "sip:1002@127.0.0.1:5060",
        "1001",
        AGENT,
        CONSULT,
        &sdp(4500),
    );
    let invite = invite_to(&out, TARGET).expect("1002 rings");
    switch.handle_datagram(
        at(200),
        peer(TARGET),
        reply(&invite, 200, "target1", TARGET, &sdp(4200)),
    );
    drain(&mut switch);
    for digit in ['*', '3'] {
        let leg = MediaLeg::Caller;
        switch.handle_media(
            at(300),
            MediaInput::Digit {
                call: CallRef(1),
                leg,
                digit,
            },
        );
    }
    let out = drain(&mut switch);
    assert_eq!(switch.stats().dtmf_digits, 2, "the digits reached the call");
    assert!(out.sip.is_empty(), "*3 is ignored: {:?}", out.sip);
    assert!(out.media.is_empty());
    assert_eq!(switch.calls_active(), 1, "the call goes on");
}
