//! Erlang C (M/M/N queue): the chance a caller waits, the mean wait and the
//! service level for `agents` servers offered `traffic` erlangs. Used to
//! check the router's simulation against theory and for staffing estimates.

use std::time::Duration;

/// Erlang B blocking probability by the stable recursion
/// B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1)).
pub fn erlang_b(traffic: f64, agents: u32) -> f64 {
    let mut b = 1.0;
    for n in 1..=agents {
        b = traffic * b / (f64::from(n) + traffic * b);
    }
    b
}

/// Probability that a caller has to wait; 1 when the agents cannot keep up.
pub fn erlang_c(traffic: f64, agents: u32) -> f64 {
    let n = f64::from(agents);
    if traffic >= n {
        return 1.0;
    }
    let b = erlang_b(traffic, agents);
    n * b / (n - traffic * (1.0 - b))
}

/// Mean wait over all callers (answered ones, infinite patience).
pub fn average_wait(traffic: f64, agents: u32, handle_time: Duration) -> Option<Duration> {
    let n = f64::from(agents);
    if traffic >= n {
        return None;
    }
    let secs = erlang_c(traffic, agents) * handle_time.as_secs_f64() / (n - traffic);
    Some(Duration::from_secs_f64(secs))
}

/// Share of callers answered within `threshold`.
pub fn service_level(traffic: f64, agents: u32, handle_time: Duration, threshold: Duration) -> f64 {
    let n = f64::from(agents);
    if traffic >= n {
        return 0.0;
    }
    let decay = -(n - traffic) * threshold.as_secs_f64() / handle_time.as_secs_f64();
    1.0 - erlang_c(traffic, agents) * decay.exp()
}

/// Fewest agents that reach `target` service level (0..=1) for `traffic`
/// erlangs, searching up to `agents_max`.
pub fn agents_for_service_level(
    traffic: f64,
    handle_time: Duration,
    threshold: Duration,
    target: f64,
    agents_max: u32,
) -> Option<u32> {
    let start = traffic.floor() as u32 + 1;
    (start..=agents_max).find(|&n| service_level(traffic, n, handle_time, threshold) >= target)
}

/// Most agents [`agents_needed`] will answer; beyond it the estimate is
/// `None` (a centre that big reads its figures from a planning tool).
pub const AGENTS_NEEDED_MAX: u32 = 10_000;

/// Agents a queue needs to answer `target` (0..=1) of its callers within
/// `threshold`, for callers arriving at `arrivals_per_second` with average
/// handle time `handle_time` (Erlang C). No arrivals need no agents; a
/// zero handle time or a target that cannot be met gives `None`.
pub fn agents_needed(
    arrivals_per_second: f64,
    handle_time: Duration,
    threshold: Duration,
    target: f64,
) -> Option<u32> {
    if !(arrivals_per_second.is_finite() && arrivals_per_second >= 0.0) {
        return None;
    }
    if arrivals_per_second == 0.0 {
        return Some(0);
    }
    if handle_time.is_zero() || !(0.0..=1.0).contains(&target) {
        return None;
    }
    let traffic = arrivals_per_second * handle_time.as_secs_f64();
    if traffic >= f64::from(AGENTS_NEEDED_MAX) {
        return None;
    }
    agents_for_service_level(traffic, handle_time, threshold, target, AGENTS_NEEDED_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_the_textbook_example() {
        // 10 erlangs on 12 agents: P(wait) ≈ 0.4494 (standard tables).
        let c = erlang_c(10.0, 12);
        assert!((c - 0.4494).abs() < 1e-3, "{c}");
    }

    #[test]
    fn overloaded_queue_always_waits() {
        assert_eq!(erlang_c(12.0, 10), 1.0);
        assert_eq!(average_wait(12.0, 10, Duration::from_secs(180)), None);
    }

    #[test]
    fn staffing_estimate_reaches_eighty_in_twenty() {
        // 100 calls per 30 min at 180 s AHT = 10 erlangs; 80/20 needs 14 agents.
        let aht = Duration::from_secs(180);
        let n = agents_for_service_level(10.0, aht, Duration::from_secs(20), 0.8, 100);
        assert_eq!(n, Some(14));
        assert!(service_level(10.0, 13, aht, Duration::from_secs(20)) < 0.8);
    }

    #[test]
    fn agents_needed_follows_the_arrival_rate_and_handle_time() {
        let aht = Duration::from_secs(180);
        let sl = Duration::from_secs(20);
        // 100 calls in 30 min at 180 s: the textbook 14 agents.
        assert_eq!(agents_needed(100.0 / 1800.0, aht, sl, 0.8), Some(14));
        // Twice the calls (20 erlangs) need more agents than erlangs, but
        // fewer than twice as many: 24.
        assert_eq!(agents_needed(200.0 / 1800.0, aht, sl, 0.8), Some(24));
        assert_eq!(agents_needed(0.0, aht, sl, 0.8), Some(0));
        // One call an hour of 60 s: one agent answers 80 % in 20 s.
        assert_eq!(
            agents_needed(1.0 / 3600.0, Duration::from_secs(60), sl, 0.8),
            Some(1)
        );
        assert_eq!(agents_needed(0.1, Duration::ZERO, sl, 0.8), None);
        assert_eq!(agents_needed(f64::NAN, aht, sl, 0.8), None);
        assert_eq!(agents_needed(1e9, aht, sl, 0.8), None);
    }
}
