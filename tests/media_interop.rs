//! Media interop with others' material (issue 10): SIPp's stock `uac_pcap`
//! scenario, as SIPp ships it, plays SIPp's own `g711a.pcap` (PCMA in 30 ms
//! packets, then `dtmf_2833_1.pcap`) to DID 5550100 (agent 1001). The agent
//! answers PCMU or Opus only, at 20 ms: the switch transcodes and
//! re-packetises, and what the agent hears must be the pcap's audio
//! (correlated sample by sample after decoding) with no packet dropped. A
//! caller at ptime 30 and an agent at ptime 20 hear each other's tones at
//! their own packet sizes.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::scenarios::AGENT_ANSWERS_MEDIA_AT;
use support::{
    assert_our_sdp, foreign_origins, free_port_block, free_udp_port, rtp_heard, sipp_register,
    test_config, Phone, Sipp, SwitchProc,
};
use switchyard::media::dtmf::EventPayload;
use switchyard::media::g711::{alaw_decode, ulaw_decode, ulaw_encode};
use switchyard::media::sdp::Codec;
use switchyard::media::tone::{tone_present, Sine};
use switchyard::media::transcode::Transcoder;

/// Where Debian's sip-tester puts SIPp's pcaps.
const SIPP_PCAPS: &str = "/usr/share/sip-tester";
const OPUS_PT: u8 = 111;

/// The dialplan of the tests, with media on ports `lo..lo+7`.
fn media_config(lo: u16) -> String {
    format!(
        "{}\n[media]\nrtp_ports = \"{lo}-{}\"\n",
        test_config("10s", free_udp_port()),
        lo + 7
    )
}

/// SIPp's built-in `uac_pcap` scenario as this SIPp ships it (`sipp -sd`),
/// written to `dir`. It names its pcaps relative to the working directory
/// (`pcap/g711a.pcap`); they are pointed at the same files where Debian
/// installs them. Nothing else is changed.
fn stock_uac_pcap(dir: &Path) -> PathBuf {
    let out = Command::new("sipp")
        .args(["-sd", "uac_pcap"])
        .output()
        .expect("sipp -sd (Debian package sip-tester)");
    let text = String::from_utf8(out.stdout).expect("scenario text");
    assert!(text.contains("pcap/g711a.pcap"), "stock scenario: {text}");
    let path = dir.join("uac_pcap.xml");
    std::fs::write(&path, text.replace("pcap/", &format!("{SIPP_PCAPS}/"))).expect("write");
    path
}

/// The RTP payloads of a SIPp pcap (Ethernet, IPv4, UDP), in order.
fn pcap_payloads(name: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(Path::new(SIPP_PCAPS).join(name)).expect("SIPp's pcap");
    assert_eq!(&data[20..24], &1u32.to_le_bytes(), "Ethernet link type");
    let mut at = 24;
    let mut payloads = Vec::new();
    while at + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &data[at + 16..at + 16 + incl];
        at += 16 + incl;
        let ihl = usize::from(frame[14] & 0x0F) * 4;
        let rtp = &frame[14 + ihl + 8..];
        payloads.push(rtp.to_vec());
    }
    payloads
}

/// The 8 kHz audio of `g711a.pcap`.
fn pcap_audio() -> Vec<i16> {
    pcap_payloads("g711a.pcap")
        .iter()
        .filter(|p| p[1] & 0x7F == 8)
        .flat_map(|p| p[12..].iter().map(|&c| alaw_decode(c)))
        .collect()
}

/// The best normalised correlation of a window of `heard` with `source`,
/// over every lag that fits (the first packets may have arrived before the
/// bridge, and a codec delays).
fn best_correlation(heard: &[f64], source: &[f64], window: usize) -> f64 {
    let start = heard.len() / 3;
    let w = &heard[start..start + window];
    let ww: f64 = w.iter().map(|x| x * x).sum();
    let mut best = 0.0f64;
    for lag in 0..source.len().saturating_sub(window) {
        let s = &source[lag..lag + window];
        let (mut ws, mut ss) = (0.0, 0.0);
        for (x, y) in w.iter().zip(s) {
            ws += x * y;
            ss += y * y;
        }
        if ss > 0.0 && ww > 0.0 {
            best = best.max(ws / (ww * ss).sqrt());
        }
    }
    best
}

/// Sample by sample (half a second): for G.711, which keeps the waveform.
fn waveform_correlation(heard: &[i16], source: &[i16]) -> f64 {
    let f = |v: &[i16]| v.iter().map(|&s| f64::from(s)).collect::<Vec<_>>();
    best_correlation(&f(heard), &f(source), 4_000)
}

/// Of the loudness in 10 ms steps (two seconds): for Opus, which keeps
/// what is heard but not the waveform's phase.
fn envelope_correlation(heard: &[i16], source: &[i16]) -> f64 {
    let env = |v: &[i16]| {
        v.chunks(80)
            .map(|c| (c.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 80.0).sqrt())
            .collect::<Vec<_>>()
    };
    best_correlation(&env(heard), &env(source), 200)
}

/// Agent `user`'s SIPp phone, registered, answering with `media` (the
/// `m=` line's formats and their rtpmaps) at a test socket.
fn agent(switch: &SwitchProc, user: &str, lo: u16, media: &str) -> (Sipp, UdpSocket) {
    let agent_port = free_udp_port();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port().to_string();
    let answer = AGENT_ANSWERS_MEDIA_AT.replace(
        "RTP/AVP 0\n      a=rtpmap:0 PCMU/8000",
        &media.replace('\n', "\n      "),
    );
    let re = format!("m=audio {} RTP/AVP", lo + 2);
    let sipp = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", &answer),
            ("@MEDIA_RE@", &re),
            ("@AGENT_RTP@", &rtp_port),
        ],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    sipp_register(
        &switch.dir,
        switch,
        user,
        &format!("demo-{user}"),
        agent_port,
        200,
    );
    (sipp, rtp)
}

/// Every `switchyard_rtp_packets_dropped_total{reason}` once the call's
/// media is gone (its counters flushed), as `reason=value` pairs.
fn drops_after_the_call(switch: &SwitchProc) -> Vec<String> {
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_media_legs_active", |v| v == 0.0);
    switch
        .metrics()
        .lines()
        .filter(|l| l.starts_with("switchyard_rtp_packets_dropped_total{"))
        .map(str::to_string)
        .collect()
}

/// Each side got only the switch's SDP: the carrier (its SIPp trace) none
/// of the agent's `o=` line, the agent none of the carrier's.
fn assert_each_side_got_our_sdp(carrier: &Sipp, agent: &Sipp) {
    let (at_carrier, at_agent) = (carrier.messages(), agent.messages());
    let (carriers, agents) = (foreign_origins(&at_carrier), foreign_origins(&at_agent));
    assert!(!carriers.is_empty() && !agents.is_empty(), "both o= lines");
    assert_our_sdp(&at_carrier, "carrier", &agents, &[]);
    assert_our_sdp(&at_agent, "agent", &carriers, &[]);
}

fn assert_no_drops(switch: &SwitchProc) {
    let drops = drops_after_the_call(switch);
    assert!(!drops.is_empty(), "drop counters are exported");
    assert!(
        drops.iter().all(|l| l.ends_with(" 0")),
        "no packet dropped: {drops:#?}"
    );
}

fn rtp_ts(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[4], p[5], p[6], p[7]])
}

fn rtp_seq(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[2], p[3]])
}

/// Packets of payload type `pt` step by one in sequence and by `step` in
/// timestamp (checked on most neighbours: a source switch may jump once).
fn assert_continuous(packets: &[&Vec<u8>], step: u32) {
    let pairs = packets.windows(2);
    let n = pairs.len();
    let good = packets
        .windows(2)
        .filter(|w| {
            rtp_seq(w[1]) == rtp_seq(w[0]).wrapping_add(1)
                && rtp_ts(w[1]).wrapping_sub(rtp_ts(w[0])) == step
        })
        .count();
    assert!(good + 2 >= n, "{good} of {n} steps continuous by {step}");
}

#[test]
fn sipp_uac_pcap_in_pcma_30ms_reaches_a_pcmu_agent_with_its_digit() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-pcap-pcmu", &media_config(lo));
    let (agent, agent_rtp) = agent(
        &switch,
        "1001",
        lo,
        "RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000",
    );
    let scenario = stock_uac_pcap(&switch.dir);
    let carrier = Sipp::start(
        &switch.dir,
        scenario.to_str().unwrap(),
        &[],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    );
    // 236 packets of 30 ms (7.1 s), then the digit one second later.
    let heard = rtp_heard(&agent_rtp, Duration::from_secs(10));
    assert_each_side_got_our_sdp(&carrier, &agent);
    carrier.expect_success();
    agent.expect_success();

    let audio: Vec<&Vec<u8>> = heard.iter().filter(|p| p[1] & 0x7F == 0).collect();
    assert!(
        audio.len() >= 330,
        "about 354 PCMU packets of 20 ms at the agent, got {} ({} in all)",
        audio.len(),
        heard.len()
    );
    assert!(audio.iter().all(|p| p.len() == 12 + 160), "20 ms packets");
    assert_continuous(&audio, 160);
    let pcm: Vec<i16> = audio
        .iter()
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    let c = waveform_correlation(&pcm, &pcap_audio());
    eprintln!(
        "waveform correlation with the pcap: {c:.3} over {} packets",
        audio.len()
    );
    assert!(
        c > 0.95,
        "the agent hears the pcap's audio: correlation {c}"
    );

    let digits: Vec<EventPayload> = heard
        .iter()
        .filter(|p| p[1] & 0x7F == 101)
        .filter_map(|p| EventPayload::parse(&p[12..]).ok())
        .collect();
    assert!(
        !digits.is_empty() && digits.iter().all(|e| e.event == 1),
        "dtmf_2833_1.pcap reaches the agent as event 1: {digits:?}"
    );
    assert_no_drops(&switch);
}

#[test]
fn sipp_uac_pcap_in_pcma_30ms_reaches_an_opus_agent() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-pcap-opus", &media_config(lo));
    let (agent, agent_rtp) = agent(
        &switch,
        "1001",
        lo,
        &format!("RTP/AVP {OPUS_PT}\na=rtpmap:{OPUS_PT} opus/48000/2"),
    );
    let scenario = stock_uac_pcap(&switch.dir);
    let carrier = Sipp::start(
        &switch.dir,
        scenario.to_str().unwrap(),
        &[],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    );
    let heard = rtp_heard(&agent_rtp, Duration::from_secs(9));
    assert_each_side_got_our_sdp(&carrier, &agent);
    carrier.expect_success();
    agent.expect_success();

    let audio: Vec<&Vec<u8>> = heard.iter().filter(|p| p[1] & 0x7F == OPUS_PT).collect();
    assert!(
        audio.len() >= 330,
        "about 354 Opus packets of 20 ms at the agent, got {} ({} in all)",
        audio.len(),
        heard.len()
    );
    assert_continuous(&audio, 960);
    let mut decoder = Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap();
    let mut pcm = Vec::new();
    for p in &audio {
        pcm.extend_from_slice(decoder.decode(&p[12..]).expect("Opus decodes"));
    }
    let c = envelope_correlation(&pcm, &pcap_audio());
    eprintln!(
        "loudness correlation with the pcap: {c:.3} over {} packets",
        audio.len()
    );
    assert!(c > 0.9, "the agent hears the pcap's audio: correlation {c}");
    assert_no_drops(&switch);
}

#[test]
fn sipp_uac_pcap_in_pcma_30ms_reaches_a_pcma_agent_in_20ms_packets() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-pcap-pcma", &media_config(lo));
    // Same codec, and neither side names a ptime: the carrier's 30 ms
    // packets are re-packetised once they are seen.
    let (agent, agent_rtp) = agent(&switch, "1001", lo, "RTP/AVP 8\na=rtpmap:8 PCMA/8000");
    let scenario = stock_uac_pcap(&switch.dir);
    let carrier = Sipp::start(
        &switch.dir,
        scenario.to_str().unwrap(),
        &[],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    );
    let heard = rtp_heard(&agent_rtp, Duration::from_secs(9));
    assert_each_side_got_our_sdp(&carrier, &agent);
    carrier.expect_success();
    agent.expect_success();
    let audio: Vec<&Vec<u8>> = heard.iter().filter(|p| p[1] & 0x7F == 8).collect();
    assert!(audio.len() >= 330, "{} PCMA packets", audio.len());
    assert!(audio.iter().all(|p| p.len() == 12 + 160), "20 ms packets");
    assert_continuous(&audio, 160);
    let pcm: Vec<i16> = audio
        .iter()
        .flat_map(|p| p[12..].iter().map(|&c| alaw_decode(c)))
        .collect();
    let c = waveform_correlation(&pcm, &pcap_audio());
    assert!(
        c > 0.99,
        "the agent hears the pcap's audio: correlation {c}"
    );
    assert_no_drops(&switch);
}

/// Sends a PCMU sine in packets of `samples` (`samples / 8` ms each).
fn send_pcmu(sock: &UdpSocket, to: SocketAddr, freq: f64, samples: usize, packets: u16) {
    let mut sine = Sine::new(freq, 8000, 0.3);
    let mut pcm = vec![0i16; samples];
    for n in 0..packets {
        sine.fill(&mut pcm);
        let mut pkt = vec![0x80, 0];
        pkt.extend_from_slice(&n.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(n) * samples as u32).to_be_bytes());
        pkt.extend_from_slice(&0x30C4u32.to_be_bytes());
        pkt.extend(pcm.iter().map(|&s| ulaw_encode(s)));
        let _ = sock.send_to(&pkt, to);
        std::thread::sleep(Duration::from_millis(samples as u64 / 8));
    }
}

#[test]
fn a_ptime_30_caller_and_a_ptime_20_agent_hear_each_other_in_their_packet_sizes() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-ptime", &media_config(lo));
    let (agent, agent_rtp) = agent(&switch, "1001", lo, "RTP/AVP 0\na=rtpmap:0 PCMU/8000");

    let mut phone = Phone::new(switch.sip);
    let caller_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = caller_rtp.local_addr().unwrap().port();
    let t = phone.token();
    let (sip, addr) = (switch.sip, phone.addr);
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:30\r\n"
    );
    let head = |method: &str, cseq: u32, to: &str| {
        format!(
            "{method} sip:5550100@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t}{method}{cseq};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: {to}\r\nCall-ID: c{t}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:caller@{addr}>\r\n"
        )
    };
    let invite = format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", 1, &format!("<sip:5550100@{sip}>")),
        sdp.len()
    );
    phone.send(invite.as_bytes());
    let ok = loop {
        let msg = phone.recv();
        if msg.status() == Some(200) {
            break msg;
        }
    };
    let dialog_to = ok.to().as_str().to_string();
    phone.send(format!("{}Content-Length: 0\r\n\r\n", head("ACK", 1, &dialog_to)).as_bytes());

    let caller_leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let agent_leg: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let caller_sock = caller_rtp.try_clone().unwrap();
    let caller_talks =
        std::thread::spawn(move || send_pcmu(&caller_sock, caller_leg, 1000.0, 240, 70));
    let agent_sock = agent_rtp.try_clone().unwrap();
    let agent_talks =
        std::thread::spawn(move || send_pcmu(&agent_sock, agent_leg, 600.0, 160, 105));
    let at_agent = rtp_heard(&agent_rtp, Duration::from_millis(1800));
    let at_caller = rtp_heard(&caller_rtp, Duration::from_millis(500));
    caller_talks.join().unwrap();
    agent_talks.join().unwrap();

    for (who, heard, samples, freq, other) in [
        ("agent", &at_agent, 160, 1000.0, 600.0),
        ("caller", &at_caller, 240, 600.0, 1000.0),
    ] {
        let audio: Vec<&Vec<u8>> = heard.iter().filter(|p| p[1] & 0x7F == 0).collect();
        assert!(audio.len() > 10, "{} packets at the {who}", audio.len());
        assert!(
            audio.iter().all(|p| p.len() == 12 + samples),
            "the {who} gets {} ms packets",
            samples / 8
        );
        assert_continuous(&audio, samples as u32);
        let pcm: Vec<i16> = audio
            .iter()
            .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
            .collect();
        assert!(tone_present(&pcm, freq, 8000), "the {who} hears {freq} Hz");
        assert!(!tone_present(&pcm, other, 8000), "and not its own tone");
    }

    phone.send(format!("{}Content-Length: 0\r\n\r\n", head("BYE", 2, &dialog_to)).as_bytes());
    // Each side got our SDP only: the caller none of the agent's o= line,
    // the agent none of the caller's (its a=ptime:30 does cross, by design:
    // README, media anchoring).
    let at_agent = agent.messages();
    let answer = std::str::from_utf8(ok.body()).unwrap();
    assert_our_sdp(answer, "caller", &foreign_origins(&at_agent), &[]);
    assert_our_sdp(&at_agent, "agent", &["o=caller 1 ".into()], &[]);
    agent.expect_success();
    assert_no_drops(&switch);
}

/// The dialplan with prompts from the repository, DID 5550400 on the demo
/// menu, and queue music.
fn prompt_config(lo: u16) -> String {
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let base = test_config("10s", free_udp_port())
        .replace("[dids]\n", "[dids]\n\"5550400\" = { menu = \"main\" }\n");
    format!(
        "{base}\n[[menus]]\nname = \"main\"\nprompt = \"menu_main\"\ntimeout = \"10s\"\nretries = 2\n\
         options = {{ \"1\" = \"queue:support\" }}\n\
         [media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\nqueue_music = \"hold_music\"\nannounce_every = \"30s\"\n",
        lo + 7,
        prompts.display()
    )
}

/// The 8 kHz samples of a prompt of the repository.
fn prompt_audio(name: &str) -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("prompts/{name}.wav"));
    let bytes = std::fs::read(path).expect("prompt file");
    let prompt = switchyard::media::prompts::Prompt::from_wav(name, &bytes).expect("prompt");
    (0..prompt.frames())
        .flat_map(|i| prompt.frame_pcm(i).expect("frame").to_vec())
        .collect()
}

/// A carrier's caller that speaks only Opus at `a=ptime:40` dials `did`
/// and listens to the early media for `secs`: the Opus packets it hears.
fn opus_caller_listens(switch: &SwitchProc, did: &str, secs: u64) -> Vec<Vec<u8>> {
    let mut phone = Phone::new(switch.sip);
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rtp.local_addr().unwrap().port();
    let t = phone.token();
    let (sip, addr) = (switch.sip, phone.addr);
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {OPUS_PT} 101\r\na=rtpmap:{OPUS_PT} opus/48000/2\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=ptime:40\r\n"
    );
    let invite = format!(
        "INVITE sip:{did}@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: <sip:{did}@{sip}>\r\nCall-ID: c{t}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{addr}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    phone.send(invite.as_bytes());
    let progress = loop {
        let msg = phone.recv();
        if msg.status() == Some(183) {
            break msg;
        }
    };
    let answer = std::str::from_utf8(progress.body()).unwrap();
    assert!(
        answer.contains(&format!("RTP/AVP {OPUS_PT}")),
        "answered in Opus: {answer}"
    );
    rtp_heard(&rtp, Duration::from_secs(secs))
}

/// Decodes what an Opus caller heard, checking 40 ms packets on the way.
fn decode_opus_40ms(heard: &[Vec<u8>]) -> Vec<i16> {
    let audio: Vec<&Vec<u8>> = heard.iter().filter(|p| p[1] & 0x7F == OPUS_PT).collect();
    assert!(audio.len() >= 40, "{} Opus packets heard", audio.len());
    assert_continuous(&audio, 1_920);
    let mut decoder = Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap();
    let mut pcm = Vec::new();
    for p in &audio {
        let frame = decoder.decode(&p[12..]).expect("Opus decodes");
        assert_eq!(frame.len(), 320, "40 ms frames");
        pcm.extend_from_slice(frame);
    }
    pcm
}

#[test]
fn an_opus_caller_at_ptime_40_hears_the_menu_prompt() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-opus-menu", &prompt_config(lo));
    let heard = opus_caller_listens(&switch, "5550400", 3);
    let pcm = decode_opus_40ms(&heard);
    let c = envelope_correlation(&pcm, &prompt_audio("menu_main"));
    eprintln!("loudness correlation with menu_main: {c:.3}");
    assert!(c > 0.9, "the caller hears the menu prompt: correlation {c}");
    assert_no_drops_so_far(&switch);
}

/// The drop counters as published now (the caller is still waiting).
fn assert_no_drops_so_far(switch: &SwitchProc) {
    let metrics = switch.metrics();
    let drops: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("switchyard_rtp_packets_dropped_total{"))
        .collect();
    assert!(!drops.is_empty(), "drop counters are exported");
    assert!(
        drops.iter().all(|l| l.ends_with(" 0")),
        "no packet dropped: {drops:#?}"
    );
}

#[test]
fn an_opus_caller_at_ptime_40_hears_the_queue_announcement_and_music() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-opus-queue", &prompt_config(lo));
    // No agent is registered: the caller waits in the support queue.
    let heard = opus_caller_listens(&switch, "5550200", 4);
    let pcm = decode_opus_40ms(&heard);
    let intro: Vec<i16> = ["caller_number", "n1"]
        .iter()
        .flat_map(|n| prompt_audio(n))
        .chain(prompt_audio("hold_music"))
        .collect();
    let c = envelope_correlation(&pcm, &intro);
    eprintln!("loudness correlation with the queue audio: {c:.3}");
    assert!(c > 0.9, "the caller hears the queue audio: correlation {c}");
    assert_no_drops_so_far(&switch);
}

#[test]
fn dropped_media_is_logged_once_per_call_and_reason_with_the_call_id() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-drop-log", &media_config(lo));
    let (agent, _agent_rtp) = agent(&switch, "1001", lo, "RTP/AVP 0\na=rtpmap:0 PCMU/8000");
    let mut caller = support::MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    // Payload type 99 was never negotiated: each packet is dropped.
    let leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    for n in 0..30u16 {
        let mut pkt = vec![0x80, 99];
        pkt.extend_from_slice(&n.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(n) * 160).to_be_bytes());
        pkt.extend_from_slice(&0xD209u32.to_be_bytes());
        pkt.extend_from_slice(&[0xFF; 160]);
        caller.rtp.send_to(&pkt, leg).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    switch.wait_metric(
        "switchyard_rtp_packets_dropped_total{reason=\"unmapped_pt\"}",
        |v| v == 30.0,
    );
    caller.bye();
    agent.expect_success();
    switch.wait_metric("switchyard_media_legs_active", |v| v == 0.0);
    let log = without_colours(&switch.log());
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("call media dropped"))
        .collect();
    assert_eq!(warned.len(), 1, "one warning for 30 drops: {warned:#?}");
    assert!(
        warned[0].contains("reason=\"unmapped_pt\""),
        "{}",
        warned[0]
    );
    assert!(
        warned[0].contains(" call=1 "),
        "names the call: {}",
        warned[0]
    );
}

/// The log without its ANSI colour sequences (`ESC [ ... m`).
fn without_colours(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn every_shipped_dtmf_pcap_reaches_a_pcmu_agent_across_transcoding() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-dtmf-pcaps", &media_config(lo));
    let (agent, agent_rtp) = agent(
        &switch,
        "1001",
        lo,
        "RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000",
    );
    // The stock scenario, its media part replaced: the voice pcap, then
    // each of SIPp's digit pcaps in turn.
    let stock = std::fs::read_to_string(stock_uac_pcap(&switch.dir)).unwrap();
    let (head, rest) = stock.split_once("  <!-- Play a pre-recorded PCAP").unwrap();
    let (_, tail) = rest.split_once("  <!-- The 'crlf' option").unwrap();
    // The last key twice: SIPp replays the same packets, timestamp and all.
    let names = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "pound", "pound",
    ];
    let mut media = format!(
        "  <nop><action><exec play_pcap_audio=\"{SIPP_PCAPS}/g711a.pcap\"/></action></nop>\n\
         <pause milliseconds=\"1000\"/>\n"
    );
    for n in names {
        media.push_str(&format!(
            "  <nop><action><exec play_pcap_audio=\"{SIPP_PCAPS}/dtmf_2833_{n}.pcap\"/></action></nop>\n\
             <pause milliseconds=\"400\"/>\n"
        ));
    }
    let path = switch.dir.join("uac_pcap_digits.xml");
    std::fs::write(
        &path,
        format!("{head}{media}  <!-- The 'crlf' option{tail}"),
    )
    .unwrap();
    let carrier = Sipp::start(
        &switch.dir,
        path.to_str().unwrap(),
        &[],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    );
    let heard = rtp_heard(&agent_rtp, Duration::from_secs(8));
    assert_each_side_got_our_sdp(&carrier, &agent);
    carrier.expect_success();
    agent.expect_success();
    let mut seqs: Vec<u16> = heard.iter().map(|p| rtp_seq(p)).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), heard.len(), "no sequence number twice");
    let mut receiver = switchyard::media::dtmf::DtmfReceiver::default();
    let digits: String = heard
        .iter()
        .filter(|p| p[1] & 0x7F == 101)
        .filter_map(|p| receiver.handle(&p[12..], rtp_ts(p)).ok().flatten())
        .collect();
    assert_eq!(digits, "0123456789*##", "every press, once, in order");
    assert_no_drops(&switch);
}

#[test]
fn a_key_pressed_twice_from_the_same_pcap_reaches_a_pcma_agent_twice() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("interop-dtmf-twice", &media_config(lo));
    // PCMA and telephone-event on both sides: the events pass as they came.
    let (agent, agent_rtp) = agent(
        &switch,
        "1001",
        lo,
        "RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000",
    );
    let stock = std::fs::read_to_string(stock_uac_pcap(&switch.dir)).unwrap();
    let (head, rest) = stock.split_once("  <!-- Play a pre-recorded PCAP").unwrap();
    let (_, tail) = rest.split_once("  <!-- The 'crlf' option").unwrap();
    let press = format!(
        "  <nop><action><exec play_pcap_audio=\"{SIPP_PCAPS}/dtmf_2833_5.pcap\"/></action></nop>\n\
         <pause milliseconds=\"500\"/>\n"
    );
    let path = switch.dir.join("uac_pcap_twice.xml");
    let scenario = format!("{head}{press}{press}  <!-- The 'crlf' option{tail}");
    std::fs::write(&path, scenario).unwrap();
    let carrier = Sipp::start(
        &switch.dir,
        path.to_str().unwrap(),
        &[],
        &["-m", "1", "-s", "5550100"],
        Some(switch.sip),
    );
    let heard = rtp_heard(&agent_rtp, Duration::from_secs(2));
    assert_each_side_got_our_sdp(&carrier, &agent);
    carrier.expect_success();
    agent.expect_success();
    let events: Vec<&Vec<u8>> = heard.iter().filter(|p| p[1] & 0x7F == 101).collect();
    assert_eq!(events.len(), 20, "both plays' ten packets");
    let mut receiver = switchyard::media::dtmf::DtmfReceiver::default();
    let digits: String = events
        .iter()
        .filter_map(|p| receiver.handle(&p[12..], rtp_ts(p)).ok().flatten())
        .collect();
    assert_eq!(digits, "55", "two presses at the agent");
    let mut seqs: Vec<u16> = events.iter().map(|p| rtp_seq(p)).collect();
    seqs.sort_unstable();
    seqs.dedup();
    // The pcap repeats its end packet's number three times (8 numbers in 10
    // packets); the second play must not reuse the first one's.
    assert_eq!(seqs.len(), 16, "no sequence number shared by the two plays");
    assert_no_drops(&switch);
}
