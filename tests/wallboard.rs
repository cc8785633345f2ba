//! The wallboard (issue: reporting, item 6) in a real headless Chromium
//! driven over WebDriver: the page is served without a token and takes one
//! from the URL fragment; a pause clicked on the board changes the agent's
//! state in the API; a caller entering the queue is on the board within 1 s
//! of the switch's `call_queued` event and leaves it within 1 s of
//! `call_answered`; a caller already ringing an agent when the page loads
//! is on it from the start; a viewer's token may watch but not pause; a
//! service level under its target turns red.
//!
//! `SWITCHYARD_SKIP_CHROMIUM=1` skips the browser tests where Chromium is
//! not installed. `SWITCHYARD_WALLBOARD_SCREENSHOT=docs/wallboard.png`
//! writes the README's screenshot.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::api::{self, get, SUPERVISOR, VIEWER};
use support::scenarios::*;
use support::webdriver::{self, Browser};
use support::{
    free_udp_port, http_request, sipp_register, test_config, MediaCaller, Phone, Sipp, SwitchProc,
    EVENT_TIMEOUT,
};
use switchyard::ops::client::{Client, Events};

/// The bound: on the board within a second of the event.
const BOARD_LAG_MAX: Duration = Duration::from_secs(1);

fn skip_browser() -> bool {
    if std::env::var_os("SWITCHYARD_SKIP_CHROMIUM").is_some() {
        eprintln!("SWITCHYARD_SKIP_CHROMIUM set: wallboard browser test skipped");
        return true;
    }
    assert!(
        webdriver::available(),
        "Chromium and chromedriver are needed ({} and {}; `.ci/run` installs them, \
         SWITCHYARD_SKIP_CHROMIUM=1 skips)",
        webdriver::CHROMIUM,
        webdriver::CHROMEDRIVER
    );
    false
}

fn config() -> String {
    test_config("10s", free_udp_port()) + &api::api_section(32)
}

/// SIPp as `user`'s phone: registers, then answers one call.
fn agent_phone(switch: &SwitchProc, user: &str) -> Sipp {
    let port = free_udp_port();
    let phone = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    let password = format!("demo-{user}");
    sipp_register(&switch.dir, switch, user, &password, port, 200);
    phone
}

/// Reads the stream until an event of `kind` about `queue`/`call` comes;
/// returns it and when it was read.
fn next_of(events: &mut Events, kind: &str, call: Option<&str>) -> (Value, Instant) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while Instant::now() < deadline {
        let e = events.next_event().expect("stream").expect("stream open");
        let value: Value = serde_json::from_str(&e.data).expect("JSON event");
        if value["type"] == kind && call.is_none_or(|c| value["call"] == c) {
            return (value, Instant::now());
        }
    }
    panic!("no {kind} event");
}

fn agent_in_api(switch: &SwitchProc, id: &str) -> Value {
    let answer = get(switch.http, &format!("/api/v1/agents/{id}"), VIEWER);
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

const AGENT_STATE_JS: &str = "const a = document.querySelector('[data-agent=\"1001\"]'); \
     return a ? [a.dataset.state, a.querySelector('[data-reason]').textContent] : null;";

#[test]
fn the_page_and_its_script_need_no_token_and_load_nothing_from_elsewhere() {
    let switch = SwitchProc::start("wallboard-page", &config());
    let answer = api::call(switch.http, "GET", "/wallboard", None, None);
    assert_eq!(answer.status, 200);
    assert!(
        answer.head.contains("content-type: text/html"),
        "{}",
        answer.head
    );
    assert!(
        answer
            .head
            .contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{}",
        answer.head
    );
    let (status, script) = http_request(switch.http, "GET", "/wallboard/board.js");
    assert_eq!(status, 200);
    assert!(
        script.contains("/api/v1/events"),
        "the script follows the stream"
    );
    let (status, _) = http_request(switch.http, "GET", "/wallboard/board.css");
    assert_eq!(status, 200);
    // The data behind it still needs a token.
    assert_eq!(
        api::call(switch.http, "GET", "/api/v1/queues", None, None).status,
        401
    );
}

#[test]
fn a_caller_shows_on_the_board_within_a_second_and_a_pause_from_the_board_reaches_the_api() {
    if skip_browser() {
        return;
    }
    let switch = SwitchProc::start("wallboard-browser", &config());
    let phone = agent_phone(&switch, "1001");
    switch.wait_metric(
        "switchyard_agent_state{agent=\"1001\",state=\"available\"}",
        |v| v == 1.0,
    );
    let client = Client::new(&switch.http.to_string(), Some(VIEWER.into()))
        .expect("address")
        .events_timeout(EVENT_TIMEOUT);
    let mut events = client.events(None).expect("connect").expect("200");

    let browser = Browser::start(&switch.dir, 1600, 1000);
    browser.open(&format!(
        "http://{}/wallboard#token={SUPERVISOR}",
        switch.http
    ));
    let seen = browser.wait_for(
        "agent 1001 available on the board",
        AGENT_STATE_JS,
        EVENT_TIMEOUT,
        |v| v[0] == "available",
    );
    assert_eq!(seen[1], "");
    let kept = browser.run(
        "return [location.hash, sessionStorage.getItem('switchyard-token')];",
        json!([]),
    );
    assert_eq!(
        kept,
        json!(["", SUPERVISOR]),
        "the token leaves the address bar"
    );
    browser.wait_for(
        "stream live",
        "return document.getElementById('status').dataset.status;",
        EVENT_TIMEOUT,
        |v| v == "live",
    );

    // Pause from the board, for lunch.
    browser.run(
        "document.getElementById('pause-reason').value = arguments[0];",
        json!(["lunch"]),
    );
    browser.click("[data-agent=\"1001\"] button[data-action=\"pause\"]");
    let (paused, _) = next_of(&mut events, "agent_state", None);
    assert_eq!(
        (&paused["agent"], &paused["state"]),
        (&json!("1001"), &json!("paused"))
    );
    let in_api = agent_in_api(&switch, "1001");
    assert_eq!(
        (&in_api["state"], &in_api["pause_reason"]),
        (&json!("paused"), &json!("lunch")),
        "{in_api}"
    );
    browser.wait_for("paused on the board", AGENT_STATE_JS, BOARD_LAG_MAX, |v| {
        *v == json!(["paused", "lunch"])
    });

    // A caller for support waits: nobody else is registered.
    let carrier = Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CARRIER_ANSWERED_HANGS_UP)],
        &["-m", "1", "-s", "5550200"],
        Some(switch.sip),
    );
    let (queued, queued_at) = next_of(&mut events, "call_queued", None);
    assert_eq!(queued["queue"], "support");
    let call = queued["call"].as_str().expect("call id").to_string();
    let caller_js = format!(
        "return document.querySelector('[data-queue=\"support\"] [data-call=\"{call}\"]') !== null;"
    );
    browser.wait_for("caller on the board", &caller_js, EVENT_TIMEOUT, |v| {
        v == true
    });
    let lag = queued_at.elapsed();
    assert!(lag <= BOARD_LAG_MAX, "the caller took {lag:?} to show");
    let waiting = browser.run(
        "return document.querySelector('[data-queue=\"support\"] [data-figure=\"waiting\"]').textContent;",
        json!([]),
    );
    assert_eq!(waiting, "1");
    if let Some(path) = std::env::var_os("SWITCHYARD_WALLBOARD_SCREENSHOT") {
        // Let the clocks tick past 0:00 for a board that looks alive.
        std::thread::sleep(Duration::from_millis(2200));
        std::fs::write(&path, browser.screenshot()).expect("write screenshot");
    }
    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");

    // Resume from the board: the router offers the caller to 1001, whose
    // phone answers; the caller leaves the board.
    browser.click("[data-agent=\"1001\"] button[data-action=\"resume\"]");
    let (answered, answered_at) = next_of(&mut events, "call_answered", Some(&call));
    assert_eq!(answered["agent"], "1001");
    browser.wait_for(
        "caller gone from the board",
        &caller_js,
        EVENT_TIMEOUT,
        |v| v == false,
    );
    let lag = answered_at.elapsed();
    assert!(lag <= BOARD_LAG_MAX, "the caller took {lag:?} to leave");
    carrier.expect_success();
    phone.expect_success();
}

#[test]
fn a_viewer_token_watches_but_may_not_pause() {
    if skip_browser() {
        return;
    }
    let switch = SwitchProc::start("wallboard-viewer", &config());
    let _phone = agent_phone(&switch, "1001");
    switch.wait_metric(
        "switchyard_agent_state{agent=\"1001\",state=\"available\"}",
        |v| v == 1.0,
    );
    let browser = Browser::start(&switch.dir, 1280, 800);
    browser.open(&format!("http://{}/wallboard", switch.http));
    // No token yet: the board asks for one and shows no data.
    browser.wait_for(
        "a request for a token",
        "return document.getElementById('message').textContent;",
        EVENT_TIMEOUT,
        |v| v.as_str().is_some_and(|t| t.contains("Enter an API token")),
    );
    browser.run(
        "document.getElementById('token').value = arguments[0]; \
         document.querySelector('#token-form button[type=submit]').click();",
        json!([VIEWER]),
    );
    browser.wait_for(
        "agent 1001 on the board",
        AGENT_STATE_JS,
        EVENT_TIMEOUT,
        |v| v[0] == "available",
    );
    browser.click("[data-agent=\"1001\"] button[data-action=\"pause\"]");
    browser.wait_for(
        "the refusal on the board",
        "return document.getElementById('message').textContent;",
        EVENT_TIMEOUT,
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("supervisor or admin needed"))
        },
    );
    assert_eq!(agent_in_api(&switch, "1001")["state"], "available");

    // Nobody serves sales: a caller who gives up puts its service level
    // (0 of 1 within 20 s) under the 80 % target, in red.
    let sl_js = "return document.querySelector('[data-queue=\"sales\"] [data-figure=\"service-level\"]').className;";
    assert!(!browser
        .run(sl_js, json!([]))
        .as_str()
        .unwrap_or("")
        .contains("under"));
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", CARRIER_CANCELS)],
        &["-m", "1", "-s", "5550300"],
        Some(switch.sip),
    )
    .expect_success();
    browser.wait_for("sales under target", sl_js, EVENT_TIMEOUT, |v| {
        v.as_str().is_some_and(|c| c.contains("under"))
    });
    let colour = browser.run(
        "const el = document.querySelector('[data-queue=\"sales\"] [data-figure=\"service-level\"] .value'); \
         return getComputedStyle(el).color;",
        json!([]),
    );
    assert_eq!(
        colour, "rgb(255, 138, 141)",
        "the under-target figure is red"
    );
}

#[test]
fn a_caller_already_ringing_an_agent_when_the_board_loads_is_on_it() {
    if skip_browser() {
        return;
    }
    // A long ring timeout: the offer outlasts the page's loading.
    let config = test_config("60s", free_udp_port()) + &api::api_section(32);
    let switch = SwitchProc::start("wallboard-ringing", &config);
    // 1001's phone lets the offer ring.
    let mut phone = Phone::new(switch.sip);
    let contact = phone.addr;
    let registered = phone.register("1001", "demo-1001", contact, 300);
    assert_eq!(registered.status(), Some(200));
    switch.wait_metric(
        "switchyard_agent_state{agent=\"1001\",state=\"available\"}",
        |v| v == 1.0,
    );
    let client = Client::new(&switch.http.to_string(), Some(VIEWER.into()))
        .expect("address")
        .events_timeout(EVENT_TIMEOUT);
    let mut events = client.events(None).expect("connect").expect("200");
    let mut caller = MediaCaller::new(switch.sip, "5550200");
    caller.invite(180);
    let (offered, _) = next_of(&mut events, "call_offered", None);
    assert_eq!(offered["agents"], json!(["1001"]));
    let call = offered["call"].as_str().expect("call id").to_string();

    let browser = Browser::start(&switch.dir, 1280, 800);
    browser.open(&format!("http://{}/wallboard#token={VIEWER}", switch.http));
    let caller_js = format!(
        "const c = document.querySelector('[data-queue=\"support\"] [data-call=\"{call}\"]'); \
         return c ? c.className : null;"
    );
    browser.wait_for(
        "the ringing caller on the board",
        &caller_js,
        EVENT_TIMEOUT,
        |v| v == "ringing",
    );
    let waiting = browser.run(
        "return document.querySelector('[data-queue=\"support\"] [data-figure=\"waiting\"]').textContent;",
        json!([]),
    );
    assert_eq!(waiting, "1");
}
