//! SQL of the store beyond the schema and the inserts (`insert`): the
//! columns of a record, and the reads the reports and tests make.

use rusqlite::{params, Connection, Row};

use super::{from_sql_u64, AgentEventRow, CdrRow};

/// Every column of a record, in [`read_record`]'s order.
pub(super) const RECORD_COLUMNS: &str = "call, sip_call_id, trunk, dialled, queue, agent, \
     outcome, rejected_status, hung_up_by, started_at, answered_at, ended_at, wait_ms, \
     talk_ms, offers, recording_path, recording_ms, call_uuid, caller, caller_name, direction, \
     from_agent, ivr_path, queue_entered_at, queue_left_at, hold_ms, transfers, wrapup_ms, \
     disposition, disposition_note, campaign, campaign_contact, campaign_attempt, \
     campaign_outcome";

/// Reads [`RECORD_COLUMNS`] from column `at` on.
pub(super) fn read_record(r: &Row<'_>, at: usize) -> rusqlite::Result<CdrRow> {
    let opt_u64 = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(at + i)?.map(from_sql_u64))
    };
    Ok(CdrRow {
        call: from_sql_u64(r.get(at)?),
        sip_call_id: r.get(at + 1)?,
        trunk: r.get(at + 2)?,
        dialled: r.get(at + 3)?,
        queue: r.get(at + 4)?,
        agent: r.get(at + 5)?,
        outcome: r.get(at + 6)?,
        rejected_status: r.get(at + 7)?,
        hung_up_by: r.get(at + 8)?,
        started_at: r.get(at + 9)?,
        answered_at: r.get(at + 10)?,
        ended_at: r.get(at + 11)?,
        wait_ms: from_sql_u64(r.get(at + 12)?),
        talk_ms: from_sql_u64(r.get(at + 13)?),
        offers: r.get(at + 14)?,
        recording_path: r.get(at + 15)?,
        recording_ms: opt_u64(16)?,
        call_uuid: r.get(at + 17)?,
        caller: r.get(at + 18)?,
        caller_name: r.get(at + 19)?,
        direction: r.get(at + 20)?,
        from_agent: r.get(at + 21)?,
        ivr_path: r.get(at + 22)?,
        queue_entered_at: r.get(at + 23)?,
        queue_left_at: r.get(at + 24)?,
        hold_ms: opt_u64(25)?,
        transfers: r.get(at + 26)?,
        wrapup_ms: opt_u64(27)?,
        disposition: r.get(at + 28)?,
        disposition_note: r.get(at + 29)?,
        campaign: r.get(at + 30)?,
        campaign_contact: r.get(at + 31)?,
        campaign_attempt: r.get(at + 32)?,
        campaign_outcome: r.get(at + 33)?,
        legs: Vec::new(),
    })
}

pub(super) fn agent_events(
    conn: &Connection,
    from: &str,
    to: &str,
    limit: usize,
) -> rusqlite::Result<Vec<AgentEventRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM agent_events WHERE at >= ?1 AND at < ?2 \
         ORDER BY at, id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![from, to, limit], read_event)?;
    rows.collect()
}

/// Each agent's last login or logout line, and last pause, resume or
/// logout line, from `since` (inclusive) to `from` (exclusive), in order:
/// what the agent was doing when a report's window opens. One scan of
/// the window before `from` (the `at` index bounds it).
pub(super) fn agent_states_before(
    conn: &Connection,
    since: &str,
    from: &str,
) -> rusqlite::Result<Vec<AgentEventRow>> {
    // With one max() in a query SQLite takes the bare `id` from the row
    // holding the maximum: the last line by time, then insertion.
    let last = |events: &str| {
        format!(
            "SELECT id FROM (SELECT id, max(at || printf('%020d', id)) FROM agent_events \
             WHERE at >= ?1 AND at < ?2 AND agent IS NOT NULL AND event IN ({events}) \
             GROUP BY agent)"
        )
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM agent_events WHERE id IN ({} UNION {}) ORDER BY at, id",
        last("'login', 'logout'"),
        last("'pause', 'resume', 'logout'"),
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![since, from], read_event)?;
    rows.collect()
}

/// Every column of a log line, in [`read_event`]'s order.
const EVENT_COLUMNS: &str =
    "at, unix_ms, at_ms, agent, event, queue, call, reason, detail, duration_ms";

fn read_event(r: &Row<'_>) -> rusqlite::Result<AgentEventRow> {
    Ok(AgentEventRow {
        at: r.get(0)?,
        unix_ms: from_sql_u64(r.get(1)?),
        at_ms: from_sql_u64(r.get(2)?),
        agent: r.get(3)?,
        event: r.get(4)?,
        queue: r.get(5)?,
        call: r.get(6)?,
        reason: r.get(7)?,
        detail: r.get(8)?,
        duration_ms: r.get::<_, Option<i64>>(9)?.map(from_sql_u64),
    })
}

pub(super) fn records_between(
    conn: &Connection,
    from: &str,
    to: &str,
    limit: usize,
) -> rusqlite::Result<Vec<CdrRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM call_records WHERE started_at >= ?1 AND started_at < ?2 \
         ORDER BY started_at, id LIMIT ?3"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![from, to, limit], |r| read_record(r, 0))?;
    rows.collect()
}
