//! A call out that its carrier cannot carry moves to the next trunk: a
//! 408, any 5xx (503 included), a transaction timeout or a failure to
//! send is retried on the next trunk in `carrier_order` (priority, health)
//! with a fresh INVITE transaction to the same number, while the caller
//! keeps hearing what they heard. Any other final answer is the callee's
//! (404, 486, 603...) and goes back to the caller as before; so does the
//! last failure once every trunk was tried.

use std::time::Instant;

use tracing::warn;

use super::plan::{OutboundPlan, TrunkPlan};
use super::trunks::CarrierCall;
use super::{Direction, Switch};
use crate::call::{CallRef, ForkState};
use crate::sip::Peer;

/// Whether a carrier's final status says "try elsewhere" (RFC 3261
/// §21.5 server failures; 408 as a timeout) rather than the callee's answer.
pub fn is_carrier_failure(status: u16) -> bool {
    status == 408 || (500..600).contains(&status)
}

impl Switch {
    /// The trunk a call out is on (its latest), else the first in order.
    pub(super) fn carrier_trunk(&self, id: CallRef) -> Option<&TrunkPlan> {
        let latest = self.carriers.calls.get(&id).and_then(|c| c.tried.last());
        latest
            .and_then(|name| self.plan.trunks.iter().find(|t| &t.name == name))
            .or_else(|| self.carrier_order().first().copied())
    }

    /// Starts a call out on the first trunk in order; the record names it.
    pub(super) fn first_carrier(&mut self, id: CallRef, number: &str) -> Option<OutboundPlan> {
        let trunk = self.carrier_order().first().copied()?;
        let (name, out) = (trunk.name.clone(), trunk.outbound.clone()?);
        self.on_trunk(id, &name);
        let call = CarrierCall {
            number: number.to_string(),
            tried: vec![name],
        };
        self.carriers.calls.insert(id, call);
        Some(out)
    }

    /// A carrier fork failed with `status`: true if it went to the next trunk.
    pub(super) fn fail_over(
        &mut self,
        now: Instant,
        id: CallRef,
        fork: usize,
        status: u16,
    ) -> bool {
        if !is_carrier_failure(status) {
            return false;
        }
        let Some(f) = self.fork_mut(id, fork) else {
            return false;
        };
        // Only a fork to the carrier, and one not given up on.
        if f.agent.is_some() || !matches!(f.state, ForkState::Calling | ForkState::Completed) {
            return false;
        }
        let Some(call) = self.carriers.calls.get(&id) else {
            return false;
        };
        let next = self
            .carrier_order()
            .into_iter()
            .find(|t| !call.tried.contains(&t.name))
            .and_then(|t| Some((t.name.clone(), t.outbound.clone()?)));
        let Some((next, out)) = next else {
            return false;
        };
        let Some(call) = self.carriers.calls.get_mut(&id) else {
            return false;
        };
        let from = call.tried.last().cloned().unwrap_or_default();
        call.tried.push(next.clone());
        let number = call.number.clone();
        let uuid = self.calls.get(&id).map(|e| e.uuid);
        {
            let _in_call = self.call_span(id).entered();
            if let Some(uuid) = uuid {
                warn!(call = %uuid, from_trunk = %from, to_trunk = %next, status, "call out failed over to the next trunk");
            }
        }
        self.count_failover(&from);
        self.on_trunk(id, &next);
        self.retarget_fork(id, fork, &number, out);
        self.send_fork_invite(now, id, fork, None);
        true
    }

    /// The connection to `peer` failed or closed: forks to a carrier there
    /// that got no answer yet fail as if answered 503 (a transport error,
    /// RFC 3261 §8.1.3.1), so they fail over; so do probes and REGISTERs.
    pub(super) fn carrier_flow_closed(&mut self, now: Instant, peer: Peer) {
        if !peer.transport.is_reliable() {
            return;
        }
        let mut failed = Vec::new();
        for id in self.carriers.calls.keys() {
            let Some(b) = self.calls.get(id).and_then(|e| e.b.as_ref()) else {
                continue;
            };
            for (i, f) in b.forks.iter().enumerate() {
                if f.agent.is_none() && f.peer == peer && f.state == ForkState::Calling {
                    failed.push((*id, i, f.branch.clone()));
                }
            }
        }
        for (id, fork, branch) in failed {
            self.demux.remove_client_branch(&branch);
            if let Some(f) = self.fork_mut(id, fork) {
                f.state.on_final_response();
            }
            self.fork_failed(now, id, fork, 503);
        }
        self.carrier_requests_failed(now, peer);
    }

    /// The fork starts over, to `number` at another carrier.
    fn retarget_fork(&mut self, id: CallRef, fork: usize, number: &str, out: OutboundPlan) {
        let old = self.fork_mut(id, fork).map(|f| f.branch.clone());
        if let Some(branch) = old {
            self.demux.remove_client_branch(&branch);
        }
        let Some(b) = self.calls.get_mut(&id).and_then(|e| e.b.as_mut()) else {
            return;
        };
        let uri = format!("sip:{number}@{}", out.peer.addr);
        b.to = format!("<{uri}>");
        b.cseq += 1;
        b.credentials = out.credentials;
        let f = &mut b.forks[fork];
        f.uri = uri;
        f.peer = out.peer;
        f.state = ForkState::Calling;
        f.auth_tried = false;
        f.early_sdp = None;
        f.dialog = None;
    }

    /// An agent's call out is recorded on the trunk that carries it.
    fn on_trunk(&mut self, id: CallRef, trunk: &str) {
        if let Some(entry) = self.calls.get_mut(&id) {
            if entry.detail.direction == Direction::Outbound {
                entry.trunk = Some(trunk.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_server_failures_fail_over_but_the_callees_answers_do_not() {
        for status in [408, 500, 502, 503, 504, 580] {
            assert!(is_carrier_failure(status), "{status}");
        }
        for status in [400, 403, 404, 480, 486, 487, 603, 606] {
            assert!(!is_carrier_failure(status), "{status}");
        }
    }
}
