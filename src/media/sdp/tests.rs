use super::*;

fn crlf(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

/// A desk phone behind NAT: private address, PCMU/PCMA/telephone-event.
fn phone_offer() -> String {
    crlf(&[
        "v=0",
        "o=alice 2890844526 2890844526 IN IP4 192.168.1.20",
        "s=-",
        "c=IN IP4 192.168.1.20",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=x-vendor-thing:keep me",
        "a=sendrecv",
    ])
}

/// A WebRTC-ish softphone: Opus first, ICE lines, a=rtcp, video.
fn softphone_offer() -> String {
    crlf(&[
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=ice-options:trickle",
        "m=audio 9000 RTP/AVP 111 0 96",
        "c=IN IP4 203.0.113.5",
        "a=rtcp:9005 IN IP4 203.0.113.5",
        "a=candidate:1 1 udp 2122260223 203.0.113.5 9000 typ host",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:96 telephone-event/8000",
        "a=sendonly",
        "m=video 9002 RTP/AVP 97",
        "c=IN IP4 203.0.113.5",
        "a=rtpmap:97 VP8/90000",
    ])
}

fn anchor() -> Anchor {
    Anchor {
        ip: "198.51.100.1".parse().unwrap(),
        rtp_port: 30_000,
        rtcp_port: 30_001,
    }
}

#[test]
fn phone_offer_yields_address_codecs_and_telephone_event() {
    let sdp = parse(&phone_offer()).unwrap();
    assert_eq!(sdp.rtp, Some("192.168.1.20:49170".parse().unwrap()));
    assert_eq!(sdp.rtcp, Some("192.168.1.20:49171".parse().unwrap()));
    assert_eq!(
        sdp.codecs,
        vec![
            Format {
                pt: 0,
                kind: FormatKind::Audio(Codec::Pcmu)
            },
            Format {
                pt: 8,
                kind: FormatKind::Audio(Codec::Pcma)
            },
        ]
    );
    assert_eq!(sdp.telephone_event, Some(101));
    assert_eq!(sdp.direction, Direction::SendRecv);
}

#[test]
fn softphone_offer_uses_media_level_c_rtcp_attribute_and_direction() {
    let sdp = parse(&softphone_offer()).unwrap();
    assert_eq!(sdp.rtp, Some("203.0.113.5:9000".parse().unwrap()));
    assert_eq!(sdp.rtcp, Some("203.0.113.5:9005".parse().unwrap()));
    assert_eq!(
        sdp.codecs[0],
        Format {
            pt: 111,
            kind: FormatKind::Audio(Codec::Opus)
        }
    );
    assert_eq!(sdp.telephone_event, Some(96));
    assert_eq!(sdp.direction, Direction::SendOnly);
}

#[test]
fn choose_follows_the_offerers_preference_among_supported_codecs() {
    let soft = parse(&softphone_offer()).unwrap();
    let all = [Codec::Pcmu, Codec::Pcma, Codec::Opus];
    assert_eq!(
        choose(&soft, &all).unwrap().codec.kind,
        FormatKind::Audio(Codec::Opus)
    );
    let g711 = choose(&soft, &[Codec::Pcmu, Codec::Pcma]).unwrap();
    assert_eq!(
        g711.codec,
        Format {
            pt: 0,
            kind: FormatKind::Audio(Codec::Pcmu)
        }
    );
    assert_eq!(g711.telephone_event, Some(96));
}

#[test]
fn no_common_codec_is_a_488_naming_what_was_offered() {
    let phone = parse(&phone_offer()).unwrap();
    let err = choose(&phone, &[Codec::Opus]).unwrap_err();
    assert_eq!(
        err,
        SdpError::NoCommonCodec {
            offered: vec![Codec::Pcmu, Codec::Pcma]
        }
    );
    assert_eq!(err.status(), 488);
}

#[test]
fn common_codec_is_none_when_the_legs_must_transcode() {
    let phone = parse(&phone_offer()).unwrap();
    let soft = parse(&softphone_offer()).unwrap();
    assert_eq!(common_codec(&soft, &phone), Some(Codec::Pcmu));
    let opus_only =
        parse(&softphone_offer().replace("RTP/AVP 111 0 96", "RTP/AVP 111 96")).unwrap();
    assert_eq!(common_codec(&opus_only, &phone), None);
}

#[test]
fn rewrite_points_c_and_m_at_the_anchor_and_keeps_unknown_lines() {
    let phone = parse(&phone_offer()).unwrap();
    let choice = choose(&phone, &[Codec::Pcmu]).unwrap();
    let out = phone.rewrite(anchor(), &choice.formats());
    assert!(
        out.contains("o=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\n"),
        "{out}"
    );
    assert!(out.contains("c=IN IP4 198.51.100.1\r\n"), "{out}");
    assert!(out.contains("m=audio 30000 RTP/AVP 0 101\r\n"), "{out}");
    assert!(
        out.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{out}"
    );
    assert!(out.contains("a=fmtp:101 0-15\r\n"), "{out}");
    assert!(out.contains("a=x-vendor-thing:keep me\r\n"), "{out}");
    assert!(out.contains("a=ptime:20\r\n"), "{out}");
    assert!(!out.contains("192.168.1.20"), "{out}");
    // The rewritten SDP parses back to the anchor.
    let back = parse(&out).unwrap();
    assert_eq!(back.rtp, Some("198.51.100.1:30000".parse().unwrap()));
}

#[test]
fn rewrite_drops_ice_rejects_video_and_moves_rtcp() {
    let soft = parse(&softphone_offer()).unwrap();
    let choice = choose(&soft, &[Codec::Opus]).unwrap();
    let out = soft.rewrite(anchor(), &choice.formats());
    assert!(!out.contains("candidate"), "{out}");
    assert!(!out.contains("ice-options"), "{out}");
    assert!(out.contains("m=audio 30000 RTP/AVP 111 96\r\n"), "{out}");
    assert!(
        out.contains("a=fmtp:111 minptime=10;useinbandfec=1\r\n"),
        "{out}"
    );
    assert!(out.contains("a=rtcp:30001\r\n"), "{out}");
    assert!(out.contains("m=video 0 RTP/AVP 97\r\n"), "{out}");
    assert!(!out.contains("203.0.113.5"), "{out}");
}

#[test]
fn rewrite_adds_rtpmaps_for_formats_the_party_did_not_offer() {
    // Transcoding: the phone offered G.711 only, the agent leg gets Opus.
    let phone = parse(&phone_offer()).unwrap();
    let formats = [
        Format {
            pt: 111,
            kind: FormatKind::Audio(Codec::Opus),
        },
        Format {
            pt: 0,
            kind: FormatKind::Audio(Codec::Pcmu),
        },
        Format {
            pt: 101,
            kind: FormatKind::TelephoneEvent,
        },
    ];
    let out = phone.rewrite(anchor(), &formats);
    assert!(out.contains("m=audio 30000 RTP/AVP 111 0 101\r\n"), "{out}");
    assert!(out.contains("a=rtpmap:111 opus/48000/2\r\n"), "{out}");
    let back = parse(&out).unwrap();
    assert_eq!(back.codecs.len(), 2);
}

#[test]
fn hold_with_zero_address_has_no_peer() {
    let held = phone_offer()
        .replace("c=IN IP4 192.168.1.20", "c=IN IP4 0.0.0.0")
        .replace("a=sendrecv", "a=inactive");
    let sdp = parse(&held).unwrap();
    assert_eq!(sdp.rtp, None);
    assert_eq!(sdp.direction, Direction::Inactive);
}

#[test]
fn malformed_bodies_are_errors_not_panics() {
    type Check = fn(&SdpError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        ("".into(), |e| matches!(e, SdpError::Malformed { .. })),
        ("hello\r\n".into(), |e| {
            matches!(e, SdpError::Malformed { .. })
        }),
        (phone_offer().replace("m=audio 49170", "m=audio 0"), |e| {
            *e == SdpError::NoAudio
        }),
        // rtc-sdp itself refuses ports beyond u16.
        (
            phone_offer().replace("m=audio 49170", "m=audio 70000"),
            |e| matches!(e, SdpError::BadPort { .. } | SdpError::Malformed { .. }),
        ),
        (phone_offer().replace("RTP/AVP", "RTP/SAVP"), |e| {
            matches!(e, SdpError::UnsupportedTransport { .. })
        }),
        (
            phone_offer().replace("c=IN IP4 192.168.1.20\r\n", ""),
            |e| *e == SdpError::NoConnection,
        ),
        (
            phone_offer().replace("c=IN IP4 192.168.1.20", "c=IN IP4 pbx.example"),
            |e| matches!(e, SdpError::BadAddress { .. }),
        ),
        (phone_offer().replace("0 8 101", "0 8 abc"), |e| {
            matches!(e, SdpError::BadPayloadType { .. })
        }),
        (phone_offer().replace("0 8 101", "0 8 200"), |e| {
            matches!(e, SdpError::BadPayloadType { .. })
        }),
        ("x".repeat(SDP_BYTES_MAX + 1), |e| e.status() == 413),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let err = parse(text).expect_err(&format!("case {i} parsed"));
        assert!(want(&err), "case {i}: {err}");
    }
    let many = phone_offer() + &"m=video 0 RTP/AVP 97\r\n".repeat(MEDIA_SECTIONS_MAX);
    assert!(matches!(parse(&many), Err(SdpError::TooManyMedia { .. })));
}

#[test]
fn truncated_offers_never_panic() {
    let text = softphone_offer();
    for cut in 0..text.len() {
        let _ = parse(&text[..cut]);
    }
}

#[test]
fn g722_is_payload_type_9_with_an_8khz_rtp_clock() {
    // A desk phone offering G.722 first, by static type and by rtpmap.
    let desk = parse(&phone_offer().replace("RTP/AVP 0 8 101", "RTP/AVP 9 0 8 101")).unwrap();
    let g722 = Format {
        pt: 9,
        kind: FormatKind::Audio(Codec::G722),
    };
    assert_eq!(desk.codecs[0], g722);
    let mapped = phone_offer()
        .replace("RTP/AVP 0 8 101", "RTP/AVP 9 0 101")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:9 G722/8000");
    assert_eq!(parse(&mapped).unwrap().codecs[0], g722);
    // RFC 3551 §4.5.2: 16 kHz audio, 8000 on the clock, 160 ticks per 20 ms.
    assert_eq!(Codec::G722.clock_rate(), 8000);
    assert_eq!(Codec::G722.frame_samples(), 160);
    assert_eq!(Codec::from_name("G722"), Some(Codec::G722));

    // Without G.722 in our list the phone gets PCMU; with it, G.722.
    let g711 = [Codec::Pcmu, Codec::Pcma, Codec::Opus];
    assert_eq!(choose(&desk, &g711).unwrap().codec.pt, 0);
    let choice = choose(&desk, &[Codec::G722, Codec::Pcmu]).unwrap();
    assert_eq!(choice.codec, g722);
    let out = desk.rewrite(anchor(), &choice.formats());
    assert!(out.contains("m=audio 30000 RTP/AVP 9 101\r\n"), "{out}");
    // A static type needs no rtpmap (RFC 3551 §6); none is invented.
    assert!(!out.contains("a=rtpmap:9"), "{out}");
}
