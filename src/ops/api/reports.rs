//! `GET /api/v1/reports/queues` and `/reports/agents`: read the window's
//! call records and agent event log from SQLite on a blocking thread
//! (never on the async workers), compute with the pure `ops::report`, and
//! answer JSON, or CSV for `Accept: text/csv`.

#![allow(clippy::disallowed_methods)] // a driver: reads the wall clock for the default window

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use super::{Api, ApiError, ApiResult};
use crate::ops::cdr::CdrStore;
use crate::ops::report::{self, Window, FCR_WINDOWS, INTERVALS_MAX};

/// Most records or log lines one report reads; a wider window is refused.
pub const REPORT_ROWS_MAX: usize = 1_000_000;
/// The window when `from` is not given: the last day.
const WINDOW_DEFAULT: Duration = Duration::from_secs(24 * 3600);
/// How far before `from` the agent report looks for the login or pause
/// an agent was in when the window opened.
pub const AGENT_STATE_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where the reports read from, and each queue's service-level threshold.
#[derive(Debug, Clone)]
pub struct ReportSource {
    pub cdr_path: PathBuf,
    pub thresholds: HashMap<String, Duration>,
}

pub(super) async fn queues(
    State(api): State<Api>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let window = window(&q)?;
    let interval = match q.get("interval") {
        None => None,
        Some(text) => Some(interval(text, window)?),
    };
    let source = api.reports.clone();
    let rows = read(
        source.cdr_path.clone(),
        window,
        false,
        move |records, events| {
            report::queue_report(records, events, window, interval, &source.thresholds)
        },
    )
    .await?;
    Ok(answer(&headers, window, "queues", &rows))
}

pub(super) async fn agents(
    State(api): State<Api>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let window = window(&q)?;
    let path = api.reports.cdr_path.clone();
    let rows = read(path, window, true, move |records, events| {
        report::agent_report(records, events, window)
    })
    .await?;
    Ok(answer(&headers, window, "agents", &rows))
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::BadField {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn window(q: &HashMap<String, String>) -> Result<Window, ApiError> {
    let stamp = |field: &str| -> Result<Option<u64>, ApiError> {
        q.get(field)
            .map(|t| {
                report::parse_ms(t).ok_or_else(|| {
                    bad(
                        field,
                        format!("{t:?} is not a UTC time like 2024-03-01T09:00:00Z"),
                    )
                })
            })
            .transpose()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let to_ms = stamp("to")?.unwrap_or(now);
    let default_from = to_ms.saturating_sub(WINDOW_DEFAULT.as_millis() as u64);
    let from_ms = stamp("from")?.unwrap_or(default_from);
    if from_ms >= to_ms {
        return Err(bad("from", "must be before `to`"));
    }
    Ok(Window { from_ms, to_ms })
}

fn interval(text: &str, window: Window) -> Result<Duration, ApiError> {
    let d = crate::config::parse_duration(text).map_err(|e| bad("interval", e.to_string()))?;
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms < 60_000 {
        return Err(bad("interval", "at least 1m"));
    }
    if (window.to_ms - window.from_ms).div_ceil(ms) > INTERVALS_MAX {
        return Err(bad(
            "interval",
            format!("more than {INTERVALS_MAX} intervals"),
        ));
    }
    Ok(d)
}

/// Opens the store read-only on a blocking thread: the window's log, and
/// its records plus the week after (for first-call resolution). With
/// `agent_states`, the log starts with each agent's state lines from
/// before the window ([`AGENT_STATE_LOOKBACK`]).
async fn read<T: Send + 'static>(
    path: PathBuf,
    window: Window,
    agent_states: bool,
    compute: impl FnOnce(&[crate::ops::cdr::CdrRow], &[crate::ops::cdr::AgentEventRow]) -> T
        + Send
        + 'static,
) -> Result<T, ApiError> {
    let unavailable = |e: String| ApiError::StoreUnavailable(e);
    tokio::task::spawn_blocking(move || {
        let store = CdrStore::open_read_only(&path).map_err(|e| unavailable(e.to_string()))?;
        let from = report::format_ms(window.from_ms);
        let to = report::format_ms(window.to_ms);
        let fcr_end = window.to_ms + FCR_WINDOWS[FCR_WINDOWS.len() - 1].1.as_millis() as u64;
        let limit = REPORT_ROWS_MAX + 1;
        // Records that started up to a day before may have log lines inside.
        let records_from = report::format_ms(window.from_ms.saturating_sub(86_400_000));
        let records = store
            .records_between(&records_from, &report::format_ms(fcr_end), limit)
            .map_err(|e| unavailable(e.to_string()))?;
        let mut events = Vec::new();
        if agent_states {
            let lookback = u64::try_from(AGENT_STATE_LOOKBACK.as_millis()).unwrap_or(u64::MAX);
            let since = report::format_ms(window.from_ms.saturating_sub(lookback));
            events = store
                .agent_states_before(&since, &from)
                .map_err(|e| unavailable(e.to_string()))?;
        }
        events.extend(
            store
                .agent_events(&from, &to, limit)
                .map_err(|e| unavailable(e.to_string()))?,
        );
        if records.len() > REPORT_ROWS_MAX || events.len() > REPORT_ROWS_MAX {
            return Err(bad(
                "from",
                format!("the window holds over {REPORT_ROWS_MAX} rows"),
            ));
        }
        Ok(compute(&records, &events))
    })
    .await
    .map_err(|e| unavailable(e.to_string()))?
}

fn answer<T: Serialize>(headers: &HeaderMap, window: Window, key: &str, rows: &[T]) -> Response {
    let rows: Vec<Value> = rows.iter().map(|r| json!(r)).collect();
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        return (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            csv(&rows),
        )
            .into_response();
    }
    Json(json!({
        "from": report::format_ms(window.from_ms),
        "to": report::format_ms(window.to_ms),
        key: rows,
    }))
    .into_response()
}

/// One header line (the first row's fields) and a line per row; maps
/// print as `key=value;…`, nulls as empty cells (RFC 4180 quoting).
pub fn csv(rows: &[Value]) -> String {
    let Some(Value::Object(first)) = rows.first() else {
        return String::new();
    };
    let columns: Vec<&String> = first.keys().collect();
    let mut out = columns
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    for row in rows {
        let cells: Vec<String> = columns.iter().map(|c| cell(&row[c.as_str()])).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(";"),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}
