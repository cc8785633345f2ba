//! Interop of the pure switch core with carriers and phones as they are,
//! in virtual time and without sockets: a carrier behind a record-routing
//! SBC and an agent behind a record-routing proxy (RFC 3261 §12.1: the
//! Record-Route is echoed and every in-dialog request follows the route
//! set), SDP that is the switch's own on each leg (no `a=ssrc`, `cname`,
//! `label`, `rtcp-rsize`… of the far leg; our `o=` line, its version raised
//! on every change and only then, RFC 3264 §8), re-offers answered with the
//! codec the leg really keeps, RFC 3325 identity from a trusted trunk only
//! and set by policy on calls out, `Require: replaces` taken, and RFC 5626
//! flows reused for calls to the phone.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use switchyard::config::Config;
use switchyard::media::sdp::{self, Codec, FormatKind};
use switchyard::sip::parse::{HeaderName, Message};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{MediaCommand, MediaLeg, Output, Plan, Switch};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-only"

[[agents]]
id = "1001"
password = "pw-1001"

[[trunks]]
name = "sbc"
allow_from = ["10.0.0.50"]
trust_identity = true

[[trunks]]
name = "other"
allow_from = ["10.0.0.1"]
outbound = { address = "10.0.0.99:5060" }
asserted_identity = "sip:+15550100@carrier.example"
privacy = "id"

[dids]
"5550100" = { agent = "1001" }

[media]
rtp_ports = "20000-20019"
rtp_address = "127.0.0.1"
"#;

const SBC: &str = "10.0.0.50:5060";
const AGENT: &str = "10.0.0.21:5060";
const AGENT_PROXY: &str = "10.0.0.60:5070";
/// What each leg says about its own stream and must not reach the other.
const LEAKS: [&str; 10] = [
    "ssrc",
    "cname",
    "label",
    "rtcp-rsize",
    "msid",
    "mid:",
    "ice-",
    "extmap",
    "carrier",
    "agent",
];

fn crlf(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

/// The carrier's offer, chatty as WebRTC gateways are; `formats` its `m=` list.
fn carrier_sdp(formats: &str, direction: &str) -> String {
    crlf(&[
        "v=0",
        "o=carrier 1 1 IN IP4 10.0.0.9",
        "s=-",
        "c=IN IP4 10.0.0.9",
        "t=0 0",
        "a=msid-semantic: WMS *",
        &format!("m=audio 4000 RTP/AVP {formats}"),
        "a=mid:0",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=rtcp-rsize",
        "a=ssrc:3735928559 cname:carrier-stream",
        "a=label:carrier-1",
        direction,
    ])
}

fn agent_sdp() -> String {
    crlf(&[
        "v=0",
        "o=agent 53655765 2353687637 IN IP4 10.0.0.21",
        "s=-",
        "c=IN IP4 10.0.0.21",
        "t=0 0",
        "m=audio 6000 RTP/AVP 8 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=ssrc:1234 cname:sip:1001@10.0.0.21",
        "a=label:agent-1",
        "a=rtcp-rsize",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=sendrecv",
    ])
}

fn peer(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

#[derive(Default)]
struct Out {
    sip: Vec<(SocketAddr, Message)>,
    media: Vec<MediaCommand>,
}

impl Out {
    fn to(&self, addr: &str) -> Vec<&Message> {
        self.sip
            .iter()
            .filter(|(a, _)| a.to_string() == addr)
            .map(|(_, m)| m)
            .collect()
    }

    fn response(&self, status: u16) -> &Message {
        self.sip
            .iter()
            .map(|(_, m)| m)
            .find(|m| m.status() == Some(status))
            .unwrap_or_else(|| panic!("no {status} in {:?}", self.statuses()))
    }

    fn statuses(&self) -> Vec<Option<u16>> {
        self.sip.iter().map(|(_, m)| m.status()).collect()
    }
}

fn drain(switch: &mut Switch) -> Out {
    let mut out = Out::default();
    while let Some(o) = switch.poll_output() {
        match o {
            Output::Transmit { peer, bytes } => {
                out.sip.push((peer.addr, Message::parse(bytes).unwrap()))
            }
            Output::Media(c) => out.media.push(c),
            Output::CallEnded(_) | Output::Event(_) => {}
            Output::Tx(c) => unreachable!("a core without shards holds its transactions: {c:?}"),
        }
    }
    out
}

/// A SIP message: start line, headers (one per line), SDP body if any.
fn msg(start: &str, headers: &[String], body: &str) -> Bytes {
    let mut m = format!("{start}\r\n");
    for h in headers {
        m.push_str(h);
        m.push_str("\r\n");
    }
    if !body.is_empty() {
        m.push_str("Content-Type: application/sdp\r\n");
    }
    m.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    Bytes::from(m)
}

fn body(m: &Message) -> String {
    String::from_utf8(m.body().to_vec()).unwrap()
}

fn header_lines(m: &Message, name: &str) -> Vec<String> {
    let name = HeaderName::parse(name.as_bytes());
    m.header_all(&name).map(str::to_string).collect()
}

/// `o=<user> <session> <version> …` of an SDP.
fn origin(sdp: &str) -> (String, u64, u64) {
    let o = sdp.lines().find_map(|l| l.strip_prefix("o=")).unwrap();
    let f: Vec<&str> = o.split(' ').collect();
    (
        f[0].to_string(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
    )
}

fn assert_clean(sdp: &str, who: &str) {
    for leak in LEAKS {
        assert!(!sdp.contains(leak), "{leak} reached {who}:\n{sdp}");
    }
}

/// Registers 1001 from `addr` with digest auth; `extra` headers and
/// `contact` as given. Returns the 200.
fn register(
    switch: &mut Switch,
    now: Instant,
    addr: &str,
    contact: &str,
    extra: &[String],
) -> Message {
    let head = |cseq: u32, auth: Option<String>| {
        let mut h = vec![
            format!("Via: SIP/2.0/UDP {addr};branch=z9hG4bKreg{cseq}"),
            "Max-Forwards: 70".into(),
            "From: <sip:1001@127.0.0.1>;tag=r1".into(),
            "To: <sip:1001@127.0.0.1>".into(),
            "Call-ID: reg-1001".into(),
            format!("CSeq: {cseq} REGISTER"),
            format!("Contact: {contact}"),
        ];
        h.extend(extra.iter().cloned());
        h.extend(auth.map(|a| format!("Authorization: {a}")));
        msg("REGISTER sip:127.0.0.1:5060 SIP/2.0", &h, "")
    };
    switch.handle_datagram(now, peer(addr), head(1, None));
    let out = drain(switch);
    let www = out
        .response(401)
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let auth = switchyard::sip::auth::answer_challenge(
        &www,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1001",
        "pw-1001",
        1,
        &mut rng,
    )
    .unwrap();
    switch.handle_datagram(now, peer(addr), head(2, Some(auth)));
    drain(switch).response(200).clone()
}

/// The carrier's INVITE through the SBC: two Vias, two Record-Routes.
fn carrier_invite(from: &str, extra: &[&str], sdp: &str) -> Bytes {
    let mut h = vec![
        format!("Via: SIP/2.0/UDP {from};branch=z9hG4bKsbc1"),
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKcarrier1".into(),
        "Record-Route: <sip:10.0.0.50;lr>".into(),
        "Record-Route: <sip:10.0.0.51:5070;lr;transport=udp>".into(),
        "Max-Forwards: 69".into(),
        "From: <sip:+15550001@carrier.example>;tag=c1".into(),
        "To: <sip:5550100@127.0.0.1>".into(),
        "Call-ID: interop-1".into(),
        "CSeq: 1 INVITE".into(),
        "Contact: <sip:+15550001@10.0.0.9:5060>".into(),
    ];
    h.extend(extra.iter().map(|s| s.to_string()));
    msg("INVITE sip:5550100@127.0.0.1:5060 SIP/2.0", &h, sdp)
}

/// An in-dialog request from the carrier, via the SBC.
fn carrier_in_dialog(method: &str, cseq: u32, to: &str, sdp: &str) -> Bytes {
    let h = vec![
        format!("Via: SIP/2.0/UDP {SBC};branch=z9hG4bKsbc{method}{cseq}"),
        format!("Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKc{method}{cseq}"),
        "Max-Forwards: 69".into(),
        "From: <sip:+15550001@carrier.example>;tag=c1".into(),
        format!("To: {to}"),
        "Call-ID: interop-1".into(),
        format!("CSeq: {cseq} {method}"),
        "Contact: <sip:+15550001@10.0.0.9:5060>".into(),
    ];
    msg(
        &format!("{method} sip:switchyard@127.0.0.1:5060 SIP/2.0"),
        &h,
        sdp,
    )
}

/// The agent's response to the switch's INVITE, through its proxy.
fn agent_response(invite: &Message, status: u16, sdp: &str) -> Bytes {
    let mut h: Vec<String> = vec![format!("Via: SIP/2.0/UDP {AGENT_PROXY};branch=z9hG4bKpx1")];
    h.extend(
        header_lines(invite, "Via")
            .iter()
            .map(|v| format!("Via: {v}")),
    );
    h.extend([
        "Record-Route: <sip:10.0.0.60:5070;lr>".to_string(),
        format!("From: {}", invite.from().as_str()),
        format!("To: {};tag=agent1", invite.to().as_str()),
        format!("Call-ID: {}", invite.call_id()),
        format!("CSeq: {} INVITE", invite.cseq().seq),
        format!("Contact: <sip:1001@{AGENT}>"),
    ]);
    // A proxy's Via is removed before the response reaches us.
    h.remove(0);
    let reason = if status == 200 { "OK" } else { "Ringing" };
    msg(&format!("SIP/2.0 {status} {reason}"), &h, sdp)
}

/// Sends a carrier re-INVITE and its ACK; returns our answer and the
/// relay commands it caused.
fn reoffer(
    switch: &mut Switch,
    now: Instant,
    cseq: u32,
    to: &str,
    sdp: &str,
) -> (String, Vec<MediaCommand>) {
    switch.handle_datagram(now, peer(SBC), carrier_in_dialog("INVITE", cseq, to, sdp));
    let out = drain(switch);
    let answer = body(out.response(200));
    switch.handle_datagram(now, peer(SBC), carrier_in_dialog("ACK", cseq, to, ""));
    drain(switch);
    (answer, out.media)
}

fn set_remote_codec(media: &[MediaCommand]) -> Option<(Codec, u8)> {
    media.iter().find_map(|c| match c {
        MediaCommand::SetRemote {
            leg: MediaLeg::Caller,
            remote,
            ..
        } => Some((remote.codec, remote.codec_pt)),
        _ => None,
    })
}

fn bridges(media: &[MediaCommand]) -> usize {
    media
        .iter()
        .filter(|c| matches!(c, MediaCommand::Bridge { .. }))
        .count()
}

#[test]
fn an_sbc_and_a_proxy_see_every_in_dialog_request_and_each_leg_gets_only_our_sdp() {
    let cfg = Config::parse(CONFIG, Path::new("interop.toml")).unwrap();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = Switch::new(Plan::from_config(&cfg), 5, t0);
    register(&mut switch, t0, AGENT, &format!("<sip:1001@{AGENT}>"), &[]);

    let pai = "P-Asserted-Identity: <sip:+15550001@carrier.example>";
    let offer = carrier_sdp("8 0 111 101", "a=sendrecv");
    switch.handle_datagram(
        at(10),
        peer(SBC),
        carrier_invite(SBC, &[pai, "Privacy: id"], &offer),
    );
    let out = drain(&mut switch);
    let invite = *out
        .to(AGENT)
        .first()
        .expect("the agent is offered the call");
    let offer_b = body(invite);
    assert_clean(&offer_b, "the agent");
    assert_eq!(origin(&offer_b).0, "switchyard");
    // A trusted trunk's identity reaches the agent (RFC 3325 §9.1).
    assert_eq!(
        header_lines(invite, "P-Asserted-Identity"),
        vec!["<sip:+15550001@carrier.example>"]
    );
    assert_eq!(header_lines(invite, "Privacy"), vec!["id"]);
    assert_eq!(header_lines(invite, "Supported"), vec!["replaces"]);

    let record_routes = vec![
        "<sip:10.0.0.50;lr>".to_string(),
        "<sip:10.0.0.51:5070;lr;transport=udp>".to_string(),
    ];
    switch.handle_datagram(at(100), peer(AGENT_PROXY), agent_response(invite, 180, ""));
    let out = drain(&mut switch);
    assert_eq!(
        header_lines(out.response(180), "Record-Route"),
        record_routes
    );

    switch.handle_datagram(
        at(2_000),
        peer(AGENT_PROXY),
        agent_response(invite, 200, &agent_sdp()),
    );
    let out = drain(&mut switch);
    let ok = out.response(200);
    assert_eq!(
        header_lines(ok, "Record-Route"),
        record_routes,
        "RFC 3261 §12.1.1"
    );
    let answer = body(ok);
    assert_clean(&answer, "the carrier");
    let (user, session, version) = origin(&answer);
    assert_eq!((user.as_str(), version), ("switchyard", 1));
    assert_ne!(session, origin(&offer_b).1, "each leg its own session");
    assert!(
        answer.contains("m=audio 20000 RTP/AVP 8 101\r\n"),
        "{answer}"
    );
    // The ACK to the agent goes through its proxy (route set reversed, §12.1.2).
    let ack = out.to(AGENT_PROXY);
    assert_eq!(ack.len(), 1, "the ACK is sent to the proxy: {:?}", out.sip);
    assert_eq!(ack[0].method().map(|m| m.as_str()), Some("ACK"));
    assert_eq!(
        header_lines(ack[0], "Route"),
        vec!["<sip:10.0.0.60:5070;lr>"]
    );
    assert_eq!(
        ack[0].request_uri().unwrap().as_str(),
        format!("sip:1001@{AGENT}")
    );
    let to = ok.to().as_str().to_string();
    switch.handle_datagram(at(2_010), peer(SBC), carrier_in_dialog("ACK", 1, &to, ""));
    drain(&mut switch);

    // Hold: answered recvonly, the version goes up once.
    let (held, _) = reoffer(
        &mut switch,
        at(3_000),
        2,
        &to,
        &carrier_sdp("8 0 111 101", "a=sendonly"),
    );
    assert!(held.contains("a=recvonly"), "{held}");
    assert_eq!(origin(&held).2, 2);
    assert_clean(&held, "the carrier");
    // Resume with Opus listed first: the leg keeps PCMA, answer and relay alike.
    let (resumed, media) = reoffer(
        &mut switch,
        at(4_000),
        3,
        &to,
        &carrier_sdp("111 0 8 101", "a=sendrecv"),
    );
    assert!(
        resumed.contains("m=audio 20000 RTP/AVP 8 101\r\n"),
        "{resumed}"
    );
    assert_eq!(origin(&resumed).2, 3);
    assert_eq!(set_remote_codec(&media), Some((Codec::Pcma, 8)));
    assert_eq!(bridges(&media), 1, "resumed: bridged again");
    // The same offer again (a session refresh): the same answer, same version.
    let (refreshed, media) = reoffer(
        &mut switch,
        at(5_000),
        4,
        &to,
        &carrier_sdp("111 0 8 101", "a=sendrecv"),
    );
    assert_eq!(refreshed, resumed);
    assert_eq!(bridges(&media), 0);
    // An UPDATE with an offer (RFC 3311) is answered like a re-INVITE:
    // the same SDP again, the same version.
    switch.handle_datagram(
        at(5_500),
        peer(SBC),
        carrier_in_dialog("UPDATE", 5, &to, &carrier_sdp("111 0 8 101", "a=sendrecv")),
    );
    let out = drain(&mut switch);
    assert_eq!(body(out.response(200)), resumed);
    // PCMA dropped: the leg moves to PCMU and the relay re-bridges to transcode.
    let (moved, media) = reoffer(
        &mut switch,
        at(6_000),
        6,
        &to,
        &carrier_sdp("0 101", "a=sendrecv"),
    );
    assert!(moved.contains("m=audio 20000 RTP/AVP 0 101\r\n"), "{moved}");
    assert_eq!(origin(&moved).2, 4);
    assert_eq!(set_remote_codec(&media), Some((Codec::Pcmu, 0)));
    assert_eq!(bridges(&media), 1);
    let parsed = sdp::parse(&moved).unwrap();
    assert_eq!(parsed.codecs[0].kind, FormatKind::Audio(Codec::Pcmu));

    // The agent hangs up (through its proxy): our BYE to the carrier takes
    // the SBC's route set in order (§12.1.1) to the carrier's Contact.
    let bye = vec![
        format!("Via: SIP/2.0/UDP {AGENT_PROXY};branch=z9hG4bKpxbye"),
        format!("Via: SIP/2.0/UDP {AGENT};branch=z9hG4bKagentbye"),
        format!("From: {};tag=agent1", invite.to().as_str()),
        format!("To: {}", invite.from().as_str()),
        format!("Call-ID: {}", invite.call_id()),
        "CSeq: 2 BYE".into(),
    ];
    let bye = msg("BYE sip:switchyard@127.0.0.1:5060 SIP/2.0", &bye, "");
    switch.handle_datagram(at(7_000), peer(AGENT_PROXY), bye);
    let out = drain(&mut switch);
    let to_sbc = out.to(SBC);
    let bye = to_sbc
        .iter()
        .find(|m| m.method().is_some_and(|m| m.as_str() == "BYE"))
        .expect("the carrier's BYE goes to the SBC");
    assert_eq!(header_lines(bye, "Route"), record_routes);
    assert_eq!(
        bye.request_uri().unwrap().as_str(),
        "sip:+15550001@10.0.0.9:5060"
    );
}

#[test]
fn an_untrusted_trunks_identity_is_dropped_and_our_bye_to_the_agent_takes_its_proxy() {
    let cfg = Config::parse(CONFIG, Path::new("interop.toml")).unwrap();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = Switch::new(Plan::from_config(&cfg), 6, t0);
    register(&mut switch, t0, AGENT, &format!("<sip:1001@{AGENT}>"), &[]);
    let carrier = "10.0.0.1:5060";
    let forged = [
        "P-Asserted-Identity: <sip:ceo@bank.example>",
        "Remote-Party-ID: <sip:ceo@bank.example>;party=calling;screen=yes",
    ];
    let invite = carrier_invite(carrier, &forged, &carrier_sdp("0 101", "a=sendrecv"));
    switch.handle_datagram(at(10), peer(carrier), invite);
    let out = drain(&mut switch);
    let invite = *out
        .to(AGENT)
        .first()
        .expect("the agent is offered the call");
    for h in ["P-Asserted-Identity", "Remote-Party-ID", "Privacy"] {
        assert!(
            header_lines(invite, h).is_empty(),
            "{h} passed from an untrusted trunk"
        );
    }
    switch.handle_datagram(
        at(1_000),
        peer(AGENT_PROXY),
        agent_response(invite, 200, &agent_sdp()),
    );
    let out = drain(&mut switch);
    let to = out.response(200).to().as_str().to_string();
    let ack = carrier_in_dialog("ACK", 1, &to, "");
    let ack = String::from_utf8(ack.to_vec())
        .unwrap()
        .replace(SBC, carrier);
    switch.handle_datagram(at(1_010), peer(carrier), Bytes::from(ack));
    drain(&mut switch);
    let bye = carrier_in_dialog("BYE", 2, &to, "");
    let bye = String::from_utf8(bye.to_vec())
        .unwrap()
        .replace(SBC, carrier);
    switch.handle_datagram(at(2_000), peer(carrier), Bytes::from(bye));
    let out = drain(&mut switch);
    let to_proxy = out.to(AGENT_PROXY);
    let bye = to_proxy
        .iter()
        .find(|m| m.method().is_some_and(|m| m.as_str() == "BYE"))
        .unwrap_or_else(|| panic!("the agent's BYE goes to its proxy: {:?}", out.sip));
    assert_eq!(header_lines(bye, "Route"), vec!["<sip:10.0.0.60:5070;lr>"]);
    assert_eq!(
        bye.request_uri().unwrap().as_str(),
        format!("sip:1001@{AGENT}")
    );
}

#[test]
fn a_phone_registered_with_outbound_is_called_over_its_flow() {
    let cfg = Config::parse(CONFIG, Path::new("interop.toml")).unwrap();
    let t0 = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
    // The phone's Contact names an address nobody can reach (behind NAT);
    // its flow is where its REGISTER came from (RFC 5626 §5.3).
    let flow = "192.0.2.77:40123";
    let instance = "\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
    let contact = format!("<sip:1001@10.9.9.9:5060;ob>;+sip.instance={instance};reg-id=1");
    let ok = register(
        &mut switch,
        t0,
        flow,
        &contact,
        &["Supported: outbound, path".into()],
    );
    assert_eq!(header_lines(&ok, "Require"), vec!["outbound"]);
    let bound = header_lines(&ok, "Contact");
    assert!(
        bound[0].contains("reg-id=1") && bound[0].contains("+sip.instance="),
        "{bound:?}"
    );
    let invite = carrier_invite(SBC, &[], &carrier_sdp("0 101", "a=sendrecv"));
    switch.handle_datagram(t0 + Duration::from_millis(10), peer(SBC), invite);
    let out = drain(&mut switch);
    let invite = out.to(flow);
    assert_eq!(invite.len(), 1, "the INVITE takes the flow: {:?}", out.sip);
    assert_eq!(
        invite[0].request_uri().unwrap().as_str(),
        "sip:1001@10.9.9.9:5060;ob"
    );
}

#[test]
fn calls_out_carry_the_trunks_identity_and_replaces_is_understood() {
    let cfg = Config::parse(CONFIG, Path::new("interop.toml")).unwrap();
    let t0 = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), 8, t0);
    register(&mut switch, t0, AGENT, &format!("<sip:1001@{AGENT}>"), &[]);
    // Agent 1001 dials out; its phone's own identity headers count for nothing.
    let invite = |cseq: u32, auth: Option<String>| {
        let mut h = vec![
            format!("Via: SIP/2.0/UDP {AGENT};branch=z9hG4bKout{cseq}"),
            "Max-Forwards: 70".into(),
            "From: <sip:1001@127.0.0.1>;tag=a1".into(),
            "To: <sip:0123456789@127.0.0.1>".into(),
            "Call-ID: out-1".into(),
            format!("CSeq: {cseq} INVITE"),
            format!("Contact: <sip:1001@{AGENT}>"),
            "P-Asserted-Identity: <sip:ceo@bank.example>".into(),
            "Privacy: none".into(),
            "Supported: replaces".into(),
        ];
        h.extend(auth.map(|a| format!("Authorization: {a}")));
        msg(
            "INVITE sip:0123456789@127.0.0.1:5060 SIP/2.0",
            &h,
            &carrier_sdp("0 101", "a=sendrecv"),
        )
    };
    switch.handle_datagram(t0, peer(AGENT), invite(1, None));
    let out = drain(&mut switch);
    let challenge = out.response(401);
    let www = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let ack = vec![
        format!("Via: SIP/2.0/UDP {AGENT};branch=z9hG4bKout1"),
        "From: <sip:1001@127.0.0.1>;tag=a1".into(),
        format!("To: {}", challenge.to().as_str()),
        "Call-ID: out-1".into(),
        "CSeq: 1 ACK".into(),
    ];
    switch.handle_datagram(
        t0,
        peer(AGENT),
        msg("ACK sip:0123456789@127.0.0.1:5060 SIP/2.0", &ack, ""),
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let uri = "sip:0123456789@127.0.0.1:5060";
    let auth = switchyard::sip::auth::answer_challenge(
        &www, "INVITE", uri, "1001", "pw-1001", 1, &mut rng,
    )
    .unwrap();
    switch.handle_datagram(t0, peer(AGENT), invite(2, Some(auth)));
    let out = drain(&mut switch);
    let to_carrier = out.to("10.0.0.99:5060");
    let invite = to_carrier
        .first()
        .expect("the call goes out to the carrier");
    assert_eq!(
        header_lines(invite, "P-Asserted-Identity"),
        vec!["<sip:+15550100@carrier.example>"]
    );
    assert_eq!(header_lines(invite, "Privacy"), vec!["id"]);

    // A carrier's INVITE that requires `replaces` is taken, not refused 420.
    let invite = carrier_invite(
        SBC,
        &["Require: replaces"],
        &carrier_sdp("0 101", "a=sendrecv"),
    );
    switch.handle_datagram(t0 + Duration::from_secs(1), peer(SBC), invite);
    let out = drain(&mut switch);
    assert!(
        out.statuses().iter().all(|s| *s != Some(420)),
        "{:?}",
        out.statuses()
    );
    assert_eq!(out.response(100).call_id(), "interop-1");
}
