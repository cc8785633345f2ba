use super::*;
use crate::switch::announce::announcement;
use crate::switch::digits::info_digit;

const OFFER: &str = "v=0\r\no=carrier 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn anchoring(lo: u16, hi: u16) -> Anchoring {
    Anchoring::new(MediaPlan {
        bind_ip: IpAddr::from([127, 0, 0, 1]),
        advertise_ip: IpAddr::from([192, 0, 2, 1]),
        port_min: lo,
        port_max: hi,
        inactivity_timeout: Duration::from_secs(60),
        codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::Opus],
        prompts_dir: PathBuf::from("prompts"),
        queue_music: "hold_music".into(),
        announce_every: Duration::from_secs(30),
        hold_music: "hold_music".into(),
        recordings: PathBuf::from("recordings"),
    })
    .expect("range holds pairs")
}

#[test]
fn the_agent_is_offered_our_address_with_the_callers_codec_first() {
    let mut a = anchoring(20_000, 20_009);
    let m = a.anchor(OFFER.as_bytes(), (1, 2)).unwrap();
    assert_eq!((m.a_port, m.b_port), (20_000, 20_002));
    let offer = sdp::parse(std::str::from_utf8(&m.offer_for_b).unwrap()).unwrap();
    assert_eq!(offer.rtp, Some("192.0.2.1:20002".parse().unwrap()));
    let kinds: Vec<(u8, FormatKind)> = offer.codecs.iter().map(|f| (f.pt, f.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (8, FormatKind::Audio(Codec::Pcma)),
            (0, FormatKind::Audio(Codec::Pcmu)),
            (OPUS_PT, FormatKind::Audio(Codec::Opus)),
        ]
    );
    assert_eq!(offer.telephone_event, Some(101));
    // The caller is answered on its own pair, in the codec it prefers.
    let r = m.caller_remote();
    assert_eq!(r.rtp, Some("10.0.0.9:4000".parse().unwrap()));
    assert_eq!(
        (r.codec, r.codec_pt, r.telephone_event),
        (Codec::Pcma, 8, Some(101))
    );
}

#[test]
fn announcements_say_position_and_rounded_minutes_and_skip_what_has_no_prompt() {
    let names = |p, w: Option<u64>| announcement(p, w.map(Duration::from_secs));
    assert_eq!(
        names(Some(3), Some(150)),
        vec!["caller_number", "n3", "expected_wait", "n3", "minutes"]
    );
    assert_eq!(
        names(Some(1), Some(20)),
        vec!["caller_number", "n1", "expected_wait", "less_than_a_minute"]
    );
    assert_eq!(names(None, Some(89)), vec!["expected_wait", "n1", "minute"]);
    // Caller 21 and an hour's wait have no prompts: nothing wrong is said.
    assert!(names(Some(21), Some(3600)).is_empty());
}

#[test]
fn info_bodies_give_their_digit_and_junk_gives_none() {
    let relay = "application/dtmf-relay";
    assert_eq!(
        info_digit(relay, b"Signal=5\r\nDuration=160\r\n"),
        Some('5')
    );
    assert_eq!(info_digit(relay, b"signal = #\r\n"), Some('#'));
    assert_eq!(info_digit(relay, b"Signal=11\r\n"), Some('#'));
    assert_eq!(info_digit(relay, b"Signal=d\r\n"), Some('D'));
    assert_eq!(info_digit("application/dtmf", b"7\r\n"), Some('7'));
    assert_eq!(info_digit(relay, b"Signal=E\r\n"), None);
    assert_eq!(info_digit(relay, b"Duration=160\r\n"), None);
    assert_eq!(info_digit(relay, &[0xff, 0xfe]), None);
}

#[test]
fn an_offer_without_our_codecs_is_488_and_takes_no_ports() {
    let mut a = anchoring(20_000, 20_009);
    let g729 = OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 18").replace(
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n",
        "a=rtpmap:18 G729/8000\r\n",
    );
    let err = a.anchor(g729.as_bytes(), (1, 2)).unwrap_err();
    assert!(matches!(
        err,
        AnchorError::BadOffer(SdpError::NoCommonCodec { .. })
    ));
    assert_eq!(err.status(), 488);
    assert_eq!(a.anchor(b"not sdp", (1, 2)).unwrap_err().status(), 488);
    assert_eq!(a.pool.in_use(), 0);
}

#[test]
fn running_out_of_pairs_is_503_and_gives_back_the_half_taken() {
    // Three pairs: one call takes two, the next finds one and returns it.
    let mut a = anchoring(20_000, 20_005);
    let first = a.anchor(OFFER.as_bytes(), (1, 2)).unwrap();
    let err = a.anchor(OFFER.as_bytes(), (1, 2)).unwrap_err();
    assert_eq!(err.status(), 503);
    assert_eq!(a.pool.in_use(), 2);
    a.release(&first);
    assert_eq!(a.pool.in_use(), 0);
    assert!(a.anchor(OFFER.as_bytes(), (1, 2)).is_ok());
}

#[test]
fn only_a_failure_on_the_callers_or_agents_media_ends_the_call() {
    let call = CallRef(3);
    let open = |leg| MediaCommand::Open {
        call,
        leg,
        port: 20_000,
    };
    assert_eq!(
        open(MediaLeg::Caller).on_failure(),
        MediaInput::Failed { call }
    );
    assert_eq!(
        MediaCommand::Bridge { call }.on_failure(),
        MediaInput::Failed { call }
    );
    assert_eq!(
        open(MediaLeg::Supervisor).on_failure(),
        MediaInput::SupervisionFailed { call }
    );
    let record = MediaCommand::Record {
        call,
        path: PathBuf::from("r.wav"),
    };
    assert_eq!(record.on_failure(), MediaInput::RecordingFailed { call });
    let digit = MediaCommand::SendDigit {
        call,
        leg: MediaLeg::Agent,
        digit: '1',
    };
    assert_eq!(digit.on_failure(), MediaInput::DigitLost { call });
}
