//! The composite signalling core: it takes datagrams, media reports,
//! commands and the time, and gives back datagrams to send, media commands,
//! events and call records. It owns what calls share: the transaction layer
//! (RFC 3261 §17), the registrar, digest auth, the demultiplexer
//! (`demux.rs`: Call-ID or branch → owner), one timer table (`timers.rs`)
//! and the ACD router, which it owns outright (no lock: the switch task is
//! its single owner) and feeds with `now`. Each call is one
//! [`Session`] (`call/session`): its call machine, legs, media and phase.
//! It does no IO and reads no clock; `run` drives it.
//!
//! A message flows: parse → (response) client transaction → demux by
//! branch → the fork or BYE that sent the request; (request) server
//! transaction → checks of RFC 3261 §8.2 → REGISTER / OPTIONS / a feature
//! code / a new call / demux by Call-ID → the session's leg, a feature or
//! supervisor dialog. A queued call goes to the router; its offers come
//! back as agent-leg INVITEs (`queues.rs`). An agent on a call the router
//! did not give them is busy for it (`presence.rs`). A new call gets its
//! id, log span and session in `admit.rs`. `README.md` beside this file
//! draws one call from the wire to its record and says which room a line
//! belongs in.
//!
//! Outside SIP the core speaks two words: commands in
//! ([`Switch::handle_command`], `command.rs` and `control.rs`) and events
//! out ([`Output::Event`], `event.rs`); `docs/events.md` is their schema.

// Functions stay under `too-many-lines-threshold` (clippy.toml): split
// longer ones into named steps.
#![warn(clippy::too_many_lines)]

mod admit;
mod announce;
mod attended;
mod auth;
mod callback;
mod campaign_amd;
mod campaign_api;
mod campaign_calls;
pub mod campaigns;
mod command;
mod conference;
mod conference_parties;
mod consult;
mod consult_end;
mod control;
mod demux;
mod digits;
mod disposition;
mod escalate;
mod event;
mod failover;
mod feature;
mod identity;
mod inbound;
mod ivr;
mod late_offer;
mod legs;
mod liveness;
mod media;
mod meter;
mod originate;
mod overload;
pub mod plan;
mod presence;
mod queues;
mod record_legs;
mod referrer;
mod register;
mod reload;
mod reoffer;
mod replaces;
mod responses;
mod security;
mod srtp;
mod stats;
mod supervise;
mod timers;
mod transfer;
mod trunks;
mod tx_port;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tracing::debug;

use self::timers::Timer;
use crate::acd::Router;
use crate::call::session::{SessionAction, SessionEvent};
use crate::call::{Action, CallRef, CallUuid, CallUuids, Input, Outcome};
use crate::sip::auth::{DigestConfig, DigestServer};
use crate::sip::build;
use crate::sip::guard::AuthGuard;
use crate::sip::parse::{salvage, Message, ParseError};
use crate::sip::pike::Pike;
use crate::sip::registrar::Registrar;
use crate::sip::transaction::{self as tx, Seen, TimerConfig, TransactionLayer};
use crate::sip::Peer;

pub use crate::call::session::{CallDetail, CallMedia, Direction, RecordDetail, Session};
pub use crate::media::command::{MediaCommand, MediaInput, MediaLeg};
pub use announce::{announcement, SPOKEN_NUMBER_MAX};
pub use callback::{CallbackStats, CallbackStore, CALLBACK_CONFIRM_PLAYS};
pub use command::{
    AgentSnapshot, CallSnapshot, CampaignMove, Command, CommandError, QueueSnapshot, Reply,
    NUMBER_CHARS_MAX, PAUSE_REASON_CHARS_MAX,
};
pub use disposition::{DISPOSITION_NOTE_CHARS_MAX, NO_DISPOSITION};
pub use event::{Event, EventKind};
pub use feature::{FeatureCode, FeatureError, FEATURE_DIALOGS_MAX};
pub use ivr::{CallMenu, IvrError, MenuPlan, MenuSession, MenuStep, MENU_HOPS_MAX};
pub use legs::ZOMBIE_FORKS_MAX;
pub use media::{AnchorError, MediaPlan};
pub use meter::{IntervalFigures, QueueSample, SampleKind, INTERVAL_SLOTS, QUEUE_SAMPLES_MAX};
pub use overload::{LoadReport, ShedReason, OVERLOAD_REASONS};
pub use plan::{Plan, Route};
pub use queues::{QueueFigures, AGENT_STATE_LABELS};
pub use reload::ReloadReport;
pub use security::{BanSnapshot, DIAL_REFUSED_LABELS, LIMITED_LABELS};
pub use stats::{Stats, METHOD_LABELS, OUTCOME_LABELS, SUPERVISION_LABELS};
pub use trunks::TrunkSnapshot;

/// DTMF digits kept per call; older ones are dropped first.
pub const DIGITS_PER_CALL_MAX: usize = 64;
/// How long a refused caller should wait before trying again (`Retry-After`).
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Caps the call limit, which bounds live dialogs (two per call) and client transactions.
pub const CALLS_HARD_MAX: usize = crate::sip::limits::CALLS_MAX;

/// What the driver must do.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a record is moved out once per call; boxing it would churn every match
pub enum Output {
    Transmit {
        peer: Peer,
        bytes: Bytes,
    },
    /// A call ended: store its record.
    CallEnded(CallRecord),
    /// Something for the media relay to do (only with `[media]`).
    Media(MediaCommand),
    /// Something happened: for the event stream (never waited on).
    Event(Event),
    /// For the transaction layer of a UDP dialog, held by its SIP shard.
    Tx(tx::Command),
}

/// A finished call, as stored and exported.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRecord {
    pub call: CallRef,
    /// The call's id in logs, events and replies.
    pub uuid: CallUuid,
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
    /// Where the conversation was recorded, and for how long.
    pub recording: Option<(std::path::PathBuf, Duration)>,
    /// The agent whose phone placed the call (outbound and internal calls).
    pub from_agent: Option<String>,
    /// Caller, direction, IVR keys, queue times, hold, refusal, hang-up.
    pub detail: RecordDetail,
}

/// The signalling core of the switch.
pub struct Switch {
    plan: Plan,
    rng: StdRng,
    tx: TransactionLayer,
    registrar: Registrar,
    digest: DigestServer,
    /// Failed logins per source and user: back-off, then bans.
    guard: AuthGuard,
    /// Requests per source.
    pike: Pike,
    calls: HashMap<CallRef, Session>,
    /// Call-ID or branch → its owner: call legs, feature-code and
    /// supervisor dialogs, our client transactions, zombie forks.
    demux: demux::Demux,
    /// Agents on a call or being offered one.
    busy: HashMap<String, CallRef>,
    /// Agents on calls the router did not give them.
    presence: presence::Presence,
    /// Free-text pause reasons given by commands, by agent.
    pause_texts: HashMap<String, String>,
    /// Each agent's last queue call: what its wrap-up and disposition are about.
    last_calls: HashMap<String, disposition::LastCall>,
    /// The skill-based router: queued calls, agents' states, offers.
    router: Router,
    /// Waits, handle times and the last interval per queue (router order).
    meters: meter::Meters,
    /// Ring, IVR menu and announcement deadlines, keyed by (kind, call).
    timers: timers::Timers,
    out: VecDeque<Output>,
    actions: Vec<Action>,
    /// Reused for each session event's actions.
    session_actions: Vec<SessionAction>,
    stats: Stats,
    draining: bool,
    next_call: u64,
    /// Draws each call's [`CallUuid`].
    uuids: CallUuids,
    /// The RTP port pool and media plan; `None` passes SDP through.
    anchoring: Option<media::Anchoring>,
    /// Outbound trunks' health checks, registrations and calls' failovers.
    carriers: trunks::Carriers,
    /// Whether new calls come in, on the core's load (`overload.rs`).
    admission: overload::Admission,
    /// Session timers and probes of answered calls (`liveness.rs`).
    watches: liveness::Watches,
    campaigns: campaigns::Campaigns,
    callbacks: callback::CallbackDriver,
    /// Where UDP transactions live (`tx_port.rs`).
    udp_tx: tx_port::UdpTx,
}

impl Switch {
    /// `seed` feeds every tag, branch, Call-ID and nonce the core draws.
    pub fn new(plan: Plan, seed: u64, now: Instant) -> Switch {
        let tx =
            TransactionLayer::with_transactions_max(TimerConfig::default(), plan.transactions_max);
        let mut rng = StdRng::seed_from_u64(seed);
        let digest_config = DigestConfig {
            order: plan.digest_order,
            ..DigestConfig::default()
        };
        let digest = DigestServer::new(&plan.realm, digest_config, &mut rng, now);
        let registrar = Registrar::new(plan.registration.clone());
        let router = queues::build_router(&plan, &mut rng, now);
        let meters = meter::Meters::new(now, plan.metrics_interval, plan.acd_queues.len());
        let anchoring = plan.media.clone().and_then(media::Anchoring::new);
        let guard = AuthGuard::new(plan.guard.clone());
        let pike = Pike::new(plan.pike.clone());
        let admission = overload::Admission::new(plan.overload.clone());
        let mut switch = Switch {
            plan,
            rng,
            tx,
            registrar,
            digest,
            guard,
            pike,
            calls: HashMap::new(),
            demux: demux::Demux::default(),
            busy: HashMap::new(),
            presence: presence::Presence::default(),
            pause_texts: HashMap::new(),
            last_calls: HashMap::new(),
            router,
            meters,
            timers: timers::Timers::default(),
            out: VecDeque::new(),
            actions: Vec::new(),
            session_actions: Vec::new(),
            stats: Stats::default(),
            draining: false,
            next_call: 1,
            uuids: CallUuids::new(now),
            anchoring,
            carriers: trunks::Carriers::default(),
            admission,
            watches: liveness::Watches::default(),
            campaigns: campaigns::Campaigns::default(),
            callbacks: callback::CallbackDriver::default(),
            udp_tx: tx_port::UdpTx::default(),
        };
        switch.sync_carriers(now);
        switch
    }

    /// The driver's wall clock at `now`: call ids and event stamps count from it (else epoch).
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.uuids.set_wall_clock(now, wall);
    }

    /// One datagram (or TCP frame) from `peer`.
    pub fn handle_datagram(&mut self, now: Instant, peer: Peer, bytes: Bytes) {
        use crate::sip::stun::{keep_alive, KeepAlive};
        let udp = peer.transport == crate::sip::Transport::Udp;
        match keep_alive(&bytes, peer.addr, udp) {
            Some(KeepAlive::Crlf) => return,
            Some(KeepAlive::Stun(bytes)) => {
                self.out.push_back(Output::Transmit { peer, bytes });
                return;
            }
            None => {}
        }
        let parsed = Message::parse(bytes.clone());
        self.handle_message(now, peer, bytes, parsed, None);
    }

    /// A message a driver has parsed already (a SIP shard, off this
    /// thread): `bytes` is what came, `parsed` what it read of them, `seen`
    /// what the shard's transaction layer made of it (`tx_port.rs`).
    pub fn handle_message(
        &mut self,
        now: Instant,
        peer: Peer,
        bytes: Bytes,
        parsed: Result<Message, ParseError>,
        seen: Option<Seen>,
    ) {
        match parsed {
            Ok(msg) if msg.is_request() => self.on_request(now, peer, msg, seen),
            Ok(msg) => self.on_response(now, peer, msg, seen),
            Err(err) => self.on_malformed(peer, &bytes, &err),
        }
        self.pump(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.guard.expire(now);
        self.registrar.handle_timeout(now);
        self.router.handle_timeout(now);
        self.handle_media_timeout(now);
        self.handle_menu_timeout(now);
        self.carriers_timeout(now);
        self.handle_liveness_timeout(now);
        self.campaigns_timeout(now);
        self.callbacks_timeout(now);
        while let Some((at, call)) = self.timers.next_due(Timer::Ring, now) {
            let due = self.calls.get(&call).is_some_and(|c| c.phase.ring_due(at));
            if due {
                self.drive(now, call, Input::RingTimeout);
            }
        }
        self.pump(now);
    }

    /// Stop taking calls: new INVITEs get 503, calls in progress are ended.
    pub fn shutdown(&mut self, now: Instant) {
        self.draining = true;
        self.carriers_shutdown(now);
        let ids: Vec<CallRef> = self.calls.keys().copied().collect();
        for id in ids {
            self.drive(now, id, Input::Shutdown);
        }
        self.pump(now);
    }

    /// The drain timed out: every call still up ends now and leaves its
    /// record (`shutdown`, or the outcome it was being released with).
    pub fn abort_calls(&mut self, now: Instant) {
        let ids: Vec<CallRef> = self.calls.keys().copied().collect();
        for id in ids {
            self.drive(now, id, Input::Abort);
        }
        self.pump(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.tx.poll_timeout(),
            self.registrar.poll_timeout(),
            self.router.poll_timeout(),
            self.timers.poll_timeout(),
            self.carriers_poll_timeout(),
            self.campaigns_poll_timeout(),
            self.callbacks_poll_timeout(),
        ]
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
        self.tx.len() + self.udp_tx.held_off_core()
    }

    /// Demux entries (dialogs, branches, zombie forks): none once calls and transactions end.
    pub fn demux_entries(&self) -> usize {
        self.demux.len()
    }

    /// True once shutdown began and every call has ended.
    pub fn is_drained(&self) -> bool {
        self.draining && self.calls.is_empty()
    }

    /// The router, to read agents' and calls' states.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Moves the sub-cores' output into ours, reacting to their events, until none has any.
    fn pump(&mut self, now: Instant) {
        loop {
            self.pump_tx(now);
            let mut moved = false;
            while let Some(event) = self.registrar.poll_event() {
                self.on_registrar_event(now, event);
                moved = true;
            }
            moved |= self.drain_router(now);
            if !moved {
                break;
            }
        }
    }

    fn pump_tx(&mut self, now: Instant) {
        while let Some(output) = self.tx.poll_output() {
            match output {
                tx::Output::Transmit { peer, bytes } => {
                    self.out.push_back(Output::Transmit { peer, bytes })
                }
                tx::Output::Event(event) => self.on_tx_event(now, event),
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
        self.legs_on_input(now, id, &input);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let span = entry.span.clone();
        let _in_call = span.enter();
        let mut actions = std::mem::take(&mut self.actions);
        actions.clear();
        entry.call.handle(now, input, &mut actions);
        for action in actions.drain(..) {
            self.act(now, id, action);
        }
        self.actions = actions;
    }

    fn act(&mut self, now: Instant, id: CallRef, action: Action) {
        self.legs_on_action(now, id, &action);
        match action {
            Action::InviteB => self.invite_b(now, id),
            Action::StartRingTimer => {
                let Some(entry) = self.calls.get(&id) else {
                    return;
                };
                let at = now + entry.ring_timeout;
                let event = if entry.call.transferring {
                    SessionEvent::TransferRingArmed(at)
                } else {
                    SessionEvent::RingTimerArmed(at)
                };
                self.session_event(now, id, event);
            }
            Action::ProvisionalToA { fork, status } => self.provisional_to_a(now, id, fork, status),
            Action::AckB { fork } => self.ack_b(id, fork),
            Action::OkToA { fork } => {
                self.ok_to_a(now, id, fork);
                self.answered_event(now, id);
            }
            Action::CancelForks { keep } => self.cancel_forks(now, id, keep),
            Action::ByeFork { fork } => self.bye_fork(now, id, fork),
            Action::RejectA { status } => self.reject_a(now, id, status),
            Action::Bye(side) => self.bye(now, id, side),
            Action::Requeue { status } => self.requeue(now, id, status),
            Action::AgentAnswered { fork } => self.dial_number(now, id, fork),
            Action::Finished(outcome) => self.finish(now, id, outcome),
            Action::Reconnect { fork } => self.reconnect(now, id, fork),
            Action::TransferFailed { status } => self.transfer_failed(now, id, status),
        }
    }

    fn finish(&mut self, now: Instant, id: CallRef, outcome: Outcome) {
        self.report_call_gone(now, id);
        self.unwatch(id);
        self.release_call(now, id);
        // Forks still owed a CANCEL keep it after the call is gone.
        self.drop_b_leg(now, id);
        self.carriers.calls.remove(&id);
        let Some(mut entry) = self.calls.remove(&id) else {
            return;
        };
        let ended = entry.call.ended.unwrap_or(now);
        let legs_ended = record_legs::ended_event(outcome);
        entry.detail.legs.handle(ended, legs_ended);
        let mut recording = None;
        let mut actions = Vec::new();
        entry
            .phase
            .handle(now, SessionEvent::Ended { ended }, &mut actions);
        for action in actions {
            match action {
                SessionAction::HangUpSupervisor(leg) => {
                    let call = Some((entry.uuid, entry.queue.clone()));
                    self.supervised_call_ended(now, *leg, call)
                }
                SessionAction::HangUpConsultation(c) => self.consultation_call_ended(now, id, *c),
                SessionAction::HangUpParty(p) => {
                    let call = Some((entry.uuid, entry.queue.clone()));
                    self.party_call_ended(now, id, Some(entry.uuid), *p, call)
                }
                SessionAction::RecordingEnded { path, length } => recording = Some((path, length)),
                SessionAction::WakeForRing(_) => {}
            }
        }
        self.release_media(entry.media.take(), id);
        self.demux.remove_dialog(&entry.a.call_id);
        let agent = entry.agent.clone();
        for name in [&agent, &entry.a_agent].into_iter().flatten() {
            if self.busy.get(name) == Some(&id) {
                self.busy.remove(name);
            }
        }
        if let Some(key) = entry.a.invite_key() {
            self.demux.remove_server_branch(&key.branch);
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
            uuid: entry.uuid,
            sip_call_id: entry.a.call_id.clone(),
            trunk: entry.trunk.clone(),
            dialled: entry.dialled.clone(),
            queue: entry.queue.clone(),
            agent,
            outcome,
            wait: entry.call.wait().unwrap_or_default(),
            talk,
            offers: entry.call.offers,
            recording,
            from_agent: entry.a_agent.clone(),
            detail: entry.detail.finish(
                entry.call.created,
                entry.call.ended.unwrap_or(now),
                outcome,
            ),
        };
        match outcome {
            Outcome::Rejected(status) | Outcome::AgentRejected(status) => {
                tracing::info!(call = %id, outcome = outcome.label(), status, "call ended")
            }
            _ => tracing::info!(call = %id, outcome = outcome.label(), "call ended"),
        }
        self.ended_events(now, &record);
        self.out.push_back(Output::CallEnded(record));
    }

    /// Feeds one event to a call's session and carries out what it decides.
    fn session_event(&mut self, now: Instant, id: CallRef, event: SessionEvent) {
        self.legs_on_session(now, id, &event);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let mut actions = std::mem::take(&mut self.session_actions);
        actions.clear();
        entry.phase.handle(now, event, &mut actions);
        for action in actions.drain(..) {
            match action {
                SessionAction::WakeForRing(at) => self.timers.set(Timer::Ring, id, at),
                SessionAction::HangUpSupervisor(leg) => {
                    self.supervised_call_ended(now, *leg, self.uuid_and_queue(id))
                }
                SessionAction::HangUpConsultation(c) => self.consultation_call_ended(now, id, *c),
                SessionAction::HangUpParty(p) => {
                    self.party_call_ended(now, id, None, *p, self.uuid_and_queue(id))
                }
                // Only an ended call's recording ends; `finish` takes it.
                SessionAction::RecordingEnded { .. } => {}
            }
        }
        self.session_actions = actions;
    }

    /// The call's log span (call id, caller, DID, queue, agent), to enter
    /// around work on it; a disabled span for a call that is gone.
    fn call_span(&self, id: CallRef) -> tracing::Span {
        self.calls
            .get(&id)
            .map_or_else(tracing::Span::none, |e| e.span.clone())
    }

    fn new_call_ref(&mut self) -> CallRef {
        let id = CallRef(self.next_call);
        self.next_call += 1;
        id
    }

    /// A random token for tags, branches and Call-IDs.
    fn token(&mut self) -> String {
        let mut bytes = [0u8; 12];
        bytes[..8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.rng.next_u32().to_be_bytes());
        crate::sip::auth::hex(&bytes)
    }
}
