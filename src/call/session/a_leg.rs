//! The A leg of a call: the caller's INVITE, which we answer as its UAS,
//! or, on a call the switch placed (originate), the agent's leg, which we
//! placed as UAC and which becomes the A leg when they answer. What the
//! B leg's INVITE carries (From, SDP) depends on which it is.

use bytes::Bytes;

use crate::sip::dialog::Dialog;
use crate::sip::parse::Message;
use crate::sip::transaction::ServerKey;
use crate::sip::Peer;

/// The caller's leg: we are its UAS, or (a call the switch placed) the
/// agent's leg, which we placed as UAC.
#[derive(Debug)]
pub struct ALeg {
    pub call_id: String,
    pub local_tag: String,
    pub origin: ALegOrigin,
    /// A 2xx we sent and whose ACK we await: its CSeq and transaction.
    pub pending_2xx: Option<(u32, ServerKey)>,
    /// CSeq of requests we send on this leg (the caller's space is separate).
    pub local_cseq: u32,
    pub sdp_sent: Option<Bytes>,
}

/// How the A leg came to be.
#[derive(Debug)]
pub enum ALegOrigin {
    /// The caller's INVITE (boxed: most of a call entry's size), its
    /// source and server transaction.
    Inbound {
        invite: Box<Message>,
        source: Peer,
        key: ServerKey,
    },
    /// The switch placed the call to the agent (originate): their dialog
    /// once they answered. Until then the agent rings on the B leg.
    Placed { dialog: Option<Dialog> },
}

impl ALeg {
    pub fn new(local_tag: String, invite: Message, source: Peer, key: ServerKey) -> ALeg {
        ALeg {
            call_id: invite.call_id().to_string(),
            local_tag,
            origin: ALegOrigin::Inbound {
                invite: Box::new(invite),
                source,
                key,
            },
            pending_2xx: None,
            local_cseq: 0,
            sdp_sent: None,
        }
    }

    /// The A leg of a call the switch places, before the agent answered:
    /// its Call-ID and tag are the agent leg's, set when it starts.
    pub fn placed() -> ALeg {
        ALeg {
            call_id: String::new(),
            local_tag: String::new(),
            origin: ALegOrigin::Placed { dialog: None },
            pending_2xx: None,
            local_cseq: 0,
            sdp_sent: None,
        }
    }

    /// The caller's INVITE, when a caller sent one.
    pub fn invite(&self) -> Option<&Message> {
        match &self.origin {
            ALegOrigin::Inbound { invite, .. } => Some(invite),
            ALegOrigin::Placed { .. } => None,
        }
    }

    /// The server transaction of the caller's INVITE.
    pub fn invite_key(&self) -> Option<&ServerKey> {
        match &self.origin {
            ALegOrigin::Inbound { key, .. } => Some(key),
            ALegOrigin::Placed { .. } => None,
        }
    }

    /// True for the leg of a call the switch placed.
    pub fn is_placed(&self) -> bool {
        matches!(self.origin, ALegOrigin::Placed { .. })
    }
}
