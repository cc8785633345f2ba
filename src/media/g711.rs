//! G.711 μ-law (PCMU) and A-law (PCMA) codecs, table-driven (ITU-T G.711).
//!
//! Tables are computed at compile time from the classic segment algorithms, so
//! encoding or decoding a sample is one lookup. Resampling and mixing are left
//! to the callers.

/// Encodes one linear sample to μ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    // μ-law keeps 14 bits: the two low bits never change the code.
    ULAW_ENCODE[(sample as u16 >> 2) as usize]
}

/// Decodes one μ-law byte to a linear sample.
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Encodes one linear sample to A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    // A-law keeps 13 bits.
    ALAW_ENCODE[(sample as u16 >> 3) as usize]
}

/// Decodes one A-law byte to a linear sample.
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Encodes `pcm` into `out` (same length; extra elements are left alone).
pub fn ulaw_encode_into(pcm: &[i16], out: &mut [u8]) {
    for (o, s) in out.iter_mut().zip(pcm) {
        *o = ulaw_encode(*s);
    }
}

/// Decodes `codes` into `out` (same length; extra elements are left alone).
pub fn ulaw_decode_into(codes: &[u8], out: &mut [i16]) {
    for (o, c) in out.iter_mut().zip(codes) {
        *o = ulaw_decode(*c);
    }
}

/// Encodes `pcm` into `out` (same length; extra elements are left alone).
pub fn alaw_encode_into(pcm: &[i16], out: &mut [u8]) {
    for (o, s) in out.iter_mut().zip(pcm) {
        *o = alaw_encode(*s);
    }
}

/// Decodes `codes` into `out` (same length; extra elements are left alone).
pub fn alaw_decode_into(codes: &[u8], out: &mut [i16]) {
    for (o, c) in out.iter_mut().zip(codes) {
        *o = alaw_decode(*c);
    }
}

/// Converts A-law to μ-law without a trip through linear (transcoding PCMA ↔ PCMU).
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ulaw_encode(alaw_decode(code))
}

/// Converts μ-law to A-law without a trip through linear.
pub fn ulaw_to_alaw(code: u8) -> u8 {
    alaw_encode(ulaw_decode(code))
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;
const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

static ULAW_ENCODE: [u8; 16384] = ulaw_encode_table();
static ALAW_ENCODE: [u8; 8192] = alaw_encode_table();
static ULAW_DECODE: [i16; 256] = ulaw_decode_table();
static ALAW_DECODE: [i16; 256] = alaw_decode_table();

const fn segment(value: i32, ends: &[i32; 8]) -> usize {
    let mut i = 0;
    while i < 8 {
        if value <= ends[i] {
            return i;
        }
        i += 1;
    }
    8
}

const fn ulaw_encode_slow(sample: i16) -> u8 {
    let mut value = (sample as i32) >> 2;
    let mask: i32 = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    if value > ULAW_CLIP {
        value = ULAW_CLIP;
    }
    value += ULAW_BIAS >> 2;
    let seg = segment(value, &SEG_UEND);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let code = ((seg as i32) << 4) | ((value >> (seg + 1)) & 0xF);
    (code ^ mask) as u8
}

const fn alaw_encode_slow(sample: i16) -> u8 {
    let mut value = (sample as i32) >> 3;
    let mask: i32 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let seg = segment(value, &SEG_AEND);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut code = (seg as i32) << 4;
    if seg < 2 {
        code |= (value >> 1) & 0xF;
    } else {
        code |= (value >> seg) & 0xF;
    }
    (code ^ mask) as u8
}

const fn ulaw_decode_slow(code: u8) -> i16 {
    let u = !code as i32;
    let mut t = ((u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_slow(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn ulaw_encode_table() -> [u8; 16384] {
    let mut table = [0u8; 16384];
    let mut i = 0;
    while i < 16384 {
        table[i] = ulaw_encode_slow(((i as u16) << 2) as i16);
        i += 1;
    }
    table
}

const fn alaw_encode_table() -> [u8; 8192] {
    let mut table = [0u8; 8192];
    let mut i = 0;
    while i < 8192 {
        table[i] = alaw_encode_slow(((i as u16) << 3) as i16);
        i += 1;
    }
    table
}

const fn ulaw_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_decode_slow(i as u8);
        i += 1;
    }
    table
}

const fn alaw_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_decode_slow(i as u8);
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_encodes_to_the_g711_zero_codes() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(alaw_decode(0xD5), 8);
    }

    #[test]
    fn extremes_decode_to_the_g711_peaks() {
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_ulaw_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            // 0x7F is negative zero; it decodes to 0, which encodes as 0xFF.
            let want = if code == 0x7F { 0xFF } else { code };
            assert_eq!(ulaw_encode(ulaw_decode(code)), want, "code {code:#04x}");
        }
    }

    #[test]
    fn every_alaw_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "code {code:#04x}");
        }
    }

    #[test]
    fn table_matches_the_segment_algorithm_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(s), ulaw_encode_slow(s));
            assert_eq!(alaw_encode(s), alaw_encode_slow(s));
        }
    }

    #[test]
    fn quantisation_error_stays_within_half_a_step() {
        // G.711 steps double per segment; the error is at most half a step,
        // so at most 1/32 of the magnitude plus the smallest step.
        for s in (-32000i16..32000).step_by(7) {
            let mag = (s as i32).abs();
            let bound = mag / 32 + 16;
            assert!(
                (ulaw_decode(ulaw_encode(s)) as i32 - s as i32).abs() <= bound,
                "ulaw {s}"
            );
            assert!(
                (alaw_decode(alaw_encode(s)) as i32 - s as i32).abs() <= bound,
                "alaw {s}"
            );
        }
    }

    #[test]
    fn alaw_ulaw_conversion_keeps_the_sample_close() {
        for code in 0..=255u8 {
            let direct = alaw_decode(code) as i32;
            let via = ulaw_decode(alaw_to_ulaw(code)) as i32;
            assert!(
                (direct - via).abs() <= direct.abs() / 16 + 16,
                "code {code:#04x}"
            );
        }
    }
}
