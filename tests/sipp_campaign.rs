//! A campaign on the wire: SIPp plays the carrier's far end on the demo
//! trunk (customers answer, are busy or never answer by number pattern,
//! `tests/sipp/campaign_carrier.xml`) and two SIPp agent phones (1002 and
//! 1003, the `sales` queue) take the answered customers. Ten contacts, one
//! of them on the do-not-call list: that number never reaches the carrier;
//! answered customers are bridged to an agent, and a tone agent 1002's
//! socket sends comes back from the customer's RTP echo through the relay
//! (Goertzel); busy ones are tried again
//! after the busy delay; contact states and call records land in SQLite.
//! The switch is killed (SIGKILL) mid-campaign and started again on the
//! same store: no contact finished before the kill is dialled again.

#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;

use std::time::{Duration, Instant};

use serde_json::json;
use support::api::{self, ADMIN};
use support::scenarios::{AGENT_ANSWERS, AGENT_ANSWERS_MEDIA_AT};
use support::{
    free_port_block, free_udp_port, rtp_heard, send_tone, sipp_register, temp_dir, test_config,
    tone_share, Sipp, SwitchProc, EVENT_TIMEOUT,
};
use switchyard::dialer::ContactState;
use switchyard::media::g711::ulaw_decode;
use switchyard::ops::contacts::ContactStore;

/// Answers (pattern +1555201…), busy (+1555202…), never answers (+1555203…),
/// on the DNC list (+1555204…).
const CONTACTS: [&str; 10] = [
    "+15552010001",
    "+15552020002",
    "+15552010003",
    "+15552030004",
    "+15552040005",
    "+15552010006",
    "+15552020007",
    "+15552010008",
    "+15552030009",
    "+15552010010",
];
const DNC: &str = "+15552040005";

fn config(carrier_port: u16, data: &Path) -> String {
    let base = test_config("3s", carrier_port).replace(
        "cdr_path = \"cdr.sqlite\"",
        &format!("cdr_path = \"{}\"", data.join("cdr.sqlite").display()),
    );
    let lo = support::free_port_block(16);
    format!(
        r#"{base}
[media]
rtp_ports = "{lo}-{hi}"
rtp_address = "127.0.0.1"

[[campaigns]]
name = "renewals"
queue = "sales"
contacts = "{contacts}"
mode = "progressive"
trunk = "demo-carrier"
caller_id = "5550300"
window = "00:00-24:00"
timezone = "UTC"
max_attempts = 2
retry = {{ busy = "3s", no_answer = "3s", failed = "3s" }}
ring_timeout = "15s"
autostart = true

[dnc]
lists = ["{dnc}"]
{api}"#,
        hi = lo + 15,
        contacts = data.join("renewals.csv").display(),
        dnc = data.join("dnc.txt").display(),
        api = api::api_section(16),
    )
}

/// SIPp phones for agents 1002 and 1003 answering every call; 1002's
/// audio is `rtp`, a test socket, and its offers must be the switch's.
fn agent_phones(dir: &Path, ports: &[u16; 2], rtp: &UdpSocket) -> Vec<Sipp> {
    let rtp_port = rtp.local_addr().unwrap().port().to_string();
    let with_media = [
        ("@ANSWER@", AGENT_ANSWERS_MEDIA_AT),
        ("@MEDIA_RE@", SWITCH_SDP_RE),
        ("@AGENT_RTP@", rtp_port.as_str()),
    ];
    let plain = [("@ANSWER@", AGENT_ANSWERS)];
    ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let subs: &[(&str, &str)] = if i == 0 { &with_media } else { &plain };
            Sipp::start(
                dir,
                "agent.xml",
                subs,
                &["-m", "20", "-p", &port.to_string(), "-timeout", "300s"],
                None,
            )
        })
        .collect()
}

/// The switch's own SDP on our address, PCMU offered.
const SWITCH_SDP_RE: &str =
    "o=switchyard (.|\\r|\\n)*c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio [0-9]+ RTP/AVP 0";
const TONE_HZ: f64 = 1000.0;

/// The `m=audio` port of the first SDP in a SIPp trace, once it is there.
fn offered_port(phone: &Sipp) -> u16 {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while Instant::now() < deadline {
        let trace = phone.messages();
        let port = trace
            .lines()
            .find_map(|l| l.trim().strip_prefix("m=audio "))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse().ok());
        if let Some(port) = port {
            return port;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("agent 1002's phone got no offer:\n{}", phone.messages());
}

/// Agents 1002 and 1003 registered at their phones' ports.
fn register_agents(switch: &SwitchProc, ports: &[u16; 2]) {
    for (user, port) in ["1002", "1003"].iter().zip(ports) {
        sipp_register(
            &switch.dir,
            switch,
            user,
            &format!("demo-{user}"),
            *port,
            200,
        );
    }
}

/// How long the campaign may take to finish after the restart: each
/// never-answering customer rings the regulatory 15 s, twice, and an
/// agent is reserved for each such dial meanwhile.
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);

/// As `SwitchProc::wait_metric`, under [`FINISH_TIMEOUT`].
fn wait_metric_long(switch: &SwitchProc, metric: &str, pred: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + FINISH_TIMEOUT;
    loop {
        let text = switch.metrics();
        if support::metric_value(&text, metric).is_some_and(&pred) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "metric {metric} never matched in {FINISH_TIMEOUT:?}; metrics:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// INVITEs the carrier got for `number` in `messages`.
fn invites(messages: &str, number: &str) -> usize {
    messages.matches(&format!("INVITE sip:{number}@")).count()
}

fn contacts(data: &Path) -> Vec<(String, ContactState, u32)> {
    let store = ContactStore::open(&data.join("cdr.sqlite")).expect("contact store");
    let list = store.load("renewals").expect("contacts");
    list.into_iter()
        .map(|c| (c.number, c.state, c.attempts))
        .collect()
}

#[test]
fn a_campaign_dials_through_sipp_skips_dnc_and_survives_a_kill() {
    let data = temp_dir("campaign-data");
    let mut csv = String::from("number,name,plan\n");
    for (i, n) in CONTACTS.iter().enumerate() {
        csv.push_str(&format!("{n},Customer {i},gold\n"));
    }
    std::fs::write(data.join("renewals.csv"), csv).unwrap();
    std::fs::write(data.join("dnc.txt"), format!("{DNC}\n")).unwrap();
    let carrier_port = free_udp_port();
    let carrier = Sipp::start(
        &data,
        "campaign_carrier.xml",
        &[("@TALK_MS@", "4000")],
        &[
            "-m",
            "100",
            "-p",
            &carrier_port.to_string(),
            // Customers echo what they hear: the agent hears themselves.
            "-rtp_echo",
            "-mp",
            &free_port_block(4).to_string(),
            "-timeout",
            "300s",
        ],
        None,
    );
    let config = config(carrier_port, &data);
    let agent_ports = [free_udp_port(), free_udp_port()];

    // First run: until two customers were put through to agents.
    let agent_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let phones = agent_phones(&data, &agent_ports, &agent_rtp);
    let switch = SwitchProc::start("campaign-1", &config);
    register_agents(&switch, &agent_ports);
    // Agent 1002's first customer: a tone from the agent's socket to the
    // switch's port for their leg comes back from the customer's echo.
    let to_switch = SocketAddr::from(([127, 0, 0, 1], offered_port(&phones[0])));
    let talker = agent_rtp.try_clone().unwrap();
    let talking = std::thread::spawn(move || {
        send_tone(&talker, to_switch, TONE_HZ, Duration::from_millis(1500));
    });
    let heard = rtp_heard(&agent_rtp, Duration::from_millis(2500));
    talking.join().unwrap();
    assert!(heard.len() > 30, "only {} packets came back", heard.len());
    let pcm: Vec<i16> = heard
        .iter()
        .filter(|p| p[1] & 0x7f == 0)
        .flat_map(|p| p[12..].iter().map(|&b| ulaw_decode(b)))
        .collect();
    let share = tone_share(&pcm, TONE_HZ, 8000);
    assert!(share > 0.5, "the echo carries the tone in {share:.2} of it");
    let connects = "switchyard_campaign_connects_total{campaign=\"renewals\"}";
    switch.wait_metric(connects, |v| v >= 2.0);
    // The API: the campaign's figures, unknown names, moves it cannot make.
    let one = api::get(switch.http, "/api/v1/campaigns/renewals", ADMIN);
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.body["status"], "running");
    let unknown = api::post(switch.http, "/api/v1/campaigns/nope/start", ADMIN, "");
    assert_eq!(
        (unknown.status, unknown.body["error"].clone()),
        (404, json!("unknown_campaign"))
    );
    let again = api::post(switch.http, "/api/v1/campaigns/renewals/start", ADMIN, "");
    assert_eq!(
        (again.status, again.body["error"].clone()),
        (409, json!("bad_campaign_state"))
    );
    let bad = api::post(
        switch.http,
        "/api/v1/campaigns/renewals/contacts",
        ADMIN,
        r#"[{"number": "+15552010011"}, {"number": "not a number"}]"#,
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(
        (bad.body["row"].clone(), bad.body["field"].clone()),
        (json!(3), json!("number"))
    );
    // Until two customers were talked to and their contacts stored done.
    let deadline = Instant::now() + Duration::from_secs(30);
    let finished = loop {
        let done: Vec<String> = contacts(&data)
            .into_iter()
            .filter(|(_, s, _)| matches!(s, ContactState::Done | ContactState::DoNotCall))
            .map(|(n, _, _)| n)
            .collect();
        if done.len() >= 2 {
            break done;
        }
        assert!(
            Instant::now() < deadline,
            "no contact finished: {:?}",
            contacts(&data)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(switch); // SIGKILL, mid-campaign.
    let seen_before = carrier.messages().len();

    // Second run on the same store: the campaign goes on where it was.
    let switch = SwitchProc::start("campaign-2", &config);
    register_agents(&switch, &agent_ports);
    let left = "switchyard_campaign_contacts_left{campaign=\"renewals\"}";
    wait_metric_long(&switch, left, |v| v == 0.0);
    let after = contacts(&data);
    let messages = carrier.messages();
    let since_restart = &messages[seen_before.min(messages.len())..];
    for n in &finished {
        assert_eq!(
            invites(since_restart, n),
            0,
            "{n} finished before the kill, dialled again"
        );
    }
    assert_eq!(
        invites(&messages, DNC),
        0,
        "the DNC number reached the carrier"
    );
    for (number, state, attempts) in &after {
        let expected = match &number[..8] {
            "+1555204" => (ContactState::DoNotCall, 0),
            "+1555202" | "+1555203" => (ContactState::Done, 2),
            _ => (ContactState::Done, 1),
        };
        // A contact caught dialling by the kill was tried once more.
        let ok = *state == expected.0 && (*attempts == expected.1 || !finished.contains(number));
        assert!(
            ok,
            "{number}: {state:?} after {attempts} tries; all: {after:?}"
        );
    }
    for busy in ["+15552020002", "+15552020007"] {
        assert!(
            invites(&messages, busy) >= 2,
            "{busy} tried again after the busy delay"
        );
    }

    // The records: each answered customer reached an agent.
    let db = rusqlite::Connection::open(data.join("cdr.sqlite")).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT dialled, agent, direction, campaign_contact, campaign_attempt, campaign_outcome \
             FROM call_records WHERE campaign = 'renewals'",
        )
        .unwrap();
    let rows: Vec<(String, Option<String>, String, u32, u32, String)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(rows.iter().all(|r| r.2 == "outbound"), "{rows:?}");
    assert!(!rows.iter().any(|r| r.0 == DNC), "{rows:?}");
    let answered: Vec<_> = rows.iter().filter(|r| r.5 == "answered").collect();
    assert!(answered.len() >= 4, "{rows:?}");
    for r in &answered {
        assert!(r.0.starts_with("+1555201"), "{rows:?}");
        assert!(matches!(r.1.as_deref(), Some("1002" | "1003")), "{rows:?}");
        assert_eq!(CONTACTS[r.3 as usize], r.0, "{rows:?}");
    }
    // Customers who never answer rang the regulatory 15 s at least.
    let rang: Vec<i64> = db
        .prepare(
            "SELECT wait_ms FROM call_records \
             WHERE campaign = 'renewals' AND campaign_outcome = 'no-answer'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!rang.is_empty(), "{rows:?}");
    assert!(rang.iter().all(|ms| *ms >= 15_000), "{rang:?}");
    let busy: Vec<_> = rows.iter().filter(|r| r.5 == "busy").collect();
    assert!(
        busy.iter().any(|r| r.4 == 2),
        "a second busy try is recorded: {rows:?}"
    );
    let one = api::get(switch.http, "/api/v1/campaigns/renewals", ADMIN);
    assert_eq!(one.body["status"], "finished", "{one:?}");
    assert_eq!(one.body["dnc_blocked"], 1, "{one:?}");
    assert_eq!(one.body["contacts_left"], 0, "{one:?}");
}
