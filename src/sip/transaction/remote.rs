//! The layer held away from its TU (by a SIP shard, for the dialogs dealt
//! to it): a message passes through the layer before the TU gets it, so
//! retransmissions, ACKs of non-2xx answers and resent responses end where
//! they came in, and the TU's decisions come back as [`Command`]s. What the
//! TU is told of each message ([`Seen`]) is what it would have learnt by
//! calling the layer itself.

use std::time::Instant;

use bytes::Bytes;

use super::{
    AckTemplate, ClientKey, ClientVerdict, Event, Output, ServerKey, ServerVerdict,
    TransactionLayer, TxError, TxMethod,
};
use crate::sip::build;
use crate::sip::parse::{Message, Method};
use crate::sip::Peer;

/// What the layer made of a message it passed on to the TU, with the
/// message's transaction key, so that the TU need not build it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A request: `New`, `NotMatched` (an ACK for a 2xx), or why no
    /// transaction could be made (a full table).
    Request {
        verdict: Result<ServerVerdict, TxError>,
        key: ServerKey,
    },
    /// A response: `Deliver`, or `NotMatched` (a stray, a late 2xx); no
    /// key when it has no branch.
    Response {
        verdict: ClientVerdict,
        key: Option<ClientKey>,
    },
}

impl Seen {
    /// A request for which the layer made a new transaction.
    pub fn is_new(&self) -> bool {
        matches!(
            self,
            Seen::Request {
                verdict: Ok(ServerVerdict::New),
                ..
            }
        )
    }
}

/// What the TU asks of a layer it does not hold. Each carries what routes
/// it to the layer of its dialog: the Call-ID, in its bytes or beside them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Respond {
        key: ServerKey,
        status: u16,
        bytes: Bytes,
    },
    AckFor2xx {
        key: ServerKey,
        call_id: String,
    },
    /// A failure comes back to the TU as that transaction's `Timeout`.
    Send {
        key: ClientKey,
        peer: Peer,
        bytes: Bytes,
        ack: Option<AckTemplate>,
    },
    /// The TU dropped a new request unanswered (a flood, a ban, a back-off):
    /// its transaction goes, so that a retransmission reaches the TU again.
    Forget {
        key: ServerKey,
        call_id: String,
    },
}

impl TransactionLayer {
    /// An incoming message from `source`: `None` when the layer took it
    /// whole (a retransmission, the ACK of a non-2xx answer, a resent
    /// response), else what the TU is told with it. `force_rport` is where
    /// responses go (`build::response_destination`).
    pub fn incoming(
        &mut self,
        now: Instant,
        msg: &Message,
        source: Peer,
        force_rport: bool,
    ) -> Option<Seen> {
        let Some(method) = msg.method() else {
            let Some(key) = client_key(msg) else {
                let verdict = ClientVerdict::NotMatched;
                return Some(Seen::Response { verdict, key: None });
            };
            let status = msg.status().unwrap_or(0);
            return match self.client_response(now, &key, status, msg.to().as_str()) {
                ClientVerdict::Absorbed => None,
                verdict => Some(Seen::Response {
                    verdict,
                    key: Some(key),
                }),
            };
        };
        let dest = build::response_destination(&msg.vias()[0], source, force_rport);
        let key = server_key(msg, method);
        match self.server_request(now, key.clone(), *method == Method::Ack, dest) {
            Ok(ServerVerdict::Retransmission | ServerVerdict::AckAbsorbed) => None,
            verdict => Some(Seen::Request { verdict, key }),
        }
    }

    /// Carries out a TU's command. A send that fails queues the
    /// transaction's `Timeout` for the TU, as if nobody answered.
    pub fn command(&mut self, now: Instant, command: Command) -> Result<(), TxError> {
        match command {
            Command::Respond { key, status, bytes } => {
                self.server_respond(now, &key, status, bytes)
            }
            Command::AckFor2xx { key, .. } => {
                self.server_ack_for_2xx(now, &key);
                Ok(())
            }
            Command::Send {
                key,
                peer,
                bytes,
                ack,
            } => self
                .try_client_send(now, key, peer, bytes, ack)
                .map_err(|(err, key)| {
                    let event = Event::Timeout { key };
                    self.outputs.push_back(Output::Event(event));
                    err
                }),
            Command::Forget { key, .. } => {
                if let Some(index) =
                    self.find_server(std::hash::BuildHasher::hash_one(&self.hasher, &key), &key)
                {
                    self.remove(index);
                }
                Ok(())
            }
        }
    }
}

/// A request's server transaction key (RFC 3261 §17.2.3): the branch when
/// it has the magic cookie, else what RFC 2543 peers are matched on.
pub fn server_key(msg: &Message, method: &Method) -> ServerKey {
    let via = &msg.vias()[0];
    let branch = match via.branch() {
        Some(b) if b.len() > 7 && b.starts_with("z9hG4bK") => b.to_string(),
        _ => format!(
            "2543;{};{};{};{}",
            msg.call_id(),
            msg.from().tag().unwrap_or(""),
            msg.cseq().seq,
            via.sent_by()
        ),
    };
    let method = match method {
        Method::Invite | Method::Ack => TxMethod::Invite,
        other => TxMethod::NonInvite(other.as_str().to_string()),
    };
    ServerKey {
        branch,
        sent_by: via.sent_by().to_string(),
        method,
    }
}

/// A response's client transaction key (§17.1.3); `None` without a branch.
pub fn client_key(msg: &Message) -> Option<ClientKey> {
    let branch = msg.vias()[0].branch()?.to_string();
    let method = match &msg.cseq().method {
        Method::Invite => TxMethod::Invite,
        other => TxMethod::NonInvite(other.as_str().to_string()),
    };
    Some(ClientKey { branch, method })
}
