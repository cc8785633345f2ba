use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::digest::{request_digest, Algorithm, DigestInput, QopAuth};
use super::*;

const REALM: &str = "switchyard.test";

/// The one clock read of a test: an arbitrary origin for virtual time.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn server(epoch: Instant, rng: &mut StdRng) -> DigestServer {
    DigestServer::new(REALM, DigestConfig::default(), rng, epoch)
}

fn passwords(user: &str) -> Option<String> {
    match user {
        "alice" => Some("s3cret".to_owned()),
        "bob" => Some("hunter2".to_owned()),
        _ => None,
    }
}

/// The challenge with the given algorithm from a fresh challenge set.
fn challenge_for(
    server: &mut DigestServer,
    now: Instant,
    rng: &mut StdRng,
    algorithm: &str,
) -> String {
    server
        .challenge(now, rng, false)
        .into_iter()
        .find(|c| c.contains(&format!("algorithm={algorithm},")))
        .expect("challenge offers the algorithm")
}

/// The value of `name` in a header this module built (unquoted, no escapes).
fn param_of(header: &str, name: &str) -> String {
    let start = header.find(&format!("{name}=")).expect("param present") + name.len() + 1;
    let rest = header[start..].trim_start_matches('"');
    rest.split(['"', ',']).next().expect("value").to_owned()
}

#[test]
fn rfc2617_worked_example_md5_qop_auth() {
    let input = DigestInput {
        algorithm: Algorithm::Md5,
        username: "Mufasa",
        realm: "testrealm@host.com",
        password: "Circle Of Life",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        cnonce: Some("0a4f113b"),
        qop: Some(QopAuth {
            nc: "00000001",
            cnonce: "0a4f113b",
        }),
    };
    assert_eq!(
        request_digest(&input).unwrap(),
        "6629fae49393a05397450978507c4ef1"
    );
}

#[test]
fn rfc7616_example_sha256_and_md5() {
    let mut input = DigestInput {
        algorithm: Algorithm::Sha256,
        username: "Mufasa",
        realm: "http-auth@example.org",
        password: "Circle of Life",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
        qop: Some(QopAuth {
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        }),
    };
    assert_eq!(
        request_digest(&input).unwrap(),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    input.algorithm = Algorithm::Md5;
    assert_eq!(
        request_digest(&input).unwrap(),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
}

#[test]
fn challenge_offers_sha256_then_md5_with_one_nonce() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = s.challenge(t0, &mut rng, false);
    assert_eq!(c.len(), 2);
    assert!(c[0].starts_with("Digest realm=\"switchyard.test\", nonce=\""));
    assert!(c[0].contains("algorithm=SHA-256, qop=\"auth\""));
    assert!(c[1].contains("algorithm=MD5, qop=\"auth\""));
    assert_eq!(param_of(&c[0], "nonce"), param_of(&c[1], "nonce"));
    assert!(!c[0].contains("stale"));
    let stale = s.challenge(t0, &mut rng, true);
    assert!(stale.iter().all(|c| c.ends_with(", stale=true")));
}

#[test]
fn md5_only_offers_a_single_md5_challenge_that_verifies() {
    let t0 = epoch();
    let mut rng = rng();
    let config = DigestConfig {
        order: ChallengeOrder::Md5Only,
        ..DigestConfig::default()
    };
    let mut s = DigestServer::new(REALM, config, &mut rng, t0);
    let c = s.challenge(t0, &mut rng, false);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].contains("algorithm=MD5"));
    let a = answer_challenge(&c[0], "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    assert!(s.verify(t0, "REGISTER", &a, passwords).is_ok());
}

#[test]
fn sha256_answer_verifies() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "SHA-256");
    let a = answer_challenge(
        &c,
        "REGISTER",
        "sip:switchyard.test",
        "alice",
        "s3cret",
        1,
        &mut rng,
    )
    .unwrap();
    assert!(a.contains("algorithm=SHA-256"));
    assert!(a.contains("qop=auth, nc=00000001"));
    let v = s.verify(t0 + Duration::from_secs(1), "REGISTER", &a, passwords);
    assert_eq!(
        v,
        Ok(Verified {
            username: "alice".to_owned()
        })
    );
}

#[test]
fn md5_answer_verifies() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "MD5");
    let a = answer_challenge(
        &c,
        "INVITE",
        "sip:100@switchyard.test",
        "bob",
        "hunter2",
        1,
        &mut rng,
    )
    .unwrap();
    assert!(a.contains("algorithm=MD5,"));
    assert_eq!(
        s.verify(t0, "INVITE", &a, passwords).map(|v| v.username),
        Ok("bob".to_owned())
    );
}

#[test]
fn client_prefers_sha256_from_joined_challenges() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let mut c = s.challenge(t0, &mut rng, false);
    c.reverse();
    let joined = c.join(", ");
    let a = answer_challenge(&joined, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    assert!(a.contains("algorithm=SHA-256"));
    assert!(s.verify(t0, "REGISTER", &a, passwords).is_ok());
}

#[test]
fn client_answers_rfc2069_challenge_without_qop() {
    let mut rng = rng();
    let c = r#"Digest realm="carrier", nonce="abc""#;
    let a = answer_challenge(c, "INVITE", "sip:1@carrier", "u", "p", 1, &mut rng).unwrap();
    assert!(!a.contains("qop"));
    assert!(!a.contains("nc="));
    assert!(a.contains("algorithm=MD5"));
}

#[test]
fn client_refuses_what_it_cannot_answer() {
    let mut rng = rng();
    let mut answer = |c: &str| answer_challenge(c, "INVITE", "sip:x", "u", "p", 1, &mut rng);
    assert_eq!(answer(r#"Basic realm="x""#), Err(AuthError::NotDigest));
    assert_eq!(
        answer(r#"Digest realm="x", nonce="n", algorithm=SHA-512-256"#),
        Err(AuthError::UnsupportedAlgorithm)
    );
    assert_eq!(
        answer(r#"Digest realm="x", nonce="n", qop="auth-int""#),
        Err(AuthError::UnsupportedQop)
    );
    assert_eq!(
        answer(r#"Digest realm="x""#),
        Err(AuthError::Malformed(MalformedHeader::MissingParameter(
            "nonce"
        )))
    );
}

#[test]
fn rfc2069_credentials_accepted_by_default_and_refused_when_disallowed() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "MD5").replace(", qop=\"auth\"", "");
    let a = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    assert!(s.verify(t0, "REGISTER", &a, passwords).is_ok());
    // No nc, so the same credentials are accepted again within the TTL.
    assert!(s.verify(t0, "REGISTER", &a, passwords).is_ok());

    let config = DigestConfig {
        allow_no_qop: false,
        ..DigestConfig::default()
    };
    let mut strict = DigestServer::new(REALM, config, &mut rng, t0);
    let c = challenge_for(&mut strict, t0, &mut rng, "MD5").replace(", qop=\"auth\"", "");
    let a = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    let err = strict.verify(t0, "REGISTER", &a, passwords).unwrap_err();
    assert_eq!(err, AuthError::UnsupportedQop);
    assert_eq!(err.answer(), AuthAnswer::Challenge);
}

#[test]
fn nonce_is_stale_exactly_at_ttl() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let issued = t0 + Duration::from_secs(10);
    let c = challenge_for(&mut s, issued, &mut rng, "SHA-256");
    let answer = |nc, rng: &mut StdRng| {
        answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", nc, rng).unwrap()
    };
    let a1 = answer(1, &mut rng);
    let last_ok = issued + Duration::from_secs(300) - Duration::from_millis(1);
    assert!(s.verify(last_ok, "REGISTER", &a1, passwords).is_ok());
    let a2 = answer(2, &mut rng);
    let err = s
        .verify(
            issued + Duration::from_secs(300),
            "REGISTER",
            &a2,
            passwords,
        )
        .unwrap_err();
    assert_eq!(err, AuthError::StaleNonce);
    assert_eq!(err.answer(), AuthAnswer::ChallengeStale);
}

#[test]
fn stale_nonce_with_wrong_password_is_bad_response_not_stale() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "MD5");
    let a = answer_challenge(&c, "REGISTER", "sip:x", "alice", "wrong", 1, &mut rng).unwrap();
    let late = t0 + Duration::from_secs(301);
    assert_eq!(
        s.verify(late, "REGISTER", &a, passwords),
        Err(AuthError::BadResponse)
    );
}

#[test]
fn nonce_count_replay_refused() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "SHA-256");
    let a1 = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    let a3 = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 3, &mut rng).unwrap();
    let a2 = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 2, &mut rng).unwrap();
    assert!(s.verify(t0, "REGISTER", &a1, passwords).is_ok());
    assert_eq!(
        s.verify(t0, "REGISTER", &a1, passwords),
        Err(AuthError::NonceCountReplay { nc: 1, highest: 1 })
    );
    assert!(s.verify(t0, "REGISTER", &a3, passwords).is_ok());
    let err = s.verify(t0, "REGISTER", &a2, passwords).unwrap_err();
    assert_eq!(err, AuthError::NonceCountReplay { nc: 2, highest: 3 });
    assert_eq!(err.answer(), AuthAnswer::Challenge);
}

#[test]
fn nonce_count_table_evicts_oldest_and_then_answers_it_stale() {
    let t0 = epoch();
    let mut rng = rng();
    let config = DigestConfig {
        nonces_tracked_max: 2,
        ..DigestConfig::default()
    };
    let mut s = DigestServer::new(REALM, config, &mut rng, t0);
    let answers: Vec<_> = (0..3u64)
        .map(|i| {
            let c = challenge_for(&mut s, t0 + Duration::from_millis(i), &mut rng, "MD5");
            [1, 2].map(|nc| {
                answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", nc, &mut rng).unwrap()
            })
        })
        .collect();
    let now = t0 + Duration::from_secs(1);
    for a in &answers {
        assert!(s.verify(now, "REGISTER", &a[0], passwords).is_ok());
    }
    assert_eq!(s.nonces_tracked(), 2);
    assert_eq!(s.nonces_evicted_total(), 1);
    // The oldest nonce's counts are gone: replay cannot be ruled out.
    assert_eq!(
        s.verify(now, "REGISTER", &answers[0][1], passwords),
        Err(AuthError::StaleNonce)
    );
    assert!(s.verify(now, "REGISTER", &answers[2][1], passwords).is_ok());
}

#[test]
fn forged_nonce_refused() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "MD5");
    let nonce = param_of(&c, "nonce");
    // Same layout, one MAC digit changed.
    let mut forged = nonce.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let c_forged = c.replace(&nonce, &forged);
    let a = answer_challenge(
        &c_forged, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng,
    )
    .unwrap();
    let err = s.verify(t0, "REGISTER", &a, passwords).unwrap_err();
    assert_eq!(err, AuthError::UnknownNonce);
    assert_eq!(err.answer(), AuthAnswer::Challenge);

    // A nonce from another server instance (another secret) is not ours either.
    let mut other = server(t0, &mut StdRng::seed_from_u64(99));
    let c_other =
        challenge_for(&mut other, t0, &mut rng, "MD5").replace(&param_of(&c, "opaque"), "x");
    let a = answer_challenge(
        &c_other, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng,
    )
    .unwrap();
    assert_eq!(
        s.verify(t0, "REGISTER", &a, passwords),
        Err(AuthError::UnknownNonce)
    );
}

#[test]
fn rfc2617_example_header_is_refused_as_unknown_nonce() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = DigestServer::new("testrealm@host.com", DigestConfig::default(), &mut rng, t0);
    let h = r#"Digest username="Mufasa",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        uri="/dir/index.html",
        qop=auth,
        nc=00000001,
        cnonce="0a4f113b",
        response="6629fae49393a05397450978507c4ef1""#;
    let pw = |_: &str| Some("Circle Of Life".to_owned());
    assert_eq!(s.verify(t0, "GET", h, pw), Err(AuthError::UnknownNonce));
}

#[test]
fn wrong_password_unknown_user_and_wrong_realm() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "SHA-256");
    let wrong = answer_challenge(&c, "REGISTER", "sip:x", "alice", "guess", 1, &mut rng).unwrap();
    let err = s.verify(t0, "REGISTER", &wrong, passwords).unwrap_err();
    assert_eq!(err, AuthError::BadResponse);
    assert_eq!(err.answer(), AuthAnswer::Forbidden);

    let nobody = answer_challenge(&c, "REGISTER", "sip:x", "mallory", "x", 1, &mut rng).unwrap();
    let err = s.verify(t0, "REGISTER", &nobody, passwords).unwrap_err();
    assert_eq!(err, AuthError::UnknownUser);
    assert_eq!(err.answer(), AuthAnswer::Forbidden);

    let elsewhere = c.replace(REALM, "other.example");
    let a = answer_challenge(
        &elsewhere, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng,
    )
    .unwrap();
    let err = s.verify(t0, "REGISTER", &a, passwords).unwrap_err();
    assert_eq!(err, AuthError::WrongRealm);
    assert_eq!(err.answer(), AuthAnswer::Challenge);
}

#[test]
fn wrong_method_is_bad_response() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "MD5");
    let a = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    assert_eq!(
        s.verify(t0, "INVITE", &a, passwords),
        Err(AuthError::BadResponse)
    );
}

#[test]
fn parameters_in_any_order_case_and_spacing_verify() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "MD5");
    let a = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    let p = |n| param_of(&a, n);
    let shuffled = format!(
        "dIgEsT   RESPONSE = \"{}\" ,NC={} ,\r\n\t Nonce=\"{}\",,  qop=\"auth\", CNonce=\"{}\", uri=\"sip:x\", Realm=\"switchyard.test\", algorithm=md5, UserName=\"al\\ice\"",
        p("response"),
        p("nc"),
        p("nonce"),
        p("cnonce"),
    );
    assert_eq!(
        s.verify(t0, "REGISTER", &shuffled, passwords)
            .map(|v| v.username),
        Ok("alice".to_owned())
    );
}

#[test]
fn other_scheme_is_not_digest() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    // RFC 4475 §3.1.2.13 (regaut01): an unknown scheme must be challenged.
    for h in [
        "NoOneKnowsThisScheme opaque-data=here",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "",
        "  ",
    ] {
        let err = s.verify(t0, "REGISTER", h, passwords).unwrap_err();
        assert_eq!(err, AuthError::NotDigest, "{h:?}");
        assert_eq!(err.answer(), AuthAnswer::Challenge);
    }
}

#[test]
fn malformed_headers_are_errors_never_panics() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "MD5");
    let good = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    let long = format!("Digest username=\"{}\"", "a".repeat(AUTH_HEADER_BYTES_MAX));
    let many = format!(
        "Digest {}",
        (0..40)
            .map(|i| format!("p{i}=1"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let nasty: Vec<String> = vec![
        "Digest".into(),
        "Digest ".into(),
        "Digest ,,,".into(),
        "Digest username".into(),
        "Digest username=".into(),
        "Digest username=\"".into(),
        "Digest username=\"alice".into(),
        "Digest username=\"al\\".into(),
        "Digest username=\"a\"b\"".into(),
        "Digest username=\"a\" realm=\"b\"".into(),
        "Digest username=alice@host".into(),
        "Digest username=\"a\u{0}b\"".into(),
        "Digest username=\"a\\\r\nb\"".into(),
        "Digest =\"x\"".into(),
        "Digest username=\"a\", username=\"a\"".into(),
        "Digest username=\"a\", Digest realm=\"b\"".into(),
        "Digest username=\"é\", realm=\"ü\", nonce=\"💥\", uri=\"x\", response=\"r\"".into(),
        good.replace("nc=00000001", "nc=1"),
        good.replace("nc=00000001", "nc=0000000g"),
        good.replace("nc=00000001", "nc=+0000001"),
        good.replace("qop=auth", "qop=auth-int"),
        good.replace("algorithm=MD5", "algorithm=SHA-512-256"),
        good.replace("algorithm=MD5", "algorithm=\"\""),
        good.replace(", cnonce=", ", xcnonce="),
        good.replace("response=\"", "response=\"zz"),
        good.replace("opaque=\"", "opaque=\"x"),
        good[..good.len() / 2].to_owned(),
        good.replace('"', ""),
        long,
        many,
        "Digest username=\"\\\"\\\\\"".into(),
        "Digest ÿ=1".into(),
    ];
    for h in &nasty {
        // Every one is refused with a value, and none verifies.
        assert!(s.verify(t0, "REGISTER", h, passwords).is_err(), "{h:?}");
        let _ = answer_challenge(h, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng);
    }
    // Every prefix of a used header, cut on char boundaries. Without its
    // optional opaque it would verify, were its nc not used already.
    assert!(s.verify(t0, "REGISTER", &good, passwords).is_ok());
    for end in (0..good.len()).filter(|&i| good.is_char_boundary(i)) {
        assert!(s.verify(t0, "REGISTER", &good[..end], passwords).is_err());
    }
    assert_eq!(
        s.verify(
            t0,
            "REGISTER",
            "Digest username=\"a\", username=\"a\"",
            passwords
        ),
        Err(AuthError::Malformed(MalformedHeader::DuplicateParameter))
    );
    assert_eq!(
        s.verify(t0, "REGISTER", "Digest username=\"alice", passwords),
        Err(AuthError::Malformed(MalformedHeader::UnterminatedQuote))
    );
}

#[test]
fn escaped_username_and_userhash_challenge() {
    let mut rng = rng();
    let c = r#"Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, userhash=true"#;
    let a = answer_challenge(c, "INVITE", "sip:x", "a\"b", "p", 1, &mut rng).unwrap();
    assert!(a.contains("userhash=true"));
    let user = param_of(&a, "username");
    assert_eq!(user, Algorithm::Sha256.hash_hex(b"a\"b:r"));
    let plain = answer_challenge(
        &c.replace(", userhash=true", ""),
        "INVITE",
        "sip:x",
        "a\"b",
        "p",
        1,
        &mut rng,
    )
    .unwrap();
    assert!(plain.contains(r#"username="a\"b""#));
}

#[test]
fn debug_output_leaves_the_secret_out() {
    let mut rng = rng();
    let s = server(epoch(), &mut rng);
    let shown = format!("{s:?}");
    assert!(!shown.contains("secret"));
    assert!(!shown.contains("opaque"));
}

#[test]
fn randomly_mutated_credentials_never_panic_nor_verify_as_another_user() {
    let t0 = epoch();
    let mut rng = rng();
    let mut s = server(t0, &mut rng);
    let c = challenge_for(&mut s, t0, &mut rng, "SHA-256");
    let good = answer_challenge(&c, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng).unwrap();
    let alphabet = b"\"\\=, \t\r\naZ0-_:;@\x00\x7f";
    let mut mutants = StdRng::seed_from_u64(4475);
    for round in 0..3000 {
        let mut bytes = good.clone().into_bytes();
        for _ in 0..mutants.random_range(1..4) {
            let i = mutants.random_range(0..bytes.len());
            match mutants.random_range(0..3) {
                0 => bytes[i] = alphabet[mutants.random_range(0..alphabet.len())],
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, alphabet[mutants.random_range(0..alphabet.len())]),
            }
        }
        let Ok(h) = String::from_utf8(bytes) else {
            continue;
        };
        // A mutant verifies only if it kept the digest inputs (a space added
        // between parameters, say), and then only as alice.
        if let Ok(v) = s.verify(t0, "REGISTER", &h, passwords) {
            assert_eq!(v.username, "alice", "round {round}: {h:?}");
        }
        let _ = answer_challenge(&h, "REGISTER", "sip:x", "alice", "s3cret", 1, &mut rng);
    }
}

#[test]
fn credentials_uri_is_read_for_the_request_uri_check() {
    let h = r#"Digest username="a", uri="sip:100@switchyard.test;user=phone", response="x""#;
    assert_eq!(
        credentials_uri(h).as_deref(),
        Some("sip:100@switchyard.test;user=phone")
    );
    assert_eq!(credentials_uri(r#"Basic uri="x""#), None);
    assert_eq!(credentials_uri("Digest uri=\"x"), None);
}

#[test]
fn hex_is_lowercase_zero_padded_like_format() {
    for (a, b) in [
        (0u64, 0u32),
        (0x0123_4567_89ab_cdef, 0xfedc_ba98),
        (u64::MAX, 7),
    ] {
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&a.to_be_bytes());
        bytes[8..].copy_from_slice(&b.to_be_bytes());
        assert_eq!(super::hex(&bytes), format!("{a:016x}{b:08x}"));
    }
}
