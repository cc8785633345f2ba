//! Hold and resume on an anchored call (RFC 3264 §8.4): the caller's
//! re-INVITE with `a=sendonly` is answered `a=recvonly` and the agent hears
//! the hold music instead of the caller; `a=sendrecv` bridges them again.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use support::{
    free_port_block, free_udp_port, rtp_heard, send_tone, sipp_media_agent, test_config,
    MediaCaller, SwitchProc,
};
use switchyard::media::g711::ulaw_decode;
use switchyard::media::prompts::Prompt;
use switchyard::media::sdp::Codec;
use switchyard::media::tone::tone_present;

/// The hold music's PCMU frames.
fn hold_music_frames() -> HashSet<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/hold_music.wav");
    let p = Prompt::from_wav("hold_music", &std::fs::read(path).unwrap()).unwrap();
    (0..p.frames())
        .map(|i| p.frame(Codec::Pcmu, i).unwrap().to_vec())
        .collect()
}

#[test]
fn a_caller_on_hold_leaves_the_agent_hearing_music_until_it_resumes() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let config = format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\n",
        test_config("10s", free_udp_port()),
        lo + 7,
        prompts.display()
    );
    let switch = SwitchProc::start("media-hold", &config);
    let (agent, agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {} RTP/AVP 0", lo + 2));
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    // The caller talks (a 1 kHz tone) to the switch's caller-side pair.
    let to_switch: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let talker_sock = caller.rtp.try_clone().unwrap();
    let talker = std::thread::spawn(move || {
        send_tone(&talker_sock, to_switch, 1000.0, Duration::from_secs(6))
    });
    let music = hold_music_frames();
    let is_music = |p: &Vec<u8>| music.contains(&p[12..]);
    let tone_in = |packets: &[Vec<u8>]| {
        let pcm: Vec<i16> = packets
            .iter()
            .filter(|p| !is_music(p))
            .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
            .collect();
        tone_present(&pcm, 1000.0, 8000)
    };

    let talking = rtp_heard(&agent_rtp, Duration::from_millis(1000));
    assert!(
        tone_in(&talking),
        "the agent hears the caller before the hold"
    );

    let held = caller.reinvite("a=sendonly");
    let body = std::str::from_utf8(held.body()).unwrap();
    assert!(
        body.contains("a=recvonly"),
        "hold answered recvonly: {body}"
    );
    let on_hold = rtp_heard(&agent_rtp, Duration::from_millis(1500));
    let music_heard = on_hold.iter().filter(|p| is_music(p)).count();
    assert!(music_heard > 40, "only {music_heard} music frames on hold");
    // After the switch-over, nothing of the caller's reaches the agent.
    let last = on_hold.iter().rposition(|p| !is_music(p)).unwrap_or(0);
    assert!(
        last < 10,
        "caller audio still relayed on hold (packet {last})"
    );

    let resumed = caller.reinvite("a=sendrecv");
    let body = std::str::from_utf8(resumed.body()).unwrap();
    assert!(
        body.contains("a=sendrecv"),
        "resume answered sendrecv: {body}"
    );
    let after = rtp_heard(&agent_rtp, Duration::from_millis(1000));
    assert!(
        tone_in(&after),
        "the agent hears the caller again after resume"
    );
    let ssrcs: HashSet<&[u8]> = talking
        .iter()
        .chain(&on_hold)
        .chain(&after)
        .map(|p| &p[8..12])
        .collect();
    assert_eq!(ssrcs.len(), 1, "one stream towards the agent throughout");

    talker.join().unwrap();
    caller.bye();
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}
