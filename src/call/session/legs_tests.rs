//! Unit tests of the leg chain ([`super::CallLegs`]).

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
fn conference_parties_ring_join_leave_and_take_the_agent_leg() {
    let t0 = Instant::now();
    let mut legs = CallLegs::default();
    legs.handle(t0 + secs(1), offer("1001"));
    legs.handle(t0 + secs(2), answered("1001"));
    let rang = |id: u8, party: &str, agent: bool| LegEvent::PartyRang {
        id,
        party: party.into(),
        agent,
    };
    legs.handle(t0 + secs(3), rang(2, "1002", true));
    legs.handle(t0 + secs(3), rang(3, "5551234", false));
    legs.handle(t0 + secs(4), LegEvent::PartyJoined { id: 2 });
    let failed = LegEvent::PartyLeft {
        id: 3,
        outcome: LegOutcome::Busy,
    };
    legs.handle(t0 + secs(5), failed);
    legs.handle(t0 + secs(6), rang(4, "1003", true));
    legs.handle(t0 + secs(7), LegEvent::PartyJoined { id: 4 });
    let hung_up = LegEvent::PartyLeft {
        id: 2,
        outcome: LegOutcome::HungUp,
    };
    legs.handle(t0 + secs(9), hung_up);
    legs.handle(t0 + secs(10), LegEvent::AgentLeftTo { id: 4 });
    legs.handle(
        t0 + secs(12),
        LegEvent::Ended {
            talking: LegOutcome::CallerHungUp,
            ringing: LegOutcome::Cancelled,
        },
    );
    let r = legs.finish(t0, t0 + secs(12));
    let seen: Vec<_> = r
        .iter()
        .map(|l| {
            (
                l.party.as_str(),
                l.role,
                l.via,
                l.answered,
                l.ended,
                l.outcome,
            )
        })
        .collect();
    use LegOutcome::*;
    use LegRole::*;
    assert_eq!(
        seen,
        [
            (
                "1001",
                Agent,
                LegVia::Offer,
                Some(secs(2)),
                secs(10),
                HungUp
            ),
            (
                "1002",
                Colleague,
                LegVia::Conference,
                Some(secs(4)),
                secs(9),
                HungUp
            ),
            ("5551234", Outside, LegVia::Conference, None, secs(5), Busy),
            (
                "1003",
                Colleague,
                LegVia::Conference,
                Some(secs(7)),
                secs(12),
                CallerHungUp
            ),
        ]
    );
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
