//! An answered customer: given to an agent, whose phone rings; a connect
//! only once the agent answers. An agent who misses it leaves the customer
//! waiting again for another agent within `connect_within`, else the
//! customer hears the information message and the call counts as
//! abandoned (the regulators' 2 s rule).

use std::cmp::Reverse;
use std::time::Duration;

use super::{Action, AgentState, CallState, Campaign, DialId};
use crate::dialer::contact::{ContactId, ContactState, Outcome};

impl Campaign {
    pub(super) fn answered(&mut self, now: Duration, dial: DialId, out: &mut Vec<Action>) {
        let Some(call) = self.calls.get_mut(&dial) else {
            return;
        };
        let CallState::Ringing { agent } = &call.state else {
            return;
        };
        let reserved = agent.clone();
        let contact = call.contact;
        self.measured.answer_rate.add(1.0);
        let ringing = now.saturating_sub(call.placed).as_secs_f64();
        self.measured.time_to_answer.add(ringing);
        self.measured.answer_times.add(ringing);
        self.counters.answers += 1;
        call.state = CallState::Waiting {
            deadline: now + self.spec.connect_within,
        };
        self.contacts[contact.0 as usize].state = ContactState::Answered;
        out.push(Action::Contact(contact));
        let agent = reserved
            .filter(|a| self.agents.get(a) == Some(&AgentState::Reserved(dial)))
            .or_else(|| self.longest_ready(dial));
        if let Some(agent) = agent {
            self.connect(now, dial, agent, out);
        }
    }

    /// The ready agent who waited longest and has not missed `dial`.
    pub(super) fn longest_ready(&self, dial: DialId) -> Option<String> {
        let missed = self.calls.get(&dial).map(|c| &c.missed);
        self.agents
            .iter()
            .filter(|(a, _)| !missed.is_some_and(|m| m.contains(a)))
            .filter_map(|(a, s)| match s {
                AgentState::Ready { since } => Some((*since, a)),
                _ => None,
            })
            .min()
            .map(|(_, a)| a.clone())
    }

    /// Gives the waiting call to `agent`: their phone rings. Not a connect
    /// until they answer ([`Self::agent_answered`]).
    pub(super) fn connect(
        &mut self,
        now: Duration,
        dial: DialId,
        agent: String,
        out: &mut Vec<Action>,
    ) {
        let Some(call) = self.calls.get_mut(&dial) else {
            return;
        };
        call.state = CallState::Offered {
            agent: agent.clone(),
        };
        self.agents
            .insert(agent.clone(), AgentState::Talking { dial, since: now });
        out.push(Action::Connect { dial, agent });
    }

    /// The agent answered: customer and agent talk, a connect.
    pub(super) fn agent_answered(&mut self, now: Duration, dial: DialId) {
        let Some(call) = self.calls.get_mut(&dial) else {
            return;
        };
        let CallState::Offered { agent } = &call.state else {
            return;
        };
        let agent = agent.clone();
        call.state = CallState::Connected;
        self.counters.connects += 1;
        self.measured.abandons.answered(now, false);
        self.measured.steer(false, self.spec.max_abandon);
        self.agents
            .insert(agent, AgentState::Talking { dial, since: now });
    }

    /// The agent did not answer (or refused): they are away until the
    /// driver says they are ready again, and the customer waits for
    /// another agent, never the same one, within `connect_within`.
    pub(super) fn agent_missed(&mut self, now: Duration, dial: DialId, out: &mut Vec<Action>) {
        let Some(call) = self.calls.get_mut(&dial) else {
            return;
        };
        let CallState::Offered { agent } = &call.state else {
            return;
        };
        let agent = agent.clone();
        call.missed.push(agent.clone());
        call.state = CallState::Waiting {
            deadline: now + self.spec.connect_within,
        };
        self.counters.agent_misses += 1;
        if matches!(self.agents.get(&agent), Some(AgentState::Talking { dial: d, .. }) if *d == dial)
        {
            self.agents.insert(agent, AgentState::Away);
        }
        if let Some(other) = self.longest_ready(dial) {
            self.connect(now, dial, other, out);
        }
    }

    pub(super) fn hangup(&mut self, now: Duration, dial: DialId, out: &mut Vec<Action>) {
        let Some(call) = self.calls.remove(&dial) else {
            return;
        };
        match call.state {
            CallState::Ringing { .. } => {
                self.calls.insert(dial, call);
                self.dial_ended(now, dial, Outcome::NoAnswer, out)
            }
            // The customer gave up before an agent came: abandoned.
            CallState::Waiting { .. } => self.abandon(now, dial, call.contact, out),
            CallState::Offered { agent } => {
                if matches!(self.agents.get(&agent), Some(AgentState::Talking { dial: d, .. }) if *d == dial)
                {
                    self.agents.insert(agent, AgentState::Away);
                }
                self.abandon(now, dial, call.contact, out)
            }
            CallState::Connected => {
                let talking = self.agents.iter().find_map(|(a, s)| match s {
                    AgentState::Talking { dial: d, since } if *d == dial => {
                        Some((a.clone(), *since))
                    }
                    _ => None,
                });
                if let Some((agent, since)) = talking {
                    let talk = now.saturating_sub(since).as_secs_f64();
                    self.measured.talk.add(talk);
                    self.measured.talk_times.add(talk);
                    self.agents.insert(agent, AgentState::WrapUp { since: now });
                }
                let c = &mut self.contacts[call.contact.0 as usize];
                if c.state == ContactState::Answered {
                    c.state = ContactState::Done;
                    c.next_try = None;
                    out.push(Action::Contact(call.contact));
                }
            }
        }
    }

    pub(super) fn abandon(
        &mut self,
        now: Duration,
        dial: DialId,
        contact: ContactId,
        out: &mut Vec<Action>,
    ) {
        self.counters.abandons += 1;
        self.measured.abandons.answered(now, true);
        self.measured.steer(true, self.spec.max_abandon);
        let c = &mut self.contacts[contact.0 as usize];
        c.abandoned(now, self.spec.max_attempts);
        if let Some(t) = c.next_try.filter(|_| c.is_pending()) {
            self.later.push(Reverse((t, contact)));
        }
        out.push(Action::Abandon { dial, contact });
        out.push(Action::Contact(contact));
    }

    pub(super) fn expire_waiting(&mut self, now: Duration, out: &mut Vec<Action>) {
        let late: Vec<(DialId, ContactId)> = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.state, CallState::Waiting { deadline } if deadline <= now))
            .map(|(d, c)| (*d, c.contact))
            .collect();
        for (dial, contact) in late {
            self.calls.remove(&dial);
            self.abandon(now, dial, contact, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialer::{Contact, Dnc, Event, Mode, Spec, Zone};

    /// 2026-12-07 10:00 UTC.
    const T0: Duration = Duration::from_secs(1_796_637_600);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A progressive campaign of one contact, dialled for agent `a`, whose
    /// customer answered at 10 s: agent `a` rings.
    fn answered_for_a() -> (Campaign, Dnc, DialId) {
        let list = vec![Contact::new("+15550300".into(), "c".into(), Zone::UTC)];
        let spec = Spec {
            mode: Mode::Progressive,
            ..Spec::default()
        };
        let mut c = Campaign::new(spec, list, T0);
        let mut dnc = Dnc::default();
        c.handle(T0, Event::Start, &mut dnc);
        c.handle(T0, Event::AgentReady("a".into()), &mut dnc);
        let out = c.handle(T0 + secs(10), Event::Answered(DialId(1)), &mut dnc);
        let connect = Action::Connect {
            dial: DialId(1),
            agent: "a".into(),
        };
        assert!(out.contains(&connect), "{out:?}");
        (c, dnc, DialId(1))
    }

    #[test]
    fn a_connect_counts_only_when_the_agent_answers() {
        let (mut c, mut dnc, dial) = answered_for_a();
        assert_eq!((c.counters.answers, c.counters.connects), (1, 0));
        c.handle(T0 + secs(12), Event::AgentAnswered(dial), &mut dnc);
        assert_eq!((c.counters.connects, c.counters.abandons), (1, 0));
        c.handle(T0 + secs(60), Event::Hangup(dial), &mut dnc);
        assert_eq!(c.contacts()[0].state, ContactState::Done);
    }

    #[test]
    fn a_missed_call_goes_to_another_ready_agent_not_back_to_the_one_who_missed() {
        let (mut c, mut dnc, dial) = answered_for_a();
        c.handle(T0 + secs(11), Event::AgentReady("b".into()), &mut dnc);
        let out = c.handle(T0 + secs(18), Event::AgentMissed(dial), &mut dnc);
        let to_b = Action::Connect {
            dial,
            agent: "b".into(),
        };
        assert!(out.contains(&to_b), "{out:?}");
        assert_eq!((c.counters.connects, c.counters.agent_misses), (0, 1));
        c.handle(T0 + secs(19), Event::AgentAnswered(dial), &mut dnc);
        assert_eq!((c.counters.connects, c.counters.abandons), (1, 0));
    }

    #[test]
    fn a_missed_call_with_no_other_agent_in_two_seconds_is_abandoned() {
        let (mut c, mut dnc, dial) = answered_for_a();
        let out = c.handle(T0 + secs(18), Event::AgentMissed(dial), &mut dnc);
        assert!(!out.iter().any(|a| matches!(a, Action::Connect { .. })));
        // The agent who missed it is ready again: not given it again.
        let out = c.handle(T0 + secs(19), Event::AgentReady("a".into()), &mut dnc);
        assert!(!out.iter().any(|a| matches!(a, Action::Connect { .. })));
        assert_eq!(c.poll_timeout(), Some(T0 + secs(20)));
        let out = c.handle(T0 + secs(20), Event::Tick, &mut dnc);
        let abandon = Action::Abandon {
            dial,
            contact: ContactId(0),
        };
        assert!(out.contains(&abandon), "{out:?}");
        assert_eq!((c.counters.connects, c.counters.abandons), (0, 1));
        assert_eq!(c.contacts()[0].state, ContactState::Abandoned);
    }
}
