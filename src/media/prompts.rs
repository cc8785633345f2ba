//! Queue audio: prompts (ringback, music on hold, announcements) decoded
//! once at start and kept pre-encoded for G.711, so a thousand waiting
//! callers cost frame lookups, not encoding (an Opus leg's frames are
//! encoded by the relay from the samples). A [`PromptPlayer`] walks a
//! playlist one frame per packet time of the leg (20 ms by default).
//!
//! Files come from `prompts/` (see `prompts/generate.sh`): 8 kHz mono 16-bit
//! PCM WAV. Reading the directory is the driver's job ([`PromptSet::load_dir`]);
//! decoding from bytes is pure.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::media::g711::{alaw_encode, ulaw_encode};
use crate::media::g722::NarrowEncoder;
use crate::media::packetize::{samples_8k, PTIME_MAX, PTIME_MIN};
use crate::media::sdp::Codec;
use crate::media::FRAME_SAMPLES_8K;

/// Longest prompt accepted (music on hold loops; it need not be long).
pub const PROMPT_DURATION_MAX: Duration = Duration::from_secs(120);
/// Most prompts in one set.
pub const PROMPTS_MAX: usize = 128;
/// Most items in one playlist.
pub const PLAYLIST_ITEMS_MAX: usize = 16;
/// One frame: 20 ms.
pub const FRAME: Duration = Duration::from_millis(20);

const FRAME_LEN: usize = FRAME_SAMPLES_8K as usize;

/// What is wrong with a prompt file or a playlist.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt {name}: not a readable WAV file: {source}")]
    Wav { name: String, source: hound::Error },
    #[error("prompt {name}: {channels} channels, prompts are mono")]
    NotMono { name: String, channels: u16 },
    #[error("prompt {name}: {rate} Hz, prompts are 8000 Hz")]
    NotNarrowband { name: String, rate: u32 },
    #[error("prompt {name}: {bits}-bit, prompts are 16-bit integer PCM")]
    NotPcm16 { name: String, bits: u16 },
    #[error("prompt {name}: longer than {PROMPT_DURATION_MAX:?}")]
    TooLong { name: String },
    #[error("prompt {name}: holds no audio")]
    Empty { name: String },
    #[error("prompt directory {dir}: {source}")]
    Dir { dir: String, source: std::io::Error },
    #[error("more than {PROMPTS_MAX} prompts")]
    TooMany,
    #[error("no prompt named {0:?}")]
    Unknown(String),
    #[error("playlist of {0} items exceeds {PLAYLIST_ITEMS_MAX}")]
    PlaylistTooLong(usize),
}

/// One prompt, pre-encoded. Frames are whole: the tail is padded with silence.
#[derive(Debug, Clone)]
pub struct Prompt {
    pcm: Vec<i16>,
    pcmu: Vec<u8>,
    pcma: Vec<u8>,
    g722: Vec<u8>,
}

impl Prompt {
    /// Decodes an 8 kHz mono 16-bit WAV and pre-encodes it.
    pub fn from_wav(name: &str, bytes: &[u8]) -> Result<Self, PromptError> {
        let err = |source| PromptError::Wav {
            name: name.to_string(),
            source,
        };
        let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(err)?;
        let spec = reader.spec();
        if spec.channels != 1 {
            return Err(PromptError::NotMono {
                name: name.to_string(),
                channels: spec.channels,
            });
        }
        if spec.sample_rate != 8_000 {
            return Err(PromptError::NotNarrowband {
                name: name.to_string(),
                rate: spec.sample_rate,
            });
        }
        if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
            return Err(PromptError::NotPcm16 {
                name: name.to_string(),
                bits: spec.bits_per_sample,
            });
        }
        let max = (PROMPT_DURATION_MAX.as_secs() * 8_000) as u32;
        if reader.duration() > max {
            return Err(PromptError::TooLong {
                name: name.to_string(),
            });
        }
        let pcm = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        if pcm.is_empty() {
            return Err(PromptError::Empty {
                name: name.to_string(),
            });
        }
        Ok(Self::from_pcm(pcm))
    }

    /// Pre-encodes 8 kHz samples (padded to whole frames with silence).
    pub fn from_pcm(mut pcm: Vec<i16>) -> Self {
        pcm.resize(pcm.len().div_ceil(FRAME_LEN) * FRAME_LEN, 0);
        let pcmu = pcm.iter().map(|s| ulaw_encode(*s)).collect();
        let pcma = pcm.iter().map(|s| alaw_encode(*s)).collect();
        // G.722 as one stream, so frames join as the phone's decoder expects.
        let mut g722 = vec![0u8; pcm.len()];
        let mut encoder = NarrowEncoder::new();
        for (frame, out) in pcm.chunks(FRAME_LEN).zip(g722.chunks_mut(FRAME_LEN)) {
            encoder
                .encode(frame, out)
                .expect("a 20 ms frame fits G.722's buffers");
        }
        Self {
            pcm,
            pcmu,
            pcma,
            g722,
        }
    }

    /// Number of 20 ms frames.
    pub fn frames(&self) -> usize {
        self.pcm.len() / FRAME_LEN
    }

    pub fn duration(&self) -> Duration {
        FRAME * self.frames() as u32
    }

    /// Frame `i` encoded for `codec`; `None` past the end, or for a codec
    /// that is not pre-encoded (Opus is encoded by the transcoder).
    pub fn frame(&self, codec: Codec, i: usize) -> Option<&[u8]> {
        let range = i * FRAME_LEN..(i + 1) * FRAME_LEN;
        match codec {
            Codec::Pcmu => self.pcmu.get(range),
            Codec::Pcma => self.pcma.get(range),
            Codec::G722 => self.g722.get(range),
            Codec::Opus => None,
        }
    }

    /// Frame `i` as linear samples (for mixing, recording, Opus).
    pub fn frame_pcm(&self, i: usize) -> Option<&[i16]> {
        self.pcm.get(i * FRAME_LEN..(i + 1) * FRAME_LEN)
    }

    /// Number of frames of `samples` each (a leg's packet time; the last
    /// frame may be short).
    pub fn frames_of(&self, samples: usize) -> usize {
        self.pcm.len().div_ceil(samples.max(1))
    }

    /// Frame `i` of `samples` each as linear samples (the last may be
    /// short); `None` past the end.
    pub fn pcm_frame(&self, i: usize, samples: usize) -> Option<&[i16]> {
        self.pcm.get(cut(i, samples, self.pcm.len())?)
    }

    /// Frame `i` of `samples` each, pre-encoded for a G.711 or G.722
    /// `codec` (one byte per 8 kHz sample; the last may be short); `None`
    /// past the end or for Opus.
    pub fn encoded_frame(&self, codec: Codec, i: usize, samples: usize) -> Option<&[u8]> {
        let range = cut(i, samples, self.pcm.len())?;
        match codec {
            Codec::Pcmu => self.pcmu.get(range),
            Codec::Pcma => self.pcma.get(range),
            Codec::G722 => self.g722.get(range),
            Codec::Opus => None,
        }
    }
}

/// The samples of frame `i` of `samples` each, within `len`.
fn cut(i: usize, samples: usize, len: usize) -> Option<std::ops::Range<usize>> {
    let start = i.checked_mul(samples)?;
    (start < len).then(|| start..(start + samples).min(len))
}

/// A prompt in a [`PromptSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PromptId(pub u16);

/// All prompts, by name (file stem).
#[derive(Debug, Clone, Default)]
pub struct PromptSet {
    prompts: Vec<Prompt>,
    names: HashMap<String, PromptId>,
}

impl PromptSet {
    /// Adds a prompt under `name`, replacing one of the same name.
    pub fn insert(&mut self, name: &str, prompt: Prompt) -> Result<PromptId, PromptError> {
        if let Some(id) = self.names.get(name) {
            self.prompts[usize::from(id.0)] = prompt;
            return Ok(*id);
        }
        if self.prompts.len() >= PROMPTS_MAX {
            return Err(PromptError::TooMany);
        }
        let id = PromptId(self.prompts.len() as u16);
        self.prompts.push(prompt);
        self.names.insert(name.to_string(), id);
        Ok(id)
    }

    /// Reads every `*.wav` of `dir` (driver side: touches the disk).
    pub fn load_dir(dir: &Path) -> Result<Self, PromptError> {
        let io = |source| PromptError::Dir {
            dir: dir.display().to_string(),
            source,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        paths.sort();
        let mut set = Self::default();
        for path in paths {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&path).map_err(io)?;
            set.insert(&name, Prompt::from_wav(&name, &bytes)?)?;
        }
        Ok(set)
    }

    /// This set updated with `newer`'s prompts: a name both have keeps
    /// its id (with the newer audio), new names come after. Calls that
    /// started before a reload name prompts by the ids they were told.
    pub fn merged(&self, newer: &PromptSet) -> Result<PromptSet, PromptError> {
        let mut set = self.clone();
        let mut names: Vec<(&String, &PromptId)> = newer.names.iter().collect();
        names.sort_by_key(|(_, id)| id.0);
        for (name, id) in names {
            set.insert(name, newer.prompts[usize::from(id.0)].clone())?;
        }
        Ok(set)
    }

    pub fn id(&self, name: &str) -> Result<PromptId, PromptError> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| PromptError::Unknown(name.to_string()))
    }

    pub fn prompt(&self, id: PromptId) -> Option<&Prompt> {
        self.prompts.get(usize::from(id.0))
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// "You are caller number N": the prompt names, or `None` when N has no
    /// number prompt (the announcement is skipped rather than wrong).
    pub fn position_announcement(&self, position: u32) -> Option<[PromptId; 2]> {
        Some([
            self.id("caller_number").ok()?,
            self.id(&format!("n{position}")).ok()?,
        ])
    }
}

/// Plays a playlist frame by frame, one every frame length (20 ms unless
/// the leg's packet time says otherwise) from `start`; loops if asked
/// (music on hold, ringback). Frames missed by a late driver are skipped,
/// so the audio keeps to the wall clock.
#[derive(Debug, Clone)]
pub struct PromptPlayer {
    items: Vec<PromptId>,
    looped: bool,
    start: Instant,
    /// Frames already handed out.
    sent: u64,
    frame: Duration,
    /// 8 kHz samples in one frame.
    frame_samples: usize,
}

/// One frame to send: which prompt, which frame (of the player's length),
/// and how many frames it is from the player's start (the RTP timestamp
/// advances by that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerFrame {
    pub prompt: PromptId,
    pub frame: usize,
    pub step: u64,
}

impl PromptPlayer {
    pub fn new(items: &[PromptId], looped: bool, start: Instant) -> Result<Self, PromptError> {
        Self::with_frame(items, looped, start, FRAME)
    }

    /// A player of frames of `frame` (10–60 ms, the leg's packet time).
    pub fn with_frame(
        items: &[PromptId],
        looped: bool,
        start: Instant,
        frame: Duration,
    ) -> Result<Self, PromptError> {
        if items.len() > PLAYLIST_ITEMS_MAX {
            return Err(PromptError::PlaylistTooLong(items.len()));
        }
        let frame = frame.clamp(PTIME_MIN, PTIME_MAX);
        Ok(Self {
            items: items.to_vec(),
            looped,
            start,
            sent: 0,
            frame,
            frame_samples: samples_8k(frame),
        })
    }

    /// The length of each frame.
    pub fn frame(&self) -> Duration {
        self.frame
    }

    /// 8 kHz samples in each frame.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// When the next frame is due; `None` once a one-shot playlist is done.
    pub fn poll_timeout(&self, set: &PromptSet) -> Option<Instant> {
        self.locate(set, self.sent)?;
        Some(self.start + self.frame * self.sent as u32)
    }

    /// The frame due at `now`, if any (the latest one; older missed ones are
    /// dropped).
    pub fn poll_frame(&mut self, set: &PromptSet, now: Instant) -> Option<PlayerFrame> {
        let elapsed = now.checked_duration_since(self.start)?;
        let due = (elapsed.as_micros() / self.frame.as_micros()) as u64;
        if due < self.sent {
            return None;
        }
        let (prompt, frame) = self.locate(set, due)?;
        self.sent = due + 1;
        Some(PlayerFrame {
            prompt,
            frame,
            step: due,
        })
    }

    fn locate(&self, set: &PromptSet, step: u64) -> Option<(PromptId, usize)> {
        let total: u64 = self
            .items
            .iter()
            .map(|id| {
                set.prompt(*id)
                    .map_or(0, |p| p.frames_of(self.frame_samples) as u64)
            })
            .sum();
        if total == 0 || (!self.looped && step >= total) {
            return None;
        }
        let mut at = step % total;
        for id in &self.items {
            let n = set
                .prompt(*id)
                .map_or(0, |p| p.frames_of(self.frame_samples) as u64);
            if at < n {
                return Some((*id, at as usize));
            }
            at -= n;
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant as the tests' origin
mod tests;
