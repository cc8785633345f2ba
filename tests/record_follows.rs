//! The record follows the call (issue 14 item 5), on the wire.
//!
//! A transfer: a caller
//! on a recorded DID talks to agent 1001 (SIPp), who blind-transfers it
//! with a REFER to 1002 (SIPp, rings 1 s). Each side sends its own tone
//! over real RTP through the relay: the caller 1 kHz, 1001 600 Hz, 1002
//! 1400 Hz; 1001's phone streams on for 0.5 s after the switch's BYE.
//! The one WAV of the call holds the caller's tone on the left
//! throughout; on the right, 1001's tone in 1001's leg segment only,
//! silence while 1002 rings, and 1002's tone in 1002's segment, the segments read
//! from the record's legs in SQLite and matched to where the tones are
//! (Goertzel over 50 ms windows) within [`EDGE_TOLERANCE_MS`].
//!
//! A conference: 1001 (600 Hz) brings 1002 (1400 Hz) into the recorded
//! call through the API; 1002's leg in the record (role `party`, via
//! `conference`) is where its tone joins 1001's on the right channel.
//!
//! A consultation through the API, completed: 1002 talks with 1001 while
//! the caller is held (silence on the right, 1002 not yet there), then is
//! joined to the caller; its leg's segment starts at the join, as does
//! its tone. (A takeover's recording: `media_supervise.rs`.)

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::api::{api_section, get, post, SUPERVISOR, VIEWER};
use support::scenarios::AGENT_ANSWERS_MEDIA_AT;
use support::EVENT_TIMEOUT;
use support::{free_port_block, free_udp_port, sipp_register, MediaCaller, Sipp, SwitchProc};
use switchyard::media::tone::{goertzel_power, tone_present, Sine};
use switchyard::ops::cdr::{CdrRow, CdrStore, LegRow};

const CALLER_HZ: f64 = 1000.0;
const FIRST_AGENT_HZ: f64 = 600.0;
const SECOND_AGENT_HZ: f64 = 1400.0;
/// Analysis window: 50 ms at 8 kHz.
const WINDOW: usize = 400;
const WINDOW_MS: u64 = 50;
/// How far a tone's first or last window may sit from its leg's edge in
/// the record: the mixer's playout slack (40 ms), the window (50 ms) and
/// the hop between the core's clock and the relay's.
const EDGE_TOLERANCE_MS: u64 = 100;

fn config(rtp: u16) -> String {
    format!(
        r#"
[switch]
sip_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
realm = "switchyard-test"
digest_challenge = "md5-first"
cdr_path = "cdr.sqlite"
no_answer_timeout = "10s"

[[agents]]
id = "1001"
password = "demo-1001"

[[agents]]
id = "1002"
password = "demo-1002"
auto_login = true

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]

[dids]
"5550100" = {{ agent = "1001", record = true }}

[media]
rtp_ports = "{rtp}-{}"
{}"#,
        rtp + 7,
        api_section(8),
    )
}

/// 1001: answers with audio at the test's socket, talks 2 s, REFERs the
/// caller to 1002, follows the NOTIFYs and takes the switch's BYE.
const FIRST_AGENT: &str = r#"
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="switch_from"/>
    </action>
  </recv>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio @AGENT_RTP@ RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="2000"/>
  <send retrans="500"><![CDATA[

      REFER [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:agent@[local_ip]:[local_port]>;tag=[pid]A[call_number]
      To: [$switch_from]
      [last_Call-ID:]
      CSeq: 1 REFER
      Contact: <sip:agent@[local_ip]:[local_port]>
      Refer-To: <sip:1002@127.0.0.1>
      Referred-By: <sip:agent@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="202"/>
  <recv request="NOTIFY"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <recv request="NOTIFY"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#;

/// The switch's own offer: the phone answers only media anchored at it.
const ANCHORED: &str =
    "o=switchyard (.|\\r|\\n)*c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio [0-9]+ RTP/AVP 0";

/// 1002: rings 1 s, answers with audio at the test's socket, waits for BYE.
const SECOND_AGENT: &str = r#"
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]T[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Length: 0

    ]]></send>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]T[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655766 2353687638 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio @AGENT_RTP@ RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#;

/// An agent's SIPp phone running `scenario`, registered as `user`, with
/// its audio at the returned socket.
fn agent(switch: &SwitchProc, user: &str, scenario: &str) -> (Sipp, UdpSocket) {
    let port = free_udp_port();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port().to_string();
    let phone = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", scenario),
            ("@AGENT_RTP@", &rtp_port),
            ("@MEDIA_RE@", ANCHORED),
        ],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(
        &switch.dir,
        switch,
        user,
        &format!("demo-{user}"),
        port,
        200,
    );
    (phone, rtp)
}

/// Sends a PCMU tone of `hz` to `to` every 20 ms until `stop` is set.
fn talk_until(sock: UdpSocket, to: SocketAddr, hz: f64, stop: Arc<AtomicBool>) {
    let mut sine = Sine::new(hz, 8000, 0.3);
    let mut pcm = [0i16; 160];
    let mut n: u32 = 0;
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < EVENT_TIMEOUT {
        sine.fill(&mut pcm);
        let mut pkt = vec![0x80, 0];
        pkt.extend_from_slice(&(n as u16).to_be_bytes());
        pkt.extend_from_slice(&n.wrapping_mul(160).to_be_bytes());
        pkt.extend_from_slice(&0x5EC0_0000u32.wrapping_add(hz as u32).to_be_bytes());
        pkt.extend(pcm.iter().map(|&s| switchyard::media::g711::ulaw_encode(s)));
        let _ = sock.send_to(&pkt, to);
        n += 1;
        // Paced by the packet count, so a late wake-up is caught up.
        let due = started + Duration::from_millis(20 * u64::from(n));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
}

fn spawn_talker(
    sock: UdpSocket,
    to: SocketAddr,
    hz: f64,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    (
        stop,
        std::thread::spawn(move || talk_until(sock, to, hz, flag)),
    )
}

/// The call's record, once the writer has stored it.
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

/// The finished recording's (left, right) channels.
fn wait_wav(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Ok(reader) = hound::WavReader::open(path) {
            let spec = reader.spec();
            assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
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

/// Per 50 ms window, whether `hz` carries it.
fn tone_windows(pcm: &[i16], hz: f64) -> Vec<bool> {
    pcm.chunks_exact(WINDOW)
        .map(|w| tone_present(w, hz, 8000))
        .collect()
}

/// A leg's segment in the recording, in ms: [offset, offset + length).
fn segment(leg: &LegRow) -> (u64, u64) {
    let offset = leg.recording_offset_ms.expect("a recording offset");
    let length = leg.recording_ms.expect("a recording length");
    (offset, offset + length)
}

/// The span of windows carrying a tone: its first window's start and its
/// last window's end, in ms.
fn tone_span(windows: &[bool]) -> Option<(u64, u64)> {
    let first = windows.iter().position(|&t| t)? as u64;
    let last = windows.iter().rposition(|&t| t)? as u64;
    Some((first * WINDOW_MS, (last + 1) * WINDOW_MS))
}

/// Windows wholly inside `(from, to)` shrunk by the tolerance.
fn inside(windows: &[bool], (from, to): (u64, u64)) -> Vec<bool> {
    windows
        .iter()
        .enumerate()
        .filter(|&(i, _)| {
            let start = i as u64 * WINDOW_MS;
            start >= from + EDGE_TOLERANCE_MS && start + WINDOW_MS + EDGE_TOLERANCE_MS <= to
        })
        .map(|(_, &t)| t)
        .collect()
}

fn share(windows: &[bool]) -> f64 {
    windows.iter().filter(|&&t| t).count() as f64 / windows.len().max(1) as f64
}

fn near(what: &str, got: u64, want: u64) {
    assert!(
        got.abs_diff(want) <= EDGE_TOLERANCE_MS,
        "{what}: the WAV says {got} ms, the record {want} ms"
    );
}

#[test]
fn a_blind_transfer_keeps_one_recording_with_each_agent_in_its_leg_segment() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("record-transfer", &config(lo));
    let (second, second_rtp) = agent(&switch, "1002", SECOND_AGENT);
    let (first, first_rtp) = agent(&switch, "1001", FIRST_AGENT);
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    // The relay's pairs in order: the caller's leg, then the agents' one
    // (the same leg for 1001 and, after the transfer, 1002).
    let caller_leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let agent_leg: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let sdp = String::from_utf8_lossy(ok.body()).to_string();
    assert!(sdp.contains(&format!("m=audio {lo} ")), "{sdp}");

    let (caller_stop, caller_talks) =
        spawn_talker(caller.rtp.try_clone().unwrap(), caller_leg, CALLER_HZ);
    let (first_stop, first_talks) = spawn_talker(first_rtp, agent_leg, FIRST_AGENT_HZ);
    // 1001 talks until the switch hangs it up after the transfer, and its
    // phone streams on for half a second after the BYE, as phones do: the
    // caller no longer hears it, so the recording must not either. Only
    // then does 1002's phone start sending (it answers 1 s after the BYE).
    first.expect_success();
    std::thread::sleep(Duration::from_millis(500));
    first_stop.store(true, Ordering::Relaxed);
    first_talks.join().unwrap();
    let (second_stop, second_talks) = spawn_talker(second_rtp, agent_leg, SECOND_AGENT_HZ);
    // The caller talks to 1002 for about 2 s, then hangs up.
    std::thread::sleep(Duration::from_millis(2500));
    caller_stop.store(true, Ordering::Relaxed);
    caller_talks.join().unwrap();
    caller.bye();
    second.expect_success();
    second_stop.store(true, Ordering::Relaxed);
    second_talks.join().unwrap();

    let row = wait_record(&switch.dir.join("cdr.sqlite"));
    assert_eq!(row.agent.as_deref(), Some("1002"));
    assert_eq!(row.transfers.as_deref(), Some("1002"));
    let path = row
        .recording_path
        .clone()
        .expect("the record names its recording");
    let recorded_ms = row.recording_ms.expect("and its length");
    let legs = &row.legs;
    assert_eq!(legs.len(), 2, "{legs:?}");
    assert_eq!(
        (
            legs[0].party.as_str(),
            legs[0].via.as_str(),
            legs[0].outcome.as_str()
        ),
        ("1001", "offer", "transferred")
    );
    assert_eq!(
        (
            legs[1].party.as_str(),
            legs[1].via.as_str(),
            legs[1].outcome.as_str()
        ),
        ("1002", "transfer", "caller_hung_up")
    );
    let (a, b) = (segment(&legs[0]), segment(&legs[1]));

    let (left, right) = wait_wav(&switch.dir.join(&path));
    let wav_ms = left.len() as u64 / 8;
    println!(
        "record: 1001 at {a:?} ms, 1002 at {b:?} ms, recording {recorded_ms} ms; WAV {wav_ms} ms"
    );
    near("the recording's length", wav_ms, recorded_ms);
    near("1001's segment starts with the recording", a.0, 0);
    near("1002's segment ends with the recording", b.1, wav_ms);
    assert!(a.1 + 500 < b.0, "a gap while 1002 rang: {a:?} {b:?}");

    // Left: the caller, throughout, and nobody else.
    let caller_left = tone_windows(&left, CALLER_HZ);
    assert!(
        share(&inside(&caller_left, (0, wav_ms))) > 0.9,
        "the caller on the left"
    );
    for hz in [FIRST_AGENT_HZ, SECOND_AGENT_HZ] {
        assert!(
            !tone_windows(&left, hz).contains(&true),
            "{hz} Hz leaks to the left"
        );
    }

    // Right: each agent within its own leg's segment, silence between.
    let first_right = tone_windows(&right, FIRST_AGENT_HZ);
    let second_right = tone_windows(&right, SECOND_AGENT_HZ);
    assert!(
        !tone_windows(&right, CALLER_HZ).contains(&true),
        "the caller leaks right"
    );
    let first_span = tone_span(&first_right).expect("1001's tone on the right");
    let second_span = tone_span(&second_right).expect("1002's tone on the right");
    println!("WAV: 1001's tone at {first_span:?} ms, 1002's at {second_span:?} ms");
    near("1001's tone starts", first_span.0, a.0);
    near("1001's tone ends", first_span.1, a.1);
    near("1002's tone starts", second_span.0, b.0);
    near("1002's tone ends", second_span.1, b.1);
    assert!(
        share(&inside(&first_right, a)) > 0.9,
        "1001 heard through its leg"
    );
    assert!(
        share(&inside(&second_right, b)) > 0.9,
        "1002 heard through its leg"
    );
    assert!(
        !inside(&second_right, a).contains(&true),
        "1002 in 1001's leg"
    );
    assert!(
        !inside(&first_right, b).contains(&true),
        "1001 in 1002's leg"
    );
    let silent: Vec<bool> = right
        .chunks_exact(WINDOW)
        .map(|w| w.iter().all(|&s| s == 0))
        .collect();
    let between = inside(&silent, (a.1, b.0));
    assert!(
        !between.is_empty() && between.iter().all(|&s| s),
        "the right channel is silent while 1002 rings: {between:?}"
    );
}

/// Per 50 ms window, whether `hz` is there at a talker's level (a mix of
/// two talkers shares the power, so [`tone_present`]'s "most of the
/// energy" does not fit): its Goertzel power above a quarter of what the
/// senders' 0.3 full-scale sine gives.
fn carried(pcm: &[i16], hz: f64) -> Vec<bool> {
    pcm.chunks_exact(WINDOW)
        .map(|w| goertzel_power(w, hz, 8000) > 0.3 * 0.3 / 4.0)
        .collect()
}

/// The call's id once it talks (the API's call list).
fn talking_call(switch: &SwitchProc) -> String {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let calls = get(switch.http, "/api/v1/calls", VIEWER);
        let talking = calls.body["calls"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["phase"] == "talking"))
            .and_then(|c| c["id"].as_str().map(str::to_string));
        if let Some(id) = talking {
            return id;
        }
        assert!(Instant::now() < deadline, "no talking call: {calls:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_conference_party_is_on_the_right_channel_in_its_leg_segment() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("record-conference", &config(lo));
    let (party, party_rtp) = agent(&switch, "1002", AGENT_ANSWERS_MEDIA_AT);
    let (first, first_rtp) = agent(&switch, "1001", AGENT_ANSWERS_MEDIA_AT);
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    // The relay's pairs in order: the caller, the agent, the first party.
    let caller_leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let agent_leg: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let party_leg: SocketAddr = format!("127.0.0.1:{}", lo + 4).parse().unwrap();
    let (caller_stop, caller_talks) =
        spawn_talker(caller.rtp.try_clone().unwrap(), caller_leg, CALLER_HZ);
    let (first_stop, first_talks) = spawn_talker(first_rtp, agent_leg, FIRST_AGENT_HZ);
    std::thread::sleep(Duration::from_millis(1500));
    let id = talking_call(&switch);
    let added = post(
        switch.http,
        &format!("/api/v1/calls/{id}/conference"),
        SUPERVISOR,
        r#"{"to":"1002"}"#,
    );
    assert_eq!(added.status, 200, "{added:?}");
    let (party_stop, party_talks) = spawn_talker(party_rtp, party_leg, SECOND_AGENT_HZ);
    std::thread::sleep(Duration::from_millis(2500));
    caller_stop.store(true, Ordering::Relaxed);
    caller_talks.join().unwrap();
    caller.bye();
    first.expect_success();
    party.expect_success();
    for (stop, talks) in [(first_stop, first_talks), (party_stop, party_talks)] {
        stop.store(true, Ordering::Relaxed);
        talks.join().unwrap();
    }

    let row = wait_record(&switch.dir.join("cdr.sqlite"));
    let legs = &row.legs;
    assert_eq!(legs.len(), 2, "{legs:?}");
    let who = |l: &LegRow| {
        (
            l.party.clone(),
            l.role.clone(),
            l.via.clone(),
            l.outcome.clone(),
        )
    };
    let leg = |p: &str, r: &str, v: &str, o: &str| (p.into(), r.into(), v.into(), o.into());
    assert_eq!(
        who(&legs[0]),
        leg("1001", "agent", "offer", "caller_hung_up")
    );
    assert_eq!(
        who(&legs[1]),
        leg("1002", "party", "conference", "caller_hung_up")
    );
    let (a, b) = (segment(&legs[0]), segment(&legs[1]));
    let path = row
        .recording_path
        .clone()
        .expect("the record names its recording");
    let (left, right) = wait_wav(&switch.dir.join(&path));
    let wav_ms = left.len() as u64 / 8;
    println!("record: 1001 at {a:?} ms, 1002 at {b:?} ms; WAV {wav_ms} ms");
    near("1001's segment starts with the recording", a.0, 0);
    near("1001's segment ends with the recording", a.1, wav_ms);
    near("1002's segment ends with the recording", b.1, wav_ms);
    assert!(b.0 > 1000, "1002 joined after 1.5 s: {b:?}");

    for hz in [FIRST_AGENT_HZ, SECOND_AGENT_HZ] {
        assert!(
            !carried(&left, hz).contains(&true),
            "{hz} Hz leaks to the left"
        );
    }
    assert!(share(&inside(&carried(&left, CALLER_HZ), (0, wav_ms))) > 0.9);
    assert!(
        !carried(&right, CALLER_HZ).contains(&true),
        "the caller leaks right"
    );
    let first_right = carried(&right, FIRST_AGENT_HZ);
    let party_right = carried(&right, SECOND_AGENT_HZ);
    let party_span = tone_span(&party_right).expect("1002's tone on the right");
    println!("WAV: 1002's tone at {party_span:?} ms");
    near("1002's tone starts", party_span.0, b.0);
    near("1002's tone ends", party_span.1, b.1);
    assert!(
        share(&inside(&party_right, b)) > 0.9,
        "1002 heard through its leg"
    );
    assert!(
        share(&inside(&first_right, a)) > 0.9,
        "1001 heard throughout, before and with 1002"
    );
}

/// 1002 answers the re-INVITE that joins it to the caller, keeping its port.
const JOINED: &str = r#"
  <recv request="INVITE"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:colleague@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=colleague 4711 2 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio @AGENT_RTP@ RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
  <recv request="ACK" crlf="true"/>
"#;

#[test]
fn a_consulted_colleague_is_recorded_from_its_join_not_during_the_consultation() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let switch = SwitchProc::start("record-consult", &config(lo));
    let port = free_udp_port();
    let colleague_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = colleague_rtp.local_addr().unwrap().port().to_string();
    let colleague = Sipp::start(
        &switch.dir,
        "agent_consulted.xml",
        &[
            ("@AFTER@", &JOINED.replace("@AGENT_RTP@", &rtp_port)),
            ("@AGENT_RTP@", &rtp_port),
        ],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(&switch.dir, &switch, "1002", "demo-1002", port, 200);
    let (first, first_rtp) = agent(&switch, "1001", AGENT_ANSWERS_MEDIA_AT);
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    // The relay's pairs: the caller, the agent, then the consultation's.
    let caller_leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let agent_leg: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let consult_leg: SocketAddr = format!("127.0.0.1:{}", lo + 4).parse().unwrap();
    let (caller_stop, caller_talks) =
        spawn_talker(caller.rtp.try_clone().unwrap(), caller_leg, CALLER_HZ);
    let (first_stop, first_talks) = spawn_talker(first_rtp, agent_leg, FIRST_AGENT_HZ);
    std::thread::sleep(Duration::from_millis(1500));
    let id = talking_call(&switch);
    let consult = format!("/api/v1/calls/{id}/consult");
    let started = post(switch.http, &consult, SUPERVISOR, r#"{"to":"1002"}"#);
    assert_eq!(started.status, 200, "{started:?}");
    // 1001 and 1002 talk, the caller on hold: none of it is the caller's.
    let (consult_stop, consult_talks) = spawn_talker(
        colleague_rtp.try_clone().unwrap(),
        consult_leg,
        SECOND_AGENT_HZ,
    );
    std::thread::sleep(Duration::from_millis(1500));
    // 1001 falls silent, then completes: 1002 is re-INVITEd onto the
    // agent's leg and sends there from now on.
    first_stop.store(true, Ordering::Relaxed);
    first_talks.join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let done = post(switch.http, &format!("{consult}/complete"), SUPERVISOR, "");
    assert_eq!(done.status, 200, "{done:?}");
    consult_stop.store(true, Ordering::Relaxed);
    consult_talks.join().unwrap();
    let (joined_stop, joined_talks) = spawn_talker(colleague_rtp, agent_leg, SECOND_AGENT_HZ);
    first.expect_success();
    std::thread::sleep(Duration::from_millis(2000));
    caller_stop.store(true, Ordering::Relaxed);
    caller_talks.join().unwrap();
    caller.bye();
    colleague.expect_success();
    joined_stop.store(true, Ordering::Relaxed);
    joined_talks.join().unwrap();

    let row = wait_record(&switch.dir.join("cdr.sqlite"));
    let legs = &row.legs;
    let who = |l: &LegRow| (l.party.clone(), l.role.clone(), l.via.clone());
    assert_eq!(legs.len(), 2, "{legs:?}");
    assert_eq!(
        who(&legs[0]),
        ("1001".into(), "agent".into(), "offer".into())
    );
    assert_eq!(
        who(&legs[1]),
        ("1002".into(), "colleague".into(), "consult".into())
    );
    let (a, b) = (segment(&legs[0]), segment(&legs[1]));
    let path = row
        .recording_path
        .clone()
        .expect("the record names its recording");
    let (left, right) = wait_wav(&switch.dir.join(&path));
    let wav_ms = left.len() as u64 / 8;
    println!("record: 1001 at {a:?} ms, 1002 at {b:?} ms; WAV {wav_ms} ms");
    near("1001's segment starts with the recording", a.0, 0);
    near("1002's segment starts as 1001's ends (the join)", b.0, a.1);
    near("1002's segment ends with the recording", b.1, wav_ms);
    assert!(
        b.0 > 2500,
        "joined after 1.5 s of talk and 1.7 s of consultation: {b:?}"
    );

    assert!(
        !carried(&right, CALLER_HZ).contains(&true),
        "the caller leaks right"
    );
    let first_right = carried(&right, FIRST_AGENT_HZ);
    let colleague_right = carried(&right, SECOND_AGENT_HZ);
    let first_span = tone_span(&first_right).expect("1001's tone on the right");
    let colleague_span = tone_span(&colleague_right).expect("1002's tone on the right");
    println!("WAV: 1001's tone at {first_span:?} ms, 1002's at {colleague_span:?} ms");
    near("1001's tone starts", first_span.0, a.0);
    // The consultation (1.5 s, 1002's tone) is not on the caller's
    // recording: 1001's tone ends as the caller is held, well before the
    // join, and 1002's starts at the join.
    assert!(
        first_span.1 + 1200 < b.0,
        "1001 on hold: {first_span:?} {b:?}"
    );
    near("1002's tone starts at the join", colleague_span.0, b.0);
    near("1002's tone ends", colleague_span.1, b.1);
    assert!(
        share(&inside(&colleague_right, b)) > 0.9,
        "1002 heard from its join"
    );
    let held = inside(
        &right
            .chunks_exact(WINDOW)
            .map(|w| w.iter().all(|&s| s == 0))
            .collect::<Vec<_>>(),
        (first_span.1, b.0),
    );
    assert!(
        !held.is_empty() && held.iter().all(|&s| s),
        "silence while held: {held:?}"
    );
}
