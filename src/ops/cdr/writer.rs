//! The writer thread: the switch task submits records without blocking on
//! disk; one OS thread drains the bounded queue and commits what it finds
//! in one transaction per batch. A record that the queue or the database
//! cannot take goes to the spill file; only if that fails too is it lost,
//! and then counted and logged at `error`. Once the queue drains, the
//! writer moves spilled records back into the database. Records and events
//! cross the queue as the core made them: turning them into rows (text
//! times, the event log's lines) is the writer thread's work, not the
//! core's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use tracing::{debug, error, warn};

use super::spill::{self, spill_path, Spill};
use super::{agent_events, count_u64, CdrError, CdrRow, CdrStore, Inserter, StoreRow};
use crate::switch::{CallRecord, Event};

/// Records (and batches of events) waiting for the writer thread; beyond
/// this, `submit` spills.
pub const CDR_QUEUE_RECORDS_MAX: usize = 4096;
/// Records committed in one transaction at most.
pub const CDR_BATCH_RECORDS_MAX: usize = 256;
/// Under load, commits start at most this often, so that one fsync carries
/// many records; the first record after a quiet spell commits at once.
pub const CDR_COMMIT_GAP: Duration = Duration::from_millis(20);

/// Bounds of a [`CdrWriter`]; tests shrink them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterConfig {
    /// At least 1.
    pub queue_records_max: usize,
    /// At least 1.
    pub batch_records_max: usize,
    /// The least time from one commit's start to the next one's.
    pub commit_gap: Duration,
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            queue_records_max: CDR_QUEUE_RECORDS_MAX,
            batch_records_max: CDR_BATCH_RECORDS_MAX,
            commit_gap: CDR_COMMIT_GAP,
        }
    }
}

/// Owns the writer thread and the sending end of its queue. Dropping it
/// without [`CdrWriter::close`] still flushes and joins.
#[derive(Debug)]
pub struct CdrWriter {
    queue: Option<SyncSender<Queued>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    written: AtomicU64,
    commits: AtomicU64,
    spilled: AtomicU64,
    dropped: AtomicU64,
    /// The spill file holds rows this run wrote that are not yet imported.
    spill_pending: AtomicBool,
    spill: Mutex<Spill>,
}

impl CdrWriter {
    /// Starts the writer thread with the default bounds.
    pub fn start(store: CdrStore) -> Result<CdrWriter, CdrError> {
        CdrWriter::start_with(store, WriterConfig::default())
    }

    pub fn start_with(store: CdrStore, config: WriterConfig) -> Result<CdrWriter, CdrError> {
        let shared = Arc::new(Shared {
            written: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            spilled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            spill_pending: AtomicBool::new(false),
            spill: Mutex::new(Spill::new(spill_path(store.path()))),
        });
        // A zero-capacity sync_channel is a rendezvous: every try_send would fail.
        let (queue, rx) = mpsc::sync_channel(config.queue_records_max.max(1));
        let batch_max = config.batch_records_max.max(1);
        let gap = config.commit_gap;
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("cdr-writer".to_owned())
            .spawn(move || drain(store, &rx, &thread_shared, batch_max, gap))
            .map_err(|source| CdrError::WriterStart { source })?;
        Ok(CdrWriter {
            queue: Some(queue),
            thread: Some(thread),
            shared,
        })
    }

    /// Queues a record without waiting on disk. On a full queue (or a dead
    /// writer) the record is appended to the spill file here instead, with
    /// an fsync: slower, but never silent loss. An error means the spill
    /// failed too and the record is lost (counted in [`CdrWriter::dropped`]).
    pub fn submit(&self, record: CallRecord, ended_at: SystemTime) -> Result<(), CdrError> {
        self.submit_queued(Queued::Record(Box::new(record), ended_at))
    }

    /// Queues the core's events for the agent event log, like
    /// [`CdrWriter::submit`] a record. The writer keeps the lines they
    /// make ([`agent_events`]); most events make none.
    pub fn submit_events(&self, events: Arc<[Event]>) -> Result<(), CdrError> {
        self.submit_queued(Queued::Events(events))
    }

    fn submit_queued(&self, item: Queued) -> Result<(), CdrError> {
        let queue = self
            .queue
            .as_ref()
            .expect("the queue lives until close or drop, which consume the writer");
        let item = match queue.try_send(item) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(item)) => {
                debug!("CDR queue full; spilling");
                item
            }
            Err(TrySendError::Disconnected(item)) => {
                warn!("CDR writer thread is gone; spilling");
                item
            }
        };
        let mut rows = Vec::new();
        item.into_rows(&mut rows);
        if rows.is_empty() {
            return Ok(());
        }
        self.shared.spill(&rows)
    }

    /// Records committed to the database by this writer, from the queue or
    /// moved back from the spill file.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// Transactions the writer committed (queue batches and spill imports).
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Acquire)
    }

    /// Records that went to the spill file (the writer or the next open
    /// moves them into the database; then they count in `written` too).
    pub fn spilled(&self) -> u64 {
        self.shared.spilled.load(Ordering::Acquire)
    }

    /// Records lost: neither committed nor spilled.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Acquire)
    }

    /// Writes everything queued, stops the thread and returns the records
    /// committed over the writer's life.
    pub fn close(mut self) -> Result<u64, CdrError> {
        self.stop()?;
        Ok(self.written())
    }

    fn stop(&mut self) -> Result<(), CdrError> {
        // Closing the channel ends the thread's loop once the queue is empty.
        drop(self.queue.take());
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| CdrError::WriterPanicked),
            None => Ok(()),
        }
    }
}

impl Drop for CdrWriter {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            error!(error = %e, "CDR writer stopped badly");
        }
    }
}

/// What crosses the queue: a record or a batch of events, as the core made
/// them.
#[derive(Debug)]
enum Queued {
    Record(Box<CallRecord>, SystemTime),
    Events(Arc<[Event]>),
}

impl Queued {
    /// The rows this item stores, appended to `rows`.
    fn into_rows(self, rows: &mut Vec<StoreRow>) {
        match self {
            Queued::Record(record, ended_at) => {
                rows.push(StoreRow::Call(CdrRow::new(&record, ended_at)));
            }
            Queued::Events(events) => {
                rows.extend(events.iter().flat_map(agent_events).map(StoreRow::Agent))
            }
        }
    }
}

impl Shared {
    fn spill(&self, rows: &[StoreRow]) -> Result<(), CdrError> {
        let n = records_in(rows);
        // A panic while holding the lock leaves only a file handle behind.
        let mut spill = self.spill.lock().unwrap_or_else(|p| p.into_inner());
        match spill.append(rows) {
            Ok(()) => {
                self.spilled.fetch_add(n, Ordering::Release);
                self.spill_pending.store(true, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                self.dropped.fetch_add(n, Ordering::Release);
                error!(records = n, error = %e, "call records lost: spill file failed");
                Err(e)
            }
        }
    }
}

/// The thread: take one record (blocking), then whatever else is queued up
/// to the batch bound, and commit them together. A commit less than `gap`
/// after the last one waits out the rest of it first, gathering more: the
/// fsync, not the row, is the cost. When the queue is empty and the
/// database took the last batch, spilled rows go back in.
fn drain(store: CdrStore, rx: &Receiver<Queued>, shared: &Shared, batch_max: usize, gap: Duration) {
    // One inserter for the thread's life: its statements are parsed once.
    let mut inserter = store.inserter();
    let mut batch = Vec::with_capacity(batch_max);
    let mut last_commit: Option<Instant> = None;
    let mut next = rx.recv().ok();
    while let Some(first) = next.take() {
        first.into_rows(&mut batch);
        take_queued(rx, &mut batch, batch_max);
        if batch.is_empty() {
            // Events that make no log line: nothing to commit.
            next = rx.recv().ok();
            continue;
        }
        let early = last_commit.map(|at| (at + gap).saturating_duration_since(Instant::now()));
        if let Some(wait) = early.filter(|w| !w.is_zero() && batch.len() < batch_max) {
            // A plain sleep: submitters do not wake a thread that is not
            // blocked on the queue, so this costs no wake-up per record.
            thread::sleep(wait);
            take_queued(rx, &mut batch, batch_max);
        }
        last_commit = Some(Instant::now());
        let committed = match inserter.insert(&batch) {
            Ok(()) => {
                shared.commits.fetch_add(1, Ordering::Release);
                shared
                    .written
                    .fetch_add(records_in(&batch), Ordering::Release);
                true
            }
            Err(e) => {
                warn!(records = batch.len(), error = %e, "CDR insert failed; spilling");
                // A spill failure is counted and logged inside.
                let _ = shared.spill(&batch);
                false
            }
        };
        batch.clear();
        next = match rx.try_recv() {
            Ok(row) => Some(row),
            Err(TryRecvError::Empty) => {
                if committed {
                    shared.unspill(&mut inserter);
                }
                rx.recv().ok()
            }
            Err(TryRecvError::Disconnected) => None,
        };
    }
    // Closing: a last try, so a healthy database leaves no spill file behind.
    shared.unspill(&mut inserter);
    let mut spill = shared.spill.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = spill.remove_if_empty() {
        warn!(error = %e, "cannot remove the empty CDR spill file");
    }
}

/// Moves the rows of what is queued into `batch` until it holds `max` rows
/// or more (one item may make several), without waiting.
fn take_queued(rx: &Receiver<Queued>, batch: &mut Vec<StoreRow>, max: usize) {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => item.into_rows(batch),
            Err(_) => break,
        }
    }
}

impl Shared {
    /// Moves the spill file's rows into the database and empties it. Holds
    /// the spill lock throughout, so no append lands between read and
    /// truncate; a crash between commit and truncate is harmless (the
    /// unique index skips rows already stored).
    fn unspill(&self, inserter: &mut Inserter<'_>) {
        if !self.spill_pending.load(Ordering::Acquire) {
            return;
        }
        let mut spill = self.spill.lock().unwrap_or_else(|p| p.into_inner());
        let contents = match spill::read(spill.path()) {
            Ok(Some(c)) => c,
            Ok(None) => {
                self.spill_pending.store(false, Ordering::Release);
                return;
            }
            Err(e) => {
                warn!(error = %e, "cannot read the CDR spill file back; the next open will");
                return;
            }
        };
        // Lines we wrote whole under this lock always parse; anything else
        // is left for `CdrStore::open`, which keeps it aside.
        if !contents.rejected.is_empty() {
            self.spill_pending.store(false, Ordering::Release);
            return;
        }
        if let Err(e) = inserter.insert(&contents.rows) {
            warn!(error = %e, "cannot import the CDR spill file yet");
            return;
        }
        self.commits.fetch_add(1, Ordering::Release);
        self.written
            .fetch_add(records_in(&contents.rows), Ordering::Release);
        if let Err(e) = spill.truncate() {
            // Its rows are stored; a later import skips them as duplicates.
            warn!(error = %e, "cannot empty the CDR spill file");
            return;
        }
        self.spill_pending.store(false, Ordering::Release);
        debug!(records = contents.rows.len(), "CDR spill file imported");
    }
}

/// The counters (and `switchyard_cdr_*_total`) count call records; event
/// log lines ride along uncounted.
fn records_in(rows: &[StoreRow]) -> u64 {
    count_u64(
        rows.iter()
            .filter(|r| matches!(r, StoreRow::Call(_)))
            .count(),
    )
}
