//! Reloading the dialplan, as far as it goes today: SIGHUP and
//! `POST /api/v1/reload` read and validate the whole file and report the
//! outcome (file:line:field when it is bad). Applying a valid file to the
//! running switch is not built yet: the switch keeps the plan it started
//! with, and says so. SIGHUP no longer stops the switch.

#![allow(clippy::disallowed_methods)] // a driver: it spawns the signal task

use std::path::PathBuf;

use tracing::{error, warn};

use crate::config::{Config, ConfigError};

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is bad; the switch runs on as it was.
    #[error("{0}")]
    Invalid(#[from] ConfigError),
    /// The file is good, but applying it needs a restart for now.
    #[error("the dialplan {0} is valid, but applying it without a restart is not built yet: restart the switch to use it")]
    NotBuilt(String),
    #[error("the dialplan check stopped unexpectedly")]
    CheckFailed,
}

/// Reads and validates the dialplan at `path`, off the async threads, and
/// logs the outcome.
pub async fn reload(path: PathBuf) -> ReloadError {
    let shown = path.display().to_string();
    let checked = tokio::task::spawn_blocking(move || {
        Config::load(&path).and_then(|c| c.check_listen_safety())
    })
    .await;
    let err = match checked {
        Ok(Ok(())) => ReloadError::NotBuilt(shown),
        Ok(Err(e)) => ReloadError::Invalid(e),
        Err(_) => ReloadError::CheckFailed,
    };
    match &err {
        ReloadError::NotBuilt(_) => warn!("reload: {err}"),
        _ => error!("reload refused, still running on the dialplan loaded at start: {err}"),
    }
    err
}

/// Checks the dialplan on every SIGHUP until the process ends.
pub fn on_sighup(path: PathBuf) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(err) => return warn!(%err, "SIGHUP not handled"),
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                reload(path.clone()).await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = path;
}
