//! `[api]` checks: tokens named, non-empty, unique, with a known role.

use std::collections::HashMap;

use super::super::api::{
    ApiConfig, ApiToken, Role, API_TOKENS_MAX, HTTP_CONNECTIONS_DEFAULT, HTTP_CONNECTIONS_MAX,
    HTTP_HEADER_TIMEOUT, HTTP_IDLE_TIMEOUT,
};
use super::super::raw::RawApi;
use super::super::values::check_name;
use super::super::ProblemKind;
use super::{root, Cx};

impl Cx<'_, '_> {
    pub(super) fn api(&mut self, raw: RawApi) -> ApiConfig {
        let p = root().key("api");
        if raw.tokens.len() > API_TOKENS_MAX {
            let count = raw.tokens.len();
            let max = API_TOKENS_MAX;
            self.report(&p.key("tokens"), ProblemKind::TooMany { count, max });
        }
        let mut tokens = Vec::new();
        let mut names = HashMap::new();
        let mut secrets = HashMap::new();
        for (i, t) in raw.tokens.into_iter().enumerate().take(API_TOKENS_MAX) {
            let tp = p.key("tokens").index(i);
            if let Err(kind) = check_name(&t.name) {
                self.report(&tp.key("name"), kind);
            }
            self.unique(&t.name, &tp.key("name"), &mut names);
            self.secret(&t.token, &tp.key("token"));
            self.unique(&t.token, &tp.key("token"), &mut secrets);
            let Some(role) = Role::parse(&t.role) else {
                let kind = ProblemKind::UnknownChoice {
                    what: "role",
                    value: t.role,
                    expected: Role::NAMES,
                };
                self.report(&tp.key("role"), kind);
                continue;
            };
            let token_at = self.locate(&tp.key("token"));
            tokens.push(ApiToken {
                name: t.name,
                token: t.token,
                role,
                token_at,
            });
        }
        let connections_max = self.int(
            raw.connections_max,
            &p.key("connections_max"),
            HTTP_CONNECTIONS_DEFAULT,
            1,
            i64::from(HTTP_CONNECTIONS_MAX),
        );
        let header_timeout = self.duration(
            raw.header_timeout.as_deref(),
            &p.key("header_timeout"),
            HTTP_HEADER_TIMEOUT,
            true,
        );
        let idle_timeout = self.duration(
            raw.idle_timeout.as_deref(),
            &p.key("idle_timeout"),
            HTTP_IDLE_TIMEOUT,
            true,
        );
        ApiConfig {
            tokens,
            connections_max,
            open_metrics: raw.open_metrics.unwrap_or(true),
            header_timeout,
            idle_timeout,
        }
    }
}
