//! The switch's defences at its door (issue 13): every request is first
//! screened against the failed-login guard (a banned source gets no answer
//! at all; a source backing off after a failed login waits) and the
//! per-source request rate (503 + Retry-After, then silence); an agent's
//! call out must pass its dial rules. The limits are pure cores
//! (`sip::guard`, `sip::pike`, `dial_rules`); this file feeds them and
//! carries out and logs what they decide. Bans are listed and lifted by
//! commands.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{debug, warn};

use super::command::{CommandError, Reply};
use super::inbound::Req;
use super::{Output, Switch, RETRY_AFTER};
use crate::call::Private;
use crate::dial_rules::DialRefused;
use crate::sip::build;
use crate::sip::guard::Admission;
use crate::sip::parse::{Message, Method};
use crate::sip::pike::Verdict;
use crate::sip::Peer;

/// Labels of `switchyard_sip_requests_limited_total{reason}`, in
/// [`Stats::requests_limited`](super::Stats::requests_limited) order.
pub const LIMITED_LABELS: [&str; 4] = ["banned", "backoff", "rate_503", "rate_dropped"];
/// Labels of `switchyard_dial_refused_total{reason}`.
pub const DIAL_REFUSED_LABELS: [&str; 3] = ["denied", "not_allowed", "not_a_number"];

/// One banned source, as the API lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BanSnapshot {
    pub ip: String,
    /// Whole seconds until the ban ends by itself.
    pub seconds_left: u64,
}

impl Switch {
    /// Whether a request may go on to be served; when not, it was answered
    /// (503) or dropped here, and counted.
    pub(super) fn screen(&mut self, now: Instant, source: Peer, msg: &Message) -> bool {
        let ip = source.addr.ip();
        if self.guard.is_banned(ip, now) {
            self.stats.requests_limited[0] += 1;
            return false;
        }
        let answerable = matches!(msg.method(), Some(Method::Invite | Method::Register));
        match self.pike.check(ip, answerable, now) {
            Verdict::Pass => {}
            Verdict::Refuse { log } => {
                self.log_flood(source, log);
                self.stats.requests_limited[2] += 1;
                let dest =
                    build::response_destination(&msg.vias()[0], source, self.plan.force_rport);
                let mut w = build::response_to(msg, source, 503, build::reason(503), None);
                w.header_fmt("Retry-After", format_args!("{}", RETRY_AFTER.as_secs()));
                self.out.push_back(Output::Transmit {
                    peer: dest,
                    bytes: w.finish(None),
                });
                return false;
            }
            Verdict::Drop { log } => {
                self.log_flood(source, log);
                self.stats.requests_limited[3] += 1;
                return false;
            }
        }
        // Backing off after a failed login: a new request waits (a phone
        // over UDP retransmits it); requests inside dialogs go on.
        if msg.to().tag().is_none() && self.guard.admit(ip, now) == Admission::Drop {
            self.stats.requests_limited[1] += 1;
            return false;
        }
        true
    }

    /// A failed login from `source` (for `agent` if it named one of ours):
    /// counted by the guard, and a ban it causes logged.
    pub(super) fn count_failure(&mut self, now: Instant, source: Peer, agent: Option<&str>) {
        let Some(ban) = self.guard.record_failure(source.addr.ip(), agent, now) else {
            return;
        };
        // Stable for fail2ban and alerts: README "Log format".
        warn!(
            source_ip = %ban.source,
            failures = ban.failures,
            ban_seconds = ban.until.saturating_duration_since(now).as_secs(),
            "sip source banned: failed logins"
        );
    }

    /// Whether `agent` may dial `number` out through the trunk; if not, the
    /// request got 403 with a reason phrase and a Warning saying why.
    pub(super) fn dial_allowed(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        agent: &str,
        number: &str,
    ) -> bool {
        let Err(refused) = self.plan.check_dial(agent, number) else {
            return true;
        };
        self.dial_refused(agent, number, refused, req.msg.call_id());
        let tag = self.token();
        let reason = refused.reason_phrase();
        let mut w = build::response_to(req.msg, req.source, 403, reason, Some(&tag));
        w.header_fmt(
            "Warning",
            format_args!("399 switchyard \"dial rules: {refused}\""),
        );
        if let Err(err) = self.tx_respond(now, req.key, req.source.transport, 403, w.finish(None)) {
            debug!(%err, "response without a transaction");
        }
        false
    }

    /// Counts and logs a call out the dial rules refused. The number shows
    /// its last digits only (STYLE: numbers are private); the deny rule it
    /// hit says what kind of number it was.
    pub(super) fn dial_refused(
        &mut self,
        agent: &str,
        number: &str,
        refused: DialRefused,
        sip_call_id: &str,
    ) {
        let at = DIAL_REFUSED_LABELS
            .iter()
            .position(|l| *l == refused.label())
            .unwrap_or(0);
        self.stats.dial_refused[at] += 1;
        let rule = self.plan.dial_denied_by(agent, number);
        warn!(
            sip_call_id = %sip_call_id,
            agent = %agent,
            number = %Private(number),
            rule = %rule.as_deref().unwrap_or("-"),
            reason = %refused.label(),
            "dial refused by dial rules"
        );
    }

    /// Sources banned now, for the API.
    pub(super) fn list_bans(&self, now: Instant) -> Reply {
        let mut bans: Vec<BanSnapshot> = self
            .guard
            .bans(now)
            .into_iter()
            .map(|b| BanSnapshot {
                ip: b.source.to_string(),
                seconds_left: b.until.saturating_duration_since(now).as_secs(),
            })
            .collect();
        bans.sort_by(|a, b| a.ip.cmp(&b.ip));
        Reply::Bans { bans }
    }

    /// Lifts the ban on `ip` (an operator's decision, logged).
    pub(super) fn lift_ban(&mut self, now: Instant, ip: &str) -> Result<(), CommandError> {
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| CommandError::NotBanned(ip.to_string()))?;
        if !self.guard.is_banned(addr, now) || !self.guard.lift(addr) {
            return Err(CommandError::NotBanned(ip.to_string()));
        }
        warn!(source_ip = %addr, "sip ban lifted by a command");
        Ok(())
    }

    /// Sources banned at `now` and how long each ban has left, for the
    /// driver to save across a restart.
    pub fn active_bans(&self, now: Instant) -> Vec<(IpAddr, Duration)> {
        self.guard
            .bans(now)
            .into_iter()
            .map(|b| (b.source, b.until.saturating_duration_since(now)))
            .collect()
    }

    /// Changes with every ban made or lifted: the driver saves
    /// [`Switch::active_bans`] when it does.
    pub fn bans_changed(&self) -> u64 {
        self.guard.bans_changed()
    }

    /// Bans saved before a restart, each with what it had left; trusted
    /// sources are skipped.
    pub fn restore_bans(&mut self, now: Instant, bans: &[(IpAddr, Duration)]) {
        for &(ip, left) in bans {
            self.guard.restore(ip, now + left, now);
        }
    }

    /// Sources banned now and bans since start, for metrics.
    pub fn ban_figures(&self, now: Instant) -> (usize, u64) {
        (self.guard.bans(now).len(), self.guard.bans_total())
    }

    /// Once per source and minute (the rate core decides when).
    fn log_flood(&self, source: Peer, log: bool) {
        if log {
            warn!(
                source_ip = %source.addr.ip(),
                source_port = source.addr.port(),
                "sip requests over the rate limit: refusing"
            );
        }
    }
}
