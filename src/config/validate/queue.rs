//! Queue checks: `requires` expressions, relaxation steps, overflow targets
//! and cycles, and skills or attributes no agent holds.

use std::collections::HashMap;
use std::time::Duration;

use super::super::raw::RawQueue;
use super::super::requires::RequireExpr;
use super::super::values::check_name;
use super::super::*;
use super::{root, Cx, Known};
use crate::config::locate::FieldPath;

mod callback;
mod disposition;

/// Callers waiting in one queue.
const QUEUE_LENGTH_MAX: i64 = 100_000;

impl Cx<'_, '_> {
    pub(super) fn requires(&mut self, text: &str, path: &FieldPath) -> Option<RequireExpr> {
        match RequireExpr::parse(text) {
            Ok(e) => Some(e),
            Err(error) => {
                let column = error.column().unwrap_or(1);
                let kind = ProblemKind::RequireSyntax {
                    expr: text.to_owned(),
                    error,
                };
                self.report_in_string(path, text, column, kind);
                None
            }
        }
    }

    pub(super) fn queue(
        &mut self,
        i: usize,
        mut raw: RawQueue,
        known: &Known,
    ) -> Option<QueueConfig> {
        let p = root().key("queues").index(i);
        if let Err(kind) = check_name(&raw.name) {
            self.report(&p.key("name"), kind);
        }
        let requires = self.requires(&raw.requires, &p.key("requires"));
        let record = raw.record.unwrap_or(false);
        if record && !known.media {
            self.report(&p.key("record"), ProblemKind::RecordWithoutMedia);
        }
        let strategy = match raw.strategy.as_deref() {
            None => Strategy::LongestIdle,
            Some(s) => Strategy::from_name(s).unwrap_or_else(|| {
                let kind = ProblemKind::UnknownChoice {
                    what: "strategy",
                    value: s.to_owned(),
                    expected: Strategy::NAMES,
                };
                self.report(&p.key("strategy"), kind);
                Strategy::LongestIdle
            }),
        };
        let ring_timeout = self.duration(
            raw.ring_timeout.as_deref(),
            &p.key("ring_timeout"),
            Duration::from_secs(15),
            true,
        );
        let wrap_up = self.duration(
            raw.wrap_up.as_deref(),
            &p.key("wrap_up"),
            Duration::from_secs(5),
            false,
        );
        let max_length = self.int(
            raw.max_length,
            &p.key("max_length"),
            50,
            0,
            QUEUE_LENGTH_MAX,
        );
        let max_wait = self.duration(
            raw.max_wait.as_deref(),
            &p.key("max_wait"),
            Duration::from_secs(300),
            true,
        );
        let overflow = match raw.overflow.as_deref() {
            None | Some("busy") => Overflow::Busy,
            Some(o) => match o.strip_prefix("queue:") {
                Some(name) if known.queues.iter().any(|q| q == name) => {
                    Overflow::Queue(name.to_owned())
                }
                Some(name) if check_name(name).is_ok() => {
                    let kind = ProblemKind::UnknownQueue {
                        queue: name.to_owned(),
                    };
                    self.report(&p.key("overflow"), kind);
                    Overflow::Busy
                }
                _ => {
                    self.report(
                        &p.key("overflow"),
                        ProblemKind::InvalidOverflow {
                            value: o.to_owned(),
                        },
                    );
                    Overflow::Busy
                }
            },
        };
        let when_no_agents = match raw.when_no_agents.as_deref() {
            None | Some("join") => WhenNoAgents::Join,
            Some("refuse") => WhenNoAgents::Refuse,
            Some(other) => {
                let kind = ProblemKind::UnknownChoice {
                    what: "when_no_agents",
                    value: other.to_owned(),
                    expected: "join, refuse",
                };
                self.report(&p.key("when_no_agents"), kind);
                WhenNoAgents::Join
            }
        };
        let sl = p.key("service_level");
        let (within, target) = raw
            .service_level
            .map_or((None, None), |s| (s.within, s.target));
        let within = self.duration(
            within.as_deref(),
            &sl.key("within"),
            Duration::from_secs(20),
            true,
        );
        let target = target.unwrap_or(0.8);
        // NaN fails both comparisons, so it is refused too.
        if !(target > 0.0 && target <= 1.0) {
            self.report(
                &sl.key("target"),
                ProblemKind::TargetOutOfRange { value: target },
            );
        }
        if raw.relax.len() > RELAX_STEPS_MAX {
            let count = raw.relax.len();
            self.report(
                &p.key("relax"),
                ProblemKind::TooMany {
                    count,
                    max: RELAX_STEPS_MAX,
                },
            );
        }
        let mut relax = Vec::new();
        let mut previous: Option<Duration> = None;
        for (j, step) in raw.relax.iter().enumerate().take(RELAX_STEPS_MAX) {
            let rp = p.key("relax").index(j);
            let after = self.duration(Some(&step.after), &rp.key("after"), Duration::ZERO, true);
            if let Some(prev) = previous.filter(|&prev| after <= prev && !after.is_zero()) {
                self.report(
                    &rp.key("after"),
                    ProblemKind::RelaxNotIncreasing {
                        after,
                        previous: prev,
                    },
                );
            }
            previous = Some(after.max(previous.unwrap_or_default()));
            if let Some(requires) = self.requires(&step.requires, &rp.key("requires")) {
                relax.push(super::RelaxStep { after, requires });
            }
        }
        let requires = requires?;
        let exprs = std::iter::once((p.key("requires"), &requires)).chain(
            relax
                .iter()
                .enumerate()
                .map(|(j, r)| (p.key("relax").index(j).key("requires"), &r.requires)),
        );
        let mut unmet = Vec::new();
        for (path, expr) in exprs {
            for skill in dedup(expr.skills())
                .into_iter()
                .filter(|s| !known.skills.contains(*s))
            {
                unmet.push((
                    path.clone(),
                    ProblemKind::SkillNotOnAnyAgent {
                        skill: skill.to_owned(),
                    },
                ));
            }
            for attribute in dedup(expr.attributes())
                .into_iter()
                .filter(|a| !known.attributes.contains(*a))
            {
                unmet.push((
                    path.clone(),
                    ProblemKind::AttributeNotOnAnyAgent {
                        attribute: attribute.to_owned(),
                    },
                ));
            }
        }
        for (path, kind) in unmet {
            self.report(&path, kind);
        }
        let codes = self.dispositions(
            &p,
            std::mem::take(&mut raw.dispositions),
            raw.disposition_required,
            raw.wrap_up_max.as_deref(),
            wrap_up,
        );
        let transfer_priority = self.int(
            raw.transfer_priority,
            &p.key("transfer_priority"),
            0,
            0,
            i64::from(u8::MAX),
        );
        let hangup = self.duration(
            raw.transfer_fallback_hangup.as_deref(),
            &p.key("transfer_fallback_hangup"),
            Duration::from_secs(10),
            true,
        );
        let fallback = raw.transfer_fallback.as_deref();
        let transfer_fallback = self.transfer_fallback(&p, fallback, hangup, known);
        let transfer_fallback_at = self.locate(&p.key("transfer_fallback"));
        let callback = raw
            .callback
            .take()
            .map(|c| self.callback(&p, c, known.media));
        Some(QueueConfig {
            name: raw.name,
            requires,
            strategy,
            ring_timeout,
            wrap_up,
            max_length,
            max_wait,
            overflow,
            when_no_agents,
            service_level: ServiceLevel { within, target },
            relax,
            record,
            dispositions: codes.codes,
            disposition_required: codes.required,
            wrap_up_max: codes.wrap_up_max,
            transfer_priority: u8::try_from(transfer_priority).unwrap_or(0),
            transfer_fallback,
            transfer_fallback_at,
            callback,
        })
    }

    fn transfer_fallback(
        &mut self,
        p: &FieldPath,
        text: Option<&str>,
        after: Duration,
        known: &Known,
    ) -> TransferFallback {
        let path = p.key("transfer_fallback");
        let Some(text) = text else {
            return TransferFallback::Agent;
        };
        let bad = |value: &str| ProblemKind::InvalidTransferFallback {
            value: value.to_owned(),
        };
        if text == "agent" {
            return TransferFallback::Agent;
        }
        let Some((kind, name)) = text.split_once(':') else {
            self.report(&path, bad(text));
            return TransferFallback::Agent;
        };
        if check_name(name).is_err() {
            self.report(&path, bad(text));
            return TransferFallback::Agent;
        }
        match kind {
            "queue" if known.queues.iter().any(|q| q == name) => {
                TransferFallback::Queue(name.to_owned())
            }
            "queue" => {
                let queue = name.to_owned();
                self.report(&path, ProblemKind::UnknownQueue { queue });
                TransferFallback::Agent
            }
            "prompt" if known.media => TransferFallback::Prompt {
                prompt: name.to_owned(),
                after,
            },
            "prompt" => {
                self.report(&path, ProblemKind::FallbackPromptWithoutMedia);
                TransferFallback::Agent
            }
            _ => {
                self.report(&path, bad(text));
                TransferFallback::Agent
            }
        }
    }

    /// Overflow chains must end (RFC-free, but a caller bounced around a
    /// cycle would never leave the switch).
    pub(super) fn check_overflow_cycles(&mut self, queues: &[(usize, QueueConfig)]) {
        let index: HashMap<&str, usize> = queues
            .iter()
            .enumerate()
            .map(|(k, (_, q))| (q.name.as_str(), k))
            .collect();
        let built: Vec<&QueueConfig> = queues.iter().map(|(_, q)| q).collect();
        for (k, (i, _)) in queues.iter().enumerate() {
            if let Some(cycle) = overflow_cycle(&built, &index, k) {
                let path = root().key("queues").index(*i).key("overflow");
                self.report(&path, ProblemKind::OverflowCycle { cycle });
            }
        }
    }
}

/// The cycle through queue `start` when following overflow targets returns
/// to it, reported only from the cycle's first queue in file order so each
/// cycle is reported once.
fn overflow_cycle(
    queues: &[&QueueConfig],
    index: &HashMap<&str, usize>,
    start: usize,
) -> Option<Vec<String>> {
    let mut path = vec![start];
    let mut at = start;
    // Each queue has one overflow target, so queues.len() steps decide it.
    for _ in 0..queues.len() {
        let Overflow::Queue(next) = &queues[at].overflow else {
            return None;
        };
        at = *index.get(next.as_str())?;
        if at == start {
            if path.iter().any(|&q| q < start) {
                return None;
            }
            path.push(start);
            return Some(path.iter().map(|&q| queues[q].name.clone()).collect());
        }
        if path.contains(&at) {
            // A cycle that does not pass through `start`; its own first queue reports it.
            return None;
        }
        path.push(at);
    }
    None
}

fn dedup<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.collect();
    v.sort_unstable();
    v.dedup();
    v
}
