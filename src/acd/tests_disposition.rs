//! Router tests of wrap-ups held for a disposition code.

use super::tests::*;
use super::types::AgentState;
use super::*;

/// One agent, one queue whose wrap-up waits for a code (5 s at least, 60 s at most).
fn held_router(t0: std::time::Instant) -> Router {
    let mut q = queue("q", sales());
    q.wrap_up = 5 * S;
    q.disposition_wrap_up_max = Some(60 * S);
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    drain(&mut r);
    answer(&mut r, t0 + S, 1, 0);
    end(&mut r, t0 + 10 * S, 1);
    arrive(&mut r, t0 + 11 * S, 2, 0, 0);
    r
}

#[test]
fn held_wrap_up_offers_nothing_until_the_code_arrives() {
    let t0 = origin();
    let mut r = held_router(t0);
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::WrapUp(t0 + 70 * S))
    );
    // Past the plain wrap-up, still no offer: the code is missing.
    r.handle_timeout(t0 + 30 * S);
    assert_eq!(offers(&mut r), vec![]);
    r.handle(t0 + 40 * S, Input::Disposition { agent: AgentId(0) })
        .unwrap();
    assert_eq!(offers(&mut r), vec![(2, 0)]);
}

#[test]
fn held_wrap_up_ends_at_its_maximum_without_a_code() {
    let t0 = origin();
    let mut r = held_router(t0);
    assert_eq!(r.poll_timeout(), Some(t0 + 70 * S));
    r.handle_timeout(t0 + 70 * S - std::time::Duration::from_millis(1));
    assert_eq!(offers(&mut r), vec![]);
    r.handle_timeout(t0 + 70 * S);
    assert_eq!(offers(&mut r), vec![(2, 0)]);
}

#[test]
fn an_early_code_still_waits_out_the_plain_wrap_up() {
    let t0 = origin();
    let mut r = held_router(t0);
    r.handle(t0 + 12 * S, Input::Disposition { agent: AgentId(0) })
        .unwrap();
    assert_eq!(offers(&mut r), vec![]);
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::WrapUp(t0 + 15 * S))
    );
    assert_eq!(r.poll_timeout(), Some(t0 + 15 * S));
    r.handle_timeout(t0 + 15 * S);
    assert_eq!(offers(&mut r), vec![(2, 0)]);
}

#[test]
fn a_code_outside_a_held_wrap_up_changes_nothing() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.wrap_up = 30 * S;
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    drain(&mut r);
    answer(&mut r, t0 + S, 1, 0);
    end(&mut r, t0 + 2 * S, 1);
    drain(&mut r);
    r.handle(t0 + 3 * S, Input::Disposition { agent: AgentId(0) })
        .unwrap();
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::WrapUp(t0 + 32 * S))
    );
    drain(&mut r);
}
