//! Originate (click-to-call) on the pure switch core, in virtual time:
//! `Command::Originate` rings agent 1001's phone with the switch's own SDP,
//! the agent is busy for the router from then on, and once they answer
//! the number is dialled through the outbound trunk; the relay bridges the
//! two when it answers. Every way it can end is checked: either side hangs
//! up, the agent does not answer or refuses, the trunk refuses or never
//! answers, a command hangs up in each phase. Each ends with one record
//! naming the agent, the trunk and the outcome, and the agent available.

#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard::call::{CallUuid, Outcome, Side};
use switchyard::config::Config;
use switchyard::media::sdp::Codec;
use switchyard::sip::parse::{HeaderName, Message, Method};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{
    CallRecord, Command, CommandError, EventKind, MediaCommand, MediaLeg, Output, Plan, Reply,
    Switch,
};

const AGENT: &str = "192.0.2.11:5070";
const OTHER_AGENT: &str = "192.0.2.12:5070";
const TRUNK: &str = "10.0.0.2:5060";
const CUSTOMER: &str = "10.0.0.1:5060";
const NUMBER: &str = "5551234";
/// The agent answers in PCMU, the trunk in PCMA: the relay transcodes.
const AGENT_SDP: &str = "v=0\r\no=phone 7 7 IN IP4 192.0.2.11\r\ns=-\r\nc=IN IP4 192.0.2.11\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const TRUNK_SDP: &str = "v=0\r\no=carrier 9 9 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
const STEPS_MAX: usize = 10_000;

fn config(ring: &str, outbound: bool, media: bool) -> String {
    let outbound = if outbound {
        format!("outbound = {{ address = \"{TRUNK}\", transport = \"udp\" }}")
    } else {
        String::new()
    };
    let mut text = format!(
        r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-first"
no_answer_timeout = "{ring}"

[[agents]]
id = "1001"
password = "pw-1001"
auto_login = true
skills = {{ support = 9 }}

[[agents]]
id = "1002"
password = "pw-1002"
auto_login = true
skills = {{ support = 4 }}

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.0/8"]
{outbound}

[dids]
"5550200" = {{ queue = "support" }}

[[queues]]
name = "support"
requires = "support:1"
strategy = "most-skilled"
ring_timeout = "8s"
wrap_up = "0s"
"#
    );
    if media {
        text.push_str("\n[media]\nrtp_ports = \"20000-20019\"\nrtp_address = \"127.0.0.1\"\n");
    }
    text
}

struct Sim {
    switch: Switch,
    now: Instant,
    /// Sent by the switch and not yet looked at.
    outbox: Vec<(SocketAddr, Message)>,
    media: Vec<MediaCommand>,
    events: Vec<EventKind>,
    records: Vec<CallRecord>,
}

impl Sim {
    fn new(config: &str) -> Sim {
        let cfg = Config::parse(config, Path::new("sim.toml")).expect("valid config");
        let now = Instant::now();
        Sim {
            switch: Switch::new(Plan::from_config(&cfg), 7, now),
            now,
            outbox: Vec::new(),
            media: Vec::new(),
            events: Vec::new(),
            records: Vec::new(),
        }
    }

    /// The usual switch: ring timeout 20 s, a trunk out, anchored media,
    /// agent 1001 registered.
    fn started() -> Sim {
        let mut sim = Sim::new(&config("20s", true, true));
        sim.register("1001", AGENT);
        sim
    }

    fn send(&mut self, from: &str, text: String) {
        let peer = Peer {
            transport: Transport::Udp,
            addr: from.parse().unwrap(),
        };
        self.switch
            .handle_datagram(self.now, peer, Bytes::from(text));
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.switch.poll_output() {
            match out {
                Output::Transmit { peer, bytes } => {
                    self.outbox
                        .push((peer.addr, Message::parse(bytes).expect("we send valid SIP")));
                }
                Output::Media(c) => self.media.push(c),
                Output::Event(e) => self.events.push(e.kind),
                Output::CallEnded(r) => self.records.push(r),
            }
        }
    }

    /// Runs the switch's timers up to `now + by`, deadline by deadline.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        for _ in 0..STEPS_MAX {
            match self.switch.poll_timeout() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.switch.handle_timeout(self.now);
                    self.drain();
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("timers did not settle in {STEPS_MAX} steps");
    }

    /// Takes the first message to `to` that `pred` accepts; panics if none.
    fn take(&mut self, to: &str, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        let to: SocketAddr = to.parse().unwrap();
        let Some(i) = self.outbox.iter().position(|(a, m)| *a == to && pred(m)) else {
            panic!("no {what} to {to}; outbox: {:#?}", self.outbox);
        };
        self.outbox.remove(i).1
    }

    fn take_request(&mut self, to: &str, method: Method) -> Message {
        let what = format!("{method:?}");
        self.take(to, &what, |m| m.method() == Some(&method))
    }

    fn take_status(&mut self, to: &str, status: u16) -> Message {
        self.take(to, &status.to_string(), |m| m.status() == Some(status))
    }

    /// Nothing was sent to `to` (beyond what was taken).
    fn quiet(&self, to: &str) -> bool {
        let to: SocketAddr = to.parse().unwrap();
        !self.outbox.iter().any(|(a, _)| *a == to)
    }

    fn register(&mut self, user: &str, phone: &str) {
        let aor = format!("<sip:{user}@127.0.0.1:5060>");
        let reg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {phone};branch=z9hG4bKreg{user}{cseq}\r\n\
                 Max-Forwards: 70\r\nFrom: {aor};tag=r{user}\r\nTo: {aor}\r\nCall-ID: reg-{user}\r\n\
                 CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{phone}>\r\nExpires: 3600\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        self.send(phone, reg(1, ""));
        let challenge = self.take_status(phone, 401);
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let value = switchyard::sip::auth::answer_challenge(
            challenge.header(&HeaderName::WwwAuthenticate).unwrap(),
            "REGISTER",
            "sip:127.0.0.1:5060",
            user,
            &format!("pw-{user}"),
            1,
            &mut rng,
        )
        .unwrap();
        self.send(phone, reg(2, &format!("Authorization: {value}\r\n")));
        self.take_status(phone, 200);
    }

    fn originate(&mut self, agent: &str) -> Result<CallUuid, CommandError> {
        let command = Command::Originate {
            agent: agent.into(),
            number: NUMBER.into(),
        };
        let reply = self.switch.handle_command(self.now, command);
        self.drain();
        reply.map(|r| match r {
            Reply::Originated { call } => call,
            other => panic!("originate replied {other:?}"),
        })
    }

    fn command(&mut self, command: Command) {
        assert_eq!(
            self.switch.handle_command(self.now, command),
            Ok(Reply::Done)
        );
        self.drain();
    }

    fn agent_state(&mut self, agent: &str) -> &'static str {
        match self.switch.handle_command(self.now, Command::ListAgents) {
            Ok(Reply::Agents { agents }) => {
                agents.into_iter().find(|a| a.id == agent).unwrap().state
            }
            other => panic!("{other:?}"),
        }
    }

    fn phase(&mut self) -> &'static str {
        match self.switch.handle_command(self.now, Command::ListCalls) {
            Ok(Reply::Calls { calls }) => calls[0].phase,
            other => panic!("{other:?}"),
        }
    }

    /// Answers `status` to `req` from `from`, the phone's tag on it.
    fn answer(&mut self, from: &str, req: &Message, status: u16, sdp: &str) {
        self.send(from, response(req, status, from, sdp));
    }

    /// A request in the dialog that `req` (ours, to `from`) opened, which
    /// `from` answered: From and To swapped.
    fn request_back(&mut self, from: &str, req: &Message, method: &str, cseq: u32) {
        self.request_back_with(from, req, method, cseq, "");
    }

    /// As `request_back`, with `extra` header lines.
    fn request_back_with(
        &mut self,
        from: &str,
        req: &Message,
        method: &str,
        cseq: u32,
        extra: &str,
    ) {
        let to_tag = format!("t{}", tag_of(from));
        let uri = req
            .header(&HeaderName::Contact)
            .map(|c| c.trim_matches(|ch| ch == '<' || ch == '>').to_string())
            .unwrap_or_else(|| "sip:switchyard@127.0.0.1:5060".into());
        let text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{method}{cseq}{}\r\n\
             Max-Forwards: 70\r\nFrom: {};tag={to_tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
             {extra}Content-Length: 0\r\n\r\n",
            tag_of(from),
            req.to().as_str(),
            req.from().as_str(),
            req.call_id(),
        );
        self.send(from, text);
    }

    /// The agent's phone rings and answers; returns the switch's INVITE.
    fn agent_answers(&mut self) -> Message {
        let invite = self.take_request(AGENT, Method::Invite);
        self.answer(AGENT, &invite, 180, "");
        self.answer(AGENT, &invite, 200, AGENT_SDP);
        self.take_request(AGENT, Method::Ack);
        invite
    }

    fn record(&self) -> &CallRecord {
        assert_eq!(self.records.len(), 1, "one record: {:?}", self.records);
        &self.records[0]
    }

    /// The call's event types, in order.
    fn event_types(&self, call: CallUuid) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.call() == Some(call) && !matches!(e, EventKind::AgentState { .. }))
            .map(|e| {
                serde_json::to_value(e).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }
}

fn tag_of(addr: &str) -> String {
    addr.replace(['.', ':'], "")
}

fn response(req: &Message, status: u16, from: &str, sdp: &str) -> String {
    let mut out = format!("SIP/2.0 {status} X\r\n");
    for via in req.header_all(&HeaderName::Via) {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    let to = match req.to().tag() {
        Some(_) => req.to().as_str().to_string(),
        None => format!("{};tag=t{}", req.to().as_str(), tag_of(from)),
    };
    let ct = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {}\r\nContact: <sip:phone@{from}>\r\n{ct}Content-Length: {}\r\n\r\n{sdp}",
        req.from().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        sdp.len()
    ));
    out
}

fn body(msg: &Message) -> String {
    String::from_utf8_lossy(msg.body()).to_string()
}

/// Up to the trunk's INVITE: originated, the agent answered.
fn dialling() -> (Sim, CallUuid, Message, Message) {
    let mut sim = Sim::started();
    let call = sim.originate("1001").expect("placed");
    let agent_invite = sim.agent_answers();
    let trunk_invite = sim.take_request(TRUNK, Method::Invite);
    (sim, call, agent_invite, trunk_invite)
}

/// Up to the talk: the trunk answered too.
fn talking() -> (Sim, CallUuid, Message, Message) {
    let (mut sim, call, agent_invite, trunk_invite) = dialling();
    sim.answer(TRUNK, &trunk_invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    (sim, call, agent_invite, trunk_invite)
}

#[test]
fn the_agent_is_rung_with_our_sdp_then_the_number_is_dialled_and_bridged_until_it_hangs_up() {
    let mut sim = Sim::started();
    let call = sim.originate("1001").expect("placed");
    // The agent's phone rings with our offer; the number waits for them.
    let invite = sim.take_request(AGENT, Method::Invite);
    assert_eq!(
        invite.request_uri().unwrap().as_str(),
        format!("sip:1001@{AGENT}")
    );
    assert_eq!(invite.from().uri().user(), Some(NUMBER));
    let offer = body(&invite);
    assert!(
        offer.contains("o=switchyard ") && offer.contains("c=IN IP4 127.0.0.1"),
        "{offer}"
    );
    assert!(sim.quiet(TRUNK));
    assert_eq!(sim.agent_state("1001"), "busy");
    assert_eq!(sim.phase(), "ringing");

    sim.answer(AGENT, &invite, 180, "");
    assert!(sim.quiet(TRUNK), "a ringing agent dials nothing yet");
    sim.answer(AGENT, &invite, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    // A repeated 2xx (our ACK lost) is ACKed again, not taken for a stray.
    sim.answer(AGENT, &invite, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    assert!(sim.quiet(AGENT), "no BYE to the agent: {:?}", sim.outbox);

    let out = sim.take_request(TRUNK, Method::Invite);
    assert_eq!(
        out.request_uri().unwrap().as_str(),
        format!("sip:{NUMBER}@{TRUNK}")
    );
    assert_eq!(out.from().uri().user(), Some("1001"));
    let number_offer = body(&out);
    assert!(number_offer.contains("o=switchyard "), "{number_offer}");
    assert!(
        !number_offer.contains("o=phone"),
        "the agent's SDP stays theirs"
    );
    assert!(
        number_offer.contains("m=audio 2000") && number_offer.contains(" RTP/AVP 0 "),
        "the agent's codec first: {number_offer}"
    );
    assert_eq!(sim.phase(), "dialling");
    // The agent's leg points at their phone and hears ringback.
    let agent_remote = sim.media.iter().find_map(|c| match c {
        MediaCommand::SetRemote {
            leg: MediaLeg::Caller,
            remote,
            ..
        } if remote.rtp.is_some() => Some(*remote),
        _ => None,
    });
    let agent_remote = agent_remote.expect("the agent's remote");
    assert_eq!(agent_remote.rtp, Some("192.0.2.11:4000".parse().unwrap()));
    assert!(sim.media.iter().any(|c| matches!(
        c,
        MediaCommand::Play { leg: MediaLeg::Caller, music, .. } if music == &["ringback"]
    )));
    assert!(!sim
        .media
        .iter()
        .any(|c| matches!(c, MediaCommand::Bridge { .. })));

    sim.answer(TRUNK, &out, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    let trunk_remote = sim.media.iter().rev().find_map(|c| match c {
        MediaCommand::SetRemote {
            leg: MediaLeg::Agent,
            remote,
            ..
        } => Some(*remote),
        _ => None,
    });
    assert_eq!(trunk_remote.map(|r| r.codec), Some(Codec::Pcma));
    assert!(matches!(
        sim.media.last(),
        Some(MediaCommand::Bridge { .. })
    ));
    assert_eq!(sim.phase(), "talking");

    sim.advance(Duration::from_secs(30));
    sim.request_back(TRUNK, &out, "BYE", 2);
    sim.take_status(TRUNK, 200);
    let bye = sim.take_request(AGENT, Method::Bye);
    assert_eq!(bye.call_id(), invite.call_id());
    assert!(sim.records.is_empty(), "the agent's leg is still up");
    sim.answer(AGENT, &bye, 200, "");

    let r = sim.record();
    assert_eq!(r.uuid, call);
    assert_eq!(
        r.outcome,
        Outcome::Completed {
            hung_up_by: Side::B
        }
    );
    assert_eq!(
        (r.agent.as_deref(), r.trunk.as_deref(), r.dialled.as_str()),
        (Some("1001"), Some("carrier"), NUMBER)
    );
    assert_eq!(r.sip_call_id, invite.call_id());
    assert_eq!(r.talk, Duration::from_secs(30));
    assert!(sim
        .media
        .iter()
        .any(|c| matches!(c, MediaCommand::Release { .. })));
    assert_eq!(
        sim.event_types(call),
        [
            "call_originated",
            "call_offered",
            "call_dialling",
            "call_answered",
            "call_ended"
        ]
    );
    assert_eq!(sim.agent_state("1001"), "available");
    assert_eq!(sim.switch.calls_active(), 0);
}

#[test]
fn the_agent_hanging_up_ends_the_number_too() {
    let (mut sim, call, agent_invite, trunk_invite) = talking();
    sim.request_back(AGENT, &agent_invite, "BYE", 2);
    sim.take_status(AGENT, 200);
    let bye = sim.take_request(TRUNK, Method::Bye);
    assert_eq!(bye.call_id(), trunk_invite.call_id());
    sim.answer(TRUNK, &bye, 200, "");
    let r = sim.record();
    assert_eq!(
        (r.uuid, r.outcome),
        (
            call,
            Outcome::Completed {
                hung_up_by: Side::A
            }
        )
    );
    assert_eq!(sim.agent_state("1001"), "available");
}

#[test]
fn an_agent_who_does_not_answer_in_time_or_refuses_ends_the_call_with_a_record() {
    let mut sim = Sim::started();
    let call = sim.originate("1001").unwrap();
    let invite = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &invite, 180, "");
    sim.advance(Duration::from_millis(19_999));
    assert!(sim.quiet(AGENT) && sim.records.is_empty());
    sim.advance(Duration::from_millis(1));
    sim.take_request(AGENT, Method::Cancel);
    let r = sim.record();
    assert_eq!((r.uuid, r.outcome), (call, Outcome::AgentNoAnswer));
    assert_eq!(r.outcome.label(), "agent_no_answer");
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert_eq!(r.sip_call_id, invite.call_id());
    assert!(sim.quiet(TRUNK));
    assert_eq!(sim.agent_state("1001"), "available", "no miss is counted");

    let mut sim = Sim::started();
    let call = sim.originate("1001").unwrap();
    let invite = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &invite, 603, "");
    sim.take_request(AGENT, Method::Ack);
    let r = sim.record();
    assert_eq!((r.uuid, r.outcome), (call, Outcome::AgentRejected(603)));
    assert!(sim.quiet(TRUNK));
    assert_eq!(sim.agent_state("1001"), "available");
    assert_eq!(
        sim.event_types(call).last().map(String::as_str),
        Some("call_ended")
    );
}

#[test]
fn the_number_refusing_hangs_up_the_agent_with_the_status_in_the_record() {
    for (status, outcome) in [(486, Outcome::Busy), (503, Outcome::Rejected(503))] {
        let (mut sim, call, agent_invite, trunk_invite) = dialling();
        sim.answer(TRUNK, &trunk_invite, 100, "");
        sim.answer(TRUNK, &trunk_invite, status, "");
        sim.take_request(TRUNK, Method::Ack);
        let bye = sim.take_request(AGENT, Method::Bye);
        assert_eq!(bye.call_id(), agent_invite.call_id());
        sim.answer(AGENT, &bye, 200, "");
        let r = sim.record();
        assert_eq!((r.uuid, r.outcome), (call, outcome), "{status}");
        assert_eq!(r.trunk.as_deref(), Some("carrier"));
        assert_eq!(sim.agent_state("1001"), "available");
    }
}

#[test]
fn a_number_that_rings_too_long_or_never_answers_hangs_up_the_agent() {
    // It rings past the ring timeout: CANCEL, then BYE to the agent.
    let (mut sim, call, _, trunk_invite) = dialling();
    sim.answer(TRUNK, &trunk_invite, 180, "");
    sim.advance(Duration::from_secs(20));
    sim.take_request(TRUNK, Method::Cancel);
    let bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &bye, 200, "");
    assert_eq!(
        (sim.record().uuid, sim.record().outcome),
        (call, Outcome::NoAnswer)
    );

    // The trunk says nothing at all: Timer B (64 × T1 = 32 s) ends it.
    let mut sim = Sim::new(&config("60s", true, true));
    sim.register("1001", AGENT);
    let call = sim.originate("1001").unwrap();
    let agent_invite = sim.agent_answers();
    sim.take_request(TRUNK, Method::Invite);
    sim.advance(Duration::from_millis(31_999));
    assert!(sim.quiet(AGENT), "{:?}", sim.outbox);
    sim.advance(Duration::from_millis(1));
    let bye = sim.take_request(AGENT, Method::Bye);
    assert_eq!(bye.call_id(), agent_invite.call_id());
    sim.answer(AGENT, &bye, 200, "");
    assert_eq!(
        (sim.record().uuid, sim.record().outcome),
        (call, Outcome::NoAnswer)
    );
    assert_eq!(sim.agent_state("1001"), "available");
}

#[test]
fn a_hang_up_command_ends_the_call_in_every_phase() {
    // The agent's phone rings: CANCEL.
    let mut sim = Sim::started();
    let call = sim.originate("1001").unwrap();
    let invite = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &invite, 180, "");
    sim.command(Command::HangUp { call });
    sim.take_request(AGENT, Method::Cancel);
    assert_eq!(sim.record().outcome, Outcome::Operator);
    assert_eq!(sim.agent_state("1001"), "available");

    // The number rings: CANCEL to it, BYE to the agent.
    let (mut sim, call, _, trunk_invite) = dialling();
    sim.answer(TRUNK, &trunk_invite, 180, "");
    sim.command(Command::HangUp { call });
    sim.take_request(TRUNK, Method::Cancel);
    let bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &bye, 200, "");
    assert_eq!(sim.record().outcome, Outcome::Operator);

    // They talk: BYE to both.
    let (mut sim, call, _, _) = talking();
    sim.command(Command::HangUp { call });
    let to_trunk = sim.take_request(TRUNK, Method::Bye);
    let to_agent = sim.take_request(AGENT, Method::Bye);
    sim.answer(TRUNK, &to_trunk, 200, "");
    assert!(sim.records.is_empty());
    sim.answer(AGENT, &to_agent, 200, "");
    assert_eq!(
        (sim.record().uuid, sim.record().outcome),
        (call, Outcome::Operator)
    );
    assert_eq!(sim.agent_state("1001"), "available");
}

#[test]
fn the_agent_may_leave_while_the_number_rings() {
    let (mut sim, call, agent_invite, trunk_invite) = dialling();
    sim.answer(TRUNK, &trunk_invite, 180, "");
    sim.request_back(AGENT, &agent_invite, "BYE", 2);
    sim.take_status(AGENT, 200);
    sim.take_request(TRUNK, Method::Cancel);
    assert_eq!(
        (sim.record().uuid, sim.record().outcome),
        (call, Outcome::Abandoned)
    );
    assert_eq!(sim.agent_state("1001"), "available");
}

#[test]
fn a_queue_call_goes_to_another_agent_while_one_is_on_an_originated_call() {
    let mut sim = Sim::started();
    sim.register("1002", OTHER_AGENT);
    // 1001 is the most skilled: the queue would pick them if it could.
    sim.originate("1001").unwrap();
    let sdp = AGENT_SDP.replace("192.0.2.11", "10.0.0.1");
    let queued = |n: u32| {
        format!(
            "INVITE sip:5550200@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER};branch=z9hG4bKq{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c{n}\r\nTo: <sip:5550200@127.0.0.1>\r\n\
             Call-ID: queued-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{CUSTOMER}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    sim.send(CUSTOMER, queued(1));
    let offer = sim.take_request(OTHER_AGENT, Method::Invite);
    assert_eq!(offer.request_uri().unwrap().user(), Some("1002"));
    let invites_to_1001 = sim
        .outbox
        .iter()
        .filter(|(a, m)| a.to_string() == AGENT && m.method() == Some(&Method::Invite))
        .count();
    assert_eq!(invites_to_1001, 1, "only the originated call rings 1001");
    assert_eq!(sim.agent_state("1001"), "busy");
}

#[test]
fn originate_is_refused_with_a_clear_error_and_changes_nothing() {
    let mut sim = Sim::started();
    assert_eq!(
        sim.originate("9999"),
        Err(CommandError::UnknownAgent("9999".into()))
    );
    assert_eq!(
        sim.originate("1002"),
        Err(CommandError::NotRegistered("1002".into()))
    );
    for number in ["", "555 1234", "5551234@evil", "x", &"5".repeat(33)] {
        let command = Command::Originate {
            agent: "1001".into(),
            number: number.into(),
        };
        let refused = sim.switch.handle_command(sim.now, command);
        assert_eq!(refused, Err(CommandError::BadNumber), "{number:?}");
    }
    sim.originate("1001").unwrap();
    assert_eq!(
        sim.originate("1001"),
        Err(CommandError::AgentBusy("1001".into()))
    );
    assert_eq!(sim.switch.calls_active(), 1);

    let mut sim = Sim::new(&config("20s", false, true));
    sim.register("1001", AGENT);
    assert_eq!(sim.originate("1001"), Err(CommandError::NoOutboundTrunk));
    let mut sim = Sim::new(&config("20s", true, false));
    sim.register("1001", AGENT);
    assert_eq!(sim.originate("1001"), Err(CommandError::NoMedia));
    assert_eq!(CommandError::NoOutboundTrunk.status(), 409);
    assert_eq!(CommandError::NoMedia.status(), 409);
    assert_eq!(sim.switch.calls_active(), 0);
    assert!(sim.quiet(AGENT));
}

#[test]
fn a_refer_on_an_originated_call_gets_403_from_either_side_and_the_call_goes_on() {
    let (mut sim, call, agent_invite, trunk_invite) = talking();
    let refer_to = "Refer-To: <sip:1002@127.0.0.1>\r\n";
    // The agent holds the A leg here: moving it is not supported.
    sim.request_back_with(AGENT, &agent_invite, "REFER", 2, refer_to);
    sim.take_status(AGENT, 403);
    // The number's side is a trunk without `allow_refer`.
    sim.request_back_with(TRUNK, &trunk_invite, "REFER", 2, refer_to);
    sim.take_status(TRUNK, 403);
    assert!(sim.quiet(AGENT) && sim.quiet(TRUNK), "{:#?}", sim.outbox);
    assert_eq!(sim.phase(), "talking");
    assert!(!sim.event_types(call).iter().any(|t| t.contains("transfer")));
    sim.request_back(AGENT, &agent_invite, "BYE", 3);
    sim.take_status(AGENT, 200);
    let bye = sim.take_request(TRUNK, Method::Bye);
    sim.answer(TRUNK, &bye, 200, "");
    assert!(sim.record().detail.transfers.is_empty());
    assert_eq!(sim.agent_state("1001"), "available");
}
