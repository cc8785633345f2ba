//! Dial rules against toll fraud (issue 13, item 4): which numbers an agent
//! may dial out through the trunk. Pure: the switch checks an agent's
//! call out (and an originated call) with [`DialRules::check`] before any
//! INVITE goes to the carrier.
//!
//! A rule is a digit prefix with an optional length range, written
//! `900`, `+44`, `555{7}`, `1{11,11}` or `*` (any number). Deny rules win
//! over allow rules; with no allow rule matching, the number is refused.
//! A number that is not digits (with an optional leading `+`) is refused
//! whatever the rules say: a carrier may read `9-00…` or `%39…` as 900.

use std::fmt;

/// Most rules in one rule set.
pub const DIAL_RULES_MAX: usize = 256;
/// Longest number a rule considers (E.164 is 15 digits; room for prefixes).
pub const DIAL_NUMBER_CHARS_MAX: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// Leading characters, e.g. "900", "00", "+".
    pub prefix: String,
    pub len_min: usize,
    pub len_max: usize,
}

impl Pattern {
    /// Parses `PREFIX`, `PREFIX{N}`, `PREFIX{MIN,MAX}` or `*`; `None` when
    /// the text is none of them.
    pub fn parse(text: &str) -> Option<Pattern> {
        if text == "*" {
            return Some(Pattern {
                prefix: String::new(),
                len_min: 1,
                len_max: DIAL_NUMBER_CHARS_MAX,
            });
        }
        let (prefix, lengths) = match text.split_once('{') {
            Some((p, rest)) => (p, Some(rest.strip_suffix('}')?)),
            None => (text, None),
        };
        let digits = prefix.strip_prefix('+').unwrap_or(prefix);
        if !digits.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > DIAL_NUMBER_CHARS_MAX {
            return None;
        }
        let number = |t: &str| -> Option<usize> {
            let n: usize = t.trim().parse().ok()?;
            (1..=DIAL_NUMBER_CHARS_MAX).contains(&n).then_some(n)
        };
        let (len_min, len_max) = match lengths {
            None => (prefix.len().max(1), DIAL_NUMBER_CHARS_MAX),
            Some(l) => match l.split_once(',') {
                Some((a, b)) => (number(a)?, number(b)?),
                None => (number(l)?, number(l)?),
            },
        };
        if prefix.is_empty() && lengths.is_none() || len_min > len_max {
            return None;
        }
        Some(Pattern {
            prefix: prefix.to_owned(),
            len_min,
            len_max,
        })
    }

    pub fn matches(&self, number: &str) -> bool {
        let len = number.chars().count();
        number.starts_with(&self.prefix) && (self.len_min..=self.len_max).contains(&len)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() && self.len_min <= 1 && self.len_max >= DIAL_NUMBER_CHARS_MAX {
            return f.write_str("*");
        }
        write!(f, "{}{{{},{}}}", self.prefix, self.len_min, self.len_max)
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
    #[error("not a number (digits with an optional leading +)")]
    NotANumber,
}

impl DialRefused {
    pub fn status(self) -> u16 {
        403
    }

    /// The reason phrase of our 403 (RFC 3261 §21.4.4 lets it say why).
    pub fn reason_phrase(self) -> &'static str {
        match self {
            DialRefused::Denied => "Number Barred By Dial Rules",
            DialRefused::NotAllowed => "Number Not Allowed By Dial Rules",
            DialRefused::NotANumber => "Not A Dialable Number",
        }
    }

    /// A label for `switchyard_dial_refused_total{reason}`.
    pub fn label(self) -> &'static str {
        match self {
            DialRefused::Denied => "denied",
            DialRefused::NotAllowed => "not_allowed",
            DialRefused::NotANumber => "not_a_number",
        }
    }
}

impl DialRules {
    /// The deny rule `number` matches first, for the log.
    pub fn denied_by(&self, number: &str) -> Option<&Pattern> {
        self.deny.iter().find(|p| p.matches(number))
    }

    /// The demo default: premium and international refused, the rest allowed.
    pub fn demo_default() -> Self {
        let rule = |p: &str| Pattern::parse(p).expect("built-in patterns parse");
        DialRules {
            allow: vec![rule("*")],
            deny: ["900", "1900", "00", "011", "+"]
                .iter()
                .map(|p| rule(p))
                .collect(),
        }
    }

    pub fn check(&self, number: &str) -> Result<(), DialRefused> {
        let digits = number.strip_prefix('+').unwrap_or(number);
        if digits.is_empty()
            || number.len() > DIAL_NUMBER_CHARS_MAX
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(DialRefused::NotANumber);
        }
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

    #[test]
    fn patterns_parse_from_their_text() {
        let p = Pattern::parse("555{7}").expect("exact length");
        assert_eq!((p.prefix.as_str(), p.len_min, p.len_max), ("555", 7, 7));
        let p = Pattern::parse("+44{8,13}").expect("range");
        assert_eq!((p.prefix.as_str(), p.len_min, p.len_max), ("+44", 8, 13));
        let p = Pattern::parse("900").expect("prefix");
        assert!(p.matches("9005551234") && !p.matches("5559001234"));
        assert!(Pattern::parse("*").expect("any").matches("5551234"));
        assert!(Pattern::parse("{3,4}").expect("length only").matches("123"));
        for bad in ["", "9a", "{}", "5{0}", "5{9,3}", "5{7", "*9", "1{40}"] {
            assert_eq!(Pattern::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn what_is_not_a_number_is_refused_before_any_rule() {
        let r = DialRules {
            allow: vec![Pattern::parse("*").expect("any")],
            deny: Vec::new(),
        };
        for n in ["9-005551234", "%39005551234", "", "+", "12a"] {
            assert_eq!(r.check(n), Err(DialRefused::NotANumber), "{n:?}");
        }
        assert_eq!(r.check("+15551234"), Ok(()));
    }
}
