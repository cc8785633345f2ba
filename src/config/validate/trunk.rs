//! Trunk checks: source addresses, credentials in pairs, the outbound
//! peer, and the RFC 3325 identity policy.

use super::super::raw::RawTrunk;
use super::super::values::{check_name, parse_ip_net};
use super::super::*;
use super::{root, Cx, ALLOW_FROM_MAX};
use crate::config::locate::FieldPath;

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
            let credentials =
                self.credentials(o.username, o.password, &op, ("username", "password"));
            OutboundConfig {
                address,
                transport,
                credentials,
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
        })
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
