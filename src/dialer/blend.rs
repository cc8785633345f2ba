//! Blending: agents who work inbound queues and a campaign at once. Inbound
//! wins the next free agent (the router offers at once; the campaign looks
//! on its tick); this rule decides which of the agents still free the
//! campaign may have. For each inbound queue the agents share, the agents
//! its service level needs (Erlang C on its measured arrivals and handle
//! time) less those on its calls now are withheld from the campaign; while
//! a caller waits or the queue's service level is under its target, the
//! campaign backs off: it places no new dial (nor preview offer), so the
//! agents it still has only take its customers already on the line and
//! then stay free for inbound. Withholding every free agent at once
//! instead would leave the customers that predictive dials ahead answer
//! with nobody, and break the abandon cap. A queue backs off at once and
//! resumes only after [`RESUME_AFTER`] without a waiting caller and at or
//! over its target, so the campaign does not flap tick by tick.
//!
//! Pure: plain numbers in, the agents withheld out; the driver measures.

use std::collections::BTreeMap;
use std::time::Duration;

/// A backing-off queue resumes after this long clear (nobody waiting,
/// service level at or over target).
pub const RESUME_AFTER: Duration = Duration::from_secs(30);

/// One inbound queue whose agents also work the campaign, as measured now.
#[derive(Clone, Debug, PartialEq)]
pub struct Inbound {
    pub queue: String,
    /// Agents its service level needs: Erlang C on the recent arrival rate
    /// and handle time, at least 1 while calls arrive.
    pub needed: u32,
    /// Agents on its calls now (ringing or talking).
    pub busy: u32,
    /// Callers waiting now.
    pub waiting: u32,
    /// Answered within the threshold over answered and abandoned, over the
    /// recent window; `None` before any.
    pub service_level: Option<f64>,
    /// The target (0..=1).
    pub target: f64,
    /// Callers a second arriving, over the recent window.
    pub arrivals_per_sec: f64,
}

impl Inbound {
    /// A caller waits or the service level is under target.
    fn in_trouble(&self) -> bool {
        self.waiting > 0 || self.service_level.is_some_and(|sl| sl < self.target)
    }
}

/// What the campaign gets now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// Free agents the campaign must not have (away for it), in the order
    /// given.
    pub withheld: Vec<String>,
    /// Some queue backs off: the campaign places no new dial.
    pub back_off: bool,
    /// Agents the queues still need beyond those withheld: agents on the
    /// campaign's calls go to them as they free up, so the pacer does not
    /// count on that many.
    pub short: u32,
    /// Callers a second of the queues with no agent withheld for them:
    /// each takes an agent the campaign counts on.
    pub takes_per_sec: f64,
}

/// A queue started or stopped holding the campaign back.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    BackOff {
        queue: String,
        waiting: u32,
        service_level: Option<f64>,
    },
    Resume {
        queue: String,
    },
}

/// The rule, with each queue's back-off state (its hysteresis).
#[derive(Clone, Debug, Default)]
pub struct Blender {
    /// Backing-off queues and when each was last in trouble.
    backing_off: BTreeMap<String, Duration>,
}

impl Blender {
    /// Whether `queue` holds the campaign back now.
    pub fn backing_off(&self, queue: &str) -> bool {
        self.backing_off.contains_key(queue)
    }

    /// The queues holding the campaign back now.
    pub fn queues_backing_off(&self) -> impl Iterator<Item = &str> {
        self.backing_off.keys().map(String::as_str)
    }

    /// Decides at `now` (any monotonic clock) which of the `free` agents
    /// (each with the indices in `queues` of the inbound queues they
    /// serve) are withheld; the back-offs that began or ended come with it.
    /// An agent of no inbound queue is never withheld.
    pub fn decide(
        &mut self,
        now: Duration,
        queues: &[Inbound],
        free: &[(String, Vec<usize>)],
    ) -> (Decision, Vec<Change>) {
        let mut changes = Vec::new();
        for q in queues {
            let trouble = q.in_trouble();
            match (self.backing_off.get(&q.queue).copied(), trouble) {
                (Some(_), true) => {
                    self.backing_off.insert(q.queue.clone(), now);
                }
                (Some(last), false) if now.saturating_sub(last) >= RESUME_AFTER => {
                    self.backing_off.remove(&q.queue);
                    changes.push(Change::Resume {
                        queue: q.queue.clone(),
                    });
                }
                (None, true) => {
                    self.backing_off.insert(q.queue.clone(), now);
                    changes.push(Change::BackOff {
                        queue: q.queue.clone(),
                        waiting: q.waiting,
                        service_level: q.service_level,
                    });
                }
                _ => {}
            }
        }
        // A queue no longer shared does not hold the campaign back.
        let gone: Vec<String> = self
            .backing_off
            .keys()
            .filter(|name| !queues.iter().any(|q| &q.queue == *name))
            .cloned()
            .collect();
        for queue in gone {
            self.backing_off.remove(&queue);
            changes.push(Change::Resume { queue });
        }
        // What each queue still lacks.
        let mut lacking: Vec<u32> = queues
            .iter()
            .map(|q| q.needed.saturating_sub(q.busy))
            .collect();
        let mut decision = Decision {
            back_off: !self.backing_off.is_empty(),
            ..Decision::default()
        };
        let mut kept = vec![0u32; queues.len()];
        for (agent, serves) in free {
            // The agent covers the queue lacking most of those they serve.
            let most = serves
                .iter()
                .filter(|&&q| lacking.get(q).is_some_and(|&n| n > 0))
                .max_by_key(|&&q| lacking[q]);
            if let Some(&q) = most {
                lacking[q] -= 1;
                kept[q] += 1;
                decision.withheld.push(agent.clone());
            }
        }
        decision.takes_per_sec = queues
            .iter()
            .zip(&kept)
            .filter(|(_, &k)| k == 0)
            .map(|(q, _)| q.arrivals_per_sec.max(0.0))
            .sum();
        decision.short = lacking.iter().fold(0u32, |sum, &n| sum.saturating_add(n));
        (decision, changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(name: &str, needed: u32, busy: u32) -> Inbound {
        Inbound {
            queue: name.into(),
            needed,
            busy,
            waiting: 0,
            service_level: Some(0.9),
            target: 0.8,
            arrivals_per_sec: 0.01,
        }
    }

    fn free(agents: &[(&str, &[usize])]) -> Vec<(String, Vec<usize>)> {
        agents
            .iter()
            .map(|(a, q)| (a.to_string(), q.to_vec()))
            .collect()
    }

    const T: Duration = Duration::from_secs(1_000);

    #[test]
    fn agents_needed_beyond_those_on_inbound_calls_are_withheld() {
        let mut b = Blender::default();
        let agents = free(&[("a", &[0]), ("b", &[0]), ("c", &[0]), ("d", &[0])]);
        // Needs 3, 1 is on a call: 2 of the 4 free agents stay for inbound.
        let (d, changes) = b.decide(T, &[queue("support", 3, 1)], &agents);
        assert_eq!(d.withheld, vec!["a", "b"]);
        assert!(!d.back_off && changes.is_empty());
        assert_eq!(d.short, 0);
        assert_eq!(d.takes_per_sec, 0.0, "callers find a kept agent");
        // Enough on calls: none withheld; the next caller takes one of
        // the campaign's.
        let (d, _) = b.decide(T, &[queue("support", 3, 3)], &agents);
        assert!(d.withheld.is_empty());
        assert_eq!(d.takes_per_sec, 0.01);
        // Needs more than are free: all withheld, the rest short.
        let (d, _) = b.decide(T, &[queue("support", 7, 1)], &agents);
        assert_eq!((d.withheld.len(), d.short), (4, 2));
    }

    #[test]
    fn an_agent_of_no_inbound_queue_is_never_withheld() {
        let mut b = Blender::default();
        let mut q = queue("support", 5, 0);
        q.waiting = 3;
        let agents = free(&[("outbound-only", &[]), ("a", &[0])]);
        let (d, _) = b.decide(T, &[q], &agents);
        assert_eq!(d.withheld, vec!["a"]);
        assert!(d.back_off);
        let (d, _) = b.decide(T, &[], &agents);
        assert!(d.withheld.is_empty() && !d.back_off);
    }

    #[test]
    fn a_waiting_caller_backs_the_campaign_off_until_clear_for_a_while() {
        let mut b = Blender::default();
        let agents = free(&[("a", &[0]), ("b", &[0]), ("c", &[0])]);
        let mut q = queue("support", 1, 0);
        q.waiting = 1;
        let (d, changes) = b.decide(T, std::slice::from_ref(&q), &agents);
        assert!(d.back_off, "no new dial");
        assert_eq!(d.withheld, vec!["a"], "the queue's need");
        assert_eq!(
            changes,
            vec![Change::BackOff {
                queue: "support".into(),
                waiting: 1,
                service_level: Some(0.9)
            }]
        );
        // Clear again: still backing off until RESUME_AFTER has passed.
        q.waiting = 0;
        let later = T + RESUME_AFTER - Duration::from_secs(1);
        let (d, changes) = b.decide(later, std::slice::from_ref(&q), &agents);
        assert!(d.back_off && changes.is_empty());
        let (d, changes) = b.decide(T + RESUME_AFTER, &[q], &agents);
        assert!(!d.back_off);
        assert_eq!(
            changes,
            vec![Change::Resume {
                queue: "support".into()
            }]
        );
        assert_eq!(d.withheld, vec!["a"]);
    }

    #[test]
    fn a_service_level_under_target_backs_off_and_trouble_restarts_the_wait() {
        let mut b = Blender::default();
        let agents = free(&[("a", &[0]), ("b", &[0])]);
        let mut q = queue("support", 0, 0);
        q.service_level = Some(0.7);
        let (d, _) = b.decide(T, std::slice::from_ref(&q), &agents);
        assert!(d.back_off && d.withheld.is_empty());
        // Under target again 20 s on: the 30 s count starts over.
        let t = T + Duration::from_secs(20);
        b.decide(t, std::slice::from_ref(&q), &agents);
        q.service_level = Some(0.85);
        let (d, _) = b.decide(T + RESUME_AFTER, std::slice::from_ref(&q), &agents);
        assert!(d.back_off, "only 10 s clear");
        let (d, _) = b.decide(t + RESUME_AFTER, std::slice::from_ref(&q), &agents);
        assert!(!d.back_off && d.withheld.is_empty());
        // No figures yet (no answered call): no back-off.
        q.service_level = None;
        let (d, _) = b.decide(t + RESUME_AFTER * 2, &[q], &agents);
        assert!(!d.back_off);
    }

    #[test]
    fn an_agent_of_two_queues_covers_the_one_lacking_most() {
        let mut b = Blender::default();
        let queues = [queue("support", 2, 0), queue("billing", 1, 0)];
        let agents = free(&[("both", &[0, 1]), ("billing", &[1]), ("x", &[1])]);
        let (d, _) = b.decide(T, &queues, &agents);
        // "both" covers support (lacking 2), "billing" covers billing; "x"
        // serves only billing, which lacks none now; support lacks 1 more.
        assert_eq!(d.withheld, vec!["both", "billing"]);
        assert_eq!(d.short, 1);
    }

    #[test]
    fn a_queue_no_longer_shared_stops_backing_off() {
        let mut b = Blender::default();
        let mut q = queue("support", 0, 0);
        q.waiting = 2;
        b.decide(T, &[q], &[]);
        assert!(b.backing_off("support"));
        let (d, changes) = b.decide(T, &[], &[]);
        assert!(!d.back_off);
        assert_eq!(
            changes,
            vec![Change::Resume {
                queue: "support".into()
            }]
        );
    }
}
