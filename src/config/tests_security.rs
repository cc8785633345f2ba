//! `[security]` and `[[dial_rules]]`: defaults, and every mistake named
//! by line and field.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("t.toml"))
}

fn problems(text: &str) -> Vec<(usize, String)> {
    parse(text)
        .unwrap_err()
        .problems()
        .iter()
        .map(|p| (p.line, p.field.clone()))
        .collect()
}

#[test]
fn no_security_section_means_the_defaults() {
    let c = parse("").expect("valid");
    assert_eq!(c.security, SecurityConfig::default());
    assert_eq!(c.security.max_contacts, 1);
    assert!(c.security.trust_loopback && c.security.trust_trunks);
    assert_eq!(c.security.server_header, "switchyard");
    assert!(c.dial_rules.is_empty());
}

#[test]
fn security_keys_are_read() {
    let text = "[security]\nauth_attempts = 3\nauth_window = \"1m\"\nauth_ban = \"2h\"\n\
                auth_backoff = \"200ms\"\ntrusted = [\"10.0.0.0/8\"]\ntrust_loopback = false\n\
                requests_burst = 5\nrequests_per_second = 1\nrequests_refused_answered = 0\n\
                max_contacts = 2\nremove_existing = false\nserver_header = \"pbx\"\n";
    let s = parse(text).expect("valid").security;
    assert_eq!(
        (s.auth_attempts, s.auth_window),
        (3, Duration::from_secs(60))
    );
    assert_eq!(
        (s.auth_ban, s.auth_backoff),
        (Duration::from_secs(7200), Duration::from_millis(200))
    );
    assert_eq!(s.trusted.len(), 1);
    assert!(!s.trust_loopback && !s.remove_existing);
    assert_eq!(
        (
            s.requests_burst,
            s.requests_per_second,
            s.requests_refused_answered
        ),
        (5, 1, 0)
    );
    assert_eq!((s.max_contacts, s.server_header.as_str()), (2, "pbx"));
}

#[test]
fn bad_security_values_name_line_and_field() {
    let text = "[security]\nauth_attempts = 0\nauth_ban = \"0s\"\ntrusted = [\"10.0.0.1/8\"]\n\
                max_contacts = 99\ndial_rules = \"nope\"\nserver_header = \"a\\r\\nb\"\n";
    assert_eq!(
        problems(text),
        vec![
            (2, "security.auth_attempts".to_string()),
            (3, "security.auth_ban".to_string()),
            (4, "security.trusted[0]".to_string()),
            (5, "security.max_contacts".to_string()),
            (6, "security.dial_rules".to_string()),
            (7, "security.server_header".to_string()),
        ]
    );
}

#[test]
fn dial_rule_sets_parse_and_bad_patterns_and_names_are_refused() {
    let text = "[[dial_rules]]\nname = \"local\"\nallow = [\"555{7}\", \"*\"]\ndeny = [\"900\"]\n";
    let c = parse(text).expect("valid");
    assert_eq!(c.dial_rules[0].rules.allow.len(), 2);
    let text =
        "[[agents]]\nid = \"1001\"\npassword = \"pw\"\ndial_rules = \"gone\"\nmax_contacts = 0\n\n\
                [[dial_rules]]\nname = \"local\"\nallow = [\"55x\"]\ndeny = [\"9{3\"]\n\n\
                [[dial_rules]]\nname = \"local\"\n";
    assert_eq!(
        problems(text),
        vec![
            (4, "agents[0].dial_rules".to_string()),
            (5, "agents[0].max_contacts".to_string()),
            (9, "dial_rules[0].allow[0]".to_string()),
            (10, "dial_rules[0].deny[0]".to_string()),
            (13, "dial_rules[1].name".to_string()),
        ]
    );
}

#[test]
fn an_agent_takes_its_own_rules_then_the_sections_then_the_built_in_ones() {
    let text =
        "[security]\ndial_rules = \"all\"\n\n[[dial_rules]]\nname = \"all\"\nallow = [\"*\"]\n\n\
                [[dial_rules]]\nname = \"none\"\n\n\
                [[agents]]\nid = \"1001\"\npassword = \"pw\"\ndial_rules = \"none\"\n\n\
                [[agents]]\nid = \"1002\"\npassword = \"pw\"\n";
    let c = parse(text).expect("valid");
    assert!(c.dial_rules_for("1001").check("5551234").is_err());
    assert!(c.dial_rules_for("1002").check("9005551234").is_ok());
    let c = parse("").expect("valid");
    assert!(c.dial_rules_for("1001").check("9005551234").is_err());
}

#[test]
fn trunk_priority_checks_and_registration_are_read_with_defaults() {
    let text = "[[trunks]]\nname = \"a\"\noutbound = { address = \"127.0.0.1:5070\" }\n\
                [[trunks]]\nname = \"b\"\noutbound = { address = \"127.0.0.1:5071\", priority = 0, \
                options_interval = \"30s\", options_down_after = 2, register = true, \
                register_expires = \"10m\", username = \"sw\", password = \"pw\" }\n";
    let c = parse(text).expect("valid");
    let a = c.trunks[0].outbound.clone().expect("outbound");
    assert_eq!(a.priority, TRUNK_PRIORITY_DEFAULT);
    assert_eq!(a.options_interval, None);
    assert_eq!(a.options_down_after, OPTIONS_DOWN_AFTER_DEFAULT);
    assert_eq!(a.register, None);
    let b = c.trunks[1].outbound.clone().expect("outbound");
    assert_eq!(b.priority, 0);
    assert_eq!(b.options_interval, Some(Duration::from_secs(30)));
    assert_eq!(b.options_down_after, 2);
    assert_eq!(b.register, Some(Duration::from_secs(600)));
}

#[test]
fn trunk_outbound_mistakes_are_named_by_line_and_field() {
    let text = "[[trunks]]\nname = \"a\"\n\
                outbound = { address = \"127.0.0.1:5070\", priority = -1, options_interval = \"2h\", \
                options_down_after = 0, register_expires = \"5s\" }\n\
                [[trunks]]\nname = \"b\"\noutbound = { address = \"127.0.0.1:5071\", register = true }\n";
    let got = problems(text);
    let want = [
        (3, "trunks[0].outbound.options_interval"),
        (3, "trunks[0].outbound.options_down_after"),
        (3, "trunks[0].outbound.register_expires"),
        (3, "trunks[0].outbound.priority"),
        (6, "trunks[1].outbound.register"),
    ];
    for (line, field) in want {
        assert!(
            got.contains(&(line, field.to_string())),
            "{field} at line {line} not in {got:?}"
        );
    }
    assert_eq!(got.len(), want.len(), "{got:?}");
    let message = parse(text).unwrap_err().to_string();
    assert!(
        message.contains("needs `username` and `password`"),
        "{message}"
    );
}
