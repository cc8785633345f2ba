//! linphone as agent 1001's phone holds and resumes a call, as its users
//! do: its re-offers list Opus first (and renumber it), though the call
//! was answered in PCMU. The switch must answer each re-offer with what the
//! leg keeps using, PCMU, one `o=` version up each time (RFC 3264 §8), and
//! keep relaying linphone's PCMU to the caller after the resume, with no
//! packet dropped as malformed or of an unknown payload type. Goertzel on
//! both sides: the caller hears linphone's 600 Hz (played from a WAV as its
//! microphone), linphone's recording holds the caller's 1 kHz.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use support::baresip::write_tone_wav;
use support::linphone::{self, Linphone};
use support::{
    free_port_block, free_udp_port, metric_value, rtp_heard, send_tone, test_config, MediaCaller,
    SwitchProc,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::media::tone::tone_present;

/// The tone linphone plays as its microphone.
const LINPHONE_HZ: f64 = 600.0;

/// Whether the PCMU among `packets` carries linphone's tone (Goertzel).
fn hears_linphone(packets: &[Vec<u8>]) -> bool {
    let pcm: Vec<i16> = packets
        .iter()
        .filter(|p| p[1] & 0x7f == 0)
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    tone_present(&pcm, LINPHONE_HZ, 8000)
}

/// Packets of PCMU (payload type 0) among `packets`.
fn pcmu(packets: &[Vec<u8>]) -> usize {
    packets.iter().filter(|p| p[1] & 0x7f == 0).count()
}

/// The version of the last `o=switchyard` line in linphone's SIP log and
/// the `m=` line that follows it: our answer to its last re-offer.
fn last_answer(log: &str) -> (u64, String) {
    let at = log
        .rfind("o=switchyard ")
        .expect("an SDP of ours in linphone's log");
    let o = log[at..].lines().next().unwrap();
    let version = o.split(' ').nth(2).unwrap().parse().unwrap();
    let m = log[at..]
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap()
        .trim()
        .to_string();
    (version, m)
}

#[test]
fn linphone_resuming_with_opus_first_keeps_its_pcmu_stream_flowing() {
    let Some(()) = linphone::require() else {
        return;
    };
    let block = free_port_block(10);
    let lo = block + block % 2;
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\n",
        test_config("10s", free_udp_port()),
        lo + 7,
        prompts.display()
    );
    let switch = SwitchProc::start("linphone-hold", &config);
    let mut phone = Linphone::start(
        &switch.dir,
        switch.sip,
        "1001",
        "demo-1001",
        "switchyard-test",
    );
    // Its microphone is a WAV file: a 600 Hz tone (the caller speaks 1 kHz).
    let wav = switch.dir.join("linphone-tone.wav");
    write_tone_wav(&wav, LINPHONE_HZ, 20, 8000);
    phone.command("soundcard use files");
    switch.wait_metric("switchyard_registrations_active", |v| v >= 1.0);

    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    phone.expect("Media streams established");
    phone.command(&format!("play {}", wav.display()));
    let to_switch: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let talker_sock = caller.rtp.try_clone().unwrap();
    let talker = std::thread::spawn(move || {
        send_tone(&talker_sock, to_switch, 1000.0, Duration::from_secs(7))
    });
    let talking = rtp_heard(&caller.rtp, Duration::from_millis(1000));
    assert!(
        hears_linphone(&talking),
        "the caller hears linphone before the hold: {} PCMU packets",
        pcmu(&talking)
    );

    phone.command("pause");
    phone.expect("is now paused");
    phone.command("resume");
    phone.expect("Media streams established");
    phone.command(&format!("play {}", wav.display()));
    // What linphone hears from now on goes to a WAV.
    let heard = switch.dir.join("linphone-heard.wav");
    phone.command(&format!("record {}", heard.display()));
    let resumed = rtp_heard(&caller.rtp, Duration::from_millis(1500));
    assert!(
        hears_linphone(&resumed),
        "the caller hears linphone after the resume: {} PCMU packets",
        pcmu(&resumed)
    );

    let log = phone.sip_log();
    assert!(
        log.contains(" RTP/AVP 96 ") && log.contains("a=rtpmap:96 opus/48000/2"),
        "linphone's resume listed Opus first (as it does)"
    );
    let (version, m) = last_answer(&log);
    assert_eq!(version, 3, "offer, hold and resume: three versions of ours");
    assert_eq!(m, format!("m=audio {} RTP/AVP 0 101", lo + 2));
    // linphone only ever saw our SDP, never the caller's.
    assert!(
        !log.contains("o=caller"),
        "the caller's o= line reached linphone"
    );

    talker.join().unwrap();
    caller.bye();
    phone.expect("ended");
    // linphone heard the caller's 1 kHz after the resume (Goertzel).
    let mut wav = hound::WavReader::open(&heard).expect("linphone's recording");
    let rate = wav.spec().sample_rate;
    let pcm: Vec<i16> = wav.samples::<i16>().map_while(Result::ok).collect();
    assert!(
        tone_present(&pcm, 1000.0, rate),
        "linphone hears the caller after the resume ({} samples at {rate} Hz)",
        pcm.len()
    );
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    let metrics = switch.metrics();
    for reason in ["malformed", "unmapped_pt"] {
        let name = format!("switchyard_rtp_packets_dropped_total{{reason=\"{reason}\"}}");
        assert_eq!(metric_value(&metrics, &name).unwrap_or(0.0), 0.0, "{name}");
    }
}
