//! The server non-INVITE transaction (RFC 3261 §17.2.2), CANCEL included: it re-sends
//! the last response for each retransmitted request and holds the final response for
//! Timer J.

use std::mem;
use std::time::Instant;

#[cfg(test)]
use std::time::Duration;

use bytes::Bytes;

use super::timer::{TimerConfig, TimerName, Timers};
use super::{Action, StatusClass, Step, TxError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Absorb request retransmissions in Completed.
    J,
}

impl TimerName for Timer {
    const ALL: &'static [Self] = &[Timer::J];
    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug)]
pub(super) enum State {
    Trying,
    Proceeding { provisional: Bytes },
    Completed { response: Bytes },
    Terminated,
}

#[derive(Debug)]
pub(super) enum Input {
    /// A retransmission of the request.
    Request,
    /// The TU sends a response.
    Respond {
        status: u16,
        bytes: Bytes,
    },
    Timer(Timer),
}

#[derive(Debug)]
pub(super) struct ServerNonInvite {
    state: State,
    timers: Timers<Timer, 1>,
    reliable: bool,
}

impl ServerNonInvite {
    /// Enters Trying (RFC 3261 §17.2.2).
    pub(super) fn new(reliable: bool) -> Self {
        ServerNonInvite {
            state: State::Trying,
            timers: Timers::new(),
            reliable,
        }
    }

    #[cfg(test)]
    pub(super) fn state(&self) -> &State {
        &self.state
    }

    pub(super) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub(super) fn fire_expired(&mut self, now: Instant, config: &TimerConfig) -> Option<Step> {
        let timer = self.timers.take_expired(now)?;
        // Timer inputs never fail.
        self.transition(now, Input::Timer(timer), config).ok()
    }

    /// RFC 3261 §17.2.2 (Figure 8): Trying → Proceeding on a 1xx from the TU → Completed
    /// on a final one; retransmitted requests get the last response again (none while
    /// Trying). Only TU responses after the final one fail.
    pub(super) fn transition(
        &mut self,
        now: Instant,
        input: Input,
        config: &TimerConfig,
    ) -> Result<Step, TxError> {
        if let Input::Respond { status, .. } = input {
            if StatusClass::of(status) == StatusClass::Invalid {
                return Err(TxError::InvalidStatus { status });
            }
        }
        let state = mem::replace(&mut self.state, State::Terminated);
        let (next, step) = match (state, input) {
            (State::Trying | State::Proceeding { .. }, Input::Respond { status, bytes }) => {
                let send = Step::act(Action::Transmit(bytes.clone()));
                if StatusClass::of(status) == StatusClass::Provisional {
                    return Ok(self.finish(State::Proceeding { provisional: bytes }, send));
                }
                // Timer J is zero on reliable transports (§17.2.2).
                if self.reliable {
                    return Ok(self.finish(State::Terminated, send));
                }
                self.timers.set(Timer::J, now, config.transaction_timeout());
                (State::Completed { response: bytes }, send)
            }
            (State::Proceeding { provisional }, Input::Request) => {
                let step = Step::act(Action::Retransmit(provisional.clone()));
                (State::Proceeding { provisional }, step)
            }
            (State::Completed { response }, Input::Request) => {
                let step = Step::act(Action::Retransmit(response.clone()));
                (State::Completed { response }, step)
            }
            (State::Completed { .. }, Input::Timer(Timer::J)) => (State::Terminated, Step::NONE),
            (state, Input::Respond { status, .. }) => {
                self.state = state;
                return Err(TxError::ResponseAfterFinal { status });
            }
            // Retransmissions while Trying are absorbed silently.
            (state, _) => (state, Step::NONE),
        };
        Ok(self.finish(next, step))
    }

    fn finish(&mut self, next: State, step: Step) -> Step {
        self.state = next;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_after_provisional_enters_completed_for_timer_j() {
        let start = super::super::test_start();
        let config = TimerConfig::default();
        let mut machine = ServerNonInvite::new(false);
        let provisional = Input::Respond {
            status: 100,
            bytes: Bytes::from_static(b"100"),
        };
        machine
            .transition(start, provisional, &config)
            .expect("1xx");
        assert!(matches!(machine.state(), State::Proceeding { .. }));
        let last = Input::Respond {
            status: 200,
            bytes: Bytes::from_static(b"200"),
        };
        machine.transition(start, last, &config).expect("final");
        assert!(matches!(machine.state(), State::Completed { .. }));
        assert_eq!(
            machine.next_deadline(),
            Some(start + Duration::from_secs(32))
        );
        let again = Input::Respond {
            status: 200,
            bytes: Bytes::from_static(b"200"),
        };
        let refused = machine.transition(start, again, &config);
        assert_eq!(
            refused.err(),
            Some(TxError::ResponseAfterFinal { status: 200 })
        );
        assert!(matches!(machine.state(), State::Completed { .. }));
    }
}
