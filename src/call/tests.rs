//! Call machine tests in virtual time.

use super::*;

// The one clock read of these tests: every other instant is t0 plus a Duration.
#[allow(clippy::disallowed_methods)]
fn call(routing: Routing) -> (Call, Instant) {
    let t0 = Instant::now();
    (Call::new(CallRef(1), routing, t0), t0)
}

fn step(c: &mut Call, now: Instant, input: Input) -> Vec<Action> {
    let mut out = Vec::new();
    c.handle(now, input, &mut out);
    out
}

#[test]
fn answered_call_acks_b_then_answers_a() {
    let (mut c, t0) = call(Routing::Direct);
    assert_eq!(
        step(&mut c, t0, Input::Offer { forks: 1 }),
        vec![Action::InviteB, Action::StartRingTimer]
    );
    let out = step(
        &mut c,
        t0,
        Input::BProgress {
            fork: 0,
            status: 180,
            has_sdp: false,
        },
    );
    assert_eq!(
        out,
        vec![Action::ProvisionalToA {
            fork: 0,
            status: 180
        }]
    );
    assert!(step(
        &mut c,
        t0,
        Input::BProgress {
            fork: 0,
            status: 180,
            has_sdp: false
        }
    )
    .is_empty());
    let t1 = t0 + Duration::from_secs(3);
    assert_eq!(
        step(&mut c, t1, Input::BAnswer { fork: 0 }),
        vec![Action::AckB { fork: 0 }, Action::OkToA { fork: 0 }]
    );
    step(&mut c, t1, Input::AAck);
    assert_eq!(c.state, State::Connected);
    assert_eq!(c.wait(), Some(Duration::from_secs(3)));
}

#[test]
fn media_lost_on_a_connected_call_hangs_up_both_legs() {
    let (mut c, t0) = call(Routing::Queued);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    step(&mut c, t0, Input::AAck);
    let t1 = t0 + Duration::from_secs(60);
    assert_eq!(
        step(&mut c, t1, Input::MediaLost),
        vec![Action::Bye(Side::A), Action::Bye(Side::B)]
    );
    assert!(step(&mut c, t1, Input::ByeDone(Side::A)).is_empty());
    let t2 = t1 + Duration::from_millis(40);
    assert_eq!(
        step(&mut c, t2, Input::ByeDone(Side::B)),
        vec![Action::Finished(Outcome::MediaTimeout)]
    );
    assert_eq!(c.ended, Some(t2));
    assert_eq!(Outcome::MediaTimeout.label(), "media_timeout");
}

#[test]
fn media_lost_before_an_answer_refuses_the_caller_503() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 2 });
    assert_eq!(
        step(&mut c, t0, Input::MediaLost),
        vec![
            Action::CancelForks { keep: None },
            Action::RejectA { status: 503 },
            Action::Finished(Outcome::MediaTimeout)
        ]
    );
}

#[test]
fn bye_from_agent_releases_caller_then_finishes() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    step(&mut c, t0, Input::AAck);
    assert_eq!(
        step(&mut c, t0, Input::Bye(Side::B)),
        vec![Action::Bye(Side::A)]
    );
    let out = step(&mut c, t0, Input::ByeDone(Side::A));
    let outcome = Outcome::Completed {
        hung_up_by: Side::B,
    };
    assert_eq!(out, vec![Action::Finished(outcome)]);
    assert_eq!(c.state, State::Done(outcome));
}

#[test]
fn direct_call_to_busy_agent_rejects_caller_with_486() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    let out = step(
        &mut c,
        t0,
        Input::BFailed {
            fork: 0,
            status: 486,
        },
    );
    assert_eq!(
        out,
        vec![
            Action::RejectA { status: 486 },
            Action::Finished(Outcome::Busy)
        ]
    );
}

#[test]
fn ring_timeout_cancels_and_answers_480() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 2 });
    let out = step(&mut c, t0, Input::RingTimeout);
    assert_eq!(
        out,
        vec![
            Action::CancelForks { keep: None },
            Action::RejectA { status: 480 },
            Action::Finished(Outcome::NoAnswer)
        ]
    );
    // The 487s of the cancelled forks change nothing.
    assert!(step(
        &mut c,
        t0,
        Input::BFailed {
            fork: 0,
            status: 487
        }
    )
    .is_empty());
}

#[test]
fn queued_call_goes_back_to_queue_when_agent_misses() {
    let (mut c, t0) = call(Routing::Queued);
    step(&mut c, t0, Input::Offer { forks: 1 });
    assert_eq!(
        step(
            &mut c,
            t0,
            Input::BFailed {
                fork: 0,
                status: 486
            }
        ),
        vec![Action::Requeue { status: 486 }]
    );
    assert_eq!(c.state, State::Routing);
    step(&mut c, t0, Input::Offer { forks: 1 });
    assert_eq!(c.offers, 2);
}

#[test]
fn queued_offer_leaves_ring_timing_to_the_router() {
    let (mut c, t0) = call(Routing::Queued);
    assert_eq!(
        step(&mut c, t0, Input::Offer { forks: 2 }),
        vec![Action::InviteB]
    );
}

#[test]
fn withdrawing_the_last_live_forks_puts_the_call_back_to_waiting() {
    let (mut c, t0) = call(Routing::Queued);
    step(&mut c, t0, Input::Offer { forks: 3 });
    assert!(step(&mut c, t0, Input::Withdrawn { forks: 1 }).is_empty());
    assert_eq!(
        step(&mut c, t0, Input::Withdrawn { forks: 2 }),
        vec![Action::Requeue { status: 487 }]
    );
    assert_eq!(c.state, State::Routing);
}

#[test]
fn one_of_two_forks_failing_keeps_offering() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 2 });
    assert!(step(
        &mut c,
        t0,
        Input::BFailed {
            fork: 1,
            status: 480
        }
    )
    .is_empty());
    let out = step(&mut c, t0, Input::BAnswer { fork: 0 });
    assert_eq!(
        out,
        vec![
            Action::AckB { fork: 0 },
            Action::CancelForks { keep: Some(0) },
            Action::OkToA { fork: 0 }
        ]
    );
}

#[test]
fn late_second_answer_is_acked_and_hung_up() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 2 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    assert_eq!(
        step(&mut c, t0, Input::BAnswer { fork: 1 }),
        vec![Action::AckB { fork: 1 }, Action::ByeFork { fork: 1 }]
    );
    assert_eq!(c.state, State::Answered { fork: 0 });
}

#[test]
fn cancel_while_ringing_abandons() {
    let (mut c, t0) = call(Routing::Queued);
    step(&mut c, t0, Input::Offer { forks: 1 });
    let out = step(&mut c, t0, Input::ACancel);
    assert_eq!(
        out,
        vec![
            Action::CancelForks { keep: None },
            Action::RejectA { status: 487 },
            Action::Finished(Outcome::Abandoned)
        ]
    );
}

#[test]
fn missing_ack_hangs_up_the_agent() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    assert_eq!(step(&mut c, t0, Input::ANoAck), vec![Action::Bye(Side::B)]);
    let out = step(&mut c, t0, Input::ByeDone(Side::B));
    assert_eq!(
        out,
        vec![Action::Finished(Outcome::Completed {
            hung_up_by: Side::A
        })]
    );
}

#[test]
fn shutdown_hangs_up_both_legs_of_a_connected_call() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    step(&mut c, t0, Input::AAck);
    assert_eq!(
        step(&mut c, t0, Input::Shutdown),
        vec![Action::Bye(Side::A), Action::Bye(Side::B)]
    );
    assert!(step(&mut c, t0, Input::ByeDone(Side::A)).is_empty());
    assert_eq!(
        step(&mut c, t0, Input::ByeDone(Side::B)),
        vec![Action::Finished(Outcome::Shutdown)]
    );
}

#[test]
fn abort_ends_a_call_whose_byes_go_unanswered_with_its_outcome() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    step(&mut c, t0, Input::AAck);
    step(&mut c, t0, Input::Shutdown);
    let t1 = t0 + Duration::from_secs(5);
    assert_eq!(
        step(&mut c, t1, Input::Abort),
        vec![Action::Finished(Outcome::Shutdown)]
    );
    assert_eq!(c.ended, Some(t1));
    assert!(c.is_done());
    // A late answer to the BYE changes nothing.
    assert!(step(&mut c, t1, Input::ByeDone(Side::A)).is_empty());
}

#[test]
fn abort_hangs_up_a_connected_call_and_cancels_an_offer() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    step(&mut c, t0, Input::AAck);
    assert_eq!(
        step(&mut c, t0, Input::Abort),
        vec![
            Action::Bye(Side::A),
            Action::Bye(Side::B),
            Action::Finished(Outcome::Shutdown)
        ]
    );
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 2 });
    assert_eq!(
        step(&mut c, t0, Input::Abort),
        vec![
            Action::CancelForks { keep: None },
            Action::RejectA { status: 503 },
            Action::Finished(Outcome::Shutdown)
        ]
    );
}

#[test]
fn unroutable_call_is_rejected_480() {
    let (mut c, t0) = call(Routing::Direct);
    let out = step(&mut c, t0, Input::Unroutable(Outcome::Unavailable));
    assert_eq!(
        out,
        vec![
            Action::RejectA { status: 480 },
            Action::Finished(Outcome::Unavailable)
        ]
    );
}

#[test]
fn a_hang_up_command_ends_a_waiting_call_with_480_and_a_talking_one_with_two_byes() {
    let (mut c, t0) = call(Routing::Queued);
    assert_eq!(
        step(&mut c, t0, Input::HangUp),
        vec![
            Action::CancelForks { keep: None },
            Action::RejectA { status: 480 },
            Action::Finished(Outcome::Operator)
        ]
    );
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    step(&mut c, t0, Input::AAck);
    assert_eq!(c.state, State::Connected);
    assert_eq!(
        step(&mut c, t0, Input::HangUp),
        vec![Action::Bye(Side::A), Action::Bye(Side::B)]
    );
    step(&mut c, t0, Input::ByeDone(Side::A));
    assert_eq!(
        step(&mut c, t0, Input::ByeDone(Side::B)),
        vec![Action::Finished(Outcome::Operator)]
    );
}

/// A direct call, answered and connected.
fn connected() -> (Call, Instant) {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    step(&mut c, t0, Input::AAck);
    (c, t0)
}

#[test]
fn a_transferred_call_rings_its_new_callee_silently_and_reconnects() {
    let (mut c, t0) = connected();
    assert!(step(&mut c, t0, Input::Transfer).is_empty());
    assert_eq!((c.state.clone(), c.transfers), (State::Routing, 1));
    assert_eq!(
        step(&mut c, t0, Input::Offer { forks: 1 }),
        vec![Action::InviteB, Action::StartRingTimer]
    );
    let ringing = Input::BProgress {
        fork: 0,
        status: 180,
        has_sdp: false,
    };
    assert!(
        step(&mut c, t0, ringing).is_empty(),
        "the caller was answered long ago"
    );
    assert_eq!(
        step(&mut c, t0, Input::BAnswer { fork: 0 }),
        vec![Action::AckB { fork: 0 }, Action::Reconnect { fork: 0 }]
    );
    assert_eq!(c.state, State::Connected);
    assert!(!c.transferring);
    assert_eq!(
        c.wait(),
        Some(Duration::ZERO),
        "the wait is the first answer's"
    );
}

#[test]
fn a_transfer_target_that_fails_is_the_switchs_to_resolve() {
    let (mut c, t0) = connected();
    step(&mut c, t0, Input::Transfer);
    step(&mut c, t0, Input::Offer { forks: 1 });
    assert_eq!(
        step(
            &mut c,
            t0,
            Input::BFailed {
                fork: 0,
                status: 486
            }
        ),
        vec![Action::TransferFailed { status: 486 }]
    );
    assert_eq!(c.state, State::Routing);
    assert_eq!(
        step(&mut c, t0, Input::Unroutable(Outcome::Unavailable)),
        vec![Action::TransferFailed { status: 480 }]
    );
    // The caller hangs up meanwhile: its BYE was answered, the record follows.
    let out = step(&mut c, t0, Input::Bye(Side::A));
    let outcome = Outcome::Completed {
        hung_up_by: Side::A,
    };
    assert_eq!(
        out,
        vec![
            Action::CancelForks { keep: None },
            Action::Finished(outcome)
        ]
    );
}

#[test]
fn a_hang_up_during_a_transfer_byes_the_caller() {
    let (mut c, t0) = connected();
    step(&mut c, t0, Input::Transfer);
    step(&mut c, t0, Input::Offer { forks: 1 });
    assert_eq!(
        step(&mut c, t0, Input::HangUp),
        vec![Action::CancelForks { keep: None }, Action::Bye(Side::A)]
    );
    assert_eq!(
        step(&mut c, t0, Input::ByeDone(Side::A)),
        vec![Action::Finished(Outcome::Operator)]
    );
}

#[test]
fn a_transfer_before_the_callers_ack_goes_ahead() {
    let (mut c, t0) = call(Routing::Direct);
    step(&mut c, t0, Input::Offer { forks: 1 });
    step(&mut c, t0, Input::BAnswer { fork: 0 });
    assert_eq!(c.state, State::Answered { fork: 0 });
    assert!(step(&mut c, t0, Input::Transfer).is_empty());
    assert!(c.transferring);
    // The late ACK changes nothing; a caller who never ACKs ends the call.
    assert!(step(&mut c, t0, Input::AAck).is_empty());
    assert_eq!(c.state, State::Routing);
    let out = step(&mut c, t0, Input::ANoAck);
    assert!(out.contains(&Action::Finished(Outcome::Completed {
        hung_up_by: Side::A
    })));
}
