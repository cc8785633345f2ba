//! The pure switch core under a full transaction table, in virtual time:
//! new requests get 503 + Retry-After, but a BYE still ends its call, so an
//! overload never leaves calls (and their agents) hanging.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use switchyard::config::Config;
use switchyard::sip::parse::{HeaderName, Message};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{Output, Plan, Switch};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-first"

[[agents]]
id = "1001"
password = "pw-1001"

[[trunks]]
name = "carrier"
allow_from = ["127.0.0.2"]

[dids]
"5550100" = { agent = "1001" }
"#;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

struct Net {
    switch: Switch,
    now: Instant,
    /// Call records the switch emitted.
    ended: usize,
    mail: Vec<(SocketAddr, Message)>,
}

impl Net {
    /// Delivers one datagram and returns what the switch sends back to its
    /// sender; what it sends elsewhere waits in `mail`.
    fn send(&mut self, from: SocketAddr, text: &str) -> Vec<Message> {
        let peer = Peer {
            transport: Transport::Udp,
            addr: from,
        };
        self.switch
            .handle_datagram(self.now, peer, Bytes::from(text.to_string()));
        while let Some(out) = self.switch.poll_output() {
            match out {
                Output::Transmit { peer, bytes } => {
                    let msg = Message::parse(bytes).expect("the switch sends valid SIP");
                    self.mail.push((peer.addr, msg));
                }
                Output::CallEnded(_) => self.ended += 1,
                Output::Media(_) | Output::Event(_) => {}
                Output::Tx(c) => {
                    unreachable!("a core without shards holds its transactions: {c:?}")
                }
            }
        }
        self.mail_for(from)
    }

    /// Everything sent to `to` so far.
    fn mail_for(&mut self, to: SocketAddr) -> Vec<Message> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.mail)
            .into_iter()
            .partition(|(addr, _)| *addr == to);
        self.mail = rest;
        mine.into_iter().map(|(_, msg)| msg).collect()
    }
}

fn finals(msgs: &[Message]) -> Vec<u16> {
    msgs.iter()
        .filter_map(Message::status)
        .filter(|s| *s >= 200)
        .collect()
}

#[test]
fn bye_ends_its_call_when_the_transaction_table_is_full() {
    let cfg = Config::parse(CONFIG, Path::new("overload.toml")).expect("config");
    let mut plan = Plan::from_config(&cfg);
    plan.transactions_max = 6;
    let t0 = Instant::now() + Duration::from_secs(1);
    let mut net = Net {
        switch: Switch::new(plan, 42, t0),
        now: t0,
        ended: 0,
        mail: Vec::new(),
    };
    let agent: SocketAddr = "127.0.0.3:5062".parse().unwrap();
    let carrier: SocketAddr = "127.0.0.2:5060".parse().unwrap();

    // The agent registers (digest dance): two transactions.
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {agent};branch=z9hG4bKreg{cseq};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=r\r\nTo: <sip:1001@127.0.0.1>\r\n\
             Call-ID: reg\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:1001@{agent}>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    let challenge = net.send(agent, &register(1, ""));
    let value = challenge[0]
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let answer = switchyard::sip::auth::answer_challenge(
        &value,
        "REGISTER",
        "sip:127.0.0.1",
        "1001",
        "pw-1001",
        1,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        finals(&net.send(agent, &register(2, &format!("Authorization: {answer}\r\n")))),
        vec![200]
    );

    // A carrier call, answered: server INVITE + client INVITE.
    let invite = format!(
        "INVITE sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {carrier};branch=z9hG4bKinv;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550001@{carrier}>;tag=c\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: call\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@{carrier}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    );
    net.send(carrier, &invite);
    let offer = net
        .mail_for(agent)
        .into_iter()
        .find(|m| m.is_request())
        .expect("INVITE to the agent");
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=a\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:1001@{agent}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        offer.vias()[0].as_str(),
        offer.from().as_str(),
        offer.to().as_str(),
        offer.call_id(),
        SDP.len()
    );
    net.send(agent, &ok);
    let answered = net.mail_for(carrier);
    assert_eq!(finals(&answered), vec![200]);
    let to_tag = answered.last().unwrap().to().tag().unwrap().to_string();
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {carrier};branch=z9hG4bK{branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@{carrier}>;tag=c\r\nTo: <sip:5550100@127.0.0.1>;tag={to_tag}\r\n\
             Call-ID: call\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    assert!(net.send(carrier, &in_dialog("ACK", 1, "ack")).is_empty());
    assert_eq!(net.switch.calls_active(), 1);

    // Fill the table with OPTIONS (each kept for Timer J) until one is refused.
    let mut refused = None;
    for i in 0..10 {
        let options = format!(
            "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {carrier};branch=z9hG4bKopt{i};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@{carrier}>;tag=o\r\nTo: <sip:127.0.0.1>\r\nCall-ID: opt{i}\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        let got = net.send(carrier, &options);
        if finals(&got) == vec![503] {
            refused = got.into_iter().next();
            break;
        }
    }
    let refused = refused.expect("a full table refuses new requests");
    assert_eq!(refused.header(&HeaderName::RetryAfter), Some("5"));

    // The caller hangs up: honoured without a transaction.
    assert_eq!(
        finals(&net.send(carrier, &in_dialog("BYE", 2, "bye"))),
        vec![200]
    );
    assert_eq!(net.switch.calls_active(), 0, "the call ended");
    assert_eq!(net.ended, 1, "and left its record");
}
