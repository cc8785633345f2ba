//! Digest authentication (RFC 3261 §22, RFC 2617 with `qop=auth`, RFC 7616 and
//! RFC 8760 for SHA-256): the server side that challenges and verifies agents'
//! phones, and the client side that answers a carrier's 401/407.
//!
//! Pure: header values come in as `&str` (this module does not depend on the
//! SIP parser), time as `now: Instant`, randomness from the caller's RNG.
//! Nonces are stateless to issue: each carries its issue time and a MAC under a
//! secret drawn at construction, so forged or foreign nonces are refused
//! without a table. Only nonces in use are tracked, in a bounded table, to
//! refuse a replayed nonce-count. Which user exists and what their password is
//! stays with the caller (`password_of`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use rand::RngCore;
use thiserror::Error;

mod client;
mod digest;
mod params;

pub use client::answer_challenge;
pub(crate) use digest::hex;
use digest::{Algorithm, DigestInput, QopAuth};
use params::{quote, SchemeParams};
pub use params::{AUTH_HEADER_BYTES_MAX, CHALLENGES_MAX};

/// Nonces whose highest nonce-count is remembered. When full the oldest is
/// dropped; a later use of an evicted nonce is answered as stale.
pub const NONCES_TRACKED_MAX: usize = 65_536;
/// How long a nonce is accepted after it was issued.
pub const NONCE_TTL_DEFAULT: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestConfig {
    /// A nonce older than this is stale: the phone retries with a fresh one
    /// without asking its user (RFC 2617 §3.2.1 `stale`).
    pub nonce_ttl: Duration,
    /// Bound on the nonce-count table, at most [`NONCES_TRACKED_MAX`].
    pub nonces_tracked_max: usize,
    /// Accept RFC 2069 credentials (no qop, so no nonce-count and no replay
    /// check within the nonce's lifetime). Old desk phones need it.
    pub allow_no_qop: bool,
    /// Which challenge comes first. Many clients (SIPp, older desk phones)
    /// answer only the first one and know only MD5.
    pub order: ChallengeOrder,
}

/// The challenges in a 401 and their order (RFC 8760 §2.4: preferred first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChallengeOrder {
    #[default]
    Sha256First,
    Md5First,
    /// MD5 alone: some clients (Debian's baresip 1.0 / libre 1.1) give up
    /// on a 401 that also carries a SHA-256 challenge.
    Md5Only,
}

impl ChallengeOrder {
    pub const NAMES: &'static str = "sha256-first, md5-first, md5-only";

    pub fn from_name(name: &str) -> Option<ChallengeOrder> {
        match name {
            "sha256-first" => Some(ChallengeOrder::Sha256First),
            "md5-first" => Some(ChallengeOrder::Md5First),
            "md5-only" => Some(ChallengeOrder::Md5Only),
            _ => None,
        }
    }

    fn algorithms(self) -> &'static [Algorithm] {
        match self {
            ChallengeOrder::Sha256First => &[Algorithm::Sha256, Algorithm::Md5],
            ChallengeOrder::Md5First => &[Algorithm::Md5, Algorithm::Sha256],
            ChallengeOrder::Md5Only => &[Algorithm::Md5],
        }
    }
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            nonce_ttl: NONCE_TTL_DEFAULT,
            nonces_tracked_max: NONCES_TRACKED_MAX,
            allow_no_qop: true,
            order: ChallengeOrder::default(),
        }
    }
}

/// Credentials that passed [`DigestServer::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub username: String,
}

/// How the switch answers a request whose credentials failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthAnswer {
    /// 401/407 with `stale=true`: the password was right, the nonce was not.
    ChallengeStale,
    /// 401/407 with a fresh challenge.
    Challenge,
    /// 403: the credentials are wrong; challenging again would not help.
    Forbidden,
}

/// Why an Authorization value was refused, or a challenge could not be answered.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("credentials or challenge use a scheme other than Digest")]
    NotDigest,
    #[error("malformed digest header: {0}")]
    Malformed(#[from] MalformedHeader),
    #[error("credentials are for another realm")]
    WrongRealm,
    #[error("no password is known for the username")]
    UnknownUser,
    #[error("digest response does not match (wrong password)")]
    BadResponse,
    #[error("nonce has expired")]
    StaleNonce,
    #[error("nonce was not issued by this server")]
    UnknownNonce,
    #[error("nonce-count {nc:#010x} is not above the highest seen, {highest:#010x}")]
    NonceCountReplay { nc: u32, highest: u32 },
    #[error("digest algorithm is not supported")]
    UnsupportedAlgorithm,
    #[error("quality of protection is not supported or not allowed")]
    UnsupportedQop,
}

impl AuthError {
    /// What the switch answers (RFC 3261 §22.3, RFC 2617 §3.2.1).
    pub fn answer(&self) -> AuthAnswer {
        match self {
            AuthError::StaleNonce => AuthAnswer::ChallengeStale,
            // Right password, reused count: a fresh nonce lets an honest phone
            // go on and gives a replayer nothing.
            AuthError::NonceCountReplay { .. }
            | AuthError::NotDigest
            | AuthError::Malformed(_)
            | AuthError::WrongRealm
            | AuthError::UnknownNonce
            | AuthError::UnsupportedAlgorithm
            | AuthError::UnsupportedQop => AuthAnswer::Challenge,
            // Same answer for both, so the response does not reveal which
            // usernames exist.
            AuthError::UnknownUser | AuthError::BadResponse => AuthAnswer::Forbidden,
        }
    }
}

/// What is wrong with the syntax of a challenge or credentials value.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MalformedHeader {
    #[error("value is empty")]
    Empty,
    #[error("value is longer than {AUTH_HEADER_BYTES_MAX} bytes")]
    TooLong,
    #[error("more than {CHALLENGES_MAX} challenges")]
    TooManyChallenges,
    #[error("more than {} parameters", crate::sip::limits::PARAMS_MAX)]
    TooManyParameters,
    #[error("expected a token")]
    ExpectedToken,
    #[error("expected '=' after a parameter name")]
    ExpectedEquals,
    #[error("expected ',' between parameters")]
    ExpectedComma,
    #[error("quoted string is not terminated")]
    UnterminatedQuote,
    #[error("control character in a quoted string")]
    ControlCharacter,
    #[error("a parameter appears twice")]
    DuplicateParameter,
    #[error("parameter {0} is missing")]
    MissingParameter(&'static str),
    #[error("more than one set of credentials")]
    SeveralCredentials,
    #[error("nc is not 8 hex digits")]
    BadNonceCount,
}

/// The server side: issues challenges and verifies credentials for one realm.
pub struct DigestServer {
    realm: String,
    config: DigestConfig,
    secret: [u8; 32],
    opaque: String,
    epoch: Instant,
    /// Highest nonce-count seen per nonce in use, oldest nonce first.
    nonce_counts: BTreeMap<NonceKey, u32>,
    /// The newest nonce ever evicted: an untracked nonce at or before it may
    /// have been evicted, so its counts are unknown.
    evicted_up_to: Option<NonceKey>,
    nonces_evicted_total: u64,
}

impl DigestServer {
    pub fn new(realm: &str, config: DigestConfig, rng: &mut impl RngCore, epoch: Instant) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let mut opaque = [0u8; 8];
        rng.fill_bytes(&mut opaque);
        let config = DigestConfig {
            nonces_tracked_max: config.nonces_tracked_max.clamp(1, NONCES_TRACKED_MAX),
            ..config
        };
        DigestServer {
            realm: realm.to_owned(),
            config,
            secret,
            opaque: digest::hex(&opaque),
            epoch,
            nonce_counts: BTreeMap::new(),
            evicted_up_to: None,
            nonces_evicted_total: 0,
        }
    }

    /// Header values for a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate):
    /// one challenge per algorithm, in the configured order (RFC 8760 §2.4),
    /// sharing one fresh nonce, with qop="auth", an opaque, and `stale=true`
    /// when asked.
    pub fn challenge(&mut self, now: Instant, rng: &mut impl RngCore, stale: bool) -> Vec<String> {
        self.forget_expired(now);
        let nonce = self.mint_nonce(now, rng);
        self.config
            .order
            .algorithms()
            .iter()
            .map(|&algorithm| {
                let mut value = format!(
                    "Digest realm={}, nonce=\"{nonce}\", opaque=\"{}\", algorithm={}, qop=\"auth\"",
                    quote(&self.realm),
                    self.opaque,
                    algorithm.as_str(),
                );
                if stale {
                    value.push_str(", stale=true");
                }
                value
            })
            .collect()
    }

    /// Checks an Authorization / Proxy-Authorization value for `method`
    /// against the password that `password_of(username)` returns.
    ///
    /// The `uri` parameter is part of the digest but is not compared with the
    /// Request-URI here (RFC 7616 §3.4.6): the caller holds the request.
    pub fn verify(
        &mut self,
        now: Instant,
        method: &str,
        authorization: &str,
        password_of: impl Fn(&str) -> Option<String>,
    ) -> Result<Verified, AuthError> {
        if !params::scheme_of(authorization).is_some_and(|s| s.eq_ignore_ascii_case("digest")) {
            return Err(AuthError::NotDigest);
        }
        let mut list = params::parse(authorization)?;
        if list.len() != 1 {
            return Err(MalformedHeader::SeveralCredentials.into());
        }
        let creds = list.pop().expect("list has exactly one element");
        let username = creds.require("username")?;
        let realm = creds.require("realm")?;
        let nonce = creds.require("nonce")?;
        let uri = creds.require("uri")?;
        let response = creds.require("response")?;
        if realm != self.realm {
            return Err(AuthError::WrongRealm);
        }
        let algorithm = match creds.param("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a).ok_or(AuthError::UnsupportedAlgorithm)?,
        };
        let qop = self.qop_of(&creds)?;
        let cnonce = creds.param("cnonce");
        if creds.param("opaque").is_some_and(|o| o != self.opaque) {
            return Err(AuthError::UnknownNonce);
        }
        let key = self.check_nonce(nonce)?;
        let issued = self.epoch + Duration::from_millis(key.issued_ms);
        if issued > now {
            // Only a forged MAC or a secret reused across epochs gets here.
            return Err(AuthError::UnknownNonce);
        }
        let password = password_of(username).ok_or(AuthError::UnknownUser)?;
        let expected = digest::request_digest(&DigestInput {
            algorithm,
            username,
            realm,
            password: &password,
            method,
            uri,
            nonce,
            cnonce,
            qop,
        })
        .ok_or(MalformedHeader::MissingParameter("cnonce"))?;
        let response = response.to_ascii_lowercase();
        if response.len() != algorithm.hex_len()
            || !digest::ct_eq(response.as_bytes(), expected.as_bytes())
        {
            return Err(AuthError::BadResponse);
        }
        // Stale only after the digest checked out: stale=true tells the phone
        // its password was right (RFC 2617 §3.2.1).
        if now >= issued + self.config.nonce_ttl {
            return Err(AuthError::StaleNonce);
        }
        if let Some(q) = qop {
            let nc = parse_nonce_count(q.nc)?;
            self.record_nonce_count(now, key, nc)?;
        }
        Ok(Verified {
            username: username.to_owned(),
        })
    }

    /// Nonces tracked for their nonce-count, for metrics.
    pub fn nonces_tracked(&self) -> usize {
        self.nonce_counts.len()
    }

    /// Nonces dropped from a full table, for metrics.
    pub fn nonces_evicted_total(&self) -> u64 {
        self.nonces_evicted_total
    }

    fn qop_of<'a>(&self, creds: &'a SchemeParams<'a>) -> Result<Option<QopAuth<'a>>, AuthError> {
        match creds.param("qop") {
            None if self.config.allow_no_qop => Ok(None),
            None => Err(AuthError::UnsupportedQop),
            Some(q) if q.eq_ignore_ascii_case("auth") => Ok(Some(QopAuth {
                nc: creds.require("nc")?,
                cnonce: creds.require("cnonce")?,
            })),
            Some(_) => Err(AuthError::UnsupportedQop),
        }
    }

    fn mint_nonce(&self, now: Instant, rng: &mut impl RngCore) -> String {
        let key = NonceKey {
            issued_ms: millis(now.saturating_duration_since(self.epoch)),
            random: rng.next_u64(),
        };
        format!(
            "{:016x}{:016x}{}",
            key.issued_ms,
            key.random,
            self.nonce_mac(key)
        )
    }

    /// Truncated to 128 bits: enough against forgery, shorter on the wire.
    fn nonce_mac(&self, key: NonceKey) -> String {
        let mut data = [0u8; 16];
        data[..8].copy_from_slice(&key.issued_ms.to_be_bytes());
        data[8..].copy_from_slice(&key.random.to_be_bytes());
        digest::hex(&digest::hmac_sha256(&self.secret, &data)[..16])
    }

    fn check_nonce(&self, nonce: &str) -> Result<NonceKey, AuthError> {
        let canonical = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if nonce.len() != 64 || !canonical(nonce) {
            return Err(AuthError::UnknownNonce);
        }
        let parse = |s: &str| u64::from_str_radix(s, 16).map_err(|_| AuthError::UnknownNonce);
        let key = NonceKey {
            issued_ms: parse(&nonce[..16])?,
            random: parse(&nonce[16..32])?,
        };
        if !digest::ct_eq(self.nonce_mac(key).as_bytes(), &nonce.as_bytes()[32..]) {
            return Err(AuthError::UnknownNonce);
        }
        Ok(key)
    }

    /// Refuses a nonce-count not above the highest seen for the nonce
    /// (RFC 7616 §3.4: the server detects replays by the nc).
    fn record_nonce_count(
        &mut self,
        now: Instant,
        key: NonceKey,
        nc: u32,
    ) -> Result<(), AuthError> {
        self.forget_expired(now);
        if let Some(highest) = self.nonce_counts.get_mut(&key) {
            if nc <= *highest {
                return Err(AuthError::NonceCountReplay {
                    nc,
                    highest: *highest,
                });
            }
            *highest = nc;
            return Ok(());
        }
        if self.evicted_up_to.is_some_and(|e| key <= e) {
            // Its counts may have been evicted; a fresh nonce is the safe way on.
            return Err(AuthError::StaleNonce);
        }
        if nc == 0 {
            return Err(AuthError::NonceCountReplay { nc, highest: 0 });
        }
        if self.nonce_counts.len() >= self.config.nonces_tracked_max {
            if let Some((oldest, _)) = self.nonce_counts.pop_first() {
                self.evicted_up_to = Some(self.evicted_up_to.map_or(oldest, |e| e.max(oldest)));
                self.nonces_evicted_total += 1;
            }
        }
        self.nonce_counts.insert(key, nc);
        Ok(())
    }

    /// Drops counts of expired nonces: they are refused as stale anyway.
    fn forget_expired(&mut self, now: Instant) {
        while let Some((&oldest, _)) = self.nonce_counts.first_key_value() {
            let issued = self.epoch + Duration::from_millis(oldest.issued_ms);
            if now < issued + self.config.nonce_ttl {
                break;
            }
            self.nonce_counts.pop_first();
        }
    }
}

/// The `uri` parameter of Digest credentials, for the caller to compare with
/// the Request-URI (RFC 7616 §3.4.6); `None` when absent or unparseable.
pub fn credentials_uri(authorization: &str) -> Option<String> {
    let list = params::parse(authorization).ok()?;
    match list.as_slice() {
        [creds] if creds.is_digest() => creds.param("uri").map(str::to_owned),
        _ => None,
    }
}

/// The `username` parameter of Digest credentials, for the failed-login
/// log line; `None` when absent or unparseable.
pub fn credentials_username(authorization: &str) -> Option<String> {
    let list = params::parse(authorization).ok()?;
    match list.as_slice() {
        [creds] if creds.is_digest() => creds.param("username").map(str::to_owned),
        _ => None,
    }
}

/// Leaves the secret out, so logging the server cannot leak it.
impl fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServer")
            .field("realm", &self.realm)
            .field("config", &self.config)
            .field("nonces_tracked", &self.nonce_counts.len())
            .field("nonces_evicted_total", &self.nonces_evicted_total)
            .finish_non_exhaustive()
    }
}

/// Identifies one nonce we issued; ordered by issue time, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct NonceKey {
    issued_ms: u64,
    random: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `nc-value = 8LHEX` (RFC 2617 §3.2.2); upper case is tolerated.
fn parse_nonce_count(nc: &str) -> Result<u32, MalformedHeader> {
    if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MalformedHeader::BadNonceCount);
    }
    u32::from_str_radix(nc, 16).map_err(|_| MalformedHeader::BadNonceCount)
}

#[cfg(test)]
mod tests;
