//! `[[menus]]` and DIDs routed to them: each mistake with its line and field.

use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("t.toml"))
}

fn problems(text: &str) -> Vec<(usize, String, ProblemKind)> {
    match parse(text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| (p.line, p.field.clone(), p.kind.clone()))
            .collect(),
    }
}

/// An agent, two queues and a DID on menu "main" (lines 1-11).
const BASE: &str = "[[agents]]\nid = \"1001\"\npassword = \"pw\"\nskills = { support = 5 }\n\
[[queues]]\nname = \"support\"\nrequires = \"support:1\"\n\
[[queues]]\nname = \"sales\"\nrequires = \"support:1\"\n\
[dids]\n\"5550400\" = { menu = \"main\", priority = 3 }\n";

#[test]
fn a_menu_takes_its_options_timeout_retries_and_default() {
    let text = format!(
        "{BASE}[[menus]]\nname = \"main\"\nprompt = \"menu_main\"\n\
         options = {{ \"1\" = \"queue:support\", \"2\" = \"queue:sales\", \"0\" = \"agent:1001\", \"#\" = \"menu:main\" }}\n\
         timeout = \"8s\"\nretries = 1\ndefault = \"queue:support\"\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.dids["5550400"].target, DidTarget::Menu("main".into()));
    assert_eq!(c.dids["5550400"].priority, 3);
    let m = c.menu("main").unwrap();
    assert_eq!(m.prompt, "menu_main");
    assert_eq!(m.options[&'2'], MenuTarget::Queue("sales".into()));
    assert_eq!(m.options[&'0'], MenuTarget::Agent("1001".into()));
    assert_eq!(m.options[&'#'], MenuTarget::Menu("main".into()));
    assert_eq!((m.timeout, m.retries), (Duration::from_secs(8), 1));
    assert_eq!(m.default, Some(MenuTarget::Queue("support".into())));
    assert_eq!(m.prompt_at.line, 15);
}

#[test]
fn a_menu_defaults_to_5s_two_retries_and_no_default() {
    let text = format!(
        "{BASE}[[menus]]\nname = \"main\"\nprompt = \"p\"\noptions = {{ \"1\" = \"queue:support\" }}\n"
    );
    let c = parse(&text).unwrap();
    let m = &c.menus[0];
    assert_eq!(
        (m.timeout, m.retries, &m.default),
        (Duration::from_secs(5), 2, &None)
    );
}

#[test]
fn menu_choices_naming_nothing_declared_are_refused_with_their_field() {
    let text = format!(
        "{BASE}[[menus]]\nname = \"main\"\nprompt = \"p\"\n\
         options = {{ \"1\" = \"queue:billing\", \"2\" = \"agent:9999\", \"3\" = \"menu:nope\", \"4\" = \"voicemail:1\" }}\n\
         default = \"queue:nope\"\n"
    );
    let p = problems(&text);
    let got: Vec<(usize, &str, &ProblemKind)> =
        p.iter().map(|(l, f, k)| (*l, f.as_str(), k)).collect();
    assert_eq!(
        got,
        vec![
            (
                16,
                "menus[0].options.1",
                &ProblemKind::UnknownQueue {
                    queue: "billing".into()
                }
            ),
            (
                16,
                "menus[0].options.2",
                &ProblemKind::UnknownAgent {
                    agent: "9999".into()
                }
            ),
            (
                16,
                "menus[0].options.3",
                &ProblemKind::UnknownMenu {
                    menu: "nope".into()
                }
            ),
            (
                16,
                "menus[0].options.4",
                &ProblemKind::InvalidMenuTarget {
                    value: "voicemail:1".into()
                }
            ),
            (
                17,
                "menus[0].default",
                &ProblemKind::UnknownQueue {
                    queue: "nope".into()
                }
            ),
        ]
    );
}

#[test]
fn menu_keys_must_be_one_dtmf_digit() {
    let text = format!(
        "{BASE}[[menus]]\nname = \"main\"\nprompt = \"p\"\n\
         options = {{ \"12\" = \"queue:support\", \"A\" = \"queue:support\", \"*\" = \"queue:sales\" }}\n"
    );
    let p = problems(&text);
    let kinds: Vec<&ProblemKind> = p.iter().map(|(_, _, k)| k).collect();
    assert_eq!(
        kinds,
        vec![
            &ProblemKind::InvalidMenuDigit { key: "12".into() },
            &ProblemKind::InvalidMenuDigit { key: "A".into() },
        ]
    );
    assert_eq!(p[0].1, "menus[0].options.12");
}

#[test]
fn a_did_on_an_unknown_menu_and_a_did_with_two_targets_are_refused() {
    let text = "[dids]\n\"5550400\" = { menu = \"main\" }\n\"5550401\" = { menu = \"main\", queue = \"q\" }\n";
    let p = problems(text);
    assert_eq!(
        p,
        vec![
            (
                2,
                "dids.5550400.menu".into(),
                ProblemKind::UnknownMenu {
                    menu: "main".into()
                }
            ),
            (3, "dids.5550401".into(), ProblemKind::DidTargetCount),
        ]
    );
}

#[test]
fn defaults_looping_between_menus_are_refused_but_options_may_loop() {
    let text = format!(
        "{BASE}[[menus]]\nname = \"main\"\nprompt = \"p\"\noptions = {{ \"9\" = \"menu:more\" }}\ndefault = \"menu:more\"\n\
         [[menus]]\nname = \"more\"\nprompt = \"p\"\noptions = {{ \"9\" = \"menu:main\" }}\ndefault = \"menu:main\"\n"
    );
    let p = problems(&text);
    assert_eq!(
        p[0],
        (
            17,
            "menus[0].default".into(),
            ProblemKind::MenuDefaultCycle {
                cycle: vec!["main".into(), "more".into(), "main".into()]
            }
        )
    );
    assert_eq!(p.len(), 2, "each menu of the loop is named: {p:?}");
    let fine = text.replace("default = \"menu:main\"", "default = \"queue:sales\"");
    assert!(parse(&fine).is_ok());
}

#[test]
fn a_menu_without_a_prompt_or_with_bad_numbers_names_the_field() {
    let text =
        format!("{BASE}[[menus]]\nname = \"main\"\noptions = {{ \"1\" = \"queue:support\" }}\n");
    // The menu that failed to read is also unknown to its DID.
    let p = problems(&text);
    assert!(matches!(p[1].2, ProblemKind::Schema { .. }), "{p:?}");
    assert_eq!(p[1].1, "menus[0]");
    let text = format!(
        "{BASE}[[menus]]\nname = \"main\"\nprompt = \"p\"\noptions = {{ \"1\" = \"queue:support\" }}\n\
         timeout = \"0s\"\nretries = 10\n"
    );
    let fields: Vec<String> = problems(&text).into_iter().map(|p| p.1).collect();
    assert_eq!(fields, vec!["menus[0].timeout", "menus[0].retries"]);
}

#[test]
fn a_missing_prompt_file_is_refused_at_load_with_its_line() {
    let dir = std::env::temp_dir().join(format!("switchyard-menu-prompts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("menu_main.wav"), b"RIFF").unwrap();
    let text = format!(
        "{BASE}[media]\nprompts = \"{}\"\n[[menus]]\nname = \"main\"\nprompt = \"menu_main\"\noptions = {{ \"1\" = \"queue:support\" }}\n",
        dir.display()
    );
    let c = parse(&text).unwrap();
    assert!(c.check_prompts().is_ok());
    let c = parse(&text.replace("\"menu_main\"", "\"menu_gone\"")).unwrap();
    let err = c.check_prompts().unwrap_err();
    let p = &err.problems()[0];
    assert_eq!((p.line, p.field.as_str()), (17, "menus[0].prompt"));
    assert!(matches!(&p.kind, ProblemKind::UnknownPrompt { prompt, .. } if prompt == "menu_gone"));
    std::fs::remove_dir_all(&dir).unwrap();
}
