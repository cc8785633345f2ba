//! SIP: parsing and building messages, transactions, dialogs and the requests
//! sent in them (`dialog`), digest auth, the registrar, and the switch as a
//! client of its carriers (`carrier`: OPTIONS checks, REGISTER).
//! Everything here is pure except `transport`, which owns the sockets.

use std::fmt;
use std::net::SocketAddr;

pub mod auth;
pub mod build;
pub mod carrier;
pub mod dialog;
pub mod guard;
pub mod limits;
pub mod parse;
pub mod pike;
pub mod registrar;
pub mod replaces;
pub mod stun;
pub mod transaction;
pub mod transport;

/// The transport a message travelled on. Reliable transports skip the
/// retransmission timers of RFC 3261 §17.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    /// TCP with TLS on it (RFC 3261 §26.2): framed as TCP is.
    Tls,
}

impl Transport {
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// The transport a URI asks for: `sips:` means TLS (RFC 3261 §26.2.2),
    /// otherwise its `transport` parameter, UDP without one.
    pub fn of_uri(sips: bool, param: Option<&str>) -> Transport {
        match param {
            _ if sips => Transport::Tls,
            Some(t) if t.eq_ignore_ascii_case("tls") => Transport::Tls,
            Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            _ => Transport::Udp,
        }
    }

    /// The `transport` URI parameter for our own Contact and Record-Route
    /// (RFC 3261 §19.1.1); none for UDP, the default.
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        }
    }

    /// The token used in Via headers (RFC 3261 §20.42).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// Where a message came from or goes to: a transport and a socket address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            self.transport.as_str().to_ascii_lowercase(),
            self.addr
        )
    }
}
