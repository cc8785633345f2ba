//! The running switch as other tasks see it: its addresses, a
//! [`CommandSender`] for the HTTP API (or a test) to send [`Command`]s over
//! a bounded channel and await the reply, its event stream (a bounded
//! broadcast), and a way to stop it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::switch::{Command, CommandError, Event, Plan, ReloadReport, Reply};

/// Commands queued for the switch task; past it senders wait.
pub const COMMANDS_QUEUE_MAX: usize = 256;

/// Event batches kept for each subscriber; one that falls further behind
/// loses the oldest (`RecvError::Lagged`, counted in batches) and the switch
/// never waits for it.
pub const EVENTS_QUEUE_MAX: usize = 4_096;

/// The events of one pass of the switch task's loop, published at once:
/// one broadcast and one wake-up per pass, not per event.
pub type EventBatch = Arc<[Event]>;

/// A subscriber to the event stream, handed one event at a time.
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<EventBatch>,
    batch: Option<EventBatch>,
    next: usize,
}

impl EventStream {
    pub fn new(rx: broadcast::Receiver<EventBatch>) -> EventStream {
        EventStream {
            rx,
            batch: None,
            next: 0,
        }
    }

    /// The next event; `Lagged(n)` when `n` batches were lost.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        loop {
            if let Some(event) = self.take() {
                return Ok(event);
            }
            let batch = self.rx.recv().await?;
            self.hold(batch);
        }
    }

    /// The next event where it lies, in its batch, without copying it.
    pub async fn recv_shared(&mut self) -> Result<(EventBatch, usize), RecvError> {
        loop {
            if let Some(batch) = self.batch.as_ref().filter(|b| self.next < b.len()) {
                let at = (Arc::clone(batch), self.next);
                self.next += 1;
                return Ok(at);
            }
            let batch = self.rx.recv().await?;
            self.hold(batch);
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        loop {
            if let Some(event) = self.take() {
                return Ok(event);
            }
            let batch = self.rx.try_recv()?;
            self.hold(batch);
        }
    }

    fn hold(&mut self, batch: EventBatch) {
        self.batch = Some(batch);
        self.next = 0;
    }

    fn take(&mut self) -> Option<Event> {
        let event = self.batch.as_ref()?.get(self.next)?.clone();
        self.next += 1;
        Some(event)
    }
}

/// A request for the switch task and where its reply goes.
pub(super) enum Envelope {
    Command(Command, oneshot::Sender<Result<Reply, CommandError>>),
    /// A validated dialplan's plan to apply (hot reload).
    Reload(
        Box<Plan>,
        oneshot::Sender<Result<ReloadReport, CommandError>>,
    ),
}

/// Sends commands to the running switch. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CommandSender {
    tx: mpsc::Sender<Envelope>,
}

impl CommandSender {
    pub(super) fn channel() -> (CommandSender, mpsc::Receiver<Envelope>) {
        let (tx, rx) = mpsc::channel(COMMANDS_QUEUE_MAX);
        (CommandSender { tx }, rx)
    }

    /// Sends `command` and waits for the switch's reply; waits for room
    /// when [`COMMANDS_QUEUE_MAX`] commands are queued. A switch that has
    /// stopped answers [`CommandError::Draining`].
    pub async fn send(&self, command: Command) -> Result<Reply, CommandError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx
            .send(Envelope::Command(command, reply_tx))
            .await
            .map_err(|_| CommandError::Draining)?;
        reply_rx.await.map_err(|_| CommandError::Draining)?
    }

    /// Asks the switch to apply `plan` (built from a validated dialplan)
    /// and waits for what changed.
    pub async fn reload(&self, plan: Plan) -> Result<ReloadReport, CommandError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx
            .send(Envelope::Reload(Box::new(plan), reply_tx))
            .await
            .map_err(|_| CommandError::Draining)?;
        reply_rx.await.map_err(|_| CommandError::Draining)?
    }
}

/// A started switch.
#[derive(Debug)]
pub struct Running {
    pub sip_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// The TLS listener's address, with `[tls]`.
    pub tls_addr: Option<SocketAddr>,
    pub commands: CommandSender,
    pub(super) events: broadcast::Sender<EventBatch>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: JoinHandle<()>,
}

impl Running {
    /// A new subscriber to the event stream, from now on.
    pub fn subscribe(&self) -> EventStream {
        EventStream::new(self.events.subscribe())
    }

    /// Starts a graceful stop, as SIGTERM does.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until the switch has stopped and flushed its records.
    pub async fn wait(self) {
        let Running { task, stop, .. } = self;
        let _ = task.await;
        drop(stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ns: &[u64]) -> EventBatch {
        ns.iter()
            .map(|&n| Event::numbered(n))
            .collect::<Vec<_>>()
            .into()
    }

    fn next(stream: &mut EventStream) -> Result<u64, TryRecvError> {
        stream.try_recv().map(|e| e.at_ms)
    }

    #[test]
    fn a_subscriber_gets_each_event_of_each_batch_in_order() {
        let (tx, rx) = broadcast::channel(4);
        let mut stream = EventStream::new(rx);
        assert_eq!(tx.send(batch(&[1, 2])).ok(), Some(1));
        assert_eq!(tx.send(batch(&[])).ok(), Some(1));
        assert_eq!(tx.send(batch(&[3])).ok(), Some(1));
        let got: Vec<u64> = std::iter::from_fn(|| next(&mut stream).ok()).collect();
        assert_eq!(got, [1, 2, 3], "an empty batch is passed over");
        assert_eq!(next(&mut stream), Err(TryRecvError::Empty));
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_told_how_many_batches_it_lost() {
        let (tx, rx) = broadcast::channel(2);
        let mut stream = EventStream::new(rx);
        for n in 1..=4 {
            assert!(tx.send(batch(&[n * 10, n * 10 + 1])).is_ok());
        }
        assert_eq!(next(&mut stream), Err(TryRecvError::Lagged(2)));
        let got: Vec<u64> = std::iter::from_fn(|| next(&mut stream).ok()).collect();
        assert_eq!(got, [30, 31, 40, 41], "the newest batches, whole");
    }
}
