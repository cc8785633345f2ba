//! The switch with two SIP shards: a dialog's messages keep their order
//! through the shards (a CANCEL sent right behind its INVITE always finds
//! it, never a 481), and calls spread over both shards.

mod support;

use support::{free_udp_port, metric_value, test_config, Phone, SwitchProc};

const CALLS: usize = 24;

#[test]
fn a_cancel_racing_its_invite_finds_it_on_every_call() {
    let config =
        test_config("10s", free_udp_port()).replace("[switch]\n", "[switch]\nsip_workers = 2\n");
    let switch = SwitchProc::start("shards-cancel", &config);
    let mut carrier = Phone::new(switch.sip);
    // The sales queue has no registered agent: each caller waits there
    // until its CANCEL.
    let uri = format!("sip:5550300@{}", switch.sip);
    for n in 0..CALLS {
        let invite = carrier.request("INVITE", &uri, "carrier", "");
        let cancel = invite
            .replacen("INVITE ", "CANCEL ", 1)
            .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
        // Back to back: the CANCEL races its INVITE into the switch.
        carrier.send(invite.as_bytes());
        carrier.send(cancel.as_bytes());
        let call_id = invite
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .unwrap()
            .to_owned();
        let (mut cancelled, mut terminated) = (None, None);
        while cancelled.is_none() || terminated.is_none() {
            let msg = carrier.recv();
            assert_eq!(msg.call_id(), call_id, "call {n}");
            let status = msg.status().expect("a response");
            match (msg.cseq().method.as_str(), status) {
                ("CANCEL", s) => cancelled = Some(s),
                ("INVITE", s) if s >= 200 => terminated = Some(msg),
                _ => {}
            }
        }
        assert_eq!(
            cancelled,
            Some(200),
            "call {n}: the CANCEL found its INVITE"
        );
        let terminated = terminated.unwrap();
        assert_eq!(terminated.status(), Some(487), "call {n}");
        let to_tag = terminated.to().tag().expect("a To tag").to_owned();
        let ack = invite
            .replacen("INVITE ", "ACK ", 1)
            .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
            .replace(
                &format!("To: <{uri}>"),
                &format!("To: <{uri}>;tag={to_tag}"),
            );
        carrier.send(ack.as_bytes());
    }
    switch.wait_metric("switchyard_calls_total{outcome=\"abandoned\"}", |v| {
        v == CALLS as f64
    });
    let metrics = switch.metrics();
    for shard in ["0", "1"] {
        let name =
            format!("switchyard_sip_shard_datagrams_total{{shard=\"{shard}\",result=\"taken\"}}");
        let taken = metric_value(&metrics, &name).unwrap_or(0.0);
        assert!(taken > 0.0, "shard {shard} took nothing:\n{metrics}");
    }
}
