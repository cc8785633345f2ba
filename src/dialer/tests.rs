//! The campaign core in virtual time: contact states, retries, windows,
//! the DNC gate, abandons and the 72 h rule, preview (and its expiry) and restart.

use std::time::Duration;

use super::*;

/// 2026-12-07 10:00 UTC.
const T0: Duration = Duration::from_secs(1_796_637_600);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn contacts(n: u32) -> Vec<Contact> {
    (0..n)
        .map(|i| Contact::new(format!("+1555030{i}"), format!("c{i}"), Zone::UTC))
        .collect()
}

fn campaign(mode: Mode, n: u32) -> Campaign {
    let spec = Spec {
        mode,
        ..Spec::default()
    };
    Campaign::new(spec, contacts(n), T0)
}

fn dials(actions: &[Action]) -> Vec<(DialId, ContactId, Option<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial {
                dial,
                contact,
                agent,
                ..
            } => Some((*dial, *contact, agent.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn progressive_dials_one_contact_per_free_agent_and_connects_it() {
    let mut c = campaign(Mode::Progressive, 5);
    let mut dnc = Dnc::default();
    assert!(dials(&c.handle(T0, Event::AgentReady("a".into()), &mut dnc)).is_empty());
    let out = c.handle(T0, Event::Start, &mut dnc);
    let d = dials(&out);
    assert_eq!(d, vec![(DialId(1), ContactId(0), Some("a".into()))]);
    assert_eq!(
        c.contact(ContactId(0)).unwrap().state,
        ContactState::Dialling
    );
    assert!(dials(&c.handle(T0, Event::AgentReady("b".into()), &mut dnc)).len() == 1);
    let out = c.handle(T0 + secs(10), Event::Answered(DialId(1)), &mut dnc);
    assert!(out.contains(&Action::Connect {
        dial: DialId(1),
        agent: "a".into()
    }));
    c.handle(T0 + secs(11), Event::AgentAnswered(DialId(1)), &mut dnc);
    c.handle(T0 + secs(100), Event::Hangup(DialId(1)), &mut dnc);
    assert_eq!(c.contact(ContactId(0)).unwrap().state, ContactState::Done);
    // Wrap-up over: the agent gets the next contact.
    let out = c.handle(T0 + secs(110), Event::AgentReady("a".into()), &mut dnc);
    assert_eq!(
        dials(&out),
        vec![(DialId(3), ContactId(2), Some("a".into()))]
    );
}

#[test]
fn busy_is_retried_after_its_delay_until_attempts_run_out() {
    let mut c = campaign(Mode::Progressive, 1);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    let mut now = T0;
    let mut dial = dials(&c.handle(now, Event::AgentReady("a".into()), &mut dnc))[0].0;
    for attempt in 1..=3 {
        now += secs(4);
        c.handle(now, Event::DialEnded(dial, Outcome::Busy), &mut dnc);
        let contact = c.contact(ContactId(0)).unwrap().clone();
        assert_eq!(contact.attempts, attempt);
        if attempt == 3 {
            assert_eq!(contact.state, ContactState::Done);
            break;
        }
        assert_eq!(contact.state, ContactState::Busy);
        assert_eq!(contact.next_try, Some(now + secs(600)));
        assert_eq!(c.poll_timeout(), Some(now + secs(600)));
        assert!(dials(&c.handle(now + secs(599), Event::Tick, &mut dnc)).is_empty());
        now += secs(600);
        dial = dials(&c.handle(now, Event::Tick, &mut dnc))[0].0;
    }
    assert_eq!(c.status(), Status::Finished);
}

#[test]
fn a_listed_number_is_never_dialled_and_is_counted() {
    let mut c = campaign(Mode::Progressive, 3);
    let mut dnc = Dnc::default();
    dnc.add("+15550300");
    dnc.add("+15550301");
    c.handle(T0, Event::Start, &mut dnc);
    let out = c.handle(T0, Event::AgentReady("a".into()), &mut dnc);
    assert_eq!(
        dials(&out),
        vec![(DialId(1), ContactId(2), Some("a".into()))]
    );
    assert!(out.contains(&Action::Blocked(ContactId(0))));
    assert!(out.contains(&Action::Blocked(ContactId(1))));
    assert_eq!(dnc.blocked, 2);
    assert_eq!(c.counters.blocked, 2);
    assert_eq!(
        c.contact(ContactId(0)).unwrap().state,
        ContactState::DoNotCall
    );
    assert_eq!(c.contact(ContactId(0)).unwrap().attempts, 0);
}

#[test]
fn do_not_call_disposition_lists_the_number() {
    let mut c = campaign(Mode::Progressive, 1);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    let dial = dials(&c.handle(T0, Event::AgentReady("a".into()), &mut dnc))[0].0;
    c.handle(T0 + secs(5), Event::Answered(dial), &mut dnc);
    c.handle(T0 + secs(6), Event::AgentAnswered(dial), &mut dnc);
    c.handle(T0 + secs(50), Event::DoNotCall(dial), &mut dnc);
    c.handle(T0 + secs(60), Event::Hangup(dial), &mut dnc);
    assert!(dnc.contains("+15550300"));
    assert_eq!(
        c.contact(ContactId(0)).unwrap().state,
        ContactState::DoNotCall
    );
}

#[test]
fn an_answer_with_no_agent_in_two_seconds_is_abandoned_and_not_redialled_for_72_hours() {
    let mut c = campaign(Mode::Predictive, 40);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    let out = c.handle(T0, Event::AgentReady("a".into()), &mut dnc);
    // No figures yet: one dial per free agent.
    let d = dials(&out);
    assert_eq!(d.len(), 1);
    c.handle(T0 + secs(1), Event::AgentAway("a".into()), &mut dnc);
    c.handle(T0 + secs(10), Event::Answered(d[0].0), &mut dnc);
    assert_eq!(c.poll_timeout(), Some(T0 + secs(11)));
    assert!(!c
        .handle(
            T0 + secs(11) - Duration::from_millis(1),
            Event::Tick,
            &mut dnc
        )
        .iter()
        .any(|a| matches!(a, Action::Abandon { .. })));
    let out = c.handle(T0 + secs(12), Event::Tick, &mut dnc);
    assert!(out.contains(&Action::Abandon {
        dial: d[0].0,
        contact: d[0].1
    }));
    let contact = c.contact(d[0].1).unwrap();
    assert_eq!(contact.state, ContactState::Abandoned);
    assert_eq!(contact.next_try, Some(T0 + secs(12) + ABANDON_NO_REDIAL));
    assert_eq!(c.counters.abandons, 1);
}

#[test]
fn an_agent_freed_within_two_seconds_takes_the_waiting_call() {
    let mut c = campaign(Mode::Predictive, 5);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    let d = dials(&c.handle(T0, Event::AgentReady("a".into()), &mut dnc));
    c.handle(T0 + secs(1), Event::AgentAway("a".into()), &mut dnc);
    c.handle(T0 + secs(10), Event::Answered(d[0].0), &mut dnc);
    let out = c.handle(T0 + secs(11), Event::AgentReady("b".into()), &mut dnc);
    assert!(out.contains(&Action::Connect {
        dial: d[0].0,
        agent: "b".into()
    }));
    assert_eq!(c.counters.abandons, 0);
}

#[test]
fn contacts_wait_for_their_local_calling_window() {
    let spec = Spec::default();
    let mut list = contacts(2);
    // 10:00 UTC is 05:00 in New York: four hours to wait.
    list[0].zone = Zone::parse("America/New_York").unwrap();
    let mut c = Campaign::new(spec, list, T0);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    let out = c.handle(T0, Event::AgentReady("a".into()), &mut dnc);
    assert_eq!(dials(&out)[0].1, ContactId(1));
    assert_eq!(
        c.contact(ContactId(0)).unwrap().next_try,
        Some(T0 + secs(4 * 3_600))
    );
}

#[test]
fn preview_offers_first_and_dials_on_accept() {
    let mut c = campaign(Mode::Preview, 2);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    let out = c.handle(T0, Event::AgentReady("a".into()), &mut dnc);
    assert!(out.contains(&Action::Offer {
        agent: "a".into(),
        contact: ContactId(0)
    }));
    assert!(dials(&out).is_empty());
    let out = c.handle(T0 + secs(3), Event::PreviewSkipped("a".into()), &mut dnc);
    assert!(out.contains(&Action::Offer {
        agent: "a".into(),
        contact: ContactId(1)
    }));
    assert_eq!(c.contact(ContactId(0)).unwrap().attempts, 0);
    let out = c.handle(T0 + secs(5), Event::PreviewAccepted("a".into()), &mut dnc);
    assert_eq!(
        dials(&out),
        vec![(DialId(1), ContactId(1), Some("a".into()))]
    );
}

#[test]
fn an_unanswered_preview_goes_back_and_its_agent_is_away() {
    let mut c = campaign(Mode::Preview, 2);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    c.handle(T0, Event::AgentReady("a".into()), &mut dnc);
    assert_eq!(c.previewing("a"), Some(ContactId(0)));
    assert_eq!(c.poll_timeout(), Some(T0 + secs(60)));
    assert!(c.handle(T0 + secs(59), Event::Tick, &mut dnc).is_empty());
    let out = c.handle(T0 + secs(60), Event::Tick, &mut dnc);
    assert!(out.contains(&Action::PreviewExpired {
        agent: "a".into(),
        contact: ContactId(0)
    }));
    assert!(
        !out.iter().any(|a| matches!(a, Action::Offer { .. })),
        "away: no new offer"
    );
    assert_eq!(c.previewing("a"), None);
    let back = c.contact(ContactId(0)).unwrap();
    assert_eq!((back.state, back.attempts), (ContactState::New, 0));
    assert_eq!(c.poll_timeout(), None, "no offer out");
    // Ready again (another agent, or the same later): the contact that went
    // back is offered first; a late accept of the old offer does nothing.
    let out = c.handle(T0 + secs(61), Event::PreviewAccepted("a".into()), &mut dnc);
    assert!(dials(&out).is_empty());
    let out = c.handle(T0 + secs(62), Event::AgentReady("b".into()), &mut dnc);
    assert!(out.contains(&Action::Offer {
        agent: "b".into(),
        contact: ContactId(0)
    }));
}

#[test]
fn pause_stops_new_dials_and_stop_is_final() {
    let mut c = campaign(Mode::Progressive, 5);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    c.handle(T0, Event::Pause, &mut dnc);
    assert!(dials(&c.handle(T0, Event::AgentReady("a".into()), &mut dnc)).is_empty());
    assert_eq!(dials(&c.handle(T0, Event::Start, &mut dnc)).len(), 1);
    c.handle(T0, Event::Stop, &mut dnc);
    c.handle(T0, Event::Start, &mut dnc);
    assert_eq!(c.status(), Status::Stopped);
    assert!(dials(&c.handle(T0, Event::AgentReady("b".into()), &mut dnc)).is_empty());
}

#[test]
fn a_restart_never_redials_a_finished_contact() {
    let mut list = contacts(4);
    list[0].state = ContactState::Done;
    list[1].state = ContactState::Answered;
    list[1].attempts = 1;
    list[2].state = ContactState::Dialling;
    list[2].attempts = 1;
    list[3].state = ContactState::DoNotCall;
    let mut c = Campaign::new(Spec::default(), list, T0);
    let mut dnc = Dnc::default();
    c.handle(T0, Event::Start, &mut dnc);
    assert!(dials(&c.handle(T0, Event::AgentReady("a".into()), &mut dnc)).is_empty());
    assert_eq!(c.contact(ContactId(1)).unwrap().state, ContactState::Done);
    // Caught dialling by the crash: a failed attempt, retried after 30 min.
    let caught = c.contact(ContactId(2)).unwrap();
    assert_eq!(caught.state, ContactState::Failed);
    assert_eq!(caught.next_try, Some(T0 + secs(1_800)));
    let out = c.handle(T0 + secs(1_800), Event::Tick, &mut dnc);
    assert_eq!(dials(&out)[0].1, ContactId(2));
}

#[test]
fn backing_off_for_inbound_places_no_dial_but_connects_the_customer_on_the_line() {
    let mut dnc = Dnc::default();
    for mode in [Mode::Progressive, Mode::Predictive] {
        let mut c = campaign(mode, 5);
        c.handle(T0, Event::Start, &mut dnc);
        let first = dials(&c.handle(T0, Event::AgentReady("a".into()), &mut dnc));
        assert!(!first.is_empty(), "{mode:?}: dials for a free agent");
        let back_off = Event::Blend {
            back_off: true,
            short: 0,
            takes_per_sec: 0.0,
        };
        assert!(dials(&c.handle(T0 + secs(1), back_off, &mut dnc)).is_empty());
        let out = c.handle(T0 + secs(2), Event::AgentReady("b".into()), &mut dnc);
        assert!(
            dials(&out).is_empty(),
            "{mode:?}: no new dial while backing off"
        );
        // The customer already dialled answers: a free agent takes them.
        let out = c.handle(T0 + secs(8), Event::Answered(first[0].0), &mut dnc);
        assert!(
            out.iter().any(|a| matches!(a, Action::Connect { .. })),
            "{mode:?}: {out:?}"
        );
        let out = c.handle(T0 + secs(20), Event::Tick, &mut dnc);
        assert!(dials(&out).is_empty(), "{mode:?}: still backing off");
        let resume = Event::Blend {
            back_off: false,
            short: 0,
            takes_per_sec: 0.0,
        };
        let out = c.handle(T0 + secs(21), resume, &mut dnc);
        assert!(!dials(&out).is_empty(), "{mode:?}: dials again");
    }
}
