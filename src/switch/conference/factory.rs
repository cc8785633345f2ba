//! A desk phone's network conference key (RFC 4579 §5.4, as phones with
//! a "conference server" or "centralized conference" setting do it): the
//! agent's phone holds the customer and has called a colleague itself;
//! the key makes it INVITE the conference factory URI
//! (`[switch] conference_factory`), then REFER the focus, in that new
//! dialog, once per held call with `Refer-To: <…?Replaces=…>` naming its
//! own dialogs with the switch. The switch is the focus and the other end
//! of those dialogs at once, so it maps all this onto the customer call's
//! conference: the factory INVITE takes the place of the agent's leg of
//! the customer call (as an INVITE with Replaces would, that dialog gets a
//! BYE), a REFER naming that old dialog is done already, and one naming
//! the consultation moves the colleague in as a party
//! ([`Switch::merge_placed_into`]). A REFER in the focus dialog without
//! Replaces asks the focus to dial its target out (§5.5): a party, as the
//! API's conference adds one. Simpler phones REFER the customer's dialog
//! (or the consultation's) to the factory URI: the same merge.

use std::cmp::Reverse;
use std::time::Instant;

use tracing::{info, warn};

use super::super::command::CommandError;
use super::super::inbound::{Refusal, Req};
use super::super::transfer::sip_status;
use super::super::{MediaLeg, Switch};
use crate::call::CallRef;
use crate::sip::build::reason;
use crate::sip::parse::HeaderName;
use crate::sip::replaces::Replaces;

impl Switch {
    /// Whether `user` is the conference factory's URI user.
    pub(in crate::switch) fn is_conference_factory(&self, user: &str) -> bool {
        self.plan.conference_factory.as_deref() == Some(user)
    }

    /// Whether the REFER's Refer-To names the conference factory.
    pub(in crate::switch) fn refers_to_factory(&self, req: &Req<'_>) -> bool {
        let to = req.msg.header(&HeaderName::ReferTo).unwrap_or_default();
        !to.contains("Replaces") && self.is_conference_factory(super::super::transfer::uri_user(to))
    }

    /// The Call-ID of the agent dialog a network conference replaced on
    /// `call`, when the agent's phone made it one.
    pub(in crate::switch) fn focus_of(&self, call: CallRef) -> Option<String> {
        self.calls.get(&call)?.phase.conference()?.focus.clone()
    }

    /// The talking call `agent` is the agent of (the customer's), other
    /// than `not`: one their phone holds first, then the oldest.
    pub(in crate::switch) fn agent_call(
        &self,
        agent: &str,
        not: Option<CallRef>,
    ) -> Option<CallRef> {
        self.calls
            .iter()
            .filter(|(id, e)| {
                Some(**id) != not
                    && e.agent.as_deref() == Some(agent)
                    && e.is_talking()
                    && e.b.is_some()
            })
            .max_by_key(|(id, e)| (e.held_by() == Some(MediaLeg::Agent), Reverse(id.0)))
            .map(|(id, _)| *id)
    }

    /// An answered call `agent`'s phone placed, other than `not`.
    fn placed_call_of(&self, agent: &str, not: CallRef) -> Option<CallRef> {
        self.calls
            .iter()
            .find(|(id, e)| {
                **id != not
                    && e.a_agent.as_deref() == Some(agent)
                    && e.is_talking()
                    && e.b.as_ref().is_some_and(|b| b.winner.is_some())
            })
            .map(|(id, _)| *id)
    }

    /// `agent`'s phone INVITEs the conference factory: the new dialog
    /// becomes its leg of its customer call, which becomes a conference.
    pub(in crate::switch) fn on_factory_invite(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        agent: &str,
    ) {
        let Some(id) = self.agent_call(agent, None) else {
            let sip_call_id = req.msg.call_id();
            warn!(
                agent,
                sip_call_id, "conference factory INVITE refused: the agent is on no talking call"
            );
            return self.refuse(now, req, Refusal::plain(403));
        };
        let span = self.call_span(id);
        let _in_call = span.enter();
        if let Err(err) = self.mergeable(id) {
            warn!(call = %id, %err, "conference factory INVITE refused");
            return self.refuse(now, req, Refusal::plain(403));
        }
        if self.focus_of(id).is_some() {
            warn!(call = %id, "conference factory INVITE refused: the call has a focus dialog already");
            return self.refuse(now, req, Refusal::plain(486));
        }
        let answer = match self.media_reoffer(now, id, MediaLeg::Agent, req.msg.body()) {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => {
                warn!(call = %id, status = e.status(), "conference factory INVITE: its offer is refused");
                return self.respond(now, req, e.status(), None, &[], None);
            }
            None => {
                warn!(call = %id, "conference factory INVITE without an offer refused");
                return self.refuse(now, req, Refusal::plain(488));
            }
        };
        let replaced = self
            .calls
            .get(&id)
            .and_then(|e| e.b.as_ref())
            .map(|b| b.call_id.clone());
        let tag = self.token();
        let contact = format!("{};isfocus", self.contact_on(req.source.transport));
        let body = Some(("application/sdp", answer.as_ref()));
        self.respond(now, req, 200, Some(&tag), &[("Contact", contact)], body);
        // Its ACK is not waited for, as for an INVITE with Replaces.
        self.tx_ack_2xx(now, req.key, req.msg.call_id());
        self.replace_b_leg(now, id, req, tag);
        if let Some(c) = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.phase.start_conference())
        {
            c.focus = replaced;
        }
        info!(call = %id, agent, "the agent's phone made the call a network conference");
        self.remix(id);
    }

    /// A REFER with Replaces in the focus dialog of `call`: naming the
    /// dialog the focus replaced, it is done; naming the agent's own
    /// consultation, its callee joins as a party.
    pub(in crate::switch) fn on_focus_refer(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        call: CallRef,
        replaces: &Replaces,
        replaced: &str,
    ) {
        let contact = [("Contact", self.contact_on(req.source.transport))];
        self.respond(now, req, 202, None, &contact, None);
        self.refer_notify(now, call, "SIP/2.0 100 Trying", false);
        if replaces.call_id == replaced {
            info!(call = %call, "network conference: the customer is in it already");
            return self.refer_notify(now, call, "SIP/2.0 200 OK", true);
        }
        let Some(consult) = self.consultation(call, replaces) else {
            warn!(call = %call, "network conference: Replaces names no dialog of this agent: 481");
            let frag = "SIP/2.0 481 Call/Transaction Does Not Exist";
            return self.refer_notify(now, call, frag, true);
        };
        self.notify_merge(now, call, Some(consult));
    }

    /// A REFER without Replaces in the focus dialog of `call` (RFC 4579
    /// §5.5): the focus dials the Refer-To target out as a party, and
    /// the final NOTIFY carries that INVITE's outcome.
    pub(in crate::switch) fn on_focus_dial_out(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        call: CallRef,
        to: &str,
    ) {
        let contact = [("Contact", self.contact_on(req.source.transport))];
        self.respond(now, req, 202, None, &contact, None);
        self.refer_notify(now, call, "SIP/2.0 100 Trying", false);
        match self.add_party(now, call, to) {
            Ok(party) => {
                info!(call = %call, party, "network conference: the focus dials a party out");
                if let Some(c) = self.conference_of(call) {
                    c.referred = Some(party);
                }
            }
            Err(err) => {
                let status = sip_status(&err);
                warn!(call = %call, %err, status, "network conference: the party cannot be dialled");
                let frag = format!("SIP/2.0 {status} {}", reason(status));
                self.refer_notify(now, call, &frag, true);
            }
        }
    }

    /// `party`'s INVITE ended with `status`: when a REFER to the focus
    /// asked for it, that REFER's subscription ends with the outcome.
    pub(in crate::switch) fn referred_party_done(
        &mut self,
        now: Instant,
        call: CallRef,
        party: u8,
        status: u16,
    ) {
        let Some(c) = self.conference_of(call) else {
            return;
        };
        if c.referred != Some(party) {
            return;
        }
        c.referred = None;
        let frag = format!("SIP/2.0 {status} {}", reason(status));
        self.refer_notify(now, call, &frag, true);
    }

    fn conference_of(&mut self, call: CallRef) -> Option<&mut crate::call::session::Conference> {
        self.calls.get_mut(&call)?.phase.conference_mut()
    }

    /// A REFER to the conference factory in the customer's dialog of
    /// `call`: the agent's own consultation joins it.
    pub(in crate::switch) fn on_refer_to_factory(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        call: CallRef,
    ) {
        let contact = [("Contact", self.contact_on(req.source.transport))];
        self.respond(now, req, 202, None, &contact, None);
        self.refer_notify(now, call, "SIP/2.0 100 Trying", false);
        let agent = self.calls.get(&call).and_then(|e| e.agent.clone());
        let consult = agent.and_then(|a| self.placed_call_of(&a, call));
        self.notify_merge(now, call, consult);
    }

    /// A REFER to the conference factory in the consultation `consult`
    /// the agent's phone placed: it joins the agent's customer call.
    pub(in crate::switch) fn on_placed_refer_to_factory(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        consult: CallRef,
    ) {
        let call = match self.customer_call_of(consult) {
            Ok(call) => call,
            Err(err) => {
                warn!(call = %consult, %err, "REFER to the conference factory refused: no customer call");
                return self.refuse(now, req, Refusal::plain(403));
            }
        };
        let contact = [("Contact", self.contact_on(req.source.transport))];
        self.respond(now, req, 202, None, &contact, None);
        // The REFER's dialog is the consultation's, which the merge ends:
        // its one NOTIFY goes before the BYE.
        if let Err(err) = self.mergeable(call) {
            warn!(call = %call, consult = %consult, %err, "network conference: the consultation cannot join");
            return self.caller_notify(now, consult, "SIP/2.0 403 Forbidden", true);
        }
        self.caller_notify(now, consult, "SIP/2.0 200 OK", true);
        if let Err(err) = self.merge_placed_into(now, call, consult) {
            warn!(call = %call, consult = %consult, %err, "network conference: the consultation cannot join");
        }
    }

    /// Merges `consult` into `call` and ends the REFER's subscription on
    /// `call` with the outcome. No consultation on a call that is a
    /// conference already: it is one, done.
    fn notify_merge(&mut self, now: Instant, call: CallRef, consult: Option<CallRef>) {
        let result = match consult {
            Some(consult) => self.merge_placed_into(now, call, consult),
            None if self
                .calls
                .get(&call)
                .is_some_and(|e| e.phase.conference().is_some()) =>
            {
                Ok(())
            }
            None => Err(CommandError::NotConsulting),
        };
        match result {
            Ok(()) => self.refer_notify(now, call, "SIP/2.0 200 OK", true),
            Err(err) => {
                warn!(call = %call, ?consult, %err, "network conference: the consultation cannot join");
                self.refer_notify(now, call, "SIP/2.0 403 Forbidden", true);
            }
        }
    }
}
