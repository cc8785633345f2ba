//! One shard thread: parses what the receiver dealt it, runs it through
//! the transaction layer of its dialogs, hands the core what the layer lets
//! through, carries out the core's sends and commands, fires its timers.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{debug, warn};

use super::{
    io, key, Batch, Counters, Gate, Inbound, Input, Out, ShardConfig, CORE_BATCH_MAX, ROUND_MAX,
};
use crate::sip::build;
use crate::sip::parse::{Message, Method};
use crate::sip::stun::KeepAlive;
use crate::sip::transaction::{self as tx, Command, Seen, TransactionLayer};
use crate::sip::{Peer, Transport};
use std::net::UdpSocket;
use tokio::sync::mpsc::Sender as CoreSender;

pub(super) struct Shard {
    pub(super) index: usize,
    pub(super) socket: Arc<UdpSocket>,
    pub(super) counters: Arc<[Counters]>,
    pub(super) handed: Arc<AtomicUsize>,
    pub(super) core: CoreSender<Batch>,
    pub(super) config: ShardConfig,
    /// Parsed, for the core.
    pub(super) batch: Vec<Inbound>,
    /// The layer's events, for the core with the next batch.
    pub(super) events: Vec<tx::Event>,
    /// The transactions of the dialogs dealt to this shard.
    pub(super) layer: TransactionLayer,
    /// To send at the end of this round.
    pub(super) sends: Vec<(SocketAddr, Bytes)>,
    pub(super) busy_warned: Gate,
    /// Numbers the To tags of this shard's own 503s.
    pub(super) tags: u64,
}

impl Shard {
    pub(super) fn run(mut self, inputs: mpsc::Receiver<Input>) {
        loop {
            // Wait for input, or for the layer's next timer.
            let first = match self.layer.poll_timeout() {
                None => match inputs.recv() {
                    Ok(input) => Some(input),
                    Err(_) => break,
                },
                Some(at) => match inputs.recv_timeout(at.saturating_duration_since(Instant::now()))
                {
                    Ok(input) => Some(input),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            let now = Instant::now();
            self.layer.handle_timeout(now);
            self.drain_layer();
            if let Some(first) = first {
                self.take(now, first);
                // Take what else waits, so the core wakes once per batch; a
                // bounded round, so sends go out under a standing queue too.
                for _ in 1..ROUND_MAX {
                    let Ok(next) = inputs.try_recv() else { break };
                    self.take(now, next);
                    if self.batch.len() >= CORE_BATCH_MAX {
                        self.hand_over();
                    }
                }
            }
            self.hand_over();
            self.send();
            self.counters[self.index]
                .transactions
                .store(self.layer.len(), Relaxed);
        }
    }

    fn take(&mut self, now: Instant, input: Input) {
        match input {
            Input::Datagram { src, bytes } => {
                self.counters[self.index].queued.fetch_sub(1, Relaxed);
                self.datagram(now, src, bytes);
            }
            Input::Send(list) => {
                for out in list {
                    match out {
                        Out::Datagram(dst, bytes) => self.sends.push((dst, bytes)),
                        Out::Tx(command) => self.command(now, command),
                    }
                }
            }
            #[cfg(test)]
            Input::Stall(held) => {
                let _ = held.recv();
            }
        }
    }

    /// Carries out the core's command. A request that could not be sent
    /// is logged with its dialog (the core hears of it as the
    /// transaction's timeout); an answer without its transaction (a race
    /// the core's own layer logged at debug too) is not worth a warning.
    fn command(&mut self, now: Instant, command: Command) {
        let sending = match &command {
            Command::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        };
        match (self.layer.command(now, command), sending) {
            (Ok(()), _) => {}
            (Err(err), Some(bytes)) => {
                let call_id = key::call_id(&bytes).map(String::from_utf8_lossy);
                let call_id = call_id.as_deref().unwrap_or("");
                warn!(shard = self.index, call_id, %err, "SIP request not sent");
            }
            (Err(err), None) => {
                debug!(shard = self.index, %err, "SIP shard: command without its transaction")
            }
        }
        self.drain_layer();
    }

    /// The layer's datagrams join this round's sends; its events wait for
    /// the next batch.
    fn drain_layer(&mut self) {
        while let Some(output) = self.layer.poll_output() {
            match output {
                tx::Output::Transmit { peer, bytes } => self.sends.push((peer.addr, bytes)),
                tx::Output::Event(event) => self.events.push(event),
            }
        }
    }

    fn datagram(&mut self, now: Instant, src: SocketAddr, bytes: Bytes) {
        match crate::sip::stun::keep_alive(&bytes, src, true) {
            Some(KeepAlive::Crlf) => return,
            Some(KeepAlive::Stun(response)) => return self.sends.push((src, response)),
            None => {}
        }
        let parsed = Message::parse(bytes.clone());
        let peer = Peer {
            transport: Transport::Udp,
            addr: src,
        };
        let inbound = Inbound {
            peer,
            bytes,
            parsed,
            seen: None,
        };
        // The core is behind: shed before the layer sees it.
        if self.handed.load(Relaxed) + self.batch.len() >= self.config.core_messages_max {
            return self.shed(now, vec![inbound]);
        }
        self.pass(now, inbound);
    }

    /// Through the layer, and on to the core unless the layer took it.
    fn pass(&mut self, now: Instant, mut inbound: Inbound) {
        if let Ok(msg) = &inbound.parsed {
            let seen = self
                .layer
                .incoming(now, msg, inbound.peer, self.config.force_rport);
            self.drain_layer();
            match seen {
                Some(seen) => inbound.seen = Some(seen),
                None => return,
            }
        }
        self.batch.push(inbound);
    }

    fn hand_over(&mut self) {
        if self.batch.is_empty() && self.events.is_empty() {
            return;
        }
        let messages = std::mem::replace(&mut self.batch, Vec::with_capacity(CORE_BATCH_MAX));
        let batch = Batch {
            shard: self.index,
            events: std::mem::take(&mut self.events),
            messages,
        };
        // Counted before the send, so the core never takes more than this.
        let n = batch.messages.len();
        let waiting = self.handed.fetch_add(n, Relaxed);
        let refused = if n > 0 && waiting + n > self.config.core_messages_max {
            Some(batch)
        } else {
            match self.core.try_send(batch) {
                Ok(()) => None,
                Err(TrySendError::Full(batch)) => Some(batch),
                // The core has stopped: nothing is answered any more.
                Err(TrySendError::Closed(_)) => None,
            }
        };
        if let Some(batch) = refused {
            self.handed.fetch_sub(n, Relaxed);
            // The layer's events are kept for the next batch: a lost
            // timeout would leave a call ringing.
            self.events = batch.events;
            let now = Instant::now();
            self.shed(now, batch.messages);
        }
    }

    /// The core is behind: new calls get 503 here, the rest is dropped
    /// (its senders retransmit). A message the layer has seen gives back
    /// its transaction, so that its retransmission is new again.
    fn shed(&mut self, now: Instant, messages: Vec<Inbound>) {
        let c = self.counters.clone();
        let c = &c[self.index];
        let mut first = None;
        for m in messages {
            let Ok(msg) = &m.parsed else {
                c.dropped_busy.fetch_add(1, Relaxed);
                continue;
            };
            first.get_or_insert_with(|| msg.call_id().to_owned());
            let new_invite = msg.method() == Some(&Method::Invite) && msg.to().tag().is_none();
            if new_invite {
                if self.refuse(now, msg, m.peer, m.seen) {
                    c.shed.fetch_add(1, Relaxed);
                }
                continue;
            }
            // The ACK of a 503 this shard sent: its layer takes it.
            if m.seen.is_none() && msg.method() == Some(&Method::Ack) {
                let absorbed = self
                    .layer
                    .incoming(now, msg, m.peer, self.config.force_rport);
                self.drain_layer();
                if absorbed.is_none() {
                    continue;
                }
            }
            c.dropped_busy.fetch_add(1, Relaxed);
            if let Some(Seen::Request {
                verdict: Ok(tx::ServerVerdict::New),
                key,
            }) = m.seen
            {
                let call_id = msg.call_id().to_owned();
                let _ = self.layer.command(now, Command::Forget { key, call_id });
            }
        }
        if let Some(unlogged) = self.busy_warned.pass(Instant::now()) {
            let call_id = first.unwrap_or_default();
            warn!(shard = self.index, %call_id, unlogged, "core behind: SIP shard refusing new calls with 503 and dropping other messages");
        }
    }

    /// A 503 + Retry-After to a new INVITE, on its transaction, so that
    /// the layer answers its retransmissions and takes its ACK; without a
    /// transaction (the table is full) statelessly. `seen`: what the layer
    /// made of the INVITE, with the key it built, if it has seen it already.
    /// False when the INVITE was a retransmission (of a call the core has,
    /// or of one refused here): the layer resent its answer instead.
    fn refuse(&mut self, now: Instant, req: &Message, source: Peer, seen: Option<Seen>) -> bool {
        let Some(top) = req.vias().first() else {
            return false;
        };
        let dest = build::response_destination(top, source, self.config.force_rport);
        let key = match seen {
            Some(Seen::Request { key, .. }) => key,
            _ => {
                let key = tx::server_key(req, &Method::Invite);
                match self.layer.server_request(now, key.clone(), false, dest) {
                    Ok(tx::ServerVerdict::New) | Err(_) => {}
                    Ok(_) => {
                        self.drain_layer();
                        return false;
                    }
                }
                key
            }
        };
        self.tags += 1;
        let tag = format!("sh{}x{}", self.index, self.tags);
        let mut w = build::response_to(req, source, 503, build::reason(503), Some(&tag));
        let secs = self.config.retry_after.as_secs().max(1);
        w.header_fmt("Retry-After", format_args!("{secs}"));
        let bytes = w.finish(None);
        if self
            .layer
            .server_respond(now, &key, 503, bytes.clone())
            .is_err()
        {
            self.sends.push((dest.addr, bytes));
        }
        self.drain_layer();
        true
    }

    fn send(&mut self) {
        if self.sends.is_empty() {
            return;
        }
        let failed = io::send_batch(self.socket.as_raw_fd(), &self.sends);
        let c = &self.counters[self.index];
        c.sent
            .fetch_add((self.sends.len() - failed) as u64, Relaxed);
        if failed > 0 {
            c.send_failed.fetch_add(failed as u64, Relaxed);
        }
        self.sends.clear();
    }
}
