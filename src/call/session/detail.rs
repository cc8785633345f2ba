//! What a call's record tells beyond its outcome: who called (RFC 3325
//! identity from a trusted trunk, else From), which way the call went,
//! the IVR keys taken, when it entered and left its queues, how long it
//! was on hold, the status a refused caller got and who hung up. Gathered
//! on the [`Session`](super::Session) as the call goes, copied into
//! the switch's `CallRecord` at the end.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::legs::{CallLegs, LegRecord};
use crate::call::{Outcome, Side};
use crate::sip::parse::{HeaderName, Message};

/// RFC 3325's header, made once.
static P_ASSERTED_IDENTITY: HeaderName = HeaderName::extension("P-Asserted-Identity");

/// Most IVR keys kept per call (menus nest at most `MENU_HOPS_MAX` deep).
pub const IVR_PATH_MAX: usize = 16;
/// Longest caller number or name kept, in characters.
pub const CALLER_CHARS_MAX: usize = 64;

/// Which way a call goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a trunk.
    #[default]
    Inbound,
    /// From an agent's phone out through a trunk.
    Outbound,
    /// From an agent's phone to an extension or a DID of the switch.
    Internal,
    /// A queue's callback: the agent's phone first, then the customer.
    Callback,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::Callback => "callback",
        }
    }
}

/// Gathered while the call runs.
#[derive(Clone, Debug, Default)]
pub struct CallDetail {
    pub caller: String,
    pub caller_name: Option<String>,
    pub direction: Direction,
    pub ivr_path: Vec<String>,
    /// When the call first entered a queue, and when it last left one.
    pub queue_entered: Option<Instant>,
    pub queue_left: Option<Instant>,
    /// When it entered the queue it is in now (arrival or overflow): the
    /// wait that service level and ASA count runs from here.
    pub queue_since: Option<Instant>,
    pub held_since: Option<Instant>,
    pub hold: Duration,
    /// The final status the caller got, when it was not a 2xx.
    pub rejected_status: Option<u16>,
    /// Its place in line when it left the queue unanswered.
    pub queue_position: Option<usize>,
    /// Blind transfers' targets, in order.
    pub transfers: Vec<String>,
    /// Every party the call passed through, in order.
    pub legs: CallLegs,
    /// A campaign's call: which, whom, which try.
    pub campaign: Option<CampaignMark>,
}

/// What a campaign call carries for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignMark {
    pub name: String,
    /// The contact's index in the campaign's list.
    pub contact: u32,
    /// Which try of the contact this is (1 the first).
    pub attempt: u32,
    /// The From of the INVITE to the customer.
    pub caller_id: Option<String>,
    /// The customer answered.
    pub answered: bool,
    /// The detector took the answer for an answering machine.
    pub machine: bool,
}

/// A campaign call as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CampaignRecord {
    pub name: String,
    pub contact: u32,
    pub attempt: u32,
    /// `answered` (an agent took it), `abandoned`, `machine`, `busy`,
    /// `no-answer`, `failed`.
    pub outcome: String,
}

/// What a campaign call's record says of it: `answered` when the customer
/// and an agent talked, `abandoned` when the customer answered and no
/// agent did, else the dial's outcome. The first leg of a placed call
/// reports the customer's answer as the "agent's" outcome.
pub fn campaign_outcome(outcome: Outcome, answered: bool) -> &'static str {
    match (answered, outcome) {
        (true, Outcome::Completed { .. }) => "answered",
        (true, _) => "abandoned",
        (false, Outcome::Busy | Outcome::AgentRejected(486 | 600)) => "busy",
        (false, Outcome::NoAnswer | Outcome::AgentNoAnswer | Outcome::Operator) => "no-answer",
        (false, _) => "failed",
    }
}

/// As stored: instants become offsets from the call's arrival.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordDetail {
    pub caller: String,
    pub caller_name: Option<String>,
    pub direction: Direction,
    pub ivr_path: Vec<String>,
    pub queue_entered: Option<Duration>,
    pub queue_left: Option<Duration>,
    pub hold: Duration,
    pub rejected_status: Option<u16>,
    /// `caller`, `agent` (the callee side), `switch` or `operator`.
    pub hung_up_by: Option<&'static str>,
    /// Where the call was blind-transferred to (agent, queue or number), in order.
    pub transfers: Vec<String>,
    /// Its place in line when the caller gave up in a queue (for the
    /// `call_abandoned` event; not stored).
    pub queue_position: Option<usize>,
    /// When it entered its last queue (for the `call_abandoned` event's
    /// wait; not stored).
    pub queue_since: Option<Duration>,
    /// The parties it passed through, in order.
    pub legs: Vec<LegRecord>,
    /// Campaign calls only.
    pub campaign: Option<CampaignRecord>,
}

impl CallDetail {
    /// The caller as the INVITE names them: P-Asserted-Identity when the
    /// trunk is trusted (RFC 3325 §9.1), else From.
    pub fn from_invite(msg: &Message, trusted: bool) -> CallDetail {
        let asserted = trusted
            .then(|| msg.header(&P_ASSERTED_IDENTITY))
            .flatten()
            .and_then(name_addr);
        let (caller, caller_name) = asserted.unwrap_or_else(|| {
            let from = msg.from();
            let user = from.uri().user().unwrap_or("anonymous").to_string();
            let name = from.display_name().map(str::to_string);
            (user, name)
        });
        CallDetail {
            caller: clip(&caller),
            caller_name: caller_name.map(|n| clip(&n)).filter(|n| !n.is_empty()),
            ..CallDetail::default()
        }
    }

    pub fn held(&mut self, now: Instant) {
        self.held_since.get_or_insert(now);
    }

    pub fn resumed(&mut self, now: Instant) {
        if let Some(since) = self.held_since.take() {
            self.hold += now.saturating_duration_since(since);
        }
    }

    pub fn ivr_key(&mut self, key: &str) {
        if self.ivr_path.len() < IVR_PATH_MAX {
            self.ivr_path.push(key.to_string());
        }
    }

    /// Offsets from `created`; a hold still running ends at `ended`.
    pub fn finish(&self, created: Instant, ended: Instant, outcome: Outcome) -> RecordDetail {
        let since = |t: Instant| t.saturating_duration_since(created);
        let mut hold = self.hold;
        if let Some(s) = self.held_since {
            hold += ended.saturating_duration_since(s);
        }
        RecordDetail {
            caller: self.caller.clone(),
            caller_name: self.caller_name.clone(),
            direction: self.direction,
            ivr_path: self.ivr_path.clone(),
            queue_entered: self.queue_entered.map(since),
            queue_left: self
                .queue_left
                .or(self.queue_entered.map(|_| ended))
                .map(since),
            hold,
            rejected_status: match outcome {
                Outcome::Rejected(status) | Outcome::AgentRejected(status) => Some(status),
                _ => self.rejected_status,
            },
            hung_up_by: hung_up_by(outcome),
            transfers: self.transfers.clone(),
            queue_position: self.queue_position,
            queue_since: self.queue_since.map(since),
            legs: self.legs.finish(created, ended),
            campaign: self.campaign.as_ref().map(|m| CampaignRecord {
                name: m.name.clone(),
                contact: m.contact,
                attempt: m.attempt,
                outcome: match m.machine {
                    true => "machine",
                    false => campaign_outcome(outcome, m.answered),
                }
                .to_string(),
            }),
        }
    }
}

/// Who ended the call, by outcome.
pub fn hung_up_by(outcome: Outcome) -> Option<&'static str> {
    Some(match outcome {
        Outcome::Completed {
            hung_up_by: Side::A,
        }
        | Outcome::Abandoned => "caller",
        Outcome::Completed {
            hung_up_by: Side::B,
        } => "agent",
        Outcome::Operator => "operator",
        // A placed call's agent declined it.
        Outcome::AgentRejected(_) => "agent",
        Outcome::AgentNoAnswer
        | Outcome::Busy
        | Outcome::NoAnswer
        | Outcome::Unavailable
        | Outcome::Rejected(_)
        | Outcome::Shutdown
        | Outcome::MediaTimeout
        | Outcome::SessionExpired => "switch",
    })
}

/// `"Name" <sip:user@host>` or `<tel:+1555>` to (user, name).
fn name_addr(value: &str) -> Option<(String, Option<String>)> {
    let value = value.split(',').next()?.trim();
    let (name, uri) = match value.find('<') {
        Some(i) => {
            let end = value[i..].find('>')? + i;
            (value[..i].trim(), &value[i + 1..end])
        }
        None => ("", value),
    };
    let rest = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    let user = rest.split(['@', ';']).next().unwrap_or("").trim();
    if user.is_empty() {
        return None;
    }
    let name = name.trim_matches('"').trim();
    Some((
        user.to_string(),
        (!name.is_empty()).then(|| name.to_string()),
    ))
}

fn clip(text: &str) -> String {
    text.chars().take(CALLER_CHARS_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_reads_sip_and_tel_identities() {
        assert_eq!(
            name_addr("\"Ada L\" <sip:+15551234@carrier.example;user=phone>"),
            Some(("+15551234".into(), Some("Ada L".into())))
        );
        assert_eq!(
            name_addr("<tel:+4420712345>, <sip:x@y>"),
            Some(("+4420712345".into(), None))
        );
        assert_eq!(name_addr("<sip:@host>"), None);
        assert_eq!(name_addr("garbage"), None);
    }

    #[test]
    fn unanswered_outcomes_name_who_hung_up() {
        assert_eq!(hung_up_by(Outcome::Abandoned), Some("caller"));
        assert_eq!(hung_up_by(Outcome::NoAnswer), Some("switch"));
        assert_eq!(hung_up_by(Outcome::Rejected(404)), Some("switch"));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the one clock read: the rest is t0 plus durations
    fn hold_still_running_at_the_end_counts() {
        let t0 = Instant::now();
        let mut d = CallDetail::default();
        d.held(t0 + Duration::from_secs(1));
        d.resumed(t0 + Duration::from_secs(3));
        d.held(t0 + Duration::from_secs(5));
        let r = d.finish(t0, t0 + Duration::from_secs(6), Outcome::Operator);
        assert_eq!(r.hold, Duration::from_secs(3));
    }
}
