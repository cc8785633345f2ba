//! A real phone as the agent: baresip registers as agent 1001 with digest
//! auth and auto-answers; a caller on the demo trunk (the Rust MediaCaller,
//! or SIPp playing the 1 kHz pcap) dials DID 5550100. The caller's 1 kHz
//! tone must reach what baresip records, baresip's 600 Hz WAV must reach
//! the caller, both through the switch's RTP ports, and the call's CDR must
//! say completed. With baresip speaking only G.722 the switch transcodes
//! between it and the PCMU caller; a G.722 caller reaches it in wideband.
//!
//! baresip missing fails the test (CI installs it) unless
//! `SWITCHYARD_SKIP_BARESIP=1`, which passes it with a note.

// A driver of real processes and sockets: it reads the clock and spawns.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::Path;
use std::thread;
use std::time::Duration;

use support::baresip::{self, read_wav, write_tone_wav, Baresip};
use support::scenarios::CARRIER_PLAYS_PCAP;
use support::{
    assert_no_rtp_drops, assert_our_sdp, foreign_origins, free_port_block, free_udp_port,
    rtp_heard, send_g722_tone, send_tone, sipp_dir, test_config, MediaCaller, Sipp, SwitchProc,
    EVENT_TIMEOUT,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::media::g722;
use switchyard::media::tone::tone_present;

/// The caller's tone, and the one baresip plays from its WAV.
const CALLER_HZ: f64 = 1000.0;
const PHONE_HZ: f64 = 600.0;
/// A tone only wideband audio carries (G.711 stops at 4 kHz).
const WIDEBAND_HZ: f64 = 6000.0;
/// How long both sides talk; the WAV lasts longer so baresip never hits its end.
const TALK_FOR: Duration = Duration::from_secs(4);
const PHONE_WAV_SECS: u32 = 30;
/// Audio baresip must have recorded of the caller: half the talk time.
const RECORDED_SECS_MIN: usize = 2;
/// RTP packets (20 ms) the caller must hear: half the talk time.
const HEARD_PACKETS_MIN: usize = 100;

/// What baresip 1.0.0 prints once a REGISTER got its 200: `… {0/UDP/v4} 200 OK (…)`.
const REGISTERED: &str = "} 200 OK";
/// What it prints when a registration failed for good.
const REGISTER_FAILED: &str = "Register: ";
/// What it prints when a call has ended (`Call with … terminated`).
const CALL_ENDED: &str = "terminated";

/// The test plan with MD5 challenges only: Debian's baresip 1.0.0 (libre
/// 1.1.0) gives up on a 401 that also offers SHA-256, as the demo notes.
fn media_config(rtp_lo: u16, rtp_hi: u16, codecs: &str) -> String {
    let plan = test_config("10s", free_udp_port()).replace(
        "digest_challenge = \"md5-first\"",
        "digest_challenge = \"md5-only\"",
    );
    assert!(plan.contains("md5-only"), "the plan offers MD5 alone");
    format!(
        "{plan}\n[media]\nrtp_ports = \"{rtp_lo}-{rtp_hi}\"\nrtp_address = \"127.0.0.1\"\ninactivity_timeout = \"10s\"\ncodecs = {codecs}\n"
    )
}

/// The codec baresip is limited to, with the switch's `[media] codecs`
/// and the baresip modules it needs.
#[derive(Clone, Copy)]
enum PhoneCodec {
    Pcmu,
    G722,
}

impl PhoneCodec {
    fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::G722 => "G722/16000/1",
        }
    }

    fn switch_codecs(self) -> &'static str {
        match self {
            Self::Pcmu => r#"["pcmu", "pcma", "opus"]"#,
            Self::G722 => r#"["pcmu", "pcma", "g722", "opus"]"#,
        }
    }

    /// The audio rate of the codec, which baresip's WAV source must have.
    fn rate_hz(self) -> u32 {
        match self {
            Self::Pcmu => 8000,
            Self::G722 => 16_000,
        }
    }

    fn modules(self) -> &'static [&'static str] {
        match self {
            Self::Pcmu => &[],
            Self::G722 => &["g722.so"],
        }
    }
}

/// The account line a user writes to `~/.baresip/accounts` (README), with
/// the registrar's address: auto-answer, one codec only, and `extra`
/// account parameters (e.g. `;ptime=30`).
fn account(registrar: SocketAddr, codec: PhoneCodec, extra: &str) -> String {
    format!(
        "<sip:1001@{registrar}>;auth_pass=demo-1001;answermode=auto;audio_codecs={}{extra}",
        codec.name()
    )
}

/// The `c=` address and `m=audio` port of an SDP body.
fn sdp_audio(body: &[u8]) -> SocketAddr {
    let sdp = std::str::from_utf8(body).expect("SDP is text");
    let ip = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap_or_else(|| panic!("no c= line in {sdp}"));
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no m=audio line in {sdp}"));
    format!("{}:{port}", ip.trim())
        .parse()
        .unwrap_or_else(|_| panic!("bad audio address in {sdp}"))
}

/// The switch on its own ports, and baresip registered to it as agent 1001.
struct Setup {
    switch: SwitchProc,
    phone: Baresip,
    /// The switch's RTP port range.
    rtp: RangeInclusive<u16>,
}

/// Starts the switch (four RTP pairs of its own) and baresip, which plays a
/// `PHONE_HZ` WAV, and waits for the registration on both sides.
fn switch_with_baresip_agent(name: &str, modules: &Path, codec: PhoneCodec, extra: &str) -> Setup {
    // Four whole pairs, even RTP port first: the caller's leg and the agent's.
    let block = free_port_block(10);
    let lo = block + block % 2;
    let hi = lo + 7;
    let switch = SwitchProc::start(name, &media_config(lo, hi, codec.switch_codecs()));
    let dir = switch.dir.join("baresip");
    std::fs::create_dir_all(&dir).expect("baresip dir");
    let source = dir.join("phone-600hz.wav");
    write_tone_wav(&source, PHONE_HZ, PHONE_WAV_SECS, codec.rate_hz());
    let mut phone = Baresip::start(
        modules,
        &dir,
        &account(switch.sip, codec, extra),
        &source,
        codec.modules(),
    );
    phone.expect_line(REGISTERED, &[REGISTER_FAILED], EVENT_TIMEOUT);
    switch.wait_metric("switchyard_registrations_active", |v| v == 1.0);
    Setup {
        switch,
        phone,
        rtp: lo..=hi,
    }
}

/// Asserts that baresip's recording of the call holds `CALLER_HZ`.
fn assert_phone_heard_the_caller(phone: &Baresip) {
    // On a panic, dropping the phone prints its output.
    let recording = phone
        .recording()
        .unwrap_or_else(|| panic!("baresip recorded nothing in {}", phone.dir.display()));
    let (recorded, rate) = read_wav(&recording);
    assert!(
        recorded.len() >= RECORDED_SECS_MIN * rate as usize,
        "baresip recorded only {} samples at {rate} Hz",
        recorded.len()
    );
    assert!(
        tone_present(&recorded, CALLER_HZ, rate),
        "no {CALLER_HZ} Hz tone from the caller in what baresip recorded at {rate} Hz"
    );
}

/// Asserts the switch's one call record: DID 5550100, agent 1001, completed.
fn assert_one_completed_cdr(switch: &SwitchProc) {
    switch.wait_metric("switchyard_cdr_written_total", |v| v == 1.0);
    let db = rusqlite::Connection::open(switch.dir.join("cdr.sqlite")).expect("open CDR store");
    let (outcome, agent, dialled): (String, Option<String>, String) = db
        .query_row(
            "SELECT outcome, agent, dialled FROM call_records",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("one call record");
    assert_eq!(outcome, "completed");
    assert_eq!(agent.as_deref(), Some("1001"));
    assert_eq!(dialled, "5550100");
}

/// Asserts that each side got only the switch's SDP: baresip (its SIP
/// trace) none of the caller's `o=` line, the caller (`answer`, our 200's
/// body) none of baresip's.
fn assert_each_side_got_our_sdp(phone: &mut Baresip, answer: &[u8]) {
    let trace = phone.output();
    let answer = std::str::from_utf8(answer).expect("SDP is text");
    let phones = foreign_origins(&trace);
    assert!(!phones.is_empty(), "baresip's own o= line in its trace");
    assert_our_sdp(answer, "caller", &phones, &[]);
    // The caller's offer, as MediaCaller writes it.
    assert_our_sdp(&trace, "agent (baresip)", &["o=caller 1 ".into()], &[]);
}

/// A PCMU caller dials DID 5550100 and talks `CALLER_HZ` with baresip's
/// `PHONE_HZ` for `TALK_FOR`; asserts both tones arrived and the call record.
fn caller_and_agent_hear_each_other(setup: &mut Setup) {
    let Setup { switch, phone, rtp } = setup;
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let to_switch = sdp_audio(ok.body());
    assert!(
        to_switch.ip().is_loopback() && rtp.contains(&to_switch.port()),
        "the answer names {to_switch}, not the switch's ports {rtp:?}"
    );

    let talker_sock = caller.rtp.try_clone().expect("clone caller rtp");
    let talker = thread::spawn(move || send_tone(&talker_sock, to_switch, CALLER_HZ, TALK_FOR));
    let heard = rtp_heard(&caller.rtp, TALK_FOR);
    talker.join().expect("talker thread");
    caller.bye();
    // The switch's BYE ends baresip's leg; sndfile closes its WAV then.
    phone.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);

    assert!(
        heard.len() >= HEARD_PACKETS_MIN,
        "the caller heard only {} RTP packets",
        heard.len()
    );
    assert!(
        heard.iter().all(|p| p.len() > 12 && p[1] & 0x7F == 0),
        "the caller got packets that are not PCMU"
    );
    let heard_pcm: Vec<i16> = heard
        .iter()
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    assert!(
        tone_present(&heard_pcm, PHONE_HZ, 8000),
        "no {PHONE_HZ} Hz tone from baresip's WAV in what the caller heard"
    );
    assert_phone_heard_the_caller(phone);
    assert_one_completed_cdr(switch);
    assert_each_side_got_our_sdp(phone, ok.body());
    assert_no_rtp_drops(switch);
}

#[test]
fn baresip_agent_answers_a_did_call_with_audio_both_ways_and_a_completed_cdr() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let mut setup = switch_with_baresip_agent("baresip", &modules, PhoneCodec::Pcmu, "");
    caller_and_agent_hear_each_other(&mut setup);
}

#[test]
fn baresip_agent_on_g722_hears_and_is_heard_by_a_pcmu_caller() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let mut setup = switch_with_baresip_agent("baresip-g722", &modules, PhoneCodec::G722, "");
    caller_and_agent_hear_each_other(&mut setup);
    let Setup { phone, .. } = &mut setup;
    // baresip says which codec it encodes and decodes with, and its
    // recording is wideband: the agent leg really spoke G.722.
    let log = phone.log();
    for dir in ["encoder", "decoder"] {
        let line = format!("Set audio {dir}: G722 16000Hz");
        assert!(log.contains(&line), "baresip printed no {line:?}:\n{log}");
    }
    let recording = phone.recording().expect("a recording");
    assert_eq!(read_wav(&recording).1, 16_000, "baresip decoded at 16 kHz");
    // Every packet was transcoded, none dropped: checked by
    // `caller_and_agent_hear_each_other` once the legs were gone.
}

#[test]
fn a_g722_caller_and_a_g722_agent_keep_wideband_audio() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let mut setup = switch_with_baresip_agent("baresip-g722-g722", &modules, PhoneCodec::G722, "");
    let Setup { switch, phone, rtp } = &mut setup;
    let mut caller = MediaCaller::offering(switch.sip, "5550100", 9, "G722/8000");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let to_switch = sdp_audio(ok.body());
    assert!(rtp.contains(&to_switch.port()), "answered at {to_switch}");
    // 6 kHz is beyond any 8 kHz path: it arrives only if no leg narrows it.
    let talker_sock = caller.rtp.try_clone().expect("clone caller rtp");
    let talker =
        thread::spawn(move || send_g722_tone(&talker_sock, to_switch, WIDEBAND_HZ, TALK_FOR));
    let heard = rtp_heard(&caller.rtp, TALK_FOR);
    talker.join().expect("talker thread");
    caller.bye();
    phone.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);

    assert!(heard.len() >= HEARD_PACKETS_MIN, "heard {}", heard.len());
    assert!(heard.iter().all(|p| p[1] & 0x7F == 9), "not all G.722");
    let mut decoder = g722::Decoder::new();
    let mut heard_pcm = Vec::new();
    for p in &heard {
        let mut out = [0i16; g722::FRAME_SAMPLES];
        let n = decoder.decode(&p[12..], &mut out).expect("20 ms");
        heard_pcm.extend_from_slice(&out[..n]);
    }
    assert!(
        tone_present(&heard_pcm, PHONE_HZ, g722::SAMPLE_RATE_HZ),
        "no {PHONE_HZ} Hz from baresip in what the G.722 caller heard"
    );
    let (recorded, rate) = read_wav(&phone.recording().expect("a recording"));
    assert_eq!(rate, g722::SAMPLE_RATE_HZ);
    assert!(
        tone_present(&recorded, WIDEBAND_HZ, rate),
        "no {WIDEBAND_HZ} Hz in what baresip recorded: the audio was narrowed"
    );
    assert_one_completed_cdr(switch);
    assert_each_side_got_our_sdp(phone, ok.body());
    assert_no_rtp_drops(switch);
}

#[test]
fn baresip_agent_records_the_tone_a_sipp_carrier_plays_from_a_pcap() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let Setup {
        switch,
        mut phone,
        rtp,
    } = switch_with_baresip_agent("baresip-sipp", &modules, PhoneCodec::Pcmu, "");
    let anchored = format!(
        "c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio ({}) RTP/AVP 0",
        rtp.clone()
            .filter(|p| p % 2 == 0)
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("|")
    );
    let pcap = sipp_dir().join("tone-1khz-pcmu.pcap");
    // The carrier answers the 200 with ACK, plays the pcap, then sends BYE.
    Sipp::start(
        &switch.dir,
        "carrier.xml",
        &[
            ("@AFTER@", CARRIER_PLAYS_PCAP),
            ("@MEDIA_RE@", &anchored),
            ("@PCAP@", pcap.to_str().expect("utf-8 path")),
        ],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    )
    .expect_success();
    phone.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);
    assert_phone_heard_the_caller(&phone);
    assert_one_completed_cdr(&switch);
    assert_no_rtp_drops(&switch);
}

#[test]
fn baresip_at_ptime_30_and_a_caller_at_20_hear_each_other_through_re_packetising() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let Setup {
        switch,
        mut phone,
        rtp: _,
    } = switch_with_baresip_agent("baresip-ptime30", &modules, PhoneCodec::Pcmu, ";ptime=30");

    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    // Its SIP trace: the answer it sent the switch asks for 30 ms packets.
    phone.expect_line("a=ptime:30", &[], EVENT_TIMEOUT);
    let to_switch = sdp_audio(ok.body());
    let talker_sock = caller.rtp.try_clone().expect("clone caller rtp");
    let talker = thread::spawn(move || send_tone(&talker_sock, to_switch, CALLER_HZ, TALK_FOR));
    let heard = rtp_heard(&caller.rtp, TALK_FOR);
    talker.join().expect("talker thread");
    caller.bye();
    phone.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);

    // baresip sends 30 ms; the caller, who named no ptime, gets 20 ms.
    assert!(
        heard.len() >= HEARD_PACKETS_MIN,
        "the caller heard only {} RTP packets",
        heard.len()
    );
    assert!(
        heard.iter().all(|p| p.len() == 12 + 160),
        "20 ms packets towards the caller"
    );
    let heard_pcm: Vec<i16> = heard
        .iter()
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    assert!(
        tone_present(&heard_pcm, PHONE_HZ, 8000),
        "no {PHONE_HZ} Hz tone from baresip's WAV in what the caller heard"
    );
    assert_phone_heard_the_caller(&phone);
    assert_one_completed_cdr(&switch);
    assert_each_side_got_our_sdp(&mut phone, ok.body());
    assert_no_rtp_drops(&switch);
}
