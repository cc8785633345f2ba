//! The ACD router: agents, skills, queues and the strategies that pick which
//! free agent gets which waiting caller.
//!
//! [`Router`] is a pure core: it takes [`Input`]s with `now`, yields
//! [`Action`]s one at a time through [`Router::poll_action`] and names its
//! earliest deadline through [`Router::poll_timeout`]. It does no IO, reads no
//! clock and holds no lock; one task owns it and others message it over
//! bounded channels. Ringing phones, answering SIP and playing prompts are the
//! call engine's job; parsing the config into [`AgentSpec`]/[`QueueSpec`] is
//! the config loader's. [`erlang`] holds the Erlang C formulas used to check
//! the router against theory and to estimate staffing.

pub mod callback;
mod commands;
pub mod erlang;
mod inputs;
mod invariants;
mod presence;
mod reconfigure;
mod router;
mod routing;
mod spec;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_commands;
#[cfg(test)]
mod tests_disposition;
#[cfg(test)]
mod tests_presence;
#[cfg(test)]
mod tests_reconfigure;
mod types;

pub use reconfigure::Reconfigured;
pub use router::Router;
pub use spec::{
    AgentSpec, Condition, Overflow, OverflowTarget, PauseReason, QueueSpec, RelaxStep,
    ServiceLevel, Strategy, WhenNoAgents,
};
pub use types::{
    Action, AgentState, CallState, Event, Input, QueueSnapshot, QueueStats, RefuseReason,
    RejectReason, RouterSnapshot,
};

/// Most agents one router holds.
pub const AGENTS_MAX: usize = 200_000;
/// Most queues one router holds (ids are `u16`).
pub const QUEUES_MAX: usize = 4_096;
/// Most distinct skill names over all agents and queues.
pub const SKILLS_MAX: usize = 65_535;
/// Most calls the router tracks at once (waiting, offered or connected).
pub const CALLS_MAX: usize = 1_000_000;
/// Hard cap on a queue's `max_length`.
pub const QUEUE_CALLS_MAX: usize = 100_000;
/// Most relaxation steps per queue; with the base requirement they make at
/// most 8 tiers, so an agent's tiers in a queue fit one `u8` mask.
pub const RELAX_STEPS_MAX: usize = 7;
/// Most agents one ring-all offer rings at once.
pub const RING_ALL_OFFERS_MAX: usize = 64;
/// Most undrained actions; past it inputs are refused until the driver drains.
pub const ACTIONS_MAX: usize = 65_536;
/// Handle times kept per queue for the expected-wait estimate.
pub const HANDLE_TIMES_MAX: usize = 256;
/// Most overflow hops a call takes before it is sent busy (stops cycles).
pub const OVERFLOW_HOPS_MAX: u8 = 4;
/// Calls outside the queues one agent may be on at once (a phone with
/// several lines, or a supervisor who also dials out).
pub const DIRECT_CALLS_PER_AGENT_MAX: u32 = 16;
/// Highest skill proficiency.
pub const SKILL_LEVEL_MAX: u8 = 10;

/// A call, as numbered by the call engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// An agent: an index into the router's agent table (order of the specs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u32);

/// A queue: an index into the router's queue table (order of the specs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u16);

/// What went wrong building the router or handling an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    #[error("more than {max} agents")]
    TooManyAgents { max: usize },
    #[error("more than {max} queues")]
    TooManyQueues { max: usize },
    #[error("more than {max} distinct skills")]
    TooManySkills { max: usize },
    #[error("agent name {0:?} is used twice")]
    DuplicateAgentName(String),
    #[error("queue name {0:?} is used twice")]
    DuplicateQueueName(String),
    #[error("agent {agent:?}: skill {skill:?} has level {level}, outside 1..=10")]
    SkillLevelOutOfRange {
        agent: String,
        skill: String,
        level: u8,
    },
    #[error("queue {queue:?}: condition on skill {skill:?} asks level {level}, outside 1..=10")]
    ConditionLevelOutOfRange {
        queue: String,
        skill: String,
        level: u8,
    },
    #[error("queue {queue:?} overflows to unknown queue {target:?}")]
    UnknownOverflowQueue { queue: String, target: String },
    #[error("queue {queue:?} has more than {max} relaxation steps")]
    TooManyRelaxSteps { queue: String, max: usize },
    #[error("queue {queue:?}: relaxation steps must come at strictly increasing waits")]
    RelaxStepsNotIncreasing { queue: String },
    #[error("queue {queue:?} has a zero ring timeout")]
    ZeroRingTimeout { queue: String },
    #[error("queue {queue:?}: max_length {length} is above {max}")]
    QueueLengthTooLarge {
        queue: String,
        length: usize,
        max: usize,
    },
    #[error("unknown agent {0:?}")]
    UnknownAgent(AgentId),
    #[error("unknown queue {0:?}")]
    UnknownQueue(QueueId),
    #[error("unknown call {0:?}")]
    UnknownCall(CallId),
    #[error("call {0:?} is already known")]
    DuplicateCall(CallId),
    #[error("router already tracks {max} calls")]
    TooManyCalls { max: usize },
    #[error("call {call:?} is not being offered to agent {agent:?}")]
    NotOffered { call: CallId, agent: AgentId },
    #[error("call {0:?} is not connected to an agent")]
    CallNotConnected(CallId),
    #[error("call {0:?} is already connected; end it instead")]
    CallAlreadyConnected(CallId),
    #[error("agent {agent:?} meets no requirement of queue {queue:?}")]
    AgentNotQualified { agent: AgentId, queue: QueueId },
    #[error("agent {agent:?} is not logged in to queue {queue:?}")]
    AgentNotInQueue { agent: AgentId, queue: QueueId },
    #[error("agent {0:?} is not paused")]
    AgentNotPaused(AgentId),
    #[error("agent {0:?} is not in wrap-up")]
    AgentNotInWrapUp(AgentId),
    #[error("agent {0:?} is logged out")]
    AgentLoggedOut(AgentId),
    #[error("agent {agent:?} is already on {max} direct calls")]
    TooManyDirectCalls { agent: AgentId, max: u32 },
    #[error("agent {0:?} is on no direct call")]
    NoDirectCall(AgentId),
    #[error("{max} actions are undrained; drain poll_action first")]
    ActionBacklogFull { max: usize },
}
