//! Header names (with compact forms, RFC 3261 §7.3.3) and the typed core headers.

use std::ops::Range;

use bytes::Bytes;
use memchr::memchr;

use super::lex::{self, ParamError};
use super::{ByteStr, Method, ParseError, Span, Uri};
use crate::sip::limits::PARAMS_MAX;

/// A header name; compact forms map to their long names and comparison of
/// extension names ignores case.
#[derive(Clone, Debug, Eq)]
pub enum HeaderName {
    Accept,
    Allow,
    Authorization,
    CallId,
    Contact,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Event,
    Expires,
    From,
    MaxForwards,
    MinExpires,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    RecordRoute,
    ReferTo,
    ReferredBy,
    Require,
    RetryAfter,
    Route,
    Server,
    Subject,
    Supported,
    To,
    Unsupported,
    UserAgent,
    Via,
    WwwAuthenticate,
    Other(ByteStr),
}

impl HeaderName {
    /// An extension header's name, built without allocating, for a `static`
    /// that callers look up by (a known name spelt this way still matches,
    /// but [`HeaderName::parse`] gives its own variant).
    pub const fn extension(name: &'static str) -> HeaderName {
        HeaderName::Other(ByteStr::from_static(name))
    }

    /// Parses a header name as found before the colon (any case, compact forms).
    pub fn parse(name: &[u8]) -> HeaderName {
        if let Some(known) = HeaderName::known(name) {
            return known;
        }
        HeaderName::Other(ByteStr(bytes::Bytes::from(
            String::from_utf8_lossy(name).into_owned(),
        )))
    }

    /// The index code of this name. An `Other` built by hand that spells a
    /// known long name gets that name's code, as `==` treats them as equal.
    #[inline]
    pub(super) fn code(&self) -> u8 {
        match self {
            HeaderName::Other(name) if name.len() > 1 => HeaderName::known_code(name.as_bytes()),
            HeaderName::Other(_) => OTHER,
            HeaderName::Accept => 0,
            HeaderName::Allow => 1,
            HeaderName::Authorization => 2,
            HeaderName::CallId => code::CALL_ID,
            HeaderName::Contact => code::CONTACT,
            HeaderName::ContentEncoding => 5,
            HeaderName::ContentLength => code::CONTENT_LENGTH,
            HeaderName::ContentType => code::CONTENT_TYPE,
            HeaderName::CSeq => code::CSEQ,
            HeaderName::Event => 9,
            HeaderName::Expires => code::EXPIRES,
            HeaderName::From => code::FROM,
            HeaderName::MaxForwards => code::MAX_FORWARDS,
            HeaderName::MinExpires => 13,
            HeaderName::ProxyAuthenticate => 14,
            HeaderName::ProxyAuthorization => 15,
            HeaderName::ProxyRequire => 16,
            HeaderName::RecordRoute => 17,
            HeaderName::ReferTo => 18,
            HeaderName::ReferredBy => 19,
            HeaderName::Require => 20,
            HeaderName::RetryAfter => 21,
            HeaderName::Route => 22,
            HeaderName::Server => 23,
            HeaderName::Subject => 24,
            HeaderName::Supported => 25,
            HeaderName::To => code::TO,
            HeaderName::Unsupported => 27,
            HeaderName::UserAgent => 28,
            HeaderName::Via => code::VIA,
            HeaderName::WwwAuthenticate => 30,
        }
    }

    pub(super) fn known(name: &[u8]) -> Option<HeaderName> {
        KNOWN
            .get(usize::from(HeaderName::known_code(name)))
            .cloned()
    }

    /// The index code of a name as found before the colon, `OTHER` for an
    /// extension name. The header index calls this once per line, so it
    /// returns a byte rather than a `HeaderName`.
    pub(super) fn known_code(name: &[u8]) -> u8 {
        if let [c] = name {
            // Compact forms, RFC 3261 §7.3.3 and §20; RFC 3515 (r), RFC 3892 (b), RFC 6665 (o).
            let compact = match c.to_ascii_lowercase() {
                b'i' => Some(HeaderName::CallId),
                b'm' => Some(HeaderName::Contact),
                b'e' => Some(HeaderName::ContentEncoding),
                b'l' => Some(HeaderName::ContentLength),
                b'c' => Some(HeaderName::ContentType),
                b'f' => Some(HeaderName::From),
                b's' => Some(HeaderName::Subject),
                b'k' => Some(HeaderName::Supported),
                b't' => Some(HeaderName::To),
                b'v' => Some(HeaderName::Via),
                b'r' => Some(HeaderName::ReferTo),
                b'b' => Some(HeaderName::ReferredBy),
                b'o' => Some(HeaderName::Event),
                _ => None,
            };
            if let Some(known) = compact {
                return known.code();
            }
        }
        // One candidate per (length, first letter), two where a pair
        // collides, then one case-insensitive compare: an unknown name costs
        // a match and at most one compare, not a scan of every known name.
        let lower = |i: usize| name.get(i).map_or(0, u8::to_ascii_lowercase);
        let candidate = match (name.len(), lower(0)) {
            (3, b'v') => HeaderName::Via,
            (2, b't') => HeaderName::To,
            (4, b'f') => HeaderName::From,
            (4, b'c') => HeaderName::CSeq,
            (5, b'a') => HeaderName::Allow,
            (5, b'e') => HeaderName::Event,
            (5, b'r') => HeaderName::Route,
            (6, b'a') => HeaderName::Accept,
            (6, b's') => HeaderName::Server,
            (7, b'c') if lower(1) == b'a' => HeaderName::CallId,
            (7, b'c') => HeaderName::Contact,
            (7, b'e') => HeaderName::Expires,
            (7, b'r') => HeaderName::Require,
            (7, b's') => HeaderName::Subject,
            (8, b'r') => HeaderName::ReferTo,
            (9, b's') => HeaderName::Supported,
            (10, b'u') => HeaderName::UserAgent,
            (11, b'm') => HeaderName::MinExpires,
            (11, b'r') if lower(2) == b'f' => HeaderName::ReferredBy,
            (11, b'r') => HeaderName::RetryAfter,
            (11, b'u') => HeaderName::Unsupported,
            (12, b'c') => HeaderName::ContentType,
            (12, b'm') => HeaderName::MaxForwards,
            (12, b'r') => HeaderName::RecordRoute,
            (13, b'a') => HeaderName::Authorization,
            (13, b'p') => HeaderName::ProxyRequire,
            (14, b'c') => HeaderName::ContentLength,
            (16, b'c') => HeaderName::ContentEncoding,
            (16, b'w') => HeaderName::WwwAuthenticate,
            (18, b'p') => HeaderName::ProxyAuthenticate,
            (19, b'p') => HeaderName::ProxyAuthorization,
            _ => return OTHER,
        };
        if lex::fold_eq(candidate.as_str().as_bytes(), name) {
            candidate.code()
        } else {
            OTHER
        }
    }

    /// The canonical long form (`Call-ID`, `WWW-Authenticate`).
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::Allow => "Allow",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::Contact => "Contact",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::Server => "Server",
            HeaderName::Subject => "Subject",
            HeaderName::Supported => "Supported",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other(name) => name.as_str(),
        }
    }
}

/// Code of an extension name in the header index.
pub(super) const OTHER: u8 = u8::MAX;

/// Codes of the typed headers, for matching a code without loading its name.
pub(super) mod code {
    pub const CALL_ID: u8 = 3;
    pub const CONTACT: u8 = 4;
    pub const CONTENT_LENGTH: u8 = 6;
    pub const CONTENT_TYPE: u8 = 7;
    pub const CSEQ: u8 = 8;
    pub const EXPIRES: u8 = 10;
    pub const FROM: u8 = 11;
    pub const MAX_FORWARDS: u8 = 12;
    pub const TO: u8 = 26;
    pub const VIA: u8 = 29;
}

/// Every known name, in declaration order: the header index stores a
/// one-byte code into this table instead of a name per line.
pub(super) static KNOWN: [HeaderName; 31] = [
    HeaderName::Accept,
    HeaderName::Allow,
    HeaderName::Authorization,
    HeaderName::CallId,
    HeaderName::Contact,
    HeaderName::ContentEncoding,
    HeaderName::ContentLength,
    HeaderName::ContentType,
    HeaderName::CSeq,
    HeaderName::Event,
    HeaderName::Expires,
    HeaderName::From,
    HeaderName::MaxForwards,
    HeaderName::MinExpires,
    HeaderName::ProxyAuthenticate,
    HeaderName::ProxyAuthorization,
    HeaderName::ProxyRequire,
    HeaderName::RecordRoute,
    HeaderName::ReferTo,
    HeaderName::ReferredBy,
    HeaderName::Require,
    HeaderName::RetryAfter,
    HeaderName::Route,
    HeaderName::Server,
    HeaderName::Subject,
    HeaderName::Supported,
    HeaderName::To,
    HeaderName::Unsupported,
    HeaderName::UserAgent,
    HeaderName::Via,
    HeaderName::WwwAuthenticate,
];

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => {
                a.as_bytes().eq_ignore_ascii_case(b.as_bytes())
            }
            // An `Other` built by hand may spell a known name.
            (HeaderName::Other(_), _) | (_, HeaderName::Other(_)) => {
                self.as_str().eq_ignore_ascii_case(other.as_str())
            }
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

/// A Via value (RFC 3261 §20.42).
#[derive(Clone, Debug)]
pub struct Via {
    text: ByteStr,
    transport: Span,
    host: Span,
    sent_by: Span,
    port: Option<u16>,
    /// After the first `;`, empty when there are no parameters.
    params: Span,
    branch: Option<Span>,
}

impl Via {
    /// Parses one Via value (not a comma-separated list):
    /// `SIP / 2.0 / transport LWS sent-by *(; via-params)`, LWS allowed
    /// around `/`, `;` and `=` (RFC 3261 §25.1).
    pub fn parse(text: ByteStr) -> Result<Via, ParseError> {
        let b = text.as_bytes().as_ref();
        if b.len() > Span::MAX {
            return Err(ParseError::BadVia);
        }
        let transport = sent_protocol(b)?;
        let pos = transport.end;
        let host_start = skip_lws(b, pos);
        if host_start == pos {
            return Err(ParseError::BadVia);
        }
        let (host, port, sent_by, semi) = match plain_sent_by(b, host_start) {
            Some(found) => found,
            None => {
                let semi = b[host_start..]
                    .iter()
                    .position(|&c| c == b';')
                    .map_or(b.len(), |p| host_start + p);
                let sent_by = lex::trim_range(b, host_start..semi);
                let (host, port) = sent_by_parts(b, sent_by.clone()).ok_or(ParseError::BadVia)?;
                (host, port, sent_by, semi)
            }
        };
        let mut via = Via {
            transport: Span::new(transport),
            host: Span::new(host),
            sent_by: Span::new(sent_by),
            port,
            params: Span::new(b.len()..b.len()),
            branch: None,
            text: ByteStr::default(),
        };
        if semi < b.len() {
            via.params = Span::new(semi + 1..b.len());
            let branch = lex::scan_params(b, semi + 1..b.len(), PARAMS_MAX, b"branch").map_err(
                |e| match e {
                    ParamError::Malformed => ParseError::BadVia,
                    ParamError::TooMany => ParseError::TooManyParams,
                },
            )?;
            via.branch = branch.map(Span::new);
        }
        via.text = text;
        Ok(via)
    }

    /// Transport token, upper-cased as sent (`UDP`, `TCP`, `TLS`, or unknown).
    pub fn transport(&self) -> &str {
        &self.text.as_str()[self.transport.range()]
    }
    pub fn host(&self) -> &str {
        &self.text.as_str()[self.host.range()]
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// `host[:port]` as written.
    pub fn sent_by(&self) -> &str {
        &self.text.as_str()[self.sent_by.range()]
    }
    pub fn branch(&self) -> Option<&str> {
        self.branch.map(|r| &self.text.as_str()[r.range()])
    }
    /// A parameter by name (case-insensitive): `Some(None)` when it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        if self.params.is_empty() {
            return None;
        }
        lex::find_param(self.text.as_str(), self.params.range(), name)
    }
    /// The whole value as written.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route.
#[derive(Clone, Debug)]
pub struct NameAddr {
    /// The value's text is the URI's (`Uri::text`); spans index it.
    /// Inside the quotes (escapes kept as written) or the unquoted tokens.
    display: Option<Span>,
    uri: Uri,
    /// After the first `;` that follows the URI, empty when none.
    params: Span,
    tag: Option<Span>,
}

impl NameAddr {
    /// Parses one value (not a comma-separated list).
    pub fn parse(value: ByteStr) -> Result<NameAddr, super::ParseError> {
        let b = value.as_bytes().as_ref();
        if b.len() > Span::MAX {
            return Err(ParseError::BadNameAddr);
        }
        let whole = lex::trim_range(b, 0..b.len());
        if whole.is_empty() {
            return Err(ParseError::BadNameAddr);
        }
        let mut display = None;
        let (uri_range, after) = if b[whole.start] == b'"' {
            let close = quoted_end(b, whole.start).ok_or(ParseError::BadNameAddr)?;
            display = Some(whole.start + 1..close);
            let lt = skip_lws(b, close + 1);
            if b.get(lt) != Some(&b'<') {
                return Err(ParseError::BadNameAddr);
            }
            angle(b, lt)?
        } else if let Some(lt) = b[whole.clone()]
            .iter()
            .position(|&c| c == b'<')
            .map(|p| whole.start + p)
        {
            // Unquoted display name: tokens separated by LWS (RFC 3261 §25.1);
            // no LWS before `<` is accepted too (RFC 4475 §3.1.1.6).
            let name = lex::trim_range(b, whole.start..lt);
            let ok = b[name.clone()]
                .iter()
                .all(|&c| lex::is_token_byte(c) || lex::is_wsp(c));
            if !ok {
                return Err(ParseError::BadNameAddr);
            }
            if !name.is_empty() {
                display = Some(name);
            }
            angle(b, lt)?
        } else {
            // A bare addr-spec: what follows the first `;` is header params
            // (RFC 3261 §20.10). A URI that needs `,` `?` or `;` must be
            // bracketed, so a bare one with `?` is refused (RFC 4475 §3.1.2.13).
            let end = b[whole.clone()]
                .iter()
                .position(|&c| c == b';')
                .map_or(whole.end, |p| whole.start + p);
            let uri = lex::trim_range(b, whole.start..end);
            if b[uri.clone()].iter().any(|&c| c == b'?' || c == b',') {
                return Err(ParseError::BadNameAddr);
            }
            (uri, end)
        };
        let uri = Uri::parse_in(b, uri_range)?;
        let rest = lex::trim_range(b, after..whole.end);
        let mut addr = NameAddr {
            display: display.map(Span::new),
            uri,
            params: Span::new(b.len()..b.len()),
            tag: None,
        };
        if !rest.is_empty() {
            if b[rest.start] != b';' {
                return Err(ParseError::BadNameAddr);
            }
            addr.params = Span::new(rest.start + 1..rest.end);
            let tag =
                lex::scan_params(b, rest.start + 1..rest.end, PARAMS_MAX, b"tag").map_err(|e| {
                    match e {
                        ParamError::Malformed => ParseError::BadNameAddr,
                        ParamError::TooMany => ParseError::TooManyParams,
                    }
                })?;
            addr.tag = tag.map(Span::new);
        }
        addr.uri.set_text(value);
        Ok(addr)
    }
    /// The display name as written: without its quotes, escapes kept.
    pub fn display_name(&self) -> Option<&str> {
        self.display.map(|r| &self.uri.text()[r.range()])
    }
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.map(|r| &self.uri.text()[r.range()])
    }
    /// A header parameter by name (case-insensitive): `Some(None)` when it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        if self.params.is_empty() {
            return None;
        }
        lex::find_param(self.uri.text(), self.params.range(), name)
    }
    /// The whole value as written.
    pub fn as_str(&self) -> &str {
        self.uri.text()
    }
}

/// CSeq (RFC 3261 §20.16): a number below 2^31 and the method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`; the number must be below 2^31 (RFC 3261 §8.1.1.5).
    pub fn parse(value: &ByteStr) -> Result<CSeq, ParseError> {
        let b = value.as_bytes();
        CSeq::parse_in(b, 0..b.len())
    }

    /// Parses `src[range]`, a range of checked UTF-8; only an extension
    /// method takes a slice of `src`.
    pub(crate) fn parse_in(src: &Bytes, range: Range<usize>) -> Result<CSeq, ParseError> {
        let b = &src[range.clone()];
        let num_end = b
            .iter()
            .position(|&c| !c.is_ascii_digit())
            .unwrap_or(b.len());
        let seq = lex::digits_u64(&b[..num_end]).ok_or(ParseError::BadCSeq)?;
        let seq = u32::try_from(seq)
            .ok()
            .filter(|&s| s < 1 << 31)
            .ok_or(ParseError::BadCSeq)?;
        let method = lex::trim_range(b, num_end..b.len());
        if method.start == num_end || !lex::is_token(&b[method.clone()]) {
            return Err(ParseError::BadCSeq);
        }
        Ok(CSeq {
            seq,
            method: Method::from_buf(src, range.start + method.start..range.start + method.end),
        })
    }
}

/// `SIP / 2.0 / transport` at the start of a Via value: the transport's
/// range. Written without LWS (`SIP/2.0/UDP`), as nearly every peer does,
/// it is read without a loop per field.
fn sent_protocol(b: &[u8]) -> Result<Range<usize>, ParseError> {
    const PREFIX: &[u8] = b"SIP/2.0/";
    if b.len() > PREFIX.len() && b[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        let end = PREFIX.len() + lex::run_len(&b[PREFIX.len()..], &lex::TOKEN);
        if end > PREFIX.len() {
            return Ok(PREFIX.len()..end);
        }
    }
    let mut pos = skip_lws(b, 0);
    let mut fields = [0..0, 0..0, 0..0];
    for (i, field) in fields.iter_mut().enumerate() {
        if i > 0 {
            pos = skip_lws(b, pos);
            if b.get(pos) != Some(&b'/') {
                return Err(ParseError::BadVia);
            }
            pos = skip_lws(b, pos + 1);
        }
        let start = pos;
        while pos < b.len() && lex::is_token_byte(b[pos]) {
            pos += 1;
        }
        if start == pos {
            return Err(ParseError::BadVia);
        }
        *field = start..pos;
    }
    let [protocol, version, transport] = fields;
    if !b[protocol].eq_ignore_ascii_case(b"SIP") || &b[version] != b"2.0" {
        return Err(ParseError::BadVia);
    }
    Ok(transport)
}

fn skip_lws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\r' | b'\n') {
        pos += 1;
    }
    pos
}

/// The index of the `"` closing the quoted string opened at `open`.
fn quoted_end(b: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// `<uri>` opened at `lt`: the URI range and the index after `>`.
fn angle(b: &[u8], lt: usize) -> Result<(Range<usize>, usize), ParseError> {
    let gt = memchr(b'>', &b[lt..]).ok_or(ParseError::BadNameAddr)?;
    Ok((lt + 1..lt + gt, lt + gt + 1))
}

/// The common sent-by, a hostname or IPv4 address and maybe `:port`, with
/// no whitespace, directly followed by `;` or the end, read in one pass:
/// host, port, the sent-by and where the `;` (or the end) is. `None` sends
/// anything else to the general reading.
#[allow(clippy::type_complexity)]
fn plain_sent_by(
    b: &[u8],
    start: usize,
) -> Option<(Range<usize>, Option<u16>, Range<usize>, usize)> {
    let host_end = start + lex::host_len(&b[start..]);
    if host_end == start {
        return None;
    }
    let ends = |at: usize| matches!(b.get(at), None | Some(b';'));
    if ends(host_end) {
        return Some((start..host_end, None, start..host_end, host_end));
    }
    if b[host_end] != b':' {
        return None;
    }
    let digits = &b[host_end + 1..];
    let len = digits
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let end = host_end + 1 + len;
    if len > 5 || !ends(end) {
        return None;
    }
    let port = lex::digits_u64(&digits[..len]).and_then(|p| u16::try_from(p).ok())?;
    Some((start..host_end, Some(port), start..end, end))
}

/// `host [":" port]` of a Via sent-by; host is a name, IPv4 or `[IPv6]`.
fn sent_by_parts(b: &[u8], r: Range<usize>) -> Option<(Range<usize>, Option<u16>)> {
    let s = &b[r.clone()];
    let host_len = if s.first() == Some(&b'[') {
        let close = s.iter().position(|&c| c == b']')?;
        let inner = &s[1..close];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return None;
        }
        close + 1
    } else {
        // A byte that ends the run early and is not `:` or WSP makes the
        // tail below start with something other than `:`, and fail.
        let len = lex::host_len(s);
        if len == 0 {
            return None;
        }
        len
    };
    let host = r.start..r.start + host_len;
    let tail = lex::trim_range(b, r.start + host_len..r.end);
    if tail.is_empty() {
        return Some((host, None));
    }
    if b[tail.start] != b':' {
        return None;
    }
    let port_range = lex::trim_range(b, tail.start + 1..tail.end);
    let port = lex::digits_u64(&b[port_range]).and_then(|p| u16::try_from(p).ok())?;
    Some((host, Some(port)))
}
