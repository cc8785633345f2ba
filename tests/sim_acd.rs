//! Virtual-time simulations of a call centre on the ACD router: Poisson
//! arrivals, exponential handle times and patience. The clock steps to the
//! earliest deadline each time (the router's or the simulated world's), the
//! steps are capped, and a failure prints the seed.
//!
//! A single-skill queue must agree with Erlang C (M/M/N, no abandonment); a
//! multi-skill centre must answer or lose every caller with the invariants
//! holding throughout.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard::acd::erlang;
use switchyard::acd::{
    AcdError, Action, AgentId, AgentSpec, CallId, Condition, Input, Overflow, OverflowTarget,
    QueueId, QueueSpec, RejectReason, RelaxStep, Router, ServiceLevel, Strategy, WhenNoAgents,
};

/// What the simulated world does at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum World {
    Arrival,
    Answer(CallId, AgentId),
    NoAnswer(CallId, AgentId),
    Hangup(CallId),
    Abandon(CallId),
}

struct Params {
    seed: u64,
    calls: u64,
    /// Mean time between arrivals.
    interarrival: Duration,
    handle: Duration,
    /// `None`: callers never hang up.
    patience: Option<Duration>,
    /// Chance that a phone does not answer an offer.
    no_answer: f64,
    /// Queue chosen per arrival.
    queues: u16,
    invariant_every: u64,
}

#[derive(Default, Debug)]
struct Outcome {
    answered: u64,
    abandoned: u64,
    busy: u64,
    refused: u64,
    steps: u64,
}

fn exp(rng: &mut StdRng, mean: Duration) -> Duration {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    mean.mul_f64(-u.ln())
}

/// The origin of virtual time; the simulation only adds `Duration`s to it.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

/// Runs the world against the router until every call is done.
fn simulate(router: &mut Router, t0: Instant, p: &Params) -> Result<Outcome, String> {
    let mut rng = StdRng::seed_from_u64(p.seed);
    let mut world: BinaryHeap<Reverse<(Instant, u64, World)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |world: &mut BinaryHeap<_>, at: Instant, w: World| {
        seq += 1;
        world.push(Reverse((at, seq, w)));
    };
    push(&mut world, t0, World::Arrival);
    let mut out = Outcome::default();
    let mut arrived = 0u64;
    let mut ringing: HashMap<AgentId, CallId> = HashMap::new();
    let steps_max = p.calls * 20 + 10_000;
    let mut now;
    loop {
        out.steps += 1;
        if out.steps > steps_max {
            return Err(format!("no end after {steps_max} steps"));
        }
        let world_next = world.peek().map(|Reverse((at, _, _))| *at);
        let router_next = router.poll_timeout();
        match (world_next, router_next) {
            (None, None) => break,
            (Some(w), Some(r)) if r < w => {
                now = r;
                router.handle_timeout(now);
            }
            (None, Some(r)) => {
                now = r;
                router.handle_timeout(now);
            }
            (Some(_), _) => {
                let Reverse((at, _, event)) = world.pop().expect("peeked");
                now = at;
                let result = match event {
                    World::Arrival => {
                        arrived += 1;
                        if arrived < p.calls {
                            push(
                                &mut world,
                                now + exp(&mut rng, p.interarrival),
                                World::Arrival,
                            );
                        }
                        let call = CallId(arrived);
                        if let Some(patience) = p.patience {
                            push(
                                &mut world,
                                now + exp(&mut rng, patience),
                                World::Abandon(call),
                            );
                        }
                        let queue = QueueId(rng.random_range(0..p.queues));
                        router.handle(
                            now,
                            Input::CallArrived {
                                call,
                                queue,
                                priority: 0,
                                attributes: vec![],
                            },
                        )
                    }
                    World::Answer(call, agent) => {
                        if ringing.get(&agent) == Some(&call) {
                            ringing.remove(&agent);
                        }
                        let r = router.handle(now, Input::OfferAnswered { call, agent });
                        if r.is_ok() {
                            out.answered += 1;
                            push(
                                &mut world,
                                now + exp(&mut rng, p.handle),
                                World::Hangup(call),
                            );
                        }
                        r
                    }
                    World::NoAnswer(call, agent) => {
                        if ringing.get(&agent) == Some(&call) {
                            ringing.remove(&agent);
                        }
                        router.handle(
                            now,
                            Input::OfferRejected {
                                call,
                                agent,
                                reason: RejectReason::NoAnswer,
                            },
                        )
                    }
                    World::Hangup(call) => router.handle(now, Input::CallEnded { call }),
                    World::Abandon(call) => {
                        let r = router.handle(now, Input::CallAbandoned { call });
                        out.abandoned += u64::from(r.is_ok());
                        r
                    }
                };
                // The world acts on stale news (an offer withdrawn, a caller
                // already answered): the router must refuse, not break.
                match result {
                    Ok(())
                    | Err(AcdError::NotOffered { .. })
                    | Err(AcdError::UnknownCall(_))
                    | Err(AcdError::CallAlreadyConnected(_)) => {}
                    Err(e) => return Err(format!("at {:?}: {event:?}: {e}", now - t0)),
                }
            }
        }
        while let Some(action) = router.poll_action() {
            match action {
                Action::Offer { call, agent, .. } => {
                    if let Some(held) = ringing.insert(agent, call) {
                        return Err(format!(
                            "{agent:?} offered {call:?} while ringing for {held:?}"
                        ));
                    }
                    if rng.random_bool(p.no_answer) {
                        // Ignore it: the router's ring timeout must fire.
                        if rng.random_bool(0.5) {
                            push(
                                &mut world,
                                now + Duration::from_secs(2),
                                World::NoAnswer(call, agent),
                            );
                        }
                    } else {
                        push(&mut world, now, World::Answer(call, agent));
                    }
                }
                Action::WithdrawOffer { agent, .. } => {
                    ringing.remove(&agent);
                }
                Action::Overflow {
                    target: OverflowTarget::Busy,
                    ..
                } => out.busy += 1,
                Action::Overflow { .. } | Action::Event(_) => {}
                Action::Refuse { .. } => out.refused += 1,
            }
        }
        if out.steps % p.invariant_every == 0 {
            router
                .check_invariants()
                .map_err(|e| format!("at {:?}: {e}", now - t0))?;
        }
    }
    router.check_invariants()?;
    if router.calls() != 0 {
        return Err(format!("{} calls left in the router", router.calls()));
    }
    let done = out.answered + out.abandoned + out.busy + out.refused;
    if done != p.calls {
        return Err(format!(
            "{} calls arrived but {done} accounted for: {out:?}",
            p.calls
        ));
    }
    Ok(out)
}

fn queue(name: &str, requires: Vec<Vec<Condition>>) -> QueueSpec {
    QueueSpec {
        name: name.into(),
        requires,
        strategy: Strategy::LongestIdle,
        ring_timeout: Duration::from_secs(15),
        wrap_up: Duration::ZERO,
        disposition_wrap_up_max: None,
        max_length: 10_000,
        max_wait: None,
        overflow: Overflow::Busy,
        when_no_agents: WhenNoAgents::Join,
        service_level: ServiceLevel {
            threshold: Duration::from_secs(20),
            target_percent: 80,
        },
        relax: Vec::new(),
    }
}

fn scale(debug: u64, release: u64) -> u64 {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

#[test]
fn single_skill_queue_agrees_with_erlang_c() {
    let seed = 20;
    let agents_n = 20u32;
    let handle = Duration::from_secs(180);
    let traffic = 17.0; // erlangs: 85 % occupancy
    let interarrival = handle.div_f64(traffic);
    let agents: Vec<AgentSpec> = (0..agents_n)
        .map(|i| AgentSpec {
            name: format!("a{i}"),
            skills: vec![("sales".into(), 5)],
            attributes: vec![],
            max_no_answer: 0,
        })
        .collect();
    let t0 = origin();
    let queues = [queue(
        "sales",
        vec![vec![Condition::Skill {
            skill: "sales".into(),
            min_level: 1,
        }]],
    )];
    let mut router = Router::new(t0, &agents, &queues, StdRng::seed_from_u64(seed)).unwrap();
    for a in 0..agents_n {
        router
            .handle(t0, Input::AgentRegistered { agent: AgentId(a) })
            .unwrap();
        router
            .handle(
                t0,
                Input::AgentLogin {
                    agent: AgentId(a),
                    queue: None,
                },
            )
            .unwrap();
    }
    let p = Params {
        seed,
        calls: scale(100_000, 100_000),
        interarrival,
        handle,
        patience: None,
        no_answer: 0.0,
        queues: 1,
        invariant_every: 97,
    };
    let out = simulate(&mut router, t0, &p).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert_eq!(out.answered, p.calls, "seed {seed}: {out:?}");
    let stats = router.queue_stats(QueueId(0)).unwrap();
    let wait = stats.average_wait().unwrap().as_secs_f64();
    let sl = stats.service_level().unwrap();
    let theory_wait = erlang::average_wait(traffic, agents_n, handle)
        .unwrap()
        .as_secs_f64();
    let theory_sl = erlang::service_level(traffic, agents_n, handle, Duration::from_secs(20));
    println!("seed {seed}: wait {wait:.1} s (Erlang C {theory_wait:.1} s), SL {sl:.3} (Erlang C {theory_sl:.3})");
    // Waits are strongly correlated at 85 % load: 100 000 calls pin the mean
    // to about ±10 %, so allow 15 % on the wait and 3 points on the SL.
    assert!(
        (wait - theory_wait).abs() <= 0.15 * theory_wait,
        "seed {seed}: wait {wait} vs {theory_wait}"
    );
    assert!(
        (sl - theory_sl).abs() <= 0.03,
        "seed {seed}: SL {sl} vs {theory_sl}"
    );
}

#[test]
fn multi_skill_centre_answers_or_loses_every_caller_with_invariants_held() {
    let seed = 7;
    let mut rng = StdRng::seed_from_u64(seed);
    let skills = 20u16;
    let agents: Vec<AgentSpec> = (0..200)
        .map(|i| {
            let n = rng.random_range(2..=4);
            let skills = (0..n)
                .map(|_| {
                    (
                        format!("s{}", rng.random_range(0..skills)),
                        rng.random_range(1..=10),
                    )
                })
                .collect();
            AgentSpec {
                name: format!("a{i}"),
                skills,
                attributes: vec![],
                max_no_answer: 3,
            }
        })
        .collect();
    let strategies = [
        Strategy::LongestIdle,
        Strategy::MostSkilled,
        Strategy::RoundRobin,
        Strategy::FewestCalls,
        Strategy::LeastTalkTime,
        Strategy::Random,
        Strategy::RingAll,
    ];
    let queues: Vec<QueueSpec> = (0..skills)
        .map(|s| {
            let cond = |level| {
                vec![vec![Condition::Skill {
                    skill: format!("s{s}"),
                    min_level: level,
                }]]
            };
            let mut q = queue(&format!("q{s}"), cond(6));
            q.strategy = strategies[s as usize % strategies.len()];
            q.relax = vec![RelaxStep {
                after: Duration::from_secs(20),
                requires: cond(1),
            }];
            q.wrap_up = Duration::from_secs(10);
            q.max_wait = Some(Duration::from_secs(300));
            q.max_length = 50;
            q.overflow = if s + 1 < skills {
                Overflow::Queue(format!("q{}", s + 1))
            } else {
                Overflow::Busy
            };
            q
        })
        .collect();
    let t0 = origin();
    let mut router = Router::new(t0, &agents, &queues, StdRng::seed_from_u64(seed)).unwrap();
    for a in 0..agents.len() as u32 {
        router
            .handle(t0, Input::AgentRegistered { agent: AgentId(a) })
            .unwrap();
        router
            .handle(
                t0,
                Input::AgentLogin {
                    agent: AgentId(a),
                    queue: None,
                },
            )
            .unwrap();
    }
    // 200 agents, 240 s handle (+10 s wrap-up): ~0.9 load overall.
    let p = Params {
        seed,
        calls: scale(100_000, 100_000),
        interarrival: Duration::from_millis(1_400),
        handle: Duration::from_secs(240),
        patience: Some(Duration::from_secs(120)),
        no_answer: 0.02,
        queues: skills,
        invariant_every: scale(499, 97),
    };
    let out = simulate(&mut router, t0, &p).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    println!("seed {seed}: {out:?}");
    assert!(out.answered > p.calls / 2, "seed {seed}: {out:?}");
    assert!(
        out.abandoned > 0,
        "seed {seed}: patience must bite at this load: {out:?}"
    );
}
