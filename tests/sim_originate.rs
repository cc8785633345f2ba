//! Originate (click-to-call) on the pure switch core, in virtual time:
//! `Command::Originate` rings agent 1001's phone with the switch's own SDP,
//! the agent is busy for the router from then on, and once they answer
//! the number is dialled through the outbound trunk; the relay bridges the
//! two when it answers. Every way it can end is checked: either side hangs
//! up, the agent does not answer or refuses, the trunk refuses or never
//! answers, a command hangs up in each phase. Each ends with one record
//! naming the agent, the trunk and the outcome, and the agent available.

#![allow(clippy::disallowed_methods)]

mod switch_rig;

use switch_rig::*;

const OTHER_AGENT: &str = "192.0.2.12:5070";
const CUSTOMER: &str = "10.0.0.1:5060";
const NUMBER: &str = "5551234";
/// The agent answers in PCMU, the trunk in PCMA: the relay transcodes.
const TRUNK_SDP: &str = "v=0\r\no=carrier 9 9 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";

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

impl Sim {
    /// The usual switch: ring timeout 20 s, a trunk out, anchored media,
    /// agent 1001 registered.
    fn started() -> Sim {
        let mut sim = Sim::bare(&config("20s", true, true));
        sim.register("1001", AGENT);
        sim
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

    fn phase(&mut self) -> &'static str {
        match self.switch.handle_command(self.now, Command::ListCalls) {
            Ok(Reply::Calls { calls }) => calls[0].phase,
            other => panic!("{other:?}"),
        }
    }

    /// The agent's phone rings and answers; returns the switch's INVITE.
    fn agent_answers(&mut self) -> Message {
        let invite = self.take_request(AGENT, Method::Invite);
        self.answer(AGENT, &invite, 180, "");
        self.answer(AGENT, &invite, 200, AGENT_SDP);
        self.take_request(AGENT, Method::Ack);
        invite
    }
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
    let mut sim = Sim::bare(&config("60s", true, true));
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

    let mut sim = Sim::bare(&config("20s", false, true));
    sim.register("1001", AGENT);
    assert_eq!(sim.originate("1001"), Err(CommandError::NoOutboundTrunk));
    let mut sim = Sim::bare(&config("20s", true, false));
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
