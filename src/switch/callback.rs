//! Queued callbacks, the switch's side (the state of each callback is the
//! pure core in `acd/callback.rs`). A waiting caller presses their
//! queue's `callback.key`: their router entry stays where it is (their
//! place), mapped to the callback instead of the live call, and the
//! caller hears a confirmation and is hung up. When the router offers the
//! entry to an agent, the switch places the call agent first
//! (`originate.rs`): the agent's phone rings showing "Callback" and the
//! number, and once they answer the number is dialled through the trunk.
//! The router sees one ordinary call: offered, answered (the agent took
//! it), ended (wrap-up). A try the customer does not answer is tried
//! again after the queue's `retry`, from the same place in line, up to
//! `attempts`. A `callback` disposition with a time schedules one for the
//! call's customer. The core's changes leave as [`CallbackStore`] for
//! `run/` to keep, so callbacks outlive a restart.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::command::CommandError;
use super::event::EventKind;
use super::presence::Engagement;
use super::{CallRecord, MediaCommand, MediaLeg, Output, Switch};
use crate::acd::callback::{Callback, CallbackId, CallbackOutput, Callbacks};
use crate::acd::{self, AgentId, CallId, CallState, RejectReason};
use crate::call::session::detail::Direction;
use crate::call::{CallRef, CallUuid, Input, Outcome, State};

/// How long the confirmation plays before the caller is hung up
/// (`prompts/callback_confirmed.wav` runs 4.4 s).
pub const CALLBACK_CONFIRM_PLAYS: Duration = Duration::from_secs(5);
/// Store changes queued for the driver at most; past it they are
/// dropped and counted (the driver drains them after every input).
pub const CALLBACK_STORE_MAX: usize = 65_536;

/// What `run/` must store for the callbacks.
#[derive(Clone, Debug, PartialEq)]
pub enum CallbackStore {
    Save {
        id: u64,
        callback: Callback,
    },
    /// Done (completed or given up): forget it.
    Delete {
        id: u64,
    },
}

/// Callback counters, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallbackStats {
    /// Callers who pressed the key, and callbacks scheduled by a disposition.
    pub requested: u64,
    /// The customer answered the agent.
    pub completed: u64,
    /// Given up: every try made, or the queue let it go.
    pub failed: u64,
    /// Key presses that could not be taken (no number to call back...).
    pub refused: u64,
    /// Store changes lost because the driver was behind.
    pub store_dropped: u64,
}

/// A call placed for a callback.
#[derive(Clone, Debug)]
struct Placed {
    id: CallbackId,
    /// The router entry it serves.
    entry: CallRef,
    agent: String,
    answered: bool,
}

#[derive(Debug, Default)]
pub(super) struct CallbackDriver {
    core: Callbacks,
    /// Router entries (by the id the router knows) that are callbacks.
    queued: HashMap<CallRef, CallbackId>,
    /// Calls placed for a callback, by call.
    placed: HashMap<CallRef, Placed>,
    /// Callers who took a callback: hung up once the confirmation played.
    hangups: Vec<(Instant, CallRef)>,
    store: VecDeque<CallbackStore>,
    stats: CallbackStats,
}

impl Switch {
    /// A digit from a queued caller: their queue's callback key takes the
    /// callback. False when the digit is not that key here.
    pub(super) fn callback_key(&mut self, now: Instant, call: CallRef, digit: char) -> bool {
        let Some(entry) = self.calls.get(&call) else {
            return false;
        };
        let Some(queue) = entry.queue.clone() else {
            return false;
        };
        let Some(cfg) = self.plan.callbacks.get(&queue).cloned() else {
            return false;
        };
        let router_call = CallId(call.0);
        let waiting = entry.routed
            && entry.call.state == State::Routing
            && matches!(
                self.router.call_state(router_call),
                Some(CallState::Waiting)
            );
        if digit != cfg.key || !waiting {
            return false;
        }
        let number = entry.detail.caller.clone();
        // A number no agent's dial rules let out is no number to call back.
        let usable = entry.detail.direction == Direction::Inbound
            && super::originate::valid_number(&number)
            && self
                .plan
                .agents
                .keys()
                .any(|agent| self.plan.check_dial(agent, &number).is_ok());
        if !usable {
            // Nothing changes for the caller: they keep waiting.
            info!(call = %call, %queue, "callback key ignored: the caller has no number to call back");
            self.callbacks.stats.refused += 1;
            return true;
        }
        let Some((priority, arrived)) = self.router.call_place(router_call) else {
            return false;
        };
        let attributes = self
            .router
            .call_queue(router_call)
            .map(|(_, a)| a.to_vec())
            .unwrap_or_default();
        let wall = self.wall(now);
        let callback = Callback {
            queue: queue.clone(),
            number,
            priority,
            attributes,
            arrived: wall.saturating_sub(now.saturating_duration_since(arrived)),
            attempts: 0,
            attempts_max: cfg.attempts,
            retry: cfg.retry,
            due: None,
            origin: entry.uuid.to_string(),
        };
        let id = match self.callbacks.core.request_queued(callback) {
            Ok(id) => id,
            Err(err) => {
                warn!(call = %call, %queue, %err, "callback key ignored");
                self.callbacks.stats.refused += 1;
                return true;
            }
        };
        self.callbacks.stats.requested += 1;
        self.callbacks.queued.insert(call, id);
        let has_media = self.anchoring.is_some();
        if let Some(entry) = self.calls.get_mut(&call) {
            // The router entry is the callback's now: the caller's end
            // is not an abandon.
            entry.routed = false;
            entry.detail.queue_left = Some(now);
            if let Some(m) = entry.media.as_mut() {
                m.announce_at = None;
            }
        }
        info!(call = %call, callback = id.0, %queue, "callback taken: the caller will be called back, keeping their place");
        let origin = self.calls.get(&call).map(|e| e.uuid);
        if let Some(origin) = origin {
            let kind = EventKind::CallbackRequested {
                call: origin,
                callback: id.0,
                queue: queue.clone(),
                due_ms: None,
            };
            self.emit(now, kind);
        }
        self.callback_outputs(now);
        if has_media {
            self.out.push_back(Output::Media(MediaCommand::Play {
                call,
                leg: MediaLeg::Caller,
                intro: vec![cfg.confirm_prompt],
                music: Vec::new(),
            }));
            self.callbacks
                .hangups
                .push((now + CALLBACK_CONFIRM_PLAYS, call));
        } else {
            self.drive(now, call, Input::HangUp);
        }
        true
    }

    /// The router offers `call` to `agents`: true when it is a callback,
    /// whose first free agent is rung (agent first, then the number).
    pub(super) fn callback_offered(
        &mut self,
        now: Instant,
        call: CallId,
        agents: &[AgentId],
    ) -> bool {
        let entry = CallRef(call.0);
        let Some(&id) = self.callbacks.queued.get(&entry) else {
            return false;
        };
        let Some((cb, _)) = self.callbacks.core.get(id) else {
            return false;
        };
        let (number, queue) = (cb.number.clone(), cb.queue.clone());
        let ring = self
            .plan
            .acd_queues
            .iter()
            .find(|q| q.name == queue)
            .map_or(self.plan.no_answer_timeout, |q| q.ring_timeout);
        for &agent in agents {
            let name = self.router.agent_name(agent).unwrap_or("").to_string();
            if self.busy.contains_key(&name) || self.own_call(&name).is_some() {
                continue;
            }
            let targets = self.agent_targets(now, &name);
            if targets.is_empty() {
                let _ = self.route(now, acd::Input::AgentUnregistered { agent });
                continue;
            }
            let placed = match self.callback_trunk(&name, &number) {
                Ok(trunk) => {
                    let how = Some((queue.clone(), ring));
                    self.place_agent_first(now, &name, &number, targets, trunk, how)
                }
                Err(err) => Err(err),
            };
            match placed {
                Ok((placed, uuid)) => {
                    info!(call = %placed, callback = id.0, entry = %entry, agent = %name, %uuid, "callback offered to the agent");
                    let _ = self.callbacks.core.offered(id, &name);
                    let p = Placed {
                        id,
                        entry,
                        agent: name,
                        answered: false,
                    };
                    self.callbacks.placed.insert(placed, p);
                }
                Err(err) => self.callback_not_placed(now, id, entry, &name, &err),
            }
            return true;
        }
        true
    }

    /// A callback's call could not be placed: its router entry goes (so
    /// that no agent is offered it again at once). A number the agent may
    /// not dial, or no trunk out, gives it up; no capacity spends a try,
    /// tried again after `retry`. A stopping switch leaves it stored.
    fn callback_not_placed(
        &mut self,
        now: Instant,
        id: CallbackId,
        entry: CallRef,
        agent: &str,
        err: &CommandError,
    ) {
        if matches!(err, CommandError::Draining) {
            // Stopping: the callback stays stored as it is, for the next start.
            info!(callback = id.0, entry = %entry, agent, "callback not placed: the switch is stopping");
            return;
        }
        self.callbacks.queued.remove(&entry);
        let _ = self.route(
            now,
            acd::Input::CallAbandoned {
                call: CallId(entry.0),
            },
        );
        if matches!(
            err,
            CommandError::DialRefused(_) | CommandError::NoOutboundTrunk
        ) {
            warn!(callback = id.0, entry = %entry, agent, %err, "callback could not be placed: given up");
            let _ = self.callbacks.core.dropped(id);
        } else {
            warn!(callback = id.0, entry = %entry, agent, %err, "callback could not be placed: counted as a try");
            let wall = self.wall(now);
            let _ = self.callbacks.core.tried(now, wall, id, false);
        }
        self.callback_outputs(now);
    }

    /// The trunk a callback dials through, once the agent's dial rules allow the number.
    fn callback_trunk(&mut self, agent: &str, number: &str) -> Result<String, CommandError> {
        if self.draining {
            return Err(CommandError::Draining);
        }
        if let Err(refused) = self.plan.check_dial(agent, number) {
            self.dial_refused(agent, number, refused, "-");
            return Err(CommandError::DialRefused(refused));
        }
        match self.carrier_order().first() {
            Some(t) => Ok(t.name.clone()),
            None => Err(CommandError::NoOutboundTrunk),
        }
    }

    /// The router takes a callback's offer back from `agent` (its ring
    /// timed out): their ringing phone stops. True when it was a callback.
    pub(super) fn callback_withdrawn(
        &mut self,
        now: Instant,
        call: CallId,
        agent: AgentId,
    ) -> bool {
        let entry = CallRef(call.0);
        if !self.callbacks.queued.contains_key(&entry) {
            return false;
        }
        let name = self.router.agent_name(agent).unwrap_or("");
        let ringing = self
            .callbacks
            .placed
            .iter()
            .find(|(_, p)| p.entry == entry && p.agent == name && !p.answered)
            .map(|(c, _)| *c);
        if let Some(placed) = ringing {
            info!(call = %placed, agent = name, "callback offer withdrawn: the agent's phone stops");
            self.drive(now, placed, Input::HangUp);
        }
        true
    }

    /// The agent answered a callback's call: the router hears the offer
    /// was taken (they are on the call), and the number is dialled next.
    pub(super) fn callback_agent_answered(&mut self, now: Instant, id: CallRef) {
        let Some(p) = self.callbacks.placed.get_mut(&id) else {
            return;
        };
        p.answered = true;
        let p = p.clone();
        let _ = self.callbacks.core.agent_answered(p.id);
        let taken = self.router.agent_id(&p.agent).is_some_and(|agent| {
            let input = acd::Input::OfferAnswered {
                call: CallId(p.entry.0),
                agent,
            };
            self.route(now, input).is_ok()
        });
        if !taken {
            // The router let the offer go meanwhile: the agent is busy
            // with this call all the same.
            warn!(call = %id, agent = %p.agent, "callback answered after the router withdrew it");
            self.engage(now, &p.agent, Engagement::Caller(id));
        }
        info!(call = %id, callback = p.id.0, "callback: the agent answered, dialling the customer");
    }

    /// A callback's call ended (its record is made): an agent who never
    /// answered missed the offer (the callback waits in its place again);
    /// otherwise it was a try, answered or to be tried again.
    pub(super) fn callback_call_ended(&mut self, now: Instant, record: &CallRecord) {
        let Some(p) = self.callbacks.placed.remove(&record.call) else {
            return;
        };
        let call = CallId(p.entry.0);
        if !p.answered {
            if let Some(agent) = self.router.agent_id(&p.agent) {
                let offered = matches!(
                    self.router.call_state(call),
                    Some(CallState::Offered { agents, .. }) if agents.contains(&agent)
                );
                let reason = match record.outcome {
                    Outcome::AgentRejected(486 | 600 | 603) => RejectReason::Busy,
                    _ => RejectReason::NoAnswer,
                };
                if offered {
                    let _ = self.route(
                        now,
                        acd::Input::OfferRejected {
                            call,
                            agent,
                            reason,
                        },
                    );
                }
            }
            warn!(call = %record.call, callback = p.id.0, agent = %p.agent, outcome = record.outcome.label(), "callback: the agent did not take it; it waits in its place");
            let _ = self.callbacks.core.agent_missed(p.id);
            return;
        }
        if matches!(
            self.router.call_state(call),
            Some(CallState::Connected { .. })
        ) {
            // The agent wraps up, about this call.
            let last = super::disposition::LastCall {
                call: record.uuid,
                queue: record.queue.clone(),
                ended: now,
                disposed: false,
                customer: Some(record.dialled.clone()),
            };
            self.last_calls.insert(p.agent.clone(), last);
            let _ = self.route(now, acd::Input::CallEnded { call });
        }
        self.callbacks.queued.remove(&p.entry);
        if record.outcome == Outcome::Shutdown && record.talk.is_zero() {
            // Not a try: the callback is stored and served after the restart.
            info!(call = %record.call, callback = p.id.0, "callback interrupted by shutdown");
            return;
        }
        let answered =
            matches!(record.outcome, Outcome::Completed { .. }) || !record.talk.is_zero();
        if !answered {
            info!(call = %record.call, callback = p.id.0, outcome = record.outcome.label(), "callback try failed");
        }
        let wall = self.wall(now);
        let _ = self.callbacks.core.tried(now, wall, p.id, answered);
        self.callback_outputs(now);
    }

    /// A callback's router entry left its queue unserved (`max_wait` or
    /// `max_length` overflowed to busy, or nobody logged in to a queue that
    /// refuses then): it comes back after `retry`, its place and tries
    /// kept. True when it was a callback.
    pub(super) fn callback_left_router(&mut self, now: Instant, call: CallId, why: &str) -> bool {
        let Some(id) = self.callbacks.queued.remove(&CallRef(call.0)) else {
            return false;
        };
        warn!(
            callback = id.0,
            entry = call.0,
            why,
            "callback left its queue unserved: back after its retry time"
        );
        let wall = self.wall(now);
        let _ = self.callbacks.core.postpone(now, wall, id);
        self.callback_outputs(now);
        true
    }

    /// A `callback` disposition with a time: the call's customer is
    /// called back from its queue at `at` (time since the epoch).
    pub(super) fn schedule_callback(
        &mut self,
        now: Instant,
        call: CallUuid,
        at: Duration,
        by: Option<&str>,
    ) -> Result<(), CommandError> {
        let last = self
            .last_calls
            .iter()
            .filter(|(a, l)| l.call == call && by.is_none_or(|by| by == a.as_str()))
            .max_by_key(|(a, l)| (l.ended, a.as_str()))
            .map(|(_, l)| l.clone())
            .ok_or(CommandError::UnknownCall(call))?;
        let number = last
            .customer
            .filter(|n| super::originate::valid_number(n))
            .ok_or(CommandError::BadNumber)?;
        let queue = last.queue.ok_or(CommandError::UnknownCall(call))?;
        if self.router.queue_id(&queue).is_none() {
            return Err(CommandError::UnknownQueue(queue));
        }
        let cfg = self.plan.callbacks.get(&queue);
        let wall = self.wall(now);
        let at = at.max(wall);
        let callback = Callback {
            queue: queue.clone(),
            number,
            priority: 0,
            attributes: Vec::new(),
            arrived: at,
            attempts: 0,
            attempts_max: cfg.map_or(3, |c| c.attempts),
            retry: cfg.map_or(Duration::from_secs(300), |c| c.retry),
            due: Some(at),
            origin: call.to_string(),
        };
        let id = self
            .callbacks
            .core
            .request(now, wall, callback)
            .map_err(|_| CommandError::NoCapacity)?;
        self.callbacks.stats.requested += 1;
        let kind = EventKind::CallbackRequested {
            call,
            callback: id.0,
            queue: queue.clone(),
            due_ms: Some(u64::try_from(at.as_millis()).unwrap_or(u64::MAX)),
        };
        self.emit(now, kind);
        let in_s = (at - wall).as_secs();
        info!(%call, callback = id.0, %queue, in_s, "callback scheduled by disposition");
        self.callback_outputs(now);
        self.pump(now);
        Ok(())
    }

    /// The right to erasure: the callbacks of `number` are forgotten (and
    /// leave the store); a waiting one leaves its queue. A try under way
    /// goes on to its end but is not tried again.
    pub(super) fn erase_callbacks(&mut self, now: Instant, number: &str) {
        let ids = self.callbacks.core.erase_number(number);
        let entries: Vec<CallRef> = self
            .callbacks
            .queued
            .iter()
            .filter(|(_, id)| ids.contains(id))
            .map(|(entry, _)| *entry)
            .collect();
        for entry in entries {
            let placed = self.callbacks.placed.values().any(|p| p.entry == entry);
            if !placed {
                self.callbacks.queued.remove(&entry);
                let _ = self.route(
                    now,
                    acd::Input::CallAbandoned {
                        call: CallId(entry.0),
                    },
                );
            }
        }
        if !ids.is_empty() {
            warn!(callbacks = ids.len(), "callbacks erased with their caller");
        }
        self.callback_outputs(now);
        self.pump(now);
    }

    /// Carries out the core's outputs.
    fn callback_outputs(&mut self, now: Instant) {
        while let Some(output) = self.callbacks.core.poll_output() {
            match output {
                CallbackOutput::Enqueue {
                    id,
                    queue,
                    priority,
                    attributes,
                    arrived,
                } => self.callback_enqueue(now, id, &queue, priority, attributes, arrived),
                CallbackOutput::Save { id, callback } => {
                    self.callback_store(CallbackStore::Save { id: id.0, callback })
                }
                CallbackOutput::Erased { id } => {
                    self.callback_store(CallbackStore::Delete { id: id.0 })
                }
                CallbackOutput::Done {
                    id,
                    completed,
                    attempts,
                } => {
                    if completed {
                        self.callbacks.stats.completed += 1;
                        info!(callback = id.0, attempts, "callback completed");
                    } else {
                        self.callbacks.stats.failed += 1;
                        warn!(callback = id.0, attempts, "callback given up");
                    }
                    self.callback_store(CallbackStore::Delete { id: id.0 });
                    let kind = EventKind::CallbackDone {
                        callback: id.0,
                        completed,
                        attempts,
                    };
                    self.emit(now, kind);
                }
            }
        }
    }

    fn callback_enqueue(
        &mut self,
        now: Instant,
        id: CallbackId,
        queue: &str,
        priority: u8,
        attributes: Vec<(String, String)>,
        arrived: Instant,
    ) {
        let Some(q) = self.router.queue_id(queue) else {
            warn!(callback = id.0, queue, "callback's queue is gone: given up");
            let _ = self.callbacks.core.dropped(id);
            return;
        };
        let entry = self.new_call_ref();
        let input = acd::Input::CallTransferredIn {
            call: CallId(entry.0),
            queue: q,
            priority,
            attributes,
            arrived,
        };
        self.callbacks.queued.insert(entry, id);
        match self.route(now, input) {
            Ok(()) => info!(callback = id.0, entry = %entry, queue, "callback waits in its queue"),
            Err(err) => {
                self.callbacks.queued.remove(&entry);
                warn!(callback = id.0, queue, %err, "the router did not take the callback: given up");
                let _ = self.callbacks.core.dropped(id);
            }
        }
    }

    fn callback_store(&mut self, change: CallbackStore) {
        if self.callbacks.store.len() >= CALLBACK_STORE_MAX {
            self.callbacks.stats.store_dropped += 1;
            return;
        }
        self.callbacks.store.push_back(change);
    }

    /// Confirmations played out, and scheduled callbacks due.
    pub(super) fn callbacks_timeout(&mut self, now: Instant) {
        let due: Vec<CallRef> = self
            .callbacks
            .hangups
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, c)| *c)
            .collect();
        self.callbacks.hangups.retain(|(at, _)| *at > now);
        for call in due {
            if self.calls.contains_key(&call) {
                info!(call = %call, "callback taken: hanging up the caller");
                self.drive(now, call, Input::HangUp);
            }
        }
        let wall = self.wall(now);
        self.callbacks.core.handle_timeout(now, wall);
        self.callback_outputs(now);
    }

    pub(super) fn callbacks_poll_timeout(&self) -> Option<Instant> {
        let hangup = self.callbacks.hangups.iter().map(|(at, _)| *at).min();
        hangup
            .into_iter()
            .chain(self.callbacks.core.poll_timeout())
            .min()
    }

    /// The next store change for `run/`.
    pub fn poll_callback_store(&mut self) -> Option<CallbackStore> {
        self.callbacks.store.pop_front()
    }

    /// Callbacks read from the store at start: back in their queues in
    /// arrival order, or scheduled.
    pub fn restore_callbacks(&mut self, now: Instant, stored: Vec<(u64, Callback)>) {
        let wall = self.wall(now);
        let n = stored.len();
        self.callbacks.core.restore(now, wall, stored);
        info!(callbacks = n, "callbacks restored");
        self.callback_outputs(now);
        self.pump(now);
    }

    pub fn callback_stats(&self) -> CallbackStats {
        self.callbacks.stats
    }

    /// Callbacks not yet done (waiting, scheduled or being tried).
    pub fn callbacks_pending(&self) -> usize {
        self.callbacks.core.len()
    }
}
