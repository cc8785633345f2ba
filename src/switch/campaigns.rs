//! The campaign driver: each `[[campaigns]]` entry's pure dialer core
//! ([`crate::dialer::Campaign`]) fed with the switch's time, its agents'
//! states and its calls' fates, and its actions carried out as calls
//! (`campaign_calls.rs`). Contact changes leave as [`CampaignOutput`] for
//! `run/` to store, as call records do; the core reads no store itself.
//!
//! An agent of the campaign's queue is ready for it only when the router
//! has them available and no call holds them: inbound offers are made by
//! the router at once, the campaign looks at its agents on its own tick,
//! so a free agent goes to a waiting inbound caller first. Of the agents
//! still free, those the inbound queues they serve need for their service
//! level stay away for the campaign (`blend.rs`, the rule in
//! [`crate::dialer::blend`]) unless the campaign's `blend` is off.

mod blend;
mod preview;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::event::EventKind;
use super::Switch;
use crate::acd::{AgentId, AgentState};
use crate::call::{CallRef, CallUuid};
use crate::config::CampaignConfig;
use crate::dialer::blend::Blender;
use crate::dialer::{
    self, Campaign, Contact, ContactId, DialId, Dnc, Event, Numbering, Spec, Status,
};

/// How often a running campaign looks at its agents and its clock.
pub const CAMPAIGN_TICK: Duration = Duration::from_secs(1);
/// Campaign outputs queued for the driver at most; past it they are
/// dropped and counted (the driver drains them after every input).
pub const CAMPAIGN_OUTPUTS_MAX: usize = 65_536;

/// What `run/` must store for the campaigns.
#[derive(Clone, Debug, PartialEq)]
pub enum CampaignOutput {
    /// A contact changed: save it.
    Contact {
        campaign: String,
        id: ContactId,
        contact: Contact,
    },
    /// The campaign started, paused, stopped or finished.
    Status { campaign: String, status: Status },
    /// A number listed (`listed`) or unlisted through the API: store it.
    Dnc { number: String, listed: bool },
    /// A campaign made through the API: store its settings (the JSON
    /// given), so that a restart loads it again.
    Created {
        campaign: String,
        mode: crate::dialer::Mode,
        settings: String,
    },
}

/// One campaign, now.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CampaignSnapshot {
    pub name: String,
    pub queue: String,
    pub mode: &'static str,
    pub status: &'static str,
    pub trunk: String,
    pub contacts: usize,
    pub contacts_left: usize,
    pub ringing: usize,
    pub dials: u64,
    pub answers: u64,
    pub connects: u64,
    pub abandons: u64,
    pub dnc_blocked: u64,
    /// Abandons over answers since start (0 before any answer).
    pub abandon_rate: f64,
    /// Dials the core placed that the switch could not (no media ports,
    /// no capacity, trunk gone): counted as failed dials.
    pub dials_refused: u64,
    /// Free agents kept for the inbound queues they serve (blending).
    pub agents_withheld: usize,
    /// An inbound queue has callers waiting or is under its service
    /// level: the campaign places no new dial.
    pub backing_off: bool,
    /// Answers the detector took for an answering machine.
    pub machines: u64,
}

/// A campaign call: whose, which dial, and whether the customer answered.
#[derive(Clone, Debug)]
pub(super) struct Dialled {
    pub campaign: usize,
    pub dial: DialId,
    /// A person answered (and the campaign was told).
    pub answered: bool,
    /// Listened to for an answering machine, and what for now.
    pub listening: Option<super::campaign_amd::Listening>,
    /// A machine answered; `Some(true)` once its message was left.
    pub machine: Option<bool>,
}

pub(super) struct Driven {
    pub config: CampaignConfig,
    pub core: Campaign,
    pub dials: HashMap<DialId, CallRef>,
    /// What the core was last told of each agent: ready or not.
    agents: HashMap<String, bool>,
    pub dials_refused: u64,
    /// Blending: the rule's state, what it withholds now, and what the
    /// core was last told ([`Event::Blend`]).
    blender: Blender,
    agents_withheld: usize,
    backing_off: bool,
    blend_told: (bool, u32, f64),
    /// Answers the detector took for a machine.
    pub machines: u64,
    /// Agents who let a preview offer expire: away for the campaign until
    /// then (`campaigns/preview.rs`).
    parked: HashMap<String, Instant>,
}

#[derive(Default)]
pub(super) struct Campaigns {
    pub list: Vec<Driven>,
    pub dnc: Dnc,
    /// The numbers the `[dnc]` list files gave.
    pub dnc_files: Dnc,
    /// The numbers listed through the API (stored, kept across restarts).
    pub dnc_stored: BTreeSet<String>,
    /// How uploaded numbers are read (`[dnc]` country code, prefix).
    pub numbering: Numbering,
    pub calls: HashMap<CallRef, Dialled>,
    out: VecDeque<CampaignOutput>,
    pub outputs_dropped: u64,
    /// Ended campaign calls an agent talked on, for their disposition:
    /// the call, the campaign and the contact.
    pub disposable: VecDeque<(CallUuid, usize, ContactId)>,
    /// Abandoned calls hearing the information message: hung up then.
    pub hangups: Vec<(Instant, CallRef)>,
    /// Calls listened to for a machine: given up on then.
    pub listens: Vec<(Instant, CallRef)>,
    /// The next look at the campaigns.
    wake: Option<Instant>,
}

impl Campaigns {
    pub(super) fn push(&mut self, output: CampaignOutput) {
        if self.out.len() >= CAMPAIGN_OUTPUTS_MAX {
            self.outputs_dropped += 1;
            return;
        }
        self.out.push_back(output);
    }

    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|d| d.config.name == name)
    }
}

impl Switch {
    /// The do-not-call set every campaign's dials are checked against,
    /// and how numbers are read into E.164.
    pub fn set_dnc(&mut self, dnc: Dnc, numbering: Numbering) {
        self.campaigns.dnc_files = dnc.clone();
        self.campaigns.dnc = dnc;
        self.campaigns.numbering = numbering;
    }

    /// A reload's `[dnc]` lists replace the files' numbers; the numbers
    /// the API listed stay listed.
    pub fn reload_dnc(&mut self, files: Dnc, numbering: Numbering) {
        let c = &mut self.campaigns;
        let mut dnc = files.clone();
        for number in &c.dnc_stored {
            if !dnc.contains(number) && !dnc.add(number) {
                warn!("do-not-call list full: a number the api listed is left out");
            }
        }
        info!(
            files = files.len(),
            numbers = dnc.len(),
            "reload: do-not-call lists read again"
        );
        c.dnc_files = files;
        c.dnc = dnc;
        c.numbering = numbering;
    }

    /// Adds a campaign with its contacts as stored (or as first read).
    /// It starts when `autostart` says so or when it was running before
    /// (`stored`, the status its store last saw).
    pub fn add_campaign(
        &mut self,
        now: Instant,
        config: CampaignConfig,
        contacts: Vec<Contact>,
        stored: Option<&str>,
    ) {
        let spec = Spec {
            mode: config.mode,
            max_attempts: config.max_attempts,
            retry: config.retry.clone(),
            window: config.window,
            max_abandon: config.max_abandon,
            preview_timeout: config.preview_timeout,
            ..Spec::default()
        };
        let core = Campaign::new(spec, contacts, self.wall(now));
        let start = match stored {
            Some("running") => true,
            Some("stopped" | "finished" | "paused") => false,
            _ => config.autostart,
        };
        info!(campaign = %config.name, contacts = core.contacts().len(), left = core.contacts_left(), start, "campaign loaded");
        let name = config.name.clone();
        self.campaigns.list.push(Driven {
            config,
            core,
            dials: HashMap::new(),
            agents: HashMap::new(),
            dials_refused: 0,
            blender: Blender::default(),
            agents_withheld: 0,
            backing_off: false,
            blend_told: (false, 0, 0.0),
            machines: 0,
            parked: HashMap::new(),
        });
        if start {
            let _ = self.campaign_control(now, &name, Event::Start);
            self.pump(now);
            return;
        }
        // A paused campaign stays paused, a stopped one stopped (final).
        // The core knows no agent yet, so the start dials nobody.
        let i = self.campaigns.list.len() - 1;
        let moves: &[Event] = match stored {
            Some("paused") => &[Event::Start, Event::Pause],
            Some("stopped") => &[Event::Stop],
            _ => &[],
        };
        for event in moves {
            self.campaign_input(now, i, event.clone());
        }
    }

    /// A reload's campaign settings: each loaded campaign takes its entry's
    /// new mode, pacing, retries, window, trunk, caller ID, ring time and
    /// queue for what it does next; its contacts stay as stored. A campaign
    /// the reload adds or removes waits for a restart (contact lists are
    /// read and stored at start-up); one made through the API keeps its own.
    pub(super) fn reconfigure_campaigns(&mut self, now: Instant) {
        if let Some((files, numbering)) = self.plan.dnc_lists.take() {
            self.reload_dnc(files, numbering);
        }
        let configs = self.plan.campaigns.clone();
        for i in 0..self.campaigns.list.len() {
            let d = &mut self.campaigns.list[i];
            let name = d.config.name.clone();
            if d.config.contacts == std::path::Path::new(crate::config::API_CONTACTS) {
                // Made through the API: the dialplan never had it.
                continue;
            }
            let Some(new) = configs.iter().find(|c| c.name == name) else {
                warn!(campaign = %name, "reload: campaign gone from the dialplan; it stays until a restart");
                continue;
            };
            let mut new = new.clone();
            new.contacts_at = d.config.contacts_at;
            if new == d.config {
                continue;
            }
            d.core.spec = Spec {
                mode: new.mode,
                max_attempts: new.max_attempts,
                retry: new.retry.clone(),
                window: new.window,
                max_abandon: new.max_abandon,
                preview_timeout: new.preview_timeout,
                ..d.core.spec.clone()
            };
            let queue_changed = new.queue != d.config.queue;
            d.config = new;
            if queue_changed {
                // Who works it is told afresh from the new queue.
                let left: Vec<String> = d.agents.drain().map(|(agent, _)| agent).collect();
                for agent in left {
                    self.campaign_input(now, i, Event::AgentLeft(agent));
                }
            }
            let d = &self.campaigns.list[i];
            info!(campaign = %name, mode = d.config.mode.name(), "reload: campaign settings changed");
            self.sync_campaign_agents(now, i);
        }
        for c in configs
            .iter()
            .filter(|c| self.campaigns.index(&c.name).is_none())
        {
            warn!(campaign = %c.name, "reload: campaign added to the dialplan; it is loaded at the next restart");
        }
        self.campaign_wake(now);
    }

    /// One output for the driver to store, oldest first.
    pub fn poll_campaign_output(&mut self) -> Option<CampaignOutput> {
        self.campaigns.out.pop_front()
    }

    pub fn campaign_snapshots(&self) -> Vec<CampaignSnapshot> {
        self.campaigns.list.iter().map(snapshot).collect()
    }

    /// Start, pause or stop a campaign by name; `None` when unknown, else
    /// whether the move was allowed from where it stands.
    pub(super) fn campaign_control(
        &mut self,
        now: Instant,
        name: &str,
        event: Event,
    ) -> Option<bool> {
        let i = self.campaigns.index(name)?;
        let before = self.campaigns.list[i].core.status();
        let allowed = matches!(
            (&event, before),
            (Event::Start, Status::Idle | Status::Paused)
                | (Event::Pause, Status::Running)
                | (Event::Stop, Status::Idle | Status::Running | Status::Paused)
        );
        if !allowed {
            return Some(false);
        }
        self.campaign_input(now, i, event);
        self.sync_campaign_agents(now, i);
        self.campaign_input(now, i, Event::Tick);
        Some(true)
    }

    /// Feeds one event to campaign `i` and carries out what it decides,
    /// and what that sets off, in order.
    pub(super) fn campaign_input(&mut self, now: Instant, i: usize, event: Event) {
        let wall = self.wall(now);
        if self.draining && self.campaigns.list[i].core.status() == Status::Running {
            // Stopping: no new dials. The store keeps "running", so the
            // next start resumes it; a pause takes no action to carry out.
            let c = &mut self.campaigns;
            let _ = c.list[i].core.handle(wall, Event::Pause, &mut c.dnc);
        }
        let mut pending = VecDeque::from([event]);
        while let Some(event) = pending.pop_front() {
            let before = self.campaigns.list[i].core.status();
            let c = &mut self.campaigns;
            let actions = c.list[i].core.handle(wall, event, &mut c.dnc);
            for action in actions {
                if let Some(follow) = self.campaign_act(now, i, action) {
                    pending.push_back(follow);
                }
            }
            let after = self.campaigns.list[i].core.status();
            if after != before {
                let campaign = self.campaigns.list[i].config.name.clone();
                info!(%campaign, status = status_name(after), "campaign status");
                if let Some(kind) = status_event(&campaign, after) {
                    self.emit(now, kind);
                }
                self.campaigns.push(CampaignOutput::Status {
                    campaign,
                    status: after,
                });
            }
        }
        self.campaign_wake(now);
    }

    /// Carries out one action; a dial that could not be placed comes back
    /// as its failure.
    fn campaign_act(&mut self, now: Instant, i: usize, action: dialer::Action) -> Option<Event> {
        let name = self.campaigns.list[i].config.name.clone();
        match action {
            dialer::Action::Dial {
                dial,
                contact,
                number,
                ..
            } => {
                if let Err(why) = self.place_campaign_call(now, i, dial, contact, &number) {
                    warn!(campaign = %name, contact = contact.0, why, "campaign dial not placed");
                    self.campaigns.list[i].dials_refused += 1;
                    return Some(Event::DialEnded(dial, dialer::Outcome::Failed));
                }
            }
            dialer::Action::Connect { dial, agent } => {
                return self.campaign_connect(now, i, dial, &agent)
            }
            dialer::Action::Abandon { dial, .. } => self.campaign_abandon(now, i, dial),
            dialer::Action::Cancel { dial } => {
                if let Some(&id) = self.campaigns.list[i].dials.get(&dial) {
                    self.drive(now, id, crate::call::Input::HangUp);
                }
            }
            dialer::Action::Contact(id) => {
                let core = &self.campaigns.list[i].core;
                if let Some(contact) = core.contact(id).cloned() {
                    self.campaigns.push(CampaignOutput::Contact {
                        campaign: name,
                        id,
                        contact,
                    });
                }
            }
            dialer::Action::Blocked(id) => {
                // The number is private; the contact's index says which.
                info!(campaign = %name, contact = id.0, "do-not-call: dial refused");
            }
            dialer::Action::Offer { agent, contact } => {
                let c = self.campaigns.list[i].core.contact(contact).cloned()?;
                info!(campaign = %name, %agent, contact = contact.0, "preview offered");
                let kind = EventKind::CampaignPreview {
                    campaign: name,
                    agent,
                    contact: contact.0,
                    number: c.number,
                    name: c.name,
                    data: c.data,
                };
                self.emit(now, kind);
            }
            dialer::Action::PreviewExpired { agent, contact } => {
                self.preview_expired(now, i, &agent, contact)
            }
            dialer::Action::Finished => info!(campaign = %name, "campaign finished"),
        }
        None
    }

    /// Due campaign work at `now`: the information messages that ended,
    /// then each running campaign's agents and clock.
    pub(super) fn campaigns_timeout(&mut self, now: Instant) {
        let due: Vec<CallRef> = {
            let h = &mut self.campaigns.hangups;
            let due = h
                .iter()
                .filter(|(at, _)| *at <= now)
                .map(|(_, c)| *c)
                .collect();
            h.retain(|(at, _)| *at > now);
            due
        };
        for id in due {
            self.drive(now, id, crate::call::Input::HangUp);
        }
        self.campaign_listen_timeout(now);
        if self.campaigns.wake.is_some_and(|w| w > now) {
            return;
        }
        for i in 0..self.campaigns.list.len() {
            if self.campaigns.list[i].core.status() != Status::Running {
                continue;
            }
            self.sync_campaign_agents(now, i);
            self.campaign_input(now, i, Event::Tick);
        }
        self.campaign_wake(now);
    }

    pub(super) fn campaigns_poll_timeout(&self) -> Option<Instant> {
        let c = &self.campaigns;
        let hangups = c.hangups.iter().chain(&c.listens).map(|(at, _)| *at);
        hangups.chain(c.wake).min()
    }

    /// The next look: a running campaign's own deadline, or the tick.
    fn campaign_wake(&mut self, now: Instant) {
        let wall = self.wall(now);
        let mut wake: Option<Instant> = None;
        for d in &self.campaigns.list {
            let live = d.core.status() == Status::Running || !d.dials.is_empty();
            if !live {
                continue;
            }
            let mut at = now + CAMPAIGN_TICK;
            if let Some(t) = d.core.poll_timeout() {
                at = at.min(now + t.saturating_sub(wall));
            }
            wake = Some(wake.map_or(at, |w: Instant| w.min(at)));
        }
        self.campaigns.wake = wake;
    }

    /// Tells campaign `i` which agents of its queue changed: ready when the
    /// router has them available, registered and on no call, and blending
    /// does not keep them for inbound; away else.
    pub(super) fn sync_campaign_agents(&mut self, now: Instant, i: usize) {
        let Some(queue) = self.router.queue_id(&self.campaigns.list[i].config.queue) else {
            return;
        };
        let mut changes = Vec::new();
        let mut members = Vec::new();
        for n in 0..self.router.agents_len() {
            let id = AgentId(n as u32);
            let Some(name) = self.router.agent_name(id) else {
                continue;
            };
            if !self.router.agent_queues(id).contains(&queue) {
                if self.campaigns.list[i].agents.remove(name) == Some(true) {
                    changes.push(Event::AgentLeft(name.to_string()));
                }
                continue;
            }
            let ready = self.router.agent_state(id) == Some(AgentState::Available)
                && self.router.agent_registered(id)
                && !self.busy.contains_key(name)
                && self.own_call(name).is_none()
                && !self.agent_targets(now, name).is_empty();
            members.push((id, name.to_string(), ready));
        }
        let withheld = self.blend_withheld(now, i, &members);
        for (_, name, ready) in members {
            let ready = ready && !withheld.contains(&name) && !self.preview_parked(now, i, &name);
            let known = self.campaigns.list[i].agents.insert(name.clone(), ready);
            if known != Some(ready) {
                changes.push(match ready {
                    true => Event::AgentReady(name),
                    false => Event::AgentAway(name),
                });
            }
        }
        for event in changes {
            self.campaign_input(now, i, event);
        }
    }

    /// Forgets what campaign `i` was told of `agent`: the next look tells
    /// it again (after a campaign call, the core waits for a ready).
    pub(super) fn forget_campaign_agent(&mut self, i: usize, agent: &str) {
        self.campaigns.list[i].agents.remove(agent);
    }

    /// The wall clock at `now`, as the dialer core counts it.
    pub(super) fn wall(&self, now: Instant) -> Duration {
        Duration::from_millis(self.uuids.wall_ms(now))
    }
}

fn snapshot(d: &Driven) -> CampaignSnapshot {
    let c = &d.core.counters;
    CampaignSnapshot {
        name: d.config.name.clone(),
        queue: d.config.queue.clone(),
        mode: d.config.mode.name(),
        status: status_name(d.core.status()),
        trunk: d.config.trunk.clone(),
        contacts: d.core.contacts().len(),
        contacts_left: d.core.contacts_left(),
        ringing: d.core.ringing(),
        dials: c.dials,
        answers: c.answers,
        connects: c.connects,
        abandons: c.abandons,
        dnc_blocked: c.blocked,
        abandon_rate: match c.answers {
            0 => 0.0,
            n => c.abandons as f64 / n as f64,
        },
        dials_refused: d.dials_refused,
        agents_withheld: d.agents_withheld,
        backing_off: d.backing_off,
        machines: d.machines,
    }
}

/// The event a campaign's new status is told by (none for idle).
fn status_event(campaign: &str, status: Status) -> Option<EventKind> {
    let campaign = campaign.to_string();
    Some(match status {
        Status::Idle => return None,
        Status::Running => EventKind::CampaignStarted { campaign },
        Status::Paused => EventKind::CampaignPaused { campaign },
        Status::Stopped => EventKind::CampaignStopped { campaign },
        Status::Finished => EventKind::CampaignFinished { campaign },
    })
}

pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Idle => "idle",
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Stopped => "stopped",
        Status::Finished => "finished",
    }
}
