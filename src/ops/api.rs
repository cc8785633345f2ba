//! The HTTP control API under `/api/v1`: JSON in and out, a user of the
//! core's two words only — commands through [`CommandSender`], events
//! through the ring in [`super::sse`]. Paths are a contract (issue 11);
//! `openapi.json` beside this file describes them and a test checks it
//! against [`ROUTES`].

mod auth;
mod campaigns;
mod dnc;
mod erase;
mod error;
mod reports;
mod views;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

pub use auth::{require, required_role, TokenName, Tokens};
pub use error::ApiError;
pub use reports::{csv, ReportSource, REPORT_ROWS_MAX};

use tokio::sync::Semaphore;

use super::board::AgentBoard;
use super::reload::Reloader;
use super::sse::{self, EventRing};
use crate::call::CallUuid;
use crate::config::Config;
use crate::run::{CommandSender, EventStream};
use crate::switch::{Command, Reply};

/// Largest request body taken; larger gets 413.
pub const API_BODY_BYTES_MAX: usize = 64 * 1024;

/// The OpenAPI 3 document, written by hand.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Every route as (method, path in OpenAPI's `{param}` form).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/agents"),
    ("get", "/api/v1/agents/{id}"),
    ("post", "/api/v1/agents/{id}/login"),
    ("post", "/api/v1/agents/{id}/logout"),
    ("post", "/api/v1/agents/{id}/pause"),
    ("post", "/api/v1/agents/{id}/resume"),
    ("post", "/api/v1/agents/{id}/wrapup/end"),
    ("put", "/api/v1/agents/{id}/skills"),
    ("get", "/api/v1/queues"),
    ("get", "/api/v1/queues/{name}"),
    ("get", "/api/v1/campaigns"),
    ("post", "/api/v1/campaigns"),
    ("get", "/api/v1/campaigns/{name}"),
    ("post", "/api/v1/campaigns/{name}/start"),
    ("post", "/api/v1/campaigns/{name}/pause"),
    ("post", "/api/v1/campaigns/{name}/stop"),
    ("post", "/api/v1/campaigns/{name}/contacts"),
    ("post", "/api/v1/campaigns/{name}/preview/{contact}/accept"),
    ("post", "/api/v1/campaigns/{name}/preview/{contact}/skip"),
    ("get", "/api/v1/dnc"),
    ("post", "/api/v1/dnc"),
    ("delete", "/api/v1/dnc/{number}"),
    ("get", "/api/v1/calls"),
    ("post", "/api/v1/calls"),
    ("get", "/api/v1/calls/{id}"),
    ("post", "/api/v1/calls/{id}/hangup"),
    ("post", "/api/v1/calls/{id}/transfer"),
    ("post", "/api/v1/calls/{id}/consult"),
    ("post", "/api/v1/calls/{id}/consult/complete"),
    ("post", "/api/v1/calls/{id}/consult/cancel"),
    ("post", "/api/v1/calls/{id}/consult/conference"),
    ("post", "/api/v1/calls/{id}/conference"),
    ("get", "/api/v1/calls/{id}/parties"),
    ("post", "/api/v1/calls/{id}/parties/{party}"),
    ("delete", "/api/v1/calls/{id}/parties/{party}"),
    ("post", "/api/v1/calls/{id}/escalate"),
    ("post", "/api/v1/calls/{id}/takeover"),
    ("post", "/api/v1/calls/{id}/disposition"),
    ("get", "/api/v1/reports/queues"),
    ("get", "/api/v1/reports/agents"),
    ("get", "/api/v1/events"),
    ("post", "/api/v1/reload"),
    ("get", "/api/v1/trunks"),
    ("get", "/api/v1/bans"),
    ("delete", "/api/v1/bans/{ip}"),
    ("delete", "/api/v1/callers/{number}"),
    ("get", "/api/v1/openapi.json"),
];

/// What the handlers share.
#[derive(Clone)]
struct Api {
    commands: CommandSender,
    events: Arc<EventRing>,
    board: Arc<AgentBoard>,
    /// Reads and applies the dialplan file.
    reloader: Arc<Reloader>,
    /// Event stream keep-alives: well inside the idle timeout.
    keepalive: Duration,
    /// One permit per event stream ([`sse::SSE_CLIENTS_MAX`]).
    streams: Arc<Semaphore>,
    /// The store and thresholds the reports read.
    reports: Arc<ReportSource>,
}

type ApiResult = Result<Response, ApiError>;

/// The `/api/v1` routes, behind the bearer-token check.
pub fn router(
    commands: CommandSender,
    events: EventStream,
    tokens: Arc<Tokens>,
    reloader: Arc<Reloader>,
    config: &Config,
) -> Router {
    let ring = EventRing::new();
    let board = Arc::new(AgentBoard::default());
    let seen = board.clone();
    ring.feed(events, move |e| seen.observe(e));
    let api = Api {
        commands,
        events: ring,
        board,
        reloader,
        keepalive: config.api.idle_timeout / 2,
        streams: Arc::new(Semaphore::new(sse::SSE_CLIENTS_MAX)),
        reports: Arc::new(ReportSource {
            cdr_path: config.switch.cdr_path.clone(),
            thresholds: config
                .queues
                .iter()
                .map(|q| (q.name.clone(), q.service_level.within))
                .collect(),
        }),
    };
    Router::new()
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/agents/{id}", get(agent))
        .route("/api/v1/agents/{id}/login", post(login))
        .route("/api/v1/agents/{id}/logout", post(logout))
        .route("/api/v1/agents/{id}/pause", post(pause))
        .route("/api/v1/agents/{id}/resume", post(resume))
        .route("/api/v1/agents/{id}/wrapup/end", post(end_wrap_up))
        .route("/api/v1/agents/{id}/skills", put(skills))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/queues/{name}", get(queue))
        .route("/api/v1/calls", get(calls).post(originate))
        .route("/api/v1/calls/{id}", get(call))
        .route("/api/v1/calls/{id}/hangup", post(hang_up))
        .route("/api/v1/calls/{id}/transfer", post(transfer))
        .route("/api/v1/calls/{id}/consult", post(consult))
        .route(
            "/api/v1/calls/{id}/consult/complete",
            post(consult_complete),
        )
        .route("/api/v1/calls/{id}/consult/cancel", post(consult_cancel))
        .route(
            "/api/v1/calls/{id}/consult/conference",
            post(consult_conference),
        )
        .route("/api/v1/calls/{id}/conference", post(conference))
        .route("/api/v1/calls/{id}/parties", get(parties))
        .route(
            "/api/v1/calls/{id}/parties/{party}",
            post(set_party).delete(drop_party),
        )
        .route("/api/v1/calls/{id}/escalate", post(escalate))
        .route("/api/v1/calls/{id}/takeover", post(takeover))
        .route("/api/v1/calls/{id}/disposition", post(disposition))
        .route("/api/v1/reports/queues", get(reports::queues))
        .route("/api/v1/reports/agents", get(reports::agents))
        .route("/api/v1/events", get(event_stream))
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/trunks", get(trunks))
        .route("/api/v1/bans", get(bans))
        .route("/api/v1/bans/{ip}", delete(lift_ban))
        .route("/api/v1/callers/{number}", delete(erase::caller))
        .route(
            "/api/v1/campaigns",
            get(campaigns::campaigns).post(campaigns::create),
        )
        .route("/api/v1/campaigns/{name}", get(campaigns::campaign))
        .route("/api/v1/campaigns/{name}/start", post(campaigns::start))
        .route("/api/v1/campaigns/{name}/pause", post(campaigns::pause))
        .route("/api/v1/campaigns/{name}/stop", post(campaigns::stop))
        .route(
            "/api/v1/campaigns/{name}/contacts",
            post(campaigns::contacts),
        )
        .route(
            "/api/v1/campaigns/{name}/preview/{contact}/accept",
            post(campaigns::preview_accept),
        )
        .route(
            "/api/v1/campaigns/{name}/preview/{contact}/skip",
            post(campaigns::preview_skip),
        )
        .route("/api/v1/dnc", get(dnc::list).post(dnc::add))
        .route("/api/v1/dnc/{number}", delete(dnc::remove))
        .route("/api/v1/openapi.json", get(openapi))
        .layer(axum::middleware::from_fn_with_state(tokens, auth::require))
        .layer(DefaultBodyLimit::max(API_BODY_BYTES_MAX))
        .with_state(api)
}

/// A JSON body, or 413/400 naming the field that is wrong. An empty body
/// reads as `{}`.
fn body<T: DeserializeOwned>(bytes: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = bytes.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge {
            max: API_BODY_BYTES_MAX,
        },
        _ => ApiError::BadField {
            field: "body".into(),
            message: r.body_text(),
        },
    })?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        // A missing or unknown field is reported at its parent: name it
        // from the message.
        let named = message.starts_with("missing field") || message.starts_with("unknown field");
        let field = match (path.as_str(), message.split('`').nth(1)) {
            ("." | "?", Some(name)) if named => name.to_string(),
            ("." | "?", _) => "body".to_string(),
            _ => path,
        };
        ApiError::BadField { field, message }
    })
}

async fn run(api: &Api, command: Command) -> Result<Reply, ApiError> {
    Ok(api.commands.send(command).await?)
}

async fn done(api: &Api, command: Command) -> ApiResult {
    run(api, command).await?;
    Ok(Json(json!({ "ok": true })).into_response())
}

fn reply_json(reply: Reply, key: &str) -> Value {
    let mut value = serde_json::to_value(reply).unwrap_or(Value::Null);
    value.get_mut(key).map(Value::take).unwrap_or(Value::Null)
}

/// The one entry of a list reply whose `field` is `id`, or 404.
async fn one(api: &Api, command: Command, list: &str, what: &'static str, id: &str) -> ApiResult {
    let all = reply_json(run(api, command).await?, list);
    found(&all, "id", what, id)
}

/// The entry of `all` whose `field` is `id`, or 404.
fn found(all: &Value, field: &str, what: &'static str, id: &str) -> ApiResult {
    let found = all
        .as_array()
        .and_then(|items| items.iter().find(|i| i[field] == id).cloned());
    match found {
        Some(item) => Ok(Json(item).into_response()),
        None => Err(ApiError::NotFound {
            what,
            id: id.to_string(),
        }),
    }
}

async fn list(api: &Api, command: Command, key: &str) -> ApiResult {
    let items = reply_json(run(api, command).await?, key);
    Ok(Json(json!({ key: items })).into_response())
}

async fn agents(State(api): State<Api>) -> ApiResult {
    let mut agents = reply_json(run(&api, Command::ListAgents).await?, "agents");
    views::agents(&mut agents, &api.board, &api.reloader.names());
    Ok(Json(json!({ "agents": agents })).into_response())
}

async fn agent(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let mut agents = reply_json(run(&api, Command::ListAgents).await?, "agents");
    views::agents(&mut agents, &api.board, &api.reloader.names());
    found(&agents, "id", "agent", &id)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueBody {
    queue: Option<String>,
}

async fn login(
    State(api): State<Api>,
    Path(agent): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let QueueBody { queue } = body(b)?;
    done(&api, Command::AgentLogin { agent, queue }).await
}

async fn logout(
    State(api): State<Api>,
    Path(agent): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let QueueBody { queue } = body(b)?;
    done(&api, Command::AgentLogout { agent, queue }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: String,
}

async fn pause(
    State(api): State<Api>,
    Path(agent): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let PauseBody { reason } = body(b)?;
    done(&api, Command::AgentPause { agent, reason }).await
}

async fn resume(State(api): State<Api>, Path(agent): Path<String>) -> ApiResult {
    done(&api, Command::AgentResume { agent }).await
}

async fn end_wrap_up(State(api): State<Api>, Path(agent): Path<String>) -> ApiResult {
    done(&api, Command::EndWrapUp { agent }).await
}

async fn skills(
    State(api): State<Api>,
    Path(agent): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let skills: BTreeMap<String, u8> = body(b)?;
    done(&api, Command::SetSkills { agent, skills }).await
}

/// Queues with their waiting callers and agents by state, from three
/// listings (taken one after the other, not atomically).
async fn queue_views(api: &Api) -> Result<Value, ApiError> {
    let mut queues = reply_json(run(api, Command::ListQueues).await?, "queues");
    let agents = reply_json(run(api, Command::ListAgents).await?, "agents");
    let calls = reply_json(run(api, Command::ListCalls).await?, "calls");
    views::queues(&mut queues, &agents, &calls);
    Ok(queues)
}

async fn queues(State(api): State<Api>) -> ApiResult {
    let queues = queue_views(&api).await?;
    Ok(Json(json!({ "queues": queues })).into_response())
}

async fn queue(State(api): State<Api>, Path(name): Path<String>) -> ApiResult {
    let queues = queue_views(&api).await?;
    found(&queues, "name", "queue", &name)
}

async fn calls(State(api): State<Api>) -> ApiResult {
    list(&api, Command::ListCalls, "calls").await
}

fn call_id(id: &str) -> Result<CallUuid, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound {
        what: "call",
        id: id.to_string(),
    })
}

async fn call(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    call_id(&id)?;
    one(&api, Command::ListCalls, "calls", "call", &id).await
}

async fn hang_up(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let call = call_id(&id)?;
    done(&api, Command::HangUp { call }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    to: String,
}

async fn transfer(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let call = call_id(&id)?;
    let TransferBody { to } = body(b)?;
    done(&api, Command::Transfer { call, to }).await
}

async fn consult(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let call = call_id(&id)?;
    let TransferBody { to } = body(b)?;
    done(&api, Command::Consult { call, to }).await
}

async fn consult_complete(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let call = call_id(&id)?;
    done(&api, Command::ConsultComplete { call }).await
}

async fn consult_cancel(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let call = call_id(&id)?;
    done(&api, Command::ConsultCancel { call }).await
}

async fn consult_conference(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let call = call_id(&id)?;
    done(&api, Command::ConsultConference { call }).await
}

async fn conference(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let call = call_id(&id)?;
    let TransferBody { to } = body(b)?;
    done(&api, Command::Conference { call, to }).await
}

async fn parties(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let call = call_id(&id)?;
    match run(&api, Command::ListParties { call }).await? {
        Reply::Parties { parties } => Ok(Json(json!({ "parties": parties })).into_response()),
        other => Ok(Json(other).into_response()),
    }
}

/// A party's number in its call, or 404: ids are small numbers.
fn party_id(party: &str) -> Result<u8, ApiError> {
    party.parse().map_err(|_| ApiError::NotFound {
        what: "party",
        id: party.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartyBody {
    #[serde(default)]
    mute: Option<bool>,
    #[serde(default)]
    gain_db: Option<f64>,
}

async fn set_party(
    State(api): State<Api>,
    Path((id, party)): Path<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let call = call_id(&id)?;
    let party = party_id(&party)?;
    let PartyBody { mute, gain_db } = body(b)?;
    let gain_db10 = match gain_db {
        None => None,
        Some(db) if crate::media::mix::Gain::from_db(db).is_some() => {
            Some((db * 10.0).round() as i16)
        }
        Some(db) => {
            return Err(ApiError::BadField {
                field: "gain_db".into(),
                message: format!(
                    "{db} dB is outside {}..={} dB",
                    crate::media::mix::GAIN_DB_MIN,
                    crate::media::mix::GAIN_DB_MAX
                ),
            })
        }
    };
    let command = Command::SetParty {
        call,
        party,
        mute,
        gain_db10,
    };
    done(&api, command).await
}

async fn drop_party(
    State(api): State<Api>,
    Path((id, party)): Path<(String, String)>,
) -> ApiResult {
    let call = call_id(&id)?;
    let party = party_id(&party)?;
    done(&api, Command::DropParty { call, party }).await
}

async fn escalate(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let call = call_id(&id)?;
    done(&api, Command::Escalate { call }).await
}

async fn takeover(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let call = call_id(&id)?;
    done(&api, Command::Takeover { call }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DispositionBody {
    code: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    /// With code `callback`: when to call the customer back, RFC 3339 UTC
    /// (`2026-12-07T09:30:00Z`) or from now (`"2h"`).
    #[serde(default)]
    callback_at: Option<String>,
    #[serde(default)]
    callback_in: Option<String>,
}

/// A disposition's callback time as Unix milliseconds, if one is given.
#[allow(clippy::disallowed_methods)] // a driver: "from now" is the wall clock
fn callback_time(
    code: &str,
    at: Option<&str>,
    after: Option<&str>,
) -> Result<Option<u64>, ApiError> {
    let bad = |field: &str, message: String| ApiError::BadField {
        field: field.into(),
        message,
    };
    let field = match (at, after) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            let message = "give callback_at or callback_in, not both".into();
            return Err(bad("callback_in", message));
        }
        (Some(_), None) => "callback_at",
        (None, Some(_)) => "callback_in",
    };
    if code != "callback" {
        return Err(bad(field, "only the code \"callback\" takes a time".into()));
    }
    if let Some(at) = at {
        let ms = crate::ops::report::parse_ms(at).ok_or_else(|| {
            bad(
                field,
                format!("{at:?} is not an RFC 3339 UTC time such as 2026-12-07T09:30:00Z"),
            )
        })?;
        return Ok(Some(ms));
    }
    let after = crate::config::parse_duration(after.unwrap_or_default())
        .map_err(|e| bad(field, e.to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Some(
        u64::try_from((now + after).as_millis()).unwrap_or(u64::MAX),
    ))
}

async fn disposition(
    State(api): State<Api>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let call = call_id(&id)?;
    let DispositionBody {
        code,
        note,
        agent,
        callback_at,
        callback_in,
    } = body(b)?;
    let at_ms = callback_time(&code, callback_at.as_deref(), callback_in.as_deref())?;
    let by = agent.clone();
    let command = Command::Disposition {
        call,
        code,
        note,
        agent,
    };
    let reply = done(&api, command).await?;
    match at_ms {
        Some(at_ms) => {
            let agent = by;
            done(&api, Command::ScheduleCallback { call, at_ms, agent }).await
        }
        None => Ok(reply),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginateBody {
    agent: String,
    number: String,
}

/// 201 with the new call's id (and where to follow it): the agent's phone
/// rings; the call's steps follow in its events and `GET /calls/{id}`.
async fn originate(State(api): State<Api>, b: Result<Bytes, BytesRejection>) -> ApiResult {
    let OriginateBody { agent, number } = body(b)?;
    let call = match run(&api, Command::Originate { agent, number }).await? {
        Reply::Originated { call } => call,
        other => unreachable!("originate replies with its call, not {other:?}"),
    };
    let location = format!("/api/v1/calls/{call}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(json!({ "call": call })),
    )
        .into_response())
}

async fn event_stream(State(api): State<Api>, headers: HeaderMap) -> Response {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let Ok(slot) = api.streams.clone().try_acquire_owned() else {
        return ApiError::TooManyStreams {
            max: sse::SSE_CLIENTS_MAX,
        }
        .into_response();
    };
    sse::stream(&api.events, last, api.keepalive, slot).into_response()
}

async fn reload(State(api): State<Api>) -> ApiResult {
    let done = api.reloader.reload().await?;
    Ok(Json(done).into_response())
}

async fn trunks(State(api): State<Api>) -> ApiResult {
    list(&api, Command::ListTrunks, "trunks").await
}

async fn bans(State(api): State<Api>) -> ApiResult {
    list(&api, Command::ListBans, "bans").await
}

async fn lift_ban(State(api): State<Api>, Path(ip): Path<String>) -> ApiResult {
    done(&api, Command::LiftBan { ip }).await
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

#[cfg(test)]
mod tests;
