//! The running switch as other tasks see it: its addresses, a
//! [`CommandSender`] for the HTTP API (or a test) to send [`Command`]s over
//! a bounded channel and await the reply, its event stream (a bounded
//! broadcast), and a way to stop it.

use std::net::SocketAddr;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::switch::{Command, CommandError, Event, Plan, ReloadReport, Reply};

/// Commands queued for the switch task; past it senders wait.
pub const COMMANDS_QUEUE_MAX: usize = 256;

/// Events kept for each subscriber; one that falls further behind loses
/// the oldest (`RecvError::Lagged`) and the switch never waits for it.
pub const EVENTS_QUEUE_MAX: usize = 4_096;

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
    pub(super) events: broadcast::Sender<Event>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: JoinHandle<()>,
}

impl Running {
    /// A new subscriber to the event stream, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
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
