//! The call detail record store: every finished call's [`CallRecord`] in
//! SQLite, durable across a crash. [`CdrStore`] owns the connection (WAL,
//! `synchronous=FULL`, schema versioned by `PRAGMA user_version`);
//! [`CdrWriter`] feeds it from a bounded queue on its own thread so the
//! switch never waits on disk. A record the database cannot take goes to
//! the spill file, which the next [`CdrStore::open`] imports. Building the
//! record is the switch core's job; exporting counters is `ops::metrics`'.
//!
//! Privacy: the record holds the dialled DID (a business number) but no
//! caller number; still, record contents are never logged above `debug`.

#![allow(clippy::disallowed_methods)] // a driver: it spawns the writer thread

mod erase;
mod events;
mod insert;
mod legs;
mod queries;
mod row;
mod spill;
mod writer;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tracing::{debug, warn};

use crate::switch::CallRecord;

pub use erase::{Deleted, DELETE_BATCH_ROWS_MAX, ERASE_RECORDS_MAX};
pub use events::{agent_events, AgentEventRow, EVENT_NAMES};
pub use insert::Inserter;
pub use legs::LegRow;
pub use row::{rfc3339_utc, CdrRow, StoredRecord};
pub use spill::{rejected_path, spill_path, SPILL_LINE_BYTES_MAX};
pub use writer::{CdrWriter, WriterConfig, CDR_BATCH_RECORDS_MAX, CDR_QUEUE_RECORDS_MAX};

/// The schema this code writes (`PRAGMA user_version`). A newer file is
/// refused rather than written with an older shape.
pub const SCHEMA_VERSION: i64 = 6;
/// How long a statement waits for another connection's lock before failing
/// (then the writer spills the batch).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The most rows one [`CdrStore::recent`] returns.
pub const RECENT_RECORDS_MAX: usize = 10_000;

/// One line for the store: a call record or an agent event log line.
/// Untagged, so spill lines written before the event log still read as
/// records.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // moved once into a bounded queue; a box buys nothing
pub enum StoreRow {
    Call(CdrRow),
    Agent(AgentEventRow),
}

/// What went wrong in the CDR store.
#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    #[error("cannot open the CDR database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot set PRAGMA {pragma} on the CDR database {path}: {source}")]
    Pragma {
        path: PathBuf,
        pragma: &'static str,
        source: rusqlite::Error,
    },
    #[error("the CDR database {path} runs in journal mode {mode:?}, not WAL")]
    NotWal { path: PathBuf, mode: String },
    #[error(
        "the CDR database {path} has schema version {found}, newer than {supported} which \
         this switch knows: refusing to use it (upgrade the switch or move the file)"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("the CDR database {path} has no schema and was opened read-only")]
    SchemaMissing { path: PathBuf },
    #[error("cannot create the CDR schema in {path}: {source}")]
    Schema {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot insert call records: {source}")]
    Insert { source: rusqlite::Error },
    #[error("cannot delete call records: {source}")]
    Delete { source: rusqlite::Error },
    #[error("cannot read call records: {source}")]
    Query { source: rusqlite::Error },
    #[error("cannot write the CDR spill file {path}: {source}")]
    Spill {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the CDR spill file {path}: {source}")]
    SpillRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the CDR writer thread: {source}")]
    WriterStart { source: std::io::Error },
    #[error("the CDR writer thread panicked")]
    WriterPanicked,
}

/// What [`CdrStore::open`] found in a spill file left by an earlier run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpillImport {
    /// Records now in the database.
    pub imported: u64,
    /// Lines that did not parse, moved to [`rejected_path`].
    pub rejected: u64,
}

/// The CDR database: one connection.
#[derive(Debug)]
pub struct CdrStore {
    conn: Connection,
    path: PathBuf,
    spill_import: SpillImport,
}

impl CdrStore {
    /// Opens or creates the database, sets WAL and `synchronous=FULL`,
    /// creates or checks the schema, then imports and removes the spill
    /// file of an earlier run. Any error here is a start error.
    pub fn open(path: &Path) -> Result<CdrStore, CdrError> {
        let conn = Connection::open(path).map_err(|source| CdrError::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut store = CdrStore {
            conn,
            path: path.to_owned(),
            spill_import: SpillImport::default(),
        };
        store.configure(false)?;
        store.migrate()?;
        store.spill_import = store.import_spill()?;
        Ok(store)
    }

    /// Opens an existing database for reading only (the HTTP API, tests):
    /// no schema change, no spill import.
    pub fn open_read_only(path: &Path) -> Result<CdrStore, CdrError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| CdrError::Open {
            path: path.to_owned(),
            source,
        })?;
        let store = CdrStore {
            conn,
            path: path.to_owned(),
            spill_import: SpillImport::default(),
        };
        store.configure(true)?;
        match store.schema_version()? {
            0 => Err(CdrError::SchemaMissing {
                path: store.path.clone(),
            }),
            v if v > SCHEMA_VERSION => Err(store.too_new(v)),
            _ => Ok(store),
        }
    }

    /// Opens a database the switch has created, for a second writer (the
    /// retention sweep, erasure): WAL, no schema change, no spill import.
    pub fn open_existing(path: &Path) -> Result<CdrStore, CdrError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(
            |source| CdrError::Open {
                path: path.to_owned(),
                source,
            },
        )?;
        let store = CdrStore {
            conn,
            path: path.to_owned(),
            spill_import: SpillImport::default(),
        };
        store.configure(false)?;
        match store.schema_version()? {
            0 => Err(CdrError::SchemaMissing {
                path: store.path.clone(),
            }),
            v if v > SCHEMA_VERSION => Err(store.too_new(v)),
            _ => Ok(store),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What `open` imported from a spill file.
    pub fn spill_import(&self) -> SpillImport {
        self.spill_import
    }

    /// Stores one record; durable when this returns.
    pub fn insert(&mut self, record: &CallRecord, ended_at: SystemTime) -> Result<(), CdrError> {
        self.insert_rows(&[CdrRow::new(record, ended_at)])
    }

    /// Stores the records in one transaction: all or none.
    pub fn insert_batch(&mut self, records: &[(CallRecord, SystemTime)]) -> Result<(), CdrError> {
        let rows: Vec<CdrRow> = records.iter().map(|(r, t)| CdrRow::new(r, *t)).collect();
        self.insert_rows(&rows)
    }

    /// Stores rows in one transaction. A row already stored (same call ref,
    /// Call-ID and end) is skipped, so importing a spill file twice after a
    /// crash between commit and removal adds nothing.
    pub fn insert_rows(&mut self, rows: &[CdrRow]) -> Result<(), CdrError> {
        let rows: Vec<StoreRow> = rows.iter().cloned().map(StoreRow::Call).collect();
        self.insert_store_rows(&rows)
    }

    /// Stores records and agent event lines in one transaction, in order.
    /// A wrap-up end or disposition line fills in its call's record, and a
    /// record takes what the log already holds about its call (a line
    /// may land first when the record went through the spill file).
    pub fn insert_store_rows(&mut self, rows: &[StoreRow]) -> Result<(), CdrError> {
        self.inserter().insert(rows)
    }

    /// Writes batches like [`CdrStore::insert_store_rows`], preparing its
    /// statements once for all of them (the writer thread keeps one).
    pub fn inserter(&self) -> Inserter<'_> {
        Inserter::new(&self.conn)
    }

    /// The agent event log lines from `from` (inclusive) to `to`
    /// (exclusive), RFC 3339 UTC, in order; at most `limit`.
    pub fn agent_events(
        &self,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<Vec<AgentEventRow>, CdrError> {
        queries::agent_events(&self.conn, from, to, limit)
            .map_err(|source| CdrError::Query { source })
    }

    /// What each agent was doing when `from` came: its last login or
    /// logout line and its last pause, resume or logout line between
    /// `since` (inclusive) and `from` (exclusive), in order.
    pub fn agent_states_before(
        &self,
        since: &str,
        from: &str,
    ) -> Result<Vec<AgentEventRow>, CdrError> {
        queries::agent_states_before(&self.conn, since, from)
            .map_err(|source| CdrError::Query { source })
    }

    /// Call records that started from `from` (inclusive) to `to`
    /// (exclusive), in start order; at most `limit`.
    pub fn records_between(
        &self,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<Vec<CdrRow>, CdrError> {
        queries::records_between(&self.conn, from, to, limit)
            .map_err(|source| CdrError::Query { source })
    }

    /// The newest `limit` records (by end, then id), newest first; at most
    /// [`RECENT_RECORDS_MAX`].
    pub fn recent(&self, limit: usize) -> Result<Vec<StoredRecord>, CdrError> {
        let query_err = |source| CdrError::Query { source };
        let limit = i64::try_from(limit.min(RECENT_RECORDS_MAX)).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT id, {} FROM call_records ORDER BY ended_at DESC, id DESC LIMIT ?1",
                queries::RECORD_COLUMNS
            ))
            .map_err(query_err)?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(StoredRecord {
                    id: r.get(0)?,
                    row: queries::read_record(r, 1)?,
                })
            })
            .map_err(query_err)?;
        let mut records = rows.collect::<Result<Vec<_>, _>>().map_err(query_err)?;
        for r in &mut records {
            r.row.legs = self.legs(r.row.call_uuid.as_deref().unwrap_or_default())?;
        }
        Ok(records)
    }

    /// The record of the call `call_uuid`, with its legs; `None` if there
    /// is none (yet).
    pub fn record(&self, call_uuid: &str) -> Result<Option<CdrRow>, CdrError> {
        let query_err = |source| CdrError::Query { source };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM call_records WHERE call_uuid = ?1 ORDER BY id DESC LIMIT 1",
                queries::RECORD_COLUMNS
            ))
            .map_err(query_err)?;
        let mut rows = stmt
            .query_map([call_uuid], |r| queries::read_record(r, 0))
            .map_err(query_err)?;
        let Some(row) = rows.next().transpose().map_err(query_err)? else {
            return Ok(None);
        };
        Ok(Some(CdrRow {
            legs: self.legs(call_uuid)?,
            ..row
        }))
    }

    /// The legs of the call `call_uuid`, in order (none for a record
    /// written before schema 5).
    pub fn legs(&self, call_uuid: &str) -> Result<Vec<LegRow>, CdrError> {
        legs::of_call(&self.conn, call_uuid).map_err(|source| CdrError::Query { source })
    }

    /// How many records the database holds.
    pub fn count(&self) -> Result<u64, CdrError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM call_records", [], |r| r.get(0))
            .map_err(|source| CdrError::Query { source })?;
        Ok(from_sql_u64(n))
    }

    fn configure(&self, read_only: bool) -> Result<(), CdrError> {
        let pragma_err = |pragma| {
            let path = self.path.clone();
            move |source| CdrError::Pragma {
                path,
                pragma,
                source,
            }
        };
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(pragma_err("busy_timeout"))?;
        if read_only {
            return Ok(());
        }
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(pragma_err("journal_mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CdrError::NotWal {
                path: self.path.clone(),
                mode,
            });
        }
        // FULL: in WAL mode NORMAL may lose the last commits on power loss.
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(pragma_err("synchronous"))
    }

    fn schema_version(&self) -> Result<i64, CdrError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|source| CdrError::Pragma {
                path: self.path.clone(),
                pragma: "user_version",
                source,
            })
    }

    fn too_new(&self, found: i64) -> CdrError {
        CdrError::SchemaTooNew {
            path: self.path.clone(),
            found,
            supported: SCHEMA_VERSION,
        }
    }

    /// Creates the schema on a new file; refuses a newer one.
    fn migrate(&mut self) -> Result<(), CdrError> {
        let schema_err = |path: &Path| {
            let path = path.to_owned();
            move |source| CdrError::Schema { path, source }
        };
        // IMMEDIATE: two switches opening one new file must not both create.
        let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate)
            .map_err(schema_err(&self.path))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(schema_err(&self.path))?;
        if version > SCHEMA_VERSION {
            return Err(CdrError::SchemaTooNew {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        // Each step keeps the rows before it: new columns are NULL there.
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)
                .map_err(schema_err(&self.path))?;
        }
        if version < 2 {
            tx.execute_batch(SCHEMA_V2)
                .map_err(schema_err(&self.path))?;
        }
        if version < 3 {
            tx.execute_batch(SCHEMA_V3)
                .map_err(schema_err(&self.path))?;
        }
        if version < 4 {
            tx.execute_batch(SCHEMA_V4)
                .map_err(schema_err(&self.path))?;
        }
        if version < 5 {
            tx.execute_batch(legs::SCHEMA_V5)
                .map_err(schema_err(&self.path))?;
        }
        tx.execute_batch(SCHEMA_V6)
            .map_err(schema_err(&self.path))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(schema_err(&self.path))?;
        tx.commit().map_err(schema_err(&self.path))
    }

    fn import_spill(&mut self) -> Result<SpillImport, CdrError> {
        let spill = spill_path(&self.path);
        let Some(contents) = spill::read(&spill)? else {
            return Ok(SpillImport::default());
        };
        // Rows first: the spill file is removed only once they are committed.
        self.insert_store_rows(&contents.rows)?;
        if !contents.rejected.is_empty() {
            spill::keep_rejected(&rejected_path(&self.path), &contents.rejected)?;
            warn!(
                lines = contents.rejected.len(),
                "CDR spill file had unreadable lines; kept aside"
            );
        }
        spill::remove(&spill)?;
        let import = SpillImport {
            // Records only: event log lines ride along uncounted.
            imported: count_u64(
                contents
                    .rows
                    .iter()
                    .filter(|r| matches!(r, StoreRow::Call(_)))
                    .count(),
            ),
            rejected: count_u64(contents.rejected.len()),
        };
        debug!(imported = import.imported, "CDR spill file imported");
        Ok(import)
    }
}

const SCHEMA_V1: &str = "
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
";

/// Version 2: where the call's recording is, and how long it runs.
const SCHEMA_V2: &str = "
ALTER TABLE call_records ADD COLUMN recording_path TEXT;
ALTER TABLE call_records ADD COLUMN recording_ms INTEGER;
";

/// Version 3: the call's id, as in its logs and events.
const SCHEMA_V3: &str = "
ALTER TABLE call_records ADD COLUMN call_uuid TEXT;
CREATE INDEX call_records_call_uuid ON call_records (call_uuid);
";

/// Version 4: complete records (caller, direction, IVR path, queue times,
/// hold, wrap-up, disposition, transfers) and the agent event log.
const SCHEMA_V4: &str = "
ALTER TABLE call_records ADD COLUMN caller TEXT;
ALTER TABLE call_records ADD COLUMN caller_name TEXT;
ALTER TABLE call_records ADD COLUMN direction TEXT;
ALTER TABLE call_records ADD COLUMN from_agent TEXT;
ALTER TABLE call_records ADD COLUMN ivr_path TEXT;
ALTER TABLE call_records ADD COLUMN queue_entered_at TEXT;
ALTER TABLE call_records ADD COLUMN queue_left_at TEXT;
ALTER TABLE call_records ADD COLUMN hold_ms INTEGER;
ALTER TABLE call_records ADD COLUMN wrapup_ms INTEGER;
ALTER TABLE call_records ADD COLUMN disposition TEXT;
ALTER TABLE call_records ADD COLUMN disposition_note TEXT;
ALTER TABLE call_records ADD COLUMN transfers TEXT;
CREATE INDEX call_records_started_at ON call_records (started_at);
CREATE INDEX call_records_caller ON call_records (caller);
CREATE TABLE agent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    unix_ms INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    agent TEXT,
    event TEXT NOT NULL,
    queue TEXT,
    call TEXT,
    reason TEXT,
    detail TEXT,
    duration_ms INTEGER
);
CREATE INDEX agent_events_at ON agent_events (at);
CREATE INDEX agent_events_call ON agent_events (call);
CREATE UNIQUE INDEX agent_events_once ON agent_events
    (unix_ms, at_ms, event, ifnull(agent, ''), ifnull(queue, ''), ifnull(call, ''));
";

/// Version 6: campaign calls' campaign, contact, attempt and outcome.
const SCHEMA_V6: &str = "
ALTER TABLE call_records ADD COLUMN campaign TEXT;
ALTER TABLE call_records ADD COLUMN campaign_contact INTEGER;
ALTER TABLE call_records ADD COLUMN campaign_attempt INTEGER;
ALTER TABLE call_records ADD COLUMN campaign_outcome TEXT;
CREATE INDEX call_records_campaign ON call_records (campaign);
";

/// SQLite integers are i64: a u64 is stored by its bits, so the full range
/// round-trips (call refs and milliseconds stay far below 2^63 anyway).
fn to_sql_i64(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

fn from_sql_u64(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

fn count_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
