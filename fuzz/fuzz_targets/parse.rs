//! Feeds arbitrary bytes to `parse`, `frame` and `salvage`, and reads every
//! accessor of what parses: none may panic (STYLE.md, "Errors and limits").
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchyard::sip::parse::{salvage, ByteStr, Contacts, HeaderName, Message, NameAddr, StartLine, Uri, Via};

fn touch_uri(uri: &Uri) {
    let _ = (uri.scheme(), uri.user(), uri.host(), uri.port(), uri.as_str(), uri.headers());
    let _ = (uri.param("transport"), uri.param("lr"));
}

fn touch_addr(addr: &NameAddr) {
    let _ = (addr.display_name(), addr.tag(), addr.as_str(), addr.param("expires"));
    touch_uri(addr.uri());
}

fn touch_via(via: &Via) {
    let _ = (via.transport(), via.host(), via.port(), via.sent_by(), via.branch(), via.as_str());
    let _ = (via.param("received"), via.param("rport"));
}

fn touch(m: &Message) {
    match m.start_line() {
        StartLine::Request { method, uri } => {
            let _ = method.as_str();
            touch_uri(uri);
        }
        StartLine::Response { status, reason } => {
            let _ = (status, reason.as_str());
        }
    }
    let _ = (m.is_request(), m.method(), m.request_uri().map(Uri::as_str), m.status());
    assert!(!m.vias().is_empty());
    m.vias().iter().for_each(touch_via);
    touch_addr(m.from());
    touch_addr(m.to());
    let _ = (m.call_id(), m.cseq().seq, m.cseq().method.as_str(), m.max_forwards(), m.expires());
    if let Contacts::List(list) = m.contacts() {
        list.iter().for_each(touch_addr);
    }
    let _ = (m.content_type(), m.body().len(), m.as_bytes().len());
    for name in [HeaderName::Route, HeaderName::Supported, HeaderName::parse(b"x-unknown")] {
        let _ = m.header(&name);
        let _ = m.header_all(&name).count();
        let _ = m.header_tokens(&name).count();
        let _ = m.header_values(&name).count();
    }
    for (name, value) in m.headers() {
        let _ = (name.as_str(), value.len());
    }
    for value in m.header_values(&HeaderName::Route) {
        if let Ok(text) = ByteStr::from_utf8(Bytes::copy_from_slice(value.as_bytes())) {
            if let Ok(addr) = NameAddr::parse(text) {
                touch_addr(&addr);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(Bytes::copy_from_slice(data)) {
        touch(&m);
    }
    if let Ok(Some(n)) = Message::frame(data) {
        assert!(n <= data.len());
    }
    let _ = salvage(data);
});
