//! One call id everywhere (issue 9): each call gets a UUID v7 when it
//! arrives; its call record carries it, every info line of the call is
//! logged inside a span naming it, and each leg's SIP Call-ID is logged
//! once at info, so a log line, a record and a carrier's trace join up.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::scenarios::{AGENT_ANSWERS, CARRIER_ANSWERED_HANGS_UP};
use support::{free_udp_port, sipp_register, test_config, Sipp, SwitchProc, EVENT_TIMEOUT};
use switchyard::call::CallUuid;
use switchyard::ops::cdr::{CdrRow, CdrStore};

const CALLS: usize = 2;

fn wait_records(switch: &SwitchProc, n: usize) -> Vec<CdrRow> {
    let db = switch.dir.join("cdr.sqlite");
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Ok(rows) = CdrStore::open_read_only(&db).and_then(|s| s.recent(n)) {
            if rows.len() == n {
                return rows.into_iter().map(|r| r.row).collect();
            }
        }
        assert!(Instant::now() < deadline, "no {n} call records in {db:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn each_call_has_one_time_ordered_id_in_its_record_and_log_lines() {
    let before = unix_ms(SystemTime::now());
    let switch = SwitchProc::start_logged("call-id", &test_config("10s", free_udp_port()), "info");
    let port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", port, 200);
    let calls = CALLS.to_string();
    let phone = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", &calls, "-p", &port.to_string()],
        None,
    );
    let carrier = Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CARRIER_ANSWERED_HANGS_UP)],
        // One call at a time: the agent takes one.
        &["-m", &calls, "-l", "1", "-s", "5550100"],
        Some(switch.sip),
    );
    carrier.expect_success();
    let agent_trace = phone.messages();
    phone.expect_success();
    let mut rows = wait_records(&switch, CALLS);
    let after = unix_ms(SystemTime::now());
    rows.sort_by(|a, b| a.started_at.cmp(&b.started_at));

    let log = switch.log();
    let ids: Vec<CallUuid> = rows
        .iter()
        .map(|r| {
            let text = r.call_uuid.as_deref().expect("the record has the call id");
            text.parse().expect("a UUID")
        })
        .collect();
    assert!(ids[0] < ids[1], "ids in arrival order: {ids:?}");
    for (row, id) in rows.iter().zip(&ids) {
        let text = id.to_string();
        assert_eq!(&text[14..15], "7", "UUID version 7: {text}");
        assert!(
            (before..=after).contains(&id.unix_ms()),
            "{text} stamped now"
        );
        for what in ["call arrived", "callee leg", "call ended", "call record"] {
            assert!(
                log.lines().any(|l| l.contains(&text) && l.contains(what)),
                "no {what:?} line with {text}:\n{log}"
            );
        }
        // The carrier's Call-ID: once, on the arrival line.
        let sip_lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&row.sip_call_id))
            .collect();
        assert_eq!(sip_lines.len(), 1, "{sip_lines:?}");
        assert!(sip_lines[0].contains("call arrived") && sip_lines[0].contains(&text));
    }
    // The agent leg's Call-IDs: once each, on the callee-leg line.
    let agent_call_ids: BTreeSet<&str> = agent_trace
        .lines()
        .filter_map(|l| l.strip_prefix("Call-ID:"))
        .map(str::trim)
        .collect();
    assert_eq!(agent_call_ids.len(), CALLS);
    for call_id in agent_call_ids {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(call_id)).collect();
        assert_eq!(lines.len(), 1, "{call_id}: {lines:?}");
        assert!(lines[0].contains("callee leg"));
    }
}
