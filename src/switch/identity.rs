//! Who the caller is, across the switch (RFC 3325, RFC 3323): a trunk in
//! our trust domain (`trust_identity`) has its P-Asserted-Identity,
//! Remote-Party-ID and Privacy passed to the agent's phone; from any other
//! trunk they are dropped (RFC 3325 §5), since anyone could write them.
//! Calls out through a trunk carry the identity and privacy its policy sets
//! (`asserted_identity`, `privacy`), whatever the agent's phone sent.

use tracing::debug;

use super::legs::Session;
use super::Switch;

/// The identity headers passed from a trusted trunk (RFC 3325 §9.1,
/// RFC 3323 §4.2, and the older Remote-Party-ID many carriers still send).
const IDENTITY_HEADERS: [&str; 3] = ["P-Asserted-Identity", "Remote-Party-ID", "Privacy"];
/// Most identity header lines passed on per call.
pub const IDENTITY_LINES_MAX: usize = 4;

impl Switch {
    /// The identity headers of a fork's INVITE: the outbound trunk's policy
    /// for a call to the carrier, else the caller's own from a trusted trunk.
    pub(super) fn identity_headers(
        &self,
        entry: &Session,
        to_carrier: Option<crate::call::CallRef>,
    ) -> Vec<(&'static str, String)> {
        if let Some(id) = to_carrier {
            let Some(policy) = self.carrier_trunk(id).map(|t| &t.identity) else {
                return Vec::new();
            };
            let asserted = policy
                .asserted
                .as_ref()
                .map(|uri| ("P-Asserted-Identity", format!("<{uri}>")));
            let privacy = policy.privacy.clone().map(|p| ("Privacy", p));
            return asserted.into_iter().chain(privacy).collect();
        }
        let Some(trunk) = entry.trunk.as_deref() else {
            return Vec::new();
        };
        let trusted = self
            .plan
            .trunks
            .iter()
            .any(|t| t.name == trunk && t.identity.trust);
        // A call the switch placed has no caller's headers to pass.
        let Some(invite) = entry.a.invite() else {
            return Vec::new();
        };
        let found = invite.headers().filter_map(|(name, value)| {
            let name = name.as_str();
            let known = IDENTITY_HEADERS
                .iter()
                .find(|h| h.eq_ignore_ascii_case(name))?;
            Some((*known, value.to_string()))
        });
        if !trusted {
            if found.count() > 0 {
                debug!(call = %entry.call.id, "identity headers of an untrusted trunk dropped");
            }
            return Vec::new();
        }
        found.take(IDENTITY_LINES_MAX).collect()
    }
}
