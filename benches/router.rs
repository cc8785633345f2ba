//! Routing decisions of the ACD router against a classic baseline (one mutex
//! around a list of agents and a list of waiting calls, scanned linearly per
//! decision), at 100 / 10 000 / 100 000 agents and 1 / 50 / 500 skills, on 1
//! and 2 threads. Two decisions are timed: a call arrives and an agent is
//! chosen; an agent frees and a waiting call is chosen.
//!
//! Run: `cargo bench --bench router`. Each case prints one plain line:
//! `router agents=… skills=… threads=… median_ns=… p99_ns=… baseline_median_ns=… ratio=… cycle_ratio=… cycles_per_s=…`
//! - `ratio`: decision throughput over the baseline's, where a design's
//!   decision throughput is its deciding threads over its mean decision time
//!   (the router decides on its owner thread only; the baseline on each).
//! - `cycle_ratio`: the same over wall-clock cycles, each cycle a decision
//!   plus the inputs that set up the next (answer, hang-up, refill), which
//!   cost the router far more than the baseline's flag flips.
//! - `cycles_per_s`: the router's cycles per second, to compare 1 and 2 threads.
//!
//! This file is a driver: it reads the clock and spawns threads.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard::acd::{
    Action, AgentId, AgentSpec, AgentState, CallId, Condition, Input, Overflow, QueueId, QueueSpec,
    Router, ServiceLevel, Strategy, WhenNoAgents, QUEUE_CALLS_MAX,
};

/// Timed decisions per phase for the router.
const ROUTER_DECISIONS: usize = 30_000;
/// Runs per case; the median one is reported.
const RUNS: usize = 3;
/// Inputs per message on the producer → owner channel.
const BATCH_INPUTS: usize = 256;
/// Batches the producer → owner channel holds.
const CHANNEL_BATCHES_MAX: usize = 16;

struct Figures {
    times: Vec<u64>,
    decisions: usize,
    wall: Duration,
}

impl Figures {
    fn percentile(&mut self, p: f64) -> u64 {
        self.times.sort_unstable();
        let i = ((self.times.len() as f64 - 1.0) * p).round() as usize;
        self.times[i]
    }

    fn mean_ns(&self) -> f64 {
        self.times.iter().sum::<u64>() as f64 / self.times.len() as f64
    }

    fn throughput(&self) -> f64 {
        self.decisions as f64 / self.wall.as_secs_f64()
    }

    fn merge(mut self, other: Figures) -> Figures {
        self.times.extend(other.times);
        self.decisions += other.decisions;
        self.wall += other.wall;
        self
    }
}

/// Each agent's skills: `min(3, skills)` distinct ones; queue q requires skill q.
fn agent_skills(agents: usize, skills: usize, rng: &mut StdRng) -> Vec<Vec<u16>> {
    (0..agents)
        .map(|_| {
            let mut mine: Vec<u16> = Vec::new();
            while mine.len() < skills.min(3) {
                let s = rng.random_range(0..skills) as u16;
                if !mine.contains(&s) {
                    mine.push(s);
                }
            }
            mine
        })
        .collect()
}

fn build_router(t0: Instant, skills_of: &[Vec<u16>], skills: usize) -> Router {
    let agents: Vec<AgentSpec> = skills_of
        .iter()
        .enumerate()
        .map(|(i, s)| AgentSpec {
            name: format!("a{i}"),
            skills: s.iter().map(|&k| (format!("s{k}"), 5)).collect(),
            attributes: vec![],
            max_no_answer: 0,
        })
        .collect();
    let queues: Vec<QueueSpec> = (0..skills)
        .map(|k| QueueSpec {
            name: format!("q{k}"),
            requires: vec![vec![Condition::Skill {
                skill: format!("s{k}"),
                min_level: 1,
            }]],
            strategy: Strategy::LongestIdle,
            ring_timeout: Duration::from_secs(30),
            wrap_up: Duration::ZERO,
            disposition_wrap_up_max: None,
            max_length: QUEUE_CALLS_MAX,
            max_wait: None,
            overflow: Overflow::Busy,
            when_no_agents: WhenNoAgents::Join,
            service_level: ServiceLevel {
                threshold: Duration::from_secs(20),
                target_percent: 80,
            },
            relax: vec![],
        })
        .collect();
    let mut r = Router::new(t0, &agents, &queues, StdRng::seed_from_u64(1)).expect("bench specs");
    for (i, s) in skills_of.iter().enumerate() {
        let agent = AgentId(i as u32);
        r.handle(t0, Input::AgentRegistered { agent }).unwrap();
        for &k in s {
            r.handle(
                t0,
                Input::AgentLogin {
                    agent,
                    queue: Some(QueueId(k)),
                },
            )
            .unwrap();
        }
        // Each login reports a state change: drain, as a driver does.
        while r.poll_action().is_some() {}
    }
    r
}

/// Drains the actions and returns the offer among them, if any.
fn offer(r: &mut Router) -> Option<(CallId, AgentId)> {
    let mut found = None;
    while let Some(a) = r.poll_action() {
        if let Action::Offer { call, agent, .. } = a {
            found = Some((call, agent));
        }
    }
    found
}

fn arrival(call: u64, skills_of: &[Vec<u16>], rng: &mut StdRng) -> Input {
    let s = &skills_of[rng.random_range(0..skills_of.len())];
    let queue = QueueId(s[rng.random_range(0..s.len())]);
    Input::CallArrived {
        call: CallId(call),
        queue,
        priority: rng.random_range(0..2),
        attributes: vec![],
    }
}

/// Feeds arrivals either from this thread or from a producer thread.
enum Source {
    Inline {
        rng: Box<StdRng>,
    },
    Channel {
        rx: Receiver<Vec<Input>>,
        /// Empty batches go back to the producer, so no thread frees
        /// another's allocation.
        empties: SyncSender<Vec<Input>>,
        batch: Vec<Input>,
        at: usize,
    },
}

impl Source {
    fn next(&mut self, call: &mut u64, skills_of: &[Vec<u16>]) -> Input {
        match self {
            Source::Inline { rng } => {
                *call += 1;
                arrival(*call, skills_of, rng)
            }
            Source::Channel {
                rx,
                empties,
                batch,
                at,
            } => loop {
                if *at < batch.len() {
                    *at += 1;
                    let spent = Input::AgentResume { agent: AgentId(0) };
                    return std::mem::replace(&mut batch[*at - 1], spent);
                }
                let next = rx.recv().expect("producer outlives the owner's loop");
                let mut used = std::mem::replace(batch, next);
                used.clear();
                let _ = empties.try_send(used);
                *at = 0;
            },
        }
    }
}

fn spawn_producer(skills_of: Arc<Vec<Vec<u16>>>) -> (Source, std::thread::JoinHandle<()>) {
    let (tx, rx) = sync_channel::<Vec<Input>>(CHANNEL_BATCHES_MAX);
    let (empties, recycled) = sync_channel::<Vec<Input>>(CHANNEL_BATCHES_MAX + 2);
    let handle = std::thread::spawn(move || {
        let mut rng = StdRng::seed_from_u64(7);
        // Producer ids sit above the owner's, so they never collide.
        let mut call = 1u64 << 40;
        loop {
            let mut batch = recycled
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH_INPUTS));
            batch.extend((0..BATCH_INPUTS).map(|_| {
                call += 1;
                arrival(call, &skills_of, &mut rng)
            }));
            if tx.send(batch).is_err() {
                return;
            }
        }
    });
    let source = Source::Channel {
        rx,
        empties,
        batch: Vec::new(),
        at: 0,
    };
    (source, handle)
}

/// Answers an offer and books the connected call.
fn connect(
    r: &mut Router,
    now: Instant,
    offer_: (CallId, AgentId),
    connected: &mut Vec<(CallId, AgentId)>,
) {
    let (call, agent) = offer_;
    r.handle(now, Input::OfferAnswered { call, agent }).unwrap();
    offer(r);
    connected.push((call, agent));
}

/// Both decisions on one router; `threads == 2` moves input generation to a
/// producer on the other core, feeding the owner over a bounded channel.
fn bench_router(agents: usize, skills: usize, threads: usize) -> Figures {
    let mut rng = StdRng::seed_from_u64(42);
    let skills_of = Arc::new(agent_skills(agents, skills, &mut rng));
    let t0 = Instant::now();
    let mut r = build_router(t0, &skills_of, skills);
    let (mut source, producer) = if threads == 1 {
        (
            Source::Inline {
                rng: Box::new(StdRng::seed_from_u64(7)),
            },
            None,
        )
    } else {
        let (source, handle) = spawn_producer(Arc::clone(&skills_of));
        (source, Some(handle))
    };
    let mut own_call = 0u64;
    let mut now = t0;
    let mut pick = StdRng::seed_from_u64(9);

    // Phase A: agents free; a call arrives and the router picks an agent.
    let mut times = Vec::with_capacity(2 * ROUTER_DECISIONS);
    let start = Instant::now();
    for _ in 0..ROUTER_DECISIONS {
        now += Duration::from_millis(1);
        let input = source.next(&mut own_call, &skills_of);
        let s = Instant::now();
        r.handle(now, input).unwrap();
        let o = offer(&mut r);
        times.push(s.elapsed().as_nanos() as u64);
        let (call, agent) = o.expect("a free agent in every queue");
        r.handle(now, Input::OfferAnswered { call, agent }).unwrap();
        r.handle(now, Input::CallEnded { call }).unwrap();
        offer(&mut r);
    }
    let wall_a = start.elapsed();

    // Phase B: every agent busy and calls waiting; an agent frees and the
    // router picks a waiting call.
    let mut connected: Vec<(CallId, AgentId)> = Vec::with_capacity(agents);
    for (i, s) in skills_of.iter().enumerate() {
        // Each arrival in agent i's queue takes one of that queue's free agents.
        while r.agent_state(AgentId(i as u32)) == Some(AgentState::Available) {
            own_call += 1;
            let queue = QueueId(s[0]);
            let input = Input::CallArrived {
                call: CallId(own_call),
                queue,
                priority: 0,
                attributes: vec![],
            };
            r.handle(now, input).unwrap();
            let o = offer(&mut r).expect("agent i is free in its queue");
            connect(&mut r, now, o, &mut connected);
        }
    }
    for _ in 0..(4 * skills).min(20_000) {
        let input = source.next(&mut own_call, &skills_of);
        r.handle(now, input).unwrap();
        assert!(offer(&mut r).is_none(), "all agents are busy");
    }
    let start = Instant::now();
    for _ in 0..ROUTER_DECISIONS {
        now += Duration::from_millis(1);
        let (ended, freed) = connected.swap_remove(pick.random_range(0..connected.len()));
        let s = Instant::now();
        r.handle(now, Input::CallEnded { call: ended }).unwrap();
        let o = offer(&mut r);
        times.push(s.elapsed().as_nanos() as u64);
        match o {
            Some(o) => {
                connect(&mut r, now, o, &mut connected);
                // Refill the backlog; all agents are busy again, so it waits.
                let input = source.next(&mut own_call, &skills_of);
                r.handle(now, input).unwrap();
                if let Some(o) = offer(&mut r) {
                    connect(&mut r, now, o, &mut connected);
                }
            }
            None => {
                // Nothing waited in its queues: give the free agent a call.
                own_call += 1;
                let queue = QueueId(skills_of[freed.0 as usize][0]);
                let input = Input::CallArrived {
                    call: CallId(own_call),
                    queue,
                    priority: 0,
                    attributes: vec![],
                };
                r.handle(now, input).unwrap();
                let o = offer(&mut r).expect("the freed agent takes it");
                connect(&mut r, now, o, &mut connected);
            }
        }
    }
    let wall_b = start.elapsed();
    black_box(r.calls());
    if let Some(handle) = producer {
        drop(source);
        handle.join().expect("producer thread");
    }
    Figures {
        times,
        decisions: 2 * ROUTER_DECISIONS,
        wall: wall_a + wall_b,
    }
}

/// The classic design: one lock, linear scans.
struct Baseline {
    agents: Vec<BaseAgent>,
    /// (queue, priority, arrival sequence, call)
    waiting: Vec<(u16, u8, u64, u64)>,
    seq: u64,
}

struct BaseAgent {
    skills: Vec<u16>,
    free: bool,
    idle_since: u64,
    call: u64,
}

impl Baseline {
    /// A call arrives: the longest-idle free agent with the skill, or it waits.
    fn arrive(&mut self, queue: u16, priority: u8, call: u64) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, a) in self.agents.iter().enumerate() {
            if a.free
                && a.skills.contains(&queue)
                && best.is_none_or(|b| a.idle_since < self.agents[b].idle_since)
            {
                best = Some(i);
            }
        }
        self.seq += 1;
        match best {
            Some(i) => {
                self.agents[i].free = false;
                self.agents[i].call = call;
            }
            None => self.waiting.push((queue, priority, self.seq, call)),
        }
        best
    }

    /// An agent frees: the best waiting call of its skills, or it idles.
    fn free(&mut self, agent: usize, now: u64) -> Option<u64> {
        let skills = &self.agents[agent].skills;
        let mut best: Option<usize> = None;
        for (i, w) in self.waiting.iter().enumerate() {
            if skills.contains(&w.0)
                && best.is_none_or(|b| {
                    (std::cmp::Reverse(w.1), w.2)
                        < (std::cmp::Reverse(self.waiting[b].1), self.waiting[b].2)
                })
            {
                best = Some(i);
            }
        }
        let a = &mut self.agents[agent];
        match best {
            Some(i) => {
                let call = self.waiting.remove(i).3;
                a.call = call;
                Some(call)
            }
            None => {
                a.free = true;
                a.idle_since = now;
                None
            }
        }
    }
}

fn bench_baseline(agents: usize, skills: usize, threads: usize) -> Figures {
    let decisions = (60_000_000 / agents).clamp(600, 30_000);
    let mut rng = StdRng::seed_from_u64(42);
    let skills_of = Arc::new(agent_skills(agents, skills, &mut rng));
    let base = Arc::new(Mutex::new(Baseline {
        agents: skills_of
            .iter()
            .map(|s| BaseAgent {
                skills: s.clone(),
                free: true,
                idle_since: 0,
                call: 0,
            })
            .collect(),
        waiting: Vec::new(),
        seq: 0,
    }));
    let per_thread = decisions / threads;
    let run_a = |t: usize| -> Figures {
        let mut rng = StdRng::seed_from_u64(7 + t as u64);
        let mut times = Vec::with_capacity(per_thread);
        let start = Instant::now();
        for i in 0..per_thread {
            let s = &skills_of[rng.random_range(0..agents)];
            let queue = s[rng.random_range(0..s.len())];
            let call = (t as u64) << 40 | i as u64;
            let st = Instant::now();
            let agent = base.lock().unwrap().arrive(queue, 0, call);
            times.push(st.elapsed().as_nanos() as u64);
            if let Some(agent) = agent {
                base.lock().unwrap().free(agent, i as u64);
            }
        }
        Figures {
            times,
            decisions: per_thread,
            wall: start.elapsed(),
        }
    };
    let a = run_threads(threads, &run_a);
    // Phase B: all busy, a backlog, agents free in turn.
    {
        let mut b = base.lock().unwrap();
        for i in 0..agents {
            b.agents[i].free = false;
        }
        let mut rng = StdRng::seed_from_u64(8);
        for i in 0..(4 * skills).min(20_000) {
            let s = &skills_of[rng.random_range(0..agents)];
            let q = s[rng.random_range(0..s.len())];
            b.arrive(q, rng.random_range(0..2), i as u64);
        }
    }
    let run_b = |t: usize| -> Figures {
        let mut rng = StdRng::seed_from_u64(17 + t as u64);
        let mut times = Vec::with_capacity(per_thread);
        let start = Instant::now();
        for i in 0..per_thread {
            let agent = rng.random_range(0..agents);
            let st = Instant::now();
            let mut b = base.lock().unwrap();
            if b.agents[agent].free {
                continue;
            }
            let took = b.free(agent, i as u64);
            drop(b);
            times.push(st.elapsed().as_nanos() as u64);
            let mut b = base.lock().unwrap();
            if took.is_some() {
                let s = &skills_of[rng.random_range(0..agents)];
                b.arrive(s[0], 0, (t as u64) << 40 | 1 << 39 | i as u64);
            } else {
                // Keep every agent busy: hand the idle one a call at once.
                b.agents[agent].free = false;
            }
        }
        Figures {
            decisions: times.len(),
            times,
            wall: start.elapsed(),
        }
    };
    let b = run_threads(threads, &run_b);
    a.merge(b)
}

/// Runs `f` on `threads` threads at once; the wall time is the slowest's.
fn run_threads(threads: usize, f: &(dyn Fn(usize) -> Figures + Sync)) -> Figures {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || f(t))).collect();
        let mut all = handles.into_iter().map(|h| h.join().expect("bench thread"));
        let first = all.next().expect("one thread at least");
        all.fold(first, |acc, f| {
            let wall = acc.wall.max(f.wall);
            let mut m = acc.merge(f);
            m.wall = wall;
            m
        })
    })
}

/// The machine is shared: run each case `RUNS` times and keep the run
/// with the median cycle throughput.
fn median_run(mut f: impl FnMut() -> Figures) -> Figures {
    let mut runs: Vec<Figures> = (0..RUNS).map(|_| f()).collect();
    runs.sort_by(|a, b| a.throughput().total_cmp(&b.throughput()));
    runs.swap_remove(RUNS / 2)
}

fn main() {
    // `cargo test --benches` passes no `--bench`: run one small case only.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full {
        &[100, 10_000, 100_000]
    } else {
        &[100]
    };
    let skill_counts: &[usize] = if full { &[1, 50, 500] } else { &[1] };
    println!(
        "{:>7} {:>6} {:>7} | {:>9} {:>9} {:>10} | {:>9} {:>9} {:>10} | {:>7} {:>7}",
        "agents",
        "skills",
        "threads",
        "median_ns",
        "p99_ns",
        "cycles/s",
        "base_med",
        "base_p99",
        "base_cyc/s",
        "ratio",
        "cycle_r"
    );
    let mut lines = Vec::new();
    for &agents in sizes {
        for &skills in skill_counts {
            for threads in [1, 2] {
                let mut r = median_run(|| bench_router(agents, skills, threads));
                let mut b = median_run(|| bench_baseline(agents, skills, threads));
                let (rm, rp) = (r.percentile(0.5), r.percentile(0.99));
                let (bm, bp) = (b.percentile(0.5), b.percentile(0.99));
                let ratio = b.mean_ns() / threads as f64 / r.mean_ns();
                let (rc, bc) = (r.throughput(), b.throughput());
                let cycle_ratio = rc / bc;
                println!(
                    "{agents:>7} {skills:>6} {threads:>7} | {rm:>9} {rp:>9} {rc:>10.0} | {bm:>9} {bp:>9} {bc:>10.0} | {ratio:>7.1} {cycle_ratio:>7.1}"
                );
                lines.push(format!(
                    "router agents={agents} skills={skills} threads={threads} median_ns={rm} p99_ns={rp} baseline_median_ns={bm} ratio={ratio:.1} cycle_ratio={cycle_ratio:.1} cycles_per_s={rc:.0}"
                ));
            }
        }
    }
    for l in lines {
        println!("{l}");
    }
}
