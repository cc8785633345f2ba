//! Cost of one 20 ms frame through the audio codecs the relay transcodes
//! with: G.722 encode and decode at 16 kHz, and the transcoder paths that
//! bridge a G.722 leg to a PCMU or an Opus leg (G.722's resampling
//! included), beside PCMU → Opus as the known baseline.
//!
//! Run: `cargo bench --bench codec`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard::media::g711;
use switchyard::media::g722::{self, FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE_HZ};
use switchyard::media::sdp::Codec;
use switchyard::media::tone::Sine;
use switchyard::media::transcode::{Transcoder, OPUS_PACKET_BYTES_MAX};

/// 8 kHz samples in 20 ms.
const FRAME_8K: usize = 160;

fn g722_frames(c: &mut Criterion) {
    let mut pcm = [0i16; FRAME_SAMPLES];
    Sine::new(1000.0, SAMPLE_RATE_HZ, 0.5).fill(&mut pcm);
    let mut group = c.benchmark_group("g722_20ms");
    let mut enc = g722::Encoder::new();
    let mut bytes = [0u8; FRAME_BYTES];
    group.bench_function("encode", |b| {
        b.iter(|| enc.encode(black_box(&pcm), &mut bytes).expect("sizes"))
    });
    let mut dec = g722::Decoder::new();
    let mut out = [0i16; FRAME_SAMPLES];
    group.bench_function("decode", |b| {
        b.iter(|| dec.decode(black_box(&bytes), &mut out).expect("sizes"))
    });
    group.bench_function("encode_decode", |b| {
        b.iter(|| {
            enc.encode(black_box(&pcm), &mut bytes).expect("sizes");
            dec.decode(&bytes, &mut out).expect("sizes")
        })
    });
    group.finish();
}

/// One frame each way between two legs, as the relay does per 20 ms.
fn transcoded_call(c: &mut Criterion) {
    let mut pcm = [0i16; FRAME_8K];
    Sine::new(1000.0, 8000, 0.5).fill(&mut pcm);
    let mut pcmu = [0u8; FRAME_8K];
    g711::ulaw_encode_into(&pcm, &mut pcmu);
    let mut group = c.benchmark_group("transcoded_call_20ms");
    for (name, other) in [("g722_pcmu", Codec::Pcmu), ("g722_opus", Codec::Opus)] {
        // The far leg's frame, made once by that leg's encoder.
        let mut far = [0u8; OPUS_PACKET_BYTES_MAX];
        let far_len = Transcoder::new(Codec::Pcmu, other)
            .expect("codec")
            .frame(&pcmu, &mut far)
            .expect("frame");
        let mut g722_frame = [0u8; FRAME_BYTES];
        Transcoder::new(Codec::Pcmu, Codec::G722)
            .expect("codec")
            .frame(&pcmu, &mut g722_frame)
            .expect("frame");
        let mut to_far = Transcoder::new(Codec::G722, other).expect("codec");
        let mut to_g722 = Transcoder::new(other, Codec::G722).expect("codec");
        let mut out = [0u8; OPUS_PACKET_BYTES_MAX];
        group.bench_function(name, |b| {
            b.iter(|| {
                to_far
                    .frame(black_box(&g722_frame), &mut out)
                    .expect("frame");
                to_g722
                    .frame(black_box(&far[..far_len]), &mut out)
                    .expect("frame")
            })
        });
    }
    let mut opus = [0u8; OPUS_PACKET_BYTES_MAX];
    let mut to_opus = Transcoder::new(Codec::Pcmu, Codec::Opus).expect("codec");
    let opus_len = to_opus.frame(&pcmu, &mut opus).expect("frame");
    let mut to_pcmu = Transcoder::new(Codec::Opus, Codec::Pcmu).expect("codec");
    let mut out = [0u8; OPUS_PACKET_BYTES_MAX];
    group.bench_function("pcmu_opus", |b| {
        b.iter(|| {
            to_opus.frame(black_box(&pcmu), &mut out).expect("frame");
            to_pcmu
                .frame(black_box(&opus[..opus_len]), &mut out)
                .expect("frame")
        })
    });
    group.finish();
}

criterion_group!(benches, g722_frames, transcoded_call);
criterion_main!(benches);
