//! Our registration with a carrier that wants one (RFC 3261 §10.2): a
//! REGISTER at start, the digest answer to one 401/407 per attempt
//! (§22.2), a refresh at half the Expires the carrier granted, and after
//! a refusal or a timeout another try after a back-off that doubles from
//! [`RETRY_MIN`] to [`RETRY_MAX`]. The switch builds and sends each
//! REGISTER; this machine only says when and with what.

use std::time::{Duration, Instant};

/// The first wait after a failed attempt.
pub const RETRY_MIN: Duration = Duration::from_secs(5);
/// The longest wait between failed attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(600);
/// The soonest a refresh is sent, however short the grant.
const REFRESH_MIN: Duration = Duration::from_secs(1);

/// What the switch must do or know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegStep {
    /// Send a REGISTER asking for `expires` (zero: unregister), with the
    /// answer to `challenge` (status and WWW-/Proxy-Authenticate value).
    Send {
        expires: Duration,
        challenge: Option<(u16, String)>,
    },
    /// The carrier took the registration for `granted`.
    Registered { granted: Duration },
    /// The carrier said no; the next try is in `retry_in`.
    Refused { status: u16, retry_in: Duration },
    /// No answer (or no way to send); the next try is in `retry_in`.
    Failed { retry_in: Duration },
}

/// What a final response to our REGISTER says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegAnswer {
    pub status: u16,
    /// The Expires granted: our Contact's `expires`, else the header's.
    pub granted: Option<Duration>,
    /// A 401's WWW-Authenticate or a 407's Proxy-Authenticate.
    pub challenge: Option<String>,
    /// A 423's Min-Expires.
    pub min_expires: Option<Duration>,
}

impl RegAnswer {
    pub fn status(status: u16) -> RegAnswer {
        RegAnswer {
            status,
            ..RegAnswer::default()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for `next_at` to send a REGISTER.
    Idle,
    /// A REGISTER in flight; `answered` when it carries credentials.
    Registering { answered: bool },
    /// Unregistered for good (shutdown).
    Stopped,
}

/// One trunk's registration.
#[derive(Clone, Debug)]
pub struct Registration {
    asked: Duration,
    state: State,
    next_at: Instant,
    /// Until when the carrier holds our binding.
    until: Option<Instant>,
    backoff: Duration,
}

impl Registration {
    /// Asks for `expires`; the first REGISTER is due at `now`.
    pub fn new(expires: Duration, now: Instant) -> Registration {
        Registration {
            asked: expires,
            state: State::Idle,
            next_at: now,
            until: None,
            backoff: RETRY_MIN,
        }
    }

    pub fn is_registered(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }

    /// When the next REGISTER is due; none while one is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.state == State::Idle).then_some(self.next_at)
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Option<RegStep> {
        if self.state != State::Idle || now < self.next_at {
            return None;
        }
        self.state = State::Registering { answered: false };
        Some(RegStep::Send {
            expires: self.asked,
            challenge: None,
        })
    }

    /// A final response to the REGISTER in flight.
    pub fn on_response(&mut self, now: Instant, answer: RegAnswer) -> Option<RegStep> {
        let RegAnswer {
            status,
            granted,
            challenge,
            min_expires,
        } = answer;
        let State::Registering { answered } = self.state else {
            return None;
        };
        if status < 200 {
            return None;
        }
        // 423: ask again at once for what the carrier takes (§10.2.8).
        if let Some(min) = min_expires.filter(|m| status == 423 && *m > self.asked) {
            self.asked = min;
            return Some(RegStep::Send {
                expires: min,
                challenge: None,
            });
        }
        if (200..300).contains(&status) {
            let granted = granted.unwrap_or(self.asked);
            if granted.is_zero() {
                return Some(self.retry(now, Some(status)));
            }
            self.state = State::Idle;
            self.until = Some(now + granted);
            self.next_at = now + (granted / 2).max(REFRESH_MIN);
            self.backoff = RETRY_MIN;
            return Some(RegStep::Registered { granted });
        }
        match challenge {
            Some(value) if matches!(status, 401 | 407) && !answered => {
                self.state = State::Registering { answered: true };
                Some(RegStep::Send {
                    expires: self.asked,
                    challenge: Some((status, value)),
                })
            }
            _ => Some(self.retry(now, Some(status))),
        }
    }

    /// The REGISTER in flight timed out or could not be sent.
    pub fn on_failure(&mut self, now: Instant) -> Option<RegStep> {
        match self.state {
            State::Registering { .. } => Some(self.retry(now, None)),
            _ => None,
        }
    }

    /// At shutdown: a REGISTER with Expires 0 if the carrier holds a
    /// binding (RFC 3261 §10.2.2); no more REGISTERs after it.
    pub fn stop(&mut self, now: Instant) -> Option<RegStep> {
        let registered = self.is_registered(now);
        self.state = State::Stopped;
        self.until = None;
        registered.then_some(RegStep::Send {
            expires: Duration::ZERO,
            challenge: None,
        })
    }

    fn retry(&mut self, now: Instant, status: Option<u16>) -> RegStep {
        let retry_in = self.backoff;
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
        self.state = State::Idle;
        self.next_at = now + retry_in;
        // A binding the carrier holds stays until it runs out.
        if self.until.is_some_and(|until| now >= until) {
            self.until = None;
        }
        match status {
            Some(status) => RegStep::Refused { status, retry_in },
            None => RegStep::Failed { retry_in },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[allow(clippy::disallowed_methods)] // one real instant; the rest is virtual
    fn t0() -> Instant {
        Instant::now()
    }

    fn send(challenge: Option<(u16, String)>) -> Option<RegStep> {
        Some(RegStep::Send {
            expires: 3600 * SEC,
            challenge,
        })
    }

    fn challenged(status: u16, value: &str) -> RegAnswer {
        RegAnswer {
            challenge: Some(value.to_string()),
            ..RegAnswer::status(status)
        }
    }

    fn granting(granted: Duration) -> RegAnswer {
        RegAnswer {
            granted: Some(granted),
            ..RegAnswer::status(200)
        }
    }

    #[test]
    fn interval_too_brief_asks_again_at_once_for_min_expires() {
        let t0 = t0();
        let mut r = Registration::new(60 * SEC, t0);
        r.handle_timeout(t0);
        let brief = RegAnswer {
            min_expires: Some(300 * SEC),
            ..RegAnswer::status(423)
        };
        assert_eq!(
            r.on_response(t0, brief.clone()),
            Some(RegStep::Send {
                expires: 300 * SEC,
                challenge: None
            })
        );
        // A second 423 asking for no more than that is a refusal.
        assert!(matches!(
            r.on_response(t0, brief),
            Some(RegStep::Refused { status: 423, .. })
        ));
    }

    #[test]
    fn a_challenge_is_answered_once_and_the_grant_is_refreshed_at_half() {
        let t0 = t0();
        let mut r = Registration::new(3600 * SEC, t0);
        assert_eq!(r.poll_timeout(), Some(t0));
        assert_eq!(r.handle_timeout(t0), send(None));
        assert_eq!(r.poll_timeout(), None);
        let challenge = "Digest realm=\"c\", nonce=\"n\"".to_string();
        assert_eq!(
            r.on_response(t0, challenged(401, &challenge)),
            send(Some((401, challenge)))
        );
        assert!(!r.is_registered(t0));
        let granted = 120 * SEC;
        assert_eq!(
            r.on_response(t0 + SEC, granting(granted)),
            Some(RegStep::Registered { granted })
        );
        assert!(r.is_registered(t0 + SEC));
        assert_eq!(r.poll_timeout(), Some(t0 + 61 * SEC));
        assert_eq!(r.handle_timeout(t0 + 60 * SEC), None);
        assert_eq!(r.handle_timeout(t0 + 61 * SEC), send(None));
        // Still registered while the refresh is in flight.
        assert!(r.is_registered(t0 + 62 * SEC));
        assert!(!r.is_registered(t0 + 121 * SEC));
    }

    #[test]
    fn a_second_challenge_is_a_refusal_and_retries_back_off() {
        let t0 = t0();
        let mut r = Registration::new(3600 * SEC, t0);
        r.handle_timeout(t0);
        let ch = || "Digest realm=\"c\", nonce=\"n\"".to_string();
        assert!(matches!(
            r.on_response(t0, challenged(401, &ch())),
            Some(RegStep::Send { .. })
        ));
        assert_eq!(
            r.on_response(t0, challenged(401, &ch())),
            Some(RegStep::Refused {
                status: 401,
                retry_in: RETRY_MIN
            })
        );
        assert_eq!(r.poll_timeout(), Some(t0 + RETRY_MIN));
        r.handle_timeout(t0 + RETRY_MIN);
        assert_eq!(
            r.on_response(t0 + RETRY_MIN, RegAnswer::status(403)),
            Some(RegStep::Refused {
                status: 403,
                retry_in: 2 * RETRY_MIN
            })
        );
        let mut at = t0 + 3 * RETRY_MIN;
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            r.handle_timeout(at);
            let Some(RegStep::Failed { retry_in }) = r.on_failure(at) else {
                panic!("a timeout is a failure");
            };
            at += retry_in;
            last = retry_in;
        }
        assert_eq!(last, RETRY_MAX);
    }

    #[test]
    fn a_refresh_that_fails_keeps_the_binding_until_it_runs_out() {
        let t0 = t0();
        let mut r = Registration::new(60 * SEC, t0);
        r.handle_timeout(t0);
        r.on_response(t0, RegAnswer::status(200));
        assert_eq!(r.poll_timeout(), Some(t0 + 30 * SEC));
        r.handle_timeout(t0 + 30 * SEC);
        assert_eq!(
            r.on_failure(t0 + 30 * SEC),
            Some(RegStep::Failed {
                retry_in: RETRY_MIN
            })
        );
        assert!(r.is_registered(t0 + 59 * SEC));
        assert!(!r.is_registered(t0 + 60 * SEC));
    }

    #[test]
    fn stop_unregisters_a_held_binding_and_sends_nothing_more() {
        let t0 = t0();
        let mut r = Registration::new(60 * SEC, t0);
        r.handle_timeout(t0);
        r.on_response(t0, granting(2 * SEC));
        assert_eq!(r.poll_timeout(), Some(t0 + SEC));
        assert_eq!(
            r.stop(t0 + SEC),
            Some(RegStep::Send {
                expires: Duration::ZERO,
                challenge: None
            })
        );
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.handle_timeout(t0 + 10 * SEC), None);
        assert_eq!(r.stop(t0 + 10 * SEC), None);
    }
}
