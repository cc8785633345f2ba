//! The relay takes the core's media commands as they are (issue 9 item 5):
//! a call named by the switch's `CallRef`, a leg by its part, the relay's
//! own leg ids never leaving it. Real UDP on 127.0.0.1.

#![allow(clippy::disallowed_methods)] // real sockets under a real clock

use std::net::SocketAddr;
use std::time::Duration;

use rtp_types::{RtpPacket, RtpPacketBuilder};
use switchyard::call::CallRef;
use switchyard::media::command::{LegRemote, MediaCommand, MediaEvent, MediaInput, MediaLeg};
use switchyard::media::dtmf::EventPayload;
use switchyard::media::packetize::PTIME_DEFAULT;
use switchyard::media::relay::{self, MediaError, MediaHandle, RelayConfig};
use switchyard::media::sdp::Codec;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// `n` consecutive even-aligned ports that were free a moment ago.
fn port_block(n: u16) -> u16 {
    for _ in 0..200 {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let first = s.local_addr().unwrap().port() & !1;
        drop(s);
        if first < 1024 || first > u16::MAX - n {
            continue;
        }
        if (first..first + n).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return first;
        }
    }
    panic!("no block of {n} free UDP ports");
}

fn start() -> (MediaHandle, mpsc::Receiver<MediaEvent>, u16) {
    let first = port_block(8);
    let mut config = RelayConfig::loopback(first, first + 7);
    config.tick = Duration::from_millis(50);
    let (h, events) = relay::start(config).unwrap();
    (h, events, first)
}

async fn endpoint() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

fn pcmu(addr: SocketAddr) -> LegRemote {
    LegRemote {
        rtp: Some(addr),
        rtcp: None,
        codec: Codec::Pcmu,
        codec_pt: 0,
        telephone_event: Some(101),
        ptime: PTIME_DEFAULT,
        srtp: None,
    }
}

fn open(call: CallRef, leg: MediaLeg, port: u16) -> MediaCommand {
    MediaCommand::Open { call, leg, port }
}

fn set_remote(call: CallRef, leg: MediaLeg, addr: SocketAddr) -> MediaCommand {
    MediaCommand::SetRemote {
        call,
        leg,
        remote: pcmu(addr),
    }
}

/// Presses `event` (RFC 4733 §2.5.1: start, update, three ends) at `to`.
async fn press(from: &UdpSocket, to: SocketAddr, event: u8, ts: u32) {
    for (k, end) in [(1u16, false), (2, false), (3, true), (3, true), (3, true)] {
        let payload = EventPayload {
            event,
            end,
            volume: 10,
            duration: 160 * k,
        }
        .to_bytes();
        let p = RtpPacketBuilder::new()
            .payload_type(101)
            .sequence_number(ts as u16 + k)
            .timestamp(ts)
            .ssrc(0xD7)
            .payload(payload.as_slice())
            .write_vec()
            .unwrap();
        from.send_to(&p, to).await.unwrap();
    }
}

/// The next digit the relay reports, as the event and as the core hears it.
async fn next_digit(rx: &mut mpsc::Receiver<MediaEvent>) -> (MediaEvent, Option<MediaInput>) {
    timeout(WAIT, async {
        loop {
            let e = rx.recv().await.expect("relay alive");
            if matches!(e, MediaEvent::Digit { .. }) {
                let input = e.input();
                return (e, input);
            }
        }
    })
    .await
    .expect("a digit within the wait")
}

#[tokio::test]
async fn commands_by_call_ref_open_bridge_and_release_a_call() {
    let (h, mut events, port) = start();
    let call = CallRef(41);
    let (caller, caller_addr) = endpoint().await;
    let (agent, agent_addr) = endpoint().await;
    for c in [
        open(call, MediaLeg::Caller, port),
        open(call, MediaLeg::Agent, port + 2),
        set_remote(call, MediaLeg::Caller, caller_addr),
        set_remote(call, MediaLeg::Agent, agent_addr),
        MediaCommand::Bridge { call },
    ] {
        h.apply(c).unwrap();
    }
    let relay_caller = SocketAddr::from(([127, 0, 0, 1], port));
    let audio = RtpPacketBuilder::new()
        .payload_type(0)
        .sequence_number(1)
        .timestamp(0)
        .ssrc(0xCA11)
        .payload([0xffu8; 160].as_slice())
        .write_vec()
        .unwrap();
    caller.send_to(&audio, relay_caller).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = timeout(WAIT, agent.recv_from(&mut buf))
        .await
        .expect("the caller's packet reaches the agent")
        .unwrap();
    assert_eq!(from, SocketAddr::from(([127, 0, 0, 1], port + 2)));
    assert_eq!(RtpPacket::parse(&buf[..n]).unwrap().payload(), &[0xff; 160]);

    press(&caller, relay_caller, 5, 800).await;
    let (_, input) = next_digit(&mut events).await;
    assert_eq!(
        input,
        Some(MediaInput::Digit {
            call,
            leg: MediaLeg::Caller,
            digit: '5'
        })
    );

    h.apply(MediaCommand::Release { call }).unwrap();
    assert_eq!(h.stats().calls_active, 0);
    // The call is gone: what the core still says of it is a no-op.
    h.apply(MediaCommand::Bridge { call }).unwrap();
}

#[tokio::test]
async fn commands_for_legs_never_opened_do_nothing() {
    let (h, _events, _) = start();
    let call = CallRef(42);
    let addr = SocketAddr::from(([127, 0, 0, 1], 9));
    for c in [
        set_remote(call, MediaLeg::Agent, addr),
        MediaCommand::Bridge { call },
        MediaCommand::Unbridge { call },
        MediaCommand::Play {
            call,
            leg: MediaLeg::Caller,
            intro: vec!["position".into()],
            music: vec![],
        },
        MediaCommand::SendDigit {
            call,
            leg: MediaLeg::Caller,
            digit: '1',
        },
        MediaCommand::Release { call },
    ] {
        h.apply(c).unwrap();
    }
    // As before the move: ending supervision of an unknown call is refused.
    let err = h.apply(MediaCommand::EndSupervision { call }).unwrap_err();
    assert!(matches!(err, MediaError::UnknownLeg(_)), "{err}");
}

#[tokio::test]
async fn a_later_supervisor_leg_takes_the_part_over() {
    let (h, mut events, port) = start();
    let call = CallRef(43);
    let (first, first_addr) = endpoint().await;
    let (second, second_addr) = endpoint().await;
    for c in [
        open(call, MediaLeg::Supervisor, port),
        set_remote(call, MediaLeg::Supervisor, first_addr),
        open(call, MediaLeg::Supervisor, port + 2),
        set_remote(call, MediaLeg::Supervisor, second_addr),
    ] {
        h.apply(c).unwrap();
    }
    // The first supervisor's digit is heard by the relay, not by the core.
    press(&first, SocketAddr::from(([127, 0, 0, 1], port)), 1, 800).await;
    let (event, input) = next_digit(&mut events).await;
    assert!(
        matches!(event, MediaEvent::Digit { side: None, digit: '1', leg } if leg.call == call),
        "{event:?}"
    );
    assert_eq!(input, None);
    press(
        &second,
        SocketAddr::from(([127, 0, 0, 1], port + 2)),
        2,
        1600,
    )
    .await;
    let (_, input) = next_digit(&mut events).await;
    assert_eq!(
        input,
        Some(MediaInput::Digit {
            call,
            leg: MediaLeg::Supervisor,
            digit: '2'
        })
    );
}
