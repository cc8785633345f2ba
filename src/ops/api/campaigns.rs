//! `/api/v1/campaigns`: list, one, create (the settings of a
//! `[[campaigns]]` entry as JSON), start/pause/stop, preview answers
//! (accept or skip, by the agent offered the contact), and contact uploads
//! as CSV (`text/csv`, a header row naming `number`) or JSON (an array of
//! objects, or `{"contacts": [...]}`, each with `number` and any other
//! fields as columns). JSON rows become CSV rows, so both read the same
//! way and a bad row is named by its place in the upload.

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use super::{body, done, found, list, run, Api, ApiError, ApiResult};
use crate::switch::{CampaignMove, Command, Reply};

pub async fn campaigns(State(api): State<Api>) -> ApiResult {
    list(&api, Command::ListCampaigns, "campaigns").await
}

pub async fn campaign(State(api): State<Api>, Path(name): Path<String>) -> ApiResult {
    let reply = run(&api, Command::ListCampaigns).await?;
    let all = match reply {
        Reply::Campaigns { campaigns } => serde_json::to_value(campaigns).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    found(&all, "name", "campaign", &name)
}

/// 201 with the new campaign; 400 naming the key a setting is wrong in
/// (checked as a `[[campaigns]]` entry is), 404 for a queue or trunk the
/// switch lacks, 409 for a name taken.
pub async fn create(State(api): State<Api>, b: Result<Bytes, BytesRejection>) -> ApiResult {
    let bytes = b.map_err(|r| ApiError::BadField {
        field: "body".into(),
        message: r.body_text(),
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::BadField {
        field: "body".into(),
        message: e.to_string(),
    })?;
    let command = Command::CreateCampaign { settings: value };
    let campaign = match run(&api, command).await? {
        Reply::Campaigns { mut campaigns } if !campaigns.is_empty() => campaigns.remove(0),
        other => unreachable!("a create replies with the campaign, not {other:?}"),
    };
    Ok((StatusCode::CREATED, Json(json!(campaign))).into_response())
}

pub async fn start(State(api): State<Api>, Path(name): Path<String>) -> ApiResult {
    control(&api, name, CampaignMove::Start).await
}

pub async fn pause(State(api): State<Api>, Path(name): Path<String>) -> ApiResult {
    control(&api, name, CampaignMove::Pause).await
}

pub async fn stop(State(api): State<Api>, Path(name): Path<String>) -> ApiResult {
    control(&api, name, CampaignMove::Stop).await
}

async fn control(api: &Api, name: String, action: CampaignMove) -> ApiResult {
    done(api, Command::CampaignControl { name, action }).await
}

/// Who answers a preview: the agent it was offered to.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    agent: String,
}

/// Preview mode: the offered agent accepts the contact (it is dialled).
pub async fn preview_accept(
    State(api): State<Api>,
    Path((name, contact)): Path<(String, u32)>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    preview(&api, name, contact, b, true).await
}

/// Preview mode: the offered agent skips the contact (it waits for later).
pub async fn preview_skip(
    State(api): State<Api>,
    Path((name, contact)): Path<(String, u32)>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    preview(&api, name, contact, b, false).await
}

async fn preview(
    api: &Api,
    name: String,
    contact: u32,
    b: Result<Bytes, BytesRejection>,
    accept: bool,
) -> ApiResult {
    let PreviewBody { agent } = body(b)?;
    let command = Command::PreviewAnswer {
        name,
        contact,
        agent,
        accept,
    };
    done(api, command).await
}

/// 200 with how many contacts were taken; 400 naming the row and field
/// of the first bad one (nothing is taken then).
pub async fn contacts(
    State(api): State<Api>,
    Path(name): Path<String>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let bytes = b.map_err(|r| ApiError::BadField {
        field: "body".into(),
        message: r.body_text(),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::BadField {
        field: "body".into(),
        message: "the body is not UTF-8".into(),
    })?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let csv = if json {
        json_to_csv(text)?
    } else {
        text.to_string()
    };
    let added = match run(&api, Command::AddContacts { name, csv }).await? {
        Reply::ContactsAdded { added } => added,
        other => unreachable!("an upload replies with its count, not {other:?}"),
    };
    Ok(Json(json!({ "added": added })).into_response())
}

/// JSON contacts as CSV: the columns are every key seen (`number` first),
/// each field quoted. Row `i` of the array is line `i + 2` of the CSV.
fn json_to_csv(text: &str) -> Result<String, ApiError> {
    let bad = |field: &str, message: String| ApiError::BadField {
        field: field.to_string(),
        message,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| bad("body", e.to_string()))?;
    let rows = match &value {
        Value::Array(rows) => rows,
        Value::Object(o) => match o.get("contacts") {
            Some(Value::Array(rows)) => rows,
            _ => return Err(bad("contacts", "an array of contacts is expected".into())),
        },
        _ => return Err(bad("body", "an array of contacts is expected".into())),
    };
    let mut columns = vec!["number".to_string()];
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(o) = row else {
            return Err(bad(
                &format!("contacts[{i}]"),
                "a contact is an object".into(),
            ));
        };
        for key in o.keys() {
            if !columns.iter().any(|c| c.eq_ignore_ascii_case(key)) {
                columns.push(key.to_lowercase());
            }
        }
    }
    let mut csv = columns.join(",");
    csv.push('\n');
    for (i, row) in rows.iter().enumerate() {
        let fields: Result<Vec<String>, ApiError> = columns
            .iter()
            .map(|c| match row.get(c) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(quote(s)),
                Some(Value::Number(n)) => Ok(quote(&n.to_string())),
                Some(_) => Err(bad(
                    &format!("contacts[{i}].{c}"),
                    "a string is expected".into(),
                )),
            })
            .collect();
        csv.push_str(&fields?.join(","));
        csv.push('\n');
    }
    Ok(csv)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\"").replace(['\r', '\n'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_contacts_become_a_csv_list_with_every_key_as_a_column() {
        let csv = json_to_csv(
            r#"[{"number": "5551001", "name": "Jo \"J\""}, {"number": 5551002, "plan": "gold"}]"#,
        )
        .unwrap();
        assert_eq!(
            csv,
            "number,name,plan\n\"5551001\",\"Jo \"\"J\"\"\",\n\"5551002\",,\"gold\"\n"
        );
        let err = json_to_csv(r#"{"contacts": [{"number": ["x"]}]}"#).unwrap_err();
        assert_eq!(err.to_string(), "contacts[0].number: a string is expected");
        assert!(json_to_csv("{}").is_err());
    }
}
