//! Overload and stop, on the wire: once the core is told it is loaded past
//! its marks, new INVITEs get 503 with Retry-After while the calls it
//! admitted still get their in-dialog requests answered and end as usual;
//! and a stop whose drain times out still writes a record for every call.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{free_udp_port, test_config, Phone, SwitchProc, EVENT_TIMEOUT};
use switchyard::ops::cdr::CdrStore;
use switchyard::sip::parse::{HeaderName, Message};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

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
    match sdp {
        true => {
            out += &format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
                SDP.len()
            )
        }
        false => out += "Content-Length: 0\r\n\r\n",
    }
    out
}

/// The next request `phone` receives (responses skipped).
fn next_request(phone: &Phone) -> Message {
    loop {
        let msg = phone.recv();
        if msg.is_request() {
            return msg;
        }
    }
}

/// A carrier's call to `did`, as its dialog: Call-ID, From, To with our tag.
struct CarrierCall {
    call_id: String,
    from: String,
    to: String,
    cseq: u32,
}

impl CarrierCall {
    fn invite(carrier: &mut Phone, did: &str) -> CarrierCall {
        let t = carrier.token();
        let call = CarrierCall {
            call_id: format!("carrier-{t}"),
            from: format!("<sip:+15551234567@{}>;tag=c{t}", carrier.addr),
            to: format!("<sip:{did}@{}>", carrier.server),
            cseq: 1,
        };
        let text = format!(
            "INVITE sip:{did}@{s} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\nContact: <sip:carrier@{a}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{SDP}",
            s = carrier.server,
            a = carrier.addr,
            from = call.from,
            to = call.to,
            cid = call.call_id,
            len = SDP.len()
        );
        carrier.send(text.as_bytes());
        call
    }

    /// A request in the dialog (ACK reuses the INVITE's CSeq).
    fn request(&mut self, carrier: &mut Phone, method: &str) {
        if method != "ACK" {
            self.cseq += 1;
        }
        let t = carrier.token();
        let text = format!(
            "{method} sip:switchyard@{s} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            s = carrier.server,
            a = carrier.addr,
            from = self.from,
            to = self.to,
            cid = self.call_id,
            cseq = self.cseq,
        );
        carrier.send(text.as_bytes());
    }
}

/// Agent 1001 registered from `agent`, and a carrier's call to it answered
/// and ACKed; the call is up when this returns.
fn answered_call(switch: &SwitchProc, agent: &mut Phone, carrier: &mut Phone) -> CarrierCall {
    let ok = agent.register("1001", "demo-1001", agent.addr, 3600);
    assert_eq!(ok.status(), Some(200));
    let mut call = CarrierCall::invite(carrier, "5550100");
    let offer = next_request(agent);
    assert_eq!(offer.method().map(|m| m.as_str()), Some("INVITE"));
    agent.send(reply(agent, &offer, 200, "agent1", true).as_bytes());
    let ack = next_request(agent);
    assert_eq!(ack.method().map(|m| m.as_str()), Some("ACK"));
    let ok = carrier.recv_final();
    assert_eq!(ok.status(), Some(200));
    call.to = ok.to().as_str().to_string();
    call.request(carrier, "ACK");
    switch.wait_metric("switchyard_calls_active", |v| v == 1.0);
    call
}

/// Waits until the switch's log holds `needle`.
fn wait_log(switch: &SwitchProc, needle: &str) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while !switch.log().contains(needle) {
        assert!(Instant::now() < deadline, "{needle:?} never logged");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn told_it_is_overloaded_the_switch_refuses_new_calls_503_and_finishes_admitted_ones() {
    let config = test_config("10s", free_udp_port());
    let mut switch = SwitchProc::start("overload-503", &config);
    let mut agent = Phone::new(switch.sip);
    let mut carrier = Phone::new(switch.sip);
    let mut call = answered_call(&switch, &mut agent, &mut carrier);

    // The reload lowers the transactions mark under what the call alone
    // holds: the core is loaded past it from then on.
    let low = format!("{config}\n[overload]\ntransactions_high = 1\nretry_after = \"7s\"\n");
    std::fs::write(switch.dir.join("switchyard.toml"), low).expect("write config");
    let status = Command::new("kill")
        .args(["-HUP", &switch.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_log(&switch, "dialplan reloaded");
    wait_log(&switch, "overload: refusing new calls with 503");

    CarrierCall::invite(&mut carrier, "5550100");
    let refused = carrier.recv_final();
    assert_eq!(refused.status(), Some(503));
    assert_eq!(refused.header(&HeaderName::RetryAfter), Some("7"));

    // The admitted call: an in-dialog OPTIONS is answered, its BYE too,
    // and the agent's leg is hung up.
    call.request(&mut carrier, "OPTIONS");
    assert_eq!(carrier.recv_final().status(), Some(200));
    call.request(&mut carrier, "BYE");
    assert_eq!(carrier.recv_final().status(), Some(200));
    let bye = next_request(&agent);
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    agent.send(reply(&agent, &bye, 200, "agent1", false).as_bytes());
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric(
        "switchyard_calls_refused_overload_total{reason=\"transactions\"}",
        |v| v == 1.0,
    );
    switch.wait_metric("switchyard_overload_shedding", |v| v == 1.0);

    switch.terminate();
    assert!(switch.wait_exit().success());
}

#[test]
fn a_drain_that_times_out_ends_the_calls_left_and_writes_their_records() {
    let config = test_config("10s", free_udp_port()).replace(
        "cdr_path = \"cdr.sqlite\"",
        "cdr_path = \"cdr.sqlite\"\ndrain_timeout = \"1s\"",
    );
    let mut switch = SwitchProc::start("drain-timeout", &config);
    let mut agent = Phone::new(switch.sip);
    let mut carrier = Phone::new(switch.sip);
    let call = answered_call(&switch, &mut agent, &mut carrier);

    // Neither side answers the BYEs of the stop.
    switch.terminate();
    let bye = next_request(&carrier);
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    assert_eq!(bye.call_id(), call.call_id);
    let bye = next_request(&agent);
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    let status = switch.wait_exit();
    assert!(status.success(), "switch exited with {status}");
    assert!(switch
        .log()
        .contains("drain timeout: ending the calls still up"));

    let store = CdrStore::open_read_only(&switch.dir.join("cdr.sqlite")).expect("cdr store");
    let records = store.recent(10).expect("records");
    assert_eq!(records.len(), 1, "{records:#?}");
    let row = &records[0].row;
    assert_eq!(row.outcome, "shutdown");
    assert_eq!(row.sip_call_id, call.call_id);
    assert_eq!(row.agent.as_deref(), Some("1001"));
}
