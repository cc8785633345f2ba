//! Symmetric RTP (RFC 4961): which source address a leg's media is accepted
//! from, and so where the relay sends that leg's media back to.
//!
//! Phones behind NAT announce an address in SDP that nobody can reach; their
//! packets arrive from the NAT's public mapping instead. So the relay learns
//! ("latches") the far end from the packets themselves. Learning from anyone
//! would let a stranger who sprays our port range take over a stream, so:
//!
//! 1. If the SDP address is public, only packets from that IP are considered;
//!    if it is private (RFC 1918, CGNAT 100.64/10, link-local, ULA) or unset
//!    (0.0.0.0, or no answer yet), packets from any source are considered.
//! 2. The first considered packet latches its exact source (IP and port).
//! 3. Once latched, other sources are dropped. The latch moves only to the
//!    exact SDP address (the negotiated peer), or to another considered
//!    source after the latched one has been silent for `relatch_after` (a NAT
//!    rebinding or a phone restart) — never while the stream is alive.
//! 4. An SDP answer with a public address that the latched source does not
//!    match clears the latch (a stranger who got in before the answer).
//! 5. An SDP naming another address than the last one clears the latch too:
//!    another party took the leg (a transfer), or the party moved.
//!
//! Time is the driver's coarse clock: `now` may lag by one relay tick.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// What the SDP said about the far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// No SDP yet, or `c=0.0.0.0`: any source is considered.
    Unknown,
    /// A private address (NAT): any source is considered.
    Private(SocketAddr),
    /// A public address: only this IP is considered.
    Public(SocketAddr),
}

impl Expected {
    /// Classifies the address from an SDP `c=`/`m=` line.
    pub fn from_sdp(addr: Option<SocketAddr>) -> Self {
        match addr {
            None => Self::Unknown,
            Some(a) if a.ip().is_unspecified() || a.port() == 0 => Self::Unknown,
            Some(a) if is_private(a.ip()) => Self::Private(a),
            Some(a) => Self::Public(a),
        }
    }
}

/// What to do with one received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source: forward it.
    Forward,
    /// Latched (first time or a move): forward it, and tell the operator.
    Learnt { previous: Option<SocketAddr> },
    /// From an IP the SDP rules out.
    DropUnexpected,
    /// From another source while the latched one is alive: a hijack attempt
    /// or a stray stream.
    DropHijack,
}

/// The latch of one socket (RTP and RTCP each have their own).
#[derive(Debug, Clone)]
pub struct Latch {
    expected: Expected,
    learnt: Option<SocketAddr>,
    last_seen: Option<Instant>,
    relatch_after: Duration,
}

impl Latch {
    pub fn new(relatch_after: Duration) -> Self {
        Self {
            expected: Expected::Unknown,
            learnt: None,
            last_seen: None,
            relatch_after,
        }
    }

    /// The address media for this leg goes to: the latched source, else the
    /// SDP address when that is usable (public or private: a phone on our LAN).
    pub fn destination(&self) -> Option<SocketAddr> {
        self.learnt.or(match self.expected {
            Expected::Unknown => None,
            Expected::Private(a) | Expected::Public(a) => Some(a),
        })
    }

    /// The latched source, if any.
    pub fn learnt(&self) -> Option<SocketAddr> {
        self.learnt
    }

    /// Applies a new SDP offer or answer (rule 4).
    pub fn set_expected(&mut self, expected: Expected) {
        let moved = match (self.expected, expected) {
            (
                Expected::Private(old) | Expected::Public(old),
                Expected::Private(new) | Expected::Public(new),
            ) => old != new,
            _ => false,
        };
        self.expected = expected;
        if moved {
            self.learnt = None;
            self.last_seen = None;
        }
        if let (Expected::Public(a), Some(l)) = (expected, self.learnt) {
            if l.ip() != a.ip() {
                self.learnt = None;
                self.last_seen = None;
            }
        }
    }

    /// Judges one packet from `src` received at (coarse) `now`.
    pub fn handle(&mut self, src: SocketAddr, now: Instant) -> Verdict {
        if self.learnt == Some(src) {
            self.last_seen = Some(now);
            return Verdict::Forward;
        }
        let considered = match self.expected {
            Expected::Public(a) => a.ip() == src.ip(),
            Expected::Unknown | Expected::Private(_) => true,
        };
        if !considered {
            return Verdict::DropUnexpected;
        }
        let may_move = match (self.learnt, self.last_seen) {
            (None, _) => true,
            _ if self.expected == Expected::Public(src) => true,
            (Some(_), Some(seen)) => now.saturating_duration_since(seen) >= self.relatch_after,
            (Some(_), None) => true,
        };
        if !may_move {
            return Verdict::DropHijack;
        }
        let previous = self.learnt.replace(src);
        self.last_seen = Some(now);
        Verdict::Learnt { previous }
    }
}

/// Addresses that cannot be the far end's reachable address: RFC 1918,
/// shared CGNAT space (RFC 6598), link-local, IPv6 unique-local (RFC 4193).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_link_local() || (o[0] == 100 && (o[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments()[0];
            (s & 0xFE00) == 0xFC00 || (s & 0xFFC0) == 0xFE80
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant as the tests' origin
mod tests {
    use super::*;

    const RELATCH: Duration = Duration::from_secs(2);

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_sdp_latches_the_first_packet_from_that_ip_only() {
        let t0 = Instant::now();
        let mut l = Latch::new(RELATCH);
        l.set_expected(Expected::from_sdp(Some(addr("203.0.113.5:4000"))));
        assert_eq!(
            l.handle(addr("198.51.100.9:4000"), t0),
            Verdict::DropUnexpected
        );
        assert_eq!(
            l.handle(addr("203.0.113.5:4002"), t0),
            Verdict::Learnt { previous: None }
        );
        assert_eq!(l.destination(), Some(addr("203.0.113.5:4002")));
        assert_eq!(l.handle(addr("203.0.113.5:4002"), t0), Verdict::Forward);
    }

    #[test]
    fn private_sdp_latches_the_nat_mapping_and_refuses_a_sprayer() {
        let t0 = Instant::now();
        let mut l = Latch::new(RELATCH);
        l.set_expected(Expected::from_sdp(Some(addr("192.168.1.20:5004"))));
        assert_eq!(l.destination(), Some(addr("192.168.1.20:5004")));
        let nat = addr("198.51.100.7:61000");
        assert_eq!(l.handle(nat, t0), Verdict::Learnt { previous: None });
        let sprayer = addr("192.0.2.66:1234");
        assert_eq!(
            l.handle(sprayer, t0 + Duration::from_millis(20)),
            Verdict::DropHijack
        );
        assert_eq!(
            l.handle(nat, t0 + Duration::from_millis(40)),
            Verdict::Forward
        );
        // Just short of the silence window after the last packet: still refused.
        assert_eq!(
            l.handle(
                sprayer,
                t0 + Duration::from_millis(40) + RELATCH - Duration::from_millis(1)
            ),
            Verdict::DropHijack
        );
    }

    #[test]
    fn an_sdp_naming_another_address_clears_the_latch() {
        let t0 = Instant::now();
        let mut l = Latch::new(RELATCH);
        let agent = addr("203.0.113.5:4000");
        l.set_expected(Expected::from_sdp(Some(agent)));
        assert_eq!(l.handle(agent, t0), Verdict::Learnt { previous: None });
        // The same SDP again (a re-offer): the latch stays.
        l.set_expected(Expected::from_sdp(Some(agent)));
        assert_eq!(l.destination(), Some(agent));
        // Another party on the same host takes the leg (a transfer).
        let colleague = addr("203.0.113.5:4100");
        l.set_expected(Expected::from_sdp(Some(colleague)));
        assert_eq!(l.learnt(), None);
        assert_eq!(l.destination(), Some(colleague));
    }

    #[test]
    fn latch_moves_after_the_source_has_been_silent_for_relatch_after() {
        let t0 = Instant::now();
        let mut l = Latch::new(RELATCH);
        let old = addr("198.51.100.7:61000");
        let new = addr("198.51.100.7:61044");
        l.handle(old, t0);
        assert_eq!(
            l.handle(new, t0 + RELATCH),
            Verdict::Learnt {
                previous: Some(old)
            }
        );
        assert_eq!(l.handle(old, t0 + RELATCH), Verdict::DropHijack);
    }

    #[test]
    fn the_exact_negotiated_address_takes_the_latch_at_once() {
        let t0 = Instant::now();
        let mut l = Latch::new(RELATCH);
        let sdp = addr("203.0.113.5:4000");
        l.set_expected(Expected::from_sdp(Some(sdp)));
        let other_port = addr("203.0.113.5:4444");
        l.handle(other_port, t0);
        assert_eq!(
            l.handle(sdp, t0),
            Verdict::Learnt {
                previous: Some(other_port)
            }
        );
    }

    #[test]
    fn a_public_answer_clears_a_latch_taken_before_it_from_elsewhere() {
        let t0 = Instant::now();
        let mut l = Latch::new(RELATCH);
        let stranger = addr("192.0.2.66:1234");
        assert_eq!(l.handle(stranger, t0), Verdict::Learnt { previous: None });
        l.set_expected(Expected::from_sdp(Some(addr("203.0.113.5:4000"))));
        assert_eq!(l.learnt(), None);
        assert_eq!(l.handle(stranger, t0), Verdict::DropUnexpected);
    }

    #[test]
    fn unspecified_or_zero_port_sdp_means_unknown() {
        assert_eq!(
            Expected::from_sdp(Some(addr("0.0.0.0:4000"))),
            Expected::Unknown
        );
        assert_eq!(
            Expected::from_sdp(Some(addr("203.0.113.5:0"))),
            Expected::Unknown
        );
        assert_eq!(Expected::from_sdp(None), Expected::Unknown);
    }

    #[test]
    fn private_ranges_are_recognised() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["203.0.113.5", "100.128.0.1", "127.0.0.1", "2001:db8::1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
