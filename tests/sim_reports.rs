//! A simulated hour of a one-agent centre, in virtual time: the pure
//! switch core's records and events go through the store's row builders
//! and the agent event log, and the report figures must equal those worked
//! out by hand from the calls below. The queue holds each wrap-up for a
//! disposition code: the agent is offered nothing until it arrives.
//!
//! | s from t0 | what happens |
//! |---|---|
//! | 0 | 1001 registers (login); call 1 arrives and rings |
//! | 4 | 1001 answers (wait 4 s) |
//! | 64 | the caller hangs up (talk 60 s); wrap-up held for a code |
//! | 74 | code `sale` by command (wrap-up 10 s) |
//! | 600 | 1001 pauses (`break`); call 2 queues |
//! | 630 | 1001 resumes; call 2 rings and is answered (wait 30 s) |
//! | 750 | 1001 hangs up (talk 120 s); no code comes |
//! | 810 | the wrap-up ends at `wrap_up_max`: `none` (wrap-up 60 s) |
//! | 1200 | 1001 pauses (`lunch`); call 3 queues, gives up at 1240 (40 s) |
//! | 1500 | call 4 queues, gives up at 1503 (3 s: a short abandon) |
//! | 1800 | 1001 resumes |

#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use switchyard::call::CallUuid;
use switchyard::config::Config;
use switchyard::ops::cdr::{agent_events, AgentEventRow, CdrRow, CdrStore, StoreRow};
use switchyard::ops::report::format_ms;
use switchyard::ops::report::{agent_report, queue_report, Window};
use switchyard::sip::parse::{HeaderName, Message};
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{Command, Event, EventKind, Output, Plan, Reply, Switch};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-first"
# The simulated phones answer no in-dialog OPTIONS: no probes.
probe_interval = "0s"

[[agents]]
id = "1001"
password = "pw-1001"
auto_login = true
skills = { support = 5 }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.0/8"]

[dids]
"5550200" = { queue = "support" }

[[queues]]
name = "support"
requires = "support:1"
wrap_up = "5s"
ring_timeout = "15s"
dispositions = ["sale", "no-sale"]
disposition_required = true
wrap_up_max = "60s"
service_level = { within = "20s", target = 0.8 }
"#;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const PHONE: &str = "10.1.0.1:5060";
const CARRIER: &str = "10.0.0.1:5060";
/// 2024-03-01T08:00:00Z: the hour's start on the wall clock.
const WALL0_MS: u64 = 1_709_280_000_000;
const S: Duration = Duration::from_secs(1);

struct Sim {
    switch: Switch,
    t0: Instant,
    now: Instant,
    events: Vec<Event>,
    records: Vec<CdrRow>,
    log: Vec<AgentEventRow>,
    /// Both, in the order the driver would submit them.
    rows: Vec<StoreRow>,
}

impl Sim {
    fn new() -> Sim {
        let cfg = Config::parse(CONFIG, Path::new("sim.toml")).unwrap();
        let t0 = Instant::now();
        let mut switch = Switch::new(Plan::from_config(&cfg), 11, t0);
        switch.set_wall_clock(t0, UNIX_EPOCH + Duration::from_millis(WALL0_MS));
        Sim {
            switch,
            t0,
            now: t0,
            events: Vec::new(),
            records: Vec::new(),
            log: Vec::new(),
            rows: Vec::new(),
        }
    }

    fn wall(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(WALL0_MS) + (self.now - self.t0)
    }

    fn send(&mut self, from: &str, text: String) -> Vec<(SocketAddr, Message)> {
        let peer = Peer {
            transport: Transport::Udp,
            addr: from.parse().unwrap(),
        };
        self.switch
            .handle_datagram(self.now, peer, Bytes::from(text));
        self.drain()
    }

    fn drain(&mut self) -> Vec<(SocketAddr, Message)> {
        let mut sent = Vec::new();
        while let Some(out) = self.switch.poll_output() {
            match out {
                Output::Transmit { peer, bytes } => {
                    sent.push((peer.addr, Message::parse(bytes).unwrap()));
                }
                Output::Event(e) => {
                    let lines = agent_events(&e);
                    self.rows.extend(lines.iter().cloned().map(StoreRow::Agent));
                    self.log.extend(lines);
                    self.events.push(e);
                }
                Output::CallEnded(record) => {
                    let row = CdrRow::new(&record, self.wall());
                    self.rows.push(StoreRow::Call(row.clone()));
                    self.records.push(row);
                }
                Output::Media(_) => {}
                Output::Tx(c) => {
                    unreachable!("a core without shards holds its transactions: {c:?}")
                }
            }
        }
        sent
    }

    /// Steps to `at` (seconds from t0), deadline by deadline.
    fn run_to(&mut self, at: u64) {
        let end = self.t0 + Duration::from_secs(at);
        for _ in 0..10_000 {
            match self.switch.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.switch.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
        self.switch.handle_timeout(self.now);
        self.drain();
    }

    fn command(&mut self, command: Command) {
        assert_eq!(
            self.switch.handle_command(self.now, command),
            Ok(Reply::Done)
        );
        self.drain();
    }

    fn offered_to_phone(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::CallOffered { .. }))
            .count()
    }
}

fn find(sent: &[(SocketAddr, Message)], addr: &str, pred: impl Fn(&Message) -> bool) -> Message {
    let addr: SocketAddr = addr.parse().unwrap();
    sent.iter()
        .find(|(a, m)| *a == addr && pred(m))
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("nothing to {addr} matched in {sent:?}"))
}

fn is(method: &'static str) -> impl Fn(&Message) -> bool {
    move |m: &Message| m.method().is_some_and(|x| x.as_str() == method)
}

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
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn response(req: &Message, status: u16, tag: &str, body: &str) -> String {
    let mut out = format!("SIP/2.0 {status} X\r\n");
    for via in req.header_all(&HeaderName::Via) {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    let to = match req.to().tag() {
        Some(_) => req.to().as_str().to_string(),
        None => format!("{};tag={tag}", req.to().as_str()),
    };
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {}\r\nContact: <sip:1001@{PHONE}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        req.from().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        body.len()
    ));
    out
}

fn register(sim: &mut Sim) {
    let aor = "<sip:1001@127.0.0.1:5060>";
    let reg = |cseq: u32, auth: &str| {
        request(
            "REGISTER",
            "sip:127.0.0.1:5060",
            &format!("{aor};tag=r1"),
            aor,
            "reg1",
            cseq,
            &format!("{PHONE};branch=z9hG4bKreg{cseq}"),
            &format!("Contact: <sip:1001@{PHONE}>\r\nExpires: 3600\r\n{auth}"),
            "",
        )
    };
    let sent = sim.send(PHONE, reg(1, ""));
    let challenge = find(&sent, PHONE, |m| m.status() == Some(401));
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let value = switchyard::sip::auth::answer_challenge(
        challenge.header(&HeaderName::WwwAuthenticate).unwrap(),
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1001",
        "pw-1001",
        1,
        &mut rng,
    )
    .unwrap();
    let sent = sim.send(PHONE, reg(2, &format!("Authorization: {value}\r\n")));
    find(&sent, PHONE, |m| m.status() == Some(200));
}

const URI: &str = "sip:5550200@127.0.0.1:5060";

fn from(n: u32) -> String {
    format!("<sip:+1555000{n}@10.0.0.1>;tag=c{n}")
}

/// Call `n` arrives from the carrier; returns what the switch sent.
fn arrive(sim: &mut Sim, n: u32) -> Vec<(SocketAddr, Message)> {
    let invite = request(
        "INVITE",
        URI,
        &from(n),
        &format!("<{URI}>"),
        &format!("call{n}"),
        1,
        &format!("{CARRIER};branch=z9hG4bKinv{n}"),
        &format!("Contact: <sip:c@{CARRIER}>\r\n"),
        SDP,
    );
    sim.send(CARRIER, invite)
}

/// The phone answers `offer`; the carrier ACKs. Returns the carrier's To.
fn answer(sim: &mut Sim, n: u32, offer: &Message) -> String {
    let sent = sim.send(PHONE, response(offer, 200, &format!("a{n}"), SDP));
    let ok = find(&sent, CARRIER, |m| m.status() == Some(200));
    let to = ok.to().as_str().to_string();
    let ack = request(
        "ACK",
        URI,
        &from(n),
        &to,
        &format!("call{n}"),
        1,
        &format!("{CARRIER};branch=z9hG4bKack{n}"),
        "",
        "",
    );
    sim.send(CARRIER, ack);
    to
}

/// The caller (CANCEL) gives up on call `n`.
fn cancel(sim: &mut Sim, n: u32) {
    let c = request(
        "CANCEL",
        URI,
        &from(n),
        &format!("<{URI}>"),
        &format!("call{n}"),
        1,
        &format!("{CARRIER};branch=z9hG4bKinv{n}"),
        "",
        "",
    );
    let sent = sim.send(CARRIER, c);
    find(&sent, CARRIER, |m| m.status() == Some(487));
    let ack = request(
        "ACK",
        URI,
        &from(n),
        &format!("<{URI}>;tag=x"),
        &format!("call{n}"),
        1,
        &format!("{CARRIER};branch=z9hG4bKinv{n}"),
        "",
        "",
    );
    sim.send(CARRIER, ack);
}

fn uuid_of(sim: &Sim, n: usize) -> CallUuid {
    sim.events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::CallArrived { call, .. } => Some(call),
            _ => None,
        })
        .nth(n - 1)
        .expect("the call arrived")
}

fn pause(sim: &mut Sim, reason: &str) {
    sim.command(Command::AgentPause {
        agent: "1001".into(),
        reason: reason.into(),
    });
}

fn resume(sim: &mut Sim) {
    sim.command(Command::AgentResume {
        agent: "1001".into(),
    });
}

/// Runs the hour of the table above.
fn hour() -> Sim {
    let mut sim = Sim::new();
    register(&mut sim);
    // Call 1: answered after 4 s, the caller hangs up after 60 s.
    let sent = arrive(&mut sim, 1);
    let offer = find(&sent, PHONE, is("INVITE"));
    sim.run_to(4);
    let to = answer(&mut sim, 1, &offer);
    sim.run_to(64);
    let bye = request(
        "BYE",
        URI,
        &from(1),
        &to,
        "call1",
        2,
        &format!("{CARRIER};branch=z9hG4bKbye1"),
        "",
        "",
    );
    let sent = sim.send(CARRIER, bye);
    let agent_bye = find(&sent, PHONE, is("BYE"));
    sim.send(PHONE, response(&agent_bye, 200, "a1", ""));

    // Call 2 arrives during the held wrap-up... no: at 600. First the
    // wrap-up waits for its code, past the plain 5 s.
    sim.run_to(74);
    let offers = sim.offered_to_phone();
    let call1 = uuid_of(&sim, 1);
    sim.command(Command::Disposition {
        call: call1,
        code: "sale".into(),
        note: Some("2 units".into()),
        agent: None,
    });

    sim.run_to(600);
    pause(&mut sim, "break");
    let sent = arrive(&mut sim, 2);
    assert!(
        sent.iter().all(|(_, m)| !is("INVITE")(m)),
        "a paused agent is not rung"
    );
    sim.run_to(630);
    resume(&mut sim);
    let sent = sim.drain();
    let _ = sent;
    assert_eq!(sim.offered_to_phone(), offers + 1);
    let offer = last_invite_to_phone(&mut sim);
    answer(&mut sim, 2, &offer);
    sim.run_to(750);
    // 1001 hangs up: a BYE in the agent's dialog.
    let to = format!("{};tag=a2", offer.to().as_str());
    let bye = request(
        "BYE",
        &format!("sip:switchyard@{}", "127.0.0.1:5060"),
        &to,
        offer.from().as_str(),
        offer.call_id(),
        2,
        &format!("{PHONE};branch=z9hG4bKabye2"),
        "",
        "",
    );
    let sent = sim.send(PHONE, bye);
    let carrier_bye = find(&sent, CARRIER, is("BYE"));
    sim.send(CARRIER, response(&carrier_bye, 200, "x", ""));
    // No code: the wrap-up runs to wrap_up_max (60 s).
    sim.run_to(1200);

    pause(&mut sim, "lunch");
    arrive(&mut sim, 3);
    sim.run_to(1240);
    cancel(&mut sim, 3);
    sim.run_to(1500);
    arrive(&mut sim, 4);
    sim.run_to(1503);
    cancel(&mut sim, 4);
    sim.run_to(1800);
    resume(&mut sim);
    sim.run_to(3600);
    sim
}

/// The INVITEs the switch sent since `last`, newest, from the event-free
/// transmit log: kept by re-reading the call's offer from the core.
fn last_invite_to_phone(sim: &mut Sim) -> Message {
    // The offer was sent while the resume command ran; `command` drained
    // it. Ask again by stepping: the INVITE retransmits at 500 ms (RFC 3261
    // Timer A), which is the request as first sent.
    let at = sim.now + Duration::from_millis(500);
    sim.now = at;
    sim.switch.handle_timeout(at);
    let sent = sim.drain();
    find(&sent, PHONE, is("INVITE"))
}

#[test]
fn a_simulated_hour_gives_the_report_figures_worked_out_by_hand() {
    let sim = hour();
    assert_eq!(sim.records.len(), 4, "{:#?}", sim.records);
    // Through the store, as the API reads them: the log fills in each
    // record's wrap-up and disposition.
    let dir = std::env::temp_dir().join(format!("switchyard-sim-reports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut store = CdrStore::open(&dir.join("cdr.sqlite")).unwrap();
    store.insert_store_rows(&sim.rows).unwrap();
    let window = Window {
        from_ms: WALL0_MS,
        to_ms: WALL0_MS + 3_600_000,
    };
    let (from, to) = (format_ms(window.from_ms), format_ms(window.to_ms));
    let records = store.records_between(&from, &to, 100).unwrap();
    let log = store.agent_events(&from, &to, 1000).unwrap();
    assert_eq!(log.len(), sim.log.len());
    let first = records
        .iter()
        .find(|r| r.call_uuid == Some(uuid_of(&sim, 1).to_string()))
        .unwrap();
    assert_eq!(first.disposition.as_deref(), Some("sale"));
    assert_eq!(first.disposition_note.as_deref(), Some("2 units"));
    assert_eq!(first.wrapup_ms, Some(10_000));
    let second = records
        .iter()
        .find(|r| r.call_uuid == Some(uuid_of(&sim, 2).to_string()))
        .unwrap();
    assert_eq!(second.disposition.as_deref(), Some("none"));
    assert_eq!(second.wrapup_ms, Some(60_000));
    assert_eq!(second.hung_up_by.as_deref(), Some("agent"));
    let abandoned = records
        .iter()
        .find(|r| r.call_uuid == Some(uuid_of(&sim, 3).to_string()))
        .unwrap();
    assert_eq!(abandoned.hung_up_by.as_deref(), Some("caller"));
    assert_eq!(abandoned.caller.as_deref(), Some("+15550003"));
    assert_eq!(abandoned.direction.as_deref(), Some("inbound"));
    assert!(abandoned.queue_entered_at.is_some() && abandoned.queue_left_at.is_some());
    let (records, log) = (records, log);
    let thresholds = HashMap::from([("support".to_string(), 20 * S)]);
    let queues = queue_report(&records, &log, window, None, &thresholds);
    assert_eq!(queues.len(), 1, "{queues:#?}");
    let q = &queues[0];
    assert_eq!(
        (q.offered, q.answered, q.abandoned, q.short_abandoned),
        (4, 2, 1, 1)
    );
    // Waits 4 s (within 20 s) and 30.5 s (the INVITE was re-read 500 ms
    // after the offer); one long abandon: 1 of 3.
    assert_eq!(q.service_level, Some(1.0 / 3.0));
    assert_eq!(q.asa_ms, Some((4_000 + 30_500) / 2));
    // Talk 60 s + wrap-up 10 s; talk 119.5 s + wrap-up 60 s.
    assert_eq!(q.aht_ms, Some((70_000 + 179_500) / 2));
    assert_eq!(q.longest_wait_ms, 40_000);

    let agents = agent_report(&records, &log, window);
    assert_eq!(agents.len(), 1);
    let a = &agents[0];
    assert_eq!(a.handled, 2);
    assert_eq!(a.talk_ms, 60_000 + 119_500);
    assert_eq!(a.wrapup_ms, 70_000);
    assert_eq!(a.logged_in_ms, 3_600_000);
    assert_eq!(a.pause_ms.get("break"), Some(&30_000));
    assert_eq!(a.pause_ms.get("lunch"), Some(&600_000));
    assert_eq!(a.occupancy, Some(249_500.0 / (3_600_000.0 - 630_000.0)));
    assert_eq!(a.calls_per_hour, Some(2.0));
    assert_eq!(a.dispositions.get("sale"), Some(&1));
    assert_eq!(a.dispositions.get("none"), Some(&1));
    // Four different callers, none called again.
    assert_eq!(q.fcr_24h, Some(1.0));
}

#[test]
fn a_held_wrap_up_offers_nothing_until_the_code_arrives() {
    let mut sim = Sim::new();
    register(&mut sim);
    let sent = arrive(&mut sim, 1);
    let offer = find(&sent, PHONE, is("INVITE"));
    let to = answer(&mut sim, 1, &offer);
    sim.run_to(10);
    let bye = request(
        "BYE",
        URI,
        &from(1),
        &to,
        "call1",
        2,
        &format!("{CARRIER};branch=z9hG4bKbye1"),
        "",
        "",
    );
    let sent = sim.send(CARRIER, bye);
    let agent_bye = find(&sent, PHONE, is("BYE"));
    sim.send(PHONE, response(&agent_bye, 200, "a1", ""));
    // A second caller waits through the plain wrap-up (5 s) and beyond.
    let sent = arrive(&mut sim, 2);
    assert!(sent
        .iter()
        .all(|(a, m)| a.to_string() != PHONE || !is("INVITE")(m)));
    let offers = sim.offered_to_phone();
    sim.run_to(50);
    assert_eq!(
        sim.offered_to_phone(),
        offers,
        "offered during a wrap-up that owes a code"
    );
    // A code outside the queue's list is refused and changes nothing.
    let call1 = uuid_of(&sim, 1);
    let bad = Command::Disposition {
        call: call1,
        code: "maybe".into(),
        note: None,
        agent: None,
    };
    assert!(sim.switch.handle_command(sim.now, bad).is_err());
    sim.drain();
    assert_eq!(sim.offered_to_phone(), offers);
    sim.command(Command::Disposition {
        call: call1,
        code: "no-sale".into(),
        note: None,
        agent: None,
    });
    assert_eq!(
        sim.offered_to_phone(),
        offers + 1,
        "the code frees the agent at once"
    );
    let coded: Vec<&str> = sim
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CallDisposition { call, code, .. } if *call == call1 => Some(code.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(coded, ["no-sale"]);
}
