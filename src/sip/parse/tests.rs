//! The RFC 4475 torture messages, byte-exact, plus framing and limits.

use bytes::Bytes;

use super::*;
use crate::sip::limits::{CONTACTS_MAX, HEADERS_MAX, VIAS_MAX};

macro_rules! rfc4475 {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rfc4475/",
            $name,
            ".dat"
        ))
    };
}

fn parse(raw: &'static [u8]) -> Result<Message, ParseError> {
    Message::parse(Bytes::from_static(raw))
}

fn ok(raw: &'static [u8]) -> Message {
    match parse(raw) {
        Ok(m) => m,
        Err(e) => panic!("expected a message, got {e:?}"),
    }
}

fn err(raw: &'static [u8]) -> ParseError {
    match parse(raw) {
        Ok(m) => panic!("expected an error, got {m:?}"),
        Err(e) => e,
    }
}

fn contact_list(m: &Message) -> &[NameAddr] {
    match m.contacts() {
        Contacts::List(list) => list,
        Contacts::Star => panic!("expected a contact list"),
    }
}

// §3.1.1 valid messages.

#[test]
fn wsinv_unfolds_values_and_reads_compact_and_odd_case_headers() {
    let m = ok(rfc4475!("wsinv"));
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(m.request_uri().unwrap().param("unknownparam"), Some(None));
    assert_eq!(m.to().tag(), Some("1918181833n"));
    assert_eq!(m.to().uri().as_str(), "sip:vivekg@chair-dnrc.example.com");
    assert_eq!(m.from().display_name(), Some(r#"J Rosenberg \\\""#));
    assert_eq!(m.from().tag(), Some("98asjd8"));
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(
        m.cseq(),
        &CSeq {
            seq: 9,
            method: Method::Invite
        }
    );
    assert_eq!(m.call_id(), "wsinv.ndaksdj@192.0.2.1");
    let vias = m.vias();
    assert_eq!(vias.len(), 3);
    assert_eq!(
        (vias[0].transport(), vias[0].host(), vias[0].branch()),
        ("UDP", "192.0.2.2", Some("390skdjuw"))
    );
    assert_eq!(
        (vias[1].transport(), vias[1].host(), vias[1].branch()),
        ("TCP", "spindle.example.com", Some("z9hG4bK9ikj8"))
    );
    assert_eq!(
        (vias[2].host(), vias[2].branch()),
        ("192.168.255.111", Some("z9hG4bK30239"))
    );
    assert_eq!(m.header(&HeaderName::Subject), Some(""));
    let fangled = HeaderName::parse(b"newfangledheader");
    assert_eq!(
        m.header(&fangled),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        m.header(&HeaderName::parse(b"UnknownHeaderWithUnusualValue")),
        Some(";;,,;;,;")
    );
    assert_eq!(
        m.header(&HeaderName::Route),
        Some("<sip:services.example.com;lr;unknownwith=value;unknown-no-value>")
    );
    let contacts = contact_list(&m);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].display_name(), Some(r#"Quoted string \"\""#));
    assert_eq!(contacts[0].param("newparam"), Some(Some("newvalue")));
    assert_eq!(contacts[0].param("secondparam"), Some(None));
    assert_eq!(contacts[0].param("q"), Some(Some("0.33")));
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn intmeth_keeps_an_extension_method_and_odd_uri_as_written() {
    let m = ok(rfc4475!("intmeth"));
    let method = m.method().unwrap();
    assert_eq!(
        method.as_str(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert!(matches!(method, Method::Other(_)));
    assert_eq!(&m.cseq().method, method);
    let uri = m.request_uri().unwrap();
    assert_eq!(
        uri.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(uri.host(), "example.com");
    assert_eq!(m.vias()[0].branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(
        m.to().display_name(),
        Some("BEL:\\\x07 NUL:\\\0 DEL:\\\x7f")
    );
    assert_eq!(
        m.from().display_name(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(
        m.from().param("fromParam''~+*_!.-%"),
        Some(Some("\"работающий\""))
    );
    assert_eq!(m.from().tag(), Some("_token~1'+`*%!-."));
    assert_eq!(m.call_id(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(
        m.header(&HeaderName::parse(b"extensionHeader-!.%*+_`'~")),
        Some("\u{feff}大停電")
    );
}

#[test]
fn esc01_keeps_escapes_as_written() {
    let m = ok(rfc4475!("esc01"));
    assert_eq!(
        m.request_uri().unwrap().user(),
        Some("sips%3Auser%40example.com")
    );
    assert_eq!(m.to().uri().user(), Some("%75se%72"));
    assert_eq!(m.from().uri().user(), Some("I%20have%20spaces"));
    assert_eq!(m.call_id(), "esc01.239409asdfakjkn23onasd0-3234");
    let contact = &contact_list(&m)[0];
    assert_eq!(contact.uri().param("%6C%72"), Some(None));
    assert_eq!(
        contact.uri().param("n%61me"),
        Some(Some("v%61lue%25%34%31"))
    );
    assert_eq!(m.content_type(), Some("application/sdp"));
}

#[test]
fn escnull_gives_two_distinct_contacts() {
    let m = ok(rfc4475!("escnull"));
    assert_eq!(m.to().uri().user(), Some("null-%00-null"));
    let contacts = contact_list(&m);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].uri().user(), Some("%00"));
    assert_eq!(contacts[1].uri().user(), Some("%00%00"));
}

#[test]
fn esc02_method_is_not_register_and_escaped_header_name_is_unknown() {
    let m = ok(rfc4475!("esc02"));
    assert_eq!(m.method().unwrap().as_str(), "RE%47IST%45R");
    assert_ne!(m.method(), Some(&Method::Register));
    assert_eq!(m.to().display_name(), Some("%Z%45"));
    let contacts = contact_list(&m);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].uri().host(), "host1.example.com");
    assert_eq!(contacts[1].uri().host(), "host3.example.com");
    assert_eq!(
        m.header(&HeaderName::parse(b"C%6Fntact")),
        Some("<sip:alias2@host2.example.com>")
    );
}

#[test]
fn lwsdisp_accepts_display_name_without_space_before_angle() {
    let m = ok(rfc4475!("lwsdisp"));
    assert_eq!(m.from().display_name(), Some("caller"));
    assert_eq!(m.from().uri().as_str(), "sip:caller@example.com");
}

/// longreq: a 3.5 KB request with 34 Via values, long display name,
/// tag and Call-ID; all within the bounds.
#[test]
fn longreq_parses_long_values() {
    let m = ok(rfc4475!("longreq"));
    assert_eq!(m.vias().len(), 34);
    assert!(m.from().tag().unwrap().len() > 100);
    assert!(m.call_id().len() > 100);
    assert_eq!(m.body().len(), 150);
}

#[test]
fn dblreq_ignores_bytes_after_content_length() {
    let m = ok(rfc4475!("dblreq"));
    assert_eq!(m.method(), Some(&Method::Register));
    assert!(m.body().is_empty());
    assert!(!m.as_bytes().windows(6).any(|w| w == b"INVITE"));
}

#[test]
fn semiuri_user_part_contains_semicolon() {
    let m = ok(rfc4475!("semiuri"));
    let uri = m.request_uri().unwrap();
    assert_eq!(uri.user(), Some("user;par=u%40example.net"));
    assert_eq!(uri.host(), "example.com");
    assert_eq!(uri.param("par"), None);
    let accept: Vec<&str> = m.header_tokens(&HeaderName::Accept).collect();
    assert_eq!(accept.len(), 6);
    assert_eq!(accept[5], "message/sipfrag");
}

#[test]
fn transports_parse_unknown_transport_tokens() {
    let m = ok(rfc4475!("transports"));
    let t: Vec<&str> = m.vias().iter().map(Via::transport).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
}

#[test]
fn mpart01_frames_a_binary_multipart_body_by_content_length() {
    let m = ok(rfc4475!("mpart01"));
    assert_eq!(m.method(), Some(&Method::Message));
    assert_eq!(m.content_type(), Some("multipart/mixed"));
    let len: usize = m
        .header(&HeaderName::ContentLength)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(m.body().len(), len);
    assert!(m.body().contains(&0));
}

#[test]
fn unreason_keeps_a_utf8_reason_phrase() {
    let m = ok(rfc4475!("unreason"));
    assert_eq!(m.status(), Some(200));
    let StartLine::Response { reason, .. } = m.start_line() else {
        panic!("a response")
    };
    assert!(reason.starts_with("= 2**3 * 5**2 но сто девяносто девять"));
}

#[test]
fn noreason_has_an_empty_reason() {
    let m = ok(rfc4475!("noreason"));
    assert_eq!(m.status(), Some(100));
    let StartLine::Response { reason, .. } = m.start_line() else {
        panic!("a response")
    };
    assert_eq!(reason.as_str(), "");
}

// §3.1.2 invalid messages.

#[test]
fn badinv01_refuses_empty_via_and_contact_params() {
    assert_eq!(err(rfc4475!("badinv01")), ParseError::BadVia);
}

#[test]
fn clerr_refuses_a_body_shorter_than_content_length() {
    assert_eq!(err(rfc4475!("clerr")), ParseError::BodyTruncated);
}

#[test]
fn ncl_refuses_a_negative_content_length() {
    assert_eq!(err(rfc4475!("ncl")), ParseError::BadContentLength);
}

#[test]
fn scalar02_refuses_a_cseq_beyond_2_pow_31() {
    assert_eq!(err(rfc4475!("scalar02")), ParseError::BadCSeq);
}

#[test]
fn scalarlg_refuses_a_response_with_an_oversized_cseq() {
    assert_eq!(err(rfc4475!("scalarlg")), ParseError::BadCSeq);
}

#[test]
fn quotbal_refuses_an_unterminated_quoted_display_name() {
    assert_eq!(err(rfc4475!("quotbal")), ParseError::BadNameAddr);
}

#[test]
fn ltgtruri_refuses_a_request_uri_in_angle_brackets() {
    assert_eq!(err(rfc4475!("ltgtruri")), ParseError::BadRequestUri);
}

#[test]
fn lwsruri_refuses_whitespace_in_the_request_uri() {
    assert_eq!(err(rfc4475!("lwsruri")), ParseError::BadRequestUri);
}

/// Decision: two SPs between Request-Line elements are refused (400); the
/// liberal reading is allowed but buys nothing (see `parser::start_line`).
#[test]
fn lwsstart_refuses_extra_spaces_in_the_request_line() {
    assert_eq!(err(rfc4475!("lwsstart")), ParseError::BadRequestUri);
}

/// Decision: trailing SPs after the version are refused (400), likewise.
#[test]
fn trws_refuses_trailing_spaces_after_the_version() {
    let e = err(rfc4475!("trws"));
    assert_eq!(e, ParseError::BadStartLine);
    assert_eq!(e.status(), 400);
}

/// Decision: headers in a Request-URI are refused (400) rather than ignored.
#[test]
fn escruri_refuses_headers_in_the_request_uri() {
    assert_eq!(err(rfc4475!("escruri")), ParseError::BadRequestUri);
}

/// Decision: Date is not typed, so a non-GMT Date is accepted and kept as text.
#[test]
fn baddate_accepts_a_non_gmt_date_as_opaque_text() {
    let m = ok(rfc4475!("baddate"));
    assert_eq!(
        m.header(&HeaderName::parse(b"date")),
        Some("Fri, 01 Jan 2010 16:00:00 EST")
    );
}

/// Decision: a bare Contact URI with `?` headers is refused (400), not
/// guessed into `<>` (RFC 3261 §20: such a URI must be bracketed).
#[test]
fn regbadct_refuses_a_bare_contact_with_uri_headers() {
    assert_eq!(err(rfc4475!("regbadct")), ParseError::BadNameAddr);
}

#[test]
fn badaspec_refuses_spaces_inside_angle_brackets() {
    assert_eq!(err(rfc4475!("badaspec")), ParseError::BadUri);
}

#[test]
fn baddn_refuses_the_unterminated_head() {
    assert_eq!(err(rfc4475!("baddn")), ParseError::HeadUnterminated);
    // With the head closed, the unquoted comma in the display name is refused.
    let mut fixed = rfc4475!("baddn").to_vec();
    fixed.extend_from_slice(b"\r\n");
    assert_eq!(
        Message::parse(Bytes::from(fixed)).unwrap_err(),
        ParseError::BadNameAddr
    );
}

#[test]
fn badvers_answers_505() {
    let e = err(rfc4475!("badvers"));
    assert_eq!(e, ParseError::UnsupportedVersion);
    assert_eq!(e.status(), 505);
}

#[test]
fn mismatch01_refuses_cseq_method_unlike_request_method() {
    assert_eq!(err(rfc4475!("mismatch01")), ParseError::CSeqMethodMismatch);
}

#[test]
fn mismatch02_refuses_cseq_method_unlike_extension_method() {
    assert_eq!(err(rfc4475!("mismatch02")), ParseError::CSeqMethodMismatch);
}

#[test]
fn bigcode_refuses_a_status_code_above_699() {
    assert_eq!(err(rfc4475!("bigcode")), ParseError::BadStatus);
}

#[test]
fn every_invalid_message_except_badvers_answers_400() {
    let invalid: [&'static [u8]; 17] = [
        rfc4475!("badinv01"),
        rfc4475!("clerr"),
        rfc4475!("ncl"),
        rfc4475!("scalar02"),
        rfc4475!("scalarlg"),
        rfc4475!("quotbal"),
        rfc4475!("ltgtruri"),
        rfc4475!("lwsruri"),
        rfc4475!("lwsstart"),
        rfc4475!("trws"),
        rfc4475!("escruri"),
        rfc4475!("regbadct"),
        rfc4475!("badaspec"),
        rfc4475!("baddn"),
        rfc4475!("mismatch01"),
        rfc4475!("mismatch02"),
        rfc4475!("bigcode"),
    ];
    for raw in invalid {
        assert_eq!(err(raw).status(), 400);
    }
}

// §3.2 and §3.4.

/// The parser accepts a bare `z9hG4bK` branch; the transaction layer decides.
#[test]
fn badbranch_parses_with_the_bare_magic_cookie() {
    let m = ok(rfc4475!("badbranch"));
    assert_eq!(m.vias()[0].branch(), Some("z9hG4bK"));
}

#[test]
fn inv2543_takes_the_rest_of_the_datagram_as_body() {
    let raw = rfc4475!("inv2543");
    let m = ok(raw);
    assert_eq!(m.vias()[0].branch(), None);
    assert_eq!(m.from().tag(), None);
    assert_eq!(m.max_forwards(), None);
    assert!(raw.ends_with(m.body()));
    assert!(!m.body().is_empty());
}

// §3.3 application-layer messages parse; the switch answers them.

#[test]
fn application_layer_messages_parse() {
    let fine: [&'static [u8]; 11] = [
        rfc4475!("unkscm"),
        rfc4475!("novelsc"),
        rfc4475!("unksm2"),
        rfc4475!("bext01"),
        rfc4475!("invut"),
        rfc4475!("regaut01"),
        rfc4475!("zeromf"),
        rfc4475!("cparam01"),
        rfc4475!("cparam02"),
        rfc4475!("regescrt"),
        rfc4475!("sdp01"),
    ];
    for raw in fine {
        ok(raw);
    }
}

#[test]
fn unknown_schemes_parse_as_other() {
    let m = ok(rfc4475!("unkscm"));
    let uri = m.request_uri().unwrap();
    assert_eq!(uri.scheme(), Scheme::Other);
    assert_eq!(uri.as_str(), "nobodyKnowsThisScheme:totallyopaquecontent");
    assert_eq!(
        ok(rfc4475!("novelsc")).request_uri().unwrap().scheme(),
        Scheme::Other
    );
    let m = ok(rfc4475!("unksm2"));
    assert_eq!(m.to().uri().scheme(), Scheme::Other);
    assert_eq!(m.from().uri().scheme(), Scheme::Other);
}

#[test]
fn bext01_lists_require_and_proxy_require_tokens() {
    let m = ok(rfc4475!("bext01"));
    assert!(m.header_tokens(&HeaderName::Require).count() >= 1);
    assert!(m.header_tokens(&HeaderName::ProxyRequire).count() >= 1);
}

#[test]
fn zeromf_reads_max_forwards_zero() {
    assert_eq!(ok(rfc4475!("zeromf")).max_forwards(), Some(0));
}

#[test]
fn cparam01_param_after_bare_uri_is_a_header_param() {
    let m = ok(rfc4475!("cparam01"));
    let c = &contact_list(&m)[0];
    assert_eq!(c.param("unknownparam"), Some(None));
    assert_eq!(c.uri().param("unknownparam"), None);
    assert_eq!(c.uri().as_str(), "sip:+19725552222@gw1.example.net");
}

#[test]
fn cparam02_param_inside_brackets_is_a_uri_param() {
    let m = ok(rfc4475!("cparam02"));
    let c = &contact_list(&m)[0];
    assert_eq!(c.uri().param("unknownparam"), Some(None));
    assert_eq!(c.param("unknownparam"), None);
}

#[test]
fn regescrt_keeps_the_escaped_route_in_the_contact_uri() {
    let m = ok(rfc4475!("regescrt"));
    let c = &contact_list(&m)[0];
    assert_eq!(c.uri().headers(), Some("Route=%3Csip:sip.example.com%3E"));
}

#[test]
fn multi01_refuses_duplicate_single_valued_headers() {
    assert!(matches!(
        err(rfc4475!("multi01")),
        ParseError::DuplicateHeader(_)
    ));
    assert!(salvage(rfc4475!("multi01")).is_some_and(|s| s.vias.len() == 1));
}

#[test]
fn mcl01_refuses_conflicting_content_lengths() {
    assert_eq!(
        err(rfc4475!("mcl01")),
        ParseError::DuplicateHeader("Content-Length")
    );
    assert!(salvage(rfc4475!("mcl01")).is_some_and(|s| s.vias.len() == 1));
}

#[test]
fn insuf_refuses_missing_headers_but_salvages_via() {
    assert_eq!(err(rfc4475!("insuf")), ParseError::MissingHeader("From"));
    let s = salvage(rfc4475!("insuf")).unwrap();
    assert!(s.is_request);
    assert_eq!(s.vias, ["SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf"]);
    assert_eq!(s.cseq.as_deref(), Some("193942 INVITE"));
    assert_eq!(s.call_id, None);
}

#[test]
fn salvage_gives_none_for_responses_and_messages_without_via() {
    assert_eq!(salvage(rfc4475!("bigcode")), None);
    assert_eq!(
        salvage(b"INVITE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n"),
        None
    );
}

#[test]
fn test_dat_is_refused() {
    assert_eq!(err(rfc4475!("test")), ParseError::BadStartLine);
}

// URIs, header names and limits.

#[test]
fn uri_reads_ipv6_references_and_tel_numbers() {
    let uri = Uri::parse(ByteStr::from_static(
        "sips:alice@[2001:db8::1]:5061;transport=tcp",
    ))
    .unwrap();
    assert_eq!(
        (uri.scheme(), uri.user(), uri.host(), uri.port()),
        (Scheme::Sips, Some("alice"), "[2001:db8::1]", Some(5061))
    );
    assert_eq!(uri.param("TRANSPORT"), Some(Some("tcp")));
    let tel = Uri::parse(ByteStr::from_static(
        "tel:+1-201-555-0123;phone-context=example.com",
    ))
    .unwrap();
    assert_eq!(
        (tel.scheme(), tel.user(), tel.host()),
        (Scheme::Tel, Some("+1-201-555-0123"), "")
    );
    assert_eq!(tel.param("phone-context"), Some(Some("example.com")));
    let via = Via::parse(ByteStr::from_static(
        "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport",
    ))
    .unwrap();
    assert_eq!(
        (via.host(), via.port(), via.sent_by()),
        ("[2001:db8::1]", Some(5060), "[2001:db8::1]:5060")
    );
    assert_eq!(via.param("rport"), Some(None));
    assert!(Uri::parse(ByteStr::from_static("sip:a@[2001:db8::1")).is_err());
    assert!(Uri::parse(ByteStr::from_static("sip:a@host:99999")).is_err());
}

#[test]
fn header_names_map_compact_forms_and_ignore_case() {
    assert_eq!(HeaderName::parse(b"i"), HeaderName::CallId);
    assert_eq!(HeaderName::parse(b"M"), HeaderName::Contact);
    assert_eq!(HeaderName::parse(b"call-id").as_str(), "Call-ID");
    assert_eq!(
        HeaderName::parse(b"www-authenticate").as_str(),
        "WWW-Authenticate"
    );
    assert_eq!(HeaderName::parse(b"X-Foo"), HeaderName::parse(b"x-foo"));
    assert_eq!(
        HeaderName::Other(ByteStr::from_static("via")),
        HeaderName::Via
    );
}

#[test]
fn name_addr_reads_contact_star_and_comma_lists() {
    let raw = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n";
    let m = parse(raw).unwrap();
    assert!(matches!(m.contacts(), Contacts::Star));
    assert_eq!(m.expires(), Some(0));
    let raw = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContact: \"a, b\" <sip:a@h1>;expires=60, <sip:b,c@h2;x=1>\r\nExpires: 99999999999\r\nContent-Length: 0\r\n\r\n";
    let m = parse(raw).unwrap();
    let list = contact_list(&m);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].display_name(), Some("a, b"));
    assert_eq!(list[0].param("expires"), Some(Some("60")));
    assert_eq!(list[1].uri().user(), Some("b,c"));
    assert_eq!(m.expires(), Some(u32::MAX));
}

fn with_headers(extra: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn limits_are_parse_errors() {
    let many = "X-A: 1\r\n".repeat(HEADERS_MAX);
    assert_eq!(
        Message::parse(with_headers(&many).into()).unwrap_err(),
        ParseError::TooManyHeaders
    );
    let vias = "Via: SIP/2.0/UDP h\r\n".repeat(VIAS_MAX);
    assert_eq!(
        Message::parse(with_headers(&vias).into()).unwrap_err(),
        ParseError::TooManyVias
    );
    let contacts = "Contact: <sip:c@h>\r\n".repeat(CONTACTS_MAX + 1);
    assert_eq!(
        Message::parse(with_headers(&contacts).into()).unwrap_err(),
        ParseError::TooManyContacts
    );
    let params = format!(
        "Route: <sip:r@h>{}\r\nContact: <sip:c@h{}>\r\n",
        "",
        ";p".repeat(crate::sip::limits::PARAMS_MAX + 1)
    );
    assert_eq!(
        Message::parse(with_headers(&params).into()).unwrap_err(),
        ParseError::TooManyParams
    );
    let big = vec![b'a'; crate::sip::limits::MESSAGE_BYTES_MAX + 1];
    assert_eq!(
        Message::parse(big.into()).unwrap_err(),
        ParseError::TooLarge
    );
}

#[test]
fn multi_valued_route_splits_across_lines_and_commas() {
    let raw = with_headers("Route: <sip:p1;lr>, <sip:p2;lr>\r\nRoute: \"x,y\" <sip:p3>\r\n");
    let m = Message::parse(raw.into()).unwrap();
    let routes: Vec<&str> = m.header_values(&HeaderName::Route).collect();
    assert_eq!(routes, ["<sip:p1;lr>", "<sip:p2;lr>", "\"x,y\" <sip:p3>"]);
    assert_eq!(m.header_all(&HeaderName::Route).count(), 2);
}

#[test]
fn cseq_method_must_match_for_ack_and_cancel() {
    let raw = b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
    assert_eq!(parse(raw).unwrap_err(), ParseError::CSeqMethodMismatch);
    let raw = b"CANCEL sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 2147483647 CANCEL\r\nl: 0\r\n\r\n";
    assert_eq!(parse(raw).unwrap().cseq().seq, 2_147_483_647);
    let raw = b"CANCEL sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 2147483648 CANCEL\r\nl: 0\r\n\r\n";
    assert_eq!(parse(raw).unwrap_err(), ParseError::BadCSeq);
}

#[test]
fn errors_read_as_short_sentences() {
    assert_eq!(
        ParseError::MissingHeader("Call-ID").to_string(),
        "Missing Call-ID header"
    );
    assert_eq!(
        ParseError::UnsupportedVersion.to_string(),
        "SIP version not supported"
    );
}

// Stream framing.

#[test]
fn frame_splits_back_to_back_messages_and_waits_for_a_partial_one() {
    let first: &[u8] = rfc4475!("esc01");
    let second: &[u8] = rfc4475!("escnull");
    let third: &[u8] = rfc4475!("transports");
    let mut stream = b"\r\n\r\n".to_vec();
    stream.extend_from_slice(first);
    stream.extend_from_slice(second);
    stream.extend_from_slice(&third[..third.len() - 3]);
    let n1 = Message::frame(&stream).unwrap().unwrap();
    assert_eq!(n1, 4 + first.len());
    let m1 = Message::parse(Bytes::copy_from_slice(&stream[..n1])).unwrap();
    assert_eq!(m1.call_id(), "esc01.239409asdfakjkn23onasd0-3234");
    let rest = &stream[n1..];
    let n2 = Message::frame(rest).unwrap().unwrap();
    assert_eq!(n2, second.len());
    assert_eq!(
        Message::parse(Bytes::copy_from_slice(&rest[..n2]))
            .unwrap()
            .method(),
        Some(&Method::Register)
    );
    let rest = &rest[n2..];
    assert_eq!(Message::frame(rest), Ok(None));
    assert_eq!(Message::frame(b""), Ok(None));
}

#[test]
fn frame_refuses_missing_or_conflicting_content_length() {
    assert_eq!(
        Message::frame(rfc4475!("inv2543")),
        Err(ParseError::MissingHeader("Content-Length"))
    );
    assert_eq!(
        Message::frame(rfc4475!("mcl01")),
        Err(ParseError::DuplicateHeader("Content-Length"))
    );
    assert_eq!(
        Message::frame(rfc4475!("ncl")),
        Err(ParseError::BadContentLength)
    );
    assert_eq!(Message::frame(rfc4475!("clerr")), Ok(None));
}

#[test]
fn frame_refuses_a_head_past_the_size_bound() {
    let endless = vec![b'a'; crate::sip::limits::MESSAGE_BYTES_MAX];
    assert_eq!(Message::frame(&endless), Err(ParseError::TooLarge));
    let huge = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 70000\r\n\r\n";
    assert_eq!(Message::frame(huge), Err(ParseError::TooLarge));
    // usize::MAX must not wrap the end of the frame (a fuzzer find).
    let max = b"OPTIONS sip:a@b SIP/2.0\r\nl: 00018446744073709551615\r\n\r\n";
    assert_eq!(Message::frame(max), Err(ParseError::TooLarge));
}

// Header names.

/// Every known name with its canonical spelling.
const KNOWN_NAMES: &[(&str, HeaderName)] = &[
    ("Accept", HeaderName::Accept),
    ("Allow", HeaderName::Allow),
    ("Authorization", HeaderName::Authorization),
    ("Call-ID", HeaderName::CallId),
    ("Contact", HeaderName::Contact),
    ("Content-Encoding", HeaderName::ContentEncoding),
    ("Content-Length", HeaderName::ContentLength),
    ("Content-Type", HeaderName::ContentType),
    ("CSeq", HeaderName::CSeq),
    ("Event", HeaderName::Event),
    ("Expires", HeaderName::Expires),
    ("From", HeaderName::From),
    ("Max-Forwards", HeaderName::MaxForwards),
    ("Min-Expires", HeaderName::MinExpires),
    ("Proxy-Authenticate", HeaderName::ProxyAuthenticate),
    ("Proxy-Authorization", HeaderName::ProxyAuthorization),
    ("Proxy-Require", HeaderName::ProxyRequire),
    ("Record-Route", HeaderName::RecordRoute),
    ("Refer-To", HeaderName::ReferTo),
    ("Referred-By", HeaderName::ReferredBy),
    ("Require", HeaderName::Require),
    ("Retry-After", HeaderName::RetryAfter),
    ("Route", HeaderName::Route),
    ("Server", HeaderName::Server),
    ("Subject", HeaderName::Subject),
    ("Supported", HeaderName::Supported),
    ("To", HeaderName::To),
    ("Unsupported", HeaderName::Unsupported),
    ("User-Agent", HeaderName::UserAgent),
    ("Via", HeaderName::Via),
    ("WWW-Authenticate", HeaderName::WwwAuthenticate),
];

#[test]
fn every_known_header_name_is_recognised_in_any_case_and_spelled_canonically() {
    for (text, name) in KNOWN_NAMES {
        for spelling in [
            text.to_string(),
            text.to_ascii_lowercase(),
            text.to_ascii_uppercase(),
        ] {
            let parsed = HeaderName::parse(spelling.as_bytes());
            assert!(
                !matches!(parsed, HeaderName::Other(_)),
                "{spelling} is known"
            );
            assert_eq!(&parsed, name, "{spelling}");
        }
        assert_eq!(name.as_str(), *text);
    }
}

#[test]
fn names_that_share_length_and_initial_with_a_known_one_stay_unknown() {
    for spelling in [
        "Call-IX",
        "Contacs",
        "Referred-Bx",
        "Retry-Aftex",
        "Vis",
        "Tx",
        "Vi",
        // Folding case by 0x20 must not let CR pass for `-`.
        "Max\rForwards",
        "call\rid",
    ] {
        let parsed = HeaderName::parse(spelling.as_bytes());
        assert!(
            matches!(&parsed, HeaderName::Other(n) if n.as_str() == spelling),
            "{spelling} is an extension name, got {parsed:?}"
        );
    }
}

#[test]
fn header_index_lists_every_line_in_order_with_names_any_query_finds() {
    let m = ok(rfc4475!("wsinv"));
    let lines: Vec<(HeaderName, &str)> = m.headers().map(|(n, v)| (n.clone(), v)).collect();
    assert!(lines.len() > 10);
    // Every line's name, known or extension, finds that line's first value.
    for (name, _) in &lines {
        let first = lines.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(m.header(name), first, "{}", name.as_str());
        let all: Vec<&str> = m.header_all(name).collect();
        let expected: Vec<&str> = lines
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(all, expected, "{}", name.as_str());
    }
    // Extension names keep their spelling; folded values come unfolded.
    assert!(lines.iter().any(|(n, v)| n.as_str() == "NewFangledHeader"
        && *v == "newfangled value continued newfangled value"));
    // A hand-built extension name spelling a known one finds it, any case.
    assert_eq!(
        m.header(&HeaderName::Other(ByteStr::from_static("CALL-id"))),
        Some("wsinv.ndaksdj@192.0.2.1")
    );
    assert_eq!(
        m.header(&HeaderName::Other(ByteStr::from_static("i"))),
        None
    );
}

#[test]
fn every_known_name_sits_at_its_code() {
    for (i, name) in header::KNOWN.iter().enumerate() {
        assert_eq!(usize::from(name.code()), i, "{name:?}");
    }
}

/// The URI scan reads sixteen bytes at a time: a forbidden byte is found
/// at every place, and delimiters on either side of a group boundary.
#[test]
fn uri_scan_finds_bytes_at_every_place() {
    let base = "sip:alice@example.com;transport=udp?subject=x";
    for p in 0..base.len() {
        for c in [b' ', b'\t', b'"', b'<', b'>', 0x7f, 0x01] {
            let mut b = base.as_bytes().to_vec();
            b[p] = c;
            let text = ByteStr::from_utf8(Bytes::from(b)).expect("ASCII");
            assert!(Uri::parse(text).is_err(), "{c:#x} at {p}");
        }
    }
    for k in 1..40 {
        let user = "u".repeat(k);
        let text = format!("sip:{user}@h.example:5060;p=1?x=y");
        let uri = Uri::parse(ByteStr::from_utf8(Bytes::from(text.clone())).expect("ASCII"))
            .expect("a valid URI");
        assert_eq!(uri.user(), Some(user.as_str()), "{text}");
        assert_eq!(uri.host(), "h.example", "{text}");
        assert_eq!(uri.port(), Some(5060), "{text}");
        assert_eq!(uri.param("p"), Some(Some("1")), "{text}");
        assert_eq!(uri.headers(), Some("x=y"), "{text}");
        assert_eq!(uri.as_str(), text);
    }
}

/// Lower-case media types are sliced as written; any other spelling is
/// lower-cased with whitespace removed, and a malformed one refused.
#[test]
fn content_type_reads_every_spelling_of_a_media_type() {
    let cases: [(&str, Result<&str, ParseError>); 8] = [
        ("application/sdp", Ok("application/sdp")),
        ("application/sdp;charset=utf-8", Ok("application/sdp")),
        ("application/sdp ; charset=utf-8", Ok("application/sdp")),
        ("application/sdp  ", Ok("application/sdp")),
        ("Application/SDP", Ok("application/sdp")),
        ("application / sdp", Ok("application/sdp")),
        ("application/sdp x", Err(ParseError::BadContentType)),
        ("application/", Err(ParseError::BadContentType)),
    ];
    for (value, want) in cases {
        let raw = format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h.example;branch=z9hG4bK1\r\n\
             From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\n\
             CSeq: 1 OPTIONS\r\nContent-Type: {value}\r\nContent-Length: 0\r\n\r\n"
        );
        let got = Message::parse(Bytes::from(raw));
        match want {
            Ok(media) => assert_eq!(got.expect(value).content_type(), Some(media), "{value}"),
            Err(e) => assert_eq!(got.expect_err(value), e, "{value}"),
        }
    }
}
