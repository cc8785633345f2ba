//! The `[api]` section: tokens, roles, bounds, and the demo token refused
//! off loopback.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("t.toml"))
}

#[test]
fn no_api_section_means_no_tokens_and_the_default_bounds() {
    let c = parse("").expect("empty config is valid");
    assert!(c.api.tokens.is_empty());
    assert_eq!(c.api.connections_max, HTTP_CONNECTIONS_DEFAULT);
    assert!(c.api.open_metrics);
}

#[test]
fn tokens_carry_their_role() {
    let text = "[api]\ntokens = [\n  { name = \"ops\", token = \"s3cret\", role = \"supervisor\" },\n]\nconnections_max = 8\nopen_metrics = false\n";
    let c = parse(text).expect("valid");
    assert_eq!(c.api.tokens.len(), 1);
    assert_eq!(c.api.tokens[0].role, Role::Supervisor);
    assert_eq!(c.api.tokens[0].token_at.line, 3);
    assert_eq!(c.api.connections_max, 8);
    assert!(!c.api.open_metrics);
}

#[test]
fn a_bad_role_an_empty_token_and_a_zero_cap_name_line_and_field() {
    let text = "[api]\ntokens = [\n  { name = \"a\", token = \"x\", role = \"root\" },\n  { name = \"b\", token = \"\", role = \"viewer\" },\n]\nconnections_max = 0\n";
    let err = parse(text).unwrap_err();
    let got: Vec<(usize, String)> = err
        .problems()
        .iter()
        .map(|p| (p.line, p.field.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (3, "api.tokens[0].role".to_string()),
            (4, "api.tokens[1].token".to_string()),
            (6, "api.connections_max".to_string()),
        ]
    );
    assert!(err.to_string().contains("t.toml:3:"), "{err}");
}

#[test]
fn the_demo_token_is_refused_off_loopback_only() {
    let text = |listen: &str| {
        format!("[switch]\nhttp_listen = \"{listen}\"\n\n[api]\ntokens = [{{ name = \"demo\", token = \"demo-token\", role = \"admin\" }}]\n")
    };
    let local = parse(&text("127.0.0.1:8080")).expect("valid");
    assert!(local.check_listen_safety().is_ok());
    let public = parse(&text("0.0.0.0:8080")).expect("valid");
    let err = public.check_listen_safety().unwrap_err();
    let p = &err.problems()[0];
    assert_eq!((p.line, p.field.as_str()), (5, "api.tokens[0].token"));
    assert!(matches!(p.kind, ProblemKind::DemoTokenExposed { .. }));
}

#[test]
fn timeouts_take_durations_and_refuse_zero() {
    let c = parse("[api]\nheader_timeout = \"2s\"\nidle_timeout = \"5m\"\n").expect("valid");
    assert_eq!(c.api.header_timeout, std::time::Duration::from_secs(2));
    assert_eq!(c.api.idle_timeout, std::time::Duration::from_secs(300));
    assert_eq!(
        parse("").expect("valid").api.idle_timeout,
        HTTP_IDLE_TIMEOUT
    );
    let err = parse("[api]\nidle_timeout = \"0s\"\n").unwrap_err();
    let p = &err.problems()[0];
    assert_eq!((p.line, p.field.as_str()), (2, "api.idle_timeout"));
}
