//! Transaction keys (RFC 3261 §17.1.3, §17.2.3) and the ACK template a
//! client INVITE transaction completes for a non-2xx response (§17.1.1.3):
//! what the TU hands the transaction layer.

use bytes::{BufMut, Bytes, BytesMut};

use super::TxError;

/// The method part of a transaction key. ACK is not a method here: the caller maps an
/// ACK to `Invite` so that it matches the INVITE's server transaction (§17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxMethod {
    Invite,
    /// Any other method, CANCEL included, by its name as in the CSeq.
    NonInvite(String),
}

/// A server transaction's key (RFC 3261 §17.2.3): the top Via's branch and sent-by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerKey {
    pub branch: String,
    pub sent_by: String,
    pub method: TxMethod,
}

/// A client transaction's key (RFC 3261 §17.1.3): the branch we put in the top Via.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub branch: String,
    pub method: TxMethod,
}

/// The part of the ACK for a non-2xx final response (RFC 3261 §17.1.1.3) known when the
/// INVITE is sent: `ACK <R-URI> SIP/2.0`, the INVITE's top Via, Max-Forwards, From,
/// Call-ID, `CSeq: <n> ACK` and Route headers, each line ending in CRLF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckTemplate {
    head: Bytes,
}

impl AckTemplate {
    pub fn new(head: Bytes) -> Result<AckTemplate, TxError> {
        if !head.ends_with(b"\r\n") {
            return Err(TxError::AckTemplateUnterminated);
        }
        Ok(AckTemplate { head })
    }

    /// The ACK: the head, the response's To (with its tag) and an empty body.
    pub(super) fn build(&self, to_header: &str) -> Bytes {
        let mut ack = BytesMut::with_capacity(self.head.len() + to_header.len() + 32);
        ack.put_slice(&self.head);
        ack.put_slice(b"To: ");
        // A folded value keeps its line breaks in a zero-copy parse; folding is
        // equivalent to one space (§7.3.1), and a bare CR or LF must not end our header.
        let mut in_break = false;
        for &byte in to_header.trim().as_bytes() {
            let is_break = byte == b'\r' || byte == b'\n';
            if is_break && !in_break {
                ack.put_u8(b' ');
            } else if !is_break && !(in_break && (byte == b' ' || byte == b'\t')) {
                ack.put_u8(byte);
            }
            in_break = is_break || (in_break && (byte == b' ' || byte == b'\t'));
        }
        ack.put_slice(b"\r\nContent-Length: 0\r\n\r\n");
        ack.freeze()
    }
}
