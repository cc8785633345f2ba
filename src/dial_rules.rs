//! Dial rules against toll fraud (issue 13, item 4): which numbers an agent
//! may dial out through the trunk. Pure; not wired into the switch yet.
//!
//! A rule is a digit prefix with an optional length range. Deny rules win
//! over allow rules; with no allow rule matching, the number is refused.

/// Most rules in one rule set.
pub const DIAL_RULES_MAX: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Leading characters, e.g. "900", "00", "+".
    pub prefix: String,
    pub len_min: usize,
    pub len_max: usize,
}

impl Pattern {
    pub fn matches(&self, number: &str) -> bool {
        let len = number.chars().count();
        number.starts_with(&self.prefix) && (self.len_min..=self.len_max).contains(&len)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialRules {
    pub allow: Vec<Pattern>,
    pub deny: Vec<Pattern>,
}

/// Why a dial was refused; the switch answers 403 with a Warning header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialRefused {
    #[error("number matches a deny rule")]
    Denied,
    #[error("number matches no allow rule")]
    NotAllowed,
}

impl DialRefused {
    pub fn status(self) -> u16 {
        403
    }
}

impl DialRules {
    /// The demo default: premium and international refused, the rest allowed.
    pub fn demo_default() -> Self {
        let any = |p: &str| Pattern {
            prefix: p.to_string(),
            len_min: 1,
            len_max: 32,
        };
        DialRules {
            allow: vec![any("")],
            deny: ["900", "1900", "00", "011", "+"]
                .iter()
                .map(|p| any(p))
                .collect(),
        }
    }

    pub fn check(&self, number: &str) -> Result<(), DialRefused> {
        if self.deny.iter().any(|p| p.matches(number)) {
            return Err(DialRefused::Denied);
        }
        if !self.allow.iter().any(|p| p.matches(number)) {
            return Err(DialRefused::NotAllowed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_rules_refuse_premium_and_international() {
        let r = DialRules::demo_default();
        for n in [
            "9005551234",
            "19005551234",
            "0044201234567",
            "01144201234567",
            "+4420123",
        ] {
            assert_eq!(r.check(n), Err(DialRefused::Denied), "{n}");
        }
        assert_eq!(r.check("5551234"), Ok(()));
    }

    #[test]
    fn length_bounds_limit_allow_rules() {
        let r = DialRules {
            allow: vec![Pattern {
                prefix: "555".into(),
                len_min: 7,
                len_max: 7,
            }],
            deny: Vec::new(),
        };
        assert_eq!(r.check("5551234"), Ok(()));
        assert_eq!(r.check("55512345"), Err(DialRefused::NotAllowed));
        assert_eq!(r.check("4441234"), Err(DialRefused::NotAllowed));
    }
}
