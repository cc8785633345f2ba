//! How one leg's packets reach its bridged peer: the per-packet decision,
//! without IO (the relay thread receives and sends).
//!
//! Legs with the same codec and packet time get the zero-copy path: the
//! header is rewritten in place ([`rewrite_in_place`]) and the payload type
//! translated, telephone-event included (the legs may number it
//! differently). Anything else — another codec, another `a=ptime` — is
//! decoded, cut into the far leg's packet length ([`Repacketizer`]) and
//! encoded again on the far leg's continuous stream; so is G.711 that
//! arrives in packets of another length than its sender declared. CSRCs, padding and
//! header extensions parse on both paths (RFC 3550 §5.1, §5.3.1); a change
//! of SSRC is a new source segment of the outgoing stream, not an error.

use std::time::Duration;

use crate::media::packetize::{
    samples_8k, PacketizeError, Repacketizer, PACKET_SAMPLES_MAX, PTIME_MIN,
};
use crate::media::rtp::{
    rewrite_in_place, OutboundStream, PayloadMap, Rewritten, RtpError, SourceKey,
};
use crate::media::sdp::Codec;
use crate::media::transcode::Transcoder;
use crate::media::NARROWBAND_HZ;

use super::stats::DropReason;
use super::{LegRemote, MediaError};

/// RTP header length we write: no CSRCs, no extension.
pub(super) const HEADER_LEN: usize = 12;
/// Comfort noise, static payload type 13 (RFC 3551 §6, RFC 3389). The
/// switch's SDP never offers it, so no leg expects it from us.
pub(super) const CN_PT: u8 = 13;

/// How one leg's packets reach the peer.
pub(super) enum ForwardPath {
    /// Same codec and packet time: header rewrite and payload-type
    /// translation only.
    Map(Box<MapPath>),
    /// Another codec or packet time: each packet is decoded and the audio
    /// re-encoded in the peer's frames. Telephone-events are not carried
    /// across: the relay reports them as digits and sends them anew on the
    /// peer's stream.
    Transcode(Box<TranscodePath>),
}

pub(super) struct MapPath {
    map: PayloadMap,
    /// The sending leg's G.711 payload type and bytes per packet at its
    /// declared ptime. Its audio in packets of another length (a carrier
    /// sending 30 ms without saying so) is re-packetised from then on.
    g711: Option<(u8, usize)>,
}

impl MapPath {
    /// Every payload type passes unchanged (SDP not known).
    pub(super) fn identity() -> Self {
        Self {
            map: PayloadMap::identity(),
            g711: None,
        }
    }
}

pub(super) struct TranscodePath {
    transcoder: Transcoder,
    repacketizer: Repacketizer,
    in_pt: u8,
    out_pt: u8,
    /// The frame being encoded.
    pcm: [i16; PACKET_SAMPLES_MAX],
}

/// What became of a packet handed to [`forward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Forwarded {
    /// Rewritten in place: send it as it is now.
    InPlace,
    /// Decoded into the path: send what [`TranscodePath::poll`] yields.
    Queued,
    /// A telephone-event the relay reports as a digit (and sends anew where
    /// the peer takes events): nothing to send, nothing lost.
    Consumed,
    /// G.711 audio in packets of `ptime`, not the ptime the sender declared:
    /// the pair needs a re-packetising path (then the packet goes again).
    Repacketize { ptime: Duration },
}

/// How packets going from `from` to `to` are carried. Unknown SDP on
/// either side passes payload types through unchanged.
pub(super) fn forward_path(
    from: Option<LegRemote>,
    to: Option<LegRemote>,
) -> Result<ForwardPath, MediaError> {
    let (Some(f), Some(t)) = (from, to) else {
        return Ok(ForwardPath::Map(Box::new(MapPath::identity())));
    };
    if f.codec != t.codec || f.ptime != t.ptime {
        let (in_rate, out_rate) = (f.codec.clock_rate(), t.codec.clock_rate());
        return Ok(ForwardPath::Transcode(Box::new(TranscodePath {
            transcoder: Transcoder::new(f.codec, t.codec)?,
            repacketizer: Repacketizer::new(samples_8k(t.ptime), in_rate, out_rate),
            in_pt: f.codec_pt,
            out_pt: t.codec_pt,
            pcm: [0; PACKET_SAMPLES_MAX],
        })));
    }
    let mut map = PayloadMap::drop_all();
    map.set(f.codec_pt, t.codec_pt);
    if let (Some(fe), Some(te)) = (f.telephone_event, t.telephone_event) {
        map.set(fe, te);
    }
    // G.711 is one byte per 8 kHz sample.
    let g711 = (f.codec != Codec::Opus).then(|| (f.codec_pt, samples_8k(f.ptime)));
    Ok(ForwardPath::Map(Box::new(MapPath { map, g711 })))
}

/// Forwards one RTP `packet` of input `input` (whose telephone-event type
/// is `events_in`) towards the peer's `stream`.
pub(super) fn forward(
    path: &mut ForwardPath,
    packet: &mut [u8],
    input: u32,
    events_in: Option<u8>,
    stream: &mut OutboundStream,
) -> Result<Forwarded, DropReason> {
    let m = match path {
        ForwardPath::Map(m) => m,
        ForwardPath::Transcode(t) => return t.push(packet, events_in),
    };
    if let Some(ptime) = m.g711.and_then(|audio| other_g711_ptime(packet, audio)) {
        return Ok(Forwarded::Repacketize { ptime });
    }
    match rewrite_in_place(packet, input, stream, &m.map) {
        Ok(()) => Ok(Forwarded::InPlace),
        Err(RtpError::Malformed { .. }) => Err(DropReason::Malformed),
        Err(RtpError::PayloadTypeNotMapped(pt)) => not_forwarded(pt & 0x7F, events_in),
    }
}

/// The packet time of a plain G.711 audio packet (no CSRC, extension or
/// padding: the common case, checked in a few compares) whose length is
/// not `bytes`, if it is 10–60 ms; `None` for everything else, which
/// passes as it is.
fn other_g711_ptime(packet: &[u8], (pt, bytes): (u8, usize)) -> Option<Duration> {
    let payload = packet.len().checked_sub(HEADER_LEN)?;
    if payload == bytes || packet[0] != 0x80 || packet[1] & 0x7F != pt {
        return None;
    }
    let (lo, hi) = (samples_8k(PTIME_MIN), PACKET_SAMPLES_MAX);
    (lo..=hi)
        .contains(&payload)
        .then(|| Duration::from_micros(payload as u64 * 1_000_000 / u64::from(NARROWBAND_HZ)))
}

/// Why a packet of payload type `pt` that the path does not carry is not
/// sent: a digit (reported), comfort noise, or a type nobody negotiated.
fn not_forwarded(pt: u8, events_in: Option<u8>) -> Result<Forwarded, DropReason> {
    if Some(pt) == events_in {
        Ok(Forwarded::Consumed)
    } else if pt == CN_PT {
        Err(DropReason::ComfortNoise)
    } else {
        Err(DropReason::UnmappedPayloadType)
    }
}

impl TranscodePath {
    /// Decodes one packet into the re-packetiser.
    fn push(&mut self, packet: &[u8], events_in: Option<u8>) -> Result<Forwarded, DropReason> {
        let p = rtp_types::RtpPacket::parse(packet).map_err(|_| DropReason::Malformed)?;
        if p.payload_type() != self.in_pt {
            return not_forwarded(p.payload_type(), events_in);
        }
        let pcm = self
            .transcoder
            .decode(p.payload())
            .map_err(|_| DropReason::CodecUnhandled)?;
        self.repacketizer
            .push(p.ssrc(), p.timestamp(), p.marker_bit(), pcm)
            .map_err(|e| match e {
                PacketizeError::Late { .. } => DropReason::Late,
                PacketizeError::TooLong { .. } => DropReason::CodecUnhandled,
            })?;
        Ok(Forwarded::Queued)
    }

    /// The next packet for the peer, built in `out` (header and payload):
    /// its length, or `None` when no whole frame is held.
    pub(super) fn poll(
        &mut self,
        input: u32,
        stream: &mut OutboundStream,
        out: &mut [u8],
    ) -> Option<Result<usize, DropReason>> {
        let frame = self.repacketizer.pop(&mut self.pcm)?;
        let n = self.repacketizer.out_samples();
        let encoded = self
            .transcoder
            .encode_pcm(&self.pcm[..n], &mut out[HEADER_LEN..]);
        let Ok(len) = encoded else {
            return Some(Err(DropReason::CodecUnhandled));
        };
        let source = SourceKey {
            input,
            ssrc: frame.ssrc,
        };
        let rw = stream.rewrite(source, frame.sequence, frame.timestamp);
        let rw = Rewritten {
            marker: rw.marker || frame.marker,
            ..rw
        };
        write_header(out, &rw, self.out_pt);
        Some(Ok(HEADER_LEN + len))
    }
}

/// Writes a plain RTP header (version 2, no CSRC, no extension).
pub(super) fn write_header(out: &mut [u8], rw: &Rewritten, pt: u8) {
    out[0] = 0x80;
    out[1] = (u8::from(rw.marker) << 7) | (pt & 0x7f);
    out[2..4].copy_from_slice(&rw.sequence.to_be_bytes());
    out[4..8].copy_from_slice(&rw.timestamp.to_be_bytes());
    out[8..12].copy_from_slice(&rw.ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests;
