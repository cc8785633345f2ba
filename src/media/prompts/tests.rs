use super::*;
use crate::media::g711::ulaw_decode;
use crate::media::tone::{tone_present, Sine};

fn wav(spec: hound::WavSpec, samples: &[i16]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

fn narrowband() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

fn tone(freq: f64, samples: usize) -> Vec<i16> {
    let mut pcm = vec![0i16; samples];
    Sine::new(freq, 8000, 0.5).fill(&mut pcm);
    pcm
}

#[test]
fn wav_is_decoded_once_and_pre_encoded_in_whole_frames() {
    let p = Prompt::from_wav("beep", &wav(narrowband(), &tone(1000.0, 400))).unwrap();
    assert_eq!(p.frames(), 3, "400 samples pad to three 160-sample frames");
    assert_eq!(p.duration(), Duration::from_millis(60));
    let f0: Vec<i16> = p
        .frame(Codec::Pcmu, 0)
        .unwrap()
        .iter()
        .map(|c| ulaw_decode(*c))
        .collect();
    assert!(tone_present(&f0, 1000.0, 8000));
    assert_eq!(p.frame(Codec::Pcma, 2).unwrap().len(), 160);
    assert_eq!(p.frame(Codec::Pcmu, 3), None);
    assert_eq!(p.frame(Codec::Opus, 0), None);
    assert_eq!(
        &p.frame_pcm(2).unwrap()[80..],
        &[0i16; 80],
        "tail padded with silence"
    );
}

#[test]
fn prompts_play_on_g722_legs_too() {
    // 160 bytes per 20 ms; a phone decoding the frames in a row hears the tone.
    let p = Prompt::from_pcm(tone(1000.0, 8000));
    let mut dec = crate::media::g722::Decoder::new();
    let mut heard = Vec::new();
    for i in 0..p.frames() {
        let frame = p.frame(Codec::G722, i).unwrap();
        assert_eq!(frame.len(), 160);
        let mut wide = [0i16; 320];
        assert_eq!(dec.decode(frame, &mut wide), Ok(320));
        heard.extend_from_slice(&wide);
    }
    assert!(tone_present(&heard[8000..], 1000.0, 16_000));
    assert_eq!(p.frame(Codec::G722, p.frames()), None);
}

#[test]
fn wrong_formats_are_refused_with_the_prompt_named() {
    let stereo = hound::WavSpec {
        channels: 2,
        ..narrowband()
    };
    let wide = hound::WavSpec {
        sample_rate: 16000,
        ..narrowband()
    };
    assert!(matches!(
        Prompt::from_wav("s", &wav(stereo, &[0; 320])),
        Err(PromptError::NotMono { channels: 2, .. })
    ));
    assert!(matches!(
        Prompt::from_wav("w", &wav(wide, &[0; 320])),
        Err(PromptError::NotNarrowband { rate: 16000, .. })
    ));
    assert!(matches!(
        Prompt::from_wav("e", &wav(narrowband(), &[])),
        Err(PromptError::Empty { .. })
    ));
    let err = Prompt::from_wav("junk", b"RIFF nonsense").unwrap_err();
    assert!(err.to_string().contains("junk"), "{err}");
}

#[test]
fn committed_prompts_load_and_announce_positions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let set = PromptSet::load_dir(&dir).unwrap();
    for name in [
        "welcome",
        "ringback",
        "hold_music",
        "caller_number",
        "expected_wait",
        "minutes",
        "n1",
        "n20",
    ] {
        let p = set.prompt(set.id(name).unwrap()).unwrap();
        assert!(p.frames() > 0, "{name}");
    }
    let ring = set.prompt(set.id("ringback").unwrap()).unwrap();
    assert_eq!(ring.duration(), Duration::from_secs(5));
    let on: Vec<i16> = ring.frame_pcm(10).unwrap().to_vec();
    assert!(tone_present(&on, 425.0, 8000), "ringback is 425 Hz");
    assert!(set.position_announcement(3).is_some());
    assert!(set.position_announcement(999).is_none());
}

fn two_prompt_set() -> (PromptSet, PromptId, PromptId) {
    let mut set = PromptSet::default();
    let a = set.insert("a", Prompt::from_pcm(tone(440.0, 320))).unwrap();
    let b = set.insert("b", Prompt::from_pcm(tone(880.0, 160))).unwrap();
    (set, a, b)
}

#[test]
fn player_hands_out_one_frame_per_20ms_in_playlist_order() {
    let (set, a, b) = two_prompt_set();
    let t0 = Instant::now();
    let mut p = PromptPlayer::new(&[a, b], false, t0).unwrap();
    let mut got = Vec::new();
    for k in 0..5u32 {
        let at = t0 + FRAME * k;
        assert_eq!(p.poll_timeout(&set), (k < 3).then_some(at));
        got.extend(p.poll_frame(&set, at));
        assert_eq!(p.poll_frame(&set, at + Duration::from_millis(19)), None);
    }
    assert_eq!(
        got,
        vec![
            PlayerFrame {
                prompt: a,
                frame: 0,
                step: 0
            },
            PlayerFrame {
                prompt: a,
                frame: 1,
                step: 1
            },
            PlayerFrame {
                prompt: b,
                frame: 0,
                step: 2
            },
        ]
    );
}

#[test]
fn looped_player_wraps_and_skips_frames_a_late_driver_missed() {
    let (set, a, b) = two_prompt_set();
    let t0 = Instant::now();
    let mut p = PromptPlayer::new(&[a, b], true, t0).unwrap();
    assert_eq!(p.poll_frame(&set, t0).map(|f| f.frame), Some(0));
    // 140 ms late: steps 1..=6 are due; only step 7 (a's frame 1 in the third round) is sent.
    let f = p.poll_frame(&set, t0 + FRAME * 7).unwrap();
    assert_eq!(
        f,
        PlayerFrame {
            prompt: a,
            frame: 1,
            step: 7
        }
    );
    assert_eq!(p.poll_timeout(&set), Some(t0 + FRAME * 8));
}

#[test]
fn playlists_are_bounded() {
    let (_, a, _) = two_prompt_set();
    let items = vec![a; PLAYLIST_ITEMS_MAX + 1];
    assert!(matches!(
        PromptPlayer::new(&items, true, Instant::now()),
        Err(PromptError::PlaylistTooLong(_))
    ));
}

#[test]
fn a_player_at_30ms_cuts_each_prompt_into_frames_of_240_samples_the_last_short() {
    let mut set = PromptSet::default();
    // 400 samples, padded to 480 (three 20 ms frames): two frames of 30 ms.
    let a = set.insert("a", Prompt::from_pcm(tone(440.0, 400))).unwrap();
    let prompt = set.prompt(a).unwrap();
    assert_eq!(prompt.frames_of(240), 2);
    assert_eq!(prompt.pcm_frame(1, 240).unwrap().len(), 240);
    assert_eq!(
        prompt.encoded_frame(Codec::Pcma, 1, 240).unwrap().len(),
        240
    );
    assert_eq!(prompt.frames_of(320), 2);
    assert_eq!(
        prompt.pcm_frame(1, 320).unwrap().len(),
        160,
        "the last is short"
    );
    assert_eq!(prompt.encoded_frame(Codec::Opus, 0, 240), None);
    assert_eq!(prompt.pcm_frame(2, 240), None);

    let t0 = Instant::now();
    let thirty = Duration::from_millis(30);
    let mut p = PromptPlayer::with_frame(&[a], true, t0, thirty).unwrap();
    assert_eq!((p.frame(), p.frame_samples()), (thirty, 240));
    let steps: Vec<(usize, u64)> = (0..4u32)
        .filter_map(|k| p.poll_frame(&set, t0 + thirty * k))
        .map(|f| (f.frame, f.step))
        .collect();
    assert_eq!(steps, [(0, 0), (1, 1), (0, 2), (1, 3)], "looped at 30 ms");
    assert_eq!(p.poll_timeout(&set), Some(t0 + thirty * 4));
}

#[test]
fn a_reloaded_set_keeps_the_ids_it_gave_and_adds_new_names_after() {
    let mut old = PromptSet::default();
    let a = old.insert("a", Prompt::from_pcm(tone(440.0, 800))).unwrap();
    let b = old.insert("b", Prompt::from_pcm(tone(440.0, 800))).unwrap();
    // The directory now has a new "c", a longer "b", and no "a".
    let mut newer = PromptSet::default();
    newer
        .insert("c", Prompt::from_pcm(tone(440.0, 160)))
        .unwrap();
    newer
        .insert("b", Prompt::from_pcm(tone(440.0, 1600)))
        .unwrap();
    let merged = old.merged(&newer).unwrap();
    assert_eq!(
        merged.id("a").unwrap(),
        a,
        "a call told \"a\" still finds it"
    );
    assert_eq!(merged.id("b").unwrap(), b);
    assert_eq!(merged.id("c").unwrap(), PromptId(2));
    assert_eq!(merged.prompt(b).unwrap().frames(), 10, "b's new audio");
    assert_eq!(
        old.prompt(b).unwrap().frames(),
        5,
        "the old set is untouched"
    );
}
