//! The HTTP control API over real HTTP on 127.0.0.1 against the switch
//! binary (issue 11): every route and status, the roles, and the bounds
//! of the listener.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::api::{self, call, get, post, put, ADMIN, SUPERVISOR, VIEWER};
use support::{free_udp_port, test_config, Phone, SwitchProc, EVENT_TIMEOUT};

/// A call id no switch gave out.
const NO_CALL: &str = "019aee1c-5f3b-7a41-9c2e-5b1f0d6e7a88";

fn start(name: &str, connections_max: u32) -> SwitchProc {
    let config = test_config("10s", free_udp_port()) + &api::api_section(connections_max);
    SwitchProc::start(name, &config)
}

fn register(switch: &SwitchProc, user: &str) -> Phone {
    let mut phone = Phone::new(switch.sip);
    let contact = phone.addr;
    let ok = phone.register(user, &format!("demo-{user}"), contact, 300);
    assert_eq!(ok.status(), Some(200));
    phone
}

fn error_of(a: &api::Answer) -> (u16, &str) {
    (a.status, a.body["error"].as_str().unwrap_or("(no error)"))
}

#[test]
fn agent_routes_answer_with_their_status_and_json_errors() {
    let switch = start("api-agents", 16);
    let h = switch.http;
    let _phone = register(&switch, "1001");

    let all = get(h, "/api/v1/agents", VIEWER);
    assert_eq!(all.status, 200, "{all:?}");
    let ids: Vec<&str> = all.body["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, ["1001", "1002", "1003"]);
    let one = get(h, "/api/v1/agents/1001", VIEWER);
    assert_eq!((one.status, &one.body["state"]), (200, &json!("available")));
    assert_eq!(one.body["calls_today"], 0);
    assert!(one.body["time_in_state_ms"].is_u64(), "{one:?}");
    assert!(one.body.get("name").is_some(), "{one:?}");
    assert_eq!(
        error_of(&get(h, "/api/v1/agents/9999", VIEWER)),
        (404, "unknown_agent")
    );
    assert_eq!(
        error_of(&post(
            h,
            "/api/v1/agents/9999/pause",
            ADMIN,
            r#"{"reason":"break"}"#
        )),
        (404, "unknown_agent")
    );

    // Bad bodies name the field; big ones are refused whole.
    let missing = post(h, "/api/v1/agents/1001/pause", ADMIN, "{}");
    assert_eq!(error_of(&missing), (400, "bad_request"));
    assert_eq!(missing.body["field"], "reason");
    let wrong = post(h, "/api/v1/agents/1001/pause", ADMIN, r#"{"reason": 5}"#);
    assert_eq!(
        (wrong.status, &wrong.body["field"]),
        (400, &json!("reason"))
    );
    let broken = post(h, "/api/v1/agents/1001/pause", ADMIN, "{\"reason\":");
    assert_eq!(
        (broken.status, &broken.body["field"]),
        (400, &json!("reason"))
    );
    let garbage = post(h, "/api/v1/agents/1001/pause", ADMIN, "not json");
    assert_eq!(
        (garbage.status, &garbage.body["field"]),
        (400, &json!("body"))
    );
    let big = format!(r#"{{"reason":"{}"}}"#, "x".repeat(65 * 1024));
    assert_eq!(
        error_of(&post(h, "/api/v1/agents/1001/pause", ADMIN, &big)),
        (413, "body_too_large")
    );
    let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(65));
    assert_eq!(
        error_of(&post(h, "/api/v1/agents/1001/pause", ADMIN, &long)),
        (400, "bad_pause_reason")
    );

    // A command that does not fit the state: 409 with a sentence.
    let not_paused = post(h, "/api/v1/agents/1001/resume", SUPERVISOR, "");
    assert_eq!(error_of(&not_paused), (409, "not_paused"));
    assert_eq!(not_paused.body["message"], "agent \"1001\" is not paused");
    assert_eq!(
        error_of(&post(h, "/api/v1/agents/1001/wrapup/end", SUPERVISOR, "")),
        (409, "not_in_wrap_up")
    );

    let paused = post(
        h,
        "/api/v1/agents/1001/pause",
        SUPERVISOR,
        r#"{"reason":"break"}"#,
    );
    assert_eq!((paused.status, &paused.body), (200, &json!({ "ok": true })));
    let one = get(h, "/api/v1/agents/1001", VIEWER).body;
    assert_eq!(
        (&one["state"], &one["pause_reason"]),
        (&json!("paused"), &json!("break"))
    );
    assert_eq!(
        post(h, "/api/v1/agents/1001/resume", SUPERVISOR, "").status,
        200
    );

    let skills = put(
        h,
        "/api/v1/agents/1001/skills",
        SUPERVISOR,
        r#"{"support": 7}"#,
    );
    assert_eq!(skills.status, 200, "{skills:?}");
    assert_eq!(
        error_of(&put(
            h,
            "/api/v1/agents/1001/skills",
            SUPERVISOR,
            r#"{"support": 11}"#
        )),
        (400, "bad_skill_level")
    );
    let huge = put(
        h,
        "/api/v1/agents/1001/skills",
        SUPERVISOR,
        r#"{"support": 700}"#,
    );
    assert_eq!((huge.status, &huge.body["field"]), (400, &json!("support")));

    assert_eq!(
        post(h, "/api/v1/agents/1001/logout", SUPERVISOR, "").status,
        200
    );
    assert_eq!(
        error_of(&post(
            h,
            "/api/v1/agents/1001/pause",
            SUPERVISOR,
            r#"{"reason":"break"}"#
        )),
        (409, "logged_out")
    );
    assert_eq!(
        error_of(&post(
            h,
            "/api/v1/agents/1001/login",
            SUPERVISOR,
            r#"{"queue":"nope"}"#
        )),
        (404, "unknown_queue")
    );
    let login = post(
        h,
        "/api/v1/agents/1001/login",
        SUPERVISOR,
        r#"{"queue":"support"}"#,
    );
    assert_eq!(login.status, 200, "{login:?}");
    let one = get(h, "/api/v1/agents/1001", VIEWER).body;
    assert_eq!(one["queues"], json!(["support"]));
}

#[test]
fn queue_call_and_other_routes_answer_with_their_status() {
    let switch = start("api-routes", 16);
    let h = switch.http;
    let _phone = register(&switch, "1001");

    let queues = get(h, "/api/v1/queues", VIEWER);
    assert_eq!(queues.status, 200);
    assert_eq!(queues.body["queues"].as_array().map(Vec::len), Some(2));
    let support = get(h, "/api/v1/queues/support", VIEWER);
    assert_eq!((support.status, &support.body["waiting"]), (200, &json!(0)));
    assert_eq!(support.body["callers"], json!([]));
    assert_eq!(support.body["longest_wait_ms"], json!(null));
    assert_eq!(support.body["agents"]["available"], 1, "{support:?}");
    // 1002 and 1003 have no phone: logged out, in no queue.
    assert_eq!(support.body["agents"]["logged_out"], 0, "{support:?}");
    assert_eq!(
        error_of(&get(h, "/api/v1/queues/nope", VIEWER)),
        (404, "unknown_queue")
    );

    let calls = get(h, "/api/v1/calls", VIEWER);
    assert_eq!((calls.status, &calls.body), (200, &json!({ "calls": [] })));
    let path = format!("/api/v1/calls/{NO_CALL}");
    assert_eq!(error_of(&get(h, &path, VIEWER)), (404, "unknown_call"));
    assert_eq!(
        error_of(&get(h, "/api/v1/calls/not-a-call", VIEWER)),
        (404, "unknown_call")
    );
    let path = format!("/api/v1/calls/{NO_CALL}/hangup");
    assert_eq!(
        error_of(&post(h, &path, SUPERVISOR, "")),
        (404, "unknown_call")
    );

    // Originate's refusals (tests/api_originate.rs places a call).
    let body = r#"{"agent":"1001","number":"5557777"}"#;
    assert_eq!(
        error_of(&post(h, "/api/v1/calls", SUPERVISOR, body)),
        (409, "no_media"),
        "this dialplan has no [media]"
    );
    let body = r#"{"agent":"1002","number":"5557777"}"#;
    assert_eq!(
        error_of(&post(h, "/api/v1/calls", SUPERVISOR, body)),
        (409, "not_registered")
    );
    let body = r#"{"agent":"1001","number":"555 7777"}"#;
    assert_eq!(
        error_of(&post(h, "/api/v1/calls", SUPERVISOR, body)),
        (400, "bad_number")
    );
    let body = r#"{"agent":"9999","number":"5557777"}"#;
    assert_eq!(
        error_of(&post(h, "/api/v1/calls", SUPERVISOR, body)),
        (404, "unknown_agent")
    );
    let bad = post(h, "/api/v1/calls", SUPERVISOR, r#"{"agent":"1001"}"#);
    assert_eq!((bad.status, &bad.body["field"]), (400, &json!("number")));
    // An unchanged dialplan reloads with nothing to report.
    let reloaded = post(h, "/api/v1/reload", ADMIN, "");
    assert_eq!(reloaded.status, 200, "{reloaded:?}");
    assert_eq!(reloaded.body["agents_added"], json!([]));
    assert_eq!(reloaded.body["restart_required"], json!([]));

    let doc = get(h, "/api/v1/openapi.json", VIEWER);
    assert_eq!(doc.status, 200);
    assert!(doc.body["paths"]["/api/v1/agents/{id}/pause"]["post"].is_object());

    assert_eq!(
        error_of(&get(h, "/api/v1/nothing", VIEWER)),
        (404, "not_found")
    );
    let wrong_method = call(h, "DELETE", "/api/v1/agents", Some(ADMIN), None);
    assert_eq!(error_of(&wrong_method), (405, "method_not_allowed"));
}

#[test]
fn roles_decide_who_may_do_what_and_metrics_stay_open() {
    let switch = start("api-roles", 16);
    let h = switch.http;
    let pause = r#"{"reason":"break"}"#;

    let none = call(h, "GET", "/api/v1/agents", None, None);
    assert_eq!(error_of(&none), (401, "no_token"));
    assert!(
        none.head.contains("www-authenticate: bearer"),
        "{}",
        none.head
    );
    assert_eq!(
        error_of(&get(h, "/api/v1/agents", "t-admin-012345678")),
        (401, "bad_token")
    );
    assert_eq!(get(h, "/api/v1/agents", VIEWER).status, 200);
    assert_eq!(
        error_of(&post(h, "/api/v1/agents/1001/pause", VIEWER, pause)),
        (403, "forbidden")
    );
    assert_eq!(
        error_of(&put(h, "/api/v1/agents/1001/skills", VIEWER, "{}")),
        (403, "forbidden")
    );
    // Past the role check: 1001's phone is not registered, so logged out.
    assert_eq!(
        error_of(&post(h, "/api/v1/agents/1001/pause", SUPERVISOR, pause)),
        (409, "logged_out")
    );
    assert_eq!(
        error_of(&post(h, "/api/v1/reload", SUPERVISOR, "")),
        (403, "forbidden")
    );
    assert_eq!(post(h, "/api/v1/reload", ADMIN, "").status, 200);

    assert_eq!(call(h, "GET", "/metrics", None, None).status, 200);
    assert_eq!(call(h, "GET", "/healthz", None, None).status, 200);
    // The refused token is logged with where it came from.
    let log = switch.log();
    assert!(
        log.contains("api login failed: bad token user=\"-\" source_ip=127.0.0.1 source_port="),
        "{log}"
    );
}

#[test]
fn a_silent_client_is_closed_after_the_header_timeout_and_the_cap_holds_the_rest() {
    let bounds = "header_timeout = \"1s\"";
    let config = test_config("10s", free_udp_port()) + &api::api_section_with(2, bounds);
    let switch = SwitchProc::start("api-bounds", &config);
    let h = switch.http;
    // Two connections that never send a request fill the cap.
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect_timeout(&h, EVENT_TIMEOUT).expect("connect"))
        .collect();
    let started = Instant::now();
    let third = std::thread::spawn(move || {
        let a = get(h, "/api/v1/agents", VIEWER);
        (a.status, Instant::now())
    });
    // The silent ones are closed once the header timeout passes...
    for mut s in silent {
        s.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert!(n == 0 || buf.starts_with(b"HTTP/1.1 408"), "{n} bytes");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    // ...and only then does the third get its turn.
    let (status, answered) = third.join().expect("third client");
    assert_eq!(status, 200);
    assert!(answered.duration_since(started) >= Duration::from_millis(900));
    assert_eq!(call(h, "GET", "/healthz", None, None).status, 200);
}

#[test]
fn a_connection_that_stalls_mid_request_is_closed_after_the_idle_timeout() {
    let bounds = "header_timeout = \"30s\"\nidle_timeout = \"1s\"";
    let config = test_config("10s", free_udp_port()) + &api::api_section_with(4, bounds);
    let switch = SwitchProc::start("api-idle", &config);
    let mut stalled = TcpStream::connect_timeout(&switch.http, EVENT_TIMEOUT).expect("connect");
    stalled.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    let started = Instant::now();
    stalled
        .write_all(b"GET /api/v1/agents HTTP/1.1\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let n = stalled.read(&mut buf).unwrap_or(0);
    let waited = started.elapsed();
    assert_eq!(n, 0, "the server answered a half request");
    // Closed by the idle timeout (checked every second), long before the
    // header timeout.
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
}

#[test]
fn metrics_and_health_need_a_token_when_open_metrics_is_off() {
    let bounds = "open_metrics = false";
    let config = test_config("10s", free_udp_port()) + &api::api_section_with(4, bounds);
    let switch = SwitchProc::start("api-closed-metrics", &config);
    let h = switch.http;
    assert_eq!(
        error_of(&call(h, "GET", "/metrics", None, None)),
        (401, "no_token")
    );
    assert_eq!(
        error_of(&call(h, "GET", "/healthz", None, None)),
        (401, "no_token")
    );
    assert_eq!(call(h, "GET", "/healthz", Some(VIEWER), None).status, 200);
    assert_eq!(call(h, "GET", "/metrics", Some(VIEWER), None).status, 200);
}

#[test]
fn every_documented_route_exists_on_the_running_switch() {
    let switch = start("api-openapi", 16);
    let h = switch.http;
    let doc = get(h, "/api/v1/openapi.json", VIEWER).body;
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, ops) in paths {
        for method in ops.as_object().expect("operations").keys() {
            if path == "/api/v1/events" {
                continue; // a stream: tests/api_events.rs reads it
            }
            let concrete = path
                .replace(
                    "{id}",
                    if path.contains("calls") {
                        NO_CALL
                    } else {
                        "1001"
                    },
                )
                .replace("{name}", "support");
            let a = call(
                h,
                &method.to_uppercase(),
                &concrete,
                Some(ADMIN),
                Some(b"{}"),
            );
            assert!(
                a.status != 405 && a.body["error"] != "not_found",
                "{method} {path}: {a:?}"
            );
            checked += 1;
        }
    }
    // Also the list the unit test compares with the document.
    assert_eq!(checked + 1, switchyard::ops::api::ROUTES.len());
}
