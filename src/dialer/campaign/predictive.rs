//! Predictive pacing: how many dials to place now, from what is measured
//! live (answer rate and times, talk and wrap-up times) and the agents'
//! states. Each further dial is placed while the chance that its answer
//! finds no agent within `connect_within` stays under the risk accepted
//! now, which the abandon budget of the rolling windows backs off
//! gradually. A call that has rung the regulatory 15 s and would likely
//! find no agent is hung up instead.

use std::time::Duration;

use std::cmp::Reverse;

use super::{Action, AgentState, CallState, Campaign, DialId};
use crate::dialer::contact::Outcome;
use crate::dialer::dnc::Dnc;
use crate::dialer::pacing::normal_below;

/// The pacer looks this many seconds ahead, a second at a time: a dial
/// placed now answers within it.
const LOOK_AHEAD: usize = 40;
/// Unanswered calls ring at least this long (FTC Telemarketing Sales Rule:
/// 15 s or four rings) before the pacer may hang up.
pub const RING_MIN: Duration = Duration::from_secs(15);
/// A call past [`RING_MIN`] is hung up when its answer would find no agent
/// with more than this chance: unanswered, it costs an attempt, not an
/// abandon.
const CANCEL_AT: f64 = 0.3;

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
        // Agents inbound queues still lack take the first that free up.
        let (back_off, short, _) = self.blend;
        let free = free_now as f64 - waiting as f64 - f64::from(short);
        let mut ahead = self.look_ahead(now, free);
        if self.cancel_late(now, &ahead, out) {
            ahead = self.look_ahead(now, free);
        }
        if back_off {
            return;
        }
        let uncovered = free_now.saturating_sub(waiting + self.ringing());
        let cap = (self.agents.len() as f64 * self.spec.dials_per_agent_max) as usize;
        let mut dials = self
            .predictive_dials(now, &ahead)
            .max(uncovered)
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

    /// How many dials to place now besides one per free agent not covered
    /// by a call in progress (as progressive): while the next one's chance
    /// of abandon is within the accepted risk.
    fn predictive_dials(&mut self, now: Duration, ahead: &[Moment]) -> usize {
        let budget = self.measured.abandons.budget(now, self.spec.max_abandon);
        let accepted = self.measured.accepted_risk(budget);
        if accepted <= 0.0 {
            return 0;
        }
        let total: f64 = ahead.iter().map(|m| m.answers_now).sum();
        if total <= 0.0 {
            return 0;
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
        dials
    }

    /// Hangs up calls that have rung [`RING_MIN`] whose answer would find
    /// no agent with a chance over [`CANCEL_AT`].
    fn cancel_late(&mut self, now: Duration, ahead: &[Moment], out: &mut Vec<Action>) -> bool {
        let late: Vec<(DialId, f64)> = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.state, CallState::Ringing { agent: None }))
            .map(|(d, c)| (*d, now.saturating_sub(c.placed).as_secs_f64()))
            .filter(|(_, r)| *r >= RING_MIN.as_secs_f64())
            .collect();
        let mut cancelled = false;
        for (dial, ringing) in late {
            let (mut before, mut total, mut risk) = (0.0, 0.0, 0.0);
            for (s, m) in ahead.iter().enumerate() {
                let by = self.measured.answer_chance(ringing, (s + 1) as f64);
                let now_q = (by - before).max(0.0);
                before = by;
                total += now_q;
                risk += now_q * normal_below((0.5 - m.free) / (m.var + 0.01).sqrt());
            }
            if total <= 0.0 || risk / total <= CANCEL_AT {
                continue;
            }
            let Some(call) = self.calls.remove(&dial) else {
                continue;
            };
            self.counters.cancels += 1;
            let c = &mut self.contacts[call.contact.0 as usize];
            c.dial_ended(
                Outcome::NoAnswer,
                now,
                &self.spec.retry,
                self.spec.max_attempts,
            );
            if let Some(t) = c.next_try.filter(|_| c.is_pending()) {
                self.later.push(Reverse((t, call.contact)));
            }
            out.push(Action::Cancel { dial });
            out.push(Action::Contact(call.contact));
            cancelled = true;
        }
        cancelled
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
        // Inbound callers take agents as they come (blending).
        let takes = self.blend.2.max(0.0);
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
                free -= future + takes * within;
                var += future + takes * within;
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
