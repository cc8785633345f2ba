//! A working day of a campaign in virtual time (src/dialer/sim.rs):
//! predictive pacing meets issue 15's target on the benchmark's day for
//! five seeds: at least 1.4x progressive's talk time per agent hour and at
//! least 48 talk minutes per agent hour, with no rolling hour of the day
//! (windows starting every minute) over the campaign's `max_abandon`.
//! Progressive abandons nothing, no agent gets two calls at once, no
//! ringing call is hung up before 15 s, and the DNC gate holds. The
//! figures themselves are the benchmark's (`cargo bench --bench dialer`).

use switchyard::dialer::sim::{self, Day};
use switchyard::dialer::{Dnc, Mode, Numbering, Spec};

/// The benchmark's seed first, then the next four.
const SEEDS: [u64; 5] = [15, 1, 2, 3, 4];

#[test]
fn predictive_beats_progressive_under_the_abandon_cap() {
    let max_abandon = Spec::default().max_abandon;
    for seed in SEEDS {
        let day = Day {
            seed,
            ..Day::default()
        };
        let progressive = sim::run(Mode::Progressive, &day, Dnc::default());
        let predictive = sim::run(Mode::Predictive, &day, Dnc::default());
        let (prog, pred) = (
            progressive.talk_minutes_per_agent_hour,
            predictive.talk_minutes_per_agent_hour,
        );
        println!(
            "seed {seed}\n{}\n{}\nratio {:.3}",
            progressive.line(),
            predictive.line(),
            pred / prog
        );
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
            pred >= 1.4 * prog,
            "seed {seed}: predictive talk {pred:.2} < 1.4 x progressive {prog:.2} min/agent-hour"
        );
        assert!(
            pred >= 48.0,
            "seed {seed}: predictive talk {pred:.2} < 48 min/agent-hour"
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
            assert_eq!(
                r.early_cancels, 0,
                "seed {seed}: a call was hung up before ringing 15 s"
            );
        }
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
