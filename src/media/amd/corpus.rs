//! A labelled set of generated answers to measure [`super::Amd`] on: people
//! who say "Hello?" (or a little more) and wait, machines that play a
//! greeting of many words and often a beep, over line noise. Speech is
//! made of voiced "words" (a pitch with its harmonics under a syllable
//! envelope), which is what a cadence detector hears. The mix holds the
//! hard cases real lists have, in made-up shares: people who give their
//! name at once or say nothing for seconds, machines that start late or
//! say only "leave a message". Generated audio is not real recordings:
//! the figures it gives compare settings and catch regressions.

use std::f64::consts::{PI, TAU};
use std::time::Duration;

use rand::{Rng, RngCore};

use super::{Amd, AmdSettings, BeepWatch, Verdict, GREETING_WAIT_MAX};
use crate::media::g711::{ulaw_decode_into, ulaw_encode_into};
use crate::media::{FRAME_SAMPLES_8K, NARROWBAND_HZ};

/// Who answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Human,
    Machine,
}

/// One answer: 8 kHz audio from the moment of the answer.
#[derive(Clone, Debug)]
pub struct Sample {
    pub kind: Kind,
    /// Which case of the mix it is, for reports.
    pub case: &'static str,
    pub audio: Vec<i16>,
}

/// `humans` people and `machines` machines, from `rng`.
pub fn generate(rng: &mut impl RngCore, humans: usize, machines: usize) -> Vec<Sample> {
    let mut out = Vec::with_capacity(humans + machines);
    out.extend((0..humans).map(|_| human(rng)));
    out.extend((0..machines).map(|_| machine(rng)));
    out
}

/// How the detector did on a set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accuracy {
    pub humans: usize,
    /// People taken for people (a not-sure counts: it goes to an agent).
    pub humans_right: usize,
    pub machines: usize,
    pub machines_right: usize,
    pub not_sure: usize,
    /// Mean time from the answer to the verdict, over people.
    pub human_decision: Duration,
    /// Cases the detector got wrong, by name and count.
    pub misses: Vec<(&'static str, usize)>,
}

impl Accuracy {
    pub fn overall(&self) -> f64 {
        let right = self.humans_right + self.machines_right;
        right as f64 / (self.humans + self.machines).max(1) as f64
    }

    pub fn human_rate(&self) -> f64 {
        self.humans_right as f64 / self.humans.max(1) as f64
    }

    pub fn machine_rate(&self) -> f64 {
        self.machines_right as f64 / self.machines.max(1) as f64
    }
}

/// What the detector, then the beep watch, make of `audio` fed in 20 ms
/// frames, as the relay runs them: the verdict, and for a machine whether
/// a beep ended its greeting (`None` also when the audio ran out first).
/// `None` overall when the audio ran out before a verdict.
pub fn listen(settings: &AmdSettings, audio: &[i16]) -> Option<(Verdict, Option<bool>)> {
    let mut amd = Amd::new(settings.clone());
    let mut frames = audio.chunks(FRAME_SAMPLES_8K as usize);
    let verdict = frames.by_ref().find_map(|frame| amd.push(frame))?;
    if !verdict.is_machine() {
        return Some((verdict, None));
    }
    let mut watch = BeepWatch::new(settings, GREETING_WAIT_MAX);
    let over = frames.any(|frame| watch.push(frame));
    Some((verdict, over.then(|| watch.beeped())))
}

/// `audio` as G.711 µ-law carries it (encoded and decoded again).
pub fn through_pcmu(audio: &[i16]) -> Vec<i16> {
    let mut law = vec![0u8; audio.len()];
    ulaw_encode_into(audio, &mut law);
    let mut out = vec![0i16; audio.len()];
    ulaw_decode_into(&law, &mut out);
    out
}

/// Runs the detector over every sample in 20 ms frames.
pub fn measure(settings: &AmdSettings, samples: &[Sample]) -> Accuracy {
    let mut acc = Accuracy::default();
    let mut decision = Duration::ZERO;
    for s in samples {
        let mut amd = Amd::new(settings.clone());
        let verdict = s
            .audio
            .chunks(FRAME_SAMPLES_8K as usize)
            .find_map(|frame| amd.push(frame))
            .unwrap_or(Verdict::NotSure);
        let right = verdict.is_machine() == (s.kind == Kind::Machine);
        acc.not_sure += usize::from(verdict == Verdict::NotSure);
        match s.kind {
            Kind::Human => {
                acc.humans += 1;
                acc.humans_right += usize::from(right);
                decision += amd.elapsed();
            }
            Kind::Machine => {
                acc.machines += 1;
                acc.machines_right += usize::from(right);
            }
        }
        if !right {
            match acc.misses.iter_mut().find(|(case, _)| *case == s.case) {
                Some((_, n)) => *n += 1,
                None => acc.misses.push((s.case, 1)),
            }
        }
    }
    acc.human_decision = decision / u32::try_from(acc.humans.max(1)).unwrap_or(u32::MAX);
    acc
}

fn human(rng: &mut impl RngCore) -> Sample {
    let mut a = Audio::new(rng);
    let roll = rng.random_range(0..100);
    let case = match roll {
        0..=69 => {
            a.silence(rng.random_range(0.1..1.2));
            let secs = rng.random_range(0.3..0.8);
            a.word(rng, secs);
            "hello"
        }
        70..=89 => {
            a.silence(rng.random_range(0.1..1.0));
            let secs = rng.random_range(0.2..0.5);
            a.word(rng, secs);
            a.silence(rng.random_range(0.1..0.3));
            let secs = rng.random_range(0.2..0.5);
            a.word(rng, secs);
            "hello, yes?"
        }
        90..=95 => {
            a.silence(rng.random_range(0.1..0.8));
            a.words(rng, 4, (0.2, 0.45), (0.06, 0.2));
            "gives their name"
        }
        _ => {
            a.silence(rng.random_range(2.8..3.5));
            let secs = rng.random_range(0.3..0.7);
            a.word(rng, secs);
            "silent at first"
        }
    };
    // The person waits for an answer.
    a.silence(3.0);
    Sample {
        kind: Kind::Human,
        case,
        audio: a.samples,
    }
}

fn machine(rng: &mut impl RngCore) -> Sample {
    let mut a = Audio::new(rng);
    let roll = rng.random_range(0..100);
    let case = match roll {
        0..=84 => {
            a.silence(rng.random_range(0.2..1.5));
            let n = rng.random_range(6..25);
            a.words(rng, n, (0.15, 0.5), (0.06, 0.35));
            "greeting"
        }
        85..=94 => {
            a.silence(rng.random_range(2.6..4.0));
            let n = rng.random_range(6..20);
            a.words(rng, n, (0.15, 0.5), (0.06, 0.35));
            "starts late"
        }
        _ => {
            a.silence(rng.random_range(0.2..1.0));
            let secs = rng.random_range(0.6..1.0);
            a.word(rng, secs);
            "leave a message"
        }
    };
    if rng.random_range(0..100) < 80 {
        a.silence(rng.random_range(0.1..0.6));
        let hz = [440.0, 850.0, 1000.0, 1400.0, 1800.0][rng.random_range(0..5)];
        a.tone(
            hz + rng.random_range(-20.0..20.0),
            rng.random_range(0.2..0.8),
        );
    }
    a.silence(4.0);
    Sample {
        kind: Kind::Machine,
        case,
        audio: a.samples,
    }
}

/// Audio under construction, with its line noise level.
struct Audio {
    samples: Vec<i16>,
    noise: f64,
    noise_state: u64,
}

const RATE: f64 = NARROWBAND_HZ as f64;

impl Audio {
    fn new(rng: &mut impl RngCore) -> Audio {
        Audio {
            samples: Vec::new(),
            noise: rng.random_range(20.0..120.0),
            noise_state: rng.next_u64() | 1,
        }
    }

    fn push(&mut self, v: f64) {
        // xorshift noise: cheap, and apart from the caller's RNG stream.
        let mut x = self.noise_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.noise_state = x;
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        let s = v + unit * self.noise;
        self.samples.push(s.clamp(-32_767.0, 32_767.0) as i16);
    }

    fn silence(&mut self, secs: f64) {
        for _ in 0..(secs * RATE) as usize {
            self.push(0.0);
        }
    }

    fn tone(&mut self, hz: f64, secs: f64) {
        let amp = 6_000.0;
        for i in 0..(secs * RATE) as usize {
            self.push(amp * (TAU * hz * i as f64 / RATE).sin());
        }
    }

    /// One voiced word: a pitch and five harmonics under 1–3 syllables,
    /// with 20 ms ramps at both ends.
    fn word(&mut self, rng: &mut impl RngCore, secs: f64) {
        let f0 = rng.random_range(90.0..250.0);
        let peak = rng.random_range(2_500.0..10_000.0);
        let syllables = f64::from(rng.random_range(1..=3u32));
        let n = (secs * RATE) as usize;
        let ramp = 0.02 * RATE;
        for i in 0..n {
            let t = i as f64 / RATE;
            let edge = (i as f64 / ramp).min((n - i) as f64 / ramp).min(1.0);
            let syllable = 0.35 + 0.65 * (PI * syllables * t / secs).sin().abs();
            let voice: f64 = (1..=5)
                .map(|k| (TAU * f0 * f64::from(k) * t).sin() / f64::from(k))
                .sum();
            self.push(peak * 0.5 * edge * syllable * voice);
        }
    }

    /// `n` words of lengths in `len` with pauses in `gap` (seconds).
    fn words(&mut self, rng: &mut impl RngCore, n: usize, len: (f64, f64), gap: (f64, f64)) {
        for i in 0..n {
            if i > 0 {
                self.silence(rng.random_range(gap.0..gap.1));
            }
            let secs = rng.random_range(len.0..len.1);
            self.word(rng, secs);
        }
    }
}
