//! The `[metrics]` section: what `/metrics` exports beyond the fixed set,
//! and the interval that windowed queue figures look back over.

use std::time::Duration;

/// By default the staffing estimate looks at the last 15 minutes.
pub const METRICS_INTERVAL_DEFAULT: Duration = Duration::from_secs(15 * 60);
/// Shortest interval: the window moves in fifteenths of it.
pub const METRICS_INTERVAL_MIN: Duration = Duration::from_secs(15);
pub const METRICS_INTERVAL_MAX: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `switchyard_agent_state{agent,state}`: one series per agent. A very
    /// large centre turns it off and reads `switchyard_agents{state}`.
    pub agent_state: bool,
    /// How far back the windowed figures (arrival rate, handle time,
    /// service level, agents needed) look.
    pub interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            agent_state: true,
            interval: METRICS_INTERVAL_DEFAULT,
        }
    }
}
