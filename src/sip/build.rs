//! Writing outgoing SIP messages: requests the switch originates and responses
//! to requests it received (RFC 3261 §8.1.1, §8.2.6). Everything is written
//! into one buffer; Content-Length is always set, so stream transports can
//! frame what we send.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::sip::parse::{HeaderName, Message, Salvage, Via};
use crate::sip::Peer;

/// Our Server / User-Agent value unless configured: no version, which
/// would tell a scanner which bugs to try (issue 13 item 6).
pub const PRODUCT_DEFAULT: &str = "switchyard";

static PRODUCT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Our Server / User-Agent value.
pub fn product() -> &'static str {
    PRODUCT.get().map_or(PRODUCT_DEFAULT, String::as_str)
}

/// Sets [`product`] from the dialplan (`[security].server_header`), once
/// per process at start; later calls change nothing.
pub fn set_product(value: &str) {
    let _ = PRODUCT.set(value.to_owned());
}

/// Methods the switch accepts, for `Allow` (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO, UPDATE, REFER";

/// An outgoing message being written: start line, headers, then body.
pub struct Writer {
    buf: BytesMut,
}

impl Writer {
    pub fn request(method: &str, uri: &str) -> Writer {
        // Under 1001 bytes glibc serves it from its small bins; 1024 is a
        // "large" request, which first consolidates the fast bins (measured:
        // ~3 % of the core task's time at 5000 calls/s, before the binary
        // took jemalloc; the library may still run on glibc).
        let mut buf = BytesMut::with_capacity(1000);
        buf.put_slice(method.as_bytes());
        buf.put_u8(b' ');
        buf.put_slice(uri.as_bytes());
        buf.put_slice(b" SIP/2.0\r\n");
        Writer { buf }
    }

    pub fn response(status: u16, reason: &str) -> Writer {
        let mut buf = BytesMut::with_capacity(768);
        let _ = write!(Fmt(&mut buf), "SIP/2.0 {status} {reason}\r\n");
        Writer { buf }
    }

    pub fn header(&mut self, name: &str, value: &str) -> &mut Writer {
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b": ");
        self.buf.put_slice(value.as_bytes());
        self.buf.put_slice(b"\r\n");
        self
    }

    pub fn header_fmt(&mut self, name: &str, value: std::fmt::Arguments<'_>) -> &mut Writer {
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b": ");
        let _ = Fmt(&mut self.buf).write_fmt(value);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// The start line and headers so far, each ending in CRLF, without
    /// Content-Length or the blank line: a template another layer completes.
    pub fn head(self) -> Bytes {
        self.buf.freeze()
    }

    /// Ends the head and appends the body, with its type when there is one.
    pub fn finish(mut self, body: Option<(&str, &[u8])>) -> Bytes {
        match body {
            Some((content_type, bytes)) if !bytes.is_empty() => {
                self.header("Content-Type", content_type);
                let _ = write!(
                    Fmt(&mut self.buf),
                    "Content-Length: {}\r\n\r\n",
                    bytes.len()
                );
                self.buf.put_slice(bytes);
            }
            _ => self.buf.put_slice(b"Content-Length: 0\r\n\r\n"),
        }
        self.buf.freeze()
    }
}

/// Starts a response to `req` (RFC 3261 §8.2.6.2): Via values copied in order,
/// the top one stamped with `received`/`rport` (RFC 3581), From, Call-ID and
/// CSeq copied, To copied with `to_tag` added when it has none yet.
pub fn response_to(
    req: &Message,
    source: Peer,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
) -> Writer {
    let mut w = Writer::response(status, reason);
    for (i, via) in req.vias().iter().enumerate() {
        if i == 0 {
            let stamped = stamp_via(
                via.as_str(),
                via.host(),
                via.param("rport").is_some(),
                source.addr,
            );
            w.header("Via", &stamped);
        } else {
            w.header("Via", via.as_str());
        }
    }
    w.header("From", req.from().as_str());
    match (to_tag, req.to().tag()) {
        (Some(tag), None) => w.header_fmt("To", format_args!("{};tag={tag}", req.to().as_str())),
        _ => w.header("To", req.to().as_str()),
    };
    w.header("Call-ID", req.call_id());
    w.header_fmt(
        "CSeq",
        format_args!("{} {}", req.cseq().seq, req.cseq().method.as_str()),
    );
    w.header("Server", product());
    w
}

/// A 400 (or 505) for a request that did not parse, from what could be read
/// of it. `None` when it lacks what a response needs.
pub fn response_to_salvage(
    s: &Salvage,
    source: Peer,
    status: u16,
    reason: &str,
    warning: &str,
) -> Option<Bytes> {
    let top = s.vias.first()?;
    let mut w = Writer::response(status, reason);
    let host = lenient_via_host(top);
    let has_rport = top
        .split(';')
        .skip(1)
        .any(|p| p.trim().eq_ignore_ascii_case("rport"));
    w.header("Via", &stamp_via(top, host, has_rport, source.addr));
    for via in &s.vias[1..] {
        w.header("Via", via);
    }
    for (name, value) in [
        ("From", &s.from),
        ("To", &s.to),
        ("Call-ID", &s.call_id),
        ("CSeq", &s.cseq),
    ] {
        if let Some(v) = value {
            w.header(name, v);
        }
    }
    w.header("Server", product());
    w.header_fmt(
        "Warning",
        format_args!("399 switchyard \"{}\"", warning.replace('"', "'")),
    );
    Some(w.finish(None))
}

/// Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4): back over the same
/// stream for TCP; for UDP to the source address, at the source port when
/// the client asked for `rport` (or `force_rport` says to act as if it had),
/// else at the port in its Via (default 5060).
pub fn response_destination(top: &Via, source: Peer, force_rport: bool) -> Peer {
    if force_rport || source.transport.is_reliable() || top.param("rport").is_some() {
        return source;
    }
    let port = top.port().unwrap_or(5060);
    Peer {
        transport: source.transport,
        addr: SocketAddr::new(source.addr.ip(), port),
    }
}

/// Reason phrases for the statuses the switch sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// True when a request's `Accept` list allows an SDP body (RFC 3261 §8.2.3):
/// no Accept header means application/sdp.
pub fn accepts_sdp(req: &Message) -> bool {
    let mut any = false;
    for token in req.header_tokens(&HeaderName::Accept) {
        any = true;
        let media = token.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/sdp")
            || media.eq_ignore_ascii_case("application/*")
            || media == "*/*"
        {
            return true;
        }
    }
    !any
}

/// Adds `received` and fills an empty `rport` on a Via value (RFC 3581 §4).
fn stamp_via(raw: &str, host: &str, has_rport: bool, source: SocketAddr) -> String {
    let ip = source.ip().to_string();
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let mut out = String::with_capacity(raw.len() + 40);
    for (i, part) in raw.split(';').enumerate() {
        if i > 0 {
            out.push(';');
        }
        let trimmed = part.trim();
        if i > 0 && trimmed.eq_ignore_ascii_case("rport") {
            let _ = write!(out, "rport={}", source.port());
        } else if i > 0 && trimmed.len() >= 8 && trimmed[..8].eq_ignore_ascii_case("received") {
            // A received we add ourselves replaces any stale one.
            out.pop();
        } else {
            out.push_str(trimmed);
        }
    }
    if has_rport || bare_host != ip {
        let _ = write!(out, ";received={ip}");
    }
    out
}

/// The sent-by host of a raw Via value, read leniently.
fn lenient_via_host(raw: &str) -> &str {
    let after_proto = raw
        .trim()
        .split_once(char::is_whitespace)
        .map_or("", |(_, rest)| rest);
    let sent_by = after_proto.split(';').next().unwrap_or("").trim();
    if let Some(rest) = sent_by.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    sent_by.split(':').next().unwrap_or("")
}

struct Fmt<'a>(&'a mut BytesMut);

impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_via_fills_rport_and_adds_received() {
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let got = stamp_via(
            "SIP/2.0/UDP phone.example:5062;branch=z9hG4bK1;rport",
            "phone.example",
            true,
            src,
        );
        assert_eq!(
            got,
            "SIP/2.0/UDP phone.example:5062;branch=z9hG4bK1;rport=40000;received=127.0.0.1"
        );
    }

    #[test]
    fn stamp_via_leaves_matching_host_alone() {
        let src: SocketAddr = "127.0.0.1:5062".parse().unwrap();
        let got = stamp_via(
            "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1",
            "127.0.0.1",
            false,
            src,
        );
        assert_eq!(got, "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1");
    }

    #[test]
    fn lenient_via_host_reads_ipv4_and_ipv6() {
        assert_eq!(
            lenient_via_host("SIP/2.0/UDP 192.0.2.1:5060;branch=x"),
            "192.0.2.1"
        );
        assert_eq!(
            lenient_via_host("SIP/2.0/TCP [2001:db8::1]:5060"),
            "2001:db8::1"
        );
    }

    #[test]
    fn writer_sets_content_length() {
        let mut w = Writer::request("OPTIONS", "sip:a@127.0.0.1");
        w.header("Call-ID", "x");
        let bytes = w.finish(Some(("application/sdp", b"v=0\r\n")));
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\n"));
        assert!(text.ends_with("Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"));
    }
}
