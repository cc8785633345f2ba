//! Recording, supervision and conferences on the call's media core: the mixer's
//! tick, and what each mixed party hears, in its codec and packet time on
//! its own stream.

use super::{CallMedia, DropReason, MediaEvent, SourceKey, MIXER_INPUT};
use crate::media::mix::Voice;
use crate::media::packetize::samples_8k;
use crate::media::relay::forward::{write_header, HEADER_LEN};
use crate::media::relay::mixer::Mixer;
use crate::media::rtp::Rewritten;

impl CallMedia {
    /// The call's mixer, made for these caller and agent legs if none yet.
    pub(super) fn mixer_for(&mut self, caller: usize, agent: usize) -> &mut Mixer {
        let now = self.now;
        self.mixer
            .get_or_insert_with(|| Box::new(Mixer::new(caller, agent, now)))
    }

    /// The call becomes a conference of these legs: each hears the others
    /// through the mixer, and a leg that was hearing prompts (the caller's
    /// hold music during a consultation) stops hearing them.
    pub(super) fn conference(&mut self, parties: &[(u8, Voice)]) {
        let parties: Vec<(usize, Voice)> = parties
            .iter()
            .map(|&(n, v)| (usize::from(n), v))
            .filter(|&(n, _)| n < self.legs.len())
            .collect();
        if parties.is_empty() {
            return;
        }
        if self
            .player
            .as_ref()
            .is_some_and(|p| parties.iter().any(|&(n, _)| n == p.leg))
        {
            self.player = None;
        }
        let (caller, agent) = match self.legs_of_call() {
            Some(pair) => pair,
            None => (parties[0].0, parties.get(1).map_or(parties[0].0, |p| p.0)),
        };
        self.mixer_for(caller, agent).set_conference(&parties);
    }

    /// The caller's and agent's legs: the ones the core opened by those parts.
    fn legs_of_call(&self) -> Option<(usize, usize)> {
        use crate::media::command::MediaLeg;
        let find = |side| self.legs.iter().rposition(|l| l.side == Some(side));
        Some((find(MediaLeg::Caller)?, find(MediaLeg::Agent)?))
    }

    pub(super) fn recording_failed(&mut self, e: &crate::media::relay::RecordError) {
        tracing::warn!(%e, "recording failed");
        let call = self.call;
        self.emit(MediaEvent::RecordingFailed { call });
    }

    /// One mixing tick: a frame of each party into the recording, and the
    /// mix each supervised party hears, in its codec on its own stream, a
    /// packet whenever a packet time of it is queued.
    pub(super) fn on_mix(&mut self) {
        let now = self.now;
        let Some(mixer) = self.mixer.as_mut() else {
            return;
        };
        let caller_bridged = mixer
            .caller_leg()
            .and_then(|n| self.legs.get(n))
            .is_some_and(|l| l.peer.is_some());
        match mixer.tick(now, caller_bridged) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return self.recording_failed(&e),
        }
        if mixer.mode.is_none() {
            return;
        }
        for party in 0..mixer.legs.len() {
            if !mixer.feeds_slot(party) {
                continue;
            }
            let Some(leg) = mixer.legs[party].and_then(|n| self.legs.get_mut(n)) else {
                continue;
            };
            let (Some((codec, pt)), Some(dst)) = (leg.codec, leg.rtp_latch.destination()) else {
                continue;
            };
            mixer.queue_for(party, codec, samples_8k(leg.ptime));
            while let Some((len, frame)) =
                mixer.next_for(party, codec, &mut self.tx_buf[HEADER_LEN..])
            {
                let source = SourceKey {
                    input: MIXER_INPUT,
                    ssrc: 0,
                };
                let rw = leg.stream.rewrite(source, frame.sequence, frame.timestamp);
                let rw = Rewritten {
                    marker: rw.marker || frame.marker,
                    ..rw
                };
                let out = &mut self.tx_buf[..HEADER_LEN + len];
                write_header(out, &rw, pt);
                match leg.send_rtp(&mut self.tx, out, dst) {
                    Ok(_) => {
                        self.counters.rtp_packets += 1;
                        self.counters.rtp_bytes += out.len() as u64;
                    }
                    Err(_) => self.counters.drop(DropReason::SendFailed),
                }
            }
        }
    }
}
