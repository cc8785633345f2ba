//! The core's [`MediaCommand`]s, carried out as they come: the relay maps a
//! (call, part) to its own leg here, on the control path only, so the
//! driver between the core and the relay keeps no leg map of its own.

use super::{lock, LegMedia, MediaError, MediaHandle};
use crate::call::CallRef;
use crate::media::command::{LegId, MediaCommand, MediaLeg, MEDIA_SIDES};
use crate::media::prompts::{PromptId, PromptSet};

impl MediaHandle {
    /// Carries out `command`. A command for a leg (or call) the relay does
    /// not have is a no-op, as the core may speak of a leg that never opened.
    pub fn apply(&self, command: MediaCommand) -> Result<(), MediaError> {
        use MediaLeg::{Agent, Caller, Supervisor};
        let call = command.call();
        let legs = self.sides(call);
        let leg = |side: MediaLeg| legs[side.index()];
        match command {
            MediaCommand::Open { leg, port, .. } => self.open(call, leg, port).map(|_| ()),
            MediaCommand::SetRemote {
                leg: side, remote, ..
            } => match leg(side) {
                Some(id) => self.set_remote(id, remote),
                None => Ok(()),
            },
            MediaCommand::Bridge { .. } => match (leg(Caller), leg(Agent)) {
                (Some(a), Some(b)) => self.bridge(a, b),
                _ => Ok(()),
            },
            MediaCommand::Unbridge { .. } => leg(Caller).map_or(Ok(()), |a| self.unbridge(a)),
            MediaCommand::Play {
                leg: side,
                intro,
                music,
                ..
            } => match leg(side) {
                Some(id) => {
                    let prompts = self.prompts();
                    let intro = prompt_ids(&prompts, &intro).unwrap_or_default();
                    let music = prompt_ids(&prompts, &music).unwrap_or_default();
                    self.play(id, intro, music)
                }
                None => Ok(()),
            },
            MediaCommand::Record { path, .. } => match (leg(Caller), leg(Agent)) {
                (Some(a), Some(b)) => self.record(a, b, path),
                _ => Ok(()),
            },
            MediaCommand::Supervise { mode, .. } => {
                match (leg(Caller), leg(Agent), leg(Supervisor)) {
                    (Some(a), Some(b), Some(s)) => self.supervise(a, b, s, mode),
                    _ => Ok(()),
                }
            }
            MediaCommand::SendDigit {
                leg: side, digit, ..
            } => leg(side).map_or(Ok(()), |id| self.send_digit(id, digit)),
            MediaCommand::EndSupervision { .. } => self.end_supervision(call),
            MediaCommand::Detect {
                leg: side, beep, ..
            } => leg(side).map_or(Ok(()), |id| self.detect(id, beep)),
            MediaCommand::Conference { parties, .. } => {
                // A party whose leg never opened is left out.
                let parties = parties
                    .into_iter()
                    .filter_map(|(side, voice)| Some((leg(side)?.n, voice)))
                    .collect();
                self.conference(call, parties)
            }
            MediaCommand::Release { .. } => {
                self.release(call);
                Ok(())
            }
        }
    }

    /// Opens the leg that plays `side` in `call` on the pair at `port`.
    fn open(&self, call: CallRef, side: MediaLeg, port: u16) -> Result<LegMedia, MediaError> {
        self.add_leg(call, Some(port), Some(side))
    }

    /// The relay's leg for each part of `call` ([`MediaLeg::index`]).
    fn sides(&self, call: CallRef) -> [Option<LegId>; MEDIA_SIDES] {
        let calls = lock(&self.shared.calls);
        let Some(entry) = calls.get(&call) else {
            return [None; MEDIA_SIDES];
        };
        entry.sides.map(|n| n.map(|n| LegId { call, n }))
    }
}

/// The prompts named, or `None` when one is missing: an announcement with a
/// hole would say something wrong.
fn prompt_ids(set: &PromptSet, names: &[String]) -> Option<Vec<PromptId>> {
    names.iter().map(|n| set.id(n).ok()).collect()
}
