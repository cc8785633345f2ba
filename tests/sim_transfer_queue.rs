//! Blind transfer into a queue and a failed transfer's fallback, decided
//! by the pure switch core in virtual time: a caller transferred into a
//! queue keeps its place by waiting time since it reached the switch and
//! waits at least at the queue's `transfer_priority`; a target that
//! refuses sends the call to its queue's `transfer_fallback` (another
//! queue, or a prompt and then hang-up), logged with the call id.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

mod sim_wire;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sim_wire::{
    ack_requests, drain, final_status, peer, reply, request, requests, sdp, with_auth, Out,
};
use switchyard::call::CallRef;
use switchyard::config::Config;
use switchyard::sip::parse::Message;
use switchyard::switch::{MediaCommand, MediaLeg, Plan, Switch};

const BASE: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-only"
no_answer_timeout = "20s"

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]

[media]
rtp_ports = "20000-20039"
rtp_address = "127.0.0.1"
"#;

/// 1001 answers its DID and transfers; 1002 serves `sales` and `vip`.
const QUEUES: &str = r#"
[[agents]]
id = "1001"
password = "pw-1001"

[[agents]]
id = "1002"
password = "pw-1002"
auto_login = true
skills = { sales = 5 }

[dids]
"5550100" = { agent = "1001" }
"5550200" = { queue = "sales" }
"5550300" = { queue = "vip" }

[[queues]]
name = "sales"
requires = "sales:1"
wrap_up = "1s"

[[queues]]
name = "vip"
requires = "sales:1"
wrap_up = "1s"
transfer_priority = 5
"#;

/// 1001 serves `support` and `desk`; 1002 refuses transfers; 1003 serves
/// `backup`, where `support`'s failed transfers go.
const FALLBACKS: &str = r#"
[[agents]]
id = "1001"
password = "pw-1001"
auto_login = true
skills = { support = 5 }

[[agents]]
id = "1002"
password = "pw-1002"

[[agents]]
id = "1003"
password = "pw-1003"
auto_login = true
skills = { backup = 5 }

[dids]
"5550200" = { queue = "support" }
"5550400" = { queue = "desk" }

[[queues]]
name = "support"
requires = "support:1"
transfer_fallback = "queue:backup"

[[queues]]
name = "backup"
requires = "backup:1"

[[queues]]
name = "desk"
requires = "support:1"
transfer_fallback = "prompt:closed"
transfer_fallback_hangup = "3s"
"#;

const CARRIER: &str = "10.0.0.1:5060";
const A1001: &str = "10.0.0.21:5060";
const A1002: &str = "10.0.0.22:5060";
const A1003: &str = "10.0.0.23:5060";

fn switch_with(plan: &str, agents: &[(&str, &str)], t0: Instant) -> Switch {
    let cfg = Config::parse(&format!("{BASE}{plan}"), Path::new("xfer.toml")).unwrap();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
    for (user, addr) in agents {
        let id = format!("reg{user}");
        let out = with_auth(
            &mut switch,
            t0,
            "REGISTER",
            "sip:127.0.0.1:5060",
            user,
            addr,
            &id,
            "",
        );
        assert_eq!(final_status(&out), Some(200), "{user} registers");
    }
    switch
}

/// The carrier calls `did` from `number` with Call-ID `call_id`.
fn call_in(switch: &mut Switch, now: Instant, did: &str, number: &str, call_id: &str) -> Out {
    let to = format!("<sip:{did}@127.0.0.1>");
    let uri = format!("sip:{did}@127.0.0.1:5060");
    let invite = request(
        "INVITE",
        &uri,
        number,
        CARRIER,
        call_id,
        1,
        &to,
        "",
        &sdp(4000),
    );
    switch.handle_datagram(now, peer(CARRIER), invite);
    drain(switch)
}

fn invite_to(out: &Out, addr: &str) -> Option<Message> {
    requests(out, addr, "INVITE").into_iter().next().cloned()
}

/// The agent at `addr` answers the switch's `offer`.
fn answer(switch: &mut Switch, now: Instant, offer: &Message, addr: &str) -> Out {
    switch.handle_datagram(now, peer(addr), reply(offer, 200, "ans", addr, &sdp(4100)));
    let out = drain(switch);
    ack_requests(switch, now, &out);
    // The caller ACKs its 200 (a transfer's new callee sends none): the call is talking.
    let ok = out
        .sip
        .iter()
        .find(|(a, m)| a.to_string() == CARRIER && m.status() == Some(200))
        .map(|(_, m)| m.clone());
    let Some(ok) = ok else {
        return out;
    };
    let ack = request(
        "ACK",
        "sip:switchyard@127.0.0.1:5060",
        "x",
        CARRIER,
        ok.call_id(),
        1,
        ok.to().as_str(),
        "",
        "",
    );
    switch.handle_datagram(now, peer(CARRIER), ack);
    drain(switch);
    out
}

/// A request from the phone at `addr` in the dialog `offer` formed.
fn in_dialog(method: &str, addr: &str, offer: &Message, cseq: u32, extra: &str) -> Bytes {
    // A branch of its own for each request (two REFERs from one phone).
    static BRANCHES: AtomicU32 = AtomicU32::new(0);
    let n = BRANCHES.fetch_add(1, Ordering::Relaxed);
    Bytes::from(format!(
        "{method} sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKp{n}{method}\r\n\
         Max-Forwards: 70\r\nFrom: {};tag=ans\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:x@{addr}>\r\n{extra}Content-Length: 0\r\n\r\n",
        offer.to().as_str(),
        offer.from().as_str(),
        offer.call_id(),
    ))
}

/// The agent at `addr` blind-transfers the call of its dialog `offer`.
fn refer(switch: &mut Switch, now: Instant, addr: &str, offer: &Message, to: &str) -> Out {
    let refer_to = format!("Refer-To: <sip:{to}@127.0.0.1:5060>\r\n");
    switch.handle_datagram(
        now,
        peer(addr),
        in_dialog("REFER", addr, offer, 2, &refer_to),
    );
    let out = drain(switch);
    ack_requests(switch, now, &out);
    out
}

fn from_number(m: &Message) -> String {
    m.from().as_str().to_string()
}

/// 1002 talks to a queue caller; `other` (from +15550003) joins `queue_did`
/// at `other_at` ms; the call 1001 answered at 10 ms (from +15550001) is
/// transferred to `transfer_did` at 1 s. When 1002 is free again, whom is
/// it offered first?
fn first_served(other_did: &str, other_at: u64, transfer_did: &str) -> String {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut switch = switch_with(QUEUES, &[("1001", A1001), ("1002", A1002)], t0);
    // 1002 gets busy with a queue caller first.
    let out = call_in(&mut switch, at(1), "5550200", "+15550002", "call-2");
    let busy = invite_to(&out, A1002).expect("1002 is offered call-2");
    answer(&mut switch, at(2), &busy, A1002);
    let mut other = None;
    if other_at < 10 {
        let out = call_in(&mut switch, at(other_at), other_did, "+15550003", "call-3");
        assert!(invite_to(&out, A1002).is_none(), "1002 is busy");
        other = Some(out);
    }
    let out = call_in(&mut switch, at(10), "5550100", "+15550001", "call-1");
    let offer = invite_to(&out, A1001).expect("1001 is offered call-1");
    answer(&mut switch, at(20), &offer, A1001);
    if other.is_none() {
        let out = call_in(&mut switch, at(other_at), other_did, "+15550003", "call-3");
        assert!(invite_to(&out, A1002).is_none(), "1002 is busy");
    }
    let out = refer(&mut switch, at(1_000), A1001, &offer, transfer_did);
    assert_eq!(requests(&out, A1001, "BYE").len(), 1, "1001 is released");
    assert!(invite_to(&out, A1002).is_none(), "1002 is still busy");
    // 1002 hangs up call-2; after its 1 s wrap-up the next caller rings.
    switch.handle_datagram(
        at(2_000),
        peer(A1002),
        in_dialog("BYE", A1002, &busy, 3, ""),
    );
    let out = drain(&mut switch);
    ack_requests(&mut switch, at(2_000), &out);
    assert!(invite_to(&out, A1002).is_none(), "1002 wraps up first");
    switch.handle_timeout(at(3_100));
    let out = drain(&mut switch);
    let next = invite_to(&out, A1002).expect("1002 is offered the next caller");
    from_number(&next)
}

#[test]
fn a_caller_transferred_into_a_queue_keeps_its_arrival_time() {
    let served = first_served("5550200", 600, "5550200");
    assert!(
        served.contains("+15550001"),
        "the transferred caller (arrived at 10 ms) goes before one who arrived at 600 ms: {served}"
    );
    // Without a raised priority, a caller who arrived earlier still goes first.
    let served = first_served("5550200", 5, "5550200");
    assert!(served.contains("+15550003"), "{served}");
}

#[test]
fn transfer_priority_puts_a_transferred_caller_before_an_older_one() {
    let served = first_served("5550300", 5, "5550300");
    assert!(
        served.contains("+15550001"),
        "vip's transfer_priority = 5 beats a caller waiting since 5 ms at priority 0: {served}"
    );
}

/// A queue caller of `did` answered by 1001 is transferred to 1002, who
/// answers 486. The output after the refusal.
fn refused_transfer(switch: &mut Switch, t0: Instant, did: &str) -> Out {
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let out = call_in(switch, at(10), did, "+15550001", "call-1");
    let offer = invite_to(&out, A1001).expect("1001 is offered the call");
    answer(switch, at(20), &offer, A1001);
    let out = refer(switch, at(1_000), A1001, &offer, "1002");
    let ring = invite_to(&out, A1002).expect("1002 rings");
    switch.handle_datagram(at(1_100), peer(A1002), reply(&ring, 486, "busy", A1002, ""));
    drain(switch)
}

#[test]
fn a_refused_transfer_goes_to_the_queues_fallback_queue_and_is_logged() {
    let logs = captured_logs();
    let t0 = Instant::now();
    let agents = [("1001", A1001), ("1002", A1002), ("1003", A1003)];
    let mut switch = switch_with(FALLBACKS, &agents, t0);
    let out = refused_transfer(&mut switch, t0, "5550200");
    assert!(invite_to(&out, A1001).is_none(), "not back to 1001");
    let offer = invite_to(&out, A1003).expect("backup's 1003 is offered the call");
    assert!(from_number(&offer).contains("+15550001"));
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("transfer fallback: the call goes to the fallback queue"))
        .expect("the fallback is logged");
    assert!(
        line.contains("call=c1") && line.contains("backup"),
        "{line}"
    );
}

#[test]
fn a_refused_transfer_plays_the_fallback_prompt_then_hangs_up() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let agents = [("1001", A1001), ("1002", A1002)];
    let mut switch = switch_with(FALLBACKS, &agents, t0);
    let out = refused_transfer(&mut switch, t0, "5550400");
    assert!(invite_to(&out, A1001).is_none(), "not back to 1001");
    let call = CallRef(1);
    assert!(
        out.media.iter().any(|c| matches!(c,
            MediaCommand::Play { call: c, leg: MediaLeg::Caller, intro, music }
                if *c == call && intro == &["closed"] && music.is_empty())),
        "{:?}",
        out.media
    );
    assert!(
        requests(&out, CARRIER, "BYE").is_empty(),
        "not before the prompt"
    );
    // transfer_fallback_hangup = 3 s after the refusal at 1.1 s.
    switch.handle_timeout(at(4_000));
    assert!(requests(&drain(&mut switch), CARRIER, "BYE").is_empty());
    switch.handle_timeout(at(4_100));
    let out = drain(&mut switch);
    assert_eq!(
        requests(&out, CARRIER, "BYE").len(),
        1,
        "the caller is hung up"
    );
    ack_requests(&mut switch, at(4_200), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].detail.transfers, vec!["1002".to_string()]);
}

/// The sipfrag lines of the NOTIFYs to `addr`.
fn notifies(out: &Out, addr: &str) -> Vec<String> {
    requests(out, addr, "NOTIFY")
        .into_iter()
        .map(|m| String::from_utf8_lossy(m.body()).trim().to_string())
        .collect()
}

#[test]
fn a_transfer_loop_is_stopped_with_482_and_the_call_stays_with_the_agent() {
    let logs = captured_logs();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // The key goes into [switch]: BASE's first table.
    let text = BASE.replace(
        "no_answer_timeout",
        "transfer_loop_max = 1\nno_answer_timeout",
    );
    let cfg = Config::parse(&format!("{text}{QUEUES}"), Path::new("xfer.toml")).unwrap();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
    for (user, addr) in [("1001", A1001), ("1002", A1002)] {
        let id = format!("reg{user}");
        let out = with_auth(
            &mut switch,
            t0,
            "REGISTER",
            "sip:127.0.0.1:5060",
            user,
            addr,
            &id,
            "",
        );
        assert_eq!(final_status(&out), Some(200));
    }
    let out = call_in(&mut switch, at(10), "5550100", "+15550001", "call-1");
    let offer = invite_to(&out, A1001).expect("1001 is offered the call");
    answer(&mut switch, at(20), &offer, A1001);
    // 1001 -> 1002, then back to 1001: one return, as allowed.
    let out = refer(&mut switch, at(1_000), A1001, &offer, "1002");
    let offer = invite_to(&out, A1002).expect("1002 rings");
    answer(&mut switch, at(1_100), &offer, A1002);
    let out = refer(&mut switch, at(2_000), A1002, &offer, "1001");
    assert_eq!(
        notifies(&out, A1002).last().map(String::as_str),
        Some("SIP/2.0 200 OK")
    );
    let offer = invite_to(&out, A1001).expect("1001 rings again");
    answer(&mut switch, at(2_100), &offer, A1001);
    // 1001 -> 1002 again: a second return is a loop.
    let out = refer(&mut switch, at(3_000), A1001, &offer, "1002");
    let status = out
        .sip
        .iter()
        .find_map(|(a, m)| (a.to_string() == A1001).then(|| m.status()).flatten());
    assert_eq!(status, Some(202));
    assert_eq!(
        notifies(&out, A1001),
        ["SIP/2.0 100 Trying", "SIP/2.0 482 Loop Detected"]
    );
    assert!(
        requests(&out, A1001, "BYE").is_empty(),
        "1001 keeps the call"
    );
    assert!(invite_to(&out, A1002).is_none(), "1002 is not rung");
    assert!(out.media.is_empty(), "the media is untouched");
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("transfer loop stopped"))
        .expect("the loop is logged");
    assert!(line.contains("call=c1") && line.contains("1002"), "{line}");
    // The call still talks: 1001 hangs up, one record with two transfers.
    switch.handle_datagram(
        at(4_000),
        peer(A1001),
        in_dialog("BYE", A1001, &offer, 3, ""),
    );
    let out = drain(&mut switch);
    ack_requests(&mut switch, at(4_000), &out);
    let out = drain(&mut switch);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].agent.as_deref(), Some("1001"));
    assert_eq!(out.records[0].detail.transfers, ["1002", "1001"]);
}

fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .init();
        logs
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
