//! An agent on a call the router did not give them is busy for the queues
//! (issue 9): with 1001 on a direct DID call, dialling out through the
//! trunk, or 1004 listening in as a supervisor, a support call rings 1002
//! at once; the busy agent's phone gets no second INVITE and is not paused
//! for "no answer" (both have `max_no_answer = 1`, so one held offer would
//! pause them), and is available again when their own call ends.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::scenarios::*;
use support::{free_port_block, free_udp_port, sipp_register, Sipp, SwitchProc};

/// How soon the support call must be answered by 1002 (its ring timeout
/// is 15 s, so a held offer would take longer).
const ANSWERED_WITHIN: Duration = Duration::from_secs(2);
/// How long the busy agent's own call lasts: longer than the support call.
const OWN_CALL_MS: &str = "8000";

/// 1001 and 1004 are the most skilled (the router's first pick), 1002
/// the fallback; the trunk's outbound side is `far_end`.
fn config(far_end: u16, rtp: u16) -> String {
    format!(
        r#"
[switch]
sip_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
realm = "switchyard-test"
digest_challenge = "md5-first"
cdr_path = "cdr.sqlite"

[[agents]]
id = "1001"
password = "demo-1001"
auto_login = true
max_no_answer = 1
skills = {{ support = 9 }}

[[agents]]
id = "1002"
password = "demo-1002"
auto_login = true
skills = {{ support = 4 }}

[[agents]]
id = "1004"
password = "demo-1004"
auto_login = true
max_no_answer = 1
supervisor = true
skills = {{ support = 9 }}

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]
outbound = {{ address = "127.0.0.1:{far_end}", transport = "udp" }}

[dids]
"5550100" = {{ agent = "1001" }}
"5550200" = {{ queue = "support" }}

[[queues]]
name = "support"
requires = "support:1"
strategy = "most-skilled"
ring_timeout = "15s"
wrap_up = "0s"

[media]
rtp_ports = "{rtp}-{}"
"#,
        rtp + 15
    )
}

/// After the agent's own INVITE is answered: ACK, hold, hang up.
const DIALLER_TALKS_THEN_HANGS_UP: &str = r#"
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:@USER@@[remote_ip]>;tag=[pid]F[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <pause milliseconds="@HOLD_MS@"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:@USER@@[remote_ip]>;tag=[pid]F[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#;

struct Centre {
    switch: SwitchProc,
    far_end_port: u16,
}

impl Centre {
    fn start(name: &str) -> Centre {
        let far_end_port = free_udp_port();
        let switch = SwitchProc::start(name, &config(far_end_port, free_port_block(16)));
        Centre {
            switch,
            far_end_port,
        }
    }

    /// A SIPp phone at `port` that answers one call and waits for the BYE.
    fn answering_phone(&self, port: u16) -> Sipp {
        Sipp::start(
            &self.switch.dir,
            "agent.xml",
            &[("@ANSWER@", AGENT_ANSWERS)],
            &["-m", "1", "-p", &port.to_string()],
            None,
        )
    }

    fn register(&self, user: &str, port: u16) {
        let password = format!("demo-{user}");
        sipp_register(&self.switch.dir, &self.switch, user, &password, port, 200);
    }

    /// Agent `user` (registered with Contact at `contact`) dials `number`
    /// with digest auth, talks for [`OWN_CALL_MS`], hangs up.
    fn dial(&self, user: &str, contact: u16, number: &str) -> Sipp {
        let after = DIALLER_TALKS_THEN_HANGS_UP
            .replace("@USER@", user)
            .replace("@HOLD_MS@", OWN_CALL_MS);
        let password = format!("demo-{user}");
        let contact = contact.to_string();
        Sipp::start(
            &self.switch.dir,
            "feature.xml",
            &[("@AFTER@", &after), ("@USER@", user), ("@CODE@", number)],
            &[
                "-m",
                "1",
                "-au",
                user,
                "-ap",
                &password,
                "-key",
                "contact_port",
                &contact,
            ],
            Some(self.switch.sip),
        )
    }

    /// A carrier call to `did` that is answered and lasts `hold_ms`.
    fn carrier(&self, did: &str, hold_ms: &str) -> Sipp {
        // A queue call is anchored: early media (183) before the answer.
        let after = CARRIER_ANSWERED_HANGS_UP
            .replace(
                "<recv response=\"180\" optional=\"true\"/>",
                "<recv response=\"183\" optional=\"true\"/>\n  \
                 <recv response=\"180\" optional=\"true\"/>",
            )
            .replace(
                "<pause milliseconds=\"300\"/>",
                &format!("<pause milliseconds=\"{hold_ms}\"/>"),
            );
        Sipp::start(
            &self.switch.dir,
            "carrier.xml",
            &[("@AFTER@", &after)],
            &["-m", "1", "-s", did],
            Some(self.switch.sip),
        )
    }

    fn wait_busy(&self, n: f64) {
        self.switch
            .wait_metric("switchyard_agents{state=\"busy\"}", |v| v == n);
    }

    /// 1002 answers a support call within [`ANSWERED_WITHIN`].
    fn support_call_goes_to_1002(&self, phone_1002: Sipp) {
        let started = Instant::now();
        self.carrier("5550200", "300").expect_success();
        // The carrier hung up 300 ms after the answer.
        let answered = started.elapsed().saturating_sub(Duration::from_millis(300));
        phone_1002.expect_success();
        println!("support call answered by 1002 after {answered:?}");
        assert!(
            answered < ANSWERED_WITHIN,
            "the support call took {answered:?} to be answered"
        );
        self.switch.wait_metric(
            "switchyard_queue_calls_total{queue=\"support\",outcome=\"answered\"}",
            |v| v == 1.0,
        );
    }

    /// Once the own call is over: nobody paused, nobody busy.
    fn all_free_again(&self, free: f64) {
        self.wait_busy(0.0);
        self.switch
            .wait_metric("switchyard_agents{state=\"available\"}", |v| v == free);
        let paused = self.switch.metrics();
        assert_eq!(
            support::metric_value(&paused, "switchyard_agents{state=\"paused\"}"),
            Some(0.0),
            "an agent was paused"
        );
    }
}

/// Distinct Call-IDs in a SIPp message trace: the calls its phone saw.
fn calls_seen(messages: &str) -> BTreeSet<String> {
    messages
        .lines()
        .filter_map(|l| l.strip_prefix("Call-ID:"))
        .map(|v| v.trim().to_string())
        .collect()
}

fn assert_silent(sock: &UdpSocket, who: &str) {
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        sock.recv_from(&mut buf).is_err(),
        "{who}'s phone got a message while busy"
    );
}

#[test]
fn agent_on_a_direct_call_is_skipped_and_not_paused() {
    let centre = Centre::start("presence-direct");
    let (port_1001, port_1002) = (free_udp_port(), free_udp_port());
    let phone_1001 = centre.answering_phone(port_1001);
    centre.register("1001", port_1001);
    let phone_1002 = centre.answering_phone(port_1002);
    centre.register("1002", port_1002);
    let direct = centre.carrier("5550100", OWN_CALL_MS);
    centre.wait_busy(1.0);
    centre.support_call_goes_to_1002(phone_1002);
    direct.expect_success();
    let seen = calls_seen(&phone_1001.messages());
    phone_1001.expect_success();
    assert_eq!(seen.len(), 1, "1001's phone saw calls {seen:?}");
    centre.all_free_again(2.0);
}

#[test]
fn agent_dialling_out_through_the_trunk_is_skipped_and_not_paused() {
    let centre = Centre::start("presence-out");
    let far_end = centre.answering_phone(centre.far_end_port);
    let contact_1001 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port_1002 = free_udp_port();
    let phone_1002 = centre.answering_phone(port_1002);
    centre.register("1002", port_1002);
    let dial_out = centre.dial("1001", contact_1001.local_addr().unwrap().port(), "5559999");
    centre.wait_busy(1.0);
    centre.support_call_goes_to_1002(phone_1002);
    dial_out.expect_success();
    far_end.expect_success();
    assert_silent(&contact_1001, "1001");
    centre.all_free_again(2.0);
}

#[test]
fn supervisor_listening_in_is_skipped_and_not_paused() {
    let centre = Centre::start("presence-supervise");
    let (port_1001, port_1002) = (free_udp_port(), free_udp_port());
    let phone_1001 = centre.answering_phone(port_1001);
    centre.register("1001", port_1001);
    let phone_1002 = centre.answering_phone(port_1002);
    centre.register("1002", port_1002);
    // 1001 talks to a customer for longer than the supervisor listens.
    let direct = centre.carrier("5550100", "12000");
    centre.wait_busy(1.0);
    let contact_1004 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port_1004 = contact_1004.local_addr().unwrap().port();
    let supervisor = centre.dial("1004", port_1004, "*501001");
    centre.wait_busy(2.0);
    centre.support_call_goes_to_1002(phone_1002);
    supervisor.expect_success();
    direct.expect_success();
    phone_1001.expect_success();
    assert_silent(&contact_1004, "1004");
    centre.all_free_again(3.0);
}
