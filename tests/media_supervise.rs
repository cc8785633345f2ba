//! Supervisors on the wire. A caller (1 kHz) talks to agent 1001 (SIPp
//! answering, 600 Hz from the test's socket); supervisor 1002's phone dials
//! `*501001` and sends 400 Hz. Each party's received RTP is checked with
//! Goertzel: in monitor the supervisor hears both and nobody hears it; DTMF
//! 5 (SIP INFO) whispers to the agent only; 6 barges in for both; the
//! supervisor's BYE leaves caller and agent as before. Agents without
//! `supervisor = true`, and agents not on a call, are refused. A
//! supervisor's DTMF 7 takes the call over: the agent gets a BYE, caller
//! and supervisor hear each other, and the supervisor's BYE ends the call;
//! that call is recorded, and its one WAV has the agent on the right
//! channel up to the takeover and the supervisor after it, where the
//! record's legs say (the agent's phone, still sending, is left out).

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use support::{
    free_port_block, free_udp_port, rtp_heard, sipp_media_agent, test_config, MediaCaller, Phone,
    SwitchProc,
};
use switchyard::media::g711::{ulaw_decode, ulaw_encode};
use switchyard::media::tone::Sine;
use switchyard::sip::parse::{HeaderName, Message};

/// A phone of an agent: registered, then dialling with digest auth.
struct Dialler {
    phone: Phone,
    rtp: UdpSocket,
    user: String,
    password: String,
    call_id: String,
    from_tag: String,
    /// The To of the switch's 200 (with its tag).
    to: String,
    cseq: u32,
}

impl Dialler {
    fn new(switch: &SwitchProc, user: &str, password: &str) -> Dialler {
        let mut phone = Phone::new(switch.sip);
        let contact = phone.addr;
        let reg = phone.register(user, password, contact, 300);
        assert_eq!(reg.status(), Some(200), "{user} registers");
        let t = phone.token();
        Dialler {
            phone,
            rtp: UdpSocket::bind("127.0.0.1:0").unwrap(),
            user: user.into(),
            password: password.into(),
            call_id: format!("sup{t}"),
            from_tag: format!("f{t}"),
            to: String::new(),
            cseq: 0,
        }
    }

    /// A request in the supervisor's dialog; `branch` for an ACK of a
    /// non-2xx (RFC 3261 §17.1.1.3: the INVITE's branch), else a new one.
    fn request(&mut self, method: &str, number: &str, extra: &str, body: &str) -> String {
        let branch = self.phone.token();
        self.request_on(&branch, method, number, extra, body)
    }

    fn request_on(
        &mut self,
        branch: &str,
        method: &str,
        number: &str,
        extra: &str,
        body: &str,
    ) -> String {
        let t = branch;
        let (sip, addr) = (self.phone.server, self.phone.addr);
        let to = if self.to.is_empty() {
            format!("<sip:{number}@{sip}>")
        } else {
            self.to.clone()
        };
        let cseq = if method == "ACK" {
            self.cseq
        } else {
            self.cseq + 1
        };
        self.cseq = cseq;
        format!(
            "{method} sip:{number}@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@{sip}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {cid}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:{user}@{addr}>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            user = self.user,
            tag = self.from_tag,
            cid = self.call_id,
        )
    }

    /// INVITEs `number` (answering the digest challenge); the final response.
    fn dial(&mut self, number: &str) -> Message {
        let port = self.rtp.local_addr().unwrap().port();
        let sdp = format!(
            "v=0\r\no=sup 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        );
        let ct = "Content-Type: application/sdp\r\n";
        let branch = self.phone.token();
        let invite = self.request_on(&branch, "INVITE", number, ct, &sdp);
        self.phone.send(invite.as_bytes());
        let challenge = self.phone.recv_final();
        assert_eq!(challenge.status(), Some(401), "INVITE is challenged");
        self.to = challenge.to().as_str().to_string();
        let ack = self.request_on(&branch, "ACK", number, "", "");
        self.to.clear();
        self.phone.send(ack.as_bytes());
        let www = challenge
            .header(&HeaderName::WwwAuthenticate)
            .expect("challenge")
            .to_string();
        let uri = format!("sip:{number}@{}", self.phone.server);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let auth = switchyard::sip::auth::answer_challenge(
            &www,
            "INVITE",
            &uri,
            &self.user,
            &self.password,
            1,
            &mut rng,
        )
        .expect("answer challenge");
        let extra = format!("{ct}Authorization: {auth}\r\n");
        let invite = self.request("INVITE", number, &extra, &sdp);
        self.phone.send(invite.as_bytes());
        let answer = self.phone.recv_final();
        if answer.status() == Some(200) {
            self.to = answer.to().as_str().to_string();
            let ack = self.request("ACK", number, "", "");
            self.phone.send(ack.as_bytes());
        }
        answer
    }

    /// A SIP INFO carrying one DTMF digit, in the dialog.
    fn info_digit(&mut self, number: &str, digit: char) {
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        let info = self.request(
            "INFO",
            number,
            "Content-Type: application/dtmf-relay\r\n",
            &body,
        );
        self.phone.send(info.as_bytes());
        assert_eq!(self.phone.recv_final().status(), Some(200));
    }

    fn bye(&mut self, number: &str) {
        let bye = self.request("BYE", number, "", "");
        self.phone.send(bye.as_bytes());
        assert_eq!(self.phone.recv_final().status(), Some(200));
    }
}

/// The `m=audio` port of an SDP body.
fn media_port(msg: &Message) -> u16 {
    std::str::from_utf8(msg.body())
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("m=audio port")
}

/// Sends a PCMU tone from `sock` to `to` every 20 ms until `stop`.
fn talk(
    sock: UdpSocket,
    to: SocketAddr,
    hz: f64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut sine = Sine::new(hz, 8000, 0.25);
        let mut pcm = [0i16; 160];
        // Bounded: at most 60 s of audio whatever the test does.
        for n in 0u32..3000 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            sine.fill(&mut pcm);
            let mut pkt = vec![0x80, 0];
            pkt.extend_from_slice(&(n as u16).to_be_bytes());
            pkt.extend_from_slice(&n.wrapping_mul(160).to_be_bytes());
            pkt.extend_from_slice(&(hz as u32).to_be_bytes());
            pkt.extend(pcm.iter().map(|&s| ulaw_encode(s)));
            let _ = sock.send_to(&pkt, to);
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Which of the test's tones a socket hears over 0.8 s (each must fill
/// several 100 ms windows to count).
fn tones_heard(sock: &UdpSocket) -> Vec<u32> {
    let pcm: Vec<i16> = rtp_heard(sock, Duration::from_millis(800))
        .iter()
        .flat_map(|p| p[12..].iter().map(|&c| ulaw_decode(c)).collect::<Vec<_>>())
        .collect();
    [400u32, 600, 1000]
        .into_iter()
        .filter(|&hz| {
            pcm.chunks(800)
                .filter(|c| {
                    // A mix of two tones: each holds about half the power.
                    let total = switchyard::media::tone::mean_power(c);
                    total > 1e-5
                        && switchyard::media::tone::goertzel_power(c, f64::from(hz), 8000)
                            >= 0.5 * total
                })
                .count()
                >= 3
        })
        .collect()
}

#[test]
fn a_supervisor_monitors_whispers_and_barges_then_leaves() {
    let block = free_port_block(12);
    let lo = block + block % 2;
    let plan = test_config("10s", free_udp_port()).replace(
        "id = \"1002\"\npassword = \"demo-1002\"\n",
        "id = \"1002\"\npassword = \"demo-1002\"\nsupervisor = true\n",
    );
    assert!(plan.contains("supervisor = true"));
    let config = format!("{plan}\n[media]\nrtp_ports = \"{lo}-{}\"\n", lo + 11);
    let switch = SwitchProc::start("media-supervise", &config);
    let (agent, agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {} RTP/AVP 0", lo + 2));

    // Nobody to listen to yet.
    let mut early = Dialler::new(&switch, "1002", "demo-1002");
    assert_eq!(early.dial("*501001").status(), Some(480));

    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let stop = Arc::new(AtomicBool::new(false));
    let caller_leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let agent_leg: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let talkers = vec![
        talk(
            caller.rtp.try_clone().unwrap(),
            caller_leg,
            1000.0,
            stop.clone(),
        ),
        talk(
            agent_rtp.try_clone().unwrap(),
            agent_leg,
            600.0,
            stop.clone(),
        ),
    ];
    assert_eq!(
        tones_heard(&agent_rtp),
        vec![1000],
        "agent hears the caller"
    );

    // 1003 is no supervisor.
    let mut intruder = Dialler::new(&switch, "1003", "demo-1003");
    assert_eq!(intruder.dial("*501001").status(), Some(403));

    let mut sup = Dialler::new(&switch, "1002", "demo-1002");
    let ok = sup.dial("*501001");
    assert_eq!(ok.status(), Some(200), "the supervisor is let in");
    let sup_leg: SocketAddr = format!("127.0.0.1:{}", media_port(&ok)).parse().unwrap();
    let mut talkers = talkers;
    talkers.push(talk(
        sup.rtp.try_clone().unwrap(),
        sup_leg,
        400.0,
        stop.clone(),
    ));

    // Monitor: the supervisor hears both, nobody hears the supervisor.
    assert_eq!(
        tones_heard(&sup.rtp),
        vec![600, 1000],
        "monitor: supervisor"
    );
    assert_eq!(tones_heard(&agent_rtp), vec![1000], "monitor: agent");
    assert_eq!(tones_heard(&caller.rtp), vec![600], "monitor: caller");

    // Whisper: the agent hears the supervisor too, the caller does not.
    sup.info_digit("*501001", '5');
    let _settle = rtp_heard(&agent_rtp, Duration::from_millis(200));
    assert_eq!(tones_heard(&agent_rtp), vec![400, 1000], "whisper: agent");
    assert_eq!(tones_heard(&caller.rtp), vec![600], "whisper: caller");
    assert_eq!(
        tones_heard(&sup.rtp),
        vec![600, 1000],
        "whisper: supervisor"
    );

    // Barge: everyone hears everyone else.
    sup.info_digit("*501001", '6');
    let _settle = rtp_heard(&caller.rtp, Duration::from_millis(200));
    assert_eq!(tones_heard(&caller.rtp), vec![400, 600], "barge: caller");
    assert_eq!(tones_heard(&agent_rtp), vec![400, 1000], "barge: agent");

    // The supervisor leaves; the call goes on as before.
    sup.bye("*501001");
    let _settle = rtp_heard(&caller.rtp, Duration::from_millis(200));
    assert_eq!(tones_heard(&caller.rtp), vec![600], "after: caller");
    assert_eq!(tones_heard(&agent_rtp), vec![1000], "after: agent");

    stop.store(true, Ordering::Relaxed);
    for t in talkers {
        t.join().unwrap();
    }
    caller.bye();
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_supervisions_total{mode=\"monitor\"}", |v| {
        v == 1.0
    });
    switch.wait_metric("switchyard_supervisions_total{mode=\"refused\"}", |v| {
        v == 2.0
    });
}

#[test]
fn the_call_ending_hangs_up_the_supervisor() {
    let block = free_port_block(12);
    let lo = block + block % 2;
    let plan = test_config("10s", free_udp_port()).replace(
        "id = \"1002\"\npassword = \"demo-1002\"\n",
        "id = \"1002\"\npassword = \"demo-1002\"\nsupervisor = true\n",
    );
    let config = format!("{plan}\n[media]\nrtp_ports = \"{lo}-{}\"\n", lo + 11);
    let switch = SwitchProc::start("media-supervise-end", &config);
    let (agent, _agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {} RTP/AVP 0", lo + 2));
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let mut sup = Dialler::new(&switch, "1002", "demo-1002");
    assert_eq!(sup.dial("*521001").status(), Some(200));
    caller.bye();
    agent.expect_success();
    let bye = loop {
        let msg = sup.phone.recv();
        if msg.status().is_none() {
            break msg;
        }
    };
    assert_eq!(
        bye.method().map(|m| m.as_str().to_string()),
        Some("BYE".into())
    );
    assert_eq!(bye.call_id(), sup.call_id, "in the supervisor's dialog");
    switch.wait_metric("switchyard_supervisions_total{mode=\"barge\"}", |v| {
        v == 1.0
    });
}

/// A 200 for a request the switch sent.
fn ok_for(req: &Message) -> String {
    let h = |name: HeaderName| req.header(&name).unwrap_or_default().to_string();
    format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        h(HeaderName::Via),
        req.from().as_str(),
        req.to().as_str(),
        req.call_id(),
        h(HeaderName::CSeq),
    )
}

#[test]
fn a_supervisor_takes_the_call_over_with_dtmf_7() {
    let block = free_port_block(12);
    let lo = block + block % 2;
    let plan = test_config("10s", free_udp_port())
        .replace(
            "id = \"1002\"\npassword = \"demo-1002\"\n",
            "id = \"1002\"\npassword = \"demo-1002\"\nsupervisor = true\n",
        )
        .replace(
            r#""5550100" = { agent = "1001" }"#,
            r#""5550100" = { agent = "1001", record = true }"#,
        );
    assert!(plan.contains("record = true"), "the call is recorded");
    let config = format!("{plan}\n[media]\nrtp_ports = \"{lo}-{}\"\n", lo + 11);
    let switch = SwitchProc::start("media-supervise-takeover", &config);
    let (agent, agent_rtp) =
        sipp_media_agent(&switch, "1001", &format!("m=audio {} RTP/AVP 0", lo + 2));
    let mut caller = MediaCaller::new(switch.sip, "5550100");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let stop = Arc::new(AtomicBool::new(false));
    let agent_stop = Arc::new(AtomicBool::new(false));
    let caller_leg: SocketAddr = format!("127.0.0.1:{lo}").parse().unwrap();
    let agent_leg: SocketAddr = format!("127.0.0.1:{}", lo + 2).parse().unwrap();
    let mut talkers = vec![
        talk(
            caller.rtp.try_clone().unwrap(),
            caller_leg,
            1000.0,
            stop.clone(),
        ),
        talk(
            agent_rtp.try_clone().unwrap(),
            agent_leg,
            600.0,
            agent_stop.clone(),
        ),
    ];
    let mut sup = Dialler::new(&switch, "1002", "demo-1002");
    let ok = sup.dial("*501001");
    assert_eq!(ok.status(), Some(200));
    let sup_leg: SocketAddr = format!("127.0.0.1:{}", media_port(&ok)).parse().unwrap();
    talkers.push(talk(
        sup.rtp.try_clone().unwrap(),
        sup_leg,
        400.0,
        stop.clone(),
    ));
    assert_eq!(tones_heard(&caller.rtp), vec![600], "monitor: caller");

    sup.info_digit("*501001", '7');
    // The agent's SIPp phone gets the switch's BYE and ends its scenario.
    agent.expect_success();
    // What each socket buffered before the takeover is read and dropped.
    let _settle = rtp_heard(&caller.rtp, Duration::from_millis(200));
    let _settle = rtp_heard(&sup.rtp, Duration::from_millis(200));
    assert_eq!(tones_heard(&caller.rtp), vec![400], "taken over: caller");
    assert_eq!(tones_heard(&sup.rtp), vec![1000], "taken over: supervisor");
    // The agent's socket still sends (a stale phone): nobody hears it, and
    // nothing is sent to it any more.
    let _settle = rtp_heard(&agent_rtp, Duration::from_millis(200));
    assert!(
        rtp_heard(&agent_rtp, Duration::from_millis(400)).is_empty(),
        "no RTP to the agent's leg after the takeover"
    );
    agent_stop.store(true, Ordering::Relaxed);

    // The supervisor hangs up: the caller gets a BYE, the call is over.
    sup.bye("*501001");
    let bye = loop {
        let msg = caller.phone.recv();
        if msg.status().is_none() {
            break msg;
        }
    };
    assert_eq!(
        bye.method().map(|m| m.as_str().to_string()),
        Some("BYE".into())
    );
    caller.phone.send(ok_for(&bye).as_bytes());
    stop.store(true, Ordering::Relaxed);
    for t in talkers {
        t.join().unwrap();
    }
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    assert_takeover_recording(&switch);
}

/// The taken-over call's record and WAV: 1001's leg (taken over), then
/// 1002's (by takeover); on the right channel 1001's 600 Hz within its
/// leg's segment only (though its phone sent on after the takeover),
/// 1002's 400 Hz within its own only (never while it just listened),
/// each edge within 100 ms of the record's.
fn assert_takeover_recording(switch: &SwitchProc) {
    use switchyard::ops::cdr::CdrStore;
    let db = switch.dir.join("cdr.sqlite");
    let deadline = std::time::Instant::now() + support::EVENT_TIMEOUT;
    let row = loop {
        let recent = CdrStore::open_read_only(&db)
            .ok()
            .and_then(|s| s.recent(1).ok());
        if let Some(r) = recent.and_then(|v| v.into_iter().next()) {
            break r.row;
        }
        assert!(std::time::Instant::now() < deadline, "no call record");
        std::thread::sleep(Duration::from_millis(50));
    };
    let legs = &row.legs;
    let who: Vec<(&str, &str, &str, &str)> = legs
        .iter()
        .map(|l| (&l.party[..], &l.role[..], &l.via[..], &l.outcome[..]))
        .collect();
    assert_eq!(
        who,
        vec![
            ("1001", "agent", "offer", "taken_over"),
            ("1002", "supervisor", "takeover", "hung_up")
        ]
    );
    let seg = |l: &switchyard::ops::cdr::LegRow| {
        let offset = l.recording_offset_ms.expect("an offset");
        (offset, offset + l.recording_ms.expect("a length"))
    };
    let (agent, sup) = (seg(&legs[0]), seg(&legs[1]));
    let path = switch.dir.join(row.recording_path.expect("a recording"));
    // The relay finishes the file as the call's media is released.
    let right: Vec<i16> = loop {
        let samples: Vec<i16> = hound::WavReader::open(&path)
            .map(|r| r.into_samples().map_while(Result::ok).collect())
            .unwrap_or_default();
        if !samples.is_empty() {
            break samples.iter().skip(1).step_by(2).copied().collect();
        }
        assert!(std::time::Instant::now() < deadline, "no recording");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Per 50 ms window: whether `hz` holds most of it.
    let span = |hz: f64| {
        let on: Vec<bool> = right
            .chunks_exact(400)
            .map(|w| {
                let total = switchyard::media::tone::mean_power(w);
                total > 1e-5 && switchyard::media::tone::goertzel_power(w, hz, 8000) >= 0.5 * total
            })
            .collect();
        let first = on.iter().position(|&t| t).expect("the tone is there") as u64;
        let last = on.iter().rposition(|&t| t).expect("the tone is there") as u64;
        (first * 50, (last + 1) * 50)
    };
    let (heard_agent, heard_sup) = (span(600.0), span(400.0));
    println!(
        "record: 1001 {agent:?}, 1002 {sup:?}; WAV: 600 Hz {heard_agent:?}, 400 Hz {heard_sup:?}"
    );
    let near = |a: (u64, u64), b: (u64, u64)| a.0.abs_diff(b.0) <= 100 && a.1.abs_diff(b.1) <= 100;
    assert!(
        near(heard_agent, agent),
        "1001: WAV {heard_agent:?}, record {agent:?}"
    );
    assert!(
        near(heard_sup, sup),
        "1002: WAV {heard_sup:?}, record {sup:?}"
    );
}
