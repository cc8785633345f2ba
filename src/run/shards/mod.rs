//! SIP over UDP on every core. One receiver thread takes datagrams off the
//! SIP socket with recvmmsg and deals each to a shard by the hash of its
//! Call-ID (`key.rs`); each shard thread answers STUN keep-alives, parses,
//! runs the message through the transaction layer of its dialogs, and
//! hands the core what the layer lets through, in batches, in the order it
//! came, so a dialog's messages reach the core in the order they reached
//! the socket. Retransmissions, resent answers and the ACKs of failures
//! end on the shard; its timers fire there. What the core sends, and its
//! commands to the layer (`Command`), go through the shard of their
//! Call-ID, in the order the core gave them; datagrams leave with
//! sendmmsg. The core task keeps the sessions, the router and the tables.
//!
//! Bounds, and what happens past them:
//! - a shard's queue holds [`ShardConfig::queue_max`] datagrams; past it the
//!   receiver drops what comes for that shard only, so a slow shard cannot
//!   stall the others (UDP senders retransmit);
//! - at most [`ShardConfig::core_messages_max`] messages wait for the core;
//!   a shard that finds them (or the channel) full sheds: a new INVITE gets
//!   503 + Retry-After from the shard itself (through its layer, which
//!   answers the INVITE's retransmissions), anything else is dropped before
//!   the layer sees it, counted and logged. The core's own admission acts
//!   well before that.

mod io;
pub mod key;
mod shard;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc::Sender as CoreSender;
use tracing::warn;

use crate::media::relay::batch::RecvBatch;
use crate::sip::limits::MESSAGE_BYTES_MAX;
use crate::sip::parse::{Message, ParseError};
use crate::sip::transaction::{self as tx, Command, Seen, TimerConfig, TransactionLayer};
use crate::sip::Peer;
use shard::Shard;

/// Shards at most, whatever the core count.
pub const SHARDS_MAX: usize = crate::config::SIP_WORKERS_MAX as usize;
/// Datagrams waiting for one shard by default.
pub const SHARD_QUEUE_MAX: usize = 4096;
/// Messages waiting for the core before the shards shed, at least: well
/// past the default `[overload].backlog_high` (5000), so that the core's
/// own admission control acts first and the shards only catch what it
/// cannot. The core's channel holds as many batches, so this bound, not
/// the channel, is the one that bites.
pub const CORE_MESSAGES_MAX: usize = 32 * 1024;
/// Messages a shard hands the core at once.
const CORE_BATCH_MAX: usize = 64;
/// Inputs a shard takes before it sends what they produced.
const ROUND_MAX: usize = 4 * CORE_BATCH_MAX;
/// Datagrams taken per recvmmsg call.
const RECV_BATCH: usize = 16;
/// How often the receiver looks at the stop flag when the socket is idle.
const POLL_MS: i32 = 250;
/// At most one warning per shard and kind this often.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// The shards' bound in front of the core for an `[overload].backlog_high`
/// mark: above the mark, however high it is set, so admission acts first.
pub fn core_messages_max(backlog_high: u32) -> usize {
    CORE_MESSAGES_MAX.max(2 * backlog_high as usize)
}

#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// Shard threads, at least 1.
    pub shards: usize,
    /// Datagrams waiting per shard before the receiver drops.
    pub queue_max: usize,
    /// Messages waiting for the core (all shards) before a shard sheds.
    pub core_messages_max: usize,
    /// The `Retry-After` of a shard's own 503.
    pub retry_after: Duration,
    /// `[switch].force_rport`: where responses go.
    pub force_rport: bool,
    /// Live transactions per shard, at most.
    pub transactions_max: usize,
    /// The layers' T1, T2, T4.
    pub timers: TimerConfig,
}

impl ShardConfig {
    /// How many shards, and their bounds: `[switch].sip_workers` (0: one
    /// per core).
    pub fn for_config(config: &crate::config::Config) -> ShardConfig {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards = match config.switch.sip_workers {
            0 => cores,
            n => n as usize,
        }
        .clamp(1, SHARDS_MAX);
        ShardConfig {
            shards,
            queue_max: SHARD_QUEUE_MAX,
            core_messages_max: core_messages_max(config.overload.backlog_high),
            retry_after: config.overload.retry_after,
            force_rport: config.switch.force_rport,
            // The core's bound on transactions, shared out.
            transactions_max: crate::sip::limits::TRANSACTIONS_MAX / shards,
            timers: TimerConfig::default(),
        }
    }
}

/// A parsed datagram for the core.
#[derive(Debug)]
pub struct Inbound {
    pub peer: Peer,
    pub bytes: Bytes,
    pub parsed: Result<Message, ParseError>,
    /// What the shard's transaction layer made of it (`None`: unparsed).
    pub seen: Option<Seen>,
}

/// What one shard hands the core at once, in arrival order: its layer's
/// events first (they happened before the messages after them).
#[derive(Debug)]
pub struct Batch {
    pub shard: usize,
    pub events: Vec<tx::Event>,
    pub messages: Vec<Inbound>,
}

/// One shard's counts since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardFigures {
    /// Datagrams dealt to the shard.
    pub received: u64,
    /// Dropped by the receiver: the shard's queue was full.
    pub dropped_full: u64,
    /// Dropped by the shard: too much was waiting for the core.
    pub dropped_busy: u64,
    /// New INVITEs the shard answered 503 itself.
    pub shed: u64,
    /// Datagrams the shard sent for the core (its 503s and STUN answers too).
    pub sent: u64,
    /// Datagrams the shard could not send.
    pub send_failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicUsize,
    received: AtomicU64,
    dropped_full: AtomicU64,
    dropped_busy: AtomicU64,
    shed: AtomicU64,
    sent: AtomicU64,
    send_failed: AtomicU64,
    /// Live transactions in the shard's layer, after its last round.
    transactions: AtomicUsize,
}

enum Input {
    Datagram {
        src: SocketAddr,
        bytes: Bytes,
    },
    /// What the core sent and asked, in its order.
    Send(Vec<Out>),
    /// Holds the shard until the sender side is dropped (tests of a slow shard).
    #[cfg(test)]
    Stall(mpsc::Receiver<()>),
}

/// A datagram the core sends, or a command to the layer.
enum Out {
    Datagram(SocketAddr, Bytes),
    Tx(Command),
}

/// The receiver and shard threads, and the core's side of them.
pub struct ShardSet {
    inputs: Vec<mpsc::Sender<Input>>,
    /// What the core sent since the last [`ShardSet::flush`], by shard.
    pending: Vec<Vec<Out>>,
    counters: Arc<[Counters]>,
    /// Messages handed to the core's channel and not yet taken from it.
    handed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    socket: Arc<UdpSocket>,
}

impl ShardSet {
    /// Starts the threads on a bound (non-blocking) SIP socket; parsed
    /// batches go to `core`.
    pub fn start(
        socket: UdpSocket,
        config: &ShardConfig,
        core: CoreSender<Batch>,
    ) -> std::io::Result<ShardSet> {
        socket.set_nonblocking(true)?;
        let n = config.shards.clamp(1, SHARDS_MAX);
        let socket = Arc::new(socket);
        let counters: Arc<[Counters]> = (0..n).map(|_| Counters::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let handed = Arc::new(AtomicUsize::new(0));
        let mut inputs = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n + 1);
        for index in 0..n {
            let (tx, rx) = mpsc::channel();
            let shard = Shard {
                index,
                socket: socket.clone(),
                counters: counters.clone(),
                handed: handed.clone(),
                core: core.clone(),
                config: config.clone(),
                batch: Vec::with_capacity(CORE_BATCH_MAX),
                events: Vec::new(),
                layer: TransactionLayer::with_transactions_max(
                    config.timers,
                    config.transactions_max.max(1),
                ),
                sends: Vec::new(),
                busy_warned: Gate::default(),
                tags: 0,
            };
            threads.push(spawn(format!("sip-shard-{index}"), move || shard.run(rx))?);
            inputs.push(tx);
        }
        let receiver = Receiver {
            socket: socket.clone(),
            inputs: inputs.clone(),
            counters: counters.clone(),
            stop: stop.clone(),
            queue_max: config.queue_max.max(1),
            full_warned: (0..n).map(|_| Gate::default()).collect(),
        };
        threads.push(spawn("sip-recv".into(), move || receiver.run())?);
        Ok(ShardSet {
            inputs,
            pending: (0..n).map(|_| Vec::new()).collect(),
            counters,
            handed,
            stop,
            threads,
            socket,
        })
    }

    pub fn shards(&self) -> usize {
        self.inputs.len()
    }

    /// The core took a batch of `n` messages. Returns how many datagrams
    /// still wait in front of it, in the shards' queues and its channel:
    /// the depth of its queue, for admission control.
    pub fn took(&self, n: usize) -> usize {
        let handed = self.handed.fetch_sub(n, Relaxed).saturating_sub(n);
        handed + self.waiting_in_shards()
    }

    /// Datagrams waiting for the core now, without taking any.
    pub fn waiting(&self) -> usize {
        self.handed.load(Relaxed) + self.waiting_in_shards()
    }

    fn waiting_in_shards(&self) -> usize {
        self.counters.iter().map(|c| c.queued.load(Relaxed)).sum()
    }

    /// Queues a datagram the core sends; it leaves at the next [`flush`](Self::flush).
    pub fn transmit(&mut self, dst: SocketAddr, bytes: Bytes) {
        let s = key::shard_of(&bytes, dst, self.pending.len());
        self.pending[s].push(Out::Datagram(dst, bytes));
    }

    /// Queues a command for the layer of its dialog's shard, behind what
    /// the core sent before it; it goes at the next [`flush`](Self::flush).
    pub fn command(&mut self, command: Command) {
        let n = self.pending.len();
        let s = match &command {
            Command::Respond { bytes, .. } => {
                key::call_id(bytes).map_or(0, |id| key::shard_of_id(id, n))
            }
            Command::Send { bytes, peer, .. } => key::shard_of(bytes, peer.addr, n),
            Command::AckFor2xx { call_id, .. } | Command::Forget { call_id, .. } => {
                key::shard_of_id(call_id.as_bytes(), n)
            }
        };
        self.pending[s].push(Out::Tx(command));
    }

    /// Live transactions in the shards' layers, at their last rounds.
    pub fn transactions(&self) -> usize {
        self.counters
            .iter()
            .map(|c| c.transactions.load(Relaxed))
            .sum()
    }

    /// Hands each shard what the core queued for it.
    pub fn flush(&mut self) {
        for (s, list) in self.pending.iter_mut().enumerate() {
            if !list.is_empty() {
                let _ = self.inputs[s].send(Input::Send(std::mem::take(list)));
            }
        }
    }

    pub fn figures(&self) -> Vec<ShardFigures> {
        self.counters
            .iter()
            .map(|c| ShardFigures {
                received: c.received.load(Relaxed),
                dropped_full: c.dropped_full.load(Relaxed),
                dropped_busy: c.dropped_busy.load(Relaxed),
                shed: c.shed.load(Relaxed),
                sent: c.sent.load(Relaxed),
                send_failed: c.send_failed.load(Relaxed),
            })
            .collect()
    }

    /// Stops the threads and waits for them (after the core's last flush):
    /// the socket is closed when this returns.
    pub fn stop(mut self) {
        self.flush();
        self.halt();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Asks the receiver to end, and wakes it with an empty datagram so it
    /// need not wait out its poll; shards end with their inputs.
    fn halt(&mut self) {
        self.stop.store(true, Relaxed);
        if let Ok(local) = self.socket.local_addr() {
            let ip = match local.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            let _ = self.socket.send_to(&[], SocketAddr::new(ip, local.port()));
        }
        self.inputs.clear();
    }

    #[cfg(test)]
    fn stall(&self, shard: usize) -> mpsc::Sender<()> {
        let (release, held) = mpsc::channel();
        let _ = self.inputs[shard].send(Input::Stall(held));
        release
    }
}

impl Drop for ShardSet {
    fn drop(&mut self) {
        if !self.stop.load(Relaxed) {
            self.halt();
        }
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(f)
}

/// Rate-limits a warning: at most one per [`WARN_EVERY`].
#[derive(Debug, Default)]
struct Gate {
    last: Option<Instant>,
    unlogged: u64,
}

impl Gate {
    /// How many went unlogged before this one, when this one may be logged.
    fn pass(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            self.unlogged += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

struct Receiver {
    socket: Arc<UdpSocket>,
    inputs: Vec<mpsc::Sender<Input>>,
    counters: Arc<[Counters]>,
    stop: Arc<AtomicBool>,
    queue_max: usize,
    full_warned: Vec<Gate>,
}

impl Receiver {
    fn run(mut self) {
        let fd = self.socket.as_raw_fd();
        let mut batch = RecvBatch::<RECV_BATCH>::with_size(MESSAGE_BYTES_MAX);
        while !self.stop.load(Relaxed) {
            if !io::wait(fd, libc::POLLIN, POLL_MS) {
                continue;
            }
            // Drain the socket; a short batch means it is empty.
            loop {
                let got = match batch.recv(fd) {
                    Ok(got) => got,
                    // An ICMP error of an earlier send, or a signal.
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::Interrupted
                        ) =>
                    {
                        continue
                    }
                    Err(_) => break,
                };
                for i in 0..got {
                    if let Some((bytes, src)) = batch.packet(i) {
                        self.deal(bytes, src);
                    }
                }
                if got < RECV_BATCH {
                    break;
                }
            }
        }
    }

    fn deal(&mut self, bytes: &[u8], src: SocketAddr) {
        // Empty: a stop's wake-up (or nothing worth an answer).
        if bytes.is_empty() {
            return;
        }
        let s = key::shard_of(bytes, src, self.inputs.len());
        let c = &self.counters[s];
        c.received.fetch_add(1, Relaxed);
        if c.queued.load(Relaxed) >= self.queue_max {
            c.dropped_full.fetch_add(1, Relaxed);
            if let Some(unlogged) = self.full_warned[s].pass(Instant::now()) {
                let call_id = key::call_id(bytes).map(String::from_utf8_lossy);
                warn!(shard = s, call_id = call_id.as_deref().unwrap_or(""), %src, unlogged, "SIP shard behind: its queue is full, datagram dropped");
            }
            return;
        }
        c.queued.fetch_add(1, Relaxed);
        let input = Input::Datagram {
            src,
            bytes: Bytes::copy_from_slice(bytes),
        };
        let _ = self.inputs[s].send(input);
    }
}

#[cfg(test)]
mod tests;
