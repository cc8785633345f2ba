//! linphone as agent 1001's phone holds and resumes a call, as its users
//! do: its re-offers list Opus first (and renumber it), though the call
//! was answered in PCMU. The switch must answer each re-offer with what the
//! leg keeps using, PCMU, one `o=` version up each time (RFC 3264 §8), and
//! keep relaying linphone's PCMU to the caller after the resume, with no
//! packet dropped as malformed or of an unknown payload type. Goertzel on
//! both sides: the caller hears linphone's 600 Hz (played from a WAV as its
//! microphone), linphone's recording holds the caller's 1 kHz.
//!
//! linphone as the caller, with its default codecs (Opus first), in the
//! demo's IVR menu: it hears the menu prompt in Opus, presses 2 with its
//! own RFC 4733 DTMF and talks to the sales agent through the transcoder.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use support::baresip::write_tone_wav;
use support::linphone::{self, Linphone};
use support::{
    assert_no_rtp_drops, assert_our_sdp, foreign_origins, free_port_block, free_udp_port,
    rtp_heard, send_tone, sipp_media_agent, test_config, tone_share, MediaCaller, SwitchProc,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::media::tone::tone_present;

/// The tone linphone plays as its microphone.
const LINPHONE_HZ: f64 = 600.0;

/// What linphone writes in its SDP that the far leg must not see: its
/// RTCP feedback and XR attributes and its speex codecs.
const LINPHONE_ATTRIBUTES: [&str; 3] = ["a=rtcp-fb", "a=rtcp-xr", "speex"];

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
    // linphone only ever saw our SDP, never the caller's; the caller
    // never linphone's.
    assert_our_sdp(&log, "agent (linphone)", &["o=caller 1 ".into()], &[]);
    let answer = std::str::from_utf8(ok.body()).unwrap();
    assert_our_sdp(
        answer,
        "caller",
        &foreign_origins(&log),
        &LINPHONE_ATTRIBUTES,
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
    assert_no_rtp_drops(&switch);
}

/// The demo's menu (`dialplans/default.toml`) on DID 5550400, with the
/// test agents, media and the repository's prompts.
fn menu_config(lo: u16) -> String {
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let base = test_config("10s", free_udp_port())
        .replace("[dids]\n", "[dids]\n\"5550400\" = { menu = \"main\" }\n");
    format!(
        "{base}\n[[menus]]\nname = \"main\"\nprompt = \"menu_main\"\n\
         options = {{ \"1\" = \"queue:support\", \"2\" = \"queue:sales\", \"0\" = \"agent:1001\" }}\n\
         timeout = \"10s\"\nretries = 2\ndefault = \"queue:support\"\n\
         [media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\n",
        lo + 7,
        prompts.display()
    )
}

/// A WAV file's samples and rate.
fn wav_samples(path: &Path) -> (Vec<i16>, u32) {
    let mut wav =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let rate = wav.spec().sample_rate;
    (wav.samples::<i16>().map_while(Result::ok).collect(), rate)
}

/// Loudness in 10 ms steps of `pcm` at `rate` Hz.
fn envelope(pcm: &[i16], rate: u32) -> Vec<f64> {
    let step = rate as usize / 100;
    pcm.chunks_exact(step)
        .map(|c| (c.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / step as f64).sqrt())
        .collect()
}

/// The best correlation (Pearson's) of `heard`'s loudness (1.5 s from its
/// 0.2 s on) with `source`'s over every lag: linphone's recording starts
/// with its early media, a little before or after the prompt's first
/// frame. Another prompt of ours scores at most 0.6 against linphone's
/// recording of the menu; the menu itself above 0.9.
fn envelope_correlation(heard: &[f64], source: &[f64]) -> f64 {
    let centred = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| x - mean).collect::<Vec<_>>()
    };
    let window = centred(&heard[20..170]);
    let ww: f64 = window.iter().map(|x| x * x).sum();
    (0..source.len().saturating_sub(window.len()))
        .map(|lag| {
            let s = centred(&source[lag..lag + window.len()]);
            let ws: f64 = window.iter().zip(&s).map(|(x, y)| x * y).sum();
            let ss: f64 = s.iter().map(|y| y * y).sum();
            if ss > 0.0 && ww > 0.0 {
                ws / (ww * ss).sqrt()
            } else {
                0.0
            }
        })
        .fold(0.0, f64::max)
}

/// linphone as a customer's phone, with its default codecs (Opus first,
/// then speex, PCMU, PCMA…), calls the demo menu: it hears the menu prompt
/// as early media in Opus (its recording's loudness follows the prompt's),
/// presses 2 with its own DTMF (RFC 4733, not SIP INFO) and reaches the
/// sales agent, a SIPp phone answering PCMU at a test socket. Across the
/// transcoding the agent hears linphone's 600 Hz and linphone the agent's
/// 1 kHz (Goertzel); each side's SDP is the switch's own, and no packet
/// is dropped.
#[test]
fn linphone_opus_caller_hears_the_menu_and_presses_2_to_reach_the_sales_agent() {
    let Some(()) = linphone::require() else {
        return;
    };
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("linphone-ivr", &menu_config(lo));
    // Agent 1003 has only the sales skill: only option 2 reaches it.
    let agent_leg_port = lo + 2;
    let re = format!("m=audio {agent_leg_port} RTP/AVP");
    let (agent, agent_rtp) = sipp_media_agent(&switch, "1003", &re);

    let mut phone = Linphone::caller(&switch.dir);
    phone.command("soundcard use files");
    let menu_wav = switch.dir.join("linphone-menu.wav");
    phone.command(&format!("record {}", menu_wav.display()));
    phone.command(&format!("call sip:5550400@{}", switch.sip));
    phone.expect("early media");
    // Half the prompt ("For support, press 1. For sales, press 2.").
    std::thread::sleep(Duration::from_secs(3));
    phone.command("2");
    phone.expect("connected");
    phone.expect("Media streams established");

    let talk_wav = switch.dir.join("linphone-talk.wav");
    phone.command(&format!("record {}", talk_wav.display()));
    let tone = switch.dir.join("linphone-tone.wav");
    write_tone_wav(&tone, LINPHONE_HZ, 20, 8000);
    phone.command(&format!("play {}", tone.display()));
    let to_switch: SocketAddr = format!("127.0.0.1:{agent_leg_port}").parse().unwrap();
    let talker_sock = agent_rtp.try_clone().unwrap();
    let talker = std::thread::spawn(move || {
        send_tone(&talker_sock, to_switch, 1000.0, Duration::from_secs(3))
    });
    let heard = rtp_heard(&agent_rtp, Duration::from_millis(2000));
    talker.join().unwrap();
    let pcm: Vec<i16> = heard
        .iter()
        .filter(|p| p[1] & 0x7f == 0)
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    let share = tone_share(&pcm, LINPHONE_HZ, 8000);
    eprintln!("the agent's PCMU: linphone's 600 Hz in {share:.2} of it");
    assert!(
        share > 0.5,
        "the sales agent hears linphone: 600 Hz in {share:.2} of {} PCMU packets",
        pcmu(&heard)
    );
    phone.command("terminate");
    phone.expect("ended");
    let offer = agent.messages();
    agent.expect_success();

    // linphone heard the menu prompt before it pressed 2.
    let (pcm, rate) = wav_samples(&menu_wav);
    let (prompt, prompt_rate) =
        wav_samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/menu_main.wav"));
    let c = envelope_correlation(&envelope(&pcm, rate), &envelope(&prompt, prompt_rate));
    eprintln!("linphone's recording ({rate} Hz) against menu_main: loudness correlation {c:.3}");
    assert!(
        c > 0.8,
        "linphone hears the menu prompt: correlation {c:.3}"
    );
    // ... and the agent after it.
    let (pcm, rate) = wav_samples(&talk_wav);
    // About 0.97 here. It was 0.7 while a new source's timestamp went on
    // one frame after the prompt's last, whatever the silence in between:
    // linphone's jitter buffer took it for a second of delay, grew to half
    // a second and dropped the start (tests/media_timestamps.rs).
    let share = tone_share(&pcm, 1000.0, rate);
    eprintln!("linphone's recording of the agent: 1 kHz in {share:.2} of it");
    assert!(
        share > 0.9,
        "linphone hears the agent: 1 kHz in {share:.2} of {} samples at {rate} Hz",
        pcm.len()
    );

    // The digit went in-band as RFC 4733, the codec was Opus, and linphone
    // saw only our SDP.
    let log = phone.sip_log();
    assert!(
        log.contains("a=rtpmap:96 opus/48000/2"),
        "linphone offered Opus"
    );
    assert!(
        log.contains("Finished sending RFC2833 dtmf"),
        "linphone sent RFC 4733"
    );
    assert!(!log.contains("INFO sip:"), "no SIP INFO digit");
    let (version, m) = last_answer(&log);
    assert_eq!(version, 1, "183 and 200 carry one unchanged SDP of ours");
    assert!(m.contains(" RTP/AVP 96 "), "answered in Opus: {m}");
    // Each side saw only our SDP: linphone (its log holds what it sent
    // too) never the agent's o= line, the agent none of linphone's o=
    // lines or attributes, nor the codecs only linphone speaks.
    assert_our_sdp(&log, "caller (linphone)", &foreign_origins(&offer), &[]);
    assert_our_sdp(
        &offer,
        "agent",
        &foreign_origins(&log),
        &LINPHONE_ATTRIBUTES,
    );

    switch.wait_metric("switchyard_ivr_exits_total{how=\"digit\"}", |v| v == 1.0);
    switch.wait_metric("switchyard_dtmf_digits_total", |v| v == 1.0);
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    assert_no_rtp_drops(&switch);
}
