//! A call's mixing state, present only while the call is recorded or
//! supervised: per-party decoders feeding [`Fifo`]s, the mixing clock, the
//! recorder and, per party, an encoder for what the mixer sends it.
//! Unsupervised calls never build one, so the plain relay path stays a
//! header rewrite.

use std::path::Path;
use std::time::{Duration, Instant};

use super::record::{RecordError, Recorder};
use crate::media::mix::{mix_for, Fifo, Mode, Party, FRAME};
use crate::media::sdp::Codec;
use crate::media::transcode::Transcoder;

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
    frames: [[i16; FRAME]; 3],
    pub recorder: Option<Recorder>,
    next: Instant,
    /// Frames mixed: the sequence and timestamp of what the mixer sends.
    pub ticks: u32,
}

impl Mixer {
    pub fn new(caller: usize, agent: usize, now: Instant) -> Mixer {
        Mixer {
            legs: [Some(caller), Some(agent), None],
            mode: None,
            fifos: Default::default(),
            coders: Default::default(),
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

    /// The mix `party` hears this tick, encoded in `codec` into `out`.
    pub fn encode_for(&mut self, party: Party, codec: Codec, out: &mut [u8]) -> Option<usize> {
        let mode = self.mode?;
        let mut pcm = [0i16; FRAME];
        mix_for(mode, party, &self.frames, &mut pcm);
        let coder = coder_for(&mut self.coders[party as usize], codec)?;
        coder.transcoder.encode_pcm(&pcm, out).ok()
    }

    /// A party left (the supervisor hung up): forget its audio.
    pub fn remove(&mut self, party: Party) {
        self.legs[party as usize] = None;
        self.fifos[party as usize].clear();
        self.coders[party as usize] = None;
    }

    pub fn start_recording(&mut self, path: &Path) -> Result<(), RecordError> {
        self.recorder = Some(Recorder::create(path)?);
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
        let n = m.encode_for(Party::Agent, Codec::Pcmu, &mut out).unwrap();
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
}
