//! Recording and supervision decided by the pure switch core, in virtual
//! time and without sockets: a recorded DID call to agent 1001 starts its
//! recording at the answer; the caller's SIP INFO digit is sent to the
//! agent as RFC 4733; supervisor 1002 dials `*501001` and the core
//! opens a third media leg and joins it in monitor mode; DTMF 5 by SIP INFO
//! switches to whisper; an agent without the permission gets 403; the
//! caller's BYE hangs up agent and supervisor and the call's record holds
//! the recording's path and length, equal to the talk time.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

mod sim_wire;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sim_wire::{drain, final_status, peer, request, sdp, with_auth};
use switchyard::call::CallRef;
use switchyard::config::Config;
use switchyard::media::mix::Mode;
use switchyard::sip::parse::HeaderName;
use switchyard::switch::{MediaCommand, MediaLeg, Plan, Switch};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-only"

[[agents]]
id = "1001"
password = "pw-1001"

[[agents]]
id = "1002"
password = "pw-1002"
supervisor = true

[[agents]]
id = "1003"
password = "pw-1003"

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]

[dids]
"5550100" = { agent = "1001", record = true }

[media]
rtp_ports = "20000-20019"
rtp_address = "127.0.0.1"
recordings = "/var/rec"
"#;

#[test]
fn a_recorded_call_is_supervised_then_ends_with_its_recording_in_the_record() {
    let cfg = Config::parse(CONFIG, Path::new("sup.toml")).unwrap();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = Switch::new(Plan::from_config(&cfg), 11, t0);
    let (agent, sup, other) = ("10.0.0.21:5060", "10.0.0.22:5060", "10.0.0.23:5060");
    for (user, addr) in [("1001", agent), ("1002", sup), ("1003", other)] {
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

    // The carrier's call rings agent 1001, who answers.
    let carrier = peer("10.0.0.1:5060");
    let to = "<sip:5550100@127.0.0.1>";
    switch.handle_datagram(
        at(10),
        carrier,
        request(
            "INVITE",
            "sip:5550100@127.0.0.1:5060",
            "+15550001",
            "10.0.0.1:5060",
            "call-1",
            1,
            to,
            "",
            &sdp(4000),
        ),
    );
    let out = drain(&mut switch);
    let (_, offer) = out
        .sip
        .iter()
        .find(|(a, m)| a.to_string() == agent && m.method().is_some())
        .expect("an INVITE to the agent");
    let answer = sdp(4100);
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}\r\nFrom: {}\r\nTo: {};tag=agent1\r\nCall-ID: {}\r\nCSeq: {} INVITE\r\n\
         Contact: <sip:1001@{agent}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
        offer.header(&HeaderName::Via).map(|v| format!("Via: {v}")).unwrap(),
        offer.from().as_str(),
        offer.to().as_str(),
        offer.call_id(),
        offer.cseq().seq,
        answer.len()
    );
    switch.handle_datagram(at(2_000), peer(agent), Bytes::from(ok));
    let out = drain(&mut switch);
    let call = CallRef(1);
    let record = out.media.iter().find_map(|c| match c {
        MediaCommand::Record { call: c, path } if *c == call => Some(path.clone()),
        _ => None,
    });
    let path = record.expect("the answer starts the recording");
    assert!(
        path.starts_with("/var/rec") && path.extension().is_some_and(|e| e == "wav"),
        "{path:?}"
    );
    let caller_ok = out
        .sip
        .iter()
        .find(|(a, m)| *a == carrier.addr && m.status() == Some(200))
        .map(|(_, m)| m.to().as_str().to_string())
        .expect("the caller is answered");
    switch.handle_datagram(
        at(2_010),
        carrier,
        request(
            "ACK",
            "sip:5550100@127.0.0.1:5060",
            "+15550001",
            "10.0.0.1:5060",
            "call-1",
            1,
            &caller_ok,
            "",
            "",
        ),
    );
    drain(&mut switch);

    // The caller's SIP INFO digit reaches the agent in-band (RFC 4733).
    let info = String::from_utf8(
        request(
            "INFO",
            "sip:5550100@127.0.0.1:5060",
            "+15550001",
            "10.0.0.1:5060",
            "call-1",
            2,
            &caller_ok,
            "",
            "Signal=9\r\nDuration=160\r\n",
        )
        .to_vec(),
    )
    .unwrap()
    .replace("application/sdp", "application/dtmf-relay");
    switch.handle_datagram(at(2_500), carrier, Bytes::from(info));
    let out = drain(&mut switch);
    assert_eq!(final_status(&out), Some(200));
    assert_eq!(
        out.media,
        vec![MediaCommand::SendDigit {
            call,
            leg: MediaLeg::Agent,
            digit: '9'
        }]
    );

    // 1003 may not listen in.
    let out = with_auth(
        &mut switch,
        at(3_000),
        "INVITE",
        "sip:*501001@127.0.0.1:5060",
        "1003",
        other,
        "nosup",
        &sdp(4300),
    );
    assert_eq!(final_status(&out), Some(403));
    assert!(out.media.is_empty(), "a refused supervisor opens nothing");

    // 1002 monitors: a third leg, on the call's next free pair.
    let out = with_auth(
        &mut switch,
        at(4_000),
        "INVITE",
        "sip:*501001@127.0.0.1:5060",
        "1002",
        sup,
        "sup-1",
        &sdp(4200),
    );
    assert_eq!(final_status(&out), Some(200));
    let opened: Vec<_> = out
        .media
        .iter()
        .filter(|c| !matches!(c, MediaCommand::SetRemote { .. }))
        .cloned()
        .collect();
    assert_eq!(
        opened,
        vec![
            MediaCommand::Open {
                call,
                leg: MediaLeg::Supervisor,
                port: 20_004
            },
            MediaCommand::Supervise {
                call,
                mode: Mode::Monitor
            },
        ]
    );
    let sup_ok = out
        .sip
        .iter()
        .find(|(_, m)| m.status() == Some(200))
        .map(|(_, m)| m.clone())
        .unwrap();
    assert!(std::str::from_utf8(sup_ok.body())
        .unwrap()
        .contains("m=audio 20004 "));
    let sup_to = sup_ok.to().as_str().to_string();
    let sup_uri = "sip:*501001@127.0.0.1:5060";
    switch.handle_datagram(
        at(4_010),
        peer(sup),
        request("ACK", sup_uri, "1002", sup, "sup-1", 2, &sup_to, "", ""),
    );
    drain(&mut switch);

    // DTMF 5 by SIP INFO: whisper.
    let info = String::from_utf8(
        request(
            "INFO",
            sup_uri,
            "1002",
            sup,
            "sup-1",
            3,
            &sup_to,
            "",
            "Signal=5\r\nDuration=160\r\n",
        )
        .to_vec(),
    )
    .unwrap()
    .replace("application/sdp", "application/dtmf-relay");
    switch.handle_datagram(at(5_000), peer(sup), Bytes::from(info));
    let out = drain(&mut switch);
    assert_eq!(final_status(&out), Some(200));
    assert_eq!(
        out.media,
        vec![MediaCommand::Supervise {
            call,
            mode: Mode::Whisper
        }]
    );

    // The caller hangs up at 62 s: BYE to agent and supervisor, one record.
    switch.handle_datagram(
        at(62_000),
        carrier,
        request(
            "BYE",
            "sip:5550100@127.0.0.1:5060",
            "+15550001",
            "10.0.0.1:5060",
            "call-1",
            3,
            &caller_ok,
            "",
            "",
        ),
    );
    let first = drain(&mut switch);
    // The agent confirms its BYE; the call is then over.
    let bye = &first
        .sip
        .iter()
        .find(|(a, m)| a.to_string() == agent && m.method().is_some())
        .expect("a BYE to the agent")
        .1;
    let bye_ok = format!(
        "SIP/2.0 200 OK\r\n{}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
        bye.header(&HeaderName::Via).map(|v| format!("Via: {v}")).unwrap(),
        bye.from().as_str(),
        bye.to().as_str(),
        bye.call_id(),
        bye.cseq().seq,
    );
    switch.handle_datagram(at(62_010), peer(agent), Bytes::from(bye_ok));
    let mut out = drain(&mut switch);
    out.sip.extend(first.sip);
    out.media.extend(first.media);
    out.records.extend(first.records);
    let byes: Vec<String> = out
        .sip
        .iter()
        .filter(|(_, m)| m.method().is_some_and(|m| m.as_str() == "BYE"))
        .map(|(a, _)| a.to_string())
        .collect();
    assert!(
        byes.contains(&agent.to_string()) && byes.contains(&sup.to_string()),
        "{byes:?}"
    );
    // Releasing the call closes every leg, the supervisor's too.
    assert!(out.media.contains(&MediaCommand::Release { call }));
    let records = out.records;
    assert_eq!(records.len(), 1, "one record for the call");
    let r = &records[0];
    let (rec_path, rec_len) = r.recording.clone().expect("the record names its recording");
    assert_eq!(rec_path, path);
    assert_eq!(rec_len, r.talk, "recorded from answer to hang-up");
    // Answered at 2 s, over when the agent confirmed the BYE at 62.01 s.
    assert_eq!(rec_len, Duration::from_millis(60_010));
}
