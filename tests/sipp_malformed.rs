//! SIPp sends a malformed request: it gets 400 and the switch keeps serving.

mod support;

use support::{free_udp_port, test_config, Sipp, SwitchProc};

#[test]
fn sipp_malformed_request_gets_400_and_the_switch_still_serves() {
    let switch = SwitchProc::start("sipp-malformed", &test_config("10s", free_udp_port()));
    Sipp::start(
        &switch.dir,
        "malformed.xml",
        &[],
        &["-m", "1"],
        Some(switch.sip),
    )
    .expect_success();
    switch.wait_metric("switchyard_sip_malformed_total{action=\"answered\"}", |v| {
        v == 1.0
    });
}
