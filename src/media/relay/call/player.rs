//! Prompts streamed to one leg that is not bridged: queue audio, menus,
//! music on hold. Frames have the leg's packet time; G.711 legs get the
//! prompts' pre-encoded bytes, Opus legs frames encoded here from the
//! samples (RFC 7587: 48 kHz timestamps whatever the audio rate).

use std::time::{Duration, Instant};

use super::{CallMedia, DropReason, SourceKey};
use crate::media::g711::{alaw_encode, ulaw_encode};
use crate::media::packetize::PACKET_SAMPLES_MAX;
use crate::media::prompts::{PromptId, PromptPlayer};
use crate::media::relay::forward::{write_header, HEADER_LEN};
use crate::media::sdp::Codec;
use crate::media::transcode::Transcoder;
use crate::media::NARROWBAND_HZ;

/// Input number of the prompt player in the legs' [`SourceKey`]s (legs use
/// their index); each playlist is its own source segment.
const PLAYER_INPUT: u32 = 0x8000_0000;

/// Prompts streamed to one leg.
pub(super) struct Player {
    pub(super) leg: usize,
    current: PromptPlayer,
    music: Vec<PromptId>,
    /// Playlists started, so each gets a fresh source segment.
    segment: u32,
    /// The leg's packet time when the playlist started.
    frame: Duration,
    /// For an Opus leg, made on its first frame.
    encoder: Option<Box<Transcoder>>,
}

impl CallMedia {
    /// Plays `intro` once, then loops `music`, to leg `leg`.
    pub(super) fn start_play(&mut self, leg: usize, intro: &[PromptId], music: Vec<PromptId>) {
        let Some(l) = self.legs.get(leg) else {
            return;
        };
        let frame = l.ptime;
        let segment = self.player.as_ref().map_or(0, |p| p.segment + 1);
        let (items, looped) = if intro.is_empty() {
            (music.as_slice(), true)
        } else {
            (intro, false)
        };
        let Ok(current) = PromptPlayer::with_frame(items, looped, self.now, frame) else {
            return;
        };
        let music = if intro.is_empty() { Vec::new() } else { music };
        self.player = Some(Player {
            leg,
            current,
            music,
            segment,
            frame,
            encoder: None,
        });
    }

    /// When the player's next frame is due; now when a one-shot part ended
    /// and the music must start.
    pub(super) fn player_deadline(&self) -> Option<Instant> {
        let p = self.player.as_ref()?;
        p.current
            .poll_timeout(&self.prompts)
            .or_else(|| (!p.music.is_empty()).then_some(self.now))
    }

    /// Sends the frame due now on the player's leg, under the leg's own
    /// SSRC and continuing its sequence and timestamps (RFC 3550 §5.1).
    pub(super) fn on_player(&mut self) {
        let now = self.now;
        let Some(p) = self.player.as_mut() else {
            return;
        };
        let Some(frame) = p.current.poll_frame(&self.prompts, now) else {
            if p.current.poll_timeout(&self.prompts).is_some() {
                return;
            }
            if p.music.is_empty() {
                self.player = None;
                return;
            }
            let music = std::mem::take(&mut p.music);
            match PromptPlayer::with_frame(&music, true, now, p.frame) {
                Ok(current) => {
                    p.current = current;
                    p.segment += 1;
                }
                Err(_) => self.player = None,
            }
            return;
        };
        let source = SourceKey {
            input: PLAYER_INPUT | p.segment,
            ssrc: 0,
        };
        let Some(leg) = self.legs.get_mut(p.leg) else {
            return;
        };
        let (Some((codec, pt)), Some(dst)) = (leg.codec, leg.rtp_latch.destination()) else {
            return;
        };
        let Some(prompt) = self.prompts.prompt(frame.prompt) else {
            return;
        };
        let samples = p.current.frame_samples();
        let out = &mut self.tx_buf[HEADER_LEN..];
        let len = if codec == Codec::Opus {
            let Some(pcm) = prompt.pcm_frame(frame.frame, samples) else {
                return;
            };
            // The last frame of a prompt may be short: pad with silence.
            let mut padded = [0i16; PACKET_SAMPLES_MAX];
            padded[..pcm.len()].copy_from_slice(pcm);
            if p.encoder.is_none() {
                p.encoder = Transcoder::new(Codec::Pcmu, Codec::Opus).ok().map(Box::new);
            }
            let encoded = p
                .encoder
                .as_mut()
                .map(|e| e.encode_pcm(&padded[..samples], out));
            match encoded {
                Some(Ok(len)) => len,
                _ => return self.counters.drop(DropReason::CodecUnhandled),
            }
        } else {
            let Some(bytes) = prompt.encoded_frame(codec, frame.frame, samples) else {
                return;
            };
            let silence = if codec == Codec::Pcma {
                alaw_encode(0)
            } else {
                ulaw_encode(0)
            };
            out[..bytes.len()].copy_from_slice(bytes);
            out[bytes.len()..samples].fill(silence);
            samples
        };
        let ticks = samples as u32 * (codec.clock_rate() / NARROWBAND_HZ);
        let step = frame.step as u32;
        let rw = leg
            .stream
            .rewrite(source, step as u16, step.wrapping_mul(ticks));
        let packet = &mut self.tx_buf[..HEADER_LEN + len];
        write_header(packet, &rw, pt);
        match leg.send_rtp(&mut self.tx, packet, dst) {
            Ok(_) => {
                self.counters.rtp_packets += 1;
                self.counters.rtp_bytes += packet.len() as u64;
            }
            Err(_) => self.counters.drop(DropReason::SendFailed),
        }
    }
}
