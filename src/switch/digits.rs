//! DTMF digits on a call (RFC 4733 from the relay, SIP INFO from either
//! party): kept on the call, fed to the caller's IVR menu, and a SIP INFO
//! digit passed on in-band to the other party of a bridged call.

use std::time::Instant;

use tracing::debug;

use super::{MediaCommand, MediaLeg, Switch};
use crate::call::CallRef;

impl Switch {
    /// A DTMF digit (RFC 4733 from the relay, or SIP INFO): the caller's
    /// go to its IVR menu if it is in one; all are kept on the call.
    pub(super) fn on_digit(&mut self, now: Instant, call: CallRef, leg: MediaLeg, digit: char) {
        if leg == MediaLeg::Supervisor {
            self.stats.dtmf_digits += 1;
            return self.supervisor_digit(now, call, digit);
        }
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        self.stats.dtmf_digits += 1;
        // Digits are what the caller typed, maybe an account number: debug only.
        debug!(call = %call, ?leg, %digit, "DTMF digit");
        if entry.digits.len() >= super::DIGITS_PER_CALL_MAX {
            entry.digits.remove(0);
        }
        entry.digits.push(digit);
        match leg {
            MediaLeg::Caller => {
                // An agent's phone is the caller leg of a call it placed.
                if !self.menu_digit(now, call, digit) && !self.callback_key(now, call, digit) {
                    self.placed_consult_keys(now, call);
                }
            }
            MediaLeg::Agent => {
                if !self.conference_keys(now, call) {
                    self.agent_keys(now, call);
                }
            }
            MediaLeg::Supervisor | MediaLeg::Party(_) => {}
        }
    }

    /// A SIP INFO digit on a bridged call reaches the other party in-band
    /// (RFC 4733), since a B2BUA answers the INFO itself. RFC 4733 digits
    /// need nothing: the relay carries them (or makes them anew across
    /// transcoding).
    pub(super) fn pass_info_digit(&mut self, call: CallRef, from: MediaLeg, digit: char) {
        let to = match from {
            MediaLeg::Caller => MediaLeg::Agent,
            MediaLeg::Agent => MediaLeg::Caller,
            MediaLeg::Supervisor | MediaLeg::Party(_) => return,
        };
        let bridged = self.calls.get(&call).is_some_and(|e| {
            e.call.answered.is_some() && e.media.is_some() && e.held_by().is_none()
        });
        if bridged {
            self.out
                .push_back(super::Output::Media(MediaCommand::SendDigit {
                    call,
                    leg: to,
                    digit,
                }));
        }
    }
}

/// The digit of a SIP INFO body: `application/dtmf-relay` carries
/// `Signal=<digit>` lines (the de-facto format phones send),
/// `application/dtmf` the digit alone. Events 10 and 11 name `*` and `#`
/// (RFC 4733 §3.2).
pub fn info_digit(content_type: &str, body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    let value = if content_type == "application/dtmf-relay" {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim())
        })?
    } else {
        text.trim()
    };
    match value {
        "10" => Some('*'),
        "11" => Some('#'),
        v if v.len() == 1 => {
            let c = v.chars().next()?.to_ascii_uppercase();
            matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
        }
        _ => None,
    }
}
