//! The RTP relay driver: UDP sockets per leg, a fixed set of relay threads
//! ([`RelayConfig::threads`]), each an epoll loop over its share of the
//! calls (`thread.rs`), calls dealt out in turn; the packet path shares no
//! scheduler with the rest of the switch and has no task per call.
//!
//! Each leg gets an RTP/RTCP port pair from the [`PortPool`]. All legs of a
//! call live on one thread, in one pure core (`call.rs`) that owns their
//! latches and outgoing stream state, so forwarding needs no lock and no
//! shared state: the thread receives into reused buffers (recvmmsg), the
//! core judges the source ([`Latch`]),
//! rewrites the header in place ([`rewrite_in_place`]) or transcodes and
//! re-packetises when the legs' codecs or packet times differ
//! (`forward.rs`), and queues the packet for the bridged leg's socket,
//! which the thread sends (sendmmsg). RTCP
//! goes the same way with its SSRCs renamed. Counters are kept in the core
//! and flushed to shared atomics once per tick. The call engine steers it
//! with the words of [`crate::media::command`]: [`MediaHandle::apply`]
//! takes its commands as they are, naming a call by the switch's `CallRef`
//! and a leg by its part, and maps them to the relay's own [`LegId`]s
//! (`apply.rs`); tests and benches may drive legs by id directly. The relay
//! reports through [`MediaEvent`]s on a bounded channel. A leg that is not bridged can be played prompts
//! ([`MediaHandle::play`]: queue audio, music on hold) on its own stream.
//! Telephone-events pass a plain bridge untouched; where they cannot (a
//! transcoded pair, a mixed leg) or came by SIP INFO
//! ([`MediaHandle::send_digit`]), the relay generates them on the far leg's
//! stream. A recorded or supervised call also gets a mixer (`mixer.rs`): the legs'
//! audio is decoded into per-party queues and, every 20 ms, written to the
//! recording and mixed for the parties that hear more than one other.
//!
//! [`Latch`]: crate::media::latch::Latch
//! [`rewrite_in_place`]: crate::media::rtp::rewrite_in_place

// A driver: it binds sockets, reads the clock and starts the relay threads.
#![allow(clippy::disallowed_methods)]

mod apply;
pub(crate) mod batch;
mod call;
mod forward;
mod mixer;
mod record;
mod stats;
mod thread;
pub(crate) mod transmit;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

use crate::call::CallRef;
use crate::media::command::{LegId, LegRemote, MediaEvent, MediaLeg, MEDIA_SIDES};
use crate::media::mix::{Mode, Voice};
use crate::media::pool::{PoolError, PortPool};
use crate::media::prompts::{PromptId, PromptSet};
use crate::media::transcode::TranscodeError;

pub use crate::media::command::LEGS_PER_CALL_MAX;
pub use record::{group_id, RecordError};
pub use stats::{DropReason, RelaySnapshot};

use call::{CallMedia, Command, LegSetup};
use forward::forward_path;
use stats::RelayStats;
use thread::{Inbox, RelayThread};

pub use thread::INBOX_MAX;
/// Largest datagram the relay takes; bigger ones are truncated and dropped.
pub const PACKET_BYTES_MAX: usize = 2048;
/// Ports tried when binding a pair fails (a port held by another program).
pub const BIND_ATTEMPTS_MAX: usize = 8;
/// recvmmsg rounds on one socket per wake before the others get a turn.
pub const DRAIN_ROUNDS_MAX: usize = 8;
/// Distinct tick instants per tick period that calls are spread over
/// (a power of two): a burst of ticks delays packets, and every distinct
/// instant costs the runtime a wake-up.
pub const TICK_PHASES: u32 = 16;
/// Most relay threads ([`RelayConfig::threads`]).
pub const RELAY_THREADS_MAX: usize = 64;

/// How the relay is set up.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Address the sockets bind to.
    pub bind_ip: IpAddr,
    /// Address written into SDP (differs from `bind_ip` behind a 1:1 NAT).
    pub advertise_ip: IpAddr,
    pub port_min: u16,
    pub port_max: u16,
    /// A call with no media for this long is reported ([`MediaEvent::Timeout`]).
    pub media_timeout: Duration,
    /// Silence of a latched source after which another may take over.
    pub relatch_after: Duration,
    /// Period of the coarse clock, the inactivity check and the stats flush.
    pub tick: Duration,
    /// Bound of the event channel to the switch.
    pub events_queue_max: usize,
    /// Seed of the RNG that draws SSRCs and initial sequence numbers.
    pub rng_seed: u64,
    /// Relay threads, each an epoll loop over its share of the calls;
    /// 0 means one.
    pub threads: usize,
    /// A group id recordings are given to (mode 0640); `None`: 0600.
    pub recordings_group: Option<u32>,
}

impl RelayConfig {
    /// Loopback defaults for tests and benches.
    pub fn loopback(port_min: u16, port_max: u16) -> Self {
        let ip = IpAddr::from([127, 0, 0, 1]);
        Self {
            bind_ip: ip,
            advertise_ip: ip,
            port_min,
            port_max,
            media_timeout: Duration::from_secs(60),
            relatch_after: Duration::from_secs(2),
            tick: Duration::from_millis(250),
            events_queue_max: 1024,
            rng_seed: 0x5EED,
            threads: 0,
            recordings_group: None,
        }
    }
}

/// What went wrong with a media request.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{threads} relay threads asked, at most {RELAY_THREADS_MAX}")]
    TooManyThreads { threads: usize },
    #[error("could not start relay thread {n}: {source}")]
    Thread { n: usize, source: std::io::Error },
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("all RTP ports are in use")]
    PortsExhausted,
    #[error("could not bind an RTP port pair after {attempts} attempts: {source}")]
    Bind {
        attempts: usize,
        source: std::io::Error,
    },
    #[error("call {0:?} already has {LEGS_PER_CALL_MAX} media legs")]
    TooManyLegs(CallRef),
    #[error("no media leg {0:?}")]
    UnknownLeg(LegId),
    #[error("legs {0:?} and {1:?} belong to different calls")]
    DifferentCalls(LegId, LegId),
    #[error("leg {0:?} cannot be bridged to itself")]
    SelfBridge(LegId),
    #[error("cannot set up transcoding: {0}")]
    Transcoder(#[from] TranscodeError),
    #[error("the relay thread of call {0:?} is not keeping up with commands")]
    CallBusy(CallRef),
}

impl MediaError {
    /// The SIP status for the call request that hit this error: 503 when
    /// the switch is out of media resources (with Retry-After), else 500.
    pub fn status(&self) -> u16 {
        match self {
            Self::PortsExhausted | Self::Bind { .. } | Self::CallBusy(_) => 503,
            _ => 500,
        }
    }
}

/// Where the party of a leg must send (goes into the SDP we give it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegMedia {
    pub leg: LegId,
    pub rtp_addr: SocketAddr,
    pub rtcp_addr: SocketAddr,
}

/// The switch's handle on the relay. Cheap to clone; every method is a
/// short critical section on control-plane tables, never on the packet path.
#[derive(Clone)]
pub struct MediaHandle {
    shared: Arc<Shared>,
}

struct Shared {
    config: RelayConfig,
    /// Dropped with the last handle: each then closes its calls and stops.
    threads: Vec<RelayThread>,
    /// Calls opened so far; call `k` runs on `threads[k % len]`.
    calls_opened: AtomicUsize,
    pool: Arc<Mutex<PortPool>>,
    calls: Mutex<HashMap<CallRef, CallEntry>>,
    rng: Mutex<StdRng>,
    stats: Arc<RelayStats>,
    /// Queue audio, pre-encoded; empty when none was loaded. A reload
    /// swaps it: each call keeps the set it started with.
    prompts: Mutex<Arc<PromptSet>>,
}

struct CallEntry {
    /// Index of the relay thread the call's media and sockets belong to.
    thread: usize,
    legs: Vec<Option<LegRemote>>,
    /// The leg that plays each part ([`MediaLeg::index`]) in the core's
    /// commands; a later leg for a part takes it over.
    sides: [Option<u8>; MEDIA_SIDES],
}

/// Starts the relay and its threads. Returns the handle and the event
/// stream.
pub fn start(config: RelayConfig) -> Result<(MediaHandle, mpsc::Receiver<MediaEvent>), MediaError> {
    start_with_prompts(config, Arc::new(PromptSet::default()))
}

/// [`start`], with the prompts that [`MediaHandle::play`] streams.
pub fn start_with_prompts(
    config: RelayConfig,
    prompts: Arc<PromptSet>,
) -> Result<(MediaHandle, mpsc::Receiver<MediaEvent>), MediaError> {
    let pool = Arc::new(Mutex::new(PortPool::new(config.port_min, config.port_max)?));
    let (events, rx) = mpsc::channel(config.events_queue_max.max(1));
    let threads = start_threads(config.threads.max(1), &pool, &events)?;
    let shared = Shared {
        rng: Mutex::new(StdRng::seed_from_u64(config.rng_seed)),
        config,
        threads,
        calls_opened: AtomicUsize::new(0),
        pool,
        calls: Mutex::new(HashMap::new()),
        stats: Arc::new(RelayStats::default()),
        prompts: Mutex::new(prompts),
    };
    Ok((
        MediaHandle {
            shared: Arc::new(shared),
        },
        rx,
    ))
}

impl MediaHandle {
    /// Allocates a port pair for a new leg of `call` and starts relaying on
    /// it (media arriving before a bridge is received and dropped).
    pub fn allocate_leg(&self, call: CallRef) -> Result<LegMedia, MediaError> {
        self.add_leg(call, None, None)
    }

    /// A new leg of `call`. With `at`, on the pair `at`/`at + 1` that the
    /// core's own pool handed out (the core keeps the pool that decides;
    /// this relay's pool is then not consulted). With `side`, the leg plays
    /// that part in the core's commands.
    fn add_leg(
        &self,
        call: CallRef,
        at: Option<u16>,
        side: Option<MediaLeg>,
    ) -> Result<LegMedia, MediaError> {
        let s = &self.shared;
        let mut calls = lock(&s.calls);
        if calls
            .get(&call)
            .is_some_and(|e| e.legs.len() >= LEGS_PER_CALL_MAX)
        {
            return Err(MediaError::TooManyLegs(call));
        }
        let (port, rtp, rtcp) = match at {
            None => self.bind_pair()?,
            Some(port) => {
                let (rtp, rtcp) =
                    bind(s.config.bind_ip, port).map_err(|source| MediaError::Bind {
                        attempts: 1,
                        source,
                    })?;
                (port, rtp, rtcp)
            }
        };
        let entry = match calls.entry(call) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => match self.open_call(call) {
                Ok(entry) => e.insert(entry),
                Err(err) => {
                    drop((rtp, rtcp));
                    let _ = lock(&s.pool).release(port);
                    return Err(err);
                }
            },
        };
        let leg = LegId {
            call,
            n: entry.legs.len() as u8,
        };
        let (ssrc, seq, ts) = {
            let mut rng = lock(&s.rng);
            (
                rng.random::<u32>(),
                rng.random::<u16>(),
                rng.random::<u32>(),
            )
        };
        let setup = LegSetup {
            leg,
            side,
            port,
            ssrc,
            initial_seq: seq,
            initial_ts: ts,
        };
        let add = Inbox::AddLeg {
            call,
            setup: Box::new(setup),
            rtp,
            rtcp,
        };
        if s.threads[entry.thread].send(add).is_err() {
            // The thread is gone; the sockets went with the message.
            let _ = lock(&s.pool).release(port);
            return Err(MediaError::CallBusy(call));
        }
        entry.legs.push(None);
        if let Some(side) = side {
            entry.sides[side.index()] = Some(leg.n);
        }
        Ok(LegMedia {
            leg,
            rtp_addr: SocketAddr::new(s.config.advertise_ip, port),
            rtcp_addr: SocketAddr::new(s.config.advertise_ip, port + 1),
        })
    }

    /// Applies a leg's negotiated SDP (offer or answer, also re-INVITEs).
    pub fn set_remote(&self, leg: LegId, remote: LegRemote) -> Result<(), MediaError> {
        let mut calls = lock(&self.shared.calls);
        let entry = calls
            .get_mut(&leg.call)
            .ok_or(MediaError::UnknownLeg(leg))?;
        let slot = entry
            .legs
            .get_mut(usize::from(leg.n))
            .ok_or(MediaError::UnknownLeg(leg))?;
        *slot = Some(remote);
        send(
            &self.shared.threads,
            entry,
            leg.call,
            Command::SetRemote(leg.n, remote),
        )
    }

    /// Bridges `a` and `b` both ways. A leg bridged elsewhere before is
    /// taken over; its former partner is left unbridged (it hears nothing
    /// until bridged again). `b`'s outgoing stream stays continuous. Legs
    /// whose negotiated codecs differ are transcoded.
    pub fn bridge(&self, a: LegId, b: LegId) -> Result<(), MediaError> {
        if a.call != b.call {
            return Err(MediaError::DifferentCalls(a, b));
        }
        if a == b {
            return Err(MediaError::SelfBridge(a));
        }
        let mut calls = lock(&self.shared.calls);
        let entry = calls.get_mut(&a.call).ok_or(MediaError::UnknownLeg(a))?;
        let ra = *entry
            .legs
            .get(usize::from(a.n))
            .ok_or(MediaError::UnknownLeg(a))?;
        let rb = *entry
            .legs
            .get(usize::from(b.n))
            .ok_or(MediaError::UnknownLeg(b))?;
        let a_to_b = forward_path(ra, rb)?;
        let b_to_a = forward_path(rb, ra)?;
        send(
            &self.shared.threads,
            entry,
            a.call,
            Command::Bridge {
                a: a.n,
                b: b.n,
                a_to_b,
                b_to_a,
            },
        )
    }

    /// Stops forwarding from and to `leg` (its packets are still received,
    /// latched and counted; it hears nothing).
    pub fn unbridge(&self, leg: LegId) -> Result<(), MediaError> {
        self.command(&[leg], Command::Unbridge(leg.n))
    }

    /// Streams prompts to `leg`: `intro` once, then `music` looped, until
    /// the leg is bridged or another playlist replaces this one. The leg's
    /// SSRC, sequence and timestamps run on across the switch (RFC 3550 §5.1).
    pub fn play(
        &self,
        leg: LegId,
        intro: Vec<PromptId>,
        music: Vec<PromptId>,
    ) -> Result<(), MediaError> {
        let command = Command::Play {
            leg: leg.n,
            intro,
            music,
        };
        self.command(&[leg], command)
    }

    /// Records `caller` (left channel) and `agent` (right) into a stereo
    /// 8 kHz WAV at `path`, from now until the call's media is released.
    pub fn record(&self, caller: LegId, agent: LegId, path: PathBuf) -> Result<(), MediaError> {
        let command = Command::Record {
            caller: caller.n,
            agent: agent.n,
            path,
            group: self.shared.config.recordings_group,
        };
        self.command(&[caller, agent], command)
    }

    /// Joins `supervisor` to the call of `caller` and `agent` in `mode`
    /// (a later call changes the mode or the supervisor leg).
    pub fn supervise(
        &self,
        caller: LegId,
        agent: LegId,
        supervisor: LegId,
        mode: Mode,
    ) -> Result<(), MediaError> {
        let command = Command::Supervise {
            caller: caller.n,
            agent: agent.n,
            supervisor: supervisor.n,
            mode,
        };
        self.command(&[caller, agent, supervisor], command)
    }

    /// The supervisor left `call`: caller and agent hear each other plainly
    /// again. The supervisor's ports are returned when the call ends.
    pub fn end_supervision(&self, call: CallRef) -> Result<(), MediaError> {
        let calls = lock(&self.shared.calls);
        let entry = calls
            .get(&call)
            .ok_or(MediaError::UnknownLeg(LegId { call, n: 0 }))?;
        send(&self.shared.threads, entry, call, Command::EndSupervision)
    }

    /// Makes `call` a conference of these legs (by number), each with its
    /// voice: every one hears all the others, mixed.
    pub fn conference(&self, call: CallRef, parties: Vec<(u8, Voice)>) -> Result<(), MediaError> {
        let calls = lock(&self.shared.calls);
        let entry = calls
            .get(&call)
            .ok_or(MediaError::UnknownLeg(LegId { call, n: 0 }))?;
        send(
            &self.shared.threads,
            entry,
            call,
            Command::Conference(parties),
        )
    }

    /// Queues `command` for the call of `legs`: distinct, existing legs of
    /// one call.
    fn command(&self, legs: &[LegId], command: Command) -> Result<(), MediaError> {
        let Some((&first, _)) = legs.split_first() else {
            return Ok(());
        };
        for (i, &leg) in legs.iter().enumerate() {
            if leg.call != first.call {
                return Err(MediaError::DifferentCalls(first, leg));
            }
            if legs[..i].contains(&leg) {
                return Err(MediaError::SelfBridge(leg));
            }
        }
        let calls = lock(&self.shared.calls);
        let entry = calls
            .get(&first.call)
            .ok_or(MediaError::UnknownLeg(first))?;
        if let Some(&leg) = legs.iter().find(|l| usize::from(l.n) >= entry.legs.len()) {
            return Err(MediaError::UnknownLeg(leg));
        }
        send(&self.shared.threads, entry, first.call, command)
    }

    /// Sends `digit` to `leg` as RFC 4733 telephone-events (100 ms, end
    /// repeated three times) on the leg's own stream, if the leg negotiated
    /// telephone-event; relayed audio to the leg pauses meanwhile.
    pub fn send_digit(&self, leg: LegId, digit: char) -> Result<(), MediaError> {
        self.command(&[leg], Command::SendDigit { leg: leg.n, digit })
    }

    /// Listens to `leg` for an answering machine: the call's events tell
    /// the verdict and, for a machine when `beep`, the greeting's end.
    pub fn detect(&self, leg: LegId, beep: bool) -> Result<(), MediaError> {
        self.command(&[leg], Command::Detect { leg: leg.n, beep })
    }

    /// The prompts new calls play.
    pub fn prompts(&self) -> Arc<PromptSet> {
        Arc::clone(&lock(&self.shared.prompts))
    }

    /// Prompts for the calls to come (a reload). Keep the old names' ids
    /// ([`PromptSet::merged`]): a call in progress is told ids, and
    /// plays them from the set it started with.
    pub fn set_prompts(&self, prompts: Arc<PromptSet>) {
        *lock(&self.shared.prompts) = prompts;
    }

    /// Ends the call's media: its relay thread applies what was queued
    /// for it, closes the sockets and returns the ports to the pool.
    /// Releasing an unknown call is a no-op.
    pub fn release(&self, call: CallRef) {
        if let Some(entry) = lock(&self.shared.calls).remove(&call) {
            let _ = self.shared.threads[entry.thread].send(Inbox::Release(call));
        }
    }

    /// Counters and gauges for the metrics exporter.
    pub fn stats(&self) -> RelaySnapshot {
        // One lock at a time: allocate_leg takes `calls` then `pool`.
        let free = {
            let pool = lock(&self.shared.pool);
            pool.capacity() - pool.in_use()
        };
        let calls = lock(&self.shared.calls).len();
        self.shared.stats.snapshot(free, calls)
    }

    fn bind_pair(&self) -> Result<(u16, StdUdpSocket, StdUdpSocket), MediaError> {
        let s = &self.shared;
        let mut last_err = None;
        for _ in 0..BIND_ATTEMPTS_MAX {
            let port = match lock(&s.pool).allocate() {
                Ok(p) => p,
                Err(PoolError::Exhausted { .. }) => {
                    s.stats.count_ports_exhausted();
                    return Err(MediaError::PortsExhausted);
                }
                Err(e) => return Err(e.into()),
            };
            match bind(s.config.bind_ip, port) {
                Ok((rtp, rtcp)) => return Ok((port, rtp, rtcp)),
                Err(e) => {
                    // Held by someone else: back of the queue, try the next.
                    let _ = lock(&s.pool).release(port);
                    last_err = Some(e);
                }
            }
        }
        Err(MediaError::Bind {
            attempts: BIND_ATTEMPTS_MAX,
            source: last_err.expect("at least one bind was attempted"),
        })
    }

    /// A new call's media, on the next relay thread in turn.
    fn open_call(&self, call: CallRef) -> Result<CallEntry, MediaError> {
        let s = &self.shared;
        let thread = s.calls_opened.fetch_add(1, Relaxed) % s.threads.len();
        let media = CallMedia::new(
            call,
            &s.config,
            Arc::clone(&s.stats),
            self.prompts(),
            Instant::now(),
        );
        s.threads[thread]
            .send(Inbox::Open(Box::new(media)))
            .map_err(|_| MediaError::CallBusy(call))?;
        Ok(CallEntry {
            thread,
            legs: Vec::with_capacity(2),
            sides: [None; MEDIA_SIDES],
        })
    }
}

/// Starts `threads` relay threads.
fn start_threads(
    threads: usize,
    pool: &Arc<Mutex<PortPool>>,
    events: &mpsc::Sender<MediaEvent>,
) -> Result<Vec<RelayThread>, MediaError> {
    if threads > RELAY_THREADS_MAX {
        return Err(MediaError::TooManyThreads { threads });
    }
    (0..threads)
        .map(|n| {
            RelayThread::start(n, Arc::clone(pool), events.clone())
                .map_err(|source| MediaError::Thread { n, source })
        })
        .collect()
}

fn send(
    threads: &[RelayThread],
    entry: &CallEntry,
    call: CallRef,
    command: Command,
) -> Result<(), MediaError> {
    threads[entry.thread]
        .command(call, command)
        .map_err(|_| MediaError::CallBusy(call))
}

fn bind(ip: IpAddr, port: u16) -> std::io::Result<(StdUdpSocket, StdUdpSocket)> {
    let rtp = StdUdpSocket::bind((ip, port))?;
    let rtcp = StdUdpSocket::bind((ip, port + 1))?;
    rtp.set_nonblocking(true)?;
    rtcp.set_nonblocking(true)?;
    Ok((rtp, rtcp))
}

/// Control-plane tables stay consistent under every panic-free path, so a
/// poisoned lock (a panic elsewhere while holding it) is taken over.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
