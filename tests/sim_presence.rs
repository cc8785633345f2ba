//! Agents who take direct calls between queue calls, in virtual time on
//! the whole pure switch core: 8 agent phones that always answer, each
//! with a DID of its own, and a carrier that sends a mix of support-queue
//! calls and direct calls. Agents have `max_no_answer = 1`, so one offer
//! held for an agent already on a call (issue 9) would pause them.
//!
//! Checked throughout: no phone is offered a call while on another, no
//! agent is ever paused; whenever no message is in flight, an agent whose
//! phone holds a direct call is busy for the router (neither available nor
//! reserved), and a busy agent's phone holds one. At the end every call
//! has one record, no call is up, every agent is available, and no queue
//! caller was refused (only direct calls, to an agent on another call).

#![allow(clippy::disallowed_methods)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard::acd::AgentState;
use switchyard::config::Config;
use switchyard::sip::parse::{Contacts, HeaderName, Message, Method};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{Output, Plan, Switch};

const AGENTS: usize = 8;
/// Arrivals every 6.5 s on average: the day ends before the phones'
/// registrations (3600 s, never refreshed here) expire.
const CALLS: usize = 400;
const STEPS_MAX: usize = 1_000_000;
const LATENCY: Duration = Duration::from_millis(5);
const QUEUE_DID: &str = "5550200";

fn direct_did(i: usize) -> String {
    format!("55510{i:02}")
}

fn config() -> String {
    let mut text = String::from(
        "[switch]\nsip_listen = \"127.0.0.1:5060\"\nhttp_listen = \"127.0.0.1:0\"\n\
         digest_challenge = \"md5-first\"\nno_answer_timeout = \"20s\"\n\n\
         [[trunks]]\nname = \"carrier\"\nallow_from = [\"10.0.0.0/8\"]\n\n[dids]\n",
    );
    text.push_str(&format!("\"{QUEUE_DID}\" = {{ queue = \"support\" }}\n"));
    for i in 0..AGENTS {
        text.push_str(&format!(
            "\"{}\" = {{ agent = \"{}\" }}\n",
            direct_did(i),
            2001 + i
        ));
    }
    text.push_str(
        "\n[[queues]]\nname = \"support\"\nrequires = \"support:1\"\nring_timeout = \"8s\"\n\
         wrap_up = \"2s\"\nmax_length = 100\n",
    );
    for i in 0..AGENTS {
        text.push_str(&format!(
            "\n[[agents]]\nid = \"{}\"\npassword = \"pw{i}\"\nauto_login = true\nmax_no_answer = 1\n\
             skills = {{ support = 5 }}\n",
            2001 + i
        ));
    }
    text
}

#[derive(Debug)]
enum Ev {
    Arrive(usize),
    CallerHangsUp(usize),
    AgentAnswers(usize, String),
    AgentHangsUp(usize, String),
}

struct PhoneCall {
    invite: Message,
    tag: String,
    answered: bool,
    direct: bool,
}

struct Phone {
    addr: SocketAddr,
    user: String,
    calls: HashMap<String, PhoneCall>,
}

#[derive(Default)]
struct Caller {
    call_id: String,
    uri: String,
    answered: bool,
    finished: bool,
    failed: bool,
    to_tag: Option<String>,
}

struct Sim {
    rng: StdRng,
    now: Instant,
    seq: u64,
    net: BinaryHeap<Reverse<(Instant, u64)>>,
    packets: HashMap<u64, (SocketAddr, Option<SocketAddr>, Bytes)>,
    events: BinaryHeap<Reverse<(Instant, u64)>>,
    evs: HashMap<u64, Ev>,
    phones: Vec<Phone>,
    callers: Vec<Caller>,
    switch_addr: SocketAddr,
    carrier: SocketAddr,
    violations: Vec<String>,
}

impl Sim {
    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.evs.insert(self.seq, ev);
        self.events.push(Reverse((at, self.seq)));
    }

    /// A datagram from `from` to the switch (`to` None) or to a phone.
    fn send(&mut self, from: SocketAddr, to: Option<SocketAddr>, bytes: String) {
        self.seq += 1;
        self.packets
            .insert(self.seq, (from, to, Bytes::from(bytes)));
        self.net.push(Reverse((self.now + LATENCY, self.seq)));
    }
}

fn response(req: &Message, status: u16, tag: Option<&str>, body: &str) -> String {
    let mut out = format!("SIP/2.0 {status} X\r\n");
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
    if let Some(uri) = req.request_uri() {
        out.push_str(&format!("Contact: <{}>\r\n", uri.as_str()));
    }
    with_body(out, body)
}

fn with_body(mut out: String, body: &str) -> String {
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

/// A request: method, URI, From, To, Call-ID, CSeq, Via, extra headers, body.
struct Req<'a>(
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    u32,
    &'a str,
    &'a str,
    &'a str,
);

fn request(r: Req<'_>) -> String {
    let Req(method, uri, from, to, call_id, cseq, via, extra, body) = r;
    let out = format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{extra}"
    );
    with_body(out, body)
}

fn contact_of(msg: &Message, fallback: SocketAddr) -> String {
    match msg.contacts() {
        Contacts::List(l) if !l.is_empty() => l[0].uri().as_str().to_string(),
        _ => format!("sip:{fallback}"),
    }
}

fn run(seed: u64) -> Result<(), String> {
    let cfg = Config::parse(&config(), Path::new("sim.toml")).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), seed, t0);
    let switch_addr: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let mut sim = Sim {
        rng: StdRng::seed_from_u64(seed),
        now: t0,
        seq: 0,
        net: BinaryHeap::new(),
        packets: HashMap::new(),
        events: BinaryHeap::new(),
        evs: HashMap::new(),
        phones: (0..AGENTS)
            .map(|i| Phone {
                addr: format!("10.1.0.{}:5060", i + 1).parse().unwrap(),
                user: (2001 + i).to_string(),
                calls: HashMap::new(),
            })
            .collect(),
        callers: (0..CALLS).map(|_| Caller::default()).collect(),
        switch_addr,
        carrier: "10.0.0.1:5060".parse().unwrap(),
        violations: Vec::new(),
    };
    for i in 0..AGENTS {
        register(&mut sim, i, 1, "");
    }
    let mut at = t0 + Duration::from_secs(2);
    for c in 0..CALLS {
        at += Duration::from_millis(sim.rng.random_range(1_000..12_000));
        sim.schedule(at, Ev::Arrive(c));
    }
    let mut records: HashMap<String, usize> = HashMap::new();
    for _ in 0..STEPS_MAX {
        let next = [
            switch.poll_timeout(),
            sim.net.peek().map(|Reverse((t, _))| *t),
            sim.events.peek().map(|Reverse((t, _))| *t),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        sim.now = sim.now.max(next);
        step(&mut sim, &mut switch, &mut records);
        check(&mut sim, &switch);
        let done = sim.callers.iter().all(|c| c.finished) && switch.calls_active() == 0;
        if done && sim.events.is_empty() && sim.net.is_empty() {
            break;
        }
    }
    // The last wrap-ups end.
    switch.handle_timeout(sim.now + Duration::from_secs(10));
    if let Some(v) = sim.violations.first() {
        return Err(format!("{} violations, first: {v}", sim.violations.len()));
    }
    let unfinished = sim.callers.iter().filter(|c| !c.finished).count();
    if unfinished > 0 || switch.calls_active() != 0 || switch.engagements() != 0 {
        return Err(format!(
            "{unfinished} callers unfinished, {} calls up, {} engagements left",
            switch.calls_active(),
            switch.engagements()
        ));
    }
    if records.len() != CALLS || records.values().any(|&n| n != 1) {
        return Err(format!(
            "{} distinct records for {CALLS} calls",
            records.len()
        ));
    }
    for i in 0..AGENTS {
        let id = switch.router().agent_id(&sim.phones[i].user).unwrap();
        let state = switch.router().agent_state(id);
        if state != Some(AgentState::Available) {
            return Err(format!("agent {} ends {state:?}", sim.phones[i].user));
        }
    }
    let answered = sim.callers.iter().filter(|c| c.answered).count();
    let failed = sim.callers.iter().filter(|c| c.failed).count();
    println!("seed {seed}: {answered}/{CALLS} answered, {failed} refused (agent busy)");
    if answered < CALLS / 2 {
        return Err(format!("only {answered} calls answered"));
    }
    Ok(())
}

/// Fires the switch's timers, delivers due datagrams and world events,
/// and sends out what the switch produced.
fn step(sim: &mut Sim, switch: &mut Switch, records: &mut HashMap<String, usize>) {
    let now = sim.now;
    if switch.poll_timeout().is_some_and(|t| t <= now) {
        switch.handle_timeout(now);
    }
    while let Some(Reverse((t, id))) = sim.net.peek().copied() {
        if t > now {
            break;
        }
        sim.net.pop();
        let (from, to, bytes) = sim.packets.remove(&id).expect("packet");
        match to {
            None => {
                let peer = Peer {
                    transport: Transport::Udp,
                    addr: from,
                };
                switch.handle_datagram(now, peer, bytes);
            }
            Some(to) => deliver(sim, to, bytes),
        }
    }
    while let Some(Reverse((t, id))) = sim.events.peek().copied() {
        if t > now {
            break;
        }
        sim.events.pop();
        let ev = sim.evs.remove(&id).expect("event");
        on_event(sim, ev);
    }
    while let Some(out) = switch.poll_output() {
        match out {
            Output::Transmit { peer, bytes } => {
                sim.seq += 1;
                let switch_addr = sim.switch_addr;
                sim.packets
                    .insert(sim.seq, (switch_addr, Some(peer.addr), bytes));
                sim.net.push(Reverse((now + LATENCY, sim.seq)));
            }
            Output::CallEnded(record) => *records.entry(record.sip_call_id).or_default() += 1,
            _ => {}
        }
    }
}

/// The router's view of each agent against their phone.
fn check(sim: &mut Sim, switch: &Switch) {
    let router = switch.router();
    for phone in &sim.phones {
        let id = router.agent_id(&phone.user).expect("configured agent");
        let state = router.agent_state(id);
        if matches!(state, Some(AgentState::Paused(_))) {
            sim.violations
                .push(format!("agent {} paused at {:?}", phone.user, sim.now));
        }
        if !sim.net.is_empty() {
            continue;
        }
        let direct = phone.calls.values().any(|c| c.direct);
        let free = matches!(state, Some(AgentState::Available | AgentState::Reserved(_)));
        if direct && free {
            sim.violations.push(format!(
                "agent {} on a direct call but {state:?} at {:?}",
                phone.user, sim.now
            ));
        }
        if state == Some(AgentState::Busy) && !direct {
            sim.violations.push(format!(
                "agent {} busy without a direct call at {:?}",
                phone.user, sim.now
            ));
        }
    }
}

fn register(sim: &mut Sim, i: usize, cseq: u32, auth: &str) {
    let (addr, switch_addr) = (sim.phones[i].addr, sim.switch_addr);
    let user = sim.phones[i].user.clone();
    let aor = format!("<sip:{user}@{switch_addr}>");
    let reg = request(Req(
        "REGISTER",
        &format!("sip:{switch_addr}"),
        &format!("{aor};tag=r{i}"),
        &aor,
        &format!("reg{i}"),
        cseq,
        &format!("{addr};branch=z9hG4bKreg{i}x{cseq}"),
        &format!("Contact: <sip:{user}@{addr}>\r\nExpires: 3600\r\n{auth}"),
        "",
    ));
    sim.send(addr, None, reg);
}

fn deliver(sim: &mut Sim, to: SocketAddr, bytes: Bytes) {
    let msg = Message::parse(bytes).expect("the switch sends valid SIP");
    if to == sim.carrier {
        return carrier_gets(sim, msg);
    }
    match sim.phones.iter().position(|p| p.addr == to) {
        Some(i) => phone_gets(sim, i, msg),
        None => sim.violations.push(format!("message to unknown {to}")),
    }
}

fn carrier_gets(sim: &mut Sim, msg: Message) {
    let Some(c) = sim.callers.iter().position(|c| c.call_id == msg.call_id()) else {
        return;
    };
    let carrier = sim.carrier;
    if msg.method() == Some(&Method::Bye) {
        sim.send(carrier, None, response(&msg, 200, None, ""));
        sim.callers[c].finished = true;
        return;
    }
    let status = msg.status().unwrap_or(0);
    if msg.cseq().method != Method::Invite || status < 200 {
        return;
    }
    let to = msg.to().as_str().to_string();
    let caller = &mut sim.callers[c];
    caller.to_tag = msg.to().tag().map(str::to_string);
    let (uri, branch) = if status < 300 {
        (contact_of(&msg, sim.switch_addr), format!("ack{c}"))
    } else {
        (caller.uri.clone(), format!("inv{c}"))
    };
    let call_id = caller.call_id.clone();
    let first_answer = status < 300 && !std::mem::replace(&mut caller.answered, true);
    if status >= 300 {
        if caller.uri.contains(QUEUE_DID) {
            let v = format!("queue caller {c} refused {status}");
            sim.violations.push(v);
        }
        let caller = &mut sim.callers[c];
        caller.failed = true;
        caller.finished = true;
    }
    let ack = request(Req(
        "ACK",
        &uri,
        &format!("<sip:cust{c}@{carrier}>;tag=c{c}"),
        &to,
        &call_id,
        1,
        &format!("{carrier};branch=z9hG4bK{branch}"),
        "",
        "",
    ));
    sim.send(carrier, None, ack);
    if first_answer && sim.rng.random_bool(0.5) {
        // The caller hangs up; else the agent does.
        let at = sim.now + Duration::from_secs(sim.rng.random_range(5..60));
        sim.schedule(at, Ev::CallerHangsUp(c));
    }
}

fn phone_gets(sim: &mut Sim, i: usize, msg: Message) {
    let addr = sim.phones[i].addr;
    if let Some(status) = msg.status() {
        if status == 401 && msg.cseq().method == Method::Register {
            let challenge = msg.header(&HeaderName::WwwAuthenticate).expect("challenge");
            let uri = format!("sip:{}", sim.switch_addr);
            let user = sim.phones[i].user.clone();
            let value = switchyard::sip::auth::answer_challenge(
                challenge,
                "REGISTER",
                &uri,
                &user,
                &format!("pw{i}"),
                1,
                &mut sim.rng,
            )
            .expect("answer");
            register(sim, i, 2, &format!("Authorization: {value}\r\n"));
        }
        return;
    }
    let call_id = msg.call_id().to_string();
    match msg.method().cloned() {
        Some(Method::Invite) => {
            let phone = &sim.phones[i];
            if phone.calls.contains_key(&call_id) {
                return; // a retransmission
            }
            if let Some(other) = phone.calls.keys().next() {
                let v = format!("{} offered {call_id} while on {other}", phone.user);
                sim.violations.push(v);
            }
            let direct = msg.to().uri().user() != Some(QUEUE_DID);
            let tag = format!("a{i}x{}", sim.seq);
            sim.send(addr, None, response(&msg, 180, Some(&tag), ""));
            let at = sim.now + Duration::from_millis(sim.rng.random_range(500..3_000));
            sim.schedule(at, Ev::AgentAnswers(i, call_id.clone()));
            let call = PhoneCall {
                invite: msg,
                tag,
                answered: false,
                direct,
            };
            sim.phones[i].calls.insert(call_id, call);
        }
        Some(Method::Cancel) => {
            sim.send(addr, None, response(&msg, 200, None, ""));
            let ringing = sim.phones[i]
                .calls
                .get(&call_id)
                .is_some_and(|c| !c.answered);
            if ringing {
                let call = sim.phones[i].calls.remove(&call_id).expect("ringing call");
                let r = response(&call.invite, 487, Some(&call.tag), "");
                sim.send(addr, None, r);
            }
        }
        Some(Method::Ack) => {
            let answered = sim.phones[i]
                .calls
                .get(&call_id)
                .is_some_and(|c| c.answered);
            if answered {
                let at = sim.now + Duration::from_secs(sim.rng.random_range(5..60));
                sim.schedule(at, Ev::AgentHangsUp(i, call_id));
            }
        }
        Some(Method::Bye) => {
            sim.send(addr, None, response(&msg, 200, None, ""));
            sim.phones[i].calls.remove(&call_id);
        }
        _ => {}
    }
}

fn on_event(sim: &mut Sim, ev: Ev) {
    let (carrier, switch_addr) = (sim.carrier, sim.switch_addr);
    match ev {
        Ev::Arrive(c) => {
            let did = if sim.rng.random_bool(0.6) {
                QUEUE_DID.to_string()
            } else {
                direct_did(sim.rng.random_range(0..AGENTS))
            };
            let uri = format!("sip:{did}@{switch_addr}");
            let call_id = format!("call{c}");
            let invite = request(Req(
                "INVITE",
                &uri,
                &format!("<sip:cust{c}@{carrier}>;tag=c{c}"),
                &format!("<{uri}>"),
                &call_id,
                1,
                &format!("{carrier};branch=z9hG4bKinv{c}"),
                &format!("Contact: <sip:cust@{carrier}>\r\n"),
                SDP,
            ));
            sim.callers[c].call_id = call_id;
            sim.callers[c].uri = uri;
            sim.send(carrier, None, invite);
        }
        Ev::CallerHangsUp(c) => {
            let caller = &sim.callers[c];
            if caller.finished {
                return;
            }
            let tag = caller.to_tag.clone().unwrap_or_default();
            let bye = request(Req(
                "BYE",
                &format!("sip:switchyard@{switch_addr}"),
                &format!("<sip:cust{c}@{carrier}>;tag=c{c}"),
                &format!("<{}>;tag={tag}", caller.uri),
                &caller.call_id.clone(),
                2,
                &format!("{carrier};branch=z9hG4bKbye{c}"),
                "",
                "",
            ));
            sim.callers[c].finished = true;
            sim.send(carrier, None, bye);
        }
        Ev::AgentAnswers(i, call_id) => {
            let addr = sim.phones[i].addr;
            let Some(call) = sim.phones[i].calls.get_mut(&call_id) else {
                return; // cancelled meanwhile
            };
            call.answered = true;
            let ok = response(&call.invite, 200, Some(&call.tag), SDP);
            sim.send(addr, None, ok);
        }
        Ev::AgentHangsUp(i, call_id) => {
            let addr = sim.phones[i].addr;
            let Some(call) = sim.phones[i].calls.remove(&call_id) else {
                return; // the caller hung up first
            };
            let inv = &call.invite;
            let bye = request(Req(
                "BYE",
                &contact_of(inv, switch_addr),
                &format!("{};tag={}", inv.to().as_str(), call.tag),
                inv.from().as_str(),
                &call_id,
                1,
                &format!("{addr};branch=z9hG4bKbye{i}x{}", sim.seq),
                "",
                "",
            ));
            sim.send(addr, None, bye);
        }
    }
}

#[test]
fn agents_on_direct_calls_are_never_offered_queue_calls_nor_paused() {
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    if let Err(err) = run(seed) {
        panic!("simulation failed with seed {seed}: {err}");
    }
}
