//! SRTP on a relay leg (RFC 3711): what the party sends is authenticated,
//! checked against replay and decrypted before anything else looks at it
//! (even the latch, so forged packets cannot move it); what we send it is
//! encrypted in the leg's own scratch buffer. The keys come from the
//! leg's SDP ([`SrtpKeys`]); the same keys again (a re-offer for hold)
//! keep the contexts, so the rollover counters and windows carry on.

use std::io;
use std::net::SocketAddr;

use super::Leg;
use crate::media::command::SrtpKeys;
use crate::media::relay::stats::DropReason;
use crate::media::relay::transmit::Transmits;
use crate::media::relay::PACKET_BYTES_MAX;
use crate::media::srtp::{SrtpContext, SrtpError, RTCP_OVERHEAD};

pub(in crate::media::relay) struct LegSrtp {
    keys: SrtpKeys,
    /// Unprotects what the party sends (its key).
    rx: SrtpContext,
    /// Protects what we send it (our key).
    tx: SrtpContext,
    scratch: [u8; PACKET_BYTES_MAX + RTCP_OVERHEAD],
}

impl Leg {
    /// Applies the leg's SRTP keys from its SDP; `None` makes it plain.
    pub(super) fn set_srtp(&mut self, keys: Option<SrtpKeys>) {
        match (keys, &self.srtp) {
            (Some(k), Some(s)) if s.keys == k => {}
            (Some(keys), _) => {
                self.srtp = Some(Box::new(LegSrtp {
                    keys,
                    rx: SrtpContext::new(&keys.theirs),
                    tx: SrtpContext::new(&keys.ours),
                    scratch: [0; PACKET_BYTES_MAX + RTCP_OVERHEAD],
                }));
            }
            (None, _) => self.srtp = None,
        }
    }

    /// The plain length of a received packet, unprotected in place; the
    /// packet itself on a plain leg.
    pub(super) fn unprotect(&mut self, packet: &mut [u8], rtcp: bool) -> Result<usize, DropReason> {
        let Some(s) = self.srtp.as_mut() else {
            return Ok(packet.len());
        };
        let result = if rtcp {
            s.rx.unprotect_rtcp(packet)
        } else {
            s.rx.unprotect_rtp(packet)
        };
        result.map_err(|e| match e {
            SrtpError::AuthFailed | SrtpError::NotEncrypted => DropReason::SrtpAuth,
            SrtpError::Replay => DropReason::SrtpReplay,
            _ => DropReason::Malformed,
        })
    }

    /// Queues an RTP packet to the party, protected on an SRTP leg.
    pub(super) fn send_rtp(
        &mut self,
        tx: &mut Transmits,
        packet: &[u8],
        dst: SocketAddr,
    ) -> io::Result<usize> {
        let socket = 2 * usize::from(self.id.n);
        send_on(tx, socket, &mut self.srtp, packet, dst, false)
    }

    /// Queues an RTCP packet to the party, protected on an SRTP leg.
    pub(super) fn send_rtcp(
        &mut self,
        tx: &mut Transmits,
        packet: &[u8],
        dst: SocketAddr,
    ) -> io::Result<usize> {
        let socket = 2 * usize::from(self.id.n) + 1;
        send_on(tx, socket, &mut self.srtp, packet, dst, true)
    }
}

/// [`Leg::send_rtp`] from the leg's parts, for callers that hold another
/// field of the leg borrowed: queues the packet for socket `socket`.
pub(super) fn send_on(
    tx: &mut Transmits,
    socket: usize,
    srtp: &mut Option<Box<LegSrtp>>,
    packet: &[u8],
    dst: SocketAddr,
    rtcp: bool,
) -> io::Result<usize> {
    let queue = |tx: &mut Transmits, bytes: &[u8]| {
        tx.push(socket, bytes, dst)
            .map(|()| bytes.len())
            .map_err(|_| io::Error::from(io::ErrorKind::WouldBlock))
    };
    let Some(s) = srtp.as_mut() else {
        return queue(tx, packet);
    };
    let len = packet.len();
    if len > PACKET_BYTES_MAX {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    s.scratch[..len].copy_from_slice(packet);
    let protected = if rtcp {
        s.tx.protect_rtcp(&mut s.scratch, len)
    } else {
        s.tx.protect_rtp(&mut s.scratch, len)
    };
    let n = protected.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    queue(tx, &s.scratch[..n])
}
