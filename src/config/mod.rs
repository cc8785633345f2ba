//! The switch's config file (the "dialplan"): listen addresses, agents,
//! trunks, DIDs, queues and IVR menus, read from one TOML file and validated whole.
//!
//! This module owns parsing and validation only: [`Config::parse`] is pure,
//! [`Config::load`] adds the one file read. What the switch does with the
//! result (registering agents, routing calls) belongs to `sip`, `acd` and
//! `call`. Every problem names file, line, column and the field's dotted path,
//! all problems are reported at once where the TOML itself parses, unknown
//! keys are errors, and nothing a file holds can make the loader panic.
//!
//! # Schema
//!
//! Every key not marked required has the default shown.
//!
//! ```toml
//! [switch]
//! sip_listen = "127.0.0.1:5060"      # UDP and TCP on this address
//! http_listen = "127.0.0.1:8080"     # GET /metrics, GET /healthz
//! realm = "switchyard"               # digest realm (RFC 3261 §22.1)
//! cdr_path = "switchyard-cdr.sqlite"
//! records_keep = "365d"              # optional: delete call records older than this (h, d, w); unset keeps them
//! no_answer_timeout = "30s"          # ring time for a DID routed to an agent directly
//! max_calls = 10000                  # above: 503 + Retry-After
//! sip_workers = 0                    # SIP over UDP shard threads (1..=16); 0: one per core
//! drain_timeout = "5s"               # a stop waits this long for BYEs, then ends calls (record: shutdown)
//! min_se = "90s"                     # RFC 4028: a shorter Session-Expires gets 422 (at least 90s)
//! probe_interval = "60s"             # in-dialog OPTIONS to calls without media or session timer; "0s" never
//! transfer_loop_max = 2               # blind transfers of a call back to a party it was with (0..=20)
//! force_rport = false               # true: answer UDP requests at their source port (NAT)
//! digest_challenge = "sha256-first"  # "md5-first": clients answering only the first; "md5-only"
//! escalation_queue = "supervisors"  # optional: where `*53` and the API's escalate send a call;
//! escalation_priority = 9            # and its priority there (0..=9, higher served first)
//! conference_factory = "conference"  # optional: the user of the URI desk phones' network conference INVITEs
//! registration = { min_expires = "60s", max_expires = "3600s", default_expires = "3600s" }
//!
//! [media]                           # optional: without it SDP passes end to end
//! rtp_ports = "20000-20999"          # RTP/RTCP pairs (even RTP port, RTCP on the next)
//! rtp_address = "127.0.0.1"          # the relay's sockets bind here
//! advertise_address = "127.0.0.1"    # written into SDP (default: rtp_address; 1:1 NAT)
//! inactivity_timeout = "60s"         # an answered call without RTP this long is hung up
//! codecs = ["pcmu", "pcma", "opus"]  # what callers and agents may use, preferred first
//! prompts = "prompts"                # directory of the queue prompts (8 kHz mono WAV)
//! queue_music = "hold_music"         # prompt a queued caller hears ("ringback" for ringing)
//! announce_every = "30s"             # position and expected wait; "0s" never
//! hold_music = "hold_music"          # prompt a party put on hold hears
//!
//! [[agents]]
//! id = "1001"                 # required: SIP username and extension; letters and digits, unique
//! password = "demo-1001"      # required, non-empty
//! name = "Ada"                # optional
//! auto_login = false          # log in to every queue it is skilled for when its phone registers
//! skills = { support = 9 }    # skill name -> proficiency 1..=10
//! attributes = { language = "en" }  # string attributes matched by `requires`
//! max_no_answer = 3           # missed offers in a row before auto-pause; 0 never pauses
//!
//! [[trunks]]
//! name = "demo-carrier"               # required, unique
//! allow_from = ["127.0.0.1"]          # source IPs or CIDRs (IPv4/IPv6) allowed to send calls
//! inbound_username = "carrier"        # optional, with inbound_password: calls must pass digest auth
//! inbound_password = "..."
//! outbound = { address = "127.0.0.1:5070", transport = "udp", username = "sw", password = "..." }
//! # more in `outbound`: priority = 1 (lower first), options_interval = "30s" (OPTIONS checks;
//! # off when unset), options_down_after = 3, register = true (needs username/password),
//! # register_expires = "1h"
//! allow_refer = false                 # true: a REFER from this trunk's side may move the call
//!
//! [dids]                      # keys: digits with an optional leading +
//! "5550100" = { agent = "1001" }
//! "5550200" = { queue = "support", priority = 0, attributes = { language = "en" } }
//! "5550400" = { menu = "main" }   # an IVR menu; priority/attributes go to the queue it picks
//!
//! [[queues]]
//! name = "support"            # required, unique
//! requires = "support:1"      # required: skill:min & attr=value, alternatives with |
//! strategy = "longest-idle"   # longest-idle | most-skilled | round-robin | fewest-calls
//!                             # | least-talk-time | random | ring-all
//! ring_timeout = "15s"        # per offer
//! wrap_up = "5s"
//! max_length = 50             # callers waiting; beyond it -> overflow
//! max_wait = "5m"             # then -> overflow
//! overflow = "busy"           # "busy" | "queue:<name>"
//! when_no_agents = "join"     # join | refuse
//! service_level = { within = "20s", target = 0.8 }
//! relax = [ { after = "30s", requires = "support:5" } ]   # `after` strictly increasing
//! transfer_priority = 0       # 0..=255: least priority of a caller transferred in (keeps its arrival time)
//! transfer_fallback = "agent" # a failed transfer: "agent" (then this queue) | "queue:<name>" | "prompt:<name>"
//! transfer_fallback_hangup = "10s"  # with "prompt:<name>": hang up this long after it starts
//! # A waiting caller presses `key` to be called back instead of waiting, keeping their
//! # place: the agent's phone rings first, then the caller's number is dialled. Off when absent.
//! callback = { key = "5", attempts = 3, retry = "5m" }  # tries of the number, `retry` apart;
//! # also prompt = "callback_offer", confirm_prompt = "callback_confirmed" (the defaults); needs [media]
//!
//! [[menus]]                   # IVR menus; a DID routes to one with { menu = "main" }
//! name = "main"               # required, unique
//! prompt = "menu_main"        # required: a prompt in [media].prompts, without ".wav"
//! options = { "1" = "queue:support", "2" = "queue:sales", "0" = "agent:1001", "9" = "menu:main" }
//! timeout = "5s"              # from the start of each play of the prompt
//! retries = 2                 # replays after the first play (0..=9)
//! default = "queue:support"   # after the last timeout; none: 480
//!
//! [tls]                       # optional: SIP over TLS (RFC 3261 §26), TLS 1.2 and 1.3
//! listen = "127.0.0.1:5061"
//! certificate = "tls/sip.crt"  # PEM chain, with `key`; neither: a self-signed pair made at
//! key = "tls/sip.key"          # first start beside cdr_path (key 0600), fingerprint logged
//! ca = "tls/carriers.pem"      # roots for trunks with transport "tls"; default: the system's
//! handshake_timeout = "10s"    # a connection that has not finished its handshake is closed
//!
//! # `srtp = "off" | "optional" | "mandatory"` on an agent or a trunk: whether its leg's media
//! # is SRTP (RFC 4568 SDES). Default "optional": SRTP when the peer offers it.
//!
//! [overload]                # new calls refused 503 while the core cannot keep up
//! backlog_high = 5000         # inputs waiting in front of the core at once: start refusing
//! backlog_low = 500           # ... and below this (every signal low) for `calm`: stop
//! lag_high = "500ms"          # how late the core's timers run
//! lag_low = "50ms"
//! transactions_high = 800000  # live SIP transactions
//! transactions_low = 600000
//! calm = "2s"                 # all below the low marks, nothing refused, this long
//! retry_after = "5s"          # Retry-After of the 503
//!
//! [metrics]
//! agent_state = true          # switchyard_agent_state{agent,state}: off for very large centres
//! interval = "15m"            # windowed figures and agents needed look back this far (15s..=24h)
//! ```
//!
//! [[campaigns]]              # outbound campaigns (see the README's Outbound)
//! name = "renewals"           # required, unique
//! queue = "sales"             # required: its agents work the campaign
//! contacts = "campaigns/renewals.csv"  # required: number,name,timezone,... relative to this file
//! mode = "progressive"        # preview | progressive | predictive
//! trunk = "demo-carrier"      # required: a trunk with `outbound`
//! caller_id = "5550300"       # optional
//! window = "09:00-21:00"      # in the contact's time zone
//! timezone = "UTC"            # for rows without one: UTC, +05:30, Europe/London, ...
//! max_attempts = 3            # 1..=20
//! retry = { busy = "10m", no_answer = "1h", failed = "30m", machine = "1h" }
//! max_abandon = 0.03          # (0, 1]
//! autostart = false
//! ring_timeout = "20s"        # the customer rings; 15s (regulatory minimum) to 5m
//! blend = true               # agents its queue's members' inbound queues need for their
//!                             # service level stay for inbound (see the README's Blending)
//! auto_answer = true          # the agent's phone is asked to answer by itself
//! preview_timeout = "60s"     # preview: an offer unanswered this long goes back
//! info_message = "campaign_info"  # no agent in 2 s: who called and why; plays `info_plays` (11s)
//! amd = { machine = "hangup" }  # answering machines (off when absent): "hangup" | "message"
//! # ("message" leaves the prompt `message`, default campaign_machine, for `message_plays`, 11s)
//!
//! [dnc]
//! lists = ["campaigns/dnc.txt"]   # one number a line, relative to this file
//! country_code = "1"          # for national numbers
//! trunk_prefix = ""           # stripped from national numbers, e.g. "0"
//!
//! Durations are an integer and a unit: `500ms`, `20s`, `5m`, `1h` (at most 24h).

mod api;
mod callback;
mod campaign;
mod campaign_json;
mod error;
mod locate;
mod metrics;
mod overload;
mod prompts;
mod raw;
mod requires;
mod security;
mod tls;
mod usable;
mod validate;
mod values;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_api;
#[cfg(test)]
mod tests_menus;
#[cfg(test)]
mod tests_security;
#[cfg(test)]
mod tests_transfer;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use api::{
    ApiConfig, ApiToken, Role, API_TOKENS_MAX, DEMO_TOKEN, HTTP_CONNECTIONS_DEFAULT,
    HTTP_CONNECTIONS_MAX, HTTP_HEADER_TIMEOUT, HTTP_IDLE_TIMEOUT,
};
pub use callback::CallbackConfig;
pub use campaign::{
    AmdConfig, CampaignConfig, DncConfig, MachineAction, CAMPAIGNS_MAX, DNC_LISTS_MAX,
    INFO_MESSAGE_DEFAULT, LIST_BYTES_MAX, MAX_ATTEMPTS_MAX,
};
pub use campaign_json::{campaign_from_json, JsonProblem, API_CONTACTS};
pub use error::{ConfigError, Location, Problem, ProblemKind};
pub use metrics::{
    MetricsConfig, METRICS_INTERVAL_DEFAULT, METRICS_INTERVAL_MAX, METRICS_INTERVAL_MIN,
};
pub use overload::{OverloadConfig, DRAIN_TIMEOUT_DEFAULT, MIN_SE_DEFAULT, PROBE_INTERVAL_DEFAULT};
pub use requires::{
    Alternative, AttributeEq, RequireError, RequireExpr, SkillMin, REQUIRE_ALTERNATIVES_MAX,
    REQUIRE_TERMS_MAX, SKILL_LEVEL_MAX, SKILL_LEVEL_MIN,
};
pub use security::{
    DialRuleSet, SecurityConfig, DIAL_RULE_SETS_MAX, MAX_CONTACTS_MAX, SERVER_HEADER_CHARS_MAX,
};
pub use tls::{SrtpPolicy, TlsConfig, TLS_HANDSHAKE_TIMEOUT_DEFAULT};
pub use values::{parse_duration, IpNet, DID_DIGITS_MAX, DURATION_MAX, NAME_CHARS_MAX};

use crate::sip::auth::ChallengeOrder;
use crate::sip::Transport;

/// The config `switchyard run` loads when given none.
pub const DEFAULT_PATH: &str = "dialplans/default.toml";
/// Largest config file read; a dialplan of a big centre is well under 1 MiB.
pub const CONFIG_BYTES_MAX: usize = 16 * 1024 * 1024;
pub const AGENTS_MAX: usize = 20_000;
pub const TRUNKS_MAX: usize = 256;
pub const SIP_WORKERS_MAX: u32 = 16;
pub const DIDS_MAX: usize = 100_000;
pub const QUEUES_MAX: usize = 1_024;
pub const MENUS_MAX: usize = 256;
/// Replays of a menu prompt after the first; more is a caller held hostage.
pub const MENU_RETRIES_MAX: u32 = 9;
pub const SKILLS_PER_AGENT_MAX: usize = 64;
pub const ATTRIBUTES_MAX: usize = 32;
pub const ALLOW_FROM_MAX: usize = 256;
pub const RELAX_STEPS_MAX: usize = crate::acd::RELAX_STEPS_MAX;
/// Highest DID priority; callers with higher priority are served first.
pub const DID_PRIORITY_MAX: u8 = 9;
/// Passwords and usernames; longer is a paste error.
pub const SECRET_CHARS_MAX: usize = 256;

/// A validated config: plain data for the rest of the switch.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub file: PathBuf,
    pub switch: SwitchConfig,
    /// `None`: no `[media]` section, SDP passes through unanchored.
    pub media: Option<MediaConfig>,
    pub agents: Vec<AgentConfig>,
    pub trunks: Vec<TrunkConfig>,
    /// Keyed by the DID as written (digits, optional leading `+`).
    pub dids: BTreeMap<String, DidRoute>,
    pub queues: Vec<QueueConfig>,
    pub menus: Vec<MenuConfig>,
    /// `[api]`: tokens for the HTTP control API; none when absent.
    pub api: ApiConfig,
    /// `[security]`: limits on logins, requests, phones; defaults when absent.
    pub security: SecurityConfig,
    /// `[[dial_rules]]`: named sets of numbers agents may dial out.
    pub dial_rules: Vec<DialRuleSet>,
    /// `[metrics]`: optional series and the windowed figures' interval.
    pub metrics: MetricsConfig,
    /// `[overload]`: when new calls are refused for the core's load.
    pub overload: OverloadConfig,
    /// `[[campaigns]]`: outbound campaigns.
    pub campaigns: Vec<CampaignConfig>,
    /// `[dnc]`: do-not-call lists and how their numbers are read.
    pub dnc: DncConfig,
    /// `[tls]`: SIP over TLS; `None`: no TLS listener.
    pub tls: Option<TlsConfig>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SwitchConfig {
    pub sip_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub realm: String,
    pub cdr_path: PathBuf,
    pub no_answer_timeout: Duration,
    pub max_calls: u32,
    /// How long a stop waits for calls to hang up before ending them.
    pub drain_timeout: Duration,
    /// The shortest session interval accepted (RFC 4028 Min-SE, >= 90 s).
    pub min_se: Duration,
    /// OPTIONS probes of answered calls without media or session timer; 0: none.
    pub probe_interval: Duration,
    /// Blind transfers of one call back to a party it was with; one more is a loop.
    pub transfer_loop_max: u32,
    /// SIP shard threads (`sip_workers`); 0 (the default): one per core.
    pub sip_workers: u32,
    /// Which digest challenge a 401 lists first.
    pub digest_challenge: ChallengeOrder,
    /// Answer every UDP request at its source port, as if it asked for
    /// `rport` (RFC 3581): phones behind NAT need it.
    pub force_rport: bool,
    pub registration: RegistrationConfig,
    /// Where `cdr_path` is written (or `[switch]`), for [`Config::check_usable`].
    pub cdr_path_at: Location,
    /// Call records (and their agent event lines) older than this are
    /// deleted; `None` keeps them forever.
    pub records_keep: Option<Duration>,
    /// Where an escalated call goes, and with what priority.
    pub escalation: Option<(String, u8)>,
    /// The user part of the conference factory URI (RFC 4579 §5.4).
    pub conference_factory: Option<String>,
}

/// The `[media]` section: where the relay binds and what it speaks.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaConfig {
    pub port_min: u16,
    pub port_max: u16,
    pub rtp_address: IpAddr,
    /// Written into SDP `c=`; `rtp_address` unless set.
    pub advertise_address: IpAddr,
    pub inactivity_timeout: Duration,
    /// In order of preference.
    pub codecs: Vec<crate::media::sdp::Codec>,
    /// Directory the prompts are loaded from at start.
    pub prompts: PathBuf,
    /// The prompt a queued caller hears between announcements.
    pub queue_music: String,
    /// Period of the position/expected-wait announcement; zero: never.
    pub announce_every: Duration,
    /// The prompt a party put on hold hears.
    pub hold_music: String,
    /// Where call recordings are written.
    pub recordings: PathBuf,
    /// Where `recordings` is written (or `[media]`), for [`Config::check_usable`].
    pub recordings_at: Location,
    /// Recordings older than this are deleted; `None` keeps them forever.
    pub recordings_keep: Option<Duration>,
    /// A group that may read recordings (files 0640); `None`: 0600.
    pub recordings_group: Option<String>,
    /// Where `recordings_group` is written, for [`Config::check_usable`].
    pub recordings_group_at: Location,
}

/// Bounds on REGISTER Expires (RFC 3261 §10.2.8: too brief gets 423).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationConfig {
    pub min_expires: Duration,
    pub max_expires: Duration,
    pub default_expires: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    pub id: String,
    pub password: String,
    pub name: Option<String>,
    pub auto_login: bool,
    /// Skill name to proficiency, 1..=10.
    pub skills: BTreeMap<String, u8>,
    pub attributes: BTreeMap<String, String>,
    /// 0 never pauses.
    pub max_no_answer: u32,
    /// May listen in on other agents' calls (feature codes *50–*52).
    pub supervisor: bool,
    /// Phones at once; `None`: `[security].max_contacts`.
    pub max_contacts: Option<u32>,
    /// The dial rule set for calls out; `None`: `[security].dial_rules`.
    pub dial_rules: Option<String>,
    /// SRTP on the agent's leg.
    pub srtp: SrtpPolicy,
    /// Where `password` is written, for [`Config::check_listen_safety`].
    pub password_at: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrunkConfig {
    pub name: String,
    pub allow_from: Vec<IpNet>,
    /// When set, inbound calls must also pass digest auth.
    pub inbound: Option<Credentials>,
    pub outbound: Option<OutboundConfig>,
    /// RFC 3325 identity policy for calls in from and out to this trunk.
    pub identity: IdentityPolicy,
    /// SRTP on the trunk's legs.
    pub srtp: SrtpPolicy,
    /// A REFER from this trunk's side may move the call (default: 403).
    pub allow_refer: bool,
}

/// Who the caller is, as a trust domain tells its members (RFC 3325):
/// what the switch passes from a trunk and what it asserts to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityPolicy {
    /// The trunk is in our trust domain: its P-Asserted-Identity,
    /// Remote-Party-ID and Privacy reach the agent; otherwise they are
    /// dropped (RFC 3325 §5).
    pub trust: bool,
    /// P-Asserted-Identity on calls out through the trunk (a sip:, sips:
    /// or tel: URI), e.g. the centre's main number.
    pub asserted: Option<String>,
    /// Privacy on calls out through the trunk (RFC 3323 §4.2), e.g. `id`.
    pub privacy: Option<String>,
}

/// Privacy values (RFC 3323 §4.2, RFC 3325 §7), joined by `;` in config.
pub const PRIVACY_VALUES: &str = "none, header, session, user, id, critical";
/// Longest asserted identity URI taken.
pub const IDENTITY_URI_BYTES_MAX: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboundConfig {
    pub address: SocketAddr,
    pub transport: Transport,
    /// Answers the carrier's 401/407 (RFC 3261 §22.2).
    pub credentials: Option<Credentials>,
    /// Calls out try trunks lowest `priority` first; ties keep file order.
    pub priority: u32,
    /// OPTIONS health checks every this often; `None`: never checked,
    /// always taken as up.
    pub options_interval: Option<Duration>,
    /// Checks in a row unanswered (or failed to send) before the trunk
    /// counts as down.
    pub options_down_after: u32,
    /// Register with the carrier as `username` (RFC 3261 §10), asking
    /// for `register_expires`; refreshed at half what it grants.
    pub register: Option<Duration>,
}

/// `priority` when unset.
pub const TRUNK_PRIORITY_DEFAULT: u32 = 1;
/// `options_down_after` when unset: as Kamailio's dispatcher `ds_probing_threshold`
/// counts, a few lost probes rather than one.
pub const OPTIONS_DOWN_AFTER_DEFAULT: u32 = 3;
/// `register_expires` when unset.
pub const REGISTER_EXPIRES_DEFAULT: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, PartialEq)]
pub struct DidRoute {
    pub target: DidTarget,
    /// 0..=9; higher is served first. Always 0 for an agent target.
    pub priority: u8,
    /// Attributes the call carries, e.g. its language.
    pub attributes: BTreeMap<String, String>,
    /// Record the call's conversation (needs `[media]`).
    pub record: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DidTarget {
    Agent(String),
    Queue(String),
    /// An IVR menu; the DID's priority and attributes go with the caller
    /// to the queue it picks.
    Menu(String),
}

/// An IVR menu: a prompt, and where each DTMF digit sends the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct MenuConfig {
    pub name: String,
    /// A prompt name (a WAV in `[media].prompts`, without `.wav`).
    pub prompt: String,
    pub options: BTreeMap<char, MenuTarget>,
    /// Counted from the start of each play of the prompt.
    pub timeout: Duration,
    /// Replays after the first play.
    pub retries: u32,
    /// Where a caller who pressed nothing goes; `None`: 480.
    pub default: Option<MenuTarget>,
    /// Where `prompt` is written, for [`Config::check_prompts`].
    pub prompt_at: Location,
}

/// Where a menu choice leads: written `queue:<name>`, `agent:<id>` or
/// `menu:<name>` (a sub-menu, or back to the main one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MenuTarget {
    Queue(String),
    Agent(String),
    Menu(String),
}

impl MenuTarget {
    pub fn parse(text: &str) -> Option<MenuTarget> {
        let (kind, name) = text.split_once(':')?;
        let name = name.to_owned();
        match kind {
            "queue" => Some(MenuTarget::Queue(name)),
            "agent" => Some(MenuTarget::Agent(name)),
            "menu" => Some(MenuTarget::Menu(name)),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    pub name: String,
    pub requires: RequireExpr,
    pub strategy: Strategy,
    pub ring_timeout: Duration,
    pub wrap_up: Duration,
    pub max_length: u32,
    pub max_wait: Duration,
    pub overflow: Overflow,
    pub when_no_agents: WhenNoAgents,
    pub service_level: ServiceLevel,
    /// Strictly increasing `after`.
    pub relax: Vec<RelaxStep>,
    /// Record every answered call of the queue (needs `[media]`).
    pub record: bool,
    /// The codes an agent may give a call after it (`*49<n>` is the n-th).
    pub dispositions: Vec<String>,
    /// Wrap-up lasts until a code arrives, at most `wrap_up_max`.
    pub disposition_required: bool,
    pub wrap_up_max: Duration,
    /// Lowest priority a caller transferred into this queue waits with.
    pub transfer_priority: u8,
    /// Where a call of this queue goes when its transfer target fails.
    pub transfer_fallback: TransferFallback,
    /// Where `transfer_fallback` is written, for [`Config::check_prompts`].
    pub transfer_fallback_at: Location,
    /// A waiting caller may ask to be called back (off when `None`).
    pub callback: Option<CallbackConfig>,
}

/// A failed blind transfer's next stop, per queue of the call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TransferFallback {
    /// Back to the transferring agent, then to the call's queue.
    #[default]
    Agent,
    Queue(String),
    /// A prompt played to the caller, then hang-up `after` its start.
    Prompt {
        prompt: String,
        after: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    LongestIdle,
    MostSkilled,
    RoundRobin,
    FewestCalls,
    LeastTalkTime,
    Random,
    RingAll,
}

impl Strategy {
    pub const NAMES: &'static str =
        "longest-idle, most-skilled, round-robin, fewest-calls, least-talk-time, random, ring-all";

    pub fn from_name(name: &str) -> Option<Strategy> {
        Some(match name {
            "longest-idle" => Strategy::LongestIdle,
            "most-skilled" => Strategy::MostSkilled,
            "round-robin" => Strategy::RoundRobin,
            "fewest-calls" => Strategy::FewestCalls,
            "least-talk-time" => Strategy::LeastTalkTime,
            "random" => Strategy::Random,
            "ring-all" => Strategy::RingAll,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// The caller gets 486 Busy Here.
    Busy,
    Queue(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenNoAgents {
    Join,
    Refuse,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceLevel {
    pub within: Duration,
    /// In (0, 1].
    pub target: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RelaxStep {
    pub after: Duration,
    pub requires: RequireExpr,
}

impl Config {
    /// Parses and validates `text`; `file` only names the source in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        validate::parse(text, file)
    }

    /// Reads `path` (the only IO here) and parses it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read_error = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let bytes = std::fs::metadata(path).map_err(read_error)?.len();
        if bytes > CONFIG_BYTES_MAX as u64 {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
                bytes,
                max: CONFIG_BYTES_MAX,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        let config = Config::parse(&text, path)?;
        config.check_prompts()?;
        config.check_usable()?;
        config.check_campaign_files()?;
        Ok(config)
    }

    /// Refuses the demo credentials (an agent whose password is `demo-<id>`)
    /// when the switch would listen beyond loopback: anyone on the network
    /// could register as that agent.
    pub fn check_listen_safety(&self) -> Result<(), ConfigError> {
        let exposed = [
            ("switch.sip_listen", self.switch.sip_listen),
            ("switch.http_listen", self.switch.http_listen),
        ]
        .into_iter()
        .find(|(_, addr)| !addr.ip().is_loopback());
        let Some((listen_field, listen)) = exposed else {
            return Ok(());
        };
        let mut problems: Vec<Problem> = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.password == format!("demo-{}", a.id))
            .map(|(i, a)| Problem {
                file: self.file.clone(),
                line: a.password_at.line,
                column: a.password_at.column,
                field: format!("agents[{i}].password"),
                kind: ProblemKind::DemoPasswordExposed {
                    agent: a.id.clone(),
                    listen_field,
                    listen,
                },
            })
            .collect();
        // The demo token is as public as the demo passwords.
        let tokens = self.api.tokens.iter().enumerate();
        problems.extend(
            tokens
                .filter(|(_, t)| t.token == DEMO_TOKEN)
                .map(|(i, t)| Problem {
                    file: self.file.clone(),
                    line: t.token_at.line,
                    column: t.token_at.column,
                    field: format!("api.tokens[{i}].token"),
                    kind: ProblemKind::DemoTokenExposed {
                        listen_field,
                        listen,
                    },
                }),
        );
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid { problems })
    }

    pub fn menu(&self, name: &str) -> Option<&MenuConfig> {
        self.menus.iter().find(|m| m.name == name)
    }

    pub fn agent(&self, id: &str) -> Option<&AgentConfig> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The dial rules for `agent`'s calls out: its own set, else the
    /// `[security]` one, else the built-in one (premium and international
    /// refused).
    pub fn dial_rules_for(&self, agent: &str) -> crate::dial_rules::DialRules {
        let named = self
            .agent(agent)
            .and_then(|a| a.dial_rules.as_deref())
            .or(self.security.dial_rules.as_deref());
        named
            .and_then(|n| self.dial_rules.iter().find(|s| s.name == n))
            .map_or_else(crate::dial_rules::DialRules::demo_default, |s| {
                s.rules.clone()
            })
    }

    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.iter().find(|q| q.name == name)
    }
}
