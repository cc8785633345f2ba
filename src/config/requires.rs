//! The `requires` expression of a queue: which agents may take its calls.
//!
//! ```text
//! expr        = alternative *( "|" alternative )
//! alternative = term *( "&" term )
//! term        = skill ":" level      ; agent has skill at level >= min
//!             / attribute "=" value  ; agent attribute equals value
//! ```
//!
//! `support:5 & language=en | general:3` reads as
//! (support ≥ 5 and language is en) or (general ≥ 3). Whitespace is free.

use std::collections::BTreeMap;
use std::fmt;

/// Alternatives in one expression.
pub const REQUIRE_ALTERNATIVES_MAX: usize = 16;
/// Terms in one alternative.
pub const REQUIRE_TERMS_MAX: usize = 16;
/// Skill levels run from 1 (novice) to 10 (expert).
pub const SKILL_LEVEL_MIN: u8 = 1;
pub const SKILL_LEVEL_MAX: u8 = 10;

/// A parsed `requires`: any one alternative suffices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequireExpr {
    pub alternatives: Vec<Alternative>,
}

/// All of its skills and attribute conditions must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alternative {
    pub skills: Vec<SkillMin>,
    pub attributes: Vec<AttributeEq>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkillMin {
    pub skill: String,
    pub min_level: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeEq {
    pub name: String,
    pub value: String,
}

/// What is wrong in a `requires` string; columns are 1-based characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequireError {
    #[error("empty expression")]
    Empty,
    #[error("expected a skill or attribute name at column {column}")]
    ExpectedName { column: usize },
    #[error("expected `:level` or `=value` after the name at column {column}")]
    ExpectedOperator { column: usize },
    #[error("expected a level 1..=10 at column {column}")]
    ExpectedLevel { column: usize },
    #[error("level {level} out of range 1..=10 at column {column}")]
    LevelOutOfRange { level: String, column: usize },
    #[error("expected an attribute value at column {column}")]
    ExpectedValue { column: usize },
    #[error("expected `&`, `|` or the end at column {column}")]
    ExpectedJoin { column: usize },
    #[error("more than {max} terms or alternatives at column {column}")]
    TooLong { max: usize, column: usize },
}

impl RequireError {
    /// 1-based column inside the string, if the error has one.
    pub fn column(&self) -> Option<usize> {
        match self {
            RequireError::Empty => None,
            RequireError::ExpectedName { column }
            | RequireError::ExpectedOperator { column }
            | RequireError::ExpectedLevel { column }
            | RequireError::LevelOutOfRange { column, .. }
            | RequireError::ExpectedValue { column }
            | RequireError::ExpectedJoin { column }
            | RequireError::TooLong { column, .. } => Some(*column),
        }
    }
}

impl RequireExpr {
    pub fn parse(text: &str) -> Result<RequireExpr, RequireError> {
        let mut p = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        p.skip_ws();
        if p.at_end() {
            return Err(RequireError::Empty);
        }
        let mut alternatives = vec![p.alternative()?];
        while p.eat('|') {
            if alternatives.len() == REQUIRE_ALTERNATIVES_MAX {
                return Err(RequireError::TooLong {
                    max: REQUIRE_ALTERNATIVES_MAX,
                    column: p.column(),
                });
            }
            alternatives.push(p.alternative()?);
        }
        if !p.at_end() {
            return Err(RequireError::ExpectedJoin { column: p.column() });
        }
        Ok(RequireExpr { alternatives })
    }

    /// Whether an agent with these skills and attributes may take the call.
    pub fn is_met_by(
        &self,
        skills: &BTreeMap<String, u8>,
        attributes: &BTreeMap<String, String>,
    ) -> bool {
        self.alternatives.iter().any(|alt| {
            alt.skills
                .iter()
                .all(|s| skills.get(&s.skill).is_some_and(|&l| l >= s.min_level))
                && alt
                    .attributes
                    .iter()
                    .all(|a| attributes.get(&a.name) == Some(&a.value))
        })
    }

    /// Every skill named anywhere in the expression.
    pub fn skills(&self) -> impl Iterator<Item = &str> {
        self.alternatives
            .iter()
            .flat_map(|a| a.skills.iter().map(|s| s.skill.as_str()))
    }

    /// Every attribute named anywhere in the expression.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.alternatives
            .iter()
            .flat_map(|a| a.attributes.iter().map(|s| s.name.as_str()))
    }
}

impl fmt::Display for RequireExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alt) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            let skills = alt
                .skills
                .iter()
                .map(|s| format!("{}:{}", s.skill, s.min_level));
            let attrs = alt
                .attributes
                .iter()
                .map(|a| format!("{}={}", a.name, a.value));
            f.write_str(&skills.chain(attrs).collect::<Vec<_>>().join(" & "))?;
        }
        Ok(())
    }
}

/// Characters allowed in skill and attribute names (and attribute values,
/// which may also hold `.`).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn column(&self) -> usize {
        self.pos + 1
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn take_while(&mut self, ok: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(|&c| ok(c)) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn alternative(&mut self) -> Result<Alternative, RequireError> {
        let mut alt = Alternative::default();
        loop {
            if alt.skills.len() + alt.attributes.len() == REQUIRE_TERMS_MAX {
                return Err(RequireError::TooLong {
                    max: REQUIRE_TERMS_MAX,
                    column: self.column(),
                });
            }
            self.term(&mut alt)?;
            if !self.eat('&') {
                return Ok(alt);
            }
        }
    }

    fn term(&mut self, alt: &mut Alternative) -> Result<(), RequireError> {
        self.skip_ws();
        let name_column = self.column();
        let name = self.take_while(is_name_char);
        if name.is_empty() {
            return Err(RequireError::ExpectedName {
                column: name_column,
            });
        }
        if self.eat(':') {
            self.skip_ws();
            let column = self.column();
            let level = self.take_while(|c| c.is_ascii_digit());
            if level.is_empty() {
                return Err(RequireError::ExpectedLevel { column });
            }
            let min_level = match level.parse::<u8>() {
                Ok(l) if (SKILL_LEVEL_MIN..=SKILL_LEVEL_MAX).contains(&l) => l,
                _ => return Err(RequireError::LevelOutOfRange { level, column }),
            };
            alt.skills.push(SkillMin {
                skill: name,
                min_level,
            });
            return Ok(());
        }
        if self.eat('=') {
            self.skip_ws();
            let column = self.column();
            let value = self.take_while(|c| is_name_char(c) || c == '.');
            if value.is_empty() {
                return Err(RequireError::ExpectedValue { column });
            }
            alt.attributes.push(AttributeEq { name, value });
            return Ok(());
        }
        self.skip_ws();
        Err(RequireError::ExpectedOperator {
            column: self.column(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(s: &str, l: u8) -> SkillMin {
        SkillMin {
            skill: s.into(),
            min_level: l,
        }
    }

    #[test]
    fn parses_alternatives_of_skills_and_attributes() {
        let e = RequireExpr::parse("support:5 & language=en | general:3").unwrap();
        assert_eq!(
            e.alternatives,
            vec![
                Alternative {
                    skills: vec![skill("support", 5)],
                    attributes: vec![AttributeEq {
                        name: "language".into(),
                        value: "en".into()
                    }],
                },
                Alternative {
                    skills: vec![skill("general", 3)],
                    attributes: vec![],
                },
            ]
        );
        assert_eq!(e.to_string(), "support:5 & language=en | general:3");
    }

    #[test]
    fn syntax_errors_name_the_column_inside_the_string() {
        assert_eq!(RequireExpr::parse("   "), Err(RequireError::Empty));
        assert_eq!(
            RequireExpr::parse("support:5 & | x:1"),
            Err(RequireError::ExpectedName { column: 13 })
        );
        assert_eq!(
            RequireExpr::parse("support"),
            Err(RequireError::ExpectedOperator { column: 8 })
        );
        assert_eq!(
            RequireExpr::parse("support:"),
            Err(RequireError::ExpectedLevel { column: 9 })
        );
        assert_eq!(
            RequireExpr::parse("support:11"),
            Err(RequireError::LevelOutOfRange {
                level: "11".into(),
                column: 9
            })
        );
        assert_eq!(
            RequireExpr::parse("support:0"),
            Err(RequireError::LevelOutOfRange {
                level: "0".into(),
                column: 9
            })
        );
        assert_eq!(
            RequireExpr::parse("language="),
            Err(RequireError::ExpectedValue { column: 10 })
        );
        assert_eq!(
            RequireExpr::parse("a:1 b:2"),
            Err(RequireError::ExpectedJoin { column: 5 })
        );
        assert_eq!(
            RequireExpr::parse("a:99999999999999999999"),
            Err(RequireError::LevelOutOfRange {
                level: "99999999999999999999".into(),
                column: 3
            })
        );
    }

    #[test]
    fn expression_longer_than_the_bound_is_refused() {
        let long = vec!["a:1"; REQUIRE_TERMS_MAX + 1].join(" & ");
        assert!(matches!(
            RequireExpr::parse(&long),
            Err(RequireError::TooLong { .. })
        ));
        let wide = vec!["a:1"; REQUIRE_ALTERNATIVES_MAX + 1].join(" | ");
        assert!(matches!(
            RequireExpr::parse(&wide),
            Err(RequireError::TooLong { .. })
        ));
    }

    #[test]
    fn agent_meets_an_alternative_when_all_its_terms_hold() {
        let e = RequireExpr::parse("support:5 & language=en | general:3").unwrap();
        let skills = BTreeMap::from([("support".to_string(), 6u8)]);
        let en = BTreeMap::from([("language".to_string(), "en".to_string())]);
        assert!(e.is_met_by(&skills, &en));
        assert!(!e.is_met_by(&skills, &BTreeMap::new()));
        let general = BTreeMap::from([("general".to_string(), 3u8)]);
        assert!(e.is_met_by(&general, &BTreeMap::new()));
    }
}
