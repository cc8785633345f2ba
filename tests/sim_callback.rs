//! Queued callback on the pure switch core, in virtual time: a caller
//! waiting in `support` presses 5 (SIP INFO), hears the confirmation and
//! is hung up; when an agent is free the agent's phone rings first
//! (shown "Callback" and the number), and the carrier is asked for the
//! number only after the agent's 200/ACK; the two are bridged and the
//! call leaves a `callback` record. The caller's place is kept (a caller
//! who came later waits behind the callback), a busy number is tried
//! again after `retry` until `attempts` run out, an agent who misses the
//! offer leaves it to the next one, a `callback` disposition with a time
//! calls the customer back then, and a restart (the store's changes
//! given to a new core) serves the callbacks in their order.

#![allow(clippy::disallowed_methods)]

mod sim_wire;

mod switch_rig;

use switch_rig::*;

const OTHER_AGENT: &str = "192.0.2.12:5070";
const CUSTOMER: &str = "10.0.0.1:5060";
/// The switch's wall clock at the start of each run.
const WALL0: Duration = Duration::from_secs(1_800_000_000);

fn config() -> String {
    format!(
        r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-first"

[[agents]]
id = "1001"
password = "pw-1001"
auto_login = true
skills = {{ support = 9 }}

[[agents]]
id = "1002"
password = "pw-1002"
auto_login = true
skills = {{ support = 4 }}

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.0/8"]
outbound = {{ address = "{TRUNK}", transport = "udp" }}

[dids]
"5550200" = {{ queue = "support" }}

[[queues]]
name = "support"
requires = "support:1"
strategy = "most-skilled"
ring_timeout = "8s"
wrap_up = "0s"
dispositions = ["sale", "callback"]
callback = {{ key = "5", attempts = 2, retry = "5m" }}

[media]
rtp_ports = "20000-20039"
rtp_address = "127.0.0.1"
"#
    )
}

impl Sim {
    fn usual() -> Sim {
        Sim::with(&config())
    }

    fn with(config: &str) -> Sim {
        Sim::bare_at(config, WALL0)
    }

    /// The carrier brings a call from `number` to the queue's DID; returns
    /// the switch's provisional answer (its To tag opens the early dialog).
    fn call_in(&mut self, n: u32, number: &str) -> Message {
        let sdp = sim_wire::sdp(4000 + n as u16 * 2);
        self.send(
            CUSTOMER,
            format!(
                "INVITE sip:5550200@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER};branch=z9hG4bKq{n}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{number}@10.0.0.1>;tag=c{n}\r\nTo: <sip:5550200@127.0.0.1>\r\n\
                 Call-ID: queued-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{CUSTOMER}>\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ),
        );
        let provisional = self.take(CUSTOMER, "a provisional with a tag", |m| {
            m.call_id() == format!("queued-{n}")
                && m.status().is_some_and(|s| (101..200).contains(&s))
                && m.to().tag().is_some()
        });
        self.forget(CUSTOMER);
        provisional
    }

    /// The caller of call `n` presses `digit` (SIP INFO in the early dialog).
    fn press(&mut self, n: u32, provisional: &Message, number: &str, digit: char) {
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        self.send(
            CUSTOMER,
            format!(
                "INFO sip:5550200@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER};branch=z9hG4bKinfo{n}{digit}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{number}@10.0.0.1>;tag=c{n}\r\nTo: {}\r\n\
                 Call-ID: queued-{n}\r\nCSeq: 2 INFO\r\nContact: <sip:c@{CUSTOMER}>\r\n\
                 Content-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
                provisional.to().as_str(),
                body.len()
            ),
        );
        self.take(CUSTOMER, "200 to the INFO", |m| {
            m.status() == Some(200) && m.cseq().method == Method::Info
        });
    }

    /// The caller of call `n` takes the callback: INFO 5, the confirmation,
    /// and the hang-up after it.
    fn take_callback(&mut self, n: u32, provisional: &Message, number: &str) {
        self.press(n, provisional, number, '5');
        assert!(
            self.media
                .iter()
                .any(|c| matches!(c, MediaCommand::Play { intro, .. }
                if intro == &vec!["callback_confirmed".to_string()])),
            "the confirmation plays: {:?}",
            self.media
        );
        let final_status = |m: &Message| {
            m.call_id() == format!("queued-{n}") && m.status().is_some_and(|s| s >= 300)
        };
        assert!(
            !self.outbox.iter().any(|(_, m)| final_status(m)),
            "not hung up before the confirmation played"
        );
        self.advance(Duration::from_secs(5));
        let end = self.take(CUSTOMER, "the caller's hang-up", final_status);
        assert_eq!(end.status(), Some(480));
        self.forget(CUSTOMER);
    }

    /// The agent at `phone` answers the switch's INVITE (and gets the ACK).
    fn agent_answers(&mut self, phone: &str) -> Message {
        let invite = self.take_request(phone, Method::Invite);
        self.answer(phone, &invite, 200, &sim_wire::sdp(4100));
        self.take_request(phone, Method::Ack);
        invite
    }
}

/// The agent's INVITE shows the callback: "Callback" and the number.
fn assert_shows_callback(invite: &Message, number: &str) {
    assert_eq!(invite.from().display_name(), Some("Callback"), "{invite:?}");
    assert_eq!(invite.from().uri().user(), Some(number));
}

#[test]
fn the_caller_presses_the_key_is_hung_up_and_the_agent_is_rung_before_the_number() {
    let mut sim = Sim::usual();
    let first = sim.call_in(1, "5550001");
    // The queue's announcement offers the callback.
    assert!(
        sim.media
            .iter()
            .any(|c| matches!(c, MediaCommand::Play { intro, .. }
            if intro.last().map(String::as_str) == Some("callback_offer"))),
        "{:?}",
        sim.media
    );
    sim.advance(Duration::from_secs(10));
    let second = sim.call_in(2, "5550002");
    sim.take_callback(1, &first, "5550001");
    let caller = sim.records.remove(0);
    assert_eq!(caller.outcome, Outcome::Operator);
    assert_eq!(caller.queue.as_deref(), Some("support"));
    assert_eq!(sim.switch.callbacks_pending(), 1);
    assert_eq!(sim.switch.callback_stats().requested, 1);
    assert!(sim.events.iter().any(|e| matches!(e,
        EventKind::CallbackRequested { call, queue, due_ms: None, .. }
            if *call == caller.uuid && queue == "support")));
    // The callback keeps the caller's place: still first of two waiting.
    assert_eq!(sim.switch.queue_figures(sim.now)[0].waiting, 2);

    // An agent comes: the callback (first in line) rings them, not caller 2.
    sim.register("1001", AGENT);
    let invite = sim.take_request(AGENT, Method::Invite);
    assert_shows_callback(&invite, "5550001");
    assert_eq!(
        sim.invites_to(TRUNK),
        0,
        "no number before the agent answers"
    );
    sim.answer(AGENT, &invite, 180, "");
    assert_eq!(
        sim.invites_to(TRUNK),
        0,
        "a ringing agent dials nothing yet"
    );
    sim.answer(AGENT, &invite, 200, &sim_wire::sdp(4100));
    sim.take_request(AGENT, Method::Ack);
    let out = sim.take_request(TRUNK, Method::Invite);
    assert_eq!(
        out.request_uri().unwrap().as_str(),
        format!("sip:5550001@{TRUNK}")
    );
    assert_eq!(sim.agent_state("1001"), "on_call");
    sim.answer(TRUNK, &out, 200, &sim_wire::sdp(6000));
    sim.take_request(TRUNK, Method::Ack);
    assert!(sim
        .media
        .iter()
        .any(|c| matches!(c, MediaCommand::Bridge { .. })));
    assert_eq!(sim.records.len(), 0, "talking");
    // Caller 2 still waits behind: nobody else is free.
    assert_eq!(sim.switch.queue_figures(sim.now)[0].waiting, 1);

    sim.advance(Duration::from_secs(30));
    let bye = format!(
        "BYE sip:switch@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKbye1\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        tagged_to(&out),
        out.from().as_str(),
        out.call_id()
    );
    sim.send(TRUNK, bye);
    sim.take_status(TRUNK, 200);
    let agent_bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &agent_bye, 200, "");
    let record = sim.records.remove(0);
    assert_eq!(record.detail.direction, Direction::Callback);
    assert_eq!(record.dialled, "5550001");
    assert_eq!(record.queue.as_deref(), Some("support"));
    assert_eq!(record.agent.as_deref(), Some("1001"));
    assert_eq!(record.trunk.as_deref(), Some("carrier"));
    assert!(
        matches!(record.outcome, Outcome::Completed { .. }),
        "{:?}",
        record.outcome
    );
    assert_eq!(record.talk, Duration::from_secs(30));
    assert_eq!(sim.switch.callbacks_pending(), 0);
    assert_eq!(sim.switch.callback_stats().completed, 1);
    assert!(sim.events.iter().any(|e| matches!(
        e,
        EventKind::CallbackDone {
            completed: true,
            attempts: 1,
            ..
        }
    )));
    assert!(
        sim.store.is_empty(),
        "a completed callback leaves the store"
    );

    // Free again: caller 2 is next.
    let next = sim.take_request(AGENT, Method::Invite);
    assert_eq!(next.from().uri().user(), Some("5550002"));
    assert_ne!(next.from().display_name(), Some("Callback"));
    drop(second);
}

/// The To of our INVITE as the far end answered it (with its tag).
fn tagged_to(out: &Message) -> String {
    format!(
        "{};tag={}",
        out.to().as_str(),
        TRUNK.replace(['.', ':'], "")
    )
}

#[test]
fn a_busy_number_is_tried_again_after_retry_until_the_attempts_run_out() {
    let mut sim = Sim::usual();
    let first = sim.call_in(1, "5550001");
    sim.take_callback(1, &first, "5550001");
    sim.records.clear();
    sim.register("1001", AGENT);
    for attempt in 1..=2u32 {
        let invite = sim.agent_answers(AGENT);
        assert_shows_callback(&invite, "5550001");
        let out = sim.take_request(TRUNK, Method::Invite);
        sim.answer(TRUNK, &out, 486, "");
        sim.take_request(TRUNK, Method::Ack);
        let bye = sim.take_request(AGENT, Method::Bye);
        sim.answer(AGENT, &bye, 200, "");
        let record = sim.records.remove(0);
        assert_eq!(record.outcome, Outcome::Busy, "try {attempt}");
        assert_eq!(record.detail.direction, Direction::Callback);
        if attempt == 2 {
            break;
        }
        assert_eq!(sim.store.values().next().unwrap().attempts, 1);
        assert_eq!(sim.agent_state("1001"), "available");
        // Not before `retry`.
        sim.advance(Duration::from_secs(299));
        assert_eq!(sim.invites_to(AGENT), 0, "{:#?}", sim.outbox);
        sim.advance(Duration::from_secs(1));
    }
    assert_eq!(sim.switch.callbacks_pending(), 0);
    assert_eq!(sim.switch.callback_stats().failed, 1);
    assert!(sim.store.is_empty());
    sim.advance(Duration::from_secs(3600));
    assert_eq!(sim.invites_to(AGENT), 0, "given up after two tries");
}

#[test]
fn an_agent_who_declines_leaves_the_callback_to_the_next_agent() {
    let mut sim = Sim::usual();
    let first = sim.call_in(1, "5550001");
    sim.take_callback(1, &first, "5550001");
    sim.register("1002", OTHER_AGENT);
    sim.register("1001", AGENT);
    // The router offered the callback to 1002 first (the only one then).
    let invite = sim.take_request(OTHER_AGENT, Method::Invite);
    assert_shows_callback(&invite, "5550001");
    sim.answer(OTHER_AGENT, &invite, 603, "");
    sim.take_request(OTHER_AGENT, Method::Ack);
    assert_eq!(sim.invites_to(TRUNK), 0);
    let again = sim.agent_answers(AGENT);
    assert_shows_callback(&again, "5550001");
    sim.take_request(TRUNK, Method::Invite);
    let missed = &sim.records[1];
    assert_eq!(missed.outcome, Outcome::AgentRejected(603));
    assert_eq!(sim.switch.callbacks_pending(), 1);
}

#[test]
fn a_key_from_a_caller_with_no_number_changes_nothing() {
    let mut sim = Sim::usual();
    let first = sim.call_in(1, "anonymous");
    sim.press(1, &first, "anonymous", '5');
    sim.advance(Duration::from_secs(10));
    assert!(sim.records.is_empty(), "still waiting");
    assert_eq!(sim.switch.callbacks_pending(), 0);
    assert_eq!(sim.switch.callback_stats().refused, 1);
    // Nor does one whose number no agent may dial (the demo rules refuse `+`).
    let intl = sim.call_in(3, "+445550003");
    sim.press(3, &intl, "+445550003", '5');
    assert_eq!(sim.switch.callback_stats().refused, 2);
    assert_eq!(sim.switch.callbacks_pending(), 0);
    // Another key is just a digit.
    let first2 = sim.call_in(2, "5550002");
    sim.press(2, &first2, "5550002", '4');
    assert_eq!(sim.switch.callbacks_pending(), 0);
    sim.register("1001", AGENT);
    let invite = sim.take_request(AGENT, Method::Invite);
    assert_eq!(invite.from().uri().user(), Some("anonymous"));
}

#[test]
fn a_callback_disposition_calls_the_customer_back_at_its_time() {
    let mut sim = Sim::usual();
    sim.register("1001", AGENT);
    sim.call_in(1, "5550003");
    sim.agent_answers(AGENT);
    let ok = sim.take(CUSTOMER, "200", |m| m.status() == Some(200));
    let call: CallUuid = sim
        .events
        .iter()
        .find_map(|e| e.call())
        .expect("the call's id");
    // The customer hangs up.
    let ack = format!(
        "ACK sip:switch@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER};branch=z9hG4bKack1\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: queued-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        ok.from().as_str(),
        ok.to().as_str()
    );
    sim.send(CUSTOMER, ack);
    let bye = format!(
        "BYE sip:switch@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER};branch=z9hG4bKbye1\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: queued-1\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
        ok.from().as_str(),
        ok.to().as_str()
    );
    sim.send(CUSTOMER, bye);
    let agent_bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &agent_bye, 200, "");
    sim.forget(CUSTOMER);
    let dispose = Command::Disposition {
        call,
        code: "callback".into(),
        note: None,
        agent: None,
    };
    assert_eq!(sim.switch.handle_command(sim.now, dispose), Ok(Reply::Done));
    // Half an hour on (the agent's registration lasts an hour).
    let at_ms = sim.wall_ms() + 30 * 60 * 1000;
    let schedule = Command::ScheduleCallback {
        call,
        at_ms,
        agent: None,
    };
    assert_eq!(
        sim.switch.handle_command(sim.now, schedule),
        Ok(Reply::Done)
    );
    sim.drain();
    let stored = sim.store.values().next().expect("stored").clone();
    assert_eq!(stored.number, "5550003");
    assert_eq!(stored.due, Some(Duration::from_millis(at_ms)));
    sim.advance(Duration::from_secs(30 * 60 - 60));
    assert_eq!(sim.invites_to(AGENT), 0, "not before its time");
    sim.advance(Duration::from_secs(60));
    let invite = sim.agent_answers(AGENT);
    assert_shows_callback(&invite, "5550003");
    let out = sim.take_request(TRUNK, Method::Invite);
    assert_eq!(out.request_uri().unwrap().user(), Some("5550003"));

    // A time on a call nobody wrapped up is refused.
    let unknown = Command::ScheduleCallback {
        call: "01900000-0000-7000-8000-000000000007".parse().unwrap(),
        at_ms,
        agent: None,
    };
    assert!(sim.switch.handle_command(sim.now, unknown).is_err());
}

#[test]
fn a_restart_serves_the_stored_callbacks_in_their_order() {
    let mut sim = Sim::usual();
    let first = sim.call_in(1, "5550001");
    sim.advance(Duration::from_secs(20));
    let second = sim.call_in(2, "5550002");
    sim.advance(Duration::from_secs(20));
    // The later caller asks first; the earlier one after.
    sim.take_callback(2, &second, "5550002");
    sim.take_callback(1, &first, "5550001");
    assert_eq!(sim.store.len(), 2);
    let stored: Vec<_> = sim.store.clone().into_iter().collect();

    // A new core on the same store, an hour later.
    let mut restarted = Sim::usual();
    let later = UNIX_EPOCH + WALL0 + Duration::from_secs(3600);
    restarted.switch.set_wall_clock(restarted.now, later);
    restarted.switch.restore_callbacks(restarted.now, stored);
    restarted.drain();
    assert_eq!(restarted.switch.callbacks_pending(), 2);
    restarted.register("1001", AGENT);
    let invite = restarted.agent_answers(AGENT);
    assert_shows_callback(&invite, "5550001");
    let out = restarted.take_request(TRUNK, Method::Invite);
    restarted.answer(TRUNK, &out, 486, "");
    restarted.take_request(TRUNK, Method::Ack);
    let bye = restarted.take_request(AGENT, Method::Bye);
    restarted.answer(AGENT, &bye, 200, "");
    // The second caller's callback is next.
    let invite = restarted.agent_answers(AGENT);
    assert_shows_callback(&invite, "5550002");
}

#[test]
fn erasing_the_caller_forgets_their_pending_callback() {
    let mut sim = Sim::usual();
    let first = sim.call_in(1, "5550001");
    sim.take_callback(1, &first, "5550001");
    assert_eq!(sim.store.len(), 1);
    let erase = Command::EraseCallbacks {
        number: "+5550001".into(),
    };
    assert_eq!(sim.switch.handle_command(sim.now, erase), Ok(Reply::Done));
    sim.drain();
    assert_eq!(sim.switch.callbacks_pending(), 0);
    assert!(sim.store.is_empty());
    assert_eq!(sim.switch.queue_figures(sim.now)[0].waiting, 0);
    sim.register("1001", AGENT);
    sim.advance(Duration::from_secs(600));
    assert_eq!(sim.invites_to(AGENT), 0, "{:#?}", sim.outbox);
}

#[test]
fn a_callback_past_max_wait_comes_back_after_retry_without_spending_a_try() {
    let config = config().replace(
        "wrap_up = \"0s\"\n",
        "wrap_up = \"0s\"\nmax_wait = \"1m\"\n",
    );
    let mut sim = Sim::with(&config);
    let first = sim.call_in(1, "5550001");
    sim.take_callback(1, &first, "5550001");
    // Nobody comes for a minute: the queue lets the entry go (busy).
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.switch.queue_figures(sim.now)[0].waiting, 0);
    assert_eq!(sim.switch.callbacks_pending(), 1);
    let stored = sim.store.values().next().unwrap().clone();
    assert_eq!(stored.attempts, 0, "no try spent");
    assert!(stored.due.is_some(), "back after its retry");
    sim.register("1001", AGENT);
    sim.advance(Duration::from_secs(200));
    assert_eq!(sim.invites_to(AGENT), 0, "not before its retry time");
    // The overflow came at 60 s from the call's arrival; `retry` is 5 m.
    sim.advance(Duration::from_secs(100));
    let invite = sim.agent_answers(AGENT);
    assert_shows_callback(&invite, "5550001");
}
