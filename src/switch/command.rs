//! Commands in: the words the HTTP API, the CLI or a script use to ask the
//! core for something outside SIP (pause an agent, hang up a call, list
//! what is going on), and the replies and errors they get. Plain data,
//! serde-serialisable: the HTTP API sends them as JSON. The core carries
//! them out in `control.rs` ([`Switch::handle_command`](super::Switch::handle_command)).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::acd::AcdError;
use crate::call::CallUuid;

/// Longest free-text pause reason kept.
pub const PAUSE_REASON_CHARS_MAX: usize = 64;
/// Longest number an originate may dial (E.164 has 15 digits; room for
/// a trunk's prefixes).
pub const NUMBER_CHARS_MAX: usize = 32;

/// Something asked of the switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Log in to `queue`, or to every queue the agent qualifies for.
    AgentLogin {
        agent: String,
        #[serde(default)]
        queue: Option<String>,
    },
    /// Log out of `queue`, or of every queue.
    AgentLogout {
        agent: String,
        #[serde(default)]
        queue: Option<String>,
    },
    /// Pause: `break`, `lunch`, `training`, or any text (at most
    /// [`PAUSE_REASON_CHARS_MAX`] characters). During a call or wrap-up
    /// the pause starts when they end.
    AgentPause {
        agent: String,
        reason: String,
    },
    AgentResume {
        agent: String,
    },
    /// End the agent's wrap-up now.
    EndWrapUp {
        agent: String,
    },
    /// Replace the agent's skills (name → level 1..=10).
    SetSkills {
        agent: String,
        skills: BTreeMap<String, u8>,
    },
    ListAgents,
    ListQueues,
    ListCalls,
    /// Hang up both legs of a call, whatever its phase.
    HangUp {
        call: CallUuid,
    },
    /// Blind-transfer a connected call: its agent goes to wrap-up and the
    /// caller to `to` (an agent, a DID, or a number the agent may dial).
    Transfer {
        call: CallUuid,
        to: String,
    },
    /// Hold the caller of a connected call and ring `to` (an agent or a
    /// number) for its agent to consult: attended transfer through the API.
    Consult {
        call: CallUuid,
        to: String,
    },
    /// Join the caller to the consulted colleague; the agent is released.
    ConsultComplete {
        call: CallUuid,
    },
    /// End the consultation; the agent is back with the caller.
    ConsultCancel {
        call: CallUuid,
    },
    /// Ring `to` (an agent, or a number the agent may dial) and, when it
    /// answers, mix it into the call: a conference (`conference.rs`).
    Conference {
        call: CallUuid,
        to: String,
    },
    /// Turn the call's answered consultation into a conference of caller,
    /// agent and colleague.
    ConsultConference {
        call: CallUuid,
    },
    /// The parties of a talking call: caller, agent and any added.
    ListParties {
        call: CallUuid,
    },
    /// Mute or unmute a party, or set its gain (tenths of a dB, within
    /// the mixer's range); the call becomes a conference if it is none.
    SetParty {
        call: CallUuid,
        party: u8,
        #[serde(default)]
        mute: Option<bool>,
        #[serde(default)]
        gain_db10: Option<i16>,
    },
    /// Hang up one party (BYE); the others stay connected.
    DropParty {
        call: CallUuid,
        party: u8,
    },
    /// Send a connected call to `[switch] escalation_queue` with its
    /// priority; the agent goes to wrap-up.
    Escalate {
        call: CallUuid,
    },
    /// The supervisor listening in on the call takes it over: the agent
    /// is let go, the supervisor stays with the caller.
    Takeover {
        call: CallUuid,
    },
    /// Ring `agent`'s phone; when they answer, call `number` through the
    /// outbound trunk and bridge the two. The reply names the new call.
    Originate {
        agent: String,
        number: String,
    },
    /// Sources banned for failed logins.
    ListBans,
    /// Outbound trunks: health, registration, failovers.
    ListTrunks,
    /// Lift the ban on a source address.
    LiftBan {
        ip: String,
    },
    /// The outcome of a finished queue call as its agent records it: one
    /// of its queue's `dispositions`. Ends a wrap-up held for it.
    Disposition {
        call: CallUuid,
        code: String,
        #[serde(default)]
        note: Option<String>,
        /// Whose code it is when several agents wrap the call up (a
        /// transfer's or consultation's): by default the last to leave it.
        #[serde(default)]
        agent: Option<String>,
    },
    /// Call the customer of a finished queue call back from its queue at
    /// `at_ms` (Unix milliseconds; now if past): what a `callback`
    /// disposition with a time asks for. Whose call it is as for
    /// `Disposition`.
    ScheduleCallback {
        call: CallUuid,
        at_ms: u64,
        #[serde(default)]
        agent: Option<String>,
    },
    /// The right to erasure: forget the pending callbacks of `number`.
    EraseCallbacks {
        number: String,
    },
    /// Campaigns: status, counters, contacts left.
    ListCampaigns,
    /// Start, pause or stop a campaign.
    CampaignControl {
        name: String,
        action: CampaignMove,
    },
    /// Add contacts to a campaign: CSV text as a contact list reads
    /// (`number,name,timezone,…` with a header row).
    AddContacts {
        name: String,
        csv: String,
    },
    /// A campaign made through the API from the settings of a
    /// `[[campaigns]]` entry as JSON, checked as the dialplan's are
    /// ([`crate::config::campaign_from_json`]). Its contacts come by upload.
    CreateCampaign {
        settings: serde_json::Value,
    },
    /// The do-not-call set: its size, and a page of it when `limit` is set
    /// (at most [`DNC_PAGE_MAX`] numbers, in order).
    ListDnc {
        #[serde(default)]
        offset: usize,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// List a number (read into E.164 as the `[dnc]` lists are), stored
    /// so that it stays listed after a restart.
    AddDnc {
        number: String,
    },
    /// Unlist a number listed by [`Command::AddDnc`].
    RemoveDnc {
        number: String,
    },
    /// Preview mode: `agent` accepts (the contact is dialled) or skips
    /// (it waits for later) the contact the campaign offered them.
    PreviewAnswer {
        name: String,
        contact: u32,
        agent: String,
        accept: bool,
    },
}

/// Numbers in one page of the do-not-call set at most.
pub const DNC_PAGE_MAX: usize = 1_000;

/// What `CampaignControl` asks of a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignMove {
    Start,
    Pause,
    Stop,
}

/// What a command gives back.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Done,
    Agents {
        agents: Vec<AgentSnapshot>,
    },
    Queues {
        queues: Vec<QueueSnapshot>,
    },
    Calls {
        calls: Vec<CallSnapshot>,
    },
    Bans {
        bans: Vec<super::security::BanSnapshot>,
    },
    Trunks {
        trunks: Vec<super::trunks::TrunkSnapshot>,
    },
    /// The call an originate placed: follow it by this id.
    Originated {
        call: CallUuid,
    },
    Parties {
        parties: Vec<PartySnapshot>,
    },
    Campaigns {
        campaigns: Vec<super::campaigns::CampaignSnapshot>,
    },
    /// Contacts taken by an upload (numbers already in the campaign are not).
    ContactsAdded {
        added: usize,
    },
    /// The do-not-call set's size, and the page asked for.
    Dnc {
        count: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        numbers: Option<Vec<String>>,
    },
    /// The number a do-not-call change was about, in E.164.
    DncNumber {
        number: String,
    },
}

/// One party of a call, now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartySnapshot {
    /// 0 the caller, 1 the agent, then added parties in order.
    pub id: u8,
    /// The agent's id, the number dialled, or the caller's number.
    pub who: String,
    /// `customer`, `agent` (the call's or an added one) or `external`.
    pub role: &'static str,
    /// `ringing` or `joined`.
    pub state: &'static str,
    pub muted: bool,
    pub gain_db: f64,
    /// When it joined (Unix ms): the caller and agent when answered.
    pub joined_at: Option<u64>,
}

/// One agent, now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentSnapshot {
    pub id: String,
    /// One of [`AGENT_STATE_LABELS`](super::AGENT_STATE_LABELS).
    pub state: &'static str,
    /// Why they are paused, if they are (a pause asked for during a call
    /// or wrap-up shows once it starts).
    pub pause_reason: Option<String>,
    pub registered: bool,
    pub queues: Vec<String>,
    /// The call they are offered, on, or busy with.
    pub call: Option<CallUuid>,
}

/// One queue, now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueSnapshot {
    pub name: String,
    pub waiting: usize,
    pub agents_available: usize,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub service_level: Option<f64>,
    pub expected_wait_ms: Option<u64>,
    /// Callers who entered the queue since start.
    pub offered: u64,
    /// The goal: `service_level_target` (0..=1) answered within
    /// `service_level_threshold_ms`.
    pub service_level_target: f64,
    pub service_level_threshold_ms: u64,
    /// The last `interval_ms` (`[metrics].interval`): callers offered,
    /// service level, average handle time, and the agents Erlang C says
    /// reach the goal at that rate and handle time.
    pub interval_ms: u64,
    pub interval_offered: u64,
    pub interval_service_level: Option<f64>,
    pub interval_handle_time_ms: Option<u64>,
    pub agents_needed: Option<u32>,
}

/// One call in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallSnapshot {
    pub id: CallUuid,
    /// `menu`, `routing`, `queued`, `ringing`, `dialling` (a placed call:
    /// the agent answered, the number rings), `talking`, `held` or `ending`.
    pub phase: &'static str,
    pub dialled: String,
    pub trunk: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    /// Since the call arrived.
    pub age_ms: u64,
    /// Since it entered its current queue (a queue call not yet answered).
    pub queue_wait_ms: Option<u64>,
}

/// Why a command was not carried out. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
    #[error("unknown queue {0:?}")]
    UnknownQueue(String),
    #[error("no call {0} in progress")]
    UnknownCall(CallUuid),
    #[error("agent {0:?} is not paused")]
    NotPaused(String),
    #[error("agent {0:?} is not in wrap-up")]
    NotInWrapUp(String),
    #[error("agent {0:?} is logged out")]
    LoggedOut(String),
    #[error("agent {agent:?} does not qualify for queue {queue:?}")]
    NotQualified { agent: String, queue: String },
    #[error("agent {agent:?} is not logged in to queue {queue:?}")]
    NotInQueue { agent: String, queue: String },
    #[error("skill {skill:?} at level {level}: levels run 1..=10")]
    SkillLevel { skill: String, level: u8 },
    #[error("the pause reason is empty or longer than {PAUSE_REASON_CHARS_MAX} characters")]
    PauseReason,
    #[error("agent {0:?} has no registered phone")]
    NotRegistered(String),
    #[error("no trunk is set up for outbound calls")]
    NoOutboundTrunk,
    #[error("agent {0:?} is on a call or being offered one")]
    AgentBusy(String),
    #[error("the number must be 1 to {NUMBER_CHARS_MAX} of 0-9, + and *")]
    BadNumber,
    #[error("placing calls needs anchored media (a [media] section)")]
    NoMedia,
    #[error("the switch is at its call limit or out of RTP ports")]
    NoCapacity,
    #[error("disposition code {0:?} is not one of the call's queue")]
    UnknownDisposition(String),
    #[error(
        "the disposition note is longer than {} characters",
        super::DISPOSITION_NOTE_CHARS_MAX
    )]
    DispositionNote,
    #[error("the switch is stopping")]
    Draining,
    #[error("the agent's dial rules refuse this number: {0}")]
    DialRefused(crate::dial_rules::DialRefused),
    #[error("the call is not connected to an agent (or its media is not anchored)")]
    NotTalking,
    #[error("the call was transferred too often")]
    TransferLoop,
    #[error("{0:?} is not an agent, a DID to a queue or agent, or a number")]
    BadTarget(String),
    #[error("the call's agent is already consulting, or a supervisor listens in")]
    Consulting,
    #[error("the call has no (answered) consultation")]
    NotConsulting,
    #[error(
        "the conference has {} parties already",
        crate::media::mix::CONFERENCE_PARTIES_MAX
    )]
    ConferenceFull,
    #[error("the call has no party {0}")]
    UnknownParty(u8),
    #[error("no escalation queue is set up ([switch] escalation_queue)")]
    NoEscalationQueue,
    #[error("no supervisor is listening in on the call")]
    NotSupervised,
    #[error("{0} is not banned")]
    NotBanned(String),
    /// The router refused for a reason the switch did not foresee (a
    /// bound reached): the command may be tried again.
    #[error("the router refused: {0}")]
    Router(AcdError),
    #[error("unknown campaign {0:?}")]
    UnknownCampaign(String),
    #[error("a campaign named {0:?} exists")]
    CampaignExists(String),
    /// A campaign setting that does not pass, by its key.
    #[error("{field}: {message}")]
    BadCampaign { field: String, message: String },
    #[error("no trunk {0:?} with an outbound address")]
    UnknownTrunk(String),
    #[error("campaign {name:?} is {status}: it cannot {action}")]
    CampaignState {
        name: String,
        status: &'static str,
        action: &'static str,
    },
    #[error("not a phone number: {0}")]
    DncNumber(crate::dialer::NumberError),
    #[error("{0} is not on the do-not-call list")]
    NotListed(String),
    #[error("{0} is listed by a [dnc] list file: remove it there")]
    ListedByFile(String),
    #[error("no campaigns are configured: the do-not-call list has no store")]
    NoDncStore,
    #[error("a page holds 1 to {DNC_PAGE_MAX} numbers")]
    DncPage,
    #[error("the do-not-call list is full")]
    DncFull,
    #[error("campaign {name:?} has not offered contact {contact} to {agent}")]
    NotOffered {
        name: String,
        contact: u32,
        agent: String,
    },
    /// A contact upload row that does not read: its line and column.
    #[error("line {line}, {field}: {message}")]
    BadContacts {
        line: usize,
        field: String,
        message: String,
    },
}

impl CommandError {
    /// The HTTP status an API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownAgent(_)
            | Self::UnknownQueue(_)
            | Self::UnknownCall(_)
            | Self::UnknownParty(_)
            | Self::UnknownCampaign(_)
            | Self::UnknownTrunk(_)
            | Self::NotListed(_)
            | Self::NotBanned(_) => 404,
            Self::DialRefused(_) | Self::BadTarget(_) | Self::TransferLoop => 403,
            Self::SkillLevel { .. }
            | Self::PauseReason
            | Self::UnknownDisposition(_)
            | Self::BadContacts { .. }
            | Self::BadCampaign { .. }
            | Self::DncNumber(_)
            | Self::DncPage
            | Self::DispositionNote => 400,
            Self::NotPaused(_)
            | Self::NotInWrapUp(_)
            | Self::LoggedOut(_)
            | Self::NotQualified { .. }
            | Self::NotInQueue { .. }
            | Self::NotRegistered(_)
            | Self::NoOutboundTrunk
            | Self::AgentBusy(_)
            | Self::NotTalking
            | Self::Consulting
            | Self::NotConsulting
            | Self::NoEscalationQueue
            | Self::NotSupervised
            | Self::ConferenceFull
            | Self::CampaignState { .. }
            | Self::CampaignExists(_)
            | Self::ListedByFile(_)
            | Self::NoDncStore
            | Self::DncFull
            | Self::NotOffered { .. }
            | Self::NoMedia => 409,
            Self::BadNumber => 400,
            Self::Draining | Self::Router(_) | Self::NoCapacity => 503,
        }
    }
}
