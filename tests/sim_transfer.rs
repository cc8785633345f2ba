//! Blind transfer decided by the pure switch core, in virtual time and
//! without sockets: agent 1001 answers a DID call and REFERs it to 1002;
//! the switch answers 202, NOTIFYs `100 Trying` then `200 OK`, hangs up
//! 1001, plays ringback to the caller and rings 1002, whose answer is
//! bridged to the caller; the record names the transfer. Refused targets
//! (dial rules), REFERs from the carrier and outside a dialog, and a target
//! that never answers (the call goes back to 1001) are checked too, and
//! every call leaves no demux entry, transaction or engagement behind.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

mod sim_wire;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sim_wire::{
    ack_requests, assert_clean, drain, final_status, invite_to, peer, reply, request, requests,
    sdp, with_auth, Out,
};
use switchyard::call::CallRef;
use switchyard::config::Config;
use switchyard::sip::parse::{HeaderName, Message};
use switchyard::switch::{Command, EventKind, MediaCommand, MediaLeg, Plan, Reply, Switch};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-only"
no_answer_timeout = "20s"

[[agents]]
id = "1001"
password = "pw-1001"

[[agents]]
id = "1002"
password = "pw-1002"
auto_login = true
skills = { sales = 5 }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]
outbound = { address = "10.0.0.1:5060", transport = "udp" }

[dids]
"5550100" = { agent = "1001" }
"5550200" = { queue = "sales" }

[[queues]]
name = "sales"
requires = "sales:1"
wrap_up = "5s"

[media]
rtp_ports = "20000-20019"
rtp_address = "127.0.0.1"
"#;

const AGENT: &str = "10.0.0.21:5060";
const TARGET: &str = "10.0.0.22:5060";
const CARRIER: &str = "10.0.0.1:5060";

/// A request from the agent's phone inside the dialog the switch's
/// INVITE `offer` formed with it.
fn from_agent(method: &str, offer: &Message, cseq: u32, extra: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKa{cseq}{method}\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=agent1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:1001@{AGENT}>\r\n{extra}Content-Length: 0\r\n\r\n",
        offer.to().as_str(),
        offer.from().as_str(),
        offer.call_id(),
    ))
}

fn refer_to(target: &str) -> String {
    format!("Refer-To: <sip:{target}@127.0.0.1:5060>\r\nReferred-By: <sip:1001@127.0.0.1>\r\n")
}

/// The switch with 1001 and 1002 registered.
fn switch_with_agents(t0: Instant) -> Switch {
    switch_with(CONFIG, t0)
}

fn switch_with(config: &str, t0: Instant) -> Switch {
    let cfg = Config::parse(config, Path::new("xfer.toml")).unwrap();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
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

/// The carrier calls the DID, 1001 answers, the caller ACKs. The
/// switch's INVITE to 1001 (its dialog) and the caller's dialog To.
fn connected(switch: &mut Switch, now: Instant) -> (Message, String) {
    let (offer, caller_to) = answered_unacked(switch, now);
    caller_ack(switch, now, &caller_to);
    (offer, caller_to)
}

/// The caller's ACK for the switch's 200.
fn caller_ack(switch: &mut Switch, now: Instant, caller_to: &str) {
    let ack = request(
        "ACK",
        "sip:5550100@127.0.0.1:5060",
        "+15550001",
        CARRIER,
        "call-1",
        1,
        caller_to,
        "",
        "",
    );
    switch.handle_datagram(now, peer(CARRIER), ack);
    drain(switch);
}

/// The carrier calls the DID and 1001 answers; the caller has not ACKed
/// the switch's 200 yet.
fn answered_unacked(switch: &mut Switch, now: Instant) -> (Message, String) {
    let carrier = peer(CARRIER);
    let to = "<sip:5550100@127.0.0.1>";
    let uri = "sip:5550100@127.0.0.1:5060";
    switch.handle_datagram(
        now,
        carrier,
        request(
            "INVITE",
            uri,
            "+15550001",
            CARRIER,
            "call-1",
            1,
            to,
            "",
            &sdp(4000),
        ),
    );
    let out = drain(switch);
    let offer = invite_to(&out, AGENT).expect("an INVITE to 1001");
    switch.handle_datagram(
        now,
        peer(AGENT),
        reply(&offer, 200, "agent1", AGENT, &sdp(4100)),
    );
    let out = drain(switch);
    let caller_to = out
        .sip
        .iter()
        .find(|(a, m)| a.to_string() == CARRIER && m.status() == Some(200))
        .map(|(_, m)| m.to().as_str().to_string())
        .expect("the caller is answered");
    (offer, caller_to)
}

fn status_to(out: &Out, addr: &str) -> Option<u16> {
    out.sip
        .iter()
        .filter(|(a, _)| a.to_string() == addr)
        .find_map(|(_, m)| m.status())
}

/// The sipfrag status lines of the NOTIFYs, with whether each ends the
/// subscription.
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

#[test]
fn agent_refers_the_caller_to_another_agent_who_answers() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to) = connected(&mut switch, at(10));
    let call = CallRef(1);

    switch.handle_datagram(
        at(1_000),
        peer(AGENT),
        from_agent("REFER", &offer, 2, &refer_to("1002")),
    );
    let out = drain(&mut switch);
    assert_eq!(status_to(&out, AGENT), Some(202), "the REFER is accepted");
    assert_eq!(
        notifies(&out),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 200 OK".to_string(), true)
        ]
    );
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1, "1001 is released");
    assert!(
        out.sip.iter().all(|(a, _)| a.to_string() != CARRIER),
        "the caller hears nothing in SIP"
    );
    assert!(out.media.contains(&MediaCommand::Unbridge { call }));
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::Play { call: c, leg: MediaLeg::Caller, music, .. } if *c == call && music == &["ringback"])));
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallTransferred { by: Some(by), to, .. } if by == "1001" && to == "1002")));
    let invite = invite_to(&out, TARGET).expect("1002 rings");
    ack_requests(&mut switch, at(1_010), &out);

    // 1002 answers: ACKed, bridged to the caller, still nothing to the caller.
    switch.handle_datagram(
        at(3_000),
        peer(TARGET),
        reply(&invite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "ACK").len(), 1);
    assert!(out.sip.iter().all(|(a, _)| a.to_string() != CARRIER));
    assert!(out.media.contains(&MediaCommand::Bridge { call }));
    assert!(out.media.iter().any(|c| matches!(c,
        MediaCommand::SetRemote { call: c, leg: MediaLeg::Agent, .. } if *c == call)));

    // The caller hangs up: 1002 gets the BYE; one record, naming the transfer.
    let bye = request(
        "BYE",
        "sip:5550100@127.0.0.1:5060",
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
    assert!(
        requests(&out, AGENT, "BYE").is_empty(),
        "1001 was released before"
    );
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1, "one record per customer call");
    let r = &out.records[0];
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.detail.transfers, vec!["1002".to_string()]);
    assert_eq!(r.outcome.label(), "completed");
    // The legs: 1001 offered and transferred, 1002 by transfer until the caller hung up.
    assert_eq!(
        legs_of(r),
        [
            ("1001", "agent", "offer", true, "transferred"),
            ("1002", "agent", "transfer", true, "caller_hung_up"),
        ]
    );
    assert!(r.detail.legs[0].ended <= r.detail.legs[1].started);
    assert_clean(&mut switch, at(9_020));
}

#[test]
fn refused_targets_and_foreign_refers_leave_the_call_with_the_agent() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to) = connected(&mut switch, at(10));

    // A premium number the dial rules refuse: 403 in the final NOTIFY.
    switch.handle_datagram(
        at(1_000),
        peer(AGENT),
        from_agent("REFER", &offer, 2, &refer_to("9005551234")),
    );
    let out = drain(&mut switch);
    assert_eq!(status_to(&out, AGENT), Some(202));
    assert_eq!(
        notifies(&out),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 403 Forbidden".to_string(), true)
        ]
    );
    assert!(
        requests(&out, AGENT, "BYE").is_empty(),
        "1001 keeps the call"
    );
    assert!(out.media.is_empty(), "the media is untouched");
    ack_requests(&mut switch, at(1_010), &out);

    // The carrier's side may not transfer the call.
    let uri = "sip:5550100@127.0.0.1:5060";
    let refer = request(
        "REFER",
        uri,
        "+15550001",
        CARRIER,
        "call-1",
        2,
        &caller_to,
        &refer_to("1002"),
        "",
    );
    switch.handle_datagram(at(2_000), peer(CARRIER), refer);
    let out = drain(&mut switch);
    assert_eq!(status_to(&out, CARRIER), Some(403));

    // A REFER in no dialog the switch knows.
    let stray = request(
        "REFER",
        uri,
        "1001",
        AGENT,
        "nodialog",
        1,
        "<sip:x@127.0.0.1>;tag=zz",
        &refer_to("1002"),
        "",
    );
    switch.handle_datagram(at(2_100), peer(AGENT), stray);
    let out = drain(&mut switch);
    assert_eq!(status_to(&out, AGENT), Some(481));

    // The call still talks: the agent hangs up and the record has no transfer.
    switch.handle_datagram(at(5_000), peer(AGENT), from_agent("BYE", &offer, 3, ""));
    let out = drain(&mut switch);
    ack_requests(&mut switch, at(5_010), &out);
    let out = drain(&mut switch);
    let r = &out.records[0];
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert!(r.detail.transfers.is_empty());
    assert_clean(&mut switch, at(5_020));
}

#[test]
fn a_target_that_never_answers_hands_the_call_back_to_the_transferring_agent() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to) = connected(&mut switch, at(10));
    let call = CallRef(1);

    switch.handle_datagram(
        at(1_000),
        peer(AGENT),
        from_agent("REFER", &offer, 2, &refer_to("1002")),
    );
    let out = drain(&mut switch);
    let invite = invite_to(&out, TARGET).expect("1002 rings");
    ack_requests(&mut switch, at(1_010), &out);
    switch.handle_datagram(
        at(1_100),
        peer(TARGET),
        reply(&invite, 180, "target1", TARGET, ""),
    );
    drain(&mut switch);

    // 1002 rings out its 20 s: cancelled; the call goes back to 1001.
    let due = switch.poll_timeout().expect("a ring deadline");
    assert!(due <= at(21_000), "{due:?}");
    switch.handle_timeout(at(21_000));
    let out = drain(&mut switch);
    assert_eq!(
        requests(&out, TARGET, "CANCEL").len(),
        1,
        "1002 stops ringing"
    );
    let back = invite_to(&out, AGENT).expect("1001 is rung again");
    switch.handle_datagram(
        at(21_100),
        peer(TARGET),
        reply(&invite, 487, "target1", TARGET, ""),
    );
    for (addr, m) in &out.sip {
        if m.method().is_some_and(|m| m.as_str() == "CANCEL") {
            switch.handle_datagram(
                at(21_100),
                peer(&addr.to_string()),
                reply(m, 200, "target1", TARGET, ""),
            );
        }
    }
    drain(&mut switch);
    switch.handle_datagram(
        at(22_000),
        peer(AGENT),
        reply(&back, 200, "agent2", AGENT, &sdp(4300)),
    );
    let out = drain(&mut switch);
    assert!(
        out.media.contains(&MediaCommand::Bridge { call }),
        "caller and 1001 talk again"
    );

    let bye = request(
        "BYE",
        "sip:5550100@127.0.0.1:5060",
        "+15550001",
        CARRIER,
        "call-1",
        2,
        &caller_to,
        "",
        "",
    );
    switch.handle_datagram(at(30_000), peer(CARRIER), bye);
    let out = drain(&mut switch);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1);
    ack_requests(&mut switch, at(30_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].agent.as_deref(), Some("1001"));
    assert_eq!(out.records[0].detail.transfers, vec!["1002".to_string()]);
    assert_eq!(
        legs_of(&out.records[0]),
        [
            ("1001", "agent", "offer", true, "transferred"),
            ("1002", "agent", "transfer", false, "no_answer"),
            ("1001", "agent", "offer", true, "caller_hung_up"),
        ]
    );
    assert_clean(&mut switch, at(30_020));
}

/// Transfers to `target` and returns the INVITE it sends to `addr`,
/// checking the REFER's NOTIFYs.
fn refer_and_ring(
    switch: &mut Switch,
    now: Instant,
    offer: &Message,
    target: &str,
    addr: &str,
) -> (Message, Vec<MediaCommand>) {
    switch.handle_datagram(
        now,
        peer(AGENT),
        from_agent("REFER", offer, 2, &refer_to(target)),
    );
    let out = drain(switch);
    assert_eq!(status_to(&out, AGENT), Some(202));
    assert_eq!(
        notifies(&out).last(),
        Some(&("SIP/2.0 200 OK".to_string(), true))
    );
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1, "1001 is released");
    ack_requests(switch, now, &out);
    let invite =
        invite_to(&out, addr).unwrap_or_else(|| panic!("no INVITE to {addr} for {target}"));
    (invite, out.media)
}

#[test]
fn agent_refers_the_caller_to_a_queue_whose_agent_answers() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to) = connected(&mut switch, at(10));
    let call = CallRef(1);
    let (invite, media) = refer_and_ring(&mut switch, at(1_000), &offer, "5550200", TARGET);
    assert!(
        media.iter().any(|c| matches!(c, MediaCommand::Play { leg: MediaLeg::Caller, music, .. } if music != &["ringback"])),
        "the caller hears the queue: {media:?}"
    );
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "q1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert!(out.media.contains(&MediaCommand::Bridge { call }));
    assert!(out.sip.iter().all(|(a, _)| a.to_string() != CARRIER));
    let bye = request(
        "BYE",
        "sip:5550100@127.0.0.1:5060",
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
    ack_requests(&mut switch, at(6_010), &out);
    let out = drain(&mut switch);
    let r = &out.records[0];
    assert_eq!(
        (r.agent.as_deref(), r.queue.as_deref()),
        (Some("1002"), Some("sales"))
    );
    assert_eq!(r.detail.transfers, vec!["sales".to_string()]);
    assert_clean(&mut switch, at(6_020));
}

#[test]
fn agent_refers_the_caller_to_an_outside_number_through_the_trunk() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to) = connected(&mut switch, at(10));
    let call = CallRef(1);
    let (invite, media) = refer_and_ring(&mut switch, at(1_000), &offer, "5551234", CARRIER);
    assert!(media.iter().any(|c| matches!(c, MediaCommand::Play { leg: MediaLeg::Caller, music, .. } if music == &["ringback"])));
    assert_eq!(invite.request_uri().and_then(|u| u.user()), Some("5551234"));
    switch.handle_datagram(
        at(2_000),
        peer(CARRIER),
        reply(&invite, 200, "n1", CARRIER, &sdp(4400)),
    );
    let out = drain(&mut switch);
    assert!(out.media.contains(&MediaCommand::Bridge { call }));
    // The number hangs up: the caller gets the BYE.
    let number_bye = format!(
        "BYE sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKnb\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=n1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        invite.to().as_str(),
        invite.from().as_str(),
        invite.call_id()
    );
    switch.handle_datagram(at(7_000), peer(CARRIER), Bytes::from(number_bye));
    let out = drain(&mut switch);
    let to_caller = requests(&out, CARRIER, "BYE");
    assert!(
        to_caller.iter().any(|m| m.call_id() == "call-1"),
        "the caller is hung up"
    );
    ack_requests(&mut switch, at(7_010), &out);
    let out = drain(&mut switch);
    let r = &out.records[0];
    assert_eq!(r.detail.transfers, vec!["5551234".to_string()]);
    let _ = caller_to;
    assert_clean(&mut switch, at(7_020));
}

#[test]
fn the_transfer_command_moves_the_call_and_stops_a_loop() {
    use switchyard::switch::{Command, CommandError, Reply};
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to) = connected(&mut switch, at(10));
    let Reply::Calls { calls } = switch.handle_command(at(20), Command::ListCalls).unwrap() else {
        panic!("a call list")
    };
    let uuid = calls[0].id;
    let unknown = "00000000-0000-4000-8000-000000000000".parse().unwrap();
    let cmd = |call, to: &str| Command::Transfer {
        call,
        to: to.to_string(),
    };
    assert_eq!(
        switch.handle_command(at(30), cmd(unknown, "1002")),
        Err(CommandError::UnknownCall(unknown))
    );
    assert!(matches!(
        switch.handle_command(at(30), cmd(uuid, "9005551234")),
        Err(CommandError::DialRefused(_))
    ));
    assert!(matches!(
        switch.handle_command(at(30), cmd(uuid, "no such place")),
        Err(CommandError::BadTarget(_))
    ));
    assert!(
        drain(&mut switch).sip.is_empty(),
        "a refused command changes nothing"
    );

    // Back and forth between 1001 and 1002: back to a party twice
    // (`transfer_loop_max` 2 by default), a third time is a loop.
    drop(offer);
    let mut now = 100;
    for i in 0..3 {
        let (to, addr) = if i % 2 == 0 {
            ("1002", TARGET)
        } else {
            ("1001", AGENT)
        };
        assert_eq!(
            switch.handle_command(at(now), cmd(uuid, to)),
            Ok(Reply::Done),
            "transfer {i}"
        );
        let out = drain(&mut switch);
        assert!(notifies(&out).is_empty(), "no REFER, no NOTIFY");
        ack_requests(&mut switch, at(now), &out);
        let invite = invite_to(&out, addr).expect("the target rings");
        let tag = format!("t{i}");
        switch.handle_datagram(
            at(now + 100),
            peer(addr),
            reply(&invite, 200, &tag, addr, &sdp(4200)),
        );
        drain(&mut switch);
        now += 1_000;
    }
    assert_eq!(
        switch.handle_command(at(now), cmd(uuid, "1001")),
        Err(CommandError::TransferLoop)
    );
    let bye = request(
        "BYE",
        "sip:5550100@127.0.0.1:5060",
        "+15550001",
        CARRIER,
        "call-1",
        2,
        &caller_to,
        "",
        "",
    );
    switch.handle_datagram(at(now + 10), peer(CARRIER), bye);
    let out = drain(&mut switch);
    ack_requests(&mut switch, at(now + 20), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].detail.transfers, ["1002", "1001", "1002"]);
    assert_clean(&mut switch, at(now + 30));
}

/// The sipfrag status lines of the NOTIFYs sent to `addr`.
fn notifies_to(out: &Out, addr: &str) -> Vec<(String, bool)> {
    requests(out, addr, "NOTIFY")
        .into_iter()
        .map(|m| {
            let state = m.header(&HeaderName::parse(b"Subscription-State")).unwrap();
            let body = String::from_utf8(m.body().to_vec()).unwrap();
            (body.trim().to_string(), state.starts_with("terminated"))
        })
        .collect()
}

#[test]
fn a_trunk_with_allow_refer_moves_the_call_by_the_carriers_refer() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let allowing = CONFIG.replace(
        "allow_from = [\"10.0.0.1\"]\n",
        "allow_from = [\"10.0.0.1\"]\nallow_refer = true\n",
    );
    assert_ne!(allowing, CONFIG);
    let mut switch = switch_with(&allowing, t0);
    let (_offer, caller_to) = connected(&mut switch, at(10));
    let uri = "sip:5550100@127.0.0.1:5060";
    let in_caller_dialog = |method: &str, cseq: u32, extra: &str| {
        request(
            method,
            uri,
            "+15550001",
            CARRIER,
            "call-1",
            cseq,
            &caller_to,
            extra,
            "",
        )
    };

    // A Replaces from the carrier names no consultation of ours.
    let replaces = "Refer-To: <sip:1002@127.0.0.1?Replaces=x%3Bto-tag%3Da%3Bfrom-tag%3Db>\r\n";
    switch.handle_datagram(
        at(900),
        peer(CARRIER),
        in_caller_dialog("REFER", 2, replaces),
    );
    let out = drain(&mut switch);
    assert_eq!(status_to(&out, CARRIER), Some(403));

    switch.handle_datagram(
        at(1_000),
        peer(CARRIER),
        in_caller_dialog("REFER", 3, &refer_to("1002")),
    );
    let out = drain(&mut switch);
    assert_eq!(status_to(&out, CARRIER), Some(202), "the trunk may REFER");
    assert_eq!(
        notifies_to(&out, CARRIER),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 200 OK".to_string(), true)
        ],
        "the carrier hears of its transfer in its own dialog"
    );
    assert!(requests(&out, AGENT, "NOTIFY").is_empty());
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1, "1001 is released");
    let invite = invite_to(&out, TARGET).expect("1002 rings");
    ack_requests(&mut switch, at(1_010), &out);

    switch.handle_datagram(
        at(3_000),
        peer(TARGET),
        reply(&invite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "ACK").len(), 1);
    assert!(out
        .media
        .contains(&MediaCommand::Bridge { call: CallRef(1) }));

    switch.handle_datagram(at(9_000), peer(CARRIER), in_caller_dialog("BYE", 4, ""));
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "BYE").len(), 1, "1002 is hung up");
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    let r = &out.records[0];
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.detail.transfers, vec!["1002".to_string()]);
    assert_clean(&mut switch, at(9_020));
}

/// Each leg's party, role, how it came, whether it was answered, how it ended.
fn legs_of(r: &switchyard::switch::CallRecord) -> Vec<(&str, &str, &str, bool, &str)> {
    r.detail
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
        .collect()
}

/// A REFER from 1001 after its 200 but before the caller's ACK: the API
/// already shows the call talking, so the transfer goes ahead; the late
/// ACK changes nothing and 1002's answer is bridged.
#[test]
fn a_refer_before_the_callers_ack_is_taken_as_the_api_shows_talking() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to) = answered_unacked(&mut switch, at(10));
    let call = CallRef(1);
    let Reply::Calls { calls } = switch.handle_command(at(20), Command::ListCalls).unwrap() else {
        panic!("calls expected");
    };
    assert_eq!(calls[0].phase, "talking", "talking from the agent's 200");

    switch.handle_datagram(
        at(30),
        peer(AGENT),
        from_agent("REFER", &offer, 2, &refer_to("1002")),
    );
    let out = drain(&mut switch);
    assert_eq!(status_to(&out, AGENT), Some(202), "the REFER is accepted");
    assert_eq!(
        notifies(&out),
        vec![
            ("SIP/2.0 100 Trying".to_string(), false),
            ("SIP/2.0 200 OK".to_string(), true)
        ]
    );
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1, "1001 is released");
    assert!(out.media.contains(&MediaCommand::Unbridge { call }));
    let invite = invite_to(&out, TARGET).expect("1002 rings");
    ack_requests(&mut switch, at(40), &out);
    drain(&mut switch);

    // The caller's ACK arrives late: nothing is sent, the transfer goes on.
    caller_ack(&mut switch, at(60), &caller_to);
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "target1", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "ACK").len(), 1);
    assert!(out.sip.iter().all(|(a, _)| a.to_string() != CARRIER));
    assert!(out.media.contains(&MediaCommand::Bridge { call }));

    let bye = request(
        "BYE",
        "sip:5550100@127.0.0.1:5060",
        "+15550001",
        CARRIER,
        "call-1",
        2,
        &caller_to,
        "",
        "",
    );
    switch.handle_datagram(at(5_000), peer(CARRIER), bye);
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "BYE").len(), 1, "1002 is hung up");
    ack_requests(&mut switch, at(5_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    let r = &out.records[0];
    assert_eq!(r.detail.transfers, vec!["1002".to_string()]);
    assert_eq!(r.outcome.label(), "completed");
    assert_clean(&mut switch, at(5_020));
}
