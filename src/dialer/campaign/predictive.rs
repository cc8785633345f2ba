//! Predictive pacing: how many dials to place now, from what is measured
//! live (answer rate and times, talk and wrap-up times) and the agents'
//! states. Each further dial is placed while the chance that its answer
//! finds no agent within `connect_within` stays under the risk accepted
//! now, which the abandon budget of the rolling windows backs off
//! gradually.

use std::time::Duration;

use super::{Action, AgentState, CallState, Campaign};
use crate::dialer::dnc::Dnc;
use crate::dialer::pacing::normal_below;

/// The pacer looks this many seconds ahead, a second at a time: a dial
/// placed now answers within it.
const LOOK_AHEAD: usize = 40;

/// One moment ahead: agents free by then less answers by then of calls
/// already placed (mean and variance), and the new dials' answers.
struct Moment {
    free: f64,
    var: f64,
    /// Chance a new dial has answered by then.
    answered: f64,
    /// Chance a new dial answers in the second before.
    answers_now: f64,
}

impl Campaign {
    pub(super) fn pace_predictive(&mut self, now: Duration, dnc: &mut Dnc, out: &mut Vec<Action>) {
        let cap = (self.agents.len() as f64 * self.spec.dials_per_agent_max) as usize;
        let mut dials = self
            .predictive_dials(now)
            .min(cap.saturating_sub(self.ringing()));
        while dials > 0 {
            let Some(contact) = self.next_contact(now) else {
                return;
            };
            if self.dial(now, contact, None, dnc, out) {
                dials -= 1;
            }
        }
    }

    /// How many dials to place now: at least one per free agent not
    /// already covered by a call in progress (as progressive), and more
    /// while the next one's chance of abandon is within the accepted risk.
    fn predictive_dials(&mut self, now: Duration) -> usize {
        let waiting = self
            .calls
            .values()
            .filter(|c| matches!(c.state, CallState::Waiting { .. }))
            .count();
        let free_now = self
            .agents
            .values()
            .filter(|s| matches!(s, AgentState::Ready { .. }))
            .count();
        let uncovered = free_now.saturating_sub(waiting + self.ringing());
        let budget = self.measured.abandons.budget(now, self.spec.max_abandon);
        let accepted = self.measured.accepted_risk(budget);
        if accepted <= 0.0 {
            return uncovered;
        }
        let ahead = self.look_ahead(now, (free_now as f64) - (waiting as f64));
        let total: f64 = ahead.iter().map(|m| m.answers_now).sum();
        if total <= 0.0 {
            return uncovered;
        }
        let mut dials = 0;
        let most = self.contacts.len();
        while dials < most {
            // The chance that the next dial, answering, finds every agent
            // taken: over when it may answer, the chance that agents free
            // by then are fewer than one plus the answers before it.
            let earlier = dials as f64;
            let risk: f64 = ahead
                .iter()
                .filter(|m| m.answers_now > 0.0)
                .map(|m| {
                    let mean = m.free - earlier * m.answered;
                    let var = m.var + earlier * m.answered * (1.0 - m.answered);
                    m.answers_now * normal_below((0.5 - mean) / (var + 0.01).sqrt())
                })
                .sum::<f64>()
                / total;
            if risk > accepted {
                break;
            }
            dials += 1;
        }
        dials.max(uncovered)
    }

    /// The next [`LOOK_AHEAD`] seconds as the pacer expects them.
    fn look_ahead(&self, now: Duration, free_now: f64) -> Vec<Moment> {
        let m = &self.measured;
        let grace = self.spec.connect_within.as_secs_f64();
        let p = m.answer_rate.value().clamp(0.01, 1.0);
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
        let mut before = 0.0;
        // Dials placed after this one answer too, at the rate agents free
        // up: by `within`, the answers of dials placed over it.
        let cycle = (m.talk.value() + m.wrap_up.value()).max(1.0);
        let future_rate = busy.len() as f64 / cycle;
        let mut future = 0.0;
        (1..=LOOK_AHEAD)
            .map(|s| {
                let within = s as f64;
                let (mut free, mut var) = (free_now, 0.0);
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
                let answered = p * m.answered_within(within);
                let answers_now = (answered - before).max(0.0);
                before = answered;
                future += future_rate * m.answered_within(within);
                free -= future;
                var += future;
                Moment {
                    free,
                    var,
                    answered,
                    answers_now,
                }
            })
            .collect()
    }
}
