//! Events out: every agent state change and every step of a call, as the
//! core decides them, for the public event stream, the agent event log and
//! the wallboard (`docs/events.md` is the schema). Plain data, serialised
//! as JSON with a `type` tag; the driver forwards them and never waits.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::Switch;
use crate::call::CallUuid;

/// One thing that happened, when, and to whom.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the switch started (monotonic: orders events).
    pub at_ms: u64,
    /// Wall-clock milliseconds since the Unix epoch.
    pub unix_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// An agent's state changed. `reason` says why they are paused.
    AgentState {
        agent: String,
        /// One of [`AGENT_STATE_LABELS`](super::AGENT_STATE_LABELS).
        state: &'static str,
        previous: &'static str,
        reason: Option<String>,
        /// The call they are offered or on.
        call: Option<CallUuid>,
    },
    /// A call came in: from a trunk, or from an agent's phone.
    CallArrived {
        call: CallUuid,
        /// The caller leg's Call-ID, to find the call in a carrier's trace.
        sip_call_id: String,
        dialled: String,
        trunk: Option<String>,
        from_agent: Option<String>,
        /// The caller's number or user (P-Asserted-Identity from a trusted
        /// trunk, else From) and display name.
        caller: String,
        caller_name: Option<String>,
        /// `inbound`, `outbound` or `internal`.
        direction: &'static str,
    },
    /// The switch placed a call (originate, or a queued callback): it
    /// rings `agent`, then dials `number` through `trunk`. `direction` is
    /// `outbound`, or `callback` for a queue's callback.
    CallOriginated {
        call: CallUuid,
        agent: String,
        number: String,
        trunk: String,
        direction: &'static str,
    },
    /// A queued callback was asked for: by the waiting caller `call`
    /// pressing the key, or by a `callback` disposition of `call`. `due_ms`:
    /// when it joins the queue (Unix ms), `None` when it keeps the caller's
    /// place now. The number is not in the event.
    CallbackRequested {
        call: CallUuid,
        callback: u64,
        queue: String,
        due_ms: Option<u64>,
    },
    /// A queued callback is over: `completed` (the customer answered an
    /// agent) or given up, after `attempts` tries.
    CallbackDone {
        callback: u64,
        completed: bool,
        attempts: u32,
    },
    /// A placed call's agent answered: the number is being dialled.
    CallDialling {
        call: CallUuid,
        agent: String,
        trunk: String,
    },
    /// The call entered a queue (on arrival, from a menu, or by
    /// overflow). `position` is its place in line, `None` when an agent
    /// was offered it at once.
    CallQueued {
        call: CallUuid,
        queue: String,
        position: Option<usize>,
    },
    /// The call rings these agents (several for ring-all).
    CallOffered {
        call: CallUuid,
        agents: Vec<String>,
    },
    /// The callee answered; `waited_ms` from the entry into its queue (a
    /// queue call) or from arrival.
    CallAnswered {
        call: CallUuid,
        agent: Option<String>,
        queue: Option<String>,
        waited_ms: u64,
    },
    /// One party put the call on hold (`by`: `caller` or `agent`).
    CallHeld {
        call: CallUuid,
        by: &'static str,
    },
    CallResumed {
        call: CallUuid,
    },
    /// A blind transfer (REFER or the API): `by` the agent who let the
    /// call go, `to` the target (agent, queue or number).
    CallTransferred {
        call: CallUuid,
        by: Option<String>,
        to: String,
    },
    /// The call was escalated (`*53` or the API): `by` the agent who let
    /// it go, into `queue`.
    CallEscalated {
        call: CallUuid,
        by: Option<String>,
        queue: String,
    },
    /// The supervisor listening in took the call over from `from`.
    CallTakenOver {
        call: CallUuid,
        supervisor: String,
        from: Option<String>,
    },
    /// The agent consults `to` (API): the caller is held, `to` rings.
    CallConsultStarted {
        call: CallUuid,
        by: Option<String>,
        to: String,
    },
    /// The consultation with `to` ended without a transfer: `how` is
    /// `cancelled`, `failed` (refused, unanswered) or `hung_up` (by `to`).
    /// A completed one is a `call_transferred`.
    CallConsultEnded {
        call: CallUuid,
        to: String,
        how: &'static str,
    },
    /// A party answered and joins the call's conference: `party` is its
    /// number in the call, `who` the agent or number, `role` `agent` or
    /// `external`.
    PartyJoined {
        call: CallUuid,
        party: u8,
        who: String,
        role: &'static str,
    },
    /// A party left the conference: `how` is `hung_up` (its BYE),
    /// `dropped` (the API), `failed` (refused or never answered) or
    /// `call_ended`.
    PartyLeft {
        call: CallUuid,
        party: u8,
        who: String,
        how: &'static str,
    },
    /// The caller gave up before an answer; `position` is its place in
    /// line then (`None` when it was ringing an agent or not queued),
    /// `waited_ms` its wait in its last queue (or since arrival).
    CallAbandoned {
        call: CallUuid,
        queue: Option<String>,
        waited_ms: u64,
        position: Option<usize>,
    },
    /// The call is over; `outcome` as in its record.
    CallEnded {
        call: CallUuid,
        outcome: &'static str,
        agent: Option<String>,
        queue: Option<String>,
        talk_ms: u64,
        /// `caller`, `agent`, `switch` or `operator`.
        hung_up_by: Option<&'static str>,
        hold_ms: u64,
    },
    /// The call left `queue` unanswered by the switch's decision:
    /// `overflow` (to another queue) or `timeout` (sent busy), after
    /// `waited_ms` in it.
    CallLeftQueue {
        call: CallUuid,
        queue: String,
        reason: &'static str,
        waited_ms: u64,
    },
    /// An agent rang for a queue call and did not take it (no answer,
    /// busy, or the phone refused).
    CallOfferMissed {
        call: CallUuid,
        agent: String,
        queue: Option<String>,
    },
    /// The agent's wrap-up after the call ended.
    CallWrapUpEnded {
        call: CallUuid,
        agent: String,
        queue: Option<String>,
        wrap_up_ms: u64,
    },
    /// Preview mode: the campaign offers `agent` a contact (its index in
    /// the list, number, name and the list's other columns); the agent
    /// accepts (it is dialled) or skips it through the API.
    CampaignPreview {
        campaign: String,
        agent: String,
        contact: u32,
        number: String,
        name: String,
        data: BTreeMap<String, String>,
    },
    /// A campaign started (by the API, autostart, or resumed at start-up).
    CampaignStarted {
        campaign: String,
    },
    CampaignPaused {
        campaign: String,
    },
    CampaignStopped {
        campaign: String,
    },
    /// Nothing is left to dial and no call of it is in progress.
    CampaignFinished {
        campaign: String,
    },
    /// The agent gave the call a disposition code (`none`: a wrap-up that
    /// waited for one ran out).
    CallDisposition {
        call: CallUuid,
        agent: String,
        queue: Option<String>,
        code: String,
        note: Option<String>,
    },
}

#[cfg(test)]
impl Event {
    /// Agent `n`'s pause at `n` ms: an event that tests of the event
    /// plumbing can tell apart by number.
    pub(crate) fn numbered(n: u64) -> Event {
        Event {
            at_ms: n,
            unix_ms: n,
            kind: EventKind::AgentState {
                agent: n.to_string(),
                state: "paused",
                previous: "available",
                reason: None,
                call: None,
            },
        }
    }
}

impl EventKind {
    /// The call the event is about, if any.
    pub fn call(&self) -> Option<CallUuid> {
        match self {
            Self::AgentState { call, .. } => *call,
            Self::CallArrived { call, .. }
            | Self::CallOriginated { call, .. }
            | Self::CallbackRequested { call, .. }
            | Self::CallDialling { call, .. }
            | Self::CallQueued { call, .. }
            | Self::CallOffered { call, .. }
            | Self::CallAnswered { call, .. }
            | Self::CallHeld { call, .. }
            | Self::CallResumed { call }
            | Self::CallTransferred { call, .. }
            | Self::CallEscalated { call, .. }
            | Self::CallTakenOver { call, .. }
            | Self::CallConsultStarted { call, .. }
            | Self::CallConsultEnded { call, .. }
            | Self::PartyJoined { call, .. }
            | Self::PartyLeft { call, .. }
            | Self::CallAbandoned { call, .. }
            | Self::CallEnded { call, .. }
            | Self::CallLeftQueue { call, .. }
            | Self::CallOfferMissed { call, .. }
            | Self::CallWrapUpEnded { call, .. }
            | Self::CallDisposition { call, .. } => Some(*call),
            Self::CampaignPreview { .. }
            | Self::CallbackDone { .. }
            | Self::CampaignStarted { .. }
            | Self::CampaignPaused { .. }
            | Self::CampaignStopped { .. }
            | Self::CampaignFinished { .. } => None,
        }
    }
}

pub(super) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Switch {
    /// Stamps an event with `now` and queues it as an output.
    pub(super) fn emit(&mut self, now: Instant, kind: EventKind) {
        let event = Event {
            at_ms: self.uuids.monotonic_ms(now),
            unix_ms: self.uuids.wall_ms(now),
            kind,
        };
        self.out.push_back(super::Output::Event(event));
    }
}

impl Switch {
    /// The callee answered: `CallAnswered`.
    pub(super) fn answered_event(&mut self, now: Instant, id: crate::call::CallRef) {
        self.campaign_agent_answered(now, id);
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        let kind = EventKind::CallAnswered {
            call: e.uuid,
            agent: e.agent.clone(),
            queue: e.queue.clone(),
            // From the entry into its current queue, or its arrival.
            waited_ms: millis(
                now.saturating_duration_since(e.detail.queue_since.unwrap_or(e.call.created)),
            ),
        };
        self.emit(now, kind);
    }

    /// The call is over: `CallAbandoned` if the caller gave up, then `CallEnded`.
    pub(super) fn ended_events(&mut self, now: Instant, record: &super::CallRecord) {
        self.campaign_call_ended(now, record);
        self.callback_call_ended(now, record);
        if record.outcome == crate::call::Outcome::Abandoned {
            let kind = EventKind::CallAbandoned {
                call: record.uuid,
                queue: record.queue.clone(),
                // The wait in its last queue, if it was in one.
                waited_ms: millis(
                    record
                        .wait
                        .saturating_sub(record.detail.queue_since.unwrap_or_default()),
                ),
                position: record.detail.queue_position,
            };
            self.emit(now, kind);
        }
        let kind = EventKind::CallEnded {
            call: record.uuid,
            outcome: record.outcome.label(),
            agent: record.agent.clone(),
            queue: record.queue.clone(),
            talk_ms: millis(record.talk),
            hung_up_by: record.detail.hung_up_by,
            hold_ms: millis(record.detail.hold),
        };
        self.emit(now, kind);
    }

    /// The call left its queue by overflow or timeout.
    pub(super) fn left_queue_event(
        &mut self,
        now: Instant,
        id: crate::call::CallRef,
        reason: &'static str,
    ) {
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        let kind = EventKind::CallLeftQueue {
            call: e.uuid,
            queue: e.queue.clone().unwrap_or_default(),
            reason,
            waited_ms: millis(
                now.saturating_duration_since(e.detail.queue_since.unwrap_or(e.call.created)),
            ),
        };
        self.emit(now, kind);
    }

    /// The call entered `queue` (arrival, menu or overflow).
    pub(super) fn queued_event(&mut self, now: Instant, id: crate::call::CallRef, queue: &str) {
        let Some(uuid) = self.calls.get(&id).map(|e| e.uuid) else {
            return;
        };
        let position = self.router.position(crate::acd::CallId(id.0));
        let kind = EventKind::CallQueued {
            call: uuid,
            queue: queue.to_string(),
            position,
        };
        self.emit(now, kind);
    }

    /// The call rings `agents`.
    pub(super) fn offered_event(
        &mut self,
        now: Instant,
        id: crate::call::CallRef,
        agents: Vec<String>,
    ) {
        if let Some(uuid) = self.calls.get(&id).map(|e| e.uuid) {
            self.emit(now, EventKind::CallOffered { call: uuid, agents });
        }
    }

    /// `agent` rang for the call and did not take it; nothing when the
    /// call was answered (by another agent) or is over.
    fn missed_event(&mut self, now: Instant, agent: &str, id: crate::call::CallRef) {
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        if e.call.answered.is_some() || e.call.ended.is_some() {
            return;
        }
        let kind = EventKind::CallOfferMissed {
            call: e.uuid,
            agent: agent.to_string(),
            queue: e.queue.clone(),
        };
        self.emit(now, kind);
    }

    /// The router changed an agent's state.
    pub(super) fn agent_state_event(
        &mut self,
        now: Instant,
        agent: crate::acd::AgentId,
        from: crate::acd::AgentState,
        to: crate::acd::AgentState,
    ) {
        use super::queues::agent_state_index;
        use super::AGENT_STATE_LABELS;
        use crate::acd::AgentState;
        let name = self.router.agent_name(agent).unwrap_or("").to_string();
        let reason = match to {
            AgentState::Paused(r) => Some(self.pause_label(&name, r)),
            _ => None,
        };
        if let AgentState::Reserved(c) = from {
            if to != AgentState::OnCall(c) {
                self.missed_event(now, &name, crate::call::CallRef(c.0));
            }
        }
        if matches!(from, AgentState::WrapUp(_)) && !matches!(to, AgentState::WrapUp(_)) {
            self.wrap_up_ended(now, &name);
        }
        let call = match to {
            AgentState::Reserved(c) | AgentState::OnCall(c) => {
                self.calls.get(&crate::call::CallRef(c.0)).map(|e| e.uuid)
            }
            AgentState::WrapUp(_) => self.wrap_up_call(&name),
            AgentState::Busy => self
                .own_call(&name)
                .and_then(|c| self.calls.get(&c))
                .map(|e| e.uuid),
            _ => None,
        };
        let kind = EventKind::AgentState {
            agent: name,
            state: AGENT_STATE_LABELS[agent_state_index(Some(to))],
            previous: AGENT_STATE_LABELS[agent_state_index(Some(from))],
            reason,
            call,
        };
        self.emit(now, kind);
    }
}
