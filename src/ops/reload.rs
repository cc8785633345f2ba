//! Hot reload on SIGHUP and `POST /api/v1/reload`: read and validate the
//! whole dialplan off the async threads; a bad file leaves the switch on
//! the plan it has and the error (file:line:field) goes to the log and the
//! reply; a good one is applied without dropping a call or a registration
//! ([`Switch::reload`](crate::switch::Switch::reload)), the new prompts
//! with it. What only a restart changes is named in the reply and the log.

#![allow(clippy::disallowed_methods)] // a driver: it spawns the signal task

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::config::{ApiConfig, Config, ConfigError, Role, SecurityConfig};
use crate::media::prompts::PromptSet;
use crate::media::relay::MediaHandle;
use crate::run::CommandSender;
use crate::switch::{CommandError, Plan, ReloadReport};

/// Why a reload did not happen; the switch runs on as it was.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file is bad.
    #[error("{0}")]
    Invalid(#[from] ConfigError),
    /// The switch refused the plan (a router limit), or is stopping.
    #[error("the switch did not take the dialplan: {0}")]
    Refused(CommandError),
    #[error("the dialplan check stopped unexpectedly")]
    CheckFailed,
}

/// What a reload applied, and what waits for a restart.
#[derive(Debug, Serialize)]
pub struct Reloaded {
    pub file: String,
    #[serde(flatten)]
    pub applied: ReloadReport,
    /// Dialplan keys whose new values take effect only after a restart.
    pub restart_required: Vec<&'static str>,
}

/// Reloads the dialplan the switch started with; shared by the SIGHUP
/// task and the API.
pub struct Reloader {
    /// The dialplan in effect; the lock also makes reloads one at a time.
    running: Mutex<Config>,
    /// Agent id → display name, for the API; follows each reload.
    names: std::sync::RwLock<Arc<HashMap<String, String>>>,
    commands: CommandSender,
    media: Option<MediaHandle>,
}

impl Reloader {
    pub fn new(config: Config, commands: CommandSender, media: Option<MediaHandle>) -> Arc<Self> {
        Arc::new(Reloader {
            names: std::sync::RwLock::new(display_names(&config)),
            running: Mutex::new(config),
            commands,
            media,
        })
    }

    /// Agents' display names in the dialplan in effect.
    pub fn names(&self) -> Arc<HashMap<String, String>> {
        Arc::clone(&self.names.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reads, checks and applies the dialplan file; logs the outcome.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let mut running = self.running.lock().await;
        let path = running.file.clone();
        let result = self.apply(&mut running, path.clone()).await;
        match &result {
            Ok(done) if done.restart_required.is_empty() => {
                info!(file = %path.display(), "reload applied")
            }
            Ok(done) => warn!(
                file = %path.display(),
                keys = %done.restart_required.join(", "),
                "reload applied; these changes wait for a restart"
            ),
            Err(err) => error!("reload refused, still running on the previous dialplan: {err}"),
        }
        result
    }

    async fn apply(&self, running: &mut Config, path: PathBuf) -> Result<Reloaded, ReloadError> {
        let old_prompts = self.media.as_ref().map(MediaHandle::prompts);
        let (config, prompts, dnc) = tokio::task::spawn_blocking(move || {
            let config = Config::load(&path)?;
            config.check_listen_safety()?;
            // `load` read the lists; read here again for their numbers.
            let dnc = match config.campaigns.is_empty() {
                true => None,
                false => Some((config.check_campaign_files()?, config.dnc.numbering.clone())),
            };
            // Prompts are read with the file: a menu's prompt was checked
            // to exist, so a directory that cannot be read now is an error
            // the log shows, and the old prompts stay.
            let prompts = match (&config.media, old_prompts) {
                (Some(media), Some(old)) => match PromptSet::load_dir(&media.prompts)
                    .and_then(|new| old.merged(&new))
                {
                    Ok(set) => Some(set),
                    Err(err) => {
                        warn!(%err, dir = %media.prompts.display(), "reload: prompts not reloaded");
                        None
                    }
                },
                _ => None,
            };
            Ok::<_, ConfigError>((config, prompts, dnc))
        })
        .await
        .map_err(|_| ReloadError::CheckFailed)??;
        let restart_required = restart_required(running, &config);
        if let (Some(media), Some(set)) = (&self.media, prompts) {
            media.set_prompts(Arc::new(set));
        }
        let mut plan = Plan::from_config(&config);
        plan.dnc_lists = dnc;
        let applied = self
            .commands
            .reload(plan)
            .await
            .map_err(ReloadError::Refused)?;
        let file = config.file.display().to_string();
        *self.names.write().unwrap_or_else(|p| p.into_inner()) = display_names(&config);
        *running = keep_restart_only(running, config);
        Ok(Reloaded {
            file,
            applied,
            restart_required,
        })
    }
}

fn display_names(config: &Config) -> Arc<HashMap<String, String>> {
    let names = config
        .agents
        .iter()
        .filter_map(|a| a.name.clone().map(|n| (a.id.clone(), n)))
        .collect();
    Arc::new(names)
}

/// The dialplan keys that differ and that a running switch cannot change.
fn restart_required(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.switch, &new.switch);
    let mut keys = Vec::new();
    let mut differs = |key, changed: bool| {
        if changed {
            keys.push(key);
        }
    };
    differs("switch.sip_listen", a.sip_listen != b.sip_listen);
    differs("switch.http_listen", a.http_listen != b.http_listen);
    differs("switch.realm", a.realm != b.realm);
    differs("switch.cdr_path", a.cdr_path != b.cdr_path);
    differs("switch.records_keep", a.records_keep != b.records_keep);
    differs(
        "switch.digest_challenge",
        a.digest_challenge != b.digest_challenge,
    );
    match (&old.media, &new.media) {
        (Some(a), Some(b)) => {
            differs(
                "media.rtp_ports",
                (a.port_min, a.port_max) != (b.port_min, b.port_max),
            );
            differs("media.rtp_address", a.rtp_address != b.rtp_address);
            differs(
                "media.advertise_address",
                a.advertise_address != b.advertise_address,
            );
            differs(
                "media.inactivity_timeout",
                a.inactivity_timeout != b.inactivity_timeout,
            );
            differs("media.recordings", a.recordings != b.recordings);
            differs(
                "media.recordings_keep",
                a.recordings_keep != b.recordings_keep,
            );
            differs(
                "media.recordings_group",
                a.recordings_group != b.recordings_group,
            );
        }
        (a, b) => differs("media", a.is_some() != b.is_some()),
    }
    differs("api", !same_api(&old.api, &new.api));
    differs("security", !same_limits(&old.security, &new.security));
    differs("metrics", old.metrics != new.metrics);
    // The listener and its certificate are set up once, at start.
    differs("tls", old.tls != new.tls);
    keys
}

/// The login guard, rate limit and `Server` value are the same (contact
/// limits and dial rules apply live).
fn same_limits(a: &SecurityConfig, b: &SecurityConfig) -> bool {
    let keep = |s: &SecurityConfig| SecurityConfig {
        max_contacts: 0,
        remove_existing: false,
        dial_rules: None,
        ..s.clone()
    };
    keep(a) == keep(b)
}

/// The `[api]` sections mean the same (where a token is written aside).
fn same_api(a: &ApiConfig, b: &ApiConfig) -> bool {
    let tokens = |c: &ApiConfig| -> Vec<(String, String, Role)> {
        c.tokens
            .iter()
            .map(|t| (t.name.clone(), t.token.clone(), t.role))
            .collect()
    };
    tokens(a) == tokens(b)
        && (
            a.connections_max,
            a.open_metrics,
            a.header_timeout,
            a.idle_timeout,
        ) == (
            b.connections_max,
            b.open_metrics,
            b.header_timeout,
            b.idle_timeout,
        )
}

/// The new dialplan as in effect: what needs a restart keeps its old
/// value, so the next reload still names it.
fn keep_restart_only(old: &Config, mut new: Config) -> Config {
    new.switch.sip_listen = old.switch.sip_listen;
    new.switch.http_listen = old.switch.http_listen;
    new.switch.realm.clone_from(&old.switch.realm);
    new.switch.cdr_path.clone_from(&old.switch.cdr_path);
    new.switch.records_keep = old.switch.records_keep;
    new.switch.digest_challenge = old.switch.digest_challenge;
    match (&old.media, &mut new.media) {
        (Some(a), Some(b)) => {
            b.port_min = a.port_min;
            b.port_max = a.port_max;
            b.rtp_address = a.rtp_address;
            b.advertise_address = a.advertise_address;
            b.inactivity_timeout = a.inactivity_timeout;
            b.recordings.clone_from(&a.recordings);
            b.recordings_keep = a.recordings_keep;
            b.recordings_group.clone_from(&a.recordings_group);
        }
        (a, b) => b.clone_from(a),
    }
    new.api = old.api.clone();
    let (max_contacts, remove_existing) = (new.security.max_contacts, new.security.remove_existing);
    let dial_rules = new.security.dial_rules.take();
    new.security = SecurityConfig {
        max_contacts,
        remove_existing,
        dial_rules,
        ..old.security.clone()
    };
    new.metrics = old.metrics.clone();
    new
}

/// Reloads on every SIGHUP until the process ends.
pub fn on_sighup(reloader: Arc<Reloader>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(err) => return warn!(%err, "SIGHUP not handled"),
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = reloader.reload().await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = reloader;
}
