//! Hot reload (issue 11): SIGHUP and `POST /api/v1/reload` read the whole
//! dialplan; a good one is applied without dropping a call (agents and
//! queues added, changed, removed), a bad one is refused with file, line
//! and field and the switch runs on the plan it had; what needs a restart
//! is named.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::api::{self, call, get, post, ADMIN, VIEWER};
use support::{
    free_port_block, free_udp_port, rtp_heard, send_tone, sipp_media_agent, sipp_register,
    test_config, MediaCaller, SwitchProc, EVENT_TIMEOUT,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::media::tone::tone_present;

/// Waits until the switch's log holds `needle` at least `count` times.
fn wait_log(switch: &SwitchProc, needle: &str, count: usize) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while switch.log().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "{needle:?} not logged {count} times:\n{}",
            switch.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sighup(switch: &SwitchProc) {
    // Our own child, by PID.
    let status = Command::new("kill")
        .args(["-HUP", &switch.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn heard_tone(packets: &[Vec<u8>]) -> bool {
    let pcm: Vec<i16> = packets
        .iter()
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    tone_present(&pcm, 1000.0, 8000)
}

#[test]
fn a_call_in_progress_survives_a_sighup_that_adds_an_agent_and_changes_a_strategy() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\n{}",
        test_config("10s", free_udp_port()),
        lo + 7,
        prompts.display(),
        api::api_section(16)
    );
    let switch = SwitchProc::start("api-reload-call", &config);
    let h = switch.http;
    let path = switch.dir.join("switchyard.toml");

    // A support call, answered by 1001, with the caller's tone flowing.
    let (agent, agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {} RTP/AVP 0", lo + 2));
    let mut caller = MediaCaller::new(switch.sip, "5550200");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let to_switch: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let talker_sock = caller.rtp.try_clone().unwrap();
    let talker = std::thread::spawn(move || {
        send_tone(&talker_sock, to_switch, 1000.0, Duration::from_secs(5))
    });
    assert!(heard_tone(&rtp_heard(
        &agent_rtp,
        Duration::from_millis(1000)
    )));

    // 1005 joins, and support now picks the most skilled agent.
    let added = config
        .replace(
            "[[trunks]]",
            "[[agents]]\nid = \"1005\"\nname = \"Eve\"\npassword = \"demo-1005\"\nauto_login = true\nskills = { support = 5 }\n\n[[trunks]]",
        )
        .replace(
            "name = \"support\"\nrequires = \"support:1\"\n",
            "name = \"support\"\nrequires = \"support:1\"\nstrategy = \"most-skilled\"\n",
        );
    assert_ne!(added, config);
    std::fs::write(&path, &added).expect("write dialplan");
    sighup(&switch);
    wait_log(&switch, "reload applied", 1);
    let log = switch.log();
    assert!(
        log.contains("agents_added=1") && log.contains("queues_changed=1"),
        "{log}"
    );

    // The call goes on through the reload.
    assert!(
        heard_tone(&rtp_heard(&agent_rtp, Duration::from_millis(1000))),
        "the agent still hears the caller after the reload"
    );
    let calls = get(h, "/api/v1/calls", VIEWER).body;
    assert_eq!(calls["calls"].as_array().map(Vec::len), Some(1), "{calls}");
    assert_eq!(calls["calls"][0]["phase"], json!("talking"), "{calls}");

    // The new agent can register and shows in the API.
    sipp_register(
        &switch.dir,
        &switch,
        "1005",
        "demo-1005",
        free_udp_port(),
        200,
    );
    let agent_1005 = get(h, "/api/v1/agents/1005", VIEWER);
    assert_eq!(agent_1005.status, 200, "{agent_1005:?}");
    assert_eq!(agent_1005.body["queues"], json!(["support"]));
    assert_eq!(agent_1005.body["name"], json!("Eve"));

    talker.join().unwrap();
    caller.bye();
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });

    // A broken file: refused with where, and the plan stays (1005 too).
    let broken = added.replace("ring_timeout = \"10s\"", "ring_timeout = \"10 parsecs\"");
    std::fs::write(&path, &broken).expect("write broken dialplan");
    let refused = post(h, "/api/v1/reload", ADMIN, "");
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.body["error"], "invalid_dialplan");
    let message = refused.body["message"].as_str().unwrap_or("");
    assert!(
        message.contains("switchyard.toml:") && message.contains("queues[0].ring_timeout"),
        "{message}"
    );
    assert_eq!(get(h, "/api/v1/agents/1005", VIEWER).status, 200);

    // Removing an agent: gone from the API, their phone forgotten.
    let without_1003 = added.replace(
        "[[agents]]\nid = \"1003\"\npassword = \"demo-1003\"\nauto_login = true\nskills = { sales = 7 }\n",
        "",
    );
    assert_ne!(without_1003, added);
    std::fs::write(&path, &without_1003).expect("write dialplan");
    let removed = post(h, "/api/v1/reload", ADMIN, "");
    assert_eq!(removed.status, 200, "{removed:?}");
    assert_eq!(removed.body["agents_removed"], json!(["1003"]));
    assert_eq!(removed.body["restart_required"], json!([]));
    assert_eq!(get(h, "/api/v1/agents/1003", VIEWER).status, 404);
    assert_eq!(call(h, "GET", "/healthz", None, None).status, 200);
}

#[test]
fn a_broken_dialplan_is_refused_with_its_line_and_a_listener_change_waits_for_a_restart() {
    let config = test_config("10s", free_udp_port()) + &api::api_section(16);
    let switch = SwitchProc::start("api-reload", &config);
    let h = switch.http;
    let path = switch.dir.join("switchyard.toml");

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

    // SIGHUP: checked and logged, not a stop.
    sighup(&switch);
    wait_log(&switch, "reload refused", 2);
    assert_eq!(call(h, "GET", "/healthz", None, None).status, 200);

    // A new queue applies; a new HTTP address waits for a restart.
    let moved = config.replace(
        "http_listen = \"127.0.0.1:0\"",
        "http_listen = \"127.0.0.1:1\"",
    ) + "\n[[queues]]\nname = \"late\"\nrequires = \"support:1\"\n";
    std::fs::write(&path, moved).expect("write dialplan");
    let applied = post(h, "/api/v1/reload", ADMIN, "");
    assert_eq!(applied.status, 200, "{applied:?}");
    assert_eq!(applied.body["queues_added"], json!(["late"]));
    assert_eq!(
        applied.body["restart_required"],
        json!(["switch.http_listen"])
    );
    let queue = get(h, "/api/v1/queues/late", VIEWER);
    assert_eq!(queue.status, 200, "{queue:?}");
    wait_log(&switch, "these changes wait for a restart", 1);
}
