//! The client non-INVITE transaction (RFC 3261 §17.1.2), CANCEL included: Timer E
//! retransmits on unreliable transports, Timer F gives up, Timer K absorbs
//! retransmitted final responses.

use std::mem;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::timer::{TimerConfig, TimerName, Timers};
use super::{Action, StatusClass, Step};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Request retransmission, unreliable transports only.
    E,
    /// Transaction timeout.
    F,
    /// Wait for retransmitted final responses in Completed.
    K,
}

impl TimerName for Timer {
    const ALL: &'static [Self] = &[Timer::E, Timer::F, Timer::K];
    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug)]
pub(super) enum State {
    Trying {
        request: Bytes,
        /// The interval Timer E was last armed with.
        interval: Duration,
    },
    Proceeding {
        request: Bytes,
    },
    Completed,
    Terminated,
}

#[derive(Debug)]
pub(super) enum Input {
    Response { status: u16 },
    Timer(Timer),
}

#[derive(Debug)]
pub(super) struct ClientNonInvite {
    state: State,
    timers: Timers<Timer, 3>,
    reliable: bool,
}

impl ClientNonInvite {
    /// Enters Trying; the caller transmits `request` once (RFC 3261 §17.1.2.2).
    pub(super) fn new(now: Instant, request: Bytes, reliable: bool, config: &TimerConfig) -> Self {
        let mut timers = Timers::new();
        if !reliable {
            timers.set(Timer::E, now, config.t1());
        }
        timers.set(Timer::F, now, config.transaction_timeout());
        ClientNonInvite {
            state: State::Trying {
                request,
                interval: config.t1(),
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

    pub(super) fn fire_expired(&mut self, now: Instant, config: &TimerConfig) -> Option<Step> {
        let timer = self.timers.take_expired(now)?;
        Some(self.transition(now, Input::Timer(timer), config))
    }

    /// RFC 3261 §17.1.2.2 (Figure 6): Trying → Proceeding on 1xx, Completed on a final
    /// response; E backs off to T2, and stays at T2 once Proceeding.
    pub(super) fn transition(&mut self, now: Instant, input: Input, config: &TimerConfig) -> Step {
        if let Input::Response { status } = input {
            if StatusClass::of(status) == StatusClass::Invalid {
                return Step::NONE;
            }
        }
        let state = mem::replace(&mut self.state, State::Terminated);
        let (next, step) = match (state, input) {
            (State::Trying { request, interval }, Input::Timer(Timer::E)) => {
                let interval = config.backoff_capped(interval);
                self.timers.set(Timer::E, now, interval);
                let step = Step::act(Action::Retransmit(request.clone()));
                (State::Trying { request, interval }, step)
            }
            (State::Proceeding { request }, Input::Timer(Timer::E)) => {
                self.timers.set(Timer::E, now, config.t2());
                let step = Step::act(Action::Retransmit(request.clone()));
                (State::Proceeding { request }, step)
            }
            (State::Trying { .. } | State::Proceeding { .. }, Input::Timer(Timer::F)) => {
                self.timers.clear_all();
                (State::Terminated, Step::act(Action::Timeout))
            }
            (
                State::Trying { request, .. } | State::Proceeding { request },
                Input::Response { status },
            ) => {
                if StatusClass::of(status) == StatusClass::Provisional {
                    // The pending Timer E keeps its deadline; later ones use T2.
                    return self.finish(State::Proceeding { request }, Step::DELIVER);
                }
                self.timers.clear_all();
                // Timer K is zero on reliable transports (§17.1.2.2).
                if self.reliable {
                    return self.finish(State::Terminated, Step::DELIVER);
                }
                self.timers.set(Timer::K, now, config.t4());
                (State::Completed, Step::DELIVER)
            }
            (State::Completed, Input::Timer(Timer::K)) => (State::Terminated, Step::NONE),
            // Retransmitted finals in Completed, stale timers, input after termination.
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

    #[test]
    fn provisional_moves_to_proceeding_keeping_the_pending_timer_e() {
        let start = super::super::test_start();
        let config = TimerConfig::default();
        let mut machine = ClientNonInvite::new(start, Bytes::from_static(b"BYE"), false, &config);
        let step = machine.transition(
            start + Duration::from_millis(100),
            Input::Response { status: 180 },
            &config,
        );
        assert!(step.deliver);
        assert!(matches!(machine.state(), State::Proceeding { .. }));
        assert_eq!(
            machine.next_deadline(),
            Some(start + Duration::from_millis(500))
        );
    }

    #[test]
    fn final_on_a_reliable_transport_terminates_at_once() {
        let start = super::super::test_start();
        let config = TimerConfig::default();
        let mut machine = ClientNonInvite::new(start, Bytes::from_static(b"BYE"), true, &config);
        let step = machine.transition(start, Input::Response { status: 481 }, &config);
        assert!(step.deliver);
        assert!(matches!(machine.state(), State::Terminated));
        assert_eq!(machine.next_deadline(), None);
    }
}
