//! Sine tones and a Goertzel detector.
//!
//! The generator feeds ringback, DTMF tones and test/bench traffic; the
//! detector lets tests and benches check that a tone crossed the relay. Both
//! are plain arithmetic: no IO, no allocation.

use std::f64::consts::TAU;

/// A phase-continuous sine generator: successive `fill` calls join seamlessly.
#[derive(Debug, Clone)]
pub struct Sine {
    phase: f64,
    step: f64,
    amplitude: f64,
}

impl Sine {
    /// A tone of `freq_hz` at `rate_hz` samples per second; `amplitude` is the
    /// peak as a fraction of full scale (clamped to 0..=1).
    pub fn new(freq_hz: f64, rate_hz: u32, amplitude: f64) -> Self {
        Self {
            phase: 0.0,
            step: TAU * freq_hz / f64::from(rate_hz),
            amplitude: amplitude.clamp(0.0, 1.0) * f64::from(i16::MAX),
        }
    }

    /// Writes the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for s in out {
            *s = (self.phase.sin() * self.amplitude) as i16;
            self.phase = (self.phase + self.step) % TAU;
        }
    }

    /// Adds the next `out.len()` samples to `out`, saturating (dual tones).
    pub fn mix_into(&mut self, out: &mut [i16]) {
        for s in out {
            *s = s.saturating_add((self.phase.sin() * self.amplitude) as i16);
            self.phase = (self.phase + self.step) % TAU;
        }
    }
}

/// Power of `freq_hz` in `samples` (Goertzel), scaled so a full-scale sine
/// at exactly that frequency gives about 1.0 regardless of the block length.
pub fn goertzel_power(samples: &[i16], freq_hz: f64, rate_hz: u32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * freq_hz / f64::from(rate_hz)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / f64::from(i16::MAX) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    4.0 * power / (n * n)
}

/// Mean power of `samples` (full-scale sine ≈ 0.5).
pub fn mean_power(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&x| {
            let v = f64::from(x) / f64::from(i16::MAX);
            v * v
        })
        .sum();
    sum / samples.len() as f64
}

/// True when `freq_hz` carries most of the energy in `samples`: its Goertzel
/// power is at least half of what the total power would give for a pure sine.
pub fn tone_present(samples: &[i16], freq_hz: f64, rate_hz: u32) -> bool {
    let total = mean_power(samples);
    // Silence (or near-silence) holds no tone, whatever the ratio says.
    if total < 1e-5 {
        return false;
    }
    // A pure sine of amplitude A has mean power A²/2 and Goertzel power A².
    goertzel_power(samples, freq_hz, rate_hz) >= total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_finds_the_generated_tone_and_not_its_neighbours() {
        let mut samples = [0i16; 800];
        Sine::new(1000.0, 8000, 0.5).fill(&mut samples);
        assert!(tone_present(&samples, 1000.0, 8000));
        assert!(!tone_present(&samples, 1209.0, 8000));
        assert!(!tone_present(&samples, 697.0, 8000));
    }

    #[test]
    fn silence_holds_no_tone() {
        assert!(!tone_present(&[0i16; 160], 1000.0, 8000));
        assert!(!tone_present(&[], 1000.0, 8000));
    }

    #[test]
    fn generator_is_phase_continuous_across_fills() {
        let mut whole = [0i16; 320];
        Sine::new(440.0, 8000, 0.8).fill(&mut whole);
        let mut parts = [0i16; 320];
        let mut gen = Sine::new(440.0, 8000, 0.8);
        gen.fill(&mut parts[..160]);
        gen.fill(&mut parts[160..]);
        for (a, b) in whole.iter().zip(&parts) {
            assert!((a - b).abs() <= 1);
        }
    }

    #[test]
    fn dual_tone_shows_both_frequencies() {
        let mut samples = [0i16; 800];
        Sine::new(697.0, 8000, 0.3).fill(&mut samples);
        Sine::new(1209.0, 8000, 0.3).mix_into(&mut samples);
        let p1 = goertzel_power(&samples, 697.0, 8000);
        let p2 = goertzel_power(&samples, 1209.0, 8000);
        let off = goertzel_power(&samples, 941.0, 8000);
        assert!(p1 > 50.0 * off && p2 > 50.0 * off, "{p1} {p2} {off}");
    }
}
