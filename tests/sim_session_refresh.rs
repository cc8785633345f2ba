//! RFC 4028 when the switch is the refresher, in virtual time: a caller
//! that asks `refresher=uas` gets an UPDATE at half the interval (or a
//! re-INVITE with our answer, ACKed, when it does not allow UPDATE); a 481
//! to a refresh hangs up both legs and the record says `session_expired`.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use switchyard::call::Outcome;
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
const AGENT: &str = "127.0.0.3:5062";
const CARRIER: &str = "127.0.0.2:5060";

struct Net {
    switch: Switch,
    now: Instant,
    outcomes: Vec<Outcome>,
    mail: Vec<(SocketAddr, Message)>,
}

impl Net {
    fn new() -> Net {
        let cfg = Config::parse(CONFIG, Path::new("refresh.toml")).expect("config");
        let t0 = Instant::now() + Duration::from_secs(1);
        Net {
            switch: Switch::new(Plan::from_config(&cfg), 7, t0),
            now: t0,
            outcomes: Vec::new(),
            mail: Vec::new(),
        }
    }

    fn collect(&mut self) {
        while let Some(out) = self.switch.poll_output() {
            match out {
                Output::Transmit { peer, bytes } => {
                    let msg = Message::parse(bytes).expect("the switch sends valid SIP");
                    self.mail.push((peer.addr, msg));
                }
                Output::CallEnded(record) => self.outcomes.push(record.outcome),
                Output::Media(_) | Output::Event(_) => {}
                Output::Tx(c) => {
                    unreachable!("a core without shards holds its transactions: {c:?}")
                }
            }
        }
    }

    /// Delivers one datagram from `from`; returns what the switch sent to it.
    fn send(&mut self, from: &str, text: &str) -> Vec<Message> {
        let addr: SocketAddr = from.parse().unwrap();
        let peer = Peer {
            transport: Transport::Udp,
            addr,
        };
        self.switch
            .handle_datagram(self.now, peer, Bytes::from(text.to_string()));
        self.collect();
        self.mail_for(from)
    }

    /// Runs the switch's timers up to `by` after the current instant.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        for _ in 0..10_000 {
            match self.switch.poll_timeout() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.switch.handle_timeout(self.now);
                    self.collect();
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn mail_for(&mut self, to: &str) -> Vec<Message> {
        let to: SocketAddr = to.parse().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.mail)
            .into_iter()
            .partition(|(addr, _)| *addr == to);
        self.mail = rest;
        mine.into_iter().map(|(_, msg)| msg).collect()
    }
}

fn requests(msgs: &[Message], method: &str) -> Vec<Message> {
    msgs.iter()
        .filter(|m| m.method().is_some_and(|x| x.as_str() == method))
        .cloned()
        .collect()
}

/// A response from a phone to `req`.
fn answer(req: &Message, status: u16, sdp: bool) -> String {
    let body = if sdp { SDP } else { "" };
    let kind = if sdp {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "SIP/2.0 {status} X\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n{kind}Content-Length: {}\r\n\r\n{body}",
        req.vias()[0].as_str(),
        req.from().as_str(),
        req.to().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        body.len()
    )
}

/// Agent 1001 registered, and a carrier call asking for `session` (and
/// allowing `allow`) answered by it and ACKed. Returns the 200 to the carrier.
fn answered_call(net: &mut Net, session: &str, allow: &str) -> Message {
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {AGENT};branch=z9hG4bKreg{cseq};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=r\r\nTo: <sip:1001@127.0.0.1>\r\n\
             Call-ID: reg\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:1001@{AGENT}>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    let challenge = net.send(AGENT, &register(1, ""));
    let value = challenge[0]
        .header(&HeaderName::WwwAuthenticate)
        .unwrap()
        .to_string();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let auth = switchyard::sip::auth::answer_challenge(
        &value,
        "REGISTER",
        "sip:127.0.0.1",
        "1001",
        "pw-1001",
        1,
        &mut rng,
    )
    .unwrap();
    net.send(AGENT, &register(2, &format!("Authorization: {auth}\r\n")));
    let invite = format!(
        "INVITE sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKinv;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550001@{CARRIER}>;tag=c\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: call\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@{CARRIER}>\r\nSession-Expires: {session}\r\nAllow: {allow}\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    );
    net.send(CARRIER, &invite);
    let offer = requests(&net.mail_for(AGENT), "INVITE").remove(0);
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=a\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:1001@{AGENT}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        offer.vias()[0].as_str(),
        offer.from().as_str(),
        offer.to().as_str(),
        offer.call_id(),
        SDP.len()
    );
    net.send(AGENT, &ok);
    let ok = net
        .mail_for(CARRIER)
        .into_iter()
        .find(|m| m.status() == Some(200))
        .expect("the caller is answered");
    let ack = format!(
        "ACK sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKack;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550001@{CARRIER}>;tag=c\r\nTo: {}\r\nCall-ID: call\r\n\
         CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        ok.to().as_str()
    );
    net.send(CARRIER, &ack);
    net.mail_for(AGENT);
    ok
}

#[test]
fn we_refresh_by_update_at_half_the_interval_and_a_481_hangs_up_both_legs() {
    let mut net = Net::new();
    let ok = answered_call(&mut net, "600;refresher=uas", "INVITE, ACK, BYE, UPDATE");
    let se = HeaderName::parse(b"Session-Expires");
    assert_eq!(ok.header(&se), Some("600;refresher=uas"));

    // Nothing before half the interval.
    net.advance(Duration::from_secs(299));
    assert!(net.mail_for(CARRIER).is_empty());
    net.advance(Duration::from_secs(1));
    let update = requests(&net.mail_for(CARRIER), "UPDATE");
    assert_eq!(update.len(), 1, "one refresh at 300 s");
    assert_eq!(update[0].header(&se), Some("600;refresher=uas"));
    assert!(update[0].body().is_empty());
    net.send(CARRIER, &answer(&update[0], 200, false));
    assert_eq!(net.switch.calls_active(), 1);

    // The next refresh finds the caller gone.
    net.advance(Duration::from_secs(300));
    let update = requests(&net.mail_for(CARRIER), "UPDATE");
    assert_eq!(update.len(), 1, "a second refresh at 600 s");
    let bye_a = requests(&net.send(CARRIER, &answer(&update[0], 481, false)), "BYE");
    let bye_b = requests(&net.mail_for(AGENT), "BYE");
    assert_eq!((bye_a.len(), bye_b.len()), (1, 1), "BYE on both legs");
    net.send(CARRIER, &answer(&bye_a[0], 481, false));
    net.send(AGENT, &answer(&bye_b[0], 200, false));
    assert_eq!(net.switch.calls_active(), 0);
    assert_eq!(net.outcomes, vec![Outcome::SessionExpired]);
}

#[test]
fn a_caller_without_update_is_refreshed_by_re_invite_with_our_answer_and_acked() {
    let mut net = Net::new();
    answered_call(&mut net, "120", "INVITE, ACK, BYE");
    net.advance(Duration::from_secs(60));
    let reinvite = requests(&net.mail_for(CARRIER), "INVITE");
    assert_eq!(reinvite.len(), 1, "a re-INVITE at 60 s");
    assert_eq!(reinvite[0].content_type(), Some("application/sdp"));
    assert!(reinvite[0].to().tag().is_some(), "in the dialog");
    let acks = requests(&net.send(CARRIER, &answer(&reinvite[0], 200, true)), "ACK");
    assert_eq!(acks.len(), 1, "the 2xx is ACKed");
    assert_eq!(acks[0].cseq().seq, reinvite[0].cseq().seq);
    assert_eq!(net.switch.calls_active(), 1);
    // A refresh refused otherwise (491) is ACKed by its transaction, with
    // the response's To, and leaves the call up.
    net.advance(Duration::from_secs(60));
    let reinvite = requests(&net.mail_for(CARRIER), "INVITE");
    assert_eq!(reinvite.len(), 1, "a re-INVITE at 120 s");
    let acks = requests(&net.send(CARRIER, &answer(&reinvite[0], 491, false)), "ACK");
    assert_eq!(acks.len(), 1, "the 491 is ACKed");
    assert_eq!(acks[0].header_all(&HeaderName::To).count(), 1);
    assert_eq!(acks[0].vias()[0].branch(), reinvite[0].vias()[0].branch());
    assert_eq!(net.switch.calls_active(), 1);
    assert!(net.outcomes.is_empty());
}
