//! A working day of a campaign in virtual time, per pacing mode: agent talk
//! occupancy and the worst rolling hour's abandon rate, one plain line each.
//!
//! `cargo bench --bench dialer` (add `-- --seed N` for another day).
//! The day (src/dialer/sim.rs `Day::default`): 30 agents for 8 hours, 30 %
//! of dials answered after 12 s on average, 10 % busy, 5 % failed, the rest
//! ringing out after 30 s; talk 120 s on average, wrap-up 10 s.

use switchyard::dialer::sim::{self, Day};
use switchyard::dialer::{Dnc, Mode};

fn main() {
    let mut day = Day::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--seed" {
            if let Some(seed) = args.next().and_then(|s| s.parse().ok()) {
                day.seed = seed;
            }
        }
    }
    println!(
        "dialer day: {} agents, {} h, answer {:.0} %, {} s to answer, talk {} s, wrap-up {} s, seed {}",
        day.agents,
        day.length.as_secs() / 3_600,
        day.answer_rate * 100.0,
        day.time_to_answer.as_secs(),
        day.talk.as_secs(),
        day.wrap_up.as_secs(),
        day.seed
    );
    let progressive = sim::run(Mode::Progressive, &day, Dnc::default());
    let predictive = sim::run(Mode::Predictive, &day, Dnc::default());
    println!("{}", progressive.line());
    println!("{}", predictive.line());
    println!(
        "dialer predictive/progressive talk ratio {:.3}",
        predictive.talk_minutes_per_agent_hour / progressive.talk_minutes_per_agent_hour
    );
}
