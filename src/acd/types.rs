//! The router's public vocabulary: inputs, actions, events, states and
//! the queue figures it publishes.

use std::time::{Duration, Instant};

use super::{AgentId, CallId, OverflowTarget, PauseReason, QueueId};

/// An event for the router, from the call engine, the phones or the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The dialplan sent a caller to a queue. Higher `priority` is served first.
    CallArrived {
        call: CallId,
        queue: QueueId,
        priority: u8,
        attributes: Vec<(String, String)>,
    },
    /// A transfer sent a caller to a queue: it waits as if it had joined
    /// at `arrived` (its place by waiting time), never later than now.
    CallTransferredIn {
        call: CallId,
        queue: QueueId,
        priority: u8,
        attributes: Vec<(String, String)>,
        arrived: Instant,
    },
    /// The caller hung up before an agent answered.
    CallAbandoned {
        call: CallId,
    },
    OfferAnswered {
        call: CallId,
        agent: AgentId,
    },
    /// The agent's phone refused or did not answer the offer.
    OfferRejected {
        call: CallId,
        agent: AgentId,
        reason: RejectReason,
    },
    /// The connected call ended; the agent goes to wrap-up.
    CallEnded {
        call: CallId,
    },
    /// `None`: every queue the agent qualifies for.
    AgentLogin {
        agent: AgentId,
        queue: Option<QueueId>,
    },
    /// `None`: every queue.
    AgentLogout {
        agent: AgentId,
        queue: Option<QueueId>,
    },
    AgentPause {
        agent: AgentId,
        reason: PauseReason,
    },
    AgentResume {
        agent: AgentId,
    },
    /// The agent's phone registered; only registered agents are offered calls.
    AgentRegistered {
        agent: AgentId,
    },
    AgentUnregistered {
        agent: AgentId,
    },
    /// The agent is on a call the router did not give them: a direct DID
    /// call, an internal call, a call out through a trunk, or listening in
    /// as a supervisor. They get no offers until it ends.
    DirectCallStarted {
        agent: AgentId,
    },
    /// One such call ended.
    DirectCallEnded {
        agent: AgentId,
    },
    /// One such call ended that was a call of `queue` the agent was
    /// brought into (a conference party): after the last, the agent
    /// wraps up as after a call of that queue, instead of being free.
    DirectCallEndedWrapUp {
        agent: AgentId,
        queue: QueueId,
    },
    /// The agent is done with their wrap-up before its time is up.
    EndWrapUp {
        agent: AgentId,
    },
    /// The agent gave the disposition of their last call. In a wrap-up
    /// that waits for one, it ends (once the queue's `wrap_up` is over);
    /// otherwise nothing changes.
    Disposition {
        agent: AgentId,
    },
    /// The agent's skills (name, level 1..=10) change. Queues they are in
    /// are re-matched at once; those they no longer qualify for are left.
    SetSkills {
        agent: AgentId,
        skills: Vec<(String, u8)>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    Busy,
    NoAnswer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    NoAgentsLoggedIn,
}

/// What the call engine must do, or what metrics should record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ring `agent` for `call`; report the outcome before `ring_timeout`.
    Offer {
        call: CallId,
        agent: AgentId,
        ring_timeout: Duration,
    },
    /// Stop ringing `agent`: another agent won, the caller left, or it timed out.
    WithdrawOffer {
        call: CallId,
        agent: AgentId,
    },
    /// The call left its queue. `Queue(q)`: the router now queues it in `q`.
    /// `Busy`: the router forgot it; the engine answers busy.
    Overflow {
        call: CallId,
        target: OverflowTarget,
    },
    /// The call was not queued; the router forgot it.
    Refuse {
        call: CallId,
        reason: RefuseReason,
    },
    Event(Event),
}

/// Facts for metrics and the wallboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    CallAnswered {
        call: CallId,
        queue: QueueId,
        agent: AgentId,
        waited: Duration,
    },
    CallAbandoned {
        call: CallId,
        queue: QueueId,
        waited: Duration,
    },
    AgentPaused {
        agent: AgentId,
        reason: PauseReason,
    },
    /// Every change of an agent's state, whatever caused it.
    AgentStateChanged {
        agent: AgentId,
        from: AgentState,
        to: AgentState,
    },
}

/// Counters of one queue since the router started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub arrived: u64,
    pub answered: u64,
    pub answered_within_threshold: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub refused: u64,
    /// Summed over answered calls, from entering this queue.
    pub wait_total: Duration,
}

impl QueueStats {
    /// Answered within the threshold over answered plus abandoned.
    pub fn service_level(&self) -> Option<f64> {
        let handled = self.answered + self.abandoned;
        (handled > 0).then(|| self.answered_within_threshold as f64 / handled as f64)
    }

    pub fn average_wait(&self) -> Option<Duration> {
        let n = u32::try_from(self.answered).ok().filter(|&n| n > 0)?;
        Some(self.wait_total / n)
    }
}

/// A copy of the queue figures, for a driver to publish to readers.
#[derive(Clone, Debug, PartialEq)]
pub struct RouterSnapshot {
    pub queues: Vec<QueueSnapshot>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueueSnapshot {
    pub queue: QueueId,
    pub stats: QueueStats,
    pub waiting: usize,
    pub free_agents: usize,
    pub staffed: u32,
    pub expected_wait: Option<Duration>,
}

/// Where an agent is in its day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentState {
    LoggedOut,
    Available,
    /// Being offered `call`.
    Reserved(CallId),
    OnCall(CallId),
    /// Wrap-up ends at the instant.
    WrapUp(Instant),
    Paused(PauseReason),
    /// Free for the queues but on a call the router did not give them
    /// (see [`Input::DirectCallStarted`]): no offers, no misses.
    Busy,
}

/// Where a call is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallState {
    Waiting,
    Offered {
        agents: Vec<AgentId>,
        deadline: Instant,
    },
    Connected {
        agent: AgentId,
        answered: Instant,
    },
}
