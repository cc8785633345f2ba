//! Digest arithmetic: the algorithms of RFC 7616 §3.4.2 (MD5 and SHA-256, each
//! with its `-sess` form), the request digest of RFC 2617 §3.2.2.1, the keyed
//! MAC that makes our nonces verifiable, hex and constant-time comparison.

use md5::Md5;
use sha2::{Digest, Sha256};

/// A digest algorithm named in a challenge or in credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Algorithm {
    // Declared from least to most preferred: the client picks the maximum.
    Md5Sess,
    Md5,
    Sha256Sess,
    Sha256,
}

impl Algorithm {
    /// Parses the `algorithm` token, case-insensitively (RFC 7616 §3.3).
    pub(super) fn parse(token: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// H(data) as lowercase hex (RFC 7616 §3.4.2).
    pub(super) fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex(&Md5::digest(data)),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex(&Sha256::digest(data)),
        }
    }

    /// Length in hex digits of a response under this algorithm.
    pub(super) fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 32,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 64,
        }
    }
}

/// The `qop=auth` part of a request digest: nonce-count (as sent, 8 hex
/// digits) and client nonce.
#[derive(Clone, Copy, Debug)]
pub(super) struct QopAuth<'a> {
    pub nc: &'a str,
    pub cnonce: &'a str,
}

/// Everything the request digest depends on.
#[derive(Clone, Copy, Debug)]
pub(super) struct DigestInput<'a> {
    pub algorithm: Algorithm,
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    /// Needed by the `-sess` algorithms even without qop (RFC 2617 §3.2.2.2).
    pub cnonce: Option<&'a str>,
    /// `None` is the RFC 2069 form.
    pub qop: Option<QopAuth<'a>>,
}

/// The `response` value: RFC 2617 §3.2.2.1 with qop, RFC 2069 without.
/// `None` when a `-sess` algorithm lacks its cnonce.
pub(super) fn request_digest(input: &DigestInput<'_>) -> Option<String> {
    let h = |s: &str| input.algorithm.hash_hex(s.as_bytes());
    let mut ha1 = h(&format!(
        "{}:{}:{}",
        input.username, input.realm, input.password
    ));
    if input.algorithm.is_sess() {
        ha1 = h(&format!("{ha1}:{}:{}", input.nonce, input.cnonce?));
    }
    let ha2 = h(&format!("{}:{}", input.method, input.uri));
    Some(match input.qop {
        Some(q) => h(&format!(
            "{ha1}:{}:{}:{}:auth:{ha2}",
            input.nonce, q.nc, q.cnonce
        )),
        None => h(&format!("{ha1}:{}:{ha2}", input.nonce)),
    })
}

/// HMAC-SHA-256 (RFC 2104) with a 32-byte key.
pub(super) fn hmac_sha256(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Lowercase hex; digests of digest 0.11 no longer implement `LowerHex`.
/// The switch's random tokens use it too, in place of `format!`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Compares without an early exit, so response timing does not reveal how many
/// leading bytes of a guessed digest were right. Lengths are public.
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
