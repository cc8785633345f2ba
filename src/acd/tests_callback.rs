//! The callback core in virtual time: retries, the attempt limit, a
//! scheduled callback, and a restore that keeps arrival order.

use std::time::{Duration, Instant};

use super::*;

const WALL: Duration = Duration::from_secs(1_800_000_000);

fn callback(arrived: Duration) -> Callback {
    Callback {
        queue: "support".into(),
        number: "5551234".into(),
        priority: 0,
        attributes: vec![("language".into(), "en".into())],
        arrived,
        attempts: 0,
        attempts_max: 3,
        retry: Duration::from_secs(300),
        due: None,
        origin: "call-1".into(),
    }
}

fn outputs(c: &mut Callbacks) -> Vec<CallbackOutput> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

fn enqueued(out: &[CallbackOutput]) -> Vec<(CallbackId, Instant)> {
    out.iter()
        .filter_map(|o| match o {
            CallbackOutput::Enqueue { id, arrived, .. } => Some((*id, *arrived)),
            _ => None,
        })
        .collect()
}

#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

#[test]
fn a_request_joins_its_queue_at_once_keeping_the_callers_arrival() {
    let (now, mut c) = (t0(), Callbacks::default());
    // The caller joined 40 s ago and pressed the key now.
    let id = c
        .request(now, WALL, callback(WALL - Duration::from_secs(40)))
        .unwrap();
    let out = outputs(&mut c);
    assert!(matches!(&out[0], CallbackOutput::Save { id: i, .. } if *i == id));
    assert_eq!(enqueued(&out), vec![(id, now - Duration::from_secs(40))]);
    assert_eq!(c.get(id).unwrap().1, &CallbackPhase::Waiting);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_busy_customer_is_tried_again_after_retry_until_the_attempts_run_out() {
    let (mut now, mut c) = (t0(), Callbacks::default());
    let mut wall = WALL;
    let id = c.request(now, wall, callback(wall)).unwrap();
    outputs(&mut c);
    for attempt in 1..=3u32 {
        c.offered(id, "1001").unwrap();
        c.agent_answered(id).unwrap();
        assert_eq!(
            c.get(id).unwrap().1,
            &CallbackPhase::Dialling("1001".into())
        );
        c.tried(now, wall, id, false).unwrap();
        let out = outputs(&mut c);
        if attempt == 3 {
            assert_eq!(
                out,
                vec![CallbackOutput::Done {
                    id,
                    completed: false,
                    attempts: 3
                }]
            );
            assert!(c.is_empty());
            return;
        }
        let retry_at = now + Duration::from_secs(300);
        assert_eq!(c.poll_timeout(), Some(retry_at));
        let CallbackOutput::Save { callback, .. } = &out[0] else {
            panic!("{out:?}");
        };
        assert_eq!(callback.attempts, attempt);
        assert_eq!(callback.due, Some(wall + Duration::from_secs(300)));
        // Nothing before its time.
        c.handle_timeout(retry_at - Duration::from_millis(1), wall);
        assert!(outputs(&mut c).is_empty());
        now = retry_at;
        wall += Duration::from_secs(300);
        c.handle_timeout(now, wall);
        let out = outputs(&mut c);
        // Back in its queue with its first arrival: it keeps its place.
        let arrived = now - Duration::from_secs(300 * u64::from(attempt));
        assert_eq!(enqueued(&out), vec![(id, arrived)]);
    }
}

#[test]
fn an_agent_who_misses_leaves_it_waiting_and_an_answered_try_completes_it() {
    let (now, mut c) = (t0(), Callbacks::default());
    let id = c.request(now, WALL, callback(WALL)).unwrap();
    outputs(&mut c);
    c.offered(id, "1001").unwrap();
    c.agent_missed(id).unwrap();
    assert_eq!(c.get(id).unwrap().1, &CallbackPhase::Waiting);
    assert!(outputs(&mut c).is_empty(), "a miss keeps the router entry");
    c.offered(id, "1002").unwrap();
    c.agent_answered(id).unwrap();
    c.tried(now, WALL, id, true).unwrap();
    assert_eq!(
        outputs(&mut c),
        vec![CallbackOutput::Done {
            id,
            completed: true,
            attempts: 1
        }]
    );
    assert_eq!(
        c.tried(now, WALL, id, true),
        Err(CallbackError::Unknown(id))
    );
}

#[test]
fn a_scheduled_callback_joins_its_queue_at_its_time_as_if_it_arrived_then() {
    let (now, mut c) = (t0(), Callbacks::default());
    let at = WALL + Duration::from_secs(7200);
    let mut cb = callback(at);
    cb.due = Some(at);
    let id = c.request(now, WALL, cb).unwrap();
    let out = outputs(&mut c);
    assert!(enqueued(&out).is_empty());
    let due = now + Duration::from_secs(7200);
    assert_eq!(c.poll_timeout(), Some(due));
    assert_eq!(c.get(id).unwrap().1, &CallbackPhase::Scheduled(due));
    c.handle_timeout(due, at);
    let out = outputs(&mut c);
    assert_eq!(enqueued(&out), vec![(id, due)]);
    assert!(
        matches!(&out[1], CallbackOutput::Save { callback, .. } if callback.due.is_none()),
        "{out:?}"
    );
}

#[test]
fn a_restore_enqueues_in_arrival_order_and_keeps_future_ones_scheduled() {
    let (now, mut c) = (t0(), Callbacks::default());
    let later = callback(WALL - Duration::from_secs(10));
    let earlier = callback(WALL - Duration::from_secs(90));
    let mut scheduled = callback(WALL + Duration::from_secs(60));
    scheduled.due = Some(WALL + Duration::from_secs(60));
    // A retry that fell due while the switch was down goes in at once.
    let mut overdue = callback(WALL - Duration::from_secs(50));
    overdue.due = Some(WALL - Duration::from_secs(5));
    overdue.attempts = 1;
    c.restore(
        now,
        WALL,
        vec![(7, later), (3, scheduled), (9, earlier), (4, overdue)],
    );
    let out = outputs(&mut c);
    assert_eq!(
        enqueued(&out),
        vec![
            (CallbackId(9), now - Duration::from_secs(90)),
            (CallbackId(4), now - Duration::from_secs(50)),
            (CallbackId(7), now - Duration::from_secs(10)),
        ]
    );
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(60)));
    assert_eq!(c.len(), 4);
    // New ids follow the stored ones.
    let id = c.request(now, WALL, callback(WALL)).unwrap();
    assert_eq!(id, CallbackId(10));
}

#[test]
fn a_caller_already_waiting_keeps_its_router_entry() {
    let mut c = Callbacks::default();
    let id = c.request_queued(callback(WALL)).unwrap();
    let out = outputs(&mut c);
    assert!(enqueued(&out).is_empty(), "{out:?}");
    assert!(matches!(&out[..], [CallbackOutput::Save { .. }]));
    assert_eq!(c.get(id).unwrap().1, &CallbackPhase::Waiting);
}

#[test]
fn a_postponed_callback_comes_back_after_retry_with_its_place_and_tries() {
    let (now, mut c) = (t0(), Callbacks::default());
    let id = c
        .request(now, WALL, callback(WALL - Duration::from_secs(60)))
        .unwrap();
    outputs(&mut c);
    c.postpone(now, WALL, id).unwrap();
    let retry_at = now + Duration::from_secs(300);
    assert_eq!(c.poll_timeout(), Some(retry_at));
    outputs(&mut c);
    c.handle_timeout(retry_at, WALL + Duration::from_secs(300));
    let out = outputs(&mut c);
    assert_eq!(enqueued(&out), vec![(id, now - Duration::from_secs(60))]);
    assert_eq!(c.get(id).unwrap().0.attempts, 0);
}

#[test]
fn erasing_a_number_forgets_its_callbacks_with_or_without_the_plus() {
    let (now, mut c) = (t0(), Callbacks::default());
    let mut plus = callback(WALL);
    plus.number = "+15551234".into();
    let a = c.request(now, WALL, plus).unwrap();
    let b = c.request(now, WALL, callback(WALL)).unwrap();
    outputs(&mut c);
    assert_eq!(c.erase_number("15551234"), vec![a]);
    assert_eq!(outputs(&mut c), vec![CallbackOutput::Erased { id: a }]);
    assert!(c.get(b).is_some());
    assert_eq!(c.erase_number("+5551234"), vec![b]);
    assert!(c.is_empty());
}

#[test]
fn a_dropped_callback_is_given_up() {
    let (now, mut c) = (t0(), Callbacks::default());
    let id = c.request(now, WALL, callback(WALL)).unwrap();
    outputs(&mut c);
    c.dropped(id).unwrap();
    assert_eq!(
        outputs(&mut c),
        vec![CallbackOutput::Done {
            id,
            completed: false,
            attempts: 0
        }]
    );
}
