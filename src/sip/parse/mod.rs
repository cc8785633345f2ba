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
use std::ops::Deref;

use bytes::Bytes;

mod header;
mod uri;

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

    pub fn from_static(s: &'static str) -> ByteStr {
        ByteStr(Bytes::from_static(s.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        // SAFETY-free: checked on construction.
        std::str::from_utf8(&self.0).expect("ByteStr holds UTF-8 checked at construction")
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
        todo!()
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
    #[error("placeholder")]
    Placeholder,
}

impl ParseError {
    /// 400, or 505 for a SIP version other than 2.0.
    pub fn status(&self) -> u16 {
        todo!()
    }
}

/// One parsed SIP message.
#[derive(Clone, Debug)]
pub struct Message {}

impl Message {
    /// Parses one message. `raw` is a UDP datagram or a TCP frame: bytes after
    /// the body that Content-Length gives are ignored (RFC 3261 §18.3); a body
    /// shorter than Content-Length is an error. Without Content-Length the body
    /// is the rest of the input.
    pub fn parse(raw: Bytes) -> Result<Message, ParseError> {
        let _ = raw;
        todo!()
    }

    /// For stream transports: the length of the first complete message in
    /// `buf` (headers + Content-Length body), `Ok(None)` if more bytes are
    /// needed, an error if the head is malformed, has no Content-Length, or
    /// the message exceeds `limits::MESSAGE_BYTES_MAX`. Leading CRLFs
    /// (keep-alives, RFC 5626 §3.5.1) count as part of the frame.
    pub fn frame(buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let _ = buf;
        todo!()
    }

    pub fn start_line(&self) -> &StartLine {
        todo!()
    }
    pub fn is_request(&self) -> bool {
        todo!()
    }
    pub fn method(&self) -> Option<&Method> {
        todo!()
    }
    pub fn request_uri(&self) -> Option<&Uri> {
        todo!()
    }
    pub fn status(&self) -> Option<u16> {
        todo!()
    }
    /// The Via values, top first; never empty.
    pub fn vias(&self) -> &[Via] {
        todo!()
    }
    pub fn from(&self) -> &NameAddr {
        todo!()
    }
    pub fn to(&self) -> &NameAddr {
        todo!()
    }
    pub fn call_id(&self) -> &str {
        todo!()
    }
    pub fn cseq(&self) -> &CSeq {
        todo!()
    }
    pub fn max_forwards(&self) -> Option<u32> {
        todo!()
    }
    /// Contact header values, empty when there is none.
    pub fn contacts(&self) -> &Contacts {
        todo!()
    }
    /// The Expires header, saturated to u32::MAX.
    pub fn expires(&self) -> Option<u32> {
        todo!()
    }
    /// Media type of the body, lower-cased, without parameters (`application/sdp`).
    pub fn content_type(&self) -> Option<&str> {
        todo!()
    }
    pub fn body(&self) -> &Bytes {
        todo!()
    }
    /// The first value of a header, trimmed, folding replaced by a single SP.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        let _ = name;
        todo!()
    }
    /// Every header line with that name, in order.
    pub fn header_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        let _ = name;
        std::iter::empty()
    }
    /// Comma-separated tokens across every line of a list header
    /// (`Require`, `Supported`, `Allow`), trimmed, empty ones skipped.
    pub fn header_tokens<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        let _ = name;
        std::iter::empty()
    }
    /// Every header line in order: its name and its value.
    pub fn headers(&self) -> impl Iterator<Item = (&HeaderName, &str)> {
        std::iter::empty()
    }
    /// The whole message as received.
    pub fn as_bytes(&self) -> &Bytes {
        todo!()
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
    let _ = raw;
    todo!()
}
