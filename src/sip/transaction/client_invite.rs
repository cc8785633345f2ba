//! The client INVITE transaction: RFC 3261 §17.1.1 with the Accepted state and Timer M
//! of RFC 6026 §8.4. It retransmits the INVITE on unreliable transports, ACKs non-2xx
//! final responses itself (§17.1.1.3) and lets every 2xx through to the TU, which
//! ACKs 2xx in a transaction of its own (§13.2.2.4).

use std::mem;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::timer::{TimerConfig, TimerName, Timers};
use super::{AckTemplate, Action, StatusClass, Step};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// INVITE retransmission, unreliable transports only.
    A,
    /// Transaction timeout while Calling.
    B,
    /// Wait for retransmitted final responses in Completed.
    D,
    /// Wait for retransmitted 2xx in Accepted (RFC 6026).
    M,
}

impl TimerName for Timer {
    const ALL: &'static [Self] = &[Timer::A, Timer::B, Timer::D, Timer::M];
    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug)]
pub(super) enum State {
    Calling {
        request: Bytes,
        /// The interval Timer A was last armed with; it doubles on each firing.
        interval: Duration,
        ack: AckTemplate,
    },
    Proceeding {
        ack: AckTemplate,
    },
    /// Holds the ACK sent for the final response, re-sent for each retransmission of it.
    Completed {
        ack: Bytes,
    },
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub(super) enum Input<'a> {
    /// A response matched this transaction; `to_header` is its To header value.
    Response {
        status: u16,
        to_header: &'a str,
    },
    Timer(Timer),
}

#[derive(Debug)]
pub(super) struct ClientInvite {
    state: State,
    timers: Timers<Timer, 4>,
    reliable: bool,
}

impl ClientInvite {
    /// Enters Calling; the caller transmits `request` once (RFC 3261 §17.1.1.2).
    pub(super) fn new(
        now: Instant,
        request: Bytes,
        ack: AckTemplate,
        reliable: bool,
        config: &TimerConfig,
    ) -> ClientInvite {
        let mut timers = Timers::new();
        if !reliable {
            timers.set(Timer::A, now, config.t1());
        }
        timers.set(Timer::B, now, config.transaction_timeout());
        ClientInvite {
            state: State::Calling {
                request,
                interval: config.t1(),
                ack,
            },
            timers,
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

    /// Fires the earliest timer due at `now`, if any.
    pub(super) fn fire_expired(&mut self, now: Instant, config: &TimerConfig) -> Option<Step> {
        let timer = self.timers.take_expired(now)?;
        Some(self.transition(now, Input::Timer(timer), config))
    }

    /// RFC 3261 §17.1.1.2 (Figure 5) as updated by RFC 6026 §8.4 (Figure 3): Calling →
    /// Proceeding on 1xx, Completed on 300–699 (ACK sent here), Accepted on 2xx.
    pub(super) fn transition(
        &mut self,
        now: Instant,
        input: Input<'_>,
        config: &TimerConfig,
    ) -> Step {
        if let Input::Response { status, .. } = input {
            if StatusClass::of(status) == StatusClass::Invalid {
                return Step::NONE;
            }
        }
        let state = mem::replace(&mut self.state, State::Terminated);
        let (next, step) = match (state, input) {
            (
                State::Calling {
                    request,
                    interval,
                    ack,
                },
                Input::Timer(Timer::A),
            ) => {
                // INVITE retransmissions double without the T2 cap (§17.1.1.2).
                let interval = interval.saturating_mul(2);
                self.timers.set(Timer::A, now, interval);
                let step = Step::act(Action::Retransmit(request.clone()));
                let next = State::Calling {
                    request,
                    interval,
                    ack,
                };
                (next, step)
            }
            (State::Calling { .. }, Input::Timer(Timer::B)) => {
                self.timers.clear_all();
                (State::Terminated, Step::act(Action::Timeout))
            }
            (
                State::Calling { ack, .. } | State::Proceeding { ack },
                Input::Response { status, to_header },
            ) => {
                match StatusClass::of(status) {
                    StatusClass::Provisional => {
                        self.timers.clear(Timer::A);
                        self.timers.clear(Timer::B);
                        (State::Proceeding { ack }, Step::DELIVER)
                    }
                    StatusClass::Success => {
                        self.timers.clear_all();
                        self.timers.set(Timer::M, now, config.transaction_timeout());
                        (State::Accepted, Step::DELIVER)
                    }
                    StatusClass::Final => {
                        self.timers.clear_all();
                        let ack = ack.build(to_header);
                        let step = Step::deliver_and(Action::Transmit(ack.clone()));
                        // Timer D is zero on reliable transports (§17.1.1.2).
                        if self.reliable {
                            return self.finish(State::Terminated, step);
                        }
                        self.timers.set(Timer::D, now, config.timer_d());
                        (State::Completed { ack }, step)
                    }
                    StatusClass::Invalid => unreachable!("invalid statuses are absorbed above"),
                }
            }
            (State::Completed { ack }, Input::Response { status, .. }) => {
                // Each retransmitted final response gets the same ACK again; the TU saw it once.
                let step = match StatusClass::of(status) {
                    StatusClass::Final => Step::act(Action::Retransmit(ack.clone())),
                    _ => Step::NONE,
                };
                (State::Completed { ack }, step)
            }
            (State::Completed { .. }, Input::Timer(Timer::D)) => (State::Terminated, Step::NONE),
            (State::Accepted, Input::Response { status, .. }) => {
                // RFC 6026 §8.4: retransmitted 2xx go to the TU, which re-sends its ACK.
                let step = match StatusClass::of(status) {
                    StatusClass::Success => Step::DELIVER,
                    _ => Step::NONE,
                };
                (State::Accepted, step)
            }
            (State::Accepted, Input::Timer(Timer::M)) => (State::Terminated, Step::NONE),
            // A timer left over from an earlier state, or input after termination.
            (state, _) => (state, Step::NONE),
        };
        self.finish(next, step)
    }

    fn finish(&mut self, next: State, step: Step) -> Step {
        self.state = next;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calling(reliable: bool) -> (Instant, ClientInvite, TimerConfig) {
        let start = super::super::test_start();
        let config = TimerConfig::default();
        let ack = AckTemplate::new(Bytes::from_static(b"ACK sip:a SIP/2.0\r\n")).expect("CRLF");
        let machine =
            ClientInvite::new(start, Bytes::from_static(b"INVITE"), ack, reliable, &config);
        (start, machine, config)
    }

    #[test]
    fn timer_a_doubles_without_the_t2_cap() {
        let (start, mut machine, config) = calling(false);
        let mut fired = Vec::new();
        while let Some(at) = machine
            .next_deadline()
            .filter(|at| *at < start + Duration::from_secs(32))
        {
            machine.fire_expired(at, &config).expect("a timer is due");
            fired.push(at - start);
        }
        let secs: Vec<_> = [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
            .map(Duration::from_secs_f64)
            .to_vec();
        assert_eq!(fired, secs);
        assert!(
            matches!(machine.state(), State::Calling { interval, .. } if *interval == Duration::from_secs(32))
        );
    }

    #[test]
    fn non_2xx_enters_completed_holding_the_ack() {
        let (start, mut machine, config) = calling(false);
        let response = Input::Response {
            status: 603,
            to_header: "<sip:b>;tag=x",
        };
        let step = machine.transition(start, response, &config);
        assert!(step.deliver);
        let State::Completed { ack } = machine.state() else {
            panic!("expected Completed, got {:?}", machine.state());
        };
        assert_eq!(
            &ack[..],
            b"ACK sip:a SIP/2.0\r\nTo: <sip:b>;tag=x\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            machine.next_deadline(),
            Some(start + Duration::from_secs(32))
        );
    }

    #[test]
    fn invalid_status_is_ignored_without_leaving_calling() {
        let (start, mut machine, config) = calling(true);
        let step = machine.transition(
            start,
            Input::Response {
                status: 700,
                to_header: "",
            },
            &config,
        );
        assert!(!step.deliver && step.action.is_none());
        assert!(matches!(machine.state(), State::Calling { .. }));
    }

    #[test]
    fn accepted_lasts_64_t1() {
        let (start, mut machine, config) = calling(true);
        machine.transition(
            start,
            Input::Response {
                status: 200,
                to_header: "",
            },
            &config,
        );
        assert!(matches!(machine.state(), State::Accepted));
        assert_eq!(
            machine.next_deadline(),
            Some(start + Duration::from_secs(32))
        );
    }
}
