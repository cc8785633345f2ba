//! The relay listens for answering machines on real UDP: generated answers
//! (a person's "hello", a machine's greeting and beep) sent as PCMU RTP to
//! a leg told to `detect` come back as the events the pure detector gives
//! on the same audio: the verdict, then for a machine the greeting's end.

#![allow(clippy::disallowed_methods)] // real sockets under a real clock

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;
use rtp_types::RtpPacketBuilder;
use switchyard::call::CallRef;
use switchyard::media::amd::corpus::{self, Kind, Sample};
use switchyard::media::amd::{AmdSettings, Verdict};
use switchyard::media::command::{LegRemote, MediaEvent};
use switchyard::media::g711::ulaw_encode_into;
use switchyard::media::relay::{self, RelayConfig};
use switchyard::media::sdp::Codec;
use tokio::net::UdpSocket;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const FRAME: usize = 160;

/// What the detector makes of `audio` as PCMU carries it.
fn offline(audio: &[i16]) -> (Verdict, Option<bool>) {
    let heard = corpus::listen(&AmdSettings::default(), &corpus::through_pcmu(audio));
    heard.expect("a verdict within the sample")
}

async fn relay_heard(sample: &Sample, call: CallRef) -> (Verdict, Option<bool>) {
    let block = support::free_port_block(4);
    let lo = block + block % 2;
    let (handle, mut events) = relay::start(RelayConfig::loopback(lo, lo + 3)).unwrap();
    let leg = handle.allocate_leg(call).unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = phone.local_addr().unwrap();
    let remote = LegRemote {
        rtp: Some(addr),
        rtcp: Some(SocketAddr::new(addr.ip(), addr.port() + 1)),
        codec: Codec::Pcmu,
        codec_pt: 0,
        telephone_event: None,
        ptime: switchyard::media::packetize::PTIME_DEFAULT,
        srtp: None,
    };
    handle.set_remote(leg.leg, remote).unwrap();
    handle.detect(leg.leg, true).unwrap();
    for (i, frame) in sample.audio.chunks(FRAME).enumerate() {
        let mut law = vec![0u8; frame.len()];
        ulaw_encode_into(frame, &mut law);
        let p = RtpPacketBuilder::new()
            .payload_type(0)
            .sequence_number(i as u16)
            .timestamp((i * FRAME) as u32)
            .ssrc(0xA3D)
            .payload(law.as_slice())
            .write_vec()
            .unwrap();
        phone.send_to(&p, leg.rtp_addr).await.unwrap();
        // Faster than real time (the detector counts audio, not clock),
        // in steps the socket buffers hold.
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut verdict = None;
    loop {
        let event = timeout(WAIT, events.recv())
            .await
            .expect("an event in time")
            .expect("relay alive");
        match event {
            MediaEvent::Answering {
                call: c,
                verdict: v,
            } if c == call => {
                if !v.is_machine() {
                    return (v, None);
                }
                verdict = Some(v);
            }
            MediaEvent::GreetingOver { call: c, beeped } if c == call => {
                return (verdict.expect("the verdict comes first"), Some(beeped));
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn the_relay_tells_a_person_and_a_machine_as_the_detector_does() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let set = corpus::generate(&mut rng, 20, 20);
    let person = set
        .iter()
        .find(|s| s.kind == Kind::Human && s.case == "hello")
        .unwrap();
    let machine = set
        .iter()
        .find(|s| {
            s.kind == Kind::Machine && s.case == "greeting" && offline(&s.audio).1 == Some(true)
        })
        .expect("a greeting with a beep");
    let heard = relay_heard(person, CallRef(1)).await;
    assert!(!heard.0.is_machine(), "{heard:?}");
    assert_eq!(heard, offline(&person.audio));
    let heard = relay_heard(machine, CallRef(2)).await;
    assert_eq!(heard, offline(&machine.audio));
    assert_eq!(heard.1, Some(true), "the beep ended the greeting");
}
