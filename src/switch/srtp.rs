//! SRTP policy of the parties of a call (the `srtp` key of agents and
//! trunks) and the key seed the driver gives; the per-call state lives in
//! the session (`call/session/srtp.rs`).
//!
//! Keys over a plain channel: RFC 4568 §8.3 wants SDES keys to travel
//! only over a secure one (TLS). We never put a key into an offer over UDP
//! or TCP unless the party's policy is `mandatory` (then with a warn line).

use tracing::warn;

use super::Switch;
use crate::call::session::srtp::KeySource;
use crate::call::CallRef;
use crate::config::SrtpPolicy;
use crate::sip::Transport;

impl Switch {
    /// Seeds the keys of our SDP (the driver draws the seed from the OS).
    pub fn set_srtp_seed(&mut self, seed: [u8; 32]) {
        if let Some(a) = self.anchoring.as_mut() {
            a.keys = KeySource::new(seed);
        }
    }

    /// The SRTP policy of the party placing a call: its trunk's or agent's.
    pub(super) fn caller_srtp_policy(
        &self,
        trunk: Option<&str>,
        agent: Option<&str>,
    ) -> SrtpPolicy {
        match (trunk, agent) {
            (_, Some(a)) => self.plan.agents.get(a).map(|p| p.srtp),
            (Some(t), None) => self
                .plan
                .trunks
                .iter()
                .find(|p| p.name == t)
                .map(|p| p.srtp),
            (None, None) => None,
        }
        .unwrap_or_default()
    }

    /// The offer a fork of call `id` gets: with our key when the callee's
    /// policy asks for it (see the module doc on plain channels).
    pub(super) fn secure_fork_offer(
        &mut self,
        id: CallRef,
        agent: Option<&str>,
        transport: Transport,
        offer: bytes::Bytes,
    ) -> bytes::Bytes {
        let policy = match agent {
            Some(a) => self.plan.agents.get(a).map(|p| p.srtp),
            None => self.carrier_trunk(id).map(|t| t.srtp),
        }
        .unwrap_or_default();
        let savp = match policy {
            SrtpPolicy::Off => return offer,
            SrtpPolicy::Optional if transport != Transport::Tls => return offer,
            SrtpPolicy::Optional => false,
            SrtpPolicy::Mandatory => true,
        };
        let Some(entry) = self.calls.get_mut(&id) else {
            return offer;
        };
        let Some(s) = entry.media.as_mut().and_then(|m| m.srtp.as_mut()) else {
            return offer;
        };
        let Ok(text) = std::str::from_utf8(&offer) else {
            return offer;
        };
        if transport != Transport::Tls {
            warn!(call = %entry.uuid, transport = transport.as_str(), "SRTP is mandatory for the callee: our key goes over an insecure transport (RFC 4568 §8.3)");
        }
        let secured = bytes::Bytes::from(s.offer_to_b(text, savp));
        // What a session refresh on the leg repeats (`CallEntry::last_sdp`).
        if let Some(m) = entry.media.as_mut() {
            m.b_sdp_sent.get_or_insert_with(|| secured.clone());
        }
        secured
    }
}
