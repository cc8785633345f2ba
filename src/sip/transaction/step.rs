//! What a transaction machine's transition asks of the layer, and the
//! classes of response status the machines tell apart.

use bytes::Bytes;

/// What one transition asks of the layer.
#[derive(Debug)]
pub(super) struct Step {
    pub(super) action: Option<Action>,
    /// Pass the input to the TU (a response; for a server INVITE, an ACK for a 2xx).
    pub(super) deliver: bool,
}

impl Step {
    pub(super) const NONE: Step = Step {
        action: None,
        deliver: false,
    };
    pub(super) const DELIVER: Step = Step {
        action: None,
        deliver: true,
    };

    pub(super) fn act(action: Action) -> Step {
        Step {
            action: Some(action),
            deliver: false,
        }
    }

    pub(super) fn deliver_and(action: Action) -> Step {
        Step {
            action: Some(action),
            deliver: true,
        }
    }
}

#[derive(Debug)]
pub(super) enum Action {
    /// First sending of a message.
    Transmit(Bytes),
    /// A message sent again (counted).
    Retransmit(Bytes),
    Timeout,
    NoAck,
}

/// Response classes as the machines tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StatusClass {
    Provisional,
    Success,
    /// 300–699.
    Final,
    Invalid,
}

impl StatusClass {
    pub(super) fn of(status: u16) -> StatusClass {
        match status {
            100..=199 => StatusClass::Provisional,
            200..=299 => StatusClass::Success,
            300..=699 => StatusClass::Final,
            _ => StatusClass::Invalid,
        }
    }
}
