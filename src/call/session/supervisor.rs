//! The supervisor's leg of a call: the dialog a supervisor's phone opened
//! to listen in (`*50`–`*52` and the agent's id), which we answered as its
//! UAS. The session holds it while the call is talking; the switch's
//! demultiplexer knows its Call-ID and the INVITE's branch.

use bytes::Bytes;

use crate::sip::transaction::ServerKey;
use crate::sip::Peer;

/// A supervisor's dialog with the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupervisorLeg {
    /// The dialog's Call-ID.
    pub dialog: String,
    /// The supervisor's agent id.
    pub by: String,
    /// The INVITE's server transaction.
    pub key: ServerKey,
    /// Whether our 200 was ACKed.
    pub acked: bool,
    /// Our answer, repeated for session refreshes.
    pub answer: Bytes,
    /// Our BYE, for when the call ends first.
    pub bye: Bytes,
    pub bye_branch: String,
    pub peer: Peer,
    /// The supervisor took the call over: its agent now, who wraps up
    /// after it as the queue's agents do.
    pub took_over: bool,
}
