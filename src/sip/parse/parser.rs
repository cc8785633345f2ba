//! The one-pass message parser behind `Message::parse`: start line, header
//! index, typed core headers, then the checks a B2BUA relies on.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use memchr::memchr;

use super::head::Head;
use super::header::code;
use super::lex;
use super::{
    header, ByteStr, CSeq, Contacts, Header, HeaderName, Message, Method, NameAddr, ParseError,
    Span, StartLine, Uri, Via,
};
use crate::sip::limits::{CONTACTS_MAX, HEADERS_MAX, MESSAGE_BYTES_MAX, VIAS_MAX};

/// Header lines a typical message carries; the index is allocated once.
const HEADERS_TYPICAL: usize = 24;

pub(super) fn parse(raw: Bytes) -> Result<Message, ParseError> {
    if raw.len() > MESSAGE_BYTES_MAX {
        return Err(ParseError::TooLarge);
    }
    let buf = raw.as_ref();
    // Leading CRLFs are keep-alives or stray line ends (RFC 3261 §7.5).
    let mut pos = 0;
    while buf[pos..].starts_with(b"\r\n") {
        pos += 2;
    }
    // The header section ends at the first empty line; the body follows it.
    let mut head = Head::new();
    head.scan(buf, pos)?;
    let head_end = head.end;
    let body_start = head_end + 2;

    let mut lines = head.lines(buf, pos);
    let first = lines.next().ok_or(ParseError::BadStartLine)??;
    let start = start_line(&raw, first)?;

    let mut state = State::new(pos);
    // A header value runs from its colon over any continuation lines
    // (folding, RFC 3261 §7.3.1).
    let mut current: Option<(Range<usize>, u8, Range<usize>, bool)> = None;
    for line in lines {
        let line = line?;
        if line.start < line.end && lex::is_wsp(buf[line.start]) {
            let (_, _, value, folded) = current.as_mut().ok_or(ParseError::BadHeaderLine)?;
            value.end = line.end;
            *folded = true;
            continue;
        }
        if let Some((name, code, value, folded)) = current.take() {
            state.header(&raw, name, code, value, folded)?;
        }
        // `token *WSP ":"` (RFC 3261 §7.3.1): the name is what precedes
        // the first colon, less trailing WSP. A known name compares equal
        // to letters and `-` only, so only an extension name is checked
        // byte by byte.
        let colon = lex::find_colon(&buf[line.clone()])
            .map(|p| line.start + p)
            .ok_or(ParseError::BadHeaderLine)?;
        let mut name_end = colon;
        while name_end > line.start && lex::is_wsp(buf[name_end - 1]) {
            name_end -= 1;
        }
        let name = &buf[line.start..name_end];
        let code = HeaderName::known_code(name);
        if code == header::OTHER && !lex::is_token(name) {
            return Err(ParseError::BadHeaderLine);
        }
        current = Some((line.start..name_end, code, colon + 1..line.end, false));
    }
    if let Some((name, code, value, folded)) = current.take() {
        state.header(&raw, name, code, value, folded)?;
    }
    state.finish(raw, start, head_end, body_start)
}

/// Request-Line or Status-Line (RFC 3261 §7.1, §7.2). Exactly one SP
/// separates the elements: two SPs (RFC 4475 §3.1.2.9) or trailing SPs after
/// the version (§3.1.2.10) are refused, since the liberal reading buys
/// nothing for a B2BUA that never forwards the line as received.
fn start_line(raw: &Bytes, line: Range<usize>) -> Result<StartLine, ParseError> {
    let s = &raw[line.clone()];
    if s.len() >= 4 && s[..4].eq_ignore_ascii_case(b"SIP/") {
        let sp = memchr(b' ', s).ok_or(ParseError::BadStartLine)?;
        check_version(&s[..sp])?;
        let code_end = memchr(b' ', &s[sp + 1..]).map_or(s.len(), |p| sp + 1 + p);
        let code = &s[sp + 1..code_end];
        let status = match code {
            [a, b, c] if code.iter().all(u8::is_ascii_digit) => {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => return Err(ParseError::BadStatus),
        };
        if !(100..=699).contains(&status) {
            return Err(ParseError::BadStatus);
        }
        // The reason may be empty (RFC 4475 §3.1.1.13) and UTF-8 (§3.1.1.12).
        let reason_start = (code_end + 1).min(s.len());
        let reason = ByteStr(raw.slice(line.start + reason_start..line.end));
        return Ok(StartLine::Response { status, reason });
    }
    let sp1 = memchr(b' ', s).ok_or(ParseError::BadStartLine)?;
    let sp2 = memchr::memrchr(b' ', s).ok_or(ParseError::BadStartLine)?;
    if sp1 == sp2 {
        return Err(ParseError::BadStartLine);
    }
    if !lex::is_token(&s[..sp1]) {
        return Err(ParseError::BadMethod);
    }
    check_version(&s[sp2 + 1..])?;
    let method = Method::from_buf(raw, line.start..line.start + sp1);
    let uri = Uri::parse(ByteStr(raw.slice(line.start + sp1 + 1..line.start + sp2)))
        .map_err(|_| ParseError::BadRequestUri)?;
    // Headers in a Request-URI are not allowed (RFC 3261 §19.1.1 table);
    // refusing them keeps them from ever becoming real headers (RFC 4475 §3.1.2.11).
    if uri.headers().is_some() {
        return Err(ParseError::BadRequestUri);
    }
    Ok(StartLine::Request { method, uri })
}

/// Only `SIP/2.0` (case-insensitive literal, RFC 3261 §7.1); another
/// well-formed version gets 505, anything else 400.
fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let well_formed = v.len() > 4 && v[..4].eq_ignore_ascii_case(b"SIP/") && {
        let num = &v[4..];
        let dot = num.iter().position(|&c| c == b'.');
        dot.is_some_and(|d| {
            d > 0
                && d + 1 < num.len()
                && num[..d].iter().all(u8::is_ascii_digit)
                && num[d + 1..].iter().all(u8::is_ascii_digit)
        })
    };
    Err(if well_formed {
        ParseError::UnsupportedVersion
    } else {
        ParseError::BadStartLine
    })
}

/// What the header pass has gathered so far.
struct State {
    /// Where the message starts in the buffer (after leading CRLFs).
    pos: usize,
    headers: Vec<Header>,
    unfolded: Vec<ByteStr>,
    vias: Vec<Via>,
    from: Option<NameAddr>,
    to: Option<NameAddr>,
    call_id: Option<ByteStr>,
    cseq: Option<CSeq>,
    max_forwards: Option<u32>,
    contacts: Option<Contacts>,
    expires: Option<u32>,
    content_length: Option<usize>,
    content_type: Option<ByteStr>,
}

impl State {
    fn new(pos: usize) -> State {
        State {
            pos,
            headers: Vec::with_capacity(HEADERS_TYPICAL),
            unfolded: Vec::new(),
            vias: Vec::with_capacity(4),
            from: None,
            to: None,
            call_id: None,
            cseq: None,
            max_forwards: None,
            contacts: None,
            expires: None,
            content_length: None,
            content_type: None,
        }
    }

    fn header(
        &mut self,
        raw: &Bytes,
        name: Range<usize>,
        code: u8,
        value: Range<usize>,
        folded: bool,
    ) -> Result<(), ParseError> {
        if self.headers.len() >= HEADERS_MAX {
            return Err(ParseError::TooManyHeaders);
        }
        let name_span = Span::new(name.start - self.pos..name.end - self.pos);
        let value = lex::trim_range(raw, value);
        let value_span = Span::new(value.start - self.pos..value.end - self.pos);
        // A folded value is unfolded into its own buffer (rare); any other
        // is typed and indexed in place.
        let unfolded = folded.then(|| unfold(&raw[value.clone()]));
        let value = match &unfolded {
            Some(text) => ValueText {
                src: text.as_bytes(),
                range: 0..text.len(),
            },
            None => ValueText {
                src: raw,
                range: value,
            },
        };
        // On the code, not the name: one jump, no load of the name first.
        match code {
            code::VIA => self.via(&value)?,
            code::FROM => set_once(&mut self.from, "From", || NameAddr::parse(value.whole()))?,
            code::TO => set_once(&mut self.to, "To", || NameAddr::parse(value.whole()))?,
            code::CALL_ID => set_once(&mut self.call_id, "Call-ID", || call_id(&value))?,
            code::CSEQ => set_once(&mut self.cseq, "CSeq", || {
                CSeq::parse_in(value.src, value.range.clone())
            })?,
            code::MAX_FORWARDS => set_once(&mut self.max_forwards, "Max-Forwards", || {
                let n = lex::digits_u64(value.bytes()).ok_or(ParseError::BadMaxForwards)?;
                u32::try_from(n).map_err(|_| ParseError::BadMaxForwards)
            })?,
            code::CONTENT_LENGTH => set_once(&mut self.content_length, "Content-Length", || {
                let n = lex::digits_u64(value.bytes()).ok_or(ParseError::BadContentLength)?;
                usize::try_from(n).map_err(|_| ParseError::BadContentLength)
            })?,
            code::CONTENT_TYPE => set_once(&mut self.content_type, "Content-Type", || {
                media_type(&value)
            })?,
            code::CONTACT => self.contact(&value)?,
            code::EXPIRES if self.expires.is_none() => {
                // Lenient: a malformed Expires reads as absent and the
                // registrar applies its default (RFC 4475 §3.1.2.4).
                let b = value.bytes();
                if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
                    let n = lex::digits_u64(b).unwrap_or(u64::MAX);
                    self.expires = Some(u32::try_from(n).unwrap_or(u32::MAX));
                }
            }
            _ => {}
        }
        let (folded, value) = match unfolded {
            Some(text) => {
                self.unfolded.push(text);
                (
                    true,
                    Span::new(self.unfolded.len() - 1..self.unfolded.len()),
                )
            }
            None => (false, value_span),
        };
        self.headers.push(Header {
            code,
            folded,
            name: name_span,
            value,
        });
        Ok(())
    }

    fn via(&mut self, value: &ValueText<'_>) -> Result<(), ParseError> {
        let b = value.bytes();
        let mut result = Ok(());
        lex::split_top(b, 0..b.len(), b',', |piece| {
            let piece = lex::trim_range(b, piece);
            if piece.is_empty() {
                result = Err(ParseError::BadVia);
                return false;
            }
            if self.vias.len() >= VIAS_MAX {
                result = Err(ParseError::TooManyVias);
                return false;
            }
            match Via::parse(value.slice(piece)) {
                Ok(via) => {
                    self.vias.push(via);
                    true
                }
                Err(e) => {
                    result = Err(e);
                    false
                }
            }
        });
        result
    }

    fn contact(&mut self, value: &ValueText<'_>) -> Result<(), ParseError> {
        if value.bytes() == b"*" {
            // `*` stands alone (RFC 3261 §10.2.2).
            if self.contacts.is_some() {
                return Err(ParseError::BadContactStar);
            }
            self.contacts = Some(Contacts::Star);
            return Ok(());
        }
        let list = match self
            .contacts
            .get_or_insert_with(|| Contacts::List(Vec::new()))
        {
            Contacts::Star => return Err(ParseError::BadContactStar),
            Contacts::List(list) => list,
        };
        let b = value.bytes();
        let mut result = Ok(());
        lex::split_top(b, 0..b.len(), b',', |piece| {
            let piece = lex::trim_range(b, piece);
            if list.len() >= CONTACTS_MAX {
                result = Err(ParseError::TooManyContacts);
                return false;
            }
            match NameAddr::parse(value.slice(piece)) {
                Ok(addr) => {
                    list.push(addr);
                    true
                }
                Err(e) => {
                    result = Err(e);
                    false
                }
            }
        });
        result
    }

    /// Mandatory headers (RFC 3261 §8.1.1), CSeq method against the request
    /// method (§8.2.2 relies on it, ACK and CANCEL included), then the body
    /// framed by Content-Length (§18.3).
    fn finish(
        self,
        raw: Bytes,
        start: StartLine,
        head_end: usize,
        body_start: usize,
    ) -> Result<Message, ParseError> {
        let pos = self.pos;
        if self.vias.is_empty() {
            return Err(ParseError::MissingHeader("Via"));
        }
        let from = self.from.ok_or(ParseError::MissingHeader("From"))?;
        let to = self.to.ok_or(ParseError::MissingHeader("To"))?;
        let call_id = self.call_id.ok_or(ParseError::MissingHeader("Call-ID"))?;
        let cseq = self.cseq.ok_or(ParseError::MissingHeader("CSeq"))?;
        if let StartLine::Request { method, .. } = &start {
            if *method != cseq.method {
                return Err(ParseError::CSeqMethodMismatch);
            }
        }
        let end = match self.content_length {
            Some(len) => body_start
                .checked_add(len)
                .filter(|&end| end <= raw.len())
                .ok_or(ParseError::BodyTruncated)?,
            None => raw.len(),
        };
        Ok(Message {
            body: raw.slice(body_start..end),
            raw: raw.slice(pos..end),
            head: ByteStr(raw.slice(pos..head_end)),
            start,
            headers: self.headers,
            unfolded: self.unfolded,
            other_names: OnceLock::new(),
            vias: self.vias,
            from,
            to,
            call_id,
            cseq,
            max_forwards: self.max_forwards,
            contacts: self.contacts.unwrap_or(Contacts::List(Vec::new())),
            expires: self.expires,
            content_type: self.content_type,
        })
    }
}

/// A header value being typed: a range of the message buffer, or the whole
/// of an unfolded copy. Typed values slice it only where they keep text.
struct ValueText<'a> {
    src: &'a Bytes,
    range: Range<usize>,
}

impl<'a> ValueText<'a> {
    fn bytes(&self) -> &'a [u8] {
        &self.src[self.range.clone()]
    }
    /// `sub` is relative to the value and falls next to ASCII delimiters.
    fn slice(&self, sub: Range<usize>) -> ByteStr {
        ByteStr(
            self.src
                .slice(self.range.start + sub.start..self.range.start + sub.end),
        )
    }
    fn whole(&self) -> ByteStr {
        ByteStr(self.src.slice(self.range.clone()))
    }
}

fn set_once<T>(
    slot: &mut Option<T>,
    name: &'static str,
    make: impl FnOnce() -> Result<T, ParseError>,
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::DuplicateHeader(name));
    }
    *slot = Some(make()?);
    Ok(())
}

/// `word ["@" word]` (RFC 3261 §25.1): no whitespace, not empty.
fn call_id(value: &ValueText<'_>) -> Result<ByteStr, ParseError> {
    let b = value.bytes();
    if b.is_empty() || lex::run_len(b, &lex::VISIBLE) != b.len() {
        return Err(ParseError::BadCallId);
    }
    Ok(value.whole())
}

/// `type "/" subtype`, lower-cased, parameters dropped (RFC 3261 §20.15).
fn media_type(value: &ValueText<'_>) -> Result<ByteStr, ParseError> {
    let b = value.bytes();
    // The common form, `type/subtype` in lower case with nothing around
    // the slash, is two runs of lower-case token bytes: it is sliced as it is.
    let kind = lex::run_len(b, &lex::LOWER_TOKEN);
    if kind > 0 && b.get(kind) == Some(&b'/') {
        let sub = lex::run_len(&b[kind + 1..], &lex::LOWER_TOKEN);
        let end = kind + 1 + sub;
        if sub > 0 && matches!(b.get(end), None | Some(b';' | b' ' | b'\t')) {
            let rest = lex::trim_range(b, end..b.len());
            if rest.is_empty() || b[rest.start] == b';' {
                return Ok(value.slice(0..end));
            }
        }
    }
    let end = memchr(b';', b).unwrap_or(b.len());
    let r = lex::trim_range(b, 0..end);
    let media = &b[r.clone()];
    let slash = memchr(b'/', media).ok_or(ParseError::BadContentType)?;
    let (kind, sub) = (
        lex::trim_range(media, 0..slash),
        lex::trim_range(media, slash + 1..media.len()),
    );
    if !lex::is_token(&media[kind]) || !lex::is_token(&media[sub]) {
        return Err(ParseError::BadContentType);
    }
    if media
        .iter()
        .any(|c| c.is_ascii_uppercase() || lex::is_wsp(*c))
    {
        let lower: String = value.whole().as_str()[r]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        return Ok(ByteStr(Bytes::from(lower.to_ascii_lowercase())));
    }
    Ok(value.slice(r))
}

/// Replaces each `*WSP CRLF 1*WSP` run with one SP (RFC 3261 §7.3.1).
/// Only folded values get here, so only they allocate.
fn unfold(value: &[u8]) -> ByteStr {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'\r' || value[i] == b'\n' {
            while out.last().is_some_and(|&c| lex::is_wsp(c)) {
                out.pop();
            }
            while i < value.len()
                && (lex::is_wsp(value[i]) || value[i] == b'\r' || value[i] == b'\n')
            {
                i += 1;
            }
            out.push(b' ');
            continue;
        }
        out.push(value[i]);
        i += 1;
    }
    // The head was checked to be UTF-8 and only ASCII bytes were replaced.
    ByteStr(Bytes::from(out))
}
