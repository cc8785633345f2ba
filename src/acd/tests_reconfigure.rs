//! Router tests of reconfiguration (hot reload) in virtual time.

use super::tests::*;
use super::types::AgentState;
use super::*;

fn reload(
    r: &mut Router,
    now: std::time::Instant,
    agents: &[AgentSpec],
    queues: &[QueueSpec],
) -> Reconfigured {
    let report = r.reconfigure(now, agents, queues).expect("valid specs");
    r.check_invariants().unwrap();
    report
}

#[test]
fn an_added_agent_logs_in_and_takes_the_waiting_call() {
    let t0 = origin();
    let queues = [queue("q", sales())];
    let mut r = router(t0, &one_skill_agents(1, 5), &queues);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    let report = reload(&mut r, t0 + S, &one_skill_agents(2, 5), &queues);
    assert_eq!(report.agents_added, vec!["a1".to_string()]);
    assert!(report.agents_removed.is_empty() && report.queues_changed.is_empty());
    assert_eq!(r.agent_id("a1"), Some(AgentId(1)));
    ready(&mut r, t0 + 2 * S, 1);
    assert_eq!(offers(&mut r), vec![(2, 1)]);
}

#[test]
fn a_removed_agent_finishes_their_call_then_is_logged_out() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.wrap_up = 10 * S;
    let queues = [q];
    let mut r = router(t0, &one_skill_agents(2, 5), &queues);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    answer(&mut r, t0 + S, 1, 0);
    let only_a1 = [agent("a1", &[("sales", 5)])];
    let report = reload(&mut r, t0 + 2 * S, &only_a1, &queues);
    assert_eq!(report.agents_removed, vec!["a0".to_string()]);
    assert!(r.agent_retired(AgentId(0)));
    assert_eq!(
        r.agent_state(AgentId(0)),
        Some(AgentState::OnCall(CallId(1)))
    );
    end(&mut r, t0 + 3 * S, 1);
    // Wrap-up is still theirs; then they are gone from the queues.
    assert!(matches!(
        r.agent_state(AgentId(0)),
        Some(AgentState::WrapUp(_))
    ));
    r.handle_timeout(t0 + 13 * S);
    drain(&mut r);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::LoggedOut));
    let login = Input::AgentLogin {
        agent: AgentId(0),
        queue: None,
    };
    assert_eq!(
        r.handle(t0 + 14 * S, login),
        Err(AcdError::UnknownAgent(AgentId(0)))
    );
    // Added back, they can log in again under the same id.
    let report = reload(&mut r, t0 + 15 * S, &one_skill_agents(2, 5), &queues);
    assert_eq!(report.agents_added, vec!["a0".to_string()]);
    ready(&mut r, t0 + 15 * S, 0);
    arrive(&mut r, t0 + 16 * S, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![(2, 0)]);
}

#[test]
fn a_removed_agent_being_rung_loses_the_offer_to_another_agent() {
    let t0 = origin();
    let queues = [queue("q", sales())];
    let mut r = router(t0, &one_skill_agents(1, 5), &queues);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    let agents = [agent("a1", &[("sales", 5)])];
    reload(&mut r, t0 + S, &agents, &queues);
    let actions = drain(&mut r);
    assert!(actions.contains(&Action::WithdrawOffer {
        call: CallId(1),
        agent: AgentId(0)
    }));
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::LoggedOut));
    ready(&mut r, t0 + 2 * S, 1);
    assert_eq!(offers(&mut r), vec![(1, 1)]);
}

#[test]
fn a_new_strategy_decides_the_next_offer() {
    let t0 = origin();
    let agents = [agent("a0", &[("sales", 2)]), agent("a1", &[("sales", 9)])];
    let mut q = queue("q", sales());
    let mut r = router(t0, &agents, &[q.clone()]);
    ready(&mut r, t0, 0);
    ready(&mut r, t0 + S, 1);
    arrive(&mut r, t0 + 2 * S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)], "longest idle first");
    r.handle(
        t0 + 3 * S,
        Input::OfferRejected {
            call: CallId(1),
            agent: AgentId(0),
            reason: RejectReason::Busy,
        },
    )
    .unwrap();
    drain(&mut r);
    r.handle(t0 + 3 * S, Input::CallAbandoned { call: CallId(1) })
        .unwrap();
    drain(&mut r);
    q.strategy = Strategy::MostSkilled;
    let report = reload(&mut r, t0 + 4 * S, &agents, &[q]);
    assert_eq!(report.queues_changed, vec!["q".to_string()]);
    arrive(&mut r, t0 + 5 * S, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![(2, 1)], "most skilled now");
}

#[test]
fn waiting_callers_keep_their_order_and_their_max_wait() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.max_wait = Some(60 * S);
    let mut r = router(t0, &one_skill_agents(1, 5), &[q.clone()]);
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0 + S, 2, 0, 0);
    drain(&mut r);
    q.ring_timeout = 20 * S;
    q.max_wait = Some(300 * S);
    reload(&mut r, t0 + 2 * S, &one_skill_agents(1, 5), &[q]);
    assert_eq!(r.position(CallId(1)), Some(1));
    assert_eq!(r.position(CallId(2)), Some(2));
    // The deadline they started with stands.
    assert_eq!(r.poll_timeout(), Some(t0 + 60 * S));
    ready(&mut r, t0 + 3 * S, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
}

#[test]
fn a_new_relaxation_step_applies_to_a_caller_who_waited_long_enough() {
    let t0 = origin();
    let agents = [agent("junior", &[("sales", 2)])];
    let mut q = queue("q", vec![vec![skill("sales", 5)]]);
    let mut r = router(t0, &agents, &[q.clone()]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    arrive(&mut r, t0 + 50 * S, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![], "junior does not qualify");
    q.relax = vec![RelaxStep {
        after: 30 * S,
        requires: vec![vec![skill("sales", 1)]],
    }];
    reload(&mut r, t0 + 60 * S, &agents, &[q]);
    // Logging in again joins the queue junior now meets at tier 1; call 1
    // waited 60 s and is relaxed now, call 2 only 10 s.
    ready(&mut r, t0 + 60 * S, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
    answer(&mut r, t0 + 61 * S, 1, 0);
    end(&mut r, t0 + 62 * S, 1);
    assert_eq!(offers(&mut r), vec![]);
    r.handle_timeout(t0 + 80 * S);
    assert_eq!(
        offers(&mut r),
        vec![(2, 0)],
        "relaxed 30 s after it arrived"
    );
}

#[test]
fn a_removed_queue_serves_its_callers_then_its_members_leave() {
    let t0 = origin();
    let agents = one_skill_agents(1, 5);
    let old = queue("old", sales());
    let kept = queue("kept", sales());
    let mut r = router(t0, &agents, &[old, kept.clone()]);
    arrive(&mut r, t0, 1, 0, 0);
    drain(&mut r);
    let report = reload(&mut r, t0 + S, &agents, std::slice::from_ref(&kept));
    assert_eq!(report.queues_removed, vec!["old".to_string()]);
    assert_eq!(r.queue_id("old"), None);
    assert!(r.queue_retired(QueueId(0)));
    // A login takes only the queues that stay...
    ready(&mut r, t0 + 2 * S, 0);
    assert_eq!(r.agent_queues(AgentId(0)), vec![QueueId(1)]);
    assert_eq!(offers(&mut r), vec![]);
    // ...so a member from before the reload serves the old caller.
    let mut r = router(t0, &agents, &[queue("old", sales()), kept.clone()]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    answer(&mut r, t0, 1, 0);
    end(&mut r, t0, 1);
    drain(&mut r);
    arrive(&mut r, t0, 2, 0, 0);
    arrive(&mut r, t0, 3, 0, 0);
    assert_eq!(offers(&mut r), vec![(2, 0)]);
    reload(&mut r, t0 + S, &agents, &[kept]);
    assert_eq!(r.agent_queues(AgentId(0)), vec![QueueId(0), QueueId(1)]);
    answer(&mut r, t0 + 2 * S, 2, 0);
    end(&mut r, t0 + 3 * S, 2);
    assert_eq!(offers(&mut r), vec![(3, 0)]);
    answer(&mut r, t0 + 4 * S, 3, 0);
    drain(&mut r);
    // The last caller is with an agent: the old queue is left.
    assert_eq!(r.agent_queues(AgentId(0)), vec![QueueId(1)]);
    end(&mut r, t0 + 5 * S, 3);
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Available));
    drain(&mut r);
}

#[test]
fn a_bad_configuration_changes_nothing() {
    let t0 = origin();
    let queues = [queue("q", sales())];
    let mut r = router(t0, &one_skill_agents(1, 5), &queues);
    ready(&mut r, t0, 0);
    let twice = [agent("a0", &[]), agent("a0", &[])];
    assert_eq!(
        r.reconfigure(t0, &twice, &queues),
        Err(AcdError::DuplicateAgentName("a0".into()))
    );
    let mut lost = queue("q", sales());
    lost.overflow = Overflow::Queue("nowhere".into());
    assert!(matches!(
        r.reconfigure(t0, &one_skill_agents(2, 5), &[lost]),
        Err(AcdError::UnknownOverflowQueue { .. })
    ));
    let bad_level = [agent("a0", &[("sales", 11)]), agent("a1", &[])];
    assert!(r.reconfigure(t0, &bad_level, &queues).is_err());
    assert_eq!(r.agents_len(), 1, "no agent was added");
    r.check_invariants().unwrap();
    arrive(&mut r, t0 + S, 1, 0, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
}

#[test]
fn an_added_queue_is_joined_by_a_login_and_takes_callers() {
    let t0 = origin();
    let agents = [agent("a0", &[("sales", 5), ("support", 5)])];
    let mut r = router(t0, &agents, &[queue("sales", sales())]);
    ready(&mut r, t0, 0);
    let support = queue("support", vec![vec![skill("support", 1)]]);
    let report = reload(&mut r, t0 + S, &agents, &[queue("sales", sales()), support]);
    assert_eq!(report.queues_added, vec!["support".to_string()]);
    r.handle(
        t0 + S,
        Input::AgentLogin {
            agent: AgentId(0),
            queue: None,
        },
    )
    .unwrap();
    assert_eq!(r.agent_queues(AgentId(0)), vec![QueueId(0), QueueId(1)]);
    arrive(&mut r, t0 + 2 * S, 1, 1, 0);
    assert_eq!(offers(&mut r), vec![(1, 0)]);
}
