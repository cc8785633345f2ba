//! A carrier behind its SBC, as carriers really connect: SIPp as the
//! carrier sends everything to Kamailio (`tests/kamailio/sbc.cfg`, a
//! record-routing proxy) in front of the switch; a SIPp agent answers. The
//! SBC must see every in-dialog request of the call (RFC 3261 §12.1.1: our
//! 200 echoes its Record-Route, and our requests use the route set): the
//! carrier's ACKs and re-INVITEs, and the BYE from either side. SIPp checks
//! the SDP each side receives: none of the far leg's `a=ssrc`, `cname`,
//! `label`, `rtcp-rsize`, `extmap` or `o=` line, our `o=` version raised per
//! changed answer, and a resume listing Opus first keeping PCMA. On a call
//! out through the same kind of SBC, the carrier's 200 carries its
//! Record-Route and our ACK and BYE go back through it (§12.1.2). The
//! carrier's trunk is trusted: its P-Asserted-Identity and Privacy reach
//! the agent (RFC 3325).
//!
//! With media: the carrier's RTP goes straight to the switch while Kamailio
//! record-routes the signalling. The carrier (SIPp with `-rtp_echo`,
//! PCMA) sends back what it gets; the agent (PCMU at a test socket) hears
//! its own tone after the round trip through both transcoders (Goertzel),
//! and no packet is dropped.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::kamailio::{self, Kamailio};

use support::{
    assert_no_rtp_drops, free_port_block, free_udp_port, rtp_heard, send_tone, sipp_media_agent,
    sipp_register, test_config, tone_share, Phone, Sipp, SwitchProc, EVENT_TIMEOUT,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::sip::parse::HeaderName;

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
    assert_no_rtp_drops(&switch);
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

#[test]
fn a_call_out_through_the_carriers_sbc_sends_our_ack_and_bye_through_it() {
    let Some(()) = kamailio::require() else {
        return;
    };
    // The carrier: its UAS behind its SBC, which the switch's trunk points at.
    let dir = support::temp_dir("kamailio-sbc-out");
    let carrier_port = free_udp_port();
    let carrier_addr: std::net::SocketAddr = format!("127.0.0.1:{carrier_port}").parse().unwrap();
    let sbc = Kamailio::start(&dir, carrier_addr);
    let sbc_addr = sbc.addr.to_string();
    let carrier = Sipp::start(
        &dir,
        "carrier_uas.xml",
        &[("@SBC@", &sbc_addr)],
        &["-m", "1", "-p", &carrier_port.to_string()],
        None,
    );
    let block = free_port_block(6);
    let lo = block + block % 2;
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\n",
        test_config("10s", sbc.addr.port()),
        lo + 3
    );
    let switch = SwitchProc::start("kamailio-sbc-out", &config);
    let mut agent = Phone::new(switch.sip);
    let registered = agent.register("1002", "demo-1002", agent.addr, 3600);
    assert_eq!(registered.status(), Some(200));

    // Agent 1002 dials out (digest first), is answered, then hangs up.
    let uri = format!("sip:15557654321@{}", switch.sip);
    let sdp = format!(
        "v=0\r\no=agent 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ssrc:77 cname:sip:1002@127.0.0.1\r\n",
        agent.addr.port() + 2
    );
    let request = |agent: &mut Phone,
                   method: &str,
                   cseq: u32,
                   to: &str,
                   extra: &str,
                   body: &str| {
        let t = agent.token();
        let branch = format!("z9hG4bK{t}");
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        let text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:1002@{s}>;tag=agentout\r\nTo: {to}\r\nCall-ID: agent-out-sbc\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:1002@{a}>\r\n{extra}{ct}Content-Length: {len}\r\n\r\n{body}",
            a = agent.addr,
            s = switch.sip,
            len = body.len()
        );
        agent.send(text.as_bytes());
        branch
    };
    let to = format!("<{uri}>");
    let branch = request(&mut agent, "INVITE", 1, &to, "", &sdp);
    let challenge = agent.recv_final();
    assert_eq!(challenge.status(), Some(401));
    let ack = format!(
        "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch={branch};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:1002@{s}>;tag=agentout\r\nTo: {t}\r\nCall-ID: agent-out-sbc\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        a = agent.addr,
        s = switch.sip,
        t = challenge.to().as_str()
    );
    agent.send(ack.as_bytes());
    let www = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    let auth = switchyard::sip::auth::answer_challenge(
        &www,
        "INVITE",
        &uri,
        "1002",
        "demo-1002",
        1,
        &mut rng,
    )
    .unwrap();
    request(
        &mut agent,
        "INVITE",
        2,
        &to,
        &format!("Authorization: {auth}\r\n"),
        &sdp,
    );
    let ok = agent.recv_final();
    assert_eq!(ok.status(), Some(200));
    let answer = String::from_utf8(ok.body().to_vec()).unwrap();
    assert!(
        !answer.contains("ssrc") && !answer.contains("o=carrier"),
        "{answer}"
    );
    let dialog_to = ok.to().as_str().to_string();
    request(&mut agent, "ACK", 2, &dialog_to, "", "");
    request(&mut agent, "BYE", 3, &dialog_to, "", "");
    assert_eq!(agent.recv_final().status(), Some(200));
    carrier.expect_success();
    assert_no_rtp_drops(&switch);
    let seen = sbc.seen();
    let from_switch = format!("si={}", switch.sip);
    for method in ["INVITE", "ACK", "BYE"] {
        assert!(
            seen.iter()
                .any(|l| l.starts_with(method) && l.ends_with(&from_switch)),
            "the SBC saw no {method} from the switch: {seen:?}"
        );
    }
}

/// How long the echoing carrier stays on the call after its ACK.
const ECHO_CALL_MS: &str = "4000";
/// How long the agent talks, well inside the call.
const AGENT_TALKS: Duration = Duration::from_millis(2500);

#[test]
fn with_the_sbc_on_the_signalling_path_the_media_flows_through_the_switch_both_ways() {
    let Some(()) = kamailio::require() else {
        return;
    };
    let block = free_port_block(6);
    let lo = block + block % 2;
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\n",
        test_config("10s", free_udp_port()),
        lo + 3
    );
    let switch = SwitchProc::start("kamailio-sbc-media", &config);
    let agent_leg = lo + 2;
    let (agent, agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {agent_leg} RTP/AVP"));
    let sbc = Kamailio::start(&switch.dir, switch.sip);
    let sbc_addr = sbc.addr.to_string();
    // Without -rtp_echo the agent hears nothing back (checked by hand).
    let carrier = Sipp::start(
        &switch.dir,
        "carrier_sbc_echo.xml",
        &[("@SBC@", &sbc_addr), ("@TALK_MS@", ECHO_CALL_MS)],
        &["-m", "1", "-s", "5550100", "-rtp_echo"],
        Some(sbc.addr),
    );
    // Talk once the agent's 200 is ACKed: before that, the switch has no
    // agent leg to take the packets.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while !agent.messages().contains("ACK sip:") {
        assert!(Instant::now() < deadline, "the agent got no ACK");
        std::thread::sleep(Duration::from_millis(50));
    }
    let to_switch: SocketAddr = format!("127.0.0.1:{agent_leg}").parse().unwrap();
    let talker_sock = agent_rtp.try_clone().unwrap();
    let talker =
        std::thread::spawn(move || send_tone(&talker_sock, to_switch, 1000.0, AGENT_TALKS));
    let heard = rtp_heard(&agent_rtp, AGENT_TALKS);
    talker.join().unwrap();
    carrier.expect_success();
    agent.expect_success();

    // PCMU -> PCMA to the carrier, echoed, PCMA -> PCMU back to the agent.
    let pcm: Vec<i16> = heard
        .iter()
        .filter(|p| p[1] & 0x7f == 0)
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    let share = tone_share(&pcm, 1000.0, 8000);
    eprintln!(
        "the agent heard its 1 kHz back in {share:.2} of {} packets",
        heard.len()
    );
    assert!(
        heard.len() >= 80 && share > 0.8,
        "the agent hears its tone echoed by the carrier: {} packets, tone in {share:.2}",
        heard.len()
    );
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    assert_no_rtp_drops(&switch);
    // The signalling went through the SBC, the media did not: it saw the
    // INVITE, the ACK and the BYE, and nothing else of the call.
    let seen = sbc.seen();
    eprintln!("the SBC saw:\n{}", seen.join("\n"));
    assert_eq!(count(&seen, "INVITE "), 1, "{seen:?}");
    assert_eq!(count(&seen, "ACK "), 1, "{seen:?}");
    assert_eq!(count(&seen, "BYE "), 1, "{seen:?}");
    let metrics = switch.metrics();
    let relayed =
        support::metric_value(&metrics, "switchyard_rtp_packets_relayed_total").unwrap_or(0.0);
    assert!(
        relayed >= 200.0,
        "{relayed} RTP packets relayed by the switch"
    );
}
