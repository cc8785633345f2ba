//! Packet times and re-packetisation: audio that arrives in packets of one
//! length (10–60 ms) leaves in packets of the length the far leg asked for
//! (`a=ptime`, capped by `a=maxptime`, RFC 4566 §6), on one continuous
//! stream of sequence numbers and timestamps (RFC 3550 §5.1).
//!
//! The [`Repacketizer`] holds decoded 8 kHz samples: the relay decodes each
//! packet into it and encodes every whole outgoing frame it yields. It only
//! counts samples; codecs, sockets and header writing are the relay's.

use std::time::Duration;

use crate::media::sdp::Codec;
use crate::media::NARROWBAND_HZ;

/// Shortest packet the relay sends or takes apart.
pub const PTIME_MIN: Duration = Duration::from_millis(10);
/// Longest packet the relay sends or takes apart (RFC 3551 §4.5: up to a
/// phone's 60 ms; longer Opus packets are not decoded).
pub const PTIME_MAX: Duration = Duration::from_millis(60);
/// The packet time of a leg whose SDP names none (RFC 3551 §4.5: 20 ms).
pub const PTIME_DEFAULT: Duration = Duration::from_millis(20);
/// Samples at 8 kHz in the longest packet ([`PTIME_MAX`]).
pub const PACKET_SAMPLES_MAX: usize = 480;
/// Samples the repacketiser holds: all but one sample of a longest packet
/// out, a filled gap of up to [`GAP_FILLED_MAX`], and a longest packet in.
pub const PENDING_SAMPLES_MAX: usize = 3 * PACKET_SAMPLES_MAX;
/// Longest loss (8 kHz samples) filled with silence to keep the outgoing
/// timeline; after a longer one the stream restarts with a marked frame.
pub const GAP_FILLED_MAX: usize = PACKET_SAMPLES_MAX;

/// The packet time to send a leg: its `a=ptime`, no longer than its
/// `a=maxptime`, within 10–60 ms, in whole 10 ms (G.711 frames are any
/// length; Opus frames are 10, 20, 40 or 60 ms, RFC 6716 §2.1.4, so an
/// Opus leg asking 30 or 50 ms gets the next shorter frame).
pub fn packet_time(ptime: Option<u32>, maxptime: Option<u32>, codec: Codec) -> Duration {
    let mut ms = ptime.unwrap_or(PTIME_DEFAULT.as_millis() as u32);
    if let Some(max) = maxptime.filter(|&m| m > 0) {
        ms = ms.min(max);
    }
    let (lo, hi) = (PTIME_MIN.as_millis() as u32, PTIME_MAX.as_millis() as u32);
    let ms = ms.clamp(lo, hi) / 10 * 10;
    let ms = match (codec, ms) {
        (Codec::Opus, 30) => 20,
        (Codec::Opus, 50) => 40,
        (_, ms) => ms,
    };
    Duration::from_millis(u64::from(ms))
}

/// 8 kHz samples in a packet of `ptime`.
pub fn samples_8k(ptime: Duration) -> usize {
    (ptime.as_micros() * u128::from(NARROWBAND_HZ) / 1_000_000) as usize
}

/// What the repacketiser refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    #[error("a packet of {samples} samples is longer than {PACKET_SAMPLES_MAX}")]
    TooLong { samples: usize },
    /// Older than audio already cut (reordered or duplicated): its place
    /// in the outgoing frames is gone.
    #[error("a packet {samples} samples older than the stream")]
    Late { samples: u32 },
}

/// The header numbers of one outgoing frame, in the source's own terms
/// (the leg's [`OutboundStream`](crate::media::rtp::OutboundStream) rebases them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameOut {
    pub ssrc: u32,
    pub sequence: u16,
    /// In the outgoing leg's RTP clock.
    pub timestamp: u32,
    /// First frame after a gap, a new source or a talkspurt start.
    pub marker: bool,
}

/// Cuts a stream of decoded audio into frames of one length.
#[derive(Debug, Clone)]
pub struct Repacketizer {
    out_samples: usize,
    /// RTP clock ticks per 8 kHz sample on each side (1 for G.711, 6 for Opus).
    in_ticks: u32,
    out_ticks: u32,
    pcm: Box<[i16; PENDING_SAMPLES_MAX]>,
    len: usize,
    /// The source being cut, and the input timestamp that continues it.
    ssrc: Option<u32>,
    next_in_ts: u32,
    /// Timestamp (output clock) and sequence of the next frame out.
    out_ts: u32,
    out_seq: u16,
    marker: bool,
}

impl Repacketizer {
    /// Frames of `out_samples` (8 kHz, at most [`PACKET_SAMPLES_MAX`]) from
    /// input on an RTP clock of `in_rate` to output on `out_rate`.
    pub fn new(out_samples: usize, in_rate: u32, out_rate: u32) -> Self {
        Self {
            out_samples: out_samples.clamp(1, PACKET_SAMPLES_MAX),
            in_ticks: (in_rate / NARROWBAND_HZ).max(1),
            out_ticks: (out_rate / NARROWBAND_HZ).max(1),
            pcm: Box::new([0; PENDING_SAMPLES_MAX]),
            len: 0,
            ssrc: None,
            next_in_ts: 0,
            out_ts: 0,
            out_seq: 0,
            marker: false,
        }
    }

    /// Samples of each outgoing frame.
    pub fn out_samples(&self) -> usize {
        self.out_samples
    }

    /// Adds one packet's decoded audio. A loss of up to [`GAP_FILLED_MAX`]
    /// is filled with silence, so the outgoing timeline keeps step; a
    /// packet older than the stream (reordered, duplicated) is refused. A
    /// new SSRC or a longer jump drops the part-frame held and starts the
    /// new audio on a frame with the marker set: the receiver's jitter
    /// buffer resyncs there.
    pub fn push(
        &mut self,
        ssrc: u32,
        timestamp: u32,
        marker: bool,
        pcm: &[i16],
    ) -> Result<(), PacketizeError> {
        if pcm.len() > PACKET_SAMPLES_MAX {
            return Err(PacketizeError::TooLong { samples: pcm.len() });
        }
        // RFC 3550 A.1 arithmetic: ahead of the expected timestamp if the
        // wrapped difference is under half the range.
        let ahead = timestamp.wrapping_sub(self.next_in_ts);
        let gap = (ahead / self.in_ticks) as usize;
        if self.ssrc == Some(ssrc) && ahead >= 1 << 31 {
            let samples = self.next_in_ts.wrapping_sub(timestamp) / self.in_ticks;
            if samples as usize <= PENDING_SAMPLES_MAX {
                return Err(PacketizeError::Late { samples });
            }
        }
        if self.ssrc == Some(ssrc) && ahead < 1 << 31 && gap <= GAP_FILLED_MAX {
            self.pcm[self.len..self.len + gap].fill(0);
            self.len += gap;
        } else {
            self.len = 0;
            self.marker = true;
            // Continue the source's own timeline on the output clock.
            self.out_ts = (timestamp / self.in_ticks).wrapping_mul(self.out_ticks);
            if self.ssrc != Some(ssrc) {
                self.out_seq = 0;
            }
            self.ssrc = Some(ssrc);
        }
        self.marker |= marker && self.len == 0;
        self.next_in_ts = timestamp.wrapping_add(pcm.len() as u32 * self.in_ticks);
        self.pcm[self.len..self.len + pcm.len()].copy_from_slice(pcm);
        self.len += pcm.len();
        Ok(())
    }

    /// The next whole frame, copied into `out` (at least
    /// [`out_samples`](Self::out_samples) long), or `None` until one is held.
    pub fn pop(&mut self, out: &mut [i16]) -> Option<FrameOut> {
        let n = self.out_samples;
        if self.len < n || out.len() < n {
            return None;
        }
        out[..n].copy_from_slice(&self.pcm[..n]);
        self.pcm.copy_within(n..self.len, 0);
        self.len -= n;
        let frame = FrameOut {
            ssrc: self.ssrc.unwrap_or_default(),
            sequence: self.out_seq,
            timestamp: self.out_ts,
            marker: std::mem::take(&mut self.marker),
        };
        self.out_seq = self.out_seq.wrapping_add(1);
        self.out_ts = self.out_ts.wrapping_add(n as u32 * self.out_ticks);
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(from: i16, n: usize) -> Vec<i16> {
        (0..n).map(|i| from + i as i16).collect()
    }

    #[test]
    fn packet_time_follows_ptime_capped_by_maxptime_within_bounds() {
        let ms = |m| Duration::from_millis(m);
        assert_eq!(packet_time(None, None, Codec::Pcmu), ms(20));
        assert_eq!(packet_time(Some(30), None, Codec::Pcma), ms(30));
        assert_eq!(packet_time(Some(60), Some(40), Codec::Pcmu), ms(40));
        assert_eq!(packet_time(Some(5), None, Codec::Pcmu), ms(10));
        assert_eq!(packet_time(Some(120), None, Codec::Pcmu), ms(60));
        assert_eq!(packet_time(Some(25), None, Codec::Pcmu), ms(20));
        assert_eq!(packet_time(Some(30), None, Codec::Opus), ms(20));
        assert_eq!(packet_time(Some(60), None, Codec::Opus), ms(60));
        assert_eq!(samples_8k(ms(30)), 240);
    }

    #[test]
    fn thirty_ms_in_become_twenty_ms_out_with_continuous_numbers() {
        let mut r = Repacketizer::new(160, 8_000, 8_000);
        let mut out = [0i16; PACKET_SAMPLES_MAX];
        let mut frames = Vec::new();
        for k in 0..4u32 {
            r.push(7, 240 + 240 * k, k == 0, &ramp((240 * k) as i16, 240))
                .unwrap();
            while let Some(f) = r.pop(&mut out) {
                assert_eq!(out[0], (160 * frames.len()) as i16, "samples in order");
                frames.push(f);
            }
        }
        // 960 samples in, six frames of 160 out, none left over.
        assert_eq!(frames.len(), 6);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.sequence, i as u16);
            assert_eq!(f.timestamp, 240 + 160 * i as u32);
            assert_eq!(f.marker, i == 0);
            assert_eq!(f.ssrc, 7);
        }
    }

    #[test]
    fn twenty_ms_g711_in_become_sixty_ms_opus_out_on_the_48k_clock() {
        let mut r = Repacketizer::new(480, 8_000, 48_000);
        let mut out = [0i16; PACKET_SAMPLES_MAX];
        let mut frames = Vec::new();
        for k in 0..6u32 {
            r.push(1, 160 * k, false, &[0; 160]).unwrap();
            frames.extend(std::iter::from_fn(|| r.pop(&mut out)));
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].timestamp - frames[0].timestamp, 480 * 6);
        assert_eq!(frames[1].sequence, 1);
    }

    #[test]
    fn a_short_loss_is_filled_with_silence_and_keeps_the_timeline() {
        let mut r = Repacketizer::new(160, 8_000, 8_000);
        let mut out = [0i16; PACKET_SAMPLES_MAX];
        r.push(1, 0, false, &[1; 240]).unwrap();
        assert!(r.pop(&mut out).unwrap().marker);
        // The packet at 240 was lost: 80 held, 240 of silence, then 240.
        r.push(1, 480, false, &[2; 240]).unwrap();
        let frames: Vec<_> = std::iter::from_fn(|| {
            let f = r.pop(&mut out)?;
            Some((f.timestamp, f.sequence, f.marker, out[0], out[159]))
        })
        .collect();
        assert_eq!(
            frames,
            [
                (160, 1, false, 1, 0),
                (320, 2, false, 0, 0),
                (480, 3, false, 2, 2)
            ]
        );
    }

    #[test]
    fn late_packets_are_refused_and_a_long_jump_or_new_ssrc_restarts_marked() {
        let mut r = Repacketizer::new(160, 8_000, 8_000);
        let mut out = [0i16; PACKET_SAMPLES_MAX];
        r.push(1, 1_000, false, &[1; 160]).unwrap();
        r.pop(&mut out).unwrap();
        assert_eq!(
            r.push(1, 1_000, false, &[1; 160]),
            Err(PacketizeError::Late { samples: 160 })
        );
        // A second of silence suppression: too long to fill.
        r.push(1, 9_160, false, &[3; 240]).unwrap();
        let f = r.pop(&mut out).unwrap();
        assert_eq!(
            (f.timestamp, f.marker, f.sequence, out[0]),
            (9_160, true, 1, 3)
        );
        // Another source starts its own numbering.
        r.push(9, 5, false, &[4; 160]).unwrap();
        let f = r.pop(&mut out).unwrap();
        assert_eq!((f.ssrc, f.sequence, f.timestamp, f.marker), (9, 0, 5, true));
        assert_eq!(out[0], 4, "the part-frame of the old source is dropped");
    }

    #[test]
    fn packets_longer_than_60_ms_are_refused() {
        let mut r = Repacketizer::new(160, 8_000, 8_000);
        assert_eq!(
            r.push(1, 0, false, &[0; 481]),
            Err(PacketizeError::TooLong { samples: 481 })
        );
    }
}
