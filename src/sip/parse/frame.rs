//! Framing for stream transports (RFC 3261 §18.3): find where the first
//! message in a TCP byte stream ends, from its Content-Length.

use std::sync::LazyLock;

use memchr::{memchr, memmem};

use super::lex;
use super::{HeaderName, ParseError};
use crate::sip::limits::{HEADERS_MAX, MESSAGE_BYTES_MAX};

/// The empty line that ends a head (RFC 3261 §7). Built once: building a
/// searcher on every message cost as much as running it.
static HEAD_END: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\r\n\r\n"));

pub(super) fn frame(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut pos = 0;
    while buf[pos..].starts_with(b"\r\n") {
        pos += 2;
    }
    if pos > MESSAGE_BYTES_MAX {
        return Err(ParseError::TooLarge);
    }
    // Look for the end of the head only within the bound, so a peer that
    // never ends its head cannot make us scan or buffer without limit.
    let window = &buf[pos..buf.len().min(pos + MESSAGE_BYTES_MAX)];
    let head_end = match HEAD_END.find(window) {
        Some(p) => pos + p + 2,
        None if window.len() >= MESSAGE_BYTES_MAX => return Err(ParseError::TooLarge),
        None => return Ok(None),
    };
    let content_length = content_length(&buf[pos..head_end])?;
    // A Content-Length near usize::MAX must not wrap the sum (found by the fuzzer).
    let end = (head_end + 2)
        .checked_add(content_length)
        .filter(|&end| end - pos <= MESSAGE_BYTES_MAX)
        .ok_or(ParseError::TooLarge)?;
    Ok(if buf.len() >= end { Some(end) } else { None })
}

/// The one Content-Length of a head (each line ending in CRLF); on a stream
/// it is mandatory (RFC 3261 §20.14).
fn content_length(head: &[u8]) -> Result<usize, ParseError> {
    let mut found: Option<usize> = None;
    let mut pos = memchr(b'\n', head).map_or(head.len(), |p| p + 1);
    let mut lines = 0usize;
    while pos < head.len() {
        let line_end = memchr(b'\n', &head[pos..]).map_or(head.len(), |p| pos + p);
        lines += 1;
        if lines > HEADERS_MAX {
            return Err(ParseError::TooManyHeaders);
        }
        let line = &head[pos..line_end];
        let next = line_end + 1;
        if line.first().is_some_and(|&c| lex::is_wsp(c)) {
            pos = next;
            continue;
        }
        let colon = memchr(b':', line).ok_or(ParseError::BadHeaderLine)?;
        let name = lex::trim_range(line, 0..colon);
        if HeaderName::parse(&line[name]) == HeaderName::ContentLength {
            // The value may be folded onto continuation lines.
            let mut value_end = line_end;
            let mut cont = next;
            while cont < head.len() && lex::is_wsp(head[cont]) {
                value_end = memchr(b'\n', &head[cont..]).map_or(head.len(), |p| cont + p);
                cont = value_end + 1;
            }
            let value = lex::trim_range(head, pos + colon + 1..value_end);
            let n = lex::digits_u64(&head[value])
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(ParseError::BadContentLength)?;
            if found.is_some() {
                return Err(ParseError::DuplicateHeader("Content-Length"));
            }
            found = Some(n);
        }
        pos = next;
    }
    found.ok_or(ParseError::MissingHeader("Content-Length"))
}
