//! A call's mixing state, present only while the call is recorded or
//! supervised: per-party decoders feeding [`Fifo`]s, the mixing clock, the
//! recorder and, per party, an encoder for what the mixer sends it.
//! Unsupervised calls never build one, so the plain relay path stays a
//! header rewrite.

use std::path::Path;
use std::time::{Duration, Instant};

use super::record::{RecordError, Recorder};
use crate::media::mix::{mix_for, Fifo, Mode, Party, FRAME};
use crate::media::packetize::{FrameOut, Repacketizer, PACKET_SAMPLES_MAX};
use crate::media::sdp::Codec;
use crate::media::transcode::Transcoder;
use crate::media::NARROWBAND_HZ;

/// Mixing period: one 20 ms frame.
pub const MIX_PERIOD: Duration = Duration::from_millis(20);
/// A task that fell this far behind its mixing clock skips the lost
/// frames instead of sending a burst.
const MIX_LAG_MAX: Duration = Duration::from_millis(100);

/// A party's codec state: decodes what it sends, encodes what it hears.
struct Coder {
    codec: Codec,
    transcoder: Transcoder,
}

pub(super) struct Mixer {
    /// The relay leg of each party ([`Party`] order).
    pub legs: [Option<usize>; 3],
    /// Supervision, when a supervisor is in.
    pub mode: Option<Mode>,
    fifos: [Fifo; 3],
    coders: [Option<Coder>; 3],
    /// What each party hears, cut into its leg's packet time.
    cutters: [Option<(Codec, Repacketizer)>; 3],
    frames: [[i16; FRAME]; 3],
    pub recorder: Option<Recorder>,
    next: Instant,
    /// Frames mixed: the timeline of what the mixer sends.
    pub ticks: u32,
}

impl Mixer {
    pub fn new(caller: usize, agent: usize, now: Instant) -> Mixer {
        Mixer {
            legs: [Some(caller), Some(agent), None],
            mode: None,
            fifos: Default::default(),
            coders: Default::default(),
            cutters: Default::default(),
            frames: [[0; FRAME]; 3],
            recorder: None,
            next: now + MIX_PERIOD,
            ticks: 0,
        }
    }

    pub fn party_of(&self, leg: usize) -> Option<Party> {
        Party::ALL
            .into_iter()
            .find(|&p| self.legs[p as usize] == Some(leg))
    }

    /// Whether the leg's audio comes from the mixer, not the plain relay.
    pub fn feeds(&self, leg: usize) -> bool {
        match (self.mode, self.party_of(leg)) {
            (Some(mode), Some(party)) => mode.mixes_for(party),
            _ => false,
        }
    }

    /// Whether the mixer has nothing left to do.
    pub fn is_idle(&self) -> bool {
        self.mode.is_none() && self.recorder.is_none()
    }

    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// Decodes an audio payload `leg` sent (in `codec`) into its queue.
    /// Payloads that do not decode (another ptime, garbage) are skipped.
    pub fn tap(&mut self, leg: usize, codec: Codec, payload: &[u8]) {
        let Some(party) = self.party_of(leg) else {
            return;
        };
        let Some(coder) = coder_for(&mut self.coders[party as usize], codec) else {
            return;
        };
        if let Ok(pcm) = coder.transcoder.decode(payload) {
            self.fifos[party as usize].push(pcm);
        }
    }

    /// Takes one frame per party and records it. `Ok(false)`: too early.
    /// A recording that fails to write is dropped and its error returned.
    pub fn tick(&mut self, now: Instant) -> Result<bool, RecordError> {
        if now < self.next {
            return Ok(false);
        }
        self.next = if now.saturating_duration_since(self.next) > MIX_LAG_MAX {
            now + MIX_PERIOD
        } else {
            self.next + MIX_PERIOD
        };
        self.ticks = self.ticks.wrapping_add(1);
        for (fifo, frame) in self.fifos.iter_mut().zip(self.frames.iter_mut()) {
            fifo.pop(frame);
        }
        if let Some(r) = self.recorder.as_mut() {
            let [caller, agent, _] = &self.frames;
            if let Err(e) = r.write(caller, agent) {
                self.recorder = None;
                return Err(e);
            }
        }
        Ok(true)
    }

    /// Queues the mix `party` hears this tick, to be sent in `codec` in
    /// frames of `samples` (its leg's packet time; a change of either
    /// starts the party's stream anew).
    pub fn queue_for(&mut self, party: Party, codec: Codec, samples: usize) {
        let Some(mode) = self.mode else {
            return;
        };
        let mut pcm = [0i16; FRAME];
        mix_for(mode, party, &self.frames, &mut pcm);
        let slot = &mut self.cutters[party as usize];
        if slot
            .as_ref()
            .is_none_or(|(c, r)| *c != codec || r.out_samples() != samples)
        {
            let cutter = Repacketizer::new(samples, NARROWBAND_HZ, codec.clock_rate());
            *slot = Some((codec, cutter));
        }
        if let Some((_, cutter)) = slot.as_mut() {
            // One frame of 160 always fits: cannot fail.
            let _ = cutter.push(0, self.ticks.wrapping_mul(FRAME as u32), false, &pcm);
        }
    }

    /// The next frame queued for `party`, encoded in `codec` into `out`:
    /// its length and numbers.
    pub fn next_for(
        &mut self,
        party: Party,
        codec: Codec,
        out: &mut [u8],
    ) -> Option<(usize, FrameOut)> {
        let (_, cutter) = self.cutters[party as usize].as_mut()?;
        let mut pcm = [0i16; PACKET_SAMPLES_MAX];
        let frame = cutter.pop(&mut pcm)?;
        let n = cutter.out_samples();
        let coder = coder_for(&mut self.coders[party as usize], codec)?;
        let len = coder.transcoder.encode_pcm(&pcm[..n], out).ok()?;
        Some((len, frame))
    }

    /// A party left (the supervisor hung up): forget its audio.
    pub fn remove(&mut self, party: Party) {
        self.legs[party as usize] = None;
        self.fifos[party as usize].clear();
        self.coders[party as usize] = None;
        self.cutters[party as usize] = None;
    }

    pub fn start_recording(&mut self, path: &Path, group: Option<u32>) -> Result<(), RecordError> {
        self.recorder = Some(Recorder::create(path, group)?);
        Ok(())
    }

    /// Closes the recording, if any; its length.
    pub fn finish_recording(&mut self) -> Option<Result<Duration, RecordError>> {
        self.recorder.take().map(Recorder::finish)
    }
}

/// The party's coder for `codec`, built on first use or when the codec
/// changed (a re-INVITE).
fn coder_for(slot: &mut Option<Coder>, codec: Codec) -> Option<&mut Coder> {
    if slot.as_ref().is_none_or(|c| c.codec != codec) {
        *slot = Transcoder::new(codec, codec)
            .ok()
            .map(|transcoder| Coder { codec, transcoder });
    }
    slot.as_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::ulaw_encode;

    fn pcmu(level: i16) -> Vec<u8> {
        vec![ulaw_encode(level); FRAME]
    }

    #[test]
    fn the_mixer_ticks_every_20_ms_and_skips_ahead_after_a_stall() {
        let t0 = Instant::now();
        let mut m = Mixer::new(0, 1, t0);
        assert!(!m.tick(t0).unwrap());
        assert!(m.tick(t0 + MIX_PERIOD).unwrap());
        assert_eq!(m.deadline(), t0 + 2 * MIX_PERIOD);
        assert!(m.tick(t0 + Duration::from_secs(1)).unwrap());
        assert_eq!(m.deadline(), t0 + Duration::from_secs(1) + MIX_PERIOD);
    }

    #[test]
    fn a_whispering_supervisor_reaches_the_agent_but_not_the_caller() {
        let t0 = Instant::now();
        let mut m = Mixer::new(0, 1, t0);
        m.legs[Party::Supervisor as usize] = Some(2);
        m.mode = Some(Mode::Whisper);
        assert!(m.feeds(1) && m.feeds(2) && !m.feeds(0));
        for _ in 0..2 {
            m.tap(0, Codec::Pcmu, &pcmu(1000));
            m.tap(2, Codec::Pcmu, &pcmu(3000));
        }
        assert!(m.tick(t0 + MIX_PERIOD).unwrap());
        let mut out = [0u8; 200];
        m.queue_for(Party::Agent, Codec::Pcmu, FRAME);
        let (n, _) = m.next_for(Party::Agent, Codec::Pcmu, &mut out).unwrap();
        assert_eq!(n, FRAME);
        let heard = crate::media::g711::ulaw_decode(out[0]);
        assert!(
            (3800..4200).contains(&heard),
            "caller + supervisor, got {heard}"
        );
    }

    #[test]
    fn a_party_of_no_leg_is_not_tapped() {
        let t0 = Instant::now();
        let mut m = Mixer::new(0, 1, t0);
        m.tap(5, Codec::Pcmu, &pcmu(1000));
        m.tap(0, Codec::Pcmu, &[1, 2, 3]);
        assert!(m.tick(t0 + MIX_PERIOD).unwrap());
        assert_eq!(m.frames, [[0; FRAME]; 3]);
    }

    #[test]
    fn a_party_at_ptime_30_gets_two_frames_every_three_ticks() {
        let t0 = Instant::now();
        let mut m = Mixer::new(0, 1, t0);
        m.legs[Party::Supervisor as usize] = Some(2);
        m.mode = Some(Mode::Monitor);
        let mut out = [0u8; 400];
        let mut frames = Vec::new();
        for k in 1..=6u32 {
            assert!(m.tick(t0 + MIX_PERIOD * k).unwrap());
            m.queue_for(Party::Supervisor, Codec::Pcma, 240);
            while let Some((n, f)) = m.next_for(Party::Supervisor, Codec::Pcma, &mut out) {
                assert_eq!(n, 240);
                frames.push(f.timestamp);
            }
        }
        assert_eq!(frames.len(), 4);
        assert!(frames.windows(2).all(|w| w[1] - w[0] == 240), "{frames:?}");
    }
}
