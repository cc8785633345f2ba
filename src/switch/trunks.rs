//! The switch's side of its carriers outside calls: one OPTIONS health
//! check and one registration per outbound trunk that asks for them
//! (`sip::carrier` holds the pure machines and builds the requests), the
//! order in which calls out try the trunks, and the figures ops exports.
//! Failover of a call from one trunk to the next is in `failover.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::plan::{OutboundPlan, TrunkPlan};
use super::Switch;
use crate::call::CallRef;
use crate::sip::auth;
use crate::sip::carrier::health::{HealthChange, HealthCheck};
use crate::sip::carrier::registration::{RegAnswer, RegStep, Registration};
use crate::sip::carrier::{self, Head};
use crate::sip::parse::{HeaderName, Message};
use crate::sip::transaction::{ClientKey, TxMethod};

/// One outbound trunk's health, registration and failovers, as ops sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TrunkSnapshot {
    pub name: String,
    /// Up unless its OPTIONS checks failed (always up when unchecked).
    pub up: bool,
    /// Whether the carrier holds our registration; `None`: not asked to.
    pub registered: Option<bool>,
    /// Calls moved from this trunk to the next.
    pub failovers: u64,
}

/// The client state of every outbound trunk, by name.
#[derive(Debug, Default)]
pub(super) struct Carriers {
    trunks: Vec<CarrierState>,
    /// Branches of our probes and REGISTERs in flight → trunk name.
    branches: HashMap<String, (String, Request)>,
    /// Calls out: the number and the trunks tried so far, the last one carrying it.
    pub(super) calls: HashMap<CallRef, CarrierCall>,
}

#[derive(Debug)]
pub(super) struct CarrierCall {
    pub number: String,
    pub tried: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Probe,
    Register,
}

#[derive(Debug)]
struct CarrierState {
    name: String,
    /// What the state was built from; a reload that changes it starts afresh.
    settings: (Option<Duration>, u32, Option<Duration>),
    health: Option<HealthCheck>,
    registration: Option<Registration>,
    /// The REGISTER's Call-ID and From tag, kept across refreshes (§10.2).
    call_id: String,
    local_tag: String,
    cseq: u32,
    failovers: u64,
}

impl Switch {
    /// Builds (or, after a reload, keeps) each outbound trunk's checks
    /// and registration: a trunk whose settings did not change keeps its state.
    pub(super) fn sync_carriers(&mut self, now: Instant) {
        let mut old = std::mem::take(&mut self.carriers.trunks);
        let outbound: Vec<(String, OutboundPlan)> = self
            .plan
            .trunks
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.outbound.clone()?)))
            .collect();
        for (name, out) in outbound {
            let settings = (out.options_interval, out.options_down_after, out.register);
            if let Some(i) = old
                .iter()
                .position(|s| s.name == name && s.settings == settings)
            {
                self.carriers.trunks.push(old.swap_remove(i));
                continue;
            }
            // Only a registration draws its Call-ID and tag: trunks without
            // one leave the RNG's sequence as it was.
            let (call_id, local_tag) = match out.register {
                Some(_) => (self.token(), self.token()),
                None => (String::new(), String::new()),
            };
            let state = CarrierState {
                health: out
                    .options_interval
                    .map(|every| HealthCheck::new(every, out.options_down_after, now)),
                registration: out.register.map(|expires| Registration::new(expires, now)),
                name,
                settings,
                call_id,
                local_tag,
                cseq: 0,
                failovers: 0,
            };
            self.carriers.trunks.push(state);
        }
        let kept: Vec<&str> = self
            .carriers
            .trunks
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        self.carriers
            .branches
            .retain(|_, (name, _)| kept.contains(&name.as_str()));
    }

    /// The earliest probe or REGISTER due.
    pub(super) fn carriers_poll_timeout(&self) -> Option<Instant> {
        self.carriers
            .trunks
            .iter()
            .flat_map(|t| {
                let probe = t.health.as_ref().map(HealthCheck::poll_timeout);
                let register = t.registration.as_ref().and_then(Registration::poll_timeout);
                [probe, register]
            })
            .flatten()
            .min()
    }

    pub(super) fn carriers_timeout(&mut self, now: Instant) {
        for i in 0..self.carriers.trunks.len() {
            let t = &mut self.carriers.trunks[i];
            let (probe, change) = match t.health.as_mut() {
                Some(h) => h.handle_timeout(now),
                None => (false, None),
            };
            let step = t.registration.as_mut().and_then(|r| r.handle_timeout(now));
            self.health_changed(i, change);
            if probe {
                self.send_probe(now, i);
            }
            if let Some(step) = step {
                self.registration_step(now, i, step);
            }
        }
    }

    /// A final response to a probe or REGISTER of ours: true if it was one.
    pub(super) fn on_carrier_response(
        &mut self,
        now: Instant,
        branch: &str,
        msg: &Message,
    ) -> bool {
        let status = msg.status().unwrap_or(0);
        let Some((name, request)) = self.carriers.branches.get(branch).cloned() else {
            return false;
        };
        if status < 200 {
            return true;
        }
        self.carriers.branches.remove(branch);
        let Some(i) = self.carriers.trunks.iter().position(|t| t.name == name) else {
            return true;
        };
        match request {
            Request::Probe => {
                let change = self.carriers.trunks[i]
                    .health
                    .as_mut()
                    .and_then(|h| h.on_response(status));
                self.health_changed(i, change);
            }
            Request::Register => {
                let local = self
                    .outbound_of(&name)
                    .map_or(self.plan.local, |o| self.plan.local_on(o.peer.transport));
                let answer = reg_answer(status, msg, local);
                let step = self.carriers.trunks[i]
                    .registration
                    .as_mut()
                    .and_then(|r| r.on_response(now, answer));
                if let Some(step) = step {
                    self.registration_step(now, i, step);
                }
            }
        }
        true
    }

    /// Our probe or REGISTER timed out: true if it was one.
    pub(super) fn on_carrier_timeout(&mut self, now: Instant, branch: &str) -> bool {
        let Some((name, request)) = self.carriers.branches.remove(branch) else {
            return false;
        };
        if let Some(i) = self.carriers.trunks.iter().position(|t| t.name == name) {
            self.carrier_failed(now, i, request);
        }
        true
    }

    /// Our probes and REGISTERs in flight to `peer` failed (its
    /// connection closed or could not be opened).
    pub(super) fn carrier_requests_failed(&mut self, now: Instant, peer: crate::sip::Peer) {
        let names: Vec<String> = self
            .plan
            .trunks
            .iter()
            .filter(|t| t.outbound.as_ref().is_some_and(|o| o.peer == peer))
            .map(|t| t.name.clone())
            .collect();
        let failed: Vec<(String, String, Request)> = self
            .carriers
            .branches
            .iter()
            .filter(|(_, (name, _))| names.contains(name))
            .map(|(branch, (name, request))| (branch.clone(), name.clone(), *request))
            .collect();
        for (branch, name, request) in failed {
            self.carriers.branches.remove(&branch);
            if let Some(i) = self.carriers.trunks.iter().position(|t| t.name == name) {
                self.carrier_failed(now, i, request);
            }
        }
    }

    /// At shutdown: un-REGISTER where the carrier holds our binding.
    pub(super) fn carriers_shutdown(&mut self, now: Instant) {
        for i in 0..self.carriers.trunks.len() {
            let step = self.carriers.trunks[i]
                .registration
                .as_mut()
                .and_then(|r| r.stop(now));
            if let Some(step) = step {
                self.registration_step(now, i, step);
            }
        }
    }

    /// A carrier we register with sends its calls to the Contact we
    /// registered, `sip:<username>@us`: the number dialled is then in To.
    pub(super) fn number_from_carrier(
        &self,
        trunk: Option<&str>,
        msg: &Message,
        dialled: String,
    ) -> String {
        let registered_as = trunk
            .and_then(|name| self.plan.trunks.iter().find(|t| t.name == name))
            .and_then(|t| t.outbound.as_ref())
            .filter(|o| o.register.is_some())
            .and_then(|o| o.credentials.as_ref())
            .map(|(user, _)| user.as_str());
        if registered_as != Some(dialled.as_str()) {
            return dialled;
        }
        let to = msg.to().uri();
        match to.user() {
            Some(user) => user.split(';').next().unwrap_or(user).to_string(),
            None => dialled,
        }
    }

    /// Every outbound trunk, in plan order.
    pub fn trunk_snapshots(&self, now: Instant) -> Vec<TrunkSnapshot> {
        self.carriers
            .trunks
            .iter()
            .map(|t| TrunkSnapshot {
                name: t.name.clone(),
                up: t.health.as_ref().is_none_or(HealthCheck::is_up),
                registered: t.registration.as_ref().map(|r| r.is_registered(now)),
                failovers: t.failovers,
            })
            .collect()
    }

    /// The trunks a call out tries, in turn: lowest priority first (ties
    /// in file order), trunks whose checks fail skipped while any other
    /// is up; with none up, all of them, as a check may be wrong.
    pub(super) fn carrier_order(&self) -> Vec<&TrunkPlan> {
        let mut all: Vec<&TrunkPlan> = self
            .plan
            .trunks
            .iter()
            .filter(|t| t.outbound.is_some())
            .collect();
        all.sort_by_key(|t| t.outbound.as_ref().map_or(u32::MAX, |o| o.priority));
        let up = |t: &&TrunkPlan| {
            self.carriers
                .trunks
                .iter()
                .find(|s| s.name == t.name)
                .and_then(|s| s.health.as_ref())
                .is_none_or(HealthCheck::is_up)
        };
        if all.iter().any(up) {
            all.retain(up);
        }
        all
    }

    /// Counts a failover away from `trunk`.
    pub(super) fn count_failover(&mut self, trunk: &str) {
        if let Some(t) = self.carriers.trunks.iter_mut().find(|t| t.name == trunk) {
            t.failovers += 1;
        }
    }

    fn health_changed(&self, i: usize, change: Option<HealthChange>) {
        let trunk = &self.carriers.trunks[i].name;
        match change {
            Some(HealthChange::Down) => {
                warn!(trunk = %trunk, "trunk down: OPTIONS checks unanswered")
            }
            Some(HealthChange::Up) => warn!(trunk = %trunk, "trunk up: OPTIONS answered"),
            None => {}
        }
    }

    fn carrier_failed(&mut self, now: Instant, i: usize, request: Request) {
        let t = &mut self.carriers.trunks[i];
        match request {
            Request::Probe => {
                let change = t.health.as_mut().and_then(HealthCheck::on_failure);
                self.health_changed(i, change);
            }
            Request::Register => {
                if let Some(step) = t.registration.as_mut().and_then(|r| r.on_failure(now)) {
                    self.registration_step(now, i, step);
                }
            }
        }
    }

    fn send_probe(&mut self, now: Instant, i: usize) {
        let name = self.carriers.trunks[i].name.clone();
        let Some(out) = self.outbound_of(&name) else {
            return;
        };
        // The probe before this one is forgotten: its answer is too late.
        self.carriers
            .branches
            .retain(|_, (n, r)| !(*n == name && *r == Request::Probe));
        let branch = crate::sip::dialog::branch(&self.token());
        let (call_id, tag) = (self.token(), self.token());
        let head = Head {
            carrier: out.peer.addr,
            transport: out.peer.transport,
            local: self.plan.local_on(out.peer.transport),
            branch: &branch,
            call_id: &call_id,
            cseq: 1,
            local_tag: &tag,
        };
        let bytes = carrier::options(&head);
        self.send_carrier_request(now, i, branch, "OPTIONS", out, bytes, Request::Probe);
    }

    fn registration_step(&mut self, now: Instant, i: usize, step: RegStep) {
        let trunk = self.carriers.trunks[i].name.clone();
        match step {
            RegStep::Send { expires, challenge } => {
                self.send_register(now, i, expires, challenge.as_ref())
            }
            RegStep::Registered { granted } => {
                info!(trunk = %trunk, granted_s = granted.as_secs(), "registered with the carrier")
            }
            RegStep::Refused { status, retry_in } => warn!(
                trunk = %trunk, status, retry_in_s = retry_in.as_secs(),
                "the carrier refused our registration"
            ),
            RegStep::Failed { retry_in } => warn!(
                trunk = %trunk, retry_in_s = retry_in.as_secs(),
                "the carrier did not answer our registration"
            ),
        }
    }

    fn send_register(
        &mut self,
        now: Instant,
        i: usize,
        expires: Duration,
        challenge: Option<&(u16, String)>,
    ) {
        let name = self.carriers.trunks[i].name.clone();
        let Some(out) = self.outbound_of(&name) else {
            return;
        };
        let Some((user, pass)) = out.credentials.clone() else {
            return;
        };
        let branch = crate::sip::dialog::branch(&self.token());
        let t = &mut self.carriers.trunks[i];
        t.cseq += 1;
        let head = Head {
            carrier: out.peer.addr,
            transport: out.peer.transport,
            local: self.plan.local_on(out.peer.transport),
            branch: &branch,
            call_id: &t.call_id,
            cseq: t.cseq,
            local_tag: &t.local_tag,
        };
        // Each challenge is fresh (a new attempt), so its nonce is used once: nc 1.
        let answer = challenge.and_then(|(status, value)| {
            let header = match status {
                407 => "Proxy-Authorization",
                _ => "Authorization",
            };
            let uri = head.uri();
            auth::answer_challenge(value, "REGISTER", &uri, &user, &pass, 1, &mut self.rng)
                .map(|v| (header, v))
                .map_err(|err| warn!(%err, trunk = %name, "cannot answer the carrier's challenge"))
                .ok()
        });
        let auth = answer.as_ref().map(|(n, v)| (*n, v.as_str()));
        let bytes = carrier::register(&head, &user, expires, auth);
        self.send_carrier_request(now, i, branch, "REGISTER", out, bytes, Request::Register);
    }

    #[allow(clippy::too_many_arguments)]
    fn send_carrier_request(
        &mut self,
        now: Instant,
        i: usize,
        branch: String,
        method: &str,
        out: OutboundPlan,
        bytes: bytes::Bytes,
        request: Request,
    ) {
        let key = ClientKey {
            branch: branch.clone(),
            method: TxMethod::NonInvite(method.into()),
        };
        match self.tx_send(now, key, out.peer, bytes, None) {
            Ok(()) => {
                let name = self.carriers.trunks[i].name.clone();
                self.carriers.branches.insert(branch, (name, request));
            }
            Err(err) => {
                debug!(%err, method, "cannot send to the carrier");
                self.carrier_failed(now, i, request);
            }
        }
    }

    fn outbound_of(&self, trunk: &str) -> Option<OutboundPlan> {
        self.plan
            .trunks
            .iter()
            .find(|t| t.name == trunk)
            .and_then(|t| t.outbound.clone())
    }
}

/// What a final response to our REGISTER says.
fn reg_answer(status: u16, msg: &Message, local: SocketAddr) -> RegAnswer {
    let challenge = match status {
        401 => msg.header(&HeaderName::WwwAuthenticate),
        407 => msg.header(&HeaderName::ProxyAuthenticate),
        _ => None,
    };
    let min_expires = msg
        .header(&HeaderName::MinExpires)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    RegAnswer {
        status,
        granted: granted(msg, local),
        challenge: challenge.map(str::to_string),
        min_expires,
    }
}

/// What a 2xx to our REGISTER granted: our Contact's `expires` (the 2xx
/// lists every binding of the address of record), else the Expires header
/// (RFC 3261 §10.2.4).
fn granted(msg: &Message, local: SocketAddr) -> Option<Duration> {
    let ours = format!("@{local}");
    let from_contact = match msg.contacts() {
        crate::sip::parse::Contacts::List(list) => list
            .iter()
            .filter(|c| c.uri().as_str().contains(&ours))
            .find_map(|c| c.param("expires").flatten()?.parse::<u64>().ok()),
        crate::sip::parse::Contacts::Star => None,
    };
    from_contact
        .or(msg.expires().map(u64::from))
        .map(Duration::from_secs)
}
