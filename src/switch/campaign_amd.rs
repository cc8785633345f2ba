//! Answering-machine detection on campaign calls (`[[campaigns]] amd`).
//! When the customer answers, the relay listens to their first seconds
//! ([`crate::media::amd`]) before the campaign hears of the answer, so the
//! 2 s an answered person may wait for an agent run from the end of their
//! greeting, as the FTC's rule counts them. A person, or no verdict, goes
//! on as any answer; a machine is hung up on, or left the campaign's
//! message once its greeting is over (its beep), and the contact's
//! outcome says which.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{MediaCommand, MediaLeg, Output, Switch};
use crate::call::{CallRef, Input};
use crate::config::MachineAction;
use crate::media::amd::Verdict;

/// Longest wait for the relay's verdict (the detector decides within 5 s
/// of audio): past it the customer is taken for a person.
pub const AMD_VERDICT_WAIT: Duration = Duration::from_secs(7);
/// Longest wait for a machine's greeting to end (the relay gives up at
/// 20 s): past it the message is left anyway.
pub const AMD_GREETING_WAIT: Duration = Duration::from_secs(22);

/// What the switch waits to hear of a listened campaign call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Listening {
    Verdict,
    /// A machine: the end of its greeting, to leave the message.
    Greeting,
}

impl Switch {
    /// Starts listening to campaign `i`'s answered call `id` when the
    /// campaign asks for detection; false when it does not.
    pub(super) fn campaign_listen(&mut self, now: Instant, id: CallRef, i: usize) -> bool {
        let Some(amd) = self.campaigns.list[i].config.amd.as_ref() else {
            return false;
        };
        let beep = amd.machine == MachineAction::Message;
        let Some(d) = self.campaigns.calls.get_mut(&id) else {
            return false;
        };
        d.listening = Some(Listening::Verdict);
        info!(call = %id, "campaign call answered: listening for an answering machine");
        self.out.push_back(Output::Media(MediaCommand::Detect {
            call: id,
            leg: MediaLeg::Caller,
            beep,
        }));
        self.campaigns.listens.push((now + AMD_VERDICT_WAIT, id));
        true
    }

    /// The detector's verdict on a listened campaign call.
    pub(super) fn campaign_verdict(&mut self, now: Instant, id: CallRef, verdict: Verdict) {
        let Some(d) = self.campaigns.calls.get_mut(&id) else {
            return;
        };
        if d.listening != Some(Listening::Verdict) {
            return;
        }
        let i = d.campaign;
        self.campaigns.listens.retain(|(_, c)| *c != id);
        if !verdict.is_machine() {
            d.listening = None;
            info!(call = %id, verdict = verdict.label(), ?verdict, "campaign call: a person answered");
            return self.campaign_person(now, id);
        }
        d.machine = Some(false);
        self.campaigns.list[i].machines += 1;
        if let Some(mark) = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.detail.campaign.as_mut())
        {
            mark.machine = true;
        }
        let action = self.campaigns.list[i]
            .config
            .amd
            .as_ref()
            .map(|a| a.machine);
        let Some(d) = self.campaigns.calls.get_mut(&id) else {
            return;
        };
        if action == Some(MachineAction::Message) {
            d.listening = Some(Listening::Greeting);
            info!(call = %id, ?verdict, "campaign call: an answering machine; waiting for the end of its greeting");
            self.campaigns.listens.push((now + AMD_GREETING_WAIT, id));
            return;
        }
        d.listening = None;
        info!(call = %id, ?verdict, "campaign call: an answering machine; hanging up");
        self.drive(now, id, Input::HangUp);
    }

    /// The machine's greeting is over: the campaign's message plays, then
    /// the switch hangs up.
    pub(super) fn campaign_greeting_over(&mut self, now: Instant, id: CallRef, beeped: bool) {
        let Some(d) = self.campaigns.calls.get_mut(&id) else {
            return;
        };
        if d.listening != Some(Listening::Greeting) {
            return;
        }
        d.listening = None;
        d.machine = Some(true);
        let i = d.campaign;
        self.campaigns.listens.retain(|(_, c)| *c != id);
        let Some(amd) = self.campaigns.list[i].config.amd.clone() else {
            return;
        };
        info!(call = %id, beeped, prompt = %amd.message, "campaign call: leaving the message on the machine");
        self.out.push_back(Output::Media(MediaCommand::Play {
            call: id,
            leg: MediaLeg::Caller,
            intro: vec![amd.message],
            music: Vec::new(),
        }));
        self.campaigns.hangups.push((now + amd.message_plays, id));
    }

    /// Listened calls the relay said nothing of in time: no verdict is a
    /// person; no end of greeting leaves the message now.
    pub(super) fn campaign_listen_timeout(&mut self, now: Instant) {
        let due: Vec<CallRef> = self
            .campaigns
            .listens
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, c)| *c)
            .collect();
        for id in due {
            match self.campaigns.calls.get(&id).and_then(|d| d.listening) {
                Some(Listening::Verdict) => {
                    warn!(call = %id, "no answering-machine verdict in time: taken for a person");
                    self.campaign_verdict(now, id, Verdict::NotSure);
                }
                Some(Listening::Greeting) => {
                    warn!(call = %id, "the machine's greeting did not end in time: leaving the message");
                    self.campaign_greeting_over(now, id, false);
                }
                None => self.campaigns.listens.retain(|(_, c)| *c != id),
            }
        }
    }
}
