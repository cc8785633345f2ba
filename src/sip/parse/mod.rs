//! Our own zero-copy SIP parser (RFC 3261 §7, §20, §25) over `Bytes`.
//!
//! `Message::parse` indexes the header lines of one message and types the core
//! headers a B2BUA relies on (Via, From, To, Call-ID, CSeq, Max-Forwards,
//! Contact, Content-Length). It is lenient where RFC 3261 says to be (folding,
//! compact forms, case, whitespace) and strict where the switch must be
//! (Content-Length within the datagram, CSeq method equal to the request method,
//! `SIP/2.0` only, exactly one of each single-valued header). Every value it
//! hands out is a slice of the input buffer.
//!
//! API CONTRACT: the public signatures below are used by the rest of the switch.
//! Bodies marked `todo!()` are to be implemented; signatures stay as they are.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::OnceLock;

use bytes::Bytes;

mod frame;
mod head;
mod header;
mod lex;
mod parser;
mod salvage;
mod uri;

#[cfg(test)]
mod tests;

pub use header::{CSeq, HeaderName, NameAddr, Via};
pub use uri::{Scheme, Uri};

/// A UTF-8 slice of a received message, shared with the message buffer.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ByteStr(Bytes);

impl ByteStr {
    /// Wraps bytes already checked to be UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<ByteStr, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(ByteStr(bytes))
    }

    pub const fn from_static(s: &'static str) -> ByteStr {
        ByteStr(Bytes::from_static(s.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        debug_assert!(
            std::str::from_utf8(&self.0).is_ok(),
            "ByteStr holds UTF-8 checked at construction"
        );
        // SAFETY: every ByteStr holds UTF-8: `from_utf8` checks it, `from_static`
        // takes a `str`, and the parser only wraps slices of a head it checked
        // once (`parser::parse`) cut next to ASCII delimiters, or text it built
        // from such slices by replacing ASCII bytes. Re-checking on every
        // accessor call was a hot spot.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl Deref for ByteStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ByteStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP method. Methods are case-sensitive (RFC 3261 §7.1); unknown ones are
/// kept as extension methods.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Other(ByteStr),
}

impl Method {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(name) => name.as_str(),
        }
    }

    /// A method token at `buf[range]` (checked UTF-8); the match is
    /// case-sensitive (RFC 3261 §7.1). Only an extension method takes a slice.
    pub(crate) fn from_buf(buf: &Bytes, range: Range<usize>) -> Method {
        match &buf[range.clone()] {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"INFO" => Method::Info,
            b"UPDATE" => Method::Update,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"PUBLISH" => Method::Publish,
            _ => Method::Other(ByteStr(buf.slice(range))),
        }
    }
}

/// The first line of a message.
#[derive(Clone, Debug)]
pub enum StartLine {
    Request { method: Method, uri: Uri },
    Response { status: u16, reason: ByteStr },
}

/// `Contact: *` (RFC 3261 §10.2.2) or a list of contacts.
#[derive(Clone, Debug)]
pub enum Contacts {
    Star,
    List(Vec<NameAddr>),
}

/// Why a message was refused. Each variant knows the status a UAS answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("Message too large")]
    TooLarge,
    #[error("Header section not terminated by an empty line")]
    HeadUnterminated,
    #[error("Line not terminated by CRLF")]
    BadLineEnd,
    #[error("Header section is not valid UTF-8")]
    NotUtf8,
    #[error("Malformed start line")]
    BadStartLine,
    #[error("Malformed method")]
    BadMethod,
    #[error("Malformed Request-URI")]
    BadRequestUri,
    #[error("SIP version not supported")]
    UnsupportedVersion,
    #[error("Status code outside 100-699")]
    BadStatus,
    #[error("Malformed header line")]
    BadHeaderLine,
    #[error("Too many header lines")]
    TooManyHeaders,
    #[error("Missing {0} header")]
    MissingHeader(&'static str),
    #[error("Duplicate {0} header")]
    DuplicateHeader(&'static str),
    #[error("Malformed Via header")]
    BadVia,
    #[error("Too many Via values")]
    TooManyVias,
    #[error("Malformed name-addr")]
    BadNameAddr,
    #[error("Malformed URI")]
    BadUri,
    #[error("Too many parameters")]
    TooManyParams,
    #[error("Contact * must stand alone")]
    BadContactStar,
    #[error("Too many Contact values")]
    TooManyContacts,
    #[error("Malformed Call-ID header")]
    BadCallId,
    #[error("Malformed CSeq header")]
    BadCSeq,
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    #[error("Malformed Max-Forwards header")]
    BadMaxForwards,
    #[error("Malformed Content-Length header")]
    BadContentLength,
    #[error("Malformed Content-Type header")]
    BadContentType,
    #[error("Body shorter than Content-Length")]
    BodyTruncated,
}

impl ParseError {
    /// 400, or 505 for a SIP version other than 2.0.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::UnsupportedVersion => 505,
            _ => 400,
        }
    }
}

/// One parsed SIP message.
#[derive(Clone, Debug)]
pub struct Message {
    raw: Bytes,
    /// The header section (start line and CRLFs included), checked UTF-8
    /// once; header values are ranges into it.
    head: ByteStr,
    start: StartLine,
    headers: Vec<Header>,
    /// Folded values, unfolded (rare); a folded `Header` indexes this.
    unfolded: Vec<ByteStr>,
    /// Extension names as `HeaderName`s, in order, built on the first call
    /// to `headers()` so parsing takes no slice per extension line.
    other_names: OnceLock<Box<[HeaderName]>>,
    vias: Vec<Via>,
    from: NameAddr,
    to: NameAddr,
    call_id: ByteStr,
    cseq: CSeq,
    max_forwards: Option<u32>,
    contacts: Contacts,
    expires: Option<u32>,
    content_type: Option<ByteStr>,
    body: Bytes,
}

/// One header line in the index: a few bytes, no reference count.
#[derive(Clone, Copy, Debug)]
struct Header {
    /// Place in `header::KNOWN`, or `header::OTHER` for an extension name.
    code: u8,
    /// The value is `Message::unfolded[value.start]`, not a range of the head.
    folded: bool,
    /// The name as written, relative to the head.
    name: Span,
    value: Span,
}

/// A range in half the space of a `Range<usize>`: typed headers are moved
/// and copied on every parse, so their size costs time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The longest text a span indexes; parsers refuse longer ones.
    const MAX: usize = u32::MAX as usize;

    /// Callers hold texts of at most `Span::MAX` bytes (messages are
    /// bounded by `limits::MESSAGE_BYTES_MAX`).
    fn new(r: Range<usize>) -> Span {
        debug_assert!(r.end <= u32::MAX as usize);
        Span {
            start: r.start as u32,
            end: r.end as u32,
        }
    }
    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
    fn is_empty(self) -> bool {
        self.start >= self.end
    }
}

impl Message {
    /// Parses one message. `raw` is a UDP datagram or a TCP frame: bytes after
    /// the body that Content-Length gives are ignored (RFC 3261 §18.3); a body
    /// shorter than Content-Length is an error. Without Content-Length the body
    /// is the rest of the input.
    pub fn parse(raw: Bytes) -> Result<Message, ParseError> {
        parser::parse(raw)
    }

    /// For stream transports: the length of the first complete message in
    /// `buf` (headers + Content-Length body), `Ok(None)` if more bytes are
    /// needed, an error if the head is malformed, has no Content-Length, or
    /// the message exceeds `limits::MESSAGE_BYTES_MAX`. Leading CRLFs
    /// (keep-alives, RFC 5626 §3.5.1) count as part of the frame.
    pub fn frame(buf: &[u8]) -> Result<Option<usize>, ParseError> {
        frame::frame(buf)
    }

    pub fn start_line(&self) -> &StartLine {
        &self.start
    }
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }
    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Request { .. } => None,
            StartLine::Response { status, .. } => Some(*status),
        }
    }
    /// The Via values, top first; never empty.
    pub fn vias(&self) -> &[Via] {
        &self.vias
    }
    pub fn from(&self) -> &NameAddr {
        &self.from
    }
    pub fn to(&self) -> &NameAddr {
        &self.to
    }
    pub fn call_id(&self) -> &str {
        self.call_id.as_str()
    }
    pub fn cseq(&self) -> &CSeq {
        &self.cseq
    }
    pub fn max_forwards(&self) -> Option<u32> {
        self.max_forwards
    }
    /// Contact header values, empty when there is none.
    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }
    /// The Expires header, saturated to u32::MAX.
    pub fn expires(&self) -> Option<u32> {
        self.expires
    }
    /// Media type of the body, lower-cased, without parameters (`application/sdp`).
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_ref().map(ByteStr::as_str)
    }
    pub fn body(&self) -> &Bytes {
        &self.body
    }
    /// The first value of a header, trimmed, folding replaced by a single SP.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        let code = name.code();
        self.headers
            .iter()
            .find(|h| self.is_named(h, code, name))
            .map(|h| self.value(h))
    }
    /// Every header line with that name, in order.
    pub fn header_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        let code = name.code();
        self.headers
            .iter()
            .filter(move |h| self.is_named(h, code, name))
            .map(|h| self.value(h))
    }
    /// Comma-separated tokens across every line of a list header
    /// (`Require`, `Supported`, `Allow`), trimmed, empty ones skipped.
    pub fn header_tokens<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.header_all(name)
            .flat_map(|v| v.split(','))
            .map(lex::trim)
            .filter(|t| !t.is_empty())
    }
    /// Values of a multi-valued header (Route, Record-Route, ...) across every
    /// line, split at commas outside quotes and `<>`, trimmed, empty ones skipped.
    pub fn header_values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.header_all(name).flat_map(lex::ListIter::new)
    }
    /// Every header line in order: its name and its value.
    pub fn headers(&self) -> impl Iterator<Item = (&HeaderName, &str)> {
        let others = self.other_names.get_or_init(|| {
            self.headers
                .iter()
                .filter(|h| h.code == header::OTHER)
                .map(|h| HeaderName::Other(ByteStr(self.head.as_bytes().slice(h.name.range()))))
                .collect()
        });
        let mut next_other = others.iter();
        self.headers.iter().map(move |h| {
            let name = match header::KNOWN.get(usize::from(h.code)) {
                Some(known) => known,
                // As many extension names as `OTHER` codes, in the same order.
                None => next_other.next().unwrap_or(&header::KNOWN[0]),
            };
            (name, self.value(h))
        })
    }
    /// The whole message as received, without bytes after the body.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// Whether an index entry is `name`, whose code is `code`; extension
    /// names compare ignoring case.
    fn is_named(&self, header: &Header, code: u8, name: &HeaderName) -> bool {
        header.code == code
            && (code != header::OTHER
                || self.head.as_bytes()[header.name.range()]
                    .eq_ignore_ascii_case(name.as_str().as_bytes()))
    }

    fn value(&self, header: &Header) -> &str {
        if header.folded {
            if let Some(text) = self.unfolded.get(header.value.start as usize) {
                return text.as_str();
            }
        }
        &self.head.as_str()[header.value.range()]
    }
}

/// What could be read from a message that failed to parse, enough to answer it
/// with 400 (RFC 3261 §8.2.6.1 copies Via, From, To, Call-ID and CSeq).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Salvage {
    pub is_request: bool,
    /// Raw Via values, top first (one per comma-separated value).
    pub vias: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub call_id: Option<String>,
    pub cseq: Option<String>,
}

/// Reads what it can of a malformed message, leniently. `None` when it is not
/// a request or has no Via to answer to.
pub fn salvage(raw: &[u8]) -> Option<Salvage> {
    salvage::salvage(raw)
}
