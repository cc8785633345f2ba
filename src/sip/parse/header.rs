//! Header names (with compact forms, RFC 3261 §7.3.3) and the typed core headers.

use super::{ByteStr, Method, Uri};

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
    /// Parses a header name as found before the colon (any case, compact forms).
    pub fn parse(name: &[u8]) -> HeaderName {
        let _ = name;
        todo!()
    }
    /// The canonical long form (`Call-ID`, `WWW-Authenticate`).
    pub fn as_str(&self) -> &str {
        todo!()
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        let _ = other;
        todo!()
    }
}

/// A Via value (RFC 3261 §20.42).
#[derive(Clone, Debug)]
pub struct Via {}

impl Via {
    /// Transport token, upper-cased as sent (`UDP`, `TCP`, `TLS`, or unknown).
    pub fn transport(&self) -> &str {
        todo!()
    }
    pub fn host(&self) -> &str {
        todo!()
    }
    pub fn port(&self) -> Option<u16> {
        todo!()
    }
    /// `host[:port]` as written.
    pub fn sent_by(&self) -> &str {
        todo!()
    }
    pub fn branch(&self) -> Option<&str> {
        todo!()
    }
    /// A parameter by name (case-insensitive): `Some(None)` when it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        let _ = name;
        todo!()
    }
    /// The whole value as written.
    pub fn as_str(&self) -> &str {
        todo!()
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route.
#[derive(Clone, Debug)]
pub struct NameAddr {}

impl NameAddr {
    /// Parses one value (not a comma-separated list).
    pub fn parse(value: ByteStr) -> Result<NameAddr, super::ParseError> {
        let _ = value;
        todo!()
    }
    pub fn display_name(&self) -> Option<&str> {
        todo!()
    }
    pub fn uri(&self) -> &Uri {
        todo!()
    }
    pub fn tag(&self) -> Option<&str> {
        todo!()
    }
    /// A header parameter by name (case-insensitive): `Some(None)` when it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        let _ = name;
        todo!()
    }
    /// The whole value as written.
    pub fn as_str(&self) -> &str {
        todo!()
    }
}

/// CSeq (RFC 3261 §20.16): a number below 2^31 and the method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}
