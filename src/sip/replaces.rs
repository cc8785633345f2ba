//! The `Replaces` header (RFC 3891 §6.1): the dialog a new one takes the
//! place of, by Call-ID and both tags. It arrives in two forms: as a header
//! of an INVITE, and escaped in the headers part of a REFER's Refer-To URI
//! (`<sip:b@host?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>`, RFC 3515
//! §2.1 with RFC 3261 §19.1.1's escaping). Pure.

use thiserror::Error;

/// Longest Replaces value kept: a Call-ID and two tags fit well within.
pub const REPLACES_CHARS_MAX: usize = 512;

/// The dialog a Replaces names. `to_tag` and `from_tag` are as the sender
/// of the Replaces saw the dialog (§6.1: from the receiver's point of view
/// for an INVITE; a phone's REFER often names them as it sees them): match
/// both orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    /// `early-only` (§6.1): replace only a dialog not yet confirmed.
    pub early_only: bool,
}

/// Why a Replaces could not be read: the request gets 400.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplacesError {
    #[error("the Replaces value is empty or longer than {REPLACES_CHARS_MAX} characters")]
    Length,
    #[error("the Replaces value lacks its {0}")]
    Missing(&'static str),
    #[error("the Refer-To's escaped headers are malformed")]
    Escape,
}

impl ReplacesError {
    pub fn status(&self) -> u16 {
        400
    }
}

impl Replaces {
    /// A `Replaces` header value: `call-id *( ";" param )`.
    pub fn parse(value: &str) -> Result<Replaces, ReplacesError> {
        let value = value.trim();
        if value.is_empty() || value.len() > REPLACES_CHARS_MAX {
            return Err(ReplacesError::Length);
        }
        let mut parts = value.split(';');
        let call_id = parts.next().unwrap_or("").trim();
        if call_id.is_empty() {
            return Err(ReplacesError::Missing("Call-ID"));
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for param in parts {
            let (name, val) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), v.trim()),
                None => (param.trim(), ""),
            };
            if name.eq_ignore_ascii_case("to-tag") {
                to_tag = Some(val.to_string());
            } else if name.eq_ignore_ascii_case("from-tag") {
                from_tag = Some(val.to_string());
            } else if name.eq_ignore_ascii_case("early-only") {
                early_only = true;
            }
        }
        let to_tag = to_tag
            .filter(|t| !t.is_empty())
            .ok_or(ReplacesError::Missing("to-tag"))?;
        let from_tag = from_tag
            .filter(|t| !t.is_empty())
            .ok_or(ReplacesError::Missing("from-tag"))?;
        Ok(Replaces {
            call_id: call_id.to_string(),
            to_tag,
            from_tag,
            early_only,
        })
    }

    /// The Replaces in a Refer-To value's URI headers, if it has one.
    pub fn in_refer_to(refer_to: &str) -> Result<Option<Replaces>, ReplacesError> {
        let uri = refer_to.trim();
        let uri = match uri.find('<') {
            Some(start) => {
                let rest = &uri[start + 1..];
                &rest[..rest.find('>').unwrap_or(rest.len())]
            }
            None => uri,
        };
        let Some((_, headers)) = uri.split_once('?') else {
            return Ok(None);
        };
        for header in headers.split('&') {
            let Some((name, value)) = header.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("Replaces") {
                return Replaces::parse(&unescape(value)?).map(Some);
            }
        }
        Ok(None)
    }

    /// Whether this names the dialog with `call_id` and the two tags
    /// `ours` and `theirs`, in either order.
    pub fn names(&self, call_id: &str, ours: &str, theirs: &str) -> bool {
        self.call_id == call_id
            && ((self.to_tag == ours && self.from_tag == theirs)
                || (self.to_tag == theirs && self.from_tag == ours))
    }
}

/// Undoes RFC 3986 `%XX` escapes (RFC 3261 §19.1.2).
fn unescape(text: &str) -> Result<String, ReplacesError> {
    if text.len() > REPLACES_CHARS_MAX * 3 {
        return Err(ReplacesError::Length);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or(ReplacesError::Escape)?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| ReplacesError::Escape)?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ReplacesError::Escape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_value_with_both_tags() {
        let r = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472").unwrap();
        assert_eq!(r.call_id, "425928@bobster.example.org");
        assert_eq!((r.to_tag.as_str(), r.from_tag.as_str()), ("7743", "6472"));
        assert!(!r.early_only);
        assert!(r.names("425928@bobster.example.org", "6472", "7743"));
        assert!(r.names("425928@bobster.example.org", "7743", "6472"));
        assert!(!r.names("425928@bobster.example.org", "7743", "x"));
        assert!(!r.names("other", "7743", "6472"));
    }

    #[test]
    fn escaped_in_a_refer_to() {
        let to = "<sip:1002@127.0.0.1?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2&X=y>";
        let r = Replaces::in_refer_to(to).unwrap().unwrap();
        assert_eq!(r.call_id, "abc@h");
        assert_eq!((r.to_tag.as_str(), r.from_tag.as_str()), ("1", "2"));
        assert_eq!(Replaces::in_refer_to("<sip:1002@127.0.0.1>"), Ok(None));
    }

    #[test]
    fn bad_values_are_errors() {
        assert_eq!(Replaces::parse(""), Err(ReplacesError::Length));
        assert_eq!(
            Replaces::parse("abc;from-tag=2"),
            Err(ReplacesError::Missing("to-tag"))
        );
        assert_eq!(
            Replaces::parse(";to-tag=1;from-tag=2"),
            Err(ReplacesError::Missing("Call-ID"))
        );
        assert_eq!(
            Replaces::in_refer_to("<sip:b@h?Replaces=a%3"),
            Err(ReplacesError::Escape)
        );
        assert_eq!(
            Replaces::in_refer_to("<sip:b@h?Replaces=a%ZZ>"),
            Err(ReplacesError::Escape)
        );
        let long = "a".repeat(REPLACES_CHARS_MAX + 1);
        assert_eq!(Replaces::parse(&long), Err(ReplacesError::Length));
    }

    #[test]
    fn truncated_and_mutated_values_never_panic() {
        let samples = [
            "<sip:1002@127.0.0.1?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2&X=y>",
            "425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only",
        ];
        let noise = [b'%', b';', b'=', b'?', b'&', b'<', b'>', 0xC3, 0xA9, b'Z'];
        for sample in samples {
            let bytes = sample.as_bytes();
            for cut in 0..=bytes.len() {
                for (i, &b) in noise.iter().enumerate() {
                    let mut v = bytes[..cut].to_vec();
                    let at = (cut * 7 + i) % (v.len() + 1);
                    v.insert(at, b);
                    let text = String::from_utf8_lossy(&v);
                    let _ = Replaces::parse(&text);
                    let _ = Replaces::in_refer_to(&text);
                }
            }
        }
    }
}
