//! Blending through the whole switch core, in virtual time: twelve agents
//! registered from their phones answer the sales queue's inbound calls
//! (80 % in 20 s) and work a predictive campaign at once. Customers on the
//! trunk answer, are busy, fail or ring out as in `src/dialer/sim.rs`;
//! inbound callers arrive on the DID as a Poisson stream; every phone
//! answers at once and the customers hang up after their talk. The driver
//! (`switch/campaigns.rs`) decides, from the queue's meters, which agents
//! the campaign gets. With `blend = true` inbound callers are answered
//! within the queue's service level while the campaign still talks to its
//! customers under the 3 % abandon cap; with `blend = false` the queue
//! does worse. Prints both (`cargo test --test sim_blend_switch -- --nocapture`).

#![allow(clippy::disallowed_methods)]

mod switch_rig;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switch_rig::{response, tag_of};
use switchyard::config::Config;
use switchyard::dialer::{Contact, Dnc, Numbering, Zone};
use switchyard::sip::parse::{HeaderName, Message, Method};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{CallRecord, Output, Plan, Switch};

const AGENTS: usize = 12;
const TRUNK: &str = "10.0.0.2:5060";
const CALLER: &str = "10.0.0.1:5060";
const AGENT_SDP: &str = "v=0\r\no=phone 7 7 IN IP4 192.0.2.11\r\ns=-\r\nc=IN IP4 192.0.2.11\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const TRUNK_SDP: &str = "v=0\r\no=carrier 9 9 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
/// 2026-12-07 10:00 UTC: inside the default 09:00-21:00 window.
const TEN: u64 = 1_796_637_600;
const DAY: Duration = Duration::from_secs(4 * 3_600);
const INBOUND_PER_HOUR: f64 = 45.0;
const INBOUND_TALK: f64 = 180.0;
const OUTBOUND_TALK: f64 = 300.0;
const SL_WITHIN: Duration = Duration::from_secs(20);
const SL_TARGET: f64 = 0.8;
const STEPS_MAX: u64 = 5_000_000;

fn agent_addr(k: usize) -> String {
    format!("192.0.2.{}:5070", 11 + k)
}

fn config(blend: bool) -> String {
    let mut text = String::from(
        r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-first"
no_answer_timeout = "20s"
probe_interval = "0s"
registration = { min_expires = "60s", max_expires = "24h", default_expires = "24h" }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.0/8"]
outbound = { address = "10.0.0.2:5060", transport = "udp" }

[dids]
"5550200" = { queue = "sales" }

[[queues]]
name = "sales"
requires = "sales:1"
strategy = "longest-idle"
ring_timeout = "8s"
wrap_up = "5s"
service_level = { within = "20s", target = 0.8 }

[media]
rtp_ports = "20000-23999"
rtp_address = "127.0.0.1"
announce_every = "0s"

[metrics]
interval = "15m"
"#,
    );
    for k in 0..AGENTS {
        text.push_str(&format!(
            "\n[[agents]]\nid = \"{id}\"\npassword = \"pw-{id}\"\nauto_login = true\nskills = {{ sales = 5 }}\n",
            id = 1001 + k
        ));
    }
    text.push_str(&format!(
        "\n[[campaigns]]\nname = \"renewals\"\nqueue = \"sales\"\ncontacts = \"renewals.csv\"\n\
         mode = \"predictive\"\ntrunk = \"carrier\"\nmax_attempts = 3\nautostart = true\nblend = {blend}\n"
    ));
    text
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Todo {
    /// The customer of a campaign call answers, or ends it with a status.
    Answer(String),
    Reject(String, u16),
    /// The customer of an answered campaign call hangs up.
    CustomerBye(String),
    Arrive,
    CallerBye(String),
}

struct Dial {
    invite: Message,
    done: bool,
}

struct Caller {
    arrived: Instant,
    ok: Option<Message>,
    done: bool,
}

#[derive(Debug, Default)]
struct Figures {
    offered: u64,
    answered_within: u64,
    answered: u64,
    wait_max: Duration,
}

struct Day {
    switch: Switch,
    now: Instant,
    rng: StdRng,
    pending: BinaryHeap<Reverse<(Instant, u64, Todo)>>,
    seq: u64,
    dials: HashMap<String, Dial>,
    callers: HashMap<String, Caller>,
    next_caller: u64,
    records: Vec<CallRecord>,
    inbound: Figures,
    branches: u64,
}

fn peer(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

impl Day {
    fn new(blend: bool, seed: u64) -> Day {
        let cfg = Config::parse(&config(blend), Path::new("blend.toml")).expect("valid config");
        let now = Instant::now();
        let mut switch = Switch::new(Plan::from_config(&cfg), seed, now);
        switch.set_wall_clock(now, UNIX_EPOCH + Duration::from_secs(TEN));
        switch.set_dnc(Dnc::default(), Numbering::default());
        let mut day = Day {
            switch,
            now,
            rng: StdRng::seed_from_u64(seed),
            pending: BinaryHeap::new(),
            seq: 0,
            dials: HashMap::new(),
            callers: HashMap::new(),
            next_caller: 0,
            records: Vec::new(),
            inbound: Figures::default(),
            branches: 0,
        };
        for k in 0..AGENTS {
            day.register(&(1001 + k).to_string(), &agent_addr(k));
        }
        let zone = Zone::parse("UTC").unwrap();
        let contacts = (0..20_000)
            .map(|i| Contact::new(format!("+1555{i:07}"), "Customer".into(), zone))
            .collect();
        let mut campaign = cfg.campaigns[0].clone();
        campaign.autostart = true;
        day.switch.add_campaign(day.now, campaign, contacts, None);
        day.pump();
        let first = day.exponential(3_600.0 / INBOUND_PER_HOUR);
        day.at(first, Todo::Arrive);
        day
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        let u: f64 = self.rng.random();
        -mean * (1.0 - u).ln()
    }

    fn at(&mut self, after: f64, what: Todo) {
        self.seq += 1;
        let when = self.now + Duration::from_secs_f64(after);
        self.pending.push(Reverse((when, self.seq, what)));
    }

    fn branch(&mut self) -> u64 {
        self.branches += 1;
        self.branches
    }

    /// Carries out everything the switch asked for, and what that sets off.
    fn pump(&mut self) {
        let mut out = VecDeque::new();
        loop {
            while let Some(o) = self.switch.poll_output() {
                match o {
                    Output::Transmit { peer, bytes } => {
                        out.push_back((peer.addr, Message::parse(bytes).expect("valid SIP")))
                    }
                    Output::CallEnded(r) => self.records.push(r),
                    Output::Media(_) | Output::Event(_) => {}
                    Output::Tx(c) => {
                        unreachable!("a core without shards holds its transactions: {c:?}")
                    }
                }
            }
            while self.switch.poll_campaign_output().is_some() {}
            let Some((to, msg)) = out.pop_front() else {
                return;
            };
            self.answer_switch(to, msg);
        }
    }

    fn answer_switch(&mut self, to: SocketAddr, msg: Message) {
        let to_s = to.to_string();
        if to_s == TRUNK {
            return self.customer(msg);
        }
        if to_s == CALLER {
            return self.caller(msg);
        }
        // A phone: answers every call at once, says 200 to the rest.
        match msg.method() {
            None | Some(Method::Ack) => {}
            Some(Method::Invite) => self.reply(&to_s, &msg, 200, AGENT_SDP),
            Some(_) => self.reply(&to_s, &msg, 200, ""),
        }
    }

    fn reply(&mut self, from: &str, req: &Message, status: u16, sdp: &str) {
        let text = response(req, status, from, sdp);
        self.switch
            .handle_datagram(self.now, peer(from), Bytes::from(text));
    }

    /// A campaign customer on the trunk, as `src/dialer/sim.rs` draws them.
    fn customer(&mut self, msg: Message) {
        let call_id = msg.call_id().to_string();
        match msg.method() {
            None | Some(Method::Ack) => {}
            Some(Method::Invite) if msg.to().tag().is_none() => {
                if self.dials.contains_key(&call_id) {
                    return; // a retransmission
                }
                self.reply(TRUNK, &msg, 180, "");
                let draw: f64 = self.rng.random();
                if draw < 0.30 {
                    let t = (4.0 + self.exponential(8.0)).min(19.0);
                    self.at(t, Todo::Answer(call_id.clone()));
                } else if draw < 0.40 {
                    self.at(4.0, Todo::Reject(call_id.clone(), 486));
                } else if draw < 0.45 {
                    self.at(2.0, Todo::Reject(call_id.clone(), 404));
                }
                self.dials.insert(
                    call_id,
                    Dial {
                        invite: msg,
                        done: false,
                    },
                );
            }
            Some(Method::Invite) => self.reply(TRUNK, &msg, 200, TRUNK_SDP),
            Some(Method::Cancel) => {
                self.reply(TRUNK, &msg, 200, "");
                if let Some(d) = self.dials.get_mut(&call_id).filter(|d| !d.done) {
                    d.done = true;
                    let invite = d.invite.clone();
                    self.reply(TRUNK, &invite, 487, "");
                }
            }
            Some(Method::Bye) => {
                self.reply(TRUNK, &msg, 200, "");
                if let Some(d) = self.dials.get_mut(&call_id) {
                    d.done = true;
                }
            }
            Some(_) => self.reply(TRUNK, &msg, 200, ""),
        }
    }

    /// An inbound caller's side of what the switch sends.
    fn caller(&mut self, msg: Message) {
        let call_id = msg.call_id().to_string();
        let Some(status) = msg.status() else {
            if msg.method() != Some(&Method::Ack) {
                self.reply(CALLER, &msg, 200, "");
            }
            if msg.method() == Some(&Method::Bye) {
                if let Some(c) = self.callers.get_mut(&call_id) {
                    c.done = true;
                }
            }
            return;
        };
        if msg.cseq().method != Method::Invite || status < 200 {
            return;
        }
        let Some(c) = self.callers.get_mut(&call_id) else {
            return;
        };
        let first = c.ok.is_none() && !c.done;
        let waited = self.now - c.arrived;
        let branch = if status < 300 {
            if first {
                c.ok = Some(msg.clone());
            }
            format!("ack{}", self.branch())
        } else {
            c.done = true;
            format!("{call_id}i")
        };
        let ack = format!(
            "ACK sip:5550200@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            msg.from().as_str(),
            msg.to().as_str()
        );
        self.switch
            .handle_datagram(self.now, peer(CALLER), Bytes::from(ack));
        if status < 300 && first {
            self.inbound.answered += 1;
            self.inbound.answered_within += u64::from(waited <= SL_WITHIN);
            self.inbound.wait_max = self.inbound.wait_max.max(waited);
            let talk = 30.0 + self.exponential(INBOUND_TALK - 30.0);
            self.at(talk, Todo::CallerBye(call_id));
        }
    }

    fn happen(&mut self, what: Todo) {
        match what {
            Todo::Answer(call_id) => {
                let Some(d) = self.dials.get(&call_id).filter(|d| !d.done) else {
                    return;
                };
                let invite = d.invite.clone();
                self.reply(TRUNK, &invite, 200, TRUNK_SDP);
                let talk = 30.0 + self.exponential(OUTBOUND_TALK - 30.0);
                self.at(talk, Todo::CustomerBye(call_id));
            }
            Todo::Reject(call_id, status) => {
                let Some(d) = self.dials.get_mut(&call_id).filter(|d| !d.done) else {
                    return;
                };
                d.done = true;
                let invite = d.invite.clone();
                self.reply(TRUNK, &invite, status, "");
            }
            Todo::CustomerBye(call_id) => {
                let Some(d) = self.dials.get_mut(&call_id).filter(|d| !d.done) else {
                    return;
                };
                d.done = true;
                let invite = d.invite.clone();
                let branch = self.branch();
                let text = format!(
                    "BYE sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKbye{branch}\r\n\
                     Max-Forwards: 70\r\nFrom: {};tag=t{}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: 9 BYE\r\n\
                     Content-Length: 0\r\n\r\n",
                    invite.to().as_str(),
                    tag_of(TRUNK),
                    invite.from().as_str(),
                );
                self.switch
                    .handle_datagram(self.now, peer(TRUNK), Bytes::from(text));
            }
            Todo::Arrive => {
                let next = self.exponential(3_600.0 / INBOUND_PER_HOUR);
                self.at(next, Todo::Arrive);
                self.next_caller += 1;
                let call_id = format!("in-{}", self.next_caller);
                self.inbound.offered += 1;
                self.callers.insert(
                    call_id.clone(),
                    Caller {
                        arrived: self.now,
                        ok: None,
                        done: false,
                    },
                );
                let sdp = AGENT_SDP.replace("192.0.2.11", "10.0.0.1");
                let text = format!(
                    "INVITE sip:5550200@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK{call_id}i\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c{call_id}\r\nTo: <sip:5550200@127.0.0.1>\r\n\
                     Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{CALLER}>\r\n\
                     Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                    sdp.len()
                );
                self.switch
                    .handle_datagram(self.now, peer(CALLER), Bytes::from(text));
            }
            Todo::CallerBye(call_id) => {
                let Some(c) = self.callers.get_mut(&call_id).filter(|c| !c.done) else {
                    return;
                };
                c.done = true;
                let ok = c.ok.clone().expect("answered");
                let branch = self.branch();
                let text = format!(
                    "BYE sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKbye{branch}\r\n\
                     Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\n\
                     Content-Length: 0\r\n\r\n",
                    ok.from().as_str(),
                    ok.to().as_str()
                );
                self.switch
                    .handle_datagram(self.now, peer(CALLER), Bytes::from(text));
            }
        }
        self.pump();
    }

    fn register(&mut self, user: &str, phone: &str) {
        let aor = format!("<sip:{user}@127.0.0.1:5060>");
        let reg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {phone};branch=z9hG4bKreg{user}{cseq}\r\n\
                 Max-Forwards: 70\r\nFrom: {aor};tag=r{user}\r\nTo: {aor}\r\nCall-ID: reg-{user}\r\n\
                 CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{phone}>\r\nExpires: 86400\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        let status = |switch: &mut Switch| {
            let mut got = Vec::new();
            while let Some(o) = switch.poll_output() {
                if let Output::Transmit { bytes, .. } = o {
                    got.push(Message::parse(bytes).unwrap());
                }
            }
            got.into_iter()
                .find(|m| m.status().is_some())
                .expect("a response")
        };
        self.switch
            .handle_datagram(self.now, peer(phone), Bytes::from(reg(1, "")));
        let challenge = status(&mut self.switch);
        assert_eq!(challenge.status(), Some(401));
        let mut rng = StdRng::seed_from_u64(1);
        let value = switchyard::sip::auth::answer_challenge(
            challenge.header(&HeaderName::WwwAuthenticate).unwrap(),
            "REGISTER",
            "sip:127.0.0.1:5060",
            user,
            &format!("pw-{user}"),
            1,
            &mut rng,
        )
        .unwrap();
        let auth = format!("Authorization: {value}\r\n");
        self.switch
            .handle_datagram(self.now, peer(phone), Bytes::from(reg(2, &auth)));
        assert_eq!(status(&mut self.switch).status(), Some(200));
    }

    /// Runs the day to its end.
    fn run(&mut self) {
        let end = self.now + DAY;
        for _ in 0..STEPS_MAX {
            let timer = self.switch.poll_timeout();
            let todo = self.pending.peek().map(|Reverse((t, _, _))| *t);
            let Some(next) = timer.into_iter().chain(todo).min() else {
                return;
            };
            if next >= end {
                return;
            }
            self.now = self.now.max(next);
            if timer == Some(next) {
                self.switch.handle_timeout(self.now);
                self.pump();
            } else {
                let Reverse((_, _, what)) = self.pending.pop().expect("peeked");
                self.happen(what);
            }
        }
        panic!("the day did not end in {STEPS_MAX} steps");
    }

    fn line(&self, blend: bool) -> (String, f64, f64, f64, u64) {
        let snap = self.switch.campaign_snapshots().remove(0);
        let sl = self.inbound.answered_within as f64 / self.inbound.offered.max(1) as f64;
        let talk: Duration = self
            .records
            .iter()
            .filter(|r| r.detail.campaign.is_some() && r.agent.is_some())
            .map(|r| r.talk)
            .sum();
        let agent_hours = AGENTS as f64 * DAY.as_secs_f64() / 3_600.0;
        let talk_min = talk.as_secs_f64() / 60.0 / agent_hours;
        let abandon = snap.abandons as f64 / snap.answers.max(1) as f64;
        let line = format!(
            "switch blend {:<3} inbound SL {:5.1} % ({} calls, {} answered, longest wait {} s)  outbound talk {:4.1} min/agent-hour  abandon {:4.2} %  dials {} connects {}",
            if blend { "on" } else { "off" },
            sl * 100.0,
            self.inbound.offered,
            self.inbound.answered,
            self.inbound.wait_max.as_secs(),
            talk_min,
            abandon * 100.0,
            snap.dials,
            snap.connects
        );
        (line, sl, talk_min, abandon, snap.connects)
    }
}

#[test]
fn inbound_calls_during_a_predictive_campaign_are_answered_within_the_service_level() {
    let seed = 7;
    let mut on = Day::new(true, seed);
    on.run();
    let (line_on, sl_on, talk_on, abandon_on, connects_on) = on.line(true);
    let mut off = Day::new(false, seed);
    off.run();
    let (line_off, sl_off, _, _, _) = off.line(false);
    println!("{line_on}\n{line_off}");
    assert!(on.inbound.offered >= 60, "{line_on}");
    assert!(
        sl_on >= SL_TARGET,
        "inbound SL under the target with blending: {line_on}"
    );
    assert!(
        talk_on >= 10.0 && connects_on >= 100,
        "the campaign talks: {line_on}"
    );
    assert!(abandon_on <= 0.03, "abandons over the cap: {line_on}");
    assert!(
        sl_off + 0.05 <= sl_on,
        "without blending the queue should do visibly worse:\n{line_on}\n{line_off}"
    );
}
