//! Failed-login bans kept across a restart: the switch task hands the
//! list of active bans to a saver task whenever a ban is made or lifted,
//! and the saver writes it beside the call records (`<cdr_path>.bans.json`,
//! replaced whole through a temporary file and a rename, so a crash
//! leaves the old list or the new one). At start the list is read back
//! and the bans not yet over are restored. A missing file is no bans; an
//! unreadable one is logged and ignored: losing a ban must not stop the
//! switch.

#![allow(clippy::disallowed_methods)] // a driver: wall clock, files, a task

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::sip::guard::GUARD_SOURCES_MAX;

/// Largest bans file read back (a full table is far smaller).
pub const BANS_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// Where the bans of the switch writing `cdr_path` are kept.
pub fn bans_path(cdr_path: &Path) -> PathBuf {
    let mut name = cdr_path.as_os_str().to_owned();
    name.push(".bans.json");
    PathBuf::from(name)
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BansFile {
    bans: Vec<SavedBan>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedBan {
    ip: IpAddr,
    /// Wall-clock end of the ban, Unix milliseconds.
    until_unix_ms: u64,
}

/// The bans in `path` still running at `now`, each with what it has left.
pub fn load(path: &Path, now: SystemTime) -> Vec<(IpAddr, Duration)> {
    let text = match read_bounded(path) {
        Ok(Some(t)) => t,
        Ok(None) => return Vec::new(),
        Err(err) => {
            warn!(%err, path = %path.display(), "saved bans not read; starting without them");
            return Vec::new();
        }
    };
    let file: BansFile = match serde_json::from_str(&text) {
        Ok(f) => f,
        Err(err) => {
            warn!(%err, path = %path.display(), "saved bans unreadable; starting without them");
            return Vec::new();
        }
    };
    let now_ms = unix_ms(now);
    let left: Vec<(IpAddr, Duration)> = file
        .bans
        .into_iter()
        .filter(|b| b.until_unix_ms > now_ms)
        .take(GUARD_SOURCES_MAX)
        .map(|b| (b.ip, Duration::from_millis(b.until_unix_ms - now_ms)))
        .collect();
    if !left.is_empty() {
        info!(bans = left.len(), "failed-login bans restored");
    }
    left
}

/// Saves `bans` (each with what it had left at `now`) to `path`.
pub fn save(path: &Path, bans: &[(IpAddr, Duration)], now: SystemTime) -> std::io::Result<()> {
    let file = BansFile {
        bans: bans
            .iter()
            .map(|&(ip, left)| SavedBan {
                ip,
                until_unix_ms: unix_ms(now + left),
            })
            .collect(),
    };
    let json = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut out = std::fs::File::create(&tmp)?;
    out.write_all(&json)?;
    out.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The switch task's end: it offers the list when it changed, the saver
/// task writes the latest (a burst of bans is one write).
pub struct BanSaver {
    latest: watch::Sender<Vec<(IpAddr, Duration)>>,
    seen: u64,
}

impl BanSaver {
    /// Starts the saver task writing to `path`.
    pub fn start(path: PathBuf) -> BanSaver {
        let (latest, mut rx) = watch::channel(Vec::new());
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let bans = rx.borrow_and_update().clone();
                let path = path.clone();
                let saved =
                    tokio::task::spawn_blocking(move || save(&path, &bans, SystemTime::now()))
                        .await;
                match saved {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => warn!(%err, "failed-login bans not saved"),
                    Err(err) => warn!(%err, "failed-login bans not saved"),
                }
            }
        });
        BanSaver { latest, seen: 0 }
    }

    /// Hands over `bans()` when `changed` moved since the last call.
    pub fn offer(&mut self, changed: u64, bans: impl FnOnce() -> Vec<(IpAddr, Duration)>) {
        if changed == self.seen {
            return;
        }
        self.seen = changed;
        self.latest.send_replace(bans());
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Option<String>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.len() > BANS_FILE_BYTES_MAX {
        return Err(std::io::Error::other(format!(
            "larger than {BANS_FILE_BYTES_MAX} bytes"
        )));
    }
    std::fs::read_to_string(path).map(Some)
}

fn unix_ms(t: SystemTime) -> u64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_bans_come_back_with_what_they_had_left_and_expired_ones_do_not() {
        let dir = std::env::temp_dir().join(format!("switchyard-bans-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = bans_path(&dir.join("cdr.sqlite"));
        assert!(path.ends_with("cdr.sqlite.bans.json"));
        assert_eq!(load(&path, SystemTime::now()), Vec::new());
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let bans = [(a, Duration::from_secs(60)), (b, Duration::from_secs(5))];
        save(&path, &bans, t0).unwrap();
        let later = t0 + Duration::from_secs(10);
        assert_eq!(load(&path, later), vec![(a, Duration::from_secs(50))]);
        // Garbage is no bans, not a failure.
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load(&path, later), Vec::new());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
