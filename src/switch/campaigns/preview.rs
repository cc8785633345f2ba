//! Preview offers nobody answered: the core put the contact back and has
//! the agent away; the driver keeps them away for the campaign for one
//! more `preview_timeout`, so an agent who walked away is not offered
//! contact after contact, then tells the core they are ready again.

use std::time::Instant;

use tracing::warn;

use super::super::Switch;
use crate::dialer::ContactId;

impl Switch {
    /// `agent` let campaign `i`'s offer of `contact` expire.
    pub(in crate::switch) fn preview_expired(
        &mut self,
        now: Instant,
        i: usize,
        agent: &str,
        contact: ContactId,
    ) {
        let d = &mut self.campaigns.list[i];
        let wait = d.core.spec.preview_timeout;
        warn!(
            campaign = %d.config.name,
            agent,
            contact = contact.0,
            wait_s = wait.as_secs(),
            "preview offer not answered in time: the contact goes back, the agent gets no offer meanwhile"
        );
        // The core has them away now: the next ready is told afresh.
        d.agents.insert(agent.to_string(), false);
        d.parked.insert(agent.to_string(), now + wait);
    }

    /// Whether `agent` still sits out campaign `i` after an expired offer.
    pub(in crate::switch) fn preview_parked(
        &mut self,
        now: Instant,
        i: usize,
        agent: &str,
    ) -> bool {
        let parked = &mut self.campaigns.list[i].parked;
        match parked.get(agent) {
            Some(until) if *until > now => true,
            Some(_) => {
                parked.remove(agent);
                false
            }
            None => false,
        }
    }
}
