//! Shared by the virtual-time tests that drive the switch core with SIP
//! text (sim_supervise, sim_transfer, sim_attended, sim_escalate,
//! sim_conference, ...): a phone's requests, digest auth, what the core
//! asked for, and the check that a call left nothing behind.

// Each test file uses a part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use switchyard::sip::parse::{HeaderName, Message};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{CallRecord, EventKind, MediaCommand, Output, Switch};

pub fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=x 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
}

pub fn peer(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

/// Everything the core asked for since the last drain.
#[derive(Default)]
pub struct Out {
    pub sip: Vec<(SocketAddr, Message)>,
    pub media: Vec<MediaCommand>,
    pub records: Vec<CallRecord>,
    pub events: Vec<EventKind>,
}

pub fn drain(switch: &mut Switch) -> Out {
    let mut out = Out::default();
    while let Some(o) = switch.poll_output() {
        match o {
            Output::Transmit { peer, bytes } => {
                out.sip.push((peer.addr, Message::parse(bytes).unwrap()))
            }
            Output::Media(c) => out.media.push(c),
            Output::CallEnded(r) => out.records.push(r),
            Output::Event(e) => out.events.push(e.kind),
            Output::Tx(c) => unreachable!("a core without shards holds its transactions: {c:?}"),
        }
    }
    out
}

/// A request from `user`'s phone at `addr`.
#[allow(clippy::too_many_arguments)]
pub fn request(
    method: &str,
    uri: &str,
    user: &str,
    addr: &str,
    call_id: &str,
    cseq: u32,
    to: &str,
    extra: &str,
    body: &str,
) -> Bytes {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    Bytes::from(format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{call_id}{cseq}{method}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=t{call_id}\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{user}@{addr}>\r\n{extra}{ct}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

/// Sends a request with digest auth: the first try is challenged (401,
/// ACKed for an INVITE), the second carries the answer. The final response.
#[allow(clippy::too_many_arguments)]
pub fn with_auth(
    switch: &mut Switch,
    now: Instant,
    method: &str,
    uri: &str,
    user: &str,
    addr: &str,
    call_id: &str,
    body: &str,
) -> Out {
    let from = peer(addr);
    // A REGISTER names the address of record in To (RFC 3261 §10.2).
    let to = if method == "REGISTER" {
        format!("<sip:{user}@127.0.0.1>")
    } else {
        format!("<{uri}>")
    };
    switch.handle_datagram(
        now,
        from,
        request(method, uri, user, addr, call_id, 1, &to, "", body),
    );
    let out = drain(switch);
    let challenge = out
        .sip
        .iter()
        .map(|(_, m)| m)
        .find(|m| m.status() == Some(401))
        .unwrap_or_else(|| {
            panic!(
                "no 401 for {method} from {user}: {:?}",
                out.sip.iter().map(|(_, m)| m.status()).collect::<Vec<_>>()
            )
        });
    if method == "INVITE" {
        let to = challenge.to().as_str().to_string();
        let ack = request("ACK", uri, user, addr, call_id, 1, &to, "", "");
        // The ACK of a non-2xx shares the INVITE's branch.
        let ack = String::from_utf8(ack.to_vec())
            .unwrap()
            .replace("1ACK", "1INVITE");
        switch.handle_datagram(now, from, Bytes::from(ack));
    }
    let www = challenge
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let password = format!("pw-{user}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let auth =
        switchyard::sip::auth::answer_challenge(&www, method, uri, user, &password, 1, &mut rng)
            .unwrap();
    let extra = format!("Authorization: {auth}\r\n");
    switch.handle_datagram(
        now,
        from,
        request(method, uri, user, addr, call_id, 2, &to, &extra, body),
    );
    drain(switch)
}

pub fn final_status(out: &Out) -> Option<u16> {
    out.sip
        .iter()
        .filter_map(|(_, m)| m.status())
        .find(|&s| s >= 200)
}

/// A response to a request the switch sent, with `body` (SDP) when given.
#[allow(dead_code)] // not every including test answers the switch
pub fn reply(req: &Message, status: u16, tag: &str, contact: &str, body: &str) -> Bytes {
    let to = if req.to().tag().is_some() {
        req.to().as_str().to_string()
    } else {
        format!("{};tag={tag}", req.to().as_str())
    };
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    let vias: String = req
        .vias()
        .iter()
        .map(|v| format!("Via: {}\r\n", v.as_str()))
        .collect();
    Bytes::from(format!(
        "SIP/2.0 {status} X\r\n{vias}From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n\
         Contact: <sip:{contact}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        req.from().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        body.len()
    ))
}

pub fn invite_to(out: &Out, addr: &str) -> Option<Message> {
    out.sip
        .iter()
        .find(|(a, m)| a.to_string() == addr && m.method().is_some_and(|m| m.as_str() == "INVITE"))
        .map(|(_, m)| m.clone())
}

pub fn requests<'a>(out: &'a Out, addr: &str, method: &str) -> Vec<&'a Message> {
    out.sip
        .iter()
        .filter(|(a, m)| a.to_string() == addr && m.method().is_some_and(|m| m.as_str() == method))
        .map(|(_, m)| m)
        .collect()
}

/// Answers every request the switch sent in `out` (NOTIFYs, BYEs) with 200.
pub fn ack_requests(switch: &mut Switch, now: Instant, out: &Out) {
    for (addr, m) in &out.sip {
        let Some(method) = m.method() else { continue };
        if matches!(method.as_str(), "NOTIFY" | "BYE") {
            let bytes = reply(m, 200, "x", &addr.to_string(), "");
            switch.handle_datagram(now, peer(&addr.to_string()), bytes);
        }
    }
}

/// Nothing of the call is left in the switch's tables.
pub fn assert_clean(switch: &mut Switch, now: Instant) {
    switch.handle_timeout(now + Duration::from_secs(64));
    drain(switch);
    assert_eq!(switch.calls_active(), 0, "calls left");
    assert_eq!(switch.engagements(), 0, "engagements left");
    assert_eq!(switch.demux_entries(), 0, "demux entries left");
    assert_eq!(switch.transactions_active(), 0, "transactions left");
}
