//! Hot reload: the running switch takes a new plan (from a dialplan the
//! driver has read and validated) without dropping a call or a
//! registration. Agents, passwords, skills, queues, DIDs, menus, trunks,
//! codecs and music apply at once: a call in progress keeps the route it
//! took and the media it negotiated; what it does next (an overflow, a
//! hold, a re-offer) follows the new plan; campaigns take their new
//! settings for their next dials. What only a restart can change
//! (addresses, the realm, the RTP range, the relay's timers) stays as it
//! was; the driver says so in its reply.

use std::time::Instant;

use serde::Serialize;
use tracing::info;

use super::{CommandError, Plan, Switch};
use crate::acd::{self, AgentState};

/// What a reload changed, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    pub agents_added: Vec<String>,
    pub agents_removed: Vec<String>,
    pub agents_changed: Vec<String>,
    pub queues_added: Vec<String>,
    pub queues_removed: Vec<String>,
    pub queues_changed: Vec<String>,
    pub dids: usize,
    pub menus: usize,
    pub trunks: usize,
}

impl Switch {
    /// Applies `plan`. A plan the router cannot take (a limit the config
    /// check does not know) changes nothing.
    pub fn reload(&mut self, now: Instant, mut plan: Plan) -> Result<ReloadReport, CommandError> {
        let changes = self
            .router
            .reconfigure(now, &plan.acd_agents, &plan.acd_queues)
            .map_err(CommandError::Router)?;
        self.keep_restart_only(&mut plan);
        self.registrar.set_config(plan.registration.clone());
        if let (Some(anchoring), Some(media)) = (&mut self.anchoring, &plan.media) {
            // New codecs and music for the calls to come; the port pool stays.
            anchoring.plan = media.clone();
        }
        let queues = self.router.snapshot().queues.len();
        self.meters.resize(queues);
        let report = ReloadReport {
            agents_added: changes.agents_added,
            agents_removed: changes.agents_removed,
            agents_changed: changes.agents_changed,
            queues_added: changes.queues_added,
            queues_removed: changes.queues_removed,
            queues_changed: changes.queues_changed,
            dids: plan.dids.len(),
            menus: plan.menus.len(),
            trunks: plan.trunks.len(),
        };
        self.plan = plan;
        self.reload_admission(now);
        for agent in &report.agents_removed {
            // Their phones are forgotten; a call in progress keeps its dialog.
            let bindings = self.registrar.remove(agent);
            self.pause_texts.remove(agent);
            info!(
                agent,
                bindings, "reload: agent removed, logged out after any queue call"
            );
        }
        self.sync_carriers(now);
        self.join_new_queues(now);
        self.reconfigure_campaigns(now);
        info!(
            agents_added = report.agents_added.len(),
            agents_removed = report.agents_removed.len(),
            agents_changed = report.agents_changed.len(),
            queues_added = report.queues_added.len(),
            queues_removed = report.queues_removed.len(),
            queues_changed = report.queues_changed.len(),
            "dialplan reloaded"
        );
        self.pump(now);
        Ok(report)
    }

    /// Fields a running switch cannot change keep their old values.
    fn keep_restart_only(&self, plan: &mut Plan) {
        plan.local = self.plan.local;
        plan.tls_local = self.plan.tls_local;
        plan.realm.clone_from(&self.plan.realm);
        plan.digest_order = self.plan.digest_order;
        plan.transactions_max = self.plan.transactions_max;
        // The login guard and rate limit keep their state and settings.
        plan.guard = self.plan.guard.clone();
        plan.pike = self.plan.pike.clone();
        plan.metrics_interval = self.plan.metrics_interval;
        match (&self.plan.media, &mut plan.media) {
            (Some(old), Some(new)) => {
                new.bind_ip = old.bind_ip;
                new.advertise_ip = old.advertise_ip;
                new.port_min = old.port_min;
                new.port_max = old.port_max;
                new.inactivity_timeout = old.inactivity_timeout;
                new.recordings.clone_from(&old.recordings);
            }
            (old, new) => new.clone_from(old),
        }
    }

    /// Registered agents who log in to every queue they meet join the
    /// queues the reload added (or made them meet).
    fn join_new_queues(&mut self, now: Instant) {
        let auto: Vec<String> = self
            .plan
            .agents
            .iter()
            .filter(|(_, a)| a.auto_login)
            .map(|(name, _)| name.clone())
            .collect();
        for name in auto {
            let Some(agent) = self.router.agent_id(&name) else {
                continue;
            };
            let logged_in = self.router.agent_state(agent) != Some(AgentState::LoggedOut);
            if logged_in && self.router.agent_registered(agent) {
                let _ = self.route(now, acd::Input::AgentLogin { agent, queue: None });
            }
        }
    }
}
