use super::*;
use crate::media::tone::{goertzel_power, mean_power, tone_present, Sine};

// ITU-T G.722 Appendix II digital test sequences (QMF bypassed), in the
// ITU's hex-ASCII form, and an excerpt of the ITU-T G.191 G.722 corpus
// (whole codec); `tests/data/g722/README.md` says where they come from.
const T1C2_XMT: &str = include_str!("../../../tests/data/g722/T1C2.XMT");
const T2R2_COD: &str = include_str!("../../../tests/data/g722/T2R2.COD");
const T3L2_RC1: &str = include_str!("../../../tests/data/g722/T3L2.RC1");
const T3H2_RC0: &str = include_str!("../../../tests/data/g722/T3H2.RC0");
const INPSP: &[u8] = include_bytes!("../../../tests/data/g722/inpsp-prefix.pcm");
const CODSPW: &[u8] = include_bytes!("../../../tests/data/g722/codspw-prefix.g722");
const OUTSP1: &[u8] = include_bytes!("../../../tests/data/g722/outsp1-prefix.pcm");

/// The 16-bit words of an Appendix II hex file (§II.4.4.1): comment lines
/// skipped, each line 16 words and a checksum that makes its bytes sum to 0.
fn itu_words(text: &str) -> Vec<u16> {
    let mut words = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() || line.starts_with("/*") {
            continue;
        }
        assert_eq!(line.len(), 66, "line {line:?}");
        let sum: u32 = line.bytes().take(64).map(u32::from).sum();
        let check = u32::from_str_radix(&line[64..], 16).unwrap();
        assert_eq!((sum + check) & 0xFF, 0, "checksum of {line:?}");
        for i in (0..64).step_by(4) {
            words.push(u16::from_str_radix(&line[i..i + 4], 16).unwrap());
        }
    }
    words
}

/// The data words between the reset markers (words with the LSB set).
fn data(words: &[u16]) -> &[u16] {
    let start = words.iter().position(|w| w & 1 == 0).unwrap();
    let len = words[start..].iter().position(|w| w & 1 == 1).unwrap();
    &words[start..start + len]
}

fn pcm_le(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn first_difference<T: PartialEq>(a: &[T], b: &[T]) -> Option<usize> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).position(|(x, y)| x != y)
}

#[test]
fn appendix_ii_overflow_sequence_encodes_bit_exact() {
    // Configuration 1: each 16-bit input word feeds both bands, the code is
    // the high byte of the reference word.
    let input = itu_words(T1C2_XMT);
    let reference = itu_words(T2R2_COD);
    let (input, reference) = (data(&input), data(&reference));
    assert_eq!(input.len(), 768);
    let mut enc = Encoder::new();
    let ours: Vec<u8> = input
        .iter()
        .map(|&w| {
            let x = i32::from(w as i16 >> 1);
            enc.encode_bands(x, x)
        })
        .collect();
    let want: Vec<u8> = reference.iter().map(|&w| (w >> 8) as u8).collect();
    assert_eq!(first_difference(&ours, &want), None);
}

#[test]
fn appendix_ii_overflow_codes_decode_bit_exact() {
    // Configuration 2, mode 1: the code is the high byte; RL·2 and RH·2 are
    // the lower- and higher-band references.
    let codes = itu_words(T2R2_COD);
    let low = itu_words(T3L2_RC1);
    let high = itu_words(T3H2_RC0);
    let (codes, low, high) = (data(&codes), data(&low), data(&high));
    assert_eq!((codes.len(), low.len(), high.len()), (768, 768, 768));
    let mut dec = Decoder::new();
    let (ours_low, ours_high): (Vec<u16>, Vec<u16>) = codes
        .iter()
        .map(|&w| {
            let (rl, rh) = dec.decode_bands((w >> 8) as u8);
            ((rl << 1) as u16, (rh << 1) as u16)
        })
        .unzip();
    assert_eq!(first_difference(&ours_low, low), None, "lower band");
    assert_eq!(first_difference(&ours_high, high), None, "higher band");
}

#[test]
fn g191_speech_excerpt_encodes_bit_exact() {
    let pcm = pcm_le(INPSP);
    assert_eq!(pcm.len(), 8192);
    let mut out = vec![0u8; pcm.len() / 2];
    let mut enc = Encoder::new();
    // In 20 ms frames, as the relay feeds it: state carries across frames.
    let mut n = 0;
    for (frame, o) in pcm.chunks(FRAME_SAMPLES).zip(out.chunks_mut(FRAME_BYTES)) {
        n += enc.encode(frame, o).unwrap();
    }
    assert_eq!(n, CODSPW.len());
    assert_eq!(first_difference(&out, CODSPW), None);
}

#[test]
fn g191_speech_excerpt_decodes_bit_exact() {
    let reference = pcm_le(OUTSP1);
    let mut out = vec![0i16; CODSPW.len() * 2];
    let mut dec = Decoder::new();
    let mut n = 0;
    for (frame, o) in CODSPW
        .chunks(FRAME_BYTES)
        .zip(out.chunks_mut(FRAME_SAMPLES))
    {
        n += dec.decode(frame, o).unwrap();
    }
    assert_eq!(n, reference.len());
    assert_eq!(first_difference(&out, &reference), None);
}

/// Encodes then decodes `frames` 20 ms frames of a `freq_hz` tone; returns
/// the input and the output.
fn round_trip(freq_hz: f64, frames: usize) -> (Vec<i16>, Vec<i16>) {
    let mut sine = Sine::new(freq_hz, SAMPLE_RATE_HZ, 0.5);
    let (mut enc, mut dec) = (Encoder::new(), Decoder::new());
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for _ in 0..frames {
        let mut pcm = [0i16; FRAME_SAMPLES];
        sine.fill(&mut pcm);
        let mut bytes = [0u8; FRAME_BYTES];
        assert_eq!(enc.encode(&pcm, &mut bytes), Ok(FRAME_BYTES));
        let mut out = [0i16; FRAME_SAMPLES];
        assert_eq!(dec.decode(&bytes, &mut out), Ok(FRAME_SAMPLES));
        input.extend_from_slice(&pcm);
        output.extend_from_slice(&out);
    }
    (input, output)
}

/// Signal-to-noise ratio of `output` against `input`, in dB, at the delay
/// (up to 64 samples) where they match best.
fn snr_db(input: &[i16], output: &[i16]) -> f64 {
    let skip = 1600; // the adaptation's first 100 ms
    (0..64)
        .map(|lag| {
            let (mut signal, mut noise) = (0f64, 0f64);
            for i in skip..input.len() - lag {
                let (x, y) = (f64::from(input[i]), f64::from(output[i + lag]));
                signal += x * x;
                noise += (x - y) * (x - y);
            }
            10.0 * (signal / noise.max(1.0)).log10()
        })
        .fold(f64::MIN, f64::max)
}

#[test]
fn tone_round_trip_keeps_its_frequency_with_good_snr() {
    let (input, output) = round_trip(1000.0, 50);
    let tail = &output[output.len() - 1600..];
    assert!(tone_present(tail, 1000.0, SAMPLE_RATE_HZ));
    assert!(!tone_present(tail, 1500.0, SAMPLE_RATE_HZ));
    let snr = snr_db(&input, &output);
    assert!(snr > 30.0, "SNR {snr:.1} dB");
}

#[test]
fn wideband_tone_above_4khz_survives_the_higher_band() {
    // 6 kHz is beyond G.711: it travels in G.722's higher band.
    let (_, output) = round_trip(6000.0, 50);
    let tail = &output[output.len() - 1600..];
    assert!(tone_present(tail, 6000.0, SAMPLE_RATE_HZ));
    let power = goertzel_power(tail, 6000.0, SAMPLE_RATE_HZ);
    assert!(power > 0.5 * 0.25, "6 kHz power {power}");
}

#[test]
fn silence_stays_quiet() {
    let (mut enc, mut dec) = (Encoder::new(), Decoder::new());
    let mut bytes = [0u8; FRAME_BYTES];
    let mut out = [0i16; FRAME_SAMPLES];
    for _ in 0..25 {
        enc.encode(&[0; FRAME_SAMPLES], &mut bytes).unwrap();
        dec.decode(&bytes, &mut out).unwrap();
    }
    assert!(mean_power(&out) < 1e-6, "{}", mean_power(&out));
}

#[test]
fn bad_buffers_are_errors_not_panics() {
    let mut enc = Encoder::new();
    assert_eq!(
        enc.encode(&[0; 3], &mut [0; 2]),
        Err(G722Error::OddSamples { len: 3 })
    );
    assert_eq!(
        enc.encode(&[0; FRAME_SAMPLES], &mut [0; 10]),
        Err(G722Error::OutputTooSmall {
            len: 10,
            needed: FRAME_BYTES
        })
    );
    let mut dec = Decoder::new();
    assert_eq!(
        dec.decode(&[0; 4], &mut [0; 7]),
        Err(G722Error::OutputTooSmall { len: 7, needed: 8 })
    );
    // Every byte value is a valid code word.
    let all: Vec<u8> = (0..=255).collect();
    let mut out = [0i16; 512];
    assert_eq!(dec.decode(&all, &mut out), Ok(512));
}
