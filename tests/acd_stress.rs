//! Stress tests of the ACD router: random inputs in any order, invariants
//! checked after every one. A single-thread run drives the router directly;
//! a multi-thread run has producers on both cores message the router's
//! owner over bounded channels, as the call engine will.
//!
//! This file is a driver: it spawns threads and reads the wall clock to
//! bound its run time.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard::acd::{
    Action, AgentId, AgentSpec, CallId, Condition, Input, Overflow, OverflowTarget, PauseReason,
    QueueId, QueueSpec, RejectReason, RelaxStep, Router, ServiceLevel, Strategy, WhenNoAgents,
};

const AGENTS: u32 = 12;
const QUEUES: u16 = 4;
/// Bound of the producer → owner channel and of each owner → producer channel.
const CHANNEL_EVENTS_MAX: usize = 1024;

fn ops_count(debug: u64, release: u64) -> u64 {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

fn skill(name: &str, min_level: u8) -> Condition {
    Condition::Skill {
        skill: name.into(),
        min_level,
    }
}

fn queue(name: &str, requires: Vec<Vec<Condition>>, strategy: Strategy) -> QueueSpec {
    QueueSpec {
        name: name.into(),
        requires,
        strategy,
        ring_timeout: Duration::from_secs(10),
        wrap_up: Duration::ZERO,
        disposition_wrap_up_max: None,
        max_length: 20,
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

/// Four queues that between them use every feature: overflow, max wait,
/// relaxation, ring-all, wrap-up, refusal, attributes.
fn specs(rng: &mut StdRng) -> (Vec<AgentSpec>, Vec<QueueSpec>) {
    let agents = (0..AGENTS)
        .map(|i| AgentSpec {
            name: format!("agent{i}"),
            skills: vec![
                ("a".into(), rng.random_range(1..=10)),
                ("b".into(), rng.random_range(1..=10)),
            ],
            attributes: vec![(
                "language".into(),
                if i % 3 == 0 { "de" } else { "en" }.into(),
            )],
            max_no_answer: 3,
        })
        .collect();
    // q0: everyone qualifies, so its calls must be served strictly FIFO.
    let mut q0 = queue("q0", vec![], Strategy::LongestIdle);
    q0.max_length = 5;
    q0.max_wait = Some(Duration::from_secs(60));
    q0.overflow = Overflow::Queue("q1".into());
    let mut q1 = queue("q1", vec![vec![skill("a", 8)]], Strategy::RingAll);
    q1.wrap_up = Duration::from_secs(2);
    q1.relax = vec![RelaxStep {
        after: Duration::from_secs(10),
        requires: vec![vec![skill("a", 3)]],
    }];
    q1.overflow = Overflow::Queue("q0".into());
    q1.max_wait = Some(Duration::from_secs(40));
    let lang = Condition::Attribute {
        name: "language".into(),
        value: "de".into(),
    };
    let mut q2 = queue(
        "q2",
        vec![vec![skill("b", 6)], vec![lang]],
        Strategy::MostSkilled,
    );
    q2.relax = vec![
        RelaxStep {
            after: Duration::from_secs(5),
            requires: vec![vec![skill("b", 3)]],
        },
        RelaxStep {
            after: Duration::from_secs(15),
            requires: vec![],
        },
    ];
    let mut q3 = queue(
        "q3",
        vec![vec![skill("a", 5), skill("b", 5)]],
        Strategy::Random,
    );
    q3.when_no_agents = WhenNoAgents::Refuse;
    q3.max_wait = Some(Duration::from_secs(30));
    q3.wrap_up = Duration::from_secs(3);
    (agents, vec![q0, q1, q2, q3])
}

/// What the engine learns from the router's actions, checked against the
/// promises: one offer per agent, one offer per call (ring-all excepted),
/// no call lost or duplicated, FIFO within queue q0 and a priority.
#[derive(Default)]
struct Ledger {
    offers: HashMap<AgentId, CallId>,
    offered: HashMap<CallId, Vec<AgentId>>,
    connected: HashMap<CallId, AgentId>,
    /// Live calls: current queue, priority, arrival number.
    live: HashMap<CallId, (QueueId, u8, u64)>,
    ever_offered: HashSet<CallId>,
    overflowed: HashSet<CallId>,
    fifo_last: HashMap<u8, u64>,
    arrivals: u64,
}

impl Ledger {
    fn arrived(&mut self, call: CallId, queue: QueueId, priority: u8) {
        self.arrivals += 1;
        self.live.insert(call, (queue, priority, self.arrivals));
    }

    fn apply(&mut self, action: &Action) -> Result<(), String> {
        match *action {
            Action::Offer { call, agent, .. } => {
                let &(queue, priority, seq) = self
                    .live
                    .get(&call)
                    .ok_or(format!("offer of dead {call:?}"))?;
                if let Some(held) = self.offers.insert(agent, call) {
                    return Err(format!("{agent:?} offered {call:?} while holding {held:?}"));
                }
                let list = self.offered.entry(call).or_default();
                if !list.is_empty() && queue != QueueId(1) {
                    return Err(format!("{call:?} offered twice outside ring-all"));
                }
                if self.connected.contains_key(&call) {
                    return Err(format!("connected {call:?} offered again"));
                }
                list.push(agent);
                let first = self.ever_offered.insert(call);
                if first && queue == QueueId(0) && !self.overflowed.contains(&call) {
                    let last = self.fifo_last.entry(priority).or_insert(0);
                    if seq < *last {
                        return Err(format!(
                            "{call:?} (arrival {seq}) served after arrival {last}"
                        ));
                    }
                    *last = seq;
                }
            }
            Action::WithdrawOffer { call, agent } => self.take_offer(call, agent)?,
            Action::Overflow { call, target } => {
                if self.offered.contains_key(&call) {
                    return Err(format!("{call:?} overflowed while offered"));
                }
                match target {
                    OverflowTarget::Busy => {
                        self.live
                            .remove(&call)
                            .ok_or(format!("overflow of dead {call:?}"))?;
                    }
                    OverflowTarget::Queue(q) => {
                        self.live
                            .get_mut(&call)
                            .ok_or(format!("overflow of dead {call:?}"))?
                            .0 = q;
                        // It joins q by its first arrival, not in q's own order.
                        self.overflowed.insert(call);
                    }
                }
            }
            Action::Refuse { call, .. } => {
                self.live
                    .remove(&call)
                    .ok_or(format!("refusal of dead {call:?}"))?;
            }
            Action::Event(_) => {}
        }
        Ok(())
    }

    fn take_offer(&mut self, call: CallId, agent: AgentId) -> Result<(), String> {
        if self.offers.remove(&agent) != Some(call) {
            return Err(format!("{agent:?} had no offer of {call:?}"));
        }
        let list = self.offered.get_mut(&call).expect("offer listed per call");
        list.retain(|&a| a != agent);
        if list.is_empty() {
            self.offered.remove(&call);
        }
        Ok(())
    }

    /// Books an input the router accepted.
    fn accepted(&mut self, input: &Input) -> Result<(), String> {
        match *input {
            Input::CallArrived {
                call,
                queue,
                priority,
                ..
            } => self.arrived(call, queue, priority),
            Input::OfferAnswered { call, agent } => {
                self.take_offer(call, agent)?;
                self.connected.insert(call, agent);
            }
            Input::OfferRejected { call, agent, .. } => self.take_offer(call, agent)?,
            Input::CallAbandoned { call } | Input::CallEnded { call } => {
                self.live
                    .remove(&call)
                    .ok_or(format!("{call:?} ended twice"))?;
                self.connected.remove(&call);
            }
            _ => {}
        }
        Ok(())
    }

    fn check(&self, router: &Router) -> Result<(), String> {
        router.check_invariants()?;
        if router.calls() != self.live.len() {
            return Err(format!(
                "router holds {} calls, engine knows {}",
                router.calls(),
                self.live.len()
            ));
        }
        Ok(())
    }
}

/// Feeds one input and books it and the actions it caused.
fn step(
    router: &mut Router,
    ledger: &mut Ledger,
    now: Instant,
    input: Input,
) -> Result<Vec<Action>, String> {
    if router.handle(now, input.clone()).is_ok() {
        ledger.accepted(&input)?;
    }
    drain(router, ledger)
}

fn drain(router: &mut Router, ledger: &mut Ledger) -> Result<Vec<Action>, String> {
    let mut out = Vec::new();
    while let Some(action) = router.poll_action() {
        ledger.apply(&action)?;
        out.push(action);
    }
    ledger.check(router)?;
    Ok(out)
}

fn pick<T: Copy>(rng: &mut StdRng, items: impl Iterator<Item = T>) -> Option<T> {
    let items: Vec<T> = items.collect();
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())])
}

fn random_agent_input(rng: &mut StdRng) -> Input {
    let agent = AgentId(rng.random_range(0..AGENTS + 1)); // one unknown id
    let queue = rng
        .random_bool(0.5)
        .then(|| QueueId(rng.random_range(0..QUEUES)));
    match rng.random_range(0..6) {
        0 => Input::AgentLogin { agent, queue },
        1 => Input::AgentLogout { agent, queue },
        2 => Input::AgentPause {
            agent,
            reason: PauseReason::Break,
        },
        3 => Input::AgentResume { agent },
        4 => Input::AgentRegistered { agent },
        _ => Input::AgentUnregistered { agent },
    }
}

fn run_single_thread(seed: u64, ops: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (agents, queues) = specs(&mut rng);
    let t0 = Instant::now();
    let mut now = t0;
    let mut router = Router::new(t0, &agents, &queues, StdRng::seed_from_u64(seed ^ 1))
        .map_err(|e| e.to_string())?;
    let mut ledger = Ledger::default();
    for a in 0..AGENTS {
        step(
            &mut router,
            &mut ledger,
            now,
            Input::AgentRegistered { agent: AgentId(a) },
        )?;
        step(
            &mut router,
            &mut ledger,
            now,
            Input::AgentLogin {
                agent: AgentId(a),
                queue: None,
            },
        )?;
    }
    let mut next_call = 0u64;
    for op in 0..ops {
        let input = match rng.random_range(0..100) {
            0..=24 => {
                next_call += 1;
                let queue = QueueId(rng.random_range(0..QUEUES + 1)); // one unknown id
                Input::CallArrived {
                    call: CallId(next_call),
                    queue,
                    priority: rng.random_range(0..3),
                    attributes: vec![],
                }
            }
            25..=31 => match pick(&mut rng, ledger.live.keys().copied()) {
                Some(call) => Input::CallAbandoned { call },
                None => continue,
            },
            32..=51 => match pick(&mut rng, ledger.offers.iter().map(|(&a, &c)| (a, c))) {
                Some((agent, call)) => Input::OfferAnswered { call, agent },
                None => continue,
            },
            52..=59 => match pick(&mut rng, ledger.offers.iter().map(|(&a, &c)| (a, c))) {
                Some((agent, call)) => Input::OfferRejected {
                    call,
                    agent,
                    reason: RejectReason::NoAnswer,
                },
                None => continue,
            },
            60..=79 => match pick(&mut rng, ledger.connected.keys().copied()) {
                Some(call) => Input::CallEnded { call },
                None => continue,
            },
            80..=84 => {
                // A stale or wrong answer must be refused and change nothing.
                let call = CallId(rng.random_range(0..next_call + 2));
                let agent = AgentId(rng.random_range(0..AGENTS));
                if ledger.offers.get(&agent) == Some(&call) {
                    continue;
                }
                Input::OfferAnswered { call, agent }
            }
            85..=91 => random_agent_input(&mut rng),
            _ => {
                now += Duration::from_millis(rng.random_range(0..8_000));
                router.handle_timeout(now);
                drain(&mut router, &mut ledger).map_err(|e| format!("op {op} timeout: {e}"))?;
                continue;
            }
        };
        step(&mut router, &mut ledger, now, input.clone())
            .map_err(|e| format!("op {op} {input:?}: {e}"))?;
    }
    Ok(())
}

#[test]
fn random_single_thread_ops_keep_every_invariant() {
    let ops = ops_count(150_000, 3_000_000);
    for seed in [1, 2, 3] {
        if let Err(e) = run_single_thread(seed, ops / 3) {
            panic!("seed {seed}: {e}");
        }
    }
}

/// A message from a producer: the input, or that it is done.
enum ToOwner {
    Input(Input),
}

/// Producer `p` owns call ids `p << 40 | n`; the owner tells it its offers.
fn producer(
    p: u64,
    seed: u64,
    events: u64,
    deadline: Instant,
    tx: SyncSender<ToOwner>,
    offers: Receiver<(CallId, AgentId)>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut mine: Vec<CallId> = Vec::new();
    let mut answered: Vec<CallId> = Vec::new();
    let mut ringing: Vec<(CallId, AgentId)> = Vec::new();
    let mut next = 0u64;
    for i in 0..events {
        if i % 1024 == 0 && Instant::now() > deadline {
            break;
        }
        while let Ok(offer) = offers.try_recv() {
            ringing.push(offer);
        }
        let input = match rng.random_range(0..100) {
            0..=29 => {
                next += 1;
                let call = CallId(p << 40 | next);
                mine.push(call);
                if mine.len() > 256 {
                    mine.swap_remove(0);
                }
                Input::CallArrived {
                    call,
                    queue: QueueId(rng.random_range(0..QUEUES)),
                    priority: rng.random_range(0..3),
                    attributes: vec![],
                }
            }
            30..=37 if !mine.is_empty() => Input::CallAbandoned {
                call: mine[rng.random_range(0..mine.len())],
            },
            38..=64 if !ringing.is_empty() => {
                let (call, agent) = ringing.swap_remove(rng.random_range(0..ringing.len()));
                if rng.random_bool(0.8) {
                    answered.push(call);
                    Input::OfferAnswered { call, agent }
                } else {
                    Input::OfferRejected {
                        call,
                        agent,
                        reason: RejectReason::Busy,
                    }
                }
            }
            65..=89 if !answered.is_empty() => Input::CallEnded {
                call: answered.swap_remove(rng.random_range(0..answered.len())),
            },
            _ => random_agent_input(&mut rng),
        };
        if tx.send(ToOwner::Input(input)).is_err() {
            return;
        }
    }
}

#[test]
fn producers_on_both_cores_never_break_the_router_owner() {
    let seed = 0x5eed;
    let events_per_producer = ops_count(10_000, 1_000_000);
    let deadline =
        Instant::now() + Duration::from_secs(if cfg!(debug_assertions) { 20 } else { 30 });
    let mut rng = StdRng::seed_from_u64(seed);
    let (agents, queues) = specs(&mut rng);
    let processed = AtomicU64::new(0);
    let live_calls = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let (tx, rx) = sync_channel::<ToOwner>(CHANNEL_EVENTS_MAX);
    let producers = 2u64;
    let mut offer_txs = Vec::new();
    let result = std::thread::scope(|s| {
        for p in 0..producers {
            let (otx, orx) = sync_channel(CHANNEL_EVENTS_MAX);
            offer_txs.push(otx);
            let tx = tx.clone();
            s.spawn(move || producer(p, seed + p + 1, events_per_producer, deadline, tx, orx));
        }
        drop(tx);
        // A reader of the published figures: it never blocks the owner.
        let reader = s.spawn(|| {
            let mut last = 0;
            while !done.load(Ordering::Acquire) {
                let n = processed.load(Ordering::Acquire);
                assert!(n >= last, "published count went back");
                last = n;
                let _ = live_calls.load(Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let (agents, queues, processed, live_calls) = (&agents, &queues, &processed, &live_calls);
        let offer_txs = &offer_txs;
        let owner = s.spawn(move || -> Result<u64, String> {
            let t0 = Instant::now();
            let mut now = t0;
            let mut router = Router::new(t0, agents, queues, StdRng::seed_from_u64(seed))
                .map_err(|e| e.to_string())?;
            let mut ledger = Ledger::default();
            for a in 0..AGENTS {
                step(
                    &mut router,
                    &mut ledger,
                    now,
                    Input::AgentRegistered { agent: AgentId(a) },
                )?;
                step(
                    &mut router,
                    &mut ledger,
                    now,
                    Input::AgentLogin {
                        agent: AgentId(a),
                        queue: None,
                    },
                )?;
            }
            let mut n = 0u64;
            while let Ok(ToOwner::Input(input)) = rx.recv() {
                n += 1;
                // Virtual time: 50 ms per event, so ring and wrap-up timers fire.
                now += Duration::from_millis(50);
                router.handle_timeout(now);
                let mut actions = drain(&mut router, &mut ledger)
                    .map_err(|e| format!("event {n} timeout: {e}"))?;
                actions.extend(
                    step(&mut router, &mut ledger, now, input.clone())
                        .map_err(|e| format!("event {n} {input:?}: {e}"))?,
                );
                for action in actions {
                    if let Action::Offer { call, agent, .. } = action {
                        // A full producer inbox drops the offer; its ring timeout recovers.
                        let _ = offer_txs[(call.0 >> 40) as usize].try_send((call, agent));
                    }
                }
                processed.store(n, Ordering::Release);
                live_calls.store(router.calls() as u64, Ordering::Relaxed);
            }
            eprintln!(
                "owner: {n} events in {:?}, {} calls live",
                t0.elapsed(),
                router.calls()
            );
            Ok(n)
        });
        let result = owner.join().expect("owner thread");
        done.store(true, Ordering::Release);
        reader.join().expect("reader thread");
        result
    });
    match result {
        Ok(n) => assert!(n > 1_000, "only {n} events processed"),
        Err(e) => panic!("seed {seed}: {e}"),
    }
}
