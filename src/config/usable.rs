//! Checks that need the file system or the whole plan, run by
//! [`Config::load`] (so by `check` and at start), not by [`Config::parse`]:
//! a plan that could take no call, and paths the switch could not write.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Location, Problem, ProblemKind};

impl Config {
    /// Refuses a plan with no agents and no DIDs, an unwritable
    /// `cdr_path`, an unwritable `[media].recordings` directory and a
    /// `recordings_group` the system does not have.
    /// Nothing is created: a file that does not exist yet is checked by
    /// writing a probe into the directory that would hold it.
    pub fn check_usable(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.agents.is_empty() && self.dids.is_empty() {
            problems.push(self.problem(
                Location { line: 1, column: 1 },
                "agents",
                ProblemKind::EmptyPlan,
            ));
        }
        if let Err(reason) = writable_file(&self.switch.cdr_path) {
            let kind = ProblemKind::NotWritable {
                what: "call record store",
                path: self.switch.cdr_path.display().to_string(),
                reason,
            };
            problems.push(self.problem(self.switch.cdr_path_at, "switch.cdr_path", kind));
        }
        if let Some(media) = &self.media {
            if let Err(reason) = writable_dir(&media.recordings) {
                let kind = ProblemKind::NotWritable {
                    what: "recordings directory",
                    path: media.recordings.display().to_string(),
                    reason,
                };
                problems.push(self.problem(media.recordings_at, "media.recordings", kind));
            }
            if let Some(group) = &media.recordings_group {
                if crate::media::relay::group_id(group).is_none() {
                    let kind = ProblemKind::UnknownGroup {
                        value: group.clone(),
                    };
                    let at = media.recordings_group_at;
                    problems.push(self.problem(at, "media.recordings_group", kind));
                }
            }
        }
        if let Some(tls) = &self.tls {
            self.check_tls(tls, &mut problems);
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid { problems })
    }

    /// The certificate, key and roots of `[tls]` load and go together;
    /// without a pair, the self-signed one can be written (or is there).
    fn check_tls(&self, tls: &super::TlsConfig, problems: &mut Vec<Problem>) {
        use crate::sip::transport::tls as t;
        let fail = |what, path: &Path, err: t::TlsError| ProblemKind::TlsFile {
            what,
            path: path.display().to_string(),
            reason: err.to_string(),
        };
        if let (Some(cert), Some(key)) = (&tls.certificate, &tls.key) {
            if let Err(err) = t::load_certificates(cert) {
                let kind = fail("certificate", cert, err);
                problems.push(self.problem(tls.certificate_at, "tls.certificate", kind));
            } else if let Err(err) = t::server_config(cert, key) {
                problems.push(self.problem(tls.key_at, "tls.key", fail("key", key, err)));
            }
        } else if tls.certificate.is_none() && tls.key.is_none() {
            let dir = self
                .switch
                .cdr_path
                .parent()
                .filter(|d| !d.as_os_str().is_empty());
            let cert = dir.unwrap_or(Path::new(".")).join(t::SELF_SIGNED_CERT);
            if let Err(reason) = writable_file(&cert) {
                let kind = ProblemKind::NotWritable {
                    what: "self-signed TLS certificate",
                    path: cert.display().to_string(),
                    reason,
                };
                problems.push(self.problem(self.switch.cdr_path_at, "switch.cdr_path", kind));
            }
        }
        if let Some(ca) = &tls.ca {
            if let Err(err) = t::load_certificates(ca) {
                problems.push(self.problem(tls.ca_at, "tls.ca", fail("CA file", ca, err)));
            }
        }
    }

    fn problem(&self, at: Location, field: &str, kind: ProblemKind) -> Problem {
        Problem {
            file: self.file.clone(),
            line: at.line,
            column: at.column,
            field: field.to_owned(),
            kind,
        }
    }
}

/// A file we may open for writing: an existing one opens so, a new one
/// could be created in its directory.
fn writable_file(path: &Path) -> Result<(), String> {
    if path.exists() {
        if path.is_dir() {
            return Err("it is a directory".into());
        }
        return std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| e.to_string());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(format!("directory {} does not exist", dir.display()));
    }
    probe(&dir)
}

/// A directory we may create files in, or could create (its nearest
/// existing ancestor is writable).
fn writable_dir(path: &Path) -> Result<(), String> {
    let mut dir = path.to_path_buf();
    while !dir.exists() {
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
            _ => dir = PathBuf::from("."),
        }
    }
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    probe(&dir)
}

/// Creates and removes a probe file in `dir`: permission bits alone do
/// not tell (root, read-only mounts, ACLs). The name is unique per call,
/// so two checks of one directory at once (threads of one process) never
/// take each other's probe for a refusal.
fn probe(dir: &Path) -> Result<(), String> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = dir.join(format!(
        ".switchyard-write-check-{}-{n}",
        std::process::id()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&file);
    Ok(())
}
