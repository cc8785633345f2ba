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
fn rewrite_points_c_and_m_at_the_anchor_and_passes_only_whitelisted_lines() {
    let phone = parse(&phone_offer()).unwrap();
    let choice = choose(&phone, &[Codec::Pcmu]).unwrap();
    let out = phone.rewrite(anchor(), &choice.formats());
    // Our o= placeholder (Origin::stamp numbers it), never the party's.
    assert!(
        out.contains("o=switchyard 0 0 IN IP4 198.51.100.1\r\n"),
        "{out}"
    );
    assert!(!out.contains("alice"), "{out}");
    assert!(out.contains("c=IN IP4 198.51.100.1\r\n"), "{out}");
    assert!(out.contains("m=audio 30000 RTP/AVP 0 101\r\n"), "{out}");
    assert!(
        out.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{out}"
    );
    assert!(out.contains("a=fmtp:101 0-15\r\n"), "{out}");
    assert!(!out.contains("x-vendor-thing"), "{out}");
    assert!(out.contains("a=ptime:20\r\n"), "{out}");
    assert!(out.contains("a=rtpmap:0 PCMU/8000\r\n"), "{out}");
    assert!(out.contains("a=sendrecv\r\n"), "{out}");
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
        // DTLS-SRTP (WebRTC) is not spoken; SDES RTP/SAVP is (sdp/crypto.rs).
        (phone_offer().replace("RTP/AVP", "UDP/TLS/RTP/SAVPF"), |e| {
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
    // Our SDP names every format; G.722's clock is 8000 (RFC 3551 §4.5.2).
    assert!(out.contains("a=rtpmap:9 G722/8000\r\n"), "{out}");
    assert!(!out.contains("G722/16000"), "{out}");
}

/// What a WebRTC-minded carrier or linphone puts in an offer about its own
/// stream: none of it may reach the other leg.
fn chatty_offer() -> String {
    crlf(&[
        "v=0",
        "o=carrier 3344 1 IN IP4 10.1.1.1",
        "s=call",
        "c=IN IP4 10.1.1.1",
        "t=0 0",
        "a=group:BUNDLE 0",
        "a=msid-semantic: WMS *",
        "a=fingerprint:sha-256 AB:CD",
        "m=audio 4000 RTP/AVP 8 0 101",
        "a=mid:0",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:30",
        "a=maxptime:60",
        "a=rtcp-rsize",
        "a=rtcp-fb:8 nack",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=ssrc:123456 cname:sip:1002@127.0.0.1",
        "a=ssrc:123456 msid:x y",
        "a=label:1",
        "a=msid:x y",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:0123456789abcdef01234567",
        "a=candidate:1 1 udp 1 10.1.1.1 4000 typ host",
        "a=setup:actpass",
        "a=sendrecv",
    ])
}

#[test]
fn rewrite_strips_every_attribute_of_the_far_party_and_keeps_the_whitelist() {
    let offer = parse(&chatty_offer()).unwrap();
    let choice = choose(&offer, &[Codec::Pcma, Codec::Pcmu]).unwrap();
    let out = offer.rewrite(anchor(), &choice.formats());
    for leak in [
        "ssrc",
        "cname",
        "label",
        "rtcp-rsize",
        "rtcp-fb",
        "msid",
        "mid",
        "group",
        "ice-",
        "candidate",
        "fingerprint",
        "setup",
        "extmap",
        "1002@",
        "10.1.1.1",
        "carrier",
    ] {
        assert!(!out.contains(leak), "{leak} leaked: {out}");
    }
    let want = crlf(&[
        "v=0",
        "o=switchyard 0 0 IN IP4 198.51.100.1",
        "s=switchyard",
        "c=IN IP4 198.51.100.1",
        "t=0 0",
        "m=audio 30000 RTP/AVP 8 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:30",
        "a=maxptime:60",
        "a=rtcp:30001",
        "a=sendrecv",
    ]);
    assert_eq!(out, want);
    // Stamped per leg: the same rewrite keeps its version, a change raises it.
    let mut origin = Origin::new(77);
    let first = origin.stamp(&out);
    assert!(
        first.contains("o=switchyard 77 1 IN IP4 198.51.100.1\r\n"),
        "{first}"
    );
    assert_eq!(
        origin.stamp(&offer.rewrite(anchor(), &choice.formats())),
        first
    );
    let held = origin.stamp(&offer.rewrite_as(anchor(), &choice.formats(), Direction::RecvOnly));
    assert!(
        held.contains("o=switchyard 77 2 ") && held.contains("a=recvonly"),
        "{held}"
    );
}

#[test]
fn a_reoffer_keeps_the_legs_codec_while_it_is_listed_and_moves_when_dropped() {
    let support = [Codec::Pcmu, Codec::Pcma, Codec::Opus];
    let resume = parse(&softphone_offer().replace("a=sendonly", "a=sendrecv")).unwrap();
    let pcmu = Format {
        pt: 0,
        kind: FormatKind::Audio(Codec::Pcmu),
    };
    // Opus listed first on resume: the leg stays on PCMU.
    let kept = rechoose(&resume, Some(pcmu), &support).unwrap();
    assert_eq!(kept.codec, pcmu);
    assert_eq!(kept.telephone_event, Some(96));
    // PCMU dropped: the offer's first codec we speak.
    let opus_only =
        parse(&softphone_offer().replace("RTP/AVP 111 0 96", "RTP/AVP 111 96")).unwrap();
    let moved = rechoose(&opus_only, Some(pcmu), &support).unwrap();
    assert_eq!(moved.codec.kind, FormatKind::Audio(Codec::Opus));
    // Nothing we speak left: refused, the session stays as it was.
    assert!(matches!(
        rechoose(&opus_only, Some(pcmu), &[Codec::Pcma]),
        Err(SdpError::NoCommonCodec { .. })
    ));
}

#[test]
fn our_offer_is_plain_avp_while_an_answer_keeps_the_offers_profile() {
    let avpf = parse(&phone_offer().replace("RTP/AVP 0 8 101", "RTP/AVPF 0 8 101")).unwrap();
    let choice = choose(&avpf, &[Codec::Pcmu]).unwrap();
    let offer = avpf.rewrite(anchor(), &choice.formats());
    assert!(offer.contains("m=audio 30000 RTP/AVP 0 101\r\n"), "{offer}");
    let answer = avpf.rewrite_as(anchor(), &choice.formats(), Direction::SendRecv);
    assert!(
        answer.contains("m=audio 30000 RTP/AVPF 0 101\r\n"),
        "{answer}"
    );
}
