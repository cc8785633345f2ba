//! An INVITE with `Replaces` (RFC 3891) from an agent's phone: the other
//! order of attended transfer, and call pickup on another device. It names
//! the switch's dialog with that agent on a talking call; the new dialog
//! takes that leg's place (its offer is taken as a re-offer on the agent's
//! media leg, RFC 3264 §8) and the old one is hung up. Only the agent who
//! holds that leg may replace it: any other dialog, another agent's, or an
//! INVITE that is not an authenticated agent's gets 481 (§3).

use std::time::Instant;

use tracing::{info, warn};

use super::demux::Owner;
use super::inbound::{Refusal, Req};
use super::{MediaLeg, Switch};
use crate::call::session::{BLeg, Fork};
use crate::call::{CallRef, ForkState, Side};
use crate::sip::dialog::Dialog;
use crate::sip::parse::Contacts;
use crate::sip::replaces::Replaces;

impl Switch {
    /// A new INVITE carrying `Replaces: value`, from `agent` when an
    /// authenticated agent sent it.
    pub(super) fn on_invite_replaces(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        agent: Option<&str>,
        value: &str,
    ) {
        let replaces = match Replaces::parse(value) {
            Ok(r) => r,
            Err(err) => {
                warn!(%err, "INVITE with a bad Replaces refused");
                return self.refuse(now, req, Refusal::plain(err.status()));
            }
        };
        let Some(call) = agent.and_then(|a| self.replaceable(a, &replaces)) else {
            warn!("INVITE with Replaces names no dialog of this agent: 481");
            return self.refuse(now, req, Refusal::plain(481));
        };
        let span = self.call_span(call);
        let _in_call = span.enter();
        if replaces.early_only {
            // The dialog is confirmed: early-only may not replace it (§3).
            return self.refuse(now, req, Refusal::plain(486));
        }
        let answer = match self.media_reoffer(now, call, MediaLeg::Agent, req.msg.body()) {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => return self.respond(now, req, e.status(), None, &[], None),
            None => {
                warn!(call = %call, "INVITE with Replaces without an offer refused");
                return self.refuse(now, req, Refusal::plain(488));
            }
        };
        let tag = self.token();
        let contact = [("Contact", self.contact_on(req.source.transport))];
        let body = Some(("application/sdp", answer.as_ref()));
        self.respond(now, req, 200, Some(&tag), &contact, body);
        // Its ACK is not waited for, as for a re-INVITE of this leg.
        self.tx_ack_2xx(now, req.key, req.msg.call_id());
        self.replace_b_leg(now, call, req, tag);
        info!(call = %call, "the agent's leg was replaced by a new dialog (INVITE with Replaces)");
    }

    /// The talking call whose agent leg is `agent`'s dialog named by `r`.
    fn replaceable(&self, agent: &str, r: &Replaces) -> Option<CallRef> {
        let Some(&Owner::Leg {
            call,
            side: Side::B,
        }) = self.demux.dialog(&r.call_id)
        else {
            return None;
        };
        let entry = self.calls.get(&call)?;
        let b = entry.b.as_ref()?;
        let dialog = b.forks.get(b.winner?)?.dialog.as_ref()?;
        let theirs = tag_of(&dialog.to)?;
        let ok = entry.agent.as_deref() == Some(agent)
            && entry.is_talking()
            && entry.media.is_some()
            && entry.phase.consult().is_none()
            && r.names(&b.call_id, &b.local_tag, theirs);
        ok.then_some(call)
    }

    /// BYE on the old agent dialog; the new one becomes the call's agent leg.
    pub(super) fn replace_b_leg(
        &mut self,
        now: Instant,
        call: CallRef,
        req: &Req<'_>,
        tag: String,
    ) {
        let old = self
            .calls
            .get(&call)
            .and_then(|e| e.b.as_ref())
            .and_then(|b| b.forks.get(b.winner?))
            .and_then(|f| f.dialog.clone());
        if let Some(old) = old {
            self.send_in_dialog_bye(now, call, &old);
        }
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(old) = entry.b.take() else { return };
        self.demux.remove_dialog(&old.call_id);
        for f in &old.forks {
            self.demux.remove_client_branch(&f.branch);
        }
        let msg = req.msg;
        let uri = match msg.contacts() {
            Contacts::List(list) if !list.is_empty() => list[0].uri().as_str().to_string(),
            _ => msg.from().uri().as_str().to_string(),
        };
        let mut state = ForkState::Calling;
        state.on_answer();
        let fork = Fork {
            uri,
            peer: req.source,
            agent: old.agent.clone(),
            branch: String::new(),
            via: String::new(),
            state,
            auth_tried: false,
            early_sdp: None,
            dialog: Some(Dialog::as_uas(msg, req.source, &tag)),
        };
        let b = BLeg {
            agent: old.agent,
            call_id: msg.call_id().to_string(),
            local_tag: tag,
            from: msg.to().as_str().to_string(),
            to: msg.from().as_str().to_string(),
            cseq: 1,
            forks: vec![fork],
            winner: Some(0),
            credentials: None,
        };
        self.demux.insert(
            &b.call_id,
            Owner::Leg {
                call,
                side: Side::B,
            },
        );
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.b = Some(b);
        }
    }
}

/// The `tag` parameter of a From or To value.
fn tag_of(header: &str) -> Option<&str> {
    let at = header.rfind(";tag=")? + ";tag=".len();
    let rest = &header[at..];
    let end = rest.find([';', ' ', '\t', '>']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::tag_of;

    #[test]
    fn tags_of_name_addrs() {
        assert_eq!(tag_of("<sip:1001@10.0.0.2>;tag=abc"), Some("abc"));
        assert_eq!(tag_of("\"A\" <sip:a@h>;tag=x1;foo=bar"), Some("x1"));
        assert_eq!(tag_of("<sip:a@h>"), None);
        assert_eq!(tag_of("<sip:a@h>;tag="), None);
    }
}
