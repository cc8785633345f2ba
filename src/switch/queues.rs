//! The switch's side of the ACD router: queued calls go in, the router's
//! offers come out as B-leg INVITEs (one fork per contact, several agents
//! at once for ring-all), and what the phones do goes back in as answers,
//! misses and hang-ups. The registrar's events tell the router which agents
//! can be reached. The router itself stays a pure core owned by the switch.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tracing::{debug, error, info, warn};

use super::Switch;
use crate::acd::{
    self, AcdError, AgentId, AgentState, CallId, CallState, Event, OverflowTarget, RejectReason,
    Router,
};
use crate::call::session::SessionEvent;
use crate::call::{CallRef, Input, Outcome, Routing, State};
use crate::sip::registrar::RegistrarEvent;

/// Labels of `switchyard_agents{state}`, in [`Switch::agent_states`] order.
pub const AGENT_STATE_LABELS: [&str; 7] = [
    "logged_out",
    "available",
    "ringing",
    "on_call",
    "wrap_up",
    "paused",
    "busy",
];

/// Where `state` sits in [`AGENT_STATE_LABELS`].
pub(super) fn agent_state_index(state: Option<AgentState>) -> usize {
    match state {
        Some(AgentState::LoggedOut) | None => 0,
        Some(AgentState::Available) => 1,
        Some(AgentState::Reserved(_)) => 2,
        Some(AgentState::OnCall(_)) => 3,
        Some(AgentState::WrapUp(_)) => 4,
        Some(AgentState::Paused(_)) => 5,
        Some(AgentState::Busy) => 6,
    }
}

/// One queue's live figures, for metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueFigures<'a> {
    pub name: &'a str,
    pub waiting: usize,
    /// Logged in, registered and free.
    pub agents_available: usize,
    /// Answered within the threshold over answered plus abandoned.
    pub service_level: Option<f64>,
    pub expected_wait: Option<Duration>,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    /// Answered calls' waits in this queue: sum and count.
    pub wait_sum: Duration,
    pub wait_count: u64,
    /// Callers who entered the queue since start.
    pub offered: u64,
    /// Answered within the service-level threshold since start.
    pub answered_within_sl: u64,
    /// The service-level goal: `sl_target` answered within `sl_threshold`.
    pub sl_threshold: Duration,
    pub sl_target: f64,
    /// How long the longest-waiting caller has been in the queue; `None`
    /// when nobody waits.
    pub longest_wait: Option<Duration>,
    /// The last interval (`[metrics].interval`) up to now.
    pub interval: super::IntervalFigures,
    pub interval_length: Duration,
    /// Erlang C for the goal, from the interval's arrival rate and average
    /// handle time; `None` without a handled call in the interval.
    pub agents_needed: Option<u32>,
}

/// Builds the router from the plan. A config the router cannot take (the
/// config validator and the router disagree on a limit) leaves the switch
/// running without queues: queued calls get 480, and the error is logged.
pub(super) fn build_router(plan: &super::Plan, rng: &mut StdRng, now: Instant) -> Router {
    let seed = rng.next_u64();
    match Router::new(
        now,
        &plan.acd_agents,
        &plan.acd_queues,
        StdRng::seed_from_u64(seed),
    ) {
        Ok(router) => router,
        Err(err) => {
            error!(%err, "the router refused the queue config; queues are off");
            Router::new(now, &[], &[], StdRng::seed_from_u64(seed))
                .expect("a router without agents or queues always builds")
        }
    }
}

impl Switch {
    /// Each queue's figures at `now`, in config order.
    pub fn queue_figures(&self, now: Instant) -> Vec<QueueFigures<'_>> {
        let oldest = self.router.oldest_waiting();
        let interval_length = self.meters.interval();
        self.router
            .snapshot()
            .queues
            .into_iter()
            .filter(|q| !self.router.queue_retired(q.queue))
            .map(|q| {
                let i = usize::from(q.queue.0);
                let (wait_sum, wait_count) = self.meters.waits(i);
                let (sl_threshold, sl_target) = self.service_goal(q.queue);
                let interval = self.meters.last_interval(now, i);
                let rate = interval.offered as f64 / interval_length.as_secs_f64();
                let agents_needed = interval
                    .handle_time()
                    .and_then(|aht| acd::erlang::agents_needed(rate, aht, sl_threshold, sl_target));
                let longest_wait = oldest
                    .get(i)
                    .copied()
                    .flatten()
                    .map(|t| now.saturating_duration_since(t));
                QueueFigures {
                    name: self.router.queue_name(q.queue).unwrap_or(""),
                    waiting: q.waiting,
                    agents_available: q.free_agents,
                    service_level: q.stats.service_level(),
                    expected_wait: q.expected_wait,
                    answered: q.stats.answered,
                    abandoned: q.stats.abandoned,
                    overflowed: q.stats.overflowed,
                    wait_sum,
                    wait_count,
                    offered: q.stats.arrived,
                    answered_within_sl: q.stats.answered_within_threshold,
                    sl_threshold,
                    sl_target,
                    longest_wait,
                    interval,
                    interval_length,
                    agents_needed,
                }
            })
            .collect()
    }

    /// How many agents are in each state, in [`AGENT_STATE_LABELS`] order.
    pub fn agent_states(&self) -> [u64; AGENT_STATE_LABELS.len()] {
        let mut counts = [0; AGENT_STATE_LABELS.len()];
        for i in 0..self.router.agents_len() {
            let agent = AgentId(i as u32);
            if !self.router.agent_retired(agent) {
                counts[agent_state_index(self.router.agent_state(agent))] += 1;
            }
        }
        counts
    }

    /// Each agent (config order) and the label of its state.
    pub fn agent_state_each(&self) -> impl Iterator<Item = (&str, &'static str)> + '_ {
        (0..self.router.agents_len())
            .map(|i| AgentId(i as u32))
            .filter(|&a| !self.router.agent_retired(a))
            .map(|a| {
                let name = self.router.agent_name(a).unwrap_or("");
                let state = AGENT_STATE_LABELS[agent_state_index(self.router.agent_state(a))];
                (name, state)
            })
    }

    /// Feeds the router one input. A refusal means the switch and the
    /// router disagree about a call or agent: logged and counted.
    pub(super) fn route(&mut self, now: Instant, input: acd::Input) -> Result<(), AcdError> {
        let result = self.router.handle(now, input);
        if let Err(err) = &result {
            debug!(%err, "router refused an input");
            self.stats.router_refused += 1;
        }
        result
    }

    /// A new caller for `queue`.
    pub(super) fn enqueue(
        &mut self,
        now: Instant,
        id: CallRef,
        queue: &str,
        priority: u8,
        attributes: Vec<(String, String)>,
    ) {
        self.enqueue_since(now, id, queue, priority, attributes, None);
    }

    /// `enqueue`, for a caller who keeps the place of one that joined at
    /// `arrived` (a transfer into a queue).
    pub(super) fn enqueue_since(
        &mut self,
        now: Instant,
        id: CallRef,
        queue: &str,
        priority: u8,
        attributes: Vec<(String, String)>,
        arrived: Option<Instant>,
    ) {
        let Some(q) = self.router.queue_id(queue) else {
            return self.unroutable(now, id, Outcome::Unavailable);
        };
        let call = CallId(id.0);
        let input = match arrived {
            None => acd::Input::CallArrived {
                call,
                queue: q,
                priority,
                attributes,
            },
            Some(arrived) => acd::Input::CallTransferredIn {
                call,
                queue: q,
                priority,
                attributes,
                arrived,
            },
        };
        match self.route(now, input) {
            Ok(()) => {
                if let Some(e) = self.calls.get_mut(&id) {
                    e.routed = true;
                    e.detail.queue_entered.get_or_insert(now);
                    e.detail.queue_since = Some(now);
                }
                self.session_event(now, id, SessionEvent::Queued);
                self.meter_offered(now, q);
                self.queued_event(now, id, queue);
            }
            Err(_) => self.unroutable(now, id, Outcome::Unavailable),
        }
    }

    /// A phone registered its first contact or lost its last one.
    pub(super) fn on_registrar_event(&mut self, now: Instant, event: RegistrarEvent) {
        debug!(?event, "registrar");
        let (aor, registered) = match event {
            RegistrarEvent::Registered { aor } => (aor, true),
            RegistrarEvent::Unregistered { aor } => (aor, false),
            RegistrarEvent::Replaced { aor, source } => {
                // Visible on purpose: a stolen password shows here. The
                // agent id is its extension, as in the call span.
                warn!(
                    agent = %aor,
                    source_ip = %source.addr.ip(),
                    source_port = source.addr.port(),
                    "registration replaced the agent's older phone (max_contacts)"
                );
                return;
            }
        };
        let Some(agent) = self.router.agent_id(&aor) else {
            return;
        };
        if !registered {
            let _ = self.route(now, acd::Input::AgentUnregistered { agent });
            return;
        }
        let _ = self.route(now, acd::Input::AgentRegistered { agent });
        let auto = self.plan.agents.get(&aor).is_some_and(|a| a.auto_login);
        let logged_out = self.router.agent_state(agent) == Some(AgentState::LoggedOut);
        if auto && logged_out {
            let _ = self.route(now, acd::Input::AgentLogin { agent, queue: None });
        }
    }

    /// Carries out the router's actions until it has none; true if there were any.
    pub(super) fn drain_router(&mut self, now: Instant) -> bool {
        let mut batch = VecDeque::new();
        let mut any = false;
        loop {
            while let Some(action) = self.router.poll_action() {
                batch.push_back(action);
            }
            let Some(action) = batch.pop_front() else {
                return any;
            };
            any = true;
            match action {
                acd::Action::Offer { call, agent, .. } => {
                    // A ring-all offer comes as consecutive offers of one call.
                    let mut agents = vec![agent];
                    while let Some(acd::Action::Offer { call: c, agent, .. }) = batch.front() {
                        if *c != call {
                            break;
                        }
                        agents.push(*agent);
                        batch.pop_front();
                    }
                    self.offer_queued(now, call, agents);
                }
                acd::Action::WithdrawOffer { call, agent } => self.withdraw(now, call, agent),
                acd::Action::Overflow { call, target } => self.overflowed(now, call, target),
                acd::Action::Refuse { call, reason } => {
                    debug!(call = call.0, ?reason, "queue refused the call");
                    if self.callback_left_router(now, call, "refused") {
                        continue;
                    }
                    let id = CallRef(call.0);
                    self.forget_routed(id);
                    self.unroutable(now, id, Outcome::Unavailable);
                }
                acd::Action::Event(event) => self.on_router_event(now, event),
            }
        }
    }

    fn forget_routed(&mut self, id: CallRef) {
        if let Some(e) = self.calls.get_mut(&id) {
            e.routed = false;
        }
    }

    fn on_router_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::AgentStateChanged { agent, from, to } => {
                self.agent_state_event(now, agent, from, to);
            }
            Event::CallAnswered { queue, waited, .. } => {
                self.meter_wait(now, queue, waited, true);
            }
            Event::CallAbandoned {
                call,
                queue,
                waited,
            } => {
                debug!(call = call.0, "abandoned in queue");
                self.meter_wait(now, queue, waited, false);
            }
            Event::AgentPaused { agent, reason } => {
                let name = self.router.agent_name(agent).unwrap_or("");
                info!(agent = name, ?reason, "agent paused by the router");
            }
        }
    }

    /// The router offers a waiting call to `agents`: INVITE their contacts.
    fn offer_queued(&mut self, now: Instant, call: CallId, agents: Vec<AgentId>) {
        if self.callback_offered(now, call, &agents) {
            return;
        }
        let id = CallRef(call.0);
        let _in_call = self.call_span(id).entered();
        let waiting = self
            .calls
            .get(&id)
            .is_some_and(|e| e.call.state == State::Routing && e.routed);
        if !waiting {
            // Out of step: the router must not keep offering a call we cannot ring.
            warn!(call = %id, "router offered a call that is not waiting");
            let _ = self.route(now, acd::Input::CallAbandoned { call });
            return;
        }
        let mut targets = Vec::new();
        let mut offered = Vec::new();
        for agent in agents {
            let name = self.router.agent_name(agent).unwrap_or("").to_string();
            // The router offers no agent on a call of their own (they are
            // Busy for it); this is an offer it takes back in the same
            // batch (they just became busy): its withdrawal follows.
            if self.busy.get(&name).is_some_and(|c| *c != id) {
                debug!(call = %id, "offered agent is on another call");
                continue;
            }
            let contacts = self.agent_targets(now, &name);
            if contacts.is_empty() {
                // The binding expired before the registrar said so: the
                // router learns it now, which withdraws this offer.
                let _ = self.route(now, acd::Input::AgentUnregistered { agent });
                continue;
            }
            self.busy.insert(name.clone(), id);
            targets.extend(contacts);
            offered.push(name);
        }
        if targets.is_empty() {
            return;
        }
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        // The agent sees the number the customer dialled.
        let to = format!("<sip:{}@{}>", entry.dialled, self.plan.local);
        let names = offered.clone();
        let single = (offered.len() == 1).then(|| offered.remove(0));
        self.start_b_leg(now, id, single, to, targets, None);
        self.offered_event(now, id, names);
    }

    /// The router takes the offer back from one agent: cancel its forks.
    fn withdraw(&mut self, now: Instant, call: CallId, agent: AgentId) {
        if self.callback_withdrawn(now, call, agent) {
            return;
        }
        let id = CallRef(call.0);
        let _in_call = self.call_span(id).entered();
        let name = self.router.agent_name(agent).unwrap_or("").to_string();
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        if !matches!(entry.call.state, State::Offering { .. }) {
            // Already answered by another agent, or hung up: the call
            // machine cancelled what needed cancelling.
            if entry.agent.as_deref() != Some(&name) && self.busy.get(&name) == Some(&id) {
                self.busy.remove(&name);
            }
            return;
        }
        if self.busy.get(&name) == Some(&id) {
            self.busy.remove(&name);
        }
        let forks: Vec<usize> = entry
            .b
            .as_ref()
            .map(|b| {
                (0..b.forks.len())
                    .filter(|&i| {
                        b.forks[i].state.is_live() && b.forks[i].agent.as_deref() == Some(&name)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if forks.is_empty() {
            return;
        }
        for &fork in &forks {
            self.withdraw_fork(now, id, fork);
        }
        self.drive(now, id, Input::Withdrawn { forks: forks.len() });
    }

    fn overflowed(&mut self, now: Instant, call: CallId, target: OverflowTarget) {
        let id = CallRef(call.0);
        match target {
            OverflowTarget::Queue(q) => {
                self.meter_offered(now, q);
                let name = self.router.queue_name(q).map(str::to_string);
                self.left_queue_event(now, id, "overflow");
                if let Some(e) = self.calls.get_mut(&id) {
                    debug!(call = %id, "overflowed to another queue");
                    if let Some(q) = &name {
                        e.span.record("queue", q.as_str());
                    }
                    e.queue = name.clone();
                    e.detail.queue_since = Some(now);
                }
                if let Some(q) = name {
                    self.queued_event(now, id, &q);
                }
            }
            OverflowTarget::Busy if self.callback_left_router(now, call, "overflow") => {}
            OverflowTarget::Busy => {
                self.left_queue_event(now, id, "timeout");
                if let Some(e) = self.calls.get_mut(&id) {
                    e.detail.queue_left = Some(now);
                }
                self.forget_routed(id);
                self.unroutable(now, id, Outcome::Busy);
            }
        }
    }

    /// A fork answered: the router hears which agent took the call. False
    /// when the router no longer offers it to that agent.
    pub(super) fn fork_answered(&mut self, now: Instant, id: CallRef, fork: usize) -> bool {
        let Some(entry) = self.calls.get_mut(&id) else {
            return false;
        };
        let agent = entry
            .b
            .as_ref()
            .and_then(|b| b.forks.get(fork))
            .and_then(|f| f.agent.clone());
        if let Some(a) = &agent {
            entry.span.record("agent", a.as_str());
            entry.agent = agent.clone();
            if let Some(b) = entry.b.as_mut() {
                b.agent = agent.clone();
            }
        }
        if !(entry.routed && entry.call.routing == Routing::Queued) {
            return true;
        }
        entry.detail.queue_left = Some(now);
        let Some(agent_id) = agent.as_deref().and_then(|a| self.router.agent_id(a)) else {
            return false;
        };
        let input = acd::Input::OfferAnswered {
            call: CallId(id.0),
            agent: agent_id,
        };
        self.route(now, input).is_ok()
    }

    /// A fork failed: once every fork of its agent is out, the router
    /// hears that the agent missed the offer.
    pub(super) fn report_agent_missed(
        &mut self,
        now: Instant,
        id: CallRef,
        fork: usize,
        status: u16,
    ) {
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        if !entry.routed {
            return;
        }
        let Some(b) = entry.b.as_ref() else { return };
        let Some(name) = b.forks.get(fork).and_then(|f| f.agent.clone()) else {
            return;
        };
        let live = b
            .forks
            .iter()
            .any(|f| f.state.is_live() && f.agent.as_deref() == Some(&name));
        if live {
            return;
        }
        if self.busy.get(&name) == Some(&id) {
            self.busy.remove(&name);
        }
        let Some(agent) = self.router.agent_id(&name) else {
            return;
        };
        let reason = match status {
            486 | 600 | 603 => RejectReason::Busy,
            _ => RejectReason::NoAnswer,
        };
        let offered = matches!(
            self.router.call_state(CallId(id.0)),
            Some(CallState::Offered { agents, .. }) if agents.contains(&agent)
        );
        if offered {
            let input = acd::Input::OfferRejected {
                call: CallId(id.0),
                agent,
                reason,
            };
            let _ = self.route(now, input);
        }
    }

    /// The call is ending: the router forgets it, as a finished call (the
    /// agent goes to wrap-up) or an abandoned one.
    pub(super) fn report_call_gone(&mut self, now: Instant, id: CallRef) {
        self.campaign_call_gone(now, id);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        if !std::mem::take(&mut entry.routed) {
            return;
        }
        let call = CallId(id.0);
        self.meter_handled(now, call);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let input = match self.router.call_state(call) {
            Some(CallState::Connected { .. }) => acd::Input::CallEnded { call },
            Some(_) => {
                entry.detail.queue_left = Some(now);
                entry.detail.queue_position = self.router.position(call);
                acd::Input::CallAbandoned { call }
            }
            None => return,
        };
        if matches!(input, acd::Input::CallEnded { .. }) {
            // Its wrap-up (and disposition) will be about this call.
            self.wrap_up_due(now, id);
        }
        let _ = self.route(now, input);
    }
}
