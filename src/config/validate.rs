//! Turns the TOML text into a [`Config`], collecting every problem with its
//! line and field instead of stopping at the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::error::{ConfigError, Location, Problem, ProblemKind};
use super::locate::{location, path_at, path_from_text, span_of, value_span_of, FieldPath};
use super::raw::{
    RawAgent, RawApi, RawCampaign, RawDialRuleSet, RawDid, RawDnc, RawMedia, RawMenu, RawMetrics,
    RawOverload, RawQueue, RawSecurity, RawSwitch, RawTls, RawTrunk,
};
use super::values::{check_did, check_name, parse_duration, parse_retention, parse_socket_addr};
use super::*;
use crate::media::pool::PortPool;
use crate::media::sdp::Codec;
use crate::sip::auth::ChallengeOrder;
use crate::sip::limits::CALLS_MAX;

mod agent;
mod api;
mod campaign;
mod did;
mod escalation;
mod media;
mod menu;
mod metrics;
mod overload;
mod queue;
mod security;
mod tls;
mod trunk;

/// Missed offers before auto-pause; more is surely a typo.
const MAX_NO_ANSWER_MAX: i64 = 100;

pub(super) fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let (root, syntax) = DeTable::parse_recoverable(text);
    let mut cx = Cx {
        text,
        file: file.to_owned(),
        root: &root,
        problems: Vec::new(),
    };
    if !syntax.is_empty() {
        for e in syntax {
            let offset = e.span().map_or(0, |s| s.start);
            let mut path = path_at(&root, offset);
            if path == FieldPath::default() {
                path = path_from_text(text, offset);
            }
            cx.report_offset(
                offset,
                &path,
                ProblemKind::Syntax {
                    message: e.message().to_owned(),
                },
            );
        }
        return Err(cx.into_error());
    }
    let sections = cx.sections();
    let config = cx.build(sections);
    if cx.problems.is_empty() {
        return Ok(config);
    }
    Err(cx.into_error())
}

struct Cx<'t, 'r> {
    text: &'t str,
    file: PathBuf,
    root: &'r Spanned<DeTable<'t>>,
    problems: Vec<Problem>,
}

/// What the file declares, valid or not.
struct Known {
    agents: HashSet<String>,
    queues: HashSet<String>,
    menus: HashSet<String>,
    skills: HashSet<String>,
    attributes: HashSet<String>,
    /// Whether a `[media]` section is present (recording needs it).
    media: bool,
    dial_rules: HashSet<String>,
}

#[derive(Default)]
struct Sections {
    switch: RawSwitch,
    media: Option<RawMedia>,
    agents: Vec<(usize, RawAgent)>,
    trunks: Vec<(usize, RawTrunk)>,
    dids: Vec<(String, RawDid)>,
    queues: Vec<(usize, RawQueue)>,
    menus: Vec<(usize, RawMenu)>,
    api: Option<RawApi>,
    security: Option<RawSecurity>,
    dial_rules: Vec<(usize, RawDialRuleSet)>,
    metrics: Option<RawMetrics>,
    overload: Option<RawOverload>,
    campaigns: Vec<(usize, RawCampaign)>,
    dnc: Option<RawDnc>,
    tls: Option<RawTls>,
}

fn root() -> FieldPath {
    FieldPath::default()
}

impl Cx<'_, '_> {
    fn into_error(mut self) -> ConfigError {
        self.problems.sort_by_key(|p| (p.line, p.column));
        ConfigError::Invalid {
            problems: self.problems,
        }
    }

    fn report(&mut self, path: &FieldPath, kind: ProblemKind) {
        let offset = span_of(self.root, path).start;
        self.report_offset(offset, path, kind);
    }

    fn report_offset(&mut self, offset: usize, path: &FieldPath, kind: ProblemKind) {
        let Location { line, column } = location(self.text, offset);
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            column,
            field: path.to_string(),
            kind,
        });
    }

    fn locate(&self, path: &FieldPath) -> Location {
        location(self.text, span_of(self.root, path).start)
    }

    /// Reports at a character column inside the string at `path`, when the
    /// string is written plainly (no escapes), else at the string's start.
    fn report_in_string(
        &mut self,
        path: &FieldPath,
        value: &str,
        column: usize,
        kind: ProblemKind,
    ) {
        let Some(span) = value_span_of(self.root, path) else {
            return self.report(path, kind);
        };
        let Some(raw) = self.text.get(span.clone()) else {
            return self.report(path, kind);
        };
        let plain = raw.len() >= 2
            && !raw.starts_with("\"\"\"")
            && !raw.starts_with("'''")
            && raw.get(1..raw.len() - 1) == Some(value);
        let mut offset = span.start;
        if plain {
            let inner: usize = value
                .chars()
                .take(column.saturating_sub(1))
                .map(char::len_utf8)
                .sum();
            offset = span.start + 1 + inner;
        }
        self.report_offset(offset, path, kind);
    }

    /// Deserializes one section or element; a schema error is reported at
    /// the span the deserializer names, under the deepest field there.
    fn de<T: for<'de> Deserialize<'de>>(&mut self, value: &Spanned<DeValue<'_>>) -> Option<T> {
        match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(v) => Some(v),
            Err(e) => {
                let offset = e.span().map_or(value.span().start, |s| s.start);
                let path = path_at(self.root, offset);
                self.report_offset(
                    offset,
                    &path,
                    ProblemKind::Schema {
                        message: e.message().to_owned(),
                    },
                );
                None
            }
        }
    }

    fn array<'v, 'i>(
        &mut self,
        value: &'v Spanned<DeValue<'i>>,
        path: &FieldPath,
        max: usize,
    ) -> &'v [Spanned<DeValue<'i>>] {
        match value.get_ref() {
            DeValue::Array(a) if a.len() > max => {
                self.report(
                    path,
                    ProblemKind::TooMany {
                        count: a.len(),
                        max,
                    },
                );
                &[]
            }
            DeValue::Array(a) => a,
            other => {
                self.report(
                    path,
                    ProblemKind::WrongType {
                        expected: "an array of tables",
                        found: other.type_str(),
                    },
                );
                &[]
            }
        }
    }

    fn sections(&mut self) -> Sections {
        let mut s = Sections::default();
        let root = self.root;
        for (key, value) in root.get_ref().iter() {
            let path = self::root().key(key.get_ref());
            match key.get_ref().as_ref() {
                "switch" => {
                    if let Some(v) = self.de(value) {
                        s.switch = v;
                    }
                }
                "media" => s.media = self.de(value),
                "api" => s.api = self.de(value),
                "security" => s.security = self.de(value),
                "dial_rules" => {
                    let max = DIAL_RULE_SETS_MAX;
                    for (i, e) in self.array(value, &path, max).iter().enumerate() {
                        s.dial_rules.extend(self.de(e).map(|v| (i, v)));
                    }
                }
                "agents" => {
                    for (i, e) in self.array(value, &path, AGENTS_MAX).iter().enumerate() {
                        s.agents.extend(self.de(e).map(|v| (i, v)));
                    }
                }
                "trunks" => {
                    for (i, e) in self.array(value, &path, TRUNKS_MAX).iter().enumerate() {
                        s.trunks.extend(self.de(e).map(|v| (i, v)));
                    }
                }
                "queues" => {
                    for (i, e) in self.array(value, &path, QUEUES_MAX).iter().enumerate() {
                        s.queues.extend(self.de(e).map(|v| (i, v)));
                    }
                }
                "menus" => {
                    for (i, e) in self.array(value, &path, MENUS_MAX).iter().enumerate() {
                        s.menus.extend(self.de(e).map(|v| (i, v)));
                    }
                }
                "dids" => self.dids(value, &path, &mut s.dids),
                "metrics" => s.metrics = self.de(value),
                "overload" => s.overload = self.de(value),
                "dnc" => s.dnc = self.de(value),
                "campaigns" => {
                    let max = super::campaign::CAMPAIGNS_MAX;
                    for (i, e) in self.array(value, &path, max).iter().enumerate() {
                        s.campaigns.extend(self.de(e).map(|v| (i, v)));
                    }
                }
                "tls" => s.tls = self.de(value),
                other => {
                    let name = other.to_owned();
                    self.report(&path, ProblemKind::UnknownSection { name });
                }
            }
        }
        s
    }

    fn build(&mut self, s: Sections) -> Config {
        // Cross-references are checked against everything the file declares,
        // also entries that fail their own checks, so one mistake is not
        // reported again at every place that names the entry.
        let known = Known {
            agents: s.agents.iter().map(|(_, a)| a.id.clone()).collect(),
            queues: s.queues.iter().map(|(_, q)| q.name.clone()).collect(),
            menus: s.menus.iter().map(|(_, m)| m.name.clone()).collect(),
            skills: s
                .agents
                .iter()
                .flat_map(|(_, a)| a.skills.keys().cloned())
                .collect(),
            attributes: s
                .agents
                .iter()
                .flat_map(|(_, a)| a.attributes.keys().cloned())
                .collect(),
            media: s.media.is_some(),
            dial_rules: s.dial_rules.iter().map(|(_, d)| d.name.clone()).collect(),
        };
        let mut raw_switch = s.switch;
        let escalation = self.escalation(&mut raw_switch, &known);
        let conference_factory = self.conference_factory(&mut raw_switch, &known);
        let switch = SwitchConfig {
            escalation,
            conference_factory,
            ..self.switch(raw_switch)
        };
        let media = s.media.map(|m| self.media(m));
        let api = s.api.map(|a| self.api(a)).unwrap_or_default();
        let metrics = s.metrics.map(|m| self.metrics(m)).unwrap_or_default();
        let overload = s.overload.map(|o| self.overload(o)).unwrap_or_default();
        let tls = s.tls.map(|t| self.tls(t));
        let mut seen = HashMap::new();
        let mut agents = Vec::new();
        for (i, raw) in s.agents {
            self.unique(&raw.id, &root().key("agents").index(i).key("id"), &mut seen);
            agents.extend(self.agent(i, raw, &known));
        }
        let declared_trunks: HashSet<String> =
            s.trunks.iter().map(|(_, t)| t.name.clone()).collect();
        let mut seen = HashMap::new();
        let mut trunks = Vec::new();
        for (i, raw) in s.trunks {
            self.unique(
                &raw.name,
                &root().key("trunks").index(i).key("name"),
                &mut seen,
            );
            trunks.extend(self.trunk(i, raw));
        }
        let mut seen = HashMap::new();
        let mut queues = Vec::new();
        for (i, raw) in s.queues {
            self.unique(
                &raw.name,
                &root().key("queues").index(i).key("name"),
                &mut seen,
            );
            queues.extend(self.queue(i, raw, &known).map(|q| (i, q)));
        }
        let mut dids = BTreeMap::new();
        for (did, raw) in s.dids {
            if let Some(route) = self.did(&did, raw, &known) {
                dids.insert(did, route);
            }
        }
        self.check_overflow_cycles(&queues);
        let menus = self.menus(s.menus, &known);
        let security = self.security(s.security.unwrap_or_default(), &known);
        let dial_rules = self.dial_rule_sets(s.dial_rules);
        let campaigns = self.campaigns(s.campaigns, &known, &trunks, &declared_trunks);
        let dnc = s.dnc.map(|d| self.dnc(d)).unwrap_or_default();
        Config {
            file: self.file.clone(),
            switch,
            media,
            agents,
            trunks,
            dids,
            queues: queues.into_iter().map(|(_, q)| q).collect(),
            menus,
            api,
            security,
            dial_rules,
            metrics,
            overload,
            campaigns,
            dnc,
            tls,
        }
    }

    fn duration(
        &mut self,
        value: Option<&str>,
        path: &FieldPath,
        default: Duration,
        nonzero: bool,
    ) -> Duration {
        let Some(text) = value else {
            return default;
        };
        match parse_duration(text) {
            Ok(d) if nonzero && d.is_zero() => {
                let range = "must be more than 0";
                self.report(
                    path,
                    ProblemKind::DurationOutOfRange {
                        value: text.to_owned(),
                        range,
                    },
                );
                default
            }
            Ok(d) => d,
            Err(kind) => {
                self.report(path, kind);
                default
            }
        }
    }

    /// A retention period (`90d`); `None` when unset or wrong (reported).
    fn retention(&mut self, value: Option<&str>, path: &FieldPath) -> Option<Duration> {
        let text = value?;
        parse_retention(text)
            .map_err(|kind| self.report(path, kind))
            .ok()
    }

    fn int(
        &mut self,
        value: Option<i64>,
        path: &FieldPath,
        default: u32,
        min: i64,
        max: i64,
    ) -> u32 {
        let Some(v) = value else {
            return default;
        };
        if !(min..=max).contains(&v) {
            self.report(
                path,
                ProblemKind::OutOfRange {
                    value: v.to_string(),
                    min,
                    max,
                },
            );
            return default;
        }
        u32::try_from(v).unwrap_or(default)
    }

    fn socket_addr(
        &mut self,
        value: Option<&str>,
        path: &FieldPath,
        default: &str,
    ) -> std::net::SocketAddr {
        let fallback = default.parse().expect("built-in default addresses parse");
        let Some(text) = value else {
            return fallback;
        };
        parse_socket_addr(text).unwrap_or_else(|kind| {
            self.report(path, kind);
            fallback
        })
    }

    /// Non-empty, bounded; credentials are compared verbatim.
    fn secret(&mut self, value: &str, path: &FieldPath) {
        if value.is_empty() {
            self.report(path, ProblemKind::Empty);
        } else if value.chars().count() > SECRET_CHARS_MAX {
            let value = format!("{} characters", value.chars().count());
            self.report(
                path,
                ProblemKind::OutOfRange {
                    value,
                    min: 1,
                    max: SECRET_CHARS_MAX as i64,
                },
            );
        }
    }

    fn unique(&mut self, value: &str, path: &FieldPath, seen: &mut HashMap<String, usize>) {
        let line = self.locate(path).line;
        if value.is_empty() {
            return;
        }
        if let Some(&first_line) = seen.get(value) {
            self.report(
                path,
                ProblemKind::Duplicate {
                    value: value.to_owned(),
                    first_line,
                },
            );
            return;
        }
        seen.insert(value.to_owned(), line);
    }

    fn attributes(
        &mut self,
        raw: BTreeMap<String, String>,
        path: &FieldPath,
    ) -> BTreeMap<String, String> {
        if raw.len() > ATTRIBUTES_MAX {
            self.report(
                path,
                ProblemKind::TooMany {
                    count: raw.len(),
                    max: ATTRIBUTES_MAX,
                },
            );
            return BTreeMap::new();
        }
        for (name, value) in &raw {
            let at = path.key(name);
            if let Err(kind) = check_name(name) {
                self.report(&at, kind);
            } else if value.is_empty() {
                self.report(&at, ProblemKind::Empty);
            } else if value.chars().count() > NAME_CHARS_MAX
                || !value
                    .chars()
                    .all(|c| super::requires::is_name_char(c) || c == '.')
            {
                // Only what a `requires` expression can spell can be matched.
                let rule = "letters, digits, ., _ and -";
                self.report(
                    &at,
                    ProblemKind::InvalidName {
                        value: value.clone(),
                        rule,
                    },
                );
            }
        }
        raw
    }

    fn switch(&mut self, raw: RawSwitch) -> SwitchConfig {
        let p = root().key("switch");
        let sip_listen = self.socket_addr(
            raw.sip_listen.as_deref(),
            &p.key("sip_listen"),
            "127.0.0.1:5060",
        );
        let http_listen = self.socket_addr(
            raw.http_listen.as_deref(),
            &p.key("http_listen"),
            "127.0.0.1:8080",
        );
        let realm = raw.realm.unwrap_or_else(|| "switchyard".to_owned());
        // The realm is sent inside a quoted-string (RFC 3261 §25.1).
        if realm.is_empty() {
            self.report(&p.key("realm"), ProblemKind::Empty);
        } else if realm
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            let rule = "no quotes, backslashes or control characters";
            self.report(
                &p.key("realm"),
                ProblemKind::InvalidName {
                    value: realm.clone(),
                    rule,
                },
            );
        }
        let cdr_path = raw
            .cdr_path
            .unwrap_or_else(|| "switchyard-cdr.sqlite".to_owned());
        if cdr_path.is_empty() {
            self.report(&p.key("cdr_path"), ProblemKind::Empty);
        }
        let records_keep = self.retention(raw.records_keep.as_deref(), &p.key("records_keep"));
        let no_answer_timeout = self.duration(
            raw.no_answer_timeout.as_deref(),
            &p.key("no_answer_timeout"),
            Duration::from_secs(30),
            true,
        );
        let drain_timeout = self.duration(
            raw.drain_timeout.as_deref(),
            &p.key("drain_timeout"),
            DRAIN_TIMEOUT_DEFAULT,
            true,
        );
        let min_se = self.duration(
            raw.min_se.as_deref(),
            &p.key("min_se"),
            MIN_SE_DEFAULT,
            true,
        );
        if min_se < MIN_SE_DEFAULT {
            let (value, range) = (raw.min_se.clone().unwrap_or_default(), ">= 90s (RFC 4028)");
            self.report(
                &p.key("min_se"),
                ProblemKind::DurationOutOfRange { value, range },
            );
        }
        let probe = raw.probe_interval.as_deref();
        let probe_interval = self.duration(
            probe,
            &p.key("probe_interval"),
            PROBE_INTERVAL_DEFAULT,
            false,
        );
        let loops = raw.transfer_loop_max;
        let transfer_loop_max = self.int(loops, &p.key("transfer_loop_max"), 2, 0, 20);
        let max_calls = self.int(
            raw.max_calls,
            &p.key("max_calls"),
            10_000,
            1,
            CALLS_MAX as i64,
        );
        let digest_challenge = match raw.digest_challenge.as_deref() {
            None => ChallengeOrder::default(),
            Some(s) => ChallengeOrder::from_name(s).unwrap_or_else(|| {
                let kind = ProblemKind::UnknownChoice {
                    what: "digest_challenge",
                    value: s.to_owned(),
                    expected: ChallengeOrder::NAMES,
                };
                self.report(&p.key("digest_challenge"), kind);
                ChallengeOrder::default()
            }),
        };
        let reg = raw.registration.unwrap_or_default();
        let rp = p.key("registration");
        let min_expires = self.duration(
            reg.min_expires.as_deref(),
            &rp.key("min_expires"),
            Duration::from_secs(60),
            true,
        );
        let max_expires = self.duration(
            reg.max_expires.as_deref(),
            &rp.key("max_expires"),
            Duration::from_secs(3600),
            true,
        );
        let default_expires = self.duration(
            reg.default_expires.as_deref(),
            &rp.key("default_expires"),
            Duration::from_secs(3600),
            true,
        );
        if !(min_expires <= default_expires && default_expires <= max_expires) {
            let kind = ProblemKind::ExpiresOrder {
                min: min_expires,
                default: default_expires,
                max: max_expires,
            };
            self.report(&rp, kind);
        }
        SwitchConfig {
            sip_listen,
            http_listen,
            realm,
            cdr_path: PathBuf::from(cdr_path),
            cdr_path_at: self.locate(&p.key("cdr_path")),
            records_keep,
            no_answer_timeout,
            max_calls,
            drain_timeout,
            min_se: min_se.max(MIN_SE_DEFAULT),
            probe_interval,
            transfer_loop_max,
            sip_workers: self.int(raw.sip_workers, &p.key("sip_workers"), 0, 0, 16),
            digest_challenge,
            force_rport: raw.force_rport.unwrap_or(false),
            escalation: None,
            conference_factory: None,
            registration: RegistrationConfig {
                min_expires,
                max_expires,
                default_expires,
            },
        }
    }

    fn ip(&mut self, value: Option<&str>, path: &FieldPath, default: IpAddr) -> IpAddr {
        let Some(text) = value else {
            return default;
        };
        text.parse().unwrap_or_else(|_| {
            let kind = ProblemKind::InvalidIp {
                value: text.to_owned(),
            };
            self.report(path, kind);
            default
        })
    }
}

/// `"20000-20999"`: two ports, low first, holding at least one even/odd pair
/// (RFC 3550 §11).
fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let (lo, hi) = text.split_once('-')?;
    let lo: u16 = lo.trim().parse().ok()?;
    let hi: u16 = hi.trim().parse().ok()?;
    PortPool::new(lo, hi).ok()?;
    Some((lo, hi))
}
