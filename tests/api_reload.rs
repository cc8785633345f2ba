//! Reload as far as it goes (issue 11): `POST /api/v1/reload` and SIGHUP
//! read and validate the dialplan; a broken file is reported with file,
//! line and field and the switch runs on; a valid one is reported as
//! needing a restart (applying it is not built yet). SIGHUP no longer
//! stops the switch.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::api::{self, call, get, post, ADMIN, VIEWER};
use support::{free_udp_port, test_config, SwitchProc, EVENT_TIMEOUT};

#[test]
fn a_broken_dialplan_is_refused_with_its_line_and_sighup_keeps_the_switch_running() {
    let config = test_config("10s", free_udp_port()) + &api::api_section(16);
    let switch = SwitchProc::start("api-reload", &config);
    let h = switch.http;
    let path = switch.dir.join("switchyard.toml");

    let valid = post(h, "/api/v1/reload", ADMIN, "");
    assert_eq!(valid.status, 501, "{valid:?}");
    assert_eq!(valid.body["error"], "not_built");
    let message = valid.body["message"].as_str().unwrap_or("");
    assert!(
        message.contains("is valid") && message.contains("restart"),
        "{message}"
    );

    let lines = config.lines().count();
    let broken = format!(
        "{config}\n[[queues]]\nname = \"late\"\nrequires = \"support:1\"\nring_timeout = \"20 parsecs\"\n"
    );
    std::fs::write(&path, broken).expect("write broken dialplan");
    let refused = post(h, "/api/v1/reload", ADMIN, "");
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.body["error"], "invalid_dialplan");
    let message = refused.body["message"].as_str().unwrap_or("");
    let at = format!("switchyard.toml:{}:1: queues[2].ring_timeout", lines + 5);
    assert!(message.contains(&at), "{message} lacks {at}");

    // SIGHUP (to our own child, by PID): checked and logged, not a stop.
    let status = Command::new("kill")
        .args(["-HUP", &switch.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while switch.log().matches("reload refused").count() < 2 {
        assert!(
            Instant::now() < deadline,
            "SIGHUP not logged:\n{}",
            switch.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(call(h, "GET", "/healthz", None, None).status, 200);
    assert_eq!(get(h, "/api/v1/agents", VIEWER).status, 200);
}
