//! A failed blind transfer on the wire (issue 14): agent 1001's SIPp
//! phone (`agent_refers.xml`) answers a sales-queue call and REFERs it
//! to 1002, whose SIPp phone is busy (486). The sales queue's
//! `transfer_fallback = "queue:backup"` puts the caller in the backup
//! queue, where 1003's SIPp phone answers; the caller's SIPp scenario
//! sees nothing of it and hangs up on 1003. The record names 1003 and the
//! backup queue, and the failure is logged with the call id. With
//! `transfer_fallback = "prompt:goodbye"` the caller is answered the
//! prompt and the switch hangs it up `transfer_fallback_hangup` (2 s)
//! later; the caller's scenario waits for that BYE.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use support::scenarios::*;
use support::{free_port_block, free_udp_port, sipp_register, Sipp, SwitchProc, EVENT_TIMEOUT};
use switchyard::ops::cdr::{CdrRow, CdrStore};

fn config(rtp: u16) -> String {
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
auto_login = true
skills = {{ sales = 6 }}

[[agents]]
id = "1002"
password = "demo-1002"

[[agents]]
id = "1003"
password = "demo-1003"
auto_login = true
skills = {{ backup = 6 }}

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]

[dids]
"5550300" = {{ queue = "sales" }}

[[queues]]
name = "sales"
requires = "sales:1"
ring_timeout = "5s"
wrap_up = "0s"
transfer_fallback = "queue:backup"

[[queues]]
name = "backup"
requires = "backup:1"
ring_timeout = "5s"
wrap_up = "0s"

[media]
rtp_ports = "{rtp}-{}"
prompts = "{}"
"#,
        rtp + 7,
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("prompts")
            .display(),
    )
}

fn phone(switch: &SwitchProc, user: &str, scenario: &str, splices: &[(&str, &str)]) -> Sipp {
    let port = free_udp_port();
    let sipp = Sipp::start(
        &switch.dir,
        scenario,
        splices,
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(
        &switch.dir,
        switch,
        user,
        &format!("demo-{user}"),
        port,
        200,
    );
    sipp
}

fn record(switch: &SwitchProc) -> CdrRow {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Ok(store) = CdrStore::open_read_only(&switch.dir.join("cdr.sqlite")) {
            let rows = store.recent(10).unwrap_or_default();
            if let Some(r) = rows.into_iter().map(|r| r.row).next() {
                return r;
            }
        }
        assert!(Instant::now() < deadline, "no record of the call");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_busy_target_sends_the_caller_to_the_fallback_queue() {
    let switch = SwitchProc::start("xfer-fallback-queue", &config(free_port_block(8)));
    let busy = phone(&switch, "1002", "agent.xml", &[("@ANSWER@", AGENT_BUSY)]);
    let backup = phone(&switch, "1003", "agent.xml", &[("@ANSWER@", AGENT_ANSWERS)]);
    let agent = phone(
        &switch,
        "1001",
        "agent_refers.xml",
        &[
            ("@TARGET@", "1002"),
            ("@FRAG@", "SIP/2.0 200 OK"),
            ("@AFTER@", AGENT_RELEASED),
        ],
    );
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CALLER_TALKS_THEN_HANGS_UP)],
        &["-m", "1", "-s", "5550300"],
        Some(switch.sip),
    )
    .expect_success();
    agent.expect_success();
    busy.expect_success();
    backup.expect_success();
    let r = record(&switch);
    assert_eq!(r.agent.as_deref(), Some("1003"));
    assert_eq!(r.queue.as_deref(), Some("backup"));
    assert_eq!(r.transfers.as_deref(), Some("1002"));
    let uuid = r.call_uuid.expect("the record has the call id");
    let log = switch.log();
    let failed = log
        .lines()
        .find(|l| l.contains("transfer target failed"))
        .unwrap_or_else(|| panic!("no failure line in the log:\n{log}"));
    assert!(failed.contains(&uuid), "{failed}");
    assert!(log.contains("transfer fallback: the call goes to the fallback queue"));
}

/// The caller: hears the queue, answered, then the switch's BYE.
const CALLER_HUNG_UP_BY_THE_SWITCH: &str = r#"
  <recv response="183" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv request="BYE" timeout="15000"/>
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
fn a_busy_target_with_a_prompt_fallback_plays_it_then_hangs_up() {
    let text = config(free_port_block(8)).replace(
        "transfer_fallback = \"queue:backup\"\n",
        "transfer_fallback = \"prompt:goodbye\"\ntransfer_fallback_hangup = \"2s\"\n",
    );
    assert!(text.contains("prompt:goodbye"));
    let switch = SwitchProc::start("xfer-fallback-prompt", &text);
    let busy = phone(&switch, "1002", "agent.xml", &[("@ANSWER@", AGENT_BUSY)]);
    let agent = phone(
        &switch,
        "1001",
        "agent_refers.xml",
        &[
            ("@TARGET@", "1002"),
            ("@FRAG@", "SIP/2.0 200 OK"),
            ("@AFTER@", AGENT_RELEASED),
        ],
    );
    let started = Instant::now();
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CALLER_HUNG_UP_BY_THE_SWITCH)],
        &["-m", "1", "-s", "5550300"],
        Some(switch.sip),
    )
    .expect_success();
    // The REFER comes 0.5 s after the answer; the hang-up 2 s after the prompt starts.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    agent.expect_success();
    busy.expect_success();
    let r = record(&switch);
    assert_eq!(r.transfers.as_deref(), Some("1002"));
    let uuid = r.call_uuid.expect("the record has the call id");
    let log = switch.log();
    for what in [
        "transfer target failed",
        "transfer fallback: a prompt, then hang-up",
        "transfer fallback prompt played: hanging up",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in the log:\n{log}"));
        assert!(line.contains(&uuid), "{line}");
    }
}

#[test]
fn a_busy_target_gives_the_call_back_to_the_transferring_agent() {
    let text = config(free_port_block(8)).replace("transfer_fallback = \"queue:backup\"\n", "");
    let switch = SwitchProc::start("xfer-fallback-agent", &text);
    let busy = phone(&switch, "1002", "agent.xml", &[("@ANSWER@", AGENT_BUSY)]);
    let port = free_udp_port();
    let agent = Sipp::start(
        &switch.dir,
        "agent_refers_comes_back.xml",
        &[("@TARGET@", "1002"), ("@FRAG@", "SIP/2.0 200 OK")],
        &["-m", "2", "-p", &port.to_string()],
        None,
    );
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", port, 200);
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CALLER_TALKS_THEN_HANGS_UP)],
        &["-m", "1", "-s", "5550300"],
        Some(switch.sip),
    )
    .expect_success();
    agent.expect_success();
    busy.expect_success();
    let r = record(&switch);
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert_eq!(r.transfers.as_deref(), Some("1002"));
    let uuid = r.call_uuid.expect("the record has the call id");
    let log = switch.log();
    let back = log
        .lines()
        .find(|l| l.contains("the call goes back to the transferring agent"))
        .unwrap_or_else(|| panic!("no hand-back line in the log:\n{log}"));
    assert!(back.contains(&uuid), "{back}");
}
