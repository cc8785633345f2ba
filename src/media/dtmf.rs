//! DTMF as RFC 4733 telephone-events: payload parse/build, digit mapping, a
//! sender that paces one event into packets, and a receiver that turns a
//! stream of (possibly repeated) event packets into digits, once each.
//!
//! The RTP header (payload type, sequence, SSRC) is the caller's business:
//! the sender says which timestamp and marker bit each packet carries.

use std::time::{Duration, Instant};

use crate::media::NARROWBAND_HZ;

/// Size of one telephone-event payload (RFC 4733 §2.3).
pub const EVENT_PAYLOAD_LEN: usize = 4;
/// How often the end packet is sent (RFC 4733 §2.5.1.4: "three times").
pub const END_PACKET_REPEATS: u8 = 3;
/// Longest event one packet series can carry: the 16-bit duration field in
/// 8 kHz samples (RFC 4733 §2.5.2.3 segments longer ones; we cap instead).
pub const EVENT_DURATION_MAX: Duration = Duration::from_micros(65_535 * 125);
/// Default volume, in -dBm0 (RFC 4733 §2.3.4); 10 is what phones send.
pub const DEFAULT_VOLUME: u8 = 10;

/// What went wrong with a telephone-event payload or a digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    #[error("telephone-event payload of {len} bytes, need {EVENT_PAYLOAD_LEN}")]
    Truncated { len: usize },
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    NotADigit(char),
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code: 0-9 digits, 10 `*`, 11 `#`, 12-15 `A`-`D` (§3.2).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63.
    pub volume: u8,
    /// Duration so far, in timestamp units (8 kHz samples).
    pub duration: u16,
}

impl EventPayload {
    /// Parses the first four bytes of `payload`; trailing bytes (redundancy
    /// blocks we do not use) are ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1] = match payload {
            [a, b, c, d, ..] => [*a, *b, *c, *d],
            _ => return Err(DtmfError::Truncated { len: payload.len() }),
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The four payload bytes; the R bit is always zero (§2.3.3).
    pub fn to_bytes(self) -> [u8; EVENT_PAYLOAD_LEN] {
        let flags = (u8::from(self.end) << 7) | (self.volume & 0x3F);
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, flags, d0, d1]
    }
}

/// The event code of a DTMF digit (RFC 4733 §3.2).
pub fn digit_to_event(digit: char) -> Result<u8, DtmfError> {
    match digit {
        '0'..='9' => Ok(digit as u8 - b'0'),
        '*' => Ok(10),
        '#' => Ok(11),
        'A'..='D' => Ok(digit as u8 - b'A' + 12),
        'a'..='d' => Ok(digit as u8 - b'a' + 12),
        _ => Err(DtmfError::NotADigit(digit)),
    }
}

/// The digit of an event code, or `None` for non-DTMF events (flash, tones).
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// One packet the sender wants on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: EventPayload,
    /// Set on the first packet of an event (RFC 4733 §2.5.1.1).
    pub marker: bool,
    /// RTP timestamp: the event's start, the same for all its packets (§2.3.1).
    pub timestamp: u32,
}

/// Paces one event at a time into packets every `interval`, then sends the
/// end packet three times (RFC 4733 §2.5.1).
#[derive(Debug, Clone)]
pub struct DtmfSender {
    interval: Duration,
    state: SenderState,
}

#[derive(Debug, Clone)]
enum SenderState {
    Idle,
    Sending {
        event: u8,
        timestamp: u32,
        total: u16,
        sent: u32,
        next_at: Instant,
    },
    Ending {
        event: u8,
        timestamp: u32,
        total: u16,
        left: u8,
        next_at: Instant,
    },
}

impl DtmfSender {
    /// A sender that emits one packet every `interval` (the leg's ptime).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: SenderState::Idle,
        }
    }

    /// Starts `digit` now, lasting `length` (capped at [`EVENT_DURATION_MAX`]),
    /// stamped with RTP `timestamp`. An event still in progress is replaced.
    pub fn start(
        &mut self,
        digit: char,
        length: Duration,
        timestamp: u32,
        now: Instant,
    ) -> Result<(), DtmfError> {
        let event = digit_to_event(digit)?;
        let total = samples(length.min(EVENT_DURATION_MAX)).max(1);
        self.state = SenderState::Sending {
            event,
            timestamp,
            total: total as u16,
            sent: 0,
            next_at: now,
        };
        Ok(())
    }

    /// True while an event (or its end repeats) is being sent.
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, SenderState::Idle)
    }

    /// When the next packet is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            SenderState::Idle => None,
            SenderState::Sending { next_at, .. } | SenderState::Ending { next_at, .. } => {
                Some(next_at)
            }
        }
    }

    /// The next packet if one is due at `now`.
    pub fn poll_packet(&mut self, now: Instant) -> Option<EventPacket> {
        let step = samples(self.interval).max(1);
        match &mut self.state {
            SenderState::Idle => None,
            SenderState::Sending {
                event,
                timestamp,
                total,
                sent,
                next_at,
            } => {
                if now < *next_at {
                    return None;
                }
                let marker = *sent == 0;
                let duration = (*sent + step).min(u32::from(*total));
                *sent += step;
                *next_at += self.interval;
                let end = duration >= u32::from(*total);
                let packet = EventPacket {
                    payload: EventPayload {
                        event: *event,
                        end,
                        volume: DEFAULT_VOLUME,
                        duration: duration as u16,
                    },
                    marker,
                    timestamp: *timestamp,
                };
                if end {
                    self.state = SenderState::Ending {
                        event: *event,
                        timestamp: *timestamp,
                        total: *total,
                        left: END_PACKET_REPEATS - 1,
                        next_at: *next_at,
                    };
                }
                Some(packet)
            }
            SenderState::Ending {
                event,
                timestamp,
                total,
                left,
                next_at,
            } => {
                if now < *next_at {
                    return None;
                }
                let packet = EventPacket {
                    payload: EventPayload {
                        event: *event,
                        end: true,
                        volume: DEFAULT_VOLUME,
                        duration: *total,
                    },
                    marker: false,
                    timestamp: *timestamp,
                };
                *left -= 1;
                *next_at += self.interval;
                if *left == 0 {
                    self.state = SenderState::Idle;
                }
                Some(packet)
            }
        }
    }
}

/// A packet of an event that ended at least this long ago, with that
/// event's timestamp and not an end, is a new press of the same key: a
/// recording played again (SIPp's `dtmf_2833_*.pcap` played twice carries
/// the same timestamps), not a late packet of the old press, which
/// reordering delays by milliseconds.
pub const EVENT_REPLAY_AFTER: Duration = Duration::from_millis(100);

/// Turns received telephone-event packets into digits, each event once:
/// updates and the redundant end packets of one event share its timestamp.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    last: Option<(u32, u8)>,
    /// When the last event's first end packet came (with [`handle_at`](Self::handle_at)).
    ended: Option<Instant>,
}

impl DtmfReceiver {
    /// Handles one packet's payload; returns a digit on the first packet seen
    /// of a new event (so a lost start still yields the digit from an update).
    pub fn handle(&mut self, payload: &[u8], timestamp: u32) -> Result<Option<char>, DtmfError> {
        self.handle_inner(payload, timestamp, None)
    }

    /// The timestamp and event code of the last event seen.
    pub fn last_event(&self) -> Option<(u32, u8)> {
        self.last
    }

    /// As [`handle`](Self::handle), the packet received at `now`: a replayed
    /// press of the same key ([`EVENT_REPLAY_AFTER`]) is a digit again.
    pub fn handle_at(
        &mut self,
        payload: &[u8],
        timestamp: u32,
        now: Instant,
    ) -> Result<Option<char>, DtmfError> {
        self.handle_inner(payload, timestamp, Some(now))
    }

    fn handle_inner(
        &mut self,
        payload: &[u8],
        timestamp: u32,
        now: Option<Instant>,
    ) -> Result<Option<char>, DtmfError> {
        let p = EventPayload::parse(payload)?;
        if self.last == Some((timestamp, p.event)) {
            let replayed = !p.end
                && matches!((self.ended, now), (Some(t), Some(n)) if n.saturating_duration_since(t) >= EVENT_REPLAY_AFTER);
            if !replayed {
                if p.end && self.ended.is_none() {
                    self.ended = now;
                }
                return Ok(None);
            }
        }
        self.last = Some((timestamp, p.event));
        self.ended = if p.end { now } else { None };
        Ok(event_to_digit(p.event))
    }
}

fn samples(d: Duration) -> u32 {
    (d.as_micros() * u128::from(NARROWBAND_HZ) / 1_000_000).min(u128::from(u16::MAX)) as u32
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant as the tests' origin
mod tests {
    use super::*;

    const PTIME: Duration = Duration::from_millis(20);

    #[test]
    fn payload_round_trips_through_bytes() {
        let p = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(p.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        assert_eq!(EventPayload::parse(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn short_payload_is_an_error_not_a_panic() {
        assert_eq!(
            EventPayload::parse(&[1, 2, 3]),
            Err(DtmfError::Truncated { len: 3 })
        );
    }

    #[test]
    fn digits_map_to_rfc4733_event_codes_and_back() {
        for (d, e) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('D', 15),
        ] {
            assert_eq!(digit_to_event(d), Ok(e));
            assert_eq!(event_to_digit(e), Some(d));
        }
        assert_eq!(digit_to_event('x'), Err(DtmfError::NotADigit('x')));
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn sender_paces_an_event_and_repeats_its_end_three_times() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(PTIME);
        s.start('5', Duration::from_millis(60), 1000, t0).unwrap();
        let mut got = Vec::new();
        for k in 0..10u32 {
            let at = t0 + PTIME * k;
            assert_eq!(
                s.poll_timeout().map(|d| d <= at),
                s.is_busy().then_some(true)
            );
            if let Some(p) = s.poll_packet(at) {
                got.push((k, p));
            }
            assert_eq!(s.poll_packet(at), None, "one packet per interval");
        }
        let summary: Vec<_> = got
            .iter()
            .map(|(k, p)| (*k, p.marker, p.payload.end, p.payload.duration, p.timestamp))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, true, false, 160, 1000),
                (1, false, false, 320, 1000),
                (2, false, true, 480, 1000),
                (3, false, true, 480, 1000),
                (4, false, true, 480, 1000),
            ]
        );
        assert!(!s.is_busy());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn sender_caps_an_overlong_event_at_the_duration_field() {
        let t0 = Instant::now();
        let mut s = DtmfSender::new(Duration::from_secs(10));
        s.start('1', Duration::from_secs(60), 0, t0).unwrap();
        let p = s.poll_packet(t0).unwrap();
        assert!(p.payload.end);
        assert_eq!(p.payload.duration, u16::MAX);
    }

    #[test]
    fn receiver_reports_each_event_once_despite_updates_and_repeated_ends() {
        let mut r = DtmfReceiver::default();
        let upd = |d, end| {
            EventPayload {
                event: 1,
                end,
                volume: 10,
                duration: d,
            }
            .to_bytes()
        };
        assert_eq!(r.handle(&upd(160, false), 500), Ok(Some('1')));
        assert_eq!(r.handle(&upd(320, false), 500), Ok(None));
        for _ in 0..3 {
            assert_eq!(r.handle(&upd(480, true), 500), Ok(None));
        }
        // Same digit pressed again: a new event, a new timestamp.
        assert_eq!(r.handle(&upd(160, false), 1300), Ok(Some('1')));
    }

    #[test]
    fn receiver_still_reports_a_digit_whose_start_was_lost() {
        let mut r = DtmfReceiver::default();
        let end = EventPayload {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(r.handle(&end.to_bytes(), 42), Ok(Some('#')));
    }

    #[test]
    fn a_press_replayed_with_the_same_timestamp_is_a_digit_again_not_a_late_packet() {
        let t0 = Instant::now();
        let pkt = |end| {
            EventPayload {
                event: 11,
                end,
                volume: 10,
                duration: 160,
            }
            .to_bytes()
        };
        let mut r = DtmfReceiver::default();
        assert_eq!(r.handle_at(&pkt(false), 9, t0), Ok(Some('#')));
        assert_eq!(r.handle_at(&pkt(true), 9, t0 + PTIME), Ok(None));
        // Reordered: an update late by a few ms is the same press.
        let late = t0 + PTIME + Duration::from_millis(5);
        assert_eq!(r.handle_at(&pkt(false), 9, late), Ok(None));
        // Repeated ends, even later, are the same press.
        let later = t0 + Duration::from_millis(300);
        assert_eq!(r.handle_at(&pkt(true), 9, later), Ok(None));
        // The recording played again: the same packets, 400 ms on.
        let again = t0 + PTIME + Duration::from_millis(400);
        assert_eq!(r.handle_at(&pkt(false), 9, again), Ok(Some('#')));
        assert_eq!(r.handle_at(&pkt(false), 9, again + PTIME), Ok(None));
        // Without a clock the old rule holds: one digit per timestamp.
        let mut r = DtmfReceiver::default();
        assert_eq!(r.handle(&pkt(false), 9), Ok(Some('#')));
        assert_eq!(r.handle(&pkt(true), 9), Ok(None));
        assert_eq!(r.handle(&pkt(false), 9), Ok(None));
    }
}
