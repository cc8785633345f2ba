//! Sample-rate conversion by two between 8 kHz (G.711, the switch's mixing
//! rate) and 16 kHz (G.722), for legs whose codecs differ in rate.
//!
//! Both directions use one 63-tap half-band low-pass FIR (Kaiser window,
//! β = 7): flat within 0.003 dB up to 3.4 kHz, at least 70 dB down from
//! 4.6 kHz, −6 dB at 4 kHz. Half of a half-band filter's taps are zero, so
//! each output costs 16 multiplies of symmetric pairs. Each converter keeps
//! its input history, so a stream is converted frame by frame without seams;
//! one converter per direction per stream. The delay is 2 ms.

/// Taps at the odd offsets ±1, ±3 … ±31 from the centre, Q15, doubled
/// (they sum to 16 384, half of unity: each one weighs a pair of samples).
/// The centre tap is ½ and the even offsets are 0.
const HALF_BAND: [i32; PAIRS] = [
    20798, -6759, 3854, -2548, 1785, -1279, 920, -656, 459, -314, 207, -130, 77, -42, 20, -8,
];
/// Symmetric tap pairs of the filter.
const PAIRS: usize = 16;
/// 8 kHz history the upsampler needs to interpolate midway.
const UP_HISTORY: usize = 2 * PAIRS;
/// 16 kHz history the downsampler filters over (the filter's length).
const DOWN_HISTORY: usize = 4 * PAIRS - 1;

/// What is wrong with the buffers handed to a converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    #[error("{len} input samples: halving the rate takes an even count")]
    OddInput { len: usize },
    #[error("output buffer of {len} is too small, {needed} needed")]
    OutputTooSmall { len: usize, needed: usize },
}

/// 8 kHz → 16 kHz.
#[derive(Debug, Clone)]
pub struct Upsampler {
    history: History<UP_HISTORY>,
}

impl Default for Upsampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Upsampler {
    pub fn new() -> Self {
        Self {
            history: History::new(),
        }
    }

    /// Writes two 16 kHz samples per 8 kHz `input` sample to `out`; returns
    /// the samples written.
    pub fn process(&mut self, input: &[i16], out: &mut [i16]) -> Result<usize, ResampleError> {
        let needed = input.len() * 2;
        let len = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(ResampleError::OutputTooSmall { len, needed })?;
        for (pair, &x) in out.chunks_exact_mut(2).zip(input) {
            let w = self.history.push(x);
            // The known sample, then the one midway to its successor.
            pair[0] = w[PAIRS - 1];
            let mid: i64 = (0..PAIRS)
                .map(|i| i64::from(HALF_BAND[i]) * pair_sum(w[PAIRS - 1 - i], w[PAIRS + i]))
                .sum();
            pair[1] = round_shift(mid, 15);
        }
        Ok(needed)
    }
}

/// 16 kHz → 8 kHz.
#[derive(Debug, Clone)]
pub struct Downsampler {
    history: History<DOWN_HISTORY>,
}

impl Default for Downsampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Downsampler {
    pub fn new() -> Self {
        Self {
            history: History::new(),
        }
    }

    /// Low-pass filters 16 kHz `input` (an even count) and writes every other
    /// sample to `out`; returns the samples written.
    pub fn process(&mut self, input: &[i16], out: &mut [i16]) -> Result<usize, ResampleError> {
        if !input.len().is_multiple_of(2) {
            return Err(ResampleError::OddInput { len: input.len() });
        }
        let needed = input.len() / 2;
        let len = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(ResampleError::OutputTooSmall { len, needed })?;
        let centre = DOWN_HISTORY / 2;
        for (o, two) in out.iter_mut().zip(input.chunks_exact(2)) {
            self.history.push(two[0]);
            let w = self.history.push(two[1]);
            // Centre tap ½ in Q16, the odd offsets' doubled Q15 taps alike.
            let acc: i64 = i64::from(w[centre]) * 32_768
                + (0..PAIRS)
                    .map(|i| {
                        let k = 2 * i + 1;
                        i64::from(HALF_BAND[i]) * pair_sum(w[centre - k], w[centre + k])
                    })
                    .sum::<i64>();
            *o = round_shift(acc, 16);
        }
        Ok(needed)
    }
}

/// The last `N` input samples, oldest first, without shifting: each sample
/// is written twice, `N` apart, so a contiguous window always exists.
#[derive(Debug, Clone)]
struct History<const N: usize> {
    buf: [[i16; N]; 2],
    next: usize,
}

impl<const N: usize> History<N> {
    fn new() -> Self {
        Self {
            buf: [[0; N]; 2],
            next: 0,
        }
    }

    /// Appends `x` and returns the window ending with it.
    fn push(&mut self, x: i16) -> &[i16] {
        self.buf[0][self.next] = x;
        self.buf[1][self.next] = x;
        self.next = (self.next + 1) % N;
        self.buf
            .as_flattened()
            .get(self.next..self.next + N)
            .expect("window lies within 2N")
    }
}

fn pair_sum(a: i16, b: i16) -> i64 {
    i64::from(a) + i64::from(b)
}

/// `acc >> shift`, rounded, saturated to 16 bits.
fn round_shift(acc: i64, shift: u32) -> i16 {
    let v = (acc + (1 << (shift - 1))) >> shift;
    v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests;
