//! Answering-machine detection on the wire: SIPp plays the carrier's far
//! end of a campaign whose one customer is an answering machine. It
//! answers and plays a greeting with its beep (a pcap of PCMU RTP the test
//! writes from the generated labelled set). The switch listens, takes it
//! for a machine, waits for the beep to end, leaves the campaign's message
//! and hangs up: SIPp gets the BYE, the agent's phone is never rung, the
//! contact is done, the record's outcome is `machine`, the metric counts
//! one, and the log says the message went after a beep.

#![allow(clippy::disallowed_methods)]

mod support;

use std::net::UdpSocket;
use std::path::Path;

use rand::SeedableRng;
use support::{
    free_port_block, free_udp_port, sipp_register, temp_dir, test_config, Sipp, SwitchProc,
};
use switchyard::dialer::ContactState;
use switchyard::media::amd::corpus;
use switchyard::media::amd::AmdSettings;
use switchyard::ops::contacts::ContactStore;

const NUMBER: &str = "+15551990001";

fn config(carrier_port: u16, data: &Path) -> String {
    let base = test_config("3s", carrier_port).replace(
        "cdr_path = \"cdr.sqlite\"",
        &format!("cdr_path = \"{}\"", data.join("cdr.sqlite").display()),
    );
    let lo = free_port_block(8);
    format!(
        r#"{base}
[media]
rtp_ports = "{lo}-{hi}"
rtp_address = "127.0.0.1"
prompts = "{prompts}"

[[campaigns]]
name = "reminders"
queue = "sales"
contacts = "{contacts}"
mode = "progressive"
trunk = "demo-carrier"
caller_id = "5550300"
window = "00:00-24:00"
max_attempts = 2
ring_timeout = "15s"
autostart = true
amd = {{ machine = "message", message_plays = "3s" }}
"#,
        hi = lo + 7,
        prompts = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("prompts")
            .display(),
        contacts = data.join("list.csv").display(),
    )
}

#[test]
fn a_machine_on_the_carrier_is_left_the_message_and_no_agent_rings() {
    let data = temp_dir("amd-data");
    std::fs::write(
        data.join("list.csv"),
        format!("number,name\n{NUMBER},Machine\n"),
    )
    .unwrap();
    // A generated greeting with a beep that the detector, hearing it as
    // PCMU carries it, takes for a machine whose beep ends the greeting.
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let set = corpus::generate(&mut rng, 0, 20);
    let settings = AmdSettings::default();
    let greeting = set
        .iter()
        .find(|s| {
            let heard = corpus::listen(&settings, &corpus::through_pcmu(&s.audio));
            s.case == "greeting"
                && heard.is_some_and(|(v, beep)| v.is_machine() && beep == Some(true))
        })
        .expect("a greeting with a beep in the set");
    let pcap = data.join("machine.pcap");
    support::pcap::write_pcmu(&pcap, &greeting.audio);

    let carrier_port = free_udp_port();
    let carrier = Sipp::start(
        &data,
        "campaign_machine.xml",
        &[("@PCAP@", pcap.to_str().unwrap())],
        &[
            "-m",
            "1",
            "-p",
            &carrier_port.to_string(),
            "-timeout",
            "90s",
        ],
        None,
    );
    // Agent 1002's phone: registered, so the campaign dials; never rung.
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let phone_port = phone.local_addr().unwrap().port();
    let switch = SwitchProc::start("amd", &config(carrier_port, &data));
    sipp_register(&switch.dir, &switch, "1002", "demo-1002", phone_port, 200);

    // SIPp ends well only once the switch's BYE came after the greeting.
    let messages = carrier.expect_success_messages();
    assert_eq!(
        messages.matches(&format!("INVITE sip:{NUMBER}@")).count(),
        1
    );
    let machines = "switchyard_campaign_machines_total{campaign=\"reminders\"}";
    switch.wait_metric(machines, |v| v == 1.0);
    let connects = "switchyard_campaign_connects_total{campaign=\"reminders\"}";
    switch.wait_metric(connects, |v| v == 0.0);
    let log = switch.log();
    assert!(
        log.contains("leaving the message on the machine") && log.contains("beeped=true"),
        "{log}"
    );
    let store = ContactStore::open(&data.join("cdr.sqlite")).expect("contact store");
    let contacts = store.load("reminders").expect("contacts");
    assert_eq!(
        contacts
            .iter()
            .map(|c| (c.state, c.attempts))
            .collect::<Vec<_>>(),
        [(ContactState::Done, 1)]
    );
    let db = rusqlite::Connection::open(data.join("cdr.sqlite")).unwrap();
    let (outcome, agent): (String, Option<String>) = db
        .query_row(
            "SELECT campaign_outcome, agent FROM call_records WHERE campaign = 'reminders'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((outcome.as_str(), agent), ("machine", None));
    // Everything is over: an INVITE to the phone would have come long ago.
    phone.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    assert!(phone.recv(&mut buf).is_err(), "the agent's phone was rung");
}
