//! Queued callbacks at start-up and their store (driver): the callbacks
//! not yet done are read from SQLite (beside the call records) and given
//! back to the switch, which queues them in arrival order; afterwards the
//! changes the core hands out are written by a thread of their own, like
//! the campaign contacts.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use tracing::{info, warn};

use crate::config::Config;
use crate::ops::callbacks::CallbackDb;
use crate::switch::{CallbackStore, Switch};

/// Changes queued for the writer; past it they are dropped and logged.
pub const CALLBACK_WRITES_MAX: usize = 65_536;

pub(super) struct CallbackWriter {
    tx: Option<mpsc::SyncSender<CallbackStore>>,
    thread: Option<JoinHandle<()>>,
}

impl CallbackWriter {
    /// Hands the switch's store changes to the writer.
    pub fn drain(writer: &mut Option<CallbackWriter>, switch: &mut Switch) {
        while let Some(change) = switch.poll_callback_store() {
            let Some(tx) = writer.as_ref().and_then(|w| w.tx.as_ref()) else {
                continue;
            };
            if tx.try_send(change).is_err() {
                warn!("callback change lost: the writer is behind");
            }
        }
    }

    /// Every change submitted is written before this returns.
    pub fn close(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Gives the stored callbacks to the switch; `None` when the store cannot
/// be opened (logged: callbacks then live until the switch stops).
pub(super) fn load(config: &Config, switch: &mut Switch, now: Instant) -> Option<CallbackWriter> {
    let db = match CallbackDb::open(&config.switch.cdr_path) {
        Ok(db) => db,
        Err(err) => {
            warn!(%err, "callbacks are not stored: no callback store");
            return None;
        }
    };
    match db.load() {
        Ok(stored) if stored.is_empty() => {}
        Ok(stored) => {
            info!(callbacks = stored.len(), "stored callbacks read");
            switch.restore_callbacks(now, stored);
        }
        Err(err) => warn!(%err, "stored callbacks not read"),
    }
    let (tx, rx) = mpsc::sync_channel::<CallbackStore>(CALLBACK_WRITES_MAX);
    let thread = std::thread::Builder::new()
        .name("callbacks".into())
        .spawn(move || write_loop(db, rx))
        .ok()?;
    Some(CallbackWriter {
        tx: Some(tx),
        thread: Some(thread),
    })
}

fn write_loop(mut db: CallbackDb, rx: mpsc::Receiver<CallbackStore>) {
    while let Ok(change) = rx.recv() {
        let result = match &change {
            CallbackStore::Save { id, callback } => db.save(*id, callback),
            CallbackStore::Delete { id } => db.delete(*id),
        };
        if let Err(err) = result {
            warn!(%err, "callback store write failed");
        }
    }
}
