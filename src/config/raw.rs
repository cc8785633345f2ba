//! The file as serde reads it: plain strings and wide integers, so that the
//! validator, not serde, words the errors about durations, ranges and names.
//! Every struct refuses unknown keys: a typo must not pass silently.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSwitch {
    pub sip_listen: Option<String>,
    pub http_listen: Option<String>,
    pub realm: Option<String>,
    pub cdr_path: Option<String>,
    pub records_keep: Option<String>,
    pub no_answer_timeout: Option<String>,
    pub max_calls: Option<i64>,
    pub digest_challenge: Option<String>,
    pub force_rport: Option<bool>,
    pub registration: Option<RawRegistration>,
    pub drain_timeout: Option<String>,
    pub min_se: Option<String>,
    pub probe_interval: Option<String>,
    pub escalation_queue: Option<String>,
    pub escalation_priority: Option<i64>,
    pub conference_factory: Option<String>,
    pub transfer_loop_max: Option<i64>,
    pub sip_workers: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMedia {
    pub rtp_ports: Option<String>,
    pub rtp_address: Option<String>,
    pub advertise_address: Option<String>,
    pub inactivity_timeout: Option<String>,
    pub codecs: Option<Vec<String>>,
    pub prompts: Option<String>,
    pub queue_music: Option<String>,
    pub announce_every: Option<String>,
    pub hold_music: Option<String>,
    pub recordings: Option<String>,
    pub recordings_keep: Option<String>,
    pub recordings_group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegistration {
    pub min_expires: Option<String>,
    pub max_expires: Option<String>,
    pub default_expires: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    pub id: String,
    pub password: String,
    pub name: Option<String>,
    pub auto_login: Option<bool>,
    #[serde(default)]
    pub skills: BTreeMap<String, i64>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub max_no_answer: Option<i64>,
    pub supervisor: Option<bool>,
    pub max_contacts: Option<i64>,
    pub dial_rules: Option<String>,
    pub srtp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrunk {
    pub name: String,
    #[serde(default)]
    pub allow_from: Vec<String>,
    pub inbound_username: Option<String>,
    pub inbound_password: Option<String>,
    pub outbound: Option<RawOutbound>,
    pub trust_identity: Option<bool>,
    pub asserted_identity: Option<String>,
    pub privacy: Option<String>,
    pub srtp: Option<String>,
    pub allow_refer: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutbound {
    pub address: String,
    pub transport: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub priority: Option<i64>,
    pub options_interval: Option<String>,
    pub options_down_after: Option<i64>,
    pub register: Option<bool>,
    pub register_expires: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDid {
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub menu: Option<String>,
    pub priority: Option<i64>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub record: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub name: String,
    pub requires: String,
    pub strategy: Option<String>,
    pub ring_timeout: Option<String>,
    pub wrap_up: Option<String>,
    pub max_length: Option<i64>,
    pub max_wait: Option<String>,
    pub overflow: Option<String>,
    pub when_no_agents: Option<String>,
    pub service_level: Option<RawServiceLevel>,
    #[serde(default)]
    pub relax: Vec<RawRelax>,
    pub record: Option<bool>,
    #[serde(default)]
    pub dispositions: Vec<String>,
    pub disposition_required: Option<bool>,
    pub wrap_up_max: Option<String>,
    pub transfer_priority: Option<i64>,
    pub transfer_fallback: Option<String>,
    pub transfer_fallback_hangup: Option<String>,
    pub callback: Option<RawCallback>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCallback {
    pub key: Option<String>,
    pub prompt: Option<String>,
    pub confirm_prompt: Option<String>,
    pub attempts: Option<i64>,
    pub retry: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServiceLevel {
    pub within: Option<String>,
    pub target: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRelax {
    pub after: String,
    pub requires: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMenu {
    pub name: String,
    pub prompt: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
    pub default: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    #[serde(default)]
    pub tokens: Vec<RawApiToken>,
    pub connections_max: Option<i64>,
    pub open_metrics: Option<bool>,
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApiToken {
    pub name: String,
    pub token: String,
    pub role: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecurity {
    pub auth_attempts: Option<i64>,
    pub auth_user_attempts: Option<i64>,
    pub auth_window: Option<String>,
    pub auth_ban: Option<String>,
    pub auth_backoff: Option<String>,
    #[serde(default)]
    pub trusted: Vec<String>,
    pub trust_loopback: Option<bool>,
    pub trust_trunks: Option<bool>,
    pub requests_burst: Option<i64>,
    pub requests_per_second: Option<i64>,
    pub requests_refused_answered: Option<i64>,
    pub max_contacts: Option<i64>,
    pub remove_existing: Option<bool>,
    pub dial_rules: Option<String>,
    pub server_header: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDialRuleSet {
    pub name: String,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub listen: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
    pub ca: Option<String>,
    pub handshake_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub agent_state: Option<bool>,
    pub interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverload {
    pub backlog_high: Option<i64>,
    pub backlog_low: Option<i64>,
    pub lag_high: Option<String>,
    pub lag_low: Option<String>,
    pub transactions_high: Option<i64>,
    pub transactions_low: Option<i64>,
    pub calm: Option<String>,
    pub retry_after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCampaign {
    pub name: String,
    pub queue: String,
    pub contacts: String,
    pub mode: Option<String>,
    pub trunk: String,
    pub caller_id: Option<String>,
    pub window: Option<String>,
    pub timezone: Option<String>,
    pub max_attempts: Option<i64>,
    pub retry: Option<RawRetry>,
    pub max_abandon: Option<f64>,
    pub autostart: Option<bool>,
    pub ring_timeout: Option<String>,
    pub blend: Option<bool>,
    pub amd: Option<RawAmd>,
    pub auto_answer: Option<bool>,
    pub preview_timeout: Option<String>,
    pub info_message: Option<String>,
    pub info_plays: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAmd {
    pub machine: Option<String>,
    pub message: Option<String>,
    pub message_plays: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    pub busy: Option<String>,
    pub no_answer: Option<String>,
    pub failed: Option<String>,
    pub machine: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDnc {
    #[serde(default)]
    pub lists: Vec<String>,
    pub country_code: Option<String>,
    pub trunk_prefix: Option<String>,
}
