//! Writing batches: records with their legs, agent event log lines, and
//! the join of each call's wrap-up and disposition from the log. The
//! statements are prepared once per [`Inserter`] and reused by every batch
//! after, so the writer thread parses no SQL per batch or per record.
//! Reads stay in `queries` and `legs`.

use rusqlite::{params, Connection, Statement, Transaction, TransactionBehavior};

use super::{to_sql_i64, AgentEventRow, CdrError, CdrRow, StoreRow};

/// Writes batches into the store it borrows, one transaction each, through
/// statements prepared on first use ([`super::CdrStore::inserter`]).
pub struct Inserter<'c> {
    conn: &'c Connection,
    statements: Option<Statements<'c>>,
}

impl std::fmt::Debug for Inserter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inserter")
            .field("prepared", &self.statements.is_some())
            .finish_non_exhaustive()
    }
}

impl<'c> Inserter<'c> {
    pub(super) fn new(conn: &'c Connection) -> Inserter<'c> {
        Inserter {
            conn,
            statements: None,
        }
    }

    /// Stores records and agent event lines in one transaction: all or
    /// none. A row already stored is skipped (see
    /// [`super::CdrStore::insert_store_rows`]).
    pub fn insert(&mut self, rows: &[StoreRow]) -> Result<(), CdrError> {
        let insert_err = |source| CdrError::Insert { source };
        // Put back only after a commit: after a failed batch the next one
        // prepares afresh, so nothing of the failure carries over.
        let mut statements = match self.statements.take() {
            Some(s) => s,
            None => Statements::prepare(self.conn).map_err(insert_err)?,
        };
        // IMMEDIATE takes the write lock up front, under the busy timeout,
        // instead of failing on a stale read snapshot mid-transaction.
        // Unchecked (no `&mut Connection`): the inserter begins and ends
        // its transaction within this call, so none is ever nested.
        let tx = Transaction::new_unchecked(self.conn, TransactionBehavior::Immediate)
            .map_err(insert_err)?;
        statements.insert(rows).map_err(insert_err)?;
        tx.commit().map_err(insert_err)?;
        self.statements = Some(statements);
        Ok(())
    }
}

struct Statements<'c> {
    call: Statement<'c>,
    leg: Statement<'c>,
    event: Statement<'c>,
    logged: Statement<'c>,
    fill_call: Statement<'c>,
    fill_legs: Statement<'c>,
}

impl<'c> Statements<'c> {
    fn prepare(conn: &'c Connection) -> rusqlite::Result<Statements<'c>> {
        Ok(Statements {
            call: conn.prepare(INSERT_CALL)?,
            leg: conn.prepare(INSERT_LEG)?,
            event: conn.prepare(INSERT_EVENT)?,
            logged: conn.prepare(LOGGED)?,
            fill_call: conn.prepare(FILL_CALL)?,
            fill_legs: conn.prepare(FILL_LEGS)?,
        })
    }

    /// Records first, then log lines, each in order; then every call
    /// either touched takes what the log holds about it (a line may land
    /// before its record when the record went through the spill file).
    fn insert(&mut self, rows: &[StoreRow]) -> rusqlite::Result<()> {
        let mut touched: Vec<&str> = Vec::new();
        for row in rows {
            if let StoreRow::Call(r) = row {
                self.insert_call(r)?;
                touched.extend(r.call_uuid.as_deref());
            }
        }
        for row in rows {
            if let StoreRow::Agent(e) = row {
                self.insert_event(e)?;
                if e.event == "wrapup_end" || e.event == "disposition" {
                    touched.extend(e.call.as_deref());
                }
            }
        }
        // The join reads the log only, so once per call is enough.
        touched.sort_unstable();
        touched.dedup();
        touched.into_iter().try_for_each(|call| self.fill_in(call))
    }

    /// A row already stored (same call ref, Call-ID and end: a spill
    /// imported twice) is skipped with its legs.
    fn insert_call(&mut self, row: &CdrRow) -> rusqlite::Result<()> {
        let inserted = self.call.execute(params![
            to_sql_i64(row.call),
            row.sip_call_id,
            row.trunk,
            row.dialled,
            row.queue,
            row.agent,
            row.outcome,
            row.rejected_status,
            row.hung_up_by,
            row.started_at,
            row.answered_at,
            row.ended_at,
            to_sql_i64(row.wait_ms),
            to_sql_i64(row.talk_ms),
            row.offers,
            row.recording_path,
            row.recording_ms.map(to_sql_i64),
            row.call_uuid,
            row.caller,
            row.caller_name,
            row.direction,
            row.from_agent,
            row.ivr_path,
            row.queue_entered_at,
            row.queue_left_at,
            row.hold_ms.map(to_sql_i64),
            row.transfers,
            row.wrapup_ms.map(to_sql_i64),
            row.disposition,
            row.disposition_note,
            row.campaign,
            row.campaign_contact,
            row.campaign_attempt,
            row.campaign_outcome,
        ])?;
        let (1, Some(call)) = (inserted, &row.call_uuid) else {
            return Ok(());
        };
        for l in &row.legs {
            self.leg.execute(params![
                call,
                l.seq,
                l.party,
                l.role,
                l.via,
                l.started_at,
                l.answered_at,
                l.ended_at,
                l.outcome,
                l.wrapup_ms.map(to_sql_i64),
                l.disposition,
                l.disposition_note,
                l.recording_offset_ms.map(to_sql_i64),
                l.recording_ms.map(to_sql_i64),
            ])?;
        }
        Ok(())
    }

    /// A line already stored (same instant, event, agent, queue and call)
    /// is skipped, so a spill file imported twice adds nothing.
    fn insert_event(&mut self, e: &AgentEventRow) -> rusqlite::Result<()> {
        self.event.execute(params![
            e.at,
            to_sql_i64(e.unix_ms),
            to_sql_i64(e.at_ms),
            e.agent,
            e.event,
            e.queue,
            e.call,
            e.reason,
            e.detail,
            e.duration_ms.map(to_sql_i64),
        ])?;
        Ok(())
    }

    /// Copies the call's wrap-up and disposition from the log into its
    /// record and its agents' legs.
    fn fill_in(&mut self, call: &str) -> rusqlite::Result<()> {
        // Both updates keep every column as it is when the log has no
        // wrap-up end or disposition for the call, as for most records,
        // which land before their agent's wrap-up: one probe skips them.
        if !self.logged.exists([call])? {
            return Ok(());
        }
        self.fill_call.execute([call])?;
        self.fill_legs.execute([call])?;
        Ok(())
    }
}

/// Every column of `super::queries::RECORD_COLUMNS` (a test checks).
const INSERT_CALL: &str = "INSERT OR IGNORE INTO call_records (call, sip_call_id, trunk, \
     dialled, queue, agent, outcome, rejected_status, hung_up_by, started_at, answered_at, \
     ended_at, wait_ms, talk_ms, offers, recording_path, recording_ms, call_uuid, caller, \
     caller_name, direction, from_agent, ivr_path, queue_entered_at, queue_left_at, hold_ms, \
     transfers, wrapup_ms, disposition, disposition_note, campaign, campaign_contact, \
     campaign_attempt, campaign_outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
     ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, \
     ?28, ?29, ?30, ?31, ?32, ?33, ?34)";

/// The call's id, then `super::legs::LEG_COLUMNS` (a test checks).
const INSERT_LEG: &str = "INSERT OR IGNORE INTO call_legs (call_uuid, seq, party, role, via, \
     started_at, answered_at, ended_at, outcome, wrapup_ms, disposition, disposition_note, \
     recording_offset_ms, recording_ms) VALUES \
     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

const INSERT_EVENT: &str = "INSERT OR IGNORE INTO agent_events (at, unix_ms, at_ms, agent, \
     event, queue, call, reason, detail, duration_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Whether the log holds anything [`FILL_CALL`] or [`FILL_LEGS`] copies.
const LOGGED: &str = "SELECT 1 FROM agent_events \
     WHERE call = ?1 AND event IN ('wrapup_end', 'disposition')";

/// The latest wrap-up length and disposition of the call, into its record.
const FILL_CALL: &str = "UPDATE call_records SET
       wrapup_ms = coalesce((SELECT duration_ms FROM agent_events
           WHERE call = ?1 AND event = 'wrapup_end' ORDER BY id DESC LIMIT 1), wrapup_ms),
       disposition_note = CASE WHEN EXISTS (SELECT 1 FROM agent_events
           WHERE call = ?1 AND event = 'disposition')
         THEN (SELECT detail FROM agent_events WHERE call = ?1 AND event = 'disposition'
           ORDER BY id DESC LIMIT 1)
         ELSE disposition_note END,
       disposition = coalesce((SELECT reason FROM agent_events
           WHERE call = ?1 AND event = 'disposition' ORDER BY id DESC LIMIT 1), disposition)
     WHERE call_uuid = ?1";

/// Each answered agent leg takes the first wrap-up end and disposition
/// its agent logged for the call from the leg's start on: an agent the
/// call came back to gets each of their wrap-ups on its own leg.
const FILL_LEGS: &str = "UPDATE call_legs SET
       wrapup_ms = coalesce((SELECT duration_ms FROM agent_events e
           WHERE e.call = ?1 AND e.event = 'wrapup_end' AND e.agent = call_legs.party
           AND e.at >= call_legs.started_at ORDER BY e.id LIMIT 1), wrapup_ms),
       disposition = coalesce((SELECT reason FROM agent_events e
           WHERE e.call = ?1 AND e.event = 'disposition' AND e.agent = call_legs.party
           AND e.at >= call_legs.started_at ORDER BY e.id LIMIT 1), disposition),
       disposition_note = coalesce((SELECT detail FROM agent_events e
           WHERE e.call = ?1 AND e.event = 'disposition' AND e.agent = call_legs.party
           AND e.at >= call_legs.started_at ORDER BY e.id LIMIT 1), disposition_note)
     WHERE call_uuid = ?1 AND answered_at IS NOT NULL AND role != 'outside'";

#[cfg(test)]
mod tests {
    use super::*;

    /// The column list between the first parentheses of an INSERT.
    fn columns(sql: &str) -> String {
        let open = sql.find('(').expect("an INSERT names its columns");
        let close = sql.find(')').expect("an INSERT names its columns");
        sql[open + 1..close]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn words(list: &str) -> String {
        list.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn inserts_name_the_columns_the_reads_read() {
        assert_eq!(
            columns(INSERT_CALL),
            words(super::super::queries::RECORD_COLUMNS)
        );
        assert_eq!(
            columns(INSERT_LEG),
            format!("call_uuid, {}", words(super::super::legs::LEG_COLUMNS))
        );
    }

    #[test]
    fn statements_prepare_against_the_current_schema() {
        let dir =
            std::env::temp_dir().join(format!("switchyard-cdr-insert-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = super::super::CdrStore::open(&dir.join("cdr.sqlite")).unwrap();
        Statements::prepare(&store.conn).unwrap();
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
