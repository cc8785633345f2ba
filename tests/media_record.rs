//! Call recording on the wire: a DID with `record = true` routes to agent
//! 1001 (SIPp); the caller sends a 1 kHz tone and the agent a 600 Hz tone
//! over real RTP through the relay. The call record names a stereo WAV
//! whose left channel holds the caller's tone only and right channel the
//! agent's only, and whose length matches the recorded duration. With
//! `recordings_group` (here the test's own primary group) the file is
//! that group's to read, mode 0640.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{
    free_port_block, free_udp_port, send_tone, sipp_media_agent, test_config, MediaCaller,
    SwitchProc, EVENT_TIMEOUT,
};
use switchyard::media::tone::tone_present;
use switchyard::ops::cdr::{CdrRow, CdrStore};

/// The newest call record, once the writer has stored one.
fn wait_record(db: &Path) -> CdrRow {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Ok(store) = CdrStore::open_read_only(db) {
            if let Some(r) = store.recent(1).ok().and_then(|v| v.into_iter().next()) {
                return r.row;
            }
        }
        assert!(Instant::now() < deadline, "no call record in {db:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The recording's samples, once the relay has finished the file (its
/// header carries the data length only then).
fn wait_wav(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Ok(reader) = hound::WavReader::open(path) {
            let spec = reader.spec();
            assert_eq!(
                (spec.channels, spec.sample_rate, spec.bits_per_sample),
                (2, 8000, 16)
            );
            let samples: Vec<i16> = reader.into_samples().map_while(Result::ok).collect();
            if !samples.is_empty() {
                let left = samples.iter().step_by(2).copied().collect();
                let right = samples.iter().skip(1).step_by(2).copied().collect();
                return (left, right);
            }
        }
        assert!(
            Instant::now() < deadline,
            "recording {path:?} never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_recorded_call_keeps_the_caller_left_and_the_agent_right() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let plan = test_config("10s", free_udp_port()).replace(
        r#""5550100" = { agent = "1001" }"#,
        r#""5550100" = { agent = "1001", record = true }"#,
    );
    assert!(plan.contains("record = true"), "the DID asks for recording");
    let group = own_group();
    let config = format!(
        "{plan}\n[media]\nrtp_ports = \"{lo}-{}\"\nrecordings_group = \"{}\"\n",
        lo + 7,
        group.0
    );
    let switch = SwitchProc::start("media-record", &config);
    let (agent, agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {} RTP/AVP 0", lo + 2));
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);

    let caller_leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let agent_leg: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let talk = Duration::from_secs(2);
    let caller_sock = caller.rtp.try_clone().unwrap();
    let caller_talks =
        std::thread::spawn(move || send_tone(&caller_sock, caller_leg, 1000.0, talk));
    let agent_talks = std::thread::spawn(move || send_tone(&agent_rtp, agent_leg, 600.0, talk));
    caller_talks.join().unwrap();
    agent_talks.join().unwrap();
    caller.bye();
    agent.expect_success();

    let row = wait_record(&switch.dir.join("cdr.sqlite"));
    assert_eq!(row.outcome, "completed");
    let path = row.recording_path.expect("the record names its recording");
    let ms = row.recording_ms.expect("and its length");
    assert!(
        path.starts_with("recordings/") && path.ends_with(".wav"),
        "{path}"
    );
    assert!(
        (2_000..10_000).contains(&ms),
        "recorded {ms} ms of a 2 s talk"
    );

    let (left, right) = wait_wav(&switch.dir.join(&path));
    let meta = std::fs::metadata(switch.dir.join(&path)).unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(meta.gid(), group.1, "the file belongs to {}", group.0);
    let wav_ms = left.len() as u64 / 8;
    assert!(
        wav_ms.abs_diff(ms) < 500,
        "the file holds {wav_ms} ms, the record says {ms} ms"
    );
    // 100 ms windows: the 2 s talk gives about 20 with a tone on each side.
    let windows = |pcm: &[i16], hz: f64| {
        pcm.chunks(800)
            .filter(|c| tone_present(c, hz, 8000))
            .count()
    };
    let (l_caller, l_agent) = (windows(&left, 1000.0), windows(&left, 600.0));
    let (r_caller, r_agent) = (windows(&right, 1000.0), windows(&right, 600.0));
    assert!(
        l_caller >= 10,
        "the caller's tone on the left: {l_caller} windows"
    );
    assert_eq!(l_agent, 0, "the agent's tone leaks to the left");
    assert!(
        r_agent >= 10,
        "the agent's tone on the right: {r_agent} windows"
    );
    assert_eq!(r_caller, 0, "the caller's tone leaks to the right");
    switch.wait_metric("switchyard_recordings_total{result=\"started\"}", |v| {
        v == 1.0
    });
}

/// The name and id of the group this test runs as (`id -gn`, `id -g`).
fn own_group() -> (String, u32) {
    let id = |flag: &str| {
        let out = std::process::Command::new("id")
            .arg(flag)
            .output()
            .expect("id");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    (id("-gn"), id("-g").parse().expect("a numeric gid"))
}
