//! Blind transfer on the wire (issue 14): agent 1001's SIPp phone answers
//! a carrier call and REFERs it to agent 1002, to the sales queue's DID,
//! or to an outside number through the demo trunk (a SIPp UAS); each
//! checks the 202, the NOTIFYs' `message/sipfrag` (`100 Trying`, then
//! `200 OK`), the switch's BYE to 1001, the caller kept talking (its
//! scenario sees nothing between its answer and its own BYE) and the
//! new party's leg, then the call's one record with the transfer and the
//! agent log's `transfer` line. A number the dial rules refuse gets 403
//! in the NOTIFY and the call stays with 1001. The API transfers a
//! talking call (`POST /api/v1/calls/{id}/transfer`) and answers refused
//! targets, unknown calls and bad bodies with JSON 4xx. A caller with
//! real RTP hears the 425 Hz ringback (Goertzel) while 1002 rings.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use support::api::{get, post, SUPERVISOR, VIEWER};

use support::scenarios::*;
use support::{free_port_block, free_udp_port, sipp_register, Sipp, SwitchProc, EVENT_TIMEOUT};
use switchyard::ops::cdr::{CdrRow, CdrStore};

/// 1001 takes the DID 5550100; 1002 (sales) the queue on 5550300; the
/// trunk's outbound side is `far_end`; media is anchored.
fn config(far_end: u16, rtp: u16) -> String {
    format!(
        r#"
[switch]
sip_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
realm = "switchyard-test"
digest_challenge = "md5-first"
cdr_path = "cdr.sqlite"
no_answer_timeout = "10s"

[[agents]]
id = "1001"
password = "demo-1001"

[[agents]]
id = "1002"
password = "demo-1002"
auto_login = true
skills = {{ sales = 6 }}

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]
outbound = {{ address = "127.0.0.1:{far_end}", transport = "udp" }}

[dids]
"5550100" = {{ agent = "1001" }}
"5550300" = {{ queue = "sales" }}

[[queues]]
name = "sales"
requires = "sales:1"
ring_timeout = "5s"
wrap_up = "0s"

[media]
rtp_ports = "{rtp}-{}"
prompts = "{}"
{}"#,
        rtp + 7,
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("prompts")
            .display(),
        support::api::api_section(8)
    )
}

/// After a refused transfer: 1001 still has the caller, and hangs up.
const KEEPS_THE_CALL: &str = r#"
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:agent@[local_ip]:[local_port]>;tag=[pid]A[call_number]
      To: [$switch_from]
      [last_Call-ID:]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#;

/// The carrier when the agent hangs up: answered, then the switch's BYE.
const CALLER_HUNG_UP: &str = CARRIER_ANSWERED_AGENT_HANGS_UP;

struct Centre {
    switch: SwitchProc,
    far_end: u16,
}

fn start(name: &str) -> Centre {
    let far_end = free_udp_port();
    let rtp = free_port_block(8);
    Centre {
        switch: SwitchProc::start(name, &config(far_end, rtp)),
        far_end,
    }
}

/// 1001's phone: answers and REFERs to `target`, expecting `frag`.
fn referring_agent(c: &Centre, target: &str, frag: &str, after: &str) -> Sipp {
    let port = free_udp_port();
    let phone = Sipp::start(
        &c.switch.dir,
        "agent_refers.xml",
        &[("@TARGET@", target), ("@FRAG@", frag), ("@AFTER@", after)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(&c.switch.dir, &c.switch, "1001", "demo-1001", port, 200);
    phone
}

/// 1002's phone: answers and waits for the BYE.
fn answering_agent(c: &Centre) -> Sipp {
    let port = free_udp_port();
    let phone = Sipp::start(
        &c.switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(&c.switch.dir, &c.switch, "1002", "demo-1002", port, 200);
    phone
}

fn caller(c: &Centre, after: &str) -> Sipp {
    Sipp::start(
        &c.switch.dir,
        "carrier.xml",
        &[("@AFTER@", after)],
        &["-m", "1", "-s", "5550100"],
        Some(c.switch.sip),
    )
}

/// The call's record and its agent log lines (event, agent, detail),
/// once the store has them.
/// One agent log line: event, agent, detail.
type LogLine = (String, Option<String>, Option<String>);

fn record_of_the_call(c: &Centre) -> (CdrRow, Vec<LogLine>) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Ok(store) = CdrStore::open_read_only(&c.switch.dir.join("cdr.sqlite")) {
            let records = store.recent(10).unwrap_or_default();
            if let Some(r) = records
                .into_iter()
                .map(|r| r.row)
                .find(|r| r.dialled == "5550100")
            {
                let events = store
                    .agent_events("1970-01-01T00:00:00.000Z", "9999-01-01T00:00:00.000Z", 100)
                    .unwrap_or_default();
                let log = events
                    .into_iter()
                    .filter(|e| e.call.is_some() && e.call == r.call_uuid)
                    .map(|e| (e.event.clone(), e.agent.clone(), e.detail.clone()))
                    .collect();
                return (r, log);
            }
        }
        assert!(Instant::now() < deadline, "no record of the call");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn transfer_line(to: &str) -> LogLine {
    ("transfer".into(), Some("1001".into()), Some(to.into()))
}

#[test]
fn blind_refer_to_another_agent() {
    let c = start("xfer-agent");
    let target = answering_agent(&c);
    let agent = referring_agent(&c, "1002", "SIP/2.0 200 OK", AGENT_RELEASED);
    caller(&c, CALLER_TALKS_THEN_HANGS_UP).expect_success();
    agent.expect_success();
    target.expect_success();
    let (r, log) = record_of_the_call(&c);
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.transfers.as_deref(), Some("1002"));
    assert_eq!(r.outcome, "completed");
    assert!(log.contains(&transfer_line("1002")), "{log:?}");
    assert_transfer_legs(&r, "1002", "agent");
}

#[test]
fn blind_refer_to_a_queue() {
    let c = start("xfer-queue");
    let target = answering_agent(&c);
    let agent = referring_agent(&c, "5550300", "SIP/2.0 200 OK", AGENT_RELEASED);
    caller(&c, CALLER_TALKS_THEN_HANGS_UP).expect_success();
    agent.expect_success();
    target.expect_success();
    let (r, log) = record_of_the_call(&c);
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.queue.as_deref(), Some("sales"));
    assert_eq!(r.transfers.as_deref(), Some("sales"));
    assert!(log.contains(&transfer_line("sales")), "{log:?}");
}

#[test]
fn blind_refer_to_an_outside_number_through_the_trunk() {
    let c = start("xfer-number");
    let uas = CARRIER_UAS_ANSWERS
        .replace("@NUMBER@", "5551234")
        .replace("@MEDIA_RE@", "m=audio");
    let far = Sipp::start(
        &c.switch.dir,
        "agent.xml",
        &[("@ANSWER@", &uas)],
        &["-m", "1", "-p", &c.far_end.to_string()],
        None,
    );
    let agent = referring_agent(&c, "5551234", "SIP/2.0 200 OK", AGENT_RELEASED);
    caller(&c, CALLER_TALKS_THEN_HANGS_UP).expect_success();
    agent.expect_success();
    far.expect_success();
    let (r, log) = record_of_the_call(&c);
    assert_eq!(r.transfers.as_deref(), Some("5551234"));
    assert!(log.contains(&transfer_line("5551234")), "{log:?}");
    assert_transfer_legs(&r, "5551234", "outside");
}

#[test]
fn a_number_the_dial_rules_refuse_gets_403_and_the_call_stays() {
    let c = start("xfer-refused");
    let agent = referring_agent(&c, "9005551234", "SIP/2.0 403 Forbidden", KEEPS_THE_CALL);
    caller(&c, CALLER_HUNG_UP).expect_success();
    agent.expect_success();
    let (r, log) = record_of_the_call(&c);
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert_eq!(r.transfers.as_deref(), Some(""));
    assert_eq!(r.hung_up_by.as_deref(), Some("agent"));
    assert!(log.iter().all(|l| l.0 != "transfer"), "{log:?}");
}

/// The call's id once it talks (the API's call list).
fn talking_call(c: &Centre) -> String {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let calls = get(c.switch.http, "/api/v1/calls", VIEWER);
        let talking = calls.body["calls"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["phase"] == "talking"))
            .and_then(|c| c["id"].as_str().map(str::to_string));
        if let Some(id) = talking {
            return id;
        }
        assert!(Instant::now() < deadline, "no talking call: {calls:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_api_transfers_a_talking_call_and_refuses_bad_targets() {
    let c = start("xfer-api");
    let port = free_udp_port();
    let first = Sipp::start(
        &c.switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(&c.switch.dir, &c.switch, "1001", "demo-1001", port, 200);
    let target = answering_agent(&c);
    let caller = caller(&c, CALLER_TALKS_THEN_HANGS_UP);
    let id = talking_call(&c);
    let path = format!("/api/v1/calls/{id}/transfer");
    let refused = post(c.switch.http, &path, SUPERVISOR, r#"{"to":"9005551234"}"#);
    assert_eq!(
        (refused.status, &refused.body["error"]),
        (403, &serde_json::json!("dial_refused"))
    );
    let bad = post(c.switch.http, &path, SUPERVISOR, r#"{"to":""}"#);
    assert_eq!(
        (bad.status, &bad.body["error"]),
        (403, &serde_json::json!("bad_target"))
    );
    let no_body = post(c.switch.http, &path, SUPERVISOR, "{}");
    assert_eq!(no_body.status, 400, "{no_body:?}");
    let unknown = post(
        c.switch.http,
        "/api/v1/calls/00000000-0000-7000-8000-000000000000/transfer",
        SUPERVISOR,
        r#"{"to":"1002"}"#,
    );
    assert_eq!(
        (unknown.status, &unknown.body["error"]),
        (404, &serde_json::json!("unknown_call"))
    );
    let done = post(c.switch.http, &path, SUPERVISOR, r#"{"to":"1002"}"#);
    assert_eq!(done.status, 200, "{done:?}");
    // 1001 gets the switch's BYE; 1002 answers and talks until the caller hangs up.
    first.expect_success();
    caller.expect_success();
    target.expect_success();
    let (r, log) = record_of_the_call(&c);
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.transfers.as_deref(), Some("1002"));
    assert!(log.contains(&transfer_line("1002")), "{log:?}");
}

/// 1002 rings for 2 s before it answers, then waits for the BYE.
const TARGET_RINGS_THEN_ANSWERS: &str = r#"
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]T[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Length: 0

    ]]></send>
  <pause milliseconds="2000"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]T[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#;

#[test]
fn the_caller_hears_ringback_while_the_target_rings() {
    use switchyard::media::g711::ulaw_decode;
    use switchyard::media::tone::tone_present;
    let c = start("xfer-ringback");
    let port = free_udp_port();
    let target = Sipp::start(
        &c.switch.dir,
        "agent.xml",
        &[("@ANSWER@", TARGET_RINGS_THEN_ANSWERS)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(&c.switch.dir, &c.switch, "1002", "demo-1002", port, 200);
    let agent = referring_agent(&c, "1002", "SIP/2.0 200 OK", AGENT_RELEASED);
    let mut caller = support::MediaCaller::new(c.switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let body = std::str::from_utf8(ok.body()).unwrap().to_string();
    let port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the switch's media port");
    // The caller talks, so that its source is known either way.
    let sock = caller.rtp.try_clone().unwrap();
    let to: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let talker = std::thread::spawn(move || {
        support::send_tone(&sock, to, 1000.0, Duration::from_millis(2500))
    });
    // The REFER comes 0.5 s after the answer; 1002 rings 2 s.
    let heard = support::rtp_heard(&caller.rtp, Duration::from_millis(2000));
    let pcm: Vec<i16> = heard
        .iter()
        .filter(|p| p.len() > 12)
        .flat_map(|p| p[12..].iter().map(|&b| ulaw_decode(b)))
        .collect();
    assert!(
        tone_present(&pcm, 425.0, 8000),
        "no 425 Hz ringback in {} packets",
        heard.len()
    );
    talker.join().unwrap();
    agent.expect_success();
    // 1001 is gone: a talking call now is the caller with 1002.
    talking_call(&c);
    caller.bye();
    target.expect_success();
    let (r, _) = record_of_the_call(&c);
    assert_eq!(r.transfers.as_deref(), Some("1002"));
}

/// The record's legs, read back from SQLite, field by field: 1001 offered,
/// answered and transferred; then `target` by transfer, answered, until
/// the caller hung up at the record's end. Times follow each other.
fn assert_transfer_legs(r: &CdrRow, target: &str, role: &str) {
    let legs = &r.legs;
    assert_eq!(legs.len(), 2, "{legs:?}");
    let (first, second) = (&legs[0], &legs[1]);
    assert_eq!(
        (
            first.seq,
            first.party.as_str(),
            first.role.as_str(),
            first.via.as_str()
        ),
        (1, "1001", "agent", "offer")
    );
    assert_eq!(first.outcome, "transferred");
    assert_eq!(
        (
            second.seq,
            second.party.as_str(),
            second.role.as_str(),
            second.via.as_str()
        ),
        (2, target, role, "transfer")
    );
    assert_eq!(second.outcome, "caller_hung_up");
    let answered = |l: &switchyard::ops::cdr::LegRow| l.answered_at.clone().expect("answered");
    assert!(r.started_at <= first.started_at);
    assert!(first.started_at <= answered(first));
    assert_eq!(
        Some(answered(first)),
        r.answered_at,
        "the first answer is the call's"
    );
    assert!(answered(first) <= first.ended_at);
    assert!(first.ended_at <= second.started_at);
    assert!(second.started_at <= answered(second));
    assert!(answered(second) <= second.ended_at);
    assert_eq!(
        second.ended_at, r.ended_at,
        "the last leg ends with the call"
    );
    // Not recorded: no place in a recording.
    assert!(legs
        .iter()
        .all(|l| l.recording_offset_ms.is_none() && l.recording_ms.is_none()));
}
