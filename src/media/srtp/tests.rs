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
    assert_eq!(n, plain.len() + RTCP_OVERHEAD);
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
