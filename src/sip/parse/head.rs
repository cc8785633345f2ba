//! One pass over a message head (RFC 3261 §7): where it ends (the first
//! empty line), where its lines end, and whether it is valid UTF-8. It
//! stands in for a substring search for CRLF CRLF, a UTF-8 check and a byte
//! search per line.

use std::ops::Range;

use memchr::memchr;

use super::ParseError;

/// Line ends the scan remembers; later lines of a longer head are found by
/// searching, as before the scan existed.
const LINE_ENDS_KEPT: usize = 64;

/// Bytes looked at together: one SSE2 register.
const CHUNK: usize = 16;

/// A head found in a buffer: `buf[start..end]` holds the start line and the
/// header lines, each ending in CRLF; the empty line follows at `end`.
pub(super) struct Head {
    pub end: usize,
    /// Positions of the first `kept` LFs from the start, in order.
    lfs: [u32; LINE_ENDS_KEPT],
    kept: usize,
}

impl Head {
    pub(super) fn new() -> Head {
        Head {
            end: 0,
            lfs: [0; LINE_ENDS_KEPT],
            kept: 0,
        }
    }

    /// Finds the head starting at `start`: the first CRLF CRLF ends it.
    /// Refuses a head without one, then a head that is not UTF-8, in that
    /// order. `buf` is at most `limits::MESSAGE_BYTES_MAX` long. Fills
    /// `self` in place: the kept line ends are too many bytes to move.
    pub(super) fn scan(&mut self, buf: &[u8], start: usize) -> Result<(), ParseError> {
        let mut high = 0u32;
        let mut at = start;
        // Two groups per step: one test and one jump for 32 bytes.
        let mut pairs = buf[start..].chunks_exact(2 * CHUNK);
        for pair in pairs.by_ref() {
            let (lf_low, high_low) = chunk_masks(&pair[..CHUNK]);
            let (lf_high, high_high) = chunk_masks(&pair[CHUNK..]);
            high |= high_low | high_high;
            let lf = lf_low | lf_high << CHUNK;
            if lf != 0 && self.take_lfs(buf, start, at, lf) {
                return self.check_utf8(buf, start, high);
            }
            at += 2 * CHUNK;
        }
        let mut chunks = pairs.remainder().chunks_exact(CHUNK);
        for chunk in chunks.by_ref() {
            let (lf, chunk_high) = chunk_masks(chunk);
            high |= chunk_high;
            if lf != 0 && self.take_lfs(buf, start, at, lf) {
                return self.check_utf8(buf, start, high);
            }
            at += CHUNK;
        }
        let rest = chunks.remainder();
        let (lf, rest_high) = byte_masks(rest);
        high |= rest_high;
        if lf != 0 && self.take_lfs(buf, start, at, lf) {
            return self.check_utf8(buf, start, high);
        }
        Err(ParseError::HeadUnterminated)
    }

    /// Keeps the LFs of `mask` (bit i for `buf[at + i]`) in order; true
    /// when one of them ends the head.
    fn take_lfs(&mut self, buf: &[u8], start: usize, at: usize, mut mask: u32) -> bool {
        while mask != 0 {
            let p = at + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if self.kept < LINE_ENDS_KEPT {
                self.lfs[self.kept] = p as u32;
                self.kept += 1;
            }
            if p >= start + 3 && &buf[p - 3..p] == b"\r\n\r" {
                self.end = p - 1;
                return true;
            }
        }
        false
    }

    /// `high` is non-zero when a byte scanned, maybe past the head, is not
    /// ASCII; only then is the head checked as UTF-8.
    fn check_utf8(&self, buf: &[u8], start: usize, high: u32) -> Result<(), ParseError> {
        if high != 0 && std::str::from_utf8(&buf[start..self.end]).is_err() {
            return Err(ParseError::NotUtf8);
        }
        Ok(())
    }

    /// The lines of the head from `start`, each without its CRLF.
    pub(super) fn lines<'a>(&'a self, buf: &'a [u8], start: usize) -> Lines<'a> {
        Lines {
            buf,
            head: self,
            pos: start,
            next: 0,
        }
    }
}

/// Sixteen bytes at once: a mask of the LFs (bit i for byte i), and a
/// value that is non-zero when a byte is not ASCII (only that is asked).
#[cfg(target_arch = "x86_64")]
fn chunk_masks(chunk: &[u8]) -> (u32, u32) {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    assert_eq!(chunk.len(), CHUNK, "whole chunks only");
    // SAFETY: an unaligned load of the 16 bytes `chunk` borrows (asserted),
    // and SSE2 instructions, which every x86_64 target has.
    let (lf, high) = unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let lf = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)));
        (lf, _mm_movemask_epi8(v))
    };
    (lf as u32, high as u32)
}

#[cfg(not(target_arch = "x86_64"))]
fn chunk_masks(chunk: &[u8]) -> (u32, u32) {
    byte_masks(chunk)
}

/// `chunk_masks` a byte at a time, for the tail of the buffer; its second
/// value only tells whether a byte is not ASCII, not which one.
fn byte_masks(bytes: &[u8]) -> (u32, u32) {
    let (mut lf, mut high) = (0u32, 0u32);
    for (i, &b) in bytes.iter().enumerate() {
        lf |= u32::from(b == b'\n') << i;
        high |= u32::from(b >= 0x80);
    }
    (lf, high)
}

/// The lines of a head, each without its CRLF; a bare LF is an error.
pub(super) struct Lines<'a> {
    buf: &'a [u8],
    head: &'a Head,
    pos: usize,
    /// The next kept LF to use.
    next: usize,
}

impl Iterator for Lines<'_> {
    type Item = Result<Range<usize>, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let end = self.head.end;
        if self.pos >= end {
            return None;
        }
        // Kept LFs are every LF from the start, in order, so the next one
        // is the first at or after `pos`. The head's last line ends in an LF
        // before `end`, so the search always finds one.
        let lf = if self.next < self.head.kept {
            self.next += 1;
            self.head.lfs[self.next - 1] as usize
        } else {
            match memchr(b'\n', &self.buf[self.pos..end]) {
                Some(p) => self.pos + p,
                None => return Some(Err(ParseError::BadLineEnd)),
            }
        };
        if lf == self.pos || self.buf[lf - 1] != b'\r' {
            self.pos = end;
            return Some(Err(ParseError::BadLineEnd));
        }
        let line = self.pos..lf - 1;
        self.pos = lf + 1;
        Some(Ok(line))
    }
}
