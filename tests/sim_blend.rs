//! Blended agents in virtual time (src/dialer/sim_blend.rs): twelve agents
//! answer an inbound queue (80 % in 20 s) and work a predictive campaign
//! at once. With blending, inbound callers arriving during the campaign
//! are answered within the queue's service level, the campaign still talks
//! to its customers in the gaps, and its abandon rate over the day stays
//! under the 3 % cap; without it, the campaign keeps the agents busy with
//! 5 min calls and the queue does visibly worse. Prints the figures of
//! both (`cargo test --release --test sim_blend -- --nocapture`).

use switchyard::dialer::sim_blend::{self, BlendDay};
use switchyard::dialer::Spec;

const SEEDS: [u64; 3] = [15, 1, 2];

#[test]
fn inbound_calls_during_a_predictive_campaign_are_answered_within_the_service_level() {
    let max_abandon = Spec::default().max_abandon;
    for seed in SEEDS {
        let mut day = BlendDay::default();
        day.day.seed = seed;
        let on = sim_blend::run(&day);
        let off = sim_blend::run(&BlendDay {
            blend: false,
            ..day.clone()
        });
        println!("seed {seed}\n{}\n{}", on.line(), off.line());
        let (sl_on, sl_off) = (on.inbound_service_level(), off.inbound_service_level());
        assert!(
            on.inbound_offered >= 100,
            "seed {seed}: a day of inbound calls"
        );
        assert!(
            sl_on >= day.sl_target,
            "seed {seed}: inbound SL {:.1} % under the target {:.0} %",
            sl_on * 100.0,
            day.sl_target * 100.0
        );
        assert!(
            on.outbound_talk_minutes_per_agent_hour >= 15.0 && on.connects >= 200,
            "seed {seed}: the campaign talks in the gaps: {}",
            on.line()
        );
        assert!(
            on.abandon_day <= max_abandon,
            "seed {seed}: the day abandoned {:.2} %",
            on.abandon_day * 100.0
        );
        for r in [&on, &off] {
            assert_eq!(r.conflicts, 0, "seed {seed}: an agent on two calls");
        }
        assert!(
            sl_off + 0.05 <= sl_on,
            "seed {seed}: without blending the queue should do visibly worse: {:.1} % vs {:.1} %",
            sl_off * 100.0,
            sl_on * 100.0
        );
    }
}
