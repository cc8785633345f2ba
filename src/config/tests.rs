//! Each validation, with the exact line, column and field it reports.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("t.toml"))
}

fn problems(text: &str) -> Vec<Problem> {
    match parse(text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(e) => e.problems().to_vec(),
    }
}

/// The only problem in `text`, as (line, column, field).
fn only(text: &str) -> (usize, usize, String, ProblemKind) {
    let p = problems(text);
    assert_eq!(p.len(), 1, "expected one problem, got {p:#?}");
    let p = p.into_iter().next().expect("one problem");
    (p.line, p.column, p.field, p.kind)
}

const AGENT: &str = "[[agents]]\nid = \"1001\"\npassword = \"pw\"\nskills = { support = 5 }\nattributes = { language = \"en\" }\n";

#[test]
fn minimal_config_takes_every_default() {
    let c = parse("").expect("empty file is a valid, empty centre");
    assert_eq!(
        c.switch.sip_listen,
        "127.0.0.1:5060".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        c.switch.http_listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.switch.realm, "switchyard");
    assert_eq!(c.switch.no_answer_timeout, Duration::from_secs(30));
    assert_eq!(c.switch.max_calls, 10_000);
    assert_eq!(c.switch.registration.min_expires, Duration::from_secs(60));
    assert_eq!(
        c.switch.registration.default_expires,
        Duration::from_secs(3600)
    );
    let c = parse(&format!(
        "{AGENT}[[queues]]\nname = \"q\"\nrequires = \"support:1\"\n"
    ))
    .unwrap();
    let q = &c.queues[0];
    assert_eq!(q.strategy, Strategy::LongestIdle);
    assert_eq!(q.ring_timeout, Duration::from_secs(15));
    assert_eq!(q.wrap_up, Duration::from_secs(5));
    assert_eq!(q.max_length, 50);
    assert_eq!(q.max_wait, Duration::from_secs(300));
    assert_eq!(q.overflow, Overflow::Busy);
    assert_eq!(q.when_no_agents, WhenNoAgents::Join);
    assert_eq!(
        q.service_level,
        ServiceLevel {
            within: Duration::from_secs(20),
            target: 0.8
        }
    );
    let a = &c.agents[0];
    assert!(!a.auto_login);
    assert_eq!(a.max_no_answer, 3);
    assert_eq!(a.password_at, Location { line: 3, column: 1 });
}

#[test]
fn bad_duration_names_line_field_and_the_value() {
    let text = format!("{AGENT}[[queues]]\nname = \"q\"\nrequires = \"support:1\"\nring_timeout = \"20 parsecs\"\n");
    let problems = problems(&text);
    assert_eq!(
        problems[0].to_string(),
        "t.toml:9:1: queues[0].ring_timeout: invalid duration \"20 parsecs\" (expected e.g. 500ms, 20s, 5m)"
    );
}

#[test]
fn zero_ring_timeout_is_refused_but_zero_wrap_up_is_not() {
    let text = format!("{AGENT}[[queues]]\nname = \"q\"\nrequires = \"support:1\"\nwrap_up = \"0s\"\nring_timeout = \"0ms\"\n");
    let (line, _, field, kind) = only(&text);
    assert_eq!((line, field.as_str()), (10, "queues[0].ring_timeout"));
    assert!(matches!(kind, ProblemKind::DurationOutOfRange { .. }));
}

#[test]
fn bad_socket_address_in_inline_table_points_at_its_key() {
    let text = "[switch]\nsip_listen = \"127.0.0.1\"\n";
    let (line, column, field, kind) = only(text);
    assert_eq!((line, column, field.as_str()), (2, 1, "switch.sip_listen"));
    assert_eq!(
        kind,
        ProblemKind::InvalidSocketAddr {
            value: "127.0.0.1".into()
        }
    );
    let text = "[[trunks]]\nname = \"t\"\noutbound = { address = \"nowhere:5060\" }\n";
    let (line, column, field, _) = only(text);
    assert_eq!(
        (line, column, field.as_str()),
        (3, 14, "trunks[0].outbound.address")
    );
}

#[test]
fn bad_cidr_names_the_array_element() {
    let text = "[[trunks]]\nname = \"t\"\nallow_from = [\"127.0.0.1\", \"10.0.0.1/8\"]\n";
    let (line, column, field, kind) = only(text);
    assert_eq!(
        (line, column, field.as_str()),
        (3, 28, "trunks[0].allow_from[1]")
    );
    assert!(matches!(kind, ProblemKind::CidrHostBits { .. }));
}

#[test]
fn skill_level_outside_one_to_ten_is_refused() {
    let text = "[[agents]]\nid = \"1\"\npassword = \"p\"\nskills = { a = 11, b = 0 }\n";
    let p = problems(text);
    let got: Vec<_> = p
        .iter()
        .map(|p| (p.line, p.column, p.field.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(4, 12, "agents[0].skills.a"), (4, 20, "agents[0].skills.b")]
    );
    assert_eq!(
        p[0].kind,
        ProblemKind::OutOfRange {
            value: "11".into(),
            min: 1,
            max: 10
        }
    );
}

#[test]
fn duplicate_agent_ids_and_queue_names_name_the_first_line() {
    let text = format!("{AGENT}{AGENT}");
    let (line, _, field, kind) = only(&text);
    assert_eq!((line, field.as_str()), (7, "agents[1].id"));
    assert_eq!(
        kind,
        ProblemKind::Duplicate {
            value: "1001".into(),
            first_line: 2
        }
    );
    let q = "[[queues]]\nname = \"q\"\nrequires = \"support:1\"\n";
    let (line, _, field, _) = only(&format!("{AGENT}{q}{q}"));
    assert_eq!((line, field.as_str()), (10, "queues[1].name"));
}

#[test]
fn did_pointing_nowhere_names_its_target_field() {
    let text = format!("{AGENT}[dids]\n\"5550100\" = {{ agent = \"1009\" }}\n\"5550200\" = {{ queue = \"nope\" }}\n");
    let p = problems(&text);
    let got: Vec<_> = p
        .iter()
        .map(|p| (p.line, p.field.as_str(), p.kind.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                7,
                "dids.5550100.agent",
                ProblemKind::UnknownAgent {
                    agent: "1009".into()
                }
            ),
            (
                8,
                "dids.5550200.queue",
                ProblemKind::UnknownQueue {
                    queue: "nope".into()
                }
            ),
        ]
    );
}

#[test]
fn did_must_be_digits_with_optional_plus_and_one_target() {
    let text = format!("{AGENT}[dids]\n\"555-0100\" = {{ agent = \"1001\" }}\n\"+49\" = {{ }}\n");
    let p = problems(&text);
    let got: Vec<_> = p.iter().map(|p| (p.line, p.field.as_str())).collect();
    assert_eq!(got, vec![(7, "dids.555-0100"), (8, "dids.\"+49\"")]);
    assert!(matches!(p[0].kind, ProblemKind::InvalidDid { .. }));
    assert_eq!(p[1].kind, ProblemKind::DidTargetCount);
}

#[test]
fn did_priority_only_for_queues_and_within_range() {
    let q = "[[queues]]\nname = \"q\"\nrequires = \"support:1\"\n";
    let text = format!("{AGENT}{q}[dids]\n\"1\" = {{ agent = \"1001\", priority = 1 }}\n\"2\" = {{ queue = \"q\", priority = 10 }}\n");
    let p = problems(&text);
    let got: Vec<_> = p
        .iter()
        .map(|p| (p.line, p.field.as_str(), p.kind.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (10, "dids.1.priority", ProblemKind::PriorityWithoutQueue),
            (
                11,
                "dids.2.priority",
                ProblemKind::OutOfRange {
                    value: "10".into(),
                    min: 0,
                    max: 9
                }
            ),
        ]
    );
}

#[test]
fn overflow_to_a_missing_queue_is_refused() {
    let text = format!(
        "{AGENT}[[queues]]\nname = \"a\"\nrequires = \"support:1\"\noverflow = \"queue:b\"\n"
    );
    let (line, _, field, kind) = only(&text);
    assert_eq!((line, field.as_str()), (9, "queues[0].overflow"));
    assert_eq!(kind, ProblemKind::UnknownQueue { queue: "b".into() });
    let text = format!(
        "{AGENT}[[queues]]\nname = \"a\"\nrequires = \"support:1\"\noverflow = \"elsewhere\"\n"
    );
    assert!(matches!(only(&text).3, ProblemKind::InvalidOverflow { .. }));
}

#[test]
fn overflow_cycle_is_reported_once_at_its_first_queue() {
    let q = |name: &str, next: &str| {
        format!("[[queues]]\nname = \"{name}\"\nrequires = \"support:1\"\noverflow = \"queue:{next}\"\n")
    };
    let text = format!("{AGENT}{}{}{}", q("a", "b"), q("b", "c"), q("c", "a"));
    let (line, _, field, kind) = only(&text);
    assert_eq!((line, field.as_str()), (9, "queues[0].overflow"));
    assert_eq!(
        kind,
        ProblemKind::OverflowCycle {
            cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()]
        }
    );
    let (_, _, field, _) = only(&format!("{AGENT}{}", q("self", "self")));
    assert_eq!(field, "queues[0].overflow");
}

#[test]
fn overflow_chain_that_ends_is_accepted() {
    let q = |name: &str, next: &str| {
        format!("[[queues]]\nname = \"{name}\"\nrequires = \"support:1\"\noverflow = \"{next}\"\n")
    };
    let c = parse(&format!("{AGENT}{}{}", q("a", "queue:b"), q("b", "busy"))).unwrap();
    assert_eq!(c.queues[0].overflow, Overflow::Queue("b".into()));
}

#[test]
fn requires_syntax_error_points_inside_the_string() {
    let text = format!("{AGENT}[[queues]]\nname = \"q\"\nrequires = \"support:5 & | x:1\"\n");
    let (line, column, field, kind) = only(&text);
    // `requires = "` is 12 characters; the error is at column 13 inside.
    assert_eq!(
        (line, column, field.as_str()),
        (8, 12 + 13, "queues[0].requires")
    );
    assert!(matches!(
        kind,
        ProblemKind::RequireSyntax {
            error: RequireError::ExpectedName { column: 13 },
            ..
        }
    ));
}

#[test]
fn required_skill_or_attribute_on_no_agent_is_an_error_naming_it() {
    let text = format!("{AGENT}[[queues]]\nname = \"q\"\nrequires = \"billing:1 & site=north\"\n");
    let p = problems(&text);
    let got: Vec<_> = p
        .iter()
        .map(|p| (p.line, p.field.as_str(), p.kind.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                8,
                "queues[0].requires",
                ProblemKind::SkillNotOnAnyAgent {
                    skill: "billing".into()
                }
            ),
            (
                8,
                "queues[0].requires",
                ProblemKind::AttributeNotOnAnyAgent {
                    attribute: "site".into()
                }
            ),
        ]
    );
    assert!(p[0].to_string().contains("error (not just a warning)"));
}

#[test]
fn relax_steps_must_come_later_each_time() {
    let text = format!(
        "{AGENT}[[queues]]\nname = \"q\"\nrequires = \"support:5\"\nrelax = [\n  {{ after = \"60s\", requires = \"support:3\" }},\n  {{ after = \"30s\", requires = \"support:1\" }},\n]\n"
    );
    let (line, column, field, kind) = only(&text);
    assert_eq!(
        (line, column, field.as_str()),
        (11, 5, "queues[0].relax[1].after")
    );
    assert_eq!(
        kind,
        ProblemKind::RelaxNotIncreasing {
            after: Duration::from_secs(30),
            previous: Duration::from_secs(60)
        }
    );
}

#[test]
fn service_level_target_must_be_in_zero_one() {
    for bad in ["0", "0.0", "1.5", "-0.2", "nan"] {
        let text = format!("{AGENT}[[queues]]\nname = \"q\"\nrequires = \"support:1\"\nservice_level = {{ target = {bad} }}\n");
        let (line, column, field, _) = only(&text);
        assert_eq!(
            (line, column, field.as_str()),
            (9, 19, "queues[0].service_level.target"),
            "{bad}"
        );
    }
    let text = format!("{AGENT}[[queues]]\nname = \"q\"\nrequires = \"support:1\"\nservice_level = {{ target = 1 }}\n");
    assert_eq!(parse(&text).unwrap().queues[0].service_level.target, 1.0);
}

#[test]
fn empty_passwords_and_half_credentials_are_refused() {
    let (line, _, field, kind) = only("[[agents]]\nid = \"1\"\npassword = \"\"\n");
    assert_eq!(
        (line, field.as_str(), kind),
        (3, "agents[0].password", ProblemKind::Empty)
    );
    let text = "[[trunks]]\nname = \"t\"\nallow_from = [\"::1\"]\ninbound_username = \"u\"\n";
    let (line, _, field, _) = only(text);
    assert_eq!((line, field.as_str()), (4, "trunks[0].inbound_username"));
    let text = "[[trunks]]\nname = \"t\"\noutbound = { address = \"127.0.0.1:5070\", username = \"u\", password = \"\" }\n";
    let (line, _, field, _) = only(text);
    assert_eq!((line, field.as_str()), (3, "trunks[0].outbound.password"));
}

#[test]
fn unknown_keys_are_errors_at_the_key() {
    let text = "[[agents]]\nid = \"1\"\npasword = \"p\"\n";
    let (line, column, field, kind) = only(text);
    assert_eq!((line, column, field.as_str()), (3, 1, "agents[0].pasword"));
    assert!(
        matches!(kind, ProblemKind::Schema { message } if message.contains("unknown field `pasword`"))
    );
    let (line, _, field, kind) = only("[switchh]\n");
    assert_eq!((line, field.as_str()), (1, "switchh"));
    assert_eq!(
        kind,
        ProblemKind::UnknownSection {
            name: "switchh".into()
        }
    );
}

#[test]
fn wrong_types_negative_and_huge_numbers_name_their_field() {
    let (line, _, field, _) = only("[switch]\nmax_calls = \"many\"\n");
    assert_eq!((line, field.as_str()), (2, "switch.max_calls"));
    let (line, _, field, kind) = only("[switch]\nmax_calls = -1\n");
    assert_eq!((line, field.as_str()), (2, "switch.max_calls"));
    assert!(matches!(kind, ProblemKind::OutOfRange { .. }));
    let (line, _, field, _) = only("[switch]\n\nmax_calls = 99999999999999999999999\n");
    assert_eq!((line, field.as_str()), (3, "switch.max_calls"));
    let (line, _, field, _) = only("agents = 3\n");
    assert_eq!((line, field.as_str()), (1, "agents"));
}

#[test]
fn several_problems_come_back_at_once_in_file_order() {
    let text = "[switch]\nrealm = \"\"\nmax_calls = 0\n[[agents]]\nid = \"a b\"\npassword = \"p\"\n[[agents]]\nid = 5\n";
    let p = problems(text);
    let got: Vec<_> = p.iter().map(|p| (p.line, p.field.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (2, "switch.realm"),
            (3, "switch.max_calls"),
            (5, "agents[0].id"),
            (8, "agents[1].id")
        ]
    );
    let shown = ConfigError::Invalid { problems: p }.to_string();
    assert_eq!(shown.lines().count(), 4);
}

#[test]
fn broken_toml_is_a_syntax_problem_with_its_line() {
    let p = problems("[switch]\nrealm = \"x\"\nmax_calls = \n");
    assert_eq!(p[0].line, 3);
    assert!(matches!(p[0].kind, ProblemKind::Syntax { .. }));
}

#[test]
fn registration_expires_must_be_ordered() {
    let text = "[switch]\nregistration = { min_expires = \"1h\", default_expires = \"60s\" }\n";
    let (line, _, field, kind) = only(text);
    assert_eq!((line, field.as_str()), (2, "switch.registration"));
    assert!(matches!(kind, ProblemKind::ExpiresOrder { .. }));
}

#[test]
fn demo_passwords_are_refused_beyond_loopback() {
    let demo = "[[agents]]\nid = \"1001\"\npassword = \"demo-1001\"\n";
    let local = parse(demo).unwrap();
    assert!(local.check_listen_safety().is_ok());
    let public = parse(&format!("[switch]\nsip_listen = \"0.0.0.0:5060\"\n{demo}")).unwrap();
    let err = public.check_listen_safety().unwrap_err();
    let p = &err.problems()[0];
    assert_eq!((p.line, p.field.as_str()), (5, "agents[0].password"));
    assert!(p.to_string().contains("change the passwords"), "{p}");
    let changed = parse(
        "[switch]\nhttp_listen = \"[::]:8080\"\n[[agents]]\nid = \"1001\"\npassword = \"s3cret\"\n",
    )
    .unwrap();
    assert!(changed.check_listen_safety().is_ok());
}

#[test]
fn default_dialplan_describes_the_demo_centre() {
    let c = parse(include_str!("../../dialplans/default.toml")).unwrap();
    let ids: Vec<_> = c.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["1001", "1002", "1003", "1004"]);
    assert!(c
        .agents
        .iter()
        .all(|a| a.auto_login && a.password == format!("demo-{}", a.id)));
    assert_eq!(
        c.agent("1002").unwrap().skills,
        BTreeMap::from([("sales".into(), 6), ("support".into(), 4)])
    );
    assert_eq!(c.dids["5550100"].target, DidTarget::Agent("1001".into()));
    assert_eq!(c.dids["5550200"].target, DidTarget::Queue("support".into()));
    assert_eq!(c.dids["5550300"].target, DidTarget::Queue("sales".into()));
    assert_eq!(
        c.trunks[0].outbound.as_ref().unwrap().address,
        "127.0.0.1:5070".parse::<SocketAddr>().unwrap()
    );
    assert!(c.trunks[0].allow_from[0].contains("127.0.0.1".parse().unwrap()));
    assert!(c.check_listen_safety().is_ok());
}

#[test]
fn media_section_takes_defaults_and_its_absence_means_pass_through() {
    assert_eq!(parse("").unwrap().media, None);
    let m = parse("[media]\n").unwrap().media.expect("media section");
    assert_eq!((m.port_min, m.port_max), (20_000, 20_999));
    assert_eq!(m.rtp_address, IpAddr::from([127, 0, 0, 1]));
    assert_eq!(m.advertise_address, m.rtp_address);
    assert_eq!(m.inactivity_timeout, Duration::from_secs(60));
    assert_eq!(m.codecs.len(), 3);
    let m = parse("[media]\nrtp_ports = \"30000-30099\"\nrtp_address = \"0.0.0.0\"\nadvertise_address = \"192.0.2.7\"\ncodecs = [\"PCMA\"]\n")
        .unwrap()
        .media
        .unwrap();
    assert_eq!((m.port_min, m.port_max), (30_000, 30_099));
    assert_eq!(m.advertise_address, IpAddr::from([192, 0, 2, 7]));
    assert_eq!(m.codecs, vec![crate::media::sdp::Codec::Pcma]);
}

#[test]
fn media_port_range_without_a_pair_names_its_field() {
    let (line, _, field, kind) = only("[media]\nrtp_ports = \"20001-20002\"\n");
    assert_eq!((line, field.as_str()), (2, "media.rtp_ports"));
    assert_eq!(
        kind,
        ProblemKind::InvalidPortRange {
            value: "20001-20002".into()
        }
    );
}

#[test]
fn media_unknown_codec_and_bad_address_are_each_reported() {
    let p = problems("[media]\nrtp_address = \"localhost\"\ncodecs = [\"pcmu\", \"g729\"]\n");
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, vec!["media.rtp_address", "media.codecs[1]"]);
    let (_, _, field, kind) = only("[media]\ncodecs = []\n");
    assert_eq!(
        (field.as_str(), kind),
        ("media.codecs", ProblemKind::NoCodecs)
    );
}

#[test]
fn recording_needs_media_and_names_the_field() {
    let q = "[[queues]]\nname = \"q\"\nrequires = \"support:1\"\nrecord = true\n";
    let text = format!("{AGENT}{q}[dids]\n\"1\" = {{ agent = \"1001\", record = true }}\n");
    let p = problems(&text);
    let got: Vec<_> = p
        .iter()
        .map(|p| (p.line, p.field.as_str(), p.kind.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (9, "queues[0].record", ProblemKind::RecordWithoutMedia),
            (11, "dids.1.record", ProblemKind::RecordWithoutMedia),
        ]
    );
    let c = parse(&format!("{text}[media]\nrecordings = \"/var/rec\"\n")).unwrap();
    assert!(c.queues[0].record && c.dids["1"].record);
    assert_eq!(
        c.media.unwrap().recordings,
        std::path::PathBuf::from("/var/rec")
    );
}

#[test]
fn supervisor_is_an_agent_permission_off_by_default() {
    let c = parse(&format!(
        "{AGENT}[[agents]]\nid = \"2001\"\npassword = \"pw\"\nsupervisor = true\n"
    ))
    .unwrap();
    assert!(!c.agents[0].supervisor);
    assert!(c.agents[1].supervisor);
}

#[test]
fn a_trunks_identity_policy_is_read_and_bad_values_are_named_by_line_and_field() {
    let text = "[[trunks]]\nname = \"sbc\"\nallow_from = [\"10.0.0.1\"]\ntrust_identity = true\n\
                outbound = { address = \"10.0.0.1:5060\" }\n\
                asserted_identity = \"sip:+15550100@carrier.example\"\nprivacy = \"id;critical\"\n";
    let c = parse(text).unwrap();
    let id = &c.trunks[0].identity;
    assert!(id.trust);
    assert_eq!(
        id.asserted.as_deref(),
        Some("sip:+15550100@carrier.example")
    );
    assert_eq!(id.privacy.as_deref(), Some("id;critical"));
    // Untrusted, nothing asserted, by default.
    let plain = parse("[[trunks]]\nname = \"t\"\nallow_from = [\"10.0.0.1\"]\n").unwrap();
    assert_eq!(plain.trunks[0].identity, IdentityPolicy::default());

    let bad_uri = "[[trunks]]\nname = \"t\"\nallow_from = [\"10.0.0.1\"]\n\
                   asserted_identity = \"<sip:x@y>\"\n";
    let (line, _, field, kind) = only(bad_uri);
    assert_eq!((line, field.as_str()), (4, "trunks[0].asserted_identity"));
    assert!(
        matches!(kind, ProblemKind::InvalidIdentity { .. }),
        "{kind}"
    );
    let bad_privacy = "[[trunks]]\nname = \"t\"\nallow_from = [\"10.0.0.1\"]\n\
                       privacy = \"id;secret\"\n";
    let (line, _, field, kind) = only(bad_privacy);
    assert_eq!((line, field.as_str()), (4, "trunks[0].privacy"));
    assert_eq!(kind.to_string(), "unknown privacy value \"secret\" (expected one of: none, header, session, user, id, critical)");
}

#[test]
fn sip_workers_default_to_one_per_core_and_are_bounded() {
    assert_eq!(parse("").unwrap().switch.sip_workers, 0);
    let max = SIP_WORKERS_MAX;
    let ok = parse(&format!("[switch]\nsip_workers = {max}\n")).unwrap();
    assert_eq!(ok.switch.sip_workers, max);
    let (line, column, field, kind) = only(&format!("[switch]\nsip_workers = {}\n", max + 1));
    assert_eq!((line, column, field.as_str()), (2, 1, "switch.sip_workers"));
    let value = (max + 1).to_string();
    let max = i64::from(max);
    assert_eq!(kind, ProblemKind::OutOfRange { value, min: 0, max });
}
