//! `/api/v1/dnc`: the do-not-call list. `GET` gives its size, and a page
//! of numbers with `?limit=` (and `offset=`); `POST {"number": ...}` lists
//! a number, read into E.164 as the `[dnc]` list files are (400
//! `bad_number` when it is not one); `DELETE /api/v1/dnc/{number}` unlists
//! a number the API listed. Numbers are private: listing them needs a
//! supervisor, unlisting an admin, and the audit lines show them redacted.

use std::collections::HashMap;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use tracing::info;

use super::auth::TokenName;
use super::{body, run, Api, ApiError, ApiResult};
use crate::call::Private;
use crate::switch::{Command, Reply};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listed {
    number: String,
}

pub(super) async fn list(
    State(api): State<Api>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let number = |key: &str| -> Result<Option<usize>, ApiError> {
        q.get(key)
            .map(|v| {
                v.parse().map_err(|_| ApiError::BadField {
                    field: key.to_string(),
                    message: format!("{v:?} is not a count"),
                })
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let limit = number("limit")?;
    match run(&api, Command::ListDnc { offset, limit }).await? {
        Reply::Dnc { count, numbers } => {
            let mut out = json!({ "count": count });
            if let Some(numbers) = numbers {
                out["offset"] = json!(offset);
                out["numbers"] = json!(numbers);
            }
            Ok(Json(out).into_response())
        }
        other => unreachable!("a DNC read replies with the list, not {other:?}"),
    }
}

pub(super) async fn add(
    State(api): State<Api>,
    Extension(TokenName(who)): Extension<TokenName>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let Listed { number } = body(b)?;
    let number = changed(run(&api, Command::AddDnc { number }).await?);
    info!(token = %who, number = %Private(&number), "do-not-call number listed");
    Ok(Json(json!({ "number": number, "listed": true })).into_response())
}

pub(super) async fn remove(
    State(api): State<Api>,
    Extension(TokenName(who)): Extension<TokenName>,
    Path(number): Path<String>,
) -> ApiResult {
    let number = changed(run(&api, Command::RemoveDnc { number }).await?);
    info!(token = %who, number = %Private(&number), "do-not-call number unlisted");
    Ok(Json(json!({ "number": number, "listed": false })).into_response())
}

fn changed(reply: Reply) -> String {
    match reply {
        Reply::DncNumber { number } => number,
        other => unreachable!("a DNC change replies with its number, not {other:?}"),
    }
}
