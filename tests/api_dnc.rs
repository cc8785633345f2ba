//! The do-not-call list over HTTP: its size and pages, numbers listed by
//! `POST /api/v1/dnc` read into E.164 (a bad one is a JSON 400), unlisted
//! by `DELETE /api/v1/dnc/{number}` (not one a list file gives), kept in
//! SQLite across a kill and a restart, and a listed number is never
//! dialled: the campaign's dial of it is refused by the gate. A preview
//! answer for a contact never offered is a conflict.

#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::api::{self, ADMIN, SUPERVISOR, VIEWER};
use support::{free_udp_port, sipp_register, temp_dir, test_config, SwitchProc, EVENT_TIMEOUT};

const FILE_LISTED: &str = "+15552040005";
const CONTACT: &str = "+15552010001";

fn config(data: &Path) -> String {
    let base = test_config("3s", free_udp_port()).replace(
        "cdr_path = \"cdr.sqlite\"",
        &format!("cdr_path = \"{}\"", data.join("cdr.sqlite").display()),
    );
    let lo = support::free_port_block(4);
    format!(
        r#"{base}
[media]
rtp_ports = "{lo}-{hi}"
rtp_address = "127.0.0.1"

[[campaigns]]
name = "renewals"
queue = "sales"
contacts = "{contacts}"
trunk = "demo-carrier"
window = "00:00-24:00"

[dnc]
lists = ["{dnc}"]
{api}"#,
        hi = lo + 3,
        contacts = data.join("renewals.csv").display(),
        dnc = data.join("dnc.txt").display(),
        api = api::api_section(16),
    )
}

fn delete(switch: &SwitchProc, number: &str, token: &str) -> api::Answer {
    let path = format!("/api/v1/dnc/{number}");
    api::call(switch.http, "DELETE", &path, Some(token), None)
}

fn listed(switch: &SwitchProc, number: &str) -> api::Answer {
    let body = json!({ "number": number }).to_string();
    api::post(switch.http, "/api/v1/dnc", SUPERVISOR, &body)
}

/// The numbers the store holds as listed by the API.
fn stored(data: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(data.join("cdr.sqlite")).unwrap();
    let mut stmt = db
        .prepare("SELECT number FROM dnc ORDER BY number")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn numbers_listed_over_http_are_stored_survive_a_kill_and_are_never_dialled() {
    let data = temp_dir("dnc-api");
    std::fs::write(
        data.join("renewals.csv"),
        format!("number,name\n{CONTACT},Ann\n"),
    )
    .unwrap();
    std::fs::write(data.join("dnc.txt"), format!("{FILE_LISTED}\n")).unwrap();
    let config = config(&data);
    let switch = SwitchProc::start("dnc-1", &config);
    let h = switch.http;

    let count = api::get(h, "/api/v1/dnc", SUPERVISOR);
    assert_eq!(
        (count.status, count.body.clone()),
        (200, json!({ "count": 1 }))
    );
    assert_eq!(
        api::get(h, "/api/v1/dnc", VIEWER).status,
        403,
        "numbers are private"
    );

    // A national number is read into E.164 as the list files are.
    let added = listed(&switch, "(555) 201-0001");
    assert_eq!(added.status, 200, "{added:?}");
    assert_eq!(added.body, json!({ "number": CONTACT, "listed": true }));
    let bad = listed(&switch, "call me");
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.body["error"], "bad_number", "{bad:?}");
    let empty = api::post(h, "/api/v1/dnc", SUPERVISOR, "{}");
    assert_eq!(
        (empty.status, empty.body["field"].clone()),
        (400, json!("number"))
    );

    let page = api::get(h, "/api/v1/dnc?limit=10", SUPERVISOR);
    assert_eq!(page.body["count"], 2, "{page:?}");
    assert_eq!(
        page.body["numbers"],
        json!([CONTACT, FILE_LISTED]),
        "{page:?}"
    );
    let second = api::get(h, "/api/v1/dnc?offset=1&limit=1", SUPERVISOR);
    assert_eq!(second.body["numbers"], json!([FILE_LISTED]), "{second:?}");
    let too_many = api::get(h, "/api/v1/dnc?limit=5000", SUPERVISOR);
    assert_eq!(too_many.status, 400, "{too_many:?}");

    // Unlisting: admins only, numbers the API listed only.
    assert_eq!(delete(&switch, FILE_LISTED, SUPERVISOR).status, 403);
    let file = delete(&switch, FILE_LISTED, ADMIN);
    assert_eq!(
        (file.status, file.body["error"].clone()),
        (409, json!("listed_by_file"))
    );
    let unknown = delete(&switch, "+15550000000", ADMIN);
    assert_eq!(
        (unknown.status, unknown.body["error"].clone()),
        (404, json!("not_listed"))
    );
    assert_eq!(listed(&switch, "+15552019999").status, 200);
    let gone = delete(&switch, "+15552019999", ADMIN);
    assert_eq!(gone.status, 200, "{gone:?}");
    assert_eq!(gone.body["listed"], false);
    assert_eq!(api::get(h, "/api/v1/dnc", SUPERVISOR).body["count"], 2);

    // A preview answer for a contact never offered (the campaign is
    // progressive) is a conflict; a body without the agent a 400.
    let path = "/api/v1/campaigns/renewals/preview/0/accept";
    let not_offered = api::post(h, path, SUPERVISOR, r#"{"agent": "1002"}"#);
    assert_eq!(
        (not_offered.status, not_offered.body["error"].clone()),
        (409, json!("not_offered"))
    );
    let no_agent = api::post(h, path, SUPERVISOR, "{}");
    assert_eq!(
        (no_agent.status, no_agent.body["field"].clone()),
        (400, json!("agent"))
    );

    // The store has the listed number (and not the unlisted one) before
    // the kill: the writer runs behind the reply.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while stored(&data) != vec![CONTACT.to_string()] {
        assert!(Instant::now() < deadline, "stored: {:?}", stored(&data));
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(switch); // SIGKILL

    let switch = SwitchProc::start("dnc-2", &config);
    let h = switch.http;
    let page = api::get(h, "/api/v1/dnc?limit=10", SUPERVISOR);
    assert_eq!(
        page.body["numbers"],
        json!([CONTACT, FILE_LISTED]),
        "{page:?}"
    );
    // An agent is free and the campaign starts: its one contact is the
    // number listed by the API, which the gate refuses.
    sipp_register(
        &switch.dir,
        &switch,
        "1002",
        "demo-1002",
        free_udp_port(),
        200,
    );
    let start = api::post(h, "/api/v1/campaigns/renewals/start", ADMIN, "");
    assert_eq!(start.status, 200, "{start:?}");
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let campaign: Value = loop {
        let one = api::get(h, "/api/v1/campaigns/renewals", ADMIN).body;
        if one["status"] == "finished" {
            break one;
        }
        assert!(Instant::now() < deadline, "not finished: {one}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        (campaign["dials"].clone(), campaign["dnc_blocked"].clone()),
        (json!(0), json!(1)),
        "{campaign}"
    );
}
