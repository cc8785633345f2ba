//! What a bad config file gets: one [`Problem`] per mistake, each naming the
//! file, the line and column, and the field's dotted path.

use std::fmt;
use std::path::PathBuf;

/// Where a problem was found, 1-based, columns counted in characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One mistake in a config file.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, e.g. `queues[1].ring_timeout`.
    pub field: String,
    pub kind: ProblemKind,
}

impl Problem {
    /// The human sentence, without file, line or field.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.field,
            self.kind
        )
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: config is {bytes} bytes, more than the {max} allowed", path.display())]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        max: usize,
    },
    /// One line per problem, in file order.
    #[error("{}", display_lines(problems))]
    Invalid { problems: Vec<Problem> },
}

impl ConfigError {
    /// The problems found, empty when the file could not be read at all.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems } => problems,
            _ => &[],
        }
    }
}

fn display_lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What is wrong with one field. The message never repeats file, line or field.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProblemKind {
    /// The file is not valid TOML; the message comes from the TOML parser.
    #[error("TOML syntax: {message}")]
    Syntax { message: String },
    /// The TOML is valid but does not fit the schema: wrong type, unknown or
    /// missing key. The message comes from the deserializer.
    #[error("{message}")]
    Schema { message: String },
    #[error(
        "unknown section `{name}` (expected switch, media, api, security, agents, trunks, dids, queues, menus, dial_rules, metrics, campaigns or dnc)"
    )]
    UnknownSection { name: String },
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("invalid duration \"{value}\" (expected e.g. 500ms, 20s, 5m)")]
    InvalidDuration { value: String },
    #[error("invalid retention \"{value}\" (expected e.g. 12h, 90d, 8w)")]
    InvalidRetention { value: String },
    #[error("no group named \"{value}\" on this system")]
    UnknownGroup { value: String },
    #[error("duration \"{value}\" is out of range ({range})")]
    DurationOutOfRange { value: String, range: &'static str },
    #[error("invalid socket address \"{value}\" (expected e.g. 127.0.0.1:5060 or [::1]:5060)")]
    InvalidSocketAddr { value: String },
    #[error("invalid IP address or CIDR \"{value}\" (expected e.g. 192.0.2.7, 10.0.0.0/8, 2001:db8::/32)")]
    InvalidCidr { value: String },
    #[error("CIDR \"{value}\" has host bits set (did you mean {suggested}?)")]
    CidrHostBits { value: String, suggested: String },
    #[error("{value} is out of range ({min}..={max})")]
    OutOfRange { value: String, min: i64, max: i64 },
    #[error("must not be empty")]
    Empty,
    #[error("\"{value}\" is not a valid name ({rule})")]
    InvalidName { value: String, rule: &'static str },
    #[error("\"{value}\" is defined twice (first at line {first_line})")]
    Duplicate { value: String, first_line: usize },
    #[error("too many entries: {count}, at most {max}")]
    TooMany { count: usize, max: usize },
    #[error("DID \"{value}\" must be digits with an optional leading + (at most {max} digits)")]
    InvalidDid { value: String, max: usize },
    #[error("a DID routes to exactly one of `agent`, `queue` or `menu`")]
    DidTargetCount,
    #[error("`priority` applies only to a DID routed to a queue or a menu")]
    PriorityWithoutQueue,
    #[error("`record` needs a [media] section: calls are recorded in the media relay")]
    RecordWithoutMedia,
    #[error("no agent has id \"{agent}\"")]
    UnknownAgent { agent: String },
    #[error("no queue is named \"{queue}\"")]
    UnknownQueue { queue: String },
    #[error("no menu is named \"{menu}\"")]
    UnknownMenu { menu: String },
    #[error("invalid menu choice \"{value}\" (expected \"queue:<name>\", \"agent:<id>\" or \"menu:<name>\")")]
    InvalidMenuTarget { value: String },
    #[error("menu key \"{key}\" is not one DTMF digit (0-9, * or #)")]
    InvalidMenuDigit { key: String },
    #[error("menu defaults loop without a key pressed: {}", cycle.join(" -> "))]
    MenuDefaultCycle { cycle: Vec<String> },
    #[error("no prompt \"{prompt}\" ({path} is missing; see prompts/generate.sh)")]
    UnknownPrompt { prompt: String, path: String },
    #[error("overflow cycle: {}", cycle.join(" -> "))]
    OverflowCycle { cycle: Vec<String> },
    #[error("`disposition_required` needs a non-empty `dispositions` list")]
    DispositionsMissing,
    #[error("disposition code \"{value}\" is listed twice")]
    DuplicateDisposition { value: String },
    #[error("`wrap_up_max` ({max:?}) is shorter than `wrap_up` ({wrap_up:?})")]
    WrapUpMaxTooShort {
        max: std::time::Duration,
        wrap_up: std::time::Duration,
    },
    #[error("invalid transfer_fallback \"{value}\" (expected \"agent\", \"queue:<name>\" or \"prompt:<name>\")")]
    InvalidTransferFallback { value: String },
    #[error("a `prompt:` transfer_fallback needs a [media] section: prompts are played by the media relay")]
    FallbackPromptWithoutMedia,
    #[error("`callback` needs a [media] section: the switch places the callback's calls with its own SDP")]
    CallbackWithoutMedia,
    #[error("invalid overflow \"{value}\" (expected \"busy\" or \"queue:<name>\")")]
    InvalidOverflow { value: String },
    #[error("unknown {what} \"{value}\" (expected one of: {expected})")]
    UnknownChoice {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("invalid requires \"{expr}\": {error}")]
    RequireSyntax {
        expr: String,
        error: super::requires::RequireError,
    },
    #[error("error (not just a warning): no agent has skill \"{skill}\", so this requirement can never be met")]
    SkillNotOnAnyAgent { skill: String },
    #[error("error (not just a warning): no agent has attribute \"{attribute}\", so this requirement can never be met")]
    AttributeNotOnAnyAgent { attribute: String },
    #[error("`after` must increase: {after:?} is not later than the previous step's {previous:?}")]
    RelaxNotIncreasing {
        after: std::time::Duration,
        previous: std::time::Duration,
    },
    #[error("target {value} must be in (0, 1]")]
    TargetOutOfRange { value: f64 },
    #[error("cannot use {what} {path}: {reason}")]
    TlsFile {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("`{set}` needs `{missing}` too")]
    CredentialHalf {
        set: &'static str,
        missing: &'static str,
    },
    #[error(
        "min_expires {min:?} <= default_expires {default:?} <= max_expires {max:?} does not hold"
    )]
    ExpiresOrder {
        min: std::time::Duration,
        default: std::time::Duration,
        max: std::time::Duration,
    },
    #[error("{low} must be below {high_field} ({high}), so that shedding stops only once the load has fallen")]
    MarksOrder {
        low: String,
        high_field: &'static str,
        high: String,
    },
    #[error("invalid port range \"{value}\" (expected e.g. \"20000-20999\": two ports, low first, holding an even/odd pair)")]
    InvalidPortRange { value: String },
    #[error("invalid IP address \"{value}\" (expected e.g. 127.0.0.1 or ::1)")]
    InvalidIp { value: String },
    #[error("codecs must name at least one of pcmu, pcma, opus")]
    NoCodecs,
    #[error("`register = true` needs `username` and `password` to register with")]
    RegisterWithoutCredentials,
    #[error("trunk has neither allow_from nor outbound, so it can carry no call")]
    TrunkUnused,
    #[error("invalid identity \"{value}\" (expected a sip:, sips: or tel: URI of at most {max} bytes, e.g. \"sip:+15550100@carrier.example\")")]
    InvalidIdentity { value: String, max: usize },
    #[error("agent {agent} still has the demo password while {listen_field} = {listen} is not loopback: change the passwords in the config before listening beyond 127.0.0.1")]
    DemoPasswordExposed {
        agent: String,
        listen_field: &'static str,
        listen: std::net::SocketAddr,
    },
    #[error("invalid dial pattern \"{value}\" (expected digits with an optional leading +, then an optional length such as {{7}} or {{7,11}}; \"*\" is any number)")]
    InvalidDialPattern { value: String },
    #[error("no dial rule set is named \"{name}\"")]
    UnknownDialRules { name: String },
    #[error("cannot read {path}: {reason}")]
    ListUnreadable { path: String, reason: String },
    #[error("{message}")]
    ListRow { message: String },
    #[error("invalid calling window \"{value}\" (expected e.g. \"09:00-21:00\")")]
    InvalidWindow { value: String },
    #[error("unknown time zone \"{value}\" (expected UTC, an offset such as +05:30, or a name such as Europe/London)")]
    InvalidZone { value: String },
    #[error("max_abandon {value} must be in (0, 1]")]
    AbandonOutOfRange { value: f64 },
    #[error("no trunk is named \"{trunk}\"")]
    UnknownTrunk { trunk: String },
    #[error("trunk \"{trunk}\" has no `outbound`, so no call can be placed through it")]
    TrunkNotOutbound { trunk: String },
    #[error("the dialplan has no agents and no DIDs, so the switch could take no call")]
    EmptyPlan,
    #[error("{what} {path} is not writable: {reason}")]
    NotWritable {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("the demo API token is still set while {listen_field} = {listen} is not loopback: write your own tokens before listening beyond 127.0.0.1")]
    DemoTokenExposed {
        listen_field: &'static str,
        listen: std::net::SocketAddr,
    },
}
