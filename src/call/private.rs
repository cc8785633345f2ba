//! Phone numbers and SIP user parts are private (STYLE.md "Logs"): at
//! `info` and above they are logged through [`Private`], which shows only
//! the last digits, enough to tell two callers apart in one log.

use std::fmt;

/// Characters of a private value shown at the end.
const SHOWN_TAIL_CHARS: usize = 2;
/// Values this short are hidden whole.
const HIDDEN_WHOLE_CHARS_MAX: usize = 4;

/// Displays `…67` for `+15551234567`.
#[derive(Clone, Copy, Debug)]
pub struct Private<'a>(pub &'a str);

impl fmt::Display for Private<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.chars().count();
        if n <= HIDDEN_WHOLE_CHARS_MAX {
            return f.write_str("…");
        }
        let tail: String = self.0.chars().skip(n - SHOWN_TAIL_CHARS).collect();
        write!(f, "…{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_two_characters_show() {
        assert_eq!(Private("+15551234567").to_string(), "…67");
        assert_eq!(Private("1001").to_string(), "…");
        assert_eq!(Private("").to_string(), "…");
        assert_eq!(Private("αβγδεζ").to_string(), "…εζ");
    }
}
