//! The server INVITE transaction: RFC 3261 §17.2.1 with the Accepted state and Timer L
//! of RFC 6026 §8.7. Beyond the RFC's machine it also retransmits the TU's 2xx on
//! unreliable transports until the TU reports the ACK (the UAS core's duty in
//! RFC 3261 §13.3.1.4), so that the switch keeps one retransmission schedule.

use std::mem;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::timer::{TimerConfig, TimerName, Timers};
use super::{Action, StatusClass, Step, TxError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Final response retransmission in Completed, unreliable transports only.
    G,
    /// Give up waiting for the ACK in Completed.
    H,
    /// Absorb ACK retransmissions in Confirmed.
    I,
    /// Absorb INVITE retransmissions in Accepted (RFC 6026).
    L,
    /// 2xx retransmission in Accepted, unreliable transports only (RFC 3261 §13.3.1.4).
    Resend2xx,
}

impl TimerName for Timer {
    const ALL: &'static [Self] = &[Timer::G, Timer::H, Timer::I, Timer::L, Timer::Resend2xx];
    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug)]
pub(super) enum State {
    /// Holds the last provisional response sent, re-sent for a retransmitted INVITE.
    Proceeding {
        provisional: Option<Bytes>,
    },
    Completed {
        response: Bytes,
        interval: Duration,
    },
    Confirmed,
    Accepted {
        response: Bytes,
        interval: Duration,
        acked: bool,
    },
    Terminated,
}

#[derive(Debug)]
pub(super) enum Input {
    /// A retransmission of the INVITE.
    Request,
    /// An ACK with this transaction's key.
    Ack,
    /// The TU sends a response.
    Respond {
        status: u16,
        bytes: Bytes,
    },
    /// The TU saw the ACK for the 2xx (a separate transaction, §17.1.1.3).
    AckFor2xx,
    Timer(Timer),
}

#[derive(Debug)]
pub(super) struct ServerInvite {
    state: State,
    timers: Timers<Timer, 5>,
    reliable: bool,
}

impl ServerInvite {
    /// Enters Proceeding and sends nothing: the TU sends 100 Trying itself.
    pub(super) fn new(reliable: bool) -> Self {
        ServerInvite {
            state: State::Proceeding { provisional: None },
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

    /// RFC 3261 §17.2.1 (Figure 7) as updated by RFC 6026 §8.7 (Figure 5): Proceeding →
    /// Completed on 300–699 → Confirmed on ACK; Proceeding → Accepted on 2xx. A `Step`
    /// that delivers an ACK means the ACK is the TU's (for a 2xx). Only TU responses
    /// after the final one fail.
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
            (State::Proceeding { provisional }, Input::Request) => {
                let step = match &provisional {
                    Some(bytes) => Step::act(Action::Retransmit(bytes.clone())),
                    None => Step::NONE,
                };
                (State::Proceeding { provisional }, step)
            }
            (State::Proceeding { .. }, Input::Respond { status, bytes }) => {
                let send = Step::act(Action::Transmit(bytes.clone()));
                match StatusClass::of(status) {
                    StatusClass::Provisional => (
                        State::Proceeding {
                            provisional: Some(bytes),
                        },
                        send,
                    ),
                    StatusClass::Success => {
                        self.timers.set(Timer::L, now, config.transaction_timeout());
                        if !self.reliable {
                            self.timers.set(Timer::Resend2xx, now, config.t1());
                        }
                        let next = State::Accepted {
                            response: bytes,
                            interval: config.t1(),
                            acked: false,
                        };
                        (next, send)
                    }
                    StatusClass::Final => {
                        if !self.reliable {
                            self.timers.set(Timer::G, now, config.t1());
                        }
                        self.timers.set(Timer::H, now, config.transaction_timeout());
                        let next = State::Completed {
                            response: bytes,
                            interval: config.t1(),
                        };
                        (next, send)
                    }
                    StatusClass::Invalid => unreachable!("invalid statuses are refused above"),
                }
            }
            (State::Completed { response, interval }, Input::Request) => {
                let step = Step::act(Action::Retransmit(response.clone()));
                (State::Completed { response, interval }, step)
            }
            (State::Completed { response, interval }, Input::Timer(Timer::G)) => {
                let interval = config.backoff_capped(interval);
                self.timers.set(Timer::G, now, interval);
                let step = Step::act(Action::Retransmit(response.clone()));
                (State::Completed { response, interval }, step)
            }
            (State::Completed { .. }, Input::Ack) => {
                self.timers.clear_all();
                // Timer I is zero on reliable transports (§17.2.1).
                if self.reliable {
                    return Ok(self.finish(State::Terminated, Step::NONE));
                }
                self.timers.set(Timer::I, now, config.t4());
                (State::Confirmed, Step::NONE)
            }
            (State::Completed { .. }, Input::Timer(Timer::H)) => {
                self.timers.clear_all();
                (State::Terminated, Step::act(Action::NoAck))
            }
            (State::Confirmed, Input::Timer(Timer::I)) => (State::Terminated, Step::NONE),
            (
                State::Accepted {
                    response,
                    interval,
                    acked: false,
                },
                Input::Timer(Timer::Resend2xx),
            ) => {
                let interval = config.backoff_capped(interval);
                self.timers.set(Timer::Resend2xx, now, interval);
                let step = Step::act(Action::Retransmit(response.clone()));
                let next = State::Accepted {
                    response,
                    interval,
                    acked: false,
                };
                (next, step)
            }
            (State::Accepted { interval, .. }, Input::AckFor2xx) => {
                // Stay until Timer L so that late INVITE copies are still absorbed,
                // but the 2xx will not be sent again: let its buffer go.
                self.timers.clear(Timer::Resend2xx);
                let next = State::Accepted {
                    response: Bytes::new(),
                    interval,
                    acked: true,
                };
                (next, Step::NONE)
            }
            (state @ State::Accepted { .. }, Input::Ack) => (state, Step::DELIVER),
            (State::Accepted { acked, .. }, Input::Timer(Timer::L)) => {
                self.timers.clear_all();
                let step = if acked {
                    Step::NONE
                } else {
                    Step::act(Action::NoAck)
                };
                (State::Terminated, step)
            }
            (
                State::Accepted {
                    interval, acked, ..
                },
                Input::Respond { status, bytes },
            ) if StatusClass::of(status) == StatusClass::Success => {
                // RFC 6026 §8.7: further 2xx from the TU (other forks) are sent as well.
                let step = Step::act(Action::Transmit(bytes.clone()));
                let next = State::Accepted {
                    response: bytes,
                    interval,
                    acked,
                };
                (next, step)
            }
            (state, Input::Respond { status, .. }) => {
                self.state = state;
                return Err(TxError::ResponseAfterFinal { status });
            }
            // Absorbed: INVITE copies in Accepted/Confirmed, ACK copies in Confirmed,
            // ACKs while Proceeding, stale timers.
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

    fn respond(status: u16) -> Input {
        Input::Respond {
            status,
            bytes: Bytes::from_static(b"response"),
        }
    }

    #[test]
    fn non_2xx_enters_completed_then_ack_confirms() {
        let start = super::super::test_start();
        let config = TimerConfig::default();
        let mut machine = ServerInvite::new(false);
        machine
            .transition(start, respond(486), &config)
            .expect("first final");
        assert!(matches!(machine.state(), State::Completed { .. }));
        let step = machine.transition(start, Input::Ack, &config).expect("ACK");
        assert!(!step.deliver, "absorbed");
        assert!(matches!(machine.state(), State::Confirmed));
        assert_eq!(
            machine.next_deadline(),
            Some(start + Duration::from_secs(5))
        );
    }

    #[test]
    fn ack_for_2xx_stops_resending_but_stays_accepted_until_timer_l() {
        let start = super::super::test_start();
        let config = TimerConfig::default();
        let mut machine = ServerInvite::new(false);
        machine
            .transition(start, respond(200), &config)
            .expect("2xx");
        assert_eq!(
            machine.next_deadline(),
            Some(start + Duration::from_millis(500))
        );
        machine
            .transition(start, Input::AckFor2xx, &config)
            .expect("ACK reported");
        assert!(matches!(
            machine.state(),
            State::Accepted { acked: true, .. }
        ));
        assert_eq!(
            machine.next_deadline(),
            Some(start + Duration::from_secs(32))
        );
    }

    #[test]
    fn failed_response_leaves_the_state_unchanged() {
        let start = super::super::test_start();
        let config = TimerConfig::default();
        let mut machine = ServerInvite::new(false);
        machine
            .transition(start, respond(180), &config)
            .expect("1xx");
        let invalid = machine.transition(start, respond(1000), &config);
        assert_eq!(invalid.err(), Some(TxError::InvalidStatus { status: 1000 }));
        assert!(matches!(
            machine.state(),
            State::Proceeding {
                provisional: Some(_)
            }
        ));
    }
}
