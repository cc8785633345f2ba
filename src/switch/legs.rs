//! The two legs of a call as SIP sees them: the caller's INVITE we answer,
//! the callee INVITEs we send (one per contact), the dialogs they form, and
//! the messages that carry out the call machine's actions. Responses to
//! what we send are read in `responses.rs`; dialogs and the requests sent in
//! them are built in `sip::dialog`.

use std::time::Instant;

use bytes::Bytes;
use tracing::debug;

use super::demux::{Owner, OwnerKind};
use super::inbound::Req;
use super::presence::Engagement;
use super::Switch;
use crate::call::session::SessionEvent;
pub use crate::call::session::{ALeg, ALegOrigin, BLeg, Fork, Session};
use crate::call::{CallRef, ForkState, Input, OnDrop, Outcome, Side};
use crate::sip::build;
use crate::sip::dialog;
pub use crate::sip::dialog::Dialog;
use crate::sip::parse::ByteStr;
use crate::sip::transaction::{AckTemplate, ClientKey, TxMethod};
use crate::sip::{Peer, Transport};

/// Forks of dropped B legs awaiting a provisional to be CANCELled; past it
/// such a fork rings until the phone gives up (counted).
pub const ZOMBIE_FORKS_MAX: usize = 4 * super::CALLS_HARD_MAX;

/// A fork of a dropped B leg that is owed a CANCEL as soon as it sends a
/// provisional (RFC 3261 §9.1 forbids sending one before).
#[derive(Debug)]
pub struct Zombie {
    pub peer: Peer,
    pub cancel: Bytes,
}

/// One B-leg target: a contact and the agent it belongs to.
pub(super) type Target = (String, Peer, Option<String>);

/// Who waits for a client transaction's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Invite {
        fork: usize,
    },
    Bye {
        side: Side,
    },
    /// The INVITE of an API consultation's leg.
    Consult,
    /// The INVITE of a conference party's leg, by its number in the call.
    Party(u8),
    /// Our re-INVITE of the agent leg with this CSeq (attended transfer).
    Reinvite {
        cseq: u32,
    },
    /// Nobody: a BYE to a late fork or a stray dialog.
    Ignore,
    /// A session refresh or an OPTIONS probe on that side (`liveness.rs`).
    Keepalive {
        side: Side,
    },
}

impl Switch {
    /// Offers a call to an agent's registered contacts.
    pub(super) fn offer_agent(&mut self, now: Instant, id: CallRef, agent: &str) {
        if self.busy.get(agent).is_some_and(|c| *c != id) {
            debug!(call = %id, "agent busy");
            return self.drive(now, id, Input::Unroutable(Outcome::Busy));
        }
        let targets = self.agent_targets(now, agent);
        if targets.is_empty() {
            debug!(call = %id, "agent not registered");
            return self.unroutable(now, id, Outcome::Unavailable);
        }
        self.busy.insert(agent.to_string(), id);
        self.engage(now, agent, Engagement::Callee(id));
        let to = format!("<sip:{agent}@{}>", self.plan.local);
        self.start_b_leg(now, id, Some(agent.to_string()), to, targets, None);
        self.offered_event(now, id, vec![agent.to_string()]);
    }

    /// The registered contacts of an agent, as B-leg targets. An RFC 5626
    /// phone is reached over the flow it registered on, and over one flow
    /// only, its most recent (§5.3): the others are its backups.
    pub(super) fn agent_targets(&self, now: Instant, agent: &str) -> Vec<Target> {
        let bindings = self.registrar.lookup(now, agent);
        let mut targets: Vec<Target> = Vec::with_capacity(bindings.len());
        let mut instances: Vec<&str> = Vec::new();
        for b in bindings {
            let peer = if b.is_flow() {
                let instance = b.instance.as_deref().unwrap_or_default();
                if instances.contains(&instance) {
                    continue;
                }
                instances.push(instance);
                b.source
            } else {
                contact_peer(&b.uri, b.source)
            };
            targets.push((b.uri.clone(), peer, Some(agent.to_string())));
        }
        targets
    }

    /// Sends a call to the first outbound trunk in failover order
    /// (`failover.rs` moves it on to the next).
    pub(super) fn offer_carrier(&mut self, now: Instant, id: CallRef, number: &str) {
        let Some(out) = self.first_carrier(id, number) else {
            return self.unroutable(now, id, Outcome::Unavailable);
        };
        let uri = format!("sip:{number}@{}", out.peer.addr);
        let to = format!("<{uri}>");
        let targets = vec![(uri, out.peer, None)];
        self.start_b_leg(now, id, None, to, targets, out.credentials);
    }

    pub(super) fn start_b_leg(
        &mut self,
        now: Instant,
        id: CallRef,
        agent: Option<String>,
        to: String,
        targets: Vec<Target>,
        credentials: Option<(String, String)>,
    ) {
        let call_id = self.token();
        let local_tag = self.token();
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        let from = entry.b_from(self.plan.local);
        let forks = targets
            .into_iter()
            .map(|(uri, peer, agent)| Fork {
                uri,
                peer,
                agent,
                branch: String::new(),
                via: String::new(),
                state: ForkState::Calling,
                auth_tried: false,
                early_sdp: None,
                dialog: None,
            })
            .collect::<Vec<_>>();
        let n = forks.len();
        let span = entry.span.clone();
        let _in_call = span.enter();
        tracing::info!(call = %id, sip_call_id = %call_id, forks = n, "callee leg");
        let b = BLeg {
            agent,
            call_id: call_id.clone(),
            local_tag,
            from,
            to,
            cseq: 1,
            forks,
            winner: None,
            credentials,
        };
        let leg = Owner::Leg {
            call: id,
            side: Side::B,
        };
        self.demux.insert(&call_id, leg);
        if let Some(entry) = self.calls.get_mut(&id) {
            if let Some(agent) = &b.agent {
                entry.span.record("agent", agent.as_str());
                entry.agent = Some(agent.clone());
            }
            // A placed call's A leg is this agent leg once it answers:
            // its record names the leg's Call-ID from the start.
            if entry.a.is_placed() && entry.a.call_id.is_empty() {
                entry.a.call_id = b.call_id.clone();
                entry.a.local_tag = b.local_tag.clone();
            }
            entry.b = Some(b);
        }
        self.legs_offered(now, id);
        self.session_event(now, id, SessionEvent::Offered);
        self.drive(now, id, Input::Offer { forks: n });
    }

    pub(super) fn invite_b(&mut self, now: Instant, id: CallRef) {
        let n = self
            .calls
            .get(&id)
            .and_then(|e| e.b.as_ref())
            .map_or(0, |b| b.forks.len());
        for fork in 0..n {
            self.send_fork_invite(now, id, fork, None);
        }
    }

    /// Sends (or re-sends with credentials) the INVITE of one fork.
    pub(super) fn send_fork_invite(
        &mut self,
        now: Instant,
        id: CallRef,
        fork: usize,
        auth: Option<(&str, String)>,
    ) {
        let branch = crate::sip::dialog::branch(&self.token());
        let identity = match self.calls.get(&id) {
            Some(entry) => {
                let to_carrier = entry
                    .b
                    .as_ref()
                    .and_then(|b| b.forks.get(fork))
                    .is_some_and(|f| f.agent.is_none());
                self.identity_headers(entry, to_carrier.then_some(id))
            }
            None => return,
        };
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let sdp = entry.fork_offer();
        let placed = matches!(entry.a.origin, ALegOrigin::Placed { dialog: None });
        let f = entry.b.as_ref().and_then(|b| b.forks.get(fork));
        let Some((transport, agent)) = f.map(|f| (f.peer.transport, f.agent.clone())) else {
            return;
        };
        // A placed call rings the agent with our own offer: plain RTP.
        let sdp = match placed {
            true => sdp,
            false => self.secure_fork_offer(id, agent.as_deref(), transport, sdp),
        };
        let (local, contact) = (self.plan.local_on(transport), self.contact_on(transport));
        let auto_answer = agent.is_some() && self.campaign_auto_answer(id);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(b) = entry.b.as_mut() else { return };
        let f = &mut b.forks[fork];
        f.via = dialog::via(f.peer.transport, local, &branch);
        f.branch = branch.clone();
        let peer = f.peer;
        let invite = b.invite(fork);
        let mut w = invite.request();
        w.header("Contact", &contact);
        w.header("Allow", build::ALLOW);
        w.header("Supported", super::inbound::SUPPORTED_IN_CALLS);
        w.header("User-Agent", build::product());
        for (name, value) in &identity {
            w.header(name, value);
        }
        if auto_answer {
            // RFC 5373, and the Call-Info form most desk phones read.
            w.header("Answer-Mode", "Auto");
            w.header("Call-Info", &format!("<sip:{local}>;answer-after=0"));
        }
        if let Some((name, value)) = &auth {
            w.header(name, value);
        }
        let bytes = w.finish(Some(("application/sdp", &sdp)));
        let head = invite.ack_head();
        let key = ClientKey {
            branch: branch.clone(),
            method: TxMethod::Invite,
        };
        let ack = AckTemplate::new(head).expect("our ACK head ends with CRLF");
        match self.tx_send(now, key, peer, bytes, Some(ack)) {
            Ok(()) => {
                let owner = Owner::Client {
                    call: id,
                    purpose: Purpose::Invite { fork },
                };
                self.demux.insert(&branch, owner);
            }
            Err(err) => {
                debug!(%err, "cannot start a client transaction");
                if let Some(f) = self.fork_mut(id, fork) {
                    f.state.on_final_response();
                }
                self.fork_failed(now, id, fork, 503);
            }
        }
    }

    pub(super) fn provisional_to_a(&mut self, now: Instant, id: CallRef, fork: usize, status: u16) {
        let contact = self.contact_on(self.a_transport(id));
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        let early = entry
            .b
            .as_ref()
            .and_then(|b| b.forks.get(fork))
            .and_then(|f| f.early_sdp.clone());
        let early = match early {
            Some(sdp) => self.media_answer(id, Some(sdp)),
            None => None,
        };
        let body = early.as_ref().map(|b| ("application/sdp", b.as_ref()));
        self.respond_a(now, id, status, &[("Contact", contact)], body);
    }

    pub(super) fn ok_to_a(&mut self, now: Instant, id: CallRef, fork: usize) {
        let contact = self.contact_on(self.a_transport(id));
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let answer = entry
            .b
            .as_ref()
            .and_then(|b| b.forks.get(fork))
            .and_then(|f| f.dialog.as_ref())
            .and_then(|d| d.answer.clone());
        let answer = self.media_answer(id, answer);
        self.session_event(now, id, SessionEvent::Answered);
        self.start_recording(now, id);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let ALegOrigin::Inbound { invite, key, .. } = &entry.a.origin else {
            // Our own leg to the agent: nobody awaits a 200.
            return;
        };
        entry.a.pending_2xx = Some((invite.cseq().seq, key.clone()));
        entry.a.sdp_sent = answer.clone();
        let mut headers = vec![("Contact", contact), ("Allow", build::ALLOW.to_string())];
        headers.extend(self.watch_answered(now, id));
        let body = answer.as_ref().map(|b| ("application/sdp", b.as_ref()));
        self.respond_a(now, id, 200, &headers, body);
    }

    /// Answers the caller's INVITE (on its server transaction, with our tag).
    /// The transport of the caller's leg.
    fn a_transport(&self, id: CallRef) -> Transport {
        match self.calls.get(&id).map(|e| &e.a.origin) {
            Some(ALegOrigin::Inbound { source, .. }) => source.transport,
            Some(ALegOrigin::Placed { dialog: Some(d) }) => d.peer.transport,
            _ => Transport::Udp,
        }
    }

    fn respond_a(
        &mut self,
        now: Instant,
        id: CallRef,
        status: u16,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) {
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        let ALegOrigin::Inbound {
            invite,
            source,
            key,
        } = &entry.a.origin
        else {
            return;
        };
        let (msg, source, key, tag) = (
            invite.clone(),
            *source,
            key.clone(),
            entry.a.local_tag.clone(),
        );
        let req = Req {
            msg: &msg,
            source,
            key: &key,
        };
        self.respond(now, &req, status, Some(&tag), headers, body);
    }

    pub(super) fn reject_a(&mut self, now: Instant, id: CallRef, status: u16) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        entry.detail.rejected_status = Some(status);
        self.session_event(now, id, SessionEvent::RingStopped);
        let headers: Vec<(&str, String)> = if status == 503 {
            vec![("Retry-After", super::RETRY_AFTER.as_secs().to_string())]
        } else {
            Vec::new()
        };
        self.respond_a(now, id, status, &headers, None);
    }

    pub(super) fn cancel_forks(&mut self, now: Instant, id: CallRef, keep: Option<usize>) {
        self.session_event(now, id, SessionEvent::RingStopped);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(b) = entry.b.as_ref() else { return };
        let forks: Vec<usize> = (0..b.forks.len())
            .filter(|&i| Some(i) != keep && b.forks[i].state.is_live())
            .collect();
        for i in forks {
            self.withdraw_fork(now, id, i);
        }
    }

    /// Gives up on one live fork: CANCEL it now, or once it sends a
    /// provisional (RFC 3261 §9.1 forbids a CANCEL before one).
    pub(super) fn withdraw_fork(&mut self, now: Instant, id: CallRef, fork: usize) {
        let Some(f) = self.fork_mut(id, fork) else {
            return;
        };
        if f.state.withdraw() {
            self.send_cancel(now, id, fork);
        }
    }

    pub(super) fn send_cancel(&mut self, now: Instant, id: CallRef, fork: usize) {
        let Some(b) = self.calls.get_mut(&id).and_then(|e| e.b.as_mut()) else {
            return;
        };
        b.forks[fork].state.on_cancel_sent();
        let (key, peer, bytes) = cancel_for(b, fork);
        if let Err(err) = self.tx_send(now, key, peer, bytes, None) {
            debug!(%err, "cannot send CANCEL");
        }
    }

    /// Lets go of a call's B leg: forks that never sent a provisional keep
    /// their CANCEL in the zombie table; agents offered the call are free.
    pub(super) fn drop_b_leg(&mut self, now: Instant, id: CallRef) {
        self.session_event(now, id, SessionEvent::RingStopped);
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(b) = entry.b.take() else { return };
        self.demux.remove_dialog(&b.call_id);
        for (i, f) in b.forks.iter().enumerate() {
            self.demux.remove_client_branch(&f.branch);
            if let Some(agent) = &f.agent {
                if self.busy.get(agent) == Some(&id) {
                    self.busy.remove(agent);
                }
            }
            if f.dialog.is_some() || f.branch.is_empty() {
                continue;
            }
            match f.state.on_drop() {
                OnDrop::Nothing => {}
                OnDrop::Cancel => {
                    let (key, peer, bytes) = cancel_for(&b, i);
                    let _ = self.tx_send(now, key, peer, bytes, None);
                }
                OnDrop::CancelLater => {
                    if self.demux.count(OwnerKind::Zombie) >= ZOMBIE_FORKS_MAX {
                        self.stats.zombies_dropped += 1;
                        continue;
                    }
                    let (_, peer, cancel) = cancel_for(&b, i);
                    self.demux
                        .insert(&f.branch, Owner::Zombie(Box::new(Zombie { peer, cancel })));
                }
            }
        }
    }

    pub(super) fn bye_fork(&mut self, now: Instant, id: CallRef, fork: usize) {
        let dialog = self.fork_mut(id, fork).and_then(|f| f.dialog.clone());
        if let Some(dialog) = dialog {
            self.send_bye(now, id, &dialog, Purpose::Ignore);
        }
    }

    /// The dialog of one leg: the caller's, or the answering fork's.
    pub(super) fn leg_dialog(&self, id: CallRef, side: Side) -> Option<Dialog> {
        match side {
            Side::A => self.a_dialog(id),
            Side::B => self
                .calls
                .get(&id)
                .and_then(|e| e.b.as_ref())
                .and_then(|b| b.forks.get(b.winner?))
                .and_then(|f| f.dialog.clone()),
        }
    }

    /// Hangs up one leg of a call.
    pub(super) fn bye(&mut self, now: Instant, id: CallRef, side: Side) {
        match self.leg_dialog(id, side) {
            Some(dialog) => self.send_bye(now, id, &dialog, Purpose::Bye { side }),
            None => self.drive(now, id, Input::ByeDone(side)),
        }
    }

    /// The caller's dialog as seen from our side (RFC 3261 §12.1.1), or
    /// the agent's dialog on a call we placed.
    fn a_dialog(&self, id: CallRef) -> Option<Dialog> {
        let entry = self.calls.get(&id)?;
        match &entry.a.origin {
            ALegOrigin::Inbound { invite, source, .. } => {
                Some(Dialog::as_uas(invite, *source, &entry.a.local_tag))
            }
            ALegOrigin::Placed { dialog } => dialog.clone(),
        }
    }

    fn send_bye(&mut self, now: Instant, id: CallRef, dialog: &Dialog, purpose: Purpose) {
        let branch = crate::sip::dialog::branch(&self.token());
        let local = self.plan.local;
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let (call_id, cseq) = match purpose {
            Purpose::Bye { side: Side::A } => {
                entry.a.local_cseq += 1;
                (entry.a.call_id.clone(), entry.a.local_cseq)
            }
            _ => {
                let Some(b) = entry.b.as_mut() else { return };
                b.cseq += 1;
                (b.call_id.clone(), b.cseq)
            }
        };
        let bytes = dialog.bye(local, &branch, &call_id, cseq);
        let key = ClientKey {
            branch: branch.clone(),
            method: TxMethod::NonInvite("BYE".into()),
        };
        match self.tx_send(now, key, dialog.next_hop(), bytes, None) {
            Ok(()) => {
                self.demux
                    .insert(&branch, Owner::Client { call: id, purpose });
            }
            Err(err) => {
                debug!(%err, "cannot send BYE");
                if let Purpose::Bye { side } = purpose {
                    self.drive(now, id, Input::ByeDone(side));
                }
            }
        }
    }

    /// No offered agent took a queued call: drop the B leg. The router
    /// was told per agent and decides what comes next.
    pub(super) fn requeue(&mut self, now: Instant, id: CallRef, status: u16) {
        if self.is_campaign_call(id) {
            return self.campaign_agent_missed(now, id, status);
        }
        debug!(call = %id, status, "offer missed, the call waits again");
        self.drop_b_leg(now, id);
        self.session_event(now, id, SessionEvent::Queued);
    }
}

/// The CANCEL of one fork (RFC 3261 §9.1), built in `sip::dialog`.
fn cancel_for(b: &BLeg, fork: usize) -> (ClientKey, Peer, Bytes) {
    let f = &b.forks[fork];
    let cancel = b.invite(fork).cancel();
    let key = ClientKey {
        branch: f.branch.clone(),
        method: TxMethod::NonInvite("CANCEL".into()),
    };
    (key, f.peer, cancel)
}

/// Where to send requests for a registered contact: over the phone's own TCP
/// connection when it registered over TCP (the connection is the only way
/// back), else to the contact's address when it is an IP literal, else to
/// where the registration came from. Names are not resolved here.
fn contact_peer(uri: &str, source: Peer) -> Peer {
    if source.transport.is_reliable() {
        return source;
    }
    let Ok(parsed) = crate::sip::parse::Uri::parse(
        ByteStr::from_utf8(Bytes::copy_from_slice(uri.as_bytes())).unwrap_or_default(),
    ) else {
        return source;
    };
    let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = host.parse::<std::net::IpAddr>() else {
        return source;
    };
    let transport = Transport::of_uri(
        parsed.scheme() == crate::sip::parse::Scheme::Sips,
        parsed.param("transport").flatten(),
    );
    Peer {
        transport,
        addr: std::net::SocketAddr::new(ip, parsed.port().unwrap_or(5060)),
    }
}
