//! A consultation placed through the API (attended transfer): one more leg
//! of the customer's session, from the switch to a colleague, while the
//! caller hears hold music. Its media is the relay's third leg of the call
//! (the one a supervisor otherwise takes), mixed so that only the agent
//! and the colleague hear each other. It lives in the talking phase; the
//! switch completes it (the colleague becomes the agent leg) or cancels it
//! (the agent is back with the caller).

use super::b_leg::BLeg;

/// The consultation leg and what its end needs.
#[derive(Debug, Clone)]
pub struct Consultation {
    /// What the API named (an agent or a number): for records and events.
    pub target: String,
    /// Our INVITE to the colleague (one fork), its dialog once answered.
    pub leg: BLeg,
    /// The relay port pair its media uses.
    pub port: u16,
    /// The colleague answered (the consultation talks).
    pub answered: bool,
    /// The switch put the caller on hold for it (not the agent's phone):
    /// a cancel takes the hold off again.
    pub held_by_us: bool,
}

/// One consultation is another when it is the same dialog.
impl PartialEq for Consultation {
    fn eq(&self, other: &Self) -> bool {
        self.leg.call_id == other.leg.call_id && self.answered == other.answered
    }
}

impl Eq for Consultation {}

impl Consultation {
    /// The colleague's agent id, when the target is an agent.
    pub fn agent(&self) -> Option<&str> {
        self.leg.agent.as_deref()
    }
}
