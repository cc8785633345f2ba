//! Responses to the requests the switch sends: a fork's provisional, 2xx
//! (the dialog it forms, with the route set of RFC 3261 §12.1.2) or failure,
//! a carrier's digest challenge, a 2xx for a call that is gone, and
//! responses on forks already given up (zombies, owed a CANCEL).

use std::time::Instant;

use tracing::debug;

use super::demux::Owner;
use super::legs::{Dialog, Fork, Purpose};
use super::{Output, Switch};
use crate::call::{CallRef, Input};
use crate::sip::auth;
use crate::sip::parse::{Contacts, HeaderName, Message, Method};
use crate::sip::transaction::{client_key, ClientKey, ClientVerdict, Seen, TxMethod};
use crate::sip::Peer;

impl Switch {
    /// A response to one of our requests.
    /// `seen`: what a layer off the core made of it, as in `on_request`.
    pub(super) fn on_response(
        &mut self,
        now: Instant,
        peer: Peer,
        msg: Message,
        seen: Option<Seen>,
    ) {
        self.stats.responses_received += 1;
        let status = msg.status().unwrap_or(0);
        // The shard's layer built the key already.
        let (key, seen) = match seen {
            Some(Seen::Response { verdict, key }) => (key, Some(verdict)),
            _ => (client_key(&msg), None),
        };
        let Some(key) = key else {
            self.stats.stray_responses += 1;
            return;
        };
        let method = &msg.cseq().method;
        let verdict = match seen {
            Some(verdict) => verdict,
            None => self
                .tx
                .client_response(now, &key, status, msg.to().as_str()),
        };
        let branch = key.branch;
        match verdict {
            ClientVerdict::Deliver => {}
            ClientVerdict::Absorbed => return,
            ClientVerdict::NotMatched => {
                if *method == Method::Invite && (200..300).contains(&status) {
                    return self.on_stray_2xx(now, peer, &msg);
                }
                self.stats.stray_responses += 1;
                return;
            }
        }
        if *method == Method::Cancel {
            return;
        }
        if self.on_carrier_response(now, &branch, &msg) {
            return;
        }
        let (call, purpose) = match self.demux.client_branch(&branch) {
            Some(Owner::Client { call, purpose }) => (*call, *purpose),
            Some(Owner::Zombie(_)) if *method == Method::Invite => {
                return self.on_zombie_response(now, &branch, status);
            }
            _ => {
                if *method == Method::Invite && (200..300).contains(&status) {
                    self.on_stray_2xx(now, peer, &msg);
                }
                return;
            }
        };
        match purpose {
            Purpose::Invite { fork } => {
                self.on_fork_response(now, peer, call, fork, &branch, &msg, status)
            }
            Purpose::Bye { side } if status >= 200 => {
                self.demux.remove_client_branch(&branch);
                self.drive(now, call, Input::ByeDone(side));
            }
            Purpose::Bye { .. } => {}
            Purpose::Keepalive { side } => {
                if status >= 200 {
                    self.demux.remove_client_branch(&branch);
                }
                self.on_keepalive_response(now, call, side, Some(&msg), status);
            }
            Purpose::Consult => {
                if status >= 300 {
                    self.demux.remove_client_branch(&branch);
                }
                self.on_consult_response(now, peer, call, &msg);
            }
            Purpose::Party(party) => {
                if status >= 300 {
                    self.demux.remove_client_branch(&branch);
                }
                self.on_party_response(now, peer, call, party, &msg);
            }
            Purpose::Reinvite { cseq } => {
                if status >= 200 {
                    self.demux.remove_client_branch(&branch);
                }
                self.on_reinvite_response(now, call, cseq, &msg, status);
            }
            Purpose::Ignore => {
                if status >= 200 {
                    self.demux.remove_client_branch(&branch);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_fork_response(
        &mut self,
        now: Instant,
        peer: Peer,
        id: CallRef,
        fork: usize,
        branch: &str,
        msg: &Message,
        status: u16,
    ) {
        let withdrawn = self
            .fork_mut(id, fork)
            .is_some_and(|f| f.state.is_withdrawn());
        match status {
            100 => {}
            101..=199 => {
                let mut cancel = false;
                if let Some(f) = self.fork_mut(id, fork) {
                    cancel = f.state.on_provisional();
                    if !msg.body().is_empty() {
                        f.early_sdp = Some(msg.body().clone());
                    }
                }
                if cancel {
                    return self.send_cancel(now, id, fork);
                }
                if withdrawn {
                    return;
                }
                let has_sdp = !msg.body().is_empty();
                self.drive(
                    now,
                    id,
                    Input::BProgress {
                        fork,
                        status,
                        has_sdp,
                    },
                );
            }
            200..=299 => {
                let retransmission = self.fork_mut(id, fork).is_some_and(|f| f.dialog.is_some());
                if retransmission {
                    return self.resend_ack(id, fork);
                }
                if withdrawn {
                    // Answered as we gave up on it: hang it up (RFC 3261 §15).
                    self.demux.remove_client_branch(branch);
                    if let Some(f) = self.fork_mut(id, fork) {
                        f.state.on_final_response();
                    }
                    return self.on_stray_2xx(now, peer, msg);
                }
                self.form_dialog(id, fork, msg);
                if !self.fork_answered(now, id, fork) {
                    // The router no longer offers this agent the call.
                    self.act(now, id, crate::call::Action::AckB { fork });
                    self.act(now, id, crate::call::Action::ByeFork { fork });
                    return self.drive(now, id, Input::Withdrawn { forks: 1 });
                }
                self.drive(now, id, Input::BAnswer { fork });
            }
            401 | 407 => {
                if !self.answer_challenge(now, id, fork, msg, status) {
                    self.demux.remove_client_branch(branch);
                    if let Some(f) = self.fork_mut(id, fork) {
                        f.state.on_final_response();
                    }
                    if !withdrawn {
                        self.fork_failed(now, id, fork, status);
                    }
                }
            }
            _ => {
                self.demux.remove_client_branch(branch);
                if let Some(f) = self.fork_mut(id, fork) {
                    f.state.on_final_response();
                }
                if !withdrawn {
                    self.fork_failed(now, id, fork, status);
                }
            }
        }
    }

    /// A fork failed: tell the router once all of its agent's forks are
    /// out (before the call machine, which may drop the B leg), then the
    /// call machine.
    pub(super) fn fork_failed(&mut self, now: Instant, id: CallRef, fork: usize, status: u16) {
        if self.fail_over(now, id, fork, status) {
            return;
        }
        let Some(f) = self.fork_mut(id, fork) else {
            return;
        };
        if !f.state.on_failed() {
            return;
        }
        self.report_agent_missed(now, id, fork, status);
        self.drive(now, id, Input::BFailed { fork, status });
    }

    /// Re-sends an INVITE with credentials for a carrier's challenge, once.
    fn answer_challenge(
        &mut self,
        now: Instant,
        id: CallRef,
        fork: usize,
        msg: &Message,
        status: u16,
    ) -> bool {
        let (challenge_header, answer_header) = if status == 401 {
            (HeaderName::WwwAuthenticate, "Authorization")
        } else {
            (HeaderName::ProxyAuthenticate, "Proxy-Authorization")
        };
        let Some(challenge) = msg.header(&challenge_header).map(str::to_string) else {
            return false;
        };
        let Some(entry) = self.calls.get_mut(&id) else {
            return false;
        };
        let Some(b) = entry.b.as_mut() else {
            return false;
        };
        let Some((user, pass)) = b.credentials.clone() else {
            return false;
        };
        let f = &mut b.forks[fork];
        if f.auth_tried {
            return false;
        }
        f.auth_tried = true;
        let uri = f.uri.clone();
        let old_branch = f.branch.clone();
        b.cseq += 1;
        let value = match auth::answer_challenge(
            &challenge,
            "INVITE",
            &uri,
            &user,
            &pass,
            1,
            &mut self.rng,
        ) {
            Ok(v) => v,
            Err(err) => {
                debug!(%err, "cannot answer the carrier's challenge");
                return false;
            }
        };
        self.demux.remove_client_branch(&old_branch);
        self.send_fork_invite(now, id, fork, Some((answer_header, value)));
        true
    }

    fn form_dialog(&mut self, id: CallRef, fork: usize, msg: &Message) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(b) = entry.b.as_mut() else { return };
        let f = &mut b.forks[fork];
        f.state.on_answer();
        f.dialog = Some(Dialog::as_uac(msg, &f.uri, f.peer, &b.from, &b.local_tag));
        if b.winner.is_none() {
            b.winner = Some(fork);
        }
    }

    pub(super) fn fork_mut(&mut self, id: CallRef, fork: usize) -> Option<&mut Fork> {
        self.calls.get_mut(&id)?.b.as_mut()?.forks.get_mut(fork)
    }

    /// ACK for a fork's 2xx: its own transaction, sent end to end (RFC 3261 §13.2.2.4).
    pub(super) fn ack_b(&mut self, id: CallRef, fork: usize) {
        let branch = crate::sip::dialog::branch(&self.token());
        let local = self.plan.local;
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(b) = entry.b.as_mut() else { return };
        let cseq = b.cseq;
        let call_id = b.call_id.clone();
        let Some(dialog) = b.forks[fork].dialog.as_mut() else {
            return;
        };
        let bytes = dialog.ack(local, &branch, &call_id, cseq);
        dialog.ack = Some(bytes.clone());
        let peer = dialog.next_hop();
        self.out.push_back(Output::Transmit { peer, bytes });
    }

    fn resend_ack(&mut self, id: CallRef, fork: usize) {
        let Some(dialog) = self.fork_mut(id, fork).and_then(|f| f.dialog.as_ref()) else {
            return;
        };
        if let Some(bytes) = dialog.ack.clone() {
            let peer = dialog.next_hop();
            self.out.push_back(Output::Transmit { peer, bytes });
        }
    }

    /// A 2xx to an INVITE whose call is gone (a fork answering after the
    /// caller left): ACK it and hang up, so the phone does not stay off-hook.
    pub(super) fn on_stray_2xx(&mut self, now: Instant, peer: Peer, msg: &Message) {
        if self.resend_placed_ack(msg) || self.resend_b_ack(msg) {
            return;
        }
        self.stats.stray_responses += 1;
        let Some(contact) = (match msg.contacts() {
            Contacts::List(list) => list.first().map(|c| c.uri().as_str().to_string()),
            Contacts::Star => None,
        }) else {
            return;
        };
        let local = self.plan.local;
        let seq = msg.cseq().seq;
        // The 2xx's dialog, without its route set: sent straight back to
        // where the 2xx came from.
        let dialog = Dialog {
            target: contact,
            routes: Vec::new(),
            peer,
            from: msg.from().as_str().to_string(),
            to: msg.to().as_str().to_string(),
            answer: None,
            ack: None,
        };
        for (method, cseq) in [("ACK", seq), ("BYE", seq + 1)] {
            let new_branch = crate::sip::dialog::branch(&self.token());
            let bytes = dialog
                .request(method, local, &new_branch, msg.call_id(), cseq)
                .finish(None);
            if method == "ACK" {
                self.out.push_back(Output::Transmit { peer, bytes });
            } else {
                let key = ClientKey {
                    branch: new_branch,
                    method: TxMethod::NonInvite("BYE".into()),
                };
                let _ = self.tx_send(now, key, peer, bytes, None);
            }
        }
    }

    /// A retransmitted 2xx of a re-INVITE we sent an agent leg: its ACK
    /// again, not a hang-up (the dialog lives on).
    fn resend_b_ack(&mut self, msg: &Message) -> bool {
        let Some(&Owner::Leg {
            call,
            side: crate::call::Side::B,
        }) = self.demux.dialog(msg.call_id())
        else {
            return false;
        };
        let Some(dialog) = self
            .calls
            .get(&call)
            .and_then(|e| e.b.as_ref())
            .and_then(|b| b.forks.get(b.winner?))
            .and_then(|f| f.dialog.as_ref())
        else {
            return false;
        };
        let Some(bytes) = dialog.ack.clone() else {
            return false;
        };
        let peer = dialog.next_hop();
        self.out.push_back(Output::Transmit { peer, bytes });
        true
    }

    /// A response on a dropped fork: a provisional lets us CANCEL it, a
    /// 2xx is hung up as a stray, any final response ends its record.
    fn on_zombie_response(&mut self, now: Instant, branch: &str, status: u16) {
        if status == 100 {
            return;
        }
        let Some(Owner::Zombie(z)) = self.demux.remove_client_branch(branch) else {
            return;
        };
        if status < 200 {
            let key = ClientKey {
                branch: branch.to_string(),
                method: TxMethod::NonInvite("CANCEL".into()),
            };
            if let Err(err) = self.tx_send(now, key, z.peer, z.cancel, None) {
                debug!(%err, "cannot send CANCEL");
            }
        }
    }

    /// Our request got no final answer in time (Timer B or F).
    pub(super) fn on_client_timeout(&mut self, now: Instant, key: &ClientKey) {
        if self.on_carrier_timeout(now, &key.branch) {
            return;
        }
        let Some(Owner::Client { call, purpose }) = self.demux.remove_client_branch(&key.branch)
        else {
            return;
        };
        match purpose {
            Purpose::Invite { fork } => self.fork_failed(now, call, fork, 408),
            Purpose::Bye { side } => self.drive(now, call, Input::ByeDone(side)),
            Purpose::Keepalive { side } => self.on_keepalive_response(now, call, side, None, 408),
            Purpose::Consult => {
                tracing::warn!(call = %call, "the consultation's INVITE timed out");
                self.end_consult(now, call, "failed");
            }
            Purpose::Party(party) => {
                tracing::warn!(call = %call, party, "the conference party's INVITE timed out");
                self.party_left(now, call, party, "failed");
            }
            Purpose::Reinvite { .. } => {
                tracing::warn!(call = %call, "no answer to the agent leg's re-INVITE: hanging up");
                self.drive(now, call, Input::HangUp);
            }
            Purpose::Ignore => {}
        }
    }
}
