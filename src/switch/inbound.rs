//! Requests arriving at the switch: the checks of RFC 3261 §8.2, then
//! REGISTER, OPTIONS, new calls and in-dialog requests.

use std::time::Instant;

use tracing::debug;

use super::admit::Arrival;
use super::demux::Owner;
use super::{Route, Switch, METHOD_LABELS, RETRY_AFTER};
use crate::call::session::detail::Direction;
use crate::call::{CallRef, Input, Outcome, Routing, Side};
use crate::sip::build;
use crate::sip::parse::{HeaderName, Message, Method, Scheme};
use crate::sip::transaction::{server_key, Seen, ServerKey, ServerVerdict, TxError};
use crate::sip::Peer;

/// RFC 3891's header, made once.
static REPLACES: HeaderName = HeaderName::extension("Replaces");

/// Option tags we support: anything else in `Require` is refused with 420.
/// `replaces` (RFC 3891): a REFER's Refer-To may carry one (attended
/// transfer, `attended.rs`), and an agent's INVITE may (`replaces.rs`).
/// `outbound` (RFC 5626) is what the registrar does with `reg-id` contacts.
/// `timer` is RFC 4028's session timers (`liveness.rs`).
pub(super) const SUPPORTED: &[&str] = &["replaces", "outbound", "timer"];
/// What our INVITEs and their 2xx advertise (RFC 3261 §20.37).
pub(super) const SUPPORTED_IN_CALLS: &str = "replaces";

/// A refusal decided before any processing: status plus extra headers.
pub(super) struct Refusal {
    status: u16,
    headers: Vec<(&'static str, String)>,
}

impl Refusal {
    pub(super) fn plain(status: u16) -> Refusal {
        Refusal {
            status,
            headers: Vec::new(),
        }
    }

    pub(super) fn status(&self) -> u16 {
        self.status
    }

    #[cfg(test)]
    pub(super) fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    pub(super) fn push_header(&mut self, name: &'static str, value: String) {
        self.headers.push((name, value));
    }
}

impl Switch {
    /// A request; `seen` is what a layer off the core made of it (`None`:
    /// it comes straight here, and this core's layer sees it first).
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        source: Peer,
        msg: Message,
        seen: Option<Seen>,
    ) {
        let method = msg
            .method()
            .cloned()
            .unwrap_or(Method::Other(Default::default()));
        self.count_request(&method);
        let dest = build::response_destination(&msg.vias()[0], source, self.plan.force_rport);
        // The shard's layer built the key already.
        let (key, seen) = match seen {
            Some(Seen::Request { verdict, key }) => (key, Some(verdict)),
            _ => (server_key(&msg, &method), None),
        };
        if !self.screen(now, source, &msg) {
            // Dropped unanswered: a transaction made for it off the core goes.
            if let Some(Ok(ServerVerdict::New)) = seen {
                self.tx_forget(key, msg.call_id());
            }
            return;
        }
        if method == Method::Ack {
            return self.on_ack(now, dest, &msg, key, seen);
        }
        let verdict = match seen {
            Some(verdict) => verdict,
            None => self.tx.server_request(now, key.clone(), false, dest),
        };
        match verdict {
            Ok(ServerVerdict::New) => {}
            Ok(_) => return,
            Err(err) => {
                // Out of transaction slots: answer statelessly. A BYE is still
                // honoured: refusing it would keep a call (and its agent) up.
                debug!(%err, "transaction table full");
                if method == Method::Bye {
                    return self.on_bye_stateless(now, source, dest, &msg);
                }
                self.stats.refused_overload[super::ShedReason::Transactions as usize] += 1;
                let mut w = build::response_to(&msg, source, 503, build::reason(503), None);
                w.header_fmt("Retry-After", format_args!("{}", RETRY_AFTER.as_secs()));
                self.out.push_back(super::Output::Transmit {
                    peer: dest,
                    bytes: w.finish(None),
                });
                return;
            }
        }
        let req = Req {
            msg: &msg,
            source,
            key: &key,
        };
        if let Err(refusal) = check(&msg, &method) {
            return self.refuse(now, &req, refusal);
        }
        let in_dialog = msg.to().tag().is_some();
        match method {
            Method::Register => self.on_register(now, &req),
            Method::Options if !in_dialog => self.on_options(now, &req),
            Method::Invite if !in_dialog => self.on_invite(now, &req),
            Method::Cancel => self.on_cancel(now, &req),
            Method::Bye
            | Method::Invite
            | Method::Info
            | Method::Update
            | Method::Options
            | Method::Refer => self.on_in_dialog(now, &req, &method),
            _ => {
                let allow = vec![("Allow", build::ALLOW.to_string())];
                self.refuse(
                    now,
                    &req,
                    Refusal {
                        status: 405,
                        headers: allow,
                    },
                )
            }
        }
    }

    fn count_request(&mut self, method: &Method) {
        let label = method.as_str();
        let idx = METHOD_LABELS
            .iter()
            .position(|l| *l == label)
            .unwrap_or(METHOD_LABELS.len() - 1);
        self.stats.requests[idx] += 1;
    }

    /// Sends a final or provisional response on a server transaction.
    pub(super) fn respond(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        status: u16,
        to_tag: Option<&str>,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) {
        let mut w = build::response_to(req.msg, req.source, status, build::reason(status), to_tag);
        // A response that may create a dialog carries the INVITE's
        // Record-Route, in order (RFC 3261 §12.1.1), so that the proxies
        // which asked to stay on the path see the ACK, re-INVITEs and BYE.
        let dialog_creating = req.msg.method() == Some(&Method::Invite)
            && req.msg.to().tag().is_none()
            && (101..300).contains(&status);
        if dialog_creating {
            for rr in req.msg.header_all(&HeaderName::RecordRoute) {
                w.header("Record-Route", rr);
            }
            if status >= 200 {
                w.header("Supported", SUPPORTED_IN_CALLS);
            }
        }
        for (name, value) in headers {
            w.header(name, value);
        }
        let bytes = w.finish(body);
        if let Err(err) = self.tx_respond(now, req.key, req.source.transport, status, bytes) {
            debug!(%err, status, "response without a transaction");
        }
    }

    pub(super) fn refuse(&mut self, now: Instant, req: &Req<'_>, refusal: Refusal) {
        let tag = self.token();
        self.respond(now, req, refusal.status, Some(&tag), &refusal.headers, None);
    }

    fn on_options(&mut self, now: Instant, req: &Req<'_>) {
        let tag = self.token();
        let headers = [
            ("Allow", build::ALLOW.to_string()),
            ("Accept", "application/sdp".to_string()),
            ("Supported", SUPPORTED.join(", ")),
        ];
        let headers: Vec<(&str, String)> =
            headers.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        self.respond(now, req, 200, Some(&tag), &headers, None);
    }

    /// A new INVITE: from a trunk (by source address) or an agent (by digest).
    fn on_invite(&mut self, now: Instant, req: &Req<'_>) {
        let msg = req.msg;
        if let Err(reason) = self.admission(now) {
            return self.refuse_for_load(now, req, reason);
        }
        let Some((trunk_name, caller_agent)) = self.caller_of(now, req) else {
            return;
        };
        if !self.session_acceptable(now, req) {
            return;
        }
        if let Some(value) = msg.header(&REPLACES) {
            return self.on_invite_replaces(now, req, caller_agent.as_deref(), value);
        }
        let dialled = match msg.request_uri().and_then(|u| u.user()) {
            Some(user) => user.split(';').next().unwrap_or(user).to_string(),
            None => return self.refuse(now, req, Refusal::plain(404)),
        };
        let dialled = match caller_agent {
            None => self.number_from_carrier(trunk_name.as_deref(), msg, dialled),
            Some(_) => dialled,
        };
        if let (Some(agent), Some(code)) = (&caller_agent, super::supervise::parse(&dialled)) {
            let agent = agent.clone();
            return self.on_supervise(now, req, &agent, code);
        }
        if let Some(agent) = caller_agent
            .as_deref()
            .filter(|_| self.is_conference_factory(&dialled))
        {
            return self.on_factory_invite(now, req, agent);
        }
        if let (Some(agent), Some(code)) = (&caller_agent, super::FeatureCode::parse(&dialled)) {
            let agent = agent.clone();
            return self.on_feature(now, req, &agent, code);
        }
        if msg.max_forwards() == Some(0) {
            // We would create an outbound leg (RFC 3261 §16.3 step 2 applies to B2BUAs too).
            self.refuse(now, req, Refusal::plain(483));
            return self.refused_record(now, req, trunk_name, caller_agent, dialled, 483);
        }
        let Some(target) = self.target_of(now, req, &dialled, caller_agent.is_some()) else {
            // A call to nowhere still leaves its record.
            return self.refused_record(now, req, trunk_name, caller_agent, dialled, 404);
        };
        if let (Target::Carrier, Some(agent)) = (&target, &caller_agent) {
            if !self.dial_allowed(now, req, agent, &dialled) {
                return;
            }
        }
        let policy = self.caller_srtp_policy(trunk_name.as_deref(), caller_agent.as_deref());
        let media = match self.anchor_call(msg, (policy, req.source.transport)) {
            Ok(media) => media,
            Err(err) => {
                let mut refusal = Refusal::plain(err.status());
                if refusal.status == 503 {
                    refusal
                        .headers
                        .push(("Retry-After", RETRY_AFTER.as_secs().to_string()));
                }
                if refusal.status == 488 {
                    // Why, for the phone's log (RFC 3261 §20.43).
                    let warning = format!("399 switchyard \"{err}\"");
                    refusal.headers.push(("Warning", warning));
                }
                let status = refusal.status;
                self.refuse(now, req, refusal);
                return self.refused_record(now, req, trunk_name, caller_agent, dialled, status);
            }
        };
        let (routing, queue) = match &target {
            Target::Route(Route::Queue { queue, .. }) => (Routing::Queued, Some(queue.clone())),
            _ => (Routing::Direct, None),
        };
        let (direction, trunk_name) = match (&caller_agent, &target) {
            (None, _) => (Direction::Inbound, trunk_name),
            // The record names the trunk an agent's call went out on.
            (Some(_), Target::Carrier) => (
                Direction::Outbound,
                self.carrier_order().first().map(|t| t.name.clone()),
            ),
            (Some(_), Target::Route(_)) => (Direction::Internal, trunk_name),
        };
        let arrival = Arrival {
            direction,
            trunk: trunk_name,
            caller_agent,
            dialled: dialled.clone(),
            queue,
            routing,
            media,
        };
        let (id, a_tag) = self.admit(now, req, arrival);
        let _in_call = self.call_span(id).entered();
        self.open_media(id);
        self.respond(now, req, 100, None, &[], None);
        self.start_call(now, req, id, &a_tag, target, &dialled);
    }

    /// Who places a new call (a step of [`Switch::on_invite`]): a trunk,
    /// by source address and digest if it asks for one, or an agent, by
    /// digest. `None` when the request was answered (challenged, refused).
    fn caller_of(
        &mut self,
        now: Instant,
        req: &Req<'_>,
    ) -> Option<(Option<String>, Option<String>)> {
        let msg = req.msg;
        // A registered agent's phone may share an address with a trunk (both on
        // loopback in the demo): a request from the agent's own binding is the
        // agent's, and must authenticate as such.
        let from_user = msg.from().uri().user().unwrap_or("");
        let from_agent = self.plan.agents.contains_key(from_user)
            && self
                .registrar
                .lookup(now, from_user)
                .iter()
                .any(|b| b.source.addr == req.source.addr);
        let trunk = if from_agent {
            None
        } else {
            self.plan.trunk_for(req.source.addr.ip()).cloned()
        };
        match &trunk {
            Some(t) if t.inbound_auth.is_none() => Some((Some(t.name.clone()), None)),
            Some(t) => {
                self.authenticate_trunk(now, req, t)?;
                Some((Some(t.name.clone()), None))
            }
            None => {
                let user = self.authenticate(now, req, "INVITE")?;
                Some((None, Some(user)))
            }
        }
    }

    /// What the dialled number reaches (a step of [`Switch::on_invite`]):
    /// `None` when it reaches nothing and the INVITE got 404.
    fn target_of(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        dialled: &str,
        from_agent: bool,
    ) -> Option<Target> {
        // What the number reaches: a DID, an agent's extension (for agents), or
        // the outbound trunk (for agents dialling out).
        match self.plan.dids.get(dialled) {
            Some(route) => Some(Target::Route(route.clone())),
            None if from_agent && self.plan.agents.contains_key(dialled) => {
                Some(Target::Route(Route::Agent(dialled.to_string())))
            }
            None if from_agent && !self.carrier_order().is_empty() => Some(Target::Carrier),
            None => {
                debug!("unknown number dialled");
                self.refuse(now, req, Refusal::plain(404));
                None
            }
        }
    }

    /// Carries an admitted call to its target (a step of
    /// [`Switch::on_invite`]): the agent rings, or the caller hears the
    /// queue or menu, or the carrier is called.
    fn start_call(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        id: CallRef,
        a_tag: &str,
        target: Target,
        dialled: &str,
    ) {
        match target {
            Target::Route(Route::Agent(agent)) => self.offer_agent(now, id, &agent),
            Target::Route(route @ (Route::Queue { .. } | Route::Menu { .. })) => {
                // Anchored, the caller hears the queue or the menu (early
                // media); else ringing.
                match self.early_answer(id) {
                    Some(sdp) => {
                        let contact = [("Contact", self.contact_on(req.source.transport))];
                        let body = Some(("application/sdp", sdp.as_ref()));
                        self.respond(now, req, 183, Some(a_tag), &contact, body);
                    }
                    None => self.respond(now, req, 180, Some(a_tag), &[], None),
                }
                match route {
                    Route::Queue {
                        queue,
                        priority,
                        attributes,
                    } => {
                        self.enqueue(now, id, &queue, priority, attributes);
                        self.start_queue_audio(now, id);
                    }
                    Route::Menu {
                        menu,
                        priority,
                        attributes,
                    } => self.start_menu(now, id, &menu, priority, attributes),
                    Route::Agent(_) => {}
                }
            }
            Target::Carrier => self.offer_carrier(now, id, dialled),
        }
    }

    fn on_cancel(&mut self, now: Instant, req: &Req<'_>) {
        let call = match self.demux.server_branch(&req.key.branch) {
            Some(&Owner::CallerInvite(call)) => Some(call),
            _ => None,
        };
        let tag = self.token();
        match call {
            Some(call) => {
                // The CANCEL's To tag must be our leg's, which we had not sent yet
                // if the caller got no provisional: use the leg's tag either way.
                let a_tag = self
                    .calls
                    .get(&call)
                    .map(|c| c.a.local_tag.clone())
                    .unwrap_or(tag);
                self.respond(now, req, 200, Some(&a_tag), &[], None);
                self.drive(now, call, Input::ACancel);
            }
            None => self.respond(now, req, 481, Some(&tag), &[], None),
        }
    }

    /// ACK: a non-2xx ACK belongs to the INVITE's transaction; a 2xx ACK
    /// (RFC 3261 §13.2.2.4) to the dialog.
    fn on_ack(
        &mut self,
        now: Instant,
        dest: Peer,
        msg: &Message,
        key: ServerKey,
        seen: Option<Result<ServerVerdict, TxError>>,
    ) {
        let verdict = match seen {
            Some(verdict) => verdict,
            None => self.tx.server_request(now, key, true, dest),
        };
        if let Ok(ServerVerdict::AckAbsorbed) = verdict {
            return;
        }
        let (call, side) = match self.demux.dialog(msg.call_id()) {
            Some(&Owner::Leg { call, side }) => (call, side),
            Some(Owner::Feature(_)) => return self.on_feature_ack(now, msg),
            Some(&Owner::Supervisor { call, .. }) => {
                return self.on_supervisor_ack(now, call, msg.call_id())
            }
            _ => return,
        };
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        if side != Side::A {
            return;
        }
        let seq = msg.cseq().seq;
        if let Some((pending_seq, key)) = entry.a.pending_2xx.take() {
            if pending_seq == seq {
                let initial = entry.a.invite_key() == Some(&key);
                self.tx_ack_2xx(now, &key, msg.call_id());
                if initial {
                    let answered = self.accept_late_answer(call, msg.body());
                    self.drive(now, call, Input::AAck);
                    if !answered {
                        // The session never came up: BYE both legs.
                        self.drive(now, call, Input::MediaLost);
                    }
                }
            } else {
                entry.a.pending_2xx = Some((pending_seq, key));
            }
        }
    }

    /// BYE, re-INVITE, INFO, UPDATE, OPTIONS, REFER inside a dialog.
    fn on_in_dialog(&mut self, now: Instant, req: &Req<'_>, method: &Method) {
        let (call, side) = match self.demux.dialog(req.msg.call_id()) {
            Some(&Owner::Leg { call, side }) => (call, side),
            Some(Owner::Feature(_)) => return self.on_feature_request(now, req, method),
            Some(&Owner::Supervisor { call, .. }) => {
                return self.on_supervisor_request(now, req, method, call)
            }
            Some(&Owner::Consult { call }) => {
                return self.on_consult_request(now, req, method, call)
            }
            Some(&Owner::Party { call, party }) => {
                return self.on_party_request(now, req, method, call, party)
            }
            _ => return self.refuse(now, req, Refusal::plain(481)),
        };
        let Some(entry) = self.calls.get(&call) else {
            return self.refuse(now, req, Refusal::plain(481));
        };
        let local_tag = entry.local_tag(side).map(str::to_string);
        if local_tag.as_deref() != req.msg.to().tag() {
            return self.refuse(now, req, Refusal::plain(481));
        }
        match method {
            Method::Bye => {
                self.respond(now, req, 200, None, &[], None);
                // An agent leaving a conference may leave the others talking.
                if side == Side::B && self.conference_agent_left(now, call) {
                    return;
                }
                self.drive(now, call, Input::Bye(side));
            }
            Method::Invite => {
                // Anchored: hold or resume (RFC 3264 §8.4). Else a session
                // refresh: answer with the session we already hold on this leg.
                let leg = match side {
                    Side::A => super::MediaLeg::Caller,
                    Side::B => super::MediaLeg::Agent,
                };
                let sdp = match self.media_reoffer(now, call, leg, req.msg.body()) {
                    Some(Ok(answer)) => Some(answer),
                    Some(Err(e)) => return self.respond(now, req, e.status(), None, &[], None),
                    None => self.calls.get(&call).and_then(|e| e.last_sdp(side)),
                };
                let mut headers = vec![("Contact", self.contact_on(req.source.transport))];
                headers.extend(self.session_refreshed(now, call, side, req.msg));
                let body = sdp.as_ref().map(|b| ("application/sdp", b.as_ref()));
                self.respond(now, req, 200, None, &headers, body);
                if let Some(entry) = self.calls.get_mut(&call) {
                    if side == Side::A {
                        entry.a.pending_2xx = Some((req.msg.cseq().seq, req.key.clone()));
                    } else {
                        // The B leg's re-INVITE ACK is not tracked: stop 2xx retransmission now.
                        self.tx_ack_2xx(now, req.key, req.msg.call_id());
                    }
                }
            }
            Method::Update if req.msg.body().is_empty() => {
                // A session refresh without an offer (RFC 4028 §9).
                let headers = self.session_refreshed(now, call, side, req.msg);
                self.respond(now, req, 200, None, &headers, None);
            }
            Method::Update => {
                // An offer in UPDATE (RFC 3311 §5.2) is answered in its 200,
                // as a re-INVITE's would be; no ACK follows.
                let leg = match side {
                    Side::A => super::MediaLeg::Caller,
                    Side::B => super::MediaLeg::Agent,
                };
                match self.media_reoffer(now, call, leg, req.msg.body()) {
                    Some(Ok(answer)) => {
                        let contact = [("Contact", self.contact_on(req.source.transport))];
                        let body = Some(("application/sdp", answer.as_ref()));
                        self.respond(now, req, 200, None, &contact, body);
                    }
                    Some(Err(e)) => self.respond(now, req, e.status(), None, &[], None),
                    // Not anchored: the session stays as it is.
                    None => self.respond(now, req, 488, None, &[], None),
                }
            }
            Method::Refer => self.on_refer(now, req, call, side),
            Method::Info => match req.msg.content_type() {
                Some(kind @ ("application/dtmf-relay" | "application/dtmf")) => {
                    match super::digits::info_digit(kind, req.msg.body()) {
                        Some(digit) => {
                            self.respond(now, req, 200, None, &[], None);
                            let leg = match side {
                                Side::A => super::MediaLeg::Caller,
                                Side::B => super::MediaLeg::Agent,
                            };
                            self.on_digit(now, call, leg, digit);
                            self.pass_info_digit(call, leg, digit);
                        }
                        None => self.refuse(now, req, Refusal::plain(400)),
                    }
                }
                _ => self.respond(now, req, 200, None, &[], None),
            },
            _ => self.respond(now, req, 200, None, &[], None),
        }
    }

    /// A BYE handled without a server transaction (the table is full): a
    /// retransmitted copy finds no dialog and gets 481, which the caller's
    /// transaction accepts as final.
    fn on_bye_stateless(&mut self, now: Instant, source: Peer, dest: Peer, msg: &Message) {
        let found = match self.demux.dialog(msg.call_id()) {
            Some(&Owner::Leg { call, side }) => Some((call, side)),
            _ => None,
        };
        let status = match found {
            Some((call, side))
                if self.calls.get(&call).and_then(|e| e.local_tag(side)) == msg.to().tag() =>
            {
                self.drive(now, call, Input::Bye(side));
                200
            }
            _ => 481,
        };
        let bytes =
            build::response_to(msg, source, status, build::reason(status), None).finish(None);
        self.out
            .push_back(super::Output::Transmit { peer: dest, bytes });
    }

    /// Our Contact header value on a leg over `transport` (RFC 3261
    /// §8.1.1.8: in-dialog requests come back to it, over TLS for TLS).
    pub(super) fn contact_on(&self, transport: crate::sip::Transport) -> String {
        let local = self.plan.local_on(transport);
        format!("<sip:switchyard@{local}{}>", transport.uri_param())
    }

    /// Carries out an unroutable outcome on a call.
    pub(super) fn unroutable(&mut self, now: Instant, id: CallRef, outcome: Outcome) {
        self.drive(now, id, Input::Unroutable(outcome));
    }
}

/// A request being served: the message, where it came from, its transaction.
pub(super) struct Req<'a> {
    pub msg: &'a Message,
    pub source: Peer,
    pub key: &'a ServerKey,
}

enum Target {
    Route(Route),
    Carrier,
}

/// The checks of RFC 3261 §8.2.1–8.2.3 that need no state.
fn check(msg: &Message, method: &Method) -> Result<(), Refusal> {
    if let Method::Other(_) = method {
        return Err(Refusal {
            status: 501,
            headers: vec![("Allow", build::ALLOW.to_string())],
        });
    }
    let uri = msg.request_uri().expect("a request has a Request-URI");
    if uri.scheme() == Scheme::Other {
        return Err(Refusal::plain(416));
    }
    if *method != Method::Cancel {
        let unsupported: Vec<&str> = msg
            .header_tokens(&HeaderName::Require)
            .filter(|t| !SUPPORTED.contains(t))
            .collect();
        if !unsupported.is_empty() {
            return Err(Refusal {
                status: 420,
                headers: vec![("Unsupported", unsupported.join(", "))],
            });
        }
    }
    if !msg.body().is_empty() {
        let ok = match msg.content_type() {
            None => false,
            Some("application/sdp") => true,
            Some("application/dtmf-relay" | "application/dtmf") => *method == Method::Info,
            Some(_) => false,
        };
        if !ok {
            return Err(Refusal {
                status: 415,
                headers: vec![("Accept", "application/sdp".to_string())],
            });
        }
    }
    if matches!(method, Method::Invite | Method::Options) && !build::accepts_sdp(msg) {
        return Err(Refusal {
            status: 406,
            headers: vec![(
                "Warning",
                "399 switchyard \"only application/sdp bodies\"".to_string(),
            )],
        });
    }
    Ok(())
}
