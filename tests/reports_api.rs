//! The reports API over HTTP on a store prepared by hand: an agent's pause
//! and login that began before the window count from the window's start,
//! and the queue report answers JSON and CSV.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::json;
use support::api::{api_section, get, VIEWER};
use support::{free_udp_port, test_config, SwitchProc, EVENT_TIMEOUT};
use switchyard::ops::cdr::{AgentEventRow, CdrStore, StoreRow};
use switchyard::ops::report::parse_ms;

fn line(at: &str, agent: Option<&str>, event: &str, queue: Option<&str>) -> AgentEventRow {
    AgentEventRow {
        at: at.into(),
        unix_ms: parse_ms(at).expect("a stamp"),
        at_ms: 0,
        agent: agent.map(str::to_string),
        event: event.into(),
        queue: queue.map(str::to_string),
        call: None,
        reason: None,
        detail: None,
        duration_ms: None,
    }
}

/// A switch whose store holds a morning: 1001 logs in at 07:00, goes to
/// lunch at 08:30, is back at 09:30 and logs out at 10:00; a caller enters
/// support at 09:10 and is answered after 15 s.
fn switch_on_a_morning() -> SwitchProc {
    let dir = support::temp_dir("reports-store");
    let db = dir.join("cdr.sqlite");
    let mut store = CdrStore::open(&db).unwrap();
    let mut lunch = line("2026-03-02T08:30:00.000Z", Some("1001"), "pause", None);
    lunch.reason = Some("lunch".into());
    let mut connect = line(
        "2026-03-02T09:10:15.000Z",
        Some("1001"),
        "connect",
        Some("support"),
    );
    connect.duration_ms = Some(15_000);
    let rows = [
        line("2026-03-02T07:00:00.000Z", Some("1001"), "login", None),
        lunch,
        line("2026-03-02T09:10:00.000Z", None, "enter", Some("support")),
        connect,
        line("2026-03-02T09:30:00.000Z", Some("1001"), "resume", None),
        line("2026-03-02T10:00:00.000Z", Some("1001"), "logout", None),
    ];
    let rows: Vec<StoreRow> = rows.into_iter().map(StoreRow::Agent).collect();
    store.insert_store_rows(&rows).unwrap();
    drop(store);
    let config = test_config("10s", free_udp_port()).replace(
        "cdr_path = \"cdr.sqlite\"",
        &format!("cdr_path = {:?}", db.display().to_string()),
    );
    SwitchProc::start("reports-api", &format!("{config}{}", api_section(8)))
}

#[test]
fn a_pause_begun_before_the_window_counts_from_its_start() {
    let switch = switch_on_a_morning();
    let answer = get(
        switch.http,
        "/api/v1/reports/agents?from=2026-03-02T09:00:00Z&to=2026-03-02T11:00:00Z",
        VIEWER,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let agents = answer.body["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 1, "{answer:?}");
    let a = &agents[0];
    assert_eq!(a["agent"], "1001");
    // Logged in 09:00-10:00, at lunch 09:00-09:30.
    assert_eq!(a["logged_in_ms"], 3_600_000);
    assert_eq!(a["pause_ms"], json!({ "lunch": 1_800_000 }));
}

#[test]
fn the_queue_report_answers_json_and_csv() {
    let switch = switch_on_a_morning();
    let path = "/api/v1/reports/queues?from=2026-03-02T09:00:00Z&to=2026-03-02T10:00:00Z";
    let answer = get(switch.http, path, VIEWER);
    assert_eq!(answer.status, 200, "{answer:?}");
    let q = &answer.body["queues"][0];
    assert_eq!(
        (&q["queue"], &q["offered"], &q["answered"], &q["asa_ms"]),
        (&json!("support"), &json!(1), &json!(1), &json!(15_000))
    );
    assert_eq!(q["service_level"], json!(1.0));
    let csv = get_csv(switch.http, path);
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().expect("a header line").split(',').collect();
    let row: Vec<&str> = lines.next().expect("a row").split(',').collect();
    let cell = |name: &str| row[head.iter().position(|h| *h == name).expect(name)];
    assert_eq!(
        (cell("queue"), cell("offered"), cell("asa_ms")),
        ("support", "1", "15000")
    );
}

/// GET with `Accept: text/csv`: the body, after checking the status.
fn get_csv(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, EVENT_TIMEOUT).expect("connect http");
    stream.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {VIEWER}\r\n\
         Accept: text/csv\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read http");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/csv"),
        "{head}"
    );
    body.to_string()
}
