//! The `[api]` section: who may use the HTTP control API (bearer tokens,
//! each with a role) and the bounds of the HTTP listener.

use std::time::Duration;

use super::Location;

/// Default cap on concurrent HTTP connections; past it, new ones wait in
/// the kernel's backlog.
pub const HTTP_CONNECTIONS_DEFAULT: u32 = 256;
/// Largest cap accepted for `connections_max`.
pub const HTTP_CONNECTIONS_MAX: u32 = 65_536;
/// Tokens in one `[api]` section.
pub const API_TOKENS_MAX: usize = 256;
/// By default a client must send its request headers within this time.
pub const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// By default a connection that moves no byte for this long is closed.
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The demo dialplan's token, refused off loopback.
pub const DEMO_TOKEN: &str = "demo-token";

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// GET and the event stream.
    Viewer,
    /// Also agent actions and call control; no reload.
    Supervisor,
    /// Everything.
    Admin,
}

impl Role {
    pub const NAMES: &'static str = "admin, supervisor, viewer";

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Viewer => "viewer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// Who holds it, for the log; never the token itself.
    pub name: String,
    pub token: String,
    pub role: Role,
    /// Where `token` is written, for [`Config::check_listen_safety`](super::Config::check_listen_safety).
    pub token_at: Location,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// No tokens: every `/api/v1` request gets 401.
    pub tokens: Vec<ApiToken>,
    pub connections_max: u32,
    /// `/metrics` and `/healthz` without a token (the default).
    pub open_metrics: bool,
    /// Request headers must arrive within this.
    pub header_timeout: Duration,
    /// A connection that moves no byte for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            tokens: Vec::new(),
            connections_max: HTTP_CONNECTIONS_DEFAULT,
            open_metrics: true,
            header_timeout: HTTP_HEADER_TIMEOUT,
            idle_timeout: HTTP_IDLE_TIMEOUT,
        }
    }
}
