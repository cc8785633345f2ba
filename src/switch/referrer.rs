//! Who sent a REFER in a call's dialog, and the carrier's REFER. Only the
//! agent's leg may move a call it took; a REFER from the customer's side
//! (a trunk) is refused with 403 unless that trunk has `allow_refer`,
//! when it moves the call as the agent's REFER would (the agent goes to
//! wrap-up, the caller stays and the target rings) and the NOTIFYs go in
//! the carrier's dialog. On a call an agent placed (originate, or its own
//! call out) the agent holds the A leg: its REFER gets 403, logged.

use std::time::Instant;

use tracing::warn;

use super::command::CommandError;
use super::demux::Owner;
use super::inbound::{Refusal, Req};
use super::legs::Purpose;
use super::Switch;
use crate::call::session::ALegOrigin;
use crate::call::{CallRef, Side};
use crate::sip::dialog::Dialog;
use crate::sip::parse::HeaderName;

/// The sender of a REFER in a call's dialog.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Referrer {
    /// The agent who took the call (its B leg).
    Agent,
    /// The agent who placed the call (its A leg).
    PlacingAgent,
    /// The customer's side: a trunk, and whether it may REFER.
    Carrier { trunk: String, allowed: bool },
}

impl Switch {
    /// Who holds `side` of `call`.
    pub(super) fn referrer(&self, call: CallRef, side: Side) -> Referrer {
        let Some(entry) = self.calls.get(&call) else {
            return Referrer::Agent;
        };
        let carrier_peer = match side {
            Side::A if entry.a_agent.is_some() => return Referrer::PlacingAgent,
            Side::A => None,
            Side::B => {
                let fork = entry.b.as_ref().and_then(|b| b.forks.get(b.winner?));
                match fork {
                    Some(f) if f.agent.is_none() => Some(f.peer.addr),
                    _ => return Referrer::Agent,
                }
            }
        };
        // An outside number's leg: the trunk we sent it to.
        let trunk = match carrier_peer {
            Some(addr) => self
                .plan
                .trunks
                .iter()
                .find(|t| t.outbound.as_ref().is_some_and(|o| o.peer.addr == addr)),
            None => entry
                .trunk
                .as_deref()
                .and_then(|name| self.plan.trunks.iter().find(|t| t.name == name)),
        };
        Referrer::Carrier {
            trunk: trunk.map_or_else(|| "-".to_string(), |t| t.name.clone()),
            allowed: trunk.is_some_and(|t| t.allow_refer),
        }
    }

    /// A REFER from the caller's trunk that allows it: the call moves to
    /// the Refer-To target; progress goes to the carrier as NOTIFYs.
    pub(super) fn on_carrier_refer(&mut self, now: Instant, req: &Req<'_>, call: CallRef) {
        let Some(to) = req.msg.header(&HeaderName::ReferTo).map(str::to_string) else {
            warn!(call = %call, "REFER without Refer-To refused");
            return self.refuse(now, req, Refusal::plain(400));
        };
        if to.contains("Replaces") {
            // The carrier holds no consultation of ours to join.
            warn!(call = %call, "REFER with Replaces from the carrier's side refused");
            return self.refuse(now, req, Refusal::plain(403));
        }
        if let Err(err) = self.transferable(call) {
            warn!(call = %call, %err, "REFER from the carrier refused");
            let status = if err == CommandError::TransferLoop {
                403
            } else {
                491
            };
            return self.refuse(now, req, Refusal::plain(status));
        }
        let contact = [("Contact", self.contact_on(req.source.transport))];
        self.respond(now, req, 202, None, &contact, None);
        self.caller_notify(now, call, "SIP/2.0 100 Trying", false);
        match self.transfer(now, call, &to, false) {
            Ok(()) => self.caller_notify(now, call, "SIP/2.0 200 OK", true),
            Err(err) => {
                let status = super::transfer::sip_status(&err);
                warn!(call = %call, %err, status, "carrier's transfer refused: the call stays with the agent");
                let frag = format!("SIP/2.0 {status} {}", crate::sip::build::reason(status));
                self.caller_notify(now, call, &frag, true);
            }
        }
    }

    /// A NOTIFY of the carrier's REFER subscription, in the caller's dialog.
    pub(super) fn caller_notify(&mut self, now: Instant, id: CallRef, frag: &str, done: bool) {
        let branch = crate::sip::dialog::branch(&self.token());
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let ALegOrigin::Inbound { invite, source, .. } = &entry.a.origin else {
            return;
        };
        let dialog = Dialog::as_uas(invite, *source, &entry.a.local_tag);
        entry.a.local_cseq += 1;
        let (call_id, cseq) = (entry.a.call_id.clone(), entry.a.local_cseq);
        let transport = dialog.next_hop().transport;
        let (local, contact) = (self.plan.local_on(transport), self.contact_on(transport));
        let bytes = dialog.refer_notify(local, &branch, &call_id, cseq, &contact, frag, done);
        let key = crate::sip::transaction::ClientKey {
            branch: branch.clone(),
            method: crate::sip::transaction::TxMethod::NonInvite("NOTIFY".into()),
        };
        if self
            .tx_send(now, key, dialog.next_hop(), bytes, None)
            .is_ok()
        {
            let owner = Owner::Client {
                call: id,
                purpose: Purpose::Ignore,
            };
            self.demux.insert(&branch, owner);
        }
    }
}
