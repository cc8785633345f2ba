//! Several outbound trunks on the wire (issue 13 item 4), with SIPp as the
//! carriers: a call out that the first carrier answers 503 is carried by
//! the second and recorded on it; a 486 from the first is the callee's
//! answer and is not retried; a carrier that never answers OPTIONS is
//! marked down and calls go straight to the healthy one; a carrier that
//! challenges REGISTER gets our digest answer, registers us and is
//! refreshed.

// Real sockets with bounded waits: the test is a driver.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::api::{api_section, get, VIEWER};
use support::scenarios::*;
use support::{free_udp_port, test_config, Sipp, SwitchProc};
use switchyard::ops::cdr::{CdrRow, CdrStore};

const WAIT: Duration = Duration::from_secs(20);

/// The test dialplan with `trunks` in place of its one trunk.
fn config_with(trunks: &str) -> String {
    let base = test_config("10s", 9);
    let start = base.find("[[trunks]]").expect("a trunk section");
    let end = base.find("[dids]").expect("a dids section");
    format!("{}{trunks}\n{}", &base[..start], &base[end..])
}

/// Carrier A (priority 1, takes calls in) and carrier B (priority 2);
/// `a_extra` goes into A's outbound table.
fn two_carriers(a_port: u16, b_port: u16, a_extra: &str) -> String {
    config_with(&format!(
        r#"
[[trunks]]
name = "carrier-b"
outbound = {{ address = "127.0.0.1:{b_port}", priority = 2 }}

[[trunks]]
name = "carrier-a"
allow_from = ["127.0.0.1"]
outbound = {{ address = "127.0.0.1:{a_port}", priority = 1{a_extra} }}
"#
    ))
}

/// Agent 1002's phone (SIPp) registers and dials `number`; `after` is
/// what follows the final answer.
fn agent_dials(switch: &SwitchProc, number: &str, after: &str) -> Sipp {
    let after = after.replace("@USER@", "1002").replace("@CODE@", number);
    let contact = free_udp_port().to_string();
    Sipp::start(
        &switch.dir,
        "feature.xml",
        &[("@AFTER@", &after), ("@USER@", "1002"), ("@CODE@", number)],
        &[
            "-m",
            "1",
            "-au",
            "1002",
            "-ap",
            "demo-1002",
            "-key",
            "contact_port",
            &contact,
        ],
        Some(switch.sip),
    )
}

/// A SIPp carrier on `port` playing `exchange` once.
fn carrier(switch: &SwitchProc, port: u16, exchange: &str) -> Sipp {
    Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", exchange)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    )
}

/// The record of the call to `dialled`, once the store holds it.
fn record_of(switch: &SwitchProc, dialled: &str) -> CdrRow {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = CdrStore::open_read_only(&switch.dir.join("cdr.sqlite"))
            .ok()
            .and_then(|s| s.recent(100).ok())
            .and_then(|rows| {
                rows.into_iter()
                    .map(|r| r.row)
                    .find(|r| r.dialled == dialled)
            });
        if let Some(row) = found {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "no record of the call to {dialled}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn carrier_says(status: &str) -> String {
    AGENT_BUSY.replace("486 Busy Here", status)
}

#[test]
fn a_503_from_the_first_carrier_is_carried_by_the_second_and_recorded_on_it() {
    let (a_port, b_port) = (free_udp_port(), free_udp_port());
    let switch = SwitchProc::start("trunk-failover", &two_carriers(a_port, b_port, ""));
    let a = carrier(&switch, a_port, &carrier_says("503 Service Unavailable"));
    let b = carrier(&switch, b_port, AGENT_ANSWERS);
    agent_dials(&switch, "5551234", AGENT_CALL_ANSWERED).expect_success();
    let a_messages = a.expect_success_messages();
    assert!(a_messages.contains("INVITE sip:5551234@"), "{a_messages}");
    let b_messages = b.expect_success_messages();
    assert!(b_messages.contains("INVITE sip:5551234@"), "{b_messages}");

    let row = record_of(&switch, "5551234");
    assert_eq!(row.trunk.as_deref(), Some("carrier-b"), "{row:?}");
    assert_eq!(row.outcome, "completed", "{row:?}");
    switch.wait_metric(
        "switchyard_trunk_failovers_total{trunk=\"carrier-a\"}",
        |v| v == 1.0,
    );
    let log = switch.log();
    let line = log
        .lines()
        .find(|l| l.contains("failed over to the next trunk"))
        .expect("a log line for the failover");
    for field in [
        "from_trunk=carrier-a",
        "to_trunk=carrier-b",
        "status=503",
        "call=",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
}

#[test]
fn a_tcp_carrier_that_refuses_the_connection_is_passed_over_at_once() {
    // Nobody listens on A's TCP port: the connection is refused, which the
    // switch takes as a transport error, not a 32 s Timer B.
    let a_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port")
        .port();
    let b_port = free_udp_port();
    let config = two_carriers(a_port, b_port, ", transport = \"tcp\"");
    let switch = SwitchProc::start("trunk-refused", &config);
    let b = carrier(&switch, b_port, AGENT_ANSWERS);
    agent_dials(&switch, "5551234", AGENT_CALL_ANSWERED).expect_success();
    b.expect_success();
    assert_eq!(
        record_of(&switch, "5551234").trunk.as_deref(),
        Some("carrier-b")
    );
    // A transport error counts as 503 (RFC 3261 §8.1.3.1); Timer B would say 408.
    let log = switch.log();
    let line = log
        .lines()
        .find(|l| l.contains("failed over to the next trunk"))
        .expect("a log line for the failover");
    assert!(line.contains("status=503"), "{line}");
    switch.wait_metric(
        "switchyard_trunk_failovers_total{trunk=\"carrier-a\"}",
        |v| v == 1.0,
    );
}

#[test]
fn a_486_from_the_first_carrier_is_the_callees_answer_and_is_not_retried() {
    let (a_port, b_port) = (free_udp_port(), free_udp_port());
    let switch = SwitchProc::start("trunk-busy", &two_carriers(a_port, b_port, ""));
    let a = carrier(&switch, a_port, AGENT_BUSY);
    let b = carrier(&switch, b_port, AGENT_ANSWERS);
    let refused = FEATURE_REFUSED.replace("@STATUS@", "486");
    agent_dials(&switch, "5551234", &refused).expect_success();
    a.expect_success();

    let row = record_of(&switch, "5551234");
    assert_eq!(row.trunk.as_deref(), Some("carrier-a"), "{row:?}");
    // The caller got the 486 (above): had the call failed over, B's answer
    // would have reached them instead. B never saw an INVITE.
    let b_messages = b.messages();
    assert!(!b_messages.contains("INVITE"), "{b_messages}");
    switch.wait_metric(
        "switchyard_trunk_failovers_total{trunk=\"carrier-a\"}",
        |v| v == 0.0,
    );
}

#[test]
fn a_carrier_that_never_answers_options_is_down_and_calls_go_straight_to_the_healthy_one() {
    // Carrier A is a socket that reads and never answers.
    let dead = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let a_port = dead.local_addr().expect("addr").port();
    let b_port = free_udp_port();
    let extra = ", options_interval = \"1s\", options_down_after = 1";
    let config = two_carriers(a_port, b_port, extra) + &api_section(16);
    let switch = SwitchProc::start("trunk-health", &config);
    switch.wait_metric("switchyard_trunk_up{trunk=\"carrier-a\"}", |v| v == 0.0);
    switch.wait_metric("switchyard_trunk_up{trunk=\"carrier-b\"}", |v| v == 1.0);
    let listed = get(switch.http, "/api/v1/trunks", VIEWER);
    assert_eq!(listed.status, 200);
    let trunks = listed.body["trunks"].as_array().expect("a list").clone();
    let up: Vec<(&str, bool)> = trunks
        .iter()
        .map(|t| (t["name"].as_str().unwrap_or(""), t["up"] == true))
        .collect();
    assert_eq!(
        up,
        vec![("carrier-b", true), ("carrier-a", false)],
        "{trunks:?}"
    );
    let log = switch.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("trunk down") && l.contains("carrier-a")),
        "no warning for the trunk going down:\n{log}"
    );

    let b = carrier(&switch, b_port, AGENT_ANSWERS);
    agent_dials(&switch, "5551234", AGENT_CALL_ANSWERED).expect_success();
    b.expect_success();
    let row = record_of(&switch, "5551234");
    assert_eq!(row.trunk.as_deref(), Some("carrier-b"), "{row:?}");

    // What reached the dead carrier: probes, and no INVITE.
    dead.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 4096];
    let mut probes = 0;
    while let Ok(n) = dead.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(!text.starts_with("INVITE"), "the dead carrier got {text}");
        probes += usize::from(text.starts_with("OPTIONS sip:127.0.0.1:"));
    }
    assert!(probes >= 1, "no OPTIONS reached the dead carrier");
    switch.wait_metric(
        "switchyard_trunk_failovers_total{trunk=\"carrier-a\"}",
        |v| v == 0.0,
    );
}

/// A carrier's registrar: challenges the first REGISTER, checks the
/// digest answer (a wrong one fails the scenario), grants 2 s so that the
/// switch refreshes within a second, and grants the refresh 60 s.
const CARRIER_REGISTRAR: &str = r#"
  <recv request="REGISTER" crlf="true"/>
  <send><![CDATA[

      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]R[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="carrier.test", nonce="7f3a9c1e55d2", algorithm=MD5
      Content-Length: 0

    ]]></send>
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="authvalid" username="sw" password="carrier-secret"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good"/>
  <recv request="NO_SUCH_METHOD" timeout="200"/>
  <label id="good"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]R[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Expires: 2
      Content-Length: 0

    ]]></send>
  <recv request="REGISTER"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]R[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Expires: 60
      Content-Length: 0

    ]]></send>
"#;

#[test]
fn a_carrier_that_challenges_register_gets_our_digest_answer_and_a_refresh() {
    let port = free_udp_port();
    let config = config_with(&format!(
        r#"
[[trunks]]
name = "carrier-a"
allow_from = ["127.0.0.1"]
outbound = {{ address = "127.0.0.1:{port}", username = "sw", password = "carrier-secret", register = true, register_expires = "10m" }}
"#
    ));
    let dir = support::temp_dir("trunk-register");
    // The carrier listens before the switch starts: the first REGISTER goes at start.
    let registrar = Sipp::start(
        &dir,
        "agent.xml",
        &[("@ANSWER@", CARRIER_REGISTRAR)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    let switch = SwitchProc::start("trunk-register", &config);
    let messages = registrar.expect_success_messages();
    assert!(messages.contains("Authorization: Digest"), "{messages}");
    assert!(messages.contains("Expires: 600"), "{messages}");
    switch.wait_metric("switchyard_trunk_registered{trunk=\"carrier-a\"}", |v| {
        v == 1.0
    });
    let log = switch.log();
    assert!(
        log.lines()
            .any(|l| l.contains("registered with the carrier") && l.contains("carrier-a")),
        "{log}"
    );
    assert!(!log.contains("carrier-secret"), "the password was logged");
}
