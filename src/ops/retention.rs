//! Retention: once at start and then every [`RETENTION_SWEEP_EVERY`], call
//! records older than `[switch].records_keep` (with their agent event log
//! lines) and recordings older than `[media].recordings_keep` are deleted.
//! The store is swept in batches of [`DELETE_BATCH_ROWS_MAX`] rows, one
//! transaction each, on a blocking thread with its own connection, so the
//! record writer waits at most one batch for the lock. A recording's age
//! is its file's modification time (when it was last written: the end of
//! its call). Unset limits keep everything.

#![allow(clippy::disallowed_methods)] // a driver: wall clock, blocking tasks

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use metrics::counter;
use tokio::sync::watch;
use tracing::{info, warn};

use super::cdr::{CdrStore, DELETE_BATCH_ROWS_MAX};
use super::metrics::DATA_DELETED_TOTAL;
use crate::config::Config;

/// How often the sweep runs after the one at start.
pub const RETENTION_SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Batches one sweep deletes at most; what is left waits for the next.
pub const SWEEP_BATCHES_MAX: usize = 10_000;
/// Directory entries one sweep looks at most in the recordings tree.
pub const SWEEP_FILES_MAX: usize = 1_000_000;
/// How deep the sweep walks below the recordings directory.
const SWEEP_DEPTH_MAX: usize = 4;

/// What to delete, from the dialplan at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub cdr_path: PathBuf,
    pub records_keep: Option<Duration>,
    pub recordings: PathBuf,
    pub recordings_keep: Option<Duration>,
}

impl RetentionPolicy {
    /// `None` when nothing expires.
    pub fn from_config(config: &Config) -> Option<RetentionPolicy> {
        let media = config.media.as_ref();
        let policy = RetentionPolicy {
            cdr_path: config.switch.cdr_path.clone(),
            records_keep: config.switch.records_keep,
            recordings: media.map(|m| m.recordings.clone()).unwrap_or_default(),
            recordings_keep: media.and_then(|m| m.recordings_keep),
        };
        (policy.records_keep.is_some() || policy.recordings_keep.is_some()).then_some(policy)
    }
}

/// What one sweep deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub records: u64,
    pub events: u64,
    pub recordings: u64,
}

/// Starts the sweep task when the dialplan sets a limit; it ends when
/// `stop` turns true.
pub fn spawn(config: &Config, stop: watch::Receiver<bool>) {
    if let Some(policy) = RetentionPolicy::from_config(config) {
        tokio::spawn(run(policy, stop));
    }
}

async fn run(policy: RetentionPolicy, mut stop: watch::Receiver<bool>) {
    loop {
        let p = policy.clone();
        match tokio::task::spawn_blocking(move || sweep(&p, SystemTime::now())).await {
            Ok(swept) => {
                counter!(DATA_DELETED_TOTAL, "reason" => "retention", "kind" => "records")
                    .increment(swept.records);
                counter!(DATA_DELETED_TOTAL, "reason" => "retention", "kind" => "recordings")
                    .increment(swept.recordings);
                info!(
                    records = swept.records,
                    event_lines = swept.events,
                    recordings = swept.recordings,
                    "retention sweep done"
                );
            }
            Err(err) => warn!(%err, "retention sweep failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(RETENTION_SWEEP_EVERY) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// One sweep at wall-clock `now`; errors are logged and the rest goes on.
pub fn sweep(policy: &RetentionPolicy, now: SystemTime) -> Swept {
    let mut swept = Swept::default();
    if let Some(cutoff) = policy.records_keep.and_then(|k| now.checked_sub(k)) {
        sweep_records(&policy.cdr_path, cutoff, &mut swept);
    }
    if let Some(cutoff) = policy.recordings_keep.and_then(|k| now.checked_sub(k)) {
        let mut budget = SWEEP_FILES_MAX;
        swept.recordings = sweep_dir(&policy.recordings, cutoff, SWEEP_DEPTH_MAX, &mut budget);
    }
    swept
}

fn sweep_records(path: &Path, cutoff: SystemTime, swept: &mut Swept) {
    let mut store = match CdrStore::open_existing(path) {
        Ok(s) => s,
        Err(err) => {
            warn!(%err, "retention: cannot open the call records");
            return;
        }
    };
    let batch_max = u64::try_from(DELETE_BATCH_ROWS_MAX).unwrap_or(u64::MAX);
    for _ in 0..SWEEP_BATCHES_MAX {
        match store.delete_ended_before(cutoff, DELETE_BATCH_ROWS_MAX) {
            Ok(d) => {
                swept.records += d.records;
                swept.events += d.events;
                if d.records < batch_max && d.events < batch_max {
                    return;
                }
            }
            Err(err) => {
                warn!(%err, "retention: cannot delete call records; next sweep tries again");
                return;
            }
        }
    }
}

/// Removes the WAV files under `dir` last written before `cutoff`;
/// returns how many.
fn sweep_dir(dir: &Path, cutoff: SystemTime, depth: usize, budget: &mut usize) -> u64 {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return 0,
        Err(err) => {
            warn!(%err, dir = %dir.display(), "retention: cannot read the recordings directory");
            return 0;
        }
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        if meta.is_dir() && depth > 0 {
            removed += sweep_dir(&path, cutoff, depth - 1, budget);
            continue;
        }
        let old = meta.modified().is_ok_and(|m| m < cutoff);
        if !meta.is_file() || !old || path.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(err) => warn!(%err, path = %path.display(), "retention: cannot remove a recording"),
        }
    }
    removed
}
