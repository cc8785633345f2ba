//! Router unit tests in virtual time: one `Instant`, `Duration`s added to it.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::types::{AgentState, CallState};
use super::*;

pub(super) const S: Duration = Duration::from_secs(1);

/// The origin of virtual time; tests only add `Duration`s to it.
#[allow(clippy::disallowed_methods)]
pub(super) fn origin() -> Instant {
    Instant::now()
}

pub(super) fn skill(name: &str, min_level: u8) -> Condition {
    Condition::Skill {
        skill: name.into(),
        min_level,
    }
}

pub(super) fn agent(name: &str, skills: &[(&str, u8)]) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        skills: skills.iter().map(|&(s, l)| (s.into(), l)).collect(),
        attributes: Vec::new(),
        max_no_answer: 0,
    }
}

pub(super) fn queue(name: &str, requires: Vec<Vec<Condition>>) -> QueueSpec {
    QueueSpec {
        name: name.into(),
        requires,
        strategy: Strategy::LongestIdle,
        ring_timeout: 15 * S,
        wrap_up: Duration::ZERO,
        disposition_wrap_up_max: None,
        max_length: 100,
        max_wait: None,
        overflow: Overflow::Busy,
        when_no_agents: WhenNoAgents::Join,
        service_level: ServiceLevel {
            threshold: 20 * S,
            target_percent: 80,
        },
        relax: Vec::new(),
    }
}

pub(super) fn router(t0: Instant, agents: &[AgentSpec], queues: &[QueueSpec]) -> Router {
    Router::new(t0, agents, queues, StdRng::seed_from_u64(7)).expect("valid specs")
}

/// Registers the agent's phone and logs it in to every queue it qualifies for.
pub(super) fn ready(r: &mut Router, now: Instant, a: u32) {
    r.handle(now, Input::AgentRegistered { agent: AgentId(a) })
        .unwrap();
    r.handle(
        now,
        Input::AgentLogin {
            agent: AgentId(a),
            queue: None,
        },
    )
    .unwrap();
}

pub(super) fn arrive(r: &mut Router, now: Instant, call: u64, queue: u16, priority: u8) {
    r.handle(
        now,
        Input::CallArrived {
            call: CallId(call),
            queue: QueueId(queue),
            priority,
            attributes: vec![],
        },
    )
    .unwrap();
}

pub(super) fn answer(r: &mut Router, now: Instant, call: u64, a: u32) {
    r.handle(
        now,
        Input::OfferAnswered {
            call: CallId(call),
            agent: AgentId(a),
        },
    )
    .unwrap();
}

pub(super) fn end(r: &mut Router, now: Instant, call: u64) {
    r.handle(now, Input::CallEnded { call: CallId(call) })
        .unwrap();
}

/// The actions, without the state-change events every move brings
/// (`tests_commands.rs` checks those).
pub(super) fn drain(r: &mut Router) -> Vec<Action> {
    r.check_invariants().unwrap();
    std::iter::from_fn(|| r.poll_action())
        .filter(|a| !matches!(a, Action::Event(Event::AgentStateChanged { .. })))
        .collect()
}

/// The offers among the actions, as (call, agent).
pub(super) fn offers(r: &mut Router) -> Vec<(u64, u32)> {
    drain(r)
        .into_iter()
        .filter_map(|a| match a {
            Action::Offer { call, agent, .. } => Some((call.0, agent.0)),
            _ => None,
        })
        .collect()
}

pub(super) fn one_skill_agents(n: usize, level: u8) -> Vec<AgentSpec> {
    (0..n)
        .map(|i| agent(&format!("a{i}"), &[("sales", level)]))
        .collect()
}

pub(super) fn sales() -> Vec<Vec<Condition>> {
    vec![vec![skill("sales", 1)]]
}

#[test]
fn longest_idle_agent_gets_the_call() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(3, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 1);
    ready(&mut r, t0 + S, 0);
    ready(&mut r, t0 + 2 * S, 2);
    arrive(&mut r, t0 + 4 * S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 1)]);
    arrive(&mut r, t0 + 5 * S, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![(2, 0)]);
}

#[test]
fn most_skilled_prefers_level_then_idle_time() {
    let t0 = origin();
    let agents = [
        agent("lo", &[("sales", 3)]),
        agent("hi1", &[("sales", 9)]),
        agent("hi2", &[("sales", 9)]),
    ];
    let mut q = queue("q", sales());
    q.strategy = Strategy::MostSkilled;
    let mut r = router(t0, &agents, &[q]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0 + S, 2);
    ready(&mut r, t0 + 2 * S, 1);
    arrive(&mut r, t0 + 3 * S, 1, 0, 0);
    arrive(&mut r, t0 + 3 * S, 2, 0, 0);
    arrive(&mut r, t0 + 3 * S, 3, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 2), (2, 1), (3, 0)]);
}

#[test]
fn round_robin_rotates_in_agent_order() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.strategy = Strategy::RoundRobin;
    let mut r = router(t0, &one_skill_agents(3, 5), &[q]);
    for a in [2, 0, 1] {
        ready(&mut r, t0, a);
    }
    let mut picked = Vec::new();
    for call in 1..=4 {
        arrive(&mut r, t0 + S, call, 0, 0);
        let (c, a) = offers(&mut r)[0];
        picked.push(a);
        answer(&mut r, t0 + S, c, a);
        end(&mut r, t0 + 2 * S, c);
    }
    assert_eq!(picked, vec![0, 1, 2, 0]);
}

#[test]
fn fewest_calls_prefers_the_agent_with_fewer_calls_today() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.strategy = Strategy::FewestCalls;
    let mut r = router(t0, &one_skill_agents(2, 5), &[q]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0, 1);
    arrive(&mut r, t0 + S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    answer(&mut r, t0 + S, 1, 0);
    end(&mut r, t0 + 2 * S, 1);
    // Agent 0 is now idle for less time, but agent 1 has fewer calls anyway.
    arrive(&mut r, t0 + 3 * S, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![(2, 1)]);
    answer(&mut r, t0 + 3 * S, 2, 1);
    end(&mut r, t0 + 4 * S, 2);
    arrive(&mut r, t0 + 5 * S, 3, 0, 0);
    assert_eq!(offers(&mut r), vec![(3, 0)], "tie on calls: longest idle");
}

#[test]
fn least_talk_time_prefers_the_agent_who_talked_least() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.strategy = Strategy::LeastTalkTime;
    let mut r = router(t0, &one_skill_agents(2, 5), &[q]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0, 1);
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0), (2, 1)]);
    answer(&mut r, t0, 1, 0);
    answer(&mut r, t0, 2, 1);
    end(&mut r, t0 + 10 * S, 2);
    end(&mut r, t0 + 100 * S, 1);
    arrive(&mut r, t0 + 200 * S, 3, 0, 0);
    assert_eq!(offers(&mut r), vec![(3, 1)]);
}

#[test]
fn random_strategy_is_reproducible_from_the_seed() {
    let picks = || {
        let t0 = origin();
        let mut q = queue("q", sales());
        q.strategy = Strategy::Random;
        let mut r = router(t0, &one_skill_agents(8, 5), &[q]);
        for a in 0..8 {
            ready(&mut r, t0, a);
        }
        let mut picked = Vec::new();
        for call in 0..20 {
            arrive(&mut r, t0, call, 0, 0);
            let (c, a) = offers(&mut r)[0];
            answer(&mut r, t0, c, a);
            end(&mut r, t0, c);
            picked.push(a);
        }
        picked
    };
    let first = picks();
    assert_eq!(first, picks());
    assert!(
        first.iter().collect::<std::collections::HashSet<_>>().len() > 2,
        "{first:?}"
    );
}

#[test]
fn ring_all_offers_every_free_agent_and_withdraws_the_losers() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.strategy = Strategy::RingAll;
    let mut r = router(t0, &one_skill_agents(3, 5), &[q]);
    for a in 0..3 {
        ready(&mut r, t0, a);
    }
    arrive(&mut r, t0 + S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0), (1, 1), (1, 2)]);
    answer(&mut r, t0 + 2 * S, 1, 1);
    let acts = drain(&mut r);
    assert!(acts.contains(&Action::WithdrawOffer {
        call: CallId(1),
        agent: AgentId(0)
    }));
    assert!(acts.contains(&Action::WithdrawOffer {
        call: CallId(1),
        agent: AgentId(2)
    }));
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Available));
    assert_eq!(
        r.agent_state(AgentId(1)),
        Some(AgentState::OnCall(CallId(1)))
    );
    let late = r.handle(
        t0 + 2 * S,
        Input::OfferAnswered {
            call: CallId(1),
            agent: AgentId(2),
        },
    );
    assert_eq!(
        late,
        Err(AcdError::NotOffered {
            call: CallId(1),
            agent: AgentId(2)
        })
    );
}

#[test]
fn rejected_offer_puts_the_call_back_at_the_head_of_its_queue() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0 + S, 1, 0, 0);
    arrive(&mut r, t0 + 2 * S, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    let busy = Input::OfferRejected {
        call: CallId(1),
        agent: AgentId(0),
        reason: RejectReason::Busy,
    };
    r.handle(t0 + 3 * S, busy).unwrap();
    // Back to available, and call 1 is still ahead of call 2.
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    assert_eq!(r.position(CallId(2)), Some(1));
}

#[test]
fn ring_timeout_withdraws_the_offer_at_the_exact_instant() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(2, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0 + S, 1);
    arrive(&mut r, t0 + 2 * S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    assert_eq!(r.poll_timeout(), Some(t0 + 17 * S));
    r.handle_timeout(t0 + 17 * S - Duration::from_nanos(1));
    assert!(drain(&mut r).is_empty());
    r.handle_timeout(t0 + 17 * S);
    let acts = drain(&mut r);
    assert_eq!(
        acts,
        vec![
            Action::WithdrawOffer {
                call: CallId(1),
                agent: AgentId(0)
            },
            Action::Offer {
                call: CallId(1),
                agent: AgentId(1),
                ring_timeout: 15 * S
            },
        ]
    );
    assert_eq!(r.poll_timeout(), Some(t0 + 32 * S));
}

#[test]
fn missed_offers_in_a_row_pause_the_agent_with_no_answer() {
    let t0 = origin();
    let mut agents = one_skill_agents(1, 5);
    agents[0].max_no_answer = 2;
    let mut r = router(t0, &agents, &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    drain(&mut r);
    r.handle_timeout(t0 + 15 * S);
    assert_eq!(offers(&mut r), vec![(1, 0)], "first miss: offered again");
    r.handle_timeout(t0 + 30 * S);
    let acts = drain(&mut r);
    let paused = Event::AgentPaused {
        agent: AgentId(0),
        reason: PauseReason::NoAnswer,
    };
    assert!(acts.contains(&Action::Event(paused)), "{acts:?}");
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::Paused(PauseReason::NoAnswer))
    );
    assert_eq!(r.call_state(CallId(1)), Some(&CallState::Waiting));
    r.handle(t0 + 40 * S, Input::AgentResume { agent: AgentId(0) })
        .unwrap();
    assert_eq!(offers(&mut r), vec![(1, 0)]);
}

#[test]
fn wrap_up_ends_at_the_exact_instant_and_the_agent_takes_the_next_call() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.wrap_up = 30 * S;
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    answer(&mut r, t0 + S, 1, 0);
    arrive(&mut r, t0 + 5 * S, 2, 0, 0);
    end(&mut r, t0 + 60 * S, 1);
    drain(&mut r);
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::WrapUp(t0 + 90 * S))
    );
    assert_eq!(r.poll_timeout(), Some(t0 + 90 * S));
    r.handle_timeout(t0 + 100 * S);
    assert_eq!(offers(&mut r), vec![(2, 0)]);
    // Handle time (59 s talk + 30 s wrap-up) feeds the wait estimate.
    assert_eq!(r.expected_wait(QueueId(0), 1), Some(89 * S));
}

#[test]
fn full_queue_overflows_to_its_target_queue() {
    let t0 = origin();
    let mut first = queue("first", sales());
    first.max_length = 1;
    first.overflow = Overflow::Queue("second".into());
    let mut r = router(
        t0,
        &one_skill_agents(1, 5),
        &[first, queue("second", sales())],
    );
    r.handle(t0, Input::AgentRegistered { agent: AgentId(0) })
        .unwrap();
    r.handle(
        t0,
        Input::AgentLogin {
            agent: AgentId(0),
            queue: Some(QueueId(0)),
        },
    )
    .unwrap();
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0, 2, 0, 0);
    arrive(&mut r, t0, 3, 0, 0);
    let acts = drain(&mut r);
    assert_eq!(
        acts[1],
        Action::Overflow {
            call: CallId(3),
            target: OverflowTarget::Queue(QueueId(1))
        }
    );
    assert_eq!(r.call_queue(CallId(3)).map(|q| q.0), Some(QueueId(1)));
    assert_eq!((r.waiting(QueueId(0)), r.waiting(QueueId(1))), (1, 1));
}

#[test]
fn full_queue_with_busy_overflow_forgets_the_call() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.max_length = 0;
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    arrive(&mut r, t0, 1, 0, 0);
    assert_eq!(
        drain(&mut r),
        vec![Action::Overflow {
            call: CallId(1),
            target: OverflowTarget::Busy
        }]
    );
    assert_eq!(r.calls(), 0);
}

#[test]
fn max_wait_overflows_at_the_exact_instant() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.max_wait = Some(120 * S);
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    arrive(&mut r, t0 + S, 1, 0, 0);
    assert_eq!(r.poll_timeout(), Some(t0 + 121 * S));
    r.handle_timeout(t0 + 121 * S);
    assert_eq!(
        drain(&mut r),
        vec![Action::Overflow {
            call: CallId(1),
            target: OverflowTarget::Busy
        }]
    );
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn call_past_max_wait_overflows_when_its_offer_fails() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.max_wait = Some(10 * S);
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0 + 5 * S, 1, 0, 0);
    drain(&mut r);
    r.handle_timeout(t0 + 15 * S);
    assert!(
        matches!(r.call_state(CallId(1)), Some(CallState::Offered { .. })),
        "ringing calls keep ringing"
    );
    r.handle_timeout(t0 + 20 * S);
    let acts = drain(&mut r);
    assert_eq!(
        acts.last(),
        Some(&Action::Overflow {
            call: CallId(1),
            target: OverflowTarget::Busy
        })
    );
}

#[test]
fn queue_without_logged_in_agents_refuses_when_configured() {
    let t0 = origin();
    let mut refuse = queue("refuse", sales());
    refuse.when_no_agents = WhenNoAgents::Refuse;
    let mut r = router(
        t0,
        &one_skill_agents(1, 5),
        &[refuse, queue("join", sales())],
    );
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0, 2, 1, 0);
    assert_eq!(
        drain(&mut r),
        vec![Action::Refuse {
            call: CallId(1),
            reason: RefuseReason::NoAgentsLoggedIn
        }]
    );
    assert_eq!(r.waiting(QueueId(1)), 1);
    // Logged in but paused still counts as logged in.
    ready(&mut r, t0, 0);
    r.handle(
        t0,
        Input::AgentPause {
            agent: AgentId(0),
            reason: PauseReason::Lunch,
        },
    )
    .unwrap();
    drain(&mut r);
    arrive(&mut r, t0, 3, 0, 0);
    assert_eq!(r.waiting(QueueId(0)), 1);
}

#[test]
fn higher_priority_is_served_first_and_equal_priority_in_arrival_order() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0 + S, 2, 0, 5);
    arrive(&mut r, t0 + 2 * S, 3, 0, 0);
    arrive(&mut r, t0 + 3 * S, 4, 0, 5);
    ready(&mut r, t0 + 4 * S, 0);
    let mut served = Vec::new();
    for i in 0..4 {
        let (c, a) = offers(&mut r)[0];
        served.push(c);
        answer(&mut r, t0 + (5 + i) * S, c, a);
        end(&mut r, t0 + (5 + i) * S, c);
    }
    assert_eq!(served, vec![2, 4, 1, 3]);
}

#[test]
fn agent_in_several_queues_takes_priority_then_longest_wait() {
    let t0 = origin();
    let agents = [agent("both", &[("sales", 5), ("support", 5)])];
    let queues = [
        queue("sales", sales()),
        queue("support", vec![vec![skill("support", 1)]]),
    ];
    let mut r = router(t0, &agents, &queues);
    arrive(&mut r, t0, 2, 1, 0);
    arrive(&mut r, t0 + S, 1, 0, 0);
    arrive(&mut r, t0 + 2 * S, 3, 0, 1);
    ready(&mut r, t0 + 3 * S, 0);
    assert_eq!(offers(&mut r), vec![(3, 0)], "priority first");
    answer(&mut r, t0 + 3 * S, 3, 0);
    end(&mut r, t0 + 4 * S, 3);
    assert_eq!(
        offers(&mut r),
        vec![(2, 0)],
        "then the longest wait across queues"
    );
}

#[test]
fn relaxation_steps_widen_the_requirement_at_exact_instants() {
    let t0 = origin();
    let agents = [
        agent("junior", &[("loans", 5)]),
        agent("generalist", &[("general", 3)]),
    ];
    let mut q = queue("loans", vec![vec![skill("loans", 8)]]);
    q.relax = vec![
        RelaxStep {
            after: 30 * S,
            requires: vec![vec![skill("loans", 5)]],
        },
        RelaxStep {
            after: 60 * S,
            requires: vec![vec![skill("loans", 5)], vec![skill("general", 1)]],
        },
    ];
    let mut r = router(t0, &agents, &[q]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0, 1);
    arrive(&mut r, t0 + S, 1, 0, 0);
    arrive(&mut r, t0 + 2 * S, 2, 0, 0);
    assert!(offers(&mut r).is_empty(), "nobody meets level 8");
    assert_eq!(r.poll_timeout(), Some(t0 + 31 * S));
    r.handle_timeout(t0 + 31 * S);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    r.handle_timeout(t0 + 32 * S);
    assert!(
        offers(&mut r).is_empty(),
        "the generalist waits for step two"
    );
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + 46 * S),
        "ring timeout of call 1"
    );
    answer(&mut r, t0 + 40 * S, 1, 0);
    assert_eq!(r.poll_timeout(), Some(t0 + 62 * S));
    r.handle_timeout(t0 + 62 * S);
    assert_eq!(offers(&mut r), vec![(2, 1)]);
}

#[test]
fn pause_during_a_call_takes_effect_after_wrap_up() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.wrap_up = 10 * S;
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    answer(&mut r, t0, 1, 0);
    r.handle(
        t0 + S,
        Input::AgentPause {
            agent: AgentId(0),
            reason: PauseReason::Break,
        },
    )
    .unwrap();
    arrive(&mut r, t0 + 2 * S, 2, 0, 0);
    end(&mut r, t0 + 5 * S, 1);
    drain(&mut r);
    r.handle_timeout(t0 + 15 * S);
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::Paused(PauseReason::Break))
    );
    assert!(offers(&mut r).is_empty());
    r.handle(t0 + 20 * S, Input::AgentResume { agent: AgentId(0) })
        .unwrap();
    assert_eq!(offers(&mut r), vec![(2, 0)]);
}

#[test]
fn logout_while_ringing_withdraws_and_requeues_the_call() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(2, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    drain(&mut r);
    r.handle(
        t0 + S,
        Input::AgentLogout {
            agent: AgentId(0),
            queue: None,
        },
    )
    .unwrap();
    assert_eq!(
        drain(&mut r),
        vec![Action::WithdrawOffer {
            call: CallId(1),
            agent: AgentId(0)
        }]
    );
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::LoggedOut));
    ready(&mut r, t0 + 2 * S, 1);
    assert_eq!(offers(&mut r), vec![(1, 1)]);
}

#[test]
fn unregistered_agent_is_not_offered_calls() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    r.handle(
        t0,
        Input::AgentLogin {
            agent: AgentId(0),
            queue: None,
        },
    )
    .unwrap();
    arrive(&mut r, t0, 1, 0, 0);
    assert!(offers(&mut r).is_empty());
    r.handle(t0 + S, Input::AgentRegistered { agent: AgentId(0) })
        .unwrap();
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    r.handle(t0 + 2 * S, Input::AgentUnregistered { agent: AgentId(0) })
        .unwrap();
    assert_eq!(
        drain(&mut r),
        vec![Action::WithdrawOffer {
            call: CallId(1),
            agent: AgentId(0)
        }]
    );
    assert_eq!(r.call_state(CallId(1)), Some(&CallState::Waiting));
}

#[test]
fn abandoned_calls_leave_the_queue_and_count_against_service_level() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0, 2, 0, 0);
    arrive(&mut r, t0, 3, 0, 0);
    answer(&mut r, t0 + 10 * S, 1, 0);
    r.handle(t0 + 12 * S, Input::CallAbandoned { call: CallId(2) })
        .unwrap();
    end(&mut r, t0 + 30 * S, 1);
    answer(&mut r, t0 + 30 * S, 3, 0);
    r.handle(t0 + 31 * S, Input::CallAbandoned { call: CallId(3) })
        .expect_err("a connected call ends, it is not abandoned");
    let stats = *r.queue_stats(QueueId(0)).unwrap();
    assert_eq!(
        (
            stats.answered,
            stats.answered_within_threshold,
            stats.abandoned
        ),
        (2, 1, 1)
    );
    assert_eq!(stats.service_level(), Some(1.0 / 3.0));
    assert_eq!(stats.average_wait(), Some(20 * S));
    drain(&mut r);
}

#[test]
fn abandoning_a_ringing_call_withdraws_its_offer() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0, 2, 0, 0);
    drain(&mut r);
    r.handle(t0 + S, Input::CallAbandoned { call: CallId(1) })
        .unwrap();
    let acts = drain(&mut r);
    assert_eq!(
        acts[1],
        Action::WithdrawOffer {
            call: CallId(1),
            agent: AgentId(0)
        }
    );
    assert_eq!(
        acts[2],
        Action::Offer {
            call: CallId(2),
            agent: AgentId(0),
            ring_timeout: 15 * S
        }
    );
}

#[test]
fn attribute_conditions_pick_agents_with_matching_attributes() {
    let t0 = origin();
    let mut en = agent("en", &[("sales", 5)]);
    en.attributes = vec![("language".into(), "en".into())];
    let mut de = agent("de", &[("sales", 5)]);
    de.attributes = vec![("language".into(), "de".into())];
    let lang = Condition::Attribute {
        name: "language".into(),
        value: "de".into(),
    };
    let mut r = router(
        t0,
        &[en, de],
        &[queue("q", vec![vec![skill("sales", 1), lang]])],
    );
    ready(&mut r, t0, 0);
    ready(&mut r, t0 + S, 1);
    arrive(&mut r, t0 + 2 * S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 1)]);
    let login = r.handle(
        t0,
        Input::AgentLogin {
            agent: AgentId(0),
            queue: Some(QueueId(0)),
        },
    );
    assert_eq!(
        login,
        Err(AcdError::AgentNotQualified {
            agent: AgentId(0),
            queue: QueueId(0)
        })
    );
}

#[test]
fn expected_wait_grows_with_position_and_shrinks_with_staff() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(2, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    assert_eq!(
        r.expected_wait(QueueId(0), 1),
        Some(Duration::ZERO),
        "a free agent"
    );
    arrive(&mut r, t0, 1, 0, 0);
    assert_eq!(
        r.expected_wait(QueueId(0), 1),
        None,
        "no handle time known yet"
    );
    answer(&mut r, t0, 1, 0);
    end(&mut r, t0 + 120 * S, 1);
    arrive(&mut r, t0 + 120 * S, 2, 0, 0);
    answer(&mut r, t0 + 120 * S, 2, 0);
    assert_eq!(r.expected_wait(QueueId(0), 3), Some(360 * S));
    ready(&mut r, t0 + 120 * S, 1);
    arrive(&mut r, t0 + 120 * S, 3, 0, 0);
    answer(&mut r, t0 + 120 * S, 3, 1);
    assert_eq!(r.expected_wait(QueueId(0), 3), Some(180 * S));
    drain(&mut r);
}

#[test]
fn earlier_now_counts_as_the_last_instant_seen() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    ready(&mut r, t0 + 10 * S, 0);
    arrive(&mut r, t0 + 5 * S, 1, 0, 0);
    drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(t0 + 25 * S));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    let e = |r: &mut Router, i| r.handle(t0, i).unwrap_err();
    assert_eq!(
        e(&mut r, Input::CallEnded { call: CallId(9) }),
        AcdError::UnknownCall(CallId(9))
    );
    assert_eq!(
        e(&mut r, Input::AgentResume { agent: AgentId(9) }),
        AcdError::UnknownAgent(AgentId(9))
    );
    let arrive9 = Input::CallArrived {
        call: CallId(1),
        queue: QueueId(9),
        priority: 0,
        attributes: vec![],
    };
    assert_eq!(e(&mut r, arrive9), AcdError::UnknownQueue(QueueId(9)));
    assert_eq!(
        e(&mut r, Input::AgentResume { agent: AgentId(0) }),
        AcdError::AgentNotPaused(AgentId(0))
    );
    let pause = Input::AgentPause {
        agent: AgentId(0),
        reason: PauseReason::Code(7),
    };
    assert_eq!(e(&mut r, pause), AcdError::AgentLoggedOut(AgentId(0)));
    arrive(&mut r, t0, 1, 0, 0);
    let again = Input::CallArrived {
        call: CallId(1),
        queue: QueueId(0),
        priority: 0,
        attributes: vec![],
    };
    assert_eq!(e(&mut r, again), AcdError::DuplicateCall(CallId(1)));
    assert_eq!(
        e(&mut r, Input::CallEnded { call: CallId(1) }),
        AcdError::CallNotConnected(CallId(1))
    );
    r.check_invariants().unwrap();
}

#[test]
fn bad_specs_are_refused_with_what_is_wrong() {
    let t0 = origin();
    let rng = || StdRng::seed_from_u64(1);
    let too_high = [agent("a", &[("sales", 11)])];
    assert!(matches!(
        Router::new(t0, &too_high, &[], rng()),
        Err(AcdError::SkillLevelOutOfRange { level: 11, .. })
    ));
    let mut q = queue("q", sales());
    q.overflow = Overflow::Queue("nowhere".into());
    assert!(matches!(
        Router::new(t0, &[], &[q], rng()),
        Err(AcdError::UnknownOverflowQueue { .. })
    ));
    let mut q = queue("q", sales());
    q.relax = vec![
        RelaxStep {
            after: 60 * S,
            requires: vec![],
        },
        RelaxStep {
            after: 30 * S,
            requires: vec![],
        },
    ];
    assert!(matches!(
        Router::new(t0, &[], &[q], rng()),
        Err(AcdError::RelaxStepsNotIncreasing { .. })
    ));
    let dup = [queue("q", sales()), queue("q", sales())];
    assert_eq!(
        Router::new(t0, &[], &dup, rng()).err(),
        Some(AcdError::DuplicateQueueName("q".into()))
    );
}

#[test]
fn names_map_to_small_ids_and_back() {
    let t0 = origin();
    let r = router(t0, &one_skill_agents(2, 5), &[queue("q", sales())]);
    assert_eq!(r.agent_id("a1"), Some(AgentId(1)));
    assert_eq!(r.agent_name(AgentId(1)), Some("a1"));
    assert_eq!(r.queue_id("q"), Some(QueueId(0)));
    assert_eq!(r.queue_name(QueueId(0)), Some("q"));
    assert_eq!(r.snapshot().queues.len(), 1);
}

#[test]
fn logout_during_a_call_logs_the_agent_out_when_wrap_up_ends() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.wrap_up = 5 * S;
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    answer(&mut r, t0, 1, 0);
    let logout = Input::AgentLogout {
        agent: AgentId(0),
        queue: None,
    };
    r.handle(t0 + S, logout).unwrap();
    let pause = Input::AgentPause {
        agent: AgentId(0),
        reason: PauseReason::Training,
    };
    r.handle(t0 + S, pause).unwrap();
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::OnCall(CallId(1)))
    );
    end(&mut r, t0 + 10 * S, 1);
    r.handle_timeout(t0 + 15 * S);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::LoggedOut));
    arrive(&mut r, t0 + 16 * S, 2, 0, 0);
    drain(&mut r);
    assert_eq!(r.waiting(QueueId(0)), 1);
}

#[test]
fn ring_all_timeout_counts_a_miss_for_every_ringing_agent() {
    let t0 = origin();
    let mut agents = one_skill_agents(2, 5);
    for a in &mut agents {
        a.max_no_answer = 1;
    }
    let mut q = queue("q", sales());
    q.strategy = Strategy::RingAll;
    let mut r = router(t0, &agents, &[q]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0, 1);
    arrive(&mut r, t0, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0), (1, 1)]);
    r.handle_timeout(t0 + 15 * S);
    let acts = drain(&mut r);
    let withdrawn = acts
        .iter()
        .filter(|a| matches!(a, Action::WithdrawOffer { .. }))
        .count();
    assert_eq!(withdrawn, 2);
    for a in 0..2 {
        let paused = AgentState::Paused(PauseReason::NoAnswer);
        assert_eq!(r.agent_state(AgentId(a)), Some(paused));
    }
    assert_eq!(r.call_state(CallId(1)), Some(&CallState::Waiting));
}
