//! AEAD_AES_128_GCM for SRTP and SRTCP (RFC 7714), with ring's AES-GCM:
//! the 12-byte IV of each packet, what is authenticated only (the RTP
//! header; the RTCP header with the E flag and index), and the layout of
//! the tag. Replay windows and rollover counters stay with the context.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};

use super::{SrtpError, GCM_MASTER_SALT_BYTES, GCM_TAG_BYTES, MASTER_KEY_BYTES};

const RTCP_HEADER_BYTES: usize = 8;

/// The session key and salt of one of RTP or RTCP.
pub(super) struct GcmKeys {
    key: LessSafeKey,
    salt: [u8; GCM_MASTER_SALT_BYTES],
}

impl GcmKeys {
    pub(super) fn new(key: &[u8; MASTER_KEY_BYTES], salt: [u8; GCM_MASTER_SALT_BYTES]) -> GcmKeys {
        let key = UnboundKey::new(&AES_128_GCM, key).expect("16 bytes are an AES-128 key");
        GcmKeys {
            key: LessSafeKey::new(key),
            salt,
        }
    }

    /// 00 00 | SSRC | `tail` (6 bytes), XOR the session salt (RFC 7714
    /// §8.1 for RTP, §9.1 for RTCP).
    fn nonce(&self, ssrc: u32, tail: [u8; 6]) -> Nonce {
        let mut iv = [0u8; GCM_MASTER_SALT_BYTES];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..].copy_from_slice(&tail);
        for (b, s) in iv.iter_mut().zip(self.salt) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(iv)
    }

    fn rtp_nonce(&self, ssrc: u32, index: u64) -> Nonce {
        let mut tail = [0u8; 6];
        tail.copy_from_slice(&index.to_be_bytes()[2..]);
        self.nonce(ssrc, tail)
    }

    fn rtcp_nonce(&self, ssrc: u32, e_index: [u8; 4]) -> Nonce {
        // The index without its E flag (RFC 7714 §9.1).
        let tail = [0, 0, e_index[0] & 0x7f, e_index[1], e_index[2], e_index[3]];
        self.nonce(ssrc, tail)
    }

    /// `packet` is the RTP packet, then room for the tag: the payload is
    /// encrypted in place and the tag written after it.
    pub(super) fn seal_rtp(
        &self,
        packet: &mut [u8],
        header: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), SrtpError> {
        let (head, rest) = packet.split_at_mut(header);
        let payload_len = rest.len() - GCM_TAG_BYTES;
        let (payload, tag_out) = rest.split_at_mut(payload_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(self.rtp_nonce(ssrc, index), Aad::from(&*head), payload)
            .map_err(|_| SrtpError::NoRoom)?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Authenticates and decrypts the SRTP packet in place (the tag is
    /// left behind the plaintext).
    pub(super) fn open_rtp(
        &self,
        packet: &mut [u8],
        header: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<(), SrtpError> {
        let (head, rest) = packet.split_at_mut(header);
        self.key
            .open_in_place(self.rtp_nonce(ssrc, index), Aad::from(&*head), rest)
            .map_err(|_| SrtpError::AuthFailed)?;
        Ok(())
    }

    /// `packet` is the RTCP packet, then room for the tag and E + index:
    /// all after the header is encrypted, then the tag and `e_index`
    /// written (RFC 7714 §9.1).
    pub(super) fn seal_rtcp(
        &self,
        packet: &mut [u8],
        ssrc: u32,
        e_index: [u8; 4],
    ) -> Result<(), SrtpError> {
        let aad = rtcp_aad(packet, e_index);
        let end = packet.len();
        packet[end - 4..].copy_from_slice(&e_index);
        let (head_and_payload, trailer) = packet.split_at_mut(end - 4 - GCM_TAG_BYTES);
        let payload = &mut head_and_payload[RTCP_HEADER_BYTES..];
        let tag = self
            .key
            .seal_in_place_separate_tag(self.rtcp_nonce(ssrc, e_index), Aad::from(aad), payload)
            .map_err(|_| SrtpError::NoRoom)?;
        trailer[..GCM_TAG_BYTES].copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Authenticates and decrypts the SRTCP packet in place; its E flag
    /// and index word. A packet with E clear is not decrypted (it is
    /// refused by the caller anyway).
    pub(super) fn open_rtcp(&self, packet: &mut [u8], ssrc: u32) -> Result<u32, SrtpError> {
        let end = packet.len();
        let mut e_index = [0u8; 4];
        e_index.copy_from_slice(&packet[end - 4..]);
        let word = u32::from_be_bytes(e_index);
        if word & 0x8000_0000 == 0 {
            return Ok(word);
        }
        let aad = rtcp_aad(packet, e_index);
        self.key
            .open_in_place(
                self.rtcp_nonce(ssrc, e_index),
                Aad::from(aad),
                &mut packet[RTCP_HEADER_BYTES..end - 4],
            )
            .map_err(|_| SrtpError::AuthFailed)?;
        Ok(word)
    }
}

/// What SRTCP authenticates without encrypting: the first 8 bytes, then
/// E and the index.
fn rtcp_aad(packet: &[u8], e_index: [u8; 4]) -> [u8; RTCP_HEADER_BYTES + 4] {
    let mut aad = [0u8; RTCP_HEADER_BYTES + 4];
    aad[..RTCP_HEADER_BYTES].copy_from_slice(&packet[..RTCP_HEADER_BYTES]);
    aad[RTCP_HEADER_BYTES..].copy_from_slice(&e_index);
    aad
}
