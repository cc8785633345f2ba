//! Predictive pacing: how many dials to place now, from what is measured
//! live (answer rate and times, talk and wrap-up times) and the agents'
//! states, so that answered calls find an agent within `connect_within`
//! at all but a steered share of the time.

use std::time::Duration;

use rand::Rng;

use super::{Action, AgentState, CallState, Campaign};
use crate::dialer::dnc::Dnc;
use crate::dialer::pacing::GUARD_AT;

/// The pacer looks this far ahead, in steps of this many seconds.
const HORIZON_STEPS: u32 = 20;
const HORIZON_STEP: f64 = 2.0;

impl Campaign {
    /// Dials so that the calls expected to answer in the next time to
    /// answer match the agents free by then, less a margin steered by the
    /// abandons; over-dialling only while every rolling window has room.
    pub(super) fn pace_predictive(&mut self, now: Duration, dnc: &mut Dnc, out: &mut Vec<Action>) {
        let target = self.predictive_target(now);
        let mut dials = target.floor() as usize;
        if self.rng.random::<f64>() < target.fract() {
            dials += 1;
        }
        let cap = (self.agents.len() as f64 * self.spec.dials_per_agent_max) as usize;
        dials = dials.min(cap.saturating_sub(self.ringing()));
        while dials > 0 {
            let Some(contact) = self.next_contact(now) else {
                return;
            };
            if self.dial(now, contact, None, dnc, out) {
                dials -= 1;
            }
        }
    }

    /// How many dials to place now (fractional): the most that keeps, at
    /// every moment of the next ring time, the answers expected by then
    /// (from calls ringing and the new dials) within the agents expected
    /// free by then plus `connect_within`, less the margin.
    fn predictive_target(&mut self, now: Duration) -> f64 {
        let waiting = self
            .calls
            .values()
            .filter(|c| matches!(c.state, CallState::Waiting { .. }))
            .count() as f64;
        let free_now = self
            .agents
            .values()
            .filter(|s| matches!(s, AgentState::Ready { .. }))
            .count() as f64;
        let guard = self.spec.max_abandon * GUARD_AT;
        if !self.measured.abandons.room_for_one(now, guard) {
            // No room to over-dial: one call per free agent, as progressive.
            let ringing = self.ringing() as f64;
            return (free_now - waiting - ringing).max(0.0);
        }
        let m = &self.measured;
        let grace = self.spec.connect_within.as_secs_f64();
        let p = m.answer_rate.value().clamp(0.05, 1.0);
        let busy: Vec<(bool, f64)> = self
            .agents
            .values()
            .filter_map(|s| match s {
                AgentState::Talking { since, .. } => Some((true, *since)),
                AgentState::WrapUp { since } => Some((false, *since)),
                _ => None,
            })
            .map(|(t, since)| (t, now.saturating_sub(since).as_secs_f64()))
            .collect();
        let ringing: Vec<f64> = self
            .calls
            .values()
            .filter(|c| matches!(c.state, CallState::Ringing { .. }))
            .map(|c| now.saturating_sub(c.placed).as_secs_f64())
            .collect();
        let mut dials = f64::INFINITY;
        for step in 1..=HORIZON_STEPS {
            let within = f64::from(step) * HORIZON_STEP;
            let new_share = p * m.answered_within(within);
            if new_share < 0.01 {
                continue;
            }
            // Expected agents free and answers by then, and the variance
            // of their difference (each a coin with its own chance).
            let (mut free, mut var) = (free_now - waiting, 0.0);
            for &(talking, b) in &busy {
                let q = m.free_chance(talking, b, within + grace);
                free += q;
                var += q * (1.0 - q);
            }
            for &r in &ringing {
                let q = m.answer_chance(r, within);
                free -= q;
                var += q * (1.0 - q);
            }
            // The margin is `margin` standard deviations, counting the new
            // dials' own chance once.
            let first = ((free - m.margin * var.sqrt()) / new_share).max(0.0);
            let var = var + first * new_share * (1.0 - new_share);
            dials = dials.min((free - m.margin * var.sqrt()) / new_share);
        }
        if dials.is_finite() {
            dials.max(0.0)
        } else {
            0.0
        }
    }
}
