//! No stuck agents (issue 9): a seeded virtual-time day of a call centre
//! on the whole pure switch core, with faults. Requests and responses the
//! switch sends are lost at random (so are carriers' ACKs and phones'
//! answers to BYE): the switch's retransmissions and timers must carry
//! on. Phones vanish mid-ring or mid-call and come back twenty minutes
//! later; their registrations (Expires 600 s, refreshed every 300 s) lapse
//! meanwhile, during calls too. Two agents have two phones each, and both
//! answer the same offer at the same instant. Callers sometimes give up
//! at the very instant the agent answers (CANCEL racing 200). Queue and
//! direct calls mix.
//!
//! Checked after every step: the router's own invariants; an agent the
//! router has ringing or on a call is so on a call the switch has, and a
//! queue call the switch has up is the router's call of that agent; no
//! agent on a direct call is free for the queues. Whenever no datagram is
//! in flight, the legs themselves: an agent the router has talking holds
//! that caller on one of their phones (unless the phone vanished with
//! it), and an agent whose phone holds an answered call the switch still
//! has up is neither free nor ringing for the router. At the end: every
//! caller finished, no call up, no agent ringing, on a call, in wrap-up
//! or busy, no engagement left, and every call has exactly one record.

#![allow(clippy::disallowed_methods)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard::call::CallUuid;
use switchyard::config::Config;
use switchyard::sip::parse::{Contacts, HeaderName, Message, Method};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{
    AgentSnapshot, CallSnapshot, Command, Event, EventKind, Output, Plan, Reply, Switch,
};

const AGENTS: usize = 8;
/// Agents 0 and 1 have a second phone: `AGENTS + 0`, `AGENTS + 1`.
const TWIN_PHONES: usize = 2;
/// Arrivals every 1 to 12 s: a working day of about nine hours.
const CALLS: usize = 5_000;
const STEPS_MAX: usize = 5_000_000;
const LATENCY: Duration = Duration::from_millis(5);
/// Chance that a datagram exposed to loss is lost.
const LOSS: f64 = 0.05;
const REGISTER_EVERY: Duration = Duration::from_secs(300);
const VANISHED_FOR: Duration = Duration::from_secs(20 * 60);
const QUEUE_DID: &str = "5550200";

fn direct_did(i: usize) -> String {
    format!("55510{i:02}")
}

fn config() -> String {
    let mut text = String::from(
        "[switch]\nsip_listen = \"127.0.0.1:5060\"\nhttp_listen = \"127.0.0.1:0\"\n\
         digest_challenge = \"md5-first\"\nno_answer_timeout = \"20s\"\nmax_calls = 10000\n\n\
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
         wrap_up = \"2s\"\nmax_length = 200\n",
    );
    for i in 0..AGENTS {
        text.push_str(&format!(
            "\n[[agents]]\nid = \"{}\"\npassword = \"pw{i}\"\nauto_login = true\nmax_no_answer = 0\n\
             skills = {{ support = 5 }}\n",
            2001 + i
        ));
    }
    text
}

#[derive(Debug)]
enum Ev {
    Arrive(usize),
    CallerGivesUp(usize),
    CallerHangsUp(usize),
    PhoneAnswers(usize, String),
    PhoneHangsUp(usize, String),
    Register(usize),
    Vanish(usize),
    Return(usize),
}

struct PhoneCall {
    invite: Message,
    tag: String,
    answered: bool,
}

struct Phone {
    addr: SocketAddr,
    agent: usize,
    calls: HashMap<String, PhoneCall>,
    dead: bool,
    reg_cseq: u32,
}

#[derive(Default)]
struct Caller {
    call_id: String,
    uri: String,
    answered: bool,
    finished: bool,
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
    /// How often each fault struck, to show the day had them.
    faults: std::collections::BTreeMap<&'static str, u64>,
    /// Each call's caller, from its `call_arrived` event.
    callers_of: HashMap<CallUuid, usize>,
    /// Callers whose agent's phone vanished with the call up: the switch
    /// cannot know until the caller hangs up.
    orphaned: std::collections::HashSet<usize>,
}

impl Sim {
    fn fault(&mut self, what: &'static str) {
        *self.faults.entry(what).or_default() += 1;
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.evs.insert(self.seq, ev);
        self.events.push(Reverse((at, self.seq)));
    }

    /// A datagram from `from` to the switch (`to` None) or to a peer.
    fn send(&mut self, from: SocketAddr, to: Option<SocketAddr>, bytes: String) {
        self.seq += 1;
        self.packets
            .insert(self.seq, (from, to, Bytes::from(bytes)));
        self.net.push(Reverse((self.now + LATENCY, self.seq)));
    }

    /// As `send`, but lost with probability [`LOSS`].
    fn send_lossy(&mut self, from: SocketAddr, bytes: String) {
        if self.rng.random_bool(LOSS) {
            self.fault("lost from peers");
        } else {
            self.send(from, None, bytes);
        }
    }

    fn user(&self, phone: usize) -> String {
        (2001 + self.phones[phone].agent).to_string()
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

/// The same delay for every phone of an agent offered the same call, so
/// twin phones answer at once.
fn answer_delay(call_id: &str) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    call_id.hash(&mut h);
    Duration::from_millis(500 + h.finish() % 2_500)
}

fn run(seed: u64) -> Result<usize, String> {
    let cfg = Config::parse(&config(), Path::new("sim.toml")).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), seed, t0);
    let switch_addr: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let phones = (0..AGENTS + TWIN_PHONES)
        .map(|i| Phone {
            addr: format!("10.1.0.{}:5060", i + 1).parse().unwrap(),
            agent: i % AGENTS,
            calls: HashMap::new(),
            dead: false,
            reg_cseq: 0,
        })
        .collect();
    let mut sim = Sim {
        rng: StdRng::seed_from_u64(seed),
        now: t0,
        seq: 0,
        net: BinaryHeap::new(),
        packets: HashMap::new(),
        events: BinaryHeap::new(),
        evs: HashMap::new(),
        phones,
        callers: (0..CALLS).map(|_| Caller::default()).collect(),
        switch_addr,
        carrier: "10.0.0.1:5060".parse().unwrap(),
        violations: Vec::new(),
        faults: Default::default(),
        callers_of: HashMap::new(),
        orphaned: Default::default(),
    };
    for i in 0..sim.phones.len() {
        sim.schedule(t0, Ev::Register(i));
    }
    let mut at = t0 + Duration::from_secs(2);
    for c in 0..CALLS {
        at += Duration::from_millis(sim.rng.random_range(1_000..12_000));
        sim.schedule(at, Ev::Arrive(c));
    }
    let day_end = at;
    for _ in 0..12 {
        let when = t0 + (day_end - t0).mul_f64(sim.rng.random_range(0.05..0.9));
        let phone = sim.rng.random_range(0..sim.phones.len());
        sim.schedule(when, Ev::Vanish(phone));
    }
    let mut records: HashMap<String, usize> = HashMap::new();
    let mut steps = 0;
    while steps < STEPS_MAX {
        steps += 1;
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
        check(&mut sim, &mut switch);
        if let Some(v) = sim.violations.first() {
            return Err(format!("at step {steps}: {v}"));
        }
        let callers_done = sim.callers.iter().all(|c| c.finished);
        if callers_done && switch.calls_active() == 0 && sim.now > day_end {
            break;
        }
    }
    // Let wrap-ups, retransmissions and timers run out.
    let later = sim.now + Duration::from_secs(120);
    switch.handle_timeout(later);
    while switch.poll_output().is_some() {}
    end_of_day(&sim, &mut switch, &records, steps)?;
    println!("faults struck, and checks made: {:?}", sim.faults);
    Ok(steps)
}

/// Fires the switch's timers, delivers due datagrams and world events,
/// and sends out what the switch produced (lossy).
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
                if sim.rng.random_bool(LOSS) {
                    sim.fault("lost from the switch");
                    continue;
                }
                sim.seq += 1;
                let switch_addr = sim.switch_addr;
                sim.packets
                    .insert(sim.seq, (switch_addr, Some(peer.addr), bytes));
                sim.net.push(Reverse((now + LATENCY, sim.seq)));
            }
            Output::CallEnded(record) => *records.entry(record.sip_call_id).or_default() += 1,
            Output::Event(Event {
                kind:
                    EventKind::CallArrived {
                        call, sip_call_id, ..
                    },
                ..
            }) => {
                let caller = sip_call_id
                    .strip_prefix("call")
                    .and_then(|n| n.parse().ok());
                if let Some(c) = caller {
                    sim.callers_of.insert(call, c);
                }
            }
            _ => {}
        }
    }
}

fn snapshots(switch: &mut Switch, now: Instant) -> (Vec<AgentSnapshot>, Vec<CallSnapshot>) {
    let Ok(Reply::Agents { agents }) = switch.handle_command(now, Command::ListAgents) else {
        unreachable!("agents list");
    };
    let Ok(Reply::Calls { calls }) = switch.handle_command(now, Command::ListCalls) else {
        unreachable!("calls list");
    };
    (agents, calls)
}

/// The router against the switch's calls, after every step.
fn check(sim: &mut Sim, switch: &mut Switch) {
    if let Err(e) = switch.router().check_invariants() {
        sim.violations.push(format!("router invariant: {e}"));
        return;
    }
    let (agents, calls) = snapshots(switch, sim.now);
    check_legs(sim, &agents, &calls);
    let by_id: HashMap<_, _> = calls.iter().map(|c| (c.id, c)).collect();
    for a in &agents {
        if !a.registered && a.call.is_some() {
            sim.fault("steps with a lapsed registration during a call");
        }
        if matches!(a.state, "ringing" | "on_call") {
            let call = a.call.and_then(|id| by_id.get(&id));
            // "ending": BYEs out, their answers awaited; the agent is on it until then.
            let live = call.is_some_and(|c| match a.state {
                "ringing" => c.phase == "ringing",
                _ => matches!(c.phase, "talking" | "ending"),
            });
            if !live {
                let phase = call.map(|c| c.phase);
                sim.violations.push(format!(
                    "agent {} {} on {:?}, a call {phase:?}",
                    a.id, a.state, a.call
                ));
            }
        }
    }
    let states: HashMap<&str, &AgentSnapshot> = agents.iter().map(|a| (a.id.as_str(), a)).collect();
    for c in &calls {
        let Some(agent) = c.agent.as_deref().and_then(|a| states.get(a)) else {
            continue;
        };
        let queued = c.queue.is_some();
        if queued && c.phase == "talking" && (agent.state != "on_call" || agent.call != Some(c.id))
        {
            sim.violations.push(format!(
                "queue call {} talking to {} who is {} on {:?}",
                c.id, agent.id, agent.state, agent.call
            ));
        }
        if !queued
            && matches!(c.phase, "ringing" | "talking")
            && matches!(agent.state, "available" | "ringing")
        {
            sim.violations.push(format!(
                "direct call {} with {} who is {}",
                c.id, agent.id, agent.state
            ));
        }
    }
}

/// The legs against the router, when nothing is in flight.
fn check_legs(sim: &mut Sim, agents: &[AgentSnapshot], calls: &[CallSnapshot]) {
    if !sim.net.is_empty() {
        return;
    }
    let talking: HashMap<usize, CallUuid> = calls
        .iter()
        .filter(|c| c.phase == "talking")
        .filter_map(|c| sim.callers_of.get(&c.id).map(|&caller| (caller, c.id)))
        .collect();
    let mut violations = Vec::new();
    let mut checked = 0;
    for (i, a) in agents.iter().enumerate() {
        let phones: Vec<&Phone> = sim
            .phones
            .iter()
            .filter(|p| p.agent == i && !p.dead)
            .collect();
        // Whether one of the agent's phones has the caller (answered, if asked).
        let holds = |caller: usize, answered: bool| {
            phones.iter().any(|p| {
                p.calls
                    .values()
                    .any(|c| caller_of(&c.invite) == Some(caller) && (c.answered || !answered))
            })
        };
        let on_call = a.call.filter(|_| matches!(a.state, "on_call" | "busy"));
        let caller = on_call.and_then(|id| talking.iter().find(|(_, u)| **u == id));
        if let Some((&caller, _)) = caller {
            checked += 1;
            if !sim.orphaned.contains(&caller) && !holds(caller, false) {
                violations.push(format!(
                    "agent {} on a call with caller {caller} that no phone of theirs has",
                    a.id
                ));
            }
        }
        let free = matches!(a.state, "available" | "ringing");
        if let Some((caller, _)) = talking.iter().find(|(&c, _)| holds(c, true)) {
            if free {
                violations.push(format!(
                    "agent {} {} while their phone talks to caller {caller}",
                    a.id, a.state
                ));
            }
        }
    }
    *sim.faults
        .entry("quiet checks of a talking agent's phones")
        .or_default() += checked;
    sim.violations.extend(violations);
}

fn end_of_day(
    sim: &Sim,
    switch: &mut Switch,
    records: &HashMap<String, usize>,
    steps: usize,
) -> Result<(), String> {
    let unfinished = sim.callers.iter().filter(|c| !c.finished).count();
    if unfinished > 0 || switch.calls_active() != 0 || switch.engagements() != 0 {
        return Err(format!(
            "after {steps} steps: {unfinished} callers unfinished, {} calls up, {} engagements",
            switch.calls_active(),
            switch.engagements()
        ));
    }
    // Every owner left the demultiplexer with its call, dialog or transaction.
    if switch.demux_entries() != 0 || switch.transactions_active() != 0 {
        return Err(format!(
            "after {steps} steps: {} demux entries and {} transactions left",
            switch.demux_entries(),
            switch.transactions_active()
        ));
    }
    if records.len() != CALLS || records.values().any(|&n| n != 1) {
        return Err(format!(
            "{} distinct records for {CALLS} calls",
            records.len()
        ));
    }
    let (agents, _) = snapshots(switch, sim.now + Duration::from_secs(120));
    for a in agents {
        if !matches!(a.state, "available" | "logged_out") {
            return Err(format!("agent {} left {} on {:?}", a.id, a.state, a.call));
        }
    }
    Ok(())
}

fn register(sim: &mut Sim, i: usize, auth: &str) {
    let (addr, switch_addr) = (sim.phones[i].addr, sim.switch_addr);
    let user = sim.user(i);
    sim.phones[i].reg_cseq += 1;
    let cseq = sim.phones[i].reg_cseq;
    let aor = format!("<sip:{user}@{switch_addr}>");
    let reg = request(Req(
        "REGISTER",
        &format!("sip:{switch_addr}"),
        &format!("{aor};tag=r{i}"),
        &aor,
        &format!("reg{i}"),
        cseq,
        &format!("{addr};branch=z9hG4bKreg{i}x{cseq}"),
        &format!("Contact: <sip:{user}@{addr}>\r\nExpires: 600\r\n{auth}"),
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
        Some(i) if sim.phones[i].dead => {}
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
    // A lost ACK: the switch repeats its 200 until one comes (or gives up).
    sim.send_lossy(carrier, ack);
    if first_answer {
        // Callers always hang up in the end: a vanished agent phone never will.
        let at = sim.now + Duration::from_secs(sim.rng.random_range(5..120));
        sim.schedule(at, Ev::CallerHangsUp(c));
    }
}

fn phone_gets(sim: &mut Sim, i: usize, msg: Message) {
    let addr = sim.phones[i].addr;
    if let Some(status) = msg.status() {
        if status == 401 && msg.cseq().method == Method::Register {
            let challenge = msg.header(&HeaderName::WwwAuthenticate).expect("challenge");
            let uri = format!("sip:{}", sim.switch_addr);
            let user = sim.user(i);
            let password = format!("pw{}", sim.phones[i].agent);
            let value = switchyard::sip::auth::answer_challenge(
                challenge,
                "REGISTER",
                &uri,
                &user,
                &password,
                1,
                &mut sim.rng,
            )
            .expect("answer");
            register(sim, i, &format!("Authorization: {value}\r\n"));
        }
        return;
    }
    let call_id = msg.call_id().to_string();
    match msg.method().cloned() {
        Some(Method::Invite) => {
            if sim.phones[i].calls.contains_key(&call_id) {
                return; // a retransmission
            }
            if i >= AGENTS {
                sim.fault("offer to a twin phone (both answer at once)");
            }
            let tag = format!("a{i}x{}", sim.seq);
            sim.send(addr, None, response(&msg, 180, Some(&tag), ""));
            let at = sim.now + answer_delay(&call_id);
            sim.schedule(at, Ev::PhoneAnswers(i, call_id.clone()));
            let call = PhoneCall {
                invite: msg,
                tag,
                answered: false,
            };
            sim.phones[i].calls.insert(call_id, call);
        }
        Some(Method::Cancel) => {
            sim.send(addr, None, response(&msg, 200, None, ""));
            if let Some(call) = sim.phones[i].calls.remove(&call_id) {
                let r = response(&call.invite, 487, Some(&call.tag), "");
                sim.send(addr, None, r);
            }
        }
        Some(Method::Bye) => {
            // Lost: the switch sends its BYE again.
            sim.send_lossy(addr, response(&msg, 200, None, ""));
            sim.phones[i].calls.remove(&call_id);
        }
        _ => {}
    }
}

/// The caller index in the From of the switch's INVITE (`cust<c>`).
fn caller_of(invite: &Message) -> Option<usize> {
    invite
        .from()
        .uri()
        .user()?
        .strip_prefix("cust")?
        .parse()
        .ok()
}

fn on_event(sim: &mut Sim, ev: Ev) {
    let (carrier, switch_addr) = (sim.carrier, sim.switch_addr);
    match ev {
        Ev::Arrive(c) => {
            let did = if sim.rng.random_bool(0.7) {
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
            let patience = Duration::from_secs(sim.rng.random_range(10..300));
            sim.schedule(sim.now + patience, Ev::CallerGivesUp(c));
        }
        Ev::CallerGivesUp(c) => {
            let caller = &sim.callers[c];
            if caller.finished || caller.answered {
                return;
            }
            let uri = caller.uri.clone();
            let cancel = request(Req(
                "CANCEL",
                &uri,
                &format!("<sip:cust{c}@{carrier}>;tag=c{c}"),
                &format!("<{uri}>"),
                &caller.call_id.clone(),
                1,
                &format!("{carrier};branch=z9hG4bKinv{c}"),
                "",
                "",
            ));
            sim.send(carrier, None, cancel);
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
        Ev::PhoneAnswers(i, call_id) => {
            let addr = sim.phones[i].addr;
            if sim.phones[i].dead {
                return;
            }
            let Some(call) = sim.phones[i].calls.get_mut(&call_id) else {
                return; // cancelled meanwhile
            };
            call.answered = true;
            let ok = response(&call.invite, 200, Some(&call.tag), SDP);
            let caller = caller_of(&call.invite);
            sim.send(addr, None, ok);
            // Now and then the caller gives up at this very instant.
            if let Some(c) = caller.filter(|_| sim.rng.random_bool(0.15)) {
                sim.fault("CANCEL racing 200");
                let now = sim.now;
                sim.schedule(now, Ev::CallerGivesUp(c));
            }
            let talk = Duration::from_secs(sim.rng.random_range(5..90));
            sim.schedule(sim.now + talk, Ev::PhoneHangsUp(i, call_id));
        }
        Ev::PhoneHangsUp(i, call_id) => {
            let addr = sim.phones[i].addr;
            if sim.phones[i].dead {
                return;
            }
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
        Ev::Register(i) => {
            if !sim.phones[i].dead {
                register(sim, i, "");
            }
            sim.schedule(sim.now + REGISTER_EVERY, Ev::Register(i));
        }
        Ev::Vanish(i) => {
            if !sim.phones[i].dead {
                sim.fault(if sim.phones[i].calls.is_empty() {
                    "phone vanished idle"
                } else {
                    "phone vanished mid-ring or mid-call"
                });
                sim.phones[i].dead = true;
                let callers: Vec<usize> = sim.phones[i]
                    .calls
                    .values()
                    .filter_map(|c| caller_of(&c.invite))
                    .collect();
                sim.orphaned.extend(callers);
                sim.phones[i].calls.clear();
                sim.schedule(sim.now + VANISHED_FOR, Ev::Return(i));
            }
        }
        Ev::Return(i) => {
            sim.phones[i].dead = false;
            register(sim, i, "");
        }
    }
}

#[test]
fn a_day_with_faults_leaves_no_agent_stuck_and_every_call_one_record() {
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    match run(seed) {
        Ok(steps) => println!("seed {seed}: a day of {CALLS} calls in {steps} steps"),
        Err(err) => panic!("simulation failed with seed {seed}: {err}"),
    }
}
