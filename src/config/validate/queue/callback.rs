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
        media: bool,
    ) -> CallbackConfig {
        let cp = p.key("callback");
        if !media {
            self.report(&cp, ProblemKind::CallbackWithoutMedia);
        }
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{Config, ConfigError, ProblemKind};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("t.toml"))
    }

    /// An agent, a queue and media; the test adds lines from 10.
    const BASE: &str = "[media]\nrtp_ports = \"20000-20009\"\n\
[[agents]]\nid = \"1001\"\npassword = \"pw\"\nskills = { support = 5 }\n\
[[queues]]\nname = \"support\"\nrequires = \"support:1\"\n";

    #[test]
    fn callback_is_off_by_default_and_takes_a_key_prompts_tries_and_retry() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.queue("support").unwrap().callback, None);
        let c = parse(&format!("{BASE}callback = {{}}\n")).unwrap();
        let cb = c.queue("support").unwrap().callback.clone().unwrap();
        assert_eq!(
            (cb.key, cb.prompt.as_str(), cb.confirm_prompt.as_str()),
            ('5', "callback_offer", "callback_confirmed")
        );
        assert_eq!((cb.attempts, cb.retry), (3, Duration::from_secs(300)));
        let text = format!(
            "{BASE}callback = {{ key = \"#\", prompt = \"cb\", attempts = 1, retry = \"90s\" }}\n"
        );
        let cb = parse(&text).unwrap().queues[0].callback.clone().unwrap();
        assert_eq!((cb.key, cb.prompt.as_str()), ('#', "cb"));
        assert_eq!((cb.attempts, cb.retry), (1, Duration::from_secs(90)));
    }

    #[test]
    fn bad_callback_keys_are_named_with_their_line() {
        type Expected = fn(&ProblemKind) -> bool;
        let cases: [(&str, &str, Expected); 5] = [
            ("key = \"55\"", "key", |k| {
                matches!(k, ProblemKind::InvalidMenuDigit { .. })
            }),
            ("attempts = 0", "attempts", |k| {
                matches!(k, ProblemKind::OutOfRange { .. })
            }),
            ("attempts = 21", "attempts", |k| {
                matches!(k, ProblemKind::OutOfRange { .. })
            }),
            ("retry = \"0s\"", "retry", |k| {
                matches!(k, ProblemKind::DurationOutOfRange { .. })
            }),
            ("prompt = \"../x\"", "prompt", |k| {
                matches!(k, ProblemKind::InvalidName { .. })
            }),
        ];
        for (field, name, expected) in cases {
            let err = parse(&format!("{BASE}callback = {{ {field} }}\n")).unwrap_err();
            let p = &err.problems()[0];
            assert_eq!(p.line, 10, "{field}: {p:?}");
            assert_eq!(p.field, format!("queues[0].callback.{name}"), "{p:?}");
            assert!(expected(&p.kind), "{field}: {p:?}");
        }
        let err = parse(&format!("{}callback = {{}}\n", &BASE[34..])).unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(p.field, "queues[0].callback", "{p:?}");
        assert!(matches!(p.kind, ProblemKind::CallbackWithoutMedia), "{p:?}");
        let err = parse(&format!("{BASE}callback = {{ press = \"5\" }}\n")).unwrap_err();
        assert!(err.to_string().contains("press"), "{err}");
    }
}
