//! `DELETE /api/v1/callers/{number}`: the right to erasure. Every call
//! record of the caller goes, with its agent event lines and its recording
//! file; the store work runs on a blocking thread with its own connection.
//! The audit line names the token and the counts but shows the number
//! through [`Private`] only: keeping it in clear in the log would keep
//! what was just erased.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use metrics::counter;
use serde_json::json;
use tracing::warn;

use super::auth::TokenName;
use super::{Api, ApiError, ApiResult};
use crate::call::Private;
use crate::ops::cdr::CdrStore;
use crate::ops::metrics::DATA_DELETED_TOTAL;

/// Digits in a number to erase at most (the longest the API dials).
pub const ERASE_NUMBER_DIGITS_MAX: usize = 32;

pub(super) async fn caller(
    State(api): State<Api>,
    Extension(TokenName(who)): Extension<TokenName>,
    Path(number): Path<String>,
) -> ApiResult {
    check_number(&number)?;
    let path = api.reports.cdr_path.clone();
    let erase = number.clone();
    let (records, recordings) = tokio::task::spawn_blocking(move || {
        let mut store = CdrStore::open_existing(&path)?;
        let deleted = store.erase_caller(&erase)?;
        let removed = deleted
            .recordings
            .iter()
            .filter(|p| remove_recording(p))
            .count();
        Ok::<_, crate::ops::cdr::CdrError>((deleted.records, removed))
    })
    .await
    .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?
    .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
    // Pending callbacks keep the number too.
    let forget = crate::switch::Command::EraseCallbacks {
        number: number.clone(),
    };
    super::run(&api, forget).await?;
    let removed = u64::try_from(recordings).unwrap_or(u64::MAX);
    counter!(DATA_DELETED_TOTAL, "reason" => "erasure", "kind" => "records").increment(records);
    counter!(DATA_DELETED_TOTAL, "reason" => "erasure", "kind" => "recordings").increment(removed);
    warn!(
        token = %who,
        number = %Private(&number),
        records,
        recordings,
        "caller erased by an api request"
    );
    Ok(Json(json!({ "records": records, "recordings": recordings })).into_response())
}

/// 1 to [`ERASE_NUMBER_DIGITS_MAX`] digits, an optional leading `+`.
fn check_number(number: &str) -> Result<(), ApiError> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    if (1..=ERASE_NUMBER_DIGITS_MAX).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(());
    }
    Err(ApiError::BadField {
        field: "number".into(),
        message: format!(
            "expected 1 to {ERASE_NUMBER_DIGITS_MAX} digits with an optional leading +"
        ),
    })
}

/// Whether the file was there and is gone; a failure is logged.
fn remove_recording(path: &str) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(err) => {
            warn!(%err, "erasure: cannot remove a recording");
            false
        }
    }
}
