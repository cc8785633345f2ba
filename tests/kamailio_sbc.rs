//! A carrier behind its SBC, as carriers really connect: SIPp as the
//! carrier sends everything to Kamailio (`tests/kamailio/sbc.cfg`, a
//! record-routing proxy) in front of the switch; a SIPp agent answers. The
//! SBC must see every in-dialog request of the call (RFC 3261 §12.1.1: our
//! 200 echoes its Record-Route, and our requests use the route set): the
//! carrier's ACKs and re-INVITEs, and the BYE from either side. SIPp checks
//! the SDP each side receives: none of the far leg's `a=ssrc`, `cname`,
//! `label`, `rtcp-rsize`, `extmap` or `o=` line, our `o=` version raised per
//! changed answer, and a resume listing Opus first keeping PCMA. The
//! carrier's trunk is trusted: its P-Asserted-Identity and Privacy reach
//! the agent (RFC 3325).

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use support::kamailio::{self, Kamailio};
use support::{free_port_block, free_udp_port, sipp_register, test_config, Sipp, SwitchProc};

/// The agent hangs up once the carrier's re-INVITEs are done.
const AGENT_HANGS_UP: &str = r#"
  <pause milliseconds="2500"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:1001@[local_ip]:[local_port]>;tag=[pid]A[call_number]
      To: [$switch_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#;

/// The switch's BYE reaches the carrier through the SBC (its Via on top).
const CARRIER_TAKES_BYE: &str = r#"
  <recv request="BYE">
    <action>
      <ereg regexp="SIP/2.0/UDP @SBC@" search_in="hdr" header="Via:" check_it="true" assign_to="via"/>
    </action>
  </recv>
  <Reference variables="via"/>
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

/// The carrier hangs up along the route set.
const CARRIER_HANGS_UP: &str = r#"
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [routes]
      Call-ID: [call_id]
      CSeq: 4 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200"/>
"#;

const AGENT_TAKES_BYE: &str = r#"
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

/// Runs one call carrier → SBC → switch → agent; returns what the SBC saw
/// and the switch's SIP address.
fn call_through_sbc(name: &str, carrier_end: &str, agent_end: &str) -> (Vec<String>, String) {
    let Some(()) = kamailio::require() else {
        return (Vec::new(), String::new());
    };
    let block = free_port_block(6);
    let lo = block + block % 2;
    // The carrier's trunk is in our trust domain: its P-Asserted-Identity
    // and Privacy reach the agent (RFC 3325).
    let trunk = "name = \"demo-carrier\"\n";
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\n",
        test_config("10s", free_udp_port())
            .replace(trunk, &format!("{trunk}trust_identity = true\n")),
        lo + 3
    );
    let switch = SwitchProc::start(name, &config);
    let agent_port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", agent_port, 200);
    // The agent's SIPp holds its port before Kamailio picks one.
    let agent = Sipp::start(
        &switch.dir,
        "agent_sbc.xml",
        &[("@END@", agent_end)],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    let sbc = Kamailio::start(&switch.dir, switch.sip);
    let sbc_addr = sbc.addr.to_string();
    let carrier = Sipp::start(
        &switch.dir,
        "carrier_sbc.xml",
        &[("@END@", carrier_end), ("@SBC@", &sbc_addr)],
        &["-m", "1", "-s", "5550100"],
        Some(sbc.addr),
    );
    carrier.expect_success();
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    let seen = sbc.seen();
    eprintln!("the SBC saw:\n{}", seen.join("\n"));
    (seen, switch.sip.to_string())
}

fn count(seen: &[String], prefix: &str) -> usize {
    seen.iter().filter(|l| l.starts_with(prefix)).count()
}

#[test]
fn the_sbc_sees_the_carriers_ack_and_reinvites_and_the_switchs_bye() {
    let agent_end = AGENT_HANGS_UP;
    let (seen, switch) = call_through_sbc("kamailio-sbc-agent-bye", CARRIER_TAKES_BYE, agent_end);
    if seen.is_empty() && switch.is_empty() {
        return;
    }
    assert_eq!(count(&seen, "INVITE "), 3, "INVITE and two re-INVITEs");
    assert_eq!(count(&seen, "ACK "), 3, "an ACK for each");
    let byes: Vec<&String> = seen.iter().filter(|l| l.starts_with("BYE ")).collect();
    assert_eq!(byes.len(), 1, "{seen:?}");
    assert!(
        byes[0].ends_with(&format!("si={switch}")),
        "the switch's BYE to the carrier went through the SBC: {byes:?}"
    );
}

#[test]
fn the_sbc_sees_the_carriers_bye() {
    let (seen, switch) = call_through_sbc(
        "kamailio-sbc-carrier-bye",
        CARRIER_HANGS_UP,
        AGENT_TAKES_BYE,
    );
    if seen.is_empty() && switch.is_empty() {
        return;
    }
    assert_eq!(count(&seen, "INVITE "), 3);
    assert_eq!(count(&seen, "ACK "), 3);
    let byes: Vec<&String> = seen.iter().filter(|l| l.starts_with("BYE ")).collect();
    assert_eq!(byes.len(), 1, "{seen:?}");
    assert!(!byes[0].ends_with(&format!("si={switch}")), "{byes:?}");
}
