//! Queued callback on the wire, across a restart. A SIPp caller on the
//! demo trunk calls the `support` queue while nobody is logged in, hears
//! the queue (183), presses 5 by SIP INFO and gets the switch's final
//! answer once the confirmation played. The switch is killed with the
//! callback pending (stored in SQLite beside the call records) and
//! started again on the same store. Agent 1001's SIPp phone registers: it
//! is rung first, shown "Callback" and the caller's number; the SIPp
//! carrier far end gets the INVITE for that number only after the
//! agent's 200 (their traces' clocks say so), answers and hangs up. The
//! call record is a `callback` one, and the callback is gone from the store.

#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::api::{self, SUPERVISOR};
use support::{
    free_port_block, free_udp_port, sipp_register, temp_dir, test_config, Sipp, SwitchProc,
};

const NUMBER: &str = "5557001";

fn config(carrier_port: u16, data: &Path) -> String {
    let base = test_config("10s", carrier_port)
        .replace(
            "cdr_path = \"cdr.sqlite\"",
            &format!("cdr_path = \"{}\"", data.join("cdr.sqlite").display()),
        )
        .replace(
            "name = \"support\"\nrequires = \"support:1\"\n",
            "name = \"support\"\nrequires = \"support:1\"\nwrap_up = \"0s\"\n\
             callback = { key = \"5\", attempts = 2, retry = \"1m\" }\n",
        );
    assert!(base.contains("callback = {"), "{base}");
    let lo = free_port_block(16);
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    format!(
        "{base}\n[media]\nrtp_ports = \"{lo}-{hi}\"\nrtp_address = \"127.0.0.1\"\nprompts = \"{p}\"\n{api}",
        hi = lo + 15,
        p = prompts.display(),
        api = api::api_section(16)
    )
}

/// Agent 1001's phone: the callback rings it showing "Callback" and the
/// number; it answers and waits for the switch's BYE.
fn agent_answers() -> String {
    format!(
        r#"
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp="&quot;Callback&quot; .sip:{NUMBER}@" search_in="hdr" header="From:" check_it="true" assign_to="shown"/>
    </action>
  </recv>
  <Reference variables="shown"/>
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Length: 0

    ]]></send>
  <pause milliseconds="500"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
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
"#
    )
}

/// The carrier's far end: the INVITE for the number, answered, then
/// hung up from this side after a moment.
fn carrier_answers_then_hangs_up() -> String {
    format!(
        r#"
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp="^INVITE sip:{NUMBER}@" search_in="msg" check_it="true" assign_to="number"/>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="switch_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="our_to"/>
    </action>
  </recv>
  <Reference variables="number"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]K[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="500"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$our_to];tag=[pid]K[call_number]
      To: [$switch_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#
    )
}

/// When a SIPp trace first shows a message whose first line starts with
/// `first_line` (its `-trace_msg` stamp, `YYYY-MM-DD\tHH:MM:SS.micros`).
fn stamp_of(trace: &str, first_line: &str) -> Option<String> {
    let mut stamp = None;
    for line in trace.lines() {
        if let Some(rest) = line.strip_prefix("----------------------------------------------- ") {
            stamp = Some(rest.trim().to_string());
        } else if line.trim_start().starts_with(first_line) {
            return stamp;
        }
    }
    None
}

/// Rows of the callbacks table, waited for until `want` holds.
fn wait_callbacks(data: &Path, want: usize) {
    let deadline = Instant::now() + support::EVENT_TIMEOUT;
    loop {
        let n = rusqlite::Connection::open(data.join("cdr.sqlite"))
            .ok()
            .and_then(|db| {
                db.query_row("SELECT COUNT(*) FROM callbacks", [], |r| r.get::<_, i64>(0))
                    .ok()
            });
        if n == Some(want as i64) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n:?} callbacks stored, not {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_caller_presses_five_is_hung_up_and_after_a_restart_the_agent_is_rung_before_the_number() {
    let data = temp_dir("callback-data");
    let carrier_port = free_udp_port();
    let config = config(carrier_port, &data);

    // First run: nobody logged in; the caller takes the callback.
    let switch = SwitchProc::start("callback-1", &config);
    let caller = Sipp::start(
        &data,
        "callback_caller.xml",
        &[("@NUMBER@", NUMBER), ("@KEY@", "5")],
        &["-m", "1", "-s", "5550200"],
        Some(switch.sip),
    );
    caller.expect_success();
    switch.wait_metric("switchyard_callbacks_total{result=\"requested\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_callbacks_pending", |v| v == 1.0);
    wait_callbacks(&data, 1);
    drop(switch); // SIGKILL with the callback pending.

    // Second run on the same store: the callback is served.
    let carrier = Sipp::start(
        &data,
        "agent.xml",
        &[("@ANSWER@", &carrier_answers_then_hangs_up())],
        &["-m", "1", "-p", &carrier_port.to_string()],
        None,
    );
    let switch = SwitchProc::start("callback-2", &config);
    switch.wait_metric("switchyard_callbacks_pending", |v| v == 1.0);
    let agent_port = free_udp_port();
    let phone = Sipp::start(
        &data,
        "agent.xml",
        &[("@ANSWER@", &agent_answers())],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    sipp_register(&data, &switch, "1001", "demo-1001", agent_port, 200);
    let agent_trace = phone.expect_success_messages();
    let carrier_trace = carrier.expect_success_messages();
    let answered = stamp_of(&agent_trace, "SIP/2.0 200 OK").expect("the agent's 200");
    let dialled = stamp_of(&carrier_trace, &format!("INVITE sip:{NUMBER}@")).expect("the INVITE");
    assert!(
        answered <= dialled,
        "the number was dialled at {dialled}, before the agent answered at {answered}"
    );
    switch.wait_metric("switchyard_callbacks_total{result=\"completed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_callbacks_pending", |v| v == 0.0);
    wait_callbacks(&data, 0);

    // The record of the callback.
    let deadline = Instant::now() + support::EVENT_TIMEOUT;
    let row = loop {
        let db = rusqlite::Connection::open(data.join("cdr.sqlite")).unwrap();
        let row = db
            .query_row(
                "SELECT dialled, agent, queue, outcome, trunk, call_uuid FROM call_records \
                 WHERE direction = 'callback'",
                [],
                |r| {
                    Ok((
                        (
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<String>>(4)?,
                        ),
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .ok();
        if let Some(row) = row {
            break row;
        }
        assert!(Instant::now() < deadline, "no callback record");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (row, call) = row;
    assert_eq!(
        row,
        (
            NUMBER.to_string(),
            Some("1001".to_string()),
            Some("support".to_string()),
            "completed".to_string(),
            Some("demo-carrier".to_string())
        )
    );

    // The agent asks for another callback of the same customer in an
    // hour: the disposition `callback` with a time. Bad times change nothing.
    let path = format!("/api/v1/calls/{call}/disposition");
    for bad in [
        r#"{"code": "sale", "callback_in": "1h"}"#,
        r#"{"code": "callback", "callback_in": "1h", "callback_at": "2030-01-01T00:00:00Z"}"#,
        r#"{"code": "callback", "callback_at": "tomorrow"}"#,
        r#"{"code": "callback", "callback_in": "forever"}"#,
    ] {
        let answer = api::post(switch.http, &path, SUPERVISOR, bad);
        assert_eq!(answer.status, 400, "{bad}: {answer:?}");
    }
    assert_eq!(
        support::metric_value(&switch.metrics(), "switchyard_callbacks_pending"),
        Some(0.0)
    );
    let body = r#"{"code": "callback", "callback_in": "1h"}"#;
    let answer = api::post(switch.http, &path, SUPERVISOR, body);
    assert_eq!(answer.status, 200, "{answer:?}");
    switch.wait_metric("switchyard_callbacks_pending", |v| v == 1.0);
    wait_callbacks(&data, 1);
    let db = rusqlite::Connection::open(data.join("cdr.sqlite")).unwrap();
    let (number, due_ms): (String, i64) = db
        .query_row("SELECT number, due_ms FROM callbacks", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(number, NUMBER);
    let in_ms = due_ms - now_ms;
    assert!(
        (3_500_000..=3_600_000).contains(&in_ms),
        "due in {in_ms} ms"
    );
}
