//! A working day of a campaign in virtual time (src/dialer/sim.rs), fixed
//! seed: predictive pacing keeps every rolling hour's abandon rate under
//! the campaign's `max_abandon` and gives agents more talk than
//! progressive, which abandons nothing; no agent gets two calls at once and
//! the DNC gate holds. The figures themselves are the benchmark's
//! (`cargo bench --bench dialer`); here only the claims are checked.

use switchyard::dialer::sim::{self, Day};
use switchyard::dialer::{Dnc, Mode, Numbering, Spec};

#[test]
fn predictive_beats_progressive_under_the_abandon_cap() {
    let day = Day::default();
    let max_abandon = Spec::default().max_abandon;
    let progressive = sim::run(Mode::Progressive, &day, Dnc::default());
    let predictive = sim::run(Mode::Predictive, &day, Dnc::default());
    println!("{}\n{}", progressive.line(), predictive.line());
    let seed = day.seed;
    assert_eq!(
        progressive.abandons, 0,
        "seed {seed}: progressive has an agent for every dial"
    );
    assert!(
        predictive.abandon_max_hour <= max_abandon,
        "seed {seed}: a rolling hour abandoned {:.2} % > {:.2} %",
        predictive.abandon_max_hour * 100.0,
        max_abandon * 100.0
    );
    assert!(
        predictive.abandons > 0,
        "seed {seed}: predictive never dialled ahead"
    );
    assert!(
        predictive.talk_minutes_per_agent_hour > progressive.talk_minutes_per_agent_hour,
        "seed {seed}: predictive talk {:.1} <= progressive {:.1} min/agent-hour",
        predictive.talk_minutes_per_agent_hour,
        progressive.talk_minutes_per_agent_hour
    );
    for r in [&progressive, &predictive] {
        assert_eq!(
            r.double_connects, 0,
            "seed {seed}: an agent got two calls at once"
        );
        assert_eq!(
            r.connects + r.abandons,
            r.answers,
            "seed {seed}: every answer is connected or abandoned"
        );
    }
}

#[test]
fn listed_numbers_are_never_dialled() {
    let day = Day {
        length: std::time::Duration::from_secs(3_600),
        agents: 5,
        contacts: 400,
        ..Day::default()
    };
    let mut dnc = Dnc::default();
    // Every tenth contact of the simulated list (+1555000000i).
    for i in (0..400).step_by(10) {
        dnc.load_text(&format!("+1555{i:07}\n"), &Numbering::default());
    }
    let r = sim::run(Mode::Predictive, &day, dnc);
    assert!(r.dials > 0);
    assert!(r.blocked > 0 && r.blocked <= 40, "blocked {}", r.blocked);
}
