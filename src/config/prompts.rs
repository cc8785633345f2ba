//! Prompts named in the dialplan must exist as WAVs: a menu's `prompt`,
//! a queue's `transfer_fallback = "prompt:<name>"` and `callback` prompts,
//! a campaign's information message and the message it leaves on
//! answering machines. Checked by
//! [`Config::load`] (at start, by `check`, and on reload), not by the
//! pure [`Config::parse`], because it reads the disk.

use super::{Config, ConfigError, Location, Problem, ProblemKind, TransferFallback};

impl Config {
    /// Refuses prompts that have no WAV in `[media].prompts` (read
    /// relative to the dialplan's directory, as `run` reads it). Without
    /// `[media]` no prompt is played and none is checked.
    pub fn check_prompts(&self) -> Result<(), ConfigError> {
        let Some(media) = &self.media else {
            return Ok(());
        };
        let menus = self.menus.iter().enumerate().map(|(i, m)| {
            let field = format!("menus[{i}].prompt");
            (m.prompt.as_str(), m.prompt_at, field)
        });
        let fallbacks = self.queues.iter().enumerate().filter_map(|(i, q)| {
            let TransferFallback::Prompt { prompt, .. } = &q.transfer_fallback else {
                return None;
            };
            let field = format!("queues[{i}].transfer_fallback");
            Some((prompt.as_str(), q.transfer_fallback_at, field))
        });
        let messages = self.campaigns.iter().enumerate().filter_map(|(i, c)| {
            let amd = c.amd.as_ref()?;
            let field = format!("campaigns[{i}].amd.message");
            let leaves = amd.machine == super::campaign::MachineAction::Message;
            leaves.then_some((amd.message.as_str(), amd.at, field))
        });
        let callbacks = self.queues.iter().enumerate().flat_map(|(i, q)| {
            q.callback.iter().flat_map(move |c| {
                [
                    (
                        c.prompt.as_str(),
                        c.at,
                        format!("queues[{i}].callback.prompt"),
                    ),
                    (
                        c.confirm_prompt.as_str(),
                        c.at,
                        format!("queues[{i}].callback.confirm_prompt"),
                    ),
                ]
            })
        });
        let infos = self.campaigns.iter().enumerate().filter_map(|(i, c)| {
            let field = format!("campaigns[{i}].info_message");
            Some((c.info_message.as_deref()?, c.at, field))
        });
        let problems: Vec<Problem> = menus
            .chain(fallbacks)
            .chain(messages)
            .chain(infos)
            .chain(callbacks)
            .filter_map(|(prompt, at, field): (&str, Location, String)| {
                let path = media.prompts.join(format!("{prompt}.wav"));
                if path.is_file() {
                    return None;
                }
                Some(Problem {
                    file: self.file.clone(),
                    line: at.line,
                    column: at.column,
                    field,
                    kind: ProblemKind::UnknownPrompt {
                        prompt: prompt.to_owned(),
                        path: path.display().to_string(),
                    },
                })
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid { problems })
    }
}
