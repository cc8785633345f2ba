//! A new call comes into being: its id and log span, its entry in the call
//! table and the demultiplexing tables, the log line with the caller leg's
//! Call-ID, its `call_arrived` event, and the caller agent made busy.
//! What happens next (offer, queue, menu) is `inbound.rs`'s choice.

use std::time::{Duration, Instant};

use super::demux::Owner;
use super::event::EventKind;
use super::inbound::Req;
use super::legs::{ALeg, Session};
use super::presence::Engagement;
use super::{CallMedia, Switch};
use crate::call::session::detail::CallDetail;
use crate::call::session::PhaseMachine;
use crate::call::{Call, CallRef, Outcome, Private, Routing, Side};

/// What the INVITE's checks found out about the call.
pub(super) struct Arrival {
    pub trunk: Option<String>,
    /// The agent whose phone placed the call.
    pub caller_agent: Option<String>,
    pub dialled: String,
    pub queue: Option<String>,
    pub routing: Routing,
    pub media: Option<CallMedia>,
    pub direction: crate::call::session::detail::Direction,
}

impl Switch {
    /// True when calls from this trunk carry an identity we believe
    /// (`trust_identity`, RFC 3325 §4).
    pub(super) fn trusts(&self, trunk: Option<&str>) -> bool {
        trunk.is_some_and(|name| {
            self.plan
                .trunks
                .iter()
                .any(|t| t.name == name && t.identity.trust)
        })
    }

    /// The record of a call refused before it became one (an unknown
    /// number, too many hops, no room): no events but `call_ended`, no
    /// span, no router.
    pub(super) fn refused_record(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        trunk: Option<String>,
        caller_agent: Option<String>,
        dialled: String,
        status: u16,
    ) {
        let uuid = self.uuids.next(now, &mut self.rng);
        let call = self.new_call_ref();
        let mut detail = CallDetail::from_invite(req.msg, self.trusts(trunk.as_deref()));
        detail.direction = match caller_agent {
            Some(_) => crate::call::session::detail::Direction::Internal,
            None => crate::call::session::detail::Direction::Inbound,
        };
        let outcome = Outcome::Rejected(status);
        let record = super::CallRecord {
            call,
            uuid,
            sip_call_id: req.msg.call_id().to_string(),
            trunk,
            dialled,
            queue: None,
            agent: None,
            outcome,
            wait: Duration::ZERO,
            talk: Duration::ZERO,
            offers: 0,
            recording: None,
            from_agent: caller_agent,
            detail: detail.finish(now, now, outcome),
        };
        self.ended_events(now, &record);
        self.out.push_back(super::Output::CallEnded(record));
    }

    /// A new INVITE turned away before anyone was asked who sent it (the
    /// switch is full or draining): a carrier's caller, known by its
    /// source alone, leaves a record, so calls lost to overload show in
    /// the reports. Anyone who would have to authenticate first leaves
    /// none: an unproven sender gets no row in the store.
    pub(super) fn refused_at_the_door(&mut self, now: Instant, req: &Req<'_>, status: u16) {
        let from_user = req.msg.from().uri().user().unwrap_or("");
        let agent_phone = self.plan.agents.contains_key(from_user)
            && self
                .registrar
                .lookup(now, from_user)
                .iter()
                .any(|b| b.source.addr == req.source.addr);
        let trunk = match self.plan.trunk_for(req.source.addr.ip()) {
            Some(t) if !agent_phone && t.inbound_auth.is_none() => t.name.clone(),
            _ => return,
        };
        let Some(user) = req.msg.request_uri().and_then(|u| u.user()) else {
            return;
        };
        let dialled = user.split(';').next().unwrap_or(user).to_string();
        self.refused_record(now, req, Some(trunk), None, dialled, status);
    }

    /// Makes the call; returns it and our tag on the caller's leg.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        arrival: Arrival,
    ) -> (CallRef, String) {
        let Arrival {
            trunk,
            caller_agent,
            dialled,
            queue,
            routing,
            media,
            direction,
        } = arrival;
        let id = self.new_call_ref();
        let uuid = self.uuids.next(now, &mut self.rng);
        let caller = req.msg.from().uri().user().unwrap_or("anonymous");
        let span = tracing::info_span!(
            "call",
            id = %uuid,
            caller = %Private(caller),
            did = %dialled,
            queue = tracing::field::Empty,
            agent = tracing::field::Empty,
        );
        if let Some(q) = &queue {
            span.record("queue", q.as_str());
        }
        let _in_call = span.clone().entered();
        let a = ALeg::new(self.token(), req.msg.clone(), req.source, req.key.clone());
        tracing::info!(
            call = %id,
            sip_call_id = %a.call_id,
            trunk = trunk.as_deref().unwrap_or(""),
            "call arrived"
        );
        let a_tag = a.local_tag.clone();
        let leg = Owner::Leg {
            call: id,
            side: Side::A,
        };
        self.demux.insert(&a.call_id, leg);
        self.demux.insert(&req.key.branch, Owner::CallerInvite(id));
        let mut detail = CallDetail::from_invite(req.msg, self.trusts(trunk.as_deref()));
        detail.direction = direction;
        let event = EventKind::CallArrived {
            call: uuid,
            sip_call_id: a.call_id.clone(),
            dialled: dialled.clone(),
            trunk: trunk.clone(),
            from_agent: caller_agent.clone(),
            caller: detail.caller.clone(),
            caller_name: detail.caller_name.clone(),
            direction: direction.label(),
        };
        let entry = Session {
            call: Call::new(id, routing, now),
            a,
            a_agent: caller_agent.clone(),
            b: None,
            trunk,
            record: self.plan.record_dids.contains(&dialled),
            dialled,
            queue,
            ring_timeout: self.plan.no_answer_timeout,
            agent: None,
            routed: false,
            transfer_from: None,
            fallback_hangup: None,
            transfer_parties: Vec::new(),
            transfer_returns: 0,
            media,
            digits: String::new(),
            phase: PhaseMachine::default(),
            uuid,
            span,
            detail,
        };
        self.stats.calls_started += 1;
        self.calls.insert(id, entry);
        self.emit(now, event);
        if let Some(agent) = caller_agent {
            self.busy.insert(agent.clone(), id);
            self.engage(now, &agent, Engagement::Caller(id));
        }
        (id, a_tag)
    }
}
