//! Call records and the agent event log on the wire (issue 12): after real
//! SIPp calls of each kind (an answered queue call with a missed ring, an
//! abandoned one, one that overflows to another queue and one that times
//! out, a direct DID call, an agent dialling out through the trunk, an
//! agent calling another agent, a call to an unknown number, an IVR call)
//! each test reads the switch's SQLite store and checks every field of the
//! record and the log lines of the call (and, for the answered call, the
//! reports API). `*49<n>` from the phone, or the API, gives a held
//! wrap-up its disposition. A new call refused for too many hops or for want of room
//! leaves a record; garbage and unproven senders none. Each test runs its
//! own switch.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use support::api::VIEWER;
use support::scenarios::*;
use support::{
    free_port_block, free_udp_port, sipp_feature, sipp_register, Phone, Sipp, SwitchProc,
    EVENT_TIMEOUT,
};
use switchyard::ops::cdr::{AgentEventRow, CdrRow, CdrStore};

/// The caller every carrier scenario sends (From of `carrier.xml`).
const CALLER: &str = "+15551234567";
const CALLER_NAME: &str = "Customer";
const TRUNK: &str = "demo-carrier";
/// Parts of a wait, each cut to whole milliseconds, may sum past the
/// whole by this much.
const ROUNDING_MS: u64 = 2;

/// A centre: 1001 and 1002 take support (1001 is the more skilled), 1002
/// and 1003 sales; 1003 alone has `loans`, whose callers overflow to
/// sales after 2 s; nobody has `night`, whose callers are sent busy after
/// 1 s. Support holds each wrap-up for a disposition. The trunk's
/// outbound side is `far_end`. Nobody is paused for missed offers.
fn config(far_end: u16) -> String {
    format!(
        r#"
[switch]
sip_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
realm = "switchyard-test"
digest_challenge = "md5-first"
cdr_path = "cdr.sqlite"
no_answer_timeout = "10s"

[[agents]]
id = "1001"
password = "demo-1001"
auto_login = true
max_no_answer = 0
skills = {{ support = 9 }}

[[agents]]
id = "1002"
password = "demo-1002"
auto_login = true
max_no_answer = 0
skills = {{ support = 4, sales = 6 }}

[[agents]]
id = "1003"
password = "demo-1003"
auto_login = true
max_no_answer = 0
skills = {{ sales = 7, loans = 5, night = 1 }}

[[trunks]]
name = "{TRUNK}"
allow_from = ["127.0.0.1"]
outbound = {{ address = "127.0.0.1:{far_end}", transport = "udp" }}

[dids]
"5550100" = {{ agent = "1001" }}
"5550200" = {{ queue = "support" }}
"5550300" = {{ queue = "sales" }}
"5550500" = {{ queue = "loans" }}
"5550600" = {{ queue = "night" }}

[[queues]]
name = "support"
requires = "support:1"
strategy = "most-skilled"
ring_timeout = "2s"
wrap_up = "0s"
dispositions = ["sale", "no-sale", "callback"]
disposition_required = true
wrap_up_max = "60s"

[[queues]]
name = "sales"
requires = "sales:1"
ring_timeout = "5s"
wrap_up = "0s"

[[queues]]
name = "loans"
requires = "loans:1"
max_wait = "2s"
overflow = "queue:sales"

[[queues]]
name = "night"
requires = "night:1"
max_wait = "1s"
overflow = "busy"
{}"#,
        support::api::api_section(8)
    )
}

/// The centre with media anchored and the IVR menu of the demo on 5550400.
fn ivr_config(lo: u16) -> String {
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let base =
        config(free_udp_port()).replace("[dids]\n", "[dids]\n\"5550400\" = { menu = \"main\" }\n");
    format!(
        "{base}\n[[menus]]\nname = \"main\"\nprompt = \"menu_main\"\n\
         options = {{ \"1\" = \"queue:support\", \"2\" = \"queue:sales\" }}\n\
         timeout = \"10s\"\nretries = 2\n\
         [media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\nannounce_every = \"30s\"\n",
        lo + 7,
        prompts.display()
    )
}

/// After the agent's own INVITE is answered: ACK, talk a moment, hang up.
const DIALLER_TALKS_THEN_HANGS_UP: &str = r#"
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:@USER@@[remote_ip]>;tag=[pid]F[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <pause milliseconds="500"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:@USER@@[remote_ip]>;tag=[pid]F[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#;

fn start(name: &str) -> (SwitchProc, u16) {
    let far_end = free_udp_port();
    (SwitchProc::start(name, &config(far_end)), far_end)
}

/// A SIPp phone at `port` that runs `exchange` for `calls` calls.
fn phone(switch: &SwitchProc, port: u16, calls: u32, exchange: &str) -> Sipp {
    Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", exchange)],
        &["-m", &calls.to_string(), "-p", &port.to_string()],
        None,
    )
}

fn register(switch: &SwitchProc, user: &str, port: u16) {
    let password = format!("demo-{user}");
    sipp_register(&switch.dir, switch, user, &password, port, 200);
}

/// A carrier call to `did`; `after` follows the INVITE (`@STATUS@` set
/// to `status`).
fn carrier(switch: &SwitchProc, did: &str, after: &str, status: &str) -> Sipp {
    let after = after.replace("@STATUS@", status);
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", &after)],
        &["-m", "1", "-s", did],
        Some(switch.sip),
    )
}

/// Agent `user` (its phone's Contact at `contact`) dials `number` with
/// digest auth, talks half a second and hangs up.
fn dial(switch: &SwitchProc, user: &str, contact: u16, number: &str) -> Sipp {
    let after = DIALLER_TALKS_THEN_HANGS_UP.replace("@USER@", user);
    let password = format!("demo-{user}");
    let contact = contact.to_string();
    Sipp::start(
        &switch.dir,
        "feature.xml",
        &[("@AFTER@", &after), ("@USER@", user), ("@CODE@", number)],
        &[
            "-m",
            "1",
            "-au",
            user,
            "-ap",
            &password,
            "-key",
            "contact_port",
            &contact,
        ],
        Some(switch.sip),
    )
}

/// What the store holds.
struct Store {
    records: Vec<CdrRow>,
    events: Vec<AgentEventRow>,
}

impl Store {
    fn read(switch: &SwitchProc) -> Option<Store> {
        let store = CdrStore::open_read_only(&switch.dir.join("cdr.sqlite")).ok()?;
        let mut records: Vec<CdrRow> = store
            .recent(1000)
            .ok()?
            .into_iter()
            .map(|r| r.row)
            .collect();
        records.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        let events = store
            .agent_events(
                "1970-01-01T00:00:00.000Z",
                "9999-01-01T00:00:00.000Z",
                10_000,
            )
            .ok()?;
        Some(Store { records, events })
    }

    /// Reads the store until `done` holds (the writer commits in batches).
    fn wait(switch: &SwitchProc, what: &str, done: impl Fn(&Store) -> bool) -> Store {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            if let Some(store) = Store::read(switch) {
                if done(&store) {
                    return store;
                }
                if Instant::now() > deadline {
                    panic!(
                        "the store never held {what}; records {:#?}\nevents {:#?}",
                        store.records, store.events
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "no readable store at {:?}",
                switch.dir
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The one record of a call to `dialled`.
    fn record(&self, dialled: &str) -> &CdrRow {
        let mut found = self.records.iter().filter(|r| r.dialled == dialled);
        let record = found
            .next()
            .unwrap_or_else(|| panic!("no record of a call to {dialled}"));
        assert!(found.next().is_none(), "two records of a call to {dialled}");
        record
    }

    /// The log lines of `record`'s call, in order.
    fn log(&self, record: &CdrRow) -> Vec<&AgentEventRow> {
        let uuid = record.call_uuid.as_deref().expect("a call id");
        self.events
            .iter()
            .filter(|e| e.call.as_deref() == Some(uuid))
            .collect()
    }

    fn has(&self, dialled: &str, event: &str) -> bool {
        self.records.iter().any(|r| {
            r.dialled == dialled
                && self
                    .events
                    .iter()
                    .any(|e| e.call == r.call_uuid && e.event == event)
        })
    }
}

/// Who and what of a record: every field but the times.
#[derive(Debug, PartialEq)]
struct Who {
    caller: Option<String>,
    caller_name: Option<String>,
    direction: Option<String>,
    from_agent: Option<String>,
    trunk: Option<String>,
    dialled: String,
    queue: Option<String>,
    agent: Option<String>,
    outcome: String,
    hung_up_by: Option<String>,
    rejected_status: Option<u16>,
    ivr_path: Option<String>,
    offers: u32,
    hold_ms: Option<u64>,
    transfers: Option<String>,
}

fn who(r: &CdrRow) -> Who {
    Who {
        caller: r.caller.clone(),
        caller_name: r.caller_name.clone(),
        direction: r.direction.clone(),
        from_agent: r.from_agent.clone(),
        trunk: r.trunk.clone(),
        dialled: r.dialled.clone(),
        queue: r.queue.clone(),
        agent: r.agent.clone(),
        outcome: r.outcome.clone(),
        hung_up_by: r.hung_up_by.clone(),
        rejected_status: r.rejected_status,
        ivr_path: r.ivr_path.clone(),
        offers: r.offers,
        hold_ms: r.hold_ms,
        transfers: r.transfers.clone(),
    }
}

/// An inbound call from the carrier's caller to `dialled`, as expected
/// before the outcome is filled in.
fn inbound(dialled: &str) -> Who {
    Who {
        caller: Some(CALLER.into()),
        caller_name: Some(CALLER_NAME.into()),
        direction: Some("inbound".into()),
        from_agent: None,
        trunk: Some(TRUNK.into()),
        dialled: dialled.into(),
        queue: None,
        agent: None,
        outcome: "completed".into(),
        hung_up_by: None,
        rejected_status: None,
        ivr_path: Some(String::new()),
        offers: 0,
        hold_ms: Some(0),
        transfers: Some(String::new()),
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// A log line as (event, agent, queue, reason, detail).
type Line = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn lines(log: &[&AgentEventRow]) -> Vec<Line> {
    log.iter()
        .map(|e| {
            (
                e.event.clone(),
                e.agent.clone(),
                e.queue.clone(),
                e.reason.clone(),
                e.detail.clone(),
            )
        })
        .collect()
}

fn line(event: &str, agent: Option<&str>, queue: Option<&str>, reason: Option<&str>) -> Line {
    (
        event.into(),
        agent.map(str::to_string),
        queue.map(str::to_string),
        reason.map(str::to_string),
        None,
    )
}

fn with_detail(mut l: Line, detail: &str) -> Line {
    l.4 = Some(detail.into());
    l
}

fn duration_of(log: &[&AgentEventRow], event: &str) -> u64 {
    log.iter()
        .find(|e| e.event == event)
        .and_then(|e| e.duration_ms)
        .unwrap_or_else(|| panic!("no {event} line with a duration in {log:#?}"))
}

/// Milliseconds between two RFC 3339 stamps of the store.
fn ms_between(from: &str, to: &str) -> u64 {
    let at = |s: &str| switchyard::ops::report::parse_ms(s).expect("an RFC 3339 stamp");
    at(to).checked_sub(at(from)).expect("stamps in order")
}

/// The times of a record in order: start, queue entry and exit, answer, end.
fn assert_times_in_order(r: &CdrRow) {
    let mut stamps = vec![r.started_at.as_str()];
    stamps.extend(r.queue_entered_at.as_deref());
    stamps.extend(r.queue_left_at.as_deref());
    stamps.extend(r.answered_at.as_deref());
    stamps.push(r.ended_at.as_str());
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "times out of order in {r:#?}");
}

#[test]
fn an_answered_queue_call_records_the_missed_ring_the_answer_and_who_hung_up() {
    let (switch, _) = start("rec-answered");
    let (port_1001, port_1002) = (free_udp_port(), free_udp_port());
    // 1001, the most skilled, lets its phone ring out; 1002 answers.
    let ringing = phone(&switch, port_1001, 1, AGENT_RINGS_UNTIL_CANCELLED);
    register(&switch, "1001", port_1001);
    let answering = phone(&switch, port_1002, 1, AGENT_ANSWERS);
    register(&switch, "1002", port_1002);
    carrier(&switch, "5550200", CARRIER_ANSWERED_HANGS_UP, "").expect_success();
    ringing.expect_success();
    answering.expect_success();
    let store = Store::wait(&switch, "the call's wrap-up start", |s| {
        s.has("5550200", "wrapup_start")
    });
    let r = store.record("5550200");
    assert_eq!(
        who(r),
        Who {
            queue: some("support"),
            agent: some("1002"),
            hung_up_by: some("caller"),
            offers: 2,
            ..inbound("5550200")
        }
    );
    assert_times_in_order(r);
    assert!(r.answered_at.is_some() && r.queue_entered_at.is_some());
    assert_eq!(
        r.queue_left_at, r.answered_at,
        "left the queue on the answer"
    );
    // 1001 rang for its 2 s ring timeout before 1002 got the call.
    assert!(r.wait_ms >= 2000, "waited {} ms", r.wait_ms);
    assert!(r.talk_ms > 0);
    let log = store.log(r);
    assert_eq!(
        lines(&log),
        vec![
            line("enter", None, Some("support"), None),
            line("ring_no_answer", Some("1001"), Some("support"), None),
            line("connect", Some("1002"), Some("support"), None),
            line("complete", Some("1002"), Some("support"), Some("caller")),
            line("wrapup_start", Some("1002"), None, None),
        ]
    );
    let waited = duration_of(&log, "connect");
    assert!(
        (2000..=r.wait_ms).contains(&waited),
        "connect after {waited} ms in the queue, {} ms since arrival",
        r.wait_ms
    );
    assert_eq!(duration_of(&log, "complete"), r.talk_ms);
    // The reports (default window: the last day) say the same.
    let queues = support::api::get(switch.http, "/api/v1/reports/queues", VIEWER);
    assert_eq!(queues.status, 200, "{queues:?}");
    let support_row = &queues.body["queues"][0];
    assert_eq!(support_row["queue"], "support");
    assert_eq!(
        (
            &support_row["offered"],
            &support_row["answered"],
            &support_row["asa_ms"]
        ),
        (&json!(1), &json!(1), &json!(waited))
    );
    let agents = support::api::get(switch.http, "/api/v1/reports/agents", VIEWER);
    let agent = |id: &str| {
        agents.body["agents"]
            .as_array()
            .and_then(|list| list.iter().find(|a| a["agent"] == id))
            .unwrap_or_else(|| panic!("no {id} in {agents:?}"))
            .clone()
    };
    assert_eq!(
        (&agent("1001")["ring_no_answer"], &agent("1001")["handled"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(agent("1002")["handled"], 1);
    assert_eq!(agent("1002")["talk_ms"], json!(r.talk_ms));
}

#[test]
fn an_abandoned_queue_call_records_the_callers_position_and_wait() {
    let (switch, _) = start("rec-abandoned");
    // Nobody is logged in to support: the caller waits first in line.
    carrier(&switch, "5550200", CARRIER_CANCELS, "").expect_success();
    let store = Store::wait(&switch, "the abandon", |s| s.has("5550200", "abandon"));
    let r = store.record("5550200");
    assert_eq!(
        who(r),
        Who {
            queue: some("support"),
            outcome: "abandoned".into(),
            hung_up_by: some("caller"),
            rejected_status: Some(487),
            ..inbound("5550200")
        }
    );
    assert_times_in_order(r);
    assert_eq!(r.answered_at, None);
    assert_eq!(r.talk_ms, 0);
    assert_eq!(r.queue_left_at.as_deref(), Some(r.ended_at.as_str()));
    let log = store.log(r);
    assert_eq!(
        lines(&log),
        vec![
            with_detail(line("enter", None, Some("support"), None), "position=1"),
            with_detail(line("abandon", None, Some("support"), None), "position=1"),
        ]
    );
    assert!(duration_of(&log, "abandon") <= r.wait_ms);
}

#[test]
fn a_call_that_overflows_or_times_out_records_its_queue_exit() {
    let (switch, _) = start("rec-overflow");
    let port_1002 = free_udp_port();
    let answering = phone(&switch, port_1002, 1, AGENT_ANSWERS);
    register(&switch, "1002", port_1002);
    // Nobody has loans logged in: after 2 s the caller goes to sales.
    carrier(&switch, "5550500", CARRIER_ANSWERED_HANGS_UP, "").expect_success();
    answering.expect_success();
    // Nobody has night: after 1 s the caller is sent busy.
    carrier(&switch, "5550600", CARRIER_REFUSED, "486").expect_success();
    let store = Store::wait(&switch, "both calls", |s| {
        s.has("5550500", "complete") && s.has("5550600", "exit")
    });

    let r = store.record("5550500");
    assert_eq!(
        who(r),
        Who {
            queue: some("sales"),
            agent: some("1002"),
            hung_up_by: some("caller"),
            offers: 1,
            ..inbound("5550500")
        }
    );
    assert_times_in_order(r);
    let log = store.log(r);
    assert_eq!(
        lines(&log),
        vec![
            with_detail(line("enter", None, Some("loans"), None), "position=1"),
            line("exit", None, Some("loans"), Some("overflow")),
            line("enter", None, Some("sales"), None),
            line("connect", Some("1002"), Some("sales"), None),
            line("complete", Some("1002"), Some("sales"), Some("caller")),
        ]
    );
    // The overflow came after loans' 2 s; the wait in sales starts there.
    let in_loans = duration_of(&log, "exit");
    assert!(in_loans >= 2000, "left loans after {in_loans} ms");
    let in_sales = duration_of(&log, "connect");
    assert!(
        in_loans + in_sales <= r.wait_ms + ROUNDING_MS,
        "{in_loans} ms in loans and {in_sales} ms in sales, {} ms in all",
        r.wait_ms
    );
    // The record's queue entry is the first queue's.
    let entered = r.queue_entered_at.as_deref().expect("entered a queue");
    assert!(ms_between(entered, r.answered_at.as_deref().unwrap()) >= 2000);

    let r = store.record("5550600");
    assert_eq!(
        who(r),
        Who {
            queue: some("night"),
            outcome: "busy".into(),
            hung_up_by: some("switch"),
            rejected_status: Some(486),
            ..inbound("5550600")
        }
    );
    assert_times_in_order(r);
    let log = store.log(r);
    assert_eq!(
        lines(&log),
        vec![
            with_detail(line("enter", None, Some("night"), None), "position=1"),
            line("exit", None, Some("night"), Some("timeout")),
        ]
    );
    assert!(duration_of(&log, "exit") >= 1000);
}

#[test]
fn a_direct_call_and_a_call_to_an_unknown_number_leave_records() {
    let (switch, _) = start("rec-direct");
    let port = free_udp_port();
    let answering = phone(&switch, port, 1, AGENT_ANSWERS_AND_HANGS_UP);
    register(&switch, "1001", port);
    carrier(&switch, "5550100", CARRIER_ANSWERED_AGENT_HANGS_UP, "").expect_success();
    answering.expect_success();
    carrier(&switch, "5559999", CARRIER_REFUSED, "404").expect_success();
    let store = Store::wait(&switch, "both records", |s| {
        s.has("5550100", "complete") && s.records.iter().any(|r| r.dialled == "5559999")
    });

    let r = store.record("5550100");
    assert_eq!(
        who(r),
        Who {
            agent: some("1001"),
            hung_up_by: some("agent"),
            offers: 1,
            ..inbound("5550100")
        }
    );
    assert_times_in_order(r);
    assert_eq!(
        (r.queue_entered_at.as_deref(), r.queue_left_at.as_deref()),
        (None, None)
    );
    let log = store.log(r);
    assert_eq!(
        lines(&log),
        vec![
            line("connect", Some("1001"), None, None),
            line("complete", Some("1001"), None, Some("agent")),
        ]
    );

    let r = store.record("5559999");
    assert_eq!(
        who(r),
        Who {
            outcome: "rejected".into(),
            hung_up_by: some("switch"),
            rejected_status: Some(404),
            ..inbound("5559999")
        }
    );
    assert_eq!(
        (r.wait_ms, r.talk_ms, r.answered_at.as_deref()),
        (0, 0, None)
    );
    assert!(store.log(r).is_empty(), "no agent took part");
}

#[test]
fn an_agent_dialling_out_and_an_agent_calling_another_leave_records() {
    let (switch, far_end) = start("rec-placed");
    let far = phone(&switch, far_end, 1, AGENT_ANSWERS);
    let contact_1001 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let contact_1001 = contact_1001.local_addr().unwrap().port();
    dial(&switch, "1001", contact_1001, "5551234").expect_success();
    far.expect_success();
    let port_1002 = free_udp_port();
    let answering = phone(&switch, port_1002, 1, AGENT_ANSWERS);
    register(&switch, "1002", port_1002);
    dial(&switch, "1001", contact_1001, "1002").expect_success();
    answering.expect_success();
    let store = Store::wait(&switch, "both records", |s| {
        s.records.iter().any(|r| r.dialled == "5551234") && s.has("1002", "complete")
    });

    let r = store.record("5551234");
    assert_eq!(
        who(r),
        Who {
            caller: some("1001"),
            caller_name: None,
            direction: some("outbound"),
            from_agent: some("1001"),
            trunk: some(TRUNK),
            dialled: "5551234".into(),
            queue: None,
            agent: None,
            outcome: "completed".into(),
            hung_up_by: some("caller"),
            rejected_status: None,
            ivr_path: Some(String::new()),
            offers: 1,
            hold_ms: Some(0),
            transfers: Some(String::new()),
        }
    );
    assert_times_in_order(r);
    assert!(r.answered_at.is_some() && r.talk_ms > 0);

    let r = store.record("1002");
    assert_eq!(
        who(r),
        Who {
            caller: some("1001"),
            caller_name: None,
            direction: some("internal"),
            from_agent: some("1001"),
            trunk: None,
            dialled: "1002".into(),
            queue: None,
            agent: some("1002"),
            outcome: "completed".into(),
            hung_up_by: some("caller"),
            rejected_status: None,
            ivr_path: Some(String::new()),
            offers: 1,
            hold_ms: Some(0),
            transfers: Some(String::new()),
        }
    );
    assert_times_in_order(r);
    let log = store.log(r);
    assert_eq!(
        lines(&log),
        vec![
            line("connect", Some("1002"), None, None),
            line("complete", Some("1002"), None, Some("caller")),
        ]
    );
}

#[test]
fn an_ivr_call_records_the_key_taken_and_waits_from_the_queue_entry() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("rec-ivr", &ivr_config(lo));
    let port = free_udp_port();
    let answering = phone(&switch, port, 1, AGENT_ANSWERS);
    register(&switch, "1003", port);
    // The example caller listens 2 s, presses 2 (sales), talks, hangs up.
    Sipp::start(
        &switch.dir,
        "../../examples/sipp/ivr_caller.xml",
        &[],
        &["-m", "1", "-s", "5550400"],
        Some(switch.sip),
    )
    .expect_success();
    answering.expect_success();
    let store = Store::wait(&switch, "the call", |s| s.has("5550400", "complete"));
    let r = store.record("5550400");
    assert_eq!(
        who(r),
        Who {
            queue: some("sales"),
            agent: some("1003"),
            hung_up_by: some("caller"),
            ivr_path: some("main:2"),
            offers: 1,
            ..inbound("5550400")
        }
    );
    assert_times_in_order(r);
    let entered = r.queue_entered_at.as_deref().expect("entered sales");
    let in_menu = ms_between(&r.started_at, entered);
    assert!(in_menu >= 2000, "the key came after {in_menu} ms");
    let log = store.log(r);
    assert_eq!(
        lines(&log),
        vec![
            line("enter", None, Some("sales"), None),
            line("connect", Some("1003"), Some("sales"), None),
            line("complete", Some("1003"), Some("sales"), Some("caller")),
        ]
    );
    // The wait the reports use leaves the menu out.
    let waited = duration_of(&log, "connect");
    assert!(
        waited + in_menu <= r.wait_ms + ROUNDING_MS,
        "{waited} ms in the queue after {in_menu} ms in the menu, {} ms in all",
        r.wait_ms
    );
}

#[test]
fn an_agent_owing_a_disposition_gets_no_offer_until_it_dials_star_49n() {
    let (switch, _) = start("rec-disposition");
    let (desk, contact) = (free_udp_port(), free_udp_port());
    let agent_phone = phone(&switch, contact, 2, AGENT_ANSWERS);
    register(&switch, "1001", contact);
    carrier(&switch, "5550200", CARRIER_ANSWERED_HANGS_UP, "").expect_success();
    switch.wait_metric("switchyard_agents{state=\"wrap_up\"}", |v| v == 1.0);
    // A second caller waits: 1001 is held in wrap-up for its code.
    let second = carrier(&switch, "5550200", CARRIER_ANSWERED_HANGS_UP, "");
    switch.wait_metric("switchyard_queue_calls_waiting{queue=\"support\"}", |v| {
        v == 1.0
    });
    switch.wait_metric(
        "switchyard_queue_longest_wait_seconds{queue=\"support\"}",
        |v| v >= 1.0,
    );
    // A second since the caller came, 1001 is still owing its code.
    let state = support::metric_value(
        &switch.metrics(),
        "switchyard_agent_state{agent=\"1001\",state=\"wrap_up\"}",
    );
    assert_eq!(state, Some(1.0), "1001 left its wrap-up without a code");
    // There is no 9th code.
    let refused = FEATURE_REFUSED.replace("@STATUS@", "404");
    sipp_feature(
        &switch,
        "1001",
        "demo-1001",
        desk,
        contact,
        "*499",
        &refused,
    );
    // The second code: no-sale. The waiting caller is offered at once.
    sipp_feature(
        &switch,
        "1001",
        "demo-1001",
        desk,
        contact,
        "*492",
        FEATURE_DONE,
    );
    second.expect_success();
    agent_phone.expect_success();
    let store = Store::wait(&switch, "both calls and the first call's code", |s| {
        s.records.len() == 2 && s.records[0].disposition.is_some()
    });
    let (first, second) = (&store.records[0], &store.records[1]);
    assert_eq!(first.disposition.as_deref(), Some("no-sale"));
    assert_eq!(first.disposition_note, None);
    let wrapped = first.wrapup_ms.expect("the wrap-up's length");
    assert!(wrapped >= 1000, "wrap-up of {wrapped} ms");
    let log = store.log(first);
    assert_eq!(
        lines(&log),
        vec![
            line("enter", None, Some("support"), None),
            line("connect", Some("1001"), Some("support"), None),
            line("complete", Some("1001"), Some("support"), Some("caller")),
            line("wrapup_start", Some("1001"), None, None),
            line(
                "disposition",
                Some("1001"),
                Some("support"),
                Some("no-sale")
            ),
            line("wrapup_end", Some("1001"), Some("support"), None),
        ]
    );
    assert_eq!(duration_of(&log, "wrapup_end"), wrapped);
    // The second caller was offered nothing before the code: no missed
    // ring, and its answer came after the code.
    let second_log = store.log(second);
    assert_eq!(
        lines(&second_log)[..2],
        [
            with_detail(line("enter", None, Some("support"), None), "position=1"),
            line("connect", Some("1001"), Some("support"), None),
        ]
    );
    let coded = log.iter().find(|e| e.event == "disposition").unwrap();
    assert!(second_log[1].unix_ms >= coded.unix_ms);
    assert_eq!(second.agent.as_deref(), Some("1001"));
}

#[test]
fn refusals_for_hops_or_room_leave_records_and_garbage_or_strangers_none() {
    let far_end = free_udp_port();
    let config = config(far_end).replace(
        "no_answer_timeout = \"10s\"",
        "no_answer_timeout = \"10s\"\nmax_calls = 1",
    );
    let switch = SwitchProc::start("rec-refusals", &config);
    // Garbage from the trunk's address (CSeq names another method): 400.
    let trunk_phone = Phone::new(switch.sip);
    let bad = format!(
        "INVITE sip:5550100@{s} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKbad1;rport\r\n\
         From: <sip:x@{a}>;tag=1\r\nTo: <sip:5550100@{s}>\r\nCall-ID: bad1\r\nCSeq: 1 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        s = switch.sip,
        a = trunk_phone.addr
    );
    trunk_phone.send(bad.as_bytes());
    assert_eq!(trunk_phone.recv_final().status(), Some(400));
    // No hops left: 483.
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[
            ("@AFTER@", &CARRIER_REFUSED.replace("@STATUS@", "483")),
            ("Max-Forwards: 70", "Max-Forwards: 0"),
        ],
        &["-m", "1", "-s", "5550300"],
        Some(switch.sip),
    )
    .expect_success();
    // One caller waits in support: the switch is full.
    let waiting = carrier(&switch, "5550200", CARRIER_ANSWERED_HANGS_UP, "");
    switch.wait_metric("switchyard_queue_calls_waiting{queue=\"support\"}", |v| {
        v == 1.0
    });
    // A sender that is no trunk (and would have to authenticate) gets 503
    // and leaves no record.
    let mut stranger = Phone::from_ip(switch.sip, "127.0.0.2");
    let uri = format!("sip:5550600@{}", switch.sip);
    let invite = stranger.request("INVITE", &uri, "someone", "");
    stranger.send(invite.as_bytes());
    assert_eq!(stranger.recv_final().status(), Some(503));
    // The carrier's next caller gets 503, and a record.
    carrier(&switch, "5550500", CARRIER_REFUSED, "503").expect_success();
    let port = free_udp_port();
    let answering = phone(&switch, port, 1, AGENT_ANSWERS);
    register(&switch, "1001", port);
    waiting.expect_success();
    answering.expect_success();
    let store = Store::wait(&switch, "the waiting call's end", |s| {
        s.has("5550200", "complete")
    });
    let mut dialled: Vec<&str> = store.records.iter().map(|r| r.dialled.as_str()).collect();
    dialled.sort_unstable();
    assert_eq!(dialled, ["5550200", "5550300", "5550500"]);
    for (number, status) in [("5550300", 483), ("5550500", 503)] {
        let r = store.record(number);
        assert_eq!(
            who(r),
            Who {
                outcome: "rejected".into(),
                hung_up_by: some("switch"),
                rejected_status: Some(status),
                ..inbound(number)
            }
        );
        assert_eq!(
            (r.wait_ms, r.talk_ms, r.answered_at.as_deref()),
            (0, 0, None)
        );
        assert!(store.log(r).is_empty());
    }
}

#[test]
fn an_agent_owing_a_disposition_gets_no_offer_until_the_api_gives_it() {
    let (switch, _) = start("rec-disposition-api");
    let contact = free_udp_port();
    let agent_phone = phone(&switch, contact, 2, AGENT_ANSWERS);
    register(&switch, "1001", contact);
    carrier(&switch, "5550200", CARRIER_ANSWERED_HANGS_UP, "").expect_success();
    let store = Store::wait(&switch, "the first call's record", |s| s.records.len() == 1);
    let call = store.records[0].call_uuid.clone().expect("a call id");
    let second = carrier(&switch, "5550200", CARRIER_ANSWERED_HANGS_UP, "");
    switch.wait_metric(
        "switchyard_queue_longest_wait_seconds{queue=\"support\"}",
        |v| v >= 1.0,
    );
    let state = support::metric_value(
        &switch.metrics(),
        "switchyard_agent_state{agent=\"1001\",state=\"wrap_up\"}",
    );
    assert_eq!(state, Some(1.0), "1001 left its wrap-up without a code");
    let path = format!("/api/v1/calls/{call}/disposition");
    let post = |body: &str| support::api::post(switch.http, &path, support::api::SUPERVISOR, body);
    // A code the queue does not list, and a call with no wrap-up, are refused.
    let unknown = post(r#"{"code": "maybe"}"#);
    assert_eq!(
        (unknown.status, &unknown.body["error"]),
        (400, &json!("unknown_disposition")),
        "{unknown:?}"
    );
    let nowhere = support::api::post(
        switch.http,
        "/api/v1/calls/01a24534-db63-71f9-a6db-a2e154981622/disposition",
        support::api::SUPERVISOR,
        r#"{"code": "sale"}"#,
    );
    assert_eq!(nowhere.status, 404, "{nowhere:?}");
    let given = post(r#"{"code": "callback", "note": "after 5 pm"}"#);
    assert!(given.status < 300, "{given:?}");
    second.expect_success();
    agent_phone.expect_success();
    let store = Store::wait(&switch, "both calls and the first call's code", |s| {
        s.records.len() == 2 && s.records[0].disposition.is_some()
    });
    let first = &store.records[0];
    assert_eq!(
        (
            first.disposition.as_deref(),
            first.disposition_note.as_deref()
        ),
        (Some("callback"), Some("after 5 pm"))
    );
    assert!(first.wrapup_ms.is_some_and(|ms| ms >= 1000));
    let coded = store
        .log(first)
        .into_iter()
        .find(|e| e.event == "disposition")
        .expect("a disposition line");
    assert_eq!(
        (coded.reason.as_deref(), coded.detail.as_deref()),
        (Some("callback"), Some("after 5 pm"))
    );
    let second_log = store.log(&store.records[1]);
    assert_eq!(
        lines(&second_log)[..2],
        [
            with_detail(line("enter", None, Some("support"), None), "position=1"),
            line("connect", Some("1001"), Some("support"), None),
        ]
    );
    assert!(second_log[1].unix_ms >= coded.unix_ms);
}
