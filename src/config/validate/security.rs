//! `[security]` and `[[dial_rules]]` checks: limits in range, trusted
//! networks as CIDRs, dial patterns that parse, rule sets named once and
//! named rightly wherever they are used.

use std::collections::HashMap;
use std::time::Duration;

use super::super::locate::FieldPath;
use super::super::raw::{RawDialRuleSet, RawSecurity};
use super::super::security::{
    DialRuleSet, SecurityConfig, MAX_CONTACTS_MAX, SERVER_HEADER_CHARS_MAX,
};
use super::super::values::{check_name, parse_ip_net};
use super::super::*;
use super::{root, Cx, Known};
use crate::dial_rules::{DialRules, Pattern, DIAL_RULES_MAX};

/// Largest attempt count and rate taken; more is surely a typo.
const ATTEMPTS_MAX: i64 = 10_000;
const REQUESTS_RATE_MAX: i64 = 1_000_000;

impl Cx<'_, '_> {
    pub(super) fn security(&mut self, raw: RawSecurity, known: &Known) -> SecurityConfig {
        let p = root().key("security");
        let d = SecurityConfig::default();
        let count = |cx: &mut Self, v: Option<i64>, key: &str, default: u32, min: i64, max: i64| {
            cx.int(v, &p.key(key), default, min, max)
        };
        let auth_attempts = count(
            self,
            raw.auth_attempts,
            "auth_attempts",
            d.auth_attempts,
            1,
            ATTEMPTS_MAX,
        );
        let auth_user_attempts = count(
            self,
            raw.auth_user_attempts,
            "auth_user_attempts",
            d.auth_user_attempts,
            1,
            ATTEMPTS_MAX,
        );
        let requests_burst = count(
            self,
            raw.requests_burst,
            "requests_burst",
            d.requests_burst,
            1,
            REQUESTS_RATE_MAX,
        );
        let requests_per_second = count(
            self,
            raw.requests_per_second,
            "requests_per_second",
            d.requests_per_second,
            1,
            REQUESTS_RATE_MAX,
        );
        let requests_refused_answered = count(
            self,
            raw.requests_refused_answered,
            "requests_refused_answered",
            d.requests_refused_answered,
            0,
            ATTEMPTS_MAX,
        );
        let max_contacts = count(
            self,
            raw.max_contacts,
            "max_contacts",
            d.max_contacts,
            1,
            i64::from(MAX_CONTACTS_MAX),
        );
        let span = |cx: &mut Self, v: Option<String>, key: &str, default: Duration| {
            cx.duration(v.as_deref(), &p.key(key), default, true)
        };
        let auth_window = span(self, raw.auth_window, "auth_window", d.auth_window);
        let auth_ban = span(self, raw.auth_ban, "auth_ban", d.auth_ban);
        let auth_backoff = span(self, raw.auth_backoff, "auth_backoff", d.auth_backoff);
        let mut trusted = Vec::new();
        for (j, text) in raw.trusted.iter().enumerate().take(ALLOW_FROM_MAX) {
            match parse_ip_net(text) {
                Ok(net) => trusted.push(net),
                Err(kind) => self.report(&p.key("trusted").index(j), kind),
            }
        }
        if raw.trusted.len() > ALLOW_FROM_MAX {
            let (count, max) = (raw.trusted.len(), ALLOW_FROM_MAX);
            self.report(&p.key("trusted"), ProblemKind::TooMany { count, max });
        }
        if let Some(name) = raw.dial_rules.as_deref() {
            self.dial_rules_named(name, &p.key("dial_rules"), known);
        }
        let server_header = raw.server_header.unwrap_or(d.server_header);
        self.server_header(&server_header, &p.key("server_header"));
        SecurityConfig {
            auth_attempts,
            auth_user_attempts,
            auth_window,
            auth_ban,
            auth_backoff,
            trusted,
            trust_loopback: raw.trust_loopback.unwrap_or(d.trust_loopback),
            trust_trunks: raw.trust_trunks.unwrap_or(d.trust_trunks),
            requests_burst,
            requests_per_second,
            requests_refused_answered,
            max_contacts,
            remove_existing: raw.remove_existing.unwrap_or(d.remove_existing),
            dial_rules: raw.dial_rules,
            server_header,
        }
    }

    pub(super) fn dial_rule_sets(&mut self, raw: Vec<(usize, RawDialRuleSet)>) -> Vec<DialRuleSet> {
        let mut names = HashMap::new();
        let mut sets = Vec::new();
        for (i, set) in raw {
            let p = root().key("dial_rules").index(i);
            if let Err(kind) = check_name(&set.name) {
                self.report(&p.key("name"), kind);
            }
            self.unique(&set.name, &p.key("name"), &mut names);
            let allow = self.dial_patterns(&set.allow, &p.key("allow"));
            let deny = self.dial_patterns(&set.deny, &p.key("deny"));
            sets.push(DialRuleSet {
                name: set.name,
                rules: DialRules { allow, deny },
            });
        }
        sets
    }

    /// Reports a reference to a rule set the file does not declare.
    pub(super) fn dial_rules_named(&mut self, name: &str, path: &FieldPath, known: &Known) {
        if !known.dial_rules.contains(name) {
            let kind = ProblemKind::UnknownDialRules {
                name: name.to_owned(),
            };
            self.report(path, kind);
        }
    }

    fn dial_patterns(&mut self, texts: &[String], path: &FieldPath) -> Vec<Pattern> {
        if texts.len() > DIAL_RULES_MAX {
            let (count, max) = (texts.len(), DIAL_RULES_MAX);
            self.report(path, ProblemKind::TooMany { count, max });
            return Vec::new();
        }
        let mut out = Vec::new();
        for (j, text) in texts.iter().enumerate() {
            match Pattern::parse(text) {
                Some(pattern) => out.push(pattern),
                None => {
                    let kind = ProblemKind::InvalidDialPattern {
                        value: text.clone(),
                    };
                    self.report(&path.index(j), kind);
                }
            }
        }
        out
    }

    /// A header value we send: printable, no CR/LF, bounded.
    fn server_header(&mut self, value: &str, path: &FieldPath) {
        if value.is_empty() {
            return self.report(path, ProblemKind::Empty);
        }
        let printable = value.chars().all(|c| c.is_ascii_graphic() || c == ' ');
        if !printable || value.chars().count() > SERVER_HEADER_CHARS_MAX {
            let kind = ProblemKind::InvalidName {
                value: value.to_owned(),
                rule: "printable ASCII, at most 64 characters",
            };
            self.report(path, kind);
        }
    }
}
