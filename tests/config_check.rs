//! Every shipped dialplan loads, and malformed documents are refused with
//! the right line and field, never a panic.

use std::path::{Path, PathBuf};

use switchyard::config::{Config, ConfigError, ProblemKind};

fn dialplans() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dialplans/ exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_dialplan_loads() {
    let files = dialplans();
    assert!(files.len() >= 2, "default and example dialplans: {files:?}");
    for file in files {
        if let Err(e) = Config::load(&file) {
            panic!("{} does not load:\n{e}", file.display());
        }
    }
}

#[test]
fn default_dialplan_is_safe_on_loopback() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(switchyard::config::DEFAULT_PATH);
    let config = Config::load(&path).expect("default dialplan loads");
    config
        .check_listen_safety()
        .expect("demo passwords are fine on 127.0.0.1");
}

#[test]
fn missing_file_is_a_read_error_naming_it() {
    let err = Config::load(Path::new("dialplans/no-such-file.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(
        err.to_string().starts_with("dialplans/no-such-file.toml: "),
        "{err}"
    );
}

const AGENT: &str = "[[agents]]\nid = \"1001\"\npassword = \"pw\"\nskills = { support = 5 }\n";
const QUEUE: &str = "[[queues]]\nname = \"support\"\nrequires = \"support:1\"\n";

/// (what, document, expected first line, expected first field)
fn malformed() -> Vec<(&'static str, String, usize, &'static str)> {
    vec![
        ("unclosed table header", "[switch\nrealm = \"x\"\n".into(), 1, "(document)"),
        ("unclosed string", format!("{AGENT}[switch]\nrealm = \"x\n"), 6, "switch.realm"),
        ("value missing", "[switch]\nrealm =\n".into(), 2, "switch.realm"),
        ("duplicate key", "[switch]\nrealm = \"a\"\nrealm = \"b\"\n".into(), 3, "switch.realm"),
        ("string for integer", "[switch]\nmax_calls = \"lots\"\n".into(), 2, "switch.max_calls"),
        ("integer for string", "[[agents]]\nid = 1001\npassword = \"p\"\n".into(), 2, "agents[0].id"),
        ("table for array", "[agents]\nid = \"1\"\n".into(), 1, "agents"),
        ("unknown key", format!("{AGENT}colour = \"red\"\n"), 5, "agents[0].colour"),
        ("unknown inline key", "[switch]\nregistration = { max_expire = \"1h\" }\n".into(), 2, "switch.registration.max_expire"),
        ("unknown section", "[queue]\nname = \"x\"\n".into(), 1, "queue"),
        ("missing required key", "[[agents]]\nid = \"1\"\n".into(), 1, "agents[0]"),
        ("bad duration", format!("{AGENT}{QUEUE}max_wait = \"5 minutes\"\n"), 8, "queues[0].max_wait"),
        ("duration without unit", "[switch]\nno_answer_timeout = \"30\"\n".into(), 2, "switch.no_answer_timeout"),
        ("huge duration", format!("{AGENT}{QUEUE}wrap_up = \"99999999999999999999h\"\n"), 8, "queues[0].wrap_up"),
        ("negative max_length", format!("{AGENT}{QUEUE}max_length = -5\n"), 8, "queues[0].max_length"),
        ("negative skill", "[[agents]]\nid = \"1\"\npassword = \"p\"\nskills = { support = -1 }\n".into(), 4, "agents[0].skills.support"),
        ("huge integer", "[switch]\nmax_calls = 123456789012345678901234567890\n".into(), 2, "switch.max_calls"),
        ("huge max_calls", "[switch]\nmax_calls = 4294967296\n".into(), 2, "switch.max_calls"),
        ("empty agent id", "[[agents]]\nid = \"\"\npassword = \"p\"\n".into(), 2, "agents[0].id"),
        ("empty password", "[[agents]]\nid = \"1\"\npassword = \"\"\n".into(), 3, "agents[0].password"),
        ("empty queue name", format!("{AGENT}[[queues]]\nname = \"\"\nrequires = \"support:1\"\n"), 6, "queues[0].name"),
        ("empty requires", format!("{AGENT}[[queues]]\nname = \"q\"\nrequires = \"\"\n"), 7, "queues[0].requires"),
        ("empty realm", "[switch]\nrealm = \"\"\n".into(), 2, "switch.realm"),
        ("DID to missing agent", format!("{AGENT}[dids]\n\"5550100\" = {{ agent = \"9999\" }}\n"), 6, "dids.5550100.agent"),
        ("DID to missing queue", format!("{AGENT}[dids]\n\"5550100\" = {{ queue = \"sales\" }}\n"), 6, "dids.5550100.queue"),
        ("DID with letters", format!("{AGENT}[dids]\n\"call-me\" = {{ agent = \"1001\" }}\n"), 6, "dids.call-me"),
        ("overflow cycle", format!("{AGENT}{QUEUE}overflow = \"queue:other\"\n[[queues]]\nname = \"other\"\nrequires = \"support:1\"\noverflow = \"queue:support\"\n"), 8, "queues[0].overflow"),
        ("bad strategy", format!("{AGENT}{QUEUE}strategy = \"fastest\"\n"), 8, "queues[0].strategy"),
        ("bad transport", "[[trunks]]\nname = \"t\"\noutbound = { address = \"127.0.0.1:5070\", transport = \"carrier-pigeon\" }\n".into(), 3, "trunks[0].outbound.transport"),
        ("bad CIDR", "[[trunks]]\nname = \"t\"\nallow_from = [\"10.0.0.0/40\"]\n".into(), 3, "trunks[0].allow_from[0]"),
        ("trunk that carries nothing", "[[trunks]]\nname = \"t\"\n".into(), 1, "trunks[0]"),
        ("target above one", format!("{AGENT}{QUEUE}service_level = {{ within = \"20s\", target = 80 }}\n"), 8, "queues[0].service_level.target"),
        ("requires with bad level", format!("{AGENT}[[queues]]\nname = \"q\"\nrequires = \"support:high\"\n"), 7, "queues[0].requires"),
        ("binary garbage", "\u{0}\u{1}\u{7f}[[[\n".into(), 1, "(document)"),
    ]
}

#[test]
fn malformed_documents_name_line_and_field() {
    for (what, text, line, field) in malformed() {
        let result = std::panic::catch_unwind(|| Config::parse(&text, Path::new("bad.toml")));
        let Ok(result) = result else {
            panic!("{what}: the loader panicked");
        };
        let err = match result {
            Ok(_) => panic!("{what}: accepted:\n{text}"),
            Err(e) => e,
        };
        let first = &err.problems()[0];
        assert_eq!(
            (first.line, first.field.as_str()),
            (line, field),
            "{what}: got {err}"
        );
        assert!(
            first.to_string().starts_with(&format!("bad.toml:{line}:")),
            "{what}: {first}"
        );
    }
}

#[test]
fn truncated_dialplans_never_panic() {
    for file in dialplans() {
        let text = std::fs::read_to_string(&file).expect("readable dialplan");
        let mut cut = 0;
        while cut < text.len() {
            if text.is_char_boundary(cut) {
                let result = std::panic::catch_unwind(|| Config::parse(&text[..cut], &file));
                assert!(result.is_ok(), "{} cut at {cut} panicked", file.display());
                if let Ok(Err(e)) = result {
                    assert!(
                        !e.problems().is_empty(),
                        "cut at {cut}: error without problems"
                    );
                }
            }
            cut += 7;
        }
    }
}

#[test]
fn overflow_cycle_lists_the_queues() {
    let text = format!("{AGENT}{QUEUE}overflow = \"queue:support\"\n");
    let err = Config::parse(&text, Path::new("x.toml")).unwrap_err();
    assert_eq!(
        err.problems()[0].kind,
        ProblemKind::OverflowCycle {
            cycle: vec!["support".into(), "support".into()]
        }
    );
}

/// Writes `text` as a dialplan in a fresh directory; returns its path.
fn dialplan_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-usable-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).expect("write dialplan");
    path
}

#[test]
// It starts the binary and waits for it, bounded: a driver.
#[allow(clippy::disallowed_methods)]
fn an_empty_plan_and_unwritable_paths_are_refused_naming_the_field() {
    let empty = dialplan_file("empty", "[switch]\nrealm = \"x\"\n");
    let err = Config::load(&empty).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(
        (p.field.as_str(), &p.kind),
        ("agents", &ProblemKind::EmptyPlan)
    );

    let text = format!(
        "[switch]\ncdr_path = \"/proc/switchyard/cdr.sqlite\"\nsip_listen = \"127.0.0.1:0\"\n\
         http_listen = \"127.0.0.1:0\"\n[media]\nrecordings = \"/proc/switchyard/rec\"\n\n{AGENT}"
    );
    let path = dialplan_file("unwritable", &text);
    let err = Config::load(&path).unwrap_err();
    let found: Vec<(usize, &str)> = err
        .problems()
        .iter()
        .filter(|p| matches!(p.kind, ProblemKind::NotWritable { .. }))
        .map(|p| (p.line, p.field.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![(2, "switch.cdr_path"), (6, "media.recordings")],
        "{err}"
    );

    // `check` says so and fails, and so does `run`, before binding anything.
    for command in ["check", "run"] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
        match command {
            "check" => cmd.arg("check").arg(&path),
            _ => cmd.args(["run", "--config"]).arg(&path),
        };
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start switchyard");
        // A `run` that wrongly starts is ended by its PID, not waited on.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{command} started on an unusable dialplan");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
            .expect("read stderr");
        assert!(!status.success(), "{command} accepted it");
        assert!(
            stderr.contains(":2:1: switch.cdr_path: call record store /proc/switchyard/cdr.sqlite is not writable"),
            "{command}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(empty.parent().unwrap());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// `switchyard check` (Config::load) reads a campaign's contact list beside
/// the dialplan and names a bad row by the list's file and line.
#[test]
fn check_reads_campaign_lists_and_names_a_bad_row() {
    let dir =
        std::env::temp_dir().join(format!("switchyard-check-campaign-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lists")).expect("temp dir");
    let text = format!(
        "[switch]\ncdr_path = \"{}\"\n{AGENT}{QUEUE}\
         [[trunks]]\nname = \"carrier\"\noutbound = {{ address = \"127.0.0.1:5070\" }}\n\
         [[campaigns]]\nname = \"renewals\"\nqueue = \"support\"\ncontacts = \"lists/renewals.csv\"\ntrunk = \"carrier\"\n",
        dir.join("cdr.sqlite").display()
    );
    std::fs::write(dir.join("plan.toml"), text).expect("write plan");
    std::fs::write(
        dir.join("lists/renewals.csv"),
        "number,name\n5550301,Ann\n5550302,Bo,extra\n",
    )
    .expect("write list");
    let err = Config::load(&dir.join("plan.toml")).expect_err("a row with too many fields");
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    assert!(problems[0].file.ends_with("lists/renewals.csv"), "{err}");
    assert_eq!(problems[0].line, 3, "{err}");
    std::fs::write(dir.join("lists/renewals.csv"), "number,name\n5550301,Ann\n")
        .expect("write list");
    let config = Config::load(&dir.join("plan.toml")).expect("valid now");
    assert_eq!(config.campaigns[0].name, "renewals");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn retention_periods_are_checked_naming_line_and_field() {
    let text =
        format!("[switch]\nrecords_keep = \"365d\"\n[media]\nrecordings_keep = \"12w\"\n\n{AGENT}");
    let c = Config::parse(&text, Path::new("x.toml")).expect("valid retention");
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(c.switch.records_keep, Some(365 * day));
    assert_eq!(c.media.as_ref().unwrap().recordings_keep, Some(84 * day));
    // Unset: kept forever.
    let c = Config::parse(&format!("[media]\n{AGENT}"), Path::new("x.toml")).unwrap();
    assert_eq!(c.switch.records_keep, None);
    assert_eq!(c.media.unwrap().recordings_keep, None);

    let text = format!(
        "[switch]\nrecords_keep = \"90\"\n[media]\nrecordings = \"r\"\nrecordings_keep = \"30m\"\n{AGENT}"
    );
    let err = Config::parse(&text, Path::new("x.toml")).unwrap_err();
    let got: Vec<(usize, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.line, p.field.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(2, "switch.records_keep"), (5, "media.recordings_keep")],
        "{err}"
    );
    assert!(err
        .problems()
        .iter()
        .all(|p| matches!(p.kind, ProblemKind::InvalidRetention { .. })));
    let err = Config::parse(
        &format!("[switch]\nrecords_keep = \"0d\"\n{AGENT}"),
        Path::new("x.toml"),
    )
    .unwrap_err();
    assert!(matches!(
        err.problems()[0].kind,
        ProblemKind::DurationOutOfRange { .. }
    ));
}

#[test]
fn a_recordings_group_the_system_lacks_is_refused_naming_the_field() {
    let text = format!(
        "[switch]\ncdr_path = \"cdr.sqlite\"\n[media]\nrecordings = \"rec\"\nrecordings_group = \"no-such-group-switchyard\"\n\n{AGENT}"
    );
    let path = dialplan_file("nogroup", &text);
    let err = Config::load(&path).unwrap_err();
    let p = &err.problems()[0];
    assert_eq!(
        (p.line, p.field.as_str()),
        (5, "media.recordings_group"),
        "{err}"
    );
    assert!(
        err.to_string().contains("no-such-group-switchyard"),
        "{err}"
    );
    // The user's own primary group is fine.
    let own = own_group_name();
    let text = text.replace("no-such-group-switchyard", &own);
    let path = dialplan_file("owngroup", &text);
    let c = Config::load(&path).expect("an existing group");
    assert_eq!(c.media.unwrap().recordings_group, Some(own));
}

/// The name of the group this test runs as (`id -gn`).
fn own_group_name() -> String {
    let out = std::process::Command::new("id")
        .arg("-gn")
        .output()
        .expect("id -gn");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
