//! One call of the B2BUA: an A leg (the caller, whose INVITE we answer as a
//! UAS) and a B leg (the agent phone or carrier we INVITE as a UAC), possibly
//! forked to several contacts. This core decides what happens to both legs
//! when either side moves; it knows no SIP syntax, no sockets and no clock.
//! The switch turns its actions into messages and feeds it leg events.
//! The [`session`] module holds everything else about the call: its legs,
//! media, phase and what its record needs.

// Functions stay under `too-many-lines-threshold` (clippy.toml): split
// longer ones into named steps.
#![warn(clippy::too_many_lines)]

mod fork;
mod id;
mod placed;
mod private;
pub mod session;
mod transfer;

use std::time::{Duration, Instant};

pub use fork::{ForkState, OnDrop};
pub use id::{CallUuid, CallUuidError, CallUuids};
pub use private::Private;

/// The switch's handle for a live call (tables, router, relay); restarts
/// at 1. Logs, records and events name a call by its [`CallUuid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

impl std::fmt::Display for CallRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Which leg: the caller's (A) or the callee's (B).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// How the call found its callee: a fixed target, or a queue that may offer
/// it to another agent when one does not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    Direct,
    Queued,
}

/// Who started the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A caller's INVITE arrived: we answer it as its UAS.
    Inbound,
    /// The switch placed it (originate): the agent's phone is rung first
    /// on the B leg; once they answer (`agent_answered`), their leg is the
    /// A leg, ours as UAC, and the B leg dials the number (`placed.rs`).
    Placed { agent_answered: bool },
}

/// What happened to a call, for its record and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered and later hung up by the given side.
    Completed { hung_up_by: Side },
    /// The caller gave up (CANCEL) before an answer.
    Abandoned,
    /// The callee was busy (486/600).
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The callee could not be reached (not registered, 480, no route).
    Unavailable,
    /// The callee refused with another final status.
    Rejected(u16),
    /// The switch is shutting down.
    Shutdown,
    /// The media stopped (inactivity timeout) or could not be anchored.
    MediaTimeout,
    /// The session was found dead: no refresh within its session interval
    /// (RFC 4028), or a leg's peer no longer knew the dialog (408/481 to
    /// a refresh or a probe).
    SessionExpired,
    /// Hung up by a command (an operator, through the API).
    Operator,
    /// A call the switch placed: the agent's phone did not answer in time.
    AgentNoAnswer,
    /// A call the switch placed: the agent's phone refused with this status.
    AgentRejected(u16),
}

impl Outcome {
    /// A fixed label for metrics and records.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Completed { .. } => "completed",
            Outcome::Abandoned => "abandoned",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::Unavailable => "unavailable",
            Outcome::Rejected(_) => "rejected",
            Outcome::Shutdown => "shutdown",
            Outcome::MediaTimeout => "media_timeout",
            Outcome::SessionExpired => "session_expired",
            Outcome::Operator => "operator",
            Outcome::AgentNoAnswer => "agent_no_answer",
            Outcome::AgentRejected(_) => "agent_rejected",
        }
    }
}

/// The call's state (one machine per call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// The caller waits for a callee (queued, or not yet offered).
    Routing,
    /// B-leg INVITEs are out to `forks` contacts; `live` have not failed yet.
    Offering {
        forks: usize,
        live: usize,
        provisional_sent: bool,
    },
    /// The B leg answered (and was ACKed); our 200 to A awaits its ACK.
    Answered {
        fork: usize,
    },
    /// Both legs are up.
    Connected,
    /// BYE sent; waiting for the given legs to confirm.
    Releasing {
        a: bool,
        b: bool,
        outcome: Outcome,
    },
    Done(Outcome),
}

/// What a leg did, as the switch saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The router or dial plan picked a callee reached over `forks` contacts.
    Offer { forks: usize },
    /// No callee can be offered (not registered, unknown): end with this outcome.
    Unroutable(Outcome),
    /// A fork sent a provisional response; `has_sdp` for early media.
    BProgress {
        fork: usize,
        status: u16,
        has_sdp: bool,
    },
    /// A fork answered with 2xx.
    BAnswer { fork: usize },
    /// A fork failed with a final status (or a transaction timeout as 408).
    BFailed { fork: usize, status: u16 },
    /// The offer rang too long (direct calls; the router times queued offers).
    RingTimeout,
    /// The router took back the offer from `forks` live forks (its ring
    /// timeout, or the agent paused, logged out or unregistered); the switch
    /// has cancelled them.
    Withdrawn { forks: usize },
    /// The caller cancelled.
    ACancel,
    /// The caller's ACK for our 2xx arrived.
    AAck,
    /// Our 2xx to the caller was never ACKed (RFC 3261 §13.3.1.4).
    ANoAck,
    /// A BYE arrived from that side.
    Bye(Side),
    /// Our BYE to that side was answered or timed out.
    ByeDone(Side),
    /// The switch is stopping.
    Shutdown,
    /// The call's media stopped or failed: hang up both legs.
    MediaLost,
    /// The session is dead (no refresh, or a peer forgot the dialog):
    /// hang up both legs.
    Expired,
    /// A command hangs the call up: both legs, whatever the phase.
    HangUp,
    /// The switch stops now (its drain timed out): the call ends here, its
    /// BYEs or CANCELs left to run their course, and its record is written.
    Abort,
    /// A blind transfer: the switch let the agent's leg go (answered
    /// calls only); the caller waits for a new callee (`transfer.rs`).
    Transfer,
}

/// What the switch must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// INVITE the callee's contacts (one client transaction per fork).
    InviteB,
    /// Relay a provisional response to the caller, with the fork's SDP if any.
    ProvisionalToA { fork: usize, status: u16 },
    /// ACK a fork's 2xx.
    AckB { fork: usize },
    /// Answer the caller with 200 and the answering fork's SDP.
    OkToA { fork: usize },
    /// CANCEL every pending fork except `keep`.
    CancelForks { keep: Option<usize> },
    /// Hang up a fork that answered too late (after ACKing it).
    ByeFork { fork: usize },
    /// Answer the caller's INVITE with a final failure.
    RejectA { status: u16 },
    /// Send BYE on that leg.
    Bye(Side),
    /// Arm (or re-arm) the ring timer.
    StartRingTimer,
    /// Drop the B leg: no offered agent took the queued call, which waits
    /// again (the router decides what comes next).
    Requeue { status: u16 },
    /// A call the switch placed: the agent answered on `fork` (ACKed).
    /// Their leg becomes the A leg, and the B leg is to dial the number.
    AgentAnswered { fork: usize },
    /// The call is over; write its record.
    Finished(Outcome),
    /// A transferred call: the new callee answered on `fork` (ACKed);
    /// bridge the caller, who was answered long ago, to it.
    Reconnect { fork: usize },
    /// A transferred call: its direct target failed with `status`; the
    /// switch picks the fallback (the call waits in routing).
    TransferFailed { status: u16 },
}

/// One call: its state, how it was routed, and its timings.
#[derive(Debug)]
pub struct Call {
    pub id: CallRef,
    pub routing: Routing,
    pub state: State,
    pub created: Instant,
    pub answered: Option<Instant>,
    pub ended: Option<Instant>,
    /// Offers made to agents for this call (queued calls may be offered several times).
    pub offers: u32,
    pub origin: Origin,
    /// Blind transfers so far (the switch stops a loop at a bound).
    pub transfers: u32,
    /// A transfer's new callee is being sought: the caller is answered.
    pub transferring: bool,
    /// A placed call whose number answered (a campaign's customer) waits
    /// for another agent when one misses it, instead of ending.
    pub reoffer: bool,
}

impl Call {
    pub fn new(id: CallRef, routing: Routing, now: Instant) -> Call {
        Call {
            id,
            routing,
            state: State::Routing,
            created: now,
            answered: None,
            ended: None,
            offers: 0,
            origin: Origin::Inbound,
            transfers: 0,
            transferring: false,
            reoffer: false,
        }
    }

    /// A call the switch places (originate): it rings the agent first.
    pub fn placed(id: CallRef, now: Instant) -> Call {
        Call {
            origin: Origin::Placed {
                agent_answered: false,
            },
            ..Call::new(id, Routing::Direct, now)
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// Time from arrival to answer, or to the end if never answered.
    pub fn wait(&self) -> Option<Duration> {
        Some(self.answered.or(self.ended)?.duration_since(self.created))
    }

    /// The call's transition function: the state and one leg event give the
    /// next state and the actions, pushed onto `out` in order. Each phase
    /// has its own step: before the answer, answered, releasing.
    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) {
        let state = std::mem::replace(&mut self.state, State::Routing);
        self.state = match state {
            State::Done(_) => late(state, input, out),
            state if input == Input::Abort => self.abort(now, state, out),
            State::Routing | State::Offering { .. } if self.transferring => {
                self.transferring_step(now, state, input, out)
            }
            // Answered counts (the caller's ACK may still be on its way):
            // it changes nothing on the caller's leg.
            State::Answered { .. } | State::Connected if input == Input::Transfer => {
                self.transfers += 1;
                self.transferring = true;
                State::Routing
            }
            State::Routing | State::Offering { .. } if self.origin != Origin::Inbound => {
                self.placed_unanswered(now, state, input, out)
            }
            State::Routing | State::Offering { .. } => self.unanswered(now, state, input, out),
            State::Answered { .. } | State::Connected => self.answered(state, input, out),
            State::Releasing { .. } => self.releasing(now, state, input, out),
        };
    }

    /// Ends the call at once, whatever its state: a call being released
    /// keeps the outcome it was released with, any other is `Shutdown`.
    fn abort(&mut self, now: Instant, state: State, out: &mut Vec<Action>) -> State {
        let outcome = match state {
            State::Releasing { outcome, .. } => outcome,
            State::Routing | State::Offering { .. } => {
                if matches!(state, State::Offering { .. }) {
                    out.push(Action::CancelForks { keep: None });
                }
                if self.origin == Origin::Inbound {
                    out.push(Action::RejectA { status: 503 });
                }
                Outcome::Shutdown
            }
            // Best effort: nobody waits for these answers.
            State::Answered { .. } | State::Connected => {
                out.push(Action::Bye(Side::A));
                out.push(Action::Bye(Side::B));
                Outcome::Shutdown
            }
            _ => Outcome::Shutdown,
        };
        self.ended = Some(now);
        out.push(Action::Finished(outcome));
        State::Done(outcome)
    }

    /// Routing or offering: an offer starts, the call ends before an
    /// answer, or (offering) the B leg moves.
    fn unanswered(
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
                // A queued offer rings for as long as the router says.
                if self.routing == Routing::Direct {
                    out.push(Action::StartRingTimer);
                }
                S::Offering {
                    forks,
                    live: forks,
                    provisional_sent: false,
                }
            }
            (S::Routing, I::Unroutable(outcome)) => {
                self.finish(now, out, status_for(outcome), outcome)
            }
            (S::Routing | S::Offering { .. }, I::ACancel) => {
                out.push(Action::CancelForks { keep: None });
                self.finish(now, out, 487, Outcome::Abandoned)
            }
            (S::Routing | S::Offering { .. }, I::Shutdown) => {
                out.push(Action::CancelForks { keep: None });
                self.finish(now, out, 503, Outcome::Shutdown)
            }
            (S::Routing | S::Offering { .. }, I::HangUp) => {
                out.push(Action::CancelForks { keep: None });
                self.finish(now, out, 480, Outcome::Operator)
            }
            (S::Routing | S::Offering { .. }, I::MediaLost) => {
                out.push(Action::CancelForks { keep: None });
                self.finish(now, out, 503, Outcome::MediaTimeout)
            }
            (state @ S::Offering { .. }, input) => self.offering(now, state, input, out),
            (state, input) => late(state, input, out),
        }
    }

    /// Offering: the B leg's forks ring, fail or answer, or the ring times out.
    fn offering(
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
                // One 180 is enough; early media (183 with SDP) always goes through.
                if !provisional_sent || has_sdp {
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
                out.push(Action::OkToA { fork });
                self.answered = Some(now);
                S::Answered { fork }
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
                    S::Offering {
                        forks,
                        live,
                        provisional_sent,
                    }
                } else {
                    self.offer_failed(now, out, status)
                }
            }
            (
                S::Offering {
                    forks,
                    live,
                    provisional_sent,
                },
                I::Withdrawn { forks: gone },
            ) => {
                let live = live.saturating_sub(gone);
                if live > 0 {
                    S::Offering {
                        forks,
                        live,
                        provisional_sent,
                    }
                } else {
                    out.push(Action::Requeue { status: 487 });
                    S::Routing
                }
            }
            (S::Offering { forks, .. }, I::RingTimeout) => {
                out.push(Action::CancelForks { keep: None });
                let _ = forks;
                self.offer_failed(now, out, 408)
            }
            (state, input) => late(state, input, out),
        }
    }

    /// Answered (awaiting the caller's ACK) or connected: either side hangs up.
    fn answered(&mut self, state: State, input: Input, out: &mut Vec<Action>) -> State {
        use Input as I;
        use State as S;
        match (state, input) {
            (S::Answered { .. } | S::Connected, I::HangUp) => {
                out.push(Action::Bye(Side::A));
                out.push(Action::Bye(Side::B));
                S::Releasing {
                    a: true,
                    b: true,
                    outcome: Outcome::Operator,
                }
            }
            (S::Answered { .. }, I::AAck) => S::Connected,
            (S::Answered { .. }, I::ANoAck) => {
                out.push(Action::Bye(Side::B));
                S::Releasing {
                    a: false,
                    b: true,
                    outcome: Outcome::Completed {
                        hung_up_by: Side::A,
                    },
                }
            }
            (S::Answered { .. } | S::Connected, I::Bye(side)) => {
                out.push(Action::Bye(side.other()));
                let outcome = Outcome::Completed { hung_up_by: side };
                match side {
                    Side::A => S::Releasing {
                        a: false,
                        b: true,
                        outcome,
                    },
                    Side::B => S::Releasing {
                        a: true,
                        b: false,
                        outcome,
                    },
                }
            }
            (S::Answered { .. } | S::Connected, I::Shutdown) => {
                out.push(Action::Bye(Side::A));
                out.push(Action::Bye(Side::B));
                S::Releasing {
                    a: true,
                    b: true,
                    outcome: Outcome::Shutdown,
                }
            }
            (S::Answered { .. } | S::Connected, input @ (I::MediaLost | I::Expired)) => {
                out.push(Action::Bye(Side::A));
                out.push(Action::Bye(Side::B));
                let outcome = match input {
                    I::Expired => Outcome::SessionExpired,
                    _ => Outcome::MediaTimeout,
                };
                S::Releasing {
                    a: true,
                    b: true,
                    outcome,
                }
            }
            (state, input) => late(state, input, out),
        }
    }

    /// BYEs under way: the call is done when both legs are.
    fn releasing(
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
                S::Releasing {
                    mut a,
                    mut b,
                    outcome,
                },
                I::ByeDone(side) | I::Bye(side),
            ) => {
                match side {
                    Side::A => a = false,
                    Side::B => b = false,
                }
                if a || b {
                    S::Releasing { a, b, outcome }
                } else {
                    self.ended = Some(now);
                    out.push(Action::Finished(outcome));
                    S::Done(outcome)
                }
            }
            (state, input) => late(state, input, out),
        }
    }

    /// The offer is over without an answer: a direct call ends, a queued call
    /// goes back to its queue.
    fn offer_failed(&mut self, now: Instant, out: &mut Vec<Action>, status: u16) -> State {
        match self.routing {
            Routing::Queued => {
                out.push(Action::Requeue { status });
                State::Routing
            }
            Routing::Direct => {
                let outcome = match status {
                    486 | 600 => Outcome::Busy,
                    408 | 487 => Outcome::NoAnswer,
                    404 | 410 | 480 | 503 => Outcome::Unavailable,
                    other => Outcome::Rejected(other),
                };
                self.finish(now, out, status_for(outcome), outcome)
            }
        }
    }

    fn finish(
        &mut self,
        now: Instant,
        out: &mut Vec<Action>,
        status: u16,
        outcome: Outcome,
    ) -> State {
        out.push(Action::RejectA { status });
        self.ended = Some(now);
        out.push(Action::Finished(outcome));
        State::Done(outcome)
    }
}

/// The status the caller hears for an unanswered call.
/// An event the state does not expect. A fork that answers after another
/// won, or after the caller left, is ACKed and hung up (RFC 3261 §13.2.2.4);
/// anything else is a late or duplicate event: nothing changes.
fn late(state: State, input: Input, out: &mut Vec<Action>) -> State {
    if let Input::BAnswer { fork } = input {
        out.push(Action::AckB { fork });
        out.push(Action::ByeFork { fork });
    }
    state
}

fn status_for(outcome: Outcome) -> u16 {
    match outcome {
        Outcome::Busy => 486,
        Outcome::NoAnswer
        | Outcome::Unavailable
        | Outcome::Operator
        | Outcome::AgentNoAnswer
        | Outcome::AgentRejected(_) => 480,
        Outcome::Abandoned => 487,
        Outcome::Shutdown | Outcome::MediaTimeout | Outcome::SessionExpired => 503,
        Outcome::Rejected(603) => 603,
        Outcome::Rejected(404) => 404,
        Outcome::Rejected(_) | Outcome::Completed { .. } => 480,
    }
}

#[cfg(test)]
mod tests;
