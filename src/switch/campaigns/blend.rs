//! Blending in the driver: the inbound queues a campaign's agents also
//! serve, measured as the meters give them (the last `[metrics].interval`),
//! put through the pure rule ([`crate::dialer::blend`]). The agents it
//! withholds are away for the campaign; its back-off (no new dial) and the
//! agents still short reach the core as [`Event::Blend`]; a back-off and
//! its end are logged with the campaign and the queue.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracing::info;

use super::super::Switch;
use crate::acd::{erlang, AgentId, AgentState, QueueId};
use crate::dialer::blend::{Change, Decision, Inbound};
use crate::dialer::Event;

impl Switch {
    /// Which of campaign `i`'s agents (each with whether they are free for
    /// it) stay for the inbound queues they serve. None when the
    /// campaign's `blend` is off.
    pub(in crate::switch) fn blend_withheld(
        &mut self,
        now: Instant,
        i: usize,
        members: &[(AgentId, String, bool)],
    ) -> Vec<String> {
        let decision = match self.campaigns.list[i].config.blend {
            true => self.blend_decide(now, i, members),
            false => Decision::default(),
        };
        let d = &mut self.campaigns.list[i];
        d.agents_withheld = decision.withheld.len();
        d.backing_off = decision.back_off;
        let told = (decision.back_off, decision.short, decision.takes_per_sec);
        if d.blend_told != told {
            d.blend_told = told;
            let event = Event::Blend {
                back_off: decision.back_off,
                short: decision.short,
                takes_per_sec: decision.takes_per_sec,
            };
            self.campaign_input(now, i, event);
        }
        decision.withheld
    }

    fn blend_decide(
        &mut self,
        now: Instant,
        i: usize,
        members: &[(AgentId, String, bool)],
    ) -> Decision {
        // Every queue a member serves, and who is on its calls now.
        let mut shared: BTreeMap<QueueId, u32> = BTreeMap::new();
        for (agent, _, _) in members {
            for q in self.router.agent_queues(*agent) {
                shared.insert(q, 0);
            }
        }
        // Ringing, talking or wrapping up after one of its calls (not a
        // campaign's): the handle time Erlang C counts.
        for n in 0..self.router.agents_len() {
            let id = AgentId(n as u32);
            let queue = match self.router.agent_state(id) {
                Some(AgentState::Reserved(c) | AgentState::OnCall(c)) => {
                    self.router.call_queue(c).map(|(q, _)| q)
                }
                Some(AgentState::WrapUp(_)) => self.inbound_wrap_up(id),
                _ => None,
            };
            if let Some(busy) = queue.and_then(|q| shared.get_mut(&q)) {
                *busy += 1;
            }
        }
        let ids: Vec<QueueId> = shared.keys().copied().collect();
        let queues: Vec<Inbound> = shared
            .iter()
            .map(|(&q, &busy)| self.inbound_load(now, q, busy))
            .collect();
        // An agent a dial is reserved for (progressive) keeps it; those
        // the campaign does not have now are withheld first, so that the
        // rule does not take back an agent the pacer counts on.
        let d = &self.campaigns.list[i];
        let mut members: Vec<&(AgentId, String, bool)> = members
            .iter()
            .filter(|(_, name, ready)| *ready && !d.core.agent_committed(name))
            .collect();
        members.sort_by_key(|(_, name, _)| d.agents.get(name) == Some(&true));
        let free: Vec<(String, Vec<usize>)> = members
            .into_iter()
            .map(|(agent, name, _)| {
                let serves = self.router.agent_queues(*agent);
                let serves = ids
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| serves.contains(q))
                    .map(|(k, _)| k)
                    .collect();
                (name.clone(), serves)
            })
            .collect();
        let at = Duration::from_millis(self.uuids.monotonic_ms(now));
        let d = &mut self.campaigns.list[i];
        let (decision, changes) = d.blender.decide(at, &queues, &free);
        let campaign = d.config.name.as_str();
        for change in changes {
            match change {
                Change::BackOff {
                    queue,
                    waiting,
                    service_level,
                } => {
                    let service_level = service_level.map(|sl| format!("{:.1} %", sl * 100.0));
                    info!(%campaign, %queue, waiting, service_level = service_level.as_deref().unwrap_or("none"), "campaign backs off: the inbound queue has callers waiting or is under its service level");
                }
                Change::Resume { queue } => {
                    info!(%campaign, %queue, "campaign resumes: the inbound queue is back on its service level");
                }
            }
        }
        decision
    }

    /// The queue whose call `agent` wraps up after, unless it was a
    /// campaign's call.
    fn inbound_wrap_up(&self, agent: AgentId) -> Option<QueueId> {
        let last = self.last_calls.get(self.router.agent_name(agent)?)?;
        let campaign = self
            .campaigns
            .disposable
            .iter()
            .any(|(c, ..)| *c == last.call);
        if campaign {
            return None;
        }
        self.router.queue_id(last.queue.as_deref()?)
    }

    /// Queue `q` as the meters measure it over the last interval.
    fn inbound_load(&self, now: Instant, q: QueueId, busy: u32) -> Inbound {
        let interval = self.meters.last_interval(now, usize::from(q.0));
        let (threshold, target) = self.service_goal(q);
        let rate = interval.offered as f64 / self.meters.interval().as_secs_f64();
        let needed = interval
            .handle_time()
            .and_then(|aht| erlang::agents_needed(rate, aht, threshold, target))
            .unwrap_or(0)
            .max(u32::from(interval.offered > 0));
        Inbound {
            queue: self.router.queue_name(q).unwrap_or("").to_string(),
            needed,
            busy,
            waiting: u32::try_from(self.router.waiting(q)).unwrap_or(u32::MAX),
            service_level: interval.service_level(),
            target,
            arrivals_per_sec: rate,
        }
    }
}
