//! Bearer tokens: who is asking, and whether their role may do what they
//! ask. Tokens are compared as SHA-256 digests in constant time, against
//! every configured token, so timing tells nothing of a near miss.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tracing::warn;

use super::error::ApiError;
use crate::config::{ApiConfig, Role};

/// The configured tokens, kept as digests.
#[derive(Debug)]
pub struct Tokens {
    entries: Vec<(String, [u8; 32], Role)>,
}

impl Tokens {
    pub fn new(api: &ApiConfig) -> Tokens {
        let entries = api
            .tokens
            .iter()
            .map(|t| (t.name.clone(), digest(&t.token), t.role))
            .collect();
        Tokens { entries }
    }

    /// The name and role of the token `given`, if it is one of ours.
    pub fn check(&self, given: &str) -> Option<(&str, Role)> {
        let given = digest(given);
        let mut found = None;
        // No early exit: every entry is compared.
        for (name, want, role) in &self.entries {
            if constant_time_eq(&given, want) {
                found = Some((name.as_str(), *role));
            }
        }
        found
    }
}

/// The name of the token a request came with (never the token), for
/// audit lines; the auth layer adds it to every request it lets through.
#[derive(Clone, Debug)]
pub struct TokenName(pub String);

/// The least role a request needs.
pub fn required_role(method: &Method, path: &str) -> Role {
    let dnc = path.starts_with("/api/v1/dnc");
    if path.ends_with("/reload")
        || path.starts_with("/api/v1/bans")
        || path.starts_with("/api/v1/callers")
        || (dnc && method == Method::DELETE)
    {
        Role::Admin
    } else if dnc {
        // The list is of phone numbers: private, not for wallboards.
        Role::Supervisor
    } else if method == Method::GET || method == Method::HEAD {
        Role::Viewer
    } else {
        Role::Supervisor
    }
}

/// Middleware: 401 without a valid token, 403 when its role is too low.
pub async fn require(
    State(tokens): State<Arc<Tokens>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(given) = given else {
        return ApiError::NoToken.into_response();
    };
    let Some((name, role)) = tokens.check(given) else {
        // Stable for fail2ban: see README "Log format".
        let (ip, port) = peer.map_or(("-".into(), "-".into()), |p| {
            (p.ip().to_string(), p.port().to_string())
        });
        warn!(
            user = "-",
            source_ip = %ip,
            source_port = %port,
            "api login failed: bad token"
        );
        return ApiError::BadToken.into_response();
    };
    let needed = required_role(request.method(), request.uri().path());
    if role < needed {
        return ApiError::Forbidden { role: role.label() }.into_response();
    }
    request.extensions_mut().insert(TokenName(name.to_owned()));
    next.run(request).await
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiToken, Location};

    fn api() -> ApiConfig {
        let at = Location { line: 1, column: 1 };
        let token = |name: &str, token: &str, role| ApiToken {
            name: name.into(),
            token: token.into(),
            role,
            token_at: at,
        };
        ApiConfig {
            tokens: vec![
                token("ops", "t-admin", Role::Admin),
                token("wall", "t-view", Role::Viewer),
            ],
            ..ApiConfig::default()
        }
    }

    #[test]
    fn a_token_is_found_by_value_and_a_near_miss_is_not() {
        let tokens = Tokens::new(&api());
        assert_eq!(tokens.check("t-admin"), Some(("ops", Role::Admin)));
        assert_eq!(tokens.check("t-view"), Some(("wall", Role::Viewer)));
        assert_eq!(tokens.check("t-admi"), None);
        assert_eq!(tokens.check(""), None);
    }

    #[test]
    fn reload_needs_admin_writes_need_supervisor_reads_need_viewer() {
        let role = |m: Method, p: &str| required_role(&m, p);
        assert_eq!(role(Method::POST, "/api/v1/reload"), Role::Admin);
        assert_eq!(
            role(Method::POST, "/api/v1/agents/1/pause"),
            Role::Supervisor
        );
        assert_eq!(
            role(Method::PUT, "/api/v1/agents/1/skills"),
            Role::Supervisor
        );
        assert_eq!(role(Method::GET, "/api/v1/events"), Role::Viewer);
    }
}
