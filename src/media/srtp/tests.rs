use super::*;

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 3711 Appendix B.3's master key and salt (also libsrtp's test key).
fn rfc_master() -> MasterKey {
    let bytes = hex("E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6");
    MasterKey::from_bytes(bytes.as_slice().try_into().unwrap())
}

#[test]
fn aes_cm_keystream_matches_rfc_3711_b2() {
    let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap();
    let cipher = Aes128::new(&key.into());
    let iv: [u8; 16] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000").try_into().unwrap();
    let mut stream = [0u8; 48];
    keystream_xor(&cipher, iv, &mut stream);
    let expected = hex(
        "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB \
         41E95B3BB0A2E8DD477901E4FCA894C0",
    );
    assert_eq!(stream.to_vec(), expected);
}

#[test]
fn key_derivation_matches_rfc_3711_b3() {
    let master = rfc_master();
    let prf = Aes128::new(&master.key.into());
    let mut key = [0u8; 16];
    derive(&prf, &master.salt, LABEL_RTP_ENCRYPTION, &mut key);
    assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut salt = [0u8; 14];
    derive(&prf, &master.salt, LABEL_RTP_SALT, &mut salt);
    assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    let mut auth = [0u8; 20];
    derive(&prf, &master.salt, LABEL_RTP_AUTH, &mut auth);
    assert_eq!(
        auth.to_vec(),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    );
}

/// libsrtp's reference packet (srtp_validate) for the default policy,
/// AES_CM_128_HMAC_SHA1_80 with the RFC 3711 B.3 key.
const PLAIN: &str = "800f1234decafbadcafebabe abababababababababababababababab";
const PROTECTED: &str =
    "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb";

#[test]
fn protect_and_unprotect_match_the_libsrtp_reference_packet() {
    let plain = hex(PLAIN);
    let mut buf = [0u8; 64];
    buf[..plain.len()].copy_from_slice(&plain);
    let mut tx = SrtpContext::new(&rfc_master());
    let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
    assert_eq!(buf[..n].to_vec(), hex(PROTECTED));

    let mut rx = SrtpContext::new(&rfc_master());
    let mut packet = hex(PROTECTED);
    let n = rx.unprotect_rtp(&mut packet).unwrap();
    assert_eq!(packet[..n].to_vec(), plain);
}

#[test]
fn a_flipped_bit_fails_authentication_and_a_repeat_is_a_replay() {
    let mut rx = SrtpContext::new(&rfc_master());
    let mut bad = hex(PROTECTED);
    bad[20] ^= 1;
    assert_eq!(rx.unprotect_rtp(&mut bad), Err(SrtpError::AuthFailed));
    let mut good = hex(PROTECTED);
    assert!(rx.unprotect_rtp(&mut good).is_ok());
    let mut again = hex(PROTECTED);
    assert_eq!(rx.unprotect_rtp(&mut again), Err(SrtpError::Replay));
    let mut short = hex(PROTECTED)[..15].to_vec();
    assert_eq!(rx.unprotect_rtp(&mut short), Err(SrtpError::TooShort));
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = hex("80000000 00000000 11223344");
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&seq.to_le_bytes().repeat(10));
    p
}

#[test]
fn the_rollover_counter_follows_a_sequence_wrap_and_old_packets_stay_in_the_window() {
    let key = MasterKey::from_bytes(&[7u8; KEY_PARAMS_BYTES]);
    let (mut tx, mut rx) = (SrtpContext::new(&key), SrtpContext::new(&key));
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let seq = (65_500 + i) as u16;
        let plain = rtp(seq);
        let mut buf = vec![0u8; plain.len() + RTP_OVERHEAD];
        buf[..plain.len()].copy_from_slice(&plain);
        let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
        sent.push((plain, buf[..n].to_vec()));
    }
    // In order but for a swap of two neighbours across the wrap.
    sent.swap(35, 36);
    for (plain, packet) in &sent {
        let mut p = packet.clone();
        let n = rx.unprotect_rtp(&mut p).expect("accepted");
        assert_eq!(&p[..n], plain.as_slice());
    }
    // One from far behind is refused: out of the window.
    let mut old = sent[10].1.clone();
    assert_eq!(rx.unprotect_rtp(&mut old), Err(SrtpError::Replay));
}

#[test]
fn srtcp_round_trips_and_refuses_replays() {
    let key = MasterKey::from_bytes(&[9u8; KEY_PARAMS_BYTES]);
    let (mut tx, mut rx) = (SrtpContext::new(&key), SrtpContext::new(&key));
    let plain = hex("81c8000bcafebabe abababababababababababababababab");
    let mut buf = vec![0u8; plain.len() + RTCP_OVERHEAD];
    buf[..plain.len()].copy_from_slice(&plain);
    let n = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
    assert_eq!(n, plain.len() + 4 + AUTH_TAG_BYTES);
    buf.truncate(n);
    assert_ne!(&buf[8..plain.len()], &plain[8..]);
    let mut copy = buf.clone();
    let m = rx.unprotect_rtcp(&mut buf).unwrap();
    assert_eq!(&buf[..m], plain.as_slice());
    assert_eq!(rx.unprotect_rtcp(&mut copy), Err(SrtpError::Replay));
}

#[test]
fn inline_keys_round_trip_and_bad_ones_are_refused() {
    let key = rfc_master();
    let text = key.to_inline();
    assert_eq!(text.len(), 40);
    assert_eq!(MasterKey::from_inline(&text), Some(key));
    assert_eq!(MasterKey::from_inline("c2hvcnQ="), None);
    assert_eq!(MasterKey::from_inline("not base64 at all!"), None);
    assert!(!format!("{key:?}").contains(&text));
}

/// RFC 7714 §16 and §17: session key 000102…0f and salt "Quid pro quo"
/// for both RTP and RTCP.
fn rfc_7714_context() -> SrtpContext {
    let key: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    let salt: [u8; 12] = hex("517569642070726f2071756f").try_into().unwrap();
    SrtpContext::gcm_with_session_keys((&key, salt), (&key, salt))
}

/// RFC 7714 §16.1: "Gallia est omnis divisa in partes tres", sequence
/// 0xf17b, SSRC 0x5501a0b2, ROC 0.
const GCM_RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                       20646976 69736120 696e2070 61727465 73207472 6573";
/// §16.1.1: the SRTP packet (header, ciphertext, tag).
const GCM_SRTP: &str = "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca
                        be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1
                        6a9152cf 765ee439 0cce";
/// §17: the RTCP packet (SSRC "Mars"), and §17.1 its SRTCP form with
/// index 0x5d4 (header, ciphertext, tag, E + index).
const GCM_RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                        4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef";
const GCM_SRTCP: &str = "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7
                         6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458
                         96cf4d2f c5abf872 45d9eade 800005d4";

#[test]
fn gcm_srtp_matches_rfc_7714_16_1() {
    let plain = hex(GCM_RTP);
    let mut buf = plain.clone();
    buf.resize(plain.len() + RTP_OVERHEAD, 0);
    let n = rfc_7714_context()
        .protect_rtp(&mut buf, plain.len())
        .unwrap();
    assert_eq!(&buf[..n], hex(GCM_SRTP).as_slice());

    let mut rx = rfc_7714_context();
    let mut packet = hex(GCM_SRTP);
    let n = rx.unprotect_rtp(&mut packet).unwrap();
    assert_eq!(&packet[..n], plain.as_slice());
    // Once is enough; a flipped bit does not authenticate.
    let mut again = hex(GCM_SRTP);
    assert_eq!(rx.unprotect_rtp(&mut again), Err(SrtpError::Replay));
    let mut forged = hex(GCM_SRTP);
    forged[20] ^= 1;
    assert_eq!(
        rfc_7714_context().unprotect_rtp(&mut forged),
        Err(SrtpError::AuthFailed)
    );
}

#[test]
fn gcm_srtcp_matches_rfc_7714_17_1() {
    let plain = hex(GCM_RTCP);
    let mut rx = rfc_7714_context();
    let mut packet = hex(GCM_SRTCP);
    let n = rx.unprotect_rtcp(&mut packet).unwrap();
    assert_eq!(&packet[..n], plain.as_slice());
    let mut again = hex(GCM_SRTCP);
    assert_eq!(rx.unprotect_rtcp(&mut again), Err(SrtpError::Replay));

    // Our sender counts from 0: the vector's packet is its 0x5d4th.
    let mut tx = rfc_7714_context();
    let mut buf = Vec::new();
    for _ in 0..=0x5d4 {
        buf = plain.clone();
        buf.resize(plain.len() + RTCP_OVERHEAD, 0);
        let n = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
        buf.truncate(n);
    }
    assert_eq!(buf, hex(GCM_SRTCP));
    let mut forged = hex(GCM_SRTCP);
    forged[12] ^= 1;
    assert_eq!(
        rfc_7714_context().unprotect_rtcp(&mut forged),
        Err(SrtpError::AuthFailed)
    );
}

#[test]
fn gcm_master_keys_round_trip_both_ways_and_keep_their_suite() {
    let key = MasterKey::for_suite(Suite::AeadAes128Gcm, &[9; GCM_KEY_PARAMS_BYTES]).unwrap();
    let inline = key.to_inline();
    assert_eq!(inline.len(), 40, "28 bytes in base64: {inline}");
    assert_eq!(
        MasterKey::from_inline_for(Suite::AeadAes128Gcm, &inline),
        Some(key)
    );
    // A GCM key is not an AES_CM one, nor the other way round.
    assert_eq!(MasterKey::from_inline(&inline), None);
    let cm = MasterKey::from_bytes(&[9; KEY_PARAMS_BYTES]).to_inline();
    assert_eq!(MasterKey::from_inline_for(Suite::AeadAes128Gcm, &cm), None);
    let mut tx = SrtpContext::new(&key);
    let mut rx = SrtpContext::new(&key);
    for seq in [1u16, 2, 3] {
        let plain = rtp(seq);
        let mut buf = plain.clone();
        buf.resize(plain.len() + RTP_OVERHEAD, 0);
        let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
        assert_eq!(n, plain.len() + GCM_TAG_BYTES);
        buf.truncate(n);
        let n = rx.unprotect_rtp(&mut buf).unwrap();
        assert_eq!(&buf[..n], plain.as_slice());
    }
    // An AES_CM receiver with the same bytes cannot read it.
    let cm_key = MasterKey {
        suite: Suite::AesCm128HmacSha1_80,
        ..key
    };
    let mut cm_rx = SrtpContext::new(&cm_key);
    let plain = rtp(9);
    let mut buf = plain.clone();
    buf.resize(plain.len() + RTP_OVERHEAD, 0);
    let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
    buf.truncate(n);
    assert_eq!(cm_rx.unprotect_rtp(&mut buf), Err(SrtpError::AuthFailed));
}
