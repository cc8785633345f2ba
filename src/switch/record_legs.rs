//! Feeds a call's leg chain ([`CallLegs`](crate::call::session::CallLegs),
//! in its record detail) from what the switch does: callee legs going
//! out, forks failing or answering, session events (consultation,
//! recording). Transfers, escalation and takeover feed it where they
//! happen. Only bookkeeping: nothing here changes the call.

use std::time::Instant;

use super::Switch;
use crate::call::session::{LegEvent, LegOutcome, SessionEvent};
use crate::call::{Action, CallRef, Input, Outcome};

impl Switch {
    /// One step of the call's leg chain.
    pub(super) fn leg_event(&mut self, now: Instant, id: CallRef, event: LegEvent) {
        if let Some(entry) = self.calls.get_mut(&id) {
            entry.detail.legs.handle(now, event);
        }
    }

    /// The callee leg just went out: one leg per party its forks reach
    /// (an agent, or the number a trunk dials).
    pub(super) fn legs_offered(&mut self, now: Instant, id: CallRef) {
        let Some(b) = self.calls.get(&id).and_then(|e| e.b.as_ref()) else {
            return;
        };
        let mut parties: Vec<(String, usize, bool)> = Vec::new();
        for f in &b.forks {
            let party = f.agent.clone().unwrap_or_else(|| b.to_user());
            match parties.iter_mut().find(|p| p.0 == party) {
                Some(p) => p.1 += 1,
                None => parties.push((party, 1, f.agent.is_some())),
            }
        }
        self.leg_event(now, id, LegEvent::Offered { parties });
    }

    /// The party a fork of the callee leg reaches.
    pub(super) fn fork_party(&self, id: CallRef, fork: usize) -> Option<String> {
        let b = self.calls.get(&id)?.b.as_ref()?;
        let f = b.forks.get(fork)?;
        Some(f.agent.clone().unwrap_or_else(|| b.to_user()))
    }

    /// Call machine inputs that are steps of the chain.
    pub(super) fn legs_on_input(&mut self, now: Instant, id: CallRef, input: &Input) {
        if let Input::BFailed { fork, status } = *input {
            self.leg_fork_failed(now, id, fork, status);
        }
    }

    /// Call machine actions that are steps of the chain: an answer (of
    /// the first callee, a transfer's target, a placed call's agent), a
    /// callee leg given up.
    pub(super) fn legs_on_action(&mut self, now: Instant, id: CallRef, action: &Action) {
        match *action {
            Action::OkToA { fork }
            | Action::Reconnect { fork }
            | Action::AgentAnswered { fork } => {
                self.leg_answered(now, id, fork);
            }
            Action::Requeue { status } | Action::TransferFailed { status } => {
                let status = Some(status);
                self.leg_event(now, id, LegEvent::Unanswered { status });
            }
            _ => {}
        }
    }

    /// A fork answered: its party's leg talks.
    fn leg_answered(&mut self, now: Instant, id: CallRef, fork: usize) {
        if let Some(party) = self.fork_party(id, fork) {
            self.leg_event(now, id, LegEvent::Answered { party });
        }
    }

    /// A fork failed with a final status.
    fn leg_fork_failed(&mut self, now: Instant, id: CallRef, fork: usize, status: u16) {
        if let Some(party) = self.fork_party(id, fork) {
            self.leg_event(now, id, LegEvent::ForkFailed { party, status });
        }
    }

    /// Session events that are steps of the chain too.
    pub(super) fn legs_on_session(&mut self, now: Instant, id: CallRef, event: &SessionEvent) {
        let leg = match event {
            SessionEvent::ConsultStarted(c) => LegEvent::ConsultStarted {
                party: c.agent().unwrap_or(&c.target).to_string(),
                agent: c.agent().is_some(),
            },
            SessionEvent::ConsultAnswered => LegEvent::ConsultAnswered,
            SessionEvent::RecordingStarted { .. } => LegEvent::RecordingStarted,
            _ => return,
        };
        self.leg_event(now, id, leg);
    }
}

/// How a consultation's end (`cancelled`, `failed`, `hung_up`) reads in its leg.
pub(super) fn consult_outcome(how: &str) -> LegOutcome {
    match how {
        "hung_up" => LegOutcome::HungUp,
        "failed" => LegOutcome::Failed,
        _ => LegOutcome::Cancelled,
    }
}

/// The call is over: what its open legs end with.
pub(super) fn ended_event(outcome: Outcome) -> LegEvent {
    let ringing = match outcome {
        Outcome::Abandoned => LegOutcome::CallerHungUp,
        Outcome::NoAnswer | Outcome::AgentNoAnswer => LegOutcome::NoAnswer,
        Outcome::Busy => LegOutcome::Busy,
        Outcome::Rejected(s) | Outcome::AgentRejected(s) => LegOutcome::of_status(s),
        Outcome::Unavailable => LegOutcome::Failed,
        _ => LegOutcome::Ended,
    };
    let talking = match crate::call::session::detail::hung_up_by(outcome) {
        Some("caller") => LegOutcome::CallerHungUp,
        Some("agent") => LegOutcome::HungUp,
        _ => LegOutcome::Ended,
    };
    LegEvent::Ended { talking, ringing }
}
