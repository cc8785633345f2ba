//! G.722 bridged to 8 kHz PCM, the rate the transcoder decodes every codec
//! to: the codec plus a half-band resampler each way. What is above 4 kHz
//! is lost on that path, as it must be towards G.711.

use super::{Decoder, Encoder, G722Error, FRAME_BYTES};
use crate::media::resample::{Downsampler, Upsampler};

/// Longest packet bridged: 60 ms, the longest ptime the relay handles.
pub const NARROW_BYTES_MAX: usize = 3 * FRAME_BYTES;
/// 16 kHz samples in the longest packet.
const WIDE_SAMPLES_MAX: usize = 2 * NARROW_BYTES_MAX;

/// G.722 bytes → 8 kHz PCM, one sample per byte.
#[derive(Debug, Clone)]
pub struct NarrowDecoder {
    decoder: Decoder,
    down: Downsampler,
    wide: [i16; WIDE_SAMPLES_MAX],
}

impl Default for NarrowDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NarrowDecoder {
    pub fn new() -> Self {
        Self {
            decoder: Decoder::new(),
            down: Downsampler::new(),
            wide: [0; WIDE_SAMPLES_MAX],
        }
    }

    /// Decodes `payload` (at most [`NARROW_BYTES_MAX`]) into 8 kHz `out`;
    /// returns the samples written, as many as there were bytes.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, G722Error> {
        let len = payload.len();
        check_sizes(len, out.len())?;
        let wide = &mut self.wide[..2 * len];
        self.decoder.decode(payload, wide)?;
        let n = self
            .down
            .process(wide, out)
            .expect("an even count in, room for half of it out");
        Ok(n)
    }
}

/// 8 kHz PCM → G.722 bytes, one byte per sample.
#[derive(Debug, Clone)]
pub struct NarrowEncoder {
    encoder: Encoder,
    up: Upsampler,
    wide: [i16; WIDE_SAMPLES_MAX],
}

impl Default for NarrowEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NarrowEncoder {
    pub fn new() -> Self {
        Self {
            encoder: Encoder::new(),
            up: Upsampler::new(),
            wide: [0; WIDE_SAMPLES_MAX],
        }
    }

    /// Encodes 8 kHz `pcm` (at most [`NARROW_BYTES_MAX`] samples) into
    /// `out`; returns the bytes written, as many as there were samples.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, G722Error> {
        let len = pcm.len();
        check_sizes(len, out.len())?;
        let wide = &mut self.wide[..2 * len];
        self.up
            .process(pcm, wide)
            .expect("room for twice the input");
        self.encoder.encode(wide, out)
    }
}

/// One packet of `len` 8 kHz samples (or bytes) fits our buffers and an
/// output of `out_len`.
fn check_sizes(len: usize, out_len: usize) -> Result<(), G722Error> {
    if len > NARROW_BYTES_MAX {
        return Err(G722Error::PacketTooLong {
            len,
            max: NARROW_BYTES_MAX,
        });
    }
    if out_len < len {
        return Err(G722Error::OutputTooSmall {
            len: out_len,
            needed: len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{tone_present, Sine};

    #[test]
    fn an_8khz_tone_crosses_g722_and_comes_back_at_8khz() {
        let (mut enc, mut dec) = (NarrowEncoder::new(), NarrowDecoder::new());
        let mut sine = Sine::new(1000.0, 8000, 0.5);
        let mut out = [0i16; 160];
        for _ in 0..25 {
            let mut pcm = [0i16; 160];
            sine.fill(&mut pcm);
            let mut bytes = [0u8; FRAME_BYTES];
            assert_eq!(enc.encode(&pcm, &mut bytes), Ok(FRAME_BYTES));
            assert_eq!(dec.decode(&bytes, &mut out), Ok(160));
        }
        assert!(tone_present(&out, 1000.0, 8000));
        assert!(!tone_present(&out, 1500.0, 8000));
    }

    #[test]
    fn packets_past_60ms_are_refused() {
        let mut dec = NarrowDecoder::new();
        let mut out = [0i16; 1000];
        assert_eq!(
            dec.decode(&[0; NARROW_BYTES_MAX + 1], &mut out),
            Err(G722Error::PacketTooLong {
                len: NARROW_BYTES_MAX + 1,
                max: NARROW_BYTES_MAX
            })
        );
        assert_eq!(dec.decode(&[0; NARROW_BYTES_MAX], &mut out), Ok(480));
        let mut enc = NarrowEncoder::new();
        assert!(matches!(
            enc.encode(&[0; 500], &mut [0; 500]),
            Err(G722Error::PacketTooLong { .. })
        ));
        assert_eq!(
            enc.encode(&[0; 160], &mut [0; 100]),
            Err(G722Error::OutputTooSmall {
                len: 100,
                needed: 160
            })
        );
    }
}
