//! The whole pure switch core in virtual time: 20 agent phones and a
//! carrier written here, 3 queues, a few thousand calls with random
//! arrivals, answers, misses, busies and callers who give up. Asserts what
//! a call centre cares about: every caller is answered, abandons or is
//! refused; no agent phone is offered two calls at once; every call ends
//! with exactly one record; and the switch ends with no call up.

#![allow(clippy::disallowed_methods)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard::config::Config;
use switchyard::sip::parse::{Contacts, HeaderName, Message, Method};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{Output, Plan, Switch};

const AGENTS: usize = 20;
const CALLS: usize = 2_000;
const STEPS_MAX: usize = 2_000_000;
const LATENCY: Duration = Duration::from_millis(5);
const QUEUES: [(&str, &str); 3] = [
    ("support", "5550200"),
    ("sales", "5550300"),
    ("billing", "5550400"),
];

fn config() -> String {
    let mut text = String::from(
        "[switch]\nsip_listen = \"127.0.0.1:5060\"\nhttp_listen = \"127.0.0.1:0\"\n\
         digest_challenge = \"md5-first\"\nmax_calls = 10000\n\n\
         [[trunks]]\nname = \"carrier\"\nallow_from = [\"10.0.0.0/8\"]\n\n[dids]\n",
    );
    for (q, did) in QUEUES {
        text.push_str(&format!("\"{did}\" = {{ queue = \"{q}\" }}\n"));
    }
    for (q, _) in QUEUES {
        text.push_str(&format!(
            "\n[[queues]]\nname = \"{q}\"\nrequires = \"{q}:1\"\nring_timeout = \"8s\"\n\
             wrap_up = \"3s\"\nmax_length = 40\nmax_wait = \"3m\"\n"
        ));
    }
    for i in 0..AGENTS {
        // Each agent has two of the three skills.
        let (a, b) = (QUEUES[i % 3].0, QUEUES[(i + 1) % 3].0);
        text.push_str(&format!(
            "\n[[agents]]\nid = \"{}\"\npassword = \"pw{i}\"\nauto_login = true\nmax_no_answer = 0\n\
             skills = {{ {a} = 5, {b} = 3 }}\n",
            2001 + i
        ));
    }
    text
}

/// What an agent phone does with the next offer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mood {
    Answer,
    Busy,
    Ignore,
}

#[derive(Debug)]
enum Ev {
    Arrive(usize),
    GiveUp(usize),
    AgentAnswer(usize, String),
    AgentHangUp(usize, String),
}

struct Offer {
    invite: Message,
    tag: String,
    answered: bool,
}

struct Agent {
    addr: SocketAddr,
    user: String,
    /// Offers by Call-ID: ringing or up.
    offers: HashMap<String, Offer>,
}

#[derive(Default)]
struct Caller {
    call_id: String,
    invite: String,
    answered: bool,
    finished: bool,
    final_status: Option<u16>,
    to_tag: Option<String>,
}

struct Sim {
    rng: StdRng,
    now: Instant,
    seq: u64,
    net: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    packets: HashMap<usize, (SocketAddr, Option<SocketAddr>, Bytes)>,
    events: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    evs: HashMap<usize, Ev>,
    agents: Vec<Agent>,
    callers: Vec<Caller>,
    switch_addr: SocketAddr,
    carrier: SocketAddr,
    violations: Vec<String>,
}

impl Sim {
    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.evs.insert(self.seq as usize, ev);
        self.events.push(Reverse((at, self.seq, self.seq as usize)));
    }

    /// A datagram from `from` to the switch (`to` None) or to a phone.
    fn send(&mut self, from: SocketAddr, to: Option<SocketAddr>, bytes: String) {
        self.seq += 1;
        let id = self.seq as usize;
        self.packets.insert(id, (from, to, Bytes::from(bytes)));
        self.net.push(Reverse((self.now + LATENCY, self.seq, id)));
    }

    fn agent_at(&self, addr: SocketAddr) -> Option<usize> {
        self.agents.iter().position(|a| a.addr == addr)
    }
}

fn response(req: &Message, status: u16, reason: &str, tag: Option<&str>, body: &str) -> String {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for via in req.header_all(&HeaderName::Via) {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    out.push_str(&format!("From: {}\r\n", req.from().as_str()));
    match (req.to().tag(), tag) {
        (None, Some(t)) => out.push_str(&format!("To: {};tag={t}\r\n", req.to().as_str())),
        _ => out.push_str(&format!("To: {}\r\n", req.to().as_str())),
    }
    out.push_str(&format!(
        "Call-ID: {}\r\nCSeq: {} {}\r\n",
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str()
    ));
    if let Some(addr) = req.request_uri().map(|u| u.as_str().to_string()) {
        out.push_str(&format!("Contact: <{addr}>\r\n"));
    }
    if body.is_empty() {
        out.push_str("Content-Length: 0\r\n\r\n");
    } else {
        out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    out
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/// A request as the simulated phones write it.
#[allow(clippy::too_many_arguments)]
fn request(
    method: &str,
    uri: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    via: &str,
    extra: &str,
    body: &str,
) -> String {
    let mut out = format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{extra}"
    );
    if body.is_empty() {
        out.push_str("Content-Length: 0\r\n\r\n");
    } else {
        out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    out
}

fn run(seed: u64) -> Result<(), String> {
    let cfg = Config::parse(&config(), Path::new("sim.toml")).map_err(|e| e.to_string())?;
    let plan = Plan::from_config(&cfg);
    let t0 = Instant::now();
    let mut switch = Switch::new(plan, seed, t0);
    let switch_addr: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let mut sim = Sim {
        rng: StdRng::seed_from_u64(seed),
        now: t0,
        seq: 0,
        net: BinaryHeap::new(),
        packets: HashMap::new(),
        events: BinaryHeap::new(),
        evs: HashMap::new(),
        agents: (0..AGENTS)
            .map(|i| Agent {
                addr: format!("10.1.0.{}:5060", i + 1).parse().unwrap(),
                user: (2001 + i).to_string(),
                offers: HashMap::new(),
            })
            .collect(),
        callers: (0..CALLS).map(|_| Caller::default()).collect(),
        switch_addr,
        carrier: "10.0.0.1:5060".parse().unwrap(),
        violations: Vec::new(),
    };
    // Agents register (with the digest dance), then calls arrive.
    for i in 0..AGENTS {
        let a = &sim.agents[i];
        let reg = request(
            "REGISTER",
            &format!("sip:{switch_addr}"),
            &format!("<sip:{}@{switch_addr}>;tag=r{i}", a.user),
            &format!("<sip:{}@{switch_addr}>", a.user),
            &format!("reg{i}"),
            1,
            &format!("{};branch=z9hG4bKreg{i}a", a.addr),
            &format!("Contact: <sip:{}@{}>\r\nExpires: 3600\r\n", a.user, a.addr),
            "",
        );
        let from = a.addr;
        sim.send(from, None, reg);
    }
    let mut at = t0 + Duration::from_secs(2);
    for c in 0..CALLS {
        at += Duration::from_millis(sim.rng.random_range(100..3_000));
        sim.schedule(at, Ev::Arrive(c));
    }
    let mut records: HashMap<String, usize> = HashMap::new();
    let mut ended = 0usize;
    for _ in 0..STEPS_MAX {
        let next = [
            switch.poll_timeout(),
            sim.net.peek().map(|Reverse((t, _, _))| *t),
            sim.events.peek().map(|Reverse((t, _, _))| *t),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        sim.now = sim.now.max(next);
        let now = sim.now;
        if switch.poll_timeout().is_some_and(|t| t <= now) {
            switch.handle_timeout(now);
        }
        while let Some(Reverse((t, _, id))) = sim.net.peek().copied() {
            if t > now {
                break;
            }
            sim.net.pop();
            let (from, to, bytes) = sim.packets.remove(&id).expect("packet");
            match to {
                None => switch.handle_datagram(
                    now,
                    Peer {
                        transport: Transport::Udp,
                        addr: from,
                    },
                    bytes,
                ),
                Some(to) => deliver(&mut sim, to, bytes),
            }
        }
        while let Some(Reverse((t, _, id))) = sim.events.peek().copied() {
            if t > now {
                break;
            }
            sim.events.pop();
            let ev = sim.evs.remove(&id).expect("event");
            on_event(&mut sim, ev);
        }
        while let Some(out) = switch.poll_output() {
            match out {
                Output::Transmit { peer, bytes } => {
                    sim.seq += 1;
                    let id = sim.seq as usize;
                    sim.packets
                        .insert(id, (switch_addr, Some(peer.addr), bytes));
                    sim.net.push(Reverse((now + LATENCY, sim.seq, id)));
                }
                Output::CallEnded(record) => {
                    *records.entry(record.sip_call_id.clone()).or_default() += 1;
                    ended += 1;
                }
                Output::Media(_) | Output::Event(_) => {}
                Output::Tx(c) => {
                    unreachable!("a core without shards holds its transactions: {c:?}")
                }
            }
        }
        let done = sim.callers.iter().all(|c| c.finished) && switch.calls_active() == 0;
        if done && sim.events.is_empty() && sim.net.is_empty() {
            break;
        }
    }
    if !sim.violations.is_empty() {
        return Err(format!(
            "{} violations, first: {}",
            sim.violations.len(),
            sim.violations[0]
        ));
    }
    let unfinished = sim.callers.iter().filter(|c| !c.finished).count();
    if unfinished > 0 {
        return Err(format!("{unfinished} callers never finished"));
    }
    if switch.calls_active() != 0 {
        return Err(format!("{} calls still active", switch.calls_active()));
    }
    if ended != CALLS || records.values().any(|&n| n != 1) || records.len() != CALLS {
        return Err(format!(
            "{ended} records for {CALLS} calls ({} distinct)",
            records.len()
        ));
    }
    let answered = sim.callers.iter().filter(|c| c.answered).count();
    let figures: BTreeMap<&str, (u64, u64, u64)> = switch
        .queue_figures(sim.now)
        .iter()
        .map(|q| (q.name, (q.answered, q.abandoned, q.overflowed)))
        .collect();
    println!("seed {seed}: {answered}/{CALLS} answered; per queue (answered, abandoned, overflowed): {figures:?}");
    if answered == 0 {
        return Err("no call was answered".into());
    }
    Ok(())
}

fn deliver(sim: &mut Sim, to: SocketAddr, bytes: Bytes) {
    let msg = Message::parse(bytes).expect("the switch sends valid SIP");
    if to == sim.carrier {
        return carrier_gets(sim, msg);
    }
    let Some(i) = sim.agent_at(to) else {
        sim.violations
            .push(format!("message to unknown address {to}"));
        return;
    };
    agent_gets(sim, i, msg);
}

fn carrier_gets(sim: &mut Sim, msg: Message) {
    let Some(c) = sim.callers.iter().position(|c| c.call_id == msg.call_id()) else {
        return;
    };
    let carrier = sim.carrier;
    let switch_addr = sim.switch_addr;
    if let Some(method) = msg.method() {
        // The switch hangs up (the agent did): 200.
        if *method == Method::Bye {
            let r = response(&msg, 200, "OK", None, "");
            sim.send(carrier, None, r);
            sim.callers[c].finished = true;
        }
        return;
    }
    let status = msg.status().unwrap_or(0);
    if msg.cseq().method != Method::Invite || status < 200 {
        return;
    }
    let caller = &mut sim.callers[c];
    let to = msg.to().as_str().to_string();
    caller.to_tag = msg.to().tag().map(str::to_string);
    if status < 300 {
        let first = !caller.answered;
        caller.answered = true;
        caller.final_status = Some(status);
        let target = match msg.contacts() {
            Contacts::List(l) if !l.is_empty() => l[0].uri().as_str().to_string(),
            _ => format!("sip:{switch_addr}"),
        };
        let call_id = caller.call_id.clone();
        let ack = request(
            "ACK",
            &target,
            &format!("<sip:cust@{carrier}>;tag=c{c}"),
            &to,
            &call_id,
            1,
            &format!("{carrier};branch=z9hG4bKack{c}"),
            "",
            "",
        );
        sim.send(carrier, None, ack);
        if first {
            let talk = Duration::from_secs(sim.rng.random_range(5..90));
            if sim.rng.random_bool(0.5) {
                // The caller hangs up; else the agent does.
                let at = sim.now + talk;
                sim.schedule(at, Ev::GiveUp(c));
            }
        }
    } else {
        caller.final_status = Some(status);
        caller.finished = true;
        let uri = caller.invite.clone();
        let call_id = caller.call_id.clone();
        let ack = request(
            "ACK",
            &uri,
            &format!("<sip:cust@{carrier}>;tag=c{c}"),
            &to,
            &call_id,
            1,
            &format!("{carrier};branch=z9hG4bKinv{c}"),
            "",
            "",
        );
        sim.send(carrier, None, ack);
    }
}

fn agent_gets(sim: &mut Sim, i: usize, msg: Message) {
    let addr = sim.agents[i].addr;
    let switch_addr = sim.switch_addr;
    if let Some(status) = msg.status() {
        if status == 401 && msg.cseq().method == Method::Register {
            let challenge = msg
                .header(&HeaderName::WwwAuthenticate)
                .expect("challenge")
                .to_string();
            let user = sim.agents[i].user.clone();
            let uri = format!("sip:{switch_addr}");
            let value = switchyard::sip::auth::answer_challenge(
                &challenge,
                "REGISTER",
                &uri,
                &user,
                &format!("pw{i}"),
                1,
                &mut sim.rng,
            )
            .expect("answer");
            let reg = request(
                "REGISTER",
                &uri,
                &format!("<sip:{user}@{switch_addr}>;tag=r{i}"),
                &format!("<sip:{user}@{switch_addr}>"),
                &format!("reg{i}"),
                2,
                &format!("{addr};branch=z9hG4bKreg{i}b"),
                &format!(
                    "Contact: <sip:{user}@{addr}>\r\nExpires: 3600\r\nAuthorization: {value}\r\n"
                ),
                "",
            );
            sim.send(addr, None, reg);
        }
        return;
    }
    let call_id = msg.call_id().to_string();
    match msg.method().cloned() {
        Some(Method::Invite) => {
            if sim.agents[i].offers.contains_key(&call_id) {
                return; // a retransmission
            }
            if let Some(other) = sim.agents[i].offers.keys().next() {
                sim.violations.push(format!(
                    "agent {} offered {call_id} while on {other}",
                    sim.agents[i].user
                ));
            }
            let tag = format!("a{i}x{}", sim.seq);
            let mood = match sim.rng.random_range(0..100) {
                0..70 => Mood::Answer,
                70..85 => Mood::Busy,
                _ => Mood::Ignore,
            };
            if mood == Mood::Busy {
                let r = response(&msg, 486, "Busy Here", Some(&tag), "");
                sim.send(addr, None, r);
                return;
            }
            let r = response(&msg, 180, "Ringing", Some(&tag), "");
            sim.send(addr, None, r);
            sim.agents[i].offers.insert(
                call_id.clone(),
                Offer {
                    invite: msg,
                    tag,
                    answered: false,
                },
            );
            if mood == Mood::Answer {
                let at = sim.now + Duration::from_millis(sim.rng.random_range(500..6_000));
                sim.schedule(at, Ev::AgentAnswer(i, call_id));
            }
        }
        Some(Method::Cancel) => {
            let r = response(&msg, 200, "OK", None, "");
            sim.send(addr, None, r);
            if let Some(offer) = sim.agents[i].offers.remove(&call_id) {
                if !offer.answered {
                    let r = response(
                        &offer.invite,
                        487,
                        "Request Terminated",
                        Some(&offer.tag),
                        "",
                    );
                    sim.send(addr, None, r);
                } else {
                    sim.agents[i].offers.insert(call_id, offer);
                }
            }
        }
        Some(Method::Ack)
            if sim.agents[i]
                .offers
                .get(&call_id)
                .is_some_and(|o| o.answered) =>
        {
            let talk = Duration::from_secs(sim.rng.random_range(5..90));
            let at = sim.now + talk;
            sim.schedule(at, Ev::AgentHangUp(i, call_id));
        }
        Some(Method::Bye) => {
            let r = response(&msg, 200, "OK", None, "");
            sim.send(addr, None, r);
            sim.agents[i].offers.remove(&call_id);
        }
        _ => {}
    }
}

fn on_event(sim: &mut Sim, ev: Ev) {
    let carrier = sim.carrier;
    let switch_addr = sim.switch_addr;
    match ev {
        Ev::Arrive(c) => {
            let did = QUEUES[sim.rng.random_range(0..3)].1;
            let uri = format!("sip:{did}@{switch_addr}");
            let call_id = format!("call{c}");
            let invite = request(
                "INVITE",
                &uri,
                &format!("<sip:cust@{carrier}>;tag=c{c}"),
                &format!("<{uri}>"),
                &call_id,
                1,
                &format!("{carrier};branch=z9hG4bKinv{c}"),
                &format!("Contact: <sip:cust@{carrier}>\r\n"),
                SDP,
            );
            sim.callers[c].call_id = call_id;
            sim.callers[c].invite = uri;
            sim.send(carrier, None, invite);
            let patience = Duration::from_secs(sim.rng.random_range(10..240));
            let at = sim.now + patience;
            sim.schedule(at, Ev::GiveUp(c));
        }
        Ev::GiveUp(c) => {
            let caller = &sim.callers[c];
            if caller.finished {
                return;
            }
            let from = format!("<sip:cust@{carrier}>;tag=c{c}");
            let call_id = caller.call_id.clone();
            let uri = caller.invite.clone();
            if caller.answered {
                let to = format!("<{uri}>;tag={}", caller.to_tag.clone().unwrap_or_default());
                let bye = request(
                    "BYE",
                    &format!("sip:switchyard@{switch_addr}"),
                    &from,
                    &to,
                    &call_id,
                    2,
                    &format!("{carrier};branch=z9hG4bKbye{c}"),
                    "",
                    "",
                );
                sim.callers[c].finished = true;
                sim.send(carrier, None, bye);
            } else if caller.final_status.is_none() {
                // CANCEL; the 487 that follows finishes the caller.
                let cancel = request(
                    "CANCEL",
                    &uri,
                    &from,
                    &format!("<{uri}>"),
                    &call_id,
                    1,
                    &format!("{carrier};branch=z9hG4bKinv{c}"),
                    "",
                    "",
                );
                sim.send(carrier, None, cancel);
            }
        }
        Ev::AgentAnswer(i, call_id) => {
            let addr = sim.agents[i].addr;
            let Some(offer) = sim.agents[i].offers.get_mut(&call_id) else {
                return; // cancelled meanwhile
            };
            offer.answered = true;
            let r = response(&offer.invite, 200, "OK", Some(&offer.tag), SDP);
            sim.send(addr, None, r);
        }
        Ev::AgentHangUp(i, call_id) => {
            let addr = sim.agents[i].addr;
            let Some(offer) = sim.agents[i].offers.remove(&call_id) else {
                return; // the caller hung up first
            };
            let inv = &offer.invite;
            let target = match inv.contacts() {
                Contacts::List(l) if !l.is_empty() => l[0].uri().as_str().to_string(),
                _ => format!("sip:{switch_addr}"),
            };
            let bye = request(
                "BYE",
                &target,
                &format!("{};tag={}", inv.to().as_str(), offer.tag),
                inv.from().as_str(),
                &call_id,
                1,
                &format!("{addr};branch=z9hG4bKbye{i}x{}", sim.seq),
                "",
                "",
            );
            sim.send(addr, None, bye);
        }
    }
}

#[test]
fn every_queued_caller_is_answered_or_gives_up_and_every_call_has_one_record() {
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    if let Err(err) = run(seed) {
        panic!("simulation failed with seed {seed}: {err}");
    }
}
