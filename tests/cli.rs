//! The command line: `check` names file, line and field; `run` refuses the
//! demo passwords off loopback and bad files before binding anything.

mod support;

use std::process::Command;

fn switchyard(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .output()
        .expect("run switchyard");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn check_accepts_the_shipped_dialplans() {
    for file in ["dialplans/default.toml", "dialplans/example-bank.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let (ok, text) = switchyard(&["check", path.to_str().unwrap()]);
        assert!(ok, "{file}: {text}");
        assert!(text.contains(": ok"), "{text}");
    }
}

#[test]
fn check_names_file_line_and_field() {
    let dir = support::temp_dir("cli-check");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[switch]\nrealm = \"x\"\n\n[[queues]]\nname = \"q\"\nrequires = \"\"\nring_timeout = \"20 parsecs\"\n").unwrap();
    let (ok, text) = switchyard(&["check", path.to_str().unwrap()]);
    assert!(!ok);
    let expected = format!(
        "{}:7:1: queues[0].ring_timeout: invalid duration \"20 parsecs\"",
        path.display()
    );
    assert!(text.contains(&expected), "got:\n{text}");
}

#[test]
fn run_refuses_demo_passwords_off_loopback() {
    let dir = support::temp_dir("cli-demo");
    let path = dir.join("open.toml");
    let config =
        support::test_config("10s", 5070).replace("127.0.0.1:0\"\nhttp", "0.0.0.0:0\"\nhttp");
    assert!(config.contains("sip_listen = \"0.0.0.0:0\""));
    std::fs::write(&path, config).unwrap();
    let (ok, text) = switchyard(&["run", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("agents[0].password") && text.contains("demo password"),
        "got:\n{text}"
    );
    assert!(
        !text.contains("switchyard listening sip="),
        "nothing was started"
    );
}

#[test]
fn run_refuses_a_missing_file() {
    let (ok, text) = switchyard(&["run", "--config", "/nonexistent/switchyard.toml"]);
    assert!(!ok);
    assert!(
        text.contains("/nonexistent/switchyard.toml"),
        "got:\n{text}"
    );
}
