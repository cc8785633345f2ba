//! What a refused API request gets: a status and `{"error": code,
//! "message": …}`. Every [`CommandError`] is mapped here and nowhere else.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::ops::reload::ReloadError;
use crate::switch::CommandError;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Command(#[from] CommandError),
    /// An agent, queue or call the switch does not know (also for ids
    /// that are not even well-formed).
    #[error("unknown {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    /// The body is not JSON of the expected shape; `field` names where.
    #[error("{field}: {message}")]
    BadField { field: String, message: String },
    #[error("the request body is larger than {max} bytes")]
    BodyTooLarge { max: usize },
    #[error("a bearer token is needed (Authorization: Bearer …)")]
    NoToken,
    #[error("this token is not valid")]
    BadToken,
    #[error("the {role} role may not do this")]
    Forbidden { role: &'static str },
    #[error("{0} is not built yet")]
    NotBuilt(&'static str),
    #[error("{max} event streams are open already; try again later")]
    TooManyStreams { max: usize },
    #[error("{0}")]
    Reload(#[from] ReloadError),
    /// The record store could not be read for a report.
    #[error("the call record store cannot be read: {0}")]
    StoreUnavailable(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Command(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::BadField { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoToken | Self::BadToken => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotBuilt(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Reload(ReloadError::Invalid(_)) => StatusCode::BAD_REQUEST,
            Self::Reload(ReloadError::Refused(e)) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Reload(ReloadError::CheckFailed) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TooManyStreams { .. } | Self::StoreUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// A stable machine-readable word for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Command(e) => command_code(e),
            Self::NotFound { what: "agent", .. } => "unknown_agent",
            Self::NotFound { what: "queue", .. } => "unknown_queue",
            Self::NotFound { what: "call", .. } => "unknown_call",
            Self::NotFound { what: "party", .. } => "unknown_party",
            Self::NotFound {
                what: "campaign", ..
            } => "unknown_campaign",
            Self::NotFound { .. } => "not_found",
            Self::BadField { .. } => "bad_request",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::NoToken => "no_token",
            Self::BadToken => "bad_token",
            Self::Forbidden { .. } => "forbidden",
            Self::NotBuilt(_) => "not_built",
            Self::Reload(ReloadError::Invalid(_)) => "invalid_dialplan",
            Self::Reload(ReloadError::Refused(_)) => "reload_refused",
            Self::Reload(ReloadError::CheckFailed) => "reload_failed",
            Self::TooManyStreams { .. } => "too_many_streams",
            Self::StoreUnavailable(_) => "store_unavailable",
        }
    }
}

fn command_code(e: &CommandError) -> &'static str {
    match e {
        CommandError::UnknownAgent(_) => "unknown_agent",
        CommandError::UnknownQueue(_) => "unknown_queue",
        CommandError::UnknownCall(_) => "unknown_call",
        CommandError::NotPaused(_) => "not_paused",
        CommandError::NotInWrapUp(_) => "not_in_wrap_up",
        CommandError::LoggedOut(_) => "logged_out",
        CommandError::NotQualified { .. } => "not_qualified",
        CommandError::NotInQueue { .. } => "not_in_queue",
        CommandError::SkillLevel { .. } => "bad_skill_level",
        CommandError::PauseReason => "bad_pause_reason",
        CommandError::NotRegistered(_) => "not_registered",
        CommandError::NoOutboundTrunk => "no_outbound_trunk",
        CommandError::AgentBusy(_) => "agent_busy",
        CommandError::BadNumber => "bad_number",
        CommandError::NoMedia => "no_media",
        CommandError::NoCapacity => "no_capacity",
        CommandError::Draining => "draining",
        CommandError::DialRefused(_) => "dial_refused",
        CommandError::NotBanned(_) => "not_banned",
        CommandError::NotTalking => "not_talking",
        CommandError::TransferLoop => "transfer_loop",
        CommandError::Consulting => "consulting",
        CommandError::NotConsulting => "not_consulting",
        CommandError::NoEscalationQueue => "no_escalation_queue",
        CommandError::NotSupervised => "not_supervised",
        CommandError::ConferenceFull => "conference_full",
        CommandError::UnknownParty(_) => "unknown_party",
        CommandError::BadTarget(_) => "bad_target",
        CommandError::Router(_) => "router_refused",
        CommandError::UnknownDisposition(_) => "unknown_disposition",
        CommandError::DispositionNote => "bad_note",
        CommandError::UnknownCampaign(_) => "unknown_campaign",
        CommandError::CampaignState { .. } => "bad_campaign_state",
        CommandError::CampaignExists(_) => "campaign_exists",
        CommandError::BadCampaign { .. } => "bad_campaign",
        CommandError::UnknownTrunk(_) => "unknown_trunk",
        CommandError::BadContacts { .. } => "bad_contacts",
        CommandError::DncNumber(_) => "bad_number",
        CommandError::NotListed(_) => "not_listed",
        CommandError::ListedByFile(_) => "listed_by_file",
        CommandError::NoDncStore => "no_dnc_store",
        CommandError::DncPage => "bad_page",
        CommandError::DncFull => "dnc_full",
        CommandError::NotOffered { .. } => "not_offered",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({ "error": self.code(), "message": self.to_string() });
        if let Self::BadField { field, .. } = &self {
            body["field"] = json!(field);
        }
        // A bad upload row: which line of the list (row 1 the header) and column.
        if let Self::Command(CommandError::BadContacts { line, field, .. }) = &self {
            body["row"] = json!(line);
            body["field"] = json!(field);
        }
        if let Self::Command(CommandError::BadCampaign { field, .. }) = &self {
            body["field"] = json!(field);
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = header::HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_errors_keep_their_status_and_get_a_code() {
        let e = ApiError::from(CommandError::NotPaused("1001".into()));
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(e.code(), "not_paused");
        assert_eq!(e.to_string(), "agent \"1001\" is not paused");
        let e = ApiError::from(CommandError::UnknownQueue("x".into()));
        assert_eq!((e.status().as_u16(), e.code()), (404, "unknown_queue"));
    }

    #[test]
    fn unauthorized_answers_carry_a_bearer_challenge() {
        let response = ApiError::NoToken.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
