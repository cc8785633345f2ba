//! The stored shape of a call record: one flat row, computed from the core's
//! [`CallRecord`] and the wall-clock end of the call. Pure: no IO, no clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::legs::LegRow;
use crate::call::{Outcome, Side};
use crate::switch::CallRecord;

/// One call record as the database and the spill file hold it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdrRow {
    /// The switch's call ref (`CallRef.0`).
    pub call: u64,
    pub sip_call_id: String,
    pub trunk: Option<String>,
    /// The DID or extension dialled: a business number, not the caller's.
    pub dialled: String,
    pub queue: Option<String>,
    pub agent: Option<String>,
    /// [`Outcome::label`].
    pub outcome: String,
    /// The callee's final status, for [`Outcome::Rejected`] only.
    pub rejected_status: Option<u16>,
    /// "caller" or "agent", for [`Outcome::Completed`] only.
    pub hung_up_by: Option<String>,
    /// RFC 3339 UTC with milliseconds, so text order is time order.
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: String,
    pub wait_ms: u64,
    pub talk_ms: u64,
    pub offers: u32,
    /// The call's recording (WAV) and its length, when it was recorded.
    /// Absent from spill lines written before schema 2.
    #[serde(default)]
    pub recording_path: Option<String>,
    #[serde(default)]
    pub recording_ms: Option<u64>,
    /// The call's id ([`crate::call::CallUuid`]), as in its log lines and
    /// events. Absent from rows and spill lines written before schema 3.
    #[serde(default)]
    pub call_uuid: Option<String>,
    /// Schema 4 (absent, and NULL, in older rows and spill lines): the
    /// caller's number or user and name, `inbound`/`outbound`/`internal`,
    /// the agent who placed the call, the IVR keys taken (`menu:key`,
    /// comma-separated), when it entered its first and left its last
    /// queue, time on hold, and the transfer chain (comma-separated).
    /// Wrap-up, disposition and note are filled in by the store from the
    /// agent event log.
    #[serde(default)]
    pub caller: Option<String>,
    #[serde(default)]
    pub caller_name: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub from_agent: Option<String>,
    #[serde(default)]
    pub ivr_path: Option<String>,
    #[serde(default)]
    pub queue_entered_at: Option<String>,
    #[serde(default)]
    pub queue_left_at: Option<String>,
    #[serde(default)]
    pub hold_ms: Option<u64>,
    #[serde(default)]
    pub transfers: Option<String>,
    #[serde(default)]
    pub wrapup_ms: Option<u64>,
    #[serde(default)]
    pub disposition: Option<String>,
    #[serde(default)]
    pub disposition_note: Option<String>,
    /// Schema 6 (NULL for other calls and older rows): a campaign call's
    /// campaign, contact index, attempt and outcome (`answered`,
    /// `abandoned`, `machine`, `busy`, `no-answer`, `failed`).
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub campaign_contact: Option<u32>,
    #[serde(default)]
    pub campaign_attempt: Option<u32>,
    #[serde(default)]
    pub campaign_outcome: Option<String>,
    /// Schema 5: the parties the call passed through, in order (table
    /// `call_legs`). Empty in older rows, and in rows read by
    /// [`CdrStore::records_between`](super::CdrStore::records_between).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legs: Vec<LegRow>,
}

/// A row read back from the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The database's own id (autoincrement).
    pub id: i64,
    pub row: CdrRow,
}

impl CdrRow {
    /// Flattens a record; the start and answer stamps are `ended_at` minus
    /// the talk and wait durations.
    pub fn new(record: &CallRecord, ended_at: SystemTime) -> CdrRow {
        let d = &record.detail;
        let rejected_status = match record.outcome {
            Outcome::Rejected(status) | Outcome::AgentRejected(status) => Some(status),
            _ => d.rejected_status,
        };
        let hung_up_by = match record.outcome {
            Outcome::Completed { hung_up_by } => Some(side_label(hung_up_by).to_owned()),
            _ => d.hung_up_by.map(str::to_owned),
        };
        // A call that was torn down at shutdown may have been answered too.
        let answered =
            matches!(record.outcome, Outcome::Completed { .. }) || !record.talk.is_zero();
        let answered_at = sub_saturating(ended_at, record.talk);
        let started_at = sub_saturating(answered_at, record.wait);
        CdrRow {
            call: record.call.0,
            sip_call_id: record.sip_call_id.clone(),
            trunk: record.trunk.clone(),
            dialled: record.dialled.clone(),
            queue: record.queue.clone(),
            agent: record.agent.clone(),
            outcome: record.outcome.label().to_owned(),
            rejected_status,
            hung_up_by,
            started_at: rfc3339_utc(started_at),
            answered_at: answered.then(|| rfc3339_utc(answered_at)),
            ended_at: rfc3339_utc(ended_at),
            wait_ms: millis(record.wait),
            talk_ms: millis(record.talk),
            offers: record.offers,
            recording_path: record
                .recording
                .as_ref()
                .map(|(p, _)| p.display().to_string()),
            recording_ms: record.recording.as_ref().map(|(_, d)| millis(*d)),
            call_uuid: Some(record.uuid.to_string()),
            caller: Some(d.caller.clone()),
            caller_name: d.caller_name.clone(),
            direction: Some(d.direction.label().to_owned()),
            from_agent: record.from_agent.clone(),
            ivr_path: Some(d.ivr_path.join(",")),
            queue_entered_at: d.queue_entered.map(|o| rfc3339_utc(started_at + o)),
            queue_left_at: d.queue_left.map(|o| rfc3339_utc(started_at + o)),
            hold_ms: Some(millis(d.hold)),
            transfers: Some(d.transfers.join(",")),
            wrapup_ms: None,
            disposition: None,
            disposition_note: None,
            campaign: d.campaign.as_ref().map(|c| c.name.clone()),
            campaign_contact: d.campaign.as_ref().map(|c| c.contact),
            campaign_attempt: d.campaign.as_ref().map(|c| c.attempt),
            campaign_outcome: d.campaign.as_ref().map(|c| c.outcome.clone()),
            legs: d
                .legs
                .iter()
                .enumerate()
                .map(|(i, leg)| LegRow::new(i, leg, started_at))
                .collect(),
        }
    }
}

/// The caller is leg A, the agent (or the far end of an outbound call) leg B.
fn side_label(side: Side) -> &'static str {
    match side {
        Side::A => "caller",
        Side::B => "agent",
    }
}

fn sub_saturating(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_sub(d).unwrap_or(UNIX_EPOCH)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Formats as RFC 3339 §5.6 `date-time` in UTC with milliseconds
/// (`2024-03-01T09:30:00.250Z`). Times before 1970 print as the epoch and
/// times after 9999 as its last millisecond: no call ends then, and a fixed
/// width keeps text order equal to time order. Written digit by digit, not
/// through `format!`: the core stamps every record and event line with it.
pub fn rfc3339_utc(t: SystemTime) -> String {
    // 10000-01-01T00:00:00Z, less one millisecond.
    const LAST_MS: u64 = 253_402_300_800_000 - 1;
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ms = u64::try_from(since.as_millis()).map_or(LAST_MS, |ms| ms.min(LAST_MS));
    let secs = ms / 1000;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let mut out = String::with_capacity(24);
    let fields = [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (rem / 3600, 2, ':'),
        (rem % 3600 / 60, 2, ':'),
        (rem % 60, 2, '.'),
        (ms % 1000, 3, 'Z'),
    ];
    for (value, width, then) in fields {
        for place in (0..width).rev() {
            let digit = value / 10u64.pow(place) % 10;
            out.push(char::from(b'0' + digit as u8));
        }
        out.push(then);
    }
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant,
/// "chrono-Compatible Low-Level Date Algorithms", `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallRef;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    fn record(outcome: Outcome, wait: Duration, talk: Duration) -> CallRecord {
        CallRecord {
            call: CallRef(7),
            uuid: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".parse().unwrap(),
            sip_call_id: "a84b4c76e66710@pc33".to_owned(),
            trunk: Some("carrier-1".to_owned()),
            dialled: "+442071234567".to_owned(),
            queue: Some("loans".to_owned()),
            agent: Some("alice".to_owned()),
            outcome,
            wait,
            talk,
            offers: 2,
            recording: None,
            from_agent: None,
            detail: crate::switch::RecordDetail::default(),
        }
    }

    #[test]
    fn rfc3339_prints_epoch_leap_day_and_millis() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:59.999Z
        assert_eq!(
            rfc3339_utc(at(1_709_251_199, 999)),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339_utc(at(1_709_251_200, 0)),
            "2024-03-01T00:00:00.000Z"
        );
        // 2000-12-31 (a century leap year, day 366).
        assert_eq!(rfc3339_utc(at(978_220_800, 5)), "2000-12-31T00:00:00.005Z");
        assert_eq!(
            rfc3339_utc(at(1_796_601_600, 40)),
            "2026-12-07T00:00:00.040Z"
        );
    }

    #[test]
    fn rfc3339_keeps_its_width_before_1970_and_after_9999() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_utc(before), "1970-01-01T00:00:00.000Z");
        let after = at(253_402_300_800, 0) + Duration::from_secs(86_400 * 400);
        assert_eq!(rfc3339_utc(after), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            rfc3339_utc(at(253_402_300_799, 999)),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn rfc3339_clamps_times_before_the_epoch() {
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(rfc3339_utc(before), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn completed_call_stamps_start_and_answer_back_from_the_end() {
        let ended = at(1_709_251_200, 0);
        let rec = record(
            Outcome::Completed {
                hung_up_by: Side::B,
            },
            Duration::from_millis(12_500),
            Duration::from_secs(60),
        );
        let row = CdrRow::new(&rec, ended);
        assert_eq!(row.ended_at, "2024-03-01T00:00:00.000Z");
        assert_eq!(row.answered_at.as_deref(), Some("2024-02-29T23:59:00.000Z"));
        assert_eq!(row.started_at, "2024-02-29T23:58:47.500Z");
        assert_eq!(row.outcome, "completed");
        assert_eq!(row.hung_up_by.as_deref(), Some("agent"));
        assert_eq!(row.rejected_status, None);
        assert_eq!((row.wait_ms, row.talk_ms, row.offers), (12_500, 60_000, 2));
        assert_eq!(row.call, 7);
        assert_eq!(
            row.call_uuid.as_deref(),
            Some("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        );
    }

    #[test]
    fn caller_hang_up_is_labelled_caller() {
        let rec = record(
            Outcome::Completed {
                hung_up_by: Side::A,
            },
            Duration::ZERO,
            Duration::from_secs(1),
        );
        let row = CdrRow::new(&rec, at(100, 0));
        assert_eq!(row.hung_up_by.as_deref(), Some("caller"));
    }

    #[test]
    fn rejected_call_keeps_its_status_and_has_no_answer() {
        let rec = record(
            Outcome::Rejected(403),
            Duration::from_secs(3),
            Duration::ZERO,
        );
        let row = CdrRow::new(&rec, at(1_000, 0));
        assert_eq!(row.outcome, "rejected");
        assert_eq!(row.rejected_status, Some(403));
        assert_eq!(row.hung_up_by, None);
        assert_eq!(row.answered_at, None);
        assert_eq!(row.started_at, "1970-01-01T00:16:37.000Z");
    }

    #[test]
    fn answered_call_cut_at_shutdown_keeps_its_answer_stamp() {
        let rec = record(
            Outcome::Shutdown,
            Duration::from_secs(2),
            Duration::from_secs(5),
        );
        let row = CdrRow::new(&rec, at(1_000, 0));
        assert_eq!(row.answered_at.as_deref(), Some("1970-01-01T00:16:35.000Z"));
        assert_eq!(row.started_at, "1970-01-01T00:16:33.000Z");
    }

    #[test]
    fn durations_longer_than_the_epoch_start_at_the_epoch() {
        let rec = record(Outcome::Abandoned, Duration::from_secs(50), Duration::ZERO);
        let row = CdrRow::new(&rec, at(10, 0));
        assert_eq!(row.started_at, "1970-01-01T00:00:00.000Z");
    }
}
