//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966); other schemes are kept
//! as opaque text so the switch can answer 416.

use std::ops::Range;

use super::lex::{self, ParamError};
use super::{ByteStr, ParseError, Span};
use crate::sip::limits::PARAMS_MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other,
}

/// A URI. Text is kept as received (escapes are not decoded).
#[derive(Clone, Debug)]
pub struct Uri {
    /// Holds the URI at `whole`; a name-addr's URI shares the name-addr's
    /// text, so parsing one takes one slice of the message, not two.
    text: ByteStr,
    whole: Span,
    scheme: Scheme,
    /// User part without the password; the number for tel.
    user: Option<Span>,
    host: Span,
    port: Option<u16>,
    /// After the `;` that opens the URI parameters, up to `?` or the end.
    params: Span,
    /// After the `?`, when there are URI headers (RFC 3261 §19.1.1).
    headers: Option<Span>,
}

impl Uri {
    pub fn parse(text: ByteStr) -> Result<Uri, super::ParseError> {
        let mut uri = Uri::parse_in(text.as_bytes(), 0..text.len())?;
        uri.text = text;
        Ok(uri)
    }

    /// Parses `src[range]`; the caller puts `src` in `text` afterwards.
    pub(super) fn parse_in(src: &[u8], range: Range<usize>) -> Result<Uri, ParseError> {
        if src.len() > Span::MAX {
            return Err(ParseError::BadUri);
        }
        let b = src.get(range.clone()).ok_or(ParseError::BadUri)?;
        let mut uri = Uri::parse_spans(b)?;
        let off = range.start as u32;
        let shift = |s: &mut Span| {
            s.start += off;
            s.end += off;
        };
        shift(&mut uri.whole);
        shift(&mut uri.host);
        shift(&mut uri.params);
        if let Some(user) = uri.user.as_mut() {
            shift(user);
        }
        if let Some(headers) = uri.headers.as_mut() {
            shift(headers);
        }
        Ok(uri)
    }

    /// Parses `b`, a whole URI; spans index `b` and `text` is left empty.
    fn parse_spans(b: &[u8]) -> Result<Uri, ParseError> {
        let marks = Marks::scan(b)?;
        let colon = marks.colon.ok_or(ParseError::BadUri)?;
        let name = &b[..colon];
        // The schemes the switch knows are well-formed names; only another
        // is checked byte by byte.
        let scheme = if name.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if name.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if name.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            let scheme_ok = name.first().is_some_and(u8::is_ascii_alphabetic)
                && name
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
            if !scheme_ok {
                return Err(ParseError::BadUri);
            }
            Scheme::Other
        };
        let rest = colon + 1..b.len();
        let mut uri = Uri {
            whole: Span::new(0..b.len()),
            scheme,
            user: None,
            host: Span::default(),
            port: None,
            params: Span::new(b.len()..b.len()),
            headers: None,
            text: ByteStr::default(),
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(b, rest, &marks)?,
            Scheme::Tel => uri.parse_tel(b, rest, &marks)?,
            Scheme::Other if rest.is_empty() => return Err(ParseError::BadUri),
            Scheme::Other => {}
        }
        Ok(uri)
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The user part (`sip:user@host`), or the number of a tel URI.
    pub fn user(&self) -> Option<&str> {
        self.user.map(|r| &self.text.as_str()[r.range()])
    }
    /// The host; an IPv6 reference keeps its brackets. Empty for tel URIs.
    pub fn host(&self) -> &str {
        &self.text.as_str()[self.host.range()]
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// A URI parameter by name (case-insensitive): `Some(None)` when it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        if self.params.is_empty() {
            return None;
        }
        lex::find_param(self.text.as_str(), self.params.range(), name)
    }
    /// The URI headers after `?`, as written (`Route=%3Csip:...%3E`).
    pub fn headers(&self) -> Option<&str> {
        self.headers.map(|r| &self.text.as_str()[r.range()])
    }
    /// The whole URI as written.
    pub fn as_str(&self) -> &str {
        &self.text.as_str()[self.whole.range()]
    }

    /// The text the URI's spans index (a name-addr's whole value).
    pub(super) fn text(&self) -> &str {
        self.text.as_str()
    }

    pub(super) fn set_text(&mut self, text: ByteStr) {
        self.text = text;
    }

    /// `[userinfo@]hostport[;params][?headers]` (RFC 3261 §25.1 SIP-URI).
    fn parse_sip(&mut self, b: &[u8], rest: Range<usize>, marks: &Marks) -> Result<(), ParseError> {
        let mut start = rest.start;
        // The userinfo holds no unescaped `@`, but may hold `;`, `?` and `:`
        // (RFC 4475 §3.1.1.9), so the first `@` ends it.
        let (end_hostport, query) = match marks.at {
            Some(at) => {
                let user_end = marks.password.filter(|&p| p < at).unwrap_or(at);
                if user_end == start {
                    return Err(ParseError::BadUri);
                }
                self.user = Some(Span::new(start..user_end));
                start = at + 1;
                (marks.delim_after_at, marks.query_after_at)
            }
            None => (marks.delim, marks.query),
        };
        let end_hostport = end_hostport.unwrap_or(rest.end);
        self.parse_hostport(b, start..end_hostport)?;
        self.parse_tail(b, end_hostport, query.unwrap_or(rest.end), rest.end)
    }

    /// `number[;params]` (RFC 3966 §3): the number is kept as written.
    fn parse_tel(&mut self, b: &[u8], rest: Range<usize>, marks: &Marks) -> Result<(), ParseError> {
        let end = marks.semi.unwrap_or(rest.end);
        let number = &b[rest.start..end];
        let ok = !number.is_empty()
            && number.iter().all(|&c| {
                c.is_ascii_hexdigit() || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
            });
        if !ok {
            return Err(ParseError::BadUri);
        }
        self.user = Some(Span::new(rest.start..end));
        self.host = Span::new(rest.start..rest.start);
        // A valid number holds no `?`, so the first `?` follows `end`.
        self.parse_tail(b, end, marks.query.unwrap_or(rest.end), rest.end)
    }

    fn parse_hostport(&mut self, b: &[u8], r: Range<usize>) -> Result<(), ParseError> {
        let s = &b[r.clone()];
        let host_len = if s.first() == Some(&b'[') {
            let close = s
                .iter()
                .position(|&c| c == b']')
                .ok_or(ParseError::BadUri)?;
            let inner = &s[1..close];
            if inner.is_empty()
                || !inner
                    .iter()
                    .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
            {
                return Err(ParseError::BadUri);
            }
            close + 1
        } else {
            // A byte that ends the run early and is not `:` fails below.
            let len = lex::host_len(s);
            if len == 0 {
                return Err(ParseError::BadUri);
            }
            len
        };
        self.host = Span::new(r.start..r.start + host_len);
        match &s[host_len..] {
            [] => {}
            [b':', port @ ..] => {
                let port = lex::digits_u64(port)
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(ParseError::BadUri)?;
                self.port = Some(port);
            }
            _ => return Err(ParseError::BadUri),
        }
        Ok(())
    }

    /// `;params` then `?headers`, from `at` (a `;`, a `?` or the end); `q`
    /// is the first `?` from `at` on, or the end.
    fn parse_tail(&mut self, b: &[u8], at: usize, q: usize, end: usize) -> Result<(), ParseError> {
        if at < q {
            // b[at] is `;`.
            self.params = Span::new(at + 1..q);
            // No parameter name is empty, so none matches.
            lex::scan_params(b, at + 1..q, PARAMS_MAX, b"").map_err(|e| match e {
                ParamError::Malformed => ParseError::BadUri,
                ParamError::TooMany => ParseError::TooManyParams,
            })?;
        }
        if q < end {
            if q + 1 == end {
                return Err(ParseError::BadUri);
            }
            self.headers = Some(Span::new(q + 1..end));
        }
        Ok(())
    }
}

/// Where the delimiters of a URI are, found in one pass that also refuses
/// the bytes a URI never holds. Positions are the first after the scheme's
/// colon; `*_after_at` are the first after the first `@`.
#[derive(Default)]
struct Marks {
    colon: Option<usize>,
    /// The first `:` after the scheme's: a password's or a port's.
    password: Option<usize>,
    at: Option<usize>,
    /// First `;` or `?`.
    delim: Option<usize>,
    semi: Option<usize>,
    query: Option<usize>,
    delim_after_at: Option<usize>,
    query_after_at: Option<usize>,
}

impl Marks {
    /// Sixteen bytes at a time: a mask of the bytes that matter (delimiters
    /// and forbidden bytes), then one step per set bit. A URI's last
    /// sixteen bytes are taken as a whole group, with the bits of the bytes
    /// already seen cleared, so only a URI under sixteen bytes is read a
    /// byte at a time.
    fn scan(b: &[u8]) -> Result<Marks, ParseError> {
        let mut m = Marks::default();
        let mut at = 0;
        while at < b.len() {
            let (base, mut mask) = if b.len() - at >= CHUNK {
                (at, special_mask(&b[at..at + CHUNK]))
            } else if b.len() >= CHUNK {
                let base = b.len() - CHUNK;
                (base, special_mask(&b[base..]) & (u32::MAX << (at - base)))
            } else {
                (at, special_mask_bytes(&b[at..]))
            };
            while mask != 0 {
                let i = base + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                m.note(i, b[i])?;
            }
            at = base + CHUNK;
        }
        Ok(m)
    }

    /// Records the delimiter `c` at `i`, or refuses a forbidden byte.
    fn note(&mut self, i: usize, c: u8) -> Result<(), ParseError> {
        let m = self;
        // Whitespace, controls, quotes or angle brackets are never part
        // of a URI and mean it was mis-delimited (RFC 4475 §3.1.2.7,
        // §3.1.2.8, §3.1.2.14).
        if URI_CLASS[usize::from(c)] == FORBIDDEN {
            return Err(ParseError::BadUri);
        }
        if m.colon.is_none() {
            if c == b':' {
                m.colon = Some(i);
            }
            return Ok(());
        }
        match c {
            b':' => {
                m.password.get_or_insert(i);
            }
            b'@' => {
                m.at.get_or_insert(i);
            }
            b';' | b'?' => {
                m.delim.get_or_insert(i);
                if c == b';' {
                    m.semi.get_or_insert(i);
                } else {
                    m.query.get_or_insert(i);
                }
                if m.at.is_some() {
                    m.delim_after_at.get_or_insert(i);
                    if c == b'?' {
                        m.query_after_at.get_or_insert(i);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Bytes a mask covers.
const CHUNK: usize = 16;

/// Bit i set when `chunk[i]` is not `PLAIN` in `URI_CLASS`.
#[cfg(target_arch = "x86_64")]
fn special_mask(chunk: &[u8]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    assert_eq!(chunk.len(), CHUNK, "whole chunks only");
    // SAFETY: an unaligned load of the 16 bytes `chunk` borrows (asserted),
    // and SSE2 instructions, which every x86_64 target has.
    let mask = unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        // Unsigned `v <= SP`: the minimum of the two is `v`.
        let low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(b' ' as i8)), v);
        let forbidden = _mm_or_si128(
            _mm_or_si128(low, eq(0x7f)),
            _mm_or_si128(_mm_or_si128(eq(b'<'), eq(b'>')), eq(b'"')),
        );
        let delimiter = _mm_or_si128(
            _mm_or_si128(eq(b':'), eq(b'@')),
            _mm_or_si128(eq(b';'), eq(b'?')),
        );
        _mm_movemask_epi8(_mm_or_si128(forbidden, delimiter))
    };
    mask as u32
}

#[cfg(not(target_arch = "x86_64"))]
fn special_mask(chunk: &[u8]) -> u32 {
    special_mask_bytes(chunk)
}

/// `special_mask` a byte at a time, for fewer than 32 bytes.
fn special_mask_bytes(bytes: &[u8]) -> u32 {
    let mut mask = 0u32;
    for (i, &c) in bytes.iter().enumerate() {
        mask |= u32::from(URI_CLASS[usize::from(c)] != PLAIN) << i;
    }
    mask
}

const PLAIN: u8 = 0;
const FORBIDDEN: u8 = 1;
const DELIMITER: u8 = 2;

/// One load per byte: plain, forbidden (see `lex::is_uri_forbidden`), or a
/// delimiter the pass records (`:` `@` `;` `?`).
static URI_CLASS: [u8; 256] = {
    let mut table = [PLAIN; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = if lex::is_uri_forbidden(b) {
            FORBIDDEN
        } else if matches!(b, b':' | b'@' | b';' | b'?') {
            DELIMITER
        } else {
            PLAIN
        };
        i += 1;
    }
    table
};

impl PartialEq for Uri {
    /// Compares as written; RFC 3261 §19.1.4 equivalence is the caller's.
    fn eq(&self, other: &Uri) -> bool {
        self.as_str() == other.as_str()
    }
}
