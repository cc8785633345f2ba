//! Phone numbers, SIP user names and credentials stay out of the log at
//! `info` and above (STYLE.md "Logs"), through a registration, a failed
//! login and a whole call.

mod support;

use support::scenarios::{AGENT_ANSWERS, CARRIER_ANSWERED_HANGS_UP};
use support::{free_udp_port, sipp_register, test_config, Phone, Sipp, SwitchProc};

#[test]
fn numbers_users_and_credentials_are_not_logged_at_info() {
    let switch = SwitchProc::start_logged("pii", &test_config("10s", free_udp_port()), "info");
    let agent_port = free_udp_port();
    sipp_register(&switch.dir, &switch, "1001", "demo-1001", agent_port, 200);
    let mut intruder = Phone::new(switch.sip);
    assert_eq!(
        intruder
            .register("1002", "guessed-secret", intruder.addr, 60)
            .status(),
        Some(403)
    );

    let port = agent_port.to_string();
    let phone = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[("@ANSWER@", AGENT_ANSWERS)],
        &["-m", "1", "-p", &port],
        None,
    );
    let after = CARRIER_ANSWERED_HANGS_UP;
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[("@AFTER@", after)],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    )
    .expect_success();
    phone.expect_success();
    switch.wait_metric("switchyard_cdr_written_total", |v| v == 1.0);

    let log = switch.log();
    assert!(log.contains("call record"), "the log is at info: {log}");
    for secret in [
        "5551234567",
        "demo-1001",
        "guessed-secret",
        "response=",
        "Customer",
        "sip:1001",
        "sip:1002",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} appears in the log:\n{log}"
        );
    }
}
