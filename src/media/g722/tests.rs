use super::*;
use crate::media::tone::{goertzel_power, mean_power, tone_present, Sine};

// ITU-T G.722 Appendix II digital test sequences (QMF bypassed), in the
// ITU's hex-ASCII form; the ITU-T G.191 (STL) G.722 corpus (whole codec);
// and vectors the STL's reference encoder and decoder made from harsh
// input. `tests/data/g722/README.md` says where each comes from.
const T1C2_XMT: &str = include_str!("../../../tests/data/g722/T1C2.XMT");
const T2R2_COD: &str = include_str!("../../../tests/data/g722/T2R2.COD");
const T3L2_RC1: &str = include_str!("../../../tests/data/g722/T3L2.RC1");
const T3H2_RC0: &str = include_str!("../../../tests/data/g722/T3H2.RC0");
const INPSP: &[u8] = include_bytes!("../../../tests/data/g722/inpsp.bin");
const CODSPW: &[u8] = include_bytes!("../../../tests/data/g722/codspw.cod");
const OUTSP1: &[u8] = include_bytes!("../../../tests/data/g722/outsp1.bin");
const HARSH_IN: &[u8] = include_bytes!("../../../tests/data/g722/stl-harsh-in.pcm");
const HARSH_ENC: &[u8] = include_bytes!("../../../tests/data/g722/stl-harsh-enc.g722");
const RUNS: &[u8] = include_bytes!("../../../tests/data/g722/stl-runs.g722");
const RUNS_DEC: &[u8] = include_bytes!("../../../tests/data/g722/stl-runs-dec.pcm");

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

/// Encodes `pcm` in 20 ms frames, as the relay feeds it (state carries
/// across frames); a last partial frame is encoded too.
fn encode_frames(pcm: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; pcm.len() / 2];
    let mut enc = Encoder::new();
    for (frame, o) in pcm.chunks(FRAME_SAMPLES).zip(out.chunks_mut(FRAME_BYTES)) {
        assert_eq!(enc.encode(frame, o), Ok(frame.len() / 2));
    }
    out
}

/// Decodes `codes` in 20 ms frames.
fn decode_frames(codes: &[u8]) -> Vec<i16> {
    let mut out = vec![0i16; codes.len() * 2];
    let mut dec = Decoder::new();
    for (frame, o) in codes.chunks(FRAME_BYTES).zip(out.chunks_mut(FRAME_SAMPLES)) {
        assert_eq!(dec.decode(frame, o), Ok(frame.len() * 2));
    }
    out
}

#[test]
fn g191_speech_corpus_encodes_bit_exact() {
    // `codspw.cod` holds one code per 16-bit little-endian word.
    let pcm = pcm_le(INPSP);
    assert_eq!(pcm.len(), 97_536);
    let want: Vec<u8> = CODSPW.chunks_exact(2).map(|w| w[0]).collect();
    assert_eq!(first_difference(&encode_frames(&pcm), &want), None);
}

#[test]
fn g191_speech_corpus_decodes_bit_exact() {
    let codes: Vec<u8> = CODSPW.chunks_exact(2).map(|w| w[0]).collect();
    let want = pcm_le(OUTSP1);
    assert_eq!(first_difference(&decode_frames(&codes), &want), None);
}

#[test]
fn full_scale_input_encodes_as_the_stl_reference_does() {
    // Square waves, noise and steps at full scale push the transmit QMF
    // past 15 bits: the reference LIMITs its outputs (qmf_tx).
    let pcm = pcm_le(HARSH_IN);
    assert_eq!(first_difference(&encode_frames(&pcm), HARSH_ENC), None);
}

#[test]
fn long_runs_of_one_code_decode_as_the_stl_reference_does() {
    // Runs drive the scale factors and predictor coefficients to their
    // limits, where FILTEZ saturates; the order of its sums matters there.
    let want = pcm_le(RUNS_DEC);
    assert_eq!(first_difference(&decode_frames(RUNS), &want), None);
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
