//! RFC 4733 events the relay generates on a leg's own stream: digits that
//! cannot pass as they came (across transcoding or re-packetising, into a
//! mix) or that came by SIP INFO. The leg's relayed audio pauses meanwhile,
//! as a phone's does while it sends an event.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{CallMedia, DropReason, SourceKey};
use crate::media::dtmf::DtmfSender;
use crate::media::relay::forward::{write_header, HEADER_LEN};

/// Input number of generated telephone-events in the legs' [`SourceKey`]s;
/// each event is its own segment.
const DTMF_INPUT: u32 = 0x2000_0000;
/// Digits waiting to be sent to one leg; more are dropped.
pub const DIGITS_QUEUED_MAX: usize = 16;
/// How long a generated digit lasts (RFC 4733 §2.5.1.2 leaves it to us;
/// phones send 100 ms or more).
const DIGIT_LENGTH: Duration = Duration::from_millis(100);

/// RFC 4733 events the relay generates towards one leg: where a digit
/// cannot be relayed as it came (transcoded legs, SIP INFO, a mixed leg).
pub(super) struct DigitsOut {
    pub(super) sender: DtmfSender,
    queue: VecDeque<char>,
    /// Events started, so each gets a source segment of its own.
    events: u32,
    /// Packets sent within the current event (its source sequence).
    packets: u16,
}

impl Default for DigitsOut {
    fn default() -> Self {
        DigitsOut {
            sender: DtmfSender::new(super::super::mixer::MIX_PERIOD),
            queue: VecDeque::new(),
            events: 0,
            packets: 0,
        }
    }
}

impl CallMedia {
    /// Queues `digit` to be sent to leg `n` (if it negotiated telephone-event).
    pub(super) fn queue_digit(&mut self, n: usize, digit: char) {
        let Some(leg) = self.legs.get_mut(n) else {
            return;
        };
        if leg.telephone_event.is_none() || crate::media::dtmf::digit_to_event(digit).is_err() {
            return;
        }
        let out = leg.digits_out.get_or_insert_with(Box::default);
        if out.queue.len() < DIGITS_QUEUED_MAX {
            out.queue.push_back(digit);
        }
        if !out.sender.is_busy() {
            self.start_next_digit(n, self.now);
        }
    }

    /// Starts the next queued digit of leg `n`, or ends its generation.
    fn start_next_digit(&mut self, n: usize, now: Instant) {
        let leg = &mut self.legs[n];
        let Some(out) = leg.digits_out.as_mut() else {
            return;
        };
        match out.queue.pop_front() {
            Some(digit) => {
                out.events = out.events.wrapping_add(1);
                out.packets = 0;
                // A segment of its own even when the last thing on the
                // stream was the previous burst's event (whose source key a
                // fresh `DigitsOut` repeats): else both get the same
                // sequence numbers and the phone drops the second.
                leg.stream.reset_source();
                // The event's source timestamp: the stream rebases it, and it
                // stays the same for all the event's packets (RFC 4733 §2.3.1).
                let _ = out.sender.start(digit, DIGIT_LENGTH, 0, now);
            }
            None => leg.digits_out = None,
        }
    }

    pub(super) fn digits_deadline(&self) -> Option<Instant> {
        self.legs
            .iter()
            .filter_map(|l| l.digits_out.as_ref()?.sender.poll_timeout())
            .min()
    }

    /// Sends the event packets due now, on each leg's own stream.
    pub(super) fn on_digits_out(&mut self) {
        let now = self.now;
        for n in 0..self.legs.len() {
            let leg = &mut self.legs[n];
            let (pt, dst) = (leg.telephone_event, leg.rtp_latch.destination());
            let Some(out) = leg.digits_out.as_mut() else {
                continue;
            };
            let (Some(pt), Some(dst)) = (pt, dst) else {
                // Nowhere to send (the leg's address is not known yet): drop
                // the digits rather than wake for them again and again.
                leg.digits_out = None;
                continue;
            };
            while let Some(packet) = out.sender.poll_packet(now) {
                let source = SourceKey {
                    input: DTMF_INPUT | (out.events & 0x0FFF_FFFF),
                    ssrc: 0,
                };
                let rw = leg.stream.rewrite(source, out.packets, packet.timestamp);
                out.packets = out.packets.wrapping_add(1);
                let rw = crate::media::rtp::Rewritten {
                    marker: packet.marker,
                    ..rw
                };
                let payload = packet.payload.to_bytes();
                let len = HEADER_LEN + payload.len();
                let buf = &mut self.tx_buf[..len];
                write_header(buf, &rw, pt);
                buf[HEADER_LEN..].copy_from_slice(&payload);
                match super::secure::send_on(&mut self.tx, 2 * n, &mut leg.srtp, buf, dst, false) {
                    Ok(_) => self.counters.rtp_packets += 1,
                    Err(_) => self.counters.drop(DropReason::SendFailed),
                }
            }
            if !out.sender.is_busy() {
                self.start_next_digit(n, now);
            }
        }
    }
}
