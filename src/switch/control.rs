//! Carries out [`Command`]s: agent changes go to the router (which checks
//! them against the agent's state), snapshots read the router and the call
//! table, a hang-up goes to the call's machine. Each command is checked
//! first and changes nothing when refused; what it sets in motion (offers,
//! BYEs) is in the outputs when it returns.

use std::time::Instant;

use tracing::{info, warn};

use super::command::{
    AgentSnapshot, CallSnapshot, Command, CommandError, QueueSnapshot, Reply,
    PAUSE_REASON_CHARS_MAX,
};
use super::queues::agent_state_index;
use super::{Switch, AGENT_STATE_LABELS};
use crate::acd::{self, AcdError, AgentId, AgentState, CallId, PauseReason, QueueId};
use crate::call::{CallRef, CallUuid, Input};

impl Switch {
    /// Carries out one command at `now`.
    pub fn handle_command(
        &mut self,
        now: Instant,
        command: Command,
    ) -> Result<Reply, CommandError> {
        let result = match command {
            Command::ListAgents => return Ok(self.list_agents()),
            Command::ListQueues => return Ok(self.list_queues(now)),
            Command::ListCalls => return Ok(self.list_calls(now)),
            Command::AgentLogin { agent, queue } => self.agent_input(now, &agent, queue, true),
            Command::AgentLogout { agent, queue } => self.agent_input(now, &agent, queue, false),
            Command::AgentPause { agent, reason } => self.pause(now, &agent, &reason),
            Command::AgentResume { agent } => {
                let id = self.agent_named(&agent)?;
                self.command_route(now, &agent, acd::Input::AgentResume { agent: id })
            }
            Command::EndWrapUp { agent } => {
                let id = self.agent_named(&agent)?;
                self.command_route(now, &agent, acd::Input::EndWrapUp { agent: id })
            }
            Command::SetSkills { agent, skills } => {
                let id = self.agent_named(&agent)?;
                let skills = skills.into_iter().collect();
                let input = acd::Input::SetSkills { agent: id, skills };
                self.command_route(now, &agent, input)
            }
            Command::HangUp { call } => self.hang_up(now, call),
            Command::Transfer { call, to } => self.transfer_call(now, call, &to),
            Command::Consult { call, to } => self.consult_command(now, call, &to),
            Command::ConsultComplete { call } => self.consult_complete(now, call),
            Command::ConsultCancel { call } => self.consult_cancel(now, call),
            Command::Conference { call, to } => self.conference_command(now, call, &to),
            Command::ConsultConference { call } => self.consult_conference(now, call),
            Command::ListParties { call } => return self.list_parties(now, call),
            Command::SetParty {
                call,
                party,
                mute,
                gain_db10,
            } => self.set_party(now, call, party, mute, gain_db10),
            Command::DropParty { call, party } => self.drop_party(now, call, party),
            Command::Escalate { call } => self.escalate_command(now, call),
            Command::Takeover { call } => self.takeover_command(now, call),
            Command::Originate { agent, number } => {
                let placed = self.originate(now, &agent, &number);
                self.pump(now);
                return placed.map(|call| Reply::Originated { call });
            }
            Command::ListBans => return Ok(self.list_bans(now)),
            Command::ListTrunks => {
                let trunks = self.trunk_snapshots(now);
                return Ok(Reply::Trunks { trunks });
            }
            Command::LiftBan { ip } => self.lift_ban(now, &ip),
            Command::Disposition {
                call,
                code,
                note,
                agent,
            } => self.dispose(now, call, &code, note, agent.as_deref()),
            Command::EraseCallbacks { number } => {
                self.erase_callbacks(now, &number);
                Ok(())
            }
            Command::ScheduleCallback { call, at_ms, agent } => {
                let at = std::time::Duration::from_millis(at_ms);
                self.schedule_callback(now, call, at, agent.as_deref())
            }
            Command::ListCampaigns => {
                let campaigns = self.campaign_snapshots();
                return Ok(Reply::Campaigns { campaigns });
            }
            Command::CampaignControl { name, action } => self.campaign_move(now, &name, action),
            Command::AddContacts { name, csv } => {
                let added = self.add_contacts(now, &name, &csv);
                self.pump(now);
                return added.map(|added| Reply::ContactsAdded { added });
            }
            Command::CreateCampaign { settings } => {
                let made = self.create_campaign(now, &settings);
                self.pump(now);
                return made;
            }
            Command::ListDnc { offset, limit } => return self.list_dnc(offset, limit),
            Command::PreviewAnswer {
                name,
                contact,
                agent,
                accept,
            } => self.preview_answer(now, &name, contact, &agent, accept),
            Command::AddDnc { number } => return self.add_dnc(&number),
            Command::RemoveDnc { number } => return self.remove_dnc(&number),
        };
        self.pump(now);
        result.map(|()| Reply::Done)
    }

    pub(super) fn agent_named(&self, agent: &str) -> Result<AgentId, CommandError> {
        self.router
            .agent_id(agent)
            .filter(|&id| !self.router.agent_retired(id))
            .ok_or_else(|| CommandError::UnknownAgent(agent.to_string()))
    }

    fn queue_named(&self, queue: &str) -> Result<QueueId, CommandError> {
        self.router
            .queue_id(queue)
            .ok_or_else(|| CommandError::UnknownQueue(queue.to_string()))
    }

    fn agent_input(
        &mut self,
        now: Instant,
        agent: &str,
        queue: Option<String>,
        login: bool,
    ) -> Result<(), CommandError> {
        let id = self.agent_named(agent)?;
        let q = queue.as_deref().map(|q| self.queue_named(q)).transpose()?;
        let input = if login {
            acd::Input::AgentLogin {
                agent: id,
                queue: q,
            }
        } else {
            acd::Input::AgentLogout {
                agent: id,
                queue: q,
            }
        };
        self.command_route(now, agent, input)
    }

    fn pause(&mut self, now: Instant, agent: &str, text: &str) -> Result<(), CommandError> {
        let id = self.agent_named(agent)?;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > PAUSE_REASON_CHARS_MAX {
            return Err(CommandError::PauseReason);
        }
        let reason = match text.to_ascii_lowercase().as_str() {
            "break" => PauseReason::Break,
            "lunch" => PauseReason::Lunch,
            "training" => PauseReason::Training,
            _ => PauseReason::Other,
        };
        let input = acd::Input::AgentPause { agent: id, reason };
        self.command_route(now, agent, input)?;
        if reason == PauseReason::Other {
            self.pause_texts.insert(agent.to_string(), text.to_string());
        }
        Ok(())
    }

    /// Feeds the router; its refusals become the command's error.
    fn command_route(
        &mut self,
        now: Instant,
        agent: &str,
        input: acd::Input,
    ) -> Result<(), CommandError> {
        let queue_name = |q: QueueId, r: &acd::Router| r.queue_name(q).unwrap_or("").to_string();
        match self.router.handle(now, input) {
            Ok(()) => {
                info!(agent, "agent changed by a command");
                Ok(())
            }
            Err(err) => Err(match err {
                AcdError::AgentNotPaused(_) => CommandError::NotPaused(agent.into()),
                AcdError::AgentNotInWrapUp(_) => CommandError::NotInWrapUp(agent.into()),
                AcdError::AgentLoggedOut(_) => CommandError::LoggedOut(agent.into()),
                AcdError::AgentNotQualified { queue, .. } => CommandError::NotQualified {
                    agent: agent.into(),
                    queue: queue_name(queue, &self.router),
                },
                AcdError::AgentNotInQueue { queue, .. } => CommandError::NotInQueue {
                    agent: agent.into(),
                    queue: queue_name(queue, &self.router),
                },
                AcdError::SkillLevelOutOfRange { skill, level, .. } => {
                    CommandError::SkillLevel { skill, level }
                }
                other => CommandError::Router(other),
            }),
        }
    }

    fn hang_up(&mut self, now: Instant, call: CallUuid) -> Result<(), CommandError> {
        // A scan of the live calls (at most `max_calls`): an operator's
        // command, not the packet path.
        let id = self
            .calls
            .iter()
            .find(|(_, e)| e.uuid == call)
            .map(|(&id, _)| id)
            .ok_or(CommandError::UnknownCall(call))?;
        self.call_span(id)
            .in_scope(|| info!(call = %id, "hung up by a command"));
        self.drive(now, id, Input::HangUp);
        Ok(())
    }

    fn transfer_call(
        &mut self,
        now: Instant,
        call: CallUuid,
        to: &str,
    ) -> Result<(), CommandError> {
        let id = self
            .calls
            .iter()
            .find(|(_, e)| e.uuid == call)
            .map(|(id, _)| *id)
            .ok_or(CommandError::UnknownCall(call))?;
        // The agent's phone hears of it as a BYE; no REFER to notify.
        let result = self.transfer(now, id, to, false);
        if let Err(err) = &result {
            self.call_span(id)
                .in_scope(|| warn!(call = %id, %err, "transfer refused"));
        }
        result
    }

    fn list_agents(&self) -> Reply {
        let agents = (0..self.router.agents_len())
            .map(|i| AgentId(i as u32))
            .filter(|&id| !self.router.agent_retired(id))
            .map(|id| self.agent_snapshot(id))
            .collect();
        Reply::Agents { agents }
    }

    fn agent_snapshot(&self, id: AgentId) -> AgentSnapshot {
        let name = self.router.agent_name(id).unwrap_or("").to_string();
        let state = self.router.agent_state(id);
        let uuid_of = |c: CallId| self.calls.get(&CallRef(c.0)).map(|e| e.uuid);
        let call = match state {
            Some(AgentState::Reserved(c) | AgentState::OnCall(c)) => uuid_of(c),
            _ => self
                .own_call(&name)
                .and_then(|c| self.calls.get(&c).map(|e| e.uuid)),
        };
        let pause_reason = match state {
            Some(AgentState::Paused(reason)) => Some(self.pause_label(&name, reason)),
            _ => None,
        };
        AgentSnapshot {
            state: AGENT_STATE_LABELS[agent_state_index(state)],
            pause_reason,
            registered: self.router.agent_registered(id),
            queues: self
                .router
                .agent_queues(id)
                .into_iter()
                .filter_map(|q| self.router.queue_name(q).map(str::to_string))
                .collect(),
            call,
            id: name,
        }
    }

    /// How a pause reason reads in snapshots and events.
    pub(super) fn pause_label(&self, agent: &str, reason: PauseReason) -> String {
        match reason {
            PauseReason::Break => "break".into(),
            PauseReason::Lunch => "lunch".into(),
            PauseReason::Training => "training".into(),
            PauseReason::NoAnswer => "no_answer".into(),
            PauseReason::Code(n) => format!("code {n}"),
            PauseReason::Other => self.pause_texts.get(agent).cloned().unwrap_or_default(),
        }
    }

    fn list_queues(&self, now: Instant) -> Reply {
        let queues = self
            .queue_figures(now)
            .into_iter()
            .map(|q| QueueSnapshot {
                name: q.name.to_string(),
                waiting: q.waiting,
                agents_available: q.agents_available,
                answered: q.answered,
                abandoned: q.abandoned,
                overflowed: q.overflowed,
                service_level: q.service_level,
                expected_wait_ms: q.expected_wait.map(super::event::millis),
                offered: q.offered,
                service_level_target: q.sl_target,
                service_level_threshold_ms: super::event::millis(q.sl_threshold),
                interval_ms: super::event::millis(q.interval_length),
                interval_offered: q.interval.offered,
                interval_service_level: q.interval.service_level(),
                interval_handle_time_ms: q.interval.handle_time().map(super::event::millis),
                agents_needed: q.agents_needed,
            })
            .collect();
        Reply::Queues { queues }
    }

    fn list_calls(&self, now: Instant) -> Reply {
        let mut calls: Vec<CallSnapshot> = self
            .calls
            .values()
            .map(|e| {
                let phase = e.phase_label();
                let age = now.saturating_duration_since(e.call.created);
                CallSnapshot {
                    id: e.uuid,
                    phase,
                    dialled: e.dialled.clone(),
                    trunk: e.trunk.clone(),
                    queue: e.queue.clone(),
                    agent: e.agent.clone(),
                    age_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                    queue_wait_ms: matches!(phase, "queued" | "ringing")
                        .then_some(e.detail.queue_since)
                        .flatten()
                        .map(|t| super::event::millis(now.saturating_duration_since(t))),
                }
            })
            .collect();
        // Oldest first: ids are time-ordered.
        calls.sort_by_key(|c| c.id);
        Reply::Calls { calls }
    }
}

/// A placed call whose agent answered, while the number rings.
#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
