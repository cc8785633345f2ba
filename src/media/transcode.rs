//! Transcoding one frame (10–60 ms) between the codecs of two legs that share
//! none: G.711 μ-law ↔ A-law by table, G.711 ↔ Opus through libopus
//! (`audiopus`, Debian `libopus-dev`), G.722 through [`g722`] and a
//! 16 ↔ 8 kHz resampler (one byte per 8 kHz sample, like G.711).
//!
//! The Opus side runs libopus at 8 kHz: the decoder resamples its 48 kHz
//! output down to 8 kHz and the encoder takes 8 kHz input, which is all the
//! bandwidth a G.711 partner has. The RTP clock of an Opus leg stays 48 kHz
//! whatever the audio rate (RFC 7587 §4.1), so its timestamps step by
//! [`Codec::frame_samples`] (960) per 20 ms; that is the relay's job.

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Channels, SampleRate};

use crate::media::g711;
use crate::media::g722::{self, G722Error, NarrowDecoder, NarrowEncoder};
use crate::media::packetize::PACKET_SAMPLES_MAX;
use crate::media::sdp::Codec;

/// Largest Opus packet we produce or take (RFC 6716 §3.4 R5: 1275 bytes per frame).
pub const OPUS_PACKET_BYTES_MAX: usize = 1275;
/// Opus bitrate towards a leg: wideband voice quality is wasted on G.711 audio.
pub const OPUS_BITRATE_BPS: i32 = 24_000;

/// Most 8 kHz samples one payload decodes to (60 ms).
const SAMPLES_MAX: usize = PACKET_SAMPLES_MAX;
// G.722 bridged at 8 kHz takes as many bytes as G.711 up to 60 ms.
const _: () = assert!(g722::NARROW_BYTES_MAX == SAMPLES_MAX);
/// The Opus frame lengths we encode, in 8 kHz samples: 10, 20, 40 and
/// 60 ms (RFC 6716 §2.1.4; 2.5 and 5 ms are below any phone's ptime).
pub const OPUS_FRAME_SAMPLES_8K: [usize; 4] = [80, 160, 320, 480];

/// What went wrong transcoding a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscodeError {
    #[error("libopus: {0:?}")]
    Opus(audiopus::Error),
    #[error("{codec:?} frame of {len} bytes, expected 1 to {max}")]
    FrameSize {
        codec: Codec,
        len: usize,
        max: usize,
    },
    #[error("{samples} samples are not an Opus frame (10, 20, 40 or 60 ms)")]
    OpusFrameLength { samples: usize },
    #[error("output buffer of {len} bytes is too small")]
    OutputTooSmall { len: usize },
    #[error("G.722: {0}")]
    G722(#[from] G722Error),
}

impl From<audiopus::Error> for TranscodeError {
    fn from(e: audiopus::Error) -> Self {
        Self::Opus(e)
    }
}

/// Converts frames of 10–60 ms from one codec to another. Holds codec
/// state, so one per direction per bridged pair.
pub struct Transcoder {
    from: Codec,
    to: Codec,
    decoder: Option<Decoder>,
    encoder: Option<Encoder>,
    // Boxed: G.722 legs are rare, the other transcoders stay small.
    g722_decoder: Option<Box<NarrowDecoder>>,
    g722_encoder: Option<Box<NarrowEncoder>>,
    pcm: [i16; SAMPLES_MAX],
    /// Samples of the last decoded (or given) frame in `pcm`.
    len: usize,
}

// SAFETY: the libopus states are only touched through `&mut self` methods
// (`frame`, `decode`, `encode`), so shared references cannot race on them.
unsafe impl Sync for Transcoder {}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

impl Transcoder {
    pub fn new(from: Codec, to: Codec) -> Result<Self, TranscodeError> {
        let decoder = match from {
            Codec::Opus => Some(Decoder::new(SampleRate::Hz8000, Channels::Mono)?),
            _ => None,
        };
        let encoder = match to {
            Codec::Opus => {
                let mut e = Encoder::new(SampleRate::Hz8000, Channels::Mono, Application::Voip)?;
                e.set_bitrate(audiopus::Bitrate::BitsPerSecond(OPUS_BITRATE_BPS))?;
                Some(e)
            }
            _ => None,
        };
        Ok(Self {
            from,
            to,
            decoder,
            encoder,
            g722_decoder: (from == Codec::G722).then(Box::default),
            g722_encoder: (to == Codec::G722).then(Box::default),
            pcm: [0; SAMPLES_MAX],
            len: 0,
        })
    }

    pub fn from_codec(&self) -> Codec {
        self.from
    }

    pub fn to_codec(&self) -> Codec {
        self.to
    }

    /// Transcodes one `payload` into `out`, the same length of audio;
    /// returns the bytes written.
    pub fn frame(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, TranscodeError> {
        self.decode(payload)?;
        self.encode(out)
    }

    /// Decodes one payload of up to 60 ms into the internal 8 kHz buffer,
    /// which [`pcm`](Self::pcm) exposes (re-packetising, recording, mixing).
    pub fn decode(&mut self, payload: &[u8]) -> Result<&[i16], TranscodeError> {
        match (self.from, self.decoder.as_mut()) {
            (Codec::Opus, Some(d)) => {
                if payload.is_empty() || payload.len() > OPUS_PACKET_BYTES_MAX {
                    return Err(TranscodeError::FrameSize {
                        codec: Codec::Opus,
                        len: payload.len(),
                        max: OPUS_PACKET_BYTES_MAX,
                    });
                }
                // A packet longer than 60 ms does not fit and is an error.
                self.len = d.decode(Some(payload), &mut self.pcm[..], false)?;
            }
            (codec, _) => {
                if payload.is_empty() || payload.len() > SAMPLES_MAX {
                    return Err(TranscodeError::FrameSize {
                        codec,
                        len: payload.len(),
                        max: SAMPLES_MAX,
                    });
                }
                let pcm = &mut self.pcm[..payload.len()];
                if let Some(d) = self.g722_decoder.as_mut() {
                    d.decode(payload, pcm)?;
                } else if codec == Codec::Pcma {
                    g711::alaw_decode_into(payload, pcm);
                } else {
                    g711::ulaw_decode_into(payload, pcm);
                }
                self.len = payload.len();
            }
        }
        Ok(self.pcm())
    }

    /// The last decoded frame, 8 kHz.
    pub fn pcm(&self) -> &[i16] {
        &self.pcm[..self.len]
    }

    /// Encodes 8 kHz audio made elsewhere (a mix, a prompt, a re-packetised
    /// frame) into `out`; returns the bytes written. Opus takes 10, 20, 40
    /// or 60 ms; G.711 any length up to 60 ms.
    pub fn encode_pcm(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, TranscodeError> {
        let len = pcm.len();
        if len == 0 || len > SAMPLES_MAX {
            return Err(TranscodeError::FrameSize {
                codec: self.to,
                len,
                max: SAMPLES_MAX,
            });
        }
        self.pcm[..len].copy_from_slice(pcm);
        self.len = len;
        self.encode(out)
    }

    fn encode(&mut self, out: &mut [u8]) -> Result<usize, TranscodeError> {
        let pcm = &self.pcm[..self.len];
        match (self.to, self.encoder.as_ref()) {
            (Codec::Opus, Some(e)) => {
                if !OPUS_FRAME_SAMPLES_8K.contains(&pcm.len()) {
                    return Err(TranscodeError::OpusFrameLength { samples: pcm.len() });
                }
                Ok(e.encode(pcm, out)?)
            }
            (codec, _) => {
                let len = out.len();
                let out = out
                    .get_mut(..pcm.len())
                    .ok_or(TranscodeError::OutputTooSmall { len })?;
                if let Some(e) = self.g722_encoder.as_mut() {
                    e.encode(pcm, out)?;
                } else if codec == Codec::Pcma {
                    g711::alaw_encode_into(pcm, out);
                } else {
                    g711::ulaw_encode_into(pcm, out);
                }
                Ok(pcm.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::FRAME_SAMPLES_8K;

    const FRAME: usize = FRAME_SAMPLES_8K as usize;
    use crate::media::tone::{tone_present, Sine};

    /// Sends `frames` PCMU frames of a tone through `chain` (which must end
    /// in a G.711 codec) and returns the last output frame, decoded.
    fn through(chain: &mut [Transcoder], frames: usize, freq: f64) -> Vec<i16> {
        let mut sine = Sine::new(freq, 8000, 0.5);
        let mut out = [0i16; FRAME];
        for _ in 0..frames {
            let mut pcm = [0i16; FRAME];
            sine.fill(&mut pcm);
            let mut buf = [0u8; OPUS_PACKET_BYTES_MAX];
            g711::ulaw_encode_into(&pcm, &mut buf);
            let mut len = FRAME;
            for t in chain.iter_mut() {
                let mut next = [0u8; OPUS_PACKET_BYTES_MAX];
                len = t.frame(&buf[..len], &mut next).unwrap();
                buf = next;
            }
            match chain.last().map(|t| t.to) {
                Some(Codec::Pcma) => g711::alaw_decode_into(&buf[..len], &mut out),
                _ => g711::ulaw_decode_into(&buf[..len], &mut out),
            }
        }
        out.to_vec()
    }

    #[test]
    fn pcmu_to_pcma_keeps_the_tone() {
        let mut chain = [Transcoder::new(Codec::Pcmu, Codec::Pcma).unwrap()];
        let out = through(&mut chain, 3, 1000.0);
        assert!(tone_present(&out, 1000.0, 8000));
    }

    #[test]
    fn pcmu_through_opus_and_back_keeps_the_tone() {
        let mut chain = [
            Transcoder::new(Codec::Pcmu, Codec::Opus).unwrap(),
            Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap(),
        ];
        // The Opus decoder needs a few frames to settle.
        let out = through(&mut chain, 10, 1000.0);
        assert!(tone_present(&out, 1000.0, 8000));
        assert!(!tone_present(&out, 1500.0, 8000));
    }

    #[test]
    fn opus_frames_are_small_and_decode_to_one_20ms_frame() {
        let mut enc = Transcoder::new(Codec::Pcmu, Codec::Opus).unwrap();
        let mut dec = Transcoder::new(Codec::Opus, Codec::Pcma).unwrap();
        let mut opus = [0u8; OPUS_PACKET_BYTES_MAX];
        let n = enc.frame(&[0xFF; FRAME], &mut opus).unwrap();
        assert!(n > 0 && n < 200, "{n} bytes");
        let mut out = [0u8; FRAME];
        assert_eq!(dec.frame(&opus[..n], &mut out), Ok(FRAME));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let mut dec = Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap();
        let mut out = [0u8; FRAME];
        assert!(matches!(
            dec.frame(&[], &mut out),
            Err(TranscodeError::FrameSize { .. })
        ));
        assert!(dec.frame(&[0xFF, 0xFF, 0xFF], &mut out).is_err());
        let mut g = Transcoder::new(Codec::Pcmu, Codec::Pcma).unwrap();
        assert!(matches!(
            g.frame(&[0; 481], &mut out),
            Err(TranscodeError::FrameSize { len: 481, .. })
        ));
        assert_eq!(
            g.frame(&[0; FRAME], &mut [0u8; 10]),
            Err(TranscodeError::OutputTooSmall { len: 10 })
        );
    }

    #[test]
    fn frames_of_10_to_60_ms_decode_and_opus_takes_its_own_lengths() {
        let mut pcma = Transcoder::new(Codec::Pcma, Codec::Pcmu).unwrap();
        let mut out = [0u8; SAMPLES_MAX];
        for len in [80, 240, 480] {
            assert_eq!(pcma.frame(&vec![0xD5; len], &mut out), Ok(len));
        }
        let mut to_opus = Transcoder::new(Codec::Pcmu, Codec::Opus).unwrap();
        let mut from_opus = Transcoder::new(Codec::Opus, Codec::Pcmu).unwrap();
        let mut opus = [0u8; OPUS_PACKET_BYTES_MAX];
        for samples in OPUS_FRAME_SAMPLES_8K {
            let n = to_opus.encode_pcm(&vec![0; samples], &mut opus).unwrap();
            assert_eq!(from_opus.decode(&opus[..n]).unwrap().len(), samples);
        }
        assert_eq!(
            to_opus.encode_pcm(&[0; 240], &mut opus),
            Err(TranscodeError::OpusFrameLength { samples: 240 }),
            "30 ms is no Opus frame"
        );
    }

    #[test]
    fn pcmu_through_g722_and_back_keeps_the_tone() {
        let mut chain = [
            Transcoder::new(Codec::Pcmu, Codec::G722).unwrap(),
            Transcoder::new(Codec::G722, Codec::Pcma).unwrap(),
        ];
        let out = through(&mut chain, 10, 1000.0);
        assert!(tone_present(&out, 1000.0, 8000));
        assert!(!tone_present(&out, 1500.0, 8000));
    }

    #[test]
    fn g722_to_opus_and_back_keeps_the_tone() {
        let mut chain = [
            Transcoder::new(Codec::Pcmu, Codec::G722).unwrap(),
            Transcoder::new(Codec::G722, Codec::Opus).unwrap(),
            Transcoder::new(Codec::Opus, Codec::G722).unwrap(),
            Transcoder::new(Codec::G722, Codec::Pcmu).unwrap(),
        ];
        let out = through(&mut chain, 15, 1000.0);
        assert!(tone_present(&out, 1000.0, 8000));
        assert!(!tone_present(&out, 1500.0, 8000));
    }

    #[test]
    fn g722_packets_of_10_to_60_ms_pass_and_longer_ones_are_refused() {
        let mut t = Transcoder::new(Codec::G722, Codec::Pcmu).unwrap();
        let mut out = [0u8; SAMPLES_MAX];
        for len in [80, 160, 240, 480] {
            assert_eq!(t.frame(&vec![0xFA; len], &mut out), Ok(len));
        }
        assert!(matches!(
            t.frame(&[0xFA; SAMPLES_MAX + 1], &mut out),
            Err(TranscodeError::FrameSize {
                codec: Codec::G722,
                len: 481,
                ..
            })
        ));
        let mut t = Transcoder::new(Codec::Pcmu, Codec::G722).unwrap();
        assert_eq!(
            t.frame(&[0xFF; FRAME], &mut [0u8; 10]),
            Err(TranscodeError::OutputTooSmall { len: 10 })
        );
    }
}
