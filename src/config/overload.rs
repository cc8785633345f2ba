//! The `[overload]` section: when the switch stops taking new calls
//! because its core cannot keep up, and when it starts again. Each signal
//! has a high mark (shedding starts) and a low mark (shedding may stop);
//! the gap between them is the hysteresis that keeps it from flapping.

use std::time::Duration;

/// How long a graceful stop waits for calls to hang up (`[switch]`).
pub const DRAIN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// RFC 4028 §5: the least Min-SE, and ours unless configured.
pub const MIN_SE_DEFAULT: Duration = Duration::from_secs(90);
/// How often calls the switch cannot otherwise see are probed.
pub const PROBE_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// Largest backlog mark: far past any socket buffer.
pub const BACKLOG_MARK_MAX: i64 = 1_000_000;
/// Longest `retry_after` and `calm`.
pub const OVERLOAD_PERIOD_MAX: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverloadConfig {
    /// Datagrams and frames waiting for the core at once: a queue this
    /// deep starts shedding.
    pub backlog_high: u32,
    pub backlog_low: u32,
    /// How late the core's timers run.
    pub lag_high: Duration,
    pub lag_low: Duration,
    /// Live SIP transactions.
    pub transactions_high: u32,
    pub transactions_low: u32,
    /// Every signal below its low mark, and no call refused, this long
    /// before shedding stops.
    pub calm: Duration,
    /// What refused callers are told (`Retry-After`, whole seconds).
    pub retry_after: Duration,
}

impl Default for OverloadConfig {
    fn default() -> Self {
        let transactions = crate::sip::limits::TRANSACTIONS_MAX as u32;
        OverloadConfig {
            backlog_high: 5000,
            backlog_low: 500,
            lag_high: Duration::from_millis(500),
            lag_low: Duration::from_millis(50),
            transactions_high: transactions / 10 * 8,
            transactions_low: transactions / 10 * 6,
            calm: Duration::from_secs(2),
            retry_after: Duration::from_secs(5),
        }
    }
}
