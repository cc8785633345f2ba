use super::*;
use crate::media::tone::{goertzel_power, mean_power, tone_present, Sine};

const FRAME_8K: usize = 160;
const FRAME_16K: usize = 320;

/// `frames` 20 ms frames of a tone at `rate_hz`, amplitude ½.
fn tone(freq_hz: f64, rate_hz: u32, frames: usize) -> Vec<i16> {
    let mut out = vec![0i16; frames * rate_hz as usize / 50];
    Sine::new(freq_hz, rate_hz, 0.5).fill(&mut out);
    out
}

fn up(input: &[i16]) -> Vec<i16> {
    let mut u = Upsampler::new();
    let mut out = vec![0i16; input.len() * 2];
    for (i, o) in input.chunks(FRAME_8K).zip(out.chunks_mut(FRAME_16K)) {
        u.process(i, o).unwrap();
    }
    out
}

fn down(input: &[i16]) -> Vec<i16> {
    let mut d = Downsampler::new();
    let mut out = vec![0i16; input.len() / 2];
    for (i, o) in input.chunks(FRAME_16K).zip(out.chunks_mut(FRAME_8K)) {
        d.process(i, o).unwrap();
    }
    out
}

/// The last 100 ms: the filters have long settled.
fn tail(x: &[i16]) -> &[i16] {
    &x[x.len() * 3 / 4..]
}

#[test]
fn upsampled_tone_keeps_its_frequency_and_level_without_images() {
    let out = up(&tone(1000.0, 8000, 20));
    let t = tail(&out);
    assert!(tone_present(t, 1000.0, 16_000));
    // Amplitude ½ → Goertzel power ¼, within 0.1 dB.
    let p = goertzel_power(t, 1000.0, 16_000);
    assert!((p / 0.25 - 1.0).abs() < 0.025, "power {p}");
    // Zero-stuffing would mirror 1 kHz to 7 kHz; the filter removes it.
    let image = goertzel_power(t, 7000.0, 16_000);
    assert!(image < p * 1e-6, "image {image} vs {p}");
}

#[test]
fn downsampled_tone_keeps_its_frequency_and_level() {
    let out = down(&tone(1000.0, 16_000, 20));
    let t = tail(&out);
    assert!(tone_present(t, 1000.0, 8000));
    let p = goertzel_power(t, 1000.0, 8000);
    assert!((p / 0.25 - 1.0).abs() < 0.025, "power {p}");
}

#[test]
fn downsampling_does_not_alias_what_lies_above_4khz() {
    // 5, 6 and 7 kHz would fold to 3, 2 and 1 kHz at 8 kHz.
    for freq in [4600.0, 5000.0, 6000.0, 7000.0] {
        let input = tone(freq, 16_000, 20);
        let out = down(&input);
        let ratio = mean_power(tail(&out)) / mean_power(tail(&input));
        assert!(
            ratio < 1e-6,
            "{freq} Hz leaks {:.1} dB",
            10.0 * ratio.log10()
        );
    }
}

#[test]
fn frames_join_seamlessly() {
    // Frame by frame equals all at once: the history carries across calls.
    let input = tone(440.0, 8000, 5);
    let mut whole = vec![0i16; input.len() * 2];
    Upsampler::new().process(&input, &mut whole).unwrap();
    assert_eq!(up(&input), whole);
    let input = tone(440.0, 16_000, 5);
    let mut whole = vec![0i16; input.len() / 2];
    Downsampler::new().process(&input, &mut whole).unwrap();
    assert_eq!(down(&input), whole);
}

#[test]
fn up_then_down_gives_the_signal_back_two_ms_later() {
    let input = tone(1000.0, 8000, 20);
    let back = down(&up(&input));
    // 16 samples (2 ms) through the upsampler, 31 at 16 kHz through the
    // downsampler: 16 + 15.5, the half sample falls on the mirrored phase.
    let delay = (0..64)
        .min_by_key(|&d| {
            input[..input.len() - 64]
                .iter()
                .zip(&back[d..])
                .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
                .sum::<i32>()
        })
        .unwrap();
    let (mut signal, mut noise) = (0f64, 0f64);
    for (a, b) in input[800..input.len() - 64]
        .iter()
        .zip(&back[800 + delay..])
    {
        signal += f64::from(*a).powi(2);
        noise += (f64::from(*a) - f64::from(*b)).powi(2);
    }
    let snr = 10.0 * (signal / noise.max(1.0)).log10();
    assert!(snr > 50.0, "SNR {snr:.1} dB at delay {delay}");
}

#[test]
fn full_scale_steps_clip_instead_of_wrapping() {
    // A full-scale step rings past full scale: that must clip at the top,
    // not wrap round to a large negative sample.
    let step: Vec<i16> = (0..FRAME_8K)
        .map(|i| if i < FRAME_8K / 2 { i16::MIN } else { i16::MAX })
        .collect();
    let after = |x: &[i16], at: usize| x[at..].iter().all(|&s| s > i16::MAX / 2);
    let out = up(&step);
    assert!(out.contains(&i16::MAX));
    assert!(after(&out, 2 * (FRAME_8K / 2 + PAIRS) + 8));
    let step16 = up(&step);
    let out = down(&step16);
    assert!(after(&out, FRAME_8K / 2 + 2 * PAIRS + 8));
}

#[test]
fn bad_buffers_are_errors_not_panics() {
    assert_eq!(
        Upsampler::new().process(&[0; 4], &mut [0; 7]),
        Err(ResampleError::OutputTooSmall { len: 7, needed: 8 })
    );
    assert_eq!(
        Downsampler::new().process(&[0; 5], &mut [0; 8]),
        Err(ResampleError::OddInput { len: 5 })
    );
    assert_eq!(
        Downsampler::new().process(&[0; 8], &mut [0; 3]),
        Err(ResampleError::OutputTooSmall { len: 3, needed: 4 })
    );
}
