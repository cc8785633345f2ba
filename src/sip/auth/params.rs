//! Parser for challenge and credentials header values (RFC 3261 §25.1
//! `challenge` / `credentials`, RFC 7235 §2.1): an auth scheme followed by
//! comma-separated `name=value` pairs, values being tokens or quoted strings
//! with escapes. Names match in any case, in any order, with any amount of
//! linear white space. Several challenges may share one value
//! (`Digest a=1, Digest b=2`), which is how joined header lines read.

use std::borrow::Cow;

use super::MalformedHeader;
use crate::sip::limits::PARAMS_MAX;

/// Longest Authorization or WWW-Authenticate value we parse. Real ones are a
/// few hundred bytes; this bounds the work a peer can ask for.
pub const AUTH_HEADER_BYTES_MAX: usize = 4096;
/// Challenges in one joined WWW-Authenticate value.
pub const CHALLENGES_MAX: usize = 8;

/// One auth scheme and its parameters, values unquoted and unescaped.
#[derive(Debug)]
pub(super) struct SchemeParams<'a> {
    pub scheme: &'a str,
    params: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> SchemeParams<'a> {
    pub(super) fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("digest")
    }

    /// The value of parameter `name`, matched case-insensitively.
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    pub(super) fn require(&self, name: &'static str) -> Result<&str, MalformedHeader> {
        self.param(name)
            .ok_or(MalformedHeader::MissingParameter(name))
    }
}

/// The first token of `value`: its auth scheme, if it has one.
pub(super) fn scheme_of(value: &str) -> Option<&str> {
    let value = value.trim_start_matches(is_ws_char);
    let end = value
        .find(|c: char| !is_token_char(c))
        .unwrap_or(value.len());
    (end > 0).then(|| &value[..end])
}

/// Parses a list of challenges or credentials.
pub(super) fn parse(value: &str) -> Result<Vec<SchemeParams<'_>>, MalformedHeader> {
    if value.len() > AUTH_HEADER_BYTES_MAX {
        return Err(MalformedHeader::TooLong);
    }
    let mut lexer = Lexer { s: value, pos: 0 };
    let mut out = Vec::new();
    lexer.skip_ws_and_commas();
    if lexer.at_end() {
        return Err(MalformedHeader::Empty);
    }
    while !lexer.at_end() {
        if out.len() == CHALLENGES_MAX {
            return Err(MalformedHeader::TooManyChallenges);
        }
        let scheme = lexer.token()?;
        let mut params: Vec<(&str, Cow<'_, str>)> = Vec::new();
        loop {
            lexer.skip_ws_and_commas();
            if lexer.at_end() {
                break;
            }
            let mark = lexer.pos;
            let name = lexer.token()?;
            lexer.skip_ws();
            if !lexer.eat(b'=') {
                // A token not followed by '=' starts the next challenge, which
                // must come after a comma and at least one parameter.
                if params.is_empty() || !value[..mark].trim_end_matches(is_ws_char).ends_with(',') {
                    return Err(MalformedHeader::ExpectedEquals);
                }
                lexer.pos = mark;
                break;
            }
            lexer.skip_ws();
            let v = lexer.value()?;
            if params.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(MalformedHeader::DuplicateParameter);
            }
            if params.len() == PARAMS_MAX {
                return Err(MalformedHeader::TooManyParameters);
            }
            params.push((name, v));
            lexer.skip_ws();
            if !lexer.at_end() && lexer.peek() != Some(b',') {
                return Err(MalformedHeader::ExpectedComma);
            }
        }
        out.push(SchemeParams { scheme, params });
    }
    Ok(out)
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        // RFC 7230 §7: empty list elements are allowed and ignored.
        while self.peek().is_some_and(|b| is_ws(b) || b == b',') {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Result<&'a str, MalformedHeader> {
        let start = self.pos;
        while self.peek().is_some_and(|b| is_token_char(b as char)) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(MalformedHeader::ExpectedToken);
        }
        Ok(&self.s[start..self.pos])
    }

    fn value(&mut self) -> Result<Cow<'a, str>, MalformedHeader> {
        if !self.eat(b'"') {
            return self.token().map(Cow::Borrowed);
        }
        let start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            let Some(b) = self.peek() else {
                return Err(MalformedHeader::UnterminatedQuote);
            };
            match b {
                b'"' => {
                    let raw = &self.s[start..self.pos];
                    self.pos += 1;
                    return Ok(owned.map_or(Cow::Borrowed(raw), Cow::Owned));
                }
                b'\\' => {
                    // quoted-pair (RFC 3261 §25.1): any char but CR and LF.
                    let buf = owned.get_or_insert_with(|| self.s[start..self.pos].to_owned());
                    self.pos += 1;
                    let Some(c) = self.s[self.pos..].chars().next() else {
                        return Err(MalformedHeader::UnterminatedQuote);
                    };
                    if c == '\r' || c == '\n' {
                        return Err(MalformedHeader::ControlCharacter);
                    }
                    buf.push(c);
                    self.pos += c.len_utf8();
                }
                _ => {
                    let c = self.s[self.pos..]
                        .chars()
                        .next()
                        .expect("pos is below len and on a char boundary");
                    // qdtext allows LWS but no other control characters.
                    if c.is_ascii_control() && !is_ws(b) {
                        return Err(MalformedHeader::ControlCharacter);
                    }
                    if let Some(buf) = owned.as_mut() {
                        buf.push(c);
                    }
                    self.pos += c.len_utf8();
                }
            }
        }
    }
}

/// LWS after unfolding, plus the CR LF of a fold the parser left in place.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_ws_char(c: char) -> bool {
    c.is_ascii() && is_ws(c as u8)
}

/// `token` of RFC 3261 §25.1.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// Quotes `s` as a quoted-string, escaping `"` and `\`.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
