//! The pure switch core with an IVR menu, in virtual time and without
//! sockets: a caller on the menu's DID is answered early (183) and hears
//! the menu prompt, again at exactly each `timeout`, then goes to the
//! default queue; a digit (RFC 4733 from the relay, or SIP INFO) sends it
//! where the option says, with the DID's priority and attributes.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard::acd::CallId;
use switchyard::call::CallRef;
use switchyard::config::Config;
use switchyard::sip::parse::Message;
use switchyard::sip::{Peer, Transport};
use switchyard::switch::{MediaCommand, MediaInput, MediaLeg, Output, Plan, Switch};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"

[[agents]]
id = "1001"
password = "pw-1001"
skills = { support = 5, sales = 5 }
attributes = { language = "en" }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]

[dids]
"5550400" = { menu = "main", priority = 4, attributes = { language = "en" } }
"5550401" = { menu = "strict" }

[[queues]]
name = "support"
requires = "support:1"

[[queues]]
name = "sales"
requires = "sales:1"

[[menus]]
name = "main"
prompt = "menu_main"
options = { "1" = "queue:support", "2" = "queue:sales", "0" = "agent:1001" }
timeout = "5s"
retries = 2
default = "queue:support"

[[menus]]
name = "strict"
prompt = "menu_main"
options = { "2" = "queue:sales" }
timeout = "4s"
retries = 1

[media]
rtp_ports = "20000-20009"
rtp_address = "127.0.0.1"
announce_every = "30s"
"#;

const SDP: &str = "v=0\r\no=carrier 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn carrier() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "10.0.0.1:5060".parse().unwrap(),
    }
}

fn invite(did: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:{did}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKm1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c1\r\nTo: <sip:{did}@127.0.0.1>\r\n\
         Call-ID: menu-1\r\nCSeq: 1 INVITE\r\nContact: <sip:c@10.0.0.1:5060>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    ))
}

/// A SIP INFO digit inside the early dialog the 183 set up.
fn info(did: &str, to_tag: &str, digit: char) -> Bytes {
    let body = format!("Signal={digit}\r\nDuration=160\r\n");
    Bytes::from(format!(
        "INFO sip:{did}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKi1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c1\r\nTo: <sip:{did}@127.0.0.1>;tag={to_tag}\r\n\
         Call-ID: menu-1\r\nCSeq: 2 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn drain(switch: &mut Switch) -> (Vec<Message>, Vec<MediaCommand>) {
    let (mut sip, mut media) = (Vec::new(), Vec::new());
    while let Some(out) = switch.poll_output() {
        match out {
            Output::Transmit { bytes, .. } => sip.push(Message::parse(bytes).unwrap()),
            Output::Media(c) => media.push(c),
            Output::CallEnded(_) | Output::Event(_) => {}
            Output::Tx(c) => unreachable!("a core without shards holds its transactions: {c:?}"),
        }
    }
    (sip, media)
}

/// The (intro, music) of every Play command.
fn plays(media: &[MediaCommand]) -> Vec<(Vec<String>, Vec<String>)> {
    media
        .iter()
        .filter_map(|c| match c {
            MediaCommand::Play {
                leg, intro, music, ..
            } => {
                assert_eq!(*leg, MediaLeg::Caller);
                Some((intro.clone(), music.clone()))
            }
            _ => None,
        })
        .collect()
}

fn menu_prompt() -> (Vec<String>, Vec<String>) {
    (vec!["menu_main".to_string()], Vec::new())
}

fn start(did: &str) -> (Switch, Instant, String) {
    let cfg = Config::parse(CONFIG, Path::new("ivr.toml")).unwrap();
    let t0 = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
    switch.handle_datagram(t0, carrier(), invite(did));
    let (sip, media) = drain(&mut switch);
    let statuses: Vec<u16> = sip.iter().filter_map(Message::status).collect();
    assert_eq!(statuses, vec![100, 183], "a menu caller gets early media");
    assert!(!sip[1].body().is_empty(), "the 183 carries our SDP");
    assert_eq!(plays(&media), vec![menu_prompt()]);
    let tag = sip[1].to().tag().unwrap().to_string();
    (switch, t0, tag)
}

/// Steps the core to each deadline up to `until`; the Play commands and when.
fn run_until(switch: &mut Switch, until: Instant, t0: Instant) -> Vec<(Duration, Vec<String>)> {
    let mut seen = Vec::new();
    for _ in 0..1_000 {
        let Some(at) = switch.poll_timeout() else {
            break;
        };
        if at > until {
            break;
        }
        switch.handle_timeout(at);
        let (_, media) = drain(switch);
        for (intro, music) in plays(&media) {
            let mut names = intro;
            names.extend(music);
            seen.push((at - t0, names));
        }
    }
    seen
}

fn queue_of(switch: &Switch) -> Option<String> {
    let (q, _) = switch.router().call_queue(CallId(1))?;
    switch.router().queue_name(q).map(str::to_string)
}

#[test]
fn silence_replays_the_menu_at_each_timeout_then_the_default_queue_takes_the_caller() {
    let (mut switch, t0, _) = start("5550400");
    let secs = Duration::from_secs;
    let seen = run_until(&mut switch, t0 + secs(16), t0);
    let menu = vec!["menu_main".to_string()];
    let queue_audio = vec![
        "caller_number".to_string(),
        "n1".to_string(),
        "hold_music".to_string(),
    ];
    assert_eq!(
        seen,
        vec![
            (secs(5), menu.clone()),
            (secs(10), menu),
            (secs(15), queue_audio)
        ]
    );
    assert_eq!(queue_of(&switch).as_deref(), Some("support"));
    assert_eq!(switch.stats().menu_defaulted, 1);
    // The DID's attributes went with the caller to the queue.
    let (_, attrs) = switch.router().call_queue(CallId(1)).unwrap();
    assert_eq!(attrs, &[("language".to_string(), "en".to_string())]);
}

#[test]
fn an_rfc4733_digit_sends_the_caller_to_its_queue_and_stops_the_menu() {
    let (mut switch, t0, _) = start("5550400");
    let secs = Duration::from_secs;
    // A wrong key first: the prompt again, the wait restarted.
    let digit = |d| MediaInput::Digit {
        call: CallRef(1),
        leg: MediaLeg::Caller,
        digit: d,
    };
    switch.handle_media(t0 + secs(2), digit('7'));
    let (_, media) = drain(&mut switch);
    assert_eq!(plays(&media), vec![menu_prompt()]);
    assert_eq!(switch.poll_timeout(), Some(t0 + secs(5)));
    switch.handle_timeout(t0 + secs(5));
    let (_, media) = drain(&mut switch);
    assert!(plays(&media).is_empty(), "the old deadline is stale");
    switch.handle_media(t0 + secs(6), digit('2'));
    let (_, media) = drain(&mut switch);
    assert_eq!(plays(&media)[0].0, vec!["caller_number", "n1"]);
    assert_eq!(queue_of(&switch).as_deref(), Some("sales"));
    assert_eq!(switch.stats().menu_chosen, 1);
    // No menu prompt ever again.
    let seen = run_until(&mut switch, t0 + secs(40), t0);
    assert!(
        seen.iter().all(|(_, names)| names[0] != "menu_main"),
        "{seen:?}"
    );
}

#[test]
fn a_sip_info_digit_picks_the_option_too() {
    let (mut switch, t0, tag) = start("5550400");
    switch.handle_datagram(
        t0 + Duration::from_secs(1),
        carrier(),
        info("5550400", &tag, '1'),
    );
    let (sip, _) = drain(&mut switch);
    assert_eq!(sip[0].status(), Some(200));
    assert_eq!(queue_of(&switch).as_deref(), Some("support"));
}

#[test]
fn an_agent_option_offers_the_agent_and_refuses_480_when_it_is_not_registered() {
    let (mut switch, t0, _) = start("5550400");
    let input = MediaInput::Digit {
        call: CallRef(1),
        leg: MediaLeg::Caller,
        digit: '0',
    };
    switch.handle_media(t0 + Duration::from_secs(1), input);
    let (sip, _) = drain(&mut switch);
    let statuses: Vec<u16> = sip.iter().filter_map(Message::status).collect();
    assert_eq!(statuses, vec![480]);
    assert_eq!(switch.calls_active(), 0);
}

#[test]
fn a_menu_without_default_refuses_480_after_its_last_play() {
    let (mut switch, t0, _) = start("5550401");
    let secs = Duration::from_secs;
    let seen = run_until(&mut switch, t0 + secs(4), t0);
    assert_eq!(seen, vec![(secs(4), vec!["menu_main".to_string()])]);
    switch.handle_timeout(t0 + secs(8));
    let (sip, media) = drain(&mut switch);
    let statuses: Vec<u16> = sip.iter().filter_map(Message::status).collect();
    assert_eq!(statuses, vec![480]);
    assert_eq!(media, vec![MediaCommand::Release { call: CallRef(1) }]);
    assert_eq!(switch.stats().menu_refused, 1);
}

#[test]
fn an_offerless_menu_caller_gets_our_offer_in_the_183_and_is_latched_until_its_ack() {
    let cfg = Config::parse(CONFIG, Path::new("ivr.toml")).unwrap();
    let t0 = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
    let offerless = String::from_utf8(invite("5550400").to_vec())
        .unwrap()
        .replace("Content-Type: application/sdp\r\n", "")
        .replace(
            &format!("Content-Length: {}\r\n\r\n{SDP}", SDP.len()),
            "Content-Length: 0\r\n\r\n",
        );
    switch.handle_datagram(t0, carrier(), Bytes::from(offerless));
    let (sip, media) = drain(&mut switch);
    let statuses: Vec<u16> = sip.iter().filter_map(Message::status).collect();
    assert_eq!(statuses, vec![100, 183]);
    let offer = std::str::from_utf8(sip[1].body()).unwrap();
    assert!(
        offer.contains("m=audio 20000 RTP/AVP 0 8 111 101\r\n"),
        "{offer}"
    );
    assert!(
        offer.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{offer}"
    );
    let caller_remote = media.iter().find_map(|c| match c {
        MediaCommand::SetRemote {
            leg: MediaLeg::Caller,
            remote,
            ..
        } => Some(*remote),
        _ => None,
    });
    let remote = caller_remote.expect("the caller leg is set up");
    assert_eq!(
        remote.rtp, None,
        "where the caller listens is not known yet"
    );
    assert_eq!(plays(&media), vec![menu_prompt()]);
}

#[test]
fn without_media_a_menu_caller_hears_ringing_and_chooses_by_sip_info() {
    let no_media = &CONFIG[..CONFIG.find("[media]").unwrap()];
    let cfg = Config::parse(no_media, Path::new("ivr.toml")).unwrap();
    let t0 = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
    switch.handle_datagram(t0, carrier(), invite("5550400"));
    let (sip, media) = drain(&mut switch);
    let statuses: Vec<u16> = sip.iter().filter_map(Message::status).collect();
    assert_eq!(statuses, vec![100, 180]);
    assert!(media.is_empty());
    let tag = sip[1].to().tag().unwrap().to_string();
    switch.handle_datagram(
        t0 + Duration::from_secs(1),
        carrier(),
        info("5550400", &tag, '2'),
    );
    let (sip, _) = drain(&mut switch);
    assert_eq!(sip[0].status(), Some(200));
    assert_eq!(queue_of(&switch).as_deref(), Some("sales"));
}
