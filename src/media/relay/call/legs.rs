//! A relayed call's legs: adding one, and following its SDP (offer,
//! answer, re-offer) with new latches, stream steps and forwarding paths.

use super::{CallMedia, Leg, LegRemote, LegSetup};
use crate::media::dtmf::DtmfReceiver;
use crate::media::latch::{Expected, Latch};
use crate::media::packetize::{samples_8k, PTIME_DEFAULT};
use crate::media::relay::forward::{forward_path, ForwardPath, MapPath};
use crate::media::rtp::OutboundStream;
use crate::media::NARROWBAND_HZ;

impl CallMedia {
    /// A leg's SDP (offer, answer, re-offer). A bridged leg whose codec,
    /// payload types or packet time changed gets new paths both ways at
    /// once: the relay follows a re-offer without waiting for a new bridge.
    pub(super) fn set_remote(&mut self, n: usize, remote: LegRemote) {
        let Some(leg) = self.legs.get_mut(n) else {
            return;
        };
        leg.rtp_latch.set_expected(Expected::from_sdp(remote.rtp));
        leg.rtcp_latch.set_expected(Expected::from_sdp(remote.rtcp));
        let ticks = remote.codec.clock_rate() / NARROWBAND_HZ;
        leg.stream
            .set_frame_step(samples_8k(remote.ptime) as u32 * ticks);
        leg.stream.set_frame_time(remote.ptime);
        leg.telephone_event = remote.telephone_event;
        leg.codec = Some((remote.codec, remote.codec_pt));
        leg.ptime = remote.ptime;
        leg.set_srtp(remote.srtp);
        let format = |r: &LegRemote| (r.codec, r.codec_pt, r.telephone_event, r.ptime);
        let changed = leg
            .remote
            .is_some_and(|old| format(&old) != format(&remote));
        leg.remote = Some(remote);
        let Some(peer) = leg.peer.filter(|_| changed) else {
            return;
        };
        let (a, b) = (self.legs[n].remote, self.legs[peer].remote);
        match (forward_path(a, b), forward_path(b, a)) {
            (Ok(to_peer), Ok(from_peer)) => {
                self.legs[n].to_peer = to_peer;
                self.legs[peer].to_peer = from_peer;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(call = self.call.0, leg = n, %e, "cannot follow the leg's new codec");
            }
        }
    }

    pub(super) fn add_leg(&mut self, s: LegSetup) {
        debug_assert_eq!(
            usize::from(s.leg.n),
            self.legs.len(),
            "legs arrive in order"
        );
        // A new leg for a part (another supervisor) takes it over: the
        // old leg's digits are no longer the core's to hear.
        if s.side.is_some() {
            for leg in self.legs.iter_mut().filter(|l| l.side == s.side) {
                leg.side = None;
            }
        }
        self.stats.legs_changed(true);
        self.legs.push(Leg {
            id: s.leg,
            side: s.side,
            port: s.port,
            rtp_latch: Latch::new(self.config.relatch_after),
            rtcp_latch: Latch::new(self.config.relatch_after),
            stream: OutboundStream::new(s.ssrc, s.initial_seq, s.initial_ts),
            peer: None,
            to_peer: ForwardPath::Map(Box::new(MapPath::identity())),
            telephone_event: None,
            dtmf: DtmfReceiver::default(),
            digits_out: None,
            codec: None,
            ptime: PTIME_DEFAULT,
            remote: None,
            srtp: None,
        });
    }
}
