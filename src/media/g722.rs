//! G.722 wideband audio (ITU-T G.722, 7 kHz SB-ADPCM) at 64 kbit/s, mode 1:
//! 16 kHz 16-bit PCM in, one byte per pair of samples out, and back.
//!
//! A quadrature mirror filter (QMF, §3.1, §4.4) splits the signal into a
//! lower and a higher band at 8 kHz each; `band` codes them with ADPCM.
//! Bit-exact with the ITU reference: the committed test vectors under
//! `tests/data/g722/` check the band coders (Appendix II, QMF bypassed) and
//! the whole codec (the ITU-T G.191 corpus excerpt). Following the G.191
//! reference, PCM is full-scale 16-bit and the QMF scales its sums to match
//! (the freedom Note 2 of §5.2.1 leaves).
//!
//! On RTP (RFC 3551 §4.5.2) the clock says 8000 though the audio is 16 kHz,
//! so 20 ms is 160 bytes and 160 timestamp ticks; that, and resampling to
//! the 8 kHz of G.711 ([`super::resample`]), is the callers' business.

mod band;
mod narrow;

use band::{limit, sat, Band};
pub use narrow::{NarrowDecoder, NarrowEncoder, NARROW_BYTES_MAX};

/// Audio sampling rate of G.722.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// PCM samples in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 320;
/// Coded bytes in one 20 ms frame at 64 kbit/s.
pub const FRAME_BYTES: usize = 160;

/// QMF coefficients H0..H11 (Table 11/G.722); the 24-tap filter is symmetric.
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
/// QMF delay line length.
const QMF_TAPS: usize = 24;
/// Output shift of the transmit and receive QMF sums for 16-bit PCM.
const QMF_TX_SHIFT: u32 = 14;
const QMF_RX_SHIFT: u32 = 11;

/// What is wrong with the buffers handed to the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum G722Error {
    #[error("{len} PCM samples: G.722 codes pairs of samples, the count must be even")]
    OddSamples { len: usize },
    #[error("output buffer of {len} is too small, {needed} needed")]
    OutputTooSmall { len: usize, needed: usize },
    #[error("packet of {len} bytes or samples, at most {max} are bridged to 8 kHz")]
    PacketTooLong { len: usize, max: usize },
}

/// G.722 encoder, one per direction of a stream (it holds the QMF and
/// ADPCM state that carries from one frame to the next).
#[derive(Debug, Clone)]
pub struct Encoder {
    qmf: [i32; QMF_TAPS],
    low: Band,
    high: Band,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        Self {
            qmf: [0; QMF_TAPS],
            low: Band::low(),
            high: Band::high(),
        }
    }

    /// Encodes 16 kHz `pcm` (an even number of samples) into `out`, one byte
    /// per two samples; returns the bytes written.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, G722Error> {
        if !pcm.len().is_multiple_of(2) {
            return Err(G722Error::OddSamples { len: pcm.len() });
        }
        let needed = pcm.len() / 2;
        let len = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(G722Error::OutputTooSmall { len, needed })?;
        for (o, pair) in out.iter_mut().zip(pcm.chunks_exact(2)) {
            let (xl, xh) = self.analyse(pair[0], pair[1]);
            *o = self.encode_bands(xl, xh);
        }
        Ok(needed)
    }

    /// Transmit QMF (§3.1): two input samples in, one sample of each band out.
    fn analyse(&mut self, first: i16, second: i16) -> (i32, i32) {
        self.qmf.copy_within(2.., 0);
        self.qmf[QMF_TAPS - 2] = i32::from(first);
        self.qmf[QMF_TAPS - 1] = i32::from(second);
        let (mut odd, mut even) = (0i32, 0i32);
        for (i, &h) in QMF.iter().enumerate() {
            odd += self.qmf[2 * i] * h;
            even += self.qmf[2 * i + 1] * QMF[11 - i];
        }
        // Full-scale input can take a band past 15 bits: LIMIT it, as the
        // ITU-T G.191 reference's qmf_tx does.
        (
            limit((even + odd) >> QMF_TX_SHIFT),
            limit((even - odd) >> QMF_TX_SHIFT),
        )
    }

    /// Codes one lower-band and one higher-band sample into the octet
    /// IH·2⁶ + IL (§1.4.4). Appendix II drives this directly (QMF bypassed).
    pub(crate) fn encode_bands(&mut self, xl: i32, xh: i32) -> u8 {
        let il = self.low.encode_low(xl);
        let ih = self.high.encode_high(xh);
        (ih << 6) | il
    }
}

/// G.722 decoder (mode 1), one per direction of a stream.
#[derive(Debug, Clone)]
pub struct Decoder {
    qmf: [i32; QMF_TAPS],
    low: Band,
    high: Band,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self {
            qmf: [0; QMF_TAPS],
            low: Band::low(),
            high: Band::high(),
        }
    }

    /// Decodes G.722 bytes into 16 kHz `out`, two samples per byte; returns
    /// the samples written. Every byte is a valid code, so only the buffer
    /// size can be wrong.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, G722Error> {
        let needed = payload.len() * 2;
        let len = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(G722Error::OutputTooSmall { len, needed })?;
        for (pair, &code) in out.chunks_exact_mut(2).zip(payload) {
            let (rl, rh) = self.decode_bands(code);
            let (first, second) = self.synthesise(rl, rh);
            pair[0] = first;
            pair[1] = second;
        }
        Ok(needed)
    }

    /// Decodes one octet into the reconstructed lower- and higher-band
    /// samples (RL, RH). Appendix II drives this directly (QMF bypassed).
    pub(crate) fn decode_bands(&mut self, code: u8) -> (i32, i32) {
        let rl = self.low.decode_low(code & 0x3F);
        let rh = self.high.decode_high(code >> 6);
        (rl, rh)
    }

    /// Receive QMF (§4.4): one sample of each band in, two output samples.
    fn synthesise(&mut self, rl: i32, rh: i32) -> (i16, i16) {
        self.qmf.copy_within(2.., 0);
        self.qmf[QMF_TAPS - 2] = rl + rh;
        self.qmf[QMF_TAPS - 1] = rl - rh;
        let (mut first, mut second) = (0i32, 0i32);
        for (i, &h) in QMF.iter().enumerate() {
            second += self.qmf[2 * i] * h;
            first += self.qmf[2 * i + 1] * QMF[11 - i];
        }
        // `sat` keeps the value within i16, so the casts are exact.
        (
            sat(first >> QMF_RX_SHIFT) as i16,
            sat(second >> QMF_RX_SHIFT) as i16,
        )
    }
}

#[cfg(test)]
mod tests;
