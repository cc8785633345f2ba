//! The layer driven through its public API in virtual time: one start `Instant` plus
//! `Duration`s, exact instants asserted.

use std::time::Duration;

use super::*;
use crate::sip::Transport;

const ACK_HEAD: &str = "ACK sip:agent@10.0.0.2 SIP/2.0\r\n\
    Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n\
    Max-Forwards: 70\r\n\
    From: <sip:caller@10.0.0.1>;tag=a1\r\n\
    Call-ID: c1@10.0.0.1\r\n\
    CSeq: 1 ACK\r\n";
const TO_BUSY: &str = "<sip:agent@10.0.0.2>;tag=b2";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn peer(transport: Transport) -> Peer {
    Peer {
        transport,
        addr: "127.0.0.1:5060".parse().expect("valid address"),
    }
}

fn invite_key() -> ClientKey {
    ClientKey {
        branch: "z9hG4bK-1".into(),
        method: TxMethod::Invite,
    }
}

fn options_key() -> ClientKey {
    ClientKey {
        branch: "z9hG4bK-2".into(),
        method: TxMethod::NonInvite("OPTIONS".into()),
    }
}

fn server_key(method: TxMethod) -> ServerKey {
    ServerKey {
        branch: "z9hG4bK-1".into(),
        sent_by: "10.0.0.1:5060".into(),
        method,
    }
}

fn template() -> AckTemplate {
    AckTemplate::new(Bytes::from_static(ACK_HEAD.as_bytes())).expect("head ends in CRLF")
}

fn expected_ack() -> Bytes {
    Bytes::from(format!(
        "{ACK_HEAD}To: {TO_BUSY}\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn send_invite(layer: &mut TransactionLayer, now: Instant, transport: Transport) {
    let invite = Bytes::from_static(b"INVITE");
    layer
        .client_send(now, invite_key(), peer(transport), invite, Some(template()))
        .expect("room for the INVITE");
    assert_eq!(transmitted(layer), vec![Bytes::from_static(b"INVITE")]);
}

fn send_options(layer: &mut TransactionLayer, now: Instant, transport: Transport) {
    let options = Bytes::from_static(b"OPTIONS");
    layer
        .client_send(now, options_key(), peer(transport), options, None)
        .expect("room for the OPTIONS");
    assert_eq!(transmitted(layer), vec![Bytes::from_static(b"OPTIONS")]);
}

fn drain(layer: &mut TransactionLayer) -> Vec<Output> {
    std::iter::from_fn(|| layer.poll_output()).collect()
}

/// Drains the outputs, all of which must be datagrams.
fn transmitted(layer: &mut TransactionLayer) -> Vec<Bytes> {
    drain(layer)
        .into_iter()
        .map(|output| match output {
            Output::Transmit { bytes, .. } => bytes,
            Output::Event(event) => panic!("expected datagrams, got {event:?}"),
        })
        .collect()
}

/// Steps from deadline to deadline up to `until`, returning each output with its
/// offset from `start`.
fn run_until(
    layer: &mut TransactionLayer,
    start: Instant,
    until: Instant,
) -> Vec<(Duration, Output)> {
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let Some(at) = layer.poll_timeout().filter(|at| *at <= until) else {
            return seen;
        };
        layer.handle_timeout(at);
        seen.extend(drain(layer).into_iter().map(|o| (at - start, o)));
    }
    panic!("more than 10 000 deadlines before {until:?}");
}

/// The offsets at which `outputs` transmitted `bytes`.
fn sent_at(outputs: &[(Duration, Output)], bytes: &[u8]) -> Vec<Duration> {
    outputs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Transmit { bytes: b, .. } if b == bytes))
        .map(|(at, _)| *at)
        .collect()
}

fn events(outputs: &[(Duration, Output)]) -> Vec<(Duration, Event)> {
    outputs
        .iter()
        .filter_map(|(at, o)| match o {
            Output::Event(event) => Some((*at, event.clone())),
            Output::Transmit { .. } => None,
        })
        .collect()
}

fn backoff_capped_at_t2() -> Vec<Duration> {
    [
        500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ]
    .into_iter()
    .map(ms)
    .collect()
}

#[test]
fn invite_retransmits_until_timer_b_then_times_out() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_invite(&mut layer, start, Transport::Udp);
    assert_eq!(layer.poll_timeout(), Some(start + ms(500)));

    let outputs = run_until(&mut layer, start, start + ms(60_000));

    let doubling: Vec<_> = [500, 1500, 3500, 7500, 15_500, 31_500]
        .into_iter()
        .map(ms)
        .collect();
    assert_eq!(sent_at(&outputs, b"INVITE"), doubling);
    let timeout = Event::Timeout { key: invite_key() };
    assert_eq!(events(&outputs), vec![(ms(32_000), timeout)]);
    assert!(layer.is_empty());
    assert_eq!(layer.counters().retransmissions_total, 6);
    assert_eq!(layer.counters().timeouts_total, 1);
}

#[test]
fn invite_provisional_stops_timer_a_and_timer_b() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_invite(&mut layer, start, Transport::Udp);

    let verdict = layer.client_response(start + ms(200), &invite_key(), 100, TO_BUSY);

    assert_eq!(verdict, ClientVerdict::Deliver);
    assert_eq!(layer.poll_timeout(), None);
    assert!(run_until(&mut layer, start, start + ms(120_000)).is_empty());
    assert_eq!(layer.len(), 1, "Proceeding waits for the final response");
}

#[test]
fn invite_non_2xx_is_acked_once_per_copy_and_delivered_once() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_invite(&mut layer, start, Transport::Udp);
    let key = invite_key();
    assert_eq!(
        layer.client_response(start + ms(100), &key, 180, TO_BUSY),
        ClientVerdict::Deliver
    );

    let first = layer.client_response(start + ms(1000), &key, 486, TO_BUSY);
    assert_eq!(first, ClientVerdict::Deliver);
    assert_eq!(transmitted(&mut layer), vec![expected_ack()]);
    for copy_ms in [1500, 2500] {
        let copy = layer.client_response(start + ms(copy_ms), &key, 486, TO_BUSY);
        assert_eq!(copy, ClientVerdict::Absorbed);
        assert_eq!(transmitted(&mut layer), vec![expected_ack()]);
    }
    assert_eq!(layer.counters().retransmissions_total, 2);
}

#[test]
fn invite_timer_d_removes_completed_transaction_after_32s() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_invite(&mut layer, start, Transport::Udp);
    layer.client_response(start + ms(1000), &invite_key(), 486, TO_BUSY);
    drain(&mut layer);
    assert_eq!(layer.poll_timeout(), Some(start + ms(33_000)));

    layer.handle_timeout(start + ms(32_999));
    assert_eq!(layer.len(), 1);
    layer.handle_timeout(start + ms(33_000));

    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
    let late = layer.client_response(start + ms(33_001), &invite_key(), 486, TO_BUSY);
    assert_eq!(late, ClientVerdict::NotMatched);
}

#[test]
fn invite_2xx_and_its_retransmissions_are_delivered_until_timer_m() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_invite(&mut layer, start, Transport::Udp);
    let key = invite_key();

    assert_eq!(
        layer.client_response(start + ms(1000), &key, 200, TO_BUSY),
        ClientVerdict::Deliver
    );
    assert!(drain(&mut layer).is_empty(), "the TU ACKs a 2xx");
    assert_eq!(layer.poll_timeout(), Some(start + ms(33_000)));
    assert_eq!(
        layer.client_response(start + ms(5000), &key, 200, TO_BUSY),
        ClientVerdict::Deliver
    );
    assert_eq!(
        layer.client_response(start + ms(5000), &key, 486, TO_BUSY),
        ClientVerdict::Absorbed
    );

    layer.handle_timeout(start + ms(33_000));
    assert!(layer.is_empty());
    let stray = layer.client_response(start + ms(34_000), &key, 200, TO_BUSY);
    assert_eq!(stray, ClientVerdict::NotMatched);
}

#[test]
fn non_invite_timer_e_doubles_to_t2_until_timer_f() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_options(&mut layer, start, Transport::Udp);

    let outputs = run_until(&mut layer, start, start + ms(60_000));

    assert_eq!(sent_at(&outputs, b"OPTIONS"), backoff_capped_at_t2());
    let timeout = Event::Timeout { key: options_key() };
    assert_eq!(events(&outputs), vec![(ms(32_000), timeout)]);
    assert!(layer.is_empty());
}

#[test]
fn non_invite_retransmits_at_t2_once_proceeding() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_options(&mut layer, start, Transport::Udp);
    let early = run_until(&mut layer, start, start + ms(600));
    assert_eq!(sent_at(&early, b"OPTIONS"), vec![ms(500)]);

    let verdict = layer.client_response(start + ms(600), &options_key(), 100, "");
    let outputs = run_until(&mut layer, start, start + ms(60_000));

    assert_eq!(verdict, ClientVerdict::Deliver);
    let t2_spaced: Vec<_> = [1500, 5500, 9500, 13_500, 17_500, 21_500, 25_500, 29_500]
        .into_iter()
        .map(ms)
        .collect();
    assert_eq!(sent_at(&outputs, b"OPTIONS"), t2_spaced);
    let timeout = Event::Timeout { key: options_key() };
    assert_eq!(events(&outputs), vec![(ms(32_000), timeout)]);
}

#[test]
fn non_invite_final_is_delivered_once_and_timer_k_cleans_up() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_options(&mut layer, start, Transport::Udp);
    let key = options_key();

    assert_eq!(
        layer.client_response(start + ms(700), &key, 200, ""),
        ClientVerdict::Deliver
    );
    assert_eq!(
        layer.client_response(start + ms(900), &key, 200, ""),
        ClientVerdict::Absorbed
    );
    assert_eq!(layer.poll_timeout(), Some(start + ms(5700)));
    assert!(run_until(&mut layer, start, start + ms(5700)).is_empty());
    assert!(layer.is_empty());
}

#[test]
fn server_invite_absorbs_retransmission_and_resends_last_provisional() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::Invite);
    let udp = peer(Transport::Udp);

    assert_eq!(
        layer.server_request(start, key.clone(), false, udp),
        Ok(ServerVerdict::New)
    );
    assert!(
        drain(&mut layer).is_empty(),
        "the TU sends 100 Trying itself"
    );
    let before_any = layer.server_request(start + ms(100), key.clone(), false, udp);
    assert_eq!(before_any, Ok(ServerVerdict::Retransmission));
    assert!(drain(&mut layer).is_empty());

    layer
        .server_respond(start + ms(100), &key, 100, Bytes::from_static(b"100"))
        .expect("live");
    layer
        .server_respond(start + ms(200), &key, 180, Bytes::from_static(b"180"))
        .expect("live");
    assert_eq!(
        transmitted(&mut layer),
        vec![Bytes::from_static(b"100"), Bytes::from_static(b"180")]
    );
    let copy = layer.server_request(start + ms(500), key.clone(), false, udp);

    assert_eq!(copy, Ok(ServerVerdict::Retransmission));
    assert_eq!(transmitted(&mut layer), vec![Bytes::from_static(b"180")]);
    assert_eq!(layer.poll_timeout(), None);
}

#[test]
fn server_invite_retransmits_2xx_until_the_tu_reports_the_ack() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::Invite);
    let udp = peer(Transport::Udp);
    layer
        .server_request(start, key.clone(), false, udp)
        .expect("room");
    layer
        .server_respond(start, &key, 200, Bytes::from_static(b"200"))
        .expect("live");
    assert_eq!(transmitted(&mut layer), vec![Bytes::from_static(b"200")]);

    let before_ack = run_until(&mut layer, start, start + ms(2000));
    assert_eq!(sent_at(&before_ack, b"200"), vec![ms(500), ms(1500)]);
    let ack = layer.server_request(start + ms(2000), key.clone(), true, udp);
    assert_eq!(
        ack,
        Ok(ServerVerdict::NotMatched),
        "an ACK for a 2xx is the TU's"
    );
    layer.server_ack_for_2xx(start + ms(2000), &key);

    assert_eq!(layer.poll_timeout(), Some(start + ms(32_000)), "Timer L");
    let copy = layer.server_request(start + ms(3000), key.clone(), false, udp);
    assert_eq!(copy, Ok(ServerVerdict::Retransmission));
    assert!(
        drain(&mut layer).is_empty(),
        "INVITE copies are absorbed in Accepted"
    );
    assert!(
        run_until(&mut layer, start, start + ms(60_000)).is_empty(),
        "no NoAck"
    );
    assert!(layer.is_empty());
}

#[test]
fn server_invite_reports_no_ack_at_timer_l() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::Invite);
    layer
        .server_request(start, key.clone(), false, peer(Transport::Udp))
        .expect("room");
    layer
        .server_respond(start, &key, 200, Bytes::from_static(b"200"))
        .expect("live");
    drain(&mut layer);

    let outputs = run_until(&mut layer, start, start + ms(60_000));

    assert_eq!(sent_at(&outputs, b"200"), backoff_capped_at_t2());
    assert_eq!(events(&outputs), vec![(ms(32_000), Event::NoAck { key })]);
    assert_eq!(layer.counters().no_acks_total, 1);
    assert!(layer.is_empty());
}

#[test]
fn server_invite_non_2xx_retransmits_with_timer_g_until_timer_h() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::Invite);
    layer
        .server_request(start, key.clone(), false, peer(Transport::Udp))
        .expect("room");
    layer
        .server_respond(start, &key, 486, Bytes::from_static(b"486"))
        .expect("live");
    drain(&mut layer);

    let outputs = run_until(&mut layer, start, start + ms(60_000));

    assert_eq!(sent_at(&outputs, b"486"), backoff_capped_at_t2());
    assert_eq!(events(&outputs), vec![(ms(32_000), Event::NoAck { key })]);
    assert!(layer.is_empty());
}

#[test]
fn server_invite_ack_confirms_and_timer_i_cleans_up() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::Invite);
    let udp = peer(Transport::Udp);
    layer
        .server_request(start, key.clone(), false, udp)
        .expect("room");
    layer
        .server_respond(start, &key, 486, Bytes::from_static(b"486"))
        .expect("live");
    drain(&mut layer);
    let before_ack = run_until(&mut layer, start, start + ms(2000));
    assert_eq!(sent_at(&before_ack, b"486"), vec![ms(500), ms(1500)]);

    let ack = layer.server_request(start + ms(2000), key.clone(), true, udp);

    assert_eq!(ack, Ok(ServerVerdict::AckAbsorbed));
    assert_eq!(layer.poll_timeout(), Some(start + ms(7000)), "Timer I = T4");
    let ack_copy = layer.server_request(start + ms(3000), key.clone(), true, udp);
    assert_eq!(ack_copy, Ok(ServerVerdict::AckAbsorbed));
    let invite_copy = layer.server_request(start + ms(3000), key.clone(), false, udp);
    assert_eq!(invite_copy, Ok(ServerVerdict::Retransmission));
    assert!(drain(&mut layer).is_empty());
    assert!(run_until(&mut layer, start, start + ms(7000)).is_empty());
    assert!(layer.is_empty());
}

#[test]
fn server_non_invite_resends_final_on_retransmission_until_timer_j() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::NonInvite("OPTIONS".into()));
    let udp = peer(Transport::Udp);
    assert_eq!(
        layer.server_request(start, key.clone(), false, udp),
        Ok(ServerVerdict::New)
    );
    let trying = layer.server_request(start + ms(100), key.clone(), false, udp);
    assert_eq!(trying, Ok(ServerVerdict::Retransmission));
    assert!(
        drain(&mut layer).is_empty(),
        "nothing to resend while Trying"
    );

    layer
        .server_respond(start + ms(200), &key, 200, Bytes::from_static(b"200"))
        .expect("live");
    assert_eq!(transmitted(&mut layer), vec![Bytes::from_static(b"200")]);
    let copy = layer.server_request(start + ms(700), key.clone(), false, udp);

    assert_eq!(copy, Ok(ServerVerdict::Retransmission));
    assert_eq!(transmitted(&mut layer), vec![Bytes::from_static(b"200")]);
    assert_eq!(
        layer.poll_timeout(),
        Some(start + ms(32_200)),
        "Timer J = 64·T1"
    );
    layer.handle_timeout(start + ms(32_200));
    assert!(layer.is_empty());
    let after = layer.server_request(start + ms(32_300), key, false, udp);
    assert_eq!(after, Ok(ServerVerdict::New));
}

#[test]
fn tcp_client_invite_never_retransmits_and_ends_on_final() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_invite(&mut layer, start, Transport::Tcp);
    assert_eq!(
        layer.poll_timeout(),
        Some(start + ms(32_000)),
        "only Timer B"
    );

    let verdict = layer.client_response(start + ms(1000), &invite_key(), 486, TO_BUSY);

    assert_eq!(verdict, ClientVerdict::Deliver);
    assert_eq!(transmitted(&mut layer), vec![expected_ack()]);
    assert!(layer.is_empty(), "Timer D is zero on TCP");
    assert_eq!(layer.poll_timeout(), None);
}

#[test]
fn tcp_client_invite_times_out_with_timer_b_alone() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_invite(&mut layer, start, Transport::Tcp);

    let outputs = run_until(&mut layer, start, start + ms(60_000));

    let timeout = Event::Timeout { key: invite_key() };
    assert_eq!(outputs, vec![(ms(32_000), Output::Event(timeout))]);
}

#[test]
fn tcp_client_non_invite_never_retransmits_and_timer_k_is_zero() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    send_options(&mut layer, start, Transport::Tcp);
    assert_eq!(
        layer.poll_timeout(),
        Some(start + ms(32_000)),
        "only Timer F"
    );

    let verdict = layer.client_response(start + ms(100), &options_key(), 200, "");

    assert_eq!(verdict, ClientVerdict::Deliver);
    assert!(layer.is_empty());
}

#[test]
fn tcp_server_invite_sends_final_once_and_timer_i_is_zero() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::Invite);
    let tcp = peer(Transport::Tcp);
    layer
        .server_request(start, key.clone(), false, tcp)
        .expect("room");
    layer
        .server_respond(start, &key, 486, Bytes::from_static(b"486"))
        .expect("live");
    assert_eq!(transmitted(&mut layer), vec![Bytes::from_static(b"486")]);
    assert_eq!(
        layer.poll_timeout(),
        Some(start + ms(32_000)),
        "only Timer H"
    );

    let ack = layer.server_request(start + ms(100), key, true, tcp);

    assert_eq!(ack, Ok(ServerVerdict::AckAbsorbed));
    assert!(layer.is_empty());
}

#[test]
fn tcp_server_invite_does_not_retransmit_2xx() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::Invite);
    layer
        .server_request(start, key.clone(), false, peer(Transport::Tcp))
        .expect("room");
    layer
        .server_respond(start, &key, 200, Bytes::from_static(b"200"))
        .expect("live");
    drain(&mut layer);

    let outputs = run_until(&mut layer, start, start + ms(60_000));

    assert_eq!(
        outputs,
        vec![(ms(32_000), Output::Event(Event::NoAck { key }))]
    );
}

#[test]
fn tcp_server_non_invite_ends_on_final() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::NonInvite("BYE".into()));
    layer
        .server_request(start, key.clone(), false, peer(Transport::Tcp))
        .expect("room");

    layer
        .server_respond(start, &key, 200, Bytes::from_static(b"200"))
        .expect("live");

    assert_eq!(transmitted(&mut layer), vec![Bytes::from_static(b"200")]);
    assert!(layer.is_empty(), "Timer J is zero on TCP");
}

/// Two layers over a scripted lossy link: the first two INVITE copies are lost, the
/// 180 arrives twice, the first 486 and the first ACK are lost.
#[test]
fn lost_and_duplicated_packets_end_in_one_final_and_clean_tables() {
    let start = test_start();
    let config = TimerConfig::default();
    let (mut uac, mut uas) = (TransactionLayer::new(config), TransactionLayer::new(config));
    let udp = peer(Transport::Udp);
    let (ckey, skey) = (invite_key(), server_key(TxMethod::Invite));
    let mut tu_got = Vec::new();

    uac.client_send(
        start,
        ckey.clone(),
        udp,
        Bytes::from_static(b"INVITE"),
        Some(template()),
    )
    .expect("room");
    assert_eq!(transmitted(&mut uac).len(), 1, "copy 1 lost");
    uac.handle_timeout(start + ms(500));
    assert_eq!(transmitted(&mut uac).len(), 1, "copy 2 lost");
    uac.handle_timeout(start + ms(1500));
    assert_eq!(transmitted(&mut uac).len(), 1, "copy 3 arrives");
    let at = start + ms(1500);
    assert_eq!(
        uas.server_request(at, skey.clone(), false, udp),
        Ok(ServerVerdict::New)
    );

    for (status, copies) in [(100, 1), (180, 2)] {
        uas.server_respond(at, &skey, status, Bytes::from_static(b"1xx"))
            .expect("live");
        assert_eq!(transmitted(&mut uas).len(), 1);
        for _ in 0..copies {
            assert_eq!(
                uac.client_response(at, &ckey, status, TO_BUSY),
                ClientVerdict::Deliver
            );
            tu_got.push(status);
        }
    }
    assert_eq!(uac.poll_timeout(), None, "Proceeding stops A and B");

    uas.server_respond(start + ms(5000), &skey, 486, Bytes::from_static(b"486"))
        .expect("live");
    assert_eq!(transmitted(&mut uas).len(), 1, "first 486 lost");
    uas.handle_timeout(start + ms(5500));
    assert_eq!(transmitted(&mut uas).len(), 1, "Timer G copy arrives");
    assert_eq!(
        uac.client_response(start + ms(5500), &ckey, 486, TO_BUSY),
        ClientVerdict::Deliver
    );
    tu_got.push(486);
    assert_eq!(
        transmitted(&mut uac),
        vec![expected_ack()],
        "first ACK lost"
    );
    uas.handle_timeout(start + ms(6500));
    assert_eq!(
        transmitted(&mut uas).len(),
        1,
        "second Timer G copy arrives"
    );
    let copy = uac.client_response(start + ms(6500), &ckey, 486, TO_BUSY);
    assert_eq!(copy, ClientVerdict::Absorbed);
    assert_eq!(
        transmitted(&mut uac),
        vec![expected_ack()],
        "second ACK arrives"
    );
    let ack = uas.server_request(start + ms(6500), skey, true, udp);
    assert_eq!(ack, Ok(ServerVerdict::AckAbsorbed));

    assert_eq!(tu_got, vec![100, 180, 180, 486]);
    assert_eq!(uas.poll_timeout(), Some(start + ms(11_500)), "Timer I");
    assert_eq!(uac.poll_timeout(), Some(start + ms(37_500)), "Timer D");
    assert!(run_until(&mut uas, start, start + ms(60_000)).is_empty());
    assert!(run_until(&mut uac, start, start + ms(60_000)).is_empty());
    assert!(uas.is_empty() && uac.is_empty());
    assert_eq!(
        uac.counters().retransmissions_total,
        3,
        "two INVITE copies, one ACK"
    );
    assert_eq!(
        uas.counters().retransmissions_total,
        2,
        "two Timer G copies"
    );
}

#[test]
fn full_table_refuses_new_transactions_with_503() {
    let start = test_start();
    let mut layer = TransactionLayer::with_transactions_max(TimerConfig::default(), 2);
    let udp = peer(Transport::Udp);
    let bye = server_key(TxMethod::NonInvite("BYE".into()));
    layer
        .server_request(start, server_key(TxMethod::Invite), false, udp)
        .expect("room");
    layer
        .server_request(start, bye.clone(), false, udp)
        .expect("room");

    let refused = layer.server_request(
        start,
        server_key(TxMethod::NonInvite("INFO".into())),
        false,
        udp,
    );
    let options = Bytes::from_static(b"OPTIONS");
    let refused_client = layer.client_send(start, options_key(), udp, options.clone(), None);

    assert_eq!(refused, Err(TxError::TableFull { max: 2 }));
    assert_eq!(refused.map_err(|e| e.status()), Err(Some(503)));
    assert_eq!(refused_client, Err(TxError::TableFull { max: 2 }));
    assert_eq!(layer.counters().table_full_total, 2);
    assert!(drain(&mut layer).is_empty());
    let tcp_bye = layer.server_request(start, bye.clone(), false, peer(Transport::Tcp));
    assert_eq!(
        tcp_bye,
        Ok(ServerVerdict::Retransmission),
        "existing keys still match"
    );
    layer
        .server_respond(start, &bye, 200, Bytes::from_static(b"200"))
        .expect("live");
    run_until(&mut layer, start, start + ms(32_000));
    assert_eq!(
        layer.client_send(start + ms(32_000), options_key(), udp, options, None),
        Ok(())
    );
}

#[test]
fn responses_from_the_tu_are_checked() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let key = server_key(TxMethod::Invite);
    let body = Bytes::from_static(b"r");
    assert_eq!(
        layer.server_respond(start, &key, 200, body.clone()),
        Err(TxError::NoSuchTransaction)
    );
    layer
        .server_request(start, key.clone(), false, peer(Transport::Udp))
        .expect("room");

    assert_eq!(
        layer.server_respond(start, &key, 99, body.clone()),
        Err(TxError::InvalidStatus { status: 99 })
    );
    layer
        .server_respond(start, &key, 200, body.clone())
        .expect("first 2xx");
    layer
        .server_respond(start, &key, 200, body.clone())
        .expect("another fork's 2xx (RFC 6026)");
    assert_eq!(
        layer.server_respond(start, &key, 486, body),
        Err(TxError::ResponseAfterFinal { status: 486 })
    );
}

#[test]
fn client_send_checks_keys_and_ack_templates() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let udp = peer(Transport::Udp);
    let request = Bytes::from_static(b"R");

    let no_template = layer.client_send(start, invite_key(), udp, request.clone(), None);
    let template_for_options =
        layer.client_send(start, options_key(), udp, request.clone(), Some(template()));
    send_options(&mut layer, start, Transport::Udp);
    let twice = layer.client_send(start, options_key(), udp, request, None);

    assert_eq!(no_template, Err(TxError::AckTemplateMissing));
    assert_eq!(template_for_options, Err(TxError::AckTemplateUnexpected));
    assert_eq!(twice, Err(TxError::DuplicateKey));
    assert_eq!(
        AckTemplate::new(Bytes::from_static(b"ACK sip:a SIP/2.0")),
        Err(TxError::AckTemplateUnterminated)
    );
}

#[test]
fn ack_unfolds_a_folded_to_header() {
    let ack = template().build("<sip:agent@10.0.0.2>;\r\n\t tag=b2\r\n");
    let text = std::str::from_utf8(&ack).expect("ASCII");
    assert!(
        text.ends_with("To: <sip:agent@10.0.0.2>; tag=b2\r\nContent-Length: 0\r\n\r\n"),
        "{text:?}"
    );
}

#[test]
fn deadlines_of_many_transactions_fire_in_order_and_removed_ones_do_not_linger() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let udp = peer(Transport::Udp);
    for (i, offset) in [300u64, 100, 200].into_iter().enumerate() {
        let key = ClientKey {
            branch: format!("z9hG4bK-{i}"),
            method: TxMethod::NonInvite("OPTIONS".into()),
        };
        let request = Bytes::from(format!("OPTIONS {i}"));
        layer
            .client_send(start + ms(offset), key, udp, request, None)
            .expect("room");
    }
    drain(&mut layer);
    let cancelled = ClientKey {
        branch: "z9hG4bK-1".into(),
        method: TxMethod::NonInvite("OPTIONS".into()),
    };
    layer.client_response(start + ms(350), &cancelled, 200, "");
    layer.client_response(start + ms(350), &cancelled, 200, "");

    let outputs = run_until(&mut layer, start, start + ms(1000));

    assert_eq!(sent_at(&outputs, b"OPTIONS 2"), vec![ms(700)]);
    assert_eq!(sent_at(&outputs, b"OPTIONS 0"), vec![ms(800)]);
    assert!(
        sent_at(&outputs, b"OPTIONS 1").is_empty(),
        "Completed stops E"
    );
    assert_eq!(outputs.len(), 2);
    assert_eq!(
        layer.poll_timeout(),
        Some(start + ms(1700)),
        "E of #2, then #0"
    );
}

#[test]
fn a_burst_of_transactions_gives_its_table_back_once_it_has_expired() {
    let start = test_start();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let udp = peer(Transport::Udp);
    let bye = |n: usize| ServerKey {
        branch: format!("z9hG4bK-burst-{n}"),
        sent_by: "10.0.0.1:5060".into(),
        method: TxMethod::NonInvite("BYE".into()),
    };
    for n in 0..5000 {
        layer
            .server_request(start, bye(n), false, udp)
            .expect("room");
        layer
            .server_respond(start, &bye(n), 200, Bytes::from_static(b"200"))
            .expect("live");
    }
    // One more, later: it outlives the burst and must survive the move.
    let late = start + ms(20_000);
    layer
        .server_request(late, bye(5000), false, udp)
        .expect("room");
    layer
        .server_respond(late, &bye(5000), 200, Bytes::from_static(b"200"))
        .expect("live");
    assert_eq!(layer.slots(), 5001);
    run_until(&mut layer, start, start + ms(33_000));
    assert_eq!(layer.len(), 1);
    assert_eq!(layer.slots(), 1, "the expired burst's slots are given back");
    // The survivor still absorbs its retransmission and still expires.
    assert_eq!(
        layer.server_request(start + ms(33_000), bye(5000), false, udp),
        Ok(ServerVerdict::Retransmission)
    );
    drain(&mut layer);
    assert_eq!(layer.poll_timeout(), Some(late + ms(32_000)));
    run_until(&mut layer, start, late + ms(32_000));
    assert_eq!((layer.len(), layer.slots()), (0, 1));
}
