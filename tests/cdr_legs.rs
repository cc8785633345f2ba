//! A record's legs in the store: written with the record, read back in
//! order, each agent's wrap-up and disposition joined from the event log
//! (whichever lands first), not doubled by a second import.

use std::path::PathBuf;

use switchyard::ops::cdr::{AgentEventRow, CdrRow, CdrStore, LegRow, StoreRow};

const CALL: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

fn db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-legs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("cdr.sqlite")
}

fn leg(seq: u32, party: &str, via: &str, start: &str, end: &str, outcome: &str) -> LegRow {
    LegRow {
        seq,
        party: party.into(),
        role: "agent".into(),
        via: via.into(),
        started_at: format!("2026-01-01T00:00:{start}.000Z"),
        answered_at: Some(format!("2026-01-01T00:00:{start}.500Z")),
        ended_at: format!("2026-01-01T00:00:{end}.000Z"),
        outcome: outcome.into(),
        wrapup_ms: None,
        disposition: None,
        disposition_note: None,
        recording_offset_ms: None,
        recording_ms: None,
    }
}

fn record() -> CdrRow {
    let mut row: CdrRow = serde_json::from_value(serde_json::json!({
        "call": 1, "sip_call_id": "c1", "dialled": "5000", "outcome": "completed",
        "started_at": "2026-01-01T00:00:00.000Z", "ended_at": "2026-01-01T00:00:40.000Z",
        "wait_ms": 0, "talk_ms": 40000, "offers": 1, "call_uuid": CALL
    }))
    .unwrap();
    row.legs = vec![
        leg(1, "1001", "offer", "01", "10", "transferred"),
        leg(2, "1002", "transfer", "10", "40", "caller_hung_up"),
    ];
    row
}

fn wrapup(agent: &str, at: &str, ms: u64) -> AgentEventRow {
    AgentEventRow {
        at: format!("2026-01-01T00:00:{at}.000Z"),
        unix_ms: 1_767_225_600_000,
        at_ms: ms,
        agent: Some(agent.into()),
        event: "wrapup_end".into(),
        queue: None,
        call: Some(CALL.into()),
        reason: None,
        detail: None,
        duration_ms: Some(ms),
    }
}

#[test]
fn legs_are_stored_with_their_record_and_take_each_agents_wrap_up() {
    let path = db("store");
    let mut store = CdrStore::open(&path).unwrap();
    // 1001's wrap-up ends before the call does; 1002's after.
    store
        .insert_store_rows(&[StoreRow::Agent(wrapup("1001", "20", 9_000))])
        .unwrap();
    store
        .insert_store_rows(&[
            StoreRow::Call(record()),
            StoreRow::Agent(wrapup("1002", "45", 5_000)),
        ])
        .unwrap();
    // A second import of the same record (a spill read twice) adds nothing.
    store
        .insert_store_rows(&[StoreRow::Call(record())])
        .unwrap();
    let got = store.record(CALL).unwrap().expect("the record is stored");
    let mut want = record().legs;
    want[0].wrapup_ms = Some(9_000);
    want[1].wrapup_ms = Some(5_000);
    assert_eq!(got.legs, want);
    assert_eq!(store.count().unwrap(), 1);
    assert_eq!(store.recent(10).unwrap()[0].row.legs, want);
    assert!(store
        .record("0190a1b2-c3d4-7e5f-8a9b-000000000000")
        .unwrap()
        .is_none());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
