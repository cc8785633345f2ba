//! Where the core's transactions live. On its own (tests, the simulated
//! centre, TCP and TLS) the core holds the layer. Under the SIP shards each
//! shard holds the layer of the UDP dialogs dealt to it: retransmissions
//! and resent answers never reach the core, messages come with what the
//! shard's layer made of them (`Seen`), and what the core decides goes back
//! as `Output::Tx` commands, which the driver routes by Call-ID.

use std::time::Instant;

use bytes::Bytes;

use super::{Output, Switch};
use crate::sip::transaction::{self as tx, AckTemplate, ClientKey, ServerKey, TxError};
use crate::sip::{Peer, Transport};

/// Whether the driver's shards hold the UDP transactions, and how many
/// they held at their last count.
#[derive(Debug, Default)]
pub(super) struct UdpTx {
    on_shards: bool,
    held: usize,
}

impl UdpTx {
    pub(super) fn held_off_core(&self) -> usize {
        self.held
    }
}

impl Switch {
    /// From now on the driver's SIP shards hold the transactions of UDP
    /// messages: they pass on only what their layer lets through, and
    /// carry out the `Output::Tx` commands.
    pub fn hand_udp_transactions_to_shards(&mut self) {
        self.udp_tx.on_shards = true;
    }

    /// The shards' count of live transactions, for the metrics and the
    /// `[overload]` transaction mark.
    pub fn set_shard_transactions(&mut self, held: usize) {
        self.udp_tx.held = held;
    }

    /// What a shard's layer tells its TU: a client transaction timed out,
    /// or a 2xx was never acknowledged.
    pub fn handle_tx_event(&mut self, now: Instant, event: tx::Event) {
        self.on_tx_event(now, event);
        self.pump(now);
    }

    pub(super) fn on_tx_event(&mut self, now: Instant, event: tx::Event) {
        match event {
            tx::Event::Timeout { key } => self.on_client_timeout(now, &key),
            tx::Event::NoAck { key } => self.on_no_ack(now, &key.branch),
        }
    }

    /// Answers on server transaction `key` of a request that came over
    /// `transport`: under the shards a UDP one is its shard's, which then
    /// reports its own errors; else this core's.
    pub(super) fn tx_respond(
        &mut self,
        now: Instant,
        key: &ServerKey,
        transport: Transport,
        status: u16,
        bytes: Bytes,
    ) -> Result<(), TxError> {
        if self.udp_tx.on_shards && transport == Transport::Udp {
            let key = key.clone();
            self.out
                .push_back(Output::Tx(tx::Command::Respond { key, status, bytes }));
            return Ok(());
        }
        self.tx.server_respond(now, key, status, bytes)
    }

    /// The ACK of the 2xx on `key` came (`call_id` is its dialog's): this
    /// core's transaction, else its shard's. (Not split by transport like
    /// the rest: some callers hold only the leg; one ACK per call.)
    pub(super) fn tx_ack_2xx(&mut self, now: Instant, key: &ServerKey, call_id: &str) {
        if !self.tx.server_ack_for_2xx(now, key) && self.udp_tx.on_shards {
            let key = key.clone();
            let call_id = call_id.to_string();
            self.out
                .push_back(Output::Tx(tx::Command::AckFor2xx { key, call_id }));
        }
    }

    /// Sends a request on a new client transaction. Under the shards a UDP
    /// one is theirs: its failure comes back as the transaction's timeout.
    pub(super) fn tx_send(
        &mut self,
        now: Instant,
        key: ClientKey,
        peer: Peer,
        bytes: Bytes,
        ack: Option<AckTemplate>,
    ) -> Result<(), TxError> {
        if self.udp_tx.on_shards && peer.transport == Transport::Udp {
            let command = tx::Command::Send {
                key,
                peer,
                bytes,
                ack,
            };
            self.out.push_back(Output::Tx(command));
            return Ok(());
        }
        self.tx.client_send(now, key, peer, bytes, ack)
    }

    /// A new request dropped unanswered: its shard forgets its transaction.
    pub(super) fn tx_forget(&mut self, key: ServerKey, call_id: &str) {
        let call_id = call_id.to_string();
        self.out
            .push_back(Output::Tx(tx::Command::Forget { key, call_id }));
    }
}
