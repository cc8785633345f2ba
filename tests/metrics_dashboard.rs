//! `/metrics` for dashboards (issue: reporting, item 5): every family has
//! `# HELP`; a queue call answered by a SIPp agent moves the offered,
//! answered and within-service-level counters, the wait and handle
//! histograms and the agents-needed estimate; a caller who waits and gives
//! up shows in the longest-wait gauge and the abandoned waits; each agent
//! has one state series unless `[metrics].agent_state` is off; and every
//! metric the Grafana dashboard queries is in a real scrape.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::scenarios::*;
use support::{free_udp_port, metric_value, sipp_register, test_config, Sipp, SwitchProc};

const DASHBOARD: &str = include_str!("../ops/grafana/switchyard.json");

fn config(metrics: &str) -> String {
    test_config("10s", free_udp_port()) + metrics
}

fn agent(switch: &SwitchProc, user: &str) -> Sipp {
    let port = free_udp_port();
    let phone = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(
        &switch.dir,
        switch,
        user,
        &format!("demo-{user}"),
        port,
        200,
    );
    phone
}

fn carrier(switch: &SwitchProc, did: &str, after: &str) -> Sipp {
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", after)],
        &["-m", "1", "-s", did],
        Some(switch.sip),
    )
}

/// Families named by `# TYPE` and by `# HELP` lines.
fn families(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let names = |prefix: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect()
    };
    (names("# TYPE "), names("# HELP "))
}

/// Every `switchyard_*` name in the dashboard's queries.
fn dashboard_metrics() -> BTreeSet<String> {
    let json: serde_json::Value = serde_json::from_str(DASHBOARD).expect("dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&json, &mut exprs);
    assert!(exprs.len() >= 8, "the dashboard has its queries: {exprs:?}");
    exprs
        .iter()
        .flat_map(|e| {
            e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("switchyard_"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    ("expr" | "query", Some(e)) => out.push(e.to_string()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn an_answered_queue_call_fills_the_dashboard_series_and_every_family_has_help() {
    let switch = SwitchProc::start(
        "metrics-answered",
        &config("[metrics]\ninterval = \"60s\"\n"),
    );
    let phone = agent(&switch, "1001");
    switch.wait_metric(
        "switchyard_agent_state{agent=\"1001\",state=\"available\"}",
        |v| v == 1.0,
    );
    carrier(&switch, "5550200", CARRIER_ANSWERED_HANGS_UP).expect_success();
    phone.expect_success();
    let q = |name: &str| format!("{name}{{queue=\"support\"}}");
    switch.wait_metric(
        "switchyard_queue_handle_seconds_count{queue=\"support\"}",
        |v| v == 1.0,
    );
    let text = switch.metrics();
    let value = |m: &str| metric_value(&text, m).unwrap_or_else(|| panic!("no {m} in\n{text}"));
    assert_eq!(value(&q("switchyard_queue_offered_total")), 1.0);
    assert_eq!(value(&q("switchyard_queue_answered_total")), 1.0);
    assert_eq!(value(&q("switchyard_queue_answered_within_sl_total")), 1.0);
    assert_eq!(value(&q("switchyard_queue_abandoned_total")), 0.0);
    assert_eq!(
        value("switchyard_queue_wait_seconds_count{queue=\"support\",outcome=\"answered\"}"),
        1.0
    );
    // The answered wait is under a second: in the first bucket.
    assert_eq!(
        value(
            "switchyard_queue_wait_seconds_bucket{queue=\"support\",outcome=\"answered\",le=\"1\"}"
        ),
        1.0
    );
    // Talk (about 300 ms) plus the default 5 s wrap-up.
    let handle = value("switchyard_queue_handle_seconds_sum{queue=\"support\"}");
    assert!((5.0..10.0).contains(&handle), "handle time {handle}");
    assert_eq!(value(&q("switchyard_queue_longest_wait_seconds")), 0.0);
    assert_eq!(
        value(&q("switchyard_queue_service_level_target_ratio")),
        0.8
    );
    // One call in 60 s at ~5.3 s: one agent reaches 80 % in 20 s.
    assert_eq!(value(&q("switchyard_queue_agents_needed")), 1.0);
    let states: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("switchyard_agent_state{agent=\"1001\""))
        .collect();
    assert_eq!(states.len(), 1, "one series per agent: {states:?}");
    assert!(
        text.contains("switchyard_agent_state{agent=\"1002\",state=\"logged_out\"} 1"),
        "{text}"
    );

    let (typed, helped) = families(&text);
    let missing: Vec<&String> = typed.difference(&helped).collect();
    assert!(missing.is_empty(), "families without HELP: {missing:?}");
    assert!(typed.contains("switchyard_queue_wait_seconds"), "{typed:?}");

    // Every metric the dashboard asks for is in this scrape.
    let absent: Vec<String> = dashboard_metrics()
        .into_iter()
        .filter(|m| {
            let (labelled, bare) = (format!("{m}{{"), format!("{m} "));
            !text
                .lines()
                .any(|l| l.starts_with(&labelled) || l.starts_with(&bare))
        })
        .collect();
    assert!(
        absent.is_empty(),
        "the dashboard queries {absent:?}, absent from\n{text}"
    );
}

#[test]
fn a_caller_who_waits_then_gives_up_shows_as_longest_wait_then_abandoned() {
    let config = config("[metrics]\nagent_state = false\n");
    let switch = SwitchProc::start("metrics-abandoned", &config);
    // Nobody is registered: the caller waits 1.5 s after ringing, then cancels.
    let waits = CARRIER_CANCELS.replacen(
        "<recv response=\"180\"/>",
        "<recv response=\"180\"/>\n  <pause milliseconds=\"1500\"/>",
        1,
    );
    let started = Instant::now();
    let caller = carrier(&switch, "5550200", &waits);
    let longest = switch.wait_metric(
        "switchyard_queue_longest_wait_seconds{queue=\"support\"}",
        |v| v >= 0.5,
    );
    assert!(
        Duration::from_secs_f64(longest) <= started.elapsed(),
        "longest wait {longest}s is more than the call's age"
    );
    caller.expect_success();
    switch.wait_metric(
        "switchyard_queue_wait_seconds_count{queue=\"support\",outcome=\"abandoned\"}",
        |v| v == 1.0,
    );
    let text = switch.metrics();
    let waited = metric_value(
        &text,
        "switchyard_queue_wait_seconds_sum{queue=\"support\",outcome=\"abandoned\"}",
    )
    .expect("abandoned wait sum");
    assert!((1.4..5.0).contains(&waited), "waited {waited}s");
    assert_eq!(
        metric_value(&text, "switchyard_queue_abandoned_total{queue=\"support\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "switchyard_queue_longest_wait_seconds{queue=\"support\"}"
        ),
        Some(0.0)
    );
    // No agent was offered the call: no handle time, no estimate.
    assert!(!text.contains("switchyard_queue_agents_needed{"), "{text}");
    assert!(
        !text.contains("switchyard_agent_state"),
        "turned off:\n{text}"
    );
    assert!(
        text.contains("switchyard_agents{state=\"logged_out\"} 3"),
        "{text}"
    );
}

#[test]
fn every_metric_the_dashboard_queries_is_defined() {
    let defined: BTreeSet<&str> = switchyard::ops::metrics::FAMILIES
        .iter()
        .flat_map(|(name, kind, _)| {
            let mut names = vec![*name];
            if *kind == switchyard::ops::metrics::Kind::Histogram {
                // Leaked once per test run: the suffixed series names.
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.push(Box::leak(format!("{name}{suffix}").into_boxed_str()));
                }
            }
            names
        })
        .collect();
    let unknown: Vec<String> = dashboard_metrics()
        .into_iter()
        .filter(|m| !defined.contains(m.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "not defined in src/ops/metrics.rs: {unknown:?}"
    );
}
