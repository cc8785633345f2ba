//! The command-line client against a running switch (issue 11): tables of
//! agents, queues and calls, an agent paused and resumed, the event stream
//! followed for a bounded count, address and token from flags or the
//! environment, refusals on standard error with exit status 1.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::process::Command;

use support::api::{self, ADMIN, VIEWER};
use support::{free_udp_port, test_config, Phone, SwitchProc};

/// Runs the client with `--api` and `--token`; (success, stdout, stderr).
fn cli(api: SocketAddr, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .args(["--api", &format!("http://{api}"), "--token", token])
        .env_remove("SWITCHYARD_API")
        .env_remove("SWITCHYARD_TOKEN")
        .output()
        .expect("run switchyard");
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_cli_lists_acts_and_follows_events_on_a_running_switch() {
    let config = test_config("10s", free_udp_port()) + &api::api_section(16);
    let switch = SwitchProc::start("api-cli", &config);
    let h = switch.http;
    let mut phone = Phone::new(switch.sip);
    let contact = phone.addr;
    assert_eq!(
        phone.register("1001", "demo-1001", contact, 300).status(),
        Some(200)
    );

    let (ok, out, err) = cli(h, VIEWER, &["agents"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["AGENT", "NAME", "STATE", "REASON", "FOR", "PHONE", "QUEUES", "TODAY", "CALL"]
    );
    let row_1001: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row_1001,
        [
            "1001",
            "-",
            "available",
            "-",
            "0s",
            "yes",
            "support",
            "0",
            "-"
        ]
    );

    let (ok, out, err) = cli(h, ADMIN, &["agent", "1001", "pause", "lunch"]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.contains("paused") && l.contains("lunch")),
        "{out}"
    );
    let (ok, out, _) = cli(h, ADMIN, &["agent", "1001", "resume"]);
    assert!(ok && out.contains("available"), "{out}");
    let (ok, _, err) = cli(h, ADMIN, &["agent", "1001", "resume"]);
    assert!(!ok);
    assert!(
        err.contains("409 not_paused: agent \"1001\" is not paused"),
        "{err}"
    );
    let (ok, _, err) = cli(h, VIEWER, &["agent", "1001", "pause"]);
    assert!(!ok && err.contains("403 forbidden"), "{err}");
    let (ok, _, err) = cli(h, ADMIN, &["agent", "1001", "dance"]);
    assert!(
        !ok && err.contains("unknown agent action \"dance\""),
        "{err}"
    );

    let (ok, out, _) = cli(h, VIEWER, &["queues"]);
    assert!(
        ok && out.starts_with("QUEUE") && out.contains("\nsupport "),
        "{out}"
    );
    let (ok, out, _) = cli(h, VIEWER, &["calls"]);
    assert!(
        ok && out.starts_with("CALL") && out.lines().count() == 1,
        "{out}"
    );

    // The stream from its start: registration, pause, resume, in order.
    let (ok, out, err) = cli(h, VIEWER, &["events", "--count", "3", "--last-id", "0"]);
    assert!(ok, "{err}");
    let states: Vec<&str> = out
        .lines()
        .map(|l| {
            let json = l.split_once('{').map(|(_, r)| r).unwrap_or("");
            ["\"available\"", "\"paused\""]
                .into_iter()
                .find(|s| json.contains(&format!("\"state\":{s}")))
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(
        states,
        ["\"available\"", "\"paused\"", "\"available\""],
        "{out}"
    );
    assert!(out.lines().all(|l| l.contains("agent_state")), "{out}");

    // Address and token from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("agents")
        .env("SWITCHYARD_API", h.to_string())
        .env("SWITCHYARD_TOKEN", VIEWER)
        .output()
        .expect("run switchyard");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("1001"));

    let (ok, _, err) = cli(h, "wrong", &["agents"]);
    assert!(!ok && err.contains("401 bad_token"), "{err}");
    let (ok, out, err) = cli(h, ADMIN, &["reload"]);
    assert!(
        ok && out.starts_with("reloaded ") && out.contains("switchyard.toml"),
        "{out}{err}"
    );
    let (ok, _, err) = cli(h, VIEWER, &["reload"]);
    assert!(!ok && err.contains("403 forbidden"), "{err}");
}
