//! Trunk checks: source addresses, credentials in pairs, the outbound
//! peer, and the RFC 3325 identity policy.

use super::super::raw::RawTrunk;
use super::super::values::{check_name, parse_ip_net};
use super::super::*;
use super::{root, Cx, ALLOW_FROM_MAX};
use crate::config::locate::FieldPath;
use std::time::Duration;

/// Bounds of `options_interval`.
const OPTIONS_INTERVAL_MIN: Duration = Duration::from_secs(1);
const OPTIONS_INTERVAL_MAX: Duration = Duration::from_secs(3600);
/// Bounds of `register_expires`.
const REGISTER_EXPIRES_MIN: Duration = Duration::from_secs(60);
const REGISTER_EXPIRES_MAX: Duration = Duration::from_secs(86_400);

impl Cx<'_, '_> {
    pub(super) fn trunk(&mut self, i: usize, raw: RawTrunk) -> Option<TrunkConfig> {
        let p = root().key("trunks").index(i);
        if let Err(kind) = check_name(&raw.name) {
            self.report(&p.key("name"), kind);
        }
        if raw.allow_from.len() > ALLOW_FROM_MAX {
            let count = raw.allow_from.len();
            self.report(
                &p.key("allow_from"),
                ProblemKind::TooMany {
                    count,
                    max: ALLOW_FROM_MAX,
                },
            );
        }
        let mut allow_from = Vec::new();
        for (j, text) in raw.allow_from.iter().enumerate().take(ALLOW_FROM_MAX) {
            match parse_ip_net(text) {
                Ok(net) => allow_from.push(net),
                Err(kind) => self.report(&p.key("allow_from").index(j), kind),
            }
        }
        let inbound = self.credentials(
            raw.inbound_username,
            raw.inbound_password,
            &p,
            ("inbound_username", "inbound_password"),
        );
        let outbound = raw.outbound.map(|o| {
            let op = p.key("outbound");
            let address = self.socket_addr(Some(&o.address), &op.key("address"), "127.0.0.1:5060");
            let transport = match o.transport.as_deref().unwrap_or("udp") {
                "udp" => crate::sip::Transport::Udp,
                "tcp" => crate::sip::Transport::Tcp,
                "tls" => crate::sip::Transport::Tls,
                other => {
                    let kind = ProblemKind::UnknownChoice {
                        what: "transport",
                        value: other.to_owned(),
                        expected: "udp, tcp, tls",
                    };
                    self.report(&op.key("transport"), kind);
                    crate::sip::Transport::Udp
                }
            };
            let health = self.outbound_health(&op, &o.options_interval, o.options_down_after);
            let has_credentials = o.username.is_some() && o.password.is_some();
            let register = self.outbound_register(&op, &o, has_credentials);
            let credentials =
                self.credentials(o.username, o.password, &op, ("username", "password"));
            OutboundConfig {
                address,
                transport,
                credentials,
                priority: self.int(
                    o.priority,
                    &op.key("priority"),
                    TRUNK_PRIORITY_DEFAULT,
                    0,
                    1000,
                ),
                options_interval: health.0,
                options_down_after: health.1,
                register,
            }
        });
        if raw.allow_from.is_empty() && outbound.is_none() {
            self.report(&p, ProblemKind::TrunkUnused);
        }
        let srtp = self.srtp(raw.srtp.as_deref(), &p.key("srtp"), SrtpPolicy::default());
        let identity =
            self.identity_policy(&p, raw.trust_identity, raw.asserted_identity, raw.privacy);
        Some(TrunkConfig {
            name: raw.name,
            allow_from,
            inbound,
            outbound,
            identity,
            srtp,
            allow_refer: raw.allow_refer.unwrap_or(false),
        })
    }

    /// `options_interval` (1s..=1h, off when unset) and `options_down_after`.
    fn outbound_health(
        &mut self,
        op: &FieldPath,
        interval: &Option<String>,
        down_after: Option<i64>,
    ) -> (Option<Duration>, u32) {
        let path = op.key("options_interval");
        let interval = interval.as_deref().and_then(|text| {
            let d = self.duration(Some(text), &path, Duration::ZERO, true);
            if d.is_zero() {
                return None;
            }
            if !(OPTIONS_INTERVAL_MIN..=OPTIONS_INTERVAL_MAX).contains(&d) {
                let range = "1s..=1h";
                let value = text.to_owned();
                self.report(&path, ProblemKind::DurationOutOfRange { value, range });
                return None;
            }
            Some(d)
        });
        let down = op.key("options_down_after");
        let down_after = self.int(down_after, &down, OPTIONS_DOWN_AFTER_DEFAULT, 1, 100);
        (interval, down_after)
    }

    /// `register = true` with `register_expires` (60s..=1d); it needs the
    /// credentials to answer the carrier's challenge with.
    fn outbound_register(
        &mut self,
        op: &FieldPath,
        o: &super::super::raw::RawOutbound,
        has_credentials: bool,
    ) -> Option<Duration> {
        let path = op.key("register_expires");
        let expires = self.duration(
            o.register_expires.as_deref(),
            &path,
            REGISTER_EXPIRES_DEFAULT,
            true,
        );
        if !(REGISTER_EXPIRES_MIN..=REGISTER_EXPIRES_MAX).contains(&expires) {
            let value = o.register_expires.clone().unwrap_or_default();
            let range = "60s..=24h";
            self.report(&path, ProblemKind::DurationOutOfRange { value, range });
        }
        if o.register != Some(true) {
            return None;
        }
        if !has_credentials {
            self.report(&op.key("register"), ProblemKind::RegisterWithoutCredentials);
            return None;
        }
        Some(expires)
    }

    /// A trunk's RFC 3325 policy: `asserted_identity` a URI we may put in
    /// a header as it is, `privacy` tokens of RFC 3323 §4.2.
    fn identity_policy(
        &mut self,
        p: &FieldPath,
        trust: Option<bool>,
        asserted: Option<String>,
        privacy: Option<String>,
    ) -> super::IdentityPolicy {
        let asserted = asserted.and_then(|value| {
            let scheme_ok = ["sip:", "sips:", "tel:"]
                .iter()
                .any(|s| value.len() > s.len() && value[..s.len()].eq_ignore_ascii_case(s));
            let chars_ok = value
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ','));
            if scheme_ok && chars_ok && value.len() <= super::IDENTITY_URI_BYTES_MAX {
                return Some(value);
            }
            let max = super::IDENTITY_URI_BYTES_MAX;
            self.report(
                &p.key("asserted_identity"),
                ProblemKind::InvalidIdentity { value, max },
            );
            None
        });
        let privacy = privacy.and_then(|value| {
            let known = ["none", "header", "session", "user", "id", "critical"];
            let bad = value
                .split(';')
                .map(str::trim)
                .find(|t| !known.iter().any(|k| k.eq_ignore_ascii_case(t)));
            match bad {
                None => Some(value),
                Some(token) => {
                    let kind = ProblemKind::UnknownChoice {
                        what: "privacy value",
                        value: token.to_owned(),
                        expected: super::PRIVACY_VALUES,
                    };
                    self.report(&p.key("privacy"), kind);
                    None
                }
            }
        });
        super::IdentityPolicy {
            trust: trust.unwrap_or(false),
            asserted,
            privacy,
        }
    }

    /// Username and password come as a pair or not at all.
    fn credentials(
        &mut self,
        username: Option<String>,
        password: Option<String>,
        p: &FieldPath,
        (user_key, pass_key): (&'static str, &'static str),
    ) -> Option<Credentials> {
        match (username, password) {
            (None, None) => None,
            (Some(_), None) => {
                self.report(
                    &p.key(user_key),
                    ProblemKind::CredentialHalf {
                        set: user_key,
                        missing: pass_key,
                    },
                );
                None
            }
            (None, Some(_)) => {
                self.report(
                    &p.key(pass_key),
                    ProblemKind::CredentialHalf {
                        set: pass_key,
                        missing: user_key,
                    },
                );
                None
            }
            (Some(username), Some(password)) => {
                self.secret(&username, &p.key(user_key));
                self.secret(&password, &p.key(pass_key));
                Some(Credentials { username, password })
            }
        }
    }
}
