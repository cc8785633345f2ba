//! Conferences decided by the pure switch core, in virtual time and
//! without sockets: agent 1001 answers a queue call and brings in a
//! colleague (1002) or outside numbers through the API. Each added party
//! rings as one more leg of the customer's session and, answered, joins
//! the relay's mix; a party that hangs up leaves the others talking (an
//! agent among them wraps up as the call's queue says); the
//! agent who hangs up hands the call to another agent in the conference,
//! or ends it when only outsiders are left; the caller hanging up ends
//! every party's leg with one record. A ninth party, an unknown call or
//! party, and a number the dial rules refuse are refused and change
//! nothing. A running consultation becomes a conference by the API and by
//! the agent's `*3`. No demux entry, transaction or engagement is left.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

mod sim_wire;

use std::path::Path;
use std::time::{Duration, Instant};

use sim_wire::{
    assert_clean, drain, final_status, peer, reply, request, requests, sdp, with_auth, Out,
};
use switchyard::acd::AgentState;
use switchyard::call::{CallRef, CallUuid};
use switchyard::config::Config;
use switchyard::media::command::MediaInput;
use switchyard::sip::parse::Message;
use switchyard::switch::{
    Command, CommandError, EventKind, MediaCommand, MediaLeg, Plan, Reply, Switch,
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

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]
outbound = { address = "10.0.0.1:5060", transport = "udp" }

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
rtp_ports = "20000-20099"
rtp_address = "127.0.0.1"
"#;

const AGENT: &str = "10.0.0.21:5060";
const TARGET: &str = "10.0.0.22:5060";
const CARRIER: &str = "10.0.0.1:5060";
const CALL: CallRef = CallRef(1);

fn switch_with_agents(t0: Instant) -> Switch {
    let cfg = Config::parse(CONFIG, Path::new("conference.toml")).unwrap();
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

fn invite_to(out: &Out, addr: &str) -> Message {
    requests(out, addr, "INVITE")
        .first()
        .map(|m| (*m).clone())
        .unwrap_or_else(|| panic!("an INVITE to {addr}"))
}

/// Answers every NOTIFY and BYE the switch sent in `out` with 200.
fn ack_requests(switch: &mut Switch, now: Instant, out: &Out) {
    for (addr, m) in &out.sip {
        let Some(method) = m.method() else { continue };
        if matches!(method.as_str(), "NOTIFY" | "BYE" | "CANCEL") {
            let bytes = reply(m, 200, "x", &addr.to_string(), "");
            switch.handle_datagram(now, peer(&addr.to_string()), bytes);
        }
    }
}

fn agent_state(switch: &Switch, agent: &str) -> AgentState {
    let id = switch.router().agent_id(agent).expect("a configured agent");
    switch.router().agent_state(id).expect("the agent")
}

/// The carrier calls the sales queue and 1001 answers: the switch's
/// INVITE to 1001, the caller's To and the call's id.
fn answered(switch: &mut Switch, at: &impl Fn(u64) -> Instant) -> (Message, String, CallUuid) {
    let (offer, caller_to, id) = answered_before_ack(switch, at);
    caller_ack(switch, at(510), &caller_to);
    (offer, caller_to, id)
}

/// As [`answered`], the caller's ACK to the switch's 200 not sent yet.
fn answered_before_ack(
    switch: &mut Switch,
    at: &impl Fn(u64) -> Instant,
) -> (Message, String, CallUuid) {
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
    let offer = invite_to(&out, AGENT);
    switch.handle_datagram(
        at(500),
        peer(AGENT),
        reply(&offer, 200, "agent1", AGENT, &sdp(4100)),
    );
    let out = drain(switch);
    let caller_to = out
        .sip
        .iter()
        .find(|(a, m)| {
            a.to_string() == CARRIER && m.call_id() == "call-1" && m.status() == Some(200)
        })
        .map(|(_, m)| m.to().as_str().to_string())
        .expect("the caller is answered");
    let Ok(Reply::Calls { calls }) = switch.handle_command(at(505), Command::ListCalls) else {
        panic!("calls");
    };
    (offer, caller_to, calls[0].id)
}

fn caller_ack(switch: &mut Switch, now: Instant, caller_to: &str) {
    let ack = request(
        "ACK",
        "sip:5550200@127.0.0.1:5060",
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

/// A BYE from the far end of a dialog the switch opened with `invite`
/// (its 200 carried `tag`).
fn bye_from(invite: &Message, tag: &str, addr: &str, cseq: u32) -> bytes::Bytes {
    bytes::Bytes::from(format!(
        "BYE sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKbye{cseq}{tag}\r\n\
         Max-Forwards: 70\r\nFrom: {};tag={tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} BYE\r\n\
         Content-Length: 0\r\n\r\n",
        invite.to().as_str(),
        invite.from().as_str(),
        invite.call_id(),
    ))
}

/// The legs of the last conference mix the core asked the relay for.
fn last_mix(out: &Out) -> Option<Vec<(MediaLeg, bool)>> {
    out.media.iter().rev().find_map(|c| match c {
        MediaCommand::Conference { call, parties } if *call == CALL => {
            Some(parties.iter().map(|(l, v)| (*l, v.muted)).collect())
        }
        _ => None,
    })
}

fn parties(switch: &mut Switch, now: Instant, id: CallUuid) -> Vec<(u8, String, &'static str)> {
    let Ok(Reply::Parties { parties }) =
        switch.handle_command(now, Command::ListParties { call: id })
    else {
        panic!("a party list");
    };
    parties
        .into_iter()
        .map(|p| (p.id, p.who, p.state))
        .collect()
}

fn add(switch: &mut Switch, now: Instant, id: CallUuid, to: &str) -> Result<Reply, CommandError> {
    let command = Command::Conference {
        call: id,
        to: to.to_string(),
    };
    switch.handle_command(now, command)
}

/// The API lists a call as talking from the agent's answer on; the
/// caller's ACK to the switch's 200 may still be on its way (a real
/// phone's, a round trip later). A party added then rings as on any
/// talking call, and joins the mix once the ACK came and it answered.
#[test]
fn a_party_can_be_added_before_the_callers_ack_arrives() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to, id) = answered_before_ack(&mut switch, &at);
    let Ok(Reply::Calls { calls }) = switch.handle_command(at(506), Command::ListCalls) else {
        panic!("calls");
    };
    assert_eq!(calls[0].phase, "talking");

    assert_eq!(add(&mut switch, at(507), id, "1002"), Ok(Reply::Done));
    let invite = invite_to(&drain(&mut switch), TARGET);
    caller_ack(&mut switch, at(520), &caller_to);
    switch.handle_datagram(
        at(1_000),
        peer(TARGET),
        reply(&invite, 200, "p2", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert_eq!(
        last_mix(&out),
        Some(vec![
            (MediaLeg::Caller, false),
            (MediaLeg::Agent, false),
            (MediaLeg::Party(0), false)
        ])
    );
    // The caller hangs up: the agent, then the party, get BYE.
    let out = caller_bye(&mut switch, at(2_000), &caller_to);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1);
    ack_requests(&mut switch, at(2_001), &out);
    let out = drain(&mut switch);
    assert_eq!(
        requests(&out, TARGET, "BYE").len(),
        1,
        "the party is hung up"
    );
    ack_requests(&mut switch, at(2_002), &out);
    drain(&mut switch);
    assert_clean(&mut switch, at(2_003));
}

/// A caller whose ACK never comes (Timer H) ends the call, and with it
/// the party added meanwhile: nothing is left behind.
#[test]
fn a_party_added_before_an_ack_that_never_comes_is_hung_up_with_the_call() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, _caller_to, id) = answered_before_ack(&mut switch, &at);
    assert_eq!(add(&mut switch, at(507), id, "1002"), Ok(Reply::Done));
    let invite = invite_to(&drain(&mut switch), TARGET);
    switch.handle_datagram(
        at(1_000),
        peer(TARGET),
        reply(&invite, 200, "p2", TARGET, &sdp(4200)),
    );
    drain(&mut switch);
    // Timer H (64 T1) passes without the caller's ACK.
    switch.handle_timeout(at(40_000));
    let out = drain(&mut switch);
    assert_eq!(
        requests(&out, AGENT, "BYE").len(),
        1,
        "the agent is hung up"
    );
    ack_requests(&mut switch, at(40_001), &out);
    let out = drain(&mut switch);
    assert_eq!(
        requests(&out, TARGET, "BYE").len(),
        1,
        "the party is hung up"
    );
    ack_requests(&mut switch, at(40_002), &out);
    drain(&mut switch);
    assert_clean(&mut switch, at(40_003));
}

#[test]
fn a_party_rings_joins_the_mix_is_muted_and_leaves_the_others_talking() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to, id) = answered(&mut switch, &at);

    assert_eq!(add(&mut switch, at(1_000), id, "1002"), Ok(Reply::Done));
    let out = drain(&mut switch);
    let invite = invite_to(&out, TARGET);
    assert!(out.media.iter().any(|c| matches!(
        c,
        MediaCommand::Open {
            leg: MediaLeg::Party(0),
            ..
        }
    )));
    assert!(
        !out.media
            .iter()
            .any(|c| matches!(c, MediaCommand::Unbridge { .. } | MediaCommand::Play { .. })),
        "caller and agent keep talking while the party rings"
    );
    assert!(matches!(agent_state(&switch, "1002"), AgentState::Busy));
    assert_eq!(
        parties(&mut switch, at(1_001), id),
        vec![
            (0, "+15550001".to_string(), "joined"),
            (1, "1001".to_string(), "joined"),
            (2, "1002".to_string(), "ringing"),
        ]
    );

    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "p2", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "ACK").len(), 1);
    assert!(out.media.iter().any(|c| matches!(
        c,
        MediaCommand::SetRemote {
            leg: MediaLeg::Party(0),
            ..
        }
    )));
    assert_eq!(
        last_mix(&out),
        Some(vec![
            (MediaLeg::Caller, false),
            (MediaLeg::Agent, false),
            (MediaLeg::Party(0), false)
        ])
    );
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::PartyJoined { party: 2, who, role, .. } if who == "1002" && *role == "agent")));

    // Mute the caller: it still hears, nobody hears it.
    let mute = Command::SetParty {
        call: id,
        party: 0,
        mute: Some(true),
        gain_db10: Some(-30),
    };
    assert_eq!(switch.handle_command(at(2_500), mute), Ok(Reply::Done));
    let out = drain(&mut switch);
    let mix = last_mix(&out).expect("a new mix");
    assert_eq!(mix[0], (MediaLeg::Caller, true));
    let unknown = Command::SetParty {
        call: id,
        party: 9,
        mute: Some(true),
        gain_db10: None,
    };
    assert_eq!(
        switch.handle_command(at(2_600), unknown),
        Err(CommandError::UnknownParty(9))
    );

    // 1002 hangs up: caller and 1001 stay, 1002 wraps up (the sales
    // queue's 5 s, as a transferring agent would), then is free again.
    switch.handle_datagram(at(3_000), peer(TARGET), bye_from(&invite, "p2", TARGET, 1));
    let out = drain(&mut switch);
    assert!(out
        .sip
        .iter()
        .any(|(a, m)| a.to_string() == TARGET && m.status() == Some(200)));
    assert!(requests(&out, CARRIER, "BYE").is_empty() && requests(&out, AGENT, "BYE").is_empty());
    assert_eq!(
        last_mix(&out),
        Some(vec![(MediaLeg::Caller, true), (MediaLeg::Agent, false)])
    );
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::PartyLeft { party: 2, how, .. } if *how == "hung_up")));
    assert_eq!(agent_state(&switch, "1002"), AgentState::WrapUp(at(8_000)));
    assert_eq!(parties(&mut switch, at(3_100), id).len(), 2);
    switch.handle_timeout(at(8_000));
    assert!(matches!(
        agent_state(&switch, "1002"),
        AgentState::Available
    ));

    let out = caller_bye(&mut switch, at(9_000), &caller_to);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1);
    ack_requests(&mut switch, at(9_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].agent.as_deref(), Some("1001"));
    // The party has a leg of its own in the record: rung at 1 s, in the
    // mix from 2 s to 3 s (offsets from the call's arrival, at 10 ms).
    let legs = &out.records[0].detail.legs;
    let party = legs.iter().find(|l| l.party == "1002").expect("1002's leg");
    assert_eq!(
        (party.role.label(), party.via.label(), party.outcome.label()),
        ("party", "conference", "hung_up")
    );
    let ms = Duration::from_millis;
    assert_eq!(
        (party.started, party.answered, party.ended),
        (ms(990), Some(ms(1_990)), ms(2_990))
    );
    assert_clean(&mut switch, at(9_020));
}

#[test]
fn a_ninth_party_and_bad_names_are_refused_and_the_caller_leaving_ends_every_leg() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to, id) = answered(&mut switch, &at);

    let unknown: CallUuid = "00000000-0000-4000-8000-000000000000".parse().unwrap();
    assert_eq!(
        add(&mut switch, at(600), unknown, "1002"),
        Err(CommandError::UnknownCall(unknown))
    );
    assert!(matches!(
        add(&mut switch, at(600), id, "9005551234"),
        Err(CommandError::DialRefused(_))
    ));
    assert_eq!(
        switch.handle_command(at(600), Command::DropParty { call: id, party: 5 }),
        Err(CommandError::UnknownParty(5))
    );
    assert!(
        drain(&mut switch).sip.is_empty(),
        "a refusal changes nothing"
    );

    // Six outside numbers join: eight parties with caller and agent.
    let mut invites = Vec::new();
    for k in 0..6u16 {
        let number = format!("555100{k}");
        assert_eq!(
            add(&mut switch, at(1_000 + u64::from(k)), id, &number),
            Ok(Reply::Done)
        );
        let out = drain(&mut switch);
        let invite = requests(&out, CARRIER, "INVITE")[0].clone();
        assert!(invite.request_uri().unwrap().as_str().contains(&number));
        let tag = format!("n{k}");
        let ok = reply(&invite, 200, &tag, CARRIER, &sdp(4300 + 2 * k));
        switch.handle_datagram(at(1_100 + u64::from(k)), peer(CARRIER), ok);
        let out = drain(&mut switch);
        assert_eq!(last_mix(&out).map(|m| m.len()), Some(3 + usize::from(k)));
        invites.push((invite, tag));
    }
    assert_eq!(
        add(&mut switch, at(2_000), id, "5551099"),
        Err(CommandError::ConferenceFull)
    );
    assert_eq!(parties(&mut switch, at(2_001), id).len(), 8);

    // One outsider leaves, another may come.
    let (gone, tag) = invites.remove(2);
    switch.handle_datagram(at(2_100), peer(CARRIER), bye_from(&gone, &tag, CARRIER, 1));
    let out = drain(&mut switch);
    assert_eq!(last_mix(&out).map(|m| m.len()), Some(7));
    assert_eq!(add(&mut switch, at(2_200), id, "5551099"), Ok(Reply::Done));
    let out = drain(&mut switch);
    let ringing = requests(&out, CARRIER, "INVITE")[0].clone();
    switch.handle_datagram(
        at(2_300),
        peer(CARRIER),
        reply(&ringing, 180, "r9", CARRIER, ""),
    );
    drain(&mut switch);

    // The caller hangs up: the agent and every party get BYE, the
    // ringing one a CANCEL, and the call one record.
    let out = caller_bye(&mut switch, at(5_000), &caller_to);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1);
    ack_requests(&mut switch, at(5_010), &out);
    let out = drain(&mut switch);
    let byes = requests(&out, CARRIER, "BYE");
    for (invite, _) in &invites {
        assert!(
            byes.iter().any(|b| b.call_id() == invite.call_id()),
            "party {} is hung up",
            invite.call_id()
        );
    }
    assert_eq!(
        requests(&out, CARRIER, "CANCEL").len(),
        1,
        "the ringing one"
    );
    assert_eq!(out.records.len(), 1);
    // Every party has its leg: five talked until the caller hung up, one
    // hung up before, one still rang.
    let legs = legs_of(&out.records[0]);
    assert_eq!(legs.len(), 8);
    assert_eq!(legs[0], ("1001", "agent", "offer", true, "caller_hung_up"));
    for (k, leg) in legs[1..7].iter().enumerate() {
        let outcome = if k == 2 { "hung_up" } else { "caller_hung_up" };
        let number = format!("555100{k}");
        assert_eq!(
            *leg,
            (number.as_str(), "party", "conference", true, outcome)
        );
    }
    assert_eq!(
        legs[7],
        ("5551099", "party", "conference", false, "ended"),
        "rang until the call ended"
    );
    let left = out
        .events
        .iter()
        .filter(|e| matches!(e, EventKind::PartyLeft { how, .. } if *how == "call_ended"))
        .count();
    assert_eq!(left, 6);
    ack_requests(&mut switch, at(5_020), &out);
    switch.handle_datagram(
        at(5_030),
        peer(CARRIER),
        reply(&ringing, 487, "r9", CARRIER, ""),
    );
    drain(&mut switch);
    assert_clean(&mut switch, at(5_040));
}

#[test]
fn the_agent_leaving_hands_the_call_to_an_agent_in_the_conference() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (offer, caller_to, id) = answered(&mut switch, &at);
    assert_eq!(add(&mut switch, at(1_000), id, "1002"), Ok(Reply::Done));
    let invite = invite_to(&drain(&mut switch), TARGET);
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "p2", TARGET, &sdp(4200)),
    );
    drain(&mut switch);

    // 1001 hangs up: the caller stays, 1002 takes the agent leg.
    let bye = request(
        "BYE",
        "sip:switchyard@127.0.0.1:5060",
        "1001",
        AGENT,
        offer.call_id(),
        2,
        offer.from().as_str(),
        "",
        "",
    );
    let bye = String::from_utf8(bye.to_vec())
        .unwrap()
        .replace(&format!("tag=t{}", offer.call_id()), "tag=agent1");
    switch.handle_datagram(at(3_000), peer(AGENT), bytes::Bytes::from(bye));
    let out = drain(&mut switch);
    assert!(
        requests(&out, CARRIER, "BYE").is_empty(),
        "the caller stays"
    );
    let reinvite = invite_to(&out, TARGET);
    assert_eq!(
        reinvite.call_id(),
        invite.call_id(),
        "1002 is re-INVITEd onto the agent leg"
    );
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::PartyLeft { party: 1, who, .. } if who == "1001")));
    assert_eq!(
        last_mix(&out),
        Some(vec![(MediaLeg::Caller, false), (MediaLeg::Agent, false)])
    );
    assert!(matches!(
        agent_state(&switch, "1001"),
        AgentState::WrapUp(_)
    ));
    assert!(matches!(agent_state(&switch, "1002"), AgentState::Busy));
    switch.handle_datagram(
        at(3_100),
        peer(TARGET),
        reply(&reinvite, 200, "p2", TARGET, &sdp(4200)),
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, TARGET, "ACK").len(), 1);
    let list = parties(&mut switch, at(3_200), id);
    assert_eq!(list.len(), 2);
    assert_eq!(list[1].1, "1002");

    // 1002, the last agent, hangs up: the call ends.
    switch.handle_datagram(at(4_000), peer(TARGET), bye_from(&invite, "p2", TARGET, 1));
    let out = drain(&mut switch);
    assert_eq!(
        requests(&out, CARRIER, "BYE").len(),
        1,
        "the caller is hung up"
    );
    ack_requests(&mut switch, at(4_010), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].agent.as_deref(), Some("1002"));
    // 1001's leg ends as it hung up; 1002's, rung as a party, goes on as
    // the call's agent until it ends the call.
    assert_eq!(
        legs_of(&out.records[0]),
        vec![
            ("1001", "agent", "offer", true, "hung_up"),
            ("1002", "party", "conference", true, "hung_up"),
        ]
    );
    let legs = &out.records[0].detail.legs;
    assert_eq!(
        legs[0].ended,
        legs[1].answered.unwrap() + Duration::from_secs(1)
    );
    let _ = caller_to;
    assert_clean(&mut switch, at(4_020));
}

#[test]
fn the_agent_leaving_with_only_an_outsider_in_ends_the_call() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, _caller_to, id) = answered(&mut switch, &at);
    assert_eq!(add(&mut switch, at(1_000), id, "5551234"), Ok(Reply::Done));
    let invite = requests(&drain(&mut switch), CARRIER, "INVITE")[0].clone();
    switch.handle_datagram(
        at(2_000),
        peer(CARRIER),
        reply(&invite, 200, "n1", CARRIER, &sdp(4300)),
    );
    drain(&mut switch);

    // The API drops the agent: BYE to 1001, and with nobody to take the
    // call, to the caller and the outsider too.
    assert_eq!(
        switch.handle_command(at(3_000), Command::DropParty { call: id, party: 1 }),
        Ok(Reply::Done)
    );
    let out = drain(&mut switch);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1);
    let byes = requests(&out, CARRIER, "BYE");
    assert!(byes.iter().any(|m| m.call_id() == "call-1"), "the caller");
    ack_requests(&mut switch, at(3_010), &out);
    let out2 = drain(&mut switch);
    let all: Vec<&Message> = byes
        .into_iter()
        .chain(requests(&out2, CARRIER, "BYE"))
        .collect();
    assert!(
        all.iter().any(|m| m.call_id() == invite.call_id()),
        "the outsider"
    );
    assert_eq!(out.records.len() + out2.records.len(), 1);
    ack_requests(&mut switch, at(3_020), &out2);
    assert_clean(&mut switch, at(3_030));
}

#[test]
fn a_party_that_refuses_leaves_the_call_as_it_was() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to, id) = answered(&mut switch, &at);
    assert_eq!(add(&mut switch, at(1_000), id, "1002"), Ok(Reply::Done));
    let invite = invite_to(&drain(&mut switch), TARGET);
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 486, "p2", TARGET, ""),
    );
    let out = drain(&mut switch);
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::PartyLeft { party: 2, how, .. } if *how == "failed")));
    assert_eq!(
        last_mix(&out),
        None,
        "nobody had joined: the mix is unchanged"
    );
    assert!(matches!(
        agent_state(&switch, "1002"),
        AgentState::Available
    ));
    assert_eq!(parties(&mut switch, at(2_100), id).len(), 2);
    let out = caller_bye(&mut switch, at(3_000), &caller_to);
    ack_requests(&mut switch, at(3_010), &out);
    let out = drain(&mut switch);
    assert_eq!(
        legs_of(&out.records[0]),
        [
            ("1001", "agent", "offer", true, "caller_hung_up"),
            ("1002", "party", "conference", false, "busy"),
        ]
    );
    assert_clean(&mut switch, at(3_020));
}

/// 1001 consults 1002 through the API, 1002 answers: the INVITE to 1002.
fn consulting(switch: &mut Switch, at: &impl Fn(u64) -> Instant, id: CallUuid) -> Message {
    let consult = Command::Consult {
        call: id,
        to: "1002".into(),
    };
    assert_eq!(switch.handle_command(at(1_000), consult), Ok(Reply::Done));
    let invite = invite_to(&drain(switch), TARGET);
    switch.handle_datagram(
        at(2_000),
        peer(TARGET),
        reply(&invite, 200, "c2", TARGET, &sdp(4200)),
    );
    drain(switch);
    // Not a conference yet: a party cannot be added meanwhile.
    assert_eq!(
        add(switch, at(2_100), id, "5551234"),
        Err(CommandError::Consulting)
    );
    invite
}

fn assert_merged(out: &Out) {
    assert_eq!(
        last_mix(out),
        Some(vec![
            (MediaLeg::Caller, false),
            (MediaLeg::Agent, false),
            (MediaLeg::Supervisor, false)
        ]),
        "caller, agent and colleague are mixed"
    );
    assert!(out.events.iter().any(|e| matches!(e,
        EventKind::CallConsultEnded { how, .. } if *how == "conference")));
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, EventKind::PartyJoined { party: 2, .. })));
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, EventKind::CallResumed { .. })),
        "the caller's hold ends"
    );
}

#[test]
fn a_consultation_becomes_a_conference_through_the_api() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to, id) = answered(&mut switch, &at);
    assert_eq!(
        switch.handle_command(at(900), Command::ConsultConference { call: id }),
        Err(CommandError::NotConsulting)
    );
    let invite = consulting(&mut switch, &at, id);
    assert_eq!(
        switch.handle_command(at(3_000), Command::ConsultConference { call: id }),
        Ok(Reply::Done)
    );
    let out = drain(&mut switch);
    assert_merged(&out);
    assert!(matches!(agent_state(&switch, "1002"), AgentState::Busy));
    assert_eq!(parties(&mut switch, at(3_100), id).len(), 3);

    // The colleague hangs up: caller and agent talk on.
    switch.handle_datagram(at(4_000), peer(TARGET), bye_from(&invite, "c2", TARGET, 1));
    let out = drain(&mut switch);
    assert!(requests(&out, CARRIER, "BYE").is_empty());
    assert_eq!(agent_state(&switch, "1002"), AgentState::WrapUp(at(9_000)));
    let out = caller_bye(&mut switch, at(5_000), &caller_to);
    ack_requests(&mut switch, at(5_010), &out);
    assert_eq!(drain(&mut switch).records.len() + out.records.len(), 1);
    assert_clean(&mut switch, at(5_020));
}

#[test]
fn star_3_from_the_agent_merges_the_consultation() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with_agents(t0);
    let (_offer, caller_to, id) = answered(&mut switch, &at);
    consulting(&mut switch, &at, id);
    for (k, digit) in ['*', '3'].into_iter().enumerate() {
        let input = MediaInput::Digit {
            call: CALL,
            leg: MediaLeg::Agent,
            digit,
        };
        switch.handle_media(at(3_000 + k as u64 * 200), input);
    }
    let out = drain(&mut switch);
    assert_merged(&out);

    // The caller hangs up: agent and colleague get BYE, one record.
    let out = caller_bye(&mut switch, at(5_000), &caller_to);
    assert_eq!(requests(&out, AGENT, "BYE").len(), 1);
    ack_requests(&mut switch, at(5_010), &out);
    let out2 = drain(&mut switch);
    assert_eq!(
        requests(&out, TARGET, "BYE").len() + requests(&out2, TARGET, "BYE").len(),
        1
    );
    ack_requests(&mut switch, at(5_020), &out2);
    assert_clean(&mut switch, at(5_030));
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
