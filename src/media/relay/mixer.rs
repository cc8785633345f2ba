//! A call's mixing state, present only while the call is recorded,
//! supervised or a conference: per-party decoders feeding [`Fifo`]s, the
//! mixing clock, the recorder and, per party, an encoder for what the
//! mixer sends it. Parties sit in slots: caller, agent and supervisor in
//! the first three ([`Party`] order), conference parties wherever free.
//! Unsupervised calls never build one, so the plain relay path stays a
//! header rewrite.
//!
//! The recording is one file per customer call: the caller on the left,
//! and on the right what the caller hears of the other parties (the agent
//! of the moment after a transfer, a conference's parties, a supervisor
//! who barged in or took over). While the caller hears nobody (on hold,
//! queued after a transfer, a target ringing) the right channel is
//! silence, and frames a stalled call missed are written as silence too:
//! a sample's place in the file is its time since the recording began.

use std::path::Path;
use std::time::{Duration, Instant};

use super::record::{RecordError, Recorder};
use crate::media::mix::{
    conference_mix, mix_for, Fifo, Mode, Party, Voice, CONFERENCE_PARTIES_MAX, FRAME,
};
use crate::media::packetize::{FrameOut, Repacketizer, PACKET_SAMPLES_MAX};
use crate::media::sdp::Codec;
use crate::media::transcode::Transcoder;
use crate::media::NARROWBAND_HZ;

/// Mixing period: one 20 ms frame.
pub const MIX_PERIOD: Duration = Duration::from_millis(20);
/// A call that fell this far behind its mixing clock skips the lost
/// frames instead of sending a burst.
const MIX_LAG_MAX: Duration = Duration::from_millis(100);
/// Party slots: a conference's parties (supervision uses the first three).
pub const SLOTS: usize = CONFERENCE_PARTIES_MAX;
/// Silent frames written at most for one stall of the mixing clock (a
/// minute): the recording keeps time without a stall writing without end.
const RECORD_GAP_FRAMES_MAX: u64 = 3_000;

/// A party's codec state: decodes what it sends, encodes what it hears.
struct Coder {
    codec: Codec,
    transcoder: Transcoder,
}

pub(super) struct Mixer {
    /// The relay leg of each slot ([`Party`] order first).
    pub legs: [Option<usize>; SLOTS],
    /// Supervision, when a supervisor is in; or a conference.
    pub mode: Option<Mode>,
    /// Each slot's gain and mute in a conference.
    voices: [Voice; SLOTS],
    fifos: [Fifo; SLOTS],
    coders: [Option<Coder>; SLOTS],
    /// What each party hears, cut into its leg's packet time.
    cutters: [Option<(Codec, Repacketizer)>; SLOTS],
    frames: [[i16; FRAME]; SLOTS],
    pub recorder: Option<Recorder>,
    next: Instant,
    /// Frames mixed: the timeline of what the mixer sends.
    pub ticks: u32,
}

impl Mixer {
    pub fn new(caller: usize, agent: usize, now: Instant) -> Mixer {
        let mut legs = [None; SLOTS];
        legs[Party::Caller as usize] = Some(caller);
        legs[Party::Agent as usize] = Some(agent);
        Mixer {
            legs,
            mode: None,
            voices: [Voice::default(); SLOTS],
            fifos: Default::default(),
            coders: Default::default(),
            cutters: Default::default(),
            frames: [[0; FRAME]; SLOTS],
            recorder: None,
            next: now + MIX_PERIOD,
            ticks: 0,
        }
    }

    /// The slot of a leg.
    pub fn party_of(&self, leg: usize) -> Option<usize> {
        self.legs.iter().position(|&l| l == Some(leg))
    }

    /// Whether the leg's audio comes from the mixer, not the plain relay.
    pub fn feeds(&self, leg: usize) -> bool {
        self.party_of(leg).is_some_and(|slot| self.feeds_slot(slot))
    }

    /// Whether the party in `slot` hears the mixer.
    pub fn feeds_slot(&self, slot: usize) -> bool {
        if self.legs.get(slot).is_none_or(Option::is_none) {
            return false;
        }
        match (self.mode, Party::ALL.get(slot)) {
            (Some(Mode::Conference), _) => true,
            (Some(mode), Some(&party)) => mode.mixes_for(party),
            _ => false,
        }
    }

    /// The call becomes (or stays) a conference of exactly these legs, each
    /// with its voice. A leg keeps its slot (the caller's stays the
    /// recording's left channel); a leg not listed leaves the mix; a new
    /// one takes a free slot (none left: not mixed; the core keeps count).
    pub fn set_conference(&mut self, parties: &[(usize, Voice)]) {
        for slot in 0..SLOTS {
            if self.legs[slot].is_some_and(|l| !parties.iter().any(|&(p, _)| p == l)) {
                self.remove(slot);
            }
        }
        for &(leg, voice) in parties {
            let slot = match self.party_of(leg) {
                Some(slot) => slot,
                None => {
                    // Past supervision's three first, so a leg rejoining
                    // does not take the caller's slot.
                    let free = (Party::ALL.len()..SLOTS)
                        .chain(0..Party::ALL.len())
                        .find(|&s| self.legs[s].is_none());
                    let Some(slot) = free else { continue };
                    self.legs[slot] = Some(leg);
                    slot
                }
            };
            self.voices[slot] = voice;
        }
        self.mode = Some(Mode::Conference);
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
        let Some(slot) = self.party_of(leg) else {
            return;
        };
        let Some(coder) = coder_for(&mut self.coders[slot], codec) else {
            return;
        };
        if let Ok(pcm) = coder.transcoder.decode(payload) {
            self.fifos[slot].push(pcm);
        }
    }

    /// Takes one frame per party and records it. `Ok(false)`: too early.
    /// `caller_bridged`: the caller's leg is relayed to the agent's (not
    /// on hold, queued or hearing a target ring). A recording that fails
    /// to write is dropped and its error returned.
    pub fn tick(&mut self, now: Instant, caller_bridged: bool) -> Result<bool, RecordError> {
        if now < self.next {
            return Ok(false);
        }
        let late = now.saturating_duration_since(self.next);
        let skipped = if late > MIX_LAG_MAX {
            self.next = now + MIX_PERIOD;
            (late.as_nanos() / MIX_PERIOD.as_nanos()) as u64
        } else {
            self.next += MIX_PERIOD;
            0
        };
        self.ticks = self.ticks.wrapping_add(1);
        for (fifo, frame) in self.fifos.iter_mut().zip(self.frames.iter_mut()) {
            fifo.pop(frame);
        }
        if self.recorder.is_none() {
            return Ok(true);
        }
        let mut others = [0i16; FRAME];
        self.heard_by_caller(caller_bridged, &mut others);
        let Some(r) = self.recorder.as_mut() else {
            return Ok(true);
        };
        let silence = [0i16; FRAME];
        let mut written = Ok(());
        for _ in 0..skipped.min(RECORD_GAP_FRAMES_MAX) {
            written = written.and_then(|()| r.write(&silence, &silence));
        }
        let caller = &self.frames[Party::Caller as usize];
        if let Err(e) = written.and_then(|()| r.write(caller, &others)) {
            self.recorder = None;
            return Err(e);
        }
        Ok(true)
    }

    /// The recording's right channel this tick: what the caller hears of
    /// the other parties. A conference's mix-minus, a barging or
    /// taking-over supervisor's mix; otherwise the agent while the
    /// caller is bridged to it, and silence while it is not.
    fn heard_by_caller(&self, caller_bridged: bool, out: &mut [i16; FRAME]) {
        let caller = Party::Caller as usize;
        match self.mode {
            Some(Mode::Conference) => {
                let voices = self.present_voices();
                conference_mix(&self.frames, &voices, caller, out);
            }
            Some(mode) if mode.mixes_for(Party::Caller) => {
                mix_for(mode, Party::Caller, &self.frames, out);
            }
            _ if caller_bridged => *out = self.frames[Party::Agent as usize],
            _ => out.fill(0),
        }
    }

    /// The caller's leg was bridged to `peer`: the agent's slot follows
    /// it (a leg of a part the core opened anew), unless it mixes already.
    pub fn follow_bridge(&mut self, peer: usize) {
        let agent = Party::Agent as usize;
        if self.party_of(peer).is_some() {
            return;
        }
        self.remove(agent);
        self.legs[agent] = Some(peer);
    }

    /// The caller's relay leg.
    pub fn caller_leg(&self) -> Option<usize> {
        self.legs[Party::Caller as usize]
    }

    /// Each slot's voice, `None` where no party is.
    fn present_voices(&self) -> [Option<Voice>; SLOTS] {
        std::array::from_fn(|i| self.legs[i].map(|_| self.voices[i]))
    }

    /// Queues the mix the party in `slot` hears this tick, to be sent in
    /// `codec` in frames of `samples` (its leg's packet time; a change of
    /// either starts the party's stream anew).
    pub fn queue_for(&mut self, slot: usize, codec: Codec, samples: usize) {
        let mut pcm = [0i16; FRAME];
        match (self.mode, Party::ALL.get(slot)) {
            (Some(Mode::Conference), _) => {
                let voices = self.present_voices();
                conference_mix(&self.frames, &voices, slot, &mut pcm);
            }
            (Some(mode), Some(&party)) => mix_for(mode, party, &self.frames, &mut pcm),
            _ => return,
        }
        let slot = &mut self.cutters[slot];
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
        slot: usize,
        codec: Codec,
        out: &mut [u8],
    ) -> Option<(usize, FrameOut)> {
        let (_, cutter) = self.cutters[slot].as_mut()?;
        let mut pcm = [0i16; PACKET_SAMPLES_MAX];
        let frame = cutter.pop(&mut pcm)?;
        let n = cutter.out_samples();
        let coder = coder_for(&mut self.coders[slot], codec)?;
        let len = coder.transcoder.encode_pcm(&pcm[..n], out).ok()?;
        Some((len, frame))
    }

    /// A party left (the supervisor hung up): forget its audio.
    pub fn remove(&mut self, slot: usize) {
        self.legs[slot] = None;
        self.voices[slot] = Voice::default();
        self.fifos[slot].clear();
        self.frames[slot] = [0; FRAME];
        self.coders[slot] = None;
        self.cutters[slot] = None;
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
mod record_tests;

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
        assert!(!m.tick(t0, true).unwrap());
        assert!(m.tick(t0 + MIX_PERIOD, true).unwrap());
        assert_eq!(m.deadline(), t0 + 2 * MIX_PERIOD);
        assert!(m.tick(t0 + Duration::from_secs(1), true).unwrap());
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
        assert!(m.tick(t0 + MIX_PERIOD, true).unwrap());
        let mut out = [0u8; 200];
        m.queue_for(Party::Agent as usize, Codec::Pcmu, FRAME);
        let (n, _) = m
            .next_for(Party::Agent as usize, Codec::Pcmu, &mut out)
            .unwrap();
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
        assert!(m.tick(t0 + MIX_PERIOD, true).unwrap());
        assert_eq!(m.frames, [[0; FRAME]; SLOTS]);
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
            assert!(m.tick(t0 + MIX_PERIOD * k, true).unwrap());
            m.queue_for(Party::Supervisor as usize, Codec::Pcma, 240);
            while let Some((n, f)) = m.next_for(Party::Supervisor as usize, Codec::Pcma, &mut out) {
                assert_eq!(n, 240);
                frames.push(f.timestamp);
            }
        }
        assert_eq!(frames.len(), 4);
        assert!(frames.windows(2).all(|w| w[1] - w[0] == 240), "{frames:?}");
    }

    fn heard(m: &mut Mixer, slot: usize) -> i16 {
        let mut out = [0u8; 200];
        m.queue_for(slot, Codec::Pcmu, FRAME);
        let (n, _) = m.next_for(slot, Codec::Pcmu, &mut out).unwrap();
        assert_eq!(n, FRAME);
        crate::media::g711::ulaw_decode(out[0])
    }

    #[test]
    fn a_conference_of_four_legs_mixes_minus_each_and_survives_a_leave() {
        let t0 = Instant::now();
        let mut m = Mixer::new(0, 1, t0);
        let muted = Voice {
            muted: true,
            ..Voice::default()
        };
        m.set_conference(&[
            (0, Voice::default()),
            (1, Voice::default()),
            (4, Voice::default()),
            (5, muted),
        ]);
        assert!((0..6).filter(|&l| l != 2 && l != 3).all(|l| m.feeds(l)));
        assert!(!m.feeds(2), "a leg outside the conference is not fed");
        let levels = [(0, 500), (1, 1000), (4, 2000), (5, 4000)];
        for _ in 0..2 {
            for (leg, level) in levels {
                m.tap(leg, Codec::Pcmu, &pcmu(level));
            }
        }
        assert!(m.tick(t0 + MIX_PERIOD, true).unwrap());
        let near = |got: i16, want: i16| (got - want).abs() <= want / 25 + 8;
        let caller = m.party_of(0).unwrap();
        let fourth = m.party_of(5).unwrap();
        let got = heard(&mut m, caller);
        assert!(
            near(got, 3000),
            "agent + third, the muted one unheard: {got}"
        );
        let got = heard(&mut m, fourth);
        assert!(near(got, 3500), "the muted one hears all three: {got}");

        // The third party leaves: the rest go on mixing.
        m.set_conference(&[(0, Voice::default()), (1, Voice::default()), (5, muted)]);
        assert!(!m.feeds(4));
        for _ in 0..2 {
            for (leg, level) in levels {
                m.tap(leg, Codec::Pcmu, &pcmu(level));
            }
        }
        assert!(m.tick(t0 + 2 * MIX_PERIOD, true).unwrap());
        let got = heard(&mut m, caller);
        assert!(near(got, 1000), "the agent alone now: {got}");
        assert_eq!(
            m.party_of(0),
            Some(Party::Caller as usize),
            "the caller keeps its slot"
        );
    }
}
