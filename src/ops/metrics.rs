//! Every metric the switch exports, by name (Prometheus naming: `switchyard_`
//! prefix, base units, `_total` for counters), and the code that copies the
//! cores' counters into the recorder.

#![allow(clippy::disallowed_methods)]

use metrics::{counter, gauge};

use crate::media::relay::{DropReason, RelaySnapshot};
use crate::switch::{
    Switch, AGENT_STATE_LABELS, DIAL_REFUSED_LABELS, LIMITED_LABELS, METHOD_LABELS, OUTCOME_LABELS,
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
/// SIP messages over TCP larger than the limit: answered 413, closed.
pub const TCP_OVERSIZED_TOTAL: &str = "switchyard_tcp_oversized_total";
pub const TCP_CONNECTIONS_ACTIVE: &str = "switchyard_tcp_connections_active";
pub const TCP_CONNECTIONS_REFUSED_TOTAL: &str = "switchyard_tcp_connections_refused_total";
pub const TCP_FRAMING_ERRORS_TOTAL: &str = "switchyard_tcp_framing_errors_total";
pub const TCP_WRITES_DROPPED_TOTAL: &str = "switchyard_tcp_writes_dropped_total";
pub const UDP_SEND_ERRORS_TOTAL: &str = "switchyard_udp_send_errors_total";
pub const CDR_WRITTEN_TOTAL: &str = "switchyard_cdr_written_total";
pub const CDR_SPILLED_TOTAL: &str = "switchyard_cdr_spilled_total";
pub const CDR_DROPPED_TOTAL: &str = "switchyard_cdr_dropped_total";
pub const QUEUE_CALLS_WAITING: &str = "switchyard_queue_calls_waiting";
pub const QUEUE_AGENTS_AVAILABLE: &str = "switchyard_queue_agents_available";
/// Absent until a call of the queue was answered or abandoned.
pub const QUEUE_SERVICE_LEVEL_RATIO: &str = "switchyard_queue_service_level_ratio";
/// Absent while the router has no estimate (no agent staffed, no handled call).
pub const QUEUE_EXPECTED_WAIT_SECONDS: &str = "switchyard_queue_expected_wait_seconds";
/// A summary without quantiles: answered callers' waits in the queue.
pub const QUEUE_WAIT_SECONDS_SUM: &str = "switchyard_queue_wait_seconds_sum";
pub const QUEUE_WAIT_SECONDS_COUNT: &str = "switchyard_queue_wait_seconds_count";
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

pub const QUEUE_OUTCOME_LABELS: [&str; 3] = ["answered", "abandoned", "overflowed"];

/// Copies the switch core's counters and gauges into the recorder.
pub fn publish(switch: &Switch) {
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
    counter!(CALLS_REFUSED_OVERLOAD_TOTAL).absolute(stats.refused_overload);
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
    publish_queues(switch);
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
fn publish_queues(switch: &Switch) {
    for q in switch.queue_figures() {
        let name = q.name.to_string();
        gauge!(QUEUE_CALLS_WAITING, "queue" => name.clone()).set(q.waiting as f64);
        gauge!(QUEUE_AGENTS_AVAILABLE, "queue" => name.clone()).set(q.agents_available as f64);
        if let Some(sl) = q.service_level {
            gauge!(QUEUE_SERVICE_LEVEL_RATIO, "queue" => name.clone()).set(sl);
        }
        if let Some(wait) = q.expected_wait {
            gauge!(QUEUE_EXPECTED_WAIT_SECONDS, "queue" => name.clone()).set(wait.as_secs_f64());
        }
        gauge!(QUEUE_WAIT_SECONDS_SUM, "queue" => name.clone()).set(q.wait_sum.as_secs_f64());
        counter!(QUEUE_WAIT_SECONDS_COUNT, "queue" => name.clone()).absolute(q.wait_count);
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
