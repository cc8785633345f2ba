//! The leg chain's transitions, in virtual time.

use super::*;

fn offer(party: &str) -> LegEvent {
    LegEvent::Offered {
        parties: vec![(party.to_string(), 1, true)],
    }
}

fn answered(party: &str) -> LegEvent {
    LegEvent::Answered {
        party: party.to_string(),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
#[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
fn a_missed_offer_then_a_blind_transfer_makes_three_legs() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    legs.handle(t0 + secs(1), offer("1001"));
    legs.handle(
        t0 + secs(3),
        LegEvent::ForkFailed {
            party: "1001".into(),
            status: 486,
        },
    );
    legs.handle(t0 + secs(4), offer("1002"));
    legs.handle(t0 + secs(5), answered("1002"));
    legs.handle(t0 + secs(6), LegEvent::RecordingStarted);
    legs.handle(t0 + secs(10), LegEvent::Transferred);
    legs.handle(t0 + secs(10), offer("1003"));
    legs.handle(t0 + secs(12), answered("1003"));
    legs.handle(
        t0 + secs(20),
        LegEvent::Ended {
            talking: LegOutcome::CallerHungUp,
            ringing: LegOutcome::CallerHungUp,
        },
    );
    let r = legs.finish(t0, t0 + secs(20));
    assert_eq!(r.len(), 3);
    assert_eq!(
        (r[0].party.as_str(), r[0].outcome, r[0].ended, r[0].answered),
        ("1001", LegOutcome::Busy, secs(3), None)
    );
    assert_eq!(r[1].via, LegVia::Offer);
    assert_eq!(r[1].outcome, LegOutcome::Transferred);
    assert_eq!(r[1].recording, Some((secs(0), secs(4))));
    assert_eq!((r[2].via, r[2].role), (LegVia::Transfer, LegRole::Agent));
    assert_eq!(r[2].answered, Some(secs(12)));
    assert_eq!(r[2].outcome, LegOutcome::CallerHungUp);
    assert_eq!(r[2].recording, Some((secs(6), secs(8))));
}

#[test]
#[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
fn a_completed_consultation_keeps_the_colleague_talking() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    legs.handle(t0, offer("1001"));
    legs.handle(t0 + secs(1), answered("1001"));
    legs.handle(
        t0 + secs(5),
        LegEvent::ConsultStarted {
            party: "1002".into(),
            agent: true,
        },
    );
    legs.handle(t0 + secs(7), LegEvent::ConsultAnswered);
    legs.handle(t0 + secs(9), LegEvent::ConsultJoined);
    legs.handle(
        t0 + secs(15),
        LegEvent::Ended {
            talking: LegOutcome::HungUp,
            ringing: LegOutcome::NoAnswer,
        },
    );
    let r = legs.finish(t0, t0 + secs(15));
    assert_eq!(r[0].outcome, LegOutcome::Transferred);
    assert_eq!(r[0].ended, secs(9));
    assert_eq!((r[1].role, r[1].via), (LegRole::Colleague, LegVia::Consult));
    assert_eq!(
        (r[1].started, r[1].answered, r[1].ended),
        (secs(5), Some(secs(7)), secs(15))
    );
    assert_eq!(r[1].outcome, LegOutcome::HungUp);
}

#[test]
#[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
fn escalation_and_takeover_name_the_supervisor() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    legs.handle(t0, offer("1001"));
    legs.handle(t0, answered("1001"));
    legs.handle(t0 + secs(2), LegEvent::Escalated);
    legs.handle(t0 + secs(3), offer("2001"));
    legs.handle(t0 + secs(4), answered("2001"));
    legs.handle(
        t0 + secs(6),
        LegEvent::TakenOver {
            supervisor: "2002".into(),
        },
    );
    let r = legs.finish(t0, t0 + secs(8));
    assert_eq!(r[0].outcome, LegOutcome::Escalated);
    assert_eq!(
        (r[1].role, r[1].via, r[1].outcome),
        (LegRole::Supervisor, LegVia::Escalate, LegOutcome::TakenOver)
    );
    assert_eq!(
        (r[2].role, r[2].via),
        (LegRole::Supervisor, LegVia::Takeover)
    );
    assert_eq!(r[2].answered, Some(secs(6)));
    assert_eq!((r[2].ended, r[2].outcome), (secs(8), LegOutcome::Ended));
}

#[test]
#[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
fn legs_past_the_bound_are_counted() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    for i in 0..LEGS_PER_CALL_MAX + 3 {
        legs.handle(t0, offer(&i.to_string()));
    }
    assert_eq!(legs.len(), LEGS_PER_CALL_MAX);
    assert_eq!(legs.dropped, 3);
}

#[test]
#[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
fn conference_parties_get_legs_with_their_place_in_the_recording() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    legs.handle(t0, offer("1001"));
    legs.handle(t0 + secs(1), answered("1001"));
    legs.handle(t0 + secs(1), LegEvent::RecordingStarted);
    let ring = |n: u8, party: &str| LegEvent::PartyOffered {
        n,
        party: party.into(),
    };
    legs.handle(t0 + secs(3), ring(0, "1002"));
    legs.handle(t0 + secs(4), ring(1, "5551234"));
    legs.handle(t0 + secs(5), LegEvent::PartyAnswered { n: 0 });
    // The outside number never answers; the agent's offer elsewhere does
    // not cancel the conference's ringing party.
    legs.handle(t0 + secs(6), LegEvent::Unanswered { status: None });
    legs.handle(
        t0 + secs(7),
        LegEvent::PartyLeft {
            n: 1,
            outcome: LegOutcome::NoAnswer,
        },
    );
    legs.handle(
        t0 + secs(9),
        LegEvent::PartyLeft {
            n: 0,
            outcome: LegOutcome::HungUp,
        },
    );
    legs.handle(
        t0 + secs(11),
        LegEvent::Ended {
            talking: LegOutcome::CallerHungUp,
            ringing: LegOutcome::CallerHungUp,
        },
    );
    let r = legs.finish(t0, t0 + secs(11));
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].outcome, LegOutcome::CallerHungUp, "the agent stays");
    assert_eq!(r[0].recording, Some((secs(0), secs(10))));
    let party = &r[1];
    assert_eq!(
        (party.party.as_str(), party.role, party.via),
        ("1002", LegRole::Party, LegVia::Conference)
    );
    assert_eq!(
        (party.role.label(), party.via.label()),
        ("party", "conference")
    );
    assert_eq!(
        (party.started, party.answered, party.ended, party.outcome),
        (secs(3), Some(secs(5)), secs(9), LegOutcome::HungUp)
    );
    assert_eq!(party.recording, Some((secs(4), secs(4))));
    assert_eq!(
        (r[2].answered, r[2].ended, r[2].outcome, r[2].recording),
        (None, secs(7), LegOutcome::NoAnswer, None)
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
fn a_party_left_in_the_conference_when_the_call_ends_ends_with_it() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    legs.handle(t0, offer("1001"));
    legs.handle(t0, answered("1001"));
    legs.handle(t0, LegEvent::RecordingStarted);
    legs.handle(
        t0 + secs(2),
        LegEvent::PartyOffered {
            n: 0,
            party: "1002".into(),
        },
    );
    legs.handle(t0 + secs(3), LegEvent::PartyAnswered { n: 0 });
    legs.handle(
        t0 + secs(8),
        LegEvent::Ended {
            talking: LegOutcome::CallerHungUp,
            ringing: LegOutcome::CallerHungUp,
        },
    );
    // Told after the call ended: nothing changes.
    legs.handle(
        t0 + secs(9),
        LegEvent::PartyLeft {
            n: 0,
            outcome: LegOutcome::Ended,
        },
    );
    let r = legs.finish(t0, t0 + secs(8));
    assert_eq!(
        (r[1].ended, r[1].outcome, r[1].recording),
        (secs(8), LegOutcome::CallerHungUp, Some((secs(3), secs(5))))
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
fn the_agent_leaving_a_conference_hands_the_call_to_the_party() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    legs.handle(t0, offer("1001"));
    legs.handle(t0, answered("1001"));
    legs.handle(t0, LegEvent::RecordingStarted);
    legs.handle(
        t0 + secs(1),
        LegEvent::PartyOffered {
            n: 0,
            party: "1002".into(),
        },
    );
    legs.handle(t0 + secs(2), LegEvent::PartyAnswered { n: 0 });
    legs.handle(t0 + secs(4), LegEvent::PartyTookCall { n: 0 });
    // 1002 is the call's agent now: a blind transfer ends its leg.
    legs.handle(t0 + secs(6), LegEvent::Transferred);
    legs.handle(t0 + secs(6), offer("1003"));
    legs.handle(t0 + secs(7), answered("1003"));
    let r = legs.finish(t0, t0 + secs(9));
    assert_eq!((r[0].ended, r[0].outcome), (secs(4), LegOutcome::HungUp));
    assert_eq!(
        (r[1].ended, r[1].outcome),
        (secs(6), LegOutcome::Transferred)
    );
    assert_eq!(r[1].recording, Some((secs(2), secs(4))));
    assert_eq!(r[2].recording, Some((secs(7), secs(2))));
}

#[test]
#[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
fn a_consultation_is_in_the_recording_from_when_it_joins_the_call() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    legs.handle(t0, offer("1001"));
    legs.handle(t0, answered("1001"));
    legs.handle(t0, LegEvent::RecordingStarted);
    let consult = |party: &str| LegEvent::ConsultStarted {
        party: party.into(),
        agent: true,
    };
    // A consultation cancelled: the caller never heard the colleague.
    legs.handle(t0 + secs(1), consult("1002"));
    legs.handle(t0 + secs(2), LegEvent::ConsultAnswered);
    legs.handle(
        t0 + secs(3),
        LegEvent::ConsultEnded {
            outcome: LegOutcome::Cancelled,
        },
    );
    // One merged into a conference: heard from the merge.
    legs.handle(t0 + secs(4), consult("1003"));
    legs.handle(t0 + secs(5), LegEvent::ConsultAnswered);
    legs.handle(t0 + secs(6), LegEvent::ConsultConferenced { n: 0 });
    legs.handle(
        t0 + secs(8),
        LegEvent::PartyLeft {
            n: 0,
            outcome: LegOutcome::HungUp,
        },
    );
    // One completed: heard from the join.
    legs.handle(t0 + secs(9), consult("1004"));
    legs.handle(t0 + secs(10), LegEvent::ConsultAnswered);
    legs.handle(t0 + secs(12), LegEvent::ConsultJoined);
    let r = legs.finish(t0, t0 + secs(15));
    assert_eq!(r[1].recording, None, "{:?}", r[1]);
    assert_eq!(r[2].answered, Some(secs(5)));
    assert_eq!(r[2].recording, Some((secs(6), secs(2))));
    assert_eq!(r[3].recording, Some((secs(12), secs(3))));
    assert_eq!(
        (r[0].ended, r[0].recording),
        (secs(12), Some((secs(0), secs(12))))
    );
}
