//! The pure core as it runs under the SIP shards, which hold the UDP
//! transactions: what it decides about a UDP request leaves as a command
//! for the shard's layer (never a datagram of its own), a request it drops
//! unanswered has its transaction forgotten, and TCP stays with the core's
//! own layer.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use switchyard::config::Config;
use switchyard::sip::parse::{Message, Method};
use switchyard::sip::transaction::{server_key, Command, Seen, ServerVerdict};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{Output, Plan, Switch};

// One request from a source at a time: the second is dropped unanswered.
const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"

[security]
trust_loopback = false
requests_burst = 1
requests_per_second = 1

[[agents]]
id = "1001"
password = "pw-1001"

[dids]
"5550100" = { agent = "1001" }
"#;

fn options(branch: &str, call_id: &str) -> Bytes {
    Bytes::from(format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.5:5070;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.5>;tag=p\r\nTo: <sip:127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn peer(transport: Transport, addr: &str) -> Peer {
    Peer {
        transport,
        addr: addr.parse().unwrap(),
    }
}

fn drain(switch: &mut Switch) -> Vec<Output> {
    std::iter::from_fn(|| switch.poll_output()).collect()
}

#[test]
fn under_shards_the_core_answers_udp_with_commands_and_forgets_what_it_drops() {
    let cfg = Config::parse(CONFIG, Path::new("shards.toml")).expect("config");
    let now = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, now);
    switch.hand_udp_transactions_to_shards();
    // What the shard's layer says of a new request, with the key it built.
    let new = |msg: &[u8]| {
        let msg = Message::parse(Bytes::copy_from_slice(msg)).unwrap();
        let key = server_key(&msg, &Method::Options);
        let verdict = Ok(ServerVerdict::New);
        Some(Seen::Request { verdict, key })
    };

    // A UDP OPTIONS its shard let through: the 200 goes back to that layer.
    let udp = peer(Transport::Udp, "127.0.0.5:5070");
    let first = options("z9hG4bKone", "probe-1");
    let seen = new(&first);
    switch.handle_message(now, udp, first.clone(), Message::parse(first), seen);
    match &drain(&mut switch)[..] {
        [Output::Tx(Command::Respond { key, status, bytes })] => {
            assert_eq!((key.branch.as_str(), *status), ("z9hG4bKone", 200));
            assert_eq!(Message::parse(bytes.clone()).unwrap().status(), Some(200));
        }
        other => panic!("one command answering it: {other:?}"),
    }

    // The source's second request is past its rate: dropped unanswered,
    // and its shard told to forget the transaction it made.
    let second = options("z9hG4bKtwo", "probe-2");
    let seen = new(&second);
    switch.handle_message(now, udp, second.clone(), Message::parse(second), seen);
    match &drain(&mut switch)[..] {
        [Output::Tx(Command::Forget { key, call_id })] => {
            assert_eq!(
                (key.branch.as_str(), call_id.as_str()),
                ("z9hG4bKtwo", "probe-2")
            );
        }
        other => panic!("one forget: {other:?}"),
    }

    // Over TCP (another source) the core's own layer answers: a datagram.
    let tcp = peer(Transport::Tcp, "127.0.0.6:5070");
    switch.handle_datagram(now, tcp, options("z9hG4bKtcp", "probe-3"));
    match &drain(&mut switch)[..] {
        [Output::Transmit { peer, bytes }] => {
            assert_eq!(*peer, tcp);
            assert_eq!(Message::parse(bytes.clone()).unwrap().status(), Some(200));
        }
        other => panic!("one datagram: {other:?}"),
    }
    // TCP's ended with its answer (Timer J is 0 over TCP): the live ones
    // are the shards', as the driver counts them.
    assert_eq!(switch.transactions_active(), 0);
    switch.set_shard_transactions(3);
    assert_eq!(switch.transactions_active(), 3);
}
