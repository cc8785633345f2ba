//! Plain spec structs the config loader fills in, and their compiled forms
//! (interned skills, resolved queue ids) that the router matches against.

use std::collections::HashMap;
use std::time::Duration;

use super::{AcdError, QueueId, QUEUE_CALLS_MAX, RELAX_STEPS_MAX, SKILLS_MAX, SKILL_LEVEL_MAX};

/// One agent as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSpec {
    pub name: String,
    /// Skill name and proficiency, 1..=10.
    pub skills: Vec<(String, u8)>,
    /// Free-form attributes, e.g. `("language", "en")`.
    pub attributes: Vec<(String, String)>,
    /// Unanswered offers in a row before the agent is paused with
    /// [`PauseReason::NoAnswer`]; 0 never pauses.
    pub max_no_answer: u32,
}

/// One condition of a requirement alternative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The agent has `skill` at `min_level` or above.
    Skill { skill: String, min_level: u8 },
    /// The agent carries attribute `name` with exactly `value`.
    Attribute { name: String, value: String },
}

/// How a queue picks among its matching free agents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// The agent free the longest.
    #[default]
    LongestIdle,
    /// Highest proficiency in the queue's skills; ties go to the longest idle.
    MostSkilled,
    /// The next agent after the last one offered, in agent order.
    RoundRobin,
    /// Fewest calls handled; ties go to the longest idle.
    FewestCalls,
    /// Least talk time; ties go to the longest idle.
    LeastTalkTime,
    /// Uniformly at random (seeded RNG).
    Random,
    /// Every matching free agent at once (up to `RING_ALL_OFFERS_MAX`);
    /// the first to answer wins, the others' offers are withdrawn.
    RingAll,
}

/// Where a call goes when its queue is full or it has waited too long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overflow {
    Queue(String),
    Busy,
}

/// [`Overflow`] with the queue resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowTarget {
    Queue(QueueId),
    Busy,
}

/// What a call meets when no agent is logged in to its queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenNoAgents {
    #[default]
    Join,
    Refuse,
}

/// The service-level goal: `target_percent` of calls answered within `threshold`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceLevel {
    pub threshold: Duration,
    pub target_percent: u8,
}

/// After a caller has waited `after`, `requires` replaces the queue's requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaxStep {
    pub after: Duration,
    pub requires: Vec<Vec<Condition>>,
}

/// One queue as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    /// Alternatives; an agent qualifies if it meets every condition of any
    /// one. No alternatives: every agent qualifies.
    pub requires: Vec<Vec<Condition>>,
    pub strategy: Strategy,
    pub ring_timeout: Duration,
    pub wrap_up: Duration,
    /// `Some(max)`: after a call the agent stays in wrap-up until a
    /// disposition code arrives ([`Input::Disposition`](super::Input::Disposition)),
    /// but at least `wrap_up` and at most `max`. `None`: wrap-up lasts `wrap_up`.
    pub disposition_wrap_up_max: Option<Duration>,
    pub max_length: usize,
    /// `None`: callers wait until answered or they hang up.
    pub max_wait: Option<Duration>,
    pub overflow: Overflow,
    pub when_no_agents: WhenNoAgents,
    pub service_level: ServiceLevel,
    pub relax: Vec<RelaxStep>,
}

/// Why an agent is paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PauseReason {
    Break,
    Lunch,
    Training,
    /// Set by the router after `max_no_answer` missed offers in a row.
    NoAnswer,
    /// A site-defined reason code.
    Code(u16),
    /// A free-text reason given through the API; the switch keeps the text.
    Other,
}

/// A skill name interned to a small number.
pub(crate) type SkillId = u16;

/// One requirement alternative, compiled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Alternative {
    pub skills: Vec<(SkillId, u8)>,
    pub attributes: Vec<(String, String)>,
}

/// A requirement: alternatives, any one of which qualifies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub alternatives: Vec<Alternative>,
}

/// An agent's skills and attributes as the matcher sees them.
pub(crate) struct Profile<'a> {
    /// Sorted by skill id.
    pub skills: &'a [(SkillId, u8)],
    pub attributes: &'a [(String, String)],
}

impl Profile<'_> {
    fn level(&self, skill: SkillId) -> Option<u8> {
        self.skills
            .binary_search_by_key(&skill, |s| s.0)
            .ok()
            .map(|i| self.skills[i].1)
    }
}

impl Requirement {
    /// Whether the profile qualifies, and its proficiency for the
    /// most-skilled strategy: the best level, over qualifying alternatives,
    /// among the skills they name (0 when they name none).
    pub fn score(&self, profile: &Profile<'_>) -> Option<u8> {
        if self.alternatives.is_empty() {
            return Some(0);
        }
        let mut best = None;
        for alt in &self.alternatives {
            let skills_ok = alt
                .skills
                .iter()
                .all(|&(s, min)| profile.level(s).is_some_and(|l| l >= min));
            let attrs_ok = alt
                .attributes
                .iter()
                .all(|(n, v)| profile.attributes.iter().any(|(an, av)| an == n && av == v));
            if !(skills_ok && attrs_ok) {
                continue;
            }
            let level = alt
                .skills
                .iter()
                .filter_map(|&(s, _)| profile.level(s))
                .max()
                .unwrap_or(0);
            best = Some(best.map_or(level, |b: u8| b.max(level)));
        }
        best
    }
}

/// Interns skill names.
#[derive(Clone, Default)]
pub(crate) struct SkillTable {
    ids: HashMap<String, SkillId>,
}

impl SkillTable {
    pub fn intern(&mut self, name: &str) -> Result<SkillId, AcdError> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        if self.ids.len() >= SKILLS_MAX {
            return Err(AcdError::TooManySkills { max: SKILLS_MAX });
        }
        let id = self.ids.len() as SkillId;
        self.ids.insert(name.to_owned(), id);
        Ok(id)
    }
}

pub(crate) fn compile_agent_skills(
    spec: &AgentSpec,
    skills: &mut SkillTable,
) -> Result<Vec<(SkillId, u8)>, AcdError> {
    let mut out = Vec::with_capacity(spec.skills.len());
    for (name, level) in &spec.skills {
        if !(1..=SKILL_LEVEL_MAX).contains(level) {
            return Err(AcdError::SkillLevelOutOfRange {
                agent: spec.name.clone(),
                skill: name.clone(),
                level: *level,
            });
        }
        out.push((skills.intern(name)?, *level));
    }
    out.sort_unstable();
    // A skill listed twice keeps its best level.
    out.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 = earlier.1.max(later.1);
            true
        } else {
            false
        }
    });
    Ok(out)
}

pub(crate) fn compile_requirement(
    queue: &str,
    alternatives: &[Vec<Condition>],
    skills: &mut SkillTable,
) -> Result<Requirement, AcdError> {
    let mut out = Requirement::default();
    for conditions in alternatives {
        let mut alt = Alternative::default();
        for c in conditions {
            match c {
                Condition::Skill { skill, min_level } => {
                    if !(1..=SKILL_LEVEL_MAX).contains(min_level) {
                        return Err(AcdError::ConditionLevelOutOfRange {
                            queue: queue.to_owned(),
                            skill: skill.clone(),
                            level: *min_level,
                        });
                    }
                    alt.skills.push((skills.intern(skill)?, *min_level));
                }
                Condition::Attribute { name, value } => {
                    alt.attributes.push((name.clone(), value.clone()));
                }
            }
        }
        out.alternatives.push(alt);
    }
    Ok(out)
}

/// Checks what the router cannot compile away: limits and step order.
pub(crate) fn validate_queue(spec: &QueueSpec) -> Result<(), AcdError> {
    if spec.ring_timeout.is_zero() {
        return Err(AcdError::ZeroRingTimeout {
            queue: spec.name.clone(),
        });
    }
    if spec.max_length > QUEUE_CALLS_MAX {
        return Err(AcdError::QueueLengthTooLarge {
            queue: spec.name.clone(),
            length: spec.max_length,
            max: QUEUE_CALLS_MAX,
        });
    }
    if spec.relax.len() > RELAX_STEPS_MAX {
        return Err(AcdError::TooManyRelaxSteps {
            queue: spec.name.clone(),
            max: RELAX_STEPS_MAX,
        });
    }
    let increasing = spec.relax.windows(2).all(|w| w[0].after < w[1].after)
        && spec.relax.first().is_none_or(|s| !s.after.is_zero());
    if !increasing {
        return Err(AcdError::RelaxStepsNotIncreasing {
            queue: spec.name.clone(),
        });
    }
    Ok(())
}
