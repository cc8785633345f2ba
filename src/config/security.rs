//! The `[security]` section and the `[[dial_rules]]` sets: failed-login
//! limits, request rate limits, who is trusted, phones per agent, which
//! numbers agents may dial out, and what the switch says it is.

use std::time::Duration;

use super::IpNet;
use crate::dial_rules::DialRules;

/// Rule sets in one file.
pub const DIAL_RULE_SETS_MAX: usize = 64;
/// Largest `max_contacts`: the registrar's own bound per AOR.
pub const MAX_CONTACTS_MAX: u32 = crate::sip::limits::BINDINGS_PER_AOR_MAX as u32;
/// Longest `server_header`.
pub const SERVER_HEADER_CHARS_MAX: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Failed digests from one source within `auth_window` before a ban.
    pub auth_attempts: u32,
    /// Failed digests for one agent, from any sources, within
    /// `auth_window`; past it each failing source is banned at once.
    pub auth_user_attempts: u32,
    pub auth_window: Duration,
    pub auth_ban: Duration,
    /// Silence after the first failure; doubles with each further one.
    pub auth_backoff: Duration,
    /// Never limited (auth guard and request rate), besides the below.
    pub trusted: Vec<IpNet>,
    /// 127.0.0.0/8 and ::1 are trusted.
    pub trust_loopback: bool,
    /// Every trunk's `allow_from` is trusted (carriers send bursts).
    pub trust_trunks: bool,
    /// Requests per source: a burst, then this many per second.
    pub requests_burst: u32,
    pub requests_per_second: u32,
    /// Over the rate: this many 503s, then silence.
    pub requests_refused_answered: u32,
    /// Phones per agent unless the agent sets its own.
    pub max_contacts: u32,
    /// A phone over `max_contacts` replaces the oldest (else 403).
    pub remove_existing: bool,
    /// The rule set for agents that name none; `None`: the built-in one
    /// ([`DialRules::demo_default`]).
    pub dial_rules: Option<String>,
    /// Our `Server` and `User-Agent` value.
    pub server_header: String,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            auth_attempts: 10,
            auth_user_attempts: 20,
            auth_window: Duration::from_secs(600),
            auth_ban: Duration::from_secs(3600),
            auth_backoff: Duration::from_secs(1),
            trusted: Vec::new(),
            trust_loopback: true,
            trust_trunks: true,
            requests_burst: 40,
            requests_per_second: 20,
            requests_refused_answered: 5,
            max_contacts: 1,
            remove_existing: true,
            dial_rules: None,
            server_header: "switchyard".to_owned(),
        }
    }
}

/// A named set of dial rules, for agents that name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialRuleSet {
    pub name: String,
    pub rules: DialRules,
}
