//! RFC 4028 session timers on the wire, with SIPp as the carrier: a call
//! whose caller asked to refresh its session (90 s, refresher=uac) and
//! never does is hung up on both legs by the switch, and its record says
//! `session_expired`; an interval under Min-SE gets 422 naming ours. And
//! a call without media or session timer is probed with in-dialog
//! OPTIONS: a 481 (the peer forgot the dialog) ends it.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use support::{free_udp_port, test_config, Phone, Sipp, SwitchProc};
use switchyard::ops::cdr::CdrStore;
use switchyard::sip::parse::Message;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

/// The caller: 200 with the session timer we asked for, ACK, then the
/// switch's BYE some 60 s later (90 s less a third), answered 200.
const ANSWERED_NEVER_REFRESHED: &str = r#"
  <recv response="200" rtd="true">
    <action>
      <ereg regexp="Session-Expires: 90;refresher=uac" search_in="msg" check_it="true" assign_to="se"/>
      <ereg regexp="Require: timer" search_in="msg" check_it="true" assign_to="req"/>
    </action>
  </recv>
  <send><![CDATA[

      ACK sip:switchyard@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-ack;rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <Reference variables="se,req"/>
  <recv request="BYE" timeout="85000"/>
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

/// The caller: 422 naming Min-SE 90, ACKed.
const REFUSED_422: &str = r#"
  <recv response="422">
    <action>
      <ereg regexp="Min-SE: 90" search_in="msg" check_it="true" assign_to="min"/>
    </action>
  </recv>
  <Reference variables="min"/>
  <send><![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv;rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
"#;

/// A response to `req` from `phone`, with `tag` on To and optional SDP.
fn reply(phone: &Phone, req: &Message, status: u16, tag: &str, sdp: bool) -> String {
    let mut out = format!("SIP/2.0 {status} Whatever\r\n");
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

/// The next request `phone` receives within `timeout` (responses skipped).
fn next_request(phone: &Phone, timeout: Duration) -> Message {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no request within {timeout:?}");
        if let Some(msg) = phone.try_recv(left) {
            if msg.is_request() {
                return msg;
            }
        }
    }
}

fn carrier(switch: &SwitchProc, se: &str, after: &str) -> Sipp {
    Sipp::start(
        &switch.dir,
        "carrier_session_timer.xml",
        &[("@SE@", se), ("@AFTER@", after)],
        // The scenario outlives SIPp's default 30 s bound of the harness.
        &["-m", "1", "-s", "5550100", "-timeout", "100s"],
        Some(switch.sip),
    )
}

#[test]
fn a_session_the_caller_never_refreshes_is_hung_up_on_both_legs_with_a_record() {
    let mut switch = SwitchProc::start("session-timer", &test_config("10s", free_udp_port()));
    let mut agent = Phone::new(switch.sip);
    let ok = agent.register("1001", "demo-1001", agent.addr, 3600);
    assert_eq!(ok.status(), Some(200));
    let caller = carrier(&switch, "90;refresher=uac", ANSWERED_NEVER_REFRESHED);

    let offer = next_request(&agent, Duration::from_secs(20));
    assert_eq!(offer.method().map(|m| m.as_str()), Some("INVITE"));
    agent.send(reply(&agent, &offer, 200, "agent1", true).as_bytes());
    let answered = Instant::now();
    let ack = next_request(&agent, Duration::from_secs(20));
    assert_eq!(ack.method().map(|m| m.as_str()), Some("ACK"));

    // No refresh comes: 60 s after the answer the switch hangs up the agent too.
    let bye = next_request(&agent, Duration::from_secs(85));
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    assert!(
        answered.elapsed() >= Duration::from_secs(55),
        "BYE after {:?}, before the session could expire",
        answered.elapsed()
    );
    agent.send(reply(&agent, &bye, 200, "agent1", false).as_bytes());
    caller.expect_success_within(Duration::from_secs(30));
    switch.wait_metric("switchyard_calls_total{outcome=\"session_expired\"}", |v| {
        v == 1.0
    });
    assert!(switch
        .log()
        .contains("session expired: the caller did not refresh it"));

    switch.terminate();
    assert!(switch.wait_exit().success());
    let store = CdrStore::open_read_only(&switch.dir.join("cdr.sqlite")).expect("cdr store");
    let records = store.recent(10).expect("records");
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].row.outcome, "session_expired");
    assert_eq!(records[0].row.agent.as_deref(), Some("1001"));
}

#[test]
fn a_session_interval_under_min_se_gets_422_naming_ours() {
    let switch = SwitchProc::start("session-422", &test_config("10s", free_udp_port()));
    carrier(&switch, "60;refresher=uac", REFUSED_422).expect_success();
    assert_eq!(
        support::metric_value(&switch.metrics(), "switchyard_calls_started_total"),
        Some(0.0)
    );
}

/// A carrier's INVITE to 5550100 from `carrier`: its Call-ID and From.
fn carrier_invite(carrier: &mut Phone) -> (String, String) {
    let t = carrier.token();
    let (call_id, from) = (
        format!("probe-{t}"),
        format!("<sip:+15551234567@{}>;tag=c{t}", carrier.addr),
    );
    let text = format!(
        "INVITE sip:5550100@{s} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
         From: {from}\r\nTo: <sip:5550100@{s}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:carrier@{a}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{SDP}",
        s = carrier.server,
        a = carrier.addr,
        len = SDP.len()
    );
    carrier.send(text.as_bytes());
    (call_id, from)
}

#[test]
fn a_call_without_media_whose_caller_forgot_the_dialog_is_ended_by_the_probe() {
    let config = test_config("10s", free_udp_port()).replace(
        "cdr_path = \"cdr.sqlite\"",
        "cdr_path = \"cdr.sqlite\"\nprobe_interval = \"1s\"",
    );
    let mut switch = SwitchProc::start("probe", &config);
    let mut agent = Phone::new(switch.sip);
    let mut carrier = Phone::new(switch.sip);
    assert_eq!(
        agent
            .register("1001", "demo-1001", agent.addr, 3600)
            .status(),
        Some(200)
    );
    let (call_id, from) = carrier_invite(&mut carrier);
    let offer = next_request(&agent, Duration::from_secs(20));
    agent.send(reply(&agent, &offer, 200, "agent1", true).as_bytes());
    let ok = carrier.recv_final();
    assert_eq!(ok.status(), Some(200));
    let ack = format!(
        "ACK sip:switchyard@{s} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKack;rport\r\nMax-Forwards: 70\r\n\
         From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        s = switch.sip,
        a = carrier.addr,
        to = ok.to().as_str()
    );
    carrier.send(ack.as_bytes());

    // A second later both legs are probed; the caller no longer knows the call.
    let probe = next_request(&carrier, Duration::from_secs(20));
    assert_eq!(probe.method().map(|m| m.as_str()), Some("OPTIONS"));
    assert_eq!(probe.call_id(), call_id);
    carrier.send(reply(&carrier, &probe, 481, "x", false).as_bytes());
    let mut agent_saw_bye = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !agent_saw_bye {
        assert!(Instant::now() < deadline, "no BYE to the agent");
        let req = next_request(&agent, Duration::from_secs(20));
        agent_saw_bye = req.method().map(|m| m.as_str()) == Some("BYE");
        agent.send(reply(&agent, &req, 200, "agent1", false).as_bytes());
    }
    // The caller's leg gets its BYE too (best effort: it may say 481 again).
    let bye = next_request(&carrier, Duration::from_secs(20));
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    carrier.send(reply(&carrier, &bye, 481, "x", false).as_bytes());
    switch.wait_metric("switchyard_calls_total{outcome=\"session_expired\"}", |v| {
        v == 1.0
    });
    assert!(switch.log().contains("the peer no longer holds the dialog"));
    switch.terminate();
    assert!(switch.wait_exit().success());
}
