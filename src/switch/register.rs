//! REGISTER (RFC 3261 §10.3) after digest auth (§22): the registrar core
//! applies it; RFC 5626 outbound (`reg-id`) is honoured when we are the
//! phone's first hop, and the 200 lists each binding with its instance.

use std::time::Instant;

use tracing::{debug, warn};

use super::inbound::{Refusal, Req};
use super::Switch;
use crate::sip::parse::{Contacts, HeaderName, Message, Scheme};
use crate::sip::registrar::{Binding, ContactRequest, RegisterError, Update};
use crate::sip::Peer;

impl Switch {
    /// A TCP connection closed (or could not be opened): RFC 5626 flows
    /// over it have failed, and their bindings go (an agent whose only
    /// phone it was is unregistered); calls, probes and REGISTERs to a
    /// carrier there that got no answer fail.
    pub fn handle_flow_closed(&mut self, now: Instant, peer: Peer) {
        let removed = self.registrar.flow_failed(peer);
        if removed > 0 {
            debug!(%peer.addr, removed, "outbound flow closed: its bindings removed");
        }
        // A carrier we could not reach over it: its requests failed.
        self.carrier_flow_closed(now, peer);
        self.pump(now);
    }

    /// RFC 3261 §10.3 with digest auth first (§22).
    pub(super) fn on_register(&mut self, now: Instant, req: &Req<'_>) {
        let msg = req.msg;
        let to = msg.to().uri();
        if !matches!(to.scheme(), Scheme::Sip | Scheme::Sips) {
            return self.refuse(now, req, Refusal::plain(400));
        }
        let Some(aor) = to.user().map(str::to_string) else {
            return self.refuse(now, req, Refusal::plain(404));
        };
        let Some(username) = self.authenticate(now, req, "REGISTER") else {
            return;
        };
        if username != aor {
            // Fail loudly; the user names are private (STYLE: logs).
            warn!(
                call_id = msg.call_id(),
                "registration refused: authenticated user registers another AOR"
            );
            return self.refuse(now, req, Refusal::plain(403));
        }
        let outbound = applies_outbound(msg);
        let update = match msg.contacts() {
            Contacts::Star => Update::Star,
            Contacts::List(list) if list.is_empty() => Update::Fetch,
            Contacts::List(list) => Update::Contacts(
                list.iter()
                    .map(|c| ContactRequest {
                        uri: c.uri().as_str().to_string(),
                        expires: c.param("expires").flatten().and_then(saturating_u32),
                        q: c.param("q").flatten().map(str::to_string),
                        instance: c.param("+sip.instance").flatten().map(str::to_string),
                        reg_id: c
                            .param("reg-id")
                            .flatten()
                            .and_then(|v| v.parse().ok())
                            .filter(|_| outbound),
                    })
                    .collect(),
            ),
        };
        let cseq = msg.cseq().seq;
        let result = self.registrar.register(
            now,
            &aor,
            msg.call_id(),
            cseq,
            update,
            msg.expires(),
            req.source,
        );
        let tag = self.token();
        match result {
            Ok(bindings) => {
                self.stats.registrations_ok += 1;
                let mut headers: Vec<(&str, String)> = bindings
                    .iter()
                    .map(|b| ("Contact", binding_contact(b, now)))
                    .collect();
                // RFC 5626 §6: the registrar tells the phone it keeps its flows.
                if bindings.iter().any(|b| b.is_flow()) {
                    headers.push(("Require", "outbound".to_string()));
                }
                self.respond(now, req, 200, Some(&tag), &headers, None);
            }
            Err(RegisterError::IntervalTooBrief { min }) => {
                let headers = [("Min-Expires", min.as_secs().to_string())];
                self.respond(now, req, 423, Some(&tag), &headers, None);
            }
            Err(err) => {
                warn!(call_id = msg.call_id(), %err, "registration refused");
                self.respond(now, req, err.status(), Some(&tag), &[], None);
            }
        }
    }
}

/// Whether a REGISTER gets RFC 5626 outbound processing: the phone says it
/// supports it and we are its first hop (one Via: no proxy between, so the
/// flow is the phone's own; behind a proxy `reg-id` is ignored, §6).
fn applies_outbound(msg: &Message) -> bool {
    msg.vias().len() == 1
        && msg
            .header_tokens(&HeaderName::Supported)
            .any(|t| t.eq_ignore_ascii_case("outbound"))
}

/// A binding as the 200 to a REGISTER lists it: with its instance and
/// reg-id, by which a phone finds its own (RFC 5626 §6, RFC 5627 §4.1).
fn binding_contact(b: &Binding, now: Instant) -> String {
    let left = b.expires_at.saturating_duration_since(now).as_secs();
    let mut v = format!("<{}>;expires={left}", b.uri);
    if let Some(instance) = &b.instance {
        v.push_str(";+sip.instance=");
        v.push_str(instance);
    }
    if let Some(reg_id) = b.reg_id {
        v.push_str(&format!(";reg-id={reg_id}"));
    }
    v
}

/// A decimal parameter, saturated to u32 (RFC 4475 scalar02 sends 2^64);
/// `None` when it is not a number.
fn saturating_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        text.parse::<u64>()
            .map_or(u32::MAX, |v| v.min(u64::from(u32::MAX)) as u32),
    )
}
