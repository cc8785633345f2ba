//! Retention and erasure of call records and recordings (issue 13 item 6):
//! the sweep deletes what is past `records_keep` / `recordings_keep` with
//! the records' agent event lines, leaves the rest, and the running switch
//! sweeps at start, logs it and counts it; `DELETE /api/v1/callers/{n}`
//! erases one caller's records and recordings, for admins only.

// A driver of real processes and files: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use support::api::{self, call, ADMIN, SUPERVISOR, VIEWER};
use support::{temp_dir, SwitchProc, EVENT_TIMEOUT};
use switchyard::ops::cdr::{rfc3339_utc, AgentEventRow, CdrRow, CdrStore, StoreRow};
use switchyard::ops::retention::{sweep, RetentionPolicy, Swept};

const DAY: Duration = Duration::from_secs(86_400);

/// A record of call `n` (id `uuid-n`) from `caller`, ended at `ended`.
fn record(n: u64, caller: &str, ended: SystemTime, recording: Option<&Path>) -> CdrRow {
    let at = rfc3339_utc(ended);
    CdrRow {
        call: n,
        sip_call_id: format!("sip-{n}"),
        trunk: Some("demo-carrier".into()),
        dialled: "5550200".into(),
        queue: Some("support".into()),
        agent: Some("1001".into()),
        outcome: "completed".into(),
        rejected_status: None,
        hung_up_by: Some("caller".into()),
        started_at: at.clone(),
        answered_at: Some(at.clone()),
        ended_at: at,
        wait_ms: 0,
        talk_ms: 0,
        offers: 1,
        recording_path: recording.map(|p| p.display().to_string()),
        recording_ms: recording.map(|_| 1000),
        call_uuid: Some(format!("uuid-{n}")),
        caller: Some(caller.into()),
        caller_name: None,
        direction: Some("inbound".into()),
        from_agent: None,
        ivr_path: None,
        queue_entered_at: None,
        queue_left_at: None,
        hold_ms: None,
        transfers: None,
        wrapup_ms: None,
        disposition: None,
        disposition_note: None,
        campaign: None,
        campaign_contact: None,
        campaign_attempt: None,
        campaign_outcome: None,
        legs: Vec::new(),
    }
}

/// An agent event line of call `n` (or of no call) at `at`.
fn event(n: Option<u64>, at: SystemTime, event: &str) -> AgentEventRow {
    let unix_ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    AgentEventRow {
        at: rfc3339_utc(at),
        unix_ms,
        at_ms: n.unwrap_or(0),
        agent: Some("1001".into()),
        event: event.into(),
        queue: Some("support".into()),
        call: n.map(|n| format!("uuid-{n}")),
        reason: None,
        detail: None,
        duration_ms: None,
    }
}

/// A WAV-named file last written `age` ago.
fn recording(dir: &Path, name: &str, age: Duration) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    path
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// 40-day-old and 1-day-old records (two event lines each), one old
/// event line of no call, and recordings of 10 days, 1 day, and an old
/// file that is not a recording.
fn seed(dir: &Path) -> (PathBuf, PathBuf) {
    let db = dir.join("cdr.sqlite");
    let rec = dir.join("rec");
    let now = SystemTime::now();
    let mut store = CdrStore::open(&db).unwrap();
    let mut rows = Vec::new();
    for n in 0..3 {
        rows.push(StoreRow::Call(record(n, "+15550001", now - 40 * DAY, None)));
        rows.push(StoreRow::Agent(event(Some(n), now - 40 * DAY, "answer")));
        rows.push(StoreRow::Agent(event(Some(n), now - 40 * DAY, "hangup")));
    }
    rows.push(StoreRow::Call(record(9, "+15550001", now - DAY, None)));
    rows.push(StoreRow::Agent(event(Some(9), now - DAY, "answer")));
    rows.push(StoreRow::Agent(event(Some(9), now - DAY, "hangup")));
    rows.push(StoreRow::Agent(event(None, now - 41 * DAY, "login")));
    store.insert_store_rows(&rows).unwrap();
    drop(store);
    recording(&rec, "old.wav", 10 * DAY);
    recording(&rec, "2026/old.wav", 10 * DAY);
    recording(&rec, "new.wav", DAY);
    recording(&rec, "notes.txt", 10 * DAY);
    (db, rec)
}

#[test]
fn a_sweep_deletes_old_records_their_event_lines_and_old_recordings_only() {
    let dir = temp_dir("retention-sweep");
    let (db, rec) = seed(&dir);
    let policy = RetentionPolicy {
        cdr_path: db.clone(),
        records_keep: Some(30 * DAY),
        recordings: rec.clone(),
        recordings_keep: Some(7 * DAY),
    };
    let swept = sweep(&policy, SystemTime::now());
    assert_eq!(
        swept,
        Swept {
            records: 3,
            events: 7,
            recordings: 2
        }
    );
    assert_eq!(count(&db, "SELECT count(*) FROM call_records"), 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM call_records WHERE call = 9"),
        1
    );
    assert_eq!(count(&db, "SELECT count(*) FROM agent_events"), 2);
    assert!(!rec.join("old.wav").exists() && !rec.join("2026/old.wav").exists());
    assert!(rec.join("new.wav").exists() && rec.join("notes.txt").exists());
    // Nothing more to do; a second sweep finds nothing.
    assert_eq!(sweep(&policy, SystemTime::now()), Swept::default());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_large_backlog_goes_in_batches_and_unset_limits_keep_everything() {
    let dir = temp_dir("retention-batches");
    let db = dir.join("cdr.sqlite");
    let old = SystemTime::now() - 400 * DAY;
    let mut store = CdrStore::open(&db).unwrap();
    let rows: Vec<StoreRow> = (0..1_234)
        .map(|n| StoreRow::Call(record(n, "+15550002", old, None)))
        .collect();
    store.insert_store_rows(&rows).unwrap();
    // One batch holds at most its bound.
    let first = store
        .delete_ended_before(SystemTime::now() - 365 * DAY, 500)
        .unwrap();
    assert_eq!(first.records, 500);
    drop(store);
    let keep_all = RetentionPolicy {
        cdr_path: db.clone(),
        records_keep: None,
        recordings: dir.join("none"),
        recordings_keep: None,
    };
    assert_eq!(sweep(&keep_all, SystemTime::now()), Swept::default());
    assert_eq!(count(&db, "SELECT count(*) FROM call_records"), 734);
    let year = RetentionPolicy {
        records_keep: Some(365 * DAY),
        ..keep_all
    };
    assert_eq!(sweep(&year, SystemTime::now()).records, 734);
    assert_eq!(count(&db, "SELECT count(*) FROM call_records"), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_switch_sweeps_at_start_logs_and_counts_it() {
    let dir = temp_dir("retention-switch");
    let (db, rec) = seed(&dir);
    let lo = support::free_port_block(4);
    let config = format!(
        r#"
[switch]
sip_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
cdr_path = "{}"
records_keep = "30d"

[media]
rtp_ports = "{lo}-{}"
recordings = "{}"
recordings_keep = "7d"

[[agents]]
id = "1001"
password = "demo-1001"
"#,
        db.display(),
        lo + 3,
        rec.display()
    );
    let switch = SwitchProc::start_logged("retention-switch", &config, "info");
    let metric = |kind: &str| {
        format!("switchyard_data_deleted_total{{reason=\"retention\",kind=\"{kind}\"}}")
    };
    assert_eq!(switch.wait_metric(&metric("records"), |v| v >= 3.0), 3.0);
    assert_eq!(switch.wait_metric(&metric("recordings"), |v| v >= 2.0), 2.0);
    assert_eq!(count(&db, "SELECT count(*) FROM call_records"), 1);
    assert!(rec.join("new.wav").exists() && !rec.join("old.wav").exists());
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while !switch.log().contains("retention sweep done") {
        assert!(
            Instant::now() < deadline,
            "no sweep line:\n{}",
            switch.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = switch.log();
    let line = log
        .lines()
        .find(|l| l.contains("retention sweep done"))
        .unwrap();
    assert!(
        line.contains("INFO") && line.contains("records=3"),
        "{line}"
    );
    assert!(line.contains("recordings=2"), "{line}");
    drop(switch);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The log line containing `what`, awaited (bounded).
fn log_line(switch: &SwitchProc, what: &str) -> String {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Some(line) = switch.log().lines().find(|l| l.contains(what)) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no {what:?} line:\n{}",
            switch.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_admin_erases_one_callers_records_and_recordings_and_nobody_else_may() {
    let dir = temp_dir("erasure");
    let db = dir.join("cdr.sqlite");
    let rec = dir.join("rec");
    let now = SystemTime::now();
    let file = |name: &str| recording(&rec, name, Duration::ZERO);
    let (a1, a2, b1) = (file("a1.wav"), file("a2.wav"), file("b1.wav"));
    let mut outbound = record(4, "1001", now, Some(&file("a3.wav")));
    outbound.direction = Some("outbound".into());
    outbound.dialled = "15550001".into(); // the same number, without +
    let mut store = CdrStore::open(&db).unwrap();
    store
        .insert_store_rows(&[
            StoreRow::Call(record(1, "+15550001", now, Some(&a1))),
            StoreRow::Agent(event(Some(1), now, "answer")),
            StoreRow::Call(record(2, "+15550001", now, Some(&a2))),
            StoreRow::Call(record(3, "+15550001", now, None)),
            StoreRow::Call(outbound),
            StoreRow::Call(record(5, "+15550002", now, Some(&b1))),
            StoreRow::Agent(event(Some(5), now, "answer")),
        ])
        .unwrap();
    drop(store);
    let config = format!(
        "[switch]\nsip_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\ncdr_path = \"{}\"\n\
         [[agents]]\nid = \"1001\"\npassword = \"demo-1001\"\n{}",
        db.display(),
        api::api_section(16)
    );
    let switch = SwitchProc::start_logged("erasure", &config, "info");
    let erase = |number: &str, token: Option<&str>| {
        call(
            switch.http,
            "DELETE",
            &format!("/api/v1/callers/{number}"),
            token,
            None,
        )
    };

    // Roles: only admin; nothing deleted by the refusals.
    assert_eq!(erase("+15550001", None).status, 401);
    for token in [VIEWER, SUPERVISOR] {
        let a = erase("+15550001", Some(token));
        assert_eq!((a.status, &a.body["error"]), (403, &json!("forbidden")));
    }
    for bad in ["12ab", "+", "%2B%2B1", &"9".repeat(33), "1%20"] {
        let a = erase(bad, Some(ADMIN));
        assert_eq!(a.status, 400, "{bad}: {a:?}");
        assert_eq!(a.body["error"], "bad_request", "{bad}");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM call_records"), 5);

    let a = erase("+15550001", Some(ADMIN));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body, json!({"records": 4, "recordings": 3}));
    assert!(!a1.exists() && !a2.exists() && !rec.join("a3.wav").exists());
    // The other caller is untouched.
    assert!(b1.exists());
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM call_records WHERE caller = '+15550002'"
        ),
        1
    );
    assert_eq!(count(&db, "SELECT count(*) FROM call_records"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM agent_events"), 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM agent_events WHERE call = 'uuid-5'"
        ),
        1
    );
    // Asked again: nothing left.
    let again = erase("15550001", Some(ADMIN));
    assert_eq!(again.body, json!({"records": 0, "recordings": 0}));

    // Audited at warn with who and how many, never the number in clear.
    let line = log_line(&switch, "caller erased");
    assert!(
        line.contains("WARN") && line.contains("token=ops"),
        "{line}"
    );
    assert!(
        line.contains("records=4") && line.contains("recordings=3"),
        "{line}"
    );
    assert!(!switch.log().contains("5550001"), "{}", switch.log());
    switch.wait_metric(
        "switchyard_data_deleted_total{reason=\"erasure\",kind=\"records\"}",
        |v| v == 4.0,
    );
    drop(switch);
    std::fs::remove_dir_all(&dir).unwrap();
}
