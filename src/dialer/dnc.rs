//! The do-not-call gate: numbers normalised to E.164 and a set to test
//! every dial against. Dialling a listed number is impossible by
//! construction: the campaign asks [`Dnc::blocks`] before it emits a dial,
//! and counts every refusal (`blocked`), whatever state the contact list
//! claims the contact is in.

use std::collections::BTreeSet;

/// E.164 allows at most 15 digits after the `+` (ITU-T E.164 §6).
pub const E164_DIGITS_MAX: usize = 15;
/// Numbers held in the DNC set; a national list is tens of millions, so
/// this switch takes the centre's own list and refuses beyond it.
pub const DNC_NUMBERS_MAX: usize = 5_000_000;

/// How national numbers are read: the country code added to them and the
/// national trunk prefix stripped first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbering {
    /// Digits without `+`, e.g. `1` or `44`.
    pub country_code: String,
    /// Dialled before national numbers, e.g. `0` in most of Europe; empty
    /// in the North American plan.
    pub trunk_prefix: String,
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering {
            country_code: "1".into(),
            trunk_prefix: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{0:?} has a character that is not a digit, + or separator")]
    BadCharacter(String),
    #[error("{0:?} has no digits")]
    Empty(String),
    #[error("{0:?} is longer than E.164's {E164_DIGITS_MAX} digits")]
    TooLong(String),
}

/// `text` as E.164 (`+` and digits). Spaces, dashes, dots and brackets are
/// dropped; `+` and the international prefix `00` mark a full number; a
/// national number gets `numbering`'s country code, its trunk prefix
/// stripped (and, for country code 1, a leading `1` taken as the code).
pub fn normalise(text: &str, numbering: &Numbering) -> Result<String, NumberError> {
    let mut digits = String::with_capacity(text.len());
    let trimmed = text.trim();
    let (international, body) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(NumberError::BadCharacter(text.into())),
        }
    }
    if digits.is_empty() {
        return Err(NumberError::Empty(text.into()));
    }
    let full = if international {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if !numbering.trunk_prefix.is_empty() && digits.starts_with(&numbering.trunk_prefix) {
        format!(
            "{}{}",
            numbering.country_code,
            &digits[numbering.trunk_prefix.len()..]
        )
    } else if numbering.country_code == "1" && digits.len() == 11 && digits.starts_with('1') {
        digits
    } else {
        format!("{}{digits}", numbering.country_code)
    };
    if full.is_empty() {
        return Err(NumberError::Empty(text.into()));
    }
    if full.len() > E164_DIGITS_MAX {
        return Err(NumberError::TooLong(text.into()));
    }
    Ok(format!("+{full}"))
}

/// The do-not-call set, E.164 numbers.
#[derive(Clone, Debug, Default)]
pub struct Dnc {
    numbers: BTreeSet<String>,
    /// Dials refused because the number is listed.
    pub blocked: u64,
}

impl Dnc {
    /// Adds an E.164 number; false when full (and it is not added) or when
    /// already listed.
    pub fn add(&mut self, e164: &str) -> bool {
        if self.numbers.len() >= DNC_NUMBERS_MAX {
            return false;
        }
        self.numbers.insert(e164.to_owned())
    }

    pub fn remove(&mut self, e164: &str) -> bool {
        self.numbers.remove(e164)
    }

    pub fn contains(&self, e164: &str) -> bool {
        self.numbers.contains(e164)
    }

    /// The gate: true (and counted) when `e164` must not be dialled.
    pub fn blocks(&mut self, e164: &str) -> bool {
        let listed = self.contains(e164);
        self.blocked += u64::from(listed);
        listed
    }

    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Up to `limit` numbers in order, from the `offset`th on.
    pub fn page(&self, offset: usize, limit: usize) -> Vec<String> {
        self.numbers
            .iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// Reads a list, one number a line; `#` starts a comment. Returns the
    /// 1-based line numbers that are not numbers, with why.
    pub fn load_text(&mut self, text: &str, numbering: &Numbering) -> Vec<(usize, NumberError)> {
        let mut bad = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match normalise(line, numbering) {
                Ok(n) => {
                    self.add(&n);
                }
                Err(e) => bad.push((i + 1, e)),
            }
        }
        bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_to_e164() {
        let us = Numbering::default();
        let uk = Numbering {
            country_code: "44".into(),
            trunk_prefix: "0".into(),
        };
        assert_eq!(normalise("5550300", &us).unwrap(), "+15550300");
        assert_eq!(normalise("(212) 555-0100", &us).unwrap(), "+12125550100");
        assert_eq!(normalise("1 212 555 0100", &us).unwrap(), "+12125550100");
        assert_eq!(normalise("+44 20 7946 0958", &us).unwrap(), "+442079460958");
        assert_eq!(normalise("020 7946 0958", &uk).unwrap(), "+442079460958");
        assert_eq!(
            normalise("0044 20 7946 0958", &uk).unwrap(),
            "+442079460958"
        );
        assert!(matches!(
            normalise("call me", &us),
            Err(NumberError::BadCharacter(_))
        ));
        assert!(matches!(normalise(" - ", &us), Err(NumberError::Empty(_))));
        assert!(matches!(
            normalise("+1234567890123456", &us),
            Err(NumberError::TooLong(_))
        ));
    }

    #[test]
    fn the_gate_counts_every_refusal() {
        let mut dnc = Dnc::default();
        let bad = dnc.load_text(
            "# ours\n5550309\n+1 555 0310 # moved\n\nnope\n",
            &Numbering::default(),
        );
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 5);
        assert_eq!(dnc.len(), 2);
        assert!(dnc.blocks("+15550309"));
        assert!(dnc.blocks("+15550310"));
        assert!(!dnc.blocks("+15550311"));
        assert_eq!(dnc.blocked, 2);
    }
}
