//! Every metric the switch exports, by name (Prometheus naming: `switchyard_`
//! prefix, base units, `_total` for counters), each family's `# HELP` text
//! ([`FAMILIES`]), and the code that copies the cores' counters into the
//! recorder. Per-agent states are rendered here too, beside the recorder:
//! it cannot drop a series, and an agent has one state at a time.

#![allow(clippy::disallowed_methods)]

use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

use crate::media::relay::{DropReason, RelaySnapshot};
use crate::switch::{
    Switch, AGENT_STATE_LABELS, DIAL_REFUSED_LABELS, LIMITED_LABELS, METHOD_LABELS, OUTCOME_LABELS,
    OVERLOAD_REASONS,
};

pub const SIP_REQUESTS_TOTAL: &str = "switchyard_sip_requests_total";
pub const SIP_RESPONSES_RECEIVED_TOTAL: &str = "switchyard_sip_responses_received_total";
pub const SIP_MALFORMED_TOTAL: &str = "switchyard_sip_malformed_total";
pub const SIP_STRAY_RESPONSES_TOTAL: &str = "switchyard_sip_stray_responses_total";
pub const SIP_TRANSACTIONS_ACTIVE: &str = "switchyard_sip_transactions_active";
pub const CALLS_STARTED_TOTAL: &str = "switchyard_calls_started_total";
pub const CALLS_TOTAL: &str = "switchyard_calls_total";
pub const CALLS_ACTIVE: &str = "switchyard_calls_active";
pub const CALLS_REFUSED_OVERLOAD_TOTAL: &str = "switchyard_calls_refused_overload_total";
pub const OVERLOAD_SHEDDING: &str = "switchyard_overload_shedding";
pub const CORE_BACKLOG: &str = "switchyard_core_backlog";
pub const CORE_LAG_SECONDS: &str = "switchyard_core_lag_seconds";
pub const REGISTRATIONS_TOTAL: &str = "switchyard_registrations_total";
pub const REGISTRATIONS_ACTIVE: &str = "switchyard_registrations_active";
pub const AUTH_CHALLENGES_TOTAL: &str = "switchyard_auth_challenges_total";
pub const AUTH_FAILURES_TOTAL: &str = "switchyard_auth_failures_total";
/// Sources banned for failed logins since start, and banned now.
pub const AUTH_BANS_TOTAL: &str = "switchyard_auth_bans_total";
pub const AUTH_BANS_ACTIVE: &str = "switchyard_auth_bans_active";
/// Requests not served for their source's sake; label `reason`: `banned`,
/// `backoff` (after a failed login), `rate_503`, `rate_dropped`.
pub const SIP_REQUESTS_LIMITED_TOTAL: &str = "switchyard_sip_requests_limited_total";
/// Calls out refused by dial rules; label `reason`: `denied`,
/// `not_allowed`, `not_a_number`.
pub const DIAL_REFUSED_TOTAL: &str = "switchyard_dial_refused_total";
/// 1 while an outbound trunk answers its OPTIONS checks (or is not
/// checked), 0 while it counts as down; label `trunk`.
pub const TRUNK_UP: &str = "switchyard_trunk_up";
/// 1 while the carrier holds our registration, 0 otherwise; only trunks
/// with `register = true`; label `trunk`.
pub const TRUNK_REGISTERED: &str = "switchyard_trunk_registered";
/// Calls out moved from a trunk to the next (408, 5xx, timeout); label `trunk`, the one left.
pub const TRUNK_FAILOVERS_TOTAL: &str = "switchyard_trunk_failovers_total";
/// SIP messages over TCP larger than the limit: answered 413, closed.
pub const TCP_OVERSIZED_TOTAL: &str = "switchyard_tcp_oversized_total";
/// TLS handshakes by `result` (ok, failed: refused or timed out).
pub const TLS_HANDSHAKES_TOTAL: &str = "switchyard_tls_handshakes_total";
pub const TCP_CONNECTIONS_ACTIVE: &str = "switchyard_tcp_connections_active";
pub const TCP_CONNECTIONS_REFUSED_TOTAL: &str = "switchyard_tcp_connections_refused_total";
pub const TCP_FRAMING_ERRORS_TOTAL: &str = "switchyard_tcp_framing_errors_total";
pub const TCP_WRITES_DROPPED_TOTAL: &str = "switchyard_tcp_writes_dropped_total";
pub const UDP_SEND_ERRORS_TOTAL: &str = "switchyard_udp_send_errors_total";
/// SIP datagrams by `shard` and `result` (taken, dropped_full,
/// dropped_busy, shed): what each SIP shard did with what it was dealt.
pub const SIP_SHARD_DATAGRAMS_TOTAL: &str = "switchyard_sip_shard_datagrams_total";
pub const SIP_SHARD_SENT_TOTAL: &str = "switchyard_sip_shard_sent_total";
pub const CDR_WRITTEN_TOTAL: &str = "switchyard_cdr_written_total";
/// Store transactions: written over commits is records per fsync.
pub const CDR_COMMITS_TOTAL: &str = "switchyard_cdr_commits_total";
pub const CDR_SPILLED_TOTAL: &str = "switchyard_cdr_spilled_total";
pub const CDR_DROPPED_TOTAL: &str = "switchyard_cdr_dropped_total";
/// Call records and recordings deleted; labels `reason` (`retention`,
/// `erasure`) and `kind` (`records`, `recordings`).
pub const DATA_DELETED_TOTAL: &str = "switchyard_data_deleted_total";
pub const QUEUE_CALLS_WAITING: &str = "switchyard_queue_calls_waiting";
pub const QUEUE_AGENTS_AVAILABLE: &str = "switchyard_queue_agents_available";
/// Absent until a call of the queue was answered or abandoned.
pub const QUEUE_SERVICE_LEVEL_RATIO: &str = "switchyard_queue_service_level_ratio";
/// Absent while the router has no estimate (no agent staffed, no handled call).
pub const QUEUE_EXPECTED_WAIT_SECONDS: &str = "switchyard_queue_expected_wait_seconds";
/// A histogram of callers' waits in the queue; label `outcome`:
/// `answered` or `abandoned`. Its `_sum` and `_count` with
/// `outcome="answered"` are the former summary of answered waits.
pub const QUEUE_WAIT_SECONDS: &str = "switchyard_queue_wait_seconds";
/// A histogram of talk plus wrap-up of finished queue calls.
pub const QUEUE_HANDLE_SECONDS: &str = "switchyard_queue_handle_seconds";
pub const QUEUE_OFFERED_TOTAL: &str = "switchyard_queue_offered_total";
pub const QUEUE_ANSWERED_TOTAL: &str = "switchyard_queue_answered_total";
pub const QUEUE_ANSWERED_WITHIN_SL_TOTAL: &str = "switchyard_queue_answered_within_sl_total";
pub const QUEUE_ABANDONED_TOTAL: &str = "switchyard_queue_abandoned_total";
pub const QUEUE_LONGEST_WAIT_SECONDS: &str = "switchyard_queue_longest_wait_seconds";
pub const QUEUE_SERVICE_LEVEL_TARGET_RATIO: &str = "switchyard_queue_service_level_target_ratio";
pub const QUEUE_SERVICE_LEVEL_THRESHOLD_SECONDS: &str =
    "switchyard_queue_service_level_threshold_seconds";
/// Absent until a queue call ended within the interval.
pub const QUEUE_AGENTS_NEEDED: &str = "switchyard_queue_agents_needed";
/// Samples for the two histograms lost because the driver fell behind.
pub const QUEUE_SAMPLES_DROPPED_TOTAL: &str = "switchyard_queue_samples_dropped_total";
/// One series per agent, value 1, label `state` its current state.
pub const AGENT_STATE: &str = "switchyard_agent_state";
/// `outcome`: one of [`QUEUE_OUTCOME_LABELS`].
pub const QUEUE_CALLS_TOTAL: &str = "switchyard_queue_calls_total";
/// `state`: one of `AGENT_STATE_LABELS`.
pub const AGENTS: &str = "switchyard_agents";
pub const ROUTER_REFUSED_TOTAL: &str = "switchyard_router_refused_total";
/// `result`: done or refused.
pub const AGENT_FEATURES_TOTAL: &str = "switchyard_agent_features_total";

pub const RTP_PACKETS_RELAYED_TOTAL: &str = "switchyard_rtp_packets_relayed_total";
pub const RTP_BYTES_RELAYED_TOTAL: &str = "switchyard_rtp_bytes_relayed_total";
pub const RTCP_PACKETS_RELAYED_TOTAL: &str = "switchyard_rtcp_packets_relayed_total";
/// Label `reason`: `hijack`, `unexpected_source`, `malformed`, `unmapped_pt`,
/// `no_destination`, `send_failed`.
pub const RTP_PACKETS_DROPPED_TOTAL: &str = "switchyard_rtp_packets_dropped_total";
pub const RTP_PEERS_LEARNT_TOTAL: &str = "switchyard_rtp_peers_learnt_total";
pub const MEDIA_LEGS_ACTIVE: &str = "switchyard_media_legs_active";
pub const MEDIA_CALLS_ACTIVE: &str = "switchyard_media_calls_active";
pub const MEDIA_PORT_PAIRS_FREE: &str = "switchyard_media_port_pairs_free";
/// New calls refused 503 because no RTP port pair was free.
pub const MEDIA_PORTS_EXHAUSTED_TOTAL: &str = "switchyard_media_ports_exhausted_total";
/// Answered calls hung up because their media stopped.
pub const MEDIA_TIMEOUTS_TOTAL: &str = "switchyard_media_timeouts_total";
pub const MEDIA_EVENTS_DROPPED_TOTAL: &str = "switchyard_media_events_dropped_total";
/// New calls refused 488 (or 413) for their SDP offer.
pub const MEDIA_OFFERS_REFUSED_TOTAL: &str = "switchyard_media_offers_refused_total";
/// RFC 4733 digits (and SIP INFO dtmf-relay) received.
pub const DTMF_DIGITS_TOTAL: &str = "switchyard_dtmf_digits_total";
/// Calls recorded (`result="started"`) and recordings that failed.
pub const RECORDINGS_TOTAL: &str = "switchyard_recordings_total";
/// Supervisor sessions started, by mode; refused ones with `mode="refused"`.
pub const SUPERVISIONS_TOTAL: &str = "switchyard_supervisions_total";
/// Offerless INVITEs whose ACK brought no usable answer (hung up).
pub const MEDIA_LATE_ANSWERS_REFUSED_TOTAL: &str = "switchyard_media_late_answers_refused_total";
/// Callers leaving an IVR menu; label `how`: `digit`, `default`, `refused`.
pub const IVR_EXITS_TOTAL: &str = "switchyard_ivr_exits_total";

/// Per campaign (label `campaign`): dials placed, customers answered,
/// answered calls given to an agent, abandoned (no agent in time), dials
/// the do-not-call gate refused; the abandon rate since start and the
/// contacts not final yet.
pub const CAMPAIGN_DIALS_TOTAL: &str = "switchyard_campaign_dials_total";
pub const CAMPAIGN_ANSWERS_TOTAL: &str = "switchyard_campaign_answers_total";
pub const CAMPAIGN_CONNECTS_TOTAL: &str = "switchyard_campaign_connects_total";
pub const CAMPAIGN_ABANDONS_TOTAL: &str = "switchyard_campaign_abandons_total";
pub const CAMPAIGN_DNC_BLOCKED_TOTAL: &str = "switchyard_campaign_dnc_blocked_total";
pub const CAMPAIGN_ABANDON_RATIO: &str = "switchyard_campaign_abandon_ratio";
pub const CAMPAIGN_CONTACTS_LEFT: &str = "switchyard_campaign_contacts_left";
/// Answers the answering-machine detector took for a machine.
pub const CAMPAIGN_MACHINES_TOTAL: &str = "switchyard_campaign_machines_total";
/// 1 while the campaign runs, 0 else.
pub const CAMPAIGN_RUNNING: &str = "switchyard_campaign_running";
/// Blending: free agents kept for the inbound queues they serve, and 1
/// while an inbound queue backs the campaign off.
pub const CAMPAIGN_AGENTS_WITHHELD: &str = "switchyard_campaign_agents_withheld";
pub const CAMPAIGN_BACKING_OFF: &str = "switchyard_campaign_backing_off";

/// Queued callbacks by result: `requested` (key pressed or scheduled by a
/// disposition), `completed` (the customer answered), `failed` (given up),
/// `refused` (a key press that could not be taken); and those pending.
pub const CALLBACKS_TOTAL: &str = "switchyard_callbacks_total";
pub const CALLBACKS_PENDING: &str = "switchyard_callbacks_pending";

pub const QUEUE_OUTCOME_LABELS: [&str; 3] = ["answered", "abandoned", "overflowed"];

/// Bucket bounds of [`QUEUE_WAIT_SECONDS`]: around usual service-level
/// thresholds (10, 20, 30, 60 s).
pub const WAIT_BUCKETS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0,
];
/// Bucket bounds of [`QUEUE_HANDLE_SECONDS`].
pub const HANDLE_BUCKETS: [f64; 14] = [
    10.0, 30.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0,
];

/// What kind of family a metric is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every family with its kind and `# HELP` text. A test checks each name
/// defined above is here.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (SIP_REQUESTS_TOTAL, Kind::Counter, "SIP requests received, by method."),
    (SIP_RESPONSES_RECEIVED_TOTAL, Kind::Counter, "SIP responses received."),
    (SIP_MALFORMED_TOTAL, Kind::Counter, "Malformed SIP messages: answered with 400 or dropped."),
    (SIP_STRAY_RESPONSES_TOTAL, Kind::Counter, "SIP responses that matched no transaction."),
    (SIP_TRANSACTIONS_ACTIVE, Kind::Gauge, "Live SIP transactions."),
    (CALLS_STARTED_TOTAL, Kind::Counter, "Calls accepted."),
    (CALLS_TOTAL, Kind::Counter, "Finished calls, by outcome."),
    (CALLS_ACTIVE, Kind::Gauge, "Calls in progress."),
    (CALLS_REFUSED_OVERLOAD_TOTAL, Kind::Counter, "New calls refused with 503, by reason (max_calls, draining, backlog, lag, transactions)."),
    (OVERLOAD_SHEDDING, Kind::Gauge, "1 while new calls are refused or let in at a capped rate for load."),
    (CORE_BACKLOG, Kind::Gauge, "The most inputs seen waiting for the core (last report)."),
    (CORE_LAG_SECONDS, Kind::Gauge, "How late the core's timers ran (last report)."),
    (REGISTRATIONS_TOTAL, Kind::Counter, "REGISTERs accepted."),
    (REGISTRATIONS_ACTIVE, Kind::Gauge, "Live registrar bindings."),
    (AUTH_CHALLENGES_TOTAL, Kind::Counter, "Digest challenges sent (401/407)."),
    (AUTH_FAILURES_TOTAL, Kind::Counter, "Requests refused 403 for bad credentials."),
    (AUTH_BANS_TOTAL, Kind::Counter, "Sources banned for failed SIP logins."),
    (AUTH_BANS_ACTIVE, Kind::Gauge, "Sources banned now."),
    (SIP_REQUESTS_LIMITED_TOTAL, Kind::Counter, "SIP requests screened out, by reason (back-off, ban, rate limit)."),
    (DIAL_REFUSED_TOTAL, Kind::Counter, "Numbers agents were refused by their dial rules, by reason."),
    (CAMPAIGN_DIALS_TOTAL, Kind::Counter, "Calls a campaign placed to its customers."),
    (CAMPAIGN_ANSWERS_TOTAL, Kind::Counter, "Campaign calls the customer answered."),
    (CAMPAIGN_CONNECTS_TOTAL, Kind::Counter, "Answered campaign calls given to an agent."),
    (CAMPAIGN_ABANDONS_TOTAL, Kind::Counter, "Answered campaign calls with no agent in time (information message played)."),
    (CAMPAIGN_DNC_BLOCKED_TOTAL, Kind::Counter, "Campaign dials refused by the do-not-call gate."),
    (CAMPAIGN_ABANDON_RATIO, Kind::Gauge, "Abandoned over answered campaign calls since the campaign started."),
    (CAMPAIGN_CONTACTS_LEFT, Kind::Gauge, "Campaign contacts not final yet (not done, not do-not-call)."),
    (CAMPAIGN_MACHINES_TOTAL, Kind::Counter, "Answered campaign calls the detector took for an answering machine."),
    (CAMPAIGN_RUNNING, Kind::Gauge, "1 while the campaign is running, else 0."),
    (CAMPAIGN_AGENTS_WITHHELD, Kind::Gauge, "Free agents of the campaign kept for the inbound queues they serve (blending)."),
    (CAMPAIGN_BACKING_OFF, Kind::Gauge, "1 while an inbound queue sharing the campaign's agents has callers waiting or is under its service level (no new dial), else 0."),
    (CALLBACKS_TOTAL, Kind::Counter, "Queued callbacks, by result (requested, completed, failed, refused)."),
    (CALLBACKS_PENDING, Kind::Gauge, "Queued callbacks not done yet (waiting, scheduled or being tried)."),
    (TRUNK_UP, Kind::Gauge, "Outbound trunks up by their OPTIONS checks (1) or down (0)."),
    (TRUNK_REGISTERED, Kind::Gauge, "Outbound trunks whose carrier holds our registration (1) or not (0)."),
    (TRUNK_FAILOVERS_TOTAL, Kind::Counter, "Calls out moved from this trunk to the next after a 408, 5xx or timeout."),
    (TCP_OVERSIZED_TOTAL, Kind::Counter, "Oversized SIP messages over TCP, answered 413 and closed."),
    (TLS_HANDSHAKES_TOTAL, Kind::Counter, "TLS handshakes of SIP connections by result (ok, failed)."),
    (TCP_CONNECTIONS_ACTIVE, Kind::Gauge, "Open SIP TCP connections."),
    (TCP_CONNECTIONS_REFUSED_TOTAL, Kind::Counter, "SIP TCP connections refused at the cap."),
    (TCP_FRAMING_ERRORS_TOTAL, Kind::Counter, "SIP TCP streams closed for bad framing."),
    (TCP_WRITES_DROPPED_TOTAL, Kind::Counter, "SIP TCP messages dropped: the writer was full."),
    (UDP_SEND_ERRORS_TOTAL, Kind::Counter, "SIP UDP datagrams the kernel refused to send."),
    (SIP_SHARD_DATAGRAMS_TOTAL, Kind::Counter, "SIP UDP datagrams per shard by result: taken, dropped_full (the shard was behind), dropped_busy and shed (503: the core was behind)."),
    (SIP_SHARD_SENT_TOTAL, Kind::Counter, "SIP UDP datagrams sent per shard (by Call-ID, like what comes in)."),
    (CDR_WRITTEN_TOTAL, Kind::Counter, "Call records written to the store."),
    (CDR_COMMITS_TOTAL, Kind::Counter, "Call record store transactions committed (records written over commits is records per fsync)."),
    (CDR_SPILLED_TOTAL, Kind::Counter, "Call records spilled to a file for the next start."),
    (CDR_DROPPED_TOTAL, Kind::Counter, "Call records lost."),
    (DATA_DELETED_TOTAL, Kind::Counter, "Call records and recordings deleted, by retention or erasure."),
    (QUEUE_CALLS_WAITING, Kind::Gauge, "Callers waiting in the queue, not yet offered."),
    (QUEUE_AGENTS_AVAILABLE, Kind::Gauge, "Agents logged in to the queue, registered and free."),
    (QUEUE_SERVICE_LEVEL_RATIO, Kind::Gauge, "Answered within the threshold over answered plus abandoned, since start; windowed rates come from the _total counters."),
    (QUEUE_EXPECTED_WAIT_SECONDS, Kind::Gauge, "Expected wait of the next caller to join the queue."),
    (QUEUE_WAIT_SECONDS, Kind::Histogram, "Callers' waits in the queue (from entering it), by outcome answered or abandoned."),
    (QUEUE_HANDLE_SECONDS, Kind::Histogram, "Handle time of finished queue calls: talk plus the queue's wrap-up."),
    (QUEUE_CALLS_TOTAL, Kind::Counter, "Queue calls by outcome: answered, abandoned, overflowed."),
    (QUEUE_OFFERED_TOTAL, Kind::Counter, "Callers who entered the queue (arrival, menu or overflow)."),
    (QUEUE_ANSWERED_TOTAL, Kind::Counter, "Queue callers an agent answered."),
    (QUEUE_ANSWERED_WITHIN_SL_TOTAL, Kind::Counter, "Queue callers answered within the queue's service-level threshold."),
    (QUEUE_ABANDONED_TOTAL, Kind::Counter, "Queue callers who hung up before an answer."),
    (QUEUE_LONGEST_WAIT_SECONDS, Kind::Gauge, "How long the longest-waiting caller has been in the queue; 0 when nobody waits."),
    (QUEUE_SERVICE_LEVEL_TARGET_RATIO, Kind::Gauge, "The queue's service-level goal: share to answer within the threshold."),
    (QUEUE_SERVICE_LEVEL_THRESHOLD_SECONDS, Kind::Gauge, "The queue's service-level threshold."),
    (QUEUE_AGENTS_NEEDED, Kind::Gauge, "Agents Erlang C says reach the service-level goal at the last interval's arrival rate and average handle time."),
    (QUEUE_SAMPLES_DROPPED_TOTAL, Kind::Counter, "Waits and handle times not put in the histograms: the exporter fell behind."),
    (AGENTS, Kind::Gauge, "Agents by state."),
    (AGENT_STATE, Kind::Gauge, "1 for each agent, labelled with its current state ([metrics].agent_state)."),
    (ROUTER_REFUSED_TOTAL, Kind::Counter, "Inputs the ACD router refused: each is a bug to look at."),
    (AGENT_FEATURES_TOTAL, Kind::Counter, "Agent feature codes dialled, done or refused."),
    (RTP_PACKETS_RELAYED_TOTAL, Kind::Counter, "RTP packets relayed."),
    (RTP_BYTES_RELAYED_TOTAL, Kind::Counter, "RTP bytes relayed."),
    (RTCP_PACKETS_RELAYED_TOTAL, Kind::Counter, "RTCP packets relayed."),
    (RTP_PACKETS_DROPPED_TOTAL, Kind::Counter, "RTP packets not forwarded, by reason."),
    (RTP_PEERS_LEARNT_TOTAL, Kind::Counter, "RTP peer addresses latched."),
    (MEDIA_LEGS_ACTIVE, Kind::Gauge, "Media legs in the relay."),
    (MEDIA_CALLS_ACTIVE, Kind::Gauge, "Calls in the relay."),
    (MEDIA_PORT_PAIRS_FREE, Kind::Gauge, "Free RTP/RTCP port pairs."),
    (MEDIA_PORTS_EXHAUSTED_TOTAL, Kind::Counter, "New calls refused 503: no RTP port pair free."),
    (MEDIA_TIMEOUTS_TOTAL, Kind::Counter, "Answered calls hung up because their media stopped."),
    (MEDIA_EVENTS_DROPPED_TOTAL, Kind::Counter, "Relay reports to the switch dropped: its queue was full."),
    (MEDIA_OFFERS_REFUSED_TOTAL, Kind::Counter, "New calls refused for their SDP offer."),
    (DTMF_DIGITS_TOTAL, Kind::Counter, "DTMF digits received (RFC 4733 and SIP INFO)."),
    (RECORDINGS_TOTAL, Kind::Counter, "Call recordings started, and those that failed."),
    (SUPERVISIONS_TOTAL, Kind::Counter, "Supervisor sessions by mode, and refused ones."),
    (MEDIA_LATE_ANSWERS_REFUSED_TOTAL, Kind::Counter, "Offerless INVITEs whose ACK brought no usable answer."),
    (IVR_EXITS_TOTAL, Kind::Counter, "Callers leaving an IVR menu, by how."),
];

/// The recorder builder with the histograms' buckets.
pub fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(QUEUE_WAIT_SECONDS.into()), &WAIT_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(QUEUE_HANDLE_SECONDS.into()), &HANDLE_BUCKETS)
}

/// Gives every family its `# HELP` text; call once the recorder is installed.
pub fn describe() {
    for &(name, kind, help) in FAMILIES {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}

/// Per-agent state series, rendered by the switch task and appended to
/// each scrape.
#[derive(Debug, Default)]
pub struct AgentStates {
    text: Mutex<String>,
}

impl AgentStates {
    /// Replaces the series with the switch's agents now.
    pub fn update(&self, switch: &Switch) {
        let mut text = String::new();
        for (agent, state) in switch.agent_state_each() {
            if text.is_empty() {
                let help = FAMILIES
                    .iter()
                    .find(|f| f.0 == AGENT_STATE)
                    .map_or("", |f| f.2);
                let _ = writeln!(
                    text,
                    "# HELP {AGENT_STATE} {help}\n# TYPE {AGENT_STATE} gauge"
                );
            }
            let agent = escape_label(agent);
            let _ = writeln!(
                text,
                "{AGENT_STATE}{{agent=\"{agent}\",state=\"{state}\"}} 1"
            );
        }
        *self.text.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }

    /// The series as Prometheus text (empty when turned off).
    pub fn render(&self) -> String {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A label value as the text format wants it.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Moves the waits and handle times the core measured into the histograms.
pub fn record_samples(switch: &mut Switch) {
    use crate::switch::SampleKind;
    while let Some(s) = switch.poll_queue_sample() {
        let secs = s.value.as_secs_f64();
        match s.kind {
            SampleKind::Answered => {
                histogram!(QUEUE_WAIT_SECONDS, "queue" => s.queue, "outcome" => "answered")
                    .record(secs);
            }
            SampleKind::Abandoned => {
                histogram!(QUEUE_WAIT_SECONDS, "queue" => s.queue, "outcome" => "abandoned")
                    .record(secs);
            }
            SampleKind::Handled => {
                histogram!(QUEUE_HANDLE_SECONDS, "queue" => s.queue).record(secs)
            }
        }
    }
    counter!(QUEUE_SAMPLES_DROPPED_TOTAL).absolute(switch.queue_samples_dropped());
}

/// Copies the switch core's counters and gauges into the recorder.
pub fn publish(switch: &Switch, now: Instant) {
    let stats = switch.stats();
    for (label, value) in METHOD_LABELS.iter().zip(stats.requests) {
        counter!(SIP_REQUESTS_TOTAL, "method" => *label).absolute(value);
    }
    for (label, value) in OUTCOME_LABELS.iter().zip(stats.calls_ended) {
        counter!(CALLS_TOTAL, "outcome" => *label).absolute(value);
    }
    counter!(SIP_RESPONSES_RECEIVED_TOTAL).absolute(stats.responses_received);
    counter!(SIP_MALFORMED_TOTAL, "action" => "answered").absolute(stats.malformed_answered);
    counter!(SIP_MALFORMED_TOTAL, "action" => "dropped").absolute(stats.malformed_dropped);
    counter!(SIP_STRAY_RESPONSES_TOTAL).absolute(stats.stray_responses);
    counter!(CALLS_STARTED_TOTAL).absolute(stats.calls_started);
    for (label, value) in OVERLOAD_REASONS.iter().zip(stats.refused_overload) {
        counter!(CALLS_REFUSED_OVERLOAD_TOTAL, "reason" => *label).absolute(value);
    }
    let (load, _) = switch.load();
    gauge!(OVERLOAD_SHEDDING).set(if switch.shedding() { 1.0 } else { 0.0 });
    gauge!(CORE_BACKLOG).set(load.backlog as f64);
    gauge!(CORE_LAG_SECONDS).set(load.lag.as_secs_f64());
    counter!(REGISTRATIONS_TOTAL).absolute(stats.registrations_ok);
    counter!(AUTH_CHALLENGES_TOTAL).absolute(stats.auth_challenges);
    counter!(AUTH_FAILURES_TOTAL).absolute(stats.auth_failures);
    // Metrics are a driver: reading the clock here is fine.
    let (banned, bans) = switch.ban_figures(std::time::Instant::now());
    gauge!(AUTH_BANS_ACTIVE).set(banned as f64);
    counter!(AUTH_BANS_TOTAL).absolute(bans);
    for (label, value) in LIMITED_LABELS.iter().zip(stats.requests_limited) {
        counter!(SIP_REQUESTS_LIMITED_TOTAL, "reason" => *label).absolute(value);
    }
    for (label, value) in DIAL_REFUSED_LABELS.iter().zip(stats.dial_refused) {
        counter!(DIAL_REFUSED_TOTAL, "reason" => *label).absolute(value);
    }
    gauge!(CALLS_ACTIVE).set(switch.calls_active() as f64);
    gauge!(REGISTRATIONS_ACTIVE).set(switch.registrations_active() as f64);
    gauge!(SIP_TRANSACTIONS_ACTIVE).set(switch.transactions_active() as f64);
    counter!(ROUTER_REFUSED_TOTAL).absolute(stats.router_refused);
    counter!(AGENT_FEATURES_TOTAL, "result" => "done").absolute(stats.features_done);
    counter!(AGENT_FEATURES_TOTAL, "result" => "refused").absolute(stats.features_refused);
    counter!(IVR_EXITS_TOTAL, "how" => "digit").absolute(stats.menu_chosen);
    counter!(IVR_EXITS_TOTAL, "how" => "default").absolute(stats.menu_defaulted);
    counter!(IVR_EXITS_TOTAL, "how" => "refused").absolute(stats.menu_refused);
    publish_queues(switch, now);
    publish_trunks(switch, now);
    publish_campaigns(switch);
    let cb = switch.callback_stats();
    for (result, value) in [
        ("requested", cb.requested),
        ("completed", cb.completed),
        ("failed", cb.failed),
        ("refused", cb.refused),
    ] {
        counter!(CALLBACKS_TOTAL, "result" => result).absolute(value);
    }
    gauge!(CALLBACKS_PENDING).set(switch.callbacks_pending() as f64);
}

fn publish_campaigns(switch: &Switch) {
    for c in switch.campaign_snapshots() {
        let name = c.name.clone();
        counter!(CAMPAIGN_DIALS_TOTAL, "campaign" => name.clone()).absolute(c.dials);
        counter!(CAMPAIGN_ANSWERS_TOTAL, "campaign" => name.clone()).absolute(c.answers);
        counter!(CAMPAIGN_CONNECTS_TOTAL, "campaign" => name.clone()).absolute(c.connects);
        counter!(CAMPAIGN_ABANDONS_TOTAL, "campaign" => name.clone()).absolute(c.abandons);
        counter!(CAMPAIGN_DNC_BLOCKED_TOTAL, "campaign" => name.clone()).absolute(c.dnc_blocked);
        counter!(CAMPAIGN_MACHINES_TOTAL, "campaign" => name.clone()).absolute(c.machines);
        gauge!(CAMPAIGN_ABANDON_RATIO, "campaign" => name.clone()).set(c.abandon_rate);
        gauge!(CAMPAIGN_CONTACTS_LEFT, "campaign" => name.clone()).set(c.contacts_left as f64);
        let withheld = c.agents_withheld as f64;
        gauge!(CAMPAIGN_AGENTS_WITHHELD, "campaign" => name.clone()).set(withheld);
        let backing_off = if c.backing_off { 1.0 } else { 0.0 };
        gauge!(CAMPAIGN_BACKING_OFF, "campaign" => name.clone()).set(backing_off);
        let running = if c.status == "running" { 1.0 } else { 0.0 };
        gauge!(CAMPAIGN_RUNNING, "campaign" => name).set(running);
    }
}

fn publish_trunks(switch: &Switch, now: Instant) {
    for t in switch.trunk_snapshots(now) {
        let up = if t.up { 1.0 } else { 0.0 };
        gauge!(TRUNK_UP, "trunk" => t.name.clone()).set(up);
        if let Some(registered) = t.registered {
            let value = if registered { 1.0 } else { 0.0 };
            gauge!(TRUNK_REGISTERED, "trunk" => t.name.clone()).set(value);
        }
        counter!(TRUNK_FAILOVERS_TOTAL, "trunk" => t.name.clone()).absolute(t.failovers);
    }
}

/// What the SIP shards counted.
pub fn publish_shards(figures: &[crate::run::shards::ShardFigures]) {
    let mut send_failed = 0;
    for (i, f) in figures.iter().enumerate() {
        let shard = i.to_string();
        let dropped = f.dropped_full + f.dropped_busy + f.shed;
        for (result, value) in [
            ("taken", f.received.saturating_sub(dropped)),
            ("dropped_full", f.dropped_full),
            ("dropped_busy", f.dropped_busy),
            ("shed", f.shed),
        ] {
            counter!(SIP_SHARD_DATAGRAMS_TOTAL, "shard" => shard.clone(), "result" => result)
                .absolute(value);
        }
        counter!(SIP_SHARD_SENT_TOTAL, "shard" => shard.clone()).absolute(f.sent);
        send_failed += f.send_failed;
    }
    counter!(UDP_SEND_ERRORS_TOTAL).absolute(send_failed);
}

/// The relay's counters, with the switch core's where it decides: the port
/// pool (the core owns it), exhaustion and timeouts as calls saw them.
pub fn publish_media(relay: &RelaySnapshot, switch: &Switch) {
    publish_relay(relay);
    let stats = switch.stats();
    counter!(MEDIA_PORTS_EXHAUSTED_TOTAL).absolute(stats.media_ports_exhausted);
    counter!(MEDIA_TIMEOUTS_TOTAL).absolute(stats.media_timeouts);
    counter!(MEDIA_OFFERS_REFUSED_TOTAL).absolute(stats.media_offers_refused);
    counter!(DTMF_DIGITS_TOTAL).absolute(stats.dtmf_digits);
    counter!(RECORDINGS_TOTAL, "result" => "started").absolute(stats.recordings_started);
    counter!(RECORDINGS_TOTAL, "result" => "failed").absolute(stats.recordings_failed);
    for (label, value) in crate::switch::SUPERVISION_LABELS
        .iter()
        .zip(stats.supervisions)
    {
        counter!(SUPERVISIONS_TOTAL, "mode" => *label).absolute(value);
    }
    counter!(SUPERVISIONS_TOTAL, "mode" => "refused").absolute(stats.supervisions_refused);
    counter!(MEDIA_LATE_ANSWERS_REFUSED_TOTAL).absolute(stats.media_late_answers_refused);
    if let Some((free, _)) = switch.media_ports() {
        gauge!(MEDIA_PORT_PAIRS_FREE).set(free as f64);
    }
}

/// Copies the relay's snapshot into the recorder.
fn publish_relay(s: &RelaySnapshot) {
    counter!(RTP_PACKETS_RELAYED_TOTAL).absolute(s.rtp_packets_relayed);
    counter!(RTP_BYTES_RELAYED_TOTAL).absolute(s.rtp_bytes_relayed);
    counter!(RTCP_PACKETS_RELAYED_TOTAL).absolute(s.rtcp_packets_relayed);
    for reason in DropReason::ALL {
        counter!(RTP_PACKETS_DROPPED_TOTAL, "reason" => reason.label()).absolute(s.dropped(reason));
    }
    counter!(RTP_PEERS_LEARNT_TOTAL).absolute(s.peers_learnt);
    counter!(MEDIA_PORTS_EXHAUSTED_TOTAL).absolute(s.ports_exhausted);
    counter!(MEDIA_TIMEOUTS_TOTAL).absolute(s.timeouts);
    counter!(MEDIA_EVENTS_DROPPED_TOTAL).absolute(s.events_dropped);
    gauge!(MEDIA_LEGS_ACTIVE).set(s.legs_active as f64);
    gauge!(MEDIA_CALLS_ACTIVE).set(s.calls_active as f64);
    gauge!(MEDIA_PORT_PAIRS_FREE).set(s.port_pairs_free as f64);
}

/// Queue and agent figures from the router. Queue names come from the config.
fn publish_queues(switch: &Switch, now: Instant) {
    for q in switch.queue_figures(now) {
        let name = q.name.to_string();
        gauge!(QUEUE_CALLS_WAITING, "queue" => name.clone()).set(q.waiting as f64);
        gauge!(QUEUE_AGENTS_AVAILABLE, "queue" => name.clone()).set(q.agents_available as f64);
        if let Some(sl) = q.service_level {
            gauge!(QUEUE_SERVICE_LEVEL_RATIO, "queue" => name.clone()).set(sl);
        }
        if let Some(wait) = q.expected_wait {
            gauge!(QUEUE_EXPECTED_WAIT_SECONDS, "queue" => name.clone()).set(wait.as_secs_f64());
        }
        let longest = q.longest_wait.unwrap_or_default().as_secs_f64();
        gauge!(QUEUE_LONGEST_WAIT_SECONDS, "queue" => name.clone()).set(longest);
        gauge!(QUEUE_SERVICE_LEVEL_TARGET_RATIO, "queue" => name.clone()).set(q.sl_target);
        gauge!(QUEUE_SERVICE_LEVEL_THRESHOLD_SECONDS, "queue" => name.clone())
            .set(q.sl_threshold.as_secs_f64());
        if let Some(n) = q.agents_needed {
            gauge!(QUEUE_AGENTS_NEEDED, "queue" => name.clone()).set(f64::from(n));
        }
        counter!(QUEUE_OFFERED_TOTAL, "queue" => name.clone()).absolute(q.offered);
        counter!(QUEUE_ANSWERED_TOTAL, "queue" => name.clone()).absolute(q.answered);
        counter!(QUEUE_ANSWERED_WITHIN_SL_TOTAL, "queue" => name.clone())
            .absolute(q.answered_within_sl);
        counter!(QUEUE_ABANDONED_TOTAL, "queue" => name.clone()).absolute(q.abandoned);
        let outcomes = [q.answered, q.abandoned, q.overflowed];
        for (label, value) in QUEUE_OUTCOME_LABELS.iter().zip(outcomes) {
            counter!(QUEUE_CALLS_TOTAL, "queue" => name.clone(), "outcome" => *label)
                .absolute(value);
        }
    }
    for (label, value) in AGENT_STATE_LABELS.iter().zip(switch.agent_states()) {
        gauge!(AGENTS, "state" => *label).set(value as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_name_defined_here_has_help_text() {
        let source = include_str!("metrics.rs");
        let defined: Vec<&str> = source
            .lines()
            .filter(|l| l.starts_with("pub const ") || l.trim_start().starts_with("\"switchyard_"))
            .filter_map(|l| l.split('"').nth(1))
            .filter(|n| n.starts_with("switchyard_"))
            .collect();
        assert!(defined.len() > 50, "{defined:?}");
        for name in defined {
            let family = FAMILIES.iter().find(|f| f.0 == name);
            assert!(
                family.is_some_and(|f| !f.2.is_empty()),
                "{name} has no HELP text in FAMILIES"
            );
        }
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len(), "a family is listed twice");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
