//! Commands on the pure switch in virtual time: each command, each error.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::call::Outcome;
use crate::config::Config;
use crate::sip::parse::Message;
use crate::sip::{Peer, Transport};
use crate::switch::{Output, Plan};

const CONFIG: &str = r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"

[[agents]]
id = "1001"
password = "pw-1001"
skills = { support = 5 }

[[agents]]
id = "1002"
password = "pw-1002"
skills = { sales = 5 }

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.0/8"]

[dids]
"5550200" = { queue = "support" }

[[queues]]
name = "support"
requires = "support:1"

[[queues]]
name = "sales"
requires = "sales:1"
"#;

#[allow(clippy::disallowed_methods)]
fn start() -> (Switch, Instant) {
    let cfg = Config::parse(CONFIG, Path::new("test.toml")).expect("valid config");
    let t0 = Instant::now();
    (Switch::new(Plan::from_config(&cfg), 1, t0), t0)
}

fn agents(switch: &mut Switch, now: Instant) -> Vec<AgentSnapshot> {
    match switch.handle_command(now, Command::ListAgents) {
        Ok(Reply::Agents { agents }) => agents,
        other => panic!("{other:?}"),
    }
}

fn agent(switch: &mut Switch, now: Instant, id: &str) -> AgentSnapshot {
    let all = agents(switch, now);
    all.into_iter().find(|a| a.id == id).expect("listed")
}

fn run(switch: &mut Switch, now: Instant, command: Command) -> Result<Reply, CommandError> {
    switch.handle_command(now, command)
}

fn login(agent: &str, queue: Option<&str>) -> Command {
    Command::AgentLogin {
        agent: agent.into(),
        queue: queue.map(str::to_string),
    }
}

fn pause(agent: &str, reason: &str) -> Command {
    Command::AgentPause {
        agent: agent.into(),
        reason: reason.into(),
    }
}

#[test]
fn login_joins_the_queues_and_unknown_or_unqualified_names_are_refused() {
    let (mut s, t0) = start();
    assert_eq!(agent(&mut s, t0, "1001").state, "logged_out");
    assert_eq!(run(&mut s, t0, login("1001", None)), Ok(Reply::Done));
    let a = agent(&mut s, t0, "1001");
    assert_eq!(
        (a.state, a.queues),
        ("available", vec!["support".to_string()])
    );
    assert_eq!(
        run(&mut s, t0, login("1002", Some("support"))),
        Err(CommandError::NotQualified {
            agent: "1002".into(),
            queue: "support".into()
        })
    );
    assert_eq!(
        run(&mut s, t0, login("9999", None)),
        Err(CommandError::UnknownAgent("9999".into()))
    );
    assert_eq!(
        run(&mut s, t0, login("1001", Some("nope"))),
        Err(CommandError::UnknownQueue("nope".into()))
    );
}

#[test]
fn pause_keeps_its_free_text_and_resume_needs_a_pause() {
    let (mut s, t0) = start();
    run(&mut s, t0, login("1001", None)).unwrap();
    assert_eq!(
        run(&mut s, t0, pause("1001", " team meeting ")),
        Ok(Reply::Done)
    );
    let a = agent(&mut s, t0, "1001");
    assert_eq!(a.state, "paused");
    assert_eq!(a.pause_reason.as_deref(), Some("team meeting"));
    run(&mut s, t0, pause("1001", "Lunch")).unwrap();
    assert_eq!(
        agent(&mut s, t0, "1001").pause_reason.as_deref(),
        Some("lunch")
    );
    let resume = || Command::AgentResume {
        agent: "1001".into(),
    };
    assert_eq!(run(&mut s, t0, resume()), Ok(Reply::Done));
    assert_eq!(agent(&mut s, t0, "1001").state, "available");
    assert_eq!(
        run(&mut s, t0, resume()),
        Err(CommandError::NotPaused("1001".into()))
    );
    assert_eq!(
        run(&mut s, t0, pause("1001", "")),
        Err(CommandError::PauseReason)
    );
    let long = "x".repeat(PAUSE_REASON_CHARS_MAX + 1);
    assert_eq!(
        run(&mut s, t0, pause("1001", &long)),
        Err(CommandError::PauseReason)
    );
}

#[test]
fn logout_then_pause_is_refused_and_wrap_up_cannot_end_when_not_in_it() {
    let (mut s, t0) = start();
    run(&mut s, t0, login("1001", None)).unwrap();
    let logout = |queue: Option<&str>| Command::AgentLogout {
        agent: "1001".into(),
        queue: queue.map(str::to_string),
    };
    assert_eq!(
        run(&mut s, t0, logout(Some("sales"))),
        Err(CommandError::NotInQueue {
            agent: "1001".into(),
            queue: "sales".into()
        })
    );
    assert_eq!(run(&mut s, t0, logout(None)), Ok(Reply::Done));
    assert_eq!(agent(&mut s, t0, "1001").state, "logged_out");
    assert_eq!(
        run(&mut s, t0, pause("1001", "break")),
        Err(CommandError::LoggedOut("1001".into()))
    );
    let end = Command::EndWrapUp {
        agent: "1001".into(),
    };
    assert_eq!(
        run(&mut s, t0, end),
        Err(CommandError::NotInWrapUp("1001".into()))
    );
}

#[test]
fn new_skills_change_the_queues_a_login_joins() {
    let (mut s, t0) = start();
    let skills = |level: u8| Command::SetSkills {
        agent: "1001".into(),
        skills: [("sales".to_string(), level)].into_iter().collect(),
    };
    assert_eq!(
        run(&mut s, t0, skills(11)),
        Err(CommandError::SkillLevel {
            skill: "sales".into(),
            level: 11
        })
    );
    assert_eq!(run(&mut s, t0, skills(3)), Ok(Reply::Done));
    run(&mut s, t0, login("1001", None)).unwrap();
    assert_eq!(agent(&mut s, t0, "1001").queues, vec!["sales".to_string()]);
}

#[test]
fn queues_are_listed_in_config_order() {
    let (mut s, t0) = start();
    let Ok(Reply::Queues { queues }) = run(&mut s, t0, Command::ListQueues) else {
        panic!("queues");
    };
    let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["support", "sales"]);
}

fn invite(did: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:{did}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKq1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c1\r\nTo: <sip:{did}@127.0.0.1>\r\n\
         Call-ID: queued-1\r\nCSeq: 1 INVITE\r\nContact: <sip:c@10.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn carrier() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: "10.0.0.1:5060".parse().unwrap(),
    }
}

#[test]
fn hang_up_ends_a_queued_call_with_480_and_one_record() {
    let (mut s, t0) = start();
    run(&mut s, t0, login("1001", None)).unwrap();
    s.handle_datagram(t0, carrier(), invite("5550200"));
    while s.poll_output().is_some() {}
    let t1 = t0 + Duration::from_secs(3);
    let Ok(Reply::Calls { calls }) = run(&mut s, t1, Command::ListCalls) else {
        panic!("calls");
    };
    assert_eq!(calls.len(), 1);
    let (id, phase, age) = (calls[0].id, calls[0].phase, calls[0].age_ms);
    assert_eq!((phase, age), ("queued", 3_000));
    assert_eq!(calls[0].queue_wait_ms, Some(3_000), "queued on arrival");
    assert_eq!(
        run(&mut s, t1, Command::HangUp { call: id }),
        Ok(Reply::Done)
    );
    let mut statuses = Vec::new();
    let mut records = Vec::new();
    while let Some(out) = s.poll_output() {
        match out {
            Output::Transmit { bytes, .. } => {
                statuses.push(Message::parse(bytes).unwrap().status());
            }
            Output::CallEnded(r) => records.push(r),
            _ => {}
        }
    }
    assert!(statuses.contains(&Some(480)), "{statuses:?}");
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].uuid, records[0].outcome),
        (id, Outcome::Operator)
    );
    assert_eq!(s.calls_active(), 0);
    assert_eq!(
        run(&mut s, t1, Command::HangUp { call: id }),
        Err(CommandError::UnknownCall(id))
    );
}

#[test]
fn originate_checks_the_agent_and_its_phone_first() {
    let (mut s, t0) = start();
    let originate = |agent: &str| Command::Originate {
        agent: agent.into(),
        number: "5551234".into(),
    };
    assert_eq!(
        run(&mut s, t0, originate("9999")),
        Err(CommandError::UnknownAgent("9999".into()))
    );
    assert_eq!(
        run(&mut s, t0, originate("1001")),
        Err(CommandError::NotRegistered("1001".into()))
    );
}

#[test]
fn commands_and_replies_read_as_json() {
    let command: Command =
        serde_json::from_str(r#"{"type":"agent_pause","agent":"1001","reason":"lunch"}"#).unwrap();
    assert_eq!(command, pause("1001", "lunch"));
    let (mut s, t0) = start();
    let reply = run(&mut s, t0, Command::ListAgents).unwrap();
    let json = serde_json::to_value(&reply).unwrap();
    assert_eq!(json["type"], "agents");
    assert_eq!(json["agents"][0]["id"], "1001");
    assert_eq!(json["agents"][0]["state"], "logged_out");
}
