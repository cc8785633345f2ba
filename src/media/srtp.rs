//! SRTP and SRTCP (RFC 3711) with AES_CM_128_HMAC_SHA1_80, and with
//! AEAD_AES_128_GCM (RFC 7714, in `gcm.rs`), keyed by SDES (RFC 4568): the
//! key derivation, protect and unprotect of one direction of one leg, the
//! rollover counter and the replay window. Pure: the key
//! comes from the caller (drawn by a driver), packets are rewritten in
//! place in the caller's buffer, nothing is allocated per packet.
//!
//! One context follows one sending source (SSRC) at a time; a new SSRC on
//! the leg starts its counters afresh (a phone that restarts its stream),
//! which is what a relay leg with one party on it needs.

mod gcm;

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use base64::Engine as _;

use gcm::GcmKeys;

/// The suites spoken (RFC 4568 §6.2.1, RFC 7714 §14.1).
pub const SUITE_AES_CM_128_HMAC_SHA1_80: &str = "AES_CM_128_HMAC_SHA1_80";
pub const SUITE_AEAD_AES_128_GCM: &str = "AEAD_AES_128_GCM";
pub const MASTER_KEY_BYTES: usize = 16;
pub const MASTER_SALT_BYTES: usize = 14;
/// Key and salt together, as `inline:` carries them (AES_CM).
pub const KEY_PARAMS_BYTES: usize = MASTER_KEY_BYTES + MASTER_SALT_BYTES;
/// The GCM master salt is 96 bits (RFC 7714 §12).
pub const GCM_MASTER_SALT_BYTES: usize = 12;
pub const GCM_KEY_PARAMS_BYTES: usize = MASTER_KEY_BYTES + GCM_MASTER_SALT_BYTES;
/// The 80-bit authentication tag.
pub const AUTH_TAG_BYTES: usize = 10;
/// The GCM tag (RFC 7714 §6).
pub const GCM_TAG_BYTES: usize = 16;
/// The most protecting adds to an RTP packet, and to an RTCP one (E flag
/// and SRTCP index, and the tag), whatever the suite: size buffers by it.
pub const RTP_OVERHEAD: usize = GCM_TAG_BYTES;
pub const RTCP_OVERHEAD: usize = 4 + GCM_TAG_BYTES;

/// A crypto suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AeadAes128Gcm,
}

impl Suite {
    /// In the order we offer them.
    pub const OFFERED: [Suite; 2] = [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm];
    pub const NAMES: &'static str = "AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM";

    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => SUITE_AES_CM_128_HMAC_SHA1_80,
            Suite::AeadAes128Gcm => SUITE_AEAD_AES_128_GCM,
        }
    }

    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::OFFERED.into_iter().find(|s| s.name() == name)
    }

    /// Bytes of key and salt in an `inline:` key of this suite.
    pub fn key_params_bytes(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => KEY_PARAMS_BYTES,
            Suite::AeadAes128Gcm => GCM_KEY_PARAMS_BYTES,
        }
    }
}
/// Packets older than this many indices behind the newest are refused
/// (RFC 3711 §3.3.2: at least 64).
pub const REPLAY_WINDOW: u64 = 64;

const RTP_HEADER_BYTES: usize = 12;
const RTCP_HEADER_BYTES: usize = 8;
const AUTH_KEY_BYTES: usize = 20;
/// Key derivation labels (RFC 3711 §4.3.1, §4.3.2).
const LABEL_RTP_ENCRYPTION: u8 = 0;
const LABEL_RTP_AUTH: u8 = 1;
const LABEL_RTP_SALT: u8 = 2;
const LABEL_RTCP_ENCRYPTION: u8 = 3;
const LABEL_RTCP_AUTH: u8 = 4;
const LABEL_RTCP_SALT: u8 = 5;
/// The SRTCP index is 31 bits (RFC 3711 §3.4).
const SRTCP_INDEX_MAX: u32 = 0x7fff_ffff;

/// Why a packet was not protected or unprotected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    #[error("packet too short for SRTP")]
    TooShort,
    #[error("no room in the buffer for the tag")]
    NoRoom,
    #[error("authentication failed")]
    AuthFailed,
    #[error("replayed or too old")]
    Replay,
    #[error("SRTCP packet not encrypted")]
    NotEncrypted,
    #[error("SRTCP index exhausted: the key must change")]
    Exhausted,
}

/// A master key and salt (RFC 3711 §8.2), as SDES exchanges them, and
/// the suite they are for. A GCM salt is 12 bytes: the last two here are 0.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MasterKey {
    pub key: [u8; MASTER_KEY_BYTES],
    pub salt: [u8; MASTER_SALT_BYTES],
    pub suite: Suite,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never reach a log.
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// From 30 bytes of key then salt (AES_CM).
    pub fn from_bytes(bytes: &[u8; KEY_PARAMS_BYTES]) -> MasterKey {
        MasterKey::for_suite(Suite::AesCm128HmacSha1_80, bytes)
            .expect("30 bytes are an AES_CM key and salt")
    }

    /// From the key then the salt of `suite`; `None` when `bytes` is not
    /// [`Suite::key_params_bytes`] long.
    pub fn for_suite(suite: Suite, bytes: &[u8]) -> Option<MasterKey> {
        if bytes.len() != suite.key_params_bytes() {
            return None;
        }
        let mut key = [0; MASTER_KEY_BYTES];
        let mut salt = [0; MASTER_SALT_BYTES];
        key.copy_from_slice(&bytes[..MASTER_KEY_BYTES]);
        salt[..bytes.len() - MASTER_KEY_BYTES].copy_from_slice(&bytes[MASTER_KEY_BYTES..]);
        Some(MasterKey { key, salt, suite })
    }

    /// The base64 of an AES_CM `inline:` key parameter (RFC 4568 §6.1),
    /// without its lifetime or MKI.
    pub fn from_inline(text: &str) -> Option<MasterKey> {
        MasterKey::from_inline_for(Suite::AesCm128HmacSha1_80, text)
    }

    /// As [`MasterKey::from_inline`], for `suite`.
    pub fn from_inline_for(suite: Suite, text: &str) -> Option<MasterKey> {
        let mut bytes = [0u8; KEY_PARAMS_BYTES + 3];
        let engine = base64::engine::general_purpose::STANDARD;
        let n = engine.decode_slice(text.as_bytes(), &mut bytes).ok()?;
        MasterKey::for_suite(suite, &bytes[..n])
    }

    pub fn to_inline(&self) -> String {
        let n = self.suite.key_params_bytes();
        let mut bytes = [0u8; KEY_PARAMS_BYTES];
        bytes[..MASTER_KEY_BYTES].copy_from_slice(&self.key);
        bytes[MASTER_KEY_BYTES..n].copy_from_slice(&self.salt[..n - MASTER_KEY_BYTES]);
        base64::engine::general_purpose::STANDARD.encode(&bytes[..n])
    }
}

/// Session keys for one of RTP or RTCP.
struct SessionKeys {
    cipher: Aes128,
    salt: [u8; MASTER_SALT_BYTES],
    auth: ring::hmac::Key,
}

impl SessionKeys {
    fn derive(master: &MasterKey, labels: [u8; 3]) -> SessionKeys {
        let prf = Aes128::new(&master.key.into());
        let mut key = [0u8; MASTER_KEY_BYTES];
        let mut auth = [0u8; AUTH_KEY_BYTES];
        let mut salt = [0u8; MASTER_SALT_BYTES];
        derive(&prf, &master.salt, labels[0], &mut key);
        derive(&prf, &master.salt, labels[1], &mut auth);
        derive(&prf, &master.salt, labels[2], &mut salt);
        SessionKeys {
            cipher: Aes128::new(&key.into()),
            salt,
            auth: ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &auth),
        }
    }

    /// XORs the AES-CM keystream for (ssrc, index) into `data`
    /// (RFC 3711 §4.1.1).
    fn apply_keystream(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..MASTER_SALT_BYTES].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= s;
        }
        keystream_xor(&self.cipher, iv, data);
    }

    /// The 80-bit tag of `parts` concatenated.
    fn tag(&self, parts: &[&[u8]]) -> [u8; AUTH_TAG_BYTES] {
        let mut ctx = ring::hmac::Context::with_key(&self.auth);
        for p in parts {
            ctx.update(p);
        }
        let full = ctx.sign();
        let mut tag = [0u8; AUTH_TAG_BYTES];
        tag.copy_from_slice(&full.as_ref()[..AUTH_TAG_BYTES]);
        tag
    }

    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let ours = self.tag(parts);
        // Constant time: a timing oracle on the tag is a forgery aid.
        ours.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
            && tag.len() == AUTH_TAG_BYTES
    }
}

/// The AES-CM PRF of RFC 3711 §4.3.1 with key derivation rate 0: `out` is
/// the keystream for IV = (label << 48) XOR master salt.
fn derive(prf: &Aes128, master_salt: &[u8; MASTER_SALT_BYTES], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..MASTER_SALT_BYTES].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    keystream_xor(prf, iv, out);
}

/// XORs AES-CTR output from `iv` (its last 16 bits the block counter).
fn keystream_xor(cipher: &Aes128, iv: [u8; 16], data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(16).enumerate() {
        let mut block = iv;
        let counter = u16::from_be_bytes([iv[14], iv[15]]).wrapping_add(i as u16);
        block[14..].copy_from_slice(&counter.to_be_bytes());
        let mut block = block.into();
        cipher.encrypt_block(&mut block);
        for (d, k) in chunk.iter_mut().zip(block.iter()) {
            *d ^= k;
        }
    }
}

/// Receive-side state of one stream: rollover counter, highest sequence
/// number and the replay window (RFC 3711 §3.3.1, §3.3.2, Appendix A).
#[derive(Debug, Clone, Copy)]
struct Replay {
    ssrc: u32,
    roc: u32,
    /// Highest sequence number authenticated (s_l).
    s_l: u16,
    /// Bit n set: index (highest - n) was seen.
    window: u64,
}

impl Replay {
    /// The packet index a sequence number stands for (Appendix A).
    fn estimate(&self, seq: u16) -> (u32, u64) {
        let v = if self.s_l < 32_768 {
            if i32::from(seq) - i32::from(self.s_l) > 32_768 {
                self.roc.wrapping_sub(1)
            } else {
                self.roc
            }
        } else if i32::from(self.s_l) - 32_768 > i32::from(seq) {
            self.roc.wrapping_add(1)
        } else {
            self.roc
        };
        (v, (u64::from(v) << 16) | u64::from(seq))
    }

    fn highest(&self) -> u64 {
        (u64::from(self.roc) << 16) | u64::from(self.s_l)
    }

    fn check(&self, index: u64) -> Result<(), SrtpError> {
        let highest = self.highest();
        if index > highest {
            return Ok(());
        }
        let behind = highest - index;
        if behind >= REPLAY_WINDOW || self.window & (1 << behind) != 0 {
            return Err(SrtpError::Replay);
        }
        Ok(())
    }

    fn accept(&mut self, roc: u32, seq: u16, index: u64) {
        let highest = self.highest();
        if index > highest {
            let ahead = index - highest;
            self.window = if ahead >= REPLAY_WINDOW {
                1
            } else {
                (self.window << ahead) | 1
            };
            self.roc = roc;
            self.s_l = seq;
        } else {
            self.window |= 1 << (highest - index);
        }
    }
}

/// The keys of one context, by suite.
#[allow(clippy::large_enum_variant)] // one per leg direction, boxed with the leg; a box here costs a pointer chase per packet
enum Transform {
    Cm { rtp: SessionKeys, rtcp: SessionKeys },
    Gcm { rtp: GcmKeys, rtcp: GcmKeys },
}

impl Transform {
    fn tag_len(&self) -> usize {
        match self {
            Transform::Cm { .. } => AUTH_TAG_BYTES,
            Transform::Gcm { .. } => GCM_TAG_BYTES,
        }
    }
}

/// One direction of one leg: protects what we send, or unprotects what
/// we receive, for RTP and RTCP.
pub struct SrtpContext {
    transform: Transform,
    /// Receive side: per-stream counters, from the first packet on.
    replay: Option<Replay>,
    rtcp_replay: Option<(u32, u64)>,
    /// Send side: the sequence we last protected and our rollover counter.
    send: Option<(u32, u16, u32)>,
    srtcp_index: u32,
}

impl std::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SrtpContext(..)")
    }
}

impl SrtpContext {
    pub fn new(master: &MasterKey) -> SrtpContext {
        let transform = match master.suite {
            Suite::AesCm128HmacSha1_80 => Transform::Cm {
                rtp: SessionKeys::derive(
                    master,
                    [LABEL_RTP_ENCRYPTION, LABEL_RTP_AUTH, LABEL_RTP_SALT],
                ),
                rtcp: SessionKeys::derive(
                    master,
                    [LABEL_RTCP_ENCRYPTION, LABEL_RTCP_AUTH, LABEL_RTCP_SALT],
                ),
            },
            Suite::AeadAes128Gcm => {
                let prf = Aes128::new(&master.key.into());
                let keys = |key_label, salt_label| {
                    let mut key = [0u8; MASTER_KEY_BYTES];
                    let mut salt = [0u8; GCM_MASTER_SALT_BYTES];
                    derive(&prf, &master.salt, key_label, &mut key);
                    derive(&prf, &master.salt, salt_label, &mut salt);
                    GcmKeys::new(&key, salt)
                };
                Transform::Gcm {
                    rtp: keys(LABEL_RTP_ENCRYPTION, LABEL_RTP_SALT),
                    rtcp: keys(LABEL_RTCP_ENCRYPTION, LABEL_RTCP_SALT),
                }
            }
        };
        SrtpContext {
            transform,
            replay: None,
            rtcp_replay: None,
            send: None,
            srtcp_index: 0,
        }
    }

    /// A GCM context on session keys as given (RFC 7714's test vectors
    /// state those, not a master key).
    pub fn gcm_with_session_keys(
        rtp: (&[u8; MASTER_KEY_BYTES], [u8; GCM_MASTER_SALT_BYTES]),
        rtcp: (&[u8; MASTER_KEY_BYTES], [u8; GCM_MASTER_SALT_BYTES]),
    ) -> SrtpContext {
        SrtpContext {
            transform: Transform::Gcm {
                rtp: GcmKeys::new(rtp.0, rtp.1),
                rtcp: GcmKeys::new(rtcp.0, rtcp.1),
            },
            replay: None,
            rtcp_replay: None,
            send: None,
            srtcp_index: 0,
        }
    }

    /// Encrypts the RTP packet in `buf[..len]` and appends its tag;
    /// returns the SRTP length (at most `len + RTP_OVERHEAD`).
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let header = rtp_header_len(&buf[..len])?;
        let tag_len = self.transform.tag_len();
        if buf.len() < len + tag_len {
            return Err(SrtpError::NoRoom);
        }
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        // Our rollover counter: bumped when the sequence number wraps
        // (RFC 3711 §3.3.1); a new SSRC starts at 0.
        let roc = match self.send {
            Some((s, last, roc)) if s == ssrc && seq < last && last - seq > 32_768 => {
                roc.wrapping_add(1)
            }
            Some((s, _, roc)) if s == ssrc => roc,
            _ => 0,
        };
        self.send = Some((ssrc, seq, roc));
        let index = (u64::from(roc) << 16) | u64::from(seq);
        match &self.transform {
            Transform::Cm { rtp, .. } => {
                rtp.apply_keystream(ssrc, index, &mut buf[header..len]);
                let tag = rtp.tag(&[&buf[..len], &roc.to_be_bytes()]);
                buf[len..len + AUTH_TAG_BYTES].copy_from_slice(&tag);
            }
            Transform::Gcm { rtp, .. } => {
                rtp.seal_rtp(&mut buf[..len + tag_len], header, ssrc, index)?;
            }
        }
        Ok(len + tag_len)
    }

    /// Checks the tag and the replay window of the SRTP packet in `buf`,
    /// then decrypts it in place; returns the RTP length.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.transform.tag_len();
        if buf.len() < RTP_HEADER_BYTES + tag_len {
            return Err(SrtpError::TooShort);
        }
        let len = buf.len() - tag_len;
        let header = rtp_header_len(&buf[..len])?;
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let state = match self.replay {
            Some(r) if r.ssrc == ssrc => r,
            // A new stream: its first packet sets s_l (RFC 3711 §3.3.1).
            _ => Replay {
                ssrc,
                roc: 0,
                s_l: seq,
                window: 0,
            },
        };
        let (roc, index) = state.estimate(seq);
        if self.replay.is_some_and(|r| r.ssrc == ssrc) {
            state.check(index)?;
        }
        match &self.transform {
            Transform::Cm { rtp, .. } => {
                let (packet, tag) = buf.split_at_mut(len);
                if !rtp.verify(&[packet, &roc.to_be_bytes()], tag) {
                    return Err(SrtpError::AuthFailed);
                }
                rtp.apply_keystream(ssrc, index, &mut packet[header..]);
            }
            Transform::Gcm { rtp, .. } => rtp.open_rtp(buf, header, ssrc, index)?,
        }
        let mut state = state;
        state.accept(roc, seq, index);
        self.replay = Some(state);
        Ok(len)
    }

    /// Encrypts the compound RTCP packet in `buf[..len]` and appends the
    /// E flag, the SRTCP index and the tag (RFC 3711 §3.4; RFC 7714 §9:
    /// the tag, then E and the index).
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let overhead = 4 + self.transform.tag_len();
        if len < RTCP_HEADER_BYTES {
            return Err(SrtpError::TooShort);
        }
        if buf.len() < len + overhead {
            return Err(SrtpError::NoRoom);
        }
        if self.srtcp_index > SRTCP_INDEX_MAX {
            return Err(SrtpError::Exhausted);
        }
        let index = self.srtcp_index;
        self.srtcp_index += 1;
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let e_index = (index | 0x8000_0000).to_be_bytes();
        match &self.transform {
            Transform::Cm { rtcp, .. } => {
                rtcp.apply_keystream(ssrc, u64::from(index), &mut buf[RTCP_HEADER_BYTES..len]);
                buf[len..len + 4].copy_from_slice(&e_index);
                let tag = rtcp.tag(&[&buf[..len + 4]]);
                buf[len + 4..len + overhead].copy_from_slice(&tag);
            }
            Transform::Gcm { rtcp, .. } => {
                rtcp.seal_rtcp(&mut buf[..len + overhead], ssrc, e_index)?;
            }
        }
        Ok(len + overhead)
    }

    /// Checks and decrypts the SRTCP packet in `buf`; returns the RTCP length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let overhead = 4 + self.transform.tag_len();
        if buf.len() < RTCP_HEADER_BYTES + overhead {
            return Err(SrtpError::TooShort);
        }
        let len = buf.len() - overhead;
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let e_index = match &self.transform {
            Transform::Cm { rtcp, .. } => {
                let (packet, trailer) = buf.split_at_mut(len);
                let (e_index, tag) = trailer.split_at(4);
                if !rtcp.verify(&[packet, e_index], tag) {
                    return Err(SrtpError::AuthFailed);
                }
                u32::from_be_bytes([e_index[0], e_index[1], e_index[2], e_index[3]])
            }
            Transform::Gcm { rtcp, .. } => rtcp.open_rtcp(buf, ssrc)?,
        };
        if e_index & 0x8000_0000 == 0 {
            return Err(SrtpError::NotEncrypted);
        }
        let index = u64::from(e_index & SRTCP_INDEX_MAX);
        self.rtcp_replay = Some(rtcp_window(self.rtcp_replay, index)?);
        if let Transform::Cm { rtcp, .. } = &self.transform {
            rtcp.apply_keystream(ssrc, index, &mut buf[RTCP_HEADER_BYTES..len]);
        }
        Ok(len)
    }
}

/// The SRTCP replay window after `index` (RTCP is sparse: a 64-wide
/// window over its index), or a replay.
fn rtcp_window(current: Option<(u32, u64)>, index: u64) -> Result<(u32, u64), SrtpError> {
    let (highest, window) = match current {
        Some((h, w)) => (u64::from(h), w),
        None => (index, 0),
    };
    let window = if current.is_none() || index > highest {
        let ahead = index.saturating_sub(highest);
        if ahead >= REPLAY_WINDOW {
            1
        } else {
            (window << ahead) | 1
        }
    } else {
        let behind = highest - index;
        if behind >= REPLAY_WINDOW || window & (1 << behind) != 0 {
            return Err(SrtpError::Replay);
        }
        window | (1 << behind)
    };
    Ok((highest.max(index) as u32, window))
}

/// Length of the RTP header with its CSRCs and extension: what SRTP
/// leaves in the clear (RFC 3711 §3.1).
fn rtp_header_len(packet: &[u8]) -> Result<usize, SrtpError> {
    if packet.len() < RTP_HEADER_BYTES {
        return Err(SrtpError::TooShort);
    }
    let csrcs = usize::from(packet[0] & 0x0f);
    let mut len = RTP_HEADER_BYTES + 4 * csrcs;
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(len + 2..len + 4).ok_or(SrtpError::TooShort)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    if len > packet.len() {
        return Err(SrtpError::TooShort);
    }
    Ok(len)
}

#[cfg(test)]
mod tests;
