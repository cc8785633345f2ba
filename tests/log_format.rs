//! `switchyard run --log-format json` writes one JSON object per line to
//! standard error, with no colour codes; a refused API token is one of
//! them, with the source address (issue 11).

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::api::{self, call};
use support::{free_udp_port, temp_dir, test_config, EVENT_TIMEOUT};

#[test]
fn json_logs_are_one_object_per_line_and_name_a_refused_token_source() {
    let dir = temp_dir("log-json");
    let path = dir.join("switchyard.toml");
    let config = test_config("10s", free_udp_port()) + &api::api_section(16);
    std::fs::write(&path, config).expect("write config");
    let log = dir.join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&path)
        .current_dir(&dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start switchyard");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ports line");
    let http: SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .and_then(|v| v.parse().ok())
        .expect("http address");

    assert_eq!(
        call(http, "GET", "/api/v1/agents", Some("nope"), None).status,
        401
    );
    // The log line is written as the refusal is sent: wait for it, bounded.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let found = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l:?}")))
            .collect();
        let refused = lines
            .iter()
            .find(|l| l["message"] == "api login failed: bad token")
            .cloned();
        if let Some(r) = refused {
            assert!(!text.contains('\u{1b}'), "colour codes in {text}");
            break r;
        }
        assert!(Instant::now() < deadline, "no refusal logged:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(found["level"], "WARN");
    assert_eq!(found["source_ip"], "127.0.0.1");
    assert!(found["source_port"]
        .as_str()
        .is_some_and(|p| p.parse::<u16>().is_ok()));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_refused_sip_login_is_one_warn_line_with_user_source_ip_and_port() {
    let config = test_config("10s", free_udp_port());
    let switch = support::SwitchProc::start_logged("log-sip-login", &config, "info");
    let mut intruder = support::Phone::new(switch.sip);
    let contact = intruder.addr;
    let refused = intruder.register("1002", "guessed-secret", contact, 60);
    assert_eq!(refused.status(), Some(403));
    let mut stranger = support::Phone::new(switch.sip);
    let contact = stranger.addr;
    let refused = stranger.register("5551234567", "x", contact, 60);
    assert_eq!(refused.status(), Some(403));

    let wanted = [
        format!(
            "sip login failed: bad credentials user=1002 source_ip=127.0.0.1 source_port={}",
            intruder.addr.port()
        ),
        format!(
            "sip login failed: bad credentials user=- source_ip=127.0.0.1 source_port={}",
            stranger.addr.port()
        ),
    ];
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let log = switch.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("login failed")).collect();
        if wanted
            .iter()
            .all(|w| lines.iter().any(|l| l.ends_with(w.as_str())))
        {
            assert!(lines.iter().all(|l| l.contains(" WARN ")), "{lines:?}");
            assert!(!log.contains("5551234567"), "a typed number was logged");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not logged as {wanted:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
