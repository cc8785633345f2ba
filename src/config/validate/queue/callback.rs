//! A queue's `callback`: the key, its prompts, the tries and the time
//! between them.

use std::time::Duration;

use super::super::super::raw::RawCallback;
use super::super::super::values::check_name;
use super::super::super::*;
use super::super::Cx;
use crate::acd::callback::CALLBACK_ATTEMPTS_MAX;
use crate::config::locate::FieldPath;

/// The prompt offering the callback, by default.
pub const CALLBACK_PROMPT: &str = "callback_offer";
/// The prompt a caller who took it hears, by default.
pub const CALLBACK_CONFIRM_PROMPT: &str = "callback_confirmed";

impl Cx<'_, '_> {
    pub(in crate::config::validate) fn callback(
        &mut self,
        p: &FieldPath,
        raw: RawCallback,
    ) -> CallbackConfig {
        let cp = p.key("callback");
        let key_text = raw.key.unwrap_or_else(|| "5".to_owned());
        let key = match key_text.as_bytes() {
            [k] if k.is_ascii_digit() || matches!(k, b'*' | b'#') => char::from(*k),
            _ => {
                let kind = ProblemKind::InvalidMenuDigit { key: key_text };
                self.report(&cp.key("key"), kind);
                '5'
            }
        };
        let mut prompt_of = |field: &str, value: Option<String>, default: &str| {
            let value = value.unwrap_or_else(|| default.to_owned());
            if let Err(kind) = check_name(&value) {
                self.report(&cp.key(field), kind);
                return default.to_owned();
            }
            value
        };
        let prompt = prompt_of("prompt", raw.prompt, CALLBACK_PROMPT);
        let confirm_prompt = prompt_of(
            "confirm_prompt",
            raw.confirm_prompt,
            CALLBACK_CONFIRM_PROMPT,
        );
        let attempts = self.int(
            raw.attempts,
            &cp.key("attempts"),
            3,
            1,
            i64::from(CALLBACK_ATTEMPTS_MAX),
        );
        let retry = self.duration(
            raw.retry.as_deref(),
            &cp.key("retry"),
            Duration::from_secs(300),
            true,
        );
        CallbackConfig {
            key,
            prompt,
            confirm_prompt,
            attempts,
            retry,
            at: self.locate(&cp),
        }
    }
}
