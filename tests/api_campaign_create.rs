//! Campaigns made over HTTP: `POST /api/v1/campaigns` with the settings of
//! a `[[campaigns]]` entry as JSON, on a switch whose dialplan has none. A
//! bad setting is a JSON 400 naming its key (checked as the dialplan's
//! are), a queue or trunk the switch lacks a 404, a name taken a 409, a
//! viewer a 403. The campaign made takes uploaded contacts, starts and
//! stops by the API as any other, and after a kill and a restart on the
//! same store it is there again with its contacts and its status.

#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::api::{self, SUPERVISOR, VIEWER};
use support::{free_udp_port, temp_dir, test_config, SwitchProc, EVENT_TIMEOUT};

fn config(data: &Path) -> String {
    let base = test_config("3s", free_udp_port()).replace(
        "cdr_path = \"cdr.sqlite\"",
        &format!("cdr_path = \"{}\"", data.join("cdr.sqlite").display()),
    );
    let lo = support::free_port_block(4);
    format!(
        "{base}\n[media]\nrtp_ports = \"{lo}-{hi}\"\nrtp_address = \"127.0.0.1\"\n{api}",
        hi = lo + 3,
        api = api::api_section(16),
    )
}

fn create(switch: &SwitchProc, token: &str, body: &Value) -> api::Answer {
    api::post(switch.http, "/api/v1/campaigns", token, &body.to_string())
}

/// The campaign's status as its store has it.
fn stored_status(data: &Path) -> Option<String> {
    let db = rusqlite::Connection::open(data.join("cdr.sqlite")).ok()?;
    db.query_row(
        "SELECT status FROM campaigns WHERE name = 'reminders'",
        [],
        |r| r.get(0),
    )
    .ok()
}

fn refused(answer: &api::Answer) -> (u16, String, String) {
    let text = |k: &str| answer.body[k].as_str().unwrap_or_default().to_string();
    (answer.status, text("error"), text("field"))
}

#[test]
fn a_campaign_made_over_http_takes_contacts_and_outlives_a_restart() {
    let data = temp_dir("campaign-create");
    let config = config(&data);
    let switch = SwitchProc::start("create-1", &config);
    let settings = json!({
        "name": "reminders", "queue": "sales", "trunk": "demo-carrier", "mode": "preview",
        "caller_id": "5550300", "window": "00:00-24:00", "max_attempts": 2,
        "retry": { "busy": "3m" }, "amd": { "machine": "hangup" }
    });
    let bad = |key: &str, value: Value| {
        let mut body = settings.clone();
        body[key] = value;
        refused(&create(&switch, SUPERVISOR, &body))
    };
    let bad_request = |field: &str| (400, "bad_campaign".to_string(), field.to_string());
    assert_eq!(bad("mode", json!("psychic")), bad_request("mode"));
    assert_eq!(
        bad("ring_timeout", json!("5s")),
        bad_request("ring_timeout")
    );
    assert_eq!(
        bad("retry", json!({ "busy": "soon" })),
        bad_request("retry.busy")
    );
    assert_eq!(bad("contacts", json!("list.csv")), bad_request("contacts"));
    assert_eq!(bad("colour", json!("red")).0, 400);
    assert_eq!(
        bad("queue", json!("nope")),
        (404, "unknown_queue".into(), String::new())
    );
    assert_eq!(
        bad("trunk", json!("nope")),
        (404, "unknown_trunk".into(), String::new())
    );
    let not_json = api::post(switch.http, "/api/v1/campaigns", SUPERVISOR, "{");
    assert_eq!(
        refused(&not_json),
        (400, "bad_request".into(), "body".into())
    );
    assert_eq!(create(&switch, VIEWER, &settings).status, 403);

    let made = create(&switch, SUPERVISOR, &settings);
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(
        (
            made.body["name"].clone(),
            made.body["mode"].clone(),
            made.body["status"].clone()
        ),
        (json!("reminders"), json!("preview"), json!("idle"))
    );
    let again = create(&switch, SUPERVISOR, &settings);
    assert_eq!(refused(&again).0, 409, "{again:?}");
    assert_eq!(again.body["error"], "campaign_exists");
    let upload = json!([{ "number": "+15552010001", "name": "Ann" }, { "number": "+15552010002" }]);
    let path = "/api/v1/campaigns/reminders/contacts";
    let added = api::post(switch.http, path, SUPERVISOR, &upload.to_string());
    assert_eq!(
        (added.status, added.body["added"].clone()),
        (200, json!(2)),
        "{added:?}"
    );
    let paused = api::post(
        switch.http,
        "/api/v1/campaigns/reminders/pause",
        SUPERVISOR,
        "",
    );
    assert_eq!(
        paused.status, 409,
        "an idle campaign cannot pause: {paused:?}"
    );
    let started = api::post(
        switch.http,
        "/api/v1/campaigns/reminders/start",
        SUPERVISOR,
        "",
    );
    assert_eq!(started.status, 200, "{started:?}");
    let stopped = api::post(
        switch.http,
        "/api/v1/campaigns/reminders/stop",
        SUPERVISOR,
        "",
    );
    assert_eq!(stopped.status, 200, "{stopped:?}");
    let log = switch.log();
    assert!(log.contains("campaign created through the api"), "{log}");
    // The store is written beside the switch's work: wait for the stop.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while stored_status(&data).as_deref() != Some("stopped") {
        assert!(
            Instant::now() < deadline,
            "stored: {:?}",
            stored_status(&data)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(switch); // SIGKILL

    let switch = SwitchProc::start("create-2", &config);
    let one = api::get(switch.http, "/api/v1/campaigns/reminders", VIEWER);
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(
        (
            one.body["contacts"].clone(),
            one.body["status"].clone(),
            one.body["mode"].clone()
        ),
        (json!(2), json!("stopped"), json!("preview"))
    );
    assert_eq!(refused(&create(&switch, SUPERVISOR, &settings)).0, 409);
}
