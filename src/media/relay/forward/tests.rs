use std::time::Duration;

use rtp_types::{RtpPacket, RtpPacketBuilder};

use super::*;
use crate::media::g711::{alaw_encode, ulaw_decode};
use crate::media::sdp::Codec;

const CALLER: u32 = 0;

fn remote(codec: Codec, pt: u8, te: Option<u8>, ptime_ms: u64) -> Option<LegRemote> {
    Some(LegRemote {
        rtp: None,
        rtcp: None,
        codec,
        codec_pt: pt,
        telephone_event: te,
        ptime: Duration::from_millis(ptime_ms),
        srtp: None,
    })
}

fn path(from: Option<LegRemote>, to: Option<LegRemote>) -> ForwardPath {
    forward_path(from, to).expect("path")
}

/// An RTP packet; `extras` adds two CSRCs, a header extension and 4 bytes
/// of padding (RFC 3550 §5.1, §5.3.1).
fn packet(pt: u8, ssrc: u32, seq: u16, ts: u32, payload: &[u8], extras: bool) -> Vec<u8> {
    let mut b = RtpPacketBuilder::new()
        .payload_type(pt)
        .ssrc(ssrc)
        .sequence_number(seq)
        .timestamp(ts)
        .payload(payload);
    if extras {
        b = b
            .add_csrc(0xC5C1)
            .add_csrc(0xC5C2)
            .extension(0xBEDE, &[1, 2, 3, 4][..])
            .padding(4);
    }
    b.write_vec().expect("packet")
}

fn header(p: &[u8]) -> (u8, u32, u16, u32, bool) {
    let p = RtpPacket::parse(p).expect("parses");
    (
        p.payload_type(),
        p.ssrc(),
        p.sequence_number(),
        p.timestamp(),
        p.marker_bit(),
    )
}

/// Forwards `p` on a transcoding path and collects what comes out.
fn through(
    path: &mut ForwardPath,
    p: &mut [u8],
    stream: &mut OutboundStream,
) -> Result<Vec<Vec<u8>>, DropReason> {
    let te = Some(101);
    assert_eq!(forward(path, p, CALLER, te, stream)?, Forwarded::Queued);
    let ForwardPath::Transcode(t) = path else {
        panic!("a transcoding path");
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(built) = t.poll(CALLER, stream, &mut buf) {
        out.push(buf[..built?].to_vec());
    }
    Ok(out)
}

#[test]
fn same_codec_and_ptime_is_the_zero_copy_path_and_maps_telephone_event_types() {
    let mut p = path(
        remote(Codec::Pcmu, 0, Some(101), 20),
        remote(Codec::Pcmu, 0, Some(96), 20),
    );
    assert!(matches!(p, ForwardPath::Map(_)));
    let mut s = OutboundStream::new(0x5EED, 100, 1_000);
    let mut event = packet(101, 7, 1, 160, &[1, 0x8A, 0, 160], false);
    assert_eq!(
        forward(&mut p, &mut event, CALLER, Some(101), &mut s),
        Ok(Forwarded::InPlace)
    );
    assert_eq!(header(&event).0, 96, "101 on one leg is 96 on the other");
}

#[test]
fn csrcs_padding_and_extensions_pass_the_zero_copy_path_intact() {
    let mut p = path(
        remote(Codec::Pcma, 8, None, 20),
        remote(Codec::Pcma, 8, None, 20),
    );
    let payload = [0x55u8; 160];
    let mut pkt = packet(8, 7, 1, 160, &payload, true);
    let mut s = OutboundStream::new(0x5EED, 100, 1_000);
    assert_eq!(
        forward(&mut p, &mut pkt, CALLER, None, &mut s),
        Ok(Forwarded::InPlace)
    );
    let r = RtpPacket::parse(&pkt).expect("still parses");
    assert_eq!((r.ssrc(), r.sequence_number()), (0x5EED, 100));
    assert_eq!(r.csrc().collect::<Vec<_>>(), [0xC5C1, 0xC5C2]);
    assert_eq!(r.extension(), Some((0xBEDE, &[1, 2, 3, 4][..])));
    assert_eq!(r.payload(), &payload, "padding stays out of the payload");
}

#[test]
fn a_new_ssrc_mid_call_continues_the_outgoing_stream_on_both_paths() {
    for to_ptime in [20, 30] {
        let mut p = path(
            remote(Codec::Pcmu, 0, None, 20),
            remote(Codec::Pcmu, 0, None, to_ptime),
        );
        let mut s = OutboundStream::new(0x5EED, 100, 1_000);
        // As the relay sets it from the peer's SDP.
        s.set_frame_step(8 * to_ptime as u32);
        let mut sent = Vec::new();
        for (ssrc, seq0, ts0) in [(0xAAAA, 50u16, 8_000u32), (0xBBBB, 9, 77)] {
            for k in 0..3u16 {
                let mut pkt = packet(
                    0,
                    ssrc,
                    seq0 + k,
                    ts0 + 160 * u32::from(k),
                    &[0xFF; 160],
                    false,
                );
                match &p {
                    ForwardPath::Map(_) => {
                        let r = forward(&mut p, &mut pkt, CALLER, None, &mut s);
                        assert_eq!(r, Ok(Forwarded::InPlace));
                        sent.push(pkt);
                    }
                    ForwardPath::Transcode(_) => {
                        sent.extend(through(&mut p, &mut pkt, &mut s).unwrap())
                    }
                }
            }
        }
        let step = 8 * to_ptime as u32;
        assert!(sent.len() >= 3, "{to_ptime} ms: {} packets", sent.len());
        for w in sent.windows(2) {
            let (a, b) = (header(&w[0]), header(&w[1]));
            assert_eq!(b.1, 0x5EED, "one SSRC towards the peer");
            assert_eq!(
                b.2,
                a.2.wrapping_add(1),
                "{to_ptime} ms: sequence continues"
            );
            if b.4 {
                // The new source starts one frame after the last packet.
                assert_eq!(
                    b.3.wrapping_sub(a.3),
                    step,
                    "{to_ptime} ms: after the switch"
                );
            } else {
                assert_eq!(b.3.wrapping_sub(a.3), step, "{to_ptime} ms: timestamps");
            }
        }
        assert_eq!(
            sent.iter().filter(|p| header(p).4).count(),
            2,
            "{to_ptime} ms: the first packet and the new source are marked"
        );
    }
}

#[test]
fn comfort_noise_is_dropped_and_counted_as_such_on_both_paths() {
    for (codec, pt) in [(Codec::Pcmu, 0), (Codec::Pcma, 8)] {
        let mut p = path(
            remote(Codec::Pcmu, 0, Some(101), 20),
            remote(codec, pt, Some(101), 20),
        );
        let mut cn = packet(CN_PT, 7, 1, 160, &[40], false);
        let mut s = OutboundStream::new(1, 0, 0);
        assert_eq!(
            forward(&mut p, &mut cn, CALLER, Some(101), &mut s),
            Err(DropReason::ComfortNoise)
        );
    }
}

#[test]
fn events_the_peer_cannot_take_are_consumed_not_dropped() {
    let mut map = path(
        remote(Codec::Pcmu, 0, Some(101), 20),
        remote(Codec::Pcmu, 0, None, 20),
    );
    let mut trans = path(
        remote(Codec::Pcma, 8, Some(101), 30),
        remote(Codec::Pcmu, 0, Some(101), 20),
    );
    let mut s = OutboundStream::new(1, 0, 0);
    for p in [&mut map, &mut trans] {
        let mut event = packet(101, 7, 1, 160, &[1, 0x8A, 0, 160], false);
        assert_eq!(
            forward(p, &mut event, CALLER, Some(101), &mut s),
            Ok(Forwarded::Consumed)
        );
        let mut stray = packet(99, 7, 2, 160, &[0; 20], false);
        assert_eq!(
            forward(p, &mut stray, CALLER, Some(101), &mut s),
            Err(DropReason::UnmappedPayloadType)
        );
    }
}

#[test]
fn pcma_at_30ms_with_extras_becomes_pcmu_at_20ms_sample_for_sample() {
    let mut p = path(
        remote(Codec::Pcma, 8, Some(101), 20),
        remote(Codec::Pcmu, 0, Some(101), 20),
    );
    let mut s = OutboundStream::new(0x5EED, 100, 1_000);
    let mut out = Vec::new();
    let ramp: Vec<i16> = (0..720).map(|i| (i * 40 - 14_000) as i16).collect();
    for k in 0..3 {
        let payload: Vec<u8> = ramp[240 * k..240 * (k + 1)]
            .iter()
            .map(|&x| alaw_encode(x))
            .collect();
        let mut pkt = packet(8, 7, k as u16, 240 * k as u32, &payload, k == 1);
        out.extend(through(&mut p, &mut pkt, &mut s).unwrap());
    }
    assert_eq!(out.len(), 4, "720 samples in, four 20 ms packets out");
    let mut heard = Vec::new();
    for (i, pkt) in out.iter().enumerate() {
        let (pt, ssrc, seq, ts, _) = header(pkt);
        assert_eq!(
            (pt, ssrc, seq, ts),
            (0, 0x5EED, 100 + i as u16, 1_000 + 160 * i as u32)
        );
        assert_eq!(pkt.len(), 12 + 160);
        heard.extend(pkt[12..].iter().map(|&c| ulaw_decode(c)));
    }
    for (h, x) in heard.iter().zip(&ramp) {
        assert!((h - x).abs() <= x.abs() / 16 + 16, "sample {h} for {x}");
    }
}

#[test]
fn g711_at_20ms_becomes_opus_at_the_opus_legs_frames() {
    let mut p = path(
        remote(Codec::Pcmu, 0, None, 20),
        remote(Codec::Opus, 111, None, 40),
    );
    let mut s = OutboundStream::new(9, 0, 0);
    let mut out = Vec::new();
    for k in 0..4u32 {
        let mut pkt = packet(0, 7, k as u16, 160 * k, &[0xFF; 160], false);
        out.extend(through(&mut p, &mut pkt, &mut s).unwrap());
    }
    assert_eq!(out.len(), 2, "four 20 ms packets make two of 40 ms");
    assert_eq!(header(&out[1]).3.wrapping_sub(header(&out[0]).3), 1_920);
    assert_eq!(header(&out[0]).0, 111);
}

#[test]
fn audio_the_codec_cannot_take_is_labelled_so_not_malformed() {
    let mut p = path(
        remote(Codec::Pcmu, 0, None, 20),
        remote(Codec::Opus, 111, None, 20),
    );
    let mut s = OutboundStream::new(9, 0, 0);
    let mut long = packet(0, 7, 1, 0, &[0xFF; 600], false);
    assert_eq!(
        forward(&mut p, &mut long, CALLER, None, &mut s),
        Err(DropReason::CodecUnhandled)
    );
    let mut p = path(
        remote(Codec::Opus, 111, None, 20),
        remote(Codec::Pcmu, 0, None, 20),
    );
    let mut garbage = packet(111, 7, 1, 0, &[], false);
    assert_eq!(
        forward(&mut p, &mut garbage, CALLER, None, &mut s),
        Err(DropReason::CodecUnhandled)
    );
    let mut short = [0x80u8, 0, 1];
    assert_eq!(
        forward(&mut p, &mut short, CALLER, None, &mut s),
        Err(DropReason::Malformed)
    );
}

#[test]
fn a_duplicate_on_a_transcoded_path_is_dropped_as_late() {
    let mut p = path(
        remote(Codec::Pcma, 8, None, 20),
        remote(Codec::Pcmu, 0, None, 20),
    );
    let mut s = OutboundStream::new(9, 0, 0);
    let mut first = packet(8, 7, 1, 160, &[0xD5; 160], false);
    let mut again = first.clone();
    assert_eq!(through(&mut p, &mut first, &mut s).unwrap().len(), 1);
    assert_eq!(
        forward(&mut p, &mut again, CALLER, None, &mut s),
        Err(DropReason::Late)
    );
}

#[test]
fn g711_in_packets_of_another_length_than_declared_asks_for_repacketising() {
    let mut p = path(
        remote(Codec::Pcma, 8, Some(101), 20),
        remote(Codec::Pcma, 8, Some(101), 20),
    );
    let mut s = OutboundStream::new(9, 0, 0);
    let mut thirty = packet(8, 7, 1, 0, &[0xD5; 240], false);
    assert_eq!(
        forward(&mut p, &mut thirty, CALLER, Some(101), &mut s),
        Ok(Forwarded::Repacketize {
            ptime: Duration::from_millis(30)
        })
    );
    // Declared length, events and lengths out of 10-60 ms pass as they are.
    for (pt, len) in [(8, 160), (101, 4), (8, 40), (8, 640)] {
        let mut pkt = packet(pt, 7, 2, 160, &vec![0; len], false);
        assert_eq!(
            forward(&mut p, &mut pkt, CALLER, Some(101), &mut s),
            Ok(Forwarded::InPlace),
            "pt {pt}, {len} bytes"
        );
    }
    // The path the relay then takes: 30 ms in, 20 ms out.
    let mut p = path(
        remote(Codec::Pcma, 8, Some(101), 30),
        remote(Codec::Pcma, 8, Some(101), 20),
    );
    let out = through(&mut p, &mut thirty, &mut s).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), 12 + 160);
}
