//! The agent event log (like Asterisk's queue_log): one row per agent or
//! queue step, derived from the core's events ([`Event`]) by a pure
//! function, so the log says exactly what the event stream said. Written
//! by the same durable writer as the call records.

use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::row::rfc3339_utc;
use crate::switch::{Event, EventKind};

/// One line of the agent event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEventRow {
    /// RFC 3339 UTC with milliseconds (text order is time order).
    pub at: String,
    pub unix_ms: u64,
    /// Milliseconds since that run of the switch started: orders events
    /// of one millisecond.
    pub at_ms: u64,
    /// `None` for queue events (enter, abandon, exit).
    pub agent: Option<String>,
    /// See [`EVENT_NAMES`].
    pub event: String,
    pub queue: Option<String>,
    /// The call's id (UUID v7).
    pub call: Option<String>,
    /// Pause reason, who hung up, exit reason, disposition code.
    pub reason: Option<String>,
    /// Position in line, disposition note.
    pub detail: Option<String>,
    /// Wait, talk or wrap-up time, by event.
    pub duration_ms: Option<u64>,
}

/// Every `event` the log writes.
pub const EVENT_NAMES: [&str; 14] = [
    "login",
    "logout",
    "pause",
    "resume",
    "ring_no_answer",
    "connect",
    "complete",
    "transfer",
    "wrapup_start",
    "wrapup_end",
    "disposition",
    "enter",
    "abandon",
    "exit",
];

impl AgentEventRow {
    fn new(event: &Event, name: &str) -> AgentEventRow {
        AgentEventRow {
            at: rfc3339_utc(UNIX_EPOCH + Duration::from_millis(event.unix_ms)),
            unix_ms: event.unix_ms,
            at_ms: event.at_ms,
            agent: None,
            event: name.to_owned(),
            queue: None,
            call: event.kind.call().map(|c| c.to_string()),
            reason: None,
            detail: None,
            duration_ms: None,
        }
    }
}

/// The log lines one event makes (none for most call steps).
pub fn agent_events(event: &Event) -> Vec<AgentEventRow> {
    let row = |name: &str| AgentEventRow::new(event, name);
    let one = match &event.kind {
        EventKind::AgentState {
            agent,
            state,
            previous,
            reason,
            ..
        } => return state_rows(event, agent, state, previous, reason.as_deref()),
        EventKind::CallQueued {
            queue, position, ..
        } => AgentEventRow {
            queue: Some(queue.clone()),
            detail: position.map(|p| format!("position={p}")),
            ..row("enter")
        },
        EventKind::CallAnswered {
            agent: Some(agent),
            queue,
            waited_ms,
            ..
        } => AgentEventRow {
            agent: Some(agent.clone()),
            queue: queue.clone(),
            duration_ms: Some(*waited_ms),
            ..row("connect")
        },
        EventKind::CallEnded {
            agent: Some(agent),
            queue,
            talk_ms,
            hung_up_by,
            outcome,
            ..
        } if *outcome == "completed" || *talk_ms > 0 => AgentEventRow {
            agent: Some(agent.clone()),
            queue: queue.clone(),
            reason: hung_up_by.map(str::to_owned),
            duration_ms: Some(*talk_ms),
            ..row("complete")
        },
        EventKind::CallAbandoned {
            queue: Some(queue),
            waited_ms,
            position,
            ..
        } => AgentEventRow {
            queue: Some(queue.clone()),
            detail: position.map(|p| format!("position={p}")),
            duration_ms: Some(*waited_ms),
            ..row("abandon")
        },
        EventKind::CallLeftQueue {
            queue,
            reason,
            waited_ms,
            ..
        } => AgentEventRow {
            queue: Some(queue.clone()),
            reason: Some((*reason).to_owned()),
            duration_ms: Some(*waited_ms),
            ..row("exit")
        },
        EventKind::CallOfferMissed { agent, queue, .. } => AgentEventRow {
            agent: Some(agent.clone()),
            queue: queue.clone(),
            ..row("ring_no_answer")
        },
        EventKind::CallTransferred { by, to, .. } => AgentEventRow {
            agent: by.clone(),
            detail: Some(to.clone()),
            ..row("transfer")
        },
        EventKind::CallEscalated { by, queue, .. } => AgentEventRow {
            agent: by.clone(),
            queue: Some(queue.clone()),
            ..row("escalate")
        },
        EventKind::CallTakenOver {
            supervisor, from, ..
        } => AgentEventRow {
            agent: Some(supervisor.clone()),
            detail: from.clone(),
            ..row("takeover")
        },
        EventKind::CallConsultStarted { by, to, .. } => AgentEventRow {
            agent: by.clone(),
            detail: Some(to.clone()),
            ..row("consult")
        },
        EventKind::CallConsultEnded { to, how, .. } => AgentEventRow {
            detail: Some(to.clone()),
            reason: Some((*how).to_owned()),
            ..row("consult_end")
        },
        EventKind::CallWrapUpEnded {
            agent,
            queue,
            wrap_up_ms,
            ..
        } => AgentEventRow {
            agent: Some(agent.clone()),
            queue: queue.clone(),
            duration_ms: Some(*wrap_up_ms),
            ..row("wrapup_end")
        },
        EventKind::CallDisposition {
            agent,
            queue,
            code,
            note,
            ..
        } => AgentEventRow {
            agent: Some(agent.clone()),
            queue: queue.clone(),
            reason: Some(code.clone()),
            detail: note.clone(),
            ..row("disposition")
        },
        _ => return Vec::new(),
    };
    vec![one]
}

/// Login, logout, pause, resume and wrap-up start from a state change.
fn state_rows(
    event: &Event,
    agent: &str,
    state: &str,
    previous: &str,
    reason: Option<&str>,
) -> Vec<AgentEventRow> {
    let row = |name: &str| AgentEventRow {
        agent: Some(agent.to_owned()),
        ..AgentEventRow::new(event, name)
    };
    let mut rows = Vec::new();
    if previous == "logged_out" && state != "logged_out" {
        rows.push(row("login"));
    }
    if previous == "paused" && state != "paused" {
        rows.push(row("resume"));
    }
    match state {
        "logged_out" if previous != "logged_out" => rows.push(row("logout")),
        "paused" => rows.push(AgentEventRow {
            reason: reason.map(str::to_owned),
            ..row("pause")
        }),
        "wrap_up" if previous != "wrap_up" => rows.push(row("wrapup_start")),
        _ => {}
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> Event {
        Event {
            at_ms: 5,
            unix_ms: 1_709_251_200_000,
            kind,
        }
    }

    #[test]
    fn pause_from_available_and_resume_to_available() {
        let paused = event(EventKind::AgentState {
            agent: "1001".into(),
            state: "paused",
            previous: "available",
            reason: Some("lunch".into()),
            call: None,
        });
        let rows = agent_events(&paused);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].event, "pause");
        assert_eq!(rows[0].reason.as_deref(), Some("lunch"));
        assert_eq!(rows[0].at, "2024-03-01T00:00:00.000Z");
        let resumed = event(EventKind::AgentState {
            agent: "1001".into(),
            state: "available",
            previous: "paused",
            reason: None,
            call: None,
        });
        let names: Vec<String> = agent_events(&resumed)
            .into_iter()
            .map(|r| r.event)
            .collect();
        assert_eq!(names, ["resume"]);
    }

    #[test]
    fn logging_in_paused_is_a_login_and_a_pause() {
        let e = event(EventKind::AgentState {
            agent: "1001".into(),
            state: "paused",
            previous: "logged_out",
            reason: Some("break".into()),
            call: None,
        });
        let names: Vec<String> = agent_events(&e).into_iter().map(|r| r.event).collect();
        assert_eq!(names, ["login", "pause"]);
    }

    #[test]
    fn ringing_and_talking_make_no_log_line() {
        let e = event(EventKind::AgentState {
            agent: "1001".into(),
            state: "ringing",
            previous: "available",
            reason: None,
            call: None,
        });
        assert!(agent_events(&e).is_empty());
    }
}
