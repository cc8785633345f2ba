//! The composite signalling core: it takes datagrams and the time, and gives
//! back datagrams to send and call records. Inside, the transaction layer
//! (RFC 3261 §17), the registrar, digest auth and one [`Call`] machine per
//! call. It does no IO and reads no clock; `run` drives it.
//!
//! A message flows: parse → (response) client transaction → the leg that
//! sent the request; (request) server transaction → checks of RFC 3261 §8.2
//! → REGISTER / OPTIONS / a new call / an in-dialog request.

mod inbound;
mod legs;
pub mod plan;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tracing::debug;

use crate::call::{Action, CallRef, Input, Outcome, Side};
use crate::sip::auth::{DigestConfig, DigestServer};
use crate::sip::build;
use crate::sip::parse::{salvage, Message, ParseError};
use crate::sip::registrar::Registrar;
use crate::sip::transaction::{self as tx, TimerConfig, TransactionLayer};
use crate::sip::Peer;

pub use legs::CallEntry;
pub use plan::{Plan, Route};

/// How long a refused caller should wait before trying again (`Retry-After`).
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Live dialogs (two per call) and client-transaction owners are bounded by
/// the call limit; this caps the call limit itself.
pub const CALLS_HARD_MAX: usize = crate::sip::limits::CALLS_MAX;

/// What the driver must do.
#[derive(Debug)]
pub enum Output {
    Transmit {
        peer: Peer,
        bytes: Bytes,
    },
    /// A call ended: store its record.
    CallEnded(CallRecord),
}

/// A finished call, as stored and exported.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRecord {
    pub call: CallRef,
    /// The caller leg's Call-ID, to correlate with the carrier's records.
    pub sip_call_id: String,
    pub trunk: Option<String>,
    /// The number dialled (a DID or an extension).
    pub dialled: String,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub outcome: Outcome,
    /// Arrival to answer (or to the end if unanswered).
    pub wait: Duration,
    /// Answer to hang-up.
    pub talk: Duration,
    pub offers: u32,
}

/// Counters the core keeps; ops exports them.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub requests: [u64; METHOD_LABELS.len()],
    pub responses_received: u64,
    pub malformed_answered: u64,
    pub malformed_dropped: u64,
    pub stray_responses: u64,
    pub calls_started: u64,
    pub calls_ended: [u64; OUTCOME_LABELS.len()],
    pub refused_overload: u64,
    pub registrations_ok: u64,
    pub auth_challenges: u64,
    pub auth_failures: u64,
}

/// Method labels for `switchyard_sip_requests_total{method}`; "other" last.
pub const METHOD_LABELS: [&str; 9] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "other",
];
/// Outcome labels for `switchyard_calls_total{outcome}`.
pub const OUTCOME_LABELS: [&str; 7] = [
    "completed",
    "abandoned",
    "busy",
    "no_answer",
    "unavailable",
    "rejected",
    "shutdown",
];

/// The signalling core of the switch.
pub struct Switch {
    plan: Plan,
    rng: StdRng,
    tx: TransactionLayer,
    registrar: Registrar,
    digest: DigestServer,
    calls: HashMap<CallRef, CallEntry>,
    /// Call-ID of every live leg → its call and side.
    dialogs: HashMap<String, (CallRef, Side)>,
    /// Branch of every caller INVITE → its call (CANCEL and missing-ACK matching).
    a_branches: HashMap<String, CallRef>,
    /// Branch of every client transaction we started → who is waiting for it.
    owners: HashMap<String, (CallRef, legs::Purpose)>,
    /// Agents on a call or being offered one.
    busy: HashMap<String, CallRef>,
    /// Callers waiting per queue, oldest first (naive routing).
    waiting: HashMap<String, VecDeque<CallRef>>,
    /// Ring deadlines; stale entries are skipped when popped.
    ring_timers: BinaryHeap<Reverse<(Instant, CallRef)>>,
    out: VecDeque<Output>,
    actions: Vec<Action>,
    stats: Stats,
    draining: bool,
    next_call: u64,
}

impl Switch {
    /// `seed` feeds every tag, branch, Call-ID and nonce the core draws.
    pub fn new(plan: Plan, seed: u64, now: Instant) -> Switch {
        let mut rng = StdRng::seed_from_u64(seed);
        let digest_config = DigestConfig {
            order: plan.digest_order,
            ..DigestConfig::default()
        };
        let digest = DigestServer::new(&plan.realm, digest_config, &mut rng, now);
        let registrar = Registrar::new(plan.registration.clone());
        Switch {
            plan,
            rng,
            tx: TransactionLayer::new(TimerConfig::default()),
            registrar,
            digest,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            a_branches: HashMap::new(),
            owners: HashMap::new(),
            busy: HashMap::new(),
            waiting: HashMap::new(),
            ring_timers: BinaryHeap::new(),
            out: VecDeque::new(),
            actions: Vec::new(),
            stats: Stats::default(),
            draining: false,
            next_call: 1,
        }
    }

    /// One datagram (or TCP frame) from `peer`.
    pub fn handle_datagram(&mut self, now: Instant, peer: Peer, bytes: Bytes) {
        // Keep-alive CRLFs (RFC 5626 §3.5.1) carry nothing to answer.
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        match Message::parse(bytes.clone()) {
            Ok(msg) if msg.is_request() => self.on_request(now, peer, msg),
            Ok(msg) => self.on_response(now, peer, msg),
            Err(err) => self.on_malformed(peer, &bytes, &err),
        }
        self.pump(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.registrar.handle_timeout(now);
        while let Some(event) = self.registrar.poll_event() {
            debug!(?event, "registrar");
            self.dispatch_queues(now);
        }
        while let Some(Reverse((at, call))) = self.ring_timers.peek().copied() {
            if at > now {
                break;
            }
            self.ring_timers.pop();
            let due = self
                .calls
                .get(&call)
                .is_some_and(|c| c.ring_deadline == Some(at));
            if due {
                self.drive(now, call, Input::RingTimeout);
            }
        }
        self.pump(now);
    }

    /// Stop taking calls: new INVITEs get 503, calls in progress are ended.
    pub fn shutdown(&mut self, now: Instant) {
        self.draining = true;
        let ids: Vec<CallRef> = self.calls.keys().copied().collect();
        for id in ids {
            self.drive(now, id, Input::Shutdown);
        }
        self.pump(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let ring = self.ring_timers.peek().map(|Reverse((at, _))| *at);
        [self.tx.poll_timeout(), self.registrar.poll_timeout(), ring]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn calls_active(&self) -> usize {
        self.calls.len()
    }

    pub fn registrations_active(&self) -> usize {
        self.registrar.len()
    }

    pub fn transactions_active(&self) -> usize {
        self.tx.len()
    }

    /// True once shutdown began and every call has ended.
    pub fn is_drained(&self) -> bool {
        self.draining && self.calls.is_empty()
    }

    /// Moves transaction-layer output into ours, reacting to its events.
    fn pump(&mut self, now: Instant) {
        while let Some(output) = self.tx.poll_output() {
            match output {
                tx::Output::Transmit { peer, bytes } => {
                    self.out.push_back(Output::Transmit { peer, bytes })
                }
                tx::Output::Event(tx::Event::Timeout { key }) => self.on_client_timeout(now, &key),
                tx::Output::Event(tx::Event::NoAck { key }) => {
                    if let Some(&call) = self.a_branches.get(&key.branch) {
                        self.drive(now, call, Input::ANoAck);
                    }
                }
            }
        }
    }

    /// A message that did not parse: 400 (or 505) when it is a request with a
    /// Via to answer to, else dropped and counted.
    fn on_malformed(&mut self, peer: Peer, raw: &[u8], err: &ParseError) {
        debug!(%peer, %err, "malformed message");
        let answer = salvage(raw).and_then(|s| {
            let status = err.status();
            build::response_to_salvage(&s, peer, status, build::reason(status), &err.to_string())
        });
        match answer {
            Some(bytes) => {
                self.stats.malformed_answered += 1;
                self.out.push_back(Output::Transmit { peer, bytes });
            }
            None => self.stats.malformed_dropped += 1,
        }
    }

    /// Feeds one input to a call and carries out what it decides.
    fn drive(&mut self, now: Instant, id: CallRef, input: Input) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let mut actions = std::mem::take(&mut self.actions);
        actions.clear();
        entry.call.handle(now, input, &mut actions);
        for action in actions.drain(..) {
            self.act(now, id, action);
        }
        self.actions = actions;
    }

    fn act(&mut self, now: Instant, id: CallRef, action: Action) {
        match action {
            Action::InviteB => self.invite_b(now, id),
            Action::StartRingTimer => {
                let Some(entry) = self.calls.get_mut(&id) else {
                    return;
                };
                let at = now + entry.ring_timeout;
                entry.ring_deadline = Some(at);
                self.ring_timers.push(Reverse((at, id)));
            }
            Action::ProvisionalToA { fork, status } => self.provisional_to_a(now, id, fork, status),
            Action::AckB { fork } => self.ack_b(id, fork),
            Action::OkToA { fork } => self.ok_to_a(now, id, fork),
            Action::CancelForks { keep } => self.cancel_forks(now, id, keep),
            Action::ByeFork { fork } => self.bye_fork(now, id, fork),
            Action::RejectA { status } => self.reject_a(now, id, status),
            Action::Bye(side) => self.bye(now, id, side),
            Action::Requeue { status } => self.requeue(now, id, status),
            Action::Finished(outcome) => self.finish(now, id, outcome),
        }
    }

    fn finish(&mut self, now: Instant, id: CallRef, outcome: Outcome) {
        let Some(entry) = self.calls.remove(&id) else {
            return;
        };
        self.dialogs.remove(&entry.a.call_id);
        if let Some(b) = &entry.b {
            self.dialogs.remove(&b.call_id);
            for f in &b.forks {
                self.owners.remove(&f.branch);
            }
            if let Some(agent) = &b.agent {
                if self.busy.get(agent) == Some(&id) {
                    self.busy.remove(agent);
                }
            }
        }
        if let Some(agent) = &entry.a_agent {
            if self.busy.get(agent) == Some(&id) {
                self.busy.remove(agent);
            }
        }
        self.a_branches.remove(&entry.a.key.branch);
        if let Some(queue) = &entry.queue {
            if let Some(w) = self.waiting.get_mut(queue) {
                w.retain(|c| *c != id);
            }
        }
        let idx = OUTCOME_LABELS
            .iter()
            .position(|l| *l == outcome.label())
            .unwrap_or(0);
        self.stats.calls_ended[idx] += 1;
        let talk = match (entry.call.answered, entry.call.ended) {
            (Some(a), Some(e)) => e.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        let record = CallRecord {
            call: id,
            sip_call_id: entry.a.call_id.clone(),
            trunk: entry.trunk.clone(),
            dialled: entry.dialled.clone(),
            queue: entry.queue.clone(),
            agent: entry.b.as_ref().and_then(|b| b.agent.clone()),
            outcome,
            wait: entry.call.wait().unwrap_or_default(),
            talk,
            offers: entry.call.offers,
        };
        tracing::info!(call = %id, outcome = outcome.label(), "call ended");
        self.out.push_back(Output::CallEnded(record));
        // An agent may be free again: callers who were skipped may retry everyone.
        for calls in self.waiting.values() {
            for call in calls {
                if let Some(e) = self.calls.get_mut(call) {
                    e.tried.clear();
                }
            }
        }
        self.dispatch_queues(now);
    }

    fn on_client_timeout(&mut self, now: Instant, key: &tx::ClientKey) {
        let Some((call, purpose)) = self.owners.remove(&key.branch) else {
            return;
        };
        match purpose {
            legs::Purpose::Invite { fork } => {
                self.drive(now, call, Input::BFailed { fork, status: 408 })
            }
            legs::Purpose::Bye { side } => self.drive(now, call, Input::ByeDone(side)),
            legs::Purpose::Ignore => {}
        }
    }

    fn new_call_ref(&mut self) -> CallRef {
        let id = CallRef(self.next_call);
        self.next_call += 1;
        id
    }

    /// A random token for tags, branches and Call-IDs.
    fn token(&mut self) -> String {
        let a = self.rng.next_u64();
        let b = self.rng.next_u32();
        format!("{a:016x}{b:08x}")
    }
}
