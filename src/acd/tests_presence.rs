//! Router tests of agents on calls of their own (direct, internal,
//! outbound, supervising): busy for the queues, no offers, no misses.

use super::tests::*;
use super::types::{AgentState, CallState};
use super::*;

fn started(r: &mut Router, now: std::time::Instant, a: u32) {
    r.handle(now, Input::DirectCallStarted { agent: AgentId(a) })
        .unwrap();
}

fn ended(r: &mut Router, now: std::time::Instant, a: u32) {
    r.handle(now, Input::DirectCallEnded { agent: AgentId(a) })
        .unwrap();
}

#[test]
fn agent_on_a_direct_call_is_busy_and_the_next_agent_gets_the_offer() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(2, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0 + S, 1);
    started(&mut r, t0 + 2 * S, 0);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Busy));
    arrive(&mut r, t0 + 3 * S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 1)], "agent 0 was idle longer");
}

#[test]
fn busy_agent_is_offered_nothing_and_takes_the_waiting_call_when_free() {
    let t0 = origin();
    let mut agents = one_skill_agents(1, 5);
    agents[0].max_no_answer = 1;
    let mut r = router(t0, &agents, &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    started(&mut r, t0, 0);
    arrive(&mut r, t0 + S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![]);
    // Far past any ring timeout: no miss, no pause.
    r.handle_timeout(t0 + 60 * S);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Busy));
    assert_eq!(r.call_state(CallId(1)), Some(&CallState::Waiting));
    ended(&mut r, t0 + 70 * S, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
}

#[test]
fn a_direct_call_while_ringing_withdraws_the_offer_without_a_miss() {
    let t0 = origin();
    let mut agents = one_skill_agents(2, 5);
    agents[0].max_no_answer = 1;
    let mut r = router(t0, &agents, &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0 + S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    ready(&mut r, t0 + 2 * S, 1);
    started(&mut r, t0 + 3 * S, 0);
    let acts = drain(&mut r);
    let withdraw = Action::WithdrawOffer {
        call: CallId(1),
        agent: AgentId(0),
    };
    assert!(acts.contains(&withdraw), "{acts:?}");
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Offer {
            call: CallId(1),
            agent: AgentId(1),
            ..
        }
    )));
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Busy));
    ended(&mut r, t0 + 4 * S, 0);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Available));
}

#[test]
fn after_a_queue_call_an_agent_still_on_a_call_of_their_own_stays_busy() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.wrap_up = 5 * S;
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    drain(&mut r);
    answer(&mut r, t0 + S, 1, 0);
    // The agent dials out during the call (a consultation, say).
    started(&mut r, t0 + 2 * S, 0);
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::OnCall(CallId(1)))
    );
    end(&mut r, t0 + 3 * S, 1);
    r.handle_timeout(t0 + 8 * S);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Busy));
    drain(&mut r);
    ended(&mut r, t0 + 9 * S, 0);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Available));
}

#[test]
fn paused_or_logged_out_agents_stay_so_when_their_call_ends() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(2, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0, 1);
    started(&mut r, t0, 0);
    started(&mut r, t0, 1);
    let pause = Input::AgentPause {
        agent: AgentId(0),
        reason: PauseReason::Lunch,
    };
    r.handle(t0 + S, pause).unwrap();
    let logout = Input::AgentLogout {
        agent: AgentId(1),
        queue: None,
    };
    r.handle(t0 + S, logout).unwrap();
    assert_eq!(r.agent_state(AgentId(1)), Some(AgentState::LoggedOut));
    ended(&mut r, t0 + 2 * S, 0);
    ended(&mut r, t0 + 2 * S, 1);
    let lunch = AgentState::Paused(PauseReason::Lunch);
    assert_eq!(r.agent_state(AgentId(0)), Some(lunch));
    assert_eq!(r.agent_state(AgentId(1)), Some(AgentState::LoggedOut));
    // Resuming during a later own call makes them busy, not free.
    started(&mut r, t0 + 3 * S, 0);
    r.handle(t0 + 4 * S, Input::AgentResume { agent: AgentId(0) })
        .unwrap();
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Busy));
    drain(&mut r);
}

#[test]
fn two_calls_of_their_own_keep_the_agent_busy_until_both_end() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    started(&mut r, t0, 0);
    started(&mut r, t0, 0);
    ended(&mut r, t0 + S, 0);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Busy));
    ended(&mut r, t0 + 2 * S, 0);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Available));
    drain(&mut r);
}

#[test]
fn unbalanced_or_unknown_direct_calls_are_errors() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    let end = Input::DirectCallEnded { agent: AgentId(0) };
    assert_eq!(r.handle(t0, end), Err(AcdError::NoDirectCall(AgentId(0))));
    let unknown = Input::DirectCallStarted { agent: AgentId(9) };
    assert_eq!(
        r.handle(t0, unknown),
        Err(AcdError::UnknownAgent(AgentId(9)))
    );
    for _ in 0..DIRECT_CALLS_PER_AGENT_MAX {
        started(&mut r, t0, 0);
    }
    let more = Input::DirectCallStarted { agent: AgentId(0) };
    assert_eq!(
        r.handle(t0, more),
        Err(AcdError::TooManyDirectCalls {
            agent: AgentId(0),
            max: DIRECT_CALLS_PER_AGENT_MAX
        })
    );
    drain(&mut r);
}

#[test]
fn an_agent_leaving_a_queue_call_they_were_brought_into_wraps_up_as_the_queue_says() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.wrap_up = 10 * S;
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    started(&mut r, t0 + S, 0);
    let queue = r.queue_id("q").unwrap();
    let left = Input::DirectCallEndedWrapUp {
        agent: AgentId(0),
        queue,
    };
    r.handle(t0 + 2 * S, left).unwrap();
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::WrapUp(t0 + 12 * S))
    );
    arrive(&mut r, t0 + 3 * S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![], "no offer during the wrap-up");
    r.handle_timeout(t0 + 12 * S);
    assert_eq!(offers(&mut r), vec![(1, 0)], "free again at its end");
    let unknown = Input::DirectCallEndedWrapUp {
        agent: AgentId(0),
        queue: QueueId(7),
    };
    started(&mut r, t0 + 13 * S, 0);
    assert_eq!(
        r.handle(t0 + 13 * S, unknown),
        Err(AcdError::UnknownQueue(QueueId(7)))
    );
    drain(&mut r);
}
