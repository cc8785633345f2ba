//! The CDR store on real files: round trip, batches, reopen and schema
//! version, the writer thread, the spill file, a writer that never closes,
//! readers during writes (WAL).

// A driver's test: it spawns a reader thread and bounds its polling by the clock.
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use switchyard::call::{CallRef, Outcome, Side};
use switchyard::ops::cdr::{
    rejected_path, spill_path, CdrError, CdrRow, CdrStore, CdrWriter, SpillImport, WriterConfig,
    SCHEMA_VERSION,
};
use switchyard::switch::{CallRecord, Event, EventKind};

/// Bound of every polling loop: far above what a commit takes.
const POLL_DEADLINE: Duration = Duration::from_secs(20);

/// A fresh directory per test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchyard-cdr-{test}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("cdr.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// 2024-03-01T00:00:00Z plus `secs`.
fn wall(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_709_251_200 + secs)
}

fn record(n: u64, outcome: Outcome) -> CallRecord {
    CallRecord {
        call: CallRef(n),
        uuid: format!("0190a1b2-c3d4-7e5f-8a9b-{n:012x}").parse().unwrap(),
        sip_call_id: format!("{n:08x}@carrier.example"),
        trunk: Some("carrier-1".to_owned()),
        dialled: "+442071234567".to_owned(),
        queue: Some("loans".to_owned()),
        agent: Some("alice".to_owned()),
        outcome,
        wait: Duration::from_millis(12_500),
        talk: Duration::from_secs(60),
        offers: 2,
        recording: None,
        from_agent: None,
        detail: switchyard::switch::RecordDetail::default(),
    }
}

fn completed(n: u64) -> CallRecord {
    record(
        n,
        Outcome::Completed {
            hung_up_by: Side::A,
        },
    )
}

/// Polls `done` until it holds or the deadline passes; true if it held.
fn poll_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + POLL_DEADLINE;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::yield_now();
    }
    done()
}

#[test]
fn record_round_trips_with_every_field() {
    let tmp = TempDir::new("round-trip");
    let mut store = CdrStore::open(&tmp.db()).unwrap();
    let answered = completed(1);
    let mut rejected = record(2, Outcome::Rejected(603));
    rejected.trunk = None;
    rejected.agent = None;
    rejected.talk = Duration::ZERO;
    store.insert(&answered, wall(100)).unwrap();
    store.insert(&rejected, wall(200)).unwrap();

    let got = store.recent(10).unwrap();
    assert_eq!(got.len(), 2);
    // Newest end first.
    assert_eq!(got[0].row, CdrRow::new(&rejected, wall(200)));
    assert_eq!(got[1].row, CdrRow::new(&answered, wall(100)));
    assert!(got[0].id > got[1].id);

    let r = &got[1].row;
    assert_eq!(r.call, 1);
    assert_eq!(r.sip_call_id, "00000001@carrier.example");
    assert_eq!(r.trunk.as_deref(), Some("carrier-1"));
    assert_eq!(r.dialled, "+442071234567");
    assert_eq!(r.queue.as_deref(), Some("loans"));
    assert_eq!(r.agent.as_deref(), Some("alice"));
    assert_eq!(r.outcome, "completed");
    assert_eq!(r.rejected_status, None);
    assert_eq!(r.hung_up_by.as_deref(), Some("caller"));
    assert_eq!(r.started_at, "2024-03-01T00:00:27.500Z");
    assert_eq!(r.answered_at.as_deref(), Some("2024-03-01T00:00:40.000Z"));
    assert_eq!(r.ended_at, "2024-03-01T00:01:40.000Z");
    assert_eq!((r.wait_ms, r.talk_ms, r.offers), (12_500, 60_000, 2));

    let r = &got[0].row;
    assert_eq!(r.outcome, "rejected");
    assert_eq!(r.rejected_status, Some(603));
    assert_eq!((r.trunk.as_deref(), r.agent.as_deref()), (None, None));
    assert_eq!(
        (r.answered_at.as_deref(), r.hung_up_by.as_deref()),
        (None, None)
    );
}

#[test]
fn batch_insert_stores_every_record_and_recent_honours_the_limit() {
    let tmp = TempDir::new("batch");
    let mut store = CdrStore::open(&tmp.db()).unwrap();
    let batch: Vec<_> = (0..500).map(|n| (completed(n), wall(n))).collect();
    store.insert_batch(&batch).unwrap();
    assert_eq!(store.count().unwrap(), 500);
    let newest = store.recent(3).unwrap();
    let calls: Vec<u64> = newest.iter().map(|s| s.row.call).collect();
    assert_eq!(calls, [499, 498, 497]);
}

#[test]
fn the_same_call_stored_twice_is_kept_once() {
    let tmp = TempDir::new("once");
    let mut store = CdrStore::open(&tmp.db()).unwrap();
    store.insert(&completed(1), wall(1)).unwrap();
    store.insert(&completed(1), wall(1)).unwrap();
    assert_eq!(store.count().unwrap(), 1);
}

#[test]
fn reopen_keeps_records_and_the_schema_version() {
    let tmp = TempDir::new("reopen");
    {
        let mut store = CdrStore::open(&tmp.db()).unwrap();
        store.insert(&completed(1), wall(1)).unwrap();
    }
    let store = CdrStore::open(&tmp.db()).unwrap();
    assert_eq!(store.count().unwrap(), 1);
    let conn = Connection::open(tmp.db()).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_version_is_refused_with_a_clear_error() {
    let tmp = TempDir::new("newer");
    drop(CdrStore::open(&tmp.db()).unwrap());
    let conn = Connection::open(tmp.db()).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);

    let err = CdrStore::open(&tmp.db()).unwrap_err();
    match &err {
        CdrError::SchemaTooNew {
            path,
            found,
            supported,
        } => {
            assert_eq!(path, &tmp.db());
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let text = err.to_string();
    let newer = format!("schema version {}", SCHEMA_VERSION + 1);
    assert!(text.contains(&newer), "{text}");
    assert!(text.contains("refusing"), "{text}");
    assert!(matches!(
        CdrStore::open_read_only(&tmp.db()),
        Err(CdrError::SchemaTooNew { .. })
    ));
}

#[test]
fn an_unopenable_path_is_a_start_error_naming_the_file() {
    let tmp = TempDir::new("unopenable");
    let path = tmp.0.join("no-such-dir").join("cdr.sqlite");
    let err = CdrStore::open(&path).unwrap_err();
    assert!(matches!(err, CdrError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn writer_flushes_everything_queued_on_close() {
    let tmp = TempDir::new("flush");
    let writer = CdrWriter::start(CdrStore::open(&tmp.db()).unwrap()).unwrap();
    for n in 0..2_000 {
        writer.submit(completed(n), wall(n)).unwrap();
    }
    // The queue (4096) holds them all: nothing needs to spill.
    assert_eq!(writer.spilled(), 0);
    assert_eq!(writer.close().unwrap(), 2_000);
    let store = CdrStore::open(&tmp.db()).unwrap();
    assert_eq!(store.count().unwrap(), 2_000);
    assert!(!spill_path(&tmp.db()).exists());
}

/// A writer with a queue of `queue_max` that cannot commit: the returned
/// connection holds the write lock until the test commits it.
fn blocked_writer(tmp: &TempDir, queue_max: usize) -> (Connection, CdrWriter) {
    let store = CdrStore::open(&tmp.db()).unwrap();
    let blocker = Connection::open(tmp.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let config = WriterConfig {
        queue_records_max: queue_max,
        batch_records_max: 1,
        commit_gap: Duration::ZERO,
    };
    (blocker, CdrWriter::start_with(store, config).unwrap())
}

#[test]
fn a_full_queue_spills_to_the_file_and_the_writer_moves_it_back_once_drained() {
    let tmp = TempDir::new("spill");
    // The queue (2 records) fills.
    let (blocker, writer) = blocked_writer(&tmp, 2);
    for n in 0..50 {
        writer.submit(completed(n), wall(n)).unwrap();
    }
    // At most the queue plus one batch got past the spill.
    let spilled = writer.spilled();
    assert!(spilled >= 47, "spilled {spilled}");
    assert_eq!(writer.dropped(), 0);
    let spill = spill_path(&tmp.db());
    let lines = fs::read_to_string(&spill).unwrap().lines().count() as u64;
    assert_eq!(lines, spilled);

    blocker.execute_batch("COMMIT").unwrap();
    // Without a restart: the spilled records reach the database.
    assert!(poll_until(|| writer.written() == 50));
    assert_eq!(count_rows(&blocker), 50);
    assert_eq!(writer.close().unwrap(), 50);
    assert!(!spill.exists());
}

/// An agent's state change at second `n` of 1970-01-01.
fn state_event(n: u64, state: &'static str) -> Event {
    Event {
        at_ms: n,
        unix_ms: n * 1000,
        kind: EventKind::AgentState {
            agent: "1001".into(),
            state,
            previous: "available",
            reason: None,
            call: None,
        },
    }
}

#[test]
fn the_writer_makes_the_log_lines_of_the_events_it_is_given_even_when_it_must_spill_them() {
    let tmp = TempDir::new("events");
    // The queue of one batch fills; the rest is turned into lines at once
    // and spilled.
    let (blocker, writer) = blocked_writer(&tmp, 1);
    for n in 0..20 {
        // A pause makes a line; ringing makes none.
        let batch: Arc<[Event]> = vec![state_event(n, "paused"), state_event(n, "ringing")].into();
        writer.submit_events(batch).unwrap();
    }
    let spill = spill_path(&tmp.db());
    let spilled = fs::read_to_string(&spill).unwrap().lines().count();
    assert!((17..=20).contains(&spilled), "spilled {spilled} lines");
    blocker.execute_batch("COMMIT").unwrap();
    writer.close().unwrap();
    assert!(!spill.exists());

    let store = CdrStore::open(&tmp.db()).unwrap();
    let log = store
        .agent_events("1970-01-01T00:00:00.000Z", "1970-01-02T00:00:00.000Z", 100)
        .unwrap();
    let seen: Vec<(u64, &str)> = log.iter().map(|l| (l.at_ms, l.event.as_str())).collect();
    let want: Vec<(u64, &str)> = (0..20).map(|n| (n, "pause")).collect();
    assert_eq!(seen, want);
    assert_eq!(log[3].at, "1970-01-01T00:00:03.000Z");
}

fn count_rows(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM call_records", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_failing_insert_at_run_time_spills_the_batch() {
    let tmp = TempDir::new("insert-fails");
    let writer = CdrWriter::start(CdrStore::open(&tmp.db()).unwrap()).unwrap();
    let admin = Connection::open(tmp.db()).unwrap();
    admin
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON call_records \
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
        )
        .unwrap();
    for n in 0..10 {
        writer.submit(completed(n), wall(n)).unwrap();
    }
    assert!(poll_until(|| writer.spilled() == 10));
    assert_eq!((writer.written(), writer.dropped()), (0, 0));
    admin.execute_batch("DROP TRIGGER refuse").unwrap();
    // The next commit succeeds, and the spilled ten follow it in.
    writer.submit(completed(10), wall(10)).unwrap();
    assert_eq!(writer.close().unwrap(), 11);
    assert!(!spill_path(&tmp.db()).exists());
    assert_eq!(count_rows(&admin), 11);
}

#[test]
fn a_writer_that_never_closes_leaves_its_committed_records() {
    let tmp = TempDir::new("killed");
    let writer = CdrWriter::start(CdrStore::open(&tmp.db()).unwrap()).unwrap();
    for n in 0..100 {
        writer.submit(completed(n), wall(n)).unwrap();
    }
    assert!(poll_until(|| writer.written() == 100));
    // As after a crash: the writer is never closed nor dropped, and another
    // connection reads the file.
    std::mem::forget(writer);
    let conn = Connection::open(tmp.db()).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM call_records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 100);
}

#[test]
fn readers_see_committed_records_while_the_writer_writes() {
    let tmp = TempDir::new("readers");
    let writer = CdrWriter::start(CdrStore::open(&tmp.db()).unwrap()).unwrap();
    writer.submit(completed(0), wall(0)).unwrap();
    assert!(poll_until(|| writer.written() == 1));

    // A read transaction holds its snapshot; in WAL it does not block the writer.
    let snapshot = Connection::open(tmp.db()).unwrap();
    snapshot.execute_batch("BEGIN").unwrap();
    let count = |c: &Connection| -> i64 {
        c.query_row("SELECT count(*) FROM call_records", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&snapshot), 1);

    let db = tmp.db();
    let reader = thread::spawn(move || {
        let store = CdrStore::open_read_only(&db).unwrap();
        let mut last = 0;
        let done = poll_until(|| {
            let n = store.count().unwrap();
            assert!(n >= last, "count went back from {last} to {n}");
            last = n;
            n == 1_000
        });
        (done, last)
    });
    for n in 1..1_000 {
        writer.submit(completed(n), wall(n)).unwrap();
    }
    assert!(poll_until(|| writer.written() == 1_000));
    assert_eq!(count(&snapshot), 1);
    snapshot.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&snapshot), 1_000);
    assert_eq!(reader.join().unwrap(), (true, 1_000));
    assert_eq!(writer.close().unwrap(), 1_000);
}

#[test]
fn a_torn_spill_line_is_kept_aside_and_the_rest_imported() {
    let tmp = TempDir::new("torn");
    let rows: Vec<String> = (0..2)
        .map(|n| serde_json::to_string(&CdrRow::new(&completed(n), wall(n))).unwrap())
        .collect();
    let torn = &rows[1][..20];
    let text = format!("{}\n{}\n{torn}", rows[0], rows[1]);
    fs::write(spill_path(&tmp.db()), text).unwrap();

    let store = CdrStore::open(&tmp.db()).unwrap();
    assert_eq!(
        store.spill_import(),
        SpillImport {
            imported: 2,
            rejected: 1
        }
    );
    assert_eq!(store.count().unwrap(), 2);
    assert!(!spill_path(&tmp.db()).exists());
    let kept = fs::read_to_string(rejected_path(&tmp.db())).unwrap();
    assert_eq!(kept, format!("{torn}\n"));
}

#[test]
fn importing_the_same_spill_file_again_adds_nothing() {
    let tmp = TempDir::new("reimport");
    let line = serde_json::to_string(&CdrRow::new(&completed(1), wall(1))).unwrap();
    // As after a crash between the import's commit and the file's removal.
    fs::write(spill_path(&tmp.db()), format!("{line}\n")).unwrap();
    drop(CdrStore::open(&tmp.db()).unwrap());
    fs::write(spill_path(&tmp.db()), format!("{line}\n")).unwrap();
    let store = CdrStore::open(&tmp.db()).unwrap();
    assert_eq!(store.spill_import().imported, 1);
    assert_eq!(store.count().unwrap(), 1);
}

#[test]
fn read_only_open_refuses_a_file_without_schema() {
    let tmp = TempDir::new("ro-empty");
    drop(Connection::open(tmp.db()).unwrap());
    assert!(matches!(
        CdrStore::open_read_only(&tmp.db()),
        Err(CdrError::SchemaMissing { .. })
    ));
}

/// Everything any test here logs, at every level, from every thread.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .init();
        logs
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn unspillable_records_are_counted_dropped_and_no_record_is_logged() {
    let logs = captured_logs();
    let tmp = TempDir::new("dropped");
    let store = CdrStore::open(&tmp.db()).unwrap();
    // A directory where the spill file should be: every append fails.
    fs::create_dir(spill_path(&tmp.db())).unwrap();
    let blocker = Connection::open(tmp.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let config = WriterConfig {
        queue_records_max: 1,
        batch_records_max: 1,
        commit_gap: Duration::ZERO,
    };
    let writer = CdrWriter::start_with(store, config).unwrap();
    let mut refused = 0;
    for n in 0..10 {
        match writer.submit(completed(n), wall(n)) {
            Ok(()) => {}
            Err(CdrError::Spill { path, .. }) => {
                assert_eq!(path, spill_path(&tmp.db()));
                refused += 1;
            }
            Err(other) => panic!("expected a spill error, got {other:?}"),
        }
    }
    // The queue (1) and one batch in flight took at most two.
    assert!(refused >= 8, "refused {refused}");
    assert_eq!((writer.dropped(), writer.spilled()), (refused, 0));
    blocker.execute_batch("COMMIT").unwrap();
    assert_eq!(writer.close().unwrap(), 10 - refused);

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("call records lost"), "{logs}");
    let rec = completed(3);
    for private in [
        rec.dialled.as_str(),
        rec.sip_call_id.as_str(),
        "alice",
        "loans",
    ] {
        assert!(!logs.contains(private), "logged {private}: {logs}");
    }
}

#[test]
fn a_version_1_store_gains_the_recording_columns_and_keeps_its_rows() {
    let tmp = TempDir::new("v1");
    {
        // The version 1 table, as the first release created it.
        let conn = Connection::open(tmp.db()).unwrap();
        conn.execute_batch(
            "CREATE TABLE call_records (id INTEGER PRIMARY KEY AUTOINCREMENT, call INTEGER NOT NULL, \
             sip_call_id TEXT NOT NULL, trunk TEXT, dialled TEXT NOT NULL, queue TEXT, agent TEXT, \
             outcome TEXT NOT NULL, rejected_status INTEGER, hung_up_by TEXT, started_at TEXT NOT NULL, \
             answered_at TEXT, ended_at TEXT NOT NULL, wait_ms INTEGER NOT NULL, talk_ms INTEGER NOT NULL, \
             offers INTEGER NOT NULL);
             INSERT INTO call_records (call, sip_call_id, dialled, outcome, started_at, ended_at, \
             wait_ms, talk_ms, offers) VALUES (1, 'old', '5550100', 'completed', \
             '2026-01-01T00:00:00.000Z', '2026-01-01T00:01:00.000Z', 0, 60000, 1);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let mut store = CdrStore::open(&tmp.db()).unwrap();
    let mut recorded = completed(2);
    recorded.recording = Some(("recordings/2-ab.wav".into(), Duration::from_millis(61_500)));
    store.insert(&recorded, wall(1_000)).unwrap();
    let rows = store.recent(10).unwrap();
    assert_eq!(rows.len(), 2);
    let old = rows.iter().find(|r| r.row.sip_call_id == "old").unwrap();
    assert_eq!(
        (old.row.recording_path.as_deref(), old.row.recording_ms),
        (None, None)
    );
    let new = rows.iter().find(|r| r.row.call == 2).unwrap();
    assert_eq!(
        new.row.recording_path.as_deref(),
        Some("recordings/2-ab.wav")
    );
    assert_eq!(new.row.recording_ms, Some(61_500));
    let conn = Connection::open(tmp.db()).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

/// The schema as version 2 wrote it: version 1's table and indexes
/// (`SCHEMA_V1` of `src/ops/cdr/mod.rs`) plus the recording columns
/// (`SCHEMA_V2`).
const SCHEMA_AS_OF_V2: &str = "
CREATE TABLE call_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call INTEGER NOT NULL,
    sip_call_id TEXT NOT NULL,
    trunk TEXT,
    dialled TEXT NOT NULL,
    queue TEXT,
    agent TEXT,
    outcome TEXT NOT NULL,
    rejected_status INTEGER,
    hung_up_by TEXT,
    started_at TEXT NOT NULL,
    answered_at TEXT,
    ended_at TEXT NOT NULL,
    wait_ms INTEGER NOT NULL,
    talk_ms INTEGER NOT NULL,
    offers INTEGER NOT NULL
);
CREATE INDEX call_records_ended_at ON call_records (ended_at);
CREATE INDEX call_records_queue ON call_records (queue);
CREATE UNIQUE INDEX call_records_once ON call_records (sip_call_id, call, ended_at);
ALTER TABLE call_records ADD COLUMN recording_path TEXT;
ALTER TABLE call_records ADD COLUMN recording_ms INTEGER;
PRAGMA user_version = 2;
";

#[test]
fn a_version_2_store_is_migrated_in_place_keeping_its_rows_with_new_columns_null() {
    let tmp = TempDir::new("v2");
    {
        let conn = Connection::open(tmp.db()).unwrap();
        conn.execute_batch(SCHEMA_AS_OF_V2).unwrap();
        conn.execute_batch(
            "INSERT INTO call_records (call, sip_call_id, trunk, dialled, queue, agent, outcome, \
             rejected_status, hung_up_by, started_at, answered_at, ended_at, wait_ms, talk_ms, \
             offers, recording_path, recording_ms) VALUES \
             (1, 'old-1', 'carrier-1', '5550200', 'support', '1001', 'completed', NULL, 'caller', \
              '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:12.000Z', '2026-01-01T00:01:12.000Z', \
              12000, 60000, 2, 'recordings/1.wav', 60000), \
             (2, 'old-2', 'carrier-1', '5559999', NULL, NULL, 'rejected', 480, NULL, \
              '2026-01-01T00:02:00.000Z', NULL, '2026-01-01T00:02:00.000Z', 0, 0, 0, NULL, NULL);",
        )
        .unwrap();
    }
    let mut store = CdrStore::open(&tmp.db()).unwrap();
    // The old rows as they were, every column added since NULL.
    let old = store
        .records_between("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", 10)
        .unwrap();
    let expected = |call, sip: &str, dialled: &str, outcome: &str| CdrRow {
        call,
        sip_call_id: sip.into(),
        trunk: Some("carrier-1".into()),
        dialled: dialled.into(),
        queue: None,
        agent: None,
        outcome: outcome.into(),
        rejected_status: None,
        hung_up_by: None,
        started_at: String::new(),
        answered_at: None,
        ended_at: String::new(),
        wait_ms: 0,
        talk_ms: 0,
        offers: 0,
        recording_path: None,
        recording_ms: None,
        call_uuid: None,
        caller: None,
        caller_name: None,
        direction: None,
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
    };
    assert_eq!(
        old,
        vec![
            CdrRow {
                queue: Some("support".into()),
                agent: Some("1001".into()),
                hung_up_by: Some("caller".into()),
                started_at: "2026-01-01T00:00:00.000Z".into(),
                answered_at: Some("2026-01-01T00:00:12.000Z".into()),
                ended_at: "2026-01-01T00:01:12.000Z".into(),
                wait_ms: 12_000,
                talk_ms: 60_000,
                offers: 2,
                recording_path: Some("recordings/1.wav".into()),
                recording_ms: Some(60_000),
                ..expected(1, "old-1", "5550200", "completed")
            },
            CdrRow {
                rejected_status: Some(480),
                started_at: "2026-01-01T00:02:00.000Z".into(),
                ended_at: "2026-01-01T00:02:00.000Z".into(),
                ..expected(2, "old-2", "5559999", "rejected")
            },
        ]
    );
    // New records take every column; the old unique index still holds.
    store.insert(&completed(3), wall(1_000)).unwrap();
    store.insert(&completed(3), wall(1_000)).unwrap();
    assert_eq!(store.count().unwrap(), 3);
    let new = store
        .recent(10)
        .unwrap()
        .into_iter()
        .find(|r| r.row.call == 3)
        .expect("the new record")
        .row;
    assert_eq!(
        new.call_uuid.as_deref(),
        Some("0190a1b2-c3d4-7e5f-8a9b-000000000003")
    );
    assert_eq!(
        (new.direction.as_deref(), new.hold_ms),
        (Some("inbound"), Some(0))
    );
    // The event log exists.
    let line = switchyard::ops::cdr::AgentEventRow {
        at: "2026-01-01T00:03:00.000Z".into(),
        unix_ms: 1_767_225_780_000,
        at_ms: 1,
        agent: Some("1001".into()),
        event: "login".into(),
        queue: None,
        call: None,
        reason: None,
        detail: None,
        duration_ms: None,
    };
    store
        .insert_store_rows(&[switchyard::ops::cdr::StoreRow::Agent(line.clone())])
        .unwrap();
    let log = store
        .agent_events("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", 10)
        .unwrap();
    assert_eq!(log, vec![line]);
    let conn = Connection::open(tmp.db()).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        indexes,
        [
            "agent_events_at",
            "agent_events_call",
            "agent_events_once",
            "call_legs_once",
            "call_legs_party",
            "call_records_call_uuid",
            "call_records_caller",
            "call_records_campaign",
            "call_records_ended_at",
            "call_records_once",
            "call_records_queue",
            "call_records_started_at",
        ]
    );
}

#[test]
fn a_version_3_store_gains_the_complete_record_and_the_event_log_and_keeps_its_rows() {
    let tmp = TempDir::new("v3");
    {
        // The version 3 table: version 2 plus the call id.
        let conn = Connection::open(tmp.db()).unwrap();
        conn.execute_batch(
            "CREATE TABLE call_records (id INTEGER PRIMARY KEY AUTOINCREMENT, call INTEGER NOT NULL, \
             sip_call_id TEXT NOT NULL, trunk TEXT, dialled TEXT NOT NULL, queue TEXT, agent TEXT, \
             outcome TEXT NOT NULL, rejected_status INTEGER, hung_up_by TEXT, started_at TEXT NOT NULL, \
             answered_at TEXT, ended_at TEXT NOT NULL, wait_ms INTEGER NOT NULL, talk_ms INTEGER NOT NULL, \
             offers INTEGER NOT NULL, recording_path TEXT, recording_ms INTEGER, call_uuid TEXT);
             INSERT INTO call_records (call, sip_call_id, dialled, outcome, started_at, ended_at, \
             wait_ms, talk_ms, offers, call_uuid) VALUES (1, 'old', '5550100', 'completed', \
             '2026-01-01T00:00:00.000Z', '2026-01-01T00:01:00.000Z', 0, 60000, 1, \
             '0190a1b2-c3d4-7e5f-8a9b-0000000000ff');
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    let mut store = CdrStore::open(&tmp.db()).unwrap();
    store.insert(&completed(2), wall(1_000)).unwrap();
    let rows = store.recent(10).unwrap();
    assert_eq!(rows.len(), 2);
    let old = rows.iter().find(|r| r.row.sip_call_id == "old").unwrap();
    assert_eq!(
        old.row.call_uuid.as_deref(),
        Some("0190a1b2-c3d4-7e5f-8a9b-0000000000ff")
    );
    assert_eq!(
        (old.row.caller.as_deref(), old.row.direction.as_deref()),
        (None, None)
    );
    assert_eq!(
        (old.row.hold_ms, old.row.disposition.as_deref()),
        (None, None)
    );
    let new = rows.iter().find(|r| r.row.call == 2).unwrap();
    assert_eq!(new.row.direction.as_deref(), Some("inbound"));
    assert_eq!(new.row.hold_ms, Some(0));
    // The event log exists, and a disposition line fills in the record.
    let line = switchyard::ops::cdr::AgentEventRow {
        at: "1970-01-01T00:16:40.000Z".into(),
        unix_ms: 1_000_000,
        at_ms: 9,
        agent: Some("alice".into()),
        event: "disposition".into(),
        queue: Some("loans".into()),
        call: new.row.call_uuid.clone(),
        reason: Some("sale".into()),
        detail: Some("note".into()),
        duration_ms: None,
    };
    let rows = [switchyard::ops::cdr::StoreRow::Agent(line)];
    store.insert_store_rows(&rows).unwrap();
    // Imported twice (a spill file read again), it is stored once.
    store.insert_store_rows(&rows).unwrap();
    let log = store
        .agent_events("1970-01-01T00:00:00.000Z", "1970-01-02T00:00:00.000Z", 10)
        .unwrap();
    assert_eq!(log.len(), 1);
    let again = store.recent(10).unwrap();
    let new = again.iter().find(|r| r.row.call == 2).unwrap();
    assert_eq!(new.row.disposition.as_deref(), Some("sale"));
    assert_eq!(new.row.disposition_note.as_deref(), Some("note"));
    let conn = Connection::open(tmp.db()).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    // Schema 5: the legs table is there, empty for the old rows.
    let legs: i64 = conn
        .query_row("SELECT count(*) FROM call_legs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(legs, 0);
}

fn agent_line(
    at: &str,
    id_ms: u64,
    agent: &str,
    event: &str,
    reason: Option<&str>,
) -> switchyard::ops::cdr::AgentEventRow {
    switchyard::ops::cdr::AgentEventRow {
        at: at.into(),
        unix_ms: switchyard::ops::report::parse_ms(at).unwrap(),
        at_ms: id_ms,
        agent: Some(agent.into()),
        event: event.into(),
        queue: None,
        call: None,
        reason: reason.map(str::to_string),
        detail: None,
        duration_ms: None,
    }
}

#[test]
fn agent_states_before_a_window_are_each_agents_last_login_and_pause_lines() {
    let tmp = TempDir::new("states");
    let mut store = CdrStore::open(&tmp.db()).unwrap();
    let lines = [
        agent_line("2026-01-01T07:00:00.000Z", 1, "1001", "login", None),
        agent_line(
            "2026-01-01T07:30:00.000Z",
            2,
            "1001",
            "pause",
            Some("break"),
        ),
        agent_line("2026-01-01T07:45:00.000Z", 3, "1001", "resume", None),
        agent_line(
            "2026-01-01T08:00:00.000Z",
            4,
            "1001",
            "pause",
            Some("lunch"),
        ),
        agent_line("2026-01-01T07:00:00.000Z", 5, "1002", "login", None),
        agent_line("2026-01-01T08:10:00.000Z", 6, "1002", "logout", None),
        // Too early for the look-back, and inside the window.
        agent_line("2025-12-01T07:00:00.000Z", 7, "1003", "login", None),
        agent_line("2026-01-01T09:30:00.000Z", 8, "1001", "resume", None),
    ];
    let rows: Vec<_> = lines
        .iter()
        .cloned()
        .map(switchyard::ops::cdr::StoreRow::Agent)
        .collect();
    store.insert_store_rows(&rows).unwrap();
    let states = store
        .agent_states_before("2025-12-25T09:00:00.000Z", "2026-01-01T09:00:00.000Z")
        .unwrap();
    // 1002's logout is both its last login/logout and pause/resume line: once.
    assert_eq!(
        states,
        vec![lines[0].clone(), lines[3].clone(), lines[5].clone()]
    );
}

#[test]
fn under_load_records_share_a_commit_and_a_lone_record_does_not_wait() {
    let tmp = TempDir::new("group-commit");
    let gap = Duration::from_secs(2);
    let config = WriterConfig {
        commit_gap: gap,
        ..WriterConfig::default()
    };
    let writer = CdrWriter::start_with(CdrStore::open(&tmp.db()).unwrap(), config).unwrap();
    // After a quiet spell the record is committed at once, not a gap later.
    let started = Instant::now();
    writer.submit(completed(0), wall(0)).unwrap();
    assert!(poll_until(|| writer.written() == 1));
    assert!(started.elapsed() < gap, "{:?}", started.elapsed());
    // A burst within the gap waits for it and goes in one transaction.
    for n in 1..=100 {
        writer.submit(completed(n), wall(n)).unwrap();
    }
    assert!(poll_until(|| writer.written() == 101));
    assert_eq!(writer.commits(), 2);
    assert_eq!(writer.close().unwrap(), 101);
    let admin = Connection::open(tmp.db()).unwrap();
    assert_eq!(count_rows(&admin), 101);
}
