//! Deleting from the store: records past their retention (a few hundred
//! rows per transaction, so the writer thread never waits long for the
//! lock) and every record of one caller (right to erasure). A record's
//! dependent rows are its agent event log lines (`agent_events.call` is
//! the record's `call_uuid`) and its legs (`call_legs.call_uuid`); they go
//! in the same transaction.

use std::time::SystemTime;

use rusqlite::{params, params_from_iter, Transaction, TransactionBehavior};

use super::{count_u64, rfc3339_utc, CdrError, CdrStore};

/// Rows deleted in one transaction by the retention sweep.
pub const DELETE_BATCH_ROWS_MAX: usize = 500;
/// Records one erasure deletes at most; a caller with more is erased by
/// calling again (the answer says how many went).
pub const ERASE_RECORDS_MAX: usize = 100_000;

/// What one delete removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Call records.
    pub records: u64,
    /// Agent event log lines (of those records, or past retention).
    pub events: u64,
    /// The recording files the deleted records named (not yet removed).
    pub recordings: Vec<String>,
}

impl CdrStore {
    /// Deletes up to `batch` records that ended before `cutoff`, oldest
    /// first, with their event lines; then up to `batch` event lines from
    /// before `cutoff`. Call again until it returns fewer than `batch`
    /// of each.
    pub fn delete_ended_before(
        &mut self,
        cutoff: SystemTime,
        batch: usize,
    ) -> Result<Deleted, CdrError> {
        let cutoff = rfc3339_utc(cutoff);
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let err = |source| CdrError::Delete { source };
        let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate).map_err(err)?;
        let mut deleted = delete_where(
            &tx,
            "ended_at < ?1 ORDER BY ended_at LIMIT ?2",
            params![cutoff, limit],
        )
        .map_err(err)?;
        deleted.events += count_u64(
            tx.execute(
                "DELETE FROM agent_events WHERE id IN \
                 (SELECT id FROM agent_events WHERE at < ?1 ORDER BY at LIMIT ?2)",
                params![cutoff, limit],
            )
            .map_err(err)?,
        );
        tx.commit().map_err(err)?;
        Ok(deleted)
    }

    /// Deletes every record whose caller is `number` (or, for a call out,
    /// whose dialled number is), with its event lines; `number` is matched
    /// with and without a leading `+`. Returns the recording paths the
    /// records named, for the caller to remove.
    pub fn erase_caller(&mut self, number: &str) -> Result<Deleted, CdrError> {
        let bare = number.strip_prefix('+').unwrap_or(number);
        let plus = format!("+{bare}");
        let limit = i64::try_from(ERASE_RECORDS_MAX).unwrap_or(i64::MAX);
        let err = |source| CdrError::Delete { source };
        let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate).map_err(err)?;
        let deleted = delete_where(
            &tx,
            "caller IN (?1, ?2) OR (direction IN ('outbound', 'callback') AND dialled IN (?1, ?2)) LIMIT ?3",
            params![bare, plus, limit],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(deleted)
    }
}

/// Deletes the records `filter` (a WHERE tail over `call_records`) picks,
/// and their event lines, inside `tx`.
fn delete_where(
    tx: &Transaction<'_>,
    filter: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Deleted> {
    let mut picked: Vec<(i64, Option<String>, Option<String>)> = Vec::new();
    {
        let mut stmt = tx.prepare(&format!(
            "SELECT id, call_uuid, recording_path FROM call_records WHERE {filter}"
        ))?;
        let rows = stmt.query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        for row in rows {
            picked.push(row?);
        }
    }
    let mut deleted = Deleted::default();
    let mut del_record = tx.prepare("DELETE FROM call_records WHERE id = ?1")?;
    let mut del_events = tx.prepare("DELETE FROM agent_events WHERE call = ?1")?;
    let mut del_legs = tx.prepare("DELETE FROM call_legs WHERE call_uuid = ?1")?;
    for (id, uuid, recording) in picked {
        deleted.records += count_u64(del_record.execute([id])?);
        if let Some(uuid) = uuid {
            deleted.events += count_u64(del_events.execute(params_from_iter([&uuid]))?);
            del_legs.execute([&uuid])?;
        }
        deleted.recordings.extend(recording);
    }
    Ok(deleted)
}
