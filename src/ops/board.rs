//! What the API shows about agents beyond the core's snapshot, learnt from
//! the event stream alone: when each agent's state last changed and how
//! many calls they answered today (UTC). The core keeps no such history;
//! ops derives it from the events, as the wallboard will.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::switch::{Event, EventKind};

/// Milliseconds in a UTC day.
const DAY_MS: u64 = 86_400_000;

/// One agent's derived figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentFacts {
    /// Wall-clock ms of the last state change seen.
    pub state_since_unix_ms: Option<u64>,
    /// UTC day (ms since the epoch / [`DAY_MS`]) `calls_answered` counts.
    day: u64,
    calls_answered: u64,
}

impl AgentFacts {
    /// Calls answered on the UTC day of `now_unix_ms`.
    pub fn calls_today(&self, now_unix_ms: u64) -> u64 {
        if self.day == now_unix_ms / DAY_MS {
            self.calls_answered
        } else {
            0
        }
    }
}

/// Facts per agent id; one entry per agent of the dialplan at most, since
/// events name only those.
#[derive(Debug, Default)]
pub struct AgentBoard {
    agents: Mutex<HashMap<String, AgentFacts>>,
}

impl AgentBoard {
    pub fn observe(&self, event: &Event) {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        match &event.kind {
            EventKind::AgentState { agent, .. } => {
                let facts = agents.entry(agent.clone()).or_default();
                facts.state_since_unix_ms = Some(event.unix_ms);
            }
            EventKind::CallAnswered {
                agent: Some(agent), ..
            } => {
                let facts = agents.entry(agent.clone()).or_default();
                let day = event.unix_ms / DAY_MS;
                if facts.day != day {
                    facts.day = day;
                    facts.calls_answered = 0;
                }
                facts.calls_answered += 1;
            }
            _ => {}
        }
    }

    pub fn facts(&self, agent: &str) -> AgentFacts {
        let agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents.get(agent).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::CallUuid;

    fn at(unix_ms: u64, kind: EventKind) -> Event {
        Event {
            at_ms: unix_ms,
            unix_ms,
            kind,
        }
    }

    fn answered(agent: &str) -> EventKind {
        EventKind::CallAnswered {
            call: "019aee1c-5f3b-7a41-9c2e-5b1f0d6e7a88"
                .parse::<CallUuid>()
                .expect("uuid"),
            agent: Some(agent.into()),
            queue: None,
            waited_ms: 0,
        }
    }

    #[test]
    fn state_changes_and_answered_calls_are_counted_per_utc_day() {
        let board = AgentBoard::default();
        let paused = EventKind::AgentState {
            agent: "1001".into(),
            state: "paused",
            previous: "available",
            reason: None,
            call: None,
        };
        board.observe(&at(DAY_MS * 3 + 10, paused));
        board.observe(&at(DAY_MS * 3 + 20, answered("1001")));
        board.observe(&at(DAY_MS * 3 + 30, answered("1001")));
        let facts = board.facts("1001");
        assert_eq!(facts.state_since_unix_ms, Some(DAY_MS * 3 + 10));
        assert_eq!(facts.calls_today(DAY_MS * 3 + 99), 2);
        assert_eq!(facts.calls_today(DAY_MS * 4), 0, "a new day starts at zero");
        board.observe(&at(DAY_MS * 4 + 1, answered("1001")));
        assert_eq!(board.facts("1001").calls_today(DAY_MS * 4 + 2), 1);
        assert_eq!(board.facts("1002"), AgentFacts::default());
    }
}
