//! Campaigns on the pure switch core, in virtual time: a progressive
//! campaign dials its customers through the trunk with its caller ID; an
//! answered customer rings the campaign's free agent and the relay bridges
//! the two; a busy customer is dialled again after the busy delay; a
//! do-not-call number never reaches the trunk; an answered customer with
//! no agent hears the information message and is hung up, counted as an
//! abandon. Each call leaves a record naming the campaign, the contact,
//! the attempt and the outcome. A reload reads the do-not-call lists
//! again and keeps the numbers listed through the API. Blending: an agent
//! the inbound queue needs is kept from the campaign, and a caller waiting
//! behind a campaign call backs the campaign off until the queue is back
//! on its service level.

#![allow(clippy::disallowed_methods)]

mod switch_rig;

use switch_rig::*;

#[test]
fn a_progressive_campaign_dials_the_customer_then_rings_and_bridges_the_agent() {
    let mut sim = Sim::new(&["+15551001"], &[]);
    let invite = sim.take_request(TRUNK, Method::Invite);
    assert!(
        uri_of(&invite).starts_with("sip:+15551001@10.0.0.2"),
        "{}",
        uri_of(&invite)
    );
    assert!(
        invite.from().as_str().contains("sip:5550300@"),
        "caller id: {}",
        invite.from().as_str()
    );
    assert!(!invite.body().is_empty(), "our own offer");
    assert_eq!(sim.saved_state(0), Some(ContactState::Dialling));
    sim.answer(TRUNK, &invite, 180, "");
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    // The customer answered: the reserved agent rings at once.
    let agent_invite = sim.take_request(AGENT, Method::Invite);
    assert!(
        agent_invite.from().as_str().contains("+15551001"),
        "the agent sees the customer"
    );
    // The phone is asked to answer by itself (RFC 5373, and Call-Info).
    let header = |m: &Message, name: &str| {
        m.header(&HeaderName::parse(name.as_bytes()))
            .map(str::to_string)
    };
    assert_eq!(
        header(&agent_invite, "Answer-Mode").as_deref(),
        Some("Auto")
    );
    let info = header(&agent_invite, "Call-Info").unwrap_or_default();
    assert!(info.ends_with(";answer-after=0"), "{info}");
    sim.answer(AGENT, &agent_invite, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    assert!(
        sim.media
            .iter()
            .any(|c| matches!(c, MediaCommand::Bridge { .. })),
        "bridged: {:?}",
        sim.media
    );
    let snap = sim.snapshot();
    assert_eq!(
        (snap.dials, snap.answers, snap.connects, snap.abandons),
        (1, 1, 1, 0)
    );
    sim.advance(Duration::from_secs(30));
    sim.bye_back(TRUNK, &invite);
    sim.take_status(TRUNK, 200);
    let bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &bye, 200, "");
    assert_eq!(sim.records.len(), 1, "{:?}", sim.records);
    let r = &sim.records[0];
    assert_eq!(r.detail.direction.label(), "outbound");
    assert_eq!(r.agent.as_deref(), Some("1001"));
    let c = r.detail.campaign.as_ref().expect("a campaign record");
    assert_eq!(
        (c.name.as_str(), c.contact, c.attempt, c.outcome.as_str()),
        ("renewals", 0, 1, "answered")
    );
    assert!(r.talk >= Duration::from_secs(30), "{:?}", r.talk);
    assert_eq!(sim.saved_state(0), Some(ContactState::Done));
    assert_eq!(sim.snapshot().status, "finished");
}

#[test]
fn a_busy_customer_is_dialled_again_after_the_busy_delay() {
    let mut sim = Sim::new(&["+15551002"], &[]);
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 486, "");
    sim.take_request(TRUNK, Method::Ack);
    assert_eq!(sim.records.len(), 1);
    let c = sim.records[0].detail.campaign.clone().unwrap();
    assert_eq!((c.attempt, c.outcome.as_str()), (1, "busy"));
    assert_eq!(sim.saved_state(0), Some(ContactState::Busy));
    sim.advance(Duration::from_secs(55));
    assert!(sim.trunk_invites().is_empty(), "not before the delay");
    sim.advance(Duration::from_secs(10));
    let again = sim.take_request(TRUNK, Method::Invite);
    assert!(uri_of(&again).starts_with("sip:+15551002@"));
    sim.answer(TRUNK, &again, 486, "");
    assert_eq!(sim.records[1].detail.campaign.as_ref().unwrap().attempt, 2);
    assert_eq!(sim.snapshot().dials, 2);
}

#[test]
fn a_do_not_call_number_never_reaches_the_trunk() {
    let mut sim = Sim::new(&["+15551003", "+15551004"], &["+15551003"]);
    let invites: Vec<String> = sim.trunk_invites().iter().map(|m| uri_of(m)).collect();
    assert_eq!(invites.len(), 1, "{invites:?}");
    assert!(invites[0].starts_with("sip:+15551004@"), "{invites:?}");
    assert_eq!(sim.saved_state(0), Some(ContactState::DoNotCall));
    let snap = sim.snapshot();
    assert_eq!((snap.dnc_blocked, snap.dials), (1, 1));
    // Whatever happens next, the blocked number is never INVITEd.
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 486, "");
    for _ in 0..3 {
        sim.advance(Duration::from_secs(3600));
    }
    let to: SocketAddr = TRUNK.parse().unwrap();
    assert!(!sim.outbox.iter().any(|(a, m)| *a == to
        && m.method() == Some(&Method::Invite)
        && uri_of(m).contains("15551003")));
}

#[test]
fn an_answered_customer_with_no_agent_hears_the_information_message_and_is_hung_up() {
    let mut sim = Sim::new(&["+15551005"], &[]);
    let invite = sim.take_request(TRUNK, Method::Invite);
    // The agent reserved for the dial goes on a break while it rings.
    let pause = Command::AgentPause {
        agent: "1001".into(),
        reason: "break".into(),
    };
    assert_eq!(sim.switch.handle_command(sim.now, pause), Ok(Reply::Done));
    sim.advance(Duration::from_secs(2));
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    sim.advance(Duration::from_millis(2_500));
    let played = sim.media.iter().any(|c| {
        matches!(c,
        MediaCommand::Play { intro, .. } if intro == &vec!["campaign_info".to_string()])
    });
    assert!(played, "the information message: {:?}", sim.media);
    assert!(
        sim.outbox
            .iter()
            .all(|(_, m)| m.method() != Some(&Method::Bye)),
        "not cut short"
    );
    // The message runs 10.7 s: the BYE follows 11 s after it started.
    sim.advance(Duration::from_secs(8));
    assert!(sim
        .outbox
        .iter()
        .all(|(_, m)| m.method() != Some(&Method::Bye)));
    sim.advance(Duration::from_secs(3));
    let bye = sim.take_request(TRUNK, Method::Bye);
    sim.answer(TRUNK, &bye, 200, "");
    assert_eq!(sim.records.len(), 1);
    let c = sim.records[0].detail.campaign.clone().unwrap();
    assert_eq!(c.outcome, "abandoned");
    let snap = sim.snapshot();
    assert_eq!((snap.answers, snap.abandons, snap.connects), (1, 1, 0));
    assert_eq!(sim.saved_state(0), Some(ContactState::Abandoned));
}

#[test]
fn a_campaign_names_its_own_information_message_and_its_length() {
    let text = config_with("info_message = \"renewals_info\"\ninfo_plays = \"5s\"");
    let mut sim = Sim::with_config(&text, &["+15551009"], &[], true);
    let invite = sim.take_request(TRUNK, Method::Invite);
    let pause = Command::AgentPause {
        agent: "1001".into(),
        reason: "break".into(),
    };
    assert_eq!(sim.switch.handle_command(sim.now, pause), Ok(Reply::Done));
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    sim.advance(Duration::from_millis(2_500));
    assert!(sim.media.iter().any(|c| matches!(c,
        MediaCommand::Play { intro, .. } if intro == &vec!["renewals_info".to_string()])));
    sim.advance(Duration::from_secs(4));
    assert!(sim
        .outbox
        .iter()
        .all(|(_, m)| m.method() != Some(&Method::Bye)));
    sim.advance(Duration::from_secs(2));
    sim.take_request(TRUNK, Method::Bye);
}

#[test]
fn a_stopping_switch_dials_nobody_new_and_leaves_the_campaign_running_in_its_store() {
    let mut sim = Sim::new(&["+15551006", "+15551007", "+15551008"], &[]);
    let invite = sim.take_request(TRUNK, Method::Invite);
    assert!(uri_of(&invite).starts_with("sip:+15551006@"));
    sim.switch.shutdown(sim.now);
    sim.drain();
    sim.advance(Duration::from_secs(10));
    let to: SocketAddr = TRUNK.parse().unwrap();
    let others = sim.outbox.iter().filter(|(a, m)| {
        *a == to && m.method() == Some(&Method::Invite) && !uri_of(m).contains("15551006")
    });
    assert_eq!(others.count(), 0, "no new dial while stopping");
    assert_eq!(
        sim.records.len(),
        1,
        "the ringing call ended: {:?}",
        sim.records
    );
    assert_eq!(sim.saved_state(1), None, "untouched");
    let paused = sim.saved.iter().any(|o| {
        matches!(o, CampaignOutput::Status { status, .. } if *status != switchyard::dialer::Status::Running)
    });
    assert!(!paused, "the store keeps it running: {:?}", sim.saved);
}

#[test]
fn an_agent_on_an_inbound_call_is_away_for_the_campaign_until_it_ends() {
    const CUSTOMER: &str = "10.0.0.1:5060";
    // Without blending: the queue's one call does not keep the agent.
    let text = config_with("blend = false");
    let mut sim = Sim::with_config(&text, &["+15551009"], &[], false);
    assert!(sim.trunk_invites().is_empty(), "not started");
    let sdp = AGENT_SDP.replace("192.0.2.11", "10.0.0.1");
    sim.send(
        CUSTOMER,
        format!(
            "INVITE sip:5550200@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER};branch=z9hG4bKin1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c1\r\nTo: <sip:5550200@127.0.0.1>\r\n\
             Call-ID: inbound-1\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{CUSTOMER}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
    let offer = sim.take_request(AGENT, Method::Invite);
    let answer_mode = HeaderName::parse(b"Answer-Mode");
    assert_eq!(offer.header(&answer_mode), None, "an inbound offer rings");
    sim.answer(AGENT, &offer, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    let ok = sim.take_status(CUSTOMER, 200);
    sim.command(Command::CampaignControl {
        name: "renewals".into(),
        action: CampaignMove::Start,
    });
    sim.advance(Duration::from_secs(5));
    assert!(
        sim.trunk_invites().is_empty(),
        "the agent talks to an inbound caller"
    );
    assert_eq!(sim.snapshot().dials, 0);
    // The inbound caller hangs up: the agent is free, the campaign dials.
    sim.send(
        CUSTOMER,
        format!(
            "BYE sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER};branch=z9hG4bKin2\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c1\r\nTo: {}\r\n\
             Call-ID: inbound-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
            ok.to().as_str()
        ),
    );
    let bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &bye, 200, "");
    sim.advance(Duration::from_secs(2));
    let invite = sim.take_request(TRUNK, Method::Invite);
    assert!(
        uri_of(&invite).starts_with("sip:+15551009@"),
        "{}",
        uri_of(&invite)
    );
}

#[test]
fn uploaded_contacts_are_read_as_a_list_and_dialled_and_a_bad_row_adds_nothing() {
    let mut sim = Sim::build(&["+15551011"], &[], false);
    let upload = |csv: &str| Command::AddContacts {
        name: "renewals".into(),
        csv: csv.into(),
    };
    let bad = sim.switch.handle_command(
        sim.now,
        upload("number,name\n5551012,Ann\nnot-a-number,Bob\n"),
    );
    match bad {
        Err(switchyard::switch::CommandError::BadContacts { line, field, .. }) => {
            assert_eq!((line, field.as_str()), (3, "number"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.snapshot().contacts, 1, "nothing added");
    let unknown = Command::AddContacts {
        name: "nope".into(),
        csv: "number\n5551013\n".into(),
    };
    assert_eq!(
        sim.switch.handle_command(sim.now, unknown),
        Err(switchyard::switch::CommandError::UnknownCampaign(
            "nope".into()
        ))
    );
    // National numbers read as E.164; one the campaign has is left out.
    let added = sim.switch.handle_command(
        sim.now,
        upload("number,name,plan\n5551012,Ann,gold\n+15551011,Old,\n"),
    );
    assert_eq!(added, Ok(Reply::ContactsAdded { added: 1 }));
    sim.drain();
    assert_eq!(sim.saved_state(1), Some(ContactState::New), "stored");
    let start = Command::CampaignControl {
        name: "renewals".into(),
        action: CampaignMove::Start,
    };
    assert_eq!(
        sim.switch.handle_command(sim.now, start.clone()),
        Ok(Reply::Done)
    );
    sim.drain();
    let invite = sim.take_request(TRUNK, Method::Invite);
    assert!(uri_of(&invite).starts_with("sip:+15551011@"));
    // A second start of a running campaign is a conflict.
    let again = sim.switch.handle_command(sim.now, start);
    assert!(
        matches!(again, Err(ref e) if e.status() == 409),
        "{again:?}"
    );
    sim.answer(TRUNK, &invite, 486, "");
    let next = sim.take_request(TRUNK, Method::Invite);
    assert!(
        uri_of(&next).starts_with("sip:+15551012@"),
        "{}",
        uri_of(&next)
    );
}

#[test]
fn an_agent_who_does_not_answer_is_no_connect_and_the_customer_hears_the_message() {
    let mut sim = Sim::new(&["+15551021"], &[]);
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    let offer = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &offer, 180, "");
    assert_eq!(sim.snapshot().connects, 0, "ringing is no connect");
    // The agent's phone rings out (`no_answer_timeout`, 20 s).
    sim.advance(Duration::from_secs(20));
    let cancel = sim.take_request(AGENT, Method::Cancel);
    sim.answer(AGENT, &cancel, 200, "");
    sim.answer(AGENT, &offer, 487, "");
    let played = |sim: &Sim| {
        sim.media.iter().any(|c| {
            matches!(c, MediaCommand::Play { intro, .. } if intro == &vec!["campaign_info".to_string()])
        })
    };
    assert!(!played(&sim), "another agent may come within 2 s");
    let missed = sim.events.iter().any(|e| {
        matches!(e, EventKind::CallOfferMissed { agent, queue, .. }
            if agent == "1001" && queue.as_deref() == Some("sales"))
    });
    assert!(missed, "{:?}", sim.events);
    // The same agent is free again, but is not given the call they missed.
    sim.advance(Duration::from_millis(2_100));
    assert!(played(&sim), "the information message: {:?}", sim.media);
    assert!(
        !sim.outbox
            .iter()
            .any(|(_, m)| m.method() == Some(&Method::Invite)),
        "nobody rung again: {:#?}",
        sim.outbox
    );
    let snap = sim.snapshot();
    assert_eq!((snap.answers, snap.connects, snap.abandons), (1, 0, 1));
    sim.advance(Duration::from_secs(11));
    let bye = sim.take_request(TRUNK, Method::Bye);
    sim.answer(TRUNK, &bye, 200, "");
    assert_eq!(sim.records.len(), 1, "{:?}", sim.records);
    let c = sim.records[0].detail.campaign.clone().unwrap();
    assert_eq!(c.outcome, "abandoned");
    assert_eq!(sim.records[0].agent, None, "no agent took it");
    assert_eq!(sim.saved_state(0), Some(ContactState::Abandoned));
}

#[test]
fn a_call_one_agent_refuses_goes_to_another_free_agent_and_connects() {
    let mut sim = Sim::new(&["+15551022"], &[]);
    sim.register("1002", AGENT_2);
    sim.advance(Duration::from_secs(2));
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    let offer = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &offer, 603, "");
    sim.take_request(AGENT, Method::Ack);
    let second = sim.take_request(AGENT_2, Method::Invite);
    assert_eq!(sim.snapshot().connects, 0);
    sim.answer(AGENT_2, &second, 200, AGENT_SDP);
    sim.take_request(AGENT_2, Method::Ack);
    let snap = sim.snapshot();
    assert_eq!((snap.answers, snap.connects, snap.abandons), (1, 1, 0));
    sim.advance(Duration::from_secs(30));
    sim.bye_back(TRUNK, &invite);
    sim.take_status(TRUNK, 200);
    let bye = sim.take_request(AGENT_2, Method::Bye);
    sim.answer(AGENT_2, &bye, 200, "");
    let r = sim.records.last().expect("a record");
    assert_eq!(r.agent.as_deref(), Some("1002"));
    assert_eq!(r.detail.campaign.as_ref().unwrap().outcome, "answered");
    assert_eq!(sim.saved_state(0), Some(ContactState::Done));
}

#[test]
fn an_unanswered_customer_rings_the_campaigns_ring_timeout_not_the_switchs() {
    // `no_answer_timeout` is 20 s; the campaign's `ring_timeout` is 25 s.
    let text = config_with("ring_timeout = \"25s\"");
    let mut sim = Sim::with_config(&text, &["+15551023"], &[], true);
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 180, "");
    sim.advance(Duration::from_secs(24));
    let cancels = |sim: &Sim| {
        sim.outbox
            .iter()
            .filter(|(_, m)| m.method() == Some(&Method::Cancel))
            .count()
    };
    assert_eq!(cancels(&sim), 0, "still ringing at 24 s");
    sim.advance(Duration::from_millis(1_100));
    let cancel = sim.take_request(TRUNK, Method::Cancel);
    sim.answer(TRUNK, &cancel, 200, "");
    sim.answer(TRUNK, &invite, 487, "");
    assert_eq!(sim.saved_state(0), Some(ContactState::NoAnswer));
    let c = sim.records[0].detail.campaign.clone().unwrap();
    assert_eq!(c.outcome, "no-answer");
}

/// The preview offers made so far: (agent, contact, number).
fn previews(sim: &Sim) -> Vec<(String, u32, String)> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            EventKind::CampaignPreview {
                agent,
                contact,
                number,
                campaign,
                name,
                ..
            } => {
                assert_eq!((campaign.as_str(), name.as_str()), ("renewals", "Customer"));
                Some((agent.clone(), *contact, number.clone()))
            }
            _ => None,
        })
        .collect()
}

fn preview_answer(
    sim: &mut Sim,
    contact: u32,
    agent: &str,
    accept: bool,
) -> Result<Reply, CommandError> {
    let answer = Command::PreviewAnswer {
        name: "renewals".into(),
        contact,
        agent: agent.into(),
        accept,
    };
    let reply = sim.switch.handle_command(sim.now, answer);
    sim.drain();
    reply
}

#[test]
fn a_preview_is_offered_as_an_event_and_dialled_only_when_the_offered_agent_accepts() {
    let text = config().replace("mode = \"progressive\"", "mode = \"preview\"");
    let mut sim = Sim::with_config(&text, &["+15551041", "+15551042"], &[], true);
    assert!(sim.events.iter().any(|e| matches!(e,
        EventKind::CampaignStarted { campaign } if campaign == "renewals")));
    assert_eq!(
        previews(&sim),
        vec![("1001".to_string(), 0, "+15551041".to_string())]
    );
    sim.advance(Duration::from_secs(5));
    assert!(
        sim.trunk_invites().is_empty(),
        "not dialled before an accept"
    );
    // Only the agent offered that contact may answer for it.
    for (contact, agent) in [(0, "1002"), (1, "1001")] {
        let refused = preview_answer(&mut sim, contact, agent, true);
        assert!(
            matches!(refused, Err(ref e @ CommandError::NotOffered { .. }) if e.status() == 409),
            "{refused:?}"
        );
    }
    let unknown = Command::PreviewAnswer {
        name: "nope".into(),
        contact: 0,
        agent: "1001".into(),
        accept: true,
    };
    let unknown = sim.switch.handle_command(sim.now, unknown);
    assert!(
        matches!(unknown, Err(ref e) if e.status() == 404),
        "{unknown:?}"
    );
    assert!(sim.trunk_invites().is_empty());
    // Skipped: the next contact is offered; the skipped one waits.
    assert_eq!(preview_answer(&mut sim, 0, "1001", false), Ok(Reply::Done));
    assert_eq!(sim.saved_state(0), Some(ContactState::New));
    assert_eq!(
        previews(&sim).last(),
        Some(&("1001".to_string(), 1, "+15551042".to_string()))
    );
    assert!(sim.trunk_invites().is_empty());
    // Accepted: dialled, the agent reserved for it and rung on the answer.
    assert_eq!(preview_answer(&mut sim, 1, "1001", true), Ok(Reply::Done));
    let invite = sim.take_request(TRUNK, Method::Invite);
    assert!(
        uri_of(&invite).starts_with("sip:+15551042@"),
        "{}",
        uri_of(&invite)
    );
    assert_eq!(
        preview_answer(&mut sim, 1, "1001", true).map_err(|e| e.status()),
        Err(409),
        "answered once"
    );
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    let offer = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &offer, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    assert_eq!(sim.snapshot().connects, 1);
}

#[test]
fn a_reload_gives_a_campaign_its_new_caller_id_and_ring_time_for_the_next_dial() {
    let mut sim = Sim::build(&["+15551051"], &[], false);
    let text = config_with("ring_timeout = \"30s\"")
        .replace("caller_id = \"5550300\"", "caller_id = \"5550399\"");
    let cfg = Config::parse(&text, Path::new("sim.toml")).expect("valid config");
    sim.switch
        .reload(sim.now, Plan::from_config(&cfg))
        .expect("reloaded");
    sim.drain();
    assert_eq!(sim.snapshot().status, "idle", "autostart is for start-up");
    sim.command(Command::CampaignControl {
        name: "renewals".into(),
        action: CampaignMove::Start,
    });
    let invite = sim.take_request(TRUNK, Method::Invite);
    assert!(
        invite.from().as_str().contains("sip:5550399@"),
        "the new caller id: {}",
        invite.from().as_str()
    );
    sim.answer(TRUNK, &invite, 180, "");
    sim.advance(Duration::from_secs(29));
    assert!(
        !sim.outbox
            .iter()
            .any(|(_, m)| m.method() == Some(&Method::Cancel)),
        "rings the new 30 s"
    );
    sim.advance(Duration::from_millis(1_100));
    sim.take_request(TRUNK, Method::Cancel);
}

#[test]
fn a_do_not_call_disposition_after_a_campaign_call_lists_and_stores_the_number() {
    let mut sim = Sim::new(&["+15551061"], &[]);
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    let offer = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &offer, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    sim.advance(Duration::from_secs(10));
    sim.bye_back(TRUNK, &invite);
    sim.take_status(TRUNK, 200);
    let bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &bye, 200, "");
    assert_eq!(sim.saved_state(0), Some(ContactState::Done));
    let call = sim.records[0].uuid;
    let dispose = Command::Disposition {
        call,
        code: "do-not-call".into(),
        note: None,
        agent: None,
    };
    assert_eq!(sim.switch.handle_command(sim.now, dispose), Ok(Reply::Done));
    sim.drain();
    assert_eq!(sim.saved_state(0), Some(ContactState::DoNotCall));
    let stored = sim.saved.iter().any(
        |o| matches!(o, CampaignOutput::Dnc { number, listed: true } if number == "+15551061"),
    );
    assert!(stored, "stored for the next start: {:?}", sim.saved);
    let list = Command::ListDnc {
        offset: 0,
        limit: Some(10),
    };
    assert_eq!(
        sim.switch.handle_command(sim.now, list),
        Ok(Reply::Dnc {
            count: 1,
            numbers: Some(vec!["+15551061".into()])
        })
    );
}

#[test]
fn the_agent_wraps_up_after_a_campaign_call_before_the_next_dial() {
    let text = config().replace("wrap_up = \"0s\"", "wrap_up = \"10s\"");
    let mut sim = Sim::with_config(&text, &["+15551071", "+15551072"], &[], true);
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    let offer = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &offer, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    sim.advance(Duration::from_secs(5));
    sim.bye_back(TRUNK, &invite);
    sim.take_status(TRUNK, 200);
    let bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &bye, 200, "");
    sim.advance(Duration::from_secs(8));
    assert!(sim.trunk_invites().is_empty(), "the agent wraps up 10 s");
    sim.advance(Duration::from_secs(4));
    let next = sim.take_request(TRUNK, Method::Invite);
    assert!(
        uri_of(&next).starts_with("sip:+15551072@"),
        "{}",
        uri_of(&next)
    );
}

/// A customer's call to the sales DID, from `CUSTOMER_IN`; the switch's
/// 200 is ACKed by `inbound_ack`.
const CUSTOMER_IN: &str = "10.0.0.1:5060";

fn inbound_invite(sim: &mut Sim, call_id: &str) {
    let sdp = AGENT_SDP.replace("192.0.2.11", "10.0.0.1");
    sim.send(
        CUSTOMER_IN,
        format!(
            "INVITE sip:5550200@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER_IN};branch=z9hG4bK{call_id}i\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c{call_id}\r\nTo: <sip:5550200@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@{CUSTOMER_IN}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        ),
    );
}

/// The customer's ACK of the switch's 200, or BYE, in the dialog `ok` opened.
fn inbound_request(sim: &mut Sim, ok: &Message, method: &str, cseq: u32) {
    let call_id = ok.call_id().to_string();
    sim.send(
        CUSTOMER_IN,
        format!(
            "{method} sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CUSTOMER_IN};branch=z9hG4bK{call_id}{method}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@10.0.0.1>;tag=c{call_id}\r\nTo: {}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            ok.to().as_str()
        ),
    );
}

/// An inbound call the agent answers, talks on and the customer ends.
fn inbound_call_answered_and_ended(sim: &mut Sim, call_id: &str) {
    let offer = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &offer, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    let ok = sim.take_status(CUSTOMER_IN, 200);
    inbound_request(sim, &ok, "ACK", 1);
    sim.advance(Duration::from_secs(3));
    inbound_request(sim, &ok, "BYE", 2);
    sim.take_status(CUSTOMER_IN, 200);
    let bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &bye, 200, "");
    assert!(
        sim.records
            .iter()
            .any(|r| r.detail.direction.label() == "inbound"),
        "{call_id}: the inbound call's record"
    );
}

/// The test config with the queue figures over a minute.
fn blend_config() -> String {
    format!("{}\n[metrics]\ninterval = \"60s\"\n", config())
}

#[test]
fn an_agent_the_inbound_queue_needs_is_kept_from_the_campaign_while_calls_arrive() {
    let mut sim = Sim::with_config(&blend_config(), &["+15551081"], &[], false);
    inbound_invite(&mut sim, "blend-in-1");
    inbound_call_answered_and_ended(&mut sim, "blend-in-1");
    sim.command(Command::CampaignControl {
        name: "renewals".into(),
        action: CampaignMove::Start,
    });
    sim.advance(Duration::from_secs(5));
    // A call in the last minute: Erlang C needs one agent, the only one.
    assert!(
        sim.trunk_invites().is_empty(),
        "the agent stays for inbound"
    );
    let snap = sim.snapshot();
    assert_eq!((snap.agents_withheld, snap.backing_off), (1, false));
    // The minute passes without a call: the queue needs nobody.
    sim.advance(Duration::from_secs(60));
    let invite = sim.take_request(TRUNK, Method::Invite);
    assert!(uri_of(&invite).starts_with("sip:+15551081@"));
    assert_eq!(sim.snapshot().agents_withheld, 0);
}

#[test]
fn a_caller_waiting_behind_a_campaign_call_backs_the_campaign_off_until_the_queue_recovers() {
    let mut sim = Sim::with_config(&blend_config(), &["+15551091", "+15551092"], &[], true);
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    sim.take_request(TRUNK, Method::Ack);
    let offer = sim.take_request(AGENT, Method::Invite);
    sim.answer(AGENT, &offer, 200, AGENT_SDP);
    sim.take_request(AGENT, Method::Ack);
    // The agent talks to the campaign's customer; a caller waits.
    inbound_invite(&mut sim, "blend-in-2");
    sim.advance(Duration::from_secs(2));
    assert!(sim.snapshot().backing_off, "a caller waits");
    sim.advance(Duration::from_secs(28));
    sim.bye_back(TRUNK, &invite);
    sim.take_status(TRUNK, 200);
    let bye = sim.take_request(AGENT, Method::Bye);
    sim.answer(AGENT, &bye, 200, "");
    // Inbound wins the free agent; the caller waited 30 s, over the 20 s
    // of the queue's service level.
    sim.advance(Duration::from_millis(10));
    inbound_call_answered_and_ended(&mut sim, "blend-in-2");
    sim.advance(Duration::from_secs(10));
    assert!(sim.trunk_invites().is_empty(), "backing off: no dial");
    let snap = sim.snapshot();
    assert_eq!((snap.agents_withheld, snap.backing_off), (1, true));
    // The minute's figures forget the late answer; the campaign resumes
    // 30 s after the queue is clear.
    sim.advance(Duration::from_secs(60));
    assert!(
        sim.trunk_invites().is_empty(),
        "still within the resume wait"
    );
    sim.advance(Duration::from_secs(40));
    let next = sim.take_request(TRUNK, Method::Invite);
    assert!(
        uri_of(&next).starts_with("sip:+15551092@"),
        "{}",
        uri_of(&next)
    );
    assert!(!sim.snapshot().backing_off);
}

#[test]
fn a_reload_reads_the_dnc_lists_again_and_keeps_the_numbers_the_api_listed() {
    let mut sim = Sim::new(&["+15551201"], &["+15551290"]);
    let add = Command::AddDnc {
        number: "+15551291".into(),
    };
    sim.switch.handle_command(sim.now, add).unwrap();
    let listed = |sim: &mut Sim| {
        let list = Command::ListDnc {
            offset: 0,
            limit: Some(10),
        };
        match sim.switch.handle_command(sim.now, list) {
            Ok(Reply::Dnc { numbers, .. }) => numbers.unwrap_or_default(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(listed(&mut sim), ["+15551290", "+15551291"]);
    // The file now lists +15551292 instead of +15551290.
    let cfg = Config::parse(&config(), std::path::Path::new("sim.toml")).unwrap();
    let mut plan = Plan::from_config(&cfg);
    let mut files = Dnc::default();
    files.add("+15551292");
    plan.dnc_lists = Some((files, Numbering::default()));
    sim.switch.reload(sim.now, plan).unwrap();
    sim.drain();
    assert_eq!(listed(&mut sim), ["+15551291", "+15551292"]);
    // A number the file gives cannot be unlisted through the API; the one
    // the file dropped is unlisted already.
    let remove = |n: &str| Command::RemoveDnc { number: n.into() };
    let err = sim.switch.handle_command(sim.now, remove("+15551292"));
    assert!(matches!(err, Err(CommandError::ListedByFile(_))), "{err:?}");
    let err = sim.switch.handle_command(sim.now, remove("+15551290"));
    assert!(matches!(err, Err(CommandError::NotListed(_))), "{err:?}");
    // A reload without lists read (a plan from the config alone) keeps them.
    let plan = Plan::from_config(&cfg);
    sim.switch.reload(sim.now, plan).unwrap();
    assert_eq!(listed(&mut sim), ["+15551291", "+15551292"]);
}

#[test]
fn auto_answer_off_and_inbound_offers_ask_no_phone_to_answer_by_itself() {
    let text = config_with("auto_answer = false");
    let mut sim = Sim::with_config(&text, &["+15551301"], &[], true);
    let invite = sim.take_request(TRUNK, Method::Invite);
    sim.answer(TRUNK, &invite, 200, TRUNK_SDP);
    let ring = sim.take_request(AGENT, Method::Invite);
    let answer_mode = HeaderName::parse(b"Answer-Mode");
    assert_eq!(ring.header(&answer_mode), None);
    assert_eq!(ring.header(&HeaderName::parse(b"Call-Info")), None);
}

#[test]
fn a_preview_nobody_answers_goes_back_and_is_offered_again_after_a_rest() {
    let text = config().replace(
        "mode = \"progressive\"",
        "mode = \"preview\"\npreview_timeout = \"30s\"",
    );
    let mut sim = Sim::with_config(&text, &["+15551401", "+15551402"], &[], true);
    let offered = ("1001".to_string(), 0, "+15551401".to_string());
    assert_eq!(previews(&sim), vec![offered.clone()]);
    sim.advance(Duration::from_secs(29));
    assert_eq!(sim.saved_state(0), Some(ContactState::Previewing));
    sim.advance(Duration::from_secs(2));
    // Back in the list, not dialled, no attempt spent; the agent sits out.
    assert_eq!(sim.saved_state(0), Some(ContactState::New));
    assert!(sim.trunk_invites().is_empty());
    assert_eq!(previews(&sim).len(), 1, "no offer while the agent sits out");
    // An accept of the expired offer is refused.
    let late = preview_answer(&mut sim, 0, "1001", true);
    assert!(matches!(late, Err(ref e) if e.status() == 409), "{late:?}");
    sim.advance(Duration::from_secs(31));
    assert_eq!(previews(&sim), vec![offered.clone(), offered]);
}

#[test]
fn a_campaign_made_by_command_is_checked_stored_and_kept_over_a_reload() {
    let mut sim = Sim::new(&["+15551501"], &[]);
    let settings = serde_json::json!({
        "name": "made", "queue": "sales", "trunk": "carrier", "mode": "preview"
    });
    let create = |settings: serde_json::Value| Command::CreateCampaign { settings };
    let made = sim.switch.handle_command(sim.now, create(settings.clone()));
    assert!(
        matches!(&made, Ok(Reply::Campaigns { campaigns }) if campaigns[0].name == "made"),
        "{made:?}"
    );
    sim.drain();
    assert!(sim.saved.iter().any(|o| matches!(o,
        CampaignOutput::Created { campaign, settings: s, .. } if campaign == "made" && s.contains("preview"))));
    let refused = |sim: &mut Sim, key: &str, value: serde_json::Value| {
        let mut body = settings.clone();
        body[key] = value;
        sim.switch
            .handle_command(sim.now, create(body))
            .unwrap_err()
    };
    assert_eq!(
        refused(&mut sim, "name", "made".into()),
        CommandError::CampaignExists("made".into())
    );
    assert!(matches!(
        refused(&mut sim, "name", "renewals".into()),
        CommandError::CampaignExists(_)
    ));
    let other = |sim: &mut Sim, key: &str, value: &str| {
        let mut body = settings.clone();
        body["name"] = "other".into();
        body[key] = value.into();
        sim.switch
            .handle_command(sim.now, create(body))
            .unwrap_err()
    };
    assert_eq!(
        other(&mut sim, "trunk", "nope"),
        CommandError::UnknownTrunk("nope".into())
    );
    assert_eq!(
        other(&mut sim, "queue", "nope"),
        CommandError::UnknownQueue("nope".into())
    );
    let bad = other(&mut sim, "mode", "psychic");
    assert!(
        matches!(&bad, CommandError::BadCampaign { field, .. } if field == "mode"),
        "{bad:?}"
    );
    assert_eq!(bad.status(), 400);
    // A reload of a dialplan that never had it leaves it as made.
    let cfg = Config::parse(&config(), std::path::Path::new("sim.toml")).unwrap();
    sim.switch.reload(sim.now, Plan::from_config(&cfg)).unwrap();
    let made = sim
        .switch
        .campaign_snapshots()
        .into_iter()
        .find(|c| c.name == "made");
    assert_eq!(
        made.map(|c| (c.mode, c.queue)),
        Some(("preview", "sales".to_string()))
    );
}
