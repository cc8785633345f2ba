//! Counters the core keeps, and the labels ops exports them by.

use super::{DIAL_REFUSED_LABELS, LIMITED_LABELS, OVERLOAD_REASONS};

/// Counters the core keeps; ops exports them.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub requests: [u64; METHOD_LABELS.len()],
    pub responses_received: u64,
    pub malformed_answered: u64,
    pub malformed_dropped: u64,
    pub stray_responses: u64,
    pub calls_started: u64,
    pub calls_ended: [u64; OUTCOME_LABELS.len()],
    /// New calls refused 503 for load, by [`OVERLOAD_REASONS`].
    pub refused_overload: [u64; OVERLOAD_REASONS.len()],
    pub registrations_ok: u64,
    pub auth_challenges: u64,
    pub auth_failures: u64,
    /// Inputs the router refused (stale or out of step): each is a bug to look at.
    pub router_refused: u64,
    /// Feature codes carried out, and refused (unknown code, router said no).
    pub features_done: u64,
    pub features_refused: u64,
    /// Forks we could not remember to CANCEL later (zombie table full).
    pub zombies_dropped: u64,
    /// New calls refused 503 because no RTP port pair was free.
    pub media_ports_exhausted: u64,
    /// New calls refused 488/413 for their SDP offer.
    pub media_offers_refused: u64,
    /// Answered calls ended because their media stopped.
    pub media_timeouts: u64,
    /// Calls ended because the relay could not carry out a command.
    pub media_failures: u64,
    /// RFC 4733 digits received.
    pub dtmf_digits: u64,
    /// Calls whose recording started, and recordings the relay could not write.
    pub recordings_started: u64,
    pub recordings_failed: u64,
    /// Supervisor sessions started, by mode ([`SUPERVISION_LABELS`] order).
    pub supervisions: [u64; SUPERVISION_LABELS.len()],
    /// Supervision requests refused (not a supervisor, agent not on a call...).
    pub supervisions_refused: u64,
    /// IVR callers who left a menu by a digit, by its default, or refused (no default, no menu).
    pub menu_chosen: u64,
    pub menu_defaulted: u64,
    pub menu_refused: u64,
    /// Offerless INVITEs whose ACK brought no usable answer to our offer:
    /// the call was hung up.
    pub media_late_answers_refused: u64,
    /// Requests not served for the source's sake, by [`LIMITED_LABELS`].
    pub requests_limited: [u64; LIMITED_LABELS.len()],
    /// Calls out refused by dial rules, by [`DIAL_REFUSED_LABELS`].
    pub dial_refused: [u64; DIAL_REFUSED_LABELS.len()],
}

/// Mode labels for `switchyard_supervisions_total{mode}`.
pub const SUPERVISION_LABELS: [&str; 3] = ["monitor", "whisper", "barge"];

/// Method labels for `switchyard_sip_requests_total{method}`; "other" last.
pub const METHOD_LABELS: [&str; 9] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "other",
];
/// Outcome labels for `switchyard_calls_total{outcome}`.
pub const OUTCOME_LABELS: [&str; 12] = [
    "completed",
    "abandoned",
    "busy",
    "no_answer",
    "unavailable",
    "rejected",
    "shutdown",
    "media_timeout",
    "session_expired",
    "operator",
    "agent_no_answer",
    "agent_rejected",
];
