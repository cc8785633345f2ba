use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;
use crate::call::session::menu::{CallMenu, MenuPlan, MenuSession};
use crate::call::session::SupervisorLeg;

// The one clock read of these tests: every other instant is t0 plus a Duration.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn menu(now: Instant) -> CallMenu {
    let plan = MenuPlan {
        prompt: "menu_main".into(),
        options: Default::default(),
        timeout: secs(5),
        retries: 0,
        default: None,
    };
    let menus = HashMap::from([("main".to_string(), plan)]);
    let (session, _) = MenuSession::start(&menus, "main", now).expect("the menu exists");
    CallMenu {
        session,
        priority: 3,
        attributes: vec![("lang".into(), "fi".into())],
    }
}

fn supervisor(dialog: &str) -> Box<SupervisorLeg> {
    use crate::sip::transaction::{ServerKey, TxMethod};
    use crate::sip::{Peer, Transport};
    Box::new(SupervisorLeg {
        dialog: dialog.to_string(),
        by: "1009".into(),
        key: ServerKey {
            branch: format!("z9hG4bK-{dialog}"),
            sent_by: "127.0.0.1:5062".into(),
            method: TxMethod::Invite,
        },
        acked: false,
        answer: bytes::Bytes::from_static(b"v=0\r\n"),
        bye: bytes::Bytes::from_static(b"BYE"),
        bye_branch: format!("z9hG4bK-bye-{dialog}"),
        peer: Peer {
            transport: Transport::Udp,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 5062)),
        },
        took_over: false,
    })
}

fn feed(s: &mut PhaseMachine, now: Instant, event: SessionEvent) -> Vec<SessionAction> {
    let mut out = Vec::new();
    s.handle(now, event, &mut out);
    out
}

#[test]
fn a_menu_caller_leaves_with_its_priority_and_is_routed_anew() {
    let t = t0();
    let mut s = PhaseMachine::default();
    assert!(feed(&mut s, t, SessionEvent::MenuEntered(menu(t))).is_empty());
    assert_eq!(s.menu().map(|m| m.priority), Some(3));
    let left = s.leave_menu().expect("in a menu");
    assert_eq!(left.attributes, vec![("lang".into(), "fi".into())]);
    assert!(matches!(s.phase(), Phase::Routing));
    assert!(s.leave_menu().is_none(), "a menu is left once");
}

#[test]
fn a_ring_timer_is_due_only_while_its_deadline_stands() {
    let t = t0();
    let mut s = PhaseMachine::default();
    feed(&mut s, t, SessionEvent::Offered);
    assert!(matches!(s.phase(), Phase::Ringing { deadline: None }));
    let at = t + secs(15);
    let out = feed(&mut s, t, SessionEvent::RingTimerArmed(at));
    assert_eq!(out, vec![SessionAction::WakeForRing(at)]);
    assert!(s.ring_due(at));
    assert!(!s.ring_due(t + secs(14)), "another deadline is stale");
    feed(&mut s, t + secs(3), SessionEvent::RingStopped);
    assert!(!s.ring_due(at), "a stopped ring has no deadline");
    assert!(matches!(s.phase(), Phase::Ringing { deadline: None }));
}

#[test]
fn a_missed_offer_puts_a_queued_call_back_in_the_queue() {
    let t = t0();
    let mut s = PhaseMachine::default();
    feed(&mut s, t, SessionEvent::Queued);
    feed(&mut s, t + secs(1), SessionEvent::Offered);
    assert!(matches!(s.phase(), Phase::Ringing { .. }));
    feed(&mut s, t + secs(16), SessionEvent::RingStopped);
    feed(&mut s, t + secs(16), SessionEvent::Queued);
    assert!(matches!(s.phase(), Phase::Queued));
}

#[test]
fn supervision_and_recording_belong_to_the_talk() {
    let t = t0();
    let mut s = PhaseMachine::default();
    let joined = SessionEvent::SupervisorJoined(supervisor("sup-1"));
    feed(&mut s, t, joined.clone());
    assert_eq!(
        s.supervisor(),
        None,
        "nobody listens to a call not answered"
    );
    feed(&mut s, t, SessionEvent::Offered);
    feed(&mut s, t + secs(2), SessionEvent::Answered);
    assert!(s.is_talking());
    feed(
        &mut s,
        t + secs(2),
        SessionEvent::RingTimerArmed(t + secs(9)),
    );
    assert!(s.is_talking(), "a late ring timer does not unanswer a call");
    let path = PathBuf::from("/rec/1.wav");
    let started = SessionEvent::RecordingStarted { path: path.clone() };
    feed(&mut s, t + secs(2), started);
    assert!(s.is_recording());
    feed(&mut s, t + secs(5), joined);
    assert_eq!(s.supervisor().map(|l| l.dialog.as_str()), Some("sup-1"));
    s.supervisor_mut().expect("listening").acked = true;
    let left = s.leave_supervision().expect("a supervisor listened");
    assert!(left.acked, "the leg comes back as it was");
    assert_eq!(s.supervisor(), None);
    assert!(s.leave_supervision().is_none());
    feed(
        &mut s,
        t + secs(7),
        SessionEvent::SupervisorJoined(supervisor("sup-2")),
    );
    let out = feed(
        &mut s,
        t + secs(30),
        SessionEvent::Ended {
            ended: t + secs(20),
        },
    );
    assert_eq!(
        out,
        vec![
            SessionAction::HangUpSupervisor(supervisor("sup-2")),
            SessionAction::RecordingEnded {
                path,
                length: secs(18)
            },
        ]
    );
    assert!(matches!(s.phase(), Phase::Ended));
    assert!(feed(&mut s, t + secs(31), SessionEvent::Answered).is_empty());
    assert!(
        matches!(s.phase(), Phase::Ended),
        "an ended call stays ended"
    );
}

#[test]
fn a_failed_recording_leaves_nothing_for_the_record() {
    let t = t0();
    let mut s = PhaseMachine::default();
    feed(&mut s, t, SessionEvent::Answered);
    let started = SessionEvent::RecordingStarted {
        path: PathBuf::from("/rec/2.wav"),
    };
    feed(&mut s, t, started);
    feed(&mut s, t + secs(1), SessionEvent::RecordingFailed);
    assert!(!s.is_recording());
    let out = feed(
        &mut s,
        t + secs(4),
        SessionEvent::Ended { ended: t + secs(4) },
    );
    assert!(out.is_empty());
}

#[test]
fn hold_is_a_state_of_the_talk_and_ends_with_it() {
    use crate::media::command::MediaLeg;
    let t = t0();
    let mut s = PhaseMachine::default();
    let held = SessionEvent::Held {
        by: MediaLeg::Agent,
    };
    feed(&mut s, t, held.clone());
    assert_eq!(s.held_by(), None, "an unanswered call is not on hold");
    feed(&mut s, t, SessionEvent::Answered);
    feed(&mut s, t + secs(1), held);
    assert_eq!(s.held_by(), Some(MediaLeg::Agent));
    feed(&mut s, t + secs(2), SessionEvent::Resumed);
    assert_eq!(s.held_by(), None);
    feed(
        &mut s,
        t + secs(3),
        SessionEvent::Held {
            by: MediaLeg::Caller,
        },
    );
    assert!(feed(
        &mut s,
        t + secs(4),
        SessionEvent::Ended { ended: t + secs(4) }
    )
    .is_empty());
    assert_eq!(s.held_by(), None);
}

fn consultation(call_id: &str) -> Box<super::super::Consultation> {
    use crate::call::session::{BLeg, Consultation};
    Box::new(Consultation {
        target: "1002".into(),
        leg: BLeg {
            agent: Some("1002".into()),
            call_id: call_id.into(),
            local_tag: "t".into(),
            from: "<sip:1001@127.0.0.1>".into(),
            to: "<sip:1002@127.0.0.1>".into(),
            cseq: 1,
            forks: Vec::new(),
            winner: None,
            credentials: None,
        },
        port: 20004,
        answered: false,
        held_by_us: true,
    })
}

#[test]
fn a_consultation_rings_then_talks_and_leaves_the_call_talking() {
    let t = t0();
    let mut s = PhaseMachine::default();
    // Not talking yet: no consultation.
    feed(&mut s, t, SessionEvent::ConsultStarted(consultation("c1")));
    assert!(s.consult().is_none());
    feed(&mut s, t, SessionEvent::Answered);
    feed(
        &mut s,
        t + secs(10),
        SessionEvent::ConsultStarted(consultation("c1")),
    );
    assert!(s.consult().is_some_and(|c| !c.answered), "it rings");
    // One at a time, and no supervisor meanwhile (one relay leg for both).
    feed(
        &mut s,
        t + secs(11),
        SessionEvent::ConsultStarted(consultation("c2")),
    );
    assert_eq!(s.consult().map(|c| c.leg.call_id.as_str()), Some("c1"));
    feed(
        &mut s,
        t + secs(11),
        SessionEvent::SupervisorJoined(supervisor("sup")),
    );
    assert!(s.supervisor().is_none());
    feed(&mut s, t + secs(12), SessionEvent::ConsultAnswered);
    assert!(s.consult().is_some_and(|c| c.answered), "it talks");
    let left = s.leave_consult().expect("the consultation");
    assert_eq!(left.leg.call_id, "c1");
    assert!(s.consult().is_none() && s.is_talking());
    assert!(s.leave_consult().is_none());
}

#[test]
fn a_call_that_ends_during_its_consultation_hangs_the_colleague_up() {
    let t = t0();
    let mut s = PhaseMachine::default();
    feed(&mut s, t, SessionEvent::Answered);
    feed(
        &mut s,
        t + secs(5),
        SessionEvent::ConsultStarted(consultation("c1")),
    );
    let out = feed(
        &mut s,
        t + secs(9),
        SessionEvent::Ended { ended: t + secs(9) },
    );
    assert_eq!(
        out,
        vec![SessionAction::HangUpConsultation(consultation("c1"))]
    );
    assert!(s.consult().is_none());
}
