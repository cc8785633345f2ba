//! Digest authentication of requests (RFC 3261 §22) against the agents'
//! passwords or a trunk's credentials, the refused-login log line, and
//! the failed-login guard fed from both (`security.rs` acts on it).

use std::time::Instant;

use tracing::{debug, warn};

use super::inbound::Req;
use super::Switch;
use crate::sip::auth::{AuthAnswer, AuthError, Verified};
use crate::sip::parse::HeaderName;

impl Switch {
    /// Digest-checks a request against the agents' passwords. `None` means a
    /// challenge or refusal was sent.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        method: &str,
    ) -> Option<String> {
        let verdict = req.msg.header(&HeaderName::Authorization).map(|value| {
            let agents = &self.plan.agents;
            self.digest.verify(now, method, value, |user| {
                agents.get(user).map(|a| a.password.clone())
            })
        });
        self.auth_verdict(now, req, verdict)
    }

    /// Answers a failed check: a (stale) challenge, or 403 for wrong credentials.
    pub(super) fn auth_verdict(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        verdict: Option<Result<Verified, AuthError>>,
    ) -> Option<String> {
        let answer = match verdict {
            Some(Ok(verified)) => {
                self.guard.record_success(req.source.addr.ip());
                return Some(verified.username);
            }
            Some(Err(err)) => {
                debug!(%err, "credentials refused");
                err.answer()
            }
            None => AuthAnswer::Challenge,
        };
        let tag = self.token();
        if answer == AuthAnswer::Forbidden {
            self.stats.auth_failures += 1;
            let user = self.log_failed_login(req);
            self.respond(now, req, 403, Some(&tag), &[], None);
            self.count_failure(now, req.source, user.as_deref());
            return None;
        }
        self.stats.auth_challenges += 1;
        let stale = answer == AuthAnswer::ChallengeStale;
        let headers: Vec<(&str, String)> = self
            .digest
            .challenge(now, &mut self.rng, stale)
            .into_iter()
            .map(|c| ("WWW-Authenticate", c))
            .collect();
        self.respond(now, req, 401, Some(&tag), &headers, None);
        None
    }

    /// One warn line per refused login, in the format README "Log format"
    /// documents for fail2ban. The user is shown only when it is one of our
    /// agents: anything else a peer typed (a phone number) stays out.
    /// Returns the agent named, if any.
    fn log_failed_login(&self, req: &Req<'_>) -> Option<String> {
        let agent = req
            .msg
            .header(&HeaderName::Authorization)
            .and_then(crate::sip::auth::credentials_username)
            .filter(|u| self.plan.agents.contains_key(u.as_str()));
        warn!(
            user = %agent.as_deref().unwrap_or("-"),
            source_ip = %req.source.addr.ip(),
            source_port = req.source.addr.port(),
            "sip login failed: bad credentials"
        );
        agent
    }

    /// Digest-checks a trunk that must authenticate as well as come from its address.
    pub(super) fn authenticate_trunk(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        trunk: &super::plan::TrunkPlan,
    ) -> Option<String> {
        let (user, pass) = trunk.inbound_auth.clone()?;
        let verdict = req.msg.header(&HeaderName::Authorization).map(|v| {
            self.digest
                .verify(now, "INVITE", v, |u| (u == user).then(|| pass.clone()))
        });
        self.auth_verdict(now, req, verdict)
    }
}
