//! A relay thread: one epoll loop over the sockets of its share of the
//! calls, no task per call. A wake-up takes every ready socket's queue
//! (recvmmsg into the thread's one batch), hands the packets to their
//! call's core with the time of the wake-up, and sends what the core
//! queued with sendmmsg. Timers are one heap for all the thread's calls,
//! each call in it once at its [`CallMedia::poll_timeout`]. The switch
//! reaches the thread through an inbox and an eventfd that wakes it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::batch::{RecvBatch, RECV_BATCH};
use super::call::{CallMedia, Command, LegSetup};
use super::{lock, DRAIN_ROUNDS_MAX};
use crate::call::CallRef;
use crate::media::command::MediaEvent;
use crate::media::pool::PortPool;

/// Commands queued for one relay thread before more are refused
/// ([`super::MediaError::CallBusy`]); opening and releasing are never refused.
pub const INBOX_MAX: usize = 4096;
/// Readiness events taken per epoll_wait.
const EPOLL_EVENTS: usize = 256;
/// Token of the inbox's eventfd: socket number 255, which no call has.
const WAKE_TOKEN: u64 = u64::MAX;
const _: () = assert!(2 * crate::media::command::LEGS_PER_CALL_MAX < 255);

/// What the switch asks of a relay thread.
pub(super) enum Inbox {
    Open(Box<CallMedia>),
    AddLeg {
        call: CallRef,
        setup: Box<LegSetup>,
        rtp: UdpSocket,
        rtcp: UdpSocket,
    },
    Command(CallRef, Command),
    Release(CallRef),
}

/// The switch's end of a relay thread. Dropping it stops the thread,
/// which closes its calls (recordings are finished, ports returned).
pub(super) struct RelayThread {
    inbox: Option<std_mpsc::Sender<Inbox>>,
    wake: Arc<OwnedFd>,
    /// Commands sent and not yet taken by the thread.
    queued: Arc<AtomicUsize>,
}

/// The thread is gone or its inbox is full.
#[derive(Debug)]
pub(super) struct Refused;

impl RelayThread {
    pub fn start(
        n: usize,
        pool: Arc<Mutex<PortPool>>,
        events: mpsc::Sender<MediaEvent>,
    ) -> io::Result<RelayThread> {
        // SAFETY: plain syscalls; each result is checked before it is owned.
        let epoll = unsafe { owned(libc::epoll_create1(libc::EPOLL_CLOEXEC))? };
        let wake = unsafe { owned(libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC))? };
        watch(epoll.as_raw_fd(), wake.as_raw_fd(), WAKE_TOKEN)?;
        let wake = Arc::new(wake);
        let (inbox, rx) = std_mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let mut relay = Loop {
            epoll,
            wake: Arc::clone(&wake),
            inbox: rx,
            queued: Arc::clone(&queued),
            slots: Vec::new(),
            free: Vec::new(),
            by_call: HashMap::new(),
            timers: BinaryHeap::new(),
            batch: RecvBatch::new(),
            events,
            pool,
            generation: 0,
        };
        std::thread::Builder::new()
            .name(format!("relay-{n}"))
            .spawn(move || relay.run())?;
        Ok(RelayThread {
            inbox: Some(inbox),
            wake,
            queued,
        })
    }

    /// Queues a command; refused when the inbox is full.
    pub fn command(&self, call: CallRef, command: Command) -> Result<(), Refused> {
        if self.queued.load(Relaxed) >= INBOX_MAX {
            return Err(Refused);
        }
        self.queued.fetch_add(1, Relaxed);
        self.send(Inbox::Command(call, command)).inspect_err(|_| {
            self.queued.fetch_sub(1, Relaxed);
        })
    }

    /// Queues anything else (never refused for a full inbox).
    pub fn send(&self, message: Inbox) -> Result<(), Refused> {
        let inbox = self.inbox.as_ref().ok_or(Refused)?;
        inbox.send(message).map_err(|_| Refused)?;
        wake(self.wake.as_raw_fd());
        Ok(())
    }
}

impl Drop for RelayThread {
    fn drop(&mut self) {
        // The thread finds its inbox closed when it wakes, and stops.
        self.inbox = None;
        wake(self.wake.as_raw_fd());
    }
}

/// One call on a relay thread.
struct Slot {
    media: Box<CallMedia>,
    /// Socket 2n is leg n's RTP, 2n + 1 its RTCP.
    sockets: Vec<UdpSocket>,
    /// Tells this call's readiness and timers from a former call's in the
    /// same slot.
    generation: u32,
    /// The deadline the call has in the heap; `None` while it runs one.
    scheduled: Option<Instant>,
}

struct Loop {
    epoll: OwnedFd,
    wake: Arc<OwnedFd>,
    inbox: std_mpsc::Receiver<Inbox>,
    queued: Arc<AtomicUsize>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_call: HashMap<CallRef, usize>,
    /// (deadline, slot, generation); an entry whose call has moved its
    /// deadline since is skipped when it comes up.
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    batch: Box<RecvBatch>,
    events: mpsc::Sender<MediaEvent>,
    pool: Arc<Mutex<PortPool>>,
    generation: u32,
}

impl Loop {
    fn run(&mut self) {
        // SAFETY: epoll_event is plain old data; all-zero is valid.
        let mut ready: [libc::epoll_event; EPOLL_EVENTS] = unsafe { std::mem::zeroed() };
        loop {
            let timeout = self.timeout_ms(Instant::now());
            // SAFETY: `ready` outlives the call and holds EPOLL_EVENTS entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    ready.as_mut_ptr(),
                    EPOLL_EVENTS as i32,
                    timeout,
                )
            };
            let now = Instant::now();
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(%e, "relay thread: epoll_wait failed; its calls' media stops");
                    return self.close_all();
                }
                continue;
            }
            for event in &ready[..n as usize] {
                let token = event.u64;
                if token == WAKE_TOKEN {
                    drain_eventfd(self.wake.as_raw_fd());
                    if !self.take_inbox(now) {
                        return self.close_all();
                    }
                } else {
                    let i = untoken(token).0;
                    self.guarded(i, |relay| relay.readable(token, now));
                }
            }
            self.expire(now);
        }
    }

    /// Milliseconds until the earliest deadline, rounded up (epoll's unit;
    /// -1: none).
    fn timeout_ms(&self, now: Instant) -> i32 {
        let Some(Reverse((at, _, _))) = self.timers.peek() else {
            return -1;
        };
        let wait = at.saturating_duration_since(now);
        let ms = wait.as_nanos().div_ceil(1_000_000);
        i32::try_from(ms).unwrap_or(i32::MAX)
    }

    /// Applies what the switch queued; false once the switch let go.
    fn take_inbox(&mut self, now: Instant) -> bool {
        loop {
            match self.inbox.try_recv() {
                Ok(message) => {
                    let call = match &message {
                        Inbox::Open(media) => media.call(),
                        Inbox::AddLeg { call, .. }
                        | Inbox::Command(call, _)
                        | Inbox::Release(call) => *call,
                    };
                    if catch_unwind(AssertUnwindSafe(|| self.take(message, now))).is_err() {
                        if let Some(&i) = self.by_call.get(&call) {
                            self.lost(i);
                        }
                    }
                }
                Err(std_mpsc::TryRecvError::Empty) => return true,
                Err(std_mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn take(&mut self, message: Inbox, now: Instant) {
        match message {
            Inbox::Open(media) => {
                let call = media.call();
                let generation = self.generation;
                self.generation = self.generation.wrapping_add(1);
                let at = media.poll_timeout();
                let scheduled = Some(at);
                let slot = Slot {
                    media,
                    sockets: Vec::with_capacity(4),
                    generation,
                    scheduled,
                };
                let i = match self.free.pop() {
                    Some(i) => {
                        self.slots[i] = Some(slot);
                        i
                    }
                    None => {
                        self.slots.push(Some(slot));
                        self.slots.len() - 1
                    }
                };
                self.timers.push(Reverse((at, i, generation)));
                self.by_call.insert(call, i);
            }
            Inbox::AddLeg {
                call,
                setup,
                rtp,
                rtcp,
            } => {
                let port = setup.port;
                let Some(&i) = self.by_call.get(&call) else {
                    // Released before its leg arrived.
                    drop((rtp, rtcp));
                    let _ = lock(&self.pool).release(port);
                    return;
                };
                let Some(slot) = self.slots[i].as_mut() else {
                    return;
                };
                let first = slot.sockets.len();
                for (k, socket) in [&rtp, &rtcp].into_iter().enumerate() {
                    let token = token(i, slot.generation, first + k);
                    if let Err(e) = watch(self.epoll.as_raw_fd(), socket.as_raw_fd(), token) {
                        tracing::warn!(call = call.0, port, %e, "relay cannot watch a leg's socket: its media is not received");
                    }
                }
                slot.sockets.push(rtp);
                slot.sockets.push(rtcp);
                slot.media.handle_command(now, Command::AddLeg(setup));
                self.after(i);
            }
            Inbox::Command(call, command) => {
                self.queued.fetch_sub(1, Relaxed);
                if let Some(&i) = self.by_call.get(&call) {
                    if let Some(slot) = self.slots[i].as_mut() {
                        slot.media.handle_command(now, command);
                    }
                    self.after(i);
                }
            }
            Inbox::Release(call) => {
                if let Some(i) = self.by_call.remove(&call) {
                    self.close(i);
                }
            }
        }
    }

    /// Takes what a ready socket has queued: recvmmsg rounds until one
    /// comes back short (drained) or [`DRAIN_ROUNDS_MAX`] (the others get a
    /// turn; the socket stays ready and comes up again).
    fn readable(&mut self, token: u64, now: Instant) {
        let (i, generation, socket) = untoken(token);
        let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if slot.generation != generation {
            return;
        }
        let Some(fd) = slot.sockets.get(socket).map(AsRawFd::as_raw_fd) else {
            return;
        };
        for _ in 0..DRAIN_ROUNDS_MAX {
            // An error (ICMP port unreachable as ECONNREFUSED) is consumed
            // by the read that reports it.
            let Ok(got) = self.batch.recv(fd) else {
                break;
            };
            for k in 0..got {
                match self.batch.packet(k) {
                    Some((packet, src)) => slot.media.handle_packet(now, socket, packet, src),
                    None => slot.media.drop_malformed(),
                }
            }
            if got < RECV_BATCH {
                break;
            }
        }
        self.after(i);
    }

    /// Runs the calls whose deadline has come. Bounded: a call that stays
    /// due is taken again on the next turn of the loop.
    fn expire(&mut self, now: Instant) {
        for _ in 0..self.timers.len() {
            let Some(&Reverse((at, i, generation))) = self.timers.peek() else {
                return;
            };
            if at > now {
                return;
            }
            self.timers.pop();
            let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if slot.generation != generation || slot.scheduled != Some(at) {
                continue;
            }
            // This entry is spent: `after` arms the next one.
            slot.scheduled = None;
            self.guarded(i, |relay| {
                if let Some(slot) = relay.slots[i].as_mut() {
                    slot.media.handle_timeout(now);
                }
                relay.after(i);
            });
        }
    }

    /// Sends what call `i` queued, passes on its events and moves its
    /// deadline in the heap if it changed.
    fn after(&mut self, i: usize) {
        let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        flush(slot, &self.events);
        let next = slot.media.poll_timeout();
        if slot.scheduled != Some(next) {
            slot.scheduled = Some(next);
            self.timers.push(Reverse((next, i, slot.generation)));
        }
    }

    fn close(&mut self, i: usize) {
        let Some(mut slot) = self.slots.get_mut(i).and_then(Option::take) else {
            return;
        };
        let ports = slot.media.close();
        flush(&mut slot, &self.events);
        // Closing a socket takes it out of the epoll set; close them all
        // before their ports can be handed out again.
        drop(slot);
        let mut pool = lock(&self.pool);
        for port in ports {
            let _ = pool.release(port);
        }
        self.free.push(i);
    }

    /// Runs `f` on call `i`'s behalf; a panic in it ends that call's media
    /// alone, not the thread and its other calls.
    fn guarded(&mut self, i: usize, f: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
            self.lost(i);
        }
    }

    /// Ends call `i`'s media after a panic in its core: loudly, and the
    /// switch is told as for a media timeout, so the call is hung up and
    /// recorded rather than left silent.
    fn lost(&mut self, i: usize) {
        let Some(slot) = self.slots.get_mut(i).and_then(Option::take) else {
            return;
        };
        let call = slot.media.call();
        tracing::error!(
            call = call.0,
            "relay: the call's media failed (a bug); ending the call"
        );
        self.by_call.remove(&call);
        let mut slot = slot;
        let ports = catch_unwind(AssertUnwindSafe(|| slot.media.close())).unwrap_or_default();
        drop(slot);
        let mut pool = lock(&self.pool);
        for port in ports {
            let _ = pool.release(port);
        }
        drop(pool);
        self.free.push(i);
        let _ = self.events.try_send(MediaEvent::Timeout {
            call,
            silent_for: Duration::ZERO,
        });
    }

    fn close_all(&mut self) {
        for i in 0..self.slots.len() {
            self.close(i);
        }
        self.by_call.clear();
    }
}

/// Sends the call's queued packets and hands its events to the switch.
fn flush(slot: &mut Slot, events: &mpsc::Sender<MediaEvent>) {
    let Slot { media, sockets, .. } = slot;
    if !media.transmits().is_empty() {
        let failed = media
            .transmits()
            .send_all(|s| sockets.get(s).map(AsRawFd::as_raw_fd));
        media.send_failed(failed);
    }
    while let Some(event) = media.poll_event() {
        if events.try_send(event).is_err() {
            media.event_dropped();
        }
    }
}

/// A socket's epoll token: the call's slot and generation, and the
/// socket's number in the call (below 256: two per leg).
fn token(slot: usize, generation: u32, socket: usize) -> u64 {
    (u64::from(generation) << 32) | ((slot as u64 & 0xFF_FFFF) << 8) | (socket as u64 & 0xFF)
}

fn untoken(token: u64) -> (usize, u32, usize) {
    (
        ((token >> 8) & 0xFF_FFFF) as usize,
        (token >> 32) as u32,
        (token & 0xFF) as usize,
    )
}

/// Adds `fd` to the epoll set, level-triggered: a socket left with data
/// after [`DRAIN_ROUNDS_MAX`] rounds is reported again.
fn watch(epoll: RawFd, fd: RawFd, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: `event` is a valid epoll_event for the duration of the call.
    if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn wake(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64. A full counter (EAGAIN)
    // means a wake-up is pending already.
    let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

fn drain_eventfd(fd: RawFd) {
    let mut count: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64.
    let _ = unsafe { libc::read(fd, (&mut count as *mut u64).cast(), 8) };
}

/// Owns a descriptor a syscall returned, or its error.
///
/// # Safety
/// `fd` must be a fresh descriptor nobody else owns, or negative.
unsafe fn owned(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the caller hands over a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gives_back_its_slot_generation_and_socket() {
        for (slot, generation, socket) in [(0, 0, 0), (7, 3, 1), (0xFF_FFFF, u32::MAX, 254)] {
            let t = token(slot, generation, socket);
            assert_ne!(t, WAKE_TOKEN);
            assert_eq!(untoken(t), (slot, generation, socket));
        }
    }
}
