//! A call the switch places itself (originate, click-to-call): before the
//! number answers. First the agent's contacts ring on the B leg; when one
//! answers, the switch makes that dialog the A leg and the B leg dials the
//! number through the trunk. Nobody waits for a response from us on the
//! A leg, so a failure is a BYE to the agent (once they answered) or
//! nothing at all (before), never a final response. From the number's
//! answer on, the call is an ordinary connected call.

use std::time::Instant;

use super::{late, Action, Call, Input, Origin, Outcome, Side, State};

impl Call {
    /// Routing or offering, on a placed call: the agent's phone rings, or
    /// (agent answered) the number does.
    pub(super) fn placed_unanswered(
        &mut self,
        now: Instant,
        state: State,
        input: Input,
        out: &mut Vec<Action>,
    ) -> State {
        use Input as I;
        use State as S;
        match (state, input) {
            (S::Routing, I::Offer { forks }) if forks > 0 => {
                self.offers += 1;
                out.push(Action::InviteB);
                out.push(Action::StartRingTimer);
                S::Offering {
                    forks,
                    live: forks,
                    provisional_sent: false,
                }
            }
            (S::Routing, I::Unroutable(outcome)) => self.placed_end(now, out, outcome),
            (S::Routing | S::Offering { .. }, I::HangUp) => {
                out.push(Action::CancelForks { keep: None });
                self.placed_end(now, out, Outcome::Operator)
            }
            (S::Routing | S::Offering { .. }, I::Shutdown) => {
                out.push(Action::CancelForks { keep: None });
                self.placed_end(now, out, Outcome::Shutdown)
            }
            (S::Routing | S::Offering { .. }, I::MediaLost) => {
                out.push(Action::CancelForks { keep: None });
                self.placed_end(now, out, Outcome::MediaTimeout)
            }
            // The agent hung up while the number rang: their BYE is answered.
            (S::Routing | S::Offering { .. }, I::Bye(Side::A)) if self.agent_answered() => {
                out.push(Action::CancelForks { keep: None });
                self.ended = Some(now);
                out.push(Action::Finished(Outcome::Abandoned));
                S::Done(Outcome::Abandoned)
            }
            (state @ S::Offering { .. }, input) => self.placed_offering(now, state, input, out),
            (state, input) => late(state, input, out),
        }
    }

    /// The agent answered and their leg is the A leg.
    fn agent_answered(&self) -> bool {
        self.origin
            == Origin::Placed {
                agent_answered: true,
            }
    }

    /// Offering on a placed call: the B leg's forks (the agent's contacts,
    /// or the trunk) ring, fail or answer, or the ring times out.
    fn placed_offering(
        &mut self,
        now: Instant,
        state: State,
        input: Input,
        out: &mut Vec<Action>,
    ) -> State {
        use Input as I;
        use State as S;
        match (state, input) {
            (
                S::Offering {
                    forks,
                    live,
                    provisional_sent,
                },
                I::BProgress {
                    fork,
                    status,
                    has_sdp,
                },
            ) => {
                // Ringing the agent has nobody to tell; the number's
                // progress (early media above all) goes to the agent.
                if self.agent_answered() && (!provisional_sent || has_sdp) {
                    out.push(Action::ProvisionalToA { fork, status });
                }
                S::Offering {
                    forks,
                    live,
                    provisional_sent: true,
                }
            }
            (S::Offering { forks, .. }, I::BAnswer { fork }) => {
                out.push(Action::AckB { fork });
                if forks > 1 {
                    out.push(Action::CancelForks { keep: Some(fork) });
                }
                if self.agent_answered() {
                    // No ACK to wait for: the A leg is ours.
                    out.push(Action::OkToA { fork });
                    self.answered = Some(now);
                    return S::Connected;
                }
                self.origin = Origin::Placed {
                    agent_answered: true,
                };
                out.push(Action::AgentAnswered { fork });
                S::Routing
            }
            (
                S::Offering {
                    forks,
                    live,
                    provisional_sent,
                },
                I::BFailed { status, .. },
            ) => {
                let live = live.saturating_sub(1);
                if live > 0 {
                    return S::Offering {
                        forks,
                        live,
                        provisional_sent,
                    };
                }
                self.placed_missed(now, out, status)
            }
            (S::Offering { .. }, I::RingTimeout) => {
                out.push(Action::CancelForks { keep: None });
                self.placed_missed(now, out, 408)
            }
            (state, input) => late(state, input, out),
        }
    }

    /// The B leg failed with `status`: a customer waiting for an agent
    /// (`reoffer`) waits again, any other placed call ends.
    fn placed_missed(&mut self, now: Instant, out: &mut Vec<Action>, status: u16) -> State {
        if self.reoffer && self.agent_answered() {
            out.push(Action::Requeue { status });
            return State::Routing;
        }
        let outcome = self.placed_failure(status);
        self.placed_end(now, out, outcome)
    }

    /// What a failed offer of a placed call means: the agent's phone or
    /// the number did not answer in time (408, or 487 to our CANCEL),
    /// was busy, or refused.
    fn placed_failure(&self, status: u16) -> Outcome {
        let timeout = matches!(status, 408 | 487);
        match (self.agent_answered(), status) {
            (false, _) if timeout => Outcome::AgentNoAnswer,
            (false, status) => Outcome::AgentRejected(status),
            (true, _) if timeout => Outcome::NoAnswer,
            (true, 486 | 600) => Outcome::Busy,
            (true, status) => Outcome::Rejected(status),
        }
    }

    /// A placed call ends before the number answered: BYE to the agent
    /// if they answered, else it is over at once.
    fn placed_end(&mut self, now: Instant, out: &mut Vec<Action>, outcome: Outcome) -> State {
        if self.agent_answered() {
            out.push(Action::Bye(Side::A));
            return State::Releasing {
                a: true,
                b: false,
                outcome,
            };
        }
        self.ended = Some(now);
        out.push(Action::Finished(outcome));
        State::Done(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::call::CallRef;

    #[allow(clippy::disallowed_methods)]
    fn placed() -> (Call, Instant) {
        let t0 = Instant::now();
        (Call::placed(CallRef(1), t0), t0)
    }

    fn step(call: &mut Call, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        call.handle(now, input, &mut out);
        out
    }

    /// A placed call whose agent answered on fork 0 of 2.
    fn agent_up() -> (Call, Instant) {
        let (mut c, t0) = placed();
        step(&mut c, t0, Input::Offer { forks: 2 });
        let out = step(&mut c, t0, Input::BAnswer { fork: 0 });
        assert_eq!(
            out,
            vec![
                Action::AckB { fork: 0 },
                Action::CancelForks { keep: Some(0) },
                Action::AgentAnswered { fork: 0 },
            ]
        );
        assert_eq!(c.state, State::Routing);
        (c, t0)
    }

    #[test]
    fn the_agent_answers_then_the_number_answers_and_the_call_is_connected_without_an_ack() {
        let (mut c, t0) = agent_up();
        assert_eq!(c.answered, None, "talk time starts with the number");
        assert_eq!(
            step(&mut c, t0, Input::Offer { forks: 1 }),
            vec![Action::InviteB, Action::StartRingTimer]
        );
        let t1 = t0 + Duration::from_secs(4);
        let ringing = Input::BProgress {
            fork: 0,
            status: 183,
            has_sdp: true,
        };
        assert_eq!(
            step(&mut c, t1, ringing),
            vec![Action::ProvisionalToA {
                fork: 0,
                status: 183
            }]
        );
        assert_eq!(
            step(&mut c, t1, Input::BAnswer { fork: 0 }),
            vec![Action::AckB { fork: 0 }, Action::OkToA { fork: 0 }]
        );
        assert_eq!((c.state.clone(), c.answered), (State::Connected, Some(t1)));
        assert_eq!(
            step(&mut c, t1, Input::Bye(Side::B)),
            vec![Action::Bye(Side::A)]
        );
        let out = step(&mut c, t1, Input::ByeDone(Side::A));
        let done = Outcome::Completed {
            hung_up_by: Side::B,
        };
        assert_eq!(out, vec![Action::Finished(done)]);
        assert_eq!(c.offers, 2);
    }

    #[test]
    fn ringing_the_agent_tells_nobody_and_its_failure_ends_the_call_at_once() {
        let (mut c, t0) = placed();
        step(&mut c, t0, Input::Offer { forks: 1 });
        let ringing = Input::BProgress {
            fork: 0,
            status: 180,
            has_sdp: false,
        };
        assert!(step(&mut c, t0, ringing).is_empty());
        let out = step(
            &mut c,
            t0,
            Input::BFailed {
                fork: 0,
                status: 603,
            },
        );
        assert_eq!(out, vec![Action::Finished(Outcome::AgentRejected(603))]);
        let (mut c, t0) = placed();
        step(&mut c, t0, Input::Offer { forks: 2 });
        assert_eq!(
            step(&mut c, t0, Input::RingTimeout),
            vec![
                Action::CancelForks { keep: None },
                Action::Finished(Outcome::AgentNoAnswer)
            ]
        );
        assert_eq!(Outcome::AgentNoAnswer.label(), "agent_no_answer");
    }

    #[test]
    fn the_number_refusing_or_not_answering_hangs_up_the_agent() {
        for (status, outcome) in [
            (486, Outcome::Busy),
            (503, Outcome::Rejected(503)),
            (408, Outcome::NoAnswer),
        ] {
            let (mut c, t0) = agent_up();
            step(&mut c, t0, Input::Offer { forks: 1 });
            let out = step(&mut c, t0, Input::BFailed { fork: 0, status });
            assert_eq!(out, vec![Action::Bye(Side::A)]);
            let out = step(&mut c, t0, Input::ByeDone(Side::A));
            assert_eq!(out, vec![Action::Finished(outcome)], "{status}");
        }
    }

    #[test]
    fn a_hang_up_cancels_in_either_ringing_phase_and_the_agent_may_leave_while_the_number_rings() {
        let (mut c, t0) = placed();
        step(&mut c, t0, Input::Offer { forks: 1 });
        assert_eq!(
            step(&mut c, t0, Input::HangUp),
            vec![
                Action::CancelForks { keep: None },
                Action::Finished(Outcome::Operator)
            ]
        );
        let (mut c, t0) = agent_up();
        step(&mut c, t0, Input::Offer { forks: 1 });
        assert_eq!(
            step(&mut c, t0, Input::HangUp),
            vec![Action::CancelForks { keep: None }, Action::Bye(Side::A)]
        );
        let (mut c, t0) = agent_up();
        step(&mut c, t0, Input::Offer { forks: 1 });
        assert_eq!(
            step(&mut c, t0, Input::Bye(Side::A)),
            vec![
                Action::CancelForks { keep: None },
                Action::Finished(Outcome::Abandoned)
            ]
        );
        assert!(c.is_done());
    }

    #[test]
    fn a_reoffered_call_waits_again_when_the_agent_misses_it() {
        let (mut c, t0) = agent_up();
        c.reoffer = true;
        step(&mut c, t0, Input::Offer { forks: 1 });
        assert_eq!(
            step(&mut c, t0, Input::RingTimeout),
            vec![
                Action::CancelForks { keep: None },
                Action::Requeue { status: 408 }
            ]
        );
        assert_eq!(c.state, State::Routing);
        step(&mut c, t0, Input::Offer { forks: 1 });
        let refused = Input::BFailed {
            fork: 0,
            status: 603,
        };
        assert_eq!(
            step(&mut c, t0, refused),
            vec![Action::Requeue { status: 603 }]
        );
        assert!(!c.is_done());
    }
}
