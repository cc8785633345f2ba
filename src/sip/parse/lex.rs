//! Byte-level helpers shared by the parser: token classes (RFC 3261 §25.1),
//! trimming, list splitting that respects quotes and `<>`, and parameter scans.

use std::ops::Range;

use memchr::{memchr, memchr2, memchr3};

/// `token` characters (RFC 3261 §25.1): alphanumerics and `-.!%*_+`'~`.
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// Lookup table for `token` bytes: one load per byte on the hot path.
pub(crate) static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    table
};

/// Bytes never found in a URI as written: whitespace, controls, quotes and
/// angle brackets (RFC 3261 §25.1).
pub(crate) const fn is_uri_forbidden(b: u8) -> bool {
    b <= b' ' || b == 0x7f || b == b'<' || b == b'>' || b == b'"'
}

/// The length of the leading run of hostname and IPv4 bytes
/// (alphanumerics, `-`, `.`; RFC 3261 §25.1 `hostname`, `IPv4address`).
pub(crate) fn host_len(s: &[u8]) -> usize {
    run_len(s, &HOST)
}

/// The length of the leading run of bytes in `class`. Whole words first,
/// each tested without a branch per byte: values such as branches, tags and
/// URIs are long runs, and a byte loop cost several instructions a byte.
#[inline]
pub(crate) fn run_len(s: &[u8], class: &[bool; 256]) -> usize {
    let mut at = 0;
    for word in s.chunks_exact(8) {
        if !word
            .iter()
            .fold(true, |all, &b| all & class[usize::from(b)])
        {
            break;
        }
        at += 8;
    }
    let rest = &s[at..];
    at + rest
        .iter()
        .position(|&b| !class[usize::from(b)])
        .unwrap_or(rest.len())
}

static HOST: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        i += 1;
    }
    table
};

/// Bytes above SP other than DEL: a Call-ID's `word` bytes (RFC 3261 §25.1)
/// and UTF-8, checked at once.
pub(crate) static VISIBLE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = i > b' ' as usize && i != 0x7f;
        i += 1;
    }
    table
};

/// `token` bytes other than upper-case letters.
pub(crate) static LOWER_TOKEN: [bool; 256] = {
    let mut table = TOKEN;
    let mut i = b'A' as usize;
    while i <= b'Z' as usize {
        table[i] = false;
        i += 1;
    }
    table
};

pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && run_len(s, &TOKEN) == s.len()
}

pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whitespace as it can appear in a value after unfolding.
fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The range of `s[range]` without leading and trailing LWS.
pub(crate) fn trim_range(s: &[u8], range: Range<usize>) -> Range<usize> {
    let (mut start, mut end) = (range.start, range.end);
    while start < end && is_lws(s[start]) {
        start += 1;
    }
    while end > start && is_lws(s[end - 1]) {
        end -= 1;
    }
    start..end
}

pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n')
}

/// Splits `s` at top-level `sep` bytes: not inside a quoted string (with
/// `\` quoted-pairs, RFC 3261 §25.1) nor inside `<...>`. Calls `each` with the
/// untrimmed range of every piece; stops early when it returns false. An
/// unterminated quote or bracket makes the last piece run to the end.
pub(crate) fn split_top(
    s: &[u8],
    range: Range<usize>,
    sep: u8,
    mut each: impl FnMut(Range<usize>) -> bool,
) {
    let end = range.end;
    let mut start = range.start;
    let mut i = range.start;
    // Jump from one byte that matters to the next: most values hold no
    // quotes and few brackets, so this skips whole runs at a time.
    while let Some(p) = find3(sep, b'"', b'<', &s[i..end]) {
        i += p;
        match s[i] {
            b'"' => i = quoted_close(s, i + 1, end).unwrap_or(end),
            b'<' => i = memchr(b'>', &s[i + 1..end]).map_or(end, |p| i + 1 + p),
            _ => {
                if !each(start..i) {
                    return;
                }
                start = i + 1;
            }
        }
        if i >= end {
            break;
        }
        i += 1;
    }
    each(start..end);
}

/// The first `:` in `s`, eight bytes at a time: header names are short,
/// so this beats both a byte loop and a vectorised search. In each word the
/// lowest flagged byte is exact (a borrow only flags bytes above a match).
#[inline]
pub(crate) fn find_colon(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(word) = s.get(at..at + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w) ^ (ONES * u64::from(b':'));
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    s[at..].iter().position(|&b| b == b':').map(|p| at + p)
}

/// `memchr3`, with a plain loop for short haystacks (most parameter lists),
/// where the call and its set-up cost more than the scan.
fn find3(a: u8, b: u8, c: u8, haystack: &[u8]) -> Option<usize> {
    if haystack.len() < SHORT_SCAN_BYTES {
        return haystack.iter().position(|&x| x == a || x == b || x == c);
    }
    memchr3(a, b, c, haystack)
}

/// Below this length a byte loop beats a vectorised search.
const SHORT_SCAN_BYTES: usize = 32;

/// The index of the `"` closing a quoted string whose text starts at `from`,
/// skipping `\` quoted-pairs (RFC 3261 §25.1); `None` when unterminated.
fn quoted_close(s: &[u8], mut from: usize, end: usize) -> Option<usize> {
    while from < end {
        let p = from + memchr2(b'"', b'\\', &s[from..end])?;
        if s[p] == b'"' {
            return Some(p);
        }
        from = p + 2;
    }
    None
}

/// One `name[=value]` parameter, both trimmed; ranges index the value text.
#[derive(Clone, Debug)]
pub(crate) struct Param {
    pub name: Range<usize>,
    pub value: Option<Range<usize>>,
}

/// Reads the parameters in `s[range]`, which starts right after the first
/// `;` (RFC 3261 §25.1 `generic-param`). A parameter with an empty name, a
/// name that is not a token, or an empty value after `=` fails; so does a
/// count above `max`. Returns the value of the first parameter named `want`
/// (ignoring case; `want` is letters only, or empty to look for nothing),
/// `None` when there is none or it has no value.
#[inline]
pub(crate) fn scan_params(
    s: &[u8],
    range: Range<usize>,
    max: usize,
    want: &[u8],
) -> Result<Option<Range<usize>>, ParamError> {
    match scan_plain_params(s, range.clone(), max, want) {
        Some(found) => Ok(found),
        None => scan_any_params(s, range, max, want),
    }
}

/// The common case in one pass: no quotes, no brackets, nothing malformed.
/// `None` sends the list to `scan_any_params`, which reads the rest and
/// names the error. On success the list holds no `"` or `<`, so splitting
/// at every `;` is what `split_top` does, and each piece is read as
/// `param_of` reads it.
#[inline]
fn scan_plain_params(
    s: &[u8],
    range: Range<usize>,
    max: usize,
    want: &[u8],
) -> Option<Option<Range<usize>>> {
    let end = range.end;
    let skip_lws = |mut i: usize| {
        while i < end && is_lws(s[i]) {
            i += 1;
        }
        i
    };
    let mut i = range.start;
    let mut found = None;
    for _ in 0..max {
        i = skip_lws(i);
        let name = i;
        i += run_len(&s[i..end], &TOKEN);
        if i == name {
            return None;
        }
        let name = name..i;
        i = skip_lws(i);
        let mut value = None;
        if i < end && s[i] == b'=' {
            i = skip_lws(i + 1);
            let start = i;
            i += run_len(&s[i..end], &PLAIN_VALUE);
            if i == start {
                return None;
            }
            value = Some(start..i);
            i = skip_lws(i);
        }
        if found.is_none() && fold_eq(want, &s[name]) {
            found = Some(value);
        }
        if i == end {
            return Some(found.flatten());
        }
        if s[i] != b';' {
            return None;
        }
        i += 1;
    }
    // More than `max`: the general scan names the error.
    None
}

/// `scan_params` for any list: quoted values, bracketed text, errors.
fn scan_any_params(
    s: &[u8],
    range: Range<usize>,
    max: usize,
    want: &[u8],
) -> Result<Option<Range<usize>>, ParamError> {
    let mut count = 0usize;
    let mut result = Ok(());
    let mut found = None;
    split_top(s, range, b';', |piece| {
        count += 1;
        if count > max {
            result = Err(ParamError::TooMany);
            return false;
        }
        match param_of(s, piece) {
            Some(p) => {
                if found.is_none() && fold_eq(want, &s[p.name.clone()]) {
                    found = Some(p.value);
                }
                true
            }
            None => {
                result = Err(ParamError::Malformed);
                false
            }
        }
    });
    result.map(|_| found.flatten())
}

pub(crate) enum ParamError {
    Malformed,
    TooMany,
}

fn param_of(s: &[u8], piece: Range<usize>) -> Option<Param> {
    let piece = trim_range(s, piece);
    // One pass: the name is the run of token bytes; only LWS and `=` may
    // follow it (RFC 3261 §25.1 `generic-param`).
    let mut i = piece.start;
    while i < piece.end && is_token_byte(s[i]) {
        i += 1;
    }
    let name = piece.start..i;
    if name.is_empty() {
        return None;
    }
    if i == piece.end {
        return Some(Param { name, value: None });
    }
    while is_lws(s[i]) {
        i += 1;
    }
    if s[i] != b'=' {
        return None;
    }
    let value = trim_range(s, i + 1..piece.end);
    if value.is_empty() || !value_ok(&s[value.clone()]) {
        return None;
    }
    Some(Param {
        name,
        value: Some(value),
    })
}

/// A parameter value is a token, a host (IPv6 brackets included) or a
/// quoted string; anything with bare whitespace or controls outside quotes
/// is refused.
fn value_ok(v: &[u8]) -> bool {
    if v.len() >= 2 && v[0] == b'"' {
        return v[v.len() - 1] == b'"';
    }
    v.iter().all(|&b| PARAM_VALUE[usize::from(b)])
}

/// Bytes allowed in an unquoted parameter value: no whitespace, controls,
/// quotes or commas.
static PARAM_VALUE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b > b' ' && b != 0x7f && b != b'"' && b != b',';
        i += 1;
    }
    table
};

/// `PARAM_VALUE` without `;`, which ends a value in a plain list, and `<`,
/// which `split_top` would read as opening a bracket.
static PLAIN_VALUE: [bool; 256] = {
    let mut table = PARAM_VALUE;
    table[b';' as usize] = false;
    table[b'<' as usize] = false;
    table
};

/// Finds the parameter `name` (case-insensitive) in `text[range]`, already
/// validated at parse time.
pub(crate) fn find_param<'a>(
    text: &'a str,
    range: Range<usize>,
    name: &str,
) -> Option<Option<&'a str>> {
    let bytes = text.as_bytes();
    let mut found = None;
    split_top(bytes, range, b';', |piece| {
        if let Some(p) = param_of(bytes, piece) {
            if text[p.name.clone()].eq_ignore_ascii_case(name) {
                found = Some(p.value.map(|v| &text[v]));
                return false;
            }
        }
        true
    });
    found
}

/// Parses decimal digits into a u64, `None` on overflow, emptiness or a non-digit.
pub(crate) fn digits_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// `name` equals `canonical` ignoring ASCII case, eight bytes at a time.
/// Canonical names hold only letters and `-`: a byte may differ from the
/// canonical one only by 0x20, and only where the canonical byte is a letter
/// (bit 0x40 set), so `\r` does not pass for `-`.
#[inline]
pub(crate) fn fold_eq(canonical: &[u8], name: &[u8]) -> bool {
    const LETTER_BITS: u64 = 0x4040_4040_4040_4040;
    let differs = |c: u64, n: u64| (c ^ n) & !((c & LETTER_BITS) >> 1) != 0;
    let len = name.len();
    if canonical.len() != len {
        return false;
    }
    if len < 8 {
        return !differs(short_word(canonical), short_word(name));
    }
    // Whole words, then the last eight bytes (overlapping the previous word).
    let mut at = 0;
    while at + 8 < len {
        if differs(word(canonical, at), word(name, at)) {
            return false;
        }
        at += 8;
    }
    !differs(word(canonical, len - 8), word(name, len - 8))
}

/// The bytes of `b` (fewer than eight) as a little-endian word, zero above:
/// two overlapping loads instead of a loop.
fn short_word(b: &[u8]) -> u64 {
    let half = |at: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[at..at + 4]);
        u64::from(u32::from_le_bytes(w))
    };
    match b.len() {
        0 => 0,
        1 => u64::from(b[0]),
        2 => u64::from(b[0]) | u64::from(b[1]) << 8,
        3 => u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16,
        n => half(0) | half(n - 4) << ((n - 4) * 8),
    }
}

/// The eight bytes at `b[at..]` as a little-endian word.
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Iterates over the values of a comma-separated list in one header value,
/// splitting outside quotes and `<>`; trimmed, empty ones skipped.
pub(crate) struct ListIter<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> ListIter<'a> {
    pub(crate) fn new(s: &'a str) -> ListIter<'a> {
        ListIter { s, pos: 0 }
    }
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while self.pos <= self.s.len() {
            let mut end = None;
            split_top(self.s.as_bytes(), self.pos..self.s.len(), b',', |piece| {
                end = Some(piece.end);
                false
            });
            let end = end.unwrap_or(self.s.len());
            let piece = trim(&self.s[self.pos..end]);
            self.pos = end + 1;
            if !piece.is_empty() {
                return Some(piece);
            }
        }
        None
    }
}
