//! A blind transfer, after the switch let the agent's leg go: the caller
//! (answered long ago, its media anchored) waits while a new callee is
//! sought. Nothing goes back to the caller in SIP: progress is not
//! relayed (the switch plays ringback or the queue's music), the new
//! callee's answer is bridged, and a failure is the switch's to resolve
//! (a fallback target, or the queue's router for a queued call).

use std::time::Instant;

use super::{late, Action, Call, Input, Outcome, Routing, Side, State};

impl Call {
    /// Routing or offering, while a transfer seeks a new callee.
    pub(super) fn transferring_step(
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
                if self.routing == Routing::Direct {
                    out.push(Action::StartRingTimer);
                }
                S::Offering {
                    forks,
                    live: forks,
                    provisional_sent: true,
                }
            }
            (S::Routing, I::Unroutable(outcome)) => {
                out.push(Action::TransferFailed {
                    status: failure_status(outcome),
                });
                S::Routing
            }
            // A caller who never ACKed our 2xx is gone as if it hung up.
            (S::Routing | S::Offering { .. }, I::Bye(Side::A) | I::ANoAck) => {
                out.push(Action::CancelForks { keep: None });
                self.transferring = false;
                self.ended = Some(now);
                let outcome = Outcome::Completed {
                    hung_up_by: Side::A,
                };
                out.push(Action::Finished(outcome));
                S::Done(outcome)
            }
            (S::Routing | S::Offering { .. }, input @ (I::HangUp | I::Shutdown | I::MediaLost)) => {
                out.push(Action::CancelForks { keep: None });
                out.push(Action::Bye(Side::A));
                self.transferring = false;
                let outcome = match input {
                    I::HangUp => Outcome::Operator,
                    I::Shutdown => Outcome::Shutdown,
                    _ => Outcome::MediaTimeout,
                };
                S::Releasing {
                    a: true,
                    b: false,
                    outcome,
                }
            }
            (S::Offering { forks, .. }, I::BAnswer { fork }) => {
                out.push(Action::AckB { fork });
                if forks > 1 {
                    out.push(Action::CancelForks { keep: Some(fork) });
                }
                self.transferring = false;
                out.push(Action::Reconnect { fork });
                S::Connected
            }
            (state @ S::Offering { .. }, input) => self.transfer_offering(state, input, out),
            (state, input) => late(state, input, out),
        }
    }

    /// The new callee's forks fail or ring too long.
    fn transfer_offering(&mut self, state: State, input: Input, out: &mut Vec<Action>) -> State {
        use Input as I;
        use State as S;
        let S::Offering {
            forks,
            live,
            provisional_sent,
        } = state
        else {
            return late(state, input, out);
        };
        let (gone, status) = match input {
            I::BProgress { .. } => return state,
            I::BFailed { status, .. } => (1, status),
            I::Withdrawn { forks: gone } => (gone, 487),
            I::RingTimeout => {
                out.push(Action::CancelForks { keep: None });
                (live, 408)
            }
            input => return late(state, input, out),
        };
        let live = live.saturating_sub(gone);
        if live > 0 {
            return S::Offering {
                forks,
                live,
                provisional_sent,
            };
        }
        if self.routing == Routing::Queued {
            out.push(Action::Requeue { status });
        } else {
            out.push(Action::TransferFailed { status });
        }
        S::Routing
    }
}

/// The status a target that could not even be offered stands for.
fn failure_status(outcome: Outcome) -> u16 {
    match outcome {
        Outcome::Busy => 486,
        Outcome::NoAnswer => 408,
        _ => 480,
    }
}
