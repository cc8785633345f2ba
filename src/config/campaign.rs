//! `[[campaigns]]` and `[dnc]`: outbound campaigns and the do-not-call
//! lists, as plain data. The lists they name (contacts CSV, DNC text) are
//! read by [`Config::check_campaign_files`], relative to the dialplan.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Config, ConfigError, Location, Problem, ProblemKind};
use crate::dialer::list::{read_contacts, ListProblem};
use crate::dialer::{Dnc, Mode, Numbering, Retry, Window, Zone};

/// Campaigns in one dialplan.
pub const CAMPAIGNS_MAX: usize = 256;
/// Attempts per contact at most.
pub const MAX_ATTEMPTS_MAX: i64 = 20;
/// DNC list files.
pub const DNC_LISTS_MAX: usize = 64;
/// How long an unanswered customer rings by default.
pub const RING_TIMEOUT_DEFAULT: Duration = Duration::from_secs(20);
/// Unanswered customers ring at least this long: the regulators' minimum
/// (FTC Telemarketing Sales Rule: 15 s or four rings).
pub const RING_TIMEOUT_MIN: Duration = crate::dialer::RING_MIN;
/// And at most this long.
pub const RING_TIMEOUT_MAX: Duration = Duration::from_secs(300);
/// Largest contact or DNC list file read.
pub const LIST_BYTES_MAX: u64 = 256 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq)]
pub struct CampaignConfig {
    pub name: String,
    /// Its agents (and their skills) work the campaign.
    pub queue: String,
    /// The contact list as written, relative to the dialplan's directory.
    pub contacts: PathBuf,
    pub mode: Mode,
    pub trunk: String,
    pub caller_id: Option<String>,
    /// In each contact's time zone.
    pub window: Window,
    /// For contacts whose row names none.
    pub timezone: Zone,
    pub max_attempts: u32,
    pub retry: Retry,
    pub max_abandon: f64,
    /// Starts with the switch; otherwise by the API.
    pub autostart: bool,
    /// How long the customer's phone rings before the dial ends as no
    /// answer ([`RING_TIMEOUT_MIN`] at least).
    pub ring_timeout: Duration,
    /// Agents the queues they share with the campaign need for their
    /// service level are withheld from it (see `dialer::blend`).
    pub blend: bool,
    /// Answering-machine detection; `None`: every answer goes to an agent.
    pub amd: Option<AmdConfig>,
    /// Ask the agent's phone to answer a campaign call by itself
    /// (`Answer-Mode: Auto`, `Call-Info: …;answer-after=0`).
    pub auto_answer: bool,
    /// A preview offer not answered in this long goes back to the list.
    pub preview_timeout: Duration,
    /// What an answered customer with no agent in time hears (a prompt
    /// naming who called and why; checked at load when set, else
    /// [`INFO_MESSAGE_DEFAULT`] if the WAV is there), and how long before
    /// the hang-up.
    pub info_message: Option<String>,
    pub info_plays: Duration,
    /// Where the campaign entry is, for [`Config::check_prompts`].
    pub at: Location,
    pub contacts_at: Location,
}

/// `amd = { machine = "hangup" | "message", message, message_plays }`.
#[derive(Clone, Debug, PartialEq)]
pub struct AmdConfig {
    pub machine: MachineAction,
    /// The prompt left on a machine after its greeting.
    pub message: String,
    /// How long the message plays before the switch hangs up.
    pub message_plays: Duration,
    pub at: Location,
}

/// What a call answered by a machine does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineAction {
    /// Hang up at once; the contact is tried again after `retry.machine`.
    Hangup,
    /// Wait for the greeting's end (its beep), leave `message`, hang up;
    /// the contact is done.
    Message,
}

impl MachineAction {
    pub const NAMES: &'static str = "hangup, message";
}

/// The information message by default (`prompts/campaign_info.wav`).
pub const INFO_MESSAGE_DEFAULT: &str = "campaign_info";
/// How long it plays (the WAV runs 10.7 s).
pub const INFO_PLAYS_DEFAULT: Duration = Duration::from_secs(11);

/// How long a preview offer waits for the agent by default.
pub const PREVIEW_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

/// The prompt a machine is left by default (`prompts/campaign_machine.wav`).
pub const AMD_MESSAGE_DEFAULT: &str = "campaign_machine";
/// How long it plays (the WAV runs 10.1 s).
pub const AMD_MESSAGE_PLAYS_DEFAULT: Duration = Duration::from_secs(11);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DncConfig {
    /// As written, relative to the dialplan's directory.
    pub lists: Vec<PathBuf>,
    pub numbering: Numbering,
    pub lists_at: Location,
}

impl Config {
    /// A path of the dialplan resolved against the dialplan's directory.
    pub fn relative(&self, path: &Path) -> PathBuf {
        match self.file.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        }
    }

    /// Reads every campaign's contact list and the DNC lists: a missing
    /// file is a problem at the field naming it, a bad row one at the row
    /// of the list file. Returns the DNC set read.
    pub fn check_campaign_files(&self) -> Result<Dnc, ConfigError> {
        let mut problems = Vec::new();
        for (i, c) in self.campaigns.iter().enumerate() {
            let path = self.relative(&c.contacts);
            let field = format!("campaigns[{i}].contacts");
            match read_list(&path) {
                Err(reason) => problems.push(self.problem_at(c.contacts_at, &field, &path, reason)),
                Ok(text) => {
                    let numbering = &self.dnc.numbering;
                    let (_, bad) = read_contacts(&text, c.timezone, numbering);
                    problems.extend(bad.into_iter().map(|b| list_problem(&path, b)));
                }
            }
        }
        let mut dnc = Dnc::default();
        for (i, list) in self.dnc.lists.iter().enumerate() {
            let path = self.relative(list);
            let field = format!("dnc.lists[{i}]");
            match read_list(&path) {
                Err(reason) => {
                    problems.push(self.problem_at(self.dnc.lists_at, &field, &path, reason))
                }
                Ok(text) => {
                    for (line, e) in dnc.load_text(&text, &self.dnc.numbering) {
                        problems.push(list_problem(
                            &path,
                            ListProblem {
                                line,
                                field: "number".into(),
                                message: e.to_string(),
                            },
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            return Ok(dnc);
        }
        Err(ConfigError::Invalid { problems })
    }

    fn problem_at(&self, at: Location, field: &str, path: &Path, reason: String) -> Problem {
        Problem {
            file: self.file.clone(),
            line: at.line,
            column: at.column,
            field: field.to_owned(),
            kind: ProblemKind::ListUnreadable {
                path: path.display().to_string(),
                reason,
            },
        }
    }
}

fn read_list(path: &Path) -> Result<String, String> {
    let bytes = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if bytes > LIST_BYTES_MAX {
        return Err(format!("{bytes} bytes, over {LIST_BYTES_MAX}"));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

fn list_problem(path: &Path, b: ListProblem) -> Problem {
    Problem {
        file: path.to_owned(),
        line: b.line,
        column: 1,
        field: b.field,
        kind: ProblemKind::ListRow { message: b.message },
    }
}
