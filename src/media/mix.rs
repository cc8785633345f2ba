//! Mixing for supervision, conferences and recording, without IO:
//! per-party sample queues that absorb jitter between packet arrival and
//! the 20 ms mixing clock, who hears whom in each supervision mode,
//! saturating sums, and a conference's mix-minus (each party hears the sum
//! of all the others, each voice at its own gain, a muted one not at all).
//!
//! Everything here runs at 8 kHz, 20 ms frames: what the relay decodes
//! every codec to (Opus included, see [`crate::media::transcode`]).

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME: usize = crate::media::FRAME_SAMPLES_8K as usize;
/// Frames a party's queue holds (200 ms); older audio is dropped first.
pub const FIFO_FRAMES_MAX: usize = 10;
/// Frames kept queued before the mixer starts taking from a party: one
/// frame of slack so arrival jitter around the tick does not drop audio.
pub const PLAYOUT_FRAMES: usize = 2;

/// Most parties one conference mixes, caller and agent included.
pub const CONFERENCE_PARTIES_MAX: usize = 8;
/// The range a party's gain may be set in, in dB.
pub const GAIN_DB_MIN: f64 = -20.0;
pub const GAIN_DB_MAX: f64 = 12.0;
/// Fixed-point scale of a [`Gain`]: 1.0 is `1 << GAIN_SHIFT`.
const GAIN_SHIFT: u32 = 12;

/// A linear gain in Q12 fixed point, so the 20 ms mix does no float work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gain(u16);

impl Gain {
    pub const UNITY: Gain = Gain(1 << GAIN_SHIFT);

    /// The gain of `db` decibels; `None` outside
    /// [`GAIN_DB_MIN`]..=[`GAIN_DB_MAX`] or not a number.
    pub fn from_db(db: f64) -> Option<Gain> {
        if !(GAIN_DB_MIN..=GAIN_DB_MAX).contains(&db) {
            return None;
        }
        let linear = 10f64.powf(db / 20.0) * f64::from(1u32 << GAIN_SHIFT);
        // +12 dB is 3.98 × 4096 = 16 306: fits a u16.
        Some(Gain(linear.round() as u16))
    }

    /// `sample` at this gain, unclamped (at most 4 × i16::MAX).
    fn apply(self, sample: i16) -> i32 {
        (i32::from(sample) * i32::from(self.0)) >> GAIN_SHIFT
    }
}

/// How one party's voice enters a conference mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Voice {
    pub gain: Gain,
    /// Muted: nobody hears the party; it still hears everyone.
    pub muted: bool,
}

impl Default for Voice {
    fn default() -> Self {
        Voice {
            gain: Gain::UNITY,
            muted: false,
        }
    }
}

/// What `listener` hears in a conference: the sum of every other present
/// party's frame (`voices[i]` is `None` for an empty slot) at its gain,
/// muted parties left out, clipped to the i16 range once at the end.
pub fn conference_mix(
    frames: &[[i16; FRAME]],
    voices: &[Option<Voice>],
    listener: usize,
    out: &mut [i16; FRAME],
) {
    let mut sum = [0i32; FRAME];
    for (i, (frame, voice)) in frames.iter().zip(voices).enumerate() {
        let Some(voice) = voice else { continue };
        if i == listener || voice.muted {
            continue;
        }
        for (acc, &s) in sum.iter_mut().zip(frame.iter()) {
            // Eight parties at +12 dB stay far inside i32.
            *acc += voice.gain.apply(s);
        }
    }
    for (o, s) in out.iter_mut().zip(sum) {
        *o = s.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
    }
}

/// The parties of a supervised or recorded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    Caller = 0,
    Agent = 1,
    Supervisor = 2,
}

impl Party {
    pub const ALL: [Party; 3] = [Party::Caller, Party::Agent, Party::Supervisor];
}

/// How a supervisor joins an agent's call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The supervisor hears both parties; nobody hears the supervisor.
    Monitor,
    /// The supervisor hears both; only the agent hears the supervisor.
    Whisper,
    /// All three hear each other.
    Barge,
    /// The third leg is a colleague the agent consults (attended transfer
    /// through the API): agent and colleague hear each other, the caller
    /// hears neither (it is on hold, with music) and neither hears it.
    Consult,
    /// The supervisor took the call over: caller and supervisor hear each
    /// other; the agent's leg (hung up) is heard by nobody and hears nothing.
    Takeover,
    /// A conference: every party hears all the others, through the mixer
    /// ([`conference_mix`]), each at its own gain and mute.
    Conference,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Monitor => "monitor",
            Mode::Whisper => "whisper",
            Mode::Barge => "barge",
            Mode::Consult => "consult",
            Mode::Takeover => "takeover",
            Mode::Conference => "conference",
        }
    }

    /// Whether `listener` hears `talker` in this mode.
    pub fn hears(self, listener: Party, talker: Party) -> bool {
        if listener == talker {
            return false;
        }
        match (self, listener, talker) {
            (Mode::Conference, _, _) => true,
            (Mode::Takeover, _, Party::Agent) | (Mode::Takeover, Party::Agent, _) => false,
            (Mode::Takeover, _, _) => true,
            (Mode::Consult, Party::Caller, _) | (Mode::Consult, _, Party::Caller) => false,
            (Mode::Consult, _, _) => true,
            (_, _, Party::Caller | Party::Agent) => true,
            (Mode::Monitor, _, Party::Supervisor) => false,
            (Mode::Whisper, listener, Party::Supervisor) => listener == Party::Agent,
            (Mode::Barge, _, Party::Supervisor) => true,
        }
    }

    /// Whether `listener`'s audio must be mixed (it hears two parties); the
    /// others keep the plain relay, untouched by the mixer.
    pub fn mixes_for(self, listener: Party) -> bool {
        if self == Mode::Conference {
            return true;
        }
        if self == Mode::Consult {
            // Agent and colleague are not bridged: each hears the other
            // only through the mixer; the caller keeps its music.
            return listener != Party::Caller;
        }
        if self == Mode::Takeover {
            // Unbridged: the caller hears the supervisor only through here.
            return listener != Party::Agent;
        }
        Party::ALL
            .iter()
            .filter(|&&t| self.hears(listener, t))
            .count()
            > 1
    }
}

/// A party's decoded audio waiting for the mixing clock: a fixed ring, no
/// allocation after construction.
#[derive(Clone)]
pub struct Fifo {
    buf: Box<[i16; FRAME * FIFO_FRAMES_MAX]>,
    head: usize,
    len: usize,
    /// Set once the playout slack has filled; cleared when it runs dry.
    playing: bool,
    /// Samples dropped because the queue was full (the sender runs fast).
    pub overflowed: u64,
    /// Frames the mixer filled with silence (nothing had arrived).
    pub underflowed: u64,
}

impl Default for Fifo {
    fn default() -> Self {
        Fifo {
            buf: Box::new([0; FRAME * FIFO_FRAMES_MAX]),
            head: 0,
            len: 0,
            playing: false,
            overflowed: 0,
            underflowed: 0,
        }
    }
}

impl std::fmt::Debug for Fifo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fifo").field("len", &self.len).finish()
    }
}

impl Fifo {
    /// Samples queued.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `pcm`, dropping the oldest samples when full.
    pub fn push(&mut self, pcm: &[i16]) {
        let cap = self.buf.len();
        for &s in pcm.iter().rev().take(cap).rev() {
            if self.len == cap {
                self.head = (self.head + 1) % cap;
                self.len -= 1;
                self.overflowed += 1;
            }
            let tail = (self.head + self.len) % cap;
            self.buf[tail] = s;
            self.len += 1;
        }
    }

    /// Takes the next frame into `out`; silence while the queue fills up
    /// to the playout slack or after it ran dry. Returns whether `out`
    /// holds received audio.
    pub fn pop(&mut self, out: &mut [i16; FRAME]) -> bool {
        if !self.playing && self.len >= FRAME * PLAYOUT_FRAMES {
            self.playing = true;
        }
        if !self.playing || self.len < FRAME {
            if self.playing {
                self.underflowed += 1;
            }
            self.playing = false;
            out.fill(0);
            return false;
        }
        let cap = self.buf.len();
        for o in out.iter_mut() {
            *o = self.buf[self.head];
            self.head = (self.head + 1) % cap;
        }
        self.len -= FRAME;
        true
    }

    /// Forgets what is queued (a party's audio source changed).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.playing = false;
    }
}

/// What `listener` hears in `mode`: the saturating sum of the frames of
/// the parties it hears (`frames` in [`Party`] order, then any others,
/// which supervision never hears).
pub fn mix_for(mode: Mode, listener: Party, frames: &[[i16; FRAME]], out: &mut [i16; FRAME]) {
    out.fill(0);
    for talker in Party::ALL {
        if mode.hears(listener, talker) {
            let Some(frame) = frames.get(talker as usize) else {
                continue;
            };
            for (o, &s) in out.iter_mut().zip(frame.iter()) {
                *o = o.saturating_add(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Party::*;

    #[test]
    fn consult_lets_agent_and_colleague_hear_each_other_only() {
        let m = Mode::Consult;
        assert!(m.hears(Agent, Supervisor) && m.hears(Supervisor, Agent));
        assert!(!m.hears(Caller, Agent) && !m.hears(Caller, Supervisor));
        assert!(!m.hears(Agent, Caller) && !m.hears(Supervisor, Caller));
        // Not bridged to each other: both are fed by the mixer; the caller
        // keeps its hold music.
        assert!(m.mixes_for(Agent) && m.mixes_for(Supervisor));
        assert!(!m.mixes_for(Caller));
    }

    #[test]
    fn monitor_lets_only_the_supervisor_hear_both() {
        let m = Mode::Monitor;
        assert!(m.hears(Supervisor, Caller) && m.hears(Supervisor, Agent));
        assert!(!m.hears(Caller, Supervisor) && !m.hears(Agent, Supervisor));
        assert!(m.hears(Caller, Agent) && m.hears(Agent, Caller));
        assert!(m.mixes_for(Supervisor));
        assert!(!m.mixes_for(Caller) && !m.mixes_for(Agent));
    }

    #[test]
    fn whisper_reaches_the_agent_and_never_the_caller() {
        let m = Mode::Whisper;
        assert!(m.hears(Agent, Supervisor));
        assert!(!m.hears(Caller, Supervisor));
        assert!(m.mixes_for(Agent) && m.mixes_for(Supervisor));
        assert!(!m.mixes_for(Caller));
    }

    #[test]
    fn barge_joins_all_three() {
        let m = Mode::Barge;
        for l in Party::ALL {
            assert!(m.mixes_for(l), "{l:?}");
            assert!(!m.hears(l, l));
        }
    }

    #[test]
    fn takeover_leaves_the_agent_out() {
        let m = Mode::Takeover;
        assert!(m.hears(Caller, Supervisor) && m.hears(Supervisor, Caller));
        assert!(!m.hears(Caller, Agent) && !m.hears(Agent, Caller));
        assert!(!m.hears(Agent, Supervisor) && !m.hears(Supervisor, Agent));
        assert!(m.mixes_for(Caller) && m.mixes_for(Supervisor));
        assert!(!m.mixes_for(Agent));
    }

    #[test]
    fn the_mix_sums_what_the_listener_hears_and_saturates() {
        let mut frames = [[0i16; FRAME]; 3];
        frames[Caller as usize] = [30_000; FRAME];
        frames[Agent as usize] = [10_000; FRAME];
        frames[Supervisor as usize] = [7; FRAME];
        let mut out = [0i16; FRAME];
        mix_for(Mode::Whisper, Agent, &frames, &mut out);
        assert_eq!(out[0], 30_007);
        mix_for(Mode::Whisper, Supervisor, &frames, &mut out);
        assert_eq!(out[0], i16::MAX);
        mix_for(Mode::Whisper, Caller, &frames, &mut out);
        assert_eq!(out[0], 10_000);
    }

    fn tone(level: i16) -> [i16; FRAME] {
        [level; FRAME]
    }

    #[test]
    fn each_conference_party_hears_all_the_others_but_not_itself() {
        let frames: Vec<[i16; FRAME]> = (1..=8).map(|k| tone(k * 100)).collect();
        let voices = [Some(Voice::default()); CONFERENCE_PARTIES_MAX];
        let mut out = [0i16; FRAME];
        let total: i16 = (1..=8).map(|k| k * 100).sum();
        for listener in 0..CONFERENCE_PARTIES_MAX {
            conference_mix(&frames, &voices, listener, &mut out);
            let own = (listener as i16 + 1) * 100;
            assert_eq!(out, tone(total - own), "listener {listener}");
        }
    }

    #[test]
    fn a_loud_conference_clips_instead_of_wrapping() {
        let frames = [tone(30_000), tone(20_000), tone(-30_000), tone(-1)];
        let voices = [Some(Voice::default()); 4];
        let mut out = [0i16; FRAME];
        conference_mix(&frames, &voices, 2, &mut out);
        assert_eq!(out[0], i16::MAX, "30 000 + 20 000 - 1 clips high");
        conference_mix(&frames, &voices, 3, &mut out);
        assert_eq!(
            out[0], 20_000,
            "summed wide and clipped once: a step-wise saturating sum would give 2 767"
        );
        let low = [tone(-30_000), tone(-30_000), tone(0)];
        conference_mix(&low, &voices[..3], 2, &mut out);
        assert_eq!(out[0], i16::MIN);
    }

    #[test]
    fn a_muted_party_is_heard_by_nobody_but_still_hears() {
        let frames = [tone(1000), tone(2000), tone(4000)];
        let muted = Voice {
            muted: true,
            ..Voice::default()
        };
        let voices = [Some(Voice::default()), Some(muted), Some(Voice::default())];
        let mut out = [0i16; FRAME];
        conference_mix(&frames, &voices, 0, &mut out);
        assert_eq!(out[0], 4000, "the caller does not hear the muted agent");
        conference_mix(&frames, &voices, 1, &mut out);
        assert_eq!(out[0], 5000, "the muted agent hears both others");
    }

    #[test]
    fn a_party_that_left_leaves_the_rest_mixing() {
        let frames = [tone(1000), tone(2000), tone(4000), tone(8000)];
        let voices = [Some(Voice::default()), None, Some(Voice::default()), None];
        let mut out = [0i16; FRAME];
        conference_mix(&frames, &voices, 0, &mut out);
        assert_eq!(out[0], 4000, "slots 1 and 3 are empty: not heard");
        conference_mix(&frames, &voices, 2, &mut out);
        assert_eq!(out[0], 1000);
    }

    #[test]
    fn gains_scale_a_voice_and_refuse_out_of_range() {
        assert_eq!(Gain::from_db(0.0), Some(Gain::UNITY));
        assert_eq!(Gain::from_db(-20.5), None);
        assert_eq!(Gain::from_db(12.5), None);
        assert_eq!(Gain::from_db(f64::NAN), None);
        let half = Voice {
            gain: Gain::from_db(-6.0206).unwrap(),
            muted: false,
        };
        let loud = Voice {
            gain: Gain::from_db(12.0).unwrap(),
            muted: false,
        };
        let frames = [tone(0), tone(1000), tone(1000)];
        let mut out = [0i16; FRAME];
        conference_mix(&frames, &[None, Some(half), None], 0, &mut out);
        assert_eq!(out[0], 500);
        conference_mix(&frames, &[None, None, Some(loud)], 0, &mut out);
        assert!((3975..=3985).contains(&out[0]), "{}", out[0]);
    }

    #[test]
    fn conference_mode_mixes_for_everyone() {
        for l in Party::ALL {
            assert!(Mode::Conference.mixes_for(l));
        }
    }

    #[test]
    fn the_fifo_waits_for_its_slack_then_plays_in_order() {
        let mut f = Fifo::default();
        let mut out = [0i16; FRAME];
        f.push(&[1; FRAME]);
        assert!(!f.pop(&mut out), "one frame is below the playout slack");
        assert_eq!(out, [0; FRAME]);
        f.push(&[2; FRAME]);
        assert!(f.pop(&mut out));
        assert_eq!(out[0], 1);
        assert!(f.pop(&mut out));
        assert_eq!(out[0], 2);
        assert!(!f.pop(&mut out), "dry: silence");
        assert_eq!(f.underflowed, 1);
    }

    #[test]
    fn a_full_fifo_drops_the_oldest_audio() {
        let mut f = Fifo::default();
        for i in 0..(FIFO_FRAMES_MAX + 2) {
            f.push(&[i as i16; FRAME]);
        }
        assert_eq!(f.len(), FRAME * FIFO_FRAMES_MAX);
        assert_eq!(f.overflowed, (2 * FRAME) as u64);
        let mut out = [0i16; FRAME];
        assert!(f.pop(&mut out));
        assert_eq!(out[0], 2, "frames 0 and 1 were dropped");
    }
}
