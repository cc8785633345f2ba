//! RFC 3339 UTC stamps (as the store writes them) to Unix milliseconds and
//! back, without a date crate.

use std::time::{Duration, UNIX_EPOCH};

use crate::ops::cdr::rfc3339_utc;

/// `2024-03-01T09:30:00Z` or with `.250` milliseconds; `None` for
/// anything else (other offsets are not accepted: the store is UTC).
pub fn parse_ms(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let millis = match &text[19..text.len() - 1] {
        "" => 0,
        frac if frac.len() == 4 && frac.starts_with('.') => num(20..23)?,
        _ => return None,
    };
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + min * 60 + sec) * 1000) + millis)
}

/// The store's format of a Unix millisecond instant.
pub fn format_ms(ms: u64) -> String {
    rfc3339_utc(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant,
/// `days_from_civil`), for years from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_inverts_the_store_format() {
        for ms in [0, 951_782_400_005, 1_709_251_199_999, 1_709_251_200_000] {
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms));
        }
        assert_eq!(parse_ms("2024-03-01T00:00:00Z"), Some(1_709_251_200_000));
    }

    #[test]
    fn other_forms_are_refused() {
        for bad in [
            "",
            "2024-03-01",
            "2024-03-01T00:00:00+01:00",
            "2024-13-01T00:00:00Z",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }
}
