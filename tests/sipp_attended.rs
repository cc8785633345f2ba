//! Attended transfer on the wire (issue 14 item 2): a caller with real RTP
//! calls the sales queue and agent 1001 answers. 1001's desk phone (a
//! small SIP phone in this test: it holds two dialogs at once, which one
//! SIPp scenario cannot) holds the caller, calls 1002 (SIPp,
//! `tests/sipp/agent_consulted.xml`) and presses Transfer: REFER in the
//! customer's dialog with `Refer-To: <sip:1002@…?Replaces=…>` naming the
//! consultation (RFC 3891, RFC 5589 §7). Checked: 202, NOTIFY `100
//! Trying` then `200 OK`, the switch's BYE on both of 1001's dialogs,
//! 1002 re-INVITEd onto the caller's anchor, the caller's tone reaching
//! 1002's RTP socket, and the one record of the customer's call naming
//! 1002 with the transfer and the agent log's `transfer` line. A Replaces
//! naming a dialog that is not 1001's gets 481 in the final NOTIFY and
//! both calls stay as they were.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use support::{
    free_port_block, rtp_heard, send_tone, sipp_register, MediaCaller, Phone, Sipp, SwitchProc,
    EVENT_TIMEOUT,
};
use switchyard::ops::cdr::{CdrRow, CdrStore};
use switchyard::sip::parse::{HeaderName, Message};

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
conference_factory = "conference"

[[agents]]
id = "1001"
password = "demo-1001"
auto_login = true
skills = {{ sales = 6 }}

[[agents]]
id = "1002"
password = "demo-1002"

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]

[dids]
"5550300" = {{ queue = "sales" }}

[[queues]]
name = "sales"
requires = "sales:1"
ring_timeout = "5s"
wrap_up = "0s"

[media]
rtp_ports = "{rtp}-{}"
prompts = "{}"
{}"#,
        rtp + 11,
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("prompts")
            .display(),
        support::api::api_section(8)
    )
}

/// 1002 answers the re-INVITE that joins it to the caller: the offer is
/// the switch's (the caller's anchor), the answer keeps 1002's port.
const JOINED: &str = r#"
  <recv request="INVITE">
    <action>
      <ereg regexp="o=switchyard " search_in="body" check_it="true" assign_to="ours"/>
    </action>
  </recv>
  <Reference variables="ours"/>
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

/// 1001's desk phone: one SIP socket, the customer's dialog (the switch
/// called it) and the consultation (it called 1002).
struct Desk {
    phone: Phone,
    seq: u32,
    /// The switch's INVITE of the queue call, once answered.
    offer: Option<Message>,
    /// The consultation: Call-ID, our tag, the switch's To (with tag).
    consult: Option<(String, String, String)>,
}

impl Desk {
    fn new(switch: SocketAddr) -> Desk {
        let mut phone = Phone::new(switch);
        let contact = phone.addr;
        let ok = phone.register("1001", "demo-1001", contact, 300);
        assert_eq!(ok.status(), Some(200), "1001 registers");
        Desk {
            phone,
            seq: 0,
            offer: None,
            consult: None,
        }
    }

    fn branch(&mut self) -> String {
        self.seq += 1;
        format!("z9hG4bKdesk{}x{}", self.seq, self.phone.addr.port())
    }

    fn sdp(&self, direction: &str) -> String {
        format!(
            "v=0\r\no=desk 1 {} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n{direction}\r\n",
            self.seq
        )
    }

    /// The next request with `method`, answering 200 to any NOTIFY or BYE
    /// met on the way (given back too).
    fn until_request(&self, method: &str, seen: &mut Vec<Message>) -> Message {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        while Instant::now() < deadline {
            let Some(msg) = self.phone.try_recv(Duration::from_millis(200)) else {
                continue;
            };
            let Some(m) = msg.method().map(|m| m.as_str().to_string()) else {
                continue;
            };
            if m == "NOTIFY" || m == "BYE" {
                self.respond(&msg, 200, "", None);
                seen.push(msg.clone());
            }
            if m == method {
                return msg;
            }
        }
        panic!("no {method} for 1001 in time");
    }

    fn until_status(&self, call_id: &str, status: u16) -> Message {
        loop {
            let msg = self.phone.recv();
            if msg.call_id() == call_id && msg.status() == Some(status) {
                return msg;
            }
        }
    }

    fn respond(&self, req: &Message, status: u16, to_tag: &str, sdp: Option<&str>) {
        let vias: String = req
            .vias()
            .iter()
            .map(|v| format!("Via: {}\r\n", v.as_str()))
            .collect();
        let to = if to_tag.is_empty() || req.to().tag().is_some() {
            req.to().as_str().to_string()
        } else {
            format!("{};tag={to_tag}", req.to().as_str())
        };
        let body = sdp.unwrap_or("");
        let ct = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        let text = format!(
            "SIP/2.0 {status} OK\r\n{vias}From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n\
             Contact: <sip:1001@{}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            req.from().as_str(),
            req.call_id(),
            req.cseq().seq,
            req.cseq().method.as_str(),
            self.phone.addr,
            body.len()
        );
        self.phone.send(text.as_bytes());
    }

    /// Answers the queue's INVITE; returns once the switch ACKed.
    fn answer(&mut self) {
        let invite = self.until_request("INVITE", &mut Vec::new());
        let sdp = self.sdp("a=sendrecv");
        self.respond(&invite, 200, "desk1", Some(&sdp));
        self.until_request("ACK", &mut Vec::new());
        self.offer = Some(invite);
    }

    /// A request in the customer's dialog, as its UAS.
    fn in_customer_dialog(&mut self, method: &str, cseq: u32, extra: &str, body: &str) -> String {
        let offer = self.offer.as_ref().expect("answered");
        let target = offer.contacts_first().expect("the switch's Contact");
        let (from, to, call_id) = (
            format!("{};tag=desk1", offer.to().as_str()),
            offer.from().as_str().to_string(),
            offer.call_id().to_string(),
        );
        let branch = self.branch();
        request(
            method,
            &target,
            &branch,
            self.phone.addr,
            &from,
            &to,
            &call_id,
            cseq,
            extra,
            body,
        )
    }

    /// Holds the caller (RFC 3264 §8.4): re-INVITE `sendonly`, 200, ACK.
    fn hold(&mut self) {
        let sdp = self.sdp("a=sendonly");
        let call_id = self.offer.as_ref().unwrap().call_id().to_string();
        let reinvite = self.in_customer_dialog("INVITE", 1, "", &sdp);
        self.phone.send(reinvite.as_bytes());
        self.until_status(&call_id, 200);
        let ack = self.in_customer_dialog("ACK", 1, "", "");
        self.phone.send(ack.as_bytes());
    }

    /// Calls 1002 through the switch (digest challenge first); ACKs the 200.
    fn consult(&mut self, switch: SocketAddr) {
        let uri = format!("sip:1002@{switch}");
        let call_id = format!("consult{}", self.phone.addr.port());
        let from = format!("<sip:1001@{switch}>;tag=consult1");
        let to = format!("<{uri}>");
        let sdp = self.sdp("a=sendrecv");
        let branch = self.branch();
        let invite = request(
            "INVITE",
            &uri,
            &branch,
            self.phone.addr,
            &from,
            &to,
            &call_id,
            1,
            "",
            &sdp,
        );
        self.phone.send(invite.as_bytes());
        let challenge = self.until_status(&call_id, 401);
        let ack = request(
            "ACK",
            &uri,
            &branch,
            self.phone.addr,
            &from,
            challenge.to().as_str(),
            &call_id,
            1,
            "",
            "",
        );
        self.phone.send(ack.as_bytes());
        let www = challenge
            .header(&HeaderName::WwwAuthenticate)
            .unwrap()
            .to_string();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let auth = switchyard::sip::auth::answer_challenge(
            &www,
            "INVITE",
            &uri,
            "1001",
            "demo-1001",
            1,
            &mut rng,
        )
        .unwrap();
        let branch = self.branch();
        let extra = format!("Authorization: {auth}\r\n");
        let invite = request(
            "INVITE",
            &uri,
            &branch,
            self.phone.addr,
            &from,
            &to,
            &call_id,
            2,
            &extra,
            &sdp,
        );
        self.phone.send(invite.as_bytes());
        let ok = self.until_status(&call_id, 200);
        let switch_to = ok.to().as_str().to_string();
        let branch = self.branch();
        let target = ok.contacts_first().unwrap_or(uri.clone());
        let ack = request(
            "ACK",
            &target,
            &branch,
            self.phone.addr,
            &from,
            &switch_to,
            &call_id,
            2,
            "",
            "",
        );
        self.phone.send(ack.as_bytes());
        self.consult = Some((call_id, "consult1".into(), switch_to));
    }

    /// Presses Transfer: REFER in the customer's dialog with a Replaces
    /// naming `call_id` and the tags; returns the NOTIFYs' bodies and the
    /// BYEs' Call-IDs met until the final NOTIFY and `byes` BYEs.
    fn transfer(
        &mut self,
        call_id: &str,
        to_tag: &str,
        from_tag: &str,
        byes: usize,
    ) -> (Vec<String>, Vec<String>) {
        let extra = format!(
            "Refer-To: <sip:1002@{}?Replaces={call_id}%3Bto-tag%3D{to_tag}%3Bfrom-tag%3D{from_tag}>\r\n\
             Referred-By: <sip:1001@127.0.0.1>\r\n",
            self.phone.server
        );
        let customer = self.offer.as_ref().unwrap().call_id().to_string();
        let refer = self.in_customer_dialog("REFER", 2, &extra, "");
        self.phone.send(refer.as_bytes());
        let mut seen = Vec::new();
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let mut accepted = false;
        loop {
            assert!(
                Instant::now() < deadline,
                "no end of the transfer: {seen:?}"
            );
            let Some(msg) = self.phone.try_recv(Duration::from_millis(200)) else {
                continue;
            };
            if msg.status() == Some(202) && msg.call_id() == customer {
                accepted = true;
            }
            if msg
                .method()
                .is_some_and(|m| matches!(m.as_str(), "NOTIFY" | "BYE"))
            {
                self.respond(&msg, 200, "", None);
                seen.push(msg);
            }
            let notified = seen.iter().any(|m| {
                m.header(&HeaderName::parse(b"Subscription-State"))
                    .is_some_and(|s| s.starts_with("terminated"))
            });
            let bye_count = seen
                .iter()
                .filter(|m| m.method().is_some_and(|m| m.as_str() == "BYE"))
                .count();
            if accepted && notified && bye_count >= byes {
                break;
            }
        }
        let frags = seen
            .iter()
            .filter(|m| m.method().is_some_and(|m| m.as_str() == "NOTIFY"))
            .map(|m| String::from_utf8_lossy(m.body()).trim().to_string())
            .collect();
        let mut bye_calls: Vec<String> = seen
            .iter()
            .filter(|m| m.method().is_some_and(|m| m.as_str() == "BYE"))
            .map(|m| m.call_id().to_string())
            .collect();
        bye_calls.sort();
        (frags, bye_calls)
    }
}

#[allow(clippy::too_many_arguments)]
fn request(
    method: &str,
    uri: &str,
    branch: &str,
    addr: SocketAddr,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    extra: &str,
    body: &str,
) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch={branch};rport\r\nMax-Forwards: 70\r\n\
         From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:1001@{addr}>\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

trait FirstContact {
    fn contacts_first(&self) -> Option<String>;
}

impl FirstContact for Message {
    fn contacts_first(&self) -> Option<String> {
        match self.contacts() {
            switchyard::sip::parse::Contacts::List(list) => {
                list.first().map(|c| c.uri().as_str().to_string())
            }
            _ => None,
        }
    }
}

/// 1002's SIPp phone with audio at a test socket; `after` follows its ACK.
fn colleague(switch: &SwitchProc, after: &str) -> (Sipp, UdpSocket) {
    let port = support::free_udp_port();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port().to_string();
    let after = after.replace("@AGENT_RTP@", &rtp_port);
    let phone = Sipp::start(
        &switch.dir,
        "agent_consulted.xml",
        &[("@AFTER@", &after), ("@AGENT_RTP@", &rtp_port)],
        &["-m", "1", "-p", &port.to_string()],
        None,
    );
    sipp_register(&switch.dir, switch, "1002", "demo-1002", port, 200);
    (phone, rtp)
}

/// The caller's call answered by 1001, then held, and 1001's
/// consultation with 1002 answered.
fn consulting(switch: &SwitchProc) -> (MediaCaller, SocketAddr, Desk) {
    let mut desk = Desk::new(switch.sip);
    let mut caller = MediaCaller::new(switch.sip, "5550300");
    let calling = std::thread::spawn(move || {
        let ok = caller.invite(200);
        caller.ack(&ok);
        (caller, ok)
    });
    desk.answer();
    let (caller, ok) = calling.join().expect("the caller is answered");
    let body = String::from_utf8_lossy(ok.body()).to_string();
    let port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the switch's audio port for the caller");
    desk.hold();
    desk.consult(switch.sip);
    (caller, SocketAddr::from(([127, 0, 0, 1], port)), desk)
}

/// One agent log line: event, agent, detail.
type LogLine = (String, Option<String>, Option<String>);

fn record_of_the_call(switch: &SwitchProc) -> (CdrRow, Vec<LogLine>) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        if let Ok(store) = CdrStore::open_read_only(&switch.dir.join("cdr.sqlite")) {
            let records = store.recent(10).unwrap_or_default();
            if let Some(r) = records
                .into_iter()
                .map(|r| r.row)
                .find(|r| r.dialled == "5550300")
            {
                let events = store
                    .agent_events("1970-01-01T00:00:00.000Z", "9999-01-01T00:00:00.000Z", 100)
                    .unwrap_or_default();
                let log = events
                    .into_iter()
                    .filter(|e| e.call.is_some() && e.call == r.call_uuid)
                    .map(|e| (e.event.clone(), e.agent.clone(), e.detail.clone()))
                    .collect();
                return (r, log);
            }
        }
        assert!(Instant::now() < deadline, "no record of the call");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn refer_with_replaces_joins_the_caller_to_the_consulted_agent() {
    let rtp = even_port_block();
    let switch = SwitchProc::start("attended", &config(rtp));
    let (b, b_rtp) = colleague(&switch, JOINED);
    let (mut caller, caller_anchor, mut desk) = consulting(&switch);
    let (call_id, from_tag, switch_to) = desk.consult.clone().unwrap();
    let to_tag = switch_to.split("tag=").nth(1).unwrap().to_string();
    let customer = desk.offer.as_ref().unwrap().call_id().to_string();

    let (frags, byes) = desk.transfer(&call_id, &to_tag, &from_tag, 2);
    assert_eq!(frags, vec!["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]);
    let mut expected = vec![customer, call_id];
    expected.sort();
    assert_eq!(byes, expected, "1001's two dialogs are hung up");

    // The caller's tone reaches 1002's socket through the caller's anchor.
    let heard = std::thread::scope(|s| {
        s.spawn(|| {
            send_tone(
                &caller.rtp,
                caller_anchor,
                1000.0,
                Duration::from_millis(1500),
            )
        });
        rtp_heard(&b_rtp, Duration::from_millis(1500))
    });
    let pcm: Vec<i16> = heard
        .iter()
        .flat_map(|p| {
            p[12..]
                .iter()
                .map(|&b| switchyard::media::g711::ulaw_decode(b))
        })
        .collect();
    assert!(
        pcm.len() >= 8000 / 2,
        "1002 hears the caller: {} packets",
        heard.len()
    );
    assert!(
        support::tone_share(&pcm, 1000.0, 8000) > 0.5,
        "the caller's 1 kHz tone reaches 1002"
    );

    caller.bye();
    b.expect_success();
    let (r, log) = record_of_the_call(&switch);
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.queue.as_deref(), Some("sales"));
    assert_eq!(r.transfers.as_deref(), Some("1002"));
    assert_eq!(r.outcome, "completed");
    let line = (
        "transfer".to_string(),
        Some("1001".to_string()),
        Some("1002".to_string()),
    );
    assert!(log.contains(&line), "{log:?}");
}

#[test]
fn a_replaces_naming_a_foreign_dialog_gets_481_and_the_calls_stay() {
    let rtp = even_port_block();
    let switch = SwitchProc::start("attended-481", &config(rtp));
    let (b, _b_rtp) = colleague(&switch, "");
    let (mut caller, _anchor, mut desk) = consulting(&switch);
    let (call_id, from_tag, switch_to) = desk.consult.clone().unwrap();
    let to_tag = switch_to.split("tag=").nth(1).unwrap().to_string();

    let (frags, byes) = desk.transfer("not-a-dialog-of-1001", &to_tag, &from_tag, 0);
    assert_eq!(
        frags,
        vec![
            "SIP/2.0 100 Trying",
            "SIP/2.0 481 Call/Transaction Does Not Exist"
        ]
    );
    assert!(byes.is_empty(), "1001 keeps both calls");

    // 1001 ends the consultation itself; 1002 gets the BYE.
    let uri = format!("sip:1002@{}", switch.sip);
    let from = format!("<sip:1001@{}>;tag={from_tag}", switch.sip);
    let branch = desk.branch();
    let bye = request(
        "BYE",
        &uri,
        &branch,
        desk.phone.addr,
        &from,
        &switch_to,
        &call_id,
        3,
        "",
        "",
    );
    desk.phone.send(bye.as_bytes());
    desk.until_status(&call_id, 200);
    b.expect_success();
    // The caller still talks to 1001: its hang-up reaches 1001.
    let hung_up = std::thread::spawn(move || caller.bye());
    let mut seen = Vec::new();
    let bye = desk.until_request("BYE", &mut seen);
    assert_eq!(bye.call_id(), desk.offer.as_ref().unwrap().call_id());
    hung_up.join().unwrap();
    let (r, log) = record_of_the_call(&switch);
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert_eq!(r.transfers.as_deref(), Some(""));
    assert!(log.iter().all(|l| l.0 != "transfer"), "{log:?}");
}

/// The first of 12 free ports, even: the switch's pool hands out even
/// pairs from its start, so the caller gets it and 1001 the next pair.
fn even_port_block() -> u16 {
    let block = free_port_block(13);
    block + block % 2
}

/// The share of 100 ms stretches of `packets` (PCMU RTP) carrying `freq_hz`.
fn tone_in(packets: &[Vec<u8>], freq_hz: f64) -> f64 {
    let pcm: Vec<i16> = packets
        .iter()
        .flat_map(|p| {
            p[12..]
                .iter()
                .map(|&b| switchyard::media::g711::ulaw_decode(b))
        })
        .collect();
    support::tone_share(&pcm, freq_hz, 8000)
}

/// `from` sends a `freq_hz` tone to `to` while `at` listens: the share of
/// what `at` heard that carries it.
fn heard(from: &UdpSocket, to: SocketAddr, at: &UdpSocket, freq_hz: f64) -> f64 {
    // What `at` heard before (the relay's silence) is not this tone.
    at.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    while at.recv_from(&mut buf).is_ok() {}
    at.set_nonblocking(false).unwrap();
    let packets = std::thread::scope(|s| {
        s.spawn(|| send_tone(from, to, freq_hz, Duration::from_millis(1500)));
        rtp_heard(at, Duration::from_millis(1500))
    });
    tone_in(&packets, freq_hz)
}

/// The id of the one call in `phase` (the API's call list).
fn call_in(switch: &SwitchProc, phase: &str) -> String {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let calls = support::api::get(switch.http, "/api/v1/calls", support::api::VIEWER);
        let found = calls.body["calls"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["phase"] == phase))
            .and_then(|c| c["id"].as_str().map(str::to_string));
        if let Some(id) = found {
            return id;
        }
        assert!(Instant::now() < deadline, "no {phase} call: {calls:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A queue caller with RTP talks to 1001 (SIPp, audio at a test socket),
/// 1002 (SIPp, `after` its answer) is registered, and the API consults
/// 1002: the caller, its anchor, 1001's phone and socket, 1002's, the
/// call's id. The pool hands out ports in order: caller, 1001, colleague.
struct ApiConsult {
    caller: MediaCaller,
    caller_anchor: SocketAddr,
    agent: Sipp,
    agent_rtp: UdpSocket,
    agent_anchor: SocketAddr,
    colleague: Sipp,
    colleague_rtp: UdpSocket,
    id: String,
}

fn api_consult(switch: &SwitchProc, rtp: u16, after: &str) -> ApiConsult {
    let (agent, agent_rtp) =
        support::sipp_media_agent(switch, "1001", &format!("m=audio {} RTP/AVP", rtp + 2));
    let (colleague, colleague_rtp) = colleague(switch, after);
    let mut caller = MediaCaller::new(switch.sip, "5550300");
    let ok = caller.invite(200);
    caller.ack(&ok);
    let id = call_in(switch, "talking");
    let path = format!("/api/v1/calls/{id}/consult");
    let consult = support::api::post(
        switch.http,
        &path,
        support::api::SUPERVISOR,
        r#"{"to":"1002"}"#,
    );
    assert_eq!(consult.status, 200, "{consult:?}");
    assert_eq!(call_in(switch, "consulting"), id);
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    ApiConsult {
        caller,
        caller_anchor: at(rtp),
        agent,
        agent_rtp,
        agent_anchor: at(rtp + 2),
        colleague,
        colleague_rtp,
        id,
    }
}

#[test]
fn api_consult_then_complete_joins_the_caller_to_the_colleague() {
    let rtp = even_port_block();
    let switch = SwitchProc::start("attended-api", &config(rtp));
    let mut c = api_consult(&switch, rtp, JOINED);
    // Agent and colleague talk through the relay's mix, the caller on hold.
    let share = heard(&c.agent_rtp, c.agent_anchor, &c.colleague_rtp, 700.0);
    assert!(share > 0.5, "1002 hears 1001 in the consultation: {share}");

    let path = format!("/api/v1/calls/{}/consult/complete", c.id);
    let done = support::api::post(switch.http, &path, support::api::SUPERVISOR, "");
    assert_eq!(done.status, 200, "{done:?}");
    c.agent.expect_success();
    let share = heard(&c.caller.rtp, c.caller_anchor, &c.colleague_rtp, 1000.0);
    assert!(
        share > 0.5,
        "the caller's tone reaches 1002 after the transfer: {share}"
    );
    let again = support::api::post(switch.http, &path, support::api::SUPERVISOR, "");
    assert_eq!(
        (again.status, &again.body["error"]),
        (409, &serde_json::json!("not_consulting"))
    );

    c.caller.bye();
    c.colleague.expect_success();
    let (r, log) = record_of_the_call(&switch);
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.transfers.as_deref(), Some("1002"));
    let consult = (
        "consult".to_string(),
        Some("1001".to_string()),
        Some("1002".to_string()),
    );
    let transfer = (
        "transfer".to_string(),
        Some("1001".to_string()),
        Some("1002".to_string()),
    );
    assert!(log.contains(&consult) && log.contains(&transfer), "{log:?}");
}

#[test]
fn api_consult_then_cancel_gives_the_caller_back_to_the_agent() {
    let rtp = even_port_block();
    let switch = SwitchProc::start("attended-api-cancel", &config(rtp));
    let mut c = api_consult(&switch, rtp, "");
    let share = heard(&c.agent_rtp, c.agent_anchor, &c.colleague_rtp, 700.0);
    assert!(share > 0.5, "1002 hears 1001 in the consultation: {share}");
    let base = format!("/api/v1/calls/{}/consult", c.id);
    let busy = support::api::post(
        switch.http,
        &base,
        support::api::SUPERVISOR,
        r#"{"to":"1002"}"#,
    );
    assert_eq!(
        (busy.status, &busy.body["error"]),
        (409, &serde_json::json!("consulting"))
    );
    let bad = support::api::post(switch.http, &base, support::api::SUPERVISOR, "{}");
    assert_eq!(bad.status, 400, "{bad:?}");

    let cancel = support::api::post(
        switch.http,
        &format!("{base}/cancel"),
        support::api::SUPERVISOR,
        "",
    );
    assert_eq!(cancel.status, 200, "{cancel:?}");
    c.colleague.expect_success();
    assert_eq!(call_in(&switch, "talking"), c.id);
    let share = heard(&c.caller.rtp, c.caller_anchor, &c.agent_rtp, 1000.0);
    assert!(share > 0.5, "1001 hears the caller again: {share}");
    let none = support::api::post(
        switch.http,
        &format!("{base}/cancel"),
        support::api::SUPERVISOR,
        "",
    );
    assert_eq!(
        (none.status, &none.body["error"]),
        (409, &serde_json::json!("not_consulting"))
    );

    c.caller.bye();
    c.agent.expect_success();
    let (r, log) = record_of_the_call(&switch);
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert_eq!(r.transfers.as_deref(), Some(""));
    assert!(log.iter().any(|l| l.0 == "consult_end"), "{log:?}");
    assert!(log.iter().all(|l| l.0 != "transfer"), "{log:?}");
}

/// Replaces value of a dialog as a Refer-To header parameter carries it.
fn replaces_param(call_id: &str, to_tag: &str, from_tag: &str) -> String {
    let call_id = call_id.replace('@', "%40");
    format!("{call_id}%3Bto-tag%3D{to_tag}%3Bfrom-tag%3D{from_tag}")
}

/// The desk phone's network conference key on the wire (RFC 4579 ad hoc,
/// `tests/sipp/agent_conference_key.xml`): with the caller held and 1002
/// consulted, 1001's phone INVITEs the conference factory and REFERs the
/// focus with Replaces naming its two dialogs. Checked: the focus answers
/// with `isfocus` and both REFERs end in `200 OK` (the scenario checks),
/// the switch BYEs 1001's old customer dialog and its consultation, 1002
/// is re-INVITEd into the caller's call and hears the caller's tone, and
/// the one record of the call keeps 1001 as its agent.
#[test]
fn a_phones_conference_key_mixes_the_caller_and_the_consulted_agent() {
    let rtp = even_port_block();
    let switch = SwitchProc::start("conference-key", &config(rtp));
    let (b, b_rtp) = colleague(&switch, JOINED);
    let (mut caller, caller_anchor, desk) = consulting(&switch);
    let (consult_id, consult_tag, switch_to) = desk.consult.clone().unwrap();
    let to_tag = switch_to.split("tag=").nth(1).unwrap().to_string();
    let offer = desk.offer.clone().unwrap();
    let customer = offer.call_id().to_string();
    let switch_tag = offer.from().tag().unwrap().to_string();

    let port = support::free_udp_port().to_string();
    let key = Sipp::start(
        &switch.dir,
        "agent_conference_key.xml",
        &[
            ("@USER@", "1001"),
            ("@FACTORY@", "conference"),
            (
                "@CUSTOMER_REPLACES@",
                &replaces_param(&customer, &switch_tag, "desk1"),
            ),
            (
                "@CONSULT_REPLACES@",
                &replaces_param(&consult_id, &to_tag, &consult_tag),
            ),
        ],
        &[
            "-m",
            "1",
            "-p",
            &port,
            "-au",
            "1001",
            "-ap",
            "demo-1001",
            "-key",
            "contact_port",
            &port,
        ],
        Some(switch.sip),
    );
    // 1001's desk answers the BYEs of its two replaced dialogs.
    let mut seen = Vec::new();
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while seen.len() < 2 {
        assert!(Instant::now() < deadline, "BYEs to 1001's desk: {seen:?}");
        let Some(msg) = desk.phone.try_recv(Duration::from_millis(200)) else {
            continue;
        };
        if msg.method().is_some_and(|m| m.as_str() == "BYE") {
            desk.respond(&msg, 200, "", None);
            seen.push(msg.call_id().to_string());
        }
    }
    seen.sort();
    let mut expected = vec![customer, consult_id];
    expected.sort();
    assert_eq!(seen, expected, "1001's old dialogs are hung up");

    // The caller's tone reaches 1002 through the conference.
    let share = heard(&caller.rtp, caller_anchor, &b_rtp, 1000.0);
    assert!(share > 0.5, "the caller's 1 kHz tone reaches 1002: {share}");

    caller.bye();
    key.expect_success();
    b.expect_success();
    let (r, _log) = record_of_the_call(&switch);
    assert_eq!(r.agent.as_deref(), Some("1001"));
    assert_eq!(r.outcome, "completed");
}
