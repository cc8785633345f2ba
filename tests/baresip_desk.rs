//! Desk-phone features with baresip as every phone (issue 14): agent
//! 1001's baresip answers a queue call and transfers it blind with its own
//! `/transfer` command (menu behind `ctrl_tcp`, as a user would type it):
//! it sends REFER and gets 202, the switch releases it into wrap-up, 1002's
//! baresip rings and answers, the caller's tone reaches 1002 and 1002's
//! tone the caller, and the call's record lists the transfer. Then three
//! baresips in one conference (caller, agent, a party added through the
//! API): each records the other two's tones and never its own; when the
//! added party hangs up, the caller and agent still hear each other, and
//! the record has the party as a leg of its own. When the agent hangs up
//! instead, the added agent takes the call and goes on talking with the
//! caller.
//!
//! baresip missing fails the test (CI installs it) unless
//! `SWITCHYARD_SKIP_BARESIP=1`, which passes it with a note.

// A driver of real processes and sockets: it reads the clock and spawns.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::api::{api_section, get, post, SUPERVISOR, VIEWER};
use support::baresip::{self, read_wav, write_tone_wav, Baresip};
use support::{
    assert_no_rtp_drops, free_port_block, free_udp_port, MediaCaller, SwitchProc, EVENT_TIMEOUT,
};
use switchyard::media::g711::{ulaw_decode, ulaw_encode};
use switchyard::media::tone::{goertzel_power, mean_power, Sine};
use switchyard::ops::cdr::{CdrRow, CdrStore};

/// What baresip 1.0.0 prints once a REGISTER got its 200.
const REGISTERED: &str = "} 200 OK";
const REGISTER_FAILED: &str = "Register: ";
/// What it prints when a call has ended (`Call with … terminated`).
const CALL_ENDED: &str = "terminated";
/// Its WAV lasts longer than any call here (aufile plays it once).
const WAV_SECS: u32 = 60;
/// 100 ms stretches: Goertzel bins of 10 Hz, so every tone here (a
/// multiple of 10 Hz) sits on a bin and leaks nothing into the others.
const STRETCH: usize = 800;

/// The dialplan: the support queue (DID 5550200) has 1001 alone; 1002 is
/// reachable by extension; media anchored on `rtp`..`rtp+11`.
fn config(rtp: u16) -> String {
    format!(
        r#"
[switch]
sip_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
realm = "switchyard-test"
no_answer_timeout = "15s"
digest_challenge = "md5-only"
cdr_path = "cdr.sqlite"

[[agents]]
id = "1001"
password = "demo-1001"
auto_login = true
skills = {{ support = 9 }}

[[agents]]
id = "1002"
password = "demo-1002"
auto_login = true
skills = {{ sales = 6 }}

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]
outbound = {{ address = "127.0.0.1:{far}", transport = "udp" }}

[dids]
"5550200" = {{ queue = "support" }}

[[queues]]
name = "support"
requires = "support:1"
ring_timeout = "15s"
wrap_up = "60s"

[media]
rtp_ports = "{rtp}-{rtp_hi}"
rtp_address = "127.0.0.1"
inactivity_timeout = "20s"
codecs = ["pcmu", "pcma"]
{api}"#,
        far = free_udp_port(),
        rtp_hi = rtp + 11,
        api = api_section(8),
    )
}

fn start_switch(name: &str) -> SwitchProc {
    // Six whole pairs, even RTP port first: caller, agent, one more party.
    let block = free_port_block(14);
    SwitchProc::start(name, &config(block + block % 2))
}

/// One baresip in `switch.dir/<name>`, playing `hz`, driven through
/// `ctrl_tcp`; an agent (`Some((id, password))`) registers and auto-answers.
fn phone(
    modules: &Path,
    switch: &SwitchProc,
    name: &str,
    agent: Option<(&str, &str)>,
    hz: f64,
) -> Baresip {
    let dir = switch.dir.join(name);
    std::fs::create_dir_all(&dir).expect("phone dir");
    let wav = dir.join("tone.wav");
    write_tone_wav(&wav, hz, WAV_SECS, 8000);
    let account = match agent {
        Some((id, password)) => format!(
            "<sip:{id}@{}>;auth_pass={password};answermode=auto;audio_codecs=PCMU",
            switch.sip
        ),
        // A caller on the trunk: no registration.
        None => "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU".to_string(),
    };
    let mut phone = Baresip::start_controlled(modules, &dir, &account, &wav, &[]);
    if agent.is_some() {
        phone.expect_line(REGISTERED, &[REGISTER_FAILED], EVENT_TIMEOUT);
    }
    phone
}

/// Polls `what` every 50 ms until it gives `Some`, for at most `EVENT_TIMEOUT`.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The id of the one call talking with `agent`.
fn talking_with(switch: &SwitchProc, agent: &str) -> String {
    wait_for(&format!("a call talking with {agent}"), || {
        let calls = get(switch.http, "/api/v1/calls", VIEWER);
        calls.body["calls"]
            .as_array()?
            .iter()
            .find(|c| c["phase"] == "talking" && c["agent"] == agent)
            .and_then(|c| c["id"].as_str().map(str::to_string))
    })
}

fn agent_state(switch: &SwitchProc, agent: &str) -> String {
    let a = get(switch.http, &format!("/api/v1/agents/{agent}"), VIEWER);
    a.body["state"].as_str().unwrap_or("").to_string()
}

/// Sends a PCMU `hz` tone every 20 ms from `sock` to `to` until `stop`
/// (or `bound`), one RTP stream with running sequence numbers.
fn talker(sock: UdpSocket, to: SocketAddr, hz: f64, stop: Arc<AtomicBool>, bound: Duration) {
    let mut sine = Sine::new(hz, 8000, 0.3);
    let mut pcm = [0i16; 160];
    let start = Instant::now();
    let mut n: u32 = 0;
    while !stop.load(Ordering::Relaxed) && start.elapsed() < bound {
        sine.fill(&mut pcm);
        let mut pkt = vec![0x80, 0];
        pkt.extend_from_slice(&(n as u16).to_be_bytes());
        pkt.extend_from_slice(&n.wrapping_mul(160).to_be_bytes());
        pkt.extend_from_slice(&0xCA11u32.to_be_bytes());
        pkt.extend(pcm.iter().map(|&s| ulaw_encode(s)));
        let _ = sock.send_to(&pkt, to);
        n += 1;
        // Paced by the start, so a slow loop does not stretch the stream.
        let next = start + Duration::from_millis(20) * n;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// How strongly `hz` stands out in a stretch: Goertzel power over mean
/// power; 2 for a pure tone, 1 for each of two equal tones, 0 without it.
fn strength(stretch: &[i16], hz: f64) -> f64 {
    let total = mean_power(stretch);
    if total < 1e-5 {
        return 0.0;
    }
    goertzel_power(stretch, hz, 8000) / total
}

/// Present: at least an eighth of the stretch's power. Absent: under 2%.
fn present(stretch: &[i16], hz: f64) -> bool {
    strength(stretch, hz) >= 0.25
}
fn absent(stretch: &[i16], hz: f64) -> bool {
    strength(stretch, hz) < 0.04
}

/// The 100 ms stretches of what `phone` recorded (8 kHz); once its call ended.
fn recorded_stretches(phone: &Baresip) -> Vec<Vec<i16>> {
    let path = phone
        .recording()
        .unwrap_or_else(|| panic!("baresip recorded nothing in {}", phone.dir.display()));
    let (pcm, rate) = read_wav(&path);
    assert_eq!(rate, 8000, "PCMU recorded at 8 kHz");
    pcm.chunks_exact(STRETCH).map(<[i16]>::to_vec).collect()
}

/// One agent log line: event, agent, detail.
type LogLine = (String, Option<String>, Option<String>);

/// The one record of the call to 5550200, and its agent log lines.
fn record(switch: &SwitchProc) -> (CdrRow, Vec<LogLine>) {
    wait_for("the call's record", || {
        let store = CdrStore::open_read_only(&switch.dir.join("cdr.sqlite")).ok()?;
        let r = store
            .recent(10)
            .ok()?
            .into_iter()
            .map(|r| r.row)
            .find(|r| r.dialled == "5550200")?;
        let log = store
            .agent_events("1970-01-01T00:00:00.000Z", "9999-01-01T00:00:00.000Z", 100)
            .ok()?
            .into_iter()
            .filter(|e| e.call.is_some() && e.call == r.call_uuid)
            .map(|e| (e.event, e.agent, e.detail))
            .collect();
        Some((r, log))
    })
}

const CALLER_HZ: f64 = 1000.0;
const A_HZ: f64 = 600.0;
const B_HZ: f64 = 800.0;

#[test]
fn baresip_agent_transfers_blind_with_its_transfer_command() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let switch = start_switch("baresip-xfer");
    let mut a = phone(&modules, &switch, "a", Some(("1001", "demo-1001")), A_HZ);
    let mut b = phone(&modules, &switch, "b", Some(("1002", "demo-1002")), B_HZ);
    switch.wait_metric("switchyard_registrations_active", |v| v == 2.0);

    let mut caller = MediaCaller::new(switch.sip, "5550200");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let to_switch = sdp_audio(ok.body());
    let stop = Arc::new(AtomicBool::new(false));
    let talking = {
        let (sock, stop) = (caller.rtp.try_clone().expect("clone"), stop.clone());
        thread::spawn(move || talker(sock, to_switch, CALLER_HZ, stop, EVENT_TIMEOUT * 3))
    };

    let call = talking_with(&switch, "1001");
    // What a user types at baresip's prompt: `/transfer sip:1002@switch`.
    let target = format!("sip:1002@{}", switch.sip);
    a.command("transfer", &target)
        .unwrap_or_else(|e| panic!("baresip refused /transfer: {e}"));
    // The switch hangs A up once it has taken the call over.
    a.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);
    // B rang and answered: the same call now talks with 1002.
    assert_eq!(
        talking_with(&switch, "1002"),
        call,
        "the call moved to 1002"
    );
    assert_eq!(agent_state(&switch, "1001"), "wrap_up", "A is in wrap-up");

    // The caller hears B: 3 s of what arrives from now on.
    caller
        .rtp
        .set_nonblocking(true)
        .expect("non-blocking drain");
    let mut buf = [0u8; 2048];
    while caller.rtp.recv_from(&mut buf).is_ok() {}
    caller.rtp.set_nonblocking(false).expect("blocking again");
    let heard = support::rtp_heard(&caller.rtp, Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    talking.join().expect("talker");
    caller.bye();
    b.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);

    // baresip's SIP trace, complete by now: REFER, 202, NOTIFYs.
    let trace = a.output();
    let refer_to = trace
        .lines()
        .find_map(|l| l.trim().strip_prefix("Refer-To: "))
        .map(|v| v.trim_matches(['<', '>']).to_string());
    assert!(
        trace.contains("REFER sip:") && refer_to.as_deref() == Some(target.as_str()),
        "baresip sent no REFER to {target}:\n{trace}"
    );
    assert!(
        trace.contains("SIP/2.0 202 Accepted"),
        "baresip's REFER got no 202:\n{trace}"
    );
    // The last NOTIFY's sipfrag: the transfer went through.
    let last_frag = trace
        .rfind("Content-Type: message/sipfrag")
        .map(|i| trace[i..].lines().take(4).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    assert!(
        last_frag.contains("SIP/2.0 200 OK"),
        "no NOTIFY with a final 200 sipfrag in baresip's trace:\n{trace}"
    );
    let heard: Vec<i16> = heard
        .iter()
        .filter(|p| p[1] & 0x7F == 0)
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)))
        .collect();
    let stretches: Vec<&[i16]> = heard.chunks_exact(STRETCH).collect();
    assert!(
        stretches.len() >= 25,
        "the caller heard {} stretches",
        stretches.len()
    );
    let with_b = stretches.iter().filter(|s| present(s, B_HZ)).count();
    assert!(
        with_b * 10 >= stretches.len() * 8,
        "B's {B_HZ} Hz in {with_b} of {} stretches the caller heard",
        stretches.len()
    );
    assert!(
        stretches.iter().all(|s| absent(s, A_HZ)),
        "the caller still hears A after the transfer"
    );
    let got = recorded_stretches(&b);
    let with_caller = got.iter().filter(|s| present(s, CALLER_HZ)).count();
    assert!(
        with_caller >= 20 && with_caller * 10 >= got.len() * 7,
        "the caller's {CALLER_HZ} Hz in {with_caller} of B's {} stretches",
        got.len()
    );

    let (r, log) = record(&switch);
    assert_eq!(r.outcome, "completed");
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.transfers.as_deref(), Some("1002"));
    assert_eq!(r.queue.as_deref(), Some("support"));
    let parties: Vec<(&str, &str, &str)> = r
        .legs
        .iter()
        .map(|l| (l.party.as_str(), l.via.as_str(), l.outcome.as_str()))
        .collect();
    assert_eq!(
        parties,
        [
            ("1001", "offer", "transferred"),
            ("1002", "transfer", "caller_hung_up")
        ]
    );
    let transfer = (
        "transfer".to_string(),
        Some("1001".into()),
        Some("1002".into()),
    );
    assert!(log.contains(&transfer), "{log:?}");
    assert_no_drops_but_a_hijack(&switch);
}

/// Every drop counter at zero once the media is gone, but `hijack`: when
/// another phone takes the agent leg (a transfer's target, or the agent
/// who takes over a conference), the leaving agent's last packets, sent
/// until its BYE went through, come from an address that is no longer the
/// leg's peer and are dropped.
fn assert_no_drops_but_a_hijack(switch: &SwitchProc) {
    const HIJACKED_MAX: f64 = 50.0;
    // The relay's snapshot reads its leg count before its counters, and a
    // call flushes its counters before it gives its legs up: a publication
    // that shows no legs holds every drop. The publisher writes counters
    // before that gauge, so the next scrape reads them.
    switch.wait_metric("switchyard_media_legs_active", |v| v == 0.0);
    let metrics = switch.metrics();
    let drops: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("switchyard_rtp_packets_dropped_total{"))
        .collect();
    assert!(!drops.is_empty(), "drop counters are exported");
    // A second of the leaving phone's 20 ms packets at most.
    let fine = |l: &&str| match l.contains("reason=\"hijack\"") {
        true => l
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v <= HIJACKED_MAX),
        false => l.ends_with(" 0"),
    };
    assert!(
        drops.iter().all(fine),
        "no packet dropped but the leaving agent's late ones: {drops:#?}"
    );
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

const C_HZ: f64 = 500.0;
const AGENT_HZ: f64 = 850.0;
const PARTY_HZ: f64 = 1300.0;
/// How long all three talk, and the caller and agent after the party left.
const THREE_FOR: Duration = Duration::from_secs(4);
const TWO_FOR: Duration = Duration::from_secs(3);

/// The party list of `call` (id, state).
fn parties(switch: &SwitchProc, call: &str) -> Vec<(u64, String)> {
    let p = get(
        switch.http,
        &format!("/api/v1/calls/{call}/parties"),
        VIEWER,
    );
    p.body["parties"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    let id = p["id"].as_u64().unwrap_or(99);
                    (id, p["state"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The longest run of consecutive stretches that each hold both tones
/// (and not `own`).
fn longest_run_of_both(stretches: &[Vec<i16>], tones: [f64; 2], own: f64) -> usize {
    let mut best = 0;
    let mut run = 0;
    for s in stretches {
        if tones.iter().all(|&t| present(s, t)) && absent(s, own) {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Asserts what one conference phone recorded: `others` together in a run
/// of at least 2 s, its own tone never; with `after`, the last second
/// (before the final 300 ms) holds `after.0` and not `after.1`.
fn assert_heard(who: &str, phone: &Baresip, others: [f64; 2], own: f64, after: Option<(f64, f64)>) {
    let got = recorded_stretches(phone);
    let run = longest_run_of_both(&got, others, own);
    let strengths = |s: &Vec<i16>| {
        format!(
            "{:.2}/{:.2}/{:.2}",
            strength(s, others[0]),
            strength(s, others[1]),
            strength(s, own)
        )
    };
    let dump = || got.iter().map(strengths).collect::<Vec<_>>().join(" ");
    assert!(
        run >= 20,
        "{who} heard {others:?} Hz together for only {run} stretches of 100 ms; \
         strengths (others, own) per stretch: {}",
        dump()
    );
    let with_own = got.iter().filter(|s| !absent(s, own)).count();
    assert!(
        with_own == 0,
        "{who} heard its own {own} Hz in {with_own} stretches: {}",
        dump()
    );
    if let Some((stays, left)) = after {
        assert!(got.len() > 13, "{who} recorded {} stretches", got.len());
        let tail = &got[got.len() - 13..got.len() - 3];
        assert!(
            tail.iter().all(|s| present(s, stays) && absent(s, left)),
            "{who}'s last second: {stays} Hz without {left} Hz expected; {}",
            tail.iter().map(strengths).collect::<Vec<_>>().join(" ")
        );
    }
}

/// The switch and three baresips: the caller on the trunk dials the
/// queue, 1001 answers, the API rings 1002 into the call, which answers;
/// all three talk for `THREE_FOR`.
struct Conference {
    switch: SwitchProc,
    caller: Baresip,
    agent: Baresip,
    party: Baresip,
    /// The call's id in the API.
    call: String,
}

fn conference_of_three(modules: &Path, name: &str) -> Conference {
    let switch = start_switch(name);
    let agent = phone(
        modules,
        &switch,
        "agent",
        Some(("1001", "demo-1001")),
        AGENT_HZ,
    );
    let party = phone(
        modules,
        &switch,
        "party",
        Some(("1002", "demo-1002")),
        PARTY_HZ,
    );
    let mut caller = phone(modules, &switch, "caller", None, C_HZ);
    switch.wait_metric("switchyard_registrations_active", |v| v == 2.0);

    caller
        .command("dial", &format!("sip:5550200@{}", switch.sip))
        .unwrap_or_else(|e| panic!("baresip refused /dial: {e}"));
    let call = talking_with(&switch, "1001");
    let added = post(
        switch.http,
        &format!("/api/v1/calls/{call}/conference"),
        SUPERVISOR,
        r#"{"to": "1002"}"#,
    );
    assert!(added.status / 100 == 2, "conference: {added:?}");
    wait_for("1002 joined", || {
        let p = parties(&switch, &call);
        (p.len() == 3 && p.iter().all(|(_, s)| s == "joined")).then_some(())
    });
    thread::sleep(THREE_FOR);
    Conference {
        switch,
        caller,
        agent,
        party,
        call,
    }
}

/// The record's legs: party, role, via, answered, outcome.
fn legs_of(r: &CdrRow) -> Vec<(&str, &str, &str, bool, &str)> {
    r.legs
        .iter()
        .map(|l| {
            let answered = l.answered_at.is_some();
            (
                l.party.as_str(),
                l.role.as_str(),
                l.via.as_str(),
                answered,
                l.outcome.as_str(),
            )
        })
        .collect()
}

#[test]
fn three_baresip_phones_in_a_conference_each_hear_the_other_two() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let Conference {
        switch,
        mut caller,
        mut agent,
        mut party,
        call,
    } = conference_of_three(&modules, "baresip-conf");

    // The added party hangs up at its phone; caller and agent stay.
    party
        .command("hangup", "")
        .unwrap_or_else(|e| panic!("baresip refused /hangup: {e}"));
    party.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);
    wait_for("the party gone from the list", || {
        let p = parties(&switch, &call);
        (p.iter().map(|(id, _)| *id).collect::<Vec<_>>() == [0, 1]).then_some(())
    });
    assert_eq!(talking_with(&switch, "1001"), call, "the call goes on");
    thread::sleep(TWO_FOR);
    caller
        .command("hangup", "")
        .unwrap_or_else(|e| panic!("baresip refused /hangup: {e}"));
    caller.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);
    agent.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);

    assert_heard(
        "the caller",
        &caller,
        [AGENT_HZ, PARTY_HZ],
        C_HZ,
        Some((AGENT_HZ, PARTY_HZ)),
    );
    assert_heard(
        "the agent",
        &agent,
        [C_HZ, PARTY_HZ],
        AGENT_HZ,
        Some((C_HZ, PARTY_HZ)),
    );
    assert_heard("the added party", &party, [C_HZ, AGENT_HZ], PARTY_HZ, None);
    let (r, _) = record(&switch);
    assert_eq!(r.outcome, "completed");
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert_eq!(
        legs_of(&r),
        [
            ("1001", "agent", "offer", true, "caller_hung_up"),
            ("1002", "party", "conference", true, "hung_up"),
        ]
    );
    assert_no_rtp_drops(&switch);
}

#[test]
fn the_agent_leaving_a_three_baresip_conference_leaves_caller_and_party_talking() {
    let Some(modules) = baresip::require() else {
        return;
    };
    let Conference {
        switch,
        mut caller,
        mut agent,
        mut party,
        call,
    } = conference_of_three(&modules, "baresip-conf-agent-leaves");

    // The agent hangs up at its phone: 1002, an agent in the conference,
    // takes the call (re-INVITEd onto the agent leg); the caller stays.
    agent
        .command("hangup", "")
        .unwrap_or_else(|e| panic!("baresip refused /hangup: {e}"));
    agent.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);
    assert_eq!(talking_with(&switch, "1002"), call, "1002 has the call");
    wait_for("two parties left", || {
        (parties(&switch, &call).len() == 2).then_some(())
    });
    thread::sleep(TWO_FOR);
    caller
        .command("hangup", "")
        .unwrap_or_else(|e| panic!("baresip refused /hangup: {e}"));
    caller.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);
    party.expect_line(CALL_ENDED, &[], EVENT_TIMEOUT);

    assert_heard(
        "the caller",
        &caller,
        [AGENT_HZ, PARTY_HZ],
        C_HZ,
        Some((PARTY_HZ, AGENT_HZ)),
    );
    assert_heard(
        "the added agent",
        &party,
        [C_HZ, AGENT_HZ],
        PARTY_HZ,
        Some((C_HZ, AGENT_HZ)),
    );
    assert_heard("the first agent", &agent, [C_HZ, PARTY_HZ], AGENT_HZ, None);
    let (r, _) = record(&switch);
    assert_eq!(r.outcome, "completed");
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(
        legs_of(&r),
        [
            ("1001", "agent", "offer", true, "hung_up"),
            ("1002", "party", "conference", true, "caller_hung_up"),
        ]
    );
    assert_no_drops_but_a_hijack(&switch);
}
