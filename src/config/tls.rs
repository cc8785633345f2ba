//! The `[tls]` section (SIP over TLS) and the SRTP policy agents and
//! trunks carry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Location;

/// A handshake not done in this long is dropped: a client that opens a
/// connection and sends nothing holds no slot for long.
pub const TLS_HANDSHAKE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain and key; `None`: a self-signed pair kept
    /// beside the call records, made at first start.
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// PEM roots that trunks' certificates must chain to; `None`: the
    /// system's roots.
    pub ca: Option<PathBuf>,
    pub handshake_timeout: Duration,
    /// Where each path is written, for [`super::Config::check_usable`].
    pub certificate_at: Location,
    pub key_at: Location,
    pub ca_at: Location,
}

/// Whether a leg's media is SRTP (RFC 4568 SDES keys in its SDP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SrtpPolicy {
    /// Plain RTP; an offer of RTP/SAVP only is refused (488).
    Off,
    /// SRTP when the peer offers it (we answer with our own key); our
    /// offers are RTP/AVP with crypto lines (best effort).
    #[default]
    Optional,
    /// SRTP only: an offer without a usable crypto line gets 488, our
    /// offers are RTP/SAVP.
    Mandatory,
}

impl SrtpPolicy {
    pub const NAMES: &'static str = "off, optional, mandatory";

    pub fn from_name(name: &str) -> Option<SrtpPolicy> {
        match name {
            "off" => Some(SrtpPolicy::Off),
            "optional" => Some(SrtpPolicy::Optional),
            "mandatory" => Some(SrtpPolicy::Mandatory),
            _ => None,
        }
    }
}
