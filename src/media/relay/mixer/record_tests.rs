//! What the recording holds as the call changes hands: the right channel
//! is what the caller hears of the other parties, silence while it hears
//! nobody, and the file keeps time through a stalled mixing clock.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::media::g711::ulaw_encode;

fn pcmu(level: i16) -> Vec<u8> {
    vec![ulaw_encode(level); FRAME]
}

fn wav_path(name: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("switchyard-mixrec-{}", std::process::id()))
        .join(format!("{name}.wav"))
}

/// The recording's frames as (left, right) of their first sample.
fn frames_of(path: &Path) -> Vec<(i16, i16)> {
    let reader = hound::WavReader::open(path).expect("the recording opens");
    let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    let frames = samples
        .chunks_exact(2 * FRAME)
        .map(|f| (f[0], f[1]))
        .collect();
    let _ = std::fs::remove_file(path);
    frames
}

/// A recorded mixer of caller leg 0 and agent leg 1.
fn recorded(name: &str, t0: Instant) -> (Mixer, PathBuf) {
    let path = wav_path(name);
    let mut m = Mixer::new(0, 1, t0);
    m.start_recording(&path, None).unwrap();
    (m, path)
}

/// One tick at `t` with every (leg, level) talking: two frames each, so
/// the queues pass their playout slack at once.
fn talk(m: &mut Mixer, t: Instant, bridged: bool, levels: &[(usize, i16)]) {
    for _ in 0..2 {
        for &(leg, level) in levels {
            m.tap(leg, Codec::Pcmu, &pcmu(level));
        }
    }
    assert!(m.tick(t, bridged).unwrap());
    for fifo in &mut m.fifos {
        fifo.clear();
    }
}

fn near(got: i16, want: i16) -> bool {
    (i32::from(got) - i32::from(want)).abs() <= i32::from(want.abs()) / 25 + 8
}

#[test]
fn the_right_channel_is_silent_while_the_caller_is_not_bridged() {
    let t0 = Instant::now();
    let (mut m, path) = recorded("unbridged", t0);
    let both = [(0, 1000), (1, 3000)];
    talk(&mut m, t0 + MIX_PERIOD, true, &both);
    // The agent put the caller on hold (or transferred it): it still talks.
    talk(&mut m, t0 + 2 * MIX_PERIOD, false, &both);
    talk(&mut m, t0 + 3 * MIX_PERIOD, true, &both);
    m.finish_recording().unwrap().unwrap();
    let f = frames_of(&path);
    assert_eq!(f.len(), 3, "time goes on while the caller waits");
    assert!(near(f[0].0, 1000) && near(f[0].1, 3000), "{f:?}");
    assert!(near(f[1].0, 1000) && f[1].1 == 0, "{f:?}");
    assert!(near(f[2].1, 3000), "{f:?}");
}

#[test]
fn after_a_transfer_to_another_leg_the_right_channel_follows_it() {
    let t0 = Instant::now();
    let (mut m, path) = recorded("follow", t0);
    talk(&mut m, t0 + MIX_PERIOD, true, &[(0, 1000), (1, 2000)]);
    m.follow_bridge(3);
    assert_eq!(m.party_of(3), Some(Party::Agent as usize));
    assert_eq!(m.party_of(1), None, "the old agent's leg leaves the mix");
    talk(
        &mut m,
        t0 + 2 * MIX_PERIOD,
        true,
        &[(0, 1000), (1, 2000), (3, 4000)],
    );
    m.finish_recording().unwrap().unwrap();
    let f = frames_of(&path);
    assert!(near(f[0].1, 2000) && near(f[1].1, 4000), "{f:?}");
}

#[test]
fn a_takeover_records_the_supervisor_and_not_the_agent() {
    let t0 = Instant::now();
    let (mut m, path) = recorded("takeover", t0);
    m.legs[Party::Supervisor as usize] = Some(2);
    m.mode = Some(Mode::Takeover);
    // Unbridged in a takeover: the caller hears the supervisor by the mixer.
    talk(
        &mut m,
        t0 + MIX_PERIOD,
        false,
        &[(0, 1000), (1, 2000), (2, 4000)],
    );
    m.finish_recording().unwrap().unwrap();
    let f = frames_of(&path);
    assert!(near(f[0].1, 4000), "{f:?}");
}

#[test]
fn a_conference_records_every_party_but_the_caller_on_the_right() {
    let t0 = Instant::now();
    let (mut m, path) = recorded("conference", t0);
    m.set_conference(&[
        (0, Voice::default()),
        (1, Voice::default()),
        (4, Voice::default()),
    ]);
    talk(
        &mut m,
        t0 + MIX_PERIOD,
        false,
        &[(0, 1000), (1, 2000), (4, 500)],
    );
    // The third party leaves: the agent alone again.
    m.set_conference(&[(0, Voice::default()), (1, Voice::default())]);
    talk(
        &mut m,
        t0 + 2 * MIX_PERIOD,
        false,
        &[(0, 1000), (1, 2000), (4, 500)],
    );
    m.finish_recording().unwrap().unwrap();
    let f = frames_of(&path);
    assert!(near(f[0].0, 1000), "{f:?}");
    assert!(near(f[0].1, 2500), "agent + third party: {f:?}");
    assert!(near(f[1].1, 2000), "{f:?}");
}

#[test]
fn a_stalled_mixing_clock_leaves_silence_not_a_shorter_file() {
    let t0 = Instant::now();
    let (mut m, path) = recorded("stall", t0);
    talk(&mut m, t0 + MIX_PERIOD, true, &[(0, 1000), (1, 2000)]);
    // The call wakes 1 s late: the 49 frames it missed become silence.
    talk(
        &mut m,
        t0 + Duration::from_millis(1020),
        true,
        &[(0, 1000), (1, 2000)],
    );
    assert_eq!(
        m.recorder.as_ref().unwrap().duration(),
        Duration::from_millis(1020)
    );
    m.finish_recording().unwrap().unwrap();
    let f = frames_of(&path);
    assert_eq!(f.len(), 51);
    assert!(f[1..50].iter().all(|&(l, r)| l == 0 && r == 0), "{f:?}");
    assert!(near(f[50].0, 1000) && near(f[50].1, 2000));
}
