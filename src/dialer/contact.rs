//! One contact of a campaign and the life of its number: new, dialling,
//! answered, then done; or busy, no answer, failed or an answering machine
//! and tried again after that outcome's delay until `max_attempts` (a
//! machine that was left a message is done); or do-not-call, never dialled.

use std::collections::BTreeMap;
use std::time::Duration;

use super::tz::Zone;

/// Index of a contact in its campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactId(pub u32);

/// Where a contact is. `Busy`, `NoAnswer`, `Failed`, `Abandoned` and `Machine` wait
/// for `next_try`; `Done` and `DoNotCall` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactState {
    New,
    /// Offered to an agent in preview mode, not dialled yet.
    Previewing,
    Dialling,
    Answered,
    Busy,
    NoAnswer,
    Failed,
    /// Answered with no agent in time: not dialled again for 72 h.
    Abandoned,
    /// Answered by a machine and hung up on.
    Machine,
    DoNotCall,
    Done,
}

impl ContactState {
    pub fn name(self) -> &'static str {
        match self {
            ContactState::New => "new",
            ContactState::Previewing => "previewing",
            ContactState::Dialling => "dialling",
            ContactState::Answered => "answered",
            ContactState::Busy => "busy",
            ContactState::NoAnswer => "no-answer",
            ContactState::Failed => "failed",
            ContactState::Abandoned => "abandoned",
            ContactState::Machine => "machine",
            ContactState::DoNotCall => "do-not-call",
            ContactState::Done => "done",
        }
    }

    pub fn from_name(name: &str) -> Option<ContactState> {
        Some(match name {
            "new" => ContactState::New,
            "previewing" => ContactState::Previewing,
            "dialling" => ContactState::Dialling,
            "answered" => ContactState::Answered,
            "busy" => ContactState::Busy,
            "no-answer" => ContactState::NoAnswer,
            "failed" => ContactState::Failed,
            "abandoned" => ContactState::Abandoned,
            "machine" => ContactState::Machine,
            "do-not-call" => ContactState::DoNotCall,
            "done" => ContactState::Done,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, ContactState::Done | ContactState::DoNotCall)
    }
}

/// How a dial ended before anyone talked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Busy,
    NoAnswer,
    /// Refused by the network or the carrier (4xx/5xx other than busy).
    Failed,
    /// An answering machine took the call; `message`: one was left on it,
    /// which ends the contact.
    Machine {
        message: bool,
    },
}

/// Waits before a contact is tried again, per outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub busy: Duration,
    pub no_answer: Duration,
    pub failed: Duration,
    pub machine: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            busy: Duration::from_secs(10 * 60),
            no_answer: Duration::from_secs(60 * 60),
            failed: Duration::from_secs(30 * 60),
            machine: Duration::from_secs(60 * 60),
        }
    }
}

/// No redial of a number whose answered call was abandoned for this long
/// (FTC Telemarketing Sales Rule practice; Ofcom's 72 h).
pub const ABANDON_NO_REDIAL: Duration = Duration::from_secs(72 * 3_600);

/// A contact: whom to call and how far the campaign got with them.
#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    /// E.164.
    pub number: String,
    pub name: String,
    pub zone: Zone,
    /// Other columns of the list, shown to the agent.
    pub data: BTreeMap<String, String>,
    pub state: ContactState,
    pub attempts: u32,
    /// When it may be dialled next (time since the Unix epoch); `None`: now.
    pub next_try: Option<Duration>,
}

impl Contact {
    pub fn new(number: String, name: String, zone: Zone) -> Contact {
        Contact {
            number,
            name,
            zone,
            data: BTreeMap::new(),
            state: ContactState::New,
            attempts: 0,
            next_try: None,
        }
    }

    /// Whether it waits to be dialled (now or later).
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            ContactState::New
                | ContactState::Busy
                | ContactState::NoAnswer
                | ContactState::Failed
                | ContactState::Abandoned
                | ContactState::Machine
        )
    }

    /// After a dial ended with `outcome` at `now`: retry after its delay,
    /// or done when the attempts are spent.
    pub fn dial_ended(
        &mut self,
        outcome: Outcome,
        now: Duration,
        retry: &Retry,
        max_attempts: u32,
    ) {
        let (state, delay) = match outcome {
            Outcome::Busy => (ContactState::Busy, retry.busy),
            Outcome::NoAnswer => (ContactState::NoAnswer, retry.no_answer),
            Outcome::Failed => (ContactState::Failed, retry.failed),
            Outcome::Machine { message: true } => {
                self.state = ContactState::Done;
                self.next_try = None;
                return;
            }
            Outcome::Machine { message: false } => (ContactState::Machine, retry.machine),
        };
        self.retry_or_done(state, now + delay, max_attempts);
    }

    /// After an abandoned call: 72 h before the next try, if any is left.
    pub fn abandoned(&mut self, now: Duration, max_attempts: u32) {
        self.retry_or_done(
            ContactState::Abandoned,
            now + ABANDON_NO_REDIAL,
            max_attempts,
        );
    }

    fn retry_or_done(&mut self, state: ContactState, next: Duration, max_attempts: u32) {
        if self.attempts >= max_attempts {
            self.state = ContactState::Done;
            self.next_try = None;
        } else {
            self.state = state;
            self.next_try = Some(next);
        }
    }
}
