//! RTP header rewriting for a leg's outgoing stream (RFC 3550 §5.1).
//!
//! The switch sends each leg one stream under its own SSRC. Whatever feeds it
//! (queue audio, then the agent) the far end must see one continuous stream:
//! the sequence number goes up by one, the timestamp keeps moving, and the
//! SSRC never changes, or its jitter buffer resets and drops audio. The relay
//! rewrites in place with `rtp-types`; this file holds the small state machine
//! that computes the new numbers. Payload-type remapping (caller and agent may
//! number the same codec differently) is a 128-entry table.

use std::time::{Duration, Instant};

use rtp_types::{RtpPacket, RtpPacketMut};

use crate::media::FRAME_SAMPLES_8K;

/// The most frames a new source's timestamp skips after a silence: an hour
/// of 10 ms frames, far below the 2^31 ticks where "later" turns ambiguous.
const SILENCE_FRAMES_MAX: u32 = 360_000;

/// Payload type marking "drop this packet" in a [`PayloadMap`].
pub const PT_DROP: u8 = 0xFF;

/// What was wrong with a packet we were asked to rewrite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("not an RTP packet ({len} bytes)")]
    Malformed { len: usize },
    #[error("payload type {0} is not negotiated on this leg")]
    PayloadTypeNotMapped(u8),
}

/// Identifies what feeds a stream; a change starts a new source segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceKey {
    /// Which input feeds the stream (the relay's leg or player index).
    pub input: u32,
    pub ssrc: u32,
}

/// The numbers a rewritten packet gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
    /// Set on the first packet after a source switch (RFC 3550 §5.1: marks
    /// the start of a talkspurt, so the receiver resyncs its playout).
    pub marker: bool,
}

/// Continuity state of one outgoing stream.
#[derive(Debug, Clone)]
pub struct OutboundStream {
    ssrc: u32,
    source: Option<SourceKey>,
    seq_offset: u16,
    ts_offset: u32,
    last_seq: u16,
    last_ts: u32,
    /// No packet sent yet: the first one takes the initial numbers as they are.
    fresh: bool,
    /// Timestamp step assumed between the last packet of one source and the
    /// first of the next: one frame of the leg's codec.
    frame_step: u32,
    /// How long that frame lasts.
    frame_time: Duration,
    /// The relay's clock at its latest wake-up ([`OutboundStream::clock`]),
    /// and when the last packet went out: a new source after a silence
    /// continues the timestamp by the frames that fit in between (RFC 3550
    /// §5.1: the timestamp follows the sampling clock), not by one frame.
    now: Option<Instant>,
    last_at: Option<Instant>,
}

impl OutboundStream {
    /// A stream sent under `ssrc`, starting at `initial_seq` and
    /// `initial_ts` (RFC 3550 §5.1: both random, drawn by the caller's RNG).
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32) -> Self {
        Self {
            ssrc,
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            last_seq: initial_seq,
            last_ts: initial_ts,
            fresh: true,
            frame_step: FRAME_SAMPLES_8K,
            frame_time: Duration::from_millis(20),
            now: None,
            last_at: None,
        }
    }

    /// Sets the timestamp step used across a source switch (samples per frame
    /// of the leg's codec: 160 for G.711 at 20 ms, 960 for Opus).
    pub fn set_frame_step(&mut self, samples: u32) {
        self.frame_step = samples;
    }

    /// Sets how long the frame of [`OutboundStream::set_frame_step`] lasts
    /// (the leg's packet time).
    pub fn set_frame_time(&mut self, time: Duration) {
        self.frame_time = time;
    }

    /// The time the packets rewritten from now on are sent at (the relay
    /// reads its clock once per wake-up). Without it a new source continues
    /// one frame after the last packet, however long ago that was.
    pub fn clock(&mut self, now: Instant) {
        self.now = Some(now);
    }

    /// Our SSRC on this leg.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// What feeds the stream now (its original SSRC names it in RTCP).
    pub fn source(&self) -> Option<SourceKey> {
        self.source
    }

    /// Maps one input packet's numbers to the stream's. A new `source`
    /// (another input or another SSRC) continues at the next sequence number
    /// and one frame after the last timestamp; within a source, gaps and
    /// reordering pass through unchanged so the receiver still sees them.
    pub fn rewrite(&mut self, source: SourceKey, sequence: u16, timestamp: u32) -> Rewritten {
        let switched = self.source != Some(source);
        if switched {
            self.source = Some(source);
            let (next_seq, next_ts) = if self.fresh {
                (self.last_seq, self.last_ts)
            } else {
                let frames = match (self.last_at, self.now) {
                    (Some(at), Some(now)) => {
                        frames_elapsed(now.saturating_duration_since(at), self.frame_time)
                    }
                    _ => 1,
                };
                (
                    self.last_seq.wrapping_add(1),
                    self.last_ts
                        .wrapping_add(self.frame_step.wrapping_mul(frames)),
                )
            };
            self.fresh = false;
            self.seq_offset = next_seq.wrapping_sub(sequence);
            self.ts_offset = next_ts.wrapping_sub(timestamp);
        }
        let seq = sequence.wrapping_add(self.seq_offset);
        let ts = timestamp.wrapping_add(self.ts_offset);
        // Late packets must not pull the high-water marks back.
        if switched || seq_newer(seq, self.last_seq) {
            self.last_seq = seq;
            self.last_ts = ts;
        }
        self.last_at = self.now;
        Rewritten {
            ssrc: self.ssrc,
            sequence: seq,
            timestamp: ts,
            marker: switched,
        }
    }

    /// Forgets the current source so the next packet, even from the same
    /// input and SSRC, starts a new segment (after hold, or a re-INVITE).
    pub fn reset_source(&mut self) {
        self.source = None;
    }
}

/// Whole frames of `frame` in `elapsed`, rounded, at least one (the next
/// frame after the last) and at most [`SILENCE_FRAMES_MAX`].
fn frames_elapsed(elapsed: Duration, frame: Duration) -> u32 {
    let frame = frame.as_nanos().max(1);
    let frames = (elapsed.as_nanos() + frame / 2) / frame;
    u32::try_from(frames).map_or(SILENCE_FRAMES_MAX, |n| n.clamp(1, SILENCE_FRAMES_MAX))
}

/// Payload-type translation from one leg's numbering to another's.
#[derive(Debug, Clone)]
pub struct PayloadMap {
    map: [u8; 128],
}

impl PayloadMap {
    /// A map that drops every payload type.
    pub fn drop_all() -> Self {
        Self {
            map: [PT_DROP; 128],
        }
    }

    /// A map that passes every payload type unchanged.
    pub fn identity() -> Self {
        let mut map = [0u8; 128];
        for (i, m) in map.iter_mut().enumerate() {
            *m = i as u8;
        }
        Self { map }
    }

    /// Maps `from` to `to`; both are 7-bit payload types (higher bits ignored).
    pub fn set(&mut self, from: u8, to: u8) {
        self.map[usize::from(from & 0x7F)] = to & 0x7F;
    }

    /// The mapped payload type, or `None` to drop the packet.
    pub fn lookup(&self, pt: u8) -> Option<u8> {
        let to = self.map[usize::from(pt & 0x7F)];
        (to != PT_DROP).then_some(to)
    }
}

/// Rewrites `packet` in place: header numbers from `stream`, payload type
/// through `map`. `input` names the feeding input for source tracking.
pub fn rewrite_in_place(
    packet: &mut [u8],
    input: u32,
    stream: &mut OutboundStream,
    map: &PayloadMap,
) -> Result<(), RtpError> {
    let (pt, ssrc, seq, ts, marker) = {
        let p = RtpPacket::parse(packet).map_err(|_| malformed(packet))?;
        (
            p.payload_type(),
            p.ssrc(),
            p.sequence_number(),
            p.timestamp(),
            p.marker_bit(),
        )
    };
    let out_pt = map.lookup(pt).ok_or(RtpError::PayloadTypeNotMapped(pt))?;
    let r = stream.rewrite(SourceKey { input, ssrc }, seq, ts);
    let len = packet.len();
    let mut p = RtpPacketMut::parse(packet).map_err(|_| RtpError::Malformed { len })?;
    p.set_ssrc(r.ssrc);
    p.set_sequence_number(r.sequence);
    p.set_timestamp(r.timestamp);
    p.set_marker_bit(marker || r.marker);
    // `out_pt` is 7-bit by construction of the map, so this cannot fail.
    p.set_payload_type(out_pt)
        .map_err(|_| RtpError::PayloadTypeNotMapped(pt))?;
    Ok(())
}

fn malformed(packet: &[u8]) -> RtpError {
    RtpError::Malformed { len: packet.len() }
}

/// True when `a` is after `b` in RFC 3550's modulo-2^16 order (A.1).
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

#[cfg(test)]
mod tests {
    use rtp_types::RtpPacketBuilder;

    use super::*;

    const AGENT: SourceKey = SourceKey {
        input: 1,
        ssrc: 0xA6E7,
    };
    const PLAYER: SourceKey = SourceKey {
        input: 9,
        ssrc: 0x9A7E,
    };

    #[test]
    #[allow(clippy::disallowed_methods)] // one real Instant as the test's origin
    fn a_new_source_after_a_silence_continues_the_timestamp_by_the_time_elapsed() {
        let t0 = Instant::now();
        let mut s = OutboundStream::new(1, 0, 0);
        s.clock(t0);
        s.rewrite(PLAYER, 0, 0);
        // The agent's first packet two seconds later: 100 frames of 20 ms.
        s.clock(t0 + Duration::from_secs(2));
        let r = s.rewrite(AGENT, 5, 5_000);
        assert_eq!((r.sequence, r.timestamp, r.marker), (1, 16_000, true));
        // Within the source, its own numbers rule.
        s.clock(t0 + Duration::from_secs(3));
        assert_eq!(s.rewrite(AGENT, 6, 5_160).timestamp, 16_160);
        // Back to back (a few ms apart) is one frame on, in the leg's frames.
        s.set_frame_step(240);
        s.set_frame_time(Duration::from_millis(30));
        s.clock(t0 + Duration::from_millis(3_004));
        assert_eq!(s.rewrite(PLAYER, 9, 9).timestamp, 16_400);
    }

    #[test]
    fn first_packet_starts_at_the_initial_numbers_with_marker() {
        let mut s = OutboundStream::new(0x5117C4, 1000, 50_000);
        let r = s.rewrite(AGENT, 7, 123_456);
        assert_eq!(
            r,
            Rewritten {
                ssrc: 0x5117C4,
                sequence: 1000,
                timestamp: 50_000,
                marker: true
            }
        );
        let r = s.rewrite(AGENT, 8, 123_616);
        assert_eq!((r.sequence, r.timestamp, r.marker), (1001, 50_160, false));
    }

    #[test]
    fn source_switch_keeps_ssrc_sequence_and_timestamp_continuous() {
        let mut s = OutboundStream::new(77, 65_534, u32::MAX - 100);
        for k in 0..3u16 {
            s.rewrite(PLAYER, 10 + k, 1_000 + 160 * u32::from(k));
        }
        // The player's stream ended at seq 0 (wrapped), ts MAX-100+320.
        let r = s.rewrite(AGENT, 40_000, 9);
        assert_eq!(r.ssrc, 77);
        assert_eq!(r.sequence, 1);
        assert_eq!(r.timestamp, (u32::MAX - 100).wrapping_add(480));
        assert!(r.marker);
        let r = s.rewrite(AGENT, 40_001, 169);
        assert_eq!(
            (r.sequence, r.timestamp, r.marker),
            (2, (u32::MAX - 100).wrapping_add(640), false)
        );
    }

    #[test]
    fn a_new_ssrc_from_the_same_input_is_a_source_switch() {
        let mut s = OutboundStream::new(1, 0, 0);
        s.rewrite(AGENT, 5, 5_000);
        let restarted = SourceKey {
            ssrc: 0xBEEF,
            ..AGENT
        };
        let r = s.rewrite(restarted, 0, 0);
        assert_eq!((r.sequence, r.timestamp, r.marker), (1, 160, true));
    }

    #[test]
    fn gaps_and_late_packets_inside_a_source_pass_through() {
        let mut s = OutboundStream::new(1, 100, 0);
        s.rewrite(AGENT, 10, 0);
        assert_eq!(s.rewrite(AGENT, 13, 480).sequence, 103);
        assert_eq!(s.rewrite(AGENT, 12, 320).sequence, 102);
        // The late packet did not move the high-water mark: a switch continues after 103.
        assert_eq!(s.rewrite(PLAYER, 0, 0).sequence, 104);
    }

    #[test]
    fn opus_frame_step_is_used_across_a_switch() {
        let mut s = OutboundStream::new(1, 0, 0);
        s.set_frame_step(960);
        s.rewrite(AGENT, 0, 0);
        assert_eq!(s.rewrite(PLAYER, 0, 0).timestamp, 960);
    }

    #[test]
    fn payload_map_translates_and_drops() {
        let mut m = PayloadMap::drop_all();
        m.set(101, 96);
        assert_eq!(m.lookup(101), Some(96));
        assert_eq!(m.lookup(0), None);
        assert_eq!(PayloadMap::identity().lookup(8), Some(8));
    }

    #[test]
    fn in_place_rewrite_changes_header_and_keeps_payload() {
        let payload = [0xD5u8; 160];
        let mut buf = RtpPacketBuilder::new()
            .payload_type(101)
            .sequence_number(7)
            .timestamp(1234)
            .ssrc(0xAAAA)
            .payload(payload.as_slice())
            .write_vec()
            .unwrap();
        let mut s = OutboundStream::new(0x5151, 500, 9_000);
        let mut m = PayloadMap::drop_all();
        m.set(101, 96);
        rewrite_in_place(&mut buf, 1, &mut s, &m).unwrap();
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(
            (
                p.ssrc(),
                p.sequence_number(),
                p.timestamp(),
                p.payload_type(),
                p.marker_bit()
            ),
            (0x5151, 500, 9_000, 96, true)
        );
        assert_eq!(p.payload(), &payload);
    }

    #[test]
    fn rewrite_refuses_garbage_and_unmapped_payload_types() {
        let mut s = OutboundStream::new(1, 0, 0);
        let m = PayloadMap::identity();
        assert!(matches!(
            rewrite_in_place(&mut [0x80, 0, 1], 0, &mut s, &m),
            Err(RtpError::Malformed { len: 3 })
        ));
        let mut buf = RtpPacketBuilder::<&[u8], &[u8]>::new()
            .payload_type(13)
            .write_vec()
            .unwrap();
        assert_eq!(
            rewrite_in_place(&mut buf, 0, &mut s, &PayloadMap::drop_all()),
            Err(RtpError::PayloadTypeNotMapped(13))
        );
    }
}
