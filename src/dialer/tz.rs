//! Contacts' local time, without a time-zone database.
//!
//! A zone is a fixed UTC offset (`UTC`, `+05:30`, `UTC-08:00`) or one of the
//! IANA names in [`ZONES`], each a standard offset plus one of three daylight
//! saving rules (none, the US rule since 2007, the EU rule since 1996). That
//! covers the centres this switch is built for with no crate and no tzdata
//! file; a name not in the table is refused where it is read, so a contact is
//! never called in a guessed time zone. Rules change rarely; a table entry
//! that goes stale is one line to fix.

use std::time::Duration;

/// The longest span a calling window may have to wait for: a day and a bit,
/// so that a DST change never makes "next opening" go backwards.
const MINUTES_PER_DAY: i64 = 24 * 60;

/// A contact's time zone: a standard offset and its daylight saving rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zone {
    /// Minutes east of UTC outside daylight saving time.
    pub offset_minutes: i32,
    pub dst: Dst,
}

/// Daylight saving rules; each adds one hour while in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dst {
    None,
    /// Second Sunday of March 02:00 local to first Sunday of November 02:00.
    Us,
    /// Last Sunday of March to last Sunday of October, 01:00 UTC both.
    Eu,
}

/// IANA names understood, with their standard offset in minutes and rule.
pub const ZONES: &[(&str, i32, Dst)] = &[
    ("UTC", 0, Dst::None),
    ("Etc/UTC", 0, Dst::None),
    ("America/New_York", -300, Dst::Us),
    ("America/Detroit", -300, Dst::Us),
    ("America/Toronto", -300, Dst::Us),
    ("America/Chicago", -360, Dst::Us),
    ("America/Denver", -420, Dst::Us),
    ("America/Phoenix", -420, Dst::None),
    ("America/Los_Angeles", -480, Dst::Us),
    ("America/Vancouver", -480, Dst::Us),
    ("America/Anchorage", -540, Dst::Us),
    ("Pacific/Honolulu", -600, Dst::None),
    ("America/Mexico_City", -360, Dst::None),
    ("America/Sao_Paulo", -180, Dst::None),
    ("Europe/London", 0, Dst::Eu),
    ("Europe/Dublin", 0, Dst::Eu),
    ("Europe/Lisbon", 0, Dst::Eu),
    ("Europe/Paris", 60, Dst::Eu),
    ("Europe/Berlin", 60, Dst::Eu),
    ("Europe/Madrid", 60, Dst::Eu),
    ("Europe/Rome", 60, Dst::Eu),
    ("Europe/Amsterdam", 60, Dst::Eu),
    ("Europe/Brussels", 60, Dst::Eu),
    ("Europe/Vienna", 60, Dst::Eu),
    ("Europe/Zurich", 60, Dst::Eu),
    ("Europe/Stockholm", 60, Dst::Eu),
    ("Europe/Oslo", 60, Dst::Eu),
    ("Europe/Copenhagen", 60, Dst::Eu),
    ("Europe/Warsaw", 60, Dst::Eu),
    ("Europe/Prague", 60, Dst::Eu),
    ("Europe/Athens", 120, Dst::Eu),
    ("Europe/Helsinki", 120, Dst::Eu),
    ("Europe/Bucharest", 120, Dst::Eu),
    ("Europe/Kyiv", 120, Dst::Eu),
    ("Europe/Istanbul", 180, Dst::None),
    ("Europe/Moscow", 180, Dst::None),
    ("Asia/Dubai", 240, Dst::None),
    ("Asia/Karachi", 300, Dst::None),
    ("Asia/Kolkata", 330, Dst::None),
    ("Asia/Singapore", 480, Dst::None),
    ("Asia/Shanghai", 480, Dst::None),
    ("Asia/Manila", 480, Dst::None),
    ("Asia/Tokyo", 540, Dst::None),
    ("Australia/Brisbane", 600, Dst::None),
    ("Africa/Johannesburg", 120, Dst::None),
    ("Africa/Lagos", 60, Dst::None),
];

impl Zone {
    pub const UTC: Zone = Zone {
        offset_minutes: 0,
        dst: Dst::None,
    };

    /// Reads `UTC`, `+HH:MM`, `-HHMM`, `UTC+HH:MM` or a name of [`ZONES`].
    pub fn parse(text: &str) -> Option<Zone> {
        let text = text.trim();
        if let Some(&(_, offset_minutes, dst)) = ZONES.iter().find(|(n, _, _)| *n == text) {
            return Some(Zone {
                offset_minutes,
                dst,
            });
        }
        let rest = text
            .strip_prefix("UTC")
            .or_else(|| text.strip_prefix("GMT"))
            .unwrap_or(text);
        let (sign, digits) = match rest.as_bytes().first()? {
            b'+' => (1, &rest[1..]),
            b'-' => (-1, &rest[1..]),
            _ => return None,
        };
        let (h, m) = match digits.split_once(':') {
            Some((h, m)) => (h, m),
            None if digits.len() == 4 => digits.split_at(2),
            None => (digits, "0"),
        };
        if h.is_empty() || h.len() > 2 || m.is_empty() || m.len() > 2 {
            return None;
        }
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        if h > 14 || m > 59 {
            return None;
        }
        Some(Zone {
            offset_minutes: sign * (h * 60 + m),
            dst: Dst::None,
        })
    }

    /// The offset in force at `unix` (time since the Unix epoch), in minutes.
    pub fn offset_at(&self, unix: Duration) -> i32 {
        let secs = unix.as_secs() as i64;
        let dst = match self.dst {
            Dst::None => false,
            Dst::Eu => {
                let (year, _, _) = civil(secs.div_euclid(86_400));
                let start = days_from_civil(year, 3, last_sunday(year, 3)) * 86_400 + 3_600;
                let end = days_from_civil(year, 10, last_sunday(year, 10)) * 86_400 + 3_600;
                (start..end).contains(&secs)
            }
            Dst::Us => {
                let local_std = secs + i64::from(self.offset_minutes) * 60;
                let (year, _, _) = civil(local_std.div_euclid(86_400));
                // 02:00 standard time, and 02:00 daylight time = 01:00 standard.
                let start = days_from_civil(year, 3, nth_sunday(year, 3, 2)) * 86_400 + 7_200;
                let end = days_from_civil(year, 11, nth_sunday(year, 11, 1)) * 86_400 + 3_600;
                (start..end).contains(&local_std)
            }
        };
        self.offset_minutes + if dst { 60 } else { 0 }
    }

    /// Minutes since local midnight at `unix`.
    pub fn local_minute(&self, unix: Duration) -> u32 {
        let local = unix.as_secs() as i64 / 60 + i64::from(self.offset_at(unix));
        local.rem_euclid(MINUTES_PER_DAY) as u32
    }
}

/// A daily calling window in local time, `start` inclusive, `end` exclusive,
/// in minutes since midnight; `start > end` spans midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: u32,
    pub end: u32,
}

impl Window {
    /// 09:00–21:00, the default and inside every regulator's hours.
    pub const DEFAULT: Window = Window {
        start: 9 * 60,
        end: 21 * 60,
    };

    /// Reads `HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Option<Window> {
        let (a, b) = text.trim().split_once('-')?;
        let minute = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            // 24:00 closes a window at midnight.
            (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
        };
        let (start, end) = (minute(a)?, minute(b)?);
        (start != end && start < 24 * 60).then_some(Window { start, end })
    }

    pub fn contains(&self, minute: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Whether `unix` falls in the window in `zone`; if not, the time to wait
    /// until it opens (to the minute; a DST change on the way shifts it by
    /// at most the hour, and the dialer checks again when it gets there).
    pub fn wait(&self, zone: Zone, unix: Duration) -> Option<Duration> {
        let minute = zone.local_minute(unix);
        if self.contains(minute) {
            return None;
        }
        let minutes = (i64::from(self.start) - i64::from(minute)).rem_euclid(MINUTES_PER_DAY);
        let into_minute = unix.as_secs() % 60;
        Some(Duration::from_secs(
            (minutes as u64 * 60).saturating_sub(into_minute).max(1),
        ))
    }
}

/// Day of the month of the last Sunday of `month`.
fn last_sunday(year: i64, month: u32) -> u32 {
    let days = days_in_month(year, month);
    let last = days_from_civil(year, month, days);
    days - weekday(last)
}

/// Day of the month of the `n`-th Sunday of `month`.
fn nth_sunday(year: i64, month: u32, n: u32) -> u32 {
    let first = days_from_civil(year, month, 1);
    1 + (7 - weekday(first)) % 7 + 7 * (n - 1)
}

/// 0 for Sunday; day 0 (1970-01-01) was a Thursday.
fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i64, month: u32, day: u32, h: u64, m: u64) -> Duration {
        let days = days_from_civil(year, month, day) as u64;
        Duration::from_secs(days * 86_400 + h * 3_600 + m * 60)
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 365, 11_016, 19_782, 20_000, 30_000] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(weekday(days_from_civil(2026, 12, 5)), 6); // a Saturday
    }

    #[test]
    fn eu_summer_time_starts_and_ends_at_one_utc() {
        let paris = Zone::parse("Europe/Paris").unwrap();
        // 2026: 29 March and 25 October.
        assert_eq!(paris.offset_at(at(2026, 3, 29, 0, 59)), 60);
        assert_eq!(paris.offset_at(at(2026, 3, 29, 1, 0)), 120);
        assert_eq!(paris.offset_at(at(2026, 10, 25, 0, 59)), 120);
        assert_eq!(paris.offset_at(at(2026, 10, 25, 1, 0)), 60);
    }

    #[test]
    fn us_daylight_time_follows_local_two_oclock() {
        let ny = Zone::parse("America/New_York").unwrap();
        // 2026: 8 March 02:00 EST = 07:00 UTC; 1 November 02:00 EDT = 06:00 UTC.
        assert_eq!(ny.offset_at(at(2026, 3, 8, 6, 59)), -300);
        assert_eq!(ny.offset_at(at(2026, 3, 8, 7, 0)), -240);
        assert_eq!(ny.offset_at(at(2026, 11, 1, 5, 59)), -240);
        assert_eq!(ny.offset_at(at(2026, 11, 1, 6, 0)), -300);
    }

    #[test]
    fn fixed_offsets_parse_and_junk_is_refused() {
        assert_eq!(Zone::parse("+05:30").unwrap().offset_minutes, 330);
        assert_eq!(Zone::parse("UTC-0800").unwrap().offset_minutes, -480);
        assert_eq!(Zone::parse("GMT+1").unwrap().offset_minutes, 60);
        for bad in ["", "Mars/Olympus", "+25:00", "+5:61", "UTC+", "12:00"] {
            assert_eq!(Zone::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn window_waits_until_local_opening() {
        let w = Window::DEFAULT;
        let ny = Zone::parse("America/New_York").unwrap();
        // 12:00 UTC in December is 07:00 in New York: two hours to wait.
        assert_eq!(
            w.wait(ny, at(2026, 12, 5, 12, 0)),
            Some(Duration::from_secs(2 * 3_600))
        );
        assert_eq!(w.wait(ny, at(2026, 12, 5, 14, 0)), None);
        // 21:00 local is closed: open again at 09:00 the next day.
        assert_eq!(
            w.wait(Zone::UTC, at(2026, 12, 5, 21, 0)),
            Some(Duration::from_secs(12 * 3_600))
        );
        let night = Window::parse("22:00-06:00").unwrap();
        assert!(night.contains(23 * 60) && night.contains(60) && !night.contains(12 * 60));
        for bad in ["9-21", "09:00", "09:00-09:00", "25:00-26:00", "09:60-10:00"] {
            assert_eq!(Window::parse(bad), None, "{bad:?}");
        }
    }
}
