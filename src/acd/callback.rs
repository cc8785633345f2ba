//! Queued callbacks (pure): a caller who asked to be called back instead of
//! waiting, or a customer an agent scheduled a callback for (a `callback`
//! disposition). Each callback waits in its queue as a router entry that
//! keeps the caller's arrival time (their place); when the router offers
//! it, the switch rings the agent first and then dials the number. This
//! core keeps where each callback stands (scheduled, waiting, ringing the
//! agent, dialling the customer), counts the tries and says when the next
//! is due; the switch carries its [`CallbackOutput`]s out and `run/` stores
//! them, so a restart serves every callback not yet done, in arrival order.
//!
//! Time comes in twice: `now` (monotonic) for deadlines, and `wall` (since
//! the epoch) for what is stored, since a restart keeps no `Instant`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// A callback's id: stable across restarts (the store's key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallbackId(pub u64);

/// Most callbacks held at once; past it a request is refused.
pub const CALLBACKS_MAX: usize = 100_000;
/// Most tries of one callback (`attempts` in a queue's `callback`).
pub const CALLBACK_ATTEMPTS_MAX: u32 = 20;

/// A callback as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    pub queue: String,
    /// The customer's number, as the trunk is asked for it.
    pub number: String,
    pub priority: u8,
    /// What the dialplan gave the call for routing (`attributes`).
    pub attributes: Vec<(String, String)>,
    /// When the caller joined the queue (or the scheduled time): its place
    /// in line, as time since the epoch.
    pub arrived: Duration,
    /// Tries made so far (each a call to the customer).
    pub attempts: u32,
    pub attempts_max: u32,
    /// Between a failed try and the next.
    pub retry: Duration,
    /// When the next try joins the queue (time since the epoch); `None`:
    /// it waits in the queue now.
    pub due: Option<Duration>,
    /// The call that asked for it (its id), for logs and records.
    pub origin: String,
}

/// Where a callback stands now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackPhase {
    /// Not in the queue until then.
    Scheduled(Instant),
    /// In the queue, keeping its place.
    Waiting,
    /// The router offered it: the agent's phone rings.
    RingingAgent(String),
    /// The agent answered: the customer's number is dialled.
    Dialling(String),
}

/// What the switch must do for the callbacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackOutput {
    /// Put the callback into its queue as if it had arrived at `arrived`.
    Enqueue {
        id: CallbackId,
        queue: String,
        priority: u8,
        attributes: Vec<(String, String)>,
        arrived: Instant,
    },
    /// Store the callback as it is now.
    Save { id: CallbackId, callback: Callback },
    /// The customer's data was erased: forget the callback (not a result).
    Erased { id: CallbackId },
    /// The callback is over (`completed`: the customer answered): forget it.
    Done {
        id: CallbackId,
        completed: bool,
        attempts: u32,
    },
}

/// The callbacks not yet done.
#[derive(Debug, Default)]
pub struct Callbacks {
    entries: BTreeMap<CallbackId, (Callback, CallbackPhase)>,
    next_id: u64,
    out: VecDeque<CallbackOutput>,
}

/// Why a callback was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("too many callbacks pending ({CALLBACKS_MAX})")]
    Full,
    #[error("unknown callback {0:?}")]
    Unknown(CallbackId),
}

impl Callbacks {
    /// A new callback, at `now` (`wall` since the epoch): into its queue
    /// at once, or at `callback.due` when that is later.
    pub fn request(
        &mut self,
        now: Instant,
        wall: Duration,
        callback: Callback,
    ) -> Result<CallbackId, CallbackError> {
        if self.entries.len() >= CALLBACKS_MAX {
            return Err(CallbackError::Full);
        }
        self.next_id += 1;
        let id = CallbackId(self.next_id);
        self.out.push_back(CallbackOutput::Save {
            id,
            callback: callback.clone(),
        });
        self.admit(now, wall, id, callback);
        Ok(id)
    }

    /// A caller waiting in its queue asked to be called back: the router
    /// entry stays where it is (its place), no longer a live call.
    pub fn request_queued(&mut self, callback: Callback) -> Result<CallbackId, CallbackError> {
        if self.entries.len() >= CALLBACKS_MAX {
            return Err(CallbackError::Full);
        }
        self.next_id += 1;
        let id = CallbackId(self.next_id);
        self.out.push_back(CallbackOutput::Save {
            id,
            callback: callback.clone(),
        });
        self.entries.insert(id, (callback, CallbackPhase::Waiting));
        Ok(id)
    }

    /// Callbacks read back from the store at start: each goes back to its
    /// queue (in order of arrival, so they keep their places among
    /// themselves) or waits for its due time.
    pub fn restore(&mut self, now: Instant, wall: Duration, mut stored: Vec<(u64, Callback)>) {
        stored.sort_by_key(|(id, c)| (c.arrived, *id));
        for (id, callback) in stored.into_iter().take(CALLBACKS_MAX) {
            self.next_id = self.next_id.max(id);
            self.admit(now, wall, CallbackId(id), callback);
        }
    }

    fn admit(&mut self, now: Instant, wall: Duration, id: CallbackId, callback: Callback) {
        let phase = match callback.due.filter(|&due| due > wall) {
            Some(due) => CallbackPhase::Scheduled(now + (due - wall)),
            None => {
                self.enqueue(now, wall, id, &callback);
                CallbackPhase::Waiting
            }
        };
        self.entries.insert(id, (callback, phase));
    }

    fn enqueue(&mut self, now: Instant, wall: Duration, id: CallbackId, callback: &Callback) {
        let ago = wall.saturating_sub(callback.arrived);
        self.out.push_back(CallbackOutput::Enqueue {
            id,
            queue: callback.queue.clone(),
            priority: callback.priority,
            attributes: callback.attributes.clone(),
            arrived: now.checked_sub(ago).unwrap_or(now),
        });
    }

    /// Scheduled callbacks due at `now` join their queues.
    pub fn handle_timeout(&mut self, now: Instant, wall: Duration) {
        let due: Vec<CallbackId> = self
            .entries
            .iter()
            .filter(|(_, (_, p))| matches!(p, CallbackPhase::Scheduled(at) if *at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some((callback, phase)) = self.entries.get_mut(&id) else {
                continue;
            };
            callback.due = None;
            *phase = CallbackPhase::Waiting;
            let callback = callback.clone();
            self.enqueue(now, wall, id, &callback);
            self.out.push_back(CallbackOutput::Save { id, callback });
        }
    }

    /// The earliest scheduled callback.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|(_, p)| match p {
                CallbackPhase::Scheduled(at) => Some(*at),
                _ => None,
            })
            .min()
    }

    pub fn poll_output(&mut self) -> Option<CallbackOutput> {
        self.out.pop_front()
    }

    pub fn get(&self, id: CallbackId) -> Option<(&Callback, &CallbackPhase)> {
        self.entries.get(&id).map(|(c, p)| (c, p))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn phase_mut(&mut self, id: CallbackId) -> Result<&mut CallbackPhase, CallbackError> {
        self.entries
            .get_mut(&id)
            .map(|(_, p)| p)
            .ok_or(CallbackError::Unknown(id))
    }

    /// The router offered the callback to `agent`: their phone rings.
    pub fn offered(&mut self, id: CallbackId, agent: &str) -> Result<(), CallbackError> {
        *self.phase_mut(id)? = CallbackPhase::RingingAgent(agent.to_string());
        Ok(())
    }

    /// The agent did not take it: it waits in its queue again, in its place.
    pub fn agent_missed(&mut self, id: CallbackId) -> Result<(), CallbackError> {
        *self.phase_mut(id)? = CallbackPhase::Waiting;
        Ok(())
    }

    /// The agent answered: the customer is dialled.
    pub fn agent_answered(&mut self, id: CallbackId) -> Result<(), CallbackError> {
        let phase = self.phase_mut(id)?;
        let agent = match phase {
            CallbackPhase::RingingAgent(a) | CallbackPhase::Dialling(a) => a.clone(),
            _ => String::new(),
        };
        *phase = CallbackPhase::Dialling(agent);
        Ok(())
    }

    /// The try is over. `answered`: the customer talked to the agent and
    /// the callback is done; else another try is due `retry` from now,
    /// or, with every try made, the callback is given up.
    pub fn tried(
        &mut self,
        now: Instant,
        wall: Duration,
        id: CallbackId,
        answered: bool,
    ) -> Result<(), CallbackError> {
        let (callback, phase) = self
            .entries
            .get_mut(&id)
            .ok_or(CallbackError::Unknown(id))?;
        callback.attempts += 1;
        let attempts = callback.attempts;
        if answered || attempts >= callback.attempts_max {
            self.entries.remove(&id);
            self.out.push_back(CallbackOutput::Done {
                id,
                completed: answered,
                attempts,
            });
            return Ok(());
        }
        callback.due = Some(wall + callback.retry);
        *phase = CallbackPhase::Scheduled(now + callback.retry);
        let callback = callback.clone();
        self.out.push_back(CallbackOutput::Save { id, callback });
        Ok(())
    }

    /// The queue let the callback go without a try (its overflow said
    /// busy): it comes back `retry` from now, its place and tries kept.
    pub fn postpone(
        &mut self,
        now: Instant,
        wall: Duration,
        id: CallbackId,
    ) -> Result<(), CallbackError> {
        let (callback, phase) = self
            .entries
            .get_mut(&id)
            .ok_or(CallbackError::Unknown(id))?;
        callback.due = Some(wall + callback.retry);
        *phase = CallbackPhase::Scheduled(now + callback.retry);
        let callback = callback.clone();
        self.out.push_back(CallbackOutput::Save { id, callback });
        Ok(())
    }

    /// The right to erasure: every callback of `number` (with or without
    /// a leading `+`) is forgotten, whatever its phase. Their ids.
    pub fn erase_number(&mut self, number: &str) -> Vec<CallbackId> {
        let bare = number.strip_prefix('+').unwrap_or(number);
        let ids: Vec<CallbackId> = self
            .entries
            .iter()
            .filter(|(_, (c, _))| c.number.strip_prefix('+').unwrap_or(&c.number) == bare)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            self.entries.remove(id);
            self.out.push_back(CallbackOutput::Erased { id: *id });
        }
        ids
    }

    /// The callback cannot be served (its queue is gone): given up.
    pub fn dropped(&mut self, id: CallbackId) -> Result<(), CallbackError> {
        let (callback, _) = self.entries.remove(&id).ok_or(CallbackError::Unknown(id))?;
        self.out.push_back(CallbackOutput::Done {
            id,
            completed: false,
            attempts: callback.attempts,
        });
        Ok(())
    }
}

#[cfg(test)]
#[path = "tests_callback.rs"]
mod tests;
