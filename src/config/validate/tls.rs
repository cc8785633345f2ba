//! `[tls]` checks: the listen address, the certificate and key named
//! together, the handshake bound; and the `srtp` policy of agents and trunks.

use std::path::PathBuf;

use super::super::raw::RawTls;
use super::super::tls::{SrtpPolicy, TlsConfig, TLS_HANDSHAKE_TIMEOUT_DEFAULT};
use super::super::ProblemKind;
use super::{root, Cx};
use crate::config::locate::FieldPath;

impl Cx<'_, '_> {
    pub(super) fn tls(&mut self, raw: RawTls) -> TlsConfig {
        let p = root().key("tls");
        let listen = self.socket_addr(raw.listen.as_deref(), &p.key("listen"), "127.0.0.1:5061");
        match (&raw.certificate, &raw.key) {
            (Some(_), None) => self.report(
                &p.key("certificate"),
                ProblemKind::CredentialHalf {
                    set: "certificate",
                    missing: "key",
                },
            ),
            (None, Some(_)) => self.report(
                &p.key("key"),
                ProblemKind::CredentialHalf {
                    set: "key",
                    missing: "certificate",
                },
            ),
            _ => {}
        }
        let handshake_timeout = self.duration(
            raw.handshake_timeout.as_deref(),
            &p.key("handshake_timeout"),
            TLS_HANDSHAKE_TIMEOUT_DEFAULT,
            false,
        );
        TlsConfig {
            listen,
            certificate_at: self.at_or_section(raw.certificate.is_some(), &p, "certificate"),
            key_at: self.at_or_section(raw.key.is_some(), &p, "key"),
            ca_at: self.at_or_section(raw.ca.is_some(), &p, "ca"),
            certificate: raw.certificate.map(PathBuf::from),
            key: raw.key.map(PathBuf::from),
            ca: raw.ca.map(PathBuf::from),
            handshake_timeout,
        }
    }

    /// An agent's or trunk's `srtp`, `default` when absent.
    pub(super) fn srtp(
        &mut self,
        value: Option<&str>,
        path: &FieldPath,
        default: SrtpPolicy,
    ) -> SrtpPolicy {
        let Some(text) = value else {
            return default;
        };
        SrtpPolicy::from_name(text).unwrap_or_else(|| {
            let kind = ProblemKind::UnknownChoice {
                what: "srtp",
                value: text.to_owned(),
                expected: SrtpPolicy::NAMES,
            };
            self.report(path, kind);
            default
        })
    }

    fn at_or_section(&self, given: bool, section: &FieldPath, key: &str) -> super::super::Location {
        if given {
            self.locate(&section.key(key))
        } else {
            self.locate(section)
        }
    }
}
