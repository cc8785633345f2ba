use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::sip::Transport;

const AOR: &str = "sip:alice@switchyard.test";

/// The one clock read of a test: an arbitrary origin for virtual time.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn peer(port: u16) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
    }
}

fn contact(uri: &str, expires: Option<u32>) -> ContactRequest {
    ContactRequest {
        uri: uri.to_owned(),
        expires,
        q: None,
        instance: None,
        reg_id: None,
    }
}

fn contacts(list: &[(&str, Option<u32>)]) -> Update {
    Update::Contacts(list.iter().map(|&(u, e)| contact(u, e)).collect())
}

fn registrar() -> Registrar {
    Registrar::new(RegistrarConfig::default())
}

fn events(r: &mut Registrar) -> Vec<RegistrarEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn registered() -> RegistrarEvent {
    RegistrarEvent::Registered {
        aor: AOR.to_owned(),
    }
}

fn unregistered() -> RegistrarEvent {
    RegistrarEvent::Unregistered {
        aor: AOR.to_owned(),
    }
}

#[test]
fn binding_expires_at_the_exact_instant() {
    let t0 = epoch();
    let mut r = registrar();
    let b = r
        .register(
            t0,
            AOR,
            "c1",
            1,
            contacts(&[("sip:alice@10.0.0.1:5060", None)]),
            Some(120),
            peer(5060),
        )
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].expires_at, t0 + secs(120));
    assert_eq!(b[0].source, peer(5060));
    assert_eq!(events(&mut r), vec![registered()]);
    assert_eq!(r.poll_timeout(), Some(t0 + secs(120)));

    let just_before = t0 + secs(120) - Duration::from_nanos(1);
    r.handle_timeout(just_before);
    assert_eq!(r.lookup(just_before, AOR).len(), 1);
    assert_eq!(r.len(), 1);
    assert!(events(&mut r).is_empty());

    assert!(r.lookup(t0 + secs(120), AOR).is_empty());
    r.handle_timeout(t0 + secs(120));
    assert_eq!(r.len(), 0);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(events(&mut r), vec![unregistered()]);
}

#[test]
fn expiry_from_contact_param_then_header_then_default_clamped_to_max() {
    let t0 = epoch();
    let mut r = registrar();
    let b = r
        .register(
            t0,
            AOR,
            "c1",
            1,
            contacts(&[("sip:a@h1", Some(300)), ("sip:a@h2", None)]),
            Some(600),
            peer(1),
        )
        .unwrap();
    let by_uri = |b: &[Binding], uri: &str| b.iter().find(|x| x.uri == uri).unwrap().expires_at;
    assert_eq!(by_uri(&b, "sip:a@h1"), t0 + secs(300));
    assert_eq!(by_uri(&b, "sip:a@h2"), t0 + secs(600));

    let b = r
        .register(
            t0,
            "sip:bob@x",
            "c2",
            1,
            contacts(&[("sip:b@h", None)]),
            None,
            peer(1),
        )
        .unwrap();
    assert_eq!(b[0].expires_at, t0 + secs(3600));
    let b = r
        .register(
            t0,
            "sip:carol@x",
            "c3",
            1,
            contacts(&[("sip:c@h", Some(u32::MAX))]),
            None,
            peer(1),
        )
        .unwrap();
    assert_eq!(b[0].expires_at, t0 + secs(3600));
}

#[test]
fn refresh_extends_and_keeps_one_binding() {
    let t0 = epoch();
    let mut r = registrar();
    let c = || contacts(&[("sip:alice@10.0.0.1:5060", Some(60))]);
    r.register(t0, AOR, "c1", 1, c(), None, peer(1)).unwrap();
    let t1 = t0 + secs(50);
    let b = r.register(t1, AOR, "c1", 2, c(), None, peer(2)).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].expires_at, t1 + secs(60));
    assert_eq!(b[0].cseq, 2);
    assert_eq!(b[0].source, peer(2));
    assert_eq!(r.len(), 1);
    assert_eq!(r.poll_timeout(), Some(t1 + secs(60)));
    r.handle_timeout(t0 + secs(60));
    assert_eq!(r.lookup(t0 + secs(60), AOR).len(), 1);
    // One Registered for the first binding; a refresh is no new event.
    assert_eq!(events(&mut r), vec![registered()]);
}

#[test]
fn same_uri_in_another_case_of_host_is_the_same_binding() {
    let t0 = epoch();
    let mut r = registrar();
    r.register(
        t0,
        AOR,
        "c1",
        1,
        contacts(&[("<sip:alice@Desk.Example:5060>", None)]),
        None,
        peer(1),
    )
    .unwrap();
    let b = r
        .register(
            t0,
            AOR,
            "c2",
            1,
            contacts(&[("sip:alice@desk.example:5060;ob", None)]),
            None,
            peer(1),
        )
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].call_id, "c2");
}

#[test]
fn short_non_zero_expiry_is_423_with_min() {
    let t0 = epoch();
    let mut r = registrar();
    let err = r
        .register(
            t0,
            AOR,
            "c1",
            1,
            contacts(&[("sip:a@h", Some(59))]),
            None,
            peer(1),
        )
        .unwrap_err();
    assert_eq!(err, RegisterError::IntervalTooBrief { min: secs(60) });
    assert_eq!(err.status(), 423);
    let err = r
        .register(
            t0,
            AOR,
            "c1",
            2,
            contacts(&[("sip:a@h", None)]),
            Some(1),
            peer(1),
        )
        .unwrap_err();
    assert_eq!(err.status(), 423);
    assert_eq!(r.len(), 0);
    assert!(r
        .register(
            t0,
            AOR,
            "c1",
            3,
            contacts(&[("sip:a@h", Some(60))]),
            None,
            peer(1)
        )
        .is_ok());
}

#[test]
fn expires_zero_removes_that_binding_only() {
    let t0 = epoch();
    let mut r = registrar();
    r.register(
        t0,
        AOR,
        "c1",
        1,
        contacts(&[("sip:a@h1", None), ("sip:a@h2", None)]),
        None,
        peer(1),
    )
    .unwrap();
    let b = r
        .register(
            t0,
            AOR,
            "c1",
            2,
            contacts(&[("sip:a@h1", Some(0))]),
            None,
            peer(1),
        )
        .unwrap();
    assert_eq!(
        b.iter().map(|b| b.uri.as_str()).collect::<Vec<_>>(),
        ["sip:a@h2"]
    );
    let b = r
        .register(
            t0,
            AOR,
            "c1",
            3,
            contacts(&[("sip:a@h2", None)]),
            Some(0),
            peer(1),
        )
        .unwrap();
    assert!(b.is_empty());
    assert_eq!(events(&mut r), vec![registered(), unregistered()]);
}

#[test]
fn star_with_expires_zero_removes_all() {
    let t0 = epoch();
    let mut r = registrar();
    r.register(
        t0,
        AOR,
        "c1",
        1,
        contacts(&[("sip:a@h1", None), ("sip:a@h2", None)]),
        None,
        peer(1),
    )
    .unwrap();
    assert_eq!(r.len(), 2);
    let b = r
        .register(t0, AOR, "c9", 1, Update::Star, Some(0), peer(1))
        .unwrap();
    assert!(b.is_empty());
    assert_eq!(r.len(), 0);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(events(&mut r), vec![registered(), unregistered()]);
}

#[test]
fn star_without_expires_zero_is_400() {
    let t0 = epoch();
    let mut r = registrar();
    r.register(
        t0,
        AOR,
        "c1",
        1,
        contacts(&[("sip:a@h1", None)]),
        None,
        peer(1),
    )
    .unwrap();
    for expires in [None, Some(60)] {
        let err = r
            .register(t0, AOR, "c1", 2, Update::Star, expires, peer(1))
            .unwrap_err();
        assert_eq!(err, RegisterError::StarWithNonZeroExpires);
        assert_eq!(err.status(), 400);
    }
    assert_eq!(r.len(), 1);
}

#[test]
fn star_with_same_call_id_and_old_cseq_is_out_of_order() {
    let t0 = epoch();
    let mut r = registrar();
    r.register(
        t0,
        AOR,
        "c1",
        5,
        contacts(&[("sip:a@h1", None)]),
        None,
        peer(1),
    )
    .unwrap();
    let err = r
        .register(t0, AOR, "c1", 5, Update::Star, Some(0), peer(1))
        .unwrap_err();
    assert_eq!(err, RegisterError::OutOfOrder { cseq: 5, stored: 5 });
    assert_eq!(r.len(), 1);
}

#[test]
fn same_call_id_with_cseq_not_higher_is_out_of_order_and_changes_nothing() {
    let t0 = epoch();
    let mut r = registrar();
    r.register(
        t0,
        AOR,
        "c1",
        10,
        contacts(&[("sip:a@h1", Some(100))]),
        None,
        peer(1),
    )
    .unwrap();
    for cseq in [10, 9] {
        let err = r
            .register(
                t0 + secs(1),
                AOR,
                "c1",
                cseq,
                contacts(&[("sip:a@h2", None), ("sip:a@h1", Some(0))]),
                None,
                peer(1),
            )
            .unwrap_err();
        assert_eq!(err, RegisterError::OutOfOrder { cseq, stored: 10 });
        assert_eq!(err.status(), 500);
    }
    let live = r.lookup(t0 + secs(1), AOR);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].expires_at, t0 + secs(100));
    // Another Call-ID (the phone rebooted) may use any CSeq.
    assert!(r
        .register(
            t0,
            AOR,
            "c2",
            1,
            contacts(&[("sip:a@h1", None)]),
            None,
            peer(1)
        )
        .is_ok());
}

#[test]
fn two_contacts_ordered_by_q_then_most_recent() {
    let t0 = epoch();
    let mut r = registrar();
    let mut desk = contact("sip:alice@10.0.0.1", None);
    desk.q = Some("0.5".to_owned());
    r.register(
        t0,
        AOR,
        "c1",
        1,
        Update::Contacts(vec![desk]),
        None,
        peer(1),
    )
    .unwrap();
    r.register(
        t0,
        AOR,
        "c2",
        1,
        contacts(&[("sip:alice@10.0.0.2", None)]),
        None,
        peer(2),
    )
    .unwrap();
    r.register(
        t0,
        AOR,
        "c3",
        1,
        contacts(&[("sip:alice@10.0.0.3", None)]),
        None,
        peer(3),
    )
    .unwrap();
    let order: Vec<_> = r.lookup(t0, AOR).iter().map(|b| b.uri.clone()).collect();
    assert_eq!(
        order,
        [
            "sip:alice@10.0.0.3",
            "sip:alice@10.0.0.2",
            "sip:alice@10.0.0.1"
        ]
    );
    assert_eq!(r.len(), 3);
    assert_eq!(events(&mut r), vec![registered()]);
}

#[test]
fn instance_id_matches_a_binding_whose_uri_changed() {
    let t0 = epoch();
    let mut r = registrar();
    let with_instance = |uri: &str| ContactRequest {
        instance: Some("\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"".to_owned()),
        ..contact(uri, None)
    };
    r.register(
        t0,
        AOR,
        "c1",
        1,
        Update::Contacts(vec![with_instance("sip:a@10.0.0.1:5060")]),
        None,
        peer(1),
    )
    .unwrap();
    let b = r
        .register(
            t0,
            AOR,
            "c1",
            2,
            Update::Contacts(vec![with_instance("sip:a@10.0.0.9:6000")]),
            None,
            peer(9),
        )
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].uri, "sip:a@10.0.0.9:6000");
}

#[test]
fn bindings_per_aor_are_bounded() {
    let t0 = epoch();
    let mut r = registrar();
    let uris: Vec<String> = (0..=BINDINGS_PER_AOR_MAX)
        .map(|i| format!("sip:a@10.0.0.{i}"))
        .collect();
    for (i, uri) in uris[..BINDINGS_PER_AOR_MAX].iter().enumerate() {
        r.register(
            t0,
            AOR,
            &format!("c{i}"),
            1,
            contacts(&[(uri, None)]),
            None,
            peer(1),
        )
        .unwrap();
    }
    let err = r
        .register(
            t0,
            AOR,
            "cx",
            1,
            contacts(&[(&uris[BINDINGS_PER_AOR_MAX], None)]),
            None,
            peer(1),
        )
        .unwrap_err();
    assert_eq!(
        err,
        RegisterError::TooManyBindings {
            max: BINDINGS_PER_AOR_MAX
        }
    );
    assert_eq!(err.status(), 403);
    assert_eq!(r.len(), BINDINGS_PER_AOR_MAX);
    // Refreshing an existing one still works at the bound.
    assert!(r
        .register(
            t0,
            AOR,
            "c0",
            2,
            contacts(&[(&uris[0], None)]),
            None,
            peer(1)
        )
        .is_ok());
}

#[test]
fn fetch_lists_without_changing() {
    let t0 = epoch();
    let mut r = registrar();
    assert!(r
        .register(t0, AOR, "c1", 1, Update::Fetch, None, peer(1))
        .unwrap()
        .is_empty());
    r.register(
        t0,
        AOR,
        "c1",
        2,
        contacts(&[("sip:a@h", None)]),
        None,
        peer(1),
    )
    .unwrap();
    let b = r
        .register(t0, AOR, "c1", 3, Update::Fetch, None, peer(1))
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].cseq, 2);
}

#[test]
fn bad_contacts_are_400_and_change_nothing() {
    let t0 = epoch();
    let mut r = registrar();
    let err = r
        .register(
            t0,
            AOR,
            "c1",
            1,
            contacts(&[("sip:a@h", None), ("not a uri", None)]),
            None,
            peer(1),
        )
        .unwrap_err();
    assert_eq!(err, RegisterError::InvalidContact { index: 1 });
    assert_eq!(err.status(), 400);
    let mut c = contact("sip:a@h", None);
    c.q = Some("1.5".to_owned());
    let err = r
        .register(t0, AOR, "c1", 2, Update::Contacts(vec![c]), None, peer(1))
        .unwrap_err();
    assert_eq!(err, RegisterError::InvalidQ { index: 0 });
    assert_eq!(
        r.register(t0, "", "c1", 3, Update::Fetch, None, peer(1)),
        Err(RegisterError::EmptyAor)
    );
    assert_eq!(r.len(), 0);
    assert!(events(&mut r).is_empty());
}

#[test]
fn expired_bindings_are_dropped_per_aor_at_each_deadline() {
    let t0 = epoch();
    let mut r = registrar();
    r.register(
        t0,
        AOR,
        "c1",
        1,
        contacts(&[("sip:a@h1", Some(60)), ("sip:a@h2", Some(120))]),
        None,
        peer(1),
    )
    .unwrap();
    r.register(
        t0,
        "sip:bob@x",
        "c2",
        1,
        contacts(&[("sip:b@h", Some(90))]),
        None,
        peer(1),
    )
    .unwrap();
    assert_eq!(r.poll_timeout(), Some(t0 + secs(60)));
    r.handle_timeout(t0 + secs(60));
    assert_eq!(r.len(), 2);
    assert_eq!(r.poll_timeout(), Some(t0 + secs(90)));
    r.handle_timeout(t0 + secs(90));
    assert_eq!(r.poll_timeout(), Some(t0 + secs(120)));
    r.handle_timeout(t0 + secs(120));
    assert_eq!(r.len(), 0);
    let ev = events(&mut r);
    assert_eq!(
        ev,
        [
            registered(),
            RegistrarEvent::Registered {
                aor: "sip:bob@x".to_owned()
            },
            RegistrarEvent::Unregistered {
                aor: "sip:bob@x".to_owned()
            },
            unregistered(),
        ]
    );
}

#[test]
fn expired_binding_is_not_refreshed_by_a_late_register_with_old_cseq() {
    let t0 = epoch();
    let mut r = registrar();
    r.register(
        t0,
        AOR,
        "c1",
        5,
        contacts(&[("sip:a@h", Some(60))]),
        None,
        peer(1),
    )
    .unwrap();
    // The driver has not called handle_timeout yet: register still sees it gone.
    let b = r
        .register(
            t0 + secs(61),
            AOR,
            "c1",
            5,
            contacts(&[("sip:a@h", Some(60))]),
            None,
            peer(1),
        )
        .unwrap();
    assert_eq!(b[0].expires_at, t0 + secs(121));
    assert_eq!(
        events(&mut r),
        vec![registered(), unregistered(), registered()]
    );
}

#[test]
fn aors_are_bounded_and_a_full_registrar_answers_503() {
    let t0 = epoch();
    let mut r = registrar();
    for i in 0..AORS_MAX {
        r.register(
            t0,
            &format!("sip:{i}@x"),
            "c",
            1,
            contacts(&[("sip:p@h", None)]),
            None,
            peer(1),
        )
        .unwrap();
        // Drain as the driver does, so the event queue stays short.
        while r.poll_event().is_some() {}
    }
    let err = r
        .register(
            t0,
            AOR,
            "c",
            1,
            contacts(&[("sip:p@h", None)]),
            None,
            peer(1),
        )
        .unwrap_err();
    assert_eq!(err, RegisterError::TooManyAors { max: AORS_MAX });
    assert_eq!(err.status(), 503);
    // Known AORs still refresh and fetch.
    assert!(r
        .register(
            t0,
            "sip:0@x",
            "c",
            2,
            contacts(&[("sip:p@h", None)]),
            None,
            peer(1)
        )
        .is_ok());
    assert!(r
        .register(t0, AOR, "c", 2, Update::Fetch, None, peer(1))
        .is_ok());
    assert_eq!(r.len(), AORS_MAX);
    assert_eq!(r.events_dropped_total(), 0);
}

#[test]
fn undrained_events_are_bounded_dropping_the_oldest() {
    let t0 = epoch();
    let mut r = registrar();
    for i in 0..=EVENTS_QUEUED_MAX {
        r.register(
            t0,
            &format!("sip:{i}@x"),
            "c",
            1,
            contacts(&[("sip:p@h", None)]),
            None,
            peer(1),
        )
        .unwrap();
    }
    assert_eq!(r.events_dropped_total(), 1);
    assert_eq!(
        r.poll_event(),
        Some(RegistrarEvent::Registered {
            aor: "sip:1@x".to_owned()
        })
    );
}

#[test]
fn each_outbound_flow_of_an_instance_is_its_own_binding_and_refreshes_alone() {
    let t0 = epoch();
    let mut r = registrar();
    let instance = "\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
    let flow = |uri: &str, reg_id| ContactRequest {
        instance: Some(instance.to_owned()),
        reg_id: Some(reg_id),
        ..contact(uri, None)
    };
    // Two flows of one phone (RFC 5626 §3.2: two edge paths), each from its own address.
    for (reg_id, port) in [(1, 5061), (2, 5062)] {
        r.register(
            t0,
            AOR,
            &format!("c{reg_id}"),
            1,
            Update::Contacts(vec![flow(&format!("sip:a@10.0.0.1:{port};ob"), reg_id)]),
            None,
            peer(port),
        )
        .unwrap();
    }
    let b = r.lookup(t0, AOR);
    assert_eq!(b.len(), 2, "both flows kept");
    assert!(b.iter().all(|b| b.is_flow()));
    // Flow 1 comes back from a new address (NAT rebinding): it replaces
    // flow 1 only, and calls follow the new source.
    let b = r
        .register(
            t0 + secs(10),
            AOR,
            "c1",
            2,
            Update::Contacts(vec![flow("sip:a@10.0.0.1:7000;ob", 1)]),
            None,
            peer(7000),
        )
        .unwrap();
    assert_eq!(b.len(), 2);
    let f1 = b.iter().find(|b| b.reg_id == Some(1)).unwrap();
    assert_eq!(f1.source, peer(7000));
    assert_eq!(
        b.iter().find(|b| b.reg_id == Some(2)).unwrap().source,
        peer(5062)
    );
    // An instance without reg-id is a plain binding (RFC 3261), not a flow.
    let plain = ContactRequest {
        instance: Some(instance.to_owned()),
        ..contact("sip:a@10.0.0.1:8000", None)
    };
    let b = r
        .register(
            t0,
            AOR,
            "c3",
            1,
            Update::Contacts(vec![plain]),
            None,
            peer(8000),
        )
        .unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(b.iter().filter(|b| b.is_flow()).count(), 2);
}

#[test]
fn a_failed_flow_takes_its_bindings_and_nothing_else() {
    let t0 = epoch();
    let mut r = registrar();
    let tcp = |port| Peer {
        transport: Transport::Tcp,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
    };
    let flow = ContactRequest {
        instance: Some("\"<urn:uuid:1>\"".to_owned()),
        reg_id: Some(1),
        ..contact("sip:a@10.0.0.1;ob", None)
    };
    r.register(
        t0,
        AOR,
        "c1",
        1,
        Update::Contacts(vec![flow]),
        None,
        tcp(7000),
    )
    .unwrap();
    // A plain binding from the same address is not a flow: it stays.
    r.register(
        t0,
        AOR,
        "c2",
        1,
        contacts(&[("sip:a@10.0.0.2", None)]),
        None,
        tcp(7000),
    )
    .unwrap();
    assert_eq!(events(&mut r), vec![registered()]);
    assert_eq!(r.flow_failed(tcp(7001)), 0, "another connection");
    assert_eq!(r.flow_failed(tcp(7000)), 1);
    assert_eq!(r.lookup(t0, AOR).len(), 1);
    assert!(events(&mut r).is_empty(), "the AOR still has a binding");
    r.register(
        t0,
        AOR,
        "c2",
        2,
        contacts(&[("sip:a@10.0.0.2", Some(0))]),
        None,
        tcp(7000),
    )
    .unwrap();
    assert_eq!(events(&mut r), vec![unregistered()]);
    assert!(r.is_empty());
}

fn limited(max: usize, remove_existing: bool) -> Registrar {
    Registrar::new(RegistrarConfig {
        contacts: ContactLimit {
            max_default: max,
            per_aor: HashMap::new(),
            remove_existing,
        },
        ..RegistrarConfig::default()
    })
}

#[test]
fn a_second_phone_is_refused_when_one_is_allowed() {
    let mut r = limited(1, false);
    let t0 = epoch();
    let first = contacts(&[("sip:a@10.0.0.1", None)]);
    r.register(t0, AOR, "c1", 1, first, None, peer(5060))
        .unwrap();
    // The same phone refreshing is fine.
    let again = contacts(&[("sip:a@10.0.0.1", None)]);
    r.register(t0, AOR, "c1", 2, again, None, peer(5060))
        .unwrap();
    let second = contacts(&[("sip:a@10.0.0.9", None)]);
    let err = r
        .register(t0, AOR, "c9", 1, second, None, peer(5099))
        .unwrap_err();
    assert_eq!(err, RegisterError::TooManyContacts { max: 1 });
    assert_eq!(err.status(), 403);
    assert_eq!(r.lookup(t0, AOR)[0].uri, "sip:a@10.0.0.1");
}

#[test]
fn remove_existing_replaces_the_oldest_phone() {
    let mut r = limited(1, true);
    let t0 = epoch();
    r.register(
        t0,
        AOR,
        "c1",
        1,
        contacts(&[("sip:a@10.0.0.1", None)]),
        None,
        peer(1),
    )
    .unwrap();
    events(&mut r);
    let t1 = t0 + secs(1);
    let after = r
        .register(
            t1,
            AOR,
            "c9",
            1,
            contacts(&[("sip:a@10.0.0.9", None)]),
            None,
            peer(9),
        )
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].uri, "sip:a@10.0.0.9");
    assert_eq!(
        events(&mut r),
        vec![RegistrarEvent::Replaced {
            aor: AOR.to_owned(),
            source: peer(9)
        }]
    );
    // A REGISTER that itself brings more phones than allowed is refused.
    let two = contacts(&[("sip:a@10.0.0.7", None), ("sip:a@10.0.0.8", None)]);
    assert_eq!(
        r.register(t1, AOR, "c7", 1, two, None, peer(7))
            .unwrap_err(),
        RegisterError::TooManyContacts { max: 1 }
    );
}

#[test]
fn flows_of_one_instance_count_as_one_phone_and_per_aor_limits_win() {
    let mut r = limited(1, false);
    let t0 = epoch();
    let flow = |reg_id| ContactRequest {
        instance: Some("\"<urn:uuid:00000000-0000-0000-0000-000000000001>\"".into()),
        reg_id: Some(reg_id),
        ..contact(&format!("sip:a@10.0.0.{reg_id}"), None)
    };
    let both = Update::Contacts(vec![flow(1), flow(2)]);
    assert_eq!(
        r.register(t0, AOR, "c1", 1, both, None, peer(1))
            .unwrap()
            .len(),
        2
    );
    let mut r = limited(1, false);
    r.config.contacts.per_aor.insert(AOR.to_owned(), 2);
    r.register(
        t0,
        AOR,
        "c1",
        1,
        contacts(&[("sip:a@10.0.0.1", None)]),
        None,
        peer(1),
    )
    .unwrap();
    r.register(
        t0,
        AOR,
        "c2",
        1,
        contacts(&[("sip:a@10.0.0.2", None)]),
        None,
        peer(2),
    )
    .unwrap();
    assert_eq!(r.lookup(t0, AOR).len(), 2);
}
