//! The shards over real loopback sockets: per-dialog order, a stalled
//! shard, a core that is behind.

use std::collections::{HashMap, HashSet};
use std::net::UdpSocket;

use tokio::sync::mpsc::{self as tmpsc, Receiver as CoreReceiver};
use tokio::time::timeout;

use super::*;
use crate::sip::build;
use crate::sip::parse::Method;
use crate::sip::Transport;

const WAIT: Duration = Duration::from_secs(10);

fn config(shards: usize, queue_max: usize) -> ShardConfig {
    ShardConfig {
        shards,
        queue_max,
        core_messages_max: CORE_MESSAGES_MAX,
        retry_after: Duration::from_secs(7),
        force_rport: false,
        transactions_max: 1000,
        timers: TimerConfig::default(),
    }
}

fn start(config: &ShardConfig, core_max: usize) -> (ShardSet, CoreReceiver<Batch>, UdpSocket) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (tx, rx) = tmpsc::channel(core_max);
    let set = ShardSet::start(socket, config, tx).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(set.socket.local_addr().unwrap()).unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    (set, rx, client)
}

/// The branch of message `seq` of dialog `call`.
fn branch(call: &str, seq: usize) -> String {
    let call: String = call.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("z9hG4bK{call}x{seq}")
}

/// A request or response of dialog `call`, numbered `seq` in an X-Seq
/// header; each `seq` has its own branch (a transaction of its own).
fn message(start: &str, call: &str, cseq: &str, to_tag: bool, seq: usize) -> Vec<u8> {
    let tag = if to_tag { ";tag=b" } else { "" };
    let branch = branch(call, seq);
    format!(
        "{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch={branch}\r\n\
         From: <sip:a@x>;tag=a\r\nTo: <sip:b@y>{tag}\r\nCall-ID: {call}\r\nCSeq: {cseq}\r\n\
         Max-Forwards: 70\r\nX-Seq: {seq}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn seq_of(m: &Inbound) -> usize {
    let text = std::str::from_utf8(&m.bytes).unwrap();
    if let Err(e) = &m.parsed {
        panic!("not parsed: {e}\n{text}");
    }
    let line = text.lines().find(|l| l.starts_with("X-Seq:")).unwrap();
    line[6..].trim().parse().unwrap()
}

/// Call-IDs that the shard key deals to `shard` of `shards`.
fn ids_on(shard: usize, shards: usize, count: usize) -> Vec<String> {
    let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
    (0..)
        .map(|i| format!("c{i}@t"))
        .filter(|id| {
            key::shard_of(
                &message("OPTIONS sip:a SIP/2.0", id, "1 OPTIONS", false, 0),
                src,
                shards,
            ) == shard
        })
        .take(count)
        .collect()
}

async fn next(rx: &mut CoreReceiver<Batch>) -> Batch {
    timeout(WAIT, rx.recv())
        .await
        .expect("a batch in time")
        .expect("open")
}

#[tokio::test]
async fn each_dialog_reaches_the_core_in_the_order_it_was_sent() {
    let (set, mut rx, client) = start(&config(3, SHARD_QUEUE_MAX), CORE_MESSAGES_MAX);
    // Per dialog: INVITE, a second INVITE (its own transaction: the layer
    // takes retransmissions, see below), a CANCEL racing the agent's 200,
    // the ACK, then a re-INVITE and a BYE racing it. Dialogs interleave.
    let steps: [(&str, &str, bool); 7] = [
        ("INVITE sip:b@y SIP/2.0", "1 INVITE", false),
        ("INVITE sip:b@y SIP/2.0", "1 INVITE", false),
        ("CANCEL sip:b@y SIP/2.0", "1 CANCEL", false),
        ("SIP/2.0 200 OK", "1 INVITE", true),
        ("ACK sip:b@y SIP/2.0", "1 ACK", true),
        ("INVITE sip:b@y SIP/2.0", "2 INVITE", true),
        ("BYE sip:b@y SIP/2.0", "3 BYE", true),
    ];
    let calls: Vec<String> = (0..64).map(|i| format!("order-{i}@t")).collect();
    let mut seen: HashMap<String, (usize, Vec<usize>)> = HashMap::new();
    let mut shards_used = HashSet::new();
    // Eight dialogs at a time, so a burst fits a loopback socket's default
    // buffer; within a group every dialog's messages race the others'.
    for group in calls.chunks(8) {
        for (seq, (start, cseq, tag)) in steps.iter().enumerate() {
            for call in group {
                client.send(&message(start, call, cseq, *tag, seq)).unwrap();
            }
        }
        let mut got = 0;
        while got < group.len() * steps.len() {
            let batch = next(&mut rx).await;
            shards_used.insert(batch.shard);
            for m in &batch.messages {
                let call = m.parsed.as_ref().unwrap().call_id().to_owned();
                let entry = seen.entry(call).or_insert((batch.shard, Vec::new()));
                assert_eq!(entry.0, batch.shard, "a dialog stays on its shard");
                entry.1.push(seq_of(m));
                got += 1;
            }
        }
    }
    assert_eq!(shards_used.len(), 3, "dialogs spread over every shard");
    for call in &calls {
        assert_eq!(seen[call].1, (0..steps.len()).collect::<Vec<_>>(), "{call}");
    }
    let taken: u64 = set.figures().iter().map(|f| f.received).sum();
    assert_eq!(taken, (calls.len() * steps.len()) as u64);
    set.stop();
}

#[tokio::test]
async fn a_stalled_shard_does_not_stop_the_others_and_drops_past_its_bound() {
    let (set, mut rx, client) = start(&config(2, 8), CORE_MESSAGES_MAX);
    let release = set.stall(0);
    let slow = ids_on(0, 2, 20);
    // No more than shard 1's bound: it may not take any before the last.
    let fast = ids_on(1, 2, 8);
    for (seq, id) in slow.iter().chain(&fast).enumerate() {
        let req = message("OPTIONS sip:b@y SIP/2.0", id, "1 OPTIONS", false, seq);
        client.send(&req).unwrap();
    }
    // Shard 1 delivers everything while shard 0 is held.
    let mut from_fast = Vec::new();
    while from_fast.len() < fast.len() {
        let batch = next(&mut rx).await;
        assert_eq!(batch.shard, 1, "the stalled shard delivered");
        set.took(batch.messages.len());
        from_fast.extend(batch.messages.iter().map(seq_of));
    }
    assert_eq!(from_fast, (20..28).collect::<Vec<_>>());
    // The receiver dealt every datagram before shard 1's last one: shard 0
    // kept its bound and dropped the rest.
    let f = set.figures();
    assert_eq!((f[0].received, f[0].dropped_full), (20, 12));
    assert_eq!((f[1].received, f[1].dropped_full), (8, 0));
    // What the held shard kept waits in front of the core.
    assert_eq!(set.waiting(), 8);
    drop(release);
    let mut from_slow = Vec::new();
    let mut behind = Vec::new();
    while from_slow.len() < 8 {
        let batch = next(&mut rx).await;
        assert_eq!(batch.shard, 0);
        behind.push(set.took(batch.messages.len()));
        from_slow.extend(batch.messages.iter().map(seq_of));
    }
    assert_eq!(behind.last(), Some(&0), "{behind:?}");
    assert!(behind.iter().all(|&n| n < 8), "{behind:?}");
    assert_eq!(
        from_slow,
        (0..8).collect::<Vec<_>>(),
        "the first eight, in order"
    );
    set.stop();
}

/// A STUN binding request (RFC 5389), answered by the shard itself.
const STUN_BINDING: [u8; 20] = [
    0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];

#[tokio::test]
async fn a_core_behind_gets_new_invites_refused_503_by_the_shard() {
    let (set, mut rx, client) = start(&config(1, SHARD_QUEUE_MAX), 1);
    let mut buf = [0u8; 4096];
    // The first batch fills the core's one slot; the STUN answer comes
    // after the shard handed it over.
    let options = message("OPTIONS sip:b@y SIP/2.0", "fill@t", "1 OPTIONS", false, 0);
    client.send(&options).unwrap();
    client.send(&STUN_BINDING).unwrap();
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..2], &[1, 1], "a binding success: {:?}", &buf[..n]);
    let bye = message("BYE sip:b@y SIP/2.0", "up@t", "2 BYE", true, 1);
    client.send(&bye).unwrap();
    let invite = message("INVITE sip:b@y SIP/2.0", "new@t", "1 INVITE", false, 2);
    client.send(&invite).unwrap();
    let n = client.recv(&mut buf).unwrap();
    let reply = Message::parse(Bytes::copy_from_slice(&buf[..n])).expect("a SIP response");
    assert_eq!(reply.status(), Some(503));
    assert_eq!(reply.call_id(), "new@t");
    assert!(reply.to().tag().is_some(), "a final response has a To tag");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.contains("Retry-After: 7\r\n"), "{text}");
    let f = set.figures()[0];
    assert_eq!((f.received, f.shed, f.dropped_busy), (4, 1, 1));
    // The 503 is on the INVITE's transaction: the layer answers its
    // retransmission and takes its ACK; neither is shed or dropped again.
    client.send(&invite).unwrap();
    assert_eq!(next_reply(&client).status(), Some(503));
    let ack = message("ACK sip:b@y SIP/2.0", "new@t", "1 ACK", true, 2);
    client.send(&ack).unwrap();
    // A STUN answer after them: the shard has taken both (a 503 resent
    // by its timer may come first).
    client.send(&STUN_BINDING).unwrap();
    while client.recv(&mut buf).unwrap() == 0 || buf[..2] != [1, 1] {}
    let f = set.figures()[0];
    assert_eq!((f.received, f.shed, f.dropped_busy), (7, 1, 1));
    // What did get through is intact, and the only message waiting.
    assert_eq!(set.waiting(), 1);
    let batch = next(&mut rx).await;
    assert_eq!(set.took(batch.messages.len()), 0);
    assert_eq!(batch.messages.len(), 1);
    assert_eq!(seq_of(&batch.messages[0]), 0);
    set.stop();
}

#[tokio::test]
async fn what_the_core_sends_leaves_in_order_and_stop_frees_the_port() {
    let (mut set, _rx, client) = start(&config(2, SHARD_QUEUE_MAX), CORE_MESSAGES_MAX);
    let dst = client.local_addr().unwrap();
    for seq in 0..50 {
        let m = message("SIP/2.0 180 Ringing", "out@t", "1 INVITE", true, seq);
        set.transmit(dst, Bytes::from(m));
        if seq % 7 == 0 {
            set.flush();
        }
    }
    set.flush();
    let mut buf = [0u8; 4096];
    for seq in 0..50 {
        let n = client.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.contains(&format!("X-Seq: {seq}\r\n")), "{seq}: {text}");
    }
    let addr = set.socket.local_addr().unwrap();
    set.stop();
    UdpSocket::bind(addr).expect("the SIP port is free once the shards stopped");
}

#[tokio::test]
async fn sends_to_one_peer_are_dealt_by_call_id_and_each_dialog_keeps_its_order() {
    let (mut set, _rx, client) = start(&config(2, SHARD_QUEUE_MAX), CORE_MESSAGES_MAX);
    let dst = client.local_addr().unwrap();
    let calls = [ids_on(0, 2, 1).remove(0), ids_on(1, 2, 1).remove(0)];
    for seq in 0..20 {
        let call = &calls[seq % 2];
        let m = message("SIP/2.0 180 Ringing", call, "1 INVITE", true, seq);
        set.transmit(dst, Bytes::from(m));
    }
    set.flush();
    let mut last: HashMap<String, usize> = HashMap::new();
    let mut buf = [0u8; 4096];
    for _ in 0..20 {
        let n = client.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let call = calls
            .iter()
            .find(|c| text.contains(&format!("Call-ID: {c}\r\n")))
            .unwrap();
        let seq: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Seq: "))
            .unwrap()
            .parse()
            .unwrap();
        if let Some(before) = last.insert(call.clone(), seq) {
            assert!(before < seq, "{call}: {seq} after {before}");
        }
    }
    // Read once the threads have ended, so every count is in.
    let counters = set.counters.clone();
    set.stop();
    let sent: Vec<u64> = counters.iter().map(|c| c.sent.load(Relaxed)).collect();
    assert_eq!(
        sent,
        [10, 10],
        "one destination, two dialogs: both shards send"
    );
}

#[tokio::test]
async fn past_the_message_bound_new_invites_get_503_until_the_core_catches_up() {
    let mut cfg = config(1, SHARD_QUEUE_MAX);
    cfg.core_messages_max = 2;
    let (set, mut rx, client) = start(&cfg, CORE_MESSAGES_MAX);
    let mut taken = 0;
    for seq in 0..2 {
        let id = format!("fill{seq}@t");
        client
            .send(&message(
                "OPTIONS sip:b@y SIP/2.0",
                &id,
                "1 OPTIONS",
                false,
                seq,
            ))
            .unwrap();
        taken += next(&mut rx).await.messages.len();
    }
    // Two wait for the core, which has not taken them: the bound is reached.
    assert_eq!(set.waiting(), 2);
    let invite = message("INVITE sip:b@y SIP/2.0", "new@t", "1 INVITE", false, 2);
    client.send(&invite).unwrap();
    let mut buf = [0u8; 4096];
    let n = client.recv(&mut buf).unwrap();
    let reply = Message::parse(Bytes::copy_from_slice(&buf[..n])).expect("a SIP response");
    assert_eq!((reply.status(), reply.call_id()), (Some(503), "new@t"));
    assert_eq!(set.figures()[0].shed, 1);
    // Once the core took them, the next INVITE reaches it.
    assert_eq!(set.took(taken), 0);
    let again = message("INVITE sip:b@y SIP/2.0", "later@t", "1 INVITE", false, 3);
    client.send(&again).unwrap();
    let batch = next(&mut rx).await;
    assert_eq!(seq_of(&batch.messages[0]), 3);
    set.stop();
}

#[test]
fn the_bound_in_front_of_the_core_stays_above_the_backlog_mark() {
    assert_eq!(core_messages_max(5000), CORE_MESSAGES_MAX);
    assert_eq!(core_messages_max(100_000), 200_000);
}

/// The next SIP message the client gets.
fn next_reply(client: &UdpSocket) -> Message {
    let mut buf = [0u8; 4096];
    let n = client.recv(&mut buf).expect("a datagram in time");
    Message::parse(Bytes::copy_from_slice(&buf[..n])).expect("SIP")
}

/// X-Seq numbers of a batch's messages.
/// The core's answer to an INVITE a shard passed on, by command to that
/// shard's layer, handed over at once.
fn answer_invite(set: &mut ShardSet, m: &Inbound, status: u16, reason: &str, tag: Option<&str>) {
    let msg = m.parsed.as_ref().unwrap();
    let key = tx::server_key(msg, &Method::Invite);
    let bytes = build::response_to(msg, m.peer, status, reason, tag).finish(None);
    set.command(Command::Respond { key, status, bytes });
    set.flush();
}

fn seqs(batch: &Batch) -> Vec<usize> {
    batch.messages.iter().map(seq_of).collect()
}

#[tokio::test]
async fn the_layer_answers_retransmissions_and_takes_the_ack_of_a_failure() {
    let (mut set, mut rx, client) = start(&config(1, SHARD_QUEUE_MAX), CORE_MESSAGES_MAX);
    let invite = message("INVITE sip:b@y SIP/2.0", "rt@t", "1 INVITE", false, 0);
    client.send(&invite).unwrap();
    let batch = next(&mut rx).await;
    set.took(batch.messages.len());
    assert_eq!(seqs(&batch), [0]);
    let m = &batch.messages[0];
    assert!(m.seen.as_ref().is_some_and(Seen::is_new), "{:?}", m.seen);
    // The core turns the call away, on the shard's transaction.
    answer_invite(&mut set, m, 486, "Busy Here", Some("b"));
    assert_eq!(next_reply(&client).status(), Some(486));
    // The INVITE again: the layer answers it again, without the core.
    client.send(&invite).unwrap();
    assert_eq!(next_reply(&client).status(), Some(486));
    // The ACK of the 486 (the INVITE's branch) ends in the layer too; the
    // next request reaches the core alone, so neither came before it.
    client
        .send(&message("ACK sip:b@y SIP/2.0", "rt@t", "1 ACK", true, 0))
        .unwrap();
    let options = message("OPTIONS sip:b@y SIP/2.0", "rt@t", "2 OPTIONS", true, 1);
    client.send(&options).unwrap();
    let batch = next(&mut rx).await;
    assert_eq!(seqs(&batch), [1]);
    assert!(batch.events.is_empty());
    set.stop();
}

#[tokio::test]
async fn a_request_the_core_sends_is_retransmitted_until_answered_or_timed_out() {
    // T1 10 ms: the unanswered request times out (Timer F) after 640 ms.
    let mut cfg = config(1, SHARD_QUEUE_MAX);
    let ms = Duration::from_millis;
    cfg.timers = TimerConfig::new(ms(10), ms(40), ms(50)).unwrap();
    let (mut set, mut rx, client) = start(&cfg, CORE_MESSAGES_MAX);
    let peer = Peer {
        transport: Transport::Udp,
        addr: client.local_addr().unwrap(),
    };
    let key = |call: &str| tx::ClientKey {
        branch: branch(call, 0),
        method: tx::TxMethod::NonInvite("OPTIONS".into()),
    };
    for call in ["answered@t", "silent@t"] {
        let bytes = Bytes::from(message(
            "OPTIONS sip:b@y SIP/2.0",
            call,
            "1 OPTIONS",
            true,
            0,
        ));
        let (key, ack) = (key(call), None);
        set.command(Command::Send {
            key,
            peer,
            bytes,
            ack,
        });
    }
    set.flush();
    // Each arrives, and arrives again: the shard's timers resend them.
    let mut copies: HashMap<String, usize> = HashMap::new();
    while copies.len() < 2 || copies.values().any(|&n| n < 2) {
        let got = next_reply(&client);
        *copies.entry(got.call_id().to_owned()).or_default() += 1;
    }
    // One is answered, twice; then a marker request on the same shard.
    let ok = message("SIP/2.0 200 OK", "answered@t", "1 OPTIONS", true, 0);
    client.send(&ok).unwrap();
    client.send(&ok).unwrap();
    let marker = message("OPTIONS sip:b@y SIP/2.0", "marker@t", "1 OPTIONS", false, 7);
    client.send(&marker).unwrap();
    let (mut seen, mut timeouts) = (Vec::new(), Vec::new());
    while timeouts.is_empty() {
        let batch = next(&mut rx).await;
        set.took(batch.messages.len());
        timeouts.extend(batch.events);
        seen.extend(batch.messages.iter().map(|m| (seq_of(m), m.seen.clone())));
    }
    let deliver = Some(Seen::Response {
        verdict: tx::ClientVerdict::Deliver,
        key: Some(key("answered@t")),
    });
    // The 200 once (its resend ended in the layer), then the marker.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], (0, deliver));
    assert_eq!(seen[1].0, 7);
    assert!(seen[1].1.as_ref().is_some_and(Seen::is_new));
    assert_eq!(
        timeouts,
        [tx::Event::Timeout {
            key: key("silent@t")
        }]
    );
    set.stop();
}

#[tokio::test]
async fn a_request_the_core_drops_unanswered_reaches_it_again_when_resent() {
    let (mut set, mut rx, client) = start(&config(1, SHARD_QUEUE_MAX), CORE_MESSAGES_MAX);
    let register = message("REGISTER sip:y SIP/2.0", "fg@t", "1 REGISTER", false, 0);
    client.send(&register).unwrap();
    let batch = next(&mut rx).await;
    set.took(batch.messages.len());
    assert_eq!(seqs(&batch), [0]);
    // Resent while the core holds it: the layer takes it silently.
    client.send(&register).unwrap();
    let marker = message("OPTIONS sip:b@y SIP/2.0", "fg@t", "2 OPTIONS", false, 1);
    client.send(&marker).unwrap();
    let batch = next(&mut rx).await;
    set.took(batch.messages.len());
    assert_eq!(seqs(&batch), [1]);
    // The core drops it (a back-off, a flood): the transaction goes, and
    // the next resend is a new request for the core.
    let msg = Message::parse(Bytes::from(register.clone())).unwrap();
    let key = tx::server_key(&msg, &Method::Register);
    let call_id = "fg@t".to_string();
    set.command(Command::Forget { key, call_id });
    set.flush();
    client.send(&register).unwrap();
    let batch = next(&mut rx).await;
    assert_eq!(seqs(&batch), [0]);
    let new = Seen::Request {
        verdict: Ok(tx::ServerVerdict::New),
        key: tx::server_key(&msg, &Method::Register),
    };
    assert_eq!(batch.messages[0].seen, Some(new));
    set.stop();
}

#[tokio::test]
async fn a_call_the_core_has_is_not_refused_when_its_invite_comes_again_while_it_is_behind() {
    let mut cfg = config(1, SHARD_QUEUE_MAX);
    cfg.core_messages_max = 1;
    let (mut set, mut rx, client) = start(&cfg, CORE_MESSAGES_MAX);
    let invite = message("INVITE sip:b@y SIP/2.0", "up@t", "1 INVITE", false, 0);
    client.send(&invite).unwrap();
    let batch = next(&mut rx).await;
    // The core answers 100 and keeps the message untaken: it is behind.
    let m = &batch.messages[0];
    answer_invite(&mut set, m, 100, "Trying", None);
    assert_eq!(next_reply(&client).status(), Some(100));
    assert_eq!(set.waiting(), 1, "the bound is reached");
    // The caller resends its INVITE: the layer answers 100 again; no 503.
    client.send(&invite).unwrap();
    assert_eq!(next_reply(&client).status(), Some(100));
    assert_eq!(set.figures()[0].shed, 0);
    set.stop();
}
