//! A queue's `transfer_priority`, `transfer_fallback` and
//! `transfer_fallback_hangup`: defaults, values, and each mistake named.

use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("t.toml"))
}

/// An agent and two queues; the test adds lines from 11.
const BASE: &str = "[[agents]]\nid = \"1001\"\npassword = \"pw\"\nskills = { support = 5 }\n\
[[queues]]\nname = \"backup\"\nrequires = \"support:1\"\n\
[[queues]]\nname = \"support\"\nrequires = \"support:1\"\n";

const MEDIA: &str = "[media]\nrtp_ports = \"20000-20009\"\n";

#[test]
fn transfers_default_to_no_raise_and_back_to_the_agent() {
    let c = parse(BASE).unwrap();
    let q = c.queue("support").unwrap();
    assert_eq!(q.transfer_priority, 0);
    assert_eq!(q.transfer_fallback, TransferFallback::Agent);
}

#[test]
fn transfer_keys_take_a_priority_a_queue_or_a_prompt() {
    let c = parse(&format!(
        "{BASE}transfer_priority = 7\ntransfer_fallback = \"queue:backup\"\n"
    ))
    .unwrap();
    let q = c.queue("support").unwrap();
    assert_eq!(q.transfer_priority, 7);
    assert_eq!(
        q.transfer_fallback,
        TransferFallback::Queue("backup".into())
    );
    let c = parse(&format!(
        "{BASE}transfer_fallback = \"prompt:closed\"\ntransfer_fallback_hangup = \"4s\"\n{MEDIA}"
    ))
    .unwrap();
    assert_eq!(
        c.queue("support").unwrap().transfer_fallback,
        TransferFallback::Prompt {
            prompt: "closed".into(),
            after: Duration::from_secs(4)
        }
    );
}

/// What the problem of a case must be.
type Expected = fn(&ProblemKind) -> bool;

#[test]
fn bad_transfer_keys_are_named_with_their_line() {
    let cases: [(&str, Expected); 5] = [
        ("transfer_priority = 256\n", |k| {
            matches!(k, ProblemKind::OutOfRange { max: 255, .. })
        }),
        (
            "transfer_fallback = \"voicemail\"\n",
            |k| matches!(k, ProblemKind::InvalidTransferFallback { value } if value == "voicemail"),
        ),
        (
            "transfer_fallback = \"queue:nowhere\"\n",
            |k| matches!(k, ProblemKind::UnknownQueue { queue } if queue == "nowhere"),
        ),
        ("transfer_fallback = \"prompt:closed\"\n", |k| {
            matches!(k, ProblemKind::FallbackPromptWithoutMedia)
        }),
        ("transfer_fallback_hangup = \"0s\"\n", |k| {
            matches!(k, ProblemKind::DurationOutOfRange { .. })
        }),
    ];
    for (line, expected) in cases {
        let err = parse(&format!("{BASE}{line}")).unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(p.line, 11, "{line}: {p:?}");
        assert!(p.field.starts_with("queues[1].transfer_"), "{line}: {p:?}");
        assert!(expected(&p.kind), "{line}: {p:?}");
    }
}

#[test]
fn a_fallback_prompt_without_its_wav_is_refused_at_load_with_its_line() {
    let dir = std::env::temp_dir().join(format!("switchyard-fallback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("closed.wav"), b"RIFF").unwrap();
    let text = format!(
        "{BASE}transfer_fallback = \"prompt:closed\"\n[media]\nrtp_ports = \"20000-20009\"\nprompts = \"{}\"\n",
        dir.display()
    );
    assert!(parse(&text).unwrap().check_prompts().is_ok());
    let c = parse(&text.replace("prompt:closed", "prompt:gone")).unwrap();
    let err = c.check_prompts().unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(
        (p.line, p.field.as_str()),
        (11, "queues[1].transfer_fallback")
    );
    assert!(matches!(&p.kind, ProblemKind::UnknownPrompt { prompt, .. } if prompt == "gone"));
    std::fs::remove_dir_all(&dir).unwrap();
}

const TRUNK: &str = "[[trunks]]\nname = \"carrier\"\nallow_from = [\"127.0.0.1\"]\n";

#[test]
fn a_trunk_refuses_refer_unless_allow_refer_is_set() {
    let c = parse(TRUNK).unwrap();
    assert!(!c.trunks[0].allow_refer);
    let c = parse(&format!("{TRUNK}allow_refer = true\n")).unwrap();
    assert!(c.trunks[0].allow_refer);
    let err = parse(&format!("{TRUNK}allow_refer = \"yes\"\n")).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(
        (p.line, p.field.as_str()),
        (4, "trunks[0].allow_refer"),
        "{p:?}"
    );
}
