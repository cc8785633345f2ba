//! The pure switch core with `[media]`, in virtual time and without
//! sockets: a queued caller's offer takes two port pairs and is answered
//! early (183) with our SDP; the core tells the relay what to open and play
//! (`Output::Media`), re-announces at exactly `announce_every`, ignores the
//! relay's silence report before an answer, and gives the ports back when
//! the caller hangs up.

// One clock read gives the base instant; virtual time runs from there.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard::call::CallRef;
use switchyard::config::Config;
use switchyard::media::sdp::{self, Codec};
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
skills = { support = 5 }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.1"]

[dids]
"5550200" = { queue = "support" }

[[queues]]
name = "support"
requires = "support:1"

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

fn request(method: &str, extra: &str, body: &str) -> Bytes {
    let mut m = format!(
        "{method} sip:5550200@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKq1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c1\r\nTo: <sip:5550200@127.0.0.1>{extra}\r\n\
         Call-ID: queued-1\r\nCSeq: 1 {method}\r\nContact: <sip:c@10.0.0.1:5060>\r\n"
    );
    if body.is_empty() {
        m.push_str("Content-Length: 0\r\n\r\n");
    } else {
        m.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    Bytes::from(m)
}

/// Everything the core wants done: SIP messages sent, media commands.
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

fn plays(media: &[MediaCommand]) -> Vec<Vec<String>> {
    media
        .iter()
        .filter_map(|c| match c {
            MediaCommand::Play { intro, music, .. } => {
                assert_eq!(music, &vec!["hold_music".to_string()]);
                Some(intro.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_queued_caller_is_answered_early_and_hears_its_position_every_announce_period() {
    let cfg = Config::parse(CONFIG, Path::new("media.toml")).unwrap();
    let t0 = Instant::now();
    let mut switch = Switch::new(Plan::from_config(&cfg), 7, t0);
    switch.handle_datagram(t0, carrier(), request("INVITE", "", SDP));
    let (sip, media) = drain(&mut switch);

    let statuses: Vec<u16> = sip.iter().filter_map(Message::status).collect();
    assert_eq!(statuses, vec![100, 183]);
    let answer = sdp::parse(std::str::from_utf8(sip[1].body()).unwrap()).unwrap();
    let ours: SocketAddr = "127.0.0.1:20000".parse().unwrap();
    assert_eq!(answer.rtp, Some(ours));
    assert_eq!(answer.telephone_event, Some(101));
    let call = CallRef(1);
    assert_eq!(
        media[..2],
        [
            MediaCommand::Open {
                call,
                leg: MediaLeg::Caller,
                port: 20_000
            },
            MediaCommand::Open {
                call,
                leg: MediaLeg::Agent,
                port: 20_002
            },
        ]
    );
    match &media[2] {
        MediaCommand::SetRemote { leg, remote, .. } => {
            assert_eq!(*leg, MediaLeg::Caller);
            assert_eq!(remote.rtp, Some("10.0.0.9:4000".parse().unwrap()));
            assert_eq!((remote.codec, remote.codec_pt), (Codec::Pcmu, 0));
        }
        other => panic!("expected the caller's remote, got {other:?}"),
    }
    assert_eq!(plays(&media), vec![vec!["caller_number", "n1"]]);
    assert_eq!(switch.media_ports(), Some((3, 5)));

    // The relay's silence report means nothing before an answer.
    switch.handle_media(t0 + Duration::from_secs(10), MediaInput::Timeout { call });
    let (sip, media) = drain(&mut switch);
    assert!(sip.is_empty() && media.is_empty());
    assert_eq!(switch.stats().media_timeouts, 0);

    // Announcements fall at exactly t0 + 30 s and t0 + 60 s.
    let mut announced = Vec::new();
    let mut steps = 0;
    while let Some(at) = switch.poll_timeout() {
        if at > t0 + Duration::from_secs(61) || steps > 1_000 {
            break;
        }
        steps += 1;
        switch.handle_timeout(at);
        let (_, media) = drain(&mut switch);
        if !plays(&media).is_empty() {
            announced.push(at - t0);
            assert_eq!(plays(&media), vec![vec!["caller_number", "n1"]]);
        }
    }
    assert_eq!(
        announced,
        vec![Duration::from_secs(30), Duration::from_secs(60)]
    );

    // The caller hangs up: 487, the relay closes the call, ports come back.
    let t1 = t0 + Duration::from_secs(61);
    switch.handle_datagram(t1, carrier(), request("CANCEL", "", ""));
    let (sip, media) = drain(&mut switch);
    let statuses: Vec<u16> = sip.iter().filter_map(Message::status).collect();
    assert_eq!(statuses, vec![200, 487]);
    assert_eq!(media, vec![MediaCommand::Release { call }]);
    assert_eq!(switch.media_ports(), Some((5, 5)));
}
