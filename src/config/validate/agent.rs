//! Agent checks: id, password, skills and attributes, and what the agent
//! may do beyond them (phones, dial rules).

use std::collections::BTreeMap;

use super::super::raw::RawAgent;
use super::super::requires::{SKILL_LEVEL_MAX, SKILL_LEVEL_MIN};
use super::super::security::MAX_CONTACTS_MAX;
use super::super::values::{check_agent_id, check_name};
use super::super::*;
use super::{root, Cx, Known, MAX_NO_ANSWER_MAX};

impl Cx<'_, '_> {
    pub(super) fn agent(&mut self, i: usize, raw: RawAgent, known: &Known) -> Option<AgentConfig> {
        let p = root().key("agents").index(i);
        let before = self.problems.len();
        if let Err(kind) = check_agent_id(&raw.id) {
            self.report(&p.key("id"), kind);
        }
        self.secret(&raw.password, &p.key("password"));
        if raw.name.as_deref() == Some("") {
            self.report(&p.key("name"), ProblemKind::Empty);
        }
        if raw.skills.len() > SKILLS_PER_AGENT_MAX {
            let count = raw.skills.len();
            self.report(
                &p.key("skills"),
                ProblemKind::TooMany {
                    count,
                    max: SKILLS_PER_AGENT_MAX,
                },
            );
        }
        let mut skills = BTreeMap::new();
        for (skill, level) in raw.skills.iter().take(SKILLS_PER_AGENT_MAX) {
            let at = p.key("skills").key(skill);
            if let Err(kind) = check_name(skill) {
                self.report(&at, kind);
                continue;
            }
            match u8::try_from(*level) {
                Ok(l) if (SKILL_LEVEL_MIN..=SKILL_LEVEL_MAX).contains(&l) => {
                    skills.insert(skill.clone(), l);
                }
                _ => {
                    let (min, max) = (i64::from(SKILL_LEVEL_MIN), i64::from(SKILL_LEVEL_MAX));
                    self.report(
                        &at,
                        ProblemKind::OutOfRange {
                            value: level.to_string(),
                            min,
                            max,
                        },
                    );
                }
            }
        }
        let attributes = self.attributes(raw.attributes, &p.key("attributes"));
        let max_no_answer = self.int(
            raw.max_no_answer,
            &p.key("max_no_answer"),
            3,
            0,
            MAX_NO_ANSWER_MAX,
        );
        let max_contacts = raw.max_contacts.map(|v| {
            let max = i64::from(MAX_CONTACTS_MAX);
            self.int(Some(v), &p.key("max_contacts"), 1, 1, max)
        });
        if let Some(name) = raw.dial_rules.as_deref() {
            self.dial_rules_named(name, &p.key("dial_rules"), known);
        }
        let srtp = self.srtp(raw.srtp.as_deref(), &p.key("srtp"), SrtpPolicy::default());
        let password_at = self.locate(&p.key("password"));
        if self.problems.len() > before {
            return None;
        }
        Some(AgentConfig {
            id: raw.id,
            password: raw.password,
            name: raw.name,
            auto_login: raw.auto_login.unwrap_or(false),
            skills,
            attributes,
            max_no_answer,
            supervisor: raw.supervisor.unwrap_or(false),
            max_contacts,
            dial_rules: raw.dial_rules,
            srtp,
            password_at,
        })
    }
}
