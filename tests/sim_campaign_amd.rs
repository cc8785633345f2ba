//! Answering-machine detection on campaign calls, on the pure switch core
//! in virtual time (the relay's verdicts are fed as its events): when the
//! customer answers, the switch asks the relay to listen to them and tells
//! the campaign nothing yet. A machine is hung up on and the contact tried
//! again after `retry.machine`, or (`machine = "message"`) left the
//! campaign's message once its greeting is over and the contact is done;
//! the record's outcome is `machine`. A person, or no verdict in time,
//! rings the agent as any answer; a customer who hangs up while listened
//! to counts as no answer.

#![allow(clippy::disallowed_methods)]

mod switch_rig;

use switch_rig::*;
use switchyard::call::CallRef;
use switchyard::media::amd::{Verdict, Why};
use switchyard::switch::{MediaInput, MediaLeg};

fn amd_config(machine: &str) -> String {
    config_with(&format!(
        "amd = {{ machine = \"{machine}\", message_plays = \"10s\" }}"
    ))
    .replace(
        "retry = { busy = \"1m\", no_answer = \"1h\", failed = \"30m\" }",
        "retry = { busy = \"1m\", no_answer = \"1h\", failed = \"30m\", machine = \"2m\" }",
    )
}

/// The customer answers the campaign's first dial: the call listened to,
/// and the INVITE it answered.
fn answered(sim: &mut Sim, beep: bool) -> (CallRef, Message) {
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    let call = sim
        .media
        .iter()
        .find_map(|c| match c {
            MediaCommand::Detect {
                call,
                leg: MediaLeg::Caller,
                beep: b,
            } if *b == beep => Some(*call),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the relay listens to the customer: {:?}", sim.media));
    let agent = AGENT.parse().unwrap();
    assert!(
        !sim.outbox.iter().any(|(a, _)| *a == agent),
        "no agent rings before the verdict"
    );
    assert_eq!(sim.snapshot().answers, 0, "the campaign is not told yet");
    (call, invite)
}

fn verdict(sim: &mut Sim, call: CallRef, verdict: Verdict) {
    sim.switch
        .handle_media(sim.now, MediaInput::Answering { call, verdict });
    sim.drain();
}

fn outcome(r: &CallRecord) -> (u32, String) {
    let c = r.detail.campaign.as_ref().expect("a campaign record");
    (c.attempt, c.outcome.clone())
}

#[test]
fn a_machine_is_hung_up_on_and_tried_again_after_the_machine_delay() {
    let mut sim = Sim::with_config(&amd_config("hangup"), &["+15551101"], &[], true);
    let (call, _) = answered(&mut sim, false);
    verdict(&mut sim, call, Verdict::Machine(Why::MaxWords));
    let bye = sim.take_request(TRUNK, Method::Bye);
    sim.answer(TRUNK, &bye, 200, "");
    assert_eq!(sim.records.len(), 1);
    assert_eq!(outcome(&sim.records[0]), (1, "machine".into()));
    assert_eq!(sim.saved_state(0), Some(ContactState::Machine));
    let snap = sim.snapshot();
    assert_eq!((snap.machines, snap.answers, snap.abandons), (1, 0, 0));
    sim.advance(Duration::from_secs(100));
    assert!(sim.trunk_invites().is_empty(), "not before the delay");
    sim.advance(Duration::from_secs(30));
    let again = sim.take_request(TRUNK, Method::Invite);
    assert!(uri_of(&again).starts_with("sip:+15551101@"));
}

#[test]
fn a_machine_is_left_the_message_after_its_greeting_and_the_contact_is_done() {
    let mut sim = Sim::with_config(&amd_config("message"), &["+15551102"], &[], true);
    let (call, _) = answered(&mut sim, true);
    verdict(&mut sim, call, Verdict::Machine(Why::LongGreeting));
    assert!(
        sim.trunk_invites().is_empty() && sim.outbox.is_empty(),
        "nothing is said while the greeting plays: {:?}",
        sim.outbox
    );
    sim.advance(Duration::from_secs(3));
    sim.switch
        .handle_media(sim.now, MediaInput::GreetingOver { call, beeped: true });
    sim.drain();
    assert!(
        sim.media.iter().any(|c| matches!(c,
            MediaCommand::Play { call: c, leg: MediaLeg::Caller, intro, .. }
                if *c == call && intro == &["campaign_machine".to_string()])),
        "{:?}",
        sim.media
    );
    sim.advance(Duration::from_secs(9));
    assert!(sim.records.is_empty(), "the message plays on");
    sim.advance(Duration::from_secs(2));
    let bye = sim.take_request(TRUNK, Method::Bye);
    sim.answer(TRUNK, &bye, 200, "");
    assert_eq!(outcome(&sim.records[0]), (1, "machine".into()));
    assert_eq!(sim.saved_state(0), Some(ContactState::Done));
    assert_eq!(sim.snapshot().status, "finished");
}

#[test]
fn a_greeting_that_never_ends_still_gets_the_message() {
    let mut sim = Sim::with_config(&amd_config("message"), &["+15551103"], &[], true);
    let (call, _) = answered(&mut sim, true);
    verdict(&mut sim, call, Verdict::Machine(Why::InitialSilence));
    sim.advance(Duration::from_secs(21));
    assert!(!sim
        .media
        .iter()
        .any(|c| matches!(c, MediaCommand::Play { .. })));
    sim.advance(Duration::from_secs(2));
    assert!(sim.media.iter().any(|c| matches!(c,
        MediaCommand::Play { intro, .. } if intro == &["campaign_machine".to_string()])));
}

#[test]
fn a_person_or_no_verdict_in_time_rings_the_agent() {
    for given in [Some(Verdict::Human(Why::SilenceAfterGreeting)), None] {
        let mut sim = Sim::with_config(&amd_config("hangup"), &["+15551104"], &[], true);
        let (call, _) = answered(&mut sim, false);
        match given {
            Some(v) => verdict(&mut sim, call, v),
            None => {
                sim.advance(Duration::from_secs(6));
                assert!(sim.outbox.is_empty(), "{:?}", sim.outbox);
                sim.advance(Duration::from_secs(2));
            }
        }
        let ring = sim.take_request(AGENT, Method::Invite);
        assert!(ring.from().as_str().contains("+15551104"));
        assert_eq!(sim.snapshot().answers, 1);
        // A late verdict changes nothing.
        verdict(&mut sim, call, Verdict::Machine(Why::MaxWords));
        assert!(sim.trunk_invites().is_empty());
        assert!(!sim
            .outbox
            .iter()
            .any(|(_, m)| m.method() == Some(&Method::Bye)));
    }
}

#[test]
fn a_customer_who_hangs_up_while_listened_to_is_no_answer() {
    let mut sim = Sim::with_config(&amd_config("hangup"), &["+15551105"], &[], true);
    let (_, invite) = answered(&mut sim, false);
    sim.bye_back(TRUNK, &invite);
    sim.take_status(TRUNK, 200);
    assert_eq!(sim.records.len(), 1);
    assert_eq!(sim.saved_state(0), Some(ContactState::NoAnswer));
    let snap = sim.snapshot();
    assert_eq!((snap.machines, snap.answers, snap.abandons), (0, 0, 0));
    // No deadline of the gone call fires later.
    sim.advance(Duration::from_secs(30));
    assert!(!sim
        .outbox
        .iter()
        .any(|(_, m)| m.method() == Some(&Method::Bye)));
}
