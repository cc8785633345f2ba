//! Transcoding one 20 ms frame between the codecs of two legs that share
//! none: G.711 μ-law ↔ A-law by table, G.711 ↔ Opus through libopus
//! (`audiopus`, Debian `libopus-dev`), G.722 through [`g722`] and a
//! 16 ↔ 8 kHz resampler (its 20 ms is 160 bytes, like G.711's).
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
use crate::media::sdp::Codec;
use crate::media::FRAME_SAMPLES_8K;

/// Largest Opus packet we produce or take (RFC 6716 §3.4 R5: 1275 bytes per frame).
pub const OPUS_PACKET_BYTES_MAX: usize = 1275;
/// Opus bitrate towards a leg: wideband voice quality is wasted on G.711 audio.
pub const OPUS_BITRATE_BPS: i32 = 24_000;

const FRAME: usize = FRAME_SAMPLES_8K as usize;
// 20 ms of G.722 is as many bytes as of G.711, so they share the size checks.
const _: () = assert!(g722::FRAME_BYTES == FRAME);

/// What went wrong transcoding a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscodeError {
    #[error("libopus: {0:?}")]
    Opus(audiopus::Error),
    #[error("{codec:?} frame of {len} bytes, expected {expected}")]
    FrameSize {
        codec: Codec,
        len: usize,
        expected: usize,
    },
    #[error("Opus packet decodes to {samples} samples, not one 20 ms frame")]
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

/// Converts 20 ms frames from one codec to another. Holds codec state, so
/// one per direction per bridged pair.
pub struct Transcoder {
    from: Codec,
    to: Codec,
    decoder: Option<Decoder>,
    encoder: Option<Encoder>,
    // Boxed: G.722 legs are rare, the other transcoders stay small.
    g722_decoder: Option<Box<NarrowDecoder>>,
    g722_encoder: Option<Box<NarrowEncoder>>,
    pcm: [i16; FRAME],
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
            pcm: [0; FRAME],
        })
    }

    pub fn from_codec(&self) -> Codec {
        self.from
    }

    pub fn to_codec(&self) -> Codec {
        self.to
    }

    /// Transcodes one 20 ms `payload` into `out`; returns the bytes written.
    pub fn frame(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, TranscodeError> {
        self.decode(payload)?;
        self.encode(out)
    }

    /// Decodes one 20 ms payload into the internal 8 kHz frame, which
    /// [`pcm`](Self::pcm) exposes (recording, mixing, tone checks).
    pub fn decode(&mut self, payload: &[u8]) -> Result<&[i16], TranscodeError> {
        match (self.from, self.decoder.as_mut()) {
            (Codec::Opus, Some(d)) => {
                if payload.is_empty() || payload.len() > OPUS_PACKET_BYTES_MAX {
                    return Err(TranscodeError::FrameSize {
                        codec: Codec::Opus,
                        len: payload.len(),
                        expected: OPUS_PACKET_BYTES_MAX,
                    });
                }
                let n = d.decode(Some(payload), &mut self.pcm[..], false)?;
                if n != FRAME {
                    return Err(TranscodeError::OpusFrameLength { samples: n });
                }
            }
            (codec, _) => {
                if payload.len() != FRAME {
                    return Err(TranscodeError::FrameSize {
                        codec,
                        len: payload.len(),
                        expected: FRAME,
                    });
                }
                if let Some(d) = self.g722_decoder.as_mut() {
                    d.decode(payload, &mut self.pcm)?;
                } else if codec == Codec::Pcma {
                    g711::alaw_decode_into(payload, &mut self.pcm);
                } else {
                    g711::ulaw_decode_into(payload, &mut self.pcm);
                }
            }
        }
        Ok(&self.pcm)
    }

    /// The last decoded frame, 8 kHz.
    pub fn pcm(&self) -> &[i16] {
        &self.pcm
    }

    /// Encodes a 20 ms 8 kHz frame made elsewhere (a mix) into `out`;
    /// returns the bytes written.
    pub fn encode_pcm(
        &mut self,
        pcm: &[i16; FRAME],
        out: &mut [u8],
    ) -> Result<usize, TranscodeError> {
        self.pcm = *pcm;
        self.encode(out)
    }

    fn encode(&mut self, out: &mut [u8]) -> Result<usize, TranscodeError> {
        match (self.to, self.encoder.as_ref()) {
            (Codec::Opus, Some(e)) => Ok(e.encode(&self.pcm, out)?),
            (codec, _) => {
                let len = out.len();
                let out = out
                    .get_mut(..FRAME)
                    .ok_or(TranscodeError::OutputTooSmall { len })?;
                if let Some(e) = self.g722_encoder.as_mut() {
                    e.encode(&self.pcm, out)?;
                } else if codec == Codec::Pcma {
                    g711::alaw_encode_into(&self.pcm, out);
                } else {
                    g711::ulaw_encode_into(&self.pcm, out);
                }
                Ok(FRAME)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn g722_frames_are_160_bytes_and_other_sizes_are_refused() {
        let mut t = Transcoder::new(Codec::G722, Codec::Pcmu).unwrap();
        let mut out = [0u8; FRAME];
        assert_eq!(t.frame(&[0xFA; FRAME], &mut out), Ok(FRAME));
        assert!(matches!(
            t.frame(&[0xFA; 80], &mut out),
            Err(TranscodeError::FrameSize {
                codec: Codec::G722,
                len: 80,
                ..
            })
        ));
        let mut t = Transcoder::new(Codec::Pcmu, Codec::G722).unwrap();
        assert_eq!(
            t.frame(&[0xFF; FRAME], &mut [0u8; 10]),
            Err(TranscodeError::OutputTooSmall { len: 10 })
        );
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
            g.frame(&[0; 80], &mut out),
            Err(TranscodeError::FrameSize { len: 80, .. })
        ));
        assert_eq!(
            g.frame(&[0; FRAME], &mut [0u8; 10]),
            Err(TranscodeError::OutputTooSmall { len: 10 })
        );
    }
}
