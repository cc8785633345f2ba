//! A queue's `callback` (validated in `validate/queue/callback.rs`).

use std::time::Duration;

use super::Location;

/// A queue's `callback`: the key a waiting caller presses to be called
/// back instead of waiting (keeping their place), and the tries.
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackConfig {
    pub key: char,
    /// Played to waiting callers after each announcement.
    pub prompt: String,
    /// Played to a caller who pressed the key, before the hang-up.
    pub confirm_prompt: String,
    /// Calls to the customer at most (1..=20).
    pub attempts: u32,
    /// Between a failed try and the next.
    pub retry: Duration,
    /// Where `callback` is written, for [`super::Config::check_prompts`].
    pub at: Location,
}
