//! IVR menus on the wire: a carrier's caller on the menu DID gets 183 with
//! our SDP and hears the menu prompt; RFC 4733 digit 2 puts it in the sales
//! queue (only a sales agent is registered, and it rings), silence leads
//! to the menu's default after the replays, and a SIP INFO digit 0 rings
//! the agent the option names. A caller speaking only G.722 hears the
//! prompt in G.722.

// A driver of real processes and sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use support::scenarios::AGENT_ANSWERS_MEDIA_AT;
use support::{
    assert_no_rtp_drops, free_port_block, free_udp_port, sipp_register, test_config, Phone, Sipp,
    SwitchProc,
};
use switchyard::media::dtmf::EventPayload;
use switchyard::media::prompts::Prompt;
use switchyard::media::sdp::Codec;
use switchyard::sip::parse::Message;

/// The test dialplan with media, prompts from the repository, and DID
/// 5550400 on a menu whose timeout, retries and default are `menu`.
fn ivr_config(lo: u16, menu: &str) -> String {
    let prompts = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let base = test_config("10s", free_udp_port())
        .replace("[dids]\n", "[dids]\n\"5550400\" = { menu = \"main\" }\n");
    format!(
        "{base}\n[[menus]]\nname = \"main\"\nprompt = \"menu_main\"\n\
         options = {{ \"1\" = \"queue:support\", \"2\" = \"queue:sales\", \"0\" = \"agent:1001\" }}\n{menu}\n\
         [media]\nrtp_ports = \"{lo}-{}\"\nprompts = \"{}\"\nannounce_every = \"30s\"\n",
        lo + 7,
        prompts.display()
    )
}

/// A registered agent phone that answers with audio at a test socket.
fn agent(switch: &SwitchProc, user: &str, lo: u16) -> Sipp {
    let agent_port = free_udp_port();
    let agent_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent_rtp_port = agent_rtp.local_addr().unwrap().port().to_string();
    let re = format!("c=IN IP4 127.0.0.1(.|\\r|\\n)*m=audio {} RTP/AVP", lo + 2);
    let sipp = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", AGENT_ANSWERS_MEDIA_AT),
            ("@MEDIA_RE@", &re),
            ("@AGENT_RTP@", &agent_rtp_port),
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
    sipp
}

/// A carrier's caller on the menu DID, with its audio socket.
struct Caller {
    phone: Phone,
    rtp: UdpSocket,
    t: String,
    /// The 183's To (with our tag), for INFO, ACK and BYE.
    to: String,
    /// Where the switch takes the caller's RTP.
    switch_rtp: SocketAddr,
}

impl Caller {
    fn call(switch: &SwitchProc) -> Caller {
        Self::call_offering(switch, "0", "a=rtpmap:0 PCMU/8000")
    }

    /// Calls the menu DID offering payload type `pt` (with its `rtpmap`)
    /// and telephone-event.
    fn call_offering(switch: &SwitchProc, pt: &str, rtpmap: &str) -> Caller {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let rtp_port = rtp.local_addr().unwrap().port();
        let mut phone = Phone::new(switch.sip);
        let t = phone.token();
        let (sip, addr) = (switch.sip, phone.addr);
        let sdp = format!(
            "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP {pt} 101\r\n{rtpmap}\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        );
        let invite = format!(
            "INVITE sip:5550400@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: <sip:5550400@{sip}>\r\nCall-ID: c{t}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{addr}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        phone.send(invite.as_bytes());
        let progress = loop {
            let msg = phone.recv();
            if msg.status() == Some(183) {
                break msg;
            }
            assert_eq!(msg.status(), Some(100), "a menu caller gets 100 then 183");
        };
        let body = std::str::from_utf8(progress.body()).unwrap();
        let m_port: u16 = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("m=audio port");
        Caller {
            to: progress.to().as_str().to_string(),
            phone,
            rtp,
            t,
            switch_rtp: format!("127.0.0.1:{m_port}").parse().unwrap(),
        }
    }

    /// RTP payloads heard for `how_long`.
    fn listen(&self, how_long: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + how_long;
        let mut buf = [0u8; 2048];
        let mut payloads = Vec::new();
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.rtp.recv_from(&mut buf) {
                payloads.push(buf[12..n].to_vec());
            }
        }
        payloads
    }

    /// One RFC 4733 digit: a start, an update and three end packets (§2.5.1).
    fn press(&self, event: u8) {
        for (k, end) in [(1u16, false), (2, false), (3, true), (3, true), (3, true)] {
            let payload = EventPayload {
                event,
                end,
                volume: 10,
                duration: 160 * k,
            }
            .to_bytes();
            let mut pkt = vec![0x80, 101];
            pkt.extend_from_slice(&k.to_be_bytes());
            pkt.extend_from_slice(&8_000u32.to_be_bytes());
            pkt.extend_from_slice(&0xD7u32.to_be_bytes());
            pkt.extend_from_slice(&payload);
            self.rtp.send_to(&pkt, self.switch_rtp).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn in_dialog(&self, method: &str, cseq: u32, extra: &str, body: &str) -> String {
        let (sip, addr, t, to) = (self.phone.server, self.phone.addr, &self.t, &self.to);
        format!(
            "{method} sip:5550400@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t}{method}{cseq};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: {to}\r\nCall-ID: c{t}\r\nCSeq: {cseq} {method}\r\n\
             {extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn send_info(&self, digit: char) {
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        let info = self.in_dialog("INFO", 2, "Content-Type: application/dtmf-relay\r\n", &body);
        self.phone.send(info.as_bytes());
    }

    /// Waits for the 200 to the INVITE, ACKs it, talks briefly, hangs up.
    fn answered_then_hang_up(&self) {
        let ok = loop {
            let msg: Message = self.phone.recv();
            if msg.status() == Some(200) && msg.cseq().seq == 1 {
                break msg;
            }
        };
        assert_eq!(ok.to().as_str(), self.to, "one dialog from 183 to 200");
        self.phone.send(self.in_dialog("ACK", 1, "", "").as_bytes());
        std::thread::sleep(Duration::from_millis(300));
        self.phone.send(self.in_dialog("BYE", 3, "", "").as_bytes());
    }
}

fn prompt(name: &str) -> Prompt {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("prompts/{name}.wav"));
    Prompt::from_wav(name, &std::fs::read(path).expect("prompt file")).expect("prompt decodes")
}

fn frames_heard(prompt: &Prompt, payloads: &[Vec<u8>]) -> usize {
    frames_heard_in(Codec::Pcmu, prompt, payloads)
}

fn frames_heard_in(codec: Codec, prompt: &Prompt, payloads: &[Vec<u8>]) -> usize {
    (0..prompt.frames())
        .filter(|&i| {
            let frame = prompt.frame(codec, i).expect("pre-encoded frame");
            payloads.iter().any(|p| p.as_slice() == frame)
        })
        .count()
}

#[test]
fn rfc4733_digit_2_puts_the_caller_in_the_sales_queue_and_a_sales_agent_rings() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let menu = "timeout = \"10s\"\nretries = 2\ndefault = \"queue:support\"";
    let switch = SwitchProc::start("media-ivr-digit", &ivr_config(lo, menu));
    // Agent 1003 has only the sales skill: only the sales queue offers to it.
    let agent = agent(&switch, "1003", lo);
    let caller = Caller::call(&switch);
    let heard = caller.listen(Duration::from_millis(1500));
    assert!(
        frames_heard(&prompt("menu_main"), &heard) > 20,
        "the menu prompt was not heard ({} packets)",
        heard.len()
    );
    caller.press(2);
    caller.answered_then_hang_up();
    agent.expect_success();
    switch.wait_metric("switchyard_ivr_exits_total{how=\"digit\"}", |v| v == 1.0);
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}

#[test]
fn a_g722_caller_hears_the_menu_in_g722_and_reaches_a_pcmu_agent() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let menu = "timeout = \"10s\"\nretries = 2\ndefault = \"queue:support\"";
    let config = ivr_config(lo, menu).replace(
        "[media]\n",
        "[media]\ncodecs = [\"pcmu\", \"pcma\", \"g722\"]\n",
    );
    let switch = SwitchProc::start("media-ivr-g722", &config);
    let agent = agent(&switch, "1003", lo);
    let caller = Caller::call_offering(&switch, "9", "a=rtpmap:9 G722/8000");
    let heard = caller.listen(Duration::from_millis(1500));
    // The prompt's own G.722 frames, byte for byte: not G.711 relabelled.
    assert!(
        frames_heard_in(Codec::G722, &prompt("menu_main"), &heard) > 20,
        "the menu prompt was not heard in G.722 ({} packets)",
        heard.len()
    );
    caller.press(2);
    caller.answered_then_hang_up();
    agent.expect_success();
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}

#[test]
fn without_a_digit_the_caller_goes_to_the_default_after_the_replays() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let menu = "timeout = \"1s\"\nretries = 1\ndefault = \"queue:support\"";
    let switch = SwitchProc::start("media-ivr-default", &ivr_config(lo, menu));
    let agent = agent(&switch, "1001", lo);
    let started = Instant::now();
    let caller = Caller::call(&switch);
    caller.answered_then_hang_up();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the default came before two plays of 1 s"
    );
    agent.expect_success();
    switch.wait_metric("switchyard_ivr_exits_total{how=\"default\"}", |v| v == 1.0);
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}

#[test]
fn a_sip_info_digit_0_rings_the_agent_the_option_names() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let menu = "timeout = \"10s\"\nretries = 2";
    let switch = SwitchProc::start("media-ivr-info", &ivr_config(lo, menu));
    let agent = agent(&switch, "1001", lo);
    let caller = Caller::call(&switch);
    caller.send_info('0');
    caller.answered_then_hang_up();
    agent.expect_success();
    switch.wait_metric("switchyard_ivr_exits_total{how=\"digit\"}", |v| v == 1.0);
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
}

#[test]
fn the_example_sipp_caller_presses_2_in_band_and_reaches_the_sales_agent() {
    let block = free_port_block(10);
    let lo = block + block % 2;
    let menu = "timeout = \"10s\"\nretries = 2\ndefault = \"queue:support\"";
    let switch = SwitchProc::start("media-ivr-example", &ivr_config(lo, menu));
    let agent = agent(&switch, "1003", lo);
    let caller = Sipp::start(
        &switch.dir,
        "../../examples/sipp/ivr_caller.xml",
        &[],
        &["-m", "1", "-s", "5550400"],
        Some(switch.sip),
    );
    caller.expect_success();
    agent.expect_success();
    switch.wait_metric("switchyard_ivr_exits_total{how=\"digit\"}", |v| v == 1.0);
    switch.wait_metric("switchyard_calls_total{outcome=\"completed\"}", |v| {
        v == 1.0
    });
    // SIPp's own dtmf_2833_2.pcap, as it ships: every packet taken.
    assert_no_rtp_drops(&switch);
}
