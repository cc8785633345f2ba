//! Dead calls found and ended. A call whose parties vanished (a phone
//! unplugged, a carrier that lost its state) would otherwise hold its
//! agent and its table entries forever. Two watches, on answered calls:
//!
//! - **Session timers** (RFC 4028) on the caller's leg, when its INVITE
//!   asked for them: an interval under our `Min-SE` gets 422; our 2xx
//!   names the interval and the refresher. When the caller refreshes, a
//!   refresh that does not come in time ends the call (§10: BYE at the
//!   interval less the lesser of 32 s and a third of it). When we refresh,
//!   an UPDATE (or a re-INVITE with our last answer, for a caller that does
//!   not allow UPDATE) goes out at half the interval.
//! - **Probes**: a call whose media the switch does not anchor (so no
//!   inactivity timeout sees it) and that has no session timer gets an
//!   in-dialog OPTIONS on both legs every `probe_interval`.
//!
//! A 408 or 481 to a refresh or a probe means the peer no longer holds the
//! dialog: both legs get BYE and the record says `session_expired`. Any
//! other answer means someone is there.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::demux::{Owner, OwnerKind};
use super::inbound::{Refusal, Req};
use super::legs::Purpose;
use super::timers::Timer;
use super::Switch;
use crate::call::session::ALegOrigin;
use crate::call::{CallRef, Input, Side};
use crate::sip::parse::{HeaderName, Message, Method};
use crate::sip::transaction::{AckTemplate, ClientKey, TxMethod};

/// RFC 4028's headers (`x` is Session-Expires' compact form), made once.
static SESSION_EXPIRES: HeaderName = HeaderName::extension("Session-Expires");
static SESSION_EXPIRES_COMPACT: HeaderName = HeaderName::extension("x");
static MIN_SE: HeaderName = HeaderName::extension("Min-SE");

/// §10: the BYE goes out this long (or a third of the interval) before
/// the session would expire.
const EXPIRY_MARGIN_MAX: Duration = Duration::from_secs(32);

/// Who refreshes the session (RFC 4028 §7.1 `refresher`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refresher {
    Caller,
    Us,
}

/// A session timer the caller's INVITE asked for, as we answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Negotiated {
    pub interval: Duration,
    pub refresher: Refresher,
    /// The caller said `Supported: timer`: our 2xx may `Require` it.
    pub supported: bool,
}

impl Negotiated {
    /// The `Session-Expires` value of our 2xx.
    fn header(self) -> String {
        let who = match self.refresher {
            Refresher::Caller => "uac",
            Refresher::Us => "uas",
        };
        format!("{};refresher={who}", self.interval.as_secs())
    }
}

/// What a call is watched for, and when it is next looked at.
#[derive(Debug)]
pub(super) struct Watch {
    session: Option<Negotiated>,
    /// When the caller's refresh is due by (caller refreshes) or when we
    /// send ours (we refresh).
    session_due: Option<Instant>,
    probe_at: Option<Instant>,
}

impl Watch {
    fn next(&self) -> Option<Instant> {
        [self.session_due, self.probe_at]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Reads a request's `Session-Expires` and `Min-SE` (RFC 4028 §4, §5):
/// `Ok(None)` without a session timer; a refusal (422 with our Min-SE, or
/// 400 for a value that is not delta-seconds) otherwise.
pub(super) fn negotiate(msg: &Message, min_se: Duration) -> Result<Option<Negotiated>, Refusal> {
    let Some(value) = msg
        .header(&SESSION_EXPIRES)
        .or_else(|| msg.header(&SESSION_EXPIRES_COMPACT))
    else {
        return Ok(None);
    };
    let mut parts = value.split(';').map(str::trim);
    let secs = parts.next().and_then(|s| s.parse::<u32>().ok());
    let theirs = match msg.header(&MIN_SE) {
        None => None,
        Some(v) => match v.split(';').next().map(str::trim).map(str::parse::<u32>) {
            Some(Ok(secs)) => Some(secs),
            _ => return Err(Refusal::plain(400)),
        },
    };
    let Some(secs) = secs else {
        return Err(Refusal::plain(400));
    };
    let floor = min_se.max(Duration::from_secs(theirs.unwrap_or(0).into()));
    let interval = Duration::from_secs(secs.into());
    if interval < floor {
        let mut refusal = Refusal::plain(422);
        refusal.push_header("Min-SE", floor.as_secs().to_string());
        return Err(refusal);
    }
    let supported = msg
        .header_tokens(&HeaderName::Supported)
        .any(|t| t.eq_ignore_ascii_case("timer"));
    let asked = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("refresher"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    // §9: without a `refresher`, the UAS picks; a caller that knows
    // timers refreshes its own session.
    let refresher = match asked.as_deref() {
        Some("uas") => Refresher::Us,
        Some(_) if supported => Refresher::Caller,
        None if supported => Refresher::Caller,
        _ => Refresher::Us,
    };
    Ok(Some(Negotiated {
        interval,
        refresher,
        supported,
    }))
}

/// When the next look at a session is due: the caller's refresh deadline
/// (§10), or the moment of our own refresh (half the interval).
fn session_due(now: Instant, n: Negotiated) -> Instant {
    match n.refresher {
        Refresher::Caller => now + n.interval - EXPIRY_MARGIN_MAX.min(n.interval / 3),
        Refresher::Us => now + n.interval / 2,
    }
}

/// The watches of all answered calls.
#[derive(Debug, Default)]
pub(super) struct Watches {
    calls: HashMap<CallRef, Watch>,
}

impl Switch {
    /// An INVITE we answered 2xx was never ACKed (RFC 3261 §13.3.1.4).
    pub(super) fn on_no_ack(&mut self, now: Instant, branch: &str) {
        match self.demux.server_branch(branch) {
            Some(Owner::CallerInvite(call)) => self.drive(now, *call, Input::ANoAck),
            Some(Owner::DialogInvite(call_id)) => {
                let call_id = call_id.clone();
                match self.demux.dialog(&call_id).map(Owner::kind) {
                    Some(OwnerKind::Supervisor) => self.supervisor_hang_up(now, &call_id),
                    Some(OwnerKind::Feature) => self.on_feature_no_ack(&call_id),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// A new INVITE's session timer request (a step of `on_invite`):
    /// false when it was refused (422 with our Min-SE, or 400).
    pub(super) fn session_acceptable(&mut self, now: Instant, req: &Req<'_>) -> bool {
        match negotiate(req.msg, self.plan.min_se) {
            Ok(_) => true,
            Err(refusal) => {
                debug!(status = refusal.status(), "session interval refused");
                self.refuse(now, req, refusal);
                false
            }
        }
    }

    /// The caller was answered: what to watch, and the headers our 2xx
    /// carries for its session timer.
    pub(super) fn watch_answered(
        &mut self,
        now: Instant,
        id: CallRef,
    ) -> Vec<(&'static str, String)> {
        let Some(entry) = self.calls.get(&id) else {
            return Vec::new();
        };
        let ALegOrigin::Inbound { invite, .. } = &entry.a.origin else {
            return Vec::new();
        };
        let session = negotiate(invite, self.plan.min_se).ok().flatten();
        let probe = self.plan.probe_interval;
        let probe_at =
            (session.is_none() && entry.media.is_none() && !probe.is_zero()).then(|| now + probe);
        let watch = Watch {
            session,
            session_due: session.map(|n| session_due(now, n)),
            probe_at,
        };
        let headers = match session {
            Some(n) if n.supported => vec![
                ("Session-Expires", n.header()),
                ("Require", "timer".to_string()),
            ],
            Some(n) => vec![("Session-Expires", n.header())],
            None => Vec::new(),
        };
        self.arm_watch(id, watch);
        headers
    }

    /// A re-INVITE or UPDATE from the caller refreshes its session
    /// (RFC 4028 §9); the headers our 2xx carries.
    pub(super) fn session_refreshed(
        &mut self,
        now: Instant,
        id: CallRef,
        side: Side,
        msg: &Message,
    ) -> Vec<(&'static str, String)> {
        if side != Side::A {
            return Vec::new();
        }
        let Some(watch) = self.watches.calls.get_mut(&id) else {
            return Vec::new();
        };
        let Some(old) = watch.session else {
            return Vec::new();
        };
        let n = match negotiate(msg, self.plan.min_se) {
            Ok(Some(n)) => n,
            // A refresh without Session-Expires keeps the interval (§9).
            _ => old,
        };
        watch.session = Some(n);
        let due = session_due(now, n);
        watch.session_due = Some(due);
        self.timers.set(Timer::Liveness, id, due);
        vec![("Session-Expires", n.header())]
    }

    /// The call is gone: nothing more to watch.
    pub(super) fn unwatch(&mut self, id: CallRef) {
        self.watches.calls.remove(&id);
    }

    /// Refreshes, probes and expiries due at `now`.
    pub(super) fn handle_liveness_timeout(&mut self, now: Instant) {
        while let Some((at, id)) = self.timers.next_due(Timer::Liveness, now) {
            let Some(watch) = self.watches.calls.get(&id) else {
                continue;
            };
            if watch.next() != Some(at) {
                continue;
            }
            self.liveness_due(now, id);
        }
    }

    fn liveness_due(&mut self, now: Instant, id: CallRef) {
        let Some(watch) = self.watches.calls.get_mut(&id) else {
            return;
        };
        let probe_due = watch.probe_at.is_some_and(|t| t <= now);
        let session_due = watch.session_due.is_some_and(|t| t <= now);
        let session = watch.session;
        if probe_due {
            watch.probe_at = Some(now + self.plan.probe_interval);
        }
        if let (true, Some(n)) = (session_due, session) {
            if n.refresher == Refresher::Caller {
                let _in_call = self.call_span(id).entered();
                warn!(call = %id, interval_s = n.interval.as_secs(), "session expired: the caller did not refresh it; hanging up");
                self.unwatch(id);
                return self.drive(now, id, Input::Expired);
            }
            watch.session_due = Some(session_due_after_refresh(now, n));
            self.send_keepalive(now, id, Side::A, Some(n));
        }
        if probe_due {
            self.send_keepalive(now, id, Side::A, None);
            self.send_keepalive(now, id, Side::B, None);
        }
        if let Some(next) = self.watches.calls.get(&id).and_then(Watch::next) {
            self.timers.set(Timer::Liveness, id, next);
        }
    }

    /// The answer to a refresh or probe on `side`: 408 or 481 means the
    /// peer no longer holds the dialog; a 2xx to a re-INVITE is ACKed.
    pub(super) fn on_keepalive_response(
        &mut self,
        now: Instant,
        id: CallRef,
        side: Side,
        msg: Option<&Message>,
        status: u16,
    ) {
        if status < 200 {
            return;
        }
        if let Some(msg) =
            msg.filter(|m| m.cseq().method == Method::Invite && (200..300).contains(&status))
        {
            self.ack_refresh(id, msg.cseq().seq);
        }
        if !matches!(status, 408 | 481) || !self.calls.contains_key(&id) {
            return;
        }
        let _in_call = self.call_span(id).entered();
        warn!(call = %id, ?side, status, "the peer no longer holds the dialog; hanging up");
        self.unwatch(id);
        self.drive(now, id, Input::Expired);
    }

    fn arm_watch(&mut self, id: CallRef, watch: Watch) {
        if let Some(next) = watch.next() {
            self.timers.set(Timer::Liveness, id, next);
            self.watches.calls.insert(id, watch);
        }
    }

    /// An in-dialog request on one leg: OPTIONS (a probe), or with
    /// `session` our refresh: UPDATE, or a re-INVITE with our last answer
    /// when the caller does not allow UPDATE.
    fn send_keepalive(
        &mut self,
        now: Instant,
        id: CallRef,
        side: Side,
        session: Option<Negotiated>,
    ) {
        let Some(dialog) = self.leg_dialog(id, side) else {
            return;
        };
        let contact = self.contact_on(dialog.peer.transport);
        let branch = crate::sip::dialog::branch(&self.token());
        let local = self.plan.local;
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let update_allowed = match &entry.a.origin {
            ALegOrigin::Inbound { invite, .. } => invite
                .header_tokens(&HeaderName::Allow)
                .any(|t| t.eq_ignore_ascii_case("UPDATE")),
            ALegOrigin::Placed { .. } => false,
        };
        let (call_id, cseq) = match side {
            Side::A => {
                entry.a.local_cseq += 1;
                (entry.a.call_id.clone(), entry.a.local_cseq)
            }
            Side::B => {
                let Some(b) = entry.b.as_mut() else { return };
                b.cseq += 1;
                (b.call_id.clone(), b.cseq)
            }
        };
        let (method, bytes) = match (session, update_allowed, &entry.a.sdp_sent) {
            (None, ..) => (
                "OPTIONS",
                dialog
                    .request("OPTIONS", local, &branch, &call_id, cseq)
                    .finish(None),
            ),
            (Some(n), true, _) | (Some(n), false, None) => {
                let mut w = dialog.request("UPDATE", local, &branch, &call_id, cseq);
                w.header("Contact", &contact);
                w.header("Session-Expires", &n.header());
                w.header("Supported", "timer");
                ("UPDATE", w.finish(None))
            }
            (Some(_), false, Some(sdp)) => (
                "INVITE",
                dialog.reinvite(local, &branch, &call_id, cseq, &contact, sdp),
            ),
        };
        let (tx_method, ack) = match method {
            "INVITE" => {
                let head = dialog.reinvite_ack_head(local, &branch, &call_id, cseq);
                (TxMethod::Invite, AckTemplate::new(head).ok())
            }
            m => (TxMethod::NonInvite(m.into()), None),
        };
        let key = ClientKey {
            branch: branch.clone(),
            method: tx_method,
        };
        match self.tx_send(now, key, dialog.next_hop(), bytes, ack) {
            Ok(()) => {
                let purpose = Purpose::Keepalive { side };
                self.demux
                    .insert(&branch, super::demux::Owner::Client { call: id, purpose });
            }
            Err(err) => debug!(%err, method, "cannot send a keepalive"),
        }
    }

    /// ACKs the 2xx to our refreshing re-INVITE (RFC 3261 §13.2.2.4).
    fn ack_refresh(&mut self, id: CallRef, cseq: u32) {
        let Some(dialog) = self.leg_dialog(id, Side::A) else {
            return;
        };
        let branch = crate::sip::dialog::branch(&self.token());
        let Some(call_id) = self.calls.get(&id).map(|e| e.a.call_id.clone()) else {
            return;
        };
        let bytes = dialog.ack(self.plan.local, &branch, &call_id, cseq);
        self.out.push_back(super::Output::Transmit {
            peer: dialog.next_hop(),
            bytes,
        });
    }
}

/// After our refresh, the next one is half an interval on.
fn session_due_after_refresh(now: Instant, n: Negotiated) -> Instant {
    now + n.interval / 2
}

#[cfg(test)]
mod tests;
