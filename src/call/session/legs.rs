//! The chain of parties one customer call passed through, for its record:
//! each agent, colleague, supervisor or outside number that rang or
//! talked, in order, with how the leg came (an offer, a transfer, a
//! consultation, an escalation, a takeover), when it started, was
//! answered and ended, and how it ended. Pure state fed with [`LegEvent`]s
//! by the switch as the call goes; [`CallLegs::finish`] turns it into
//! offsets from the call's arrival, with each answered leg's place in the
//! call's recording. Wrap-up and disposition per agent come later, from
//! the agent event log, and are joined in by the store.

use std::time::{Duration, Instant};

/// Legs kept per call; later ones are counted, not kept (a call passes a
/// handful of parties; a ring-all offer to many agents could pass this).
pub const LEGS_PER_CALL_MAX: usize = 32;

/// Who the party is to the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegRole {
    Agent,
    /// Consulted by the agent (attended transfer).
    Colleague,
    /// Reached by escalation, or took the call over.
    Supervisor,
    /// A number out through a trunk.
    Outside,
}

/// How the leg came to the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegVia {
    /// The router or the dialplan offered the call (also a fallback back
    /// to the agent, and an agent's own call out).
    Offer,
    /// A blind transfer, or the phone's attended transfer (REFER with Replaces).
    Transfer,
    /// An API consultation (which may become the call's leg).
    Consult,
    Escalate,
    Takeover,
    /// Rung into the call's conference (API).
    Conference,
}

/// How the leg ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegOutcome {
    /// The party let the call go to someone else.
    Transferred,
    Escalated,
    TakenOver,
    /// The party hung up (or, for a consultation, hung up on the agent).
    HungUp,
    CallerHungUp,
    NoAnswer,
    Busy,
    Failed,
    /// It rang and stopped: another party answered, or the consultation
    /// was cancelled.
    Cancelled,
    /// The switch or an operator ended the call.
    Ended,
}

impl LegRole {
    pub fn label(self) -> &'static str {
        match self {
            LegRole::Agent => "agent",
            LegRole::Colleague => "colleague",
            LegRole::Supervisor => "supervisor",
            LegRole::Outside => "outside",
        }
    }
}

impl LegVia {
    pub fn label(self) -> &'static str {
        match self {
            LegVia::Offer => "offer",
            LegVia::Transfer => "transfer",
            LegVia::Consult => "consult",
            LegVia::Escalate => "escalate",
            LegVia::Takeover => "takeover",
            LegVia::Conference => "conference",
        }
    }
}

impl LegOutcome {
    pub fn label(self) -> &'static str {
        match self {
            LegOutcome::Transferred => "transferred",
            LegOutcome::Escalated => "escalated",
            LegOutcome::TakenOver => "taken_over",
            LegOutcome::HungUp => "hung_up",
            LegOutcome::CallerHungUp => "caller_hung_up",
            LegOutcome::NoAnswer => "no_answer",
            LegOutcome::Busy => "busy",
            LegOutcome::Failed => "failed",
            LegOutcome::Cancelled => "cancelled",
            LegOutcome::Ended => "ended",
        }
    }

    /// A ringing leg's final status: 486/600/603 busy, 408/480/487 no
    /// answer, anything else failed.
    pub fn of_status(status: u16) -> LegOutcome {
        match status {
            486 | 600 | 603 => LegOutcome::Busy,
            408 | 480 | 487 => LegOutcome::NoAnswer,
            _ => LegOutcome::Failed,
        }
    }
}

/// What happened to the call's parties, as the switch saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegEvent {
    /// A callee leg went out to these parties: (party, forks, is an
    /// agent). Parties still ringing from before stop (cancelled).
    Offered {
        parties: Vec<(String, usize, bool)>,
    },
    /// One fork of `party` failed with `status`; its last makes the leg end.
    ForkFailed {
        party: String,
        status: u16,
    },
    /// `party` answered; others ringing stop (cancelled).
    Answered {
        party: String,
    },
    /// The callee leg went unanswered (router withdrew it, ring timeout,
    /// transfer target failed): what still rings ends so.
    Unanswered {
        status: Option<u16>,
    },
    /// The talking party blind-transferred the call: the next offer comes by transfer.
    Transferred,
    /// The talking party escalated: the next offer is to a supervisor.
    Escalated,
    /// The supervisor listening in took the call over.
    TakenOver {
        supervisor: String,
    },
    /// The agent consults `party` (an agent when `agent`, else a number).
    ConsultStarted {
        party: String,
        agent: bool,
    },
    ConsultAnswered,
    /// The consultation ended without a transfer.
    ConsultEnded {
        outcome: LegOutcome,
    },
    /// The consultation was completed: its party takes over the call.
    ConsultJoined,
    /// The phone's attended transfer: `party` (answered in the phone's
    /// own consultation call) takes over the call.
    Joined {
        party: String,
    },
    /// Conference party `id` rings: `party` (an agent when `agent`, else a number).
    PartyRang {
        id: u8,
        party: String,
        agent: bool,
    },
    PartyJoined {
        id: u8,
    },
    /// Conference party `id` left (hung up, dropped, failed) while the call goes on.
    PartyLeft {
        id: u8,
        outcome: LegOutcome,
    },
    /// The agent hung up on the conference; party `id` (an agent in it)
    /// takes the call's agent leg.
    AgentLeftTo {
        id: u8,
    },
    /// The call's recording started.
    RecordingStarted,
    /// The call ended: what the talking legs and the ringing ones end with.
    Ended {
        talking: LegOutcome,
        ringing: LegOutcome,
    },
}

/// One leg while the call runs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Leg {
    party: String,
    role: LegRole,
    via: LegVia,
    started: Instant,
    answered: Option<Instant>,
    ended: Option<(Instant, LegOutcome)>,
    /// Forks still ringing, and the last failure's status.
    forks_live: usize,
    last_status: Option<u16>,
}

/// A leg as its record stores it: offsets from the call's arrival.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegRecord {
    pub party: String,
    pub role: LegRole,
    pub via: LegVia,
    pub started: Duration,
    pub answered: Option<Duration>,
    pub ended: Duration,
    pub outcome: LegOutcome,
    /// Where the leg's talk sits in the call's recording: its offset from
    /// the recording's start, and its length (answered legs of a recorded
    /// call only).
    pub recording: Option<(Duration, Duration)>,
}

/// The call's legs so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallLegs {
    legs: Vec<Leg>,
    /// How the next offered leg comes, and as whom.
    next_via: Option<(LegVia, LegRole)>,
    /// The consultation's leg, while one runs.
    consult: Option<usize>,
    /// Conference parties' legs (party id, leg), while in the conference:
    /// they ring and end on their own, not with the agent's leg.
    parties: Vec<(u8, usize)>,
    recording_since: Option<Instant>,
    /// Legs not kept for [`LEGS_PER_CALL_MAX`].
    pub dropped: u32,
}

impl CallLegs {
    /// The transition function: one event at `now`.
    pub fn handle(&mut self, now: Instant, event: LegEvent) {
        match event {
            LegEvent::Offered { parties } => {
                self.stop_ringing(now, LegOutcome::Cancelled);
                let (via, role) = self
                    .next_via
                    .take()
                    .unwrap_or((LegVia::Offer, LegRole::Agent));
                for (party, forks, agent) in parties {
                    let role = if agent { role } else { LegRole::Outside };
                    self.push(now, party, role, via, forks);
                }
            }
            LegEvent::ForkFailed { party, status } => {
                let consult = self.consult;
                let Some((i, leg)) = self.ringing_mut(&party, consult) else {
                    return;
                };
                leg.last_status = Some(status);
                leg.forks_live = leg.forks_live.saturating_sub(1);
                if leg.forks_live == 0 {
                    leg.ended = Some((now, LegOutcome::of_status(status)));
                    if consult == Some(i) {
                        self.consult = None;
                    }
                }
            }
            LegEvent::Answered { party } => {
                let consult = self.consult;
                if let Some((_, leg)) = self.ringing_mut(&party, consult) {
                    leg.answered = Some(now);
                }
                self.stop_ringing(now, LegOutcome::Cancelled);
            }
            LegEvent::Unanswered { status } => {
                let outcome = status.map_or(LegOutcome::NoAnswer, LegOutcome::of_status);
                self.stop_ringing(now, outcome);
            }
            LegEvent::Transferred => {
                self.end_talking(now, LegOutcome::Transferred);
                self.next_via = Some((LegVia::Transfer, LegRole::Agent));
            }
            LegEvent::Escalated => {
                self.end_talking(now, LegOutcome::Escalated);
                self.next_via = Some((LegVia::Escalate, LegRole::Supervisor));
            }
            LegEvent::TakenOver { supervisor } => {
                self.end_talking(now, LegOutcome::TakenOver);
                self.push(now, supervisor, LegRole::Supervisor, LegVia::Takeover, 0);
                self.answer_last(now);
            }
            LegEvent::ConsultStarted { party, agent } => {
                let role = if agent {
                    LegRole::Colleague
                } else {
                    LegRole::Outside
                };
                self.consult = self.push(now, party, role, LegVia::Consult, 1);
            }
            LegEvent::ConsultAnswered => {
                if let Some(leg) = self.consult.and_then(|i| self.legs.get_mut(i)) {
                    leg.answered.get_or_insert(now);
                }
            }
            LegEvent::ConsultEnded { outcome } => {
                if let Some(leg) = self.consult.take().and_then(|i| self.legs.get_mut(i)) {
                    if leg.ended.is_none() {
                        leg.ended = Some((now, outcome));
                    }
                }
            }
            LegEvent::ConsultJoined => {
                let consult = self.consult.take();
                self.end_talking_but(now, LegOutcome::Transferred, consult);
            }
            LegEvent::Joined { party } => {
                self.end_talking(now, LegOutcome::Transferred);
                self.push(now, party, LegRole::Colleague, LegVia::Transfer, 0);
                self.answer_last(now);
            }
            e @ (LegEvent::PartyRang { .. }
            | LegEvent::PartyJoined { .. }
            | LegEvent::PartyLeft { .. }
            | LegEvent::AgentLeftTo { .. }) => self.handle_party(now, e),
            LegEvent::RecordingStarted => {
                self.recording_since.get_or_insert(now);
            }
            LegEvent::Ended { talking, ringing } => self.end(now, talking, ringing),
        }
    }

    /// The conference's events: its parties' legs.
    fn handle_party(&mut self, now: Instant, event: LegEvent) {
        match event {
            LegEvent::PartyRang { id, party, agent } => {
                let role = if agent {
                    LegRole::Colleague
                } else {
                    LegRole::Outside
                };
                if let Some(i) = self.push(now, party, role, LegVia::Conference, 1) {
                    self.parties.push((id, i));
                }
            }
            LegEvent::PartyJoined { id } => {
                if let Some(leg) = self.party_leg(id).and_then(|i| self.legs.get_mut(i)) {
                    leg.answered.get_or_insert(now);
                }
            }
            LegEvent::PartyLeft { id, outcome } => {
                if let Some(leg) = self.party_leg(id).and_then(|i| self.legs.get_mut(i)) {
                    leg.ended.get_or_insert((now, outcome));
                }
                self.parties.retain(|&(p, _)| p != id);
            }
            LegEvent::AgentLeftTo { id } => {
                self.end_talking(now, LegOutcome::HungUp);
                // Its leg is the call's talking one from now on.
                self.parties.retain(|&(p, _)| p != id);
            }
            _ => {}
        }
    }

    /// The legs, in order, as offsets from `created`; a leg still open
    /// ends at `ended`.
    pub fn finish(&self, created: Instant, ended: Instant) -> Vec<LegRecord> {
        let since = |t: Instant| t.saturating_duration_since(created);
        self.legs
            .iter()
            .map(|leg| {
                let (end_at, outcome) = leg.ended.unwrap_or((ended, LegOutcome::Ended));
                let recording = match (self.recording_since, leg.answered) {
                    (Some(rec), Some(answered)) => {
                        let from = answered.max(rec);
                        Some((
                            from.saturating_duration_since(rec),
                            end_at.saturating_duration_since(from),
                        ))
                    }
                    _ => None,
                };
                LegRecord {
                    party: leg.party.clone(),
                    role: leg.role,
                    via: leg.via,
                    started: since(leg.started),
                    answered: leg.answered.map(since),
                    ended: since(end_at),
                    outcome,
                    recording,
                }
            })
            .collect()
    }

    /// How many legs the call has had.
    pub fn len(&self) -> usize {
        self.legs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }

    fn push(
        &mut self,
        now: Instant,
        party: String,
        role: LegRole,
        via: LegVia,
        forks: usize,
    ) -> Option<usize> {
        if self.legs.len() >= LEGS_PER_CALL_MAX {
            self.dropped = self.dropped.saturating_add(1);
            return None;
        }
        self.legs.push(Leg {
            party,
            role,
            via,
            started: now,
            answered: None,
            ended: None,
            forks_live: forks,
            last_status: None,
        });
        Some(self.legs.len() - 1)
    }

    fn party_leg(&self, id: u8) -> Option<usize> {
        self.parties
            .iter()
            .find(|&&(p, _)| p == id)
            .map(|&(_, i)| i)
    }

    /// A leg that ends on its own: the consultation's or a conference party's.
    fn apart(&self, i: usize) -> bool {
        self.consult == Some(i) || self.parties.iter().any(|&(_, l)| l == i)
    }

    fn answer_last(&mut self, now: Instant) {
        if let Some(leg) = self.legs.last_mut() {
            leg.answered = Some(now);
        }
    }

    /// The leg of `party` still ringing: the consultation's when it is
    /// `party`'s, else the latest other.
    fn ringing_mut(&mut self, party: &str, consult: Option<usize>) -> Option<(usize, &mut Leg)> {
        let ringing = |l: &Leg| l.party == party && l.answered.is_none() && l.ended.is_none();
        let i = match consult.filter(|&i| self.legs.get(i).is_some_and(ringing)) {
            Some(i) => i,
            None => (0..self.legs.len())
                .rev()
                .find(|&i| Some(i) != consult && ringing(&self.legs[i]))?,
        };
        Some((i, &mut self.legs[i]))
    }

    /// Every unanswered open leg but the consultation's and the
    /// conference parties' ends so.
    fn stop_ringing(&mut self, now: Instant, outcome: LegOutcome) {
        let apart: Vec<bool> = (0..self.legs.len()).map(|i| self.apart(i)).collect();
        for (i, leg) in self.legs.iter_mut().enumerate() {
            if !apart[i] && leg.answered.is_none() && leg.ended.is_none() {
                let outcome = match (outcome, leg.last_status) {
                    (LegOutcome::NoAnswer, Some(s)) => LegOutcome::of_status(s),
                    _ => outcome,
                };
                leg.ended = Some((now, outcome));
            }
        }
    }

    /// The talking leg (answered, open, not the consultation's) ends so.
    fn end_talking(&mut self, now: Instant, outcome: LegOutcome) {
        let consult = self.consult;
        self.end_talking_but(now, outcome, consult);
    }

    /// As [`Self::end_talking`], sparing `keep` and the conference parties.
    fn end_talking_but(&mut self, now: Instant, outcome: LegOutcome, keep: Option<usize>) {
        let party: Vec<bool> = (0..self.legs.len())
            .map(|i| self.parties.iter().any(|&(_, l)| l == i))
            .collect();
        for (i, leg) in self.legs.iter_mut().enumerate() {
            if Some(i) != keep && !party[i] && leg.answered.is_some() && leg.ended.is_none() {
                leg.ended = Some((now, outcome));
            }
        }
    }

    fn end(&mut self, now: Instant, talking: LegOutcome, ringing: LegOutcome) {
        let caller = talking == LegOutcome::CallerHungUp;
        let consult = self.consult.take();
        self.parties.clear();
        for (i, leg) in self.legs.iter_mut().enumerate() {
            if leg.ended.is_some() {
                continue;
            }
            let outcome = match (leg.answered, Some(i) == consult) {
                (_, true) if caller => LegOutcome::CallerHungUp,
                (_, true) => LegOutcome::Ended,
                (Some(_), false) => talking,
                (None, false) => ringing,
            };
            leg.ended = Some((now, outcome));
        }
    }
}

#[cfg(test)]
#[path = "legs_tests.rs"]
mod tests;
