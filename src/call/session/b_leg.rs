//! The callee's leg of a call: the INVITE we send, forked to every contact
//! of the target, each fork with its own state machine
//! ([`ForkState`]) and, once answered, its dialog.

use bytes::Bytes;

use crate::call::ForkState;
use crate::sip::dialog::{self, Dialog};
use crate::sip::Peer;

/// The callee's leg: we are its UAC, forked to every contact of the target.
#[derive(Debug, Clone)]
pub struct BLeg {
    pub agent: Option<String>,
    pub call_id: String,
    pub local_tag: String,
    /// Our From, without tag.
    pub from: String,
    /// The To of our INVITE (no tag).
    pub to: String,
    pub cseq: u32,
    pub forks: Vec<Fork>,
    /// The fork that answered first.
    pub winner: Option<usize>,
    pub credentials: Option<(String, String)>,
}

/// One INVITE of the B leg, to one contact.
#[derive(Debug, Clone)]
pub struct Fork {
    pub uri: String,
    pub peer: Peer,
    /// The agent whose contact this is (several in a ring-all offer).
    pub agent: Option<String>,
    pub branch: String,
    pub via: String,
    /// Where its INVITE and our CANCEL of it stand.
    pub state: ForkState,
    /// It was re-sent once with credentials for a carrier's challenge.
    pub auth_tried: bool,
    pub early_sdp: Option<Bytes>,
    pub dialog: Option<Dialog>,
}

impl BLeg {
    /// The user part of our To: the extension or number this leg called.
    pub fn to_user(&self) -> String {
        let t = self.to.trim();
        let t = t[t.find('<').map_or(0, |i| i + 1)..].trim_start();
        let t = ["sip:", "sips:", "tel:"]
            .iter()
            .find_map(|s| t.strip_prefix(s))
            .unwrap_or(t);
        let end = t.find(['@', ';', '>', '?']).unwrap_or(t.len());
        t[..end].to_string()
    }

    /// Fork `fork`'s INVITE as `sip::dialog` builds it: the request itself,
    /// or its CANCEL (RFC 3261 §9.1).
    pub fn invite(&self, fork: usize) -> dialog::Invite<'_> {
        let f = &self.forks[fork];
        dialog::Invite {
            uri: &f.uri,
            via: &f.via,
            from: &self.from,
            local_tag: &self.local_tag,
            to: &self.to,
            call_id: &self.call_id,
            cseq: self.cseq,
        }
    }
}
