//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966); other schemes are kept
//! as opaque text so the switch can answer 416.

use super::ByteStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other,
}

/// A URI. Text is kept as received (escapes are not decoded).
#[derive(Clone, Debug)]
pub struct Uri {}

impl Uri {
    pub fn parse(text: ByteStr) -> Result<Uri, super::ParseError> {
        let _ = text;
        todo!()
    }
    pub fn scheme(&self) -> Scheme {
        todo!()
    }
    /// The user part (`sip:user@host`), or the number of a tel URI.
    pub fn user(&self) -> Option<&str> {
        todo!()
    }
    /// The host; an IPv6 reference keeps its brackets. Empty for tel URIs.
    pub fn host(&self) -> &str {
        todo!()
    }
    pub fn port(&self) -> Option<u16> {
        todo!()
    }
    /// A URI parameter by name (case-insensitive): `Some(None)` when it has no value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        let _ = name;
        todo!()
    }
    /// The whole URI as written.
    pub fn as_str(&self) -> &str {
        todo!()
    }
}
