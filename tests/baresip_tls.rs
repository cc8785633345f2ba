//! A real phone over TLS with SRTP: baresip registers as agent 1001 over
//! TLS (`;transport=tls`) with `mediaenc=srtp-mand`, trusting the switch's
//! self-signed certificate, and auto-answers a plain-RTP caller on the
//! demo trunk. The switch offers it RTP/SAVP with our key over its TLS
//! connection; the caller's 1 kHz tone must reach what baresip records and
//! baresip's 600 Hz WAV must reach the caller, with no SRTP packet dropped.
//!
//! baresip missing fails the test (CI installs it) unless
//! `SWITCHYARD_SKIP_BARESIP=1`, which passes it with a note.

// A driver of real processes and sockets: it reads the clock and spawns.
#![allow(clippy::disallowed_methods)]

mod support;

use std::thread;
use std::time::Duration;

use support::baresip::{self, read_wav, write_tone_wav, Baresip};
use support::{
    free_port_block, free_udp_port, rtp_heard, send_tone, test_config, MediaCaller, SwitchProc,
    EVENT_TIMEOUT,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::media::tone::tone_present;

const CALLER_HZ: f64 = 1000.0;
const PHONE_HZ: f64 = 600.0;
const TALK_FOR: Duration = Duration::from_secs(4);
const PHONE_WAV_SECS: u32 = 30;
/// Audio baresip must have recorded, and packets the caller must hear:
/// half the talk time.
const RECORDED_SECS_MIN: usize = 2;
const HEARD_PACKETS_MIN: usize = 100;
/// What baresip 1.0.0 prints once a REGISTER got its 200.
const REGISTERED: &str = "} 200 OK";
const REGISTER_FAILED: &str = "Register: ";
const CALL_ENDED: &str = "terminated";

/// The test plan with TLS, media anchored, agent 1001 SRTP-only, and MD5
/// challenges (Debian's baresip 1.0 gives up on SHA-256 ones).
fn config() -> String {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let plan = test_config("10s", free_udp_port())
        .replace(
            "digest_challenge = \"md5-first\"",
            "digest_challenge = \"md5-only\"",
        )
        .replace("id = \"1001\"", "id = \"1001\"\nsrtp = \"mandatory\"");
    format!(
        "{plan}\n[media]\nrtp_ports = \"{lo}-{}\"\nrtp_address = \"127.0.0.1\"\ninactivity_timeout = \"10s\"\ncodecs = [\"pcmu\", \"pcma\"]\n\n[tls]\nlisten = \"127.0.0.1:0\"\n",
        lo + 7
    )
}

#[test]
fn baresip_over_tls_with_srtp_talks_to_a_plain_rtp_caller() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let switch = SwitchProc::start("baresip-tls", &config());
    let tls = switch.tls.expect("a TLS listener");
    let dir = switch.dir.join("baresip");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("phone-600hz.wav");
    write_tone_wav(&source, PHONE_HZ, PHONE_WAV_SECS, 8000);
    // The README's lines: TLS to the switch, SRTP or no call, and the
    // switch's certificate as the one to trust.
    let account = format!(
        "<sip:1001@{tls};transport=tls>;auth_pass=demo-1001;answermode=auto;audio_codecs=PCMU;mediaenc=srtp-mand"
    );
    let cafile = format!(
        "sip_cafile {}\n",
        switch.dir.join("switchyard-tls.crt").display()
    );
    let mut phone = Baresip::start_with(&modules, &dir, &account, &source, &["srtp.so"], &cafile);
    phone.expect_line(REGISTERED, &[REGISTER_FAILED], EVENT_TIMEOUT);
    switch.wait_metric("switchyard_registrations_active", |v| v == 1.0);
    switch.wait_metric("switchyard_tls_handshakes_total{result=\"ok\"}", |v| {
        v >= 1.0
    });

    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let answer = String::from_utf8_lossy(ok.body()).to_string();
    assert!(
        answer.contains("RTP/AVP") && !answer.contains("a=crypto"),
        "the caller's leg is plain RTP: {answer}"
    );
    let to_switch = answer
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
        .expect("m=audio in our answer");

    let talker_sock = caller.rtp.try_clone().unwrap();
    let talker = thread::spawn(move || send_tone(&talker_sock, to_switch, CALLER_HZ, TALK_FOR));
    let heard = rtp_heard(&caller.rtp, TALK_FOR);
    talker.join().unwrap();
    caller.bye();
    phone.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);

    // The INVITE reached baresip over TLS, offering SRTP with our key.
    let trace = phone.output();
    assert!(
        trace.contains("SIP/2.0/TLS"),
        "no TLS Via in baresip's trace"
    );
    assert!(
        trace.contains("RTP/SAVP") && trace.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80"),
        "baresip was not offered SRTP"
    );

    assert!(
        heard.len() >= HEARD_PACKETS_MIN,
        "the caller heard only {} RTP packets",
        heard.len()
    );
    let heard_pcm: Vec<i16> = heard
        .iter()
        .filter(|p| p.len() > 12 && p[1] & 0x7F == 0)
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    assert!(
        tone_present(&heard_pcm, PHONE_HZ, 8000),
        "no {PHONE_HZ} Hz tone from baresip's SRTP in what the caller heard"
    );
    let recording = phone
        .recording()
        .unwrap_or_else(|| panic!("baresip recorded nothing in {}", phone.dir.display()));
    let (recorded, rate) = read_wav(&recording);
    assert!(recorded.len() >= RECORDED_SECS_MIN * rate as usize);
    assert!(
        tone_present(&recorded, CALLER_HZ, rate),
        "no {CALLER_HZ} Hz tone from the caller in what baresip recorded"
    );
    for reason in ["srtp_auth", "srtp_replay"] {
        let metric = format!("switchyard_rtp_packets_dropped_total{{reason=\"{reason}\"}}");
        switch.wait_metric(&metric, |v| v == 0.0);
    }
}
