use rand::rngs::StdRng;
use rand::SeedableRng;

use super::corpus::{self, Kind};
use super::*;
use crate::media::tone::Sine;

const FRAME: usize = 160;

/// Audio built from (kind, seconds): voice, silence or a tone.
enum Part {
    Voice(f64),
    Quiet(f64),
    Tone(f64, f64),
}

fn audio(parts: &[Part]) -> Vec<i16> {
    let mut out = Vec::new();
    for p in parts {
        let secs = match *p {
            Part::Voice(s) | Part::Quiet(s) | Part::Tone(_, s) => s,
        };
        let mut buf = vec![0i16; (secs * 8000.0) as usize];
        match *p {
            Part::Voice(_) => {
                // Two tones, neither dominant: voice for the cadence rules.
                Sine::new(180.0, 8000, 0.2).fill(&mut buf);
                Sine::new(530.0, 8000, 0.2).mix_into(&mut buf);
            }
            Part::Quiet(_) => {}
            Part::Tone(hz, _) => Sine::new(hz, 8000, 0.3).fill(&mut buf),
        }
        out.extend(buf);
    }
    out
}

/// The verdict and when it came (ms of audio), fed in 20 ms frames.
fn run(settings: AmdSettings, audio: &[i16]) -> Option<(Verdict, u128)> {
    let mut amd = Amd::new(settings);
    let verdict = audio.chunks(FRAME).find_map(|f| amd.push(f))?;
    assert_eq!(amd.push(&audio[..FRAME]), None, "a verdict is given once");
    assert_eq!(amd.verdict(), Some(verdict));
    Some((verdict, amd.elapsed().as_millis()))
}

#[test]
fn hello_then_waiting_is_a_person_after_the_silence() {
    let a = audio(&[Part::Quiet(0.4), Part::Voice(0.5), Part::Quiet(3.0)]);
    let (v, at) = run(AmdSettings::default(), &a).unwrap();
    assert_eq!(v, Verdict::Human(Why::SilenceAfterGreeting));
    // The word ends at 900 ms; 800 ms of silence later.
    assert_eq!(at, 1_700);
}

#[test]
fn a_long_silence_first_is_a_machine() {
    let a = audio(&[Part::Quiet(4.0)]);
    assert_eq!(
        run(AmdSettings::default(), &a),
        Some((Verdict::Machine(Why::InitialSilence), 2_500))
    );
    // A click is not a word: still silence.
    let a = audio(&[Part::Quiet(1.0), Part::Voice(0.06), Part::Quiet(3.0)]);
    let (v, _) = run(AmdSettings::default(), &a).unwrap();
    assert_eq!(v, Verdict::Machine(Why::InitialSilence));
}

#[test]
fn speech_running_past_the_greeting_limit_is_a_machine() {
    let a = audio(&[Part::Quiet(0.2), Part::Voice(3.0), Part::Quiet(1.0)]);
    let (v, at) = run(AmdSettings::default(), &a).unwrap();
    assert_eq!(v, Verdict::Machine(Why::LongGreeting));
    // Speech from 200 ms; more than 1500 ms of it at the next frame.
    assert_eq!(at, 1_720);
}

#[test]
fn a_third_word_is_a_machine_and_two_are_not() {
    let words = |n: usize| {
        let mut parts = vec![Part::Quiet(0.3)];
        for _ in 0..n {
            parts.push(Part::Voice(0.2));
            parts.push(Part::Quiet(0.2));
        }
        parts.push(Part::Quiet(2.0));
        audio(&parts)
    };
    let (v, at) = run(AmdSettings::default(), &words(3)).unwrap();
    assert_eq!(v, Verdict::Machine(Why::MaxWords));
    // The third word starts at 1100 ms and counts once 100 ms long.
    assert_eq!(at, 1_200);
    let (v, _) = run(AmdSettings::default(), &words(2)).unwrap();
    assert_eq!(v, Verdict::Human(Why::SilenceAfterGreeting));
}

#[test]
fn no_rule_by_the_total_time_is_not_sure() {
    let settings = AmdSettings {
        total: Duration::from_millis(1_000),
        ..AmdSettings::default()
    };
    let a = audio(&[Part::Voice(0.5), Part::Quiet(2.0)]);
    assert_eq!(run(settings, &a), Some((Verdict::NotSure, 1_000)));
    assert!(!Verdict::NotSure.is_machine());
}

#[test]
fn the_greeting_is_over_at_the_end_of_its_beep() {
    let settings = AmdSettings::default();
    let a = audio(&[
        Part::Voice(1.0),
        Part::Quiet(0.3),
        Part::Tone(1000.0, 0.4),
        Part::Quiet(3.0),
    ]);
    let mut watch = BeepWatch::new(&settings, Duration::from_secs(20));
    let over = a.chunks(FRAME).position(|f| watch.push(f)).unwrap();
    assert!(watch.beeped());
    // The beep ends at 1700 ms: the next frame says so.
    assert_eq!((over + 1) * 20, 1_720);
    // A beep between two bank frequencies is found as well.
    let a = audio(&[Part::Tone(1412.5, 0.3), Part::Quiet(1.0)]);
    let mut watch = BeepWatch::new(&settings, Duration::from_secs(20));
    assert!(a.chunks(FRAME).any(|f| watch.push(f)));
    assert!(watch.beeped());
}

#[test]
fn without_a_beep_the_greeting_is_over_after_a_silence_or_at_the_limit() {
    let settings = AmdSettings::default();
    let a = audio(&[Part::Voice(2.0), Part::Quiet(3.0)]);
    let mut watch = BeepWatch::new(&settings, Duration::from_secs(20));
    let over = a.chunks(FRAME).position(|f| watch.push(f)).unwrap();
    assert!(!watch.beeped(), "speech is no beep");
    assert_eq!((over + 1) * 20, 3_600);
    let a = audio(&[Part::Voice(30.0)]);
    let mut watch = BeepWatch::new(&settings, Duration::from_secs(10));
    let over = a.chunks(FRAME).position(|f| watch.push(f)).unwrap();
    assert_eq!((over + 1) * 20, 10_000);
}

#[test]
fn generated_greetings_are_told_apart() {
    let mut rng = StdRng::seed_from_u64(20261206);
    let set = corpus::generate(&mut rng, 300, 300);
    assert_eq!(set.iter().filter(|s| s.kind == Kind::Human).count(), 300);
    let acc = corpus::measure(&AmdSettings::default(), &set);
    println!(
        "amd: {:.1} % right ({:.1} % of people, {:.1} % of machines), {} not sure, people decided in {} ms; missed {:?}",
        acc.overall() * 100.0,
        acc.human_rate() * 100.0,
        acc.machine_rate() * 100.0,
        acc.not_sure,
        acc.human_decision.as_millis(),
        acc.misses
    );
    assert!(acc.human_rate() >= 0.85, "{acc:?}");
    assert!(acc.machine_rate() >= 0.90, "{acc:?}");
    // The misses are the hard cases, not the plain ones.
    let plain = ["hello", "greeting"];
    assert!(
        acc.misses.iter().all(|(case, _)| !plain.contains(case)),
        "{acc:?}"
    );
}
