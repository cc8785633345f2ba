//! Commands over the running switch's channel (issue 9): the switch runs
//! in this process on 127.0.0.1; a pause sent through its
//! [`CommandSender`] makes the next queue call skip that agent, and a
//! resume makes them available again; the event stream tells both.

// A driver of real sockets: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::{free_udp_port, temp_dir, test_config, MediaCaller, Phone};
use switchyard::config::Config;
use switchyard::sip::parse::Method;
use switchyard::switch::{Command, EventKind, Reply};

/// How long a phone that must stay silent is listened to.
const QUIET_FOR: Duration = Duration::from_secs(1);

fn state_of(reply: Reply, agent: &str) -> String {
    let Reply::Agents { agents } = reply else {
        panic!("not an agent list: {reply:?}");
    };
    let a = agents.iter().find(|a| a.id == agent).expect("listed");
    a.state.to_string()
}

#[test]
fn a_pause_sent_over_the_channel_makes_the_next_offer_skip_the_agent() {
    let dir = temp_dir("command-channel");
    let cdr = dir.join("cdr.sqlite");
    let text = test_config("10s", free_udp_port())
        .replace("cdr_path = \"cdr.sqlite\"", &format!("cdr_path = {cdr:?}"));
    let config = Config::parse(&text, Path::new("test.toml")).expect("valid config");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let running = rt
        .block_on(switchyard::run::start(config))
        .expect("switch starts");
    let commands = running.commands.clone();
    let mut events = running.subscribe();

    // 1001 registers first: idle longest, the router's pick.
    let mut phone_1001 = Phone::new(running.sip_addr);
    let contact = phone_1001.addr;
    assert_eq!(
        phone_1001
            .register("1001", "demo-1001", contact, 300)
            .status(),
        Some(200)
    );
    let mut phone_1002 = Phone::new(running.sip_addr);
    let contact = phone_1002.addr;
    assert_eq!(
        phone_1002
            .register("1002", "demo-1002", contact, 300)
            .status(),
        Some(200)
    );

    let pause = Command::AgentPause {
        agent: "1001".into(),
        reason: "coaching".into(),
    };
    assert_eq!(rt.block_on(commands.send(pause)), Ok(Reply::Done));
    let agents = rt.block_on(commands.send(Command::ListAgents)).unwrap();
    assert_eq!(state_of(agents, "1001"), "paused");

    let mut caller = MediaCaller::new(running.sip_addr, "5550200");
    caller.invite(100);
    let offer = phone_1002.recv();
    assert_eq!(
        offer.method(),
        Some(&Method::Invite),
        "1002 is offered the call"
    );
    assert!(
        phone_1001.try_recv(QUIET_FOR).is_none(),
        "the paused agent's phone got a message"
    );

    let resume = Command::AgentResume {
        agent: "1001".into(),
    };
    assert_eq!(rt.block_on(commands.send(resume)), Ok(Reply::Done));
    let agents = rt.block_on(commands.send(Command::ListAgents)).unwrap();
    assert_eq!(state_of(agents, "1001"), "available");
    // The stream told the pause (with its reason) and the resume, in order.
    let mut states = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EventKind::AgentState {
            agent,
            state,
            reason,
            ..
        } = event.kind
        {
            if agent == "1001" {
                states.push((state, reason));
            }
        }
    }
    let coaching = Some("coaching".to_string());
    assert_eq!(
        states,
        [
            ("available", None),
            ("paused", coaching),
            ("available", None)
        ]
    );
    running.stop();
    rt.block_on(running.wait());
    let _ = std::fs::remove_dir_all(dir);
}
