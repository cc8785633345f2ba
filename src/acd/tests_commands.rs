//! Router tests of the API's inputs: ending wrap-up early, changing skills.

use super::tests::*;
use super::types::{AgentState, Event};
use super::*;

#[test]
fn ending_wrap_up_early_frees_the_agent_for_the_waiting_call() {
    let t0 = origin();
    let mut q = queue("q", sales());
    q.wrap_up = 30 * S;
    let mut r = router(t0, &one_skill_agents(1, 5), &[q]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    drain(&mut r);
    answer(&mut r, t0 + S, 1, 0);
    end(&mut r, t0 + 2 * S, 1);
    arrive(&mut r, t0 + 3 * S, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![]);
    r.handle(t0 + 4 * S, Input::EndWrapUp { agent: AgentId(0) })
        .unwrap();
    assert_eq!(offers(&mut r), vec![(2, 0)]);
    // Its wrap-up timer is gone with it.
    assert_eq!(r.poll_timeout(), Some(t0 + 4 * S + 15 * S));
}

#[test]
fn ending_wrap_up_when_not_in_it_is_an_error() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    let input = Input::EndWrapUp { agent: AgentId(0) };
    assert_eq!(
        r.handle(t0, input),
        Err(AcdError::AgentNotInWrapUp(AgentId(0)))
    );
}

#[test]
fn new_skills_rematch_the_agent_and_leave_queues_they_no_longer_meet() {
    let t0 = origin();
    let agents = [agent("a0", &[("sales", 5), ("support", 5)])];
    let support = vec![vec![skill("support", 1)]];
    let queues = [queue("sales", sales()), queue("support", support)];
    let mut r = router(t0, &agents, &queues);
    ready(&mut r, t0, 0);
    assert_eq!(r.agent_queues(AgentId(0)), vec![QueueId(0), QueueId(1)]);
    let only_sales = Input::SetSkills {
        agent: AgentId(0),
        skills: vec![("sales".into(), 7)],
    };
    r.handle(t0 + S, only_sales).unwrap();
    assert_eq!(r.agent_queues(AgentId(0)), vec![QueueId(0)]);
    arrive(&mut r, t0 + 2 * S, 1, 1, 0);
    assert_eq!(offers(&mut r), vec![], "no longer a support agent");
    arrive(&mut r, t0 + 2 * S, 2, 0, 0);
    assert_eq!(offers(&mut r), vec![(2, 0)]);
    // Nothing left to meet: logged out once free.
    let none = Input::SetSkills {
        agent: AgentId(0),
        skills: vec![],
    };
    r.handle(t0 + 3 * S, none).unwrap();
    assert!(r.agent_queues(AgentId(0)).is_empty());
    drain(&mut r);
}

#[test]
fn a_skill_level_out_of_range_changes_nothing() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    let bad = Input::SetSkills {
        agent: AgentId(0),
        skills: vec![("sales".into(), 11)],
    };
    assert!(matches!(
        r.handle(t0, bad),
        Err(AcdError::SkillLevelOutOfRange { level: 11, .. })
    ));
    assert_eq!(r.agent_state(AgentId(0)), Some(AgentState::Available));
    assert_eq!(r.agent_queues(AgentId(0)), vec![QueueId(0)]);
    drain(&mut r);
}

#[test]
fn every_state_change_is_reported_once_in_order() {
    let t0 = origin();
    let mut r = router(t0, &one_skill_agents(1, 5), &[queue("q", sales())]);
    ready(&mut r, t0, 0);
    arrive(&mut r, t0, 1, 0, 0);
    answer(&mut r, t0 + S, 1, 0);
    end(&mut r, t0 + 2 * S, 1);
    let changes: Vec<(AgentState, AgentState)> = std::iter::from_fn(|| r.poll_action())
        .filter_map(|a| match a {
            Action::Event(Event::AgentStateChanged { from, to, .. }) => Some((from, to)),
            _ => None,
        })
        .collect();
    use AgentState::*;
    assert_eq!(
        changes,
        vec![
            (LoggedOut, Available),
            (Available, Reserved(CallId(1))),
            (Reserved(CallId(1)), OnCall(CallId(1))),
            (OnCall(CallId(1)), Available),
        ]
    );
}
