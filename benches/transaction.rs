//! Transaction layer throughput in virtual time: one full server non-INVITE transaction
//! (request in, final out, Timer J) and one client INVITE cycle (INVITE out, 180, 486
//! in, ACK out, Timer D), each reported as transactions per second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchyard::sip::transaction::{
    AckTemplate, ClientKey, ServerKey, TimerConfig, TransactionLayer, TxMethod,
};
use switchyard::sip::{Peer, Transport};

const ACK_HEAD: &[u8] = b"ACK sip:agent@10.0.0.2 SIP/2.0\r\n\
    Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n\
    Max-Forwards: 70\r\nFrom: <sip:caller@10.0.0.1>;tag=a1\r\n\
    Call-ID: c1@10.0.0.1\r\nCSeq: 1 ACK\r\n";

/// Live transactions held while the server bench runs, near `TRANSACTIONS_MAX`.
const LIVE_BACKGROUND: usize = 190_000;

/// The virtual clock starts at one real instant; benches are drivers, not cores.
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

fn drain(layer: &mut TransactionLayer) {
    while let Some(output) = layer.poll_output() {
        black_box(output);
    }
}

fn server_non_invite(c: &mut Criterion) {
    let peer = Peer {
        transport: Transport::Udp,
        addr: "127.0.0.1:5060".parse().expect("valid address"),
    };
    let response = Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n");
    let mut group = c.benchmark_group("transaction");
    group.throughput(Throughput::Elements(1));
    for live in [0usize, LIVE_BACKGROUND] {
        let name = format!("server_non_invite_full/{live}_live");
        group.bench_function(name, |b| {
            let mut layer = TransactionLayer::new(TimerConfig::default());
            // Ringing calls: server INVITEs in Proceeding, in the maps but with no timers.
            for i in 0..live {
                let key = ServerKey {
                    branch: format!("z9hG4bK-ringing-{i}"),
                    sent_by: "10.0.0.9:5060".into(),
                    method: TxMethod::Invite,
                };
                layer
                    .server_request(start(), key, false, peer)
                    .expect("room");
            }
            let mut now = start();
            let mut n = 0u64;
            b.iter(|| {
                n += 1;
                let key = ServerKey {
                    branch: format!("z9hG4bK-{n}"),
                    sent_by: "10.0.0.1:5060".into(),
                    method: TxMethod::NonInvite("OPTIONS".into()),
                };
                layer
                    .server_request(now, key.clone(), false, peer)
                    .expect("room");
                layer
                    .server_respond(now, &key, 200, response.clone())
                    .expect("live");
                drain(&mut layer);
                now += Duration::from_secs(32);
                layer.handle_timeout(now);
                debug_assert_eq!(layer.len(), live);
            });
        });
    }
    group.bench_function("client_invite_cycle", |b| {
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let mut now = start();
        let mut n = 0u64;
        let invite = Bytes::from_static(b"INVITE sip:agent@10.0.0.2 SIP/2.0\r\n\r\n");
        let ack = AckTemplate::new(Bytes::from_static(ACK_HEAD)).expect("CRLF");
        b.iter(|| {
            n += 1;
            let key = ClientKey {
                branch: format!("z9hG4bK-{n}"),
                method: TxMethod::Invite,
            };
            layer
                .client_send(now, key.clone(), peer, invite.clone(), Some(ack.clone()))
                .expect("room");
            layer.client_response(now, &key, 180, "<sip:agent@10.0.0.2>;tag=b2");
            layer.client_response(now, &key, 486, "<sip:agent@10.0.0.2>;tag=b2");
            drain(&mut layer);
            now += Duration::from_secs(32);
            layer.handle_timeout(now);
            debug_assert!(layer.is_empty());
        });
    });
    group.finish();
}

criterion_group!(benches, server_non_invite);
criterion_main!(benches);
