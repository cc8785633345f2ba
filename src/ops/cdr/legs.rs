//! A record's legs (schema 5, table `call_legs`): one row per party the
//! call passed through, in order, keyed by the record's `call_uuid` and
//! the leg's `seq`. Written with their record in the same transaction
//! (`insert`), where each agent's wrap-up and disposition are joined in
//! from the agent event log, like the record's own.

use std::time::SystemTime;

use rusqlite::{Connection, Row};
use serde::{Deserialize, Serialize};

use super::{from_sql_u64, rfc3339_utc};
use crate::call::session::LegRecord;

/// One leg as the database, the spill file and the API hold it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRow {
    /// 1 for the first party, in the order they came.
    pub seq: u32,
    /// The agent's name, or the number dialled out.
    pub party: String,
    /// `agent`, `colleague`, `supervisor` or `outside`.
    pub role: String,
    /// `offer`, `transfer`, `consult`, `escalate` or `takeover`.
    pub via: String,
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: String,
    /// `transferred`, `escalated`, `taken_over`, `hung_up`,
    /// `caller_hung_up`, `no_answer`, `busy`, `failed`, `cancelled`, `ended`.
    pub outcome: String,
    /// Filled in from the agent event log (an agent's leg of a queue call).
    #[serde(default)]
    pub wrapup_ms: Option<u64>,
    #[serde(default)]
    pub disposition: Option<String>,
    #[serde(default)]
    pub disposition_note: Option<String>,
    /// Where the leg's talk is in the call's recording, and how long.
    #[serde(default)]
    pub recording_offset_ms: Option<u64>,
    #[serde(default)]
    pub recording_ms: Option<u64>,
}

impl LegRow {
    /// Stamps a leg: offsets from the call's arrival at `started_at`.
    pub fn new(seq: usize, leg: &LegRecord, started_at: SystemTime) -> LegRow {
        let at = |d| rfc3339_utc(started_at + d);
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        LegRow {
            seq: u32::try_from(seq + 1).unwrap_or(u32::MAX),
            party: leg.party.clone(),
            role: leg.role.label().to_owned(),
            via: leg.via.label().to_owned(),
            started_at: at(leg.started),
            answered_at: leg.answered.map(at),
            ended_at: at(leg.ended),
            outcome: leg.outcome.label().to_owned(),
            wrapup_ms: None,
            disposition: None,
            disposition_note: None,
            recording_offset_ms: leg.recording.map(|(o, _)| ms(o)),
            recording_ms: leg.recording.map(|(_, l)| ms(l)),
        }
    }
}

/// Version 5: the legs of each call.
pub(super) const SCHEMA_V5: &str = "
CREATE TABLE call_legs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_uuid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    party TEXT NOT NULL,
    role TEXT NOT NULL,
    via TEXT NOT NULL,
    started_at TEXT NOT NULL,
    answered_at TEXT,
    ended_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    wrapup_ms INTEGER,
    disposition TEXT,
    disposition_note TEXT,
    recording_offset_ms INTEGER,
    recording_ms INTEGER
);
CREATE UNIQUE INDEX call_legs_once ON call_legs (call_uuid, seq);
CREATE INDEX call_legs_party ON call_legs (party);
";

pub(super) const LEG_COLUMNS: &str =
    "seq, party, role, via, started_at, answered_at, ended_at, outcome, \
     wrapup_ms, disposition, disposition_note, recording_offset_ms, recording_ms";

/// The legs of the call `call` (its `call_uuid`), in order.
pub(super) fn of_call(conn: &Connection, call: &str) -> rusqlite::Result<Vec<LegRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {LEG_COLUMNS} FROM call_legs WHERE call_uuid = ?1 ORDER BY seq"
    ))?;
    let rows = stmt.query_map([call], read)?;
    rows.collect()
}

fn read(r: &Row<'_>) -> rusqlite::Result<LegRow> {
    let opt_u64 = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(from_sql_u64))
    };
    Ok(LegRow {
        seq: r.get(0)?,
        party: r.get(1)?,
        role: r.get(2)?,
        via: r.get(3)?,
        started_at: r.get(4)?,
        answered_at: r.get(5)?,
        ended_at: r.get(6)?,
        outcome: r.get(7)?,
        wrapup_ms: opt_u64(8)?,
        disposition: r.get(9)?,
        disposition_note: r.get(10)?,
        recording_offset_ms: opt_u64(11)?,
        recording_ms: opt_u64(12)?,
    })
}
