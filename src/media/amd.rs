//! Answering-machine detection from the cadence of the first seconds of an
//! answered outbound call, in the manner of Asterisk's `app_amd`: a person
//! says a word or two ("Hello?") and waits; a machine is silent a long
//! while first, or talks long, or says many words. The detector counts
//! voiced runs ("words") and silences in 8 kHz PCM frames; time is the
//! audio's own (samples pushed), so it is pure and runs in virtual time.
//! [`BeepWatch`] then tells when a machine's greeting is over (its beep,
//! or a silence), for a message to be left after it. [`corpus`] makes a
//! labelled set of generated greetings to measure the accuracy on.

use std::time::Duration;

use super::tone::{goertzel_power, mean_power};
use super::NARROWBAND_HZ;

pub mod corpus;

/// The detector's limits; the defaults are `app_amd`'s published ones.
#[derive(Clone, Debug, PartialEq)]
pub struct AmdSettings {
    /// No word at all this long from the answer: a machine.
    pub initial_silence: Duration,
    /// Speech (with its short pauses) running this long: a machine.
    pub greeting: Duration,
    /// Silence this long after a short greeting: a person waiting.
    pub after_greeting_silence: Duration,
    /// No verdict by then: not sure (the call goes to an agent).
    pub total: Duration,
    /// Voice shorter than this is a click or noise, not a word.
    pub min_word: Duration,
    /// Silence shorter than this does not end a word.
    pub between_words: Duration,
    /// This many words: a machine.
    pub max_words: u32,
    /// Frame RMS (16-bit sample units) at or above which a frame is voice.
    pub silence_threshold: f64,
}

impl Default for AmdSettings {
    fn default() -> Self {
        AmdSettings {
            initial_silence: Duration::from_millis(2_500),
            greeting: Duration::from_millis(1_500),
            after_greeting_silence: Duration::from_millis(800),
            total: Duration::from_millis(5_000),
            min_word: Duration::from_millis(100),
            between_words: Duration::from_millis(50),
            max_words: 3,
            silence_threshold: 256.0,
        }
    }
}

/// What the detector made of the answering party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Human(Why),
    Machine(Why),
    /// No rule fired within `total`: treated as a person.
    NotSure,
}

impl Verdict {
    pub fn is_machine(self) -> bool {
        matches!(self, Verdict::Machine(_))
    }

    /// For logs and records: `human`, `machine` or `not_sure`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Human(_) => "human",
            Verdict::Machine(_) => "machine",
            Verdict::NotSure => "not_sure",
        }
    }
}

/// The rule that gave the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    InitialSilence,
    LongGreeting,
    MaxWords,
    SilenceAfterGreeting,
}

/// The detector for one call: push the answering party's audio until it
/// gives a verdict.
#[derive(Clone, Debug)]
pub struct Amd {
    settings: AmdSettings,
    /// Audio heard so far.
    elapsed: Duration,
    /// The current run of voiced frames and of silent ones.
    voiced: Duration,
    silent: Duration,
    in_word: bool,
    words: u32,
    /// When the first word started, counted from the answer.
    greeting_from: Option<Duration>,
    verdict: Option<Verdict>,
}

impl Amd {
    pub fn new(settings: AmdSettings) -> Amd {
        Amd {
            settings,
            elapsed: Duration::ZERO,
            voiced: Duration::ZERO,
            silent: Duration::ZERO,
            in_word: false,
            words: 0,
            greeting_from: None,
            verdict: None,
        }
    }

    /// The verdict, once given.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// Audio heard so far.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// One frame of 8 kHz audio (any length; a packet's worth). Gives the
    /// verdict when this frame makes it; later frames change nothing.
    pub fn push(&mut self, frame: &[i16]) -> Option<Verdict> {
        if self.verdict.is_some() || frame.is_empty() {
            return None;
        }
        let len = Duration::from_micros(frame.len() as u64 * 1_000_000 / u64::from(NARROWBAND_HZ));
        self.elapsed += len;
        let verdict = if rms(frame) >= self.settings.silence_threshold {
            self.on_voice(len)
        } else {
            self.on_silence(len)
        };
        let verdict =
            verdict.or_else(|| (self.elapsed >= self.settings.total).then_some(Verdict::NotSure));
        self.verdict = verdict;
        verdict
    }

    fn on_voice(&mut self, len: Duration) -> Option<Verdict> {
        let s = &self.settings;
        self.silent = Duration::ZERO;
        self.voiced += len;
        if !self.in_word && self.voiced >= s.min_word {
            self.in_word = true;
            self.words += 1;
            let started = self.elapsed.saturating_sub(self.voiced);
            self.greeting_from.get_or_insert(started);
            if self.words >= s.max_words {
                return Some(Verdict::Machine(Why::MaxWords));
            }
        }
        let talking = self.greeting_from.map(|from| self.elapsed - from);
        talking
            .is_some_and(|t| t > s.greeting)
            .then_some(Verdict::Machine(Why::LongGreeting))
    }

    fn on_silence(&mut self, len: Duration) -> Option<Verdict> {
        let s = &self.settings;
        self.silent += len;
        if self.silent >= s.between_words {
            self.in_word = false;
            self.voiced = Duration::ZERO;
        }
        if self.words == 0 {
            return (self.elapsed >= s.initial_silence)
                .then_some(Verdict::Machine(Why::InitialSilence));
        }
        (self.silent >= s.after_greeting_silence)
            .then_some(Verdict::Human(Why::SilenceAfterGreeting))
    }
}

/// Root mean square of a frame, in 16-bit sample units.
fn rms(frame: &[i16]) -> f64 {
    mean_power(frame).sqrt() * f64::from(i16::MAX)
}

/// A machine's greeting is waited for at most this long after the verdict
/// (the relay's [`BeepWatch`] limit).
pub const GREETING_WAIT_MAX: Duration = Duration::from_secs(20);

/// Frequencies a beep is looked for at: 400–2000 Hz in 25 Hz steps (half
/// a 20 ms frame's resolution, so a tone between two loses little).
const BEEP_BANK: std::ops::RangeInclusive<u32> = 16..=80;
const BEEP_STEP_HZ: f64 = 25.0;
/// A tone this long is a beep.
const BEEP_MIN: Duration = Duration::from_millis(120);

/// After a machine verdict: when its greeting is over, so that a message
/// left now is recorded whole. Over at the end of a beep (a run of one
/// dominant tone), or after `quiet` of silence when no beep comes, or at
/// `give_up`.
#[derive(Clone, Debug)]
pub struct BeepWatch {
    quiet: Duration,
    give_up: Duration,
    threshold: f64,
    elapsed: Duration,
    silent: Duration,
    /// The tone run under way: its bank index and length.
    tone: Option<(u32, Duration)>,
    beeped: bool,
    over: bool,
}

impl BeepWatch {
    pub fn new(settings: &AmdSettings, give_up: Duration) -> BeepWatch {
        BeepWatch {
            quiet: settings.after_greeting_silence * 2,
            give_up,
            threshold: settings.silence_threshold,
            elapsed: Duration::ZERO,
            silent: Duration::ZERO,
            tone: None,
            beeped: false,
            over: false,
        }
    }

    /// Whether a beep was heard.
    pub fn beeped(&self) -> bool {
        self.beeped
    }

    /// One frame of 8 kHz audio; true once the greeting is over.
    pub fn push(&mut self, frame: &[i16]) -> bool {
        if self.over || frame.is_empty() {
            return self.over;
        }
        let len = Duration::from_micros(frame.len() as u64 * 1_000_000 / u64::from(NARROWBAND_HZ));
        self.elapsed += len;
        let loud = rms(frame) >= self.threshold;
        let tone = if loud { dominant_tone(frame) } else { None };
        match (tone, self.tone) {
            (Some(bin), Some((run, held))) if bin.abs_diff(run) <= 2 => {
                self.tone = Some((run, held + len))
            }
            (Some(bin), _) => self.tone = Some((bin, len)),
            (None, Some((_, held))) => {
                // The tone stopped: a beep when it lasted, and it is over.
                self.tone = None;
                if held >= BEEP_MIN {
                    self.beeped = true;
                    self.over = true;
                }
            }
            (None, None) => {}
        }
        self.silent = if loud {
            Duration::ZERO
        } else {
            self.silent + len
        };
        if self.silent >= self.quiet || self.elapsed >= self.give_up {
            self.over = true;
        }
        self.over
    }
}

/// The bank index of the one tone carrying most of the frame's energy.
fn dominant_tone(frame: &[i16]) -> Option<u32> {
    let total = mean_power(frame);
    let (bin, power) = BEEP_BANK
        .map(|i| {
            (
                i,
                goertzel_power(frame, f64::from(i) * BEEP_STEP_HZ, NARROWBAND_HZ),
            )
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    // A pure sine of mean power P has Goertzel power 2P; speech spreads
    // its energy over many bins and stays well under P in any one.
    (power >= 1.2 * total).then_some(bin)
}

#[cfg(test)]
mod tests;
