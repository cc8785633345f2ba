//! Queue audio for a waiting caller: its position and expected wait, said
//! from prompts when it enters the queue and again every `announce_every`,
//! with the queue's music in between; its deadline in the switch's timer table.

use std::time::{Duration, Instant};

use super::timers::Timer;
use super::{MediaCommand, MediaLeg, Switch};
use crate::acd::CallId;
use crate::call::CallRef;

impl Switch {
    /// A queued caller starts hearing the queue: its position and expected
    /// wait, then the music; again every `announce_every`.
    pub(super) fn start_queue_audio(&mut self, now: Instant, id: CallRef) {
        self.announce(now, id);
    }

    /// Announcements due at `now`.
    pub(super) fn handle_media_timeout(&mut self, now: Instant) {
        while let Some((at, id)) = self.timers.next_due(Timer::Announce, now) {
            let due = self
                .calls
                .get(&id)
                .and_then(|e| e.media.as_ref())
                .is_some_and(|m| m.announce_at == Some(at));
            if due {
                self.announce(now, id);
            }
        }
    }

    fn announce(&mut self, now: Instant, id: CallRef) {
        let Some(anchoring) = self.anchoring.as_ref() else {
            return;
        };
        let (music, every) = (
            anchoring.plan.queue_music.clone(),
            anchoring.plan.announce_every,
        );
        let call = CallId(id.0);
        let position = self.router.position(call);
        let wait = match (position, self.router.call_queue(call)) {
            (Some(pos), Some((queue, _))) => self.router.expected_wait(queue, pos),
            _ => None,
        };
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        // A transferred caller, answered long ago, hears its new queue.
        if entry.call.answered.is_some() && !entry.call.transferring {
            return;
        }
        let Some(m) = entry.media.as_mut() else {
            return;
        };
        let first = m.announce_at.is_none();
        m.announce_at = None;
        if !every.is_zero() {
            let at = now + every;
            m.announce_at = Some(at);
            self.timers.set(Timer::Announce, id, at);
        }
        let mut intro = announcement(position, wait);
        // A queue that offers a callback says so after the figures.
        let offer = entry
            .queue
            .as_ref()
            .and_then(|q| self.plan.callbacks.get(q));
        if let Some(cb) = offer {
            intro.push(cb.prompt.clone());
        }
        // Between announcements the music plays on untouched.
        if intro.is_empty() && !first {
            return;
        }
        self.out.push_back(super::Output::Media(MediaCommand::Play {
            call: id,
            leg: MediaLeg::Caller,
            intro,
            music: vec![music],
        }));
    }
}

/// Most numbers the prompts can say ("n0" .. "n20").
pub const SPOKEN_NUMBER_MAX: u64 = 20;

/// The prompt names of "you are caller number N, the expected wait is about
/// M minutes". A part whose number has no prompt is left out, not rounded.
pub fn announcement(position: Option<usize>, wait: Option<Duration>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(pos) = position.filter(|&p| p as u64 <= SPOKEN_NUMBER_MAX) {
        names.push("caller_number".to_string());
        names.push(format!("n{pos}"));
    }
    if let Some(wait) = wait {
        let minutes = (wait.as_secs() + 30) / 60;
        match minutes {
            0 => names.extend(["expected_wait".into(), "less_than_a_minute".into()]),
            1 => names.extend(["expected_wait".into(), "n1".into(), "minute".into()]),
            m if m <= SPOKEN_NUMBER_MAX => {
                names.extend(["expected_wait".into(), format!("n{m}"), "minutes".into()])
            }
            _ => {}
        }
    }
    names
}
