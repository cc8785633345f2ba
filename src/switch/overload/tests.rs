//! The admission state in virtual time: one base instant plus durations.

use super::*;

fn config() -> OverloadConfig {
    OverloadConfig {
        backlog_high: 100,
        backlog_low: 10,
        lag_high: Duration::from_millis(200),
        lag_low: Duration::from_millis(20),
        transactions_high: 1000,
        transactions_low: 500,
        calm: Duration::from_secs(2),
        retry_after: Duration::from_secs(5),
    }
}

fn load(backlog: usize, lag_ms: u64) -> LoadReport {
    LoadReport {
        backlog,
        lag: Duration::from_millis(lag_ms),
    }
}

const TICK: Duration = Duration::from_millis(100);

// The one clock read of these tests.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

/// Offers `n` calls spread over one tick from `at`; returns how many came in.
fn offer(a: &mut Admission, at: Instant, n: u32) -> u32 {
    let gap = TICK / n.max(1);
    (0..n).filter(|i| a.admit(at + gap * *i).is_ok()).count() as u32
}

#[test]
fn a_quiet_core_admits_every_call_and_a_mid_signal_starts_nothing() {
    let mut a = Admission::new(config());
    let t0 = t0();
    for i in 0..20 {
        let now = t0 + TICK * i;
        // Between the low and high marks: hysteresis, no shedding yet.
        assert_eq!(a.observe(now, load(50, 100), 700), None);
        assert_eq!(offer(&mut a, now, 10), 10);
    }
    assert!(!a.shedding());
}

#[test]
fn a_standing_backlog_refuses_every_new_call_until_it_falls_below_its_high_mark() {
    let mut a = Admission::new(config());
    let t0 = t0();
    a.observe(t0, load(0, 0), 0);
    offer(&mut a, t0, 50);
    let t1 = t0 + TICK;
    assert_eq!(
        a.observe(t1, load(100, 0), 0),
        Some(Change::Started {
            reason: ShedReason::Backlog
        })
    );
    assert_eq!(a.admit(t1), Err(ShedReason::Backlog));
    // Still over the high mark: still refusing, whatever the reason now.
    let t2 = t1 + TICK;
    assert_eq!(a.observe(t2, load(20, 300), 0), None);
    assert_eq!(a.admit(t2), Err(ShedReason::Lag));
    // Under the high marks: calls come in again, but at a capped rate
    // under the 500/s admitted before (one bucket of 0.1 s at the cap).
    let t3 = t2 + TICK;
    assert_eq!(a.observe(t3, load(50, 0), 0), None);
    assert!(a.shedding());
    let t4 = t3 + TICK;
    let let_in = offer(&mut a, t4, 200);
    assert!(let_in > 0 && let_in < 50, "{let_in} let in of 200");
}

#[test]
fn shedding_stops_after_calm_with_nothing_refused_and_not_before() {
    let mut a = Admission::new(config());
    let t0 = t0();
    a.observe(t0, load(0, 0), 0);
    a.observe(t0 + TICK, load(0, 0), 2000);
    assert_eq!(a.admit(t0 + TICK), Err(ShedReason::Transactions));
    let calm_from = t0 + TICK * 2;
    let mut now = calm_from;
    // Calm for 2 s (the last refusal was at t0 + 0.1 s), so it ends once
    // both hold: at calm_from + 2 s exactly.
    while now < calm_from + Duration::from_secs(2) {
        assert_eq!(a.observe(now, load(0, 0), 100), None, "at {:?}", now - t0);
        now += TICK;
    }
    assert_eq!(
        a.observe(now, load(0, 0), 100),
        Some(Change::Stopped {
            refused: 1,
            lasted: now - (t0 + TICK)
        })
    );
    assert!(!a.shedding());
    assert_eq!(a.admit(now), Ok(()));
}

#[test]
fn a_refusal_while_recovering_keeps_shedding_on_past_calm() {
    let mut a = Admission::new(config());
    let t0 = t0();
    a.observe(t0, load(0, 0), 0);
    a.observe(t0 + TICK, load(0, 500), 0);
    let mut now = t0 + TICK * 2;
    a.observe(now, load(0, 0), 0);
    // Callers keep coming faster than the cap (1/s at least, nothing was
    // admitted before): some are refused, so calm alone does not end it.
    for _ in 0..25 {
        now += TICK;
        assert_eq!(a.observe(now, load(0, 0), 0), None);
        offer(&mut a, now, 20);
    }
    assert!(a.shedding());
    // Once the callers stop, `calm` later it is over.
    let quiet_from = now + TICK;
    let mut change = None;
    while change.is_none() && now < quiet_from + Duration::from_secs(3) {
        now += TICK;
        change = a.observe(now, load(0, 0), 0);
    }
    assert!(matches!(change, Some(Change::Stopped { .. })), "{change:?}");
    assert!(now >= quiet_from + Duration::from_secs(1));
}

#[test]
fn the_cap_rises_while_calm_and_is_cut_by_a_new_overload() {
    let mut a = Admission::new(config());
    let t0 = t0();
    a.observe(t0, load(0, 0), 0);
    offer(&mut a, t0, 100);
    a.observe(t0 + TICK, load(0, 0), 0);
    offer(&mut a, t0 + TICK, 100);
    a.observe(t0 + TICK * 2, load(200, 0), 0);
    a.observe(t0 + TICK * 3, load(0, 0), 0);
    let entry = a.cap;
    assert!(entry > 500.0 && entry < 1000.0, "cap {entry}");
    // Between the marks it rises too: only a high mark stops it.
    a.observe(t0 + TICK * 4, load(50, 0), 0);
    let risen = a.cap;
    assert!(risen > entry, "{risen} after {entry}");
    a.observe(t0 + TICK * 5, load(0, 250), 0);
    assert!((a.cap - risen * CAP_CUT).abs() < 1e-9);
    assert_eq!(a.admit(t0 + TICK * 5), Err(ShedReason::Lag));
}

#[test]
fn new_marks_are_judged_at_once_on_the_last_figures() {
    let mut a = Admission::new(config());
    let t0 = t0();
    a.observe(t0, load(0, 0), 3);
    assert_eq!(a.admit(t0), Ok(()));
    let low = OverloadConfig {
        transactions_high: 1,
        transactions_low: 0,
        ..config()
    };
    assert_eq!(
        a.set_config(t0, low),
        Some(Change::Started {
            reason: ShedReason::Transactions
        })
    );
    assert_eq!(a.admit(t0), Err(ShedReason::Transactions));
}

#[test]
fn start_lines_are_rate_limited_and_each_logged_start_gets_its_stop() {
    let mut a = Admission::new(config());
    let t0 = t0();
    let start = Change::Started {
        reason: ShedReason::Lag,
    };
    let stop = Change::Stopped {
        refused: 1,
        lasted: Duration::from_secs(2),
    };
    assert_eq!(a.may_log(t0, start), Some(0));
    assert_eq!(a.may_log(t0 + TICK, stop), Some(0));
    assert_eq!(a.may_log(t0 + TICK * 2, start), None);
    assert_eq!(a.may_log(t0 + TICK * 3, stop), None);
    let later = t0 + LOG_EVERY;
    assert_eq!(a.may_log(later, start), Some(1));
}
