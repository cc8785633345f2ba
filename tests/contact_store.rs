//! Campaign contacts survive a restart (src/ops/contacts.rs): the store is
//! reopened, the campaign rebuilt from it, and no finished contact is
//! dialled again; a contact caught dialling counts as a failed attempt.

use std::time::Duration;

use switchyard::dialer::Contact;
use switchyard::dialer::{Action, Campaign, ContactState, Dnc, Event, Mode, Outcome, Spec, Zone};
use switchyard::ops::contacts::ContactStore;

/// 2026-12-07 10:00 UTC.
const T0: Duration = Duration::from_secs(1_796_637_600);

fn list() -> Vec<Contact> {
    (0..4)
        .map(|i| {
            let mut c = Contact::new(
                format!("+1555030{i}"),
                format!("c{i}"),
                Zone::parse("Europe/Paris").unwrap(),
            );
            c.data.insert("account".into(), format!("A-{i}"));
            c
        })
        .collect()
}

fn dialled(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial { number, .. } => Some(number.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_restart_continues_and_never_redials_a_finished_contact() {
    let dir = std::env::temp_dir().join(format!("switchyard-contacts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("store.sqlite");
    let _ = std::fs::remove_file(&path);
    let spec = Spec {
        mode: Mode::Progressive,
        ..Spec::default()
    };
    let mut dnc = Dnc::default();
    {
        let mut store = ContactStore::open(&path).expect("open");
        let contacts = store
            .load_or_insert("renewals", Mode::Progressive, list())
            .expect("insert");
        let mut c = Campaign::new(spec.clone(), contacts, T0);
        let mut actions = c.handle(T0, Event::Start, &mut dnc);
        actions.extend(c.handle(T0, Event::AgentReady("a".into()), &mut dnc));
        actions.extend(c.handle(T0, Event::AgentReady("b".into()), &mut dnc));
        // Contact 0: answered and talked (done); contact 1: busy; then
        // contact 2 is dialling when the switch dies.
        use switchyard::dialer::DialId;
        actions.extend(c.handle(
            T0 + Duration::from_secs(5),
            Event::Answered(DialId(1)),
            &mut dnc,
        ));
        // The agent answers: a connect (without it the hang-up is an abandon).
        actions.extend(c.handle(
            T0 + Duration::from_secs(6),
            Event::AgentAnswered(DialId(1)),
            &mut dnc,
        ));
        actions.extend(c.handle(
            T0 + Duration::from_secs(60),
            Event::Hangup(DialId(1)),
            &mut dnc,
        ));
        actions.extend(c.handle(
            T0 + Duration::from_secs(61),
            Event::DialEnded(DialId(2), Outcome::Busy),
            &mut dnc,
        ));
        for a in &actions {
            if let Action::Contact(id) = a {
                store
                    .save("renewals", *id, c.contact(*id).unwrap())
                    .expect("save");
            }
        }
        assert_eq!(
            dialled(&actions),
            vec!["+15550300", "+15550301", "+15550302"]
        );
    }
    let store = ContactStore::open(&path).expect("reopen");
    let contacts = store.load("renewals").expect("load");
    assert_eq!(contacts.len(), 4);
    assert_eq!(contacts[0].state, ContactState::Done);
    assert_eq!(contacts[1].state, ContactState::Busy);
    assert_eq!(
        contacts[1].next_try,
        Some(T0 + Duration::from_secs(61 + 600))
    );
    assert_eq!(contacts[2].state, ContactState::Dialling);
    assert_eq!(contacts[3].data["account"], "A-3");
    assert_eq!(contacts[3].zone, Zone::parse("Europe/Paris").unwrap());
    // A list given again does not reset what was dialled.
    let mut store = store;
    let again = store
        .load_or_insert("renewals", Mode::Progressive, list())
        .expect("load");
    assert_eq!(again[0].state, ContactState::Done);

    let later = T0 + Duration::from_secs(120);
    let mut c = Campaign::new(spec, again, later);
    let mut actions = c.handle(later, Event::Start, &mut dnc);
    actions.extend(c.handle(later, Event::AgentReady("a".into()), &mut dnc));
    actions.extend(c.handle(later, Event::AgentReady("b".into()), &mut dnc));
    // Only the untouched contact now; the busy one and the one caught
    // dialling wait for their retry delays; the done one never again.
    assert_eq!(dialled(&actions), vec!["+15550303"]);
    let mut now = later;
    for _ in 0..10 {
        now += Duration::from_secs(3_600);
        let d = dialled(&c.handle(now, Event::Tick, &mut dnc));
        assert!(
            !d.contains(&"+15550300".to_string()),
            "a finished contact was dialled again"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
