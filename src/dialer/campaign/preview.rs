//! Preview mode: a ready agent is offered the next contact and sees it
//! first; the contact is dialled on the agent's accept, and a skip puts it
//! back for later without spending an attempt. An offer neither accepted
//! nor skipped within `preview_timeout` goes back to the front of the list
//! and the agent is away for the campaign (the driver decides when they
//! are ready again): an agent who walked away does not hold a contact.

use std::cmp::Reverse;
use std::time::Duration;

use super::{Action, AgentState, Campaign};
use crate::dialer::contact::{ContactId, ContactState};
use crate::dialer::dnc::Dnc;

impl Campaign {
    /// The contact offered to `agent` and not yet accepted or skipped.
    pub fn previewing(&self, agent: &str) -> Option<ContactId> {
        match self.agents.get(agent) {
            Some(AgentState::Previewing(contact)) => Some(*contact),
            _ => None,
        }
    }

    pub(super) fn unpreview(&mut self, contact: ContactId, out: &mut Vec<Action>) {
        let c = &mut self.contacts[contact.0 as usize];
        if c.state == ContactState::Previewing {
            c.state = if c.attempts == 0 {
                ContactState::New
            } else {
                ContactState::NoAnswer
            };
            self.due.push_front(contact);
            out.push(Action::Contact(contact));
        }
    }

    pub(super) fn preview_accepted(
        &mut self,
        now: Duration,
        agent: String,
        dnc: &mut Dnc,
        out: &mut Vec<Action>,
    ) {
        let Some(AgentState::Previewing(contact)) = self.agents.get(&agent).cloned() else {
            return;
        };
        self.offers.remove(&agent);
        self.agents
            .insert(agent.clone(), AgentState::Ready { since: now });
        if !self.dial(now, contact, Some(agent.clone()), dnc, out) {
            self.agents.insert(agent, AgentState::Ready { since: now });
        }
    }

    pub(super) fn preview_skipped(&mut self, now: Duration, agent: String, out: &mut Vec<Action>) {
        let Some(AgentState::Previewing(contact)) = self.agents.get(&agent).cloned() else {
            return;
        };
        self.offers.remove(&agent);
        self.agents.insert(agent, AgentState::Ready { since: now });
        let c = &mut self.contacts[contact.0 as usize];
        // Skipped: back of the list, no attempt spent.
        c.state = if c.attempts == 0 {
            ContactState::New
        } else {
            ContactState::NoAnswer
        };
        let next = now + self.spec.retry.no_answer;
        c.next_try = Some(next);
        self.later.push(Reverse((next, contact)));
        out.push(Action::Contact(contact));
    }

    pub(super) fn pace_preview(&mut self, now: Duration, out: &mut Vec<Action>) {
        for agent in self.ready_agents() {
            let Some(contact) = self.next_contact(now) else {
                return;
            };
            self.contacts[contact.0 as usize].state = ContactState::Previewing;
            self.agents
                .insert(agent.clone(), AgentState::Previewing(contact));
            self.offers
                .insert(agent.clone(), now + self.spec.preview_timeout);
            out.push(Action::Contact(contact));
            out.push(Action::Offer { agent, contact });
        }
    }

    /// Offers out for `preview_timeout` go back; their agents are away.
    pub(super) fn expire_previews(&mut self, now: Duration, out: &mut Vec<Action>) {
        let late: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(agent, _)| agent.clone())
            .collect();
        for agent in late {
            self.offers.remove(&agent);
            let Some(AgentState::Previewing(contact)) = self.agents.get(&agent).cloned() else {
                continue;
            };
            self.agents.insert(agent.clone(), AgentState::Away);
            self.unpreview(contact, out);
            out.push(Action::PreviewExpired { agent, contact });
        }
    }
}
