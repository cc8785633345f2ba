//! Parser bench: one realistic carrier INVITE (~1 KB, SDP body) parsed with
//! the core headers typed, by switchyard, rsip 0.4.0 and ezk-sip-types 0.6.5
//! side by side in the same run (DESIGN.md "Performance is a benchmark").
//!
//! Besides criterion's report it prints one plain line per parser:
//! `parse name=<parser> ns_per_msg=<ns> ns_per_msg_best_batch=<ns> msgs_per_s=<rate>`.
#![allow(clippy::disallowed_methods)] // benches are drivers: they read the clock.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use switchyard::sip::parse::{Contacts, Message};

const INVITE: &str = "INVITE sip:+4930901820@switch.example.net:5060;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---4f1c2a9b3e;rport\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;received=198.51.100.7;branch=z9hG4bKa8f3c2d1e0\r\n\
Via: SIP/2.0/TCP 203.0.113.20:5060;branch=z9hG4bK776asdhds\r\n\
Record-Route: <sip:192.0.2.10;lr;ftag=as1e3f4a5b>\r\n\
Record-Route: <sip:198.51.100.7;lr>\r\n\
Max-Forwards: 68\r\n\
From: \"Erika Mustermann\" <sip:+4917612345678@carrier.example.com;user=phone>;tag=as1e3f4a5b\r\n\
To: <sip:+4930901820@switch.example.net;user=phone>\r\n\
Call-ID: 3c26a8f37e1d4b2a9c8d7e6f5a4b3c2d@192.0.2.10\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:+4917612345678@192.0.2.10:5060;transport=udp>\r\n\
P-Asserted-Identity: \"Erika Mustermann\" <sip:+4917612345678@carrier.example.com;user=phone>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO, REFER, NOTIFY\r\n\
Supported: replaces, timer, 100rel\r\n\
Session-Expires: 1800;refresher=uac\r\n\
User-Agent: CarrierSBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 281\r\n\
\r\n\
v=0\r\n\
o=- 1714489200 1714489200 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 16384 RTP/AVP 8 0 18 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// Parses and touches what a B2BUA reads on every INVITE; returns a checksum
/// so nothing is optimised away.
fn switchyard(raw: &Bytes) -> usize {
    let m = Message::parse(raw.clone()).expect("the bench INVITE parses");
    let mut n = 0;
    for via in m.vias() {
        n += via.branch().map_or(0, str::len) + via.host().len();
    }
    n += m.from().tag().map_or(0, str::len) + m.to().tag().map_or(0, str::len);
    n += m.cseq().seq as usize + m.call_id().len();
    if let Contacts::List(list) = m.contacts() {
        n += list.iter().map(|c| c.uri().host().len()).sum::<usize>();
    }
    n + m.max_forwards().unwrap_or(0) as usize + m.body().len()
}

fn rsip(raw: &Bytes) -> usize {
    use rsip::prelude::*;
    let m = rsip::SipMessage::try_from(raw.clone()).expect("rsip parses the bench INVITE");
    let mut n = 0;
    for header in m.headers().iter() {
        if let rsip::Header::Via(via) = header {
            let via = via.typed().expect("rsip types Via");
            n += via.branch().map_or(0, |b| b.to_string().len())
                + via.uri.host_with_port.to_string().len();
        }
    }
    n += m
        .from_header()
        .and_then(|h| h.typed())
        .ok()
        .and_then(|f| f.tag().map(|t| t.to_string().len()))
        .unwrap_or(0);
    n += m
        .to_header()
        .and_then(|h| h.typed())
        .ok()
        .and_then(|t| t.tag().map(|t| t.to_string().len()))
        .unwrap_or(0);
    n += m
        .cseq_header()
        .and_then(|h| h.typed())
        .map_or(0, |c| c.seq as usize);
    n += m.call_id_header().map_or(0, |c| c.value().len());
    for contact in m.contact_headers() {
        n += contact
            .typed()
            .map_or(0, |c| c.uri.host_with_port.to_string().len());
    }
    n += m
        .max_forwards_header()
        .ok()
        .and_then(|h| u32::try_from(h.clone()).ok())
        .unwrap_or(0) as usize;
    n + m.body().len()
}

fn ezk(raw: &Bytes) -> usize {
    use ezk_sip_types::header::typed::{CSeq, CallID, Contact, FromTo, MaxForwards, Via};
    use ezk_sip_types::msg::{MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;
    use ezk_sip_types::{Headers, Name};

    let mut parser = PullParser::new(raw, 0);
    let first = parser.next().expect("a first line").expect("complete");
    let first = std::str::from_utf8(first).expect("UTF-8");
    let (_, line) = MessageLine::parse(raw)(first).expect("ezk parses the request line");
    let mut headers = Headers::with_capacity(24);
    for line in &mut parser {
        let line = std::str::from_utf8(line.expect("complete")).expect("UTF-8");
        let (name, value) = line.split_once(':').expect("a header line");
        let name = Name::from(bytesstr::BytesStr::from_parse(raw, name.trim()));
        headers.insert(name, bytesstr::BytesStr::from_parse(raw, value.trim()));
    }
    let body = raw.slice(parser.head_end()..);
    let mut n = usize::from(line.is_request());
    for via in headers.get_named::<Vec<Via>>().expect("ezk types Via") {
        n += via.params.get_val("branch").map_or(0, |b| b.len())
            + usize::from(via.sent_by.port.unwrap_or(0))
            + usize::from(matches!(
                via.sent_by.host,
                ezk_sip_types::host::Host::IP4(_)
            ));
    }
    n += headers
        .get::<FromTo>(Name::FROM)
        .ok()
        .and_then(|f| f.tag)
        .map_or(0, |t| t.len());
    n += headers
        .get::<FromTo>(Name::TO)
        .ok()
        .and_then(|t| t.tag)
        .map_or(0, |t| t.len());
    n += headers.get_named::<CSeq>().map_or(0, |c| c.cseq as usize);
    n += headers.get_named::<CallID>().map_or(0, |c| c.0.len());
    n += headers.get_named::<Vec<Contact>>().map_or(0, |c| c.len());
    n += headers
        .get_named::<MaxForwards>()
        .map_or(0, |m| usize::from(m.0));
    n + body.len()
}

type Parser = fn(&Bytes) -> usize;
const PARSERS: [(&str, Parser); 3] = [
    ("switchyard", switchyard),
    ("rsip", rsip),
    ("ezk-sip-types", ezk),
];

/// Plain timing loop: batches of messages, long enough to be steady, short
/// enough for CI. The machine is shared, so besides the mean over all
/// batches the fastest batch is printed: preemption only ever adds time.
const PLAIN_BATCHES: u32 = 40;
const PLAIN_BATCH_MSGS: u32 = 500;

fn bench_parsers(c: &mut Criterion) {
    let raw = Bytes::from_static(INVITE.as_bytes());
    // In the switch the buffer comes from a socket read: its slices count
    // references atomically, which a static buffer does not.
    let shared = Bytes::from(INVITE.as_bytes().to_vec());
    let inputs = [
        ("switchyard", &raw, PARSERS[0].1),
        ("switchyard-shared-buffer", &shared, PARSERS[0].1),
        (PARSERS[1].0, &raw, PARSERS[1].1),
        (PARSERS[2].0, &raw, PARSERS[2].1),
    ];
    let mut group = c.benchmark_group("parse_invite");
    for (name, input, parse) in inputs {
        group.bench_function(name, |b| b.iter(|| parse(black_box(input))));
    }
    group.finish();

    for (name, input, parse) in inputs {
        let mut sum = 0usize;
        let mut total = Duration::ZERO;
        let mut fastest = Duration::MAX;
        for _ in 0..PLAIN_BATCHES {
            let start = Instant::now();
            for _ in 0..PLAIN_BATCH_MSGS {
                sum = sum.wrapping_add(parse(black_box(input)));
            }
            let elapsed = start.elapsed();
            total += elapsed;
            fastest = fastest.min(elapsed);
        }
        black_box(sum);
        let ns = total.as_nanos() as f64 / f64::from(PLAIN_BATCHES * PLAIN_BATCH_MSGS);
        let ns_min = fastest.as_nanos() as f64 / f64::from(PLAIN_BATCH_MSGS);
        println!(
            "parse name={name} ns_per_msg={ns:.0} ns_per_msg_best_batch={ns_min:.0} msgs_per_s={:.0}",
            1e9 / ns
        );
    }
}

/// The scan that deals each datagram to a SIP shard by Call-ID, before any
/// parse: the receive thread runs it on every datagram that comes in, and
/// the core on every one it sends.
fn bench_shard_key(c: &mut Criterion) {
    let raw = Bytes::from(INVITE.as_bytes().to_vec());
    let peer: std::net::SocketAddr = "192.0.2.10:5060".parse().expect("an address");
    let shard = || switchyard::run::shards::key::shard_of(black_box(&raw), peer, 2);
    c.bench_function("shard_of_invite", |b| b.iter(shard));
    let mut fastest = Duration::MAX;
    let mut sum = 0usize;
    for _ in 0..PLAIN_BATCHES {
        let start = Instant::now();
        for _ in 0..PLAIN_BATCH_MSGS {
            sum = sum.wrapping_add(shard());
        }
        fastest = fastest.min(start.elapsed());
    }
    black_box(sum);
    let ns_min = fastest.as_nanos() as f64 / f64::from(PLAIN_BATCH_MSGS);
    println!("shard_of name=invite ns_per_msg_best_batch={ns_min:.1}");
}

criterion_group!(benches, bench_parsers, bench_shard_key);
criterion_main!(benches);
