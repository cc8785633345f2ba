//! Request rate per source on the wire (issue 13 item 3): a flood of
//! REGISTERs from one source gets its burst answered, then 503 with
//! Retry-After a few times, then silence, logged once; meanwhile a call
//! from the trusted carrier (the trunk's address) completes.

// Real sockets with bounded waits: the test is a driver.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::scenarios::*;
use support::{free_udp_port, sipp_register, test_config, Sipp, SwitchProc};
use switchyard::sip::parse::Message;

const BURST: usize = 20;
const PER_SECOND: usize = 2;
const REFUSALS: usize = 3;
const FLOOD: Duration = Duration::from_secs(3);
const REQUESTS_MAX: u32 = 600;
const EVERY: Duration = Duration::from_millis(5);

#[test]
fn a_flooding_source_gets_503_then_silence_while_a_carrier_call_completes() {
    let security = format!(
        "\n[security]\ntrust_loopback = false\nrequests_burst = {BURST}\n\
         requests_per_second = {PER_SECOND}\nrequests_refused_answered = {REFUSALS}\n"
    );
    let config = test_config("10s", free_udp_port()) + &security;
    let switch = SwitchProc::start("rate-flood", &config);
    // The agent and the carrier are on 127.0.0.1, the trunk's address: trusted.
    let agent_port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", agent_port, 200);
    let agent_port = agent_port.to_string();
    let agent = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", "1", "-p", &agent_port],
        None,
    );
    let carrier = Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CARRIER_ANSWERED_HANGS_UP)],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    );

    let flood = UdpSocket::bind("127.0.0.2:0").expect("bind flood source");
    flood.set_nonblocking(true).unwrap();
    let me = flood.local_addr().unwrap();
    let (mut sent, mut answers) = (0u32, Vec::new());
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    // Each answer: its status and its text.
    let mut drain = |answers: &mut Vec<(u16, String)>| {
        while let Ok((n, _)) = flood.recv_from(&mut buf) {
            let bytes = Bytes::copy_from_slice(&buf[..n]);
            if let Some(code) = Message::parse(bytes).ok().and_then(|m| m.status()) {
                answers.push((code, String::from_utf8_lossy(&buf[..n]).into_owned()));
            }
        }
    };
    while start.elapsed() < FLOOD && sent < REQUESTS_MAX {
        let s = switch.sip;
        let msg = format!(
            "REGISTER sip:{s} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKflood{sent};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:1002@{s}>;tag=fl\r\nTo: <sip:1002@{s}>\r\n\
             Call-ID: flood@{me}\r\nCSeq: {} REGISTER\r\nContact: <sip:1002@{me}>\r\n\
             Content-Length: 0\r\n\r\n",
            sent + 1
        );
        flood.send_to(msg.as_bytes(), s).expect("send");
        sent += 1;
        std::thread::sleep(EVERY);
        drain(&mut answers);
    }
    let flood_for = start.elapsed();
    carrier.expect_success();
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    drain(&mut answers);

    let status = |code: u16| answers.iter().filter(|(c, _)| *c == code).count();
    let (challenged, refused) = (status(401), status(503));
    eprintln!(
        "flood: {sent} requests in {flood_for:?}: {challenged} x 401, {refused} x 503, {} answers",
        answers.len()
    );
    // A token comes back every 1/PER_SECOND s; each one passes a request
    // and re-arms the answered refusals.
    let refills = 1 + PER_SECOND * flood_for.as_secs().max(1) as usize + PER_SECOND;
    assert!(challenged >= BURST, "the burst was served: {challenged}");
    assert!(
        challenged <= BURST + refills,
        "{challenged} requests served"
    );
    assert!(
        (1..=REFUSALS * refills).contains(&refused),
        "{refused} x 503"
    );
    assert_eq!(answers.len(), challenged + refused, "only 401s and 503s");
    assert!(
        answers.len() * 5 < sent as usize,
        "most of the flood went unanswered"
    );
    assert!(answers
        .iter()
        .filter(|(c, _)| *c == 503)
        .all(|(_, text)| text.contains("\r\nRetry-After: ")));
    let log = switch.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("sip requests over the rate limit") && l.contains("127.0.0.2"))
        .count();
    assert_eq!(lines, 1, "one warning per source and minute");
    switch.wait_metric(
        "switchyard_sip_requests_limited_total{reason=\"rate_503\"}",
        |v| v == refused as f64,
    );
    switch.wait_metric(
        "switchyard_sip_requests_limited_total{reason=\"rate_dropped\"}",
        |v| v >= 1.0,
    );
}
