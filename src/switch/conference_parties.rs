//! A call's parties as the API sees them (`GET/POST/DELETE
//! /calls/{id}/parties[/{party}]`): caller (0), agent (1) and the parties
//! added to its conference (`conference.rs`); muting one, setting its
//! gain, hanging one up.

use std::time::Instant;

use tracing::info;

use super::command::{CommandError, PartySnapshot};
use super::{Reply, Switch};
use crate::call::session::conference::{AGENT_PARTY, CALLER_PARTY};
use crate::call::session::PartyVoice;
use crate::call::{CallUuid, Input, Side};

impl Switch {
    /// `ListParties`: the caller, the agent and every added party.
    pub(super) fn list_parties(&self, now: Instant, call: CallUuid) -> Result<Reply, CommandError> {
        let id = self.call_by_uuid(call)?;
        let entry = self.calls.get(&id).ok_or(CommandError::UnknownCall(call))?;
        let conf = entry.phase.conference();
        let voice = |id: u8| {
            let v = match id {
                CALLER_PARTY => conf.map(|c| c.caller),
                AGENT_PARTY => conf.map(|c| c.agent),
                _ => None,
            };
            v.unwrap_or_default()
        };
        let answered = entry.call.answered.map(|at| self.uuids.wall_ms(at));
        let mut parties = vec![snapshot(
            CALLER_PARTY,
            entry.detail.caller.clone(),
            "customer",
            voice(CALLER_PARTY),
            answered,
        )];
        if let Some(agent) = entry.b.as_ref().and(entry.agent.clone()) {
            parties.push(snapshot(
                AGENT_PARTY,
                agent,
                "agent",
                voice(AGENT_PARTY),
                answered,
            ));
        }
        for p in conf.map(|c| c.parties.as_slice()).unwrap_or_default() {
            let role = if p.agent().is_some() {
                "agent"
            } else {
                "external"
            };
            let joined = p.joined.map(|at| self.uuids.wall_ms(at));
            parties.push(snapshot(p.id, p.leg.target.clone(), role, p.voice, joined));
        }
        let _ = now;
        Ok(Reply::Parties { parties })
    }

    /// `SetParty`: mute, unmute or set the gain of a party. A call that is
    /// no conference yet becomes one (of caller and agent) to be mixed.
    pub(super) fn set_party(
        &mut self,
        _now: Instant,
        call: CallUuid,
        party: u8,
        mute: Option<bool>,
        gain_db10: Option<i16>,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        let entry = self
            .calls
            .get_mut(&id)
            .ok_or(CommandError::UnknownCall(call))?;
        let talking = entry.is_talking() && entry.b.is_some();
        if party > AGENT_PARTY
            && entry
                .phase
                .conference()
                .and_then(|c| c.party(party))
                .is_none()
        {
            return Err(CommandError::UnknownParty(party));
        }
        if !talking || entry.media.is_none() {
            return Err(CommandError::NotTalking);
        }
        if entry.phase.consult().is_some() {
            return Err(CommandError::Consulting);
        }
        let conf = entry
            .phase
            .start_conference()
            .ok_or(CommandError::Consulting)?;
        let voice = conf
            .voice_mut(party)
            .ok_or(CommandError::UnknownParty(party))?;
        if let Some(muted) = mute {
            voice.muted = muted;
        }
        if let Some(gain) = gain_db10 {
            voice.gain_db10 = gain;
        }
        info!(call = %id, party, muted = voice.muted, gain_db10 = voice.gain_db10, "party voice set");
        self.remix(id);
        Ok(())
    }

    /// `DropParty`: hangs up one party. The caller's leaving ends the
    /// call; the agent's hands the call to another agent in the
    /// conference, or ends it.
    pub(super) fn drop_party(
        &mut self,
        now: Instant,
        call: CallUuid,
        party: u8,
    ) -> Result<(), CommandError> {
        let id = self.call_by_uuid(call)?;
        let entry = self.calls.get(&id).ok_or(CommandError::UnknownCall(call))?;
        match party {
            CALLER_PARTY => {
                info!(call = %id, "the caller is dropped: the call ends");
                self.drive(now, id, Input::HangUp);
            }
            AGENT_PARTY => {
                let dialog = entry
                    .b
                    .as_ref()
                    .and_then(|b| b.forks.get(b.winner?))
                    .and_then(|f| f.dialog.clone())
                    .ok_or(CommandError::UnknownParty(party))?;
                info!(call = %id, "the agent is dropped from the call");
                self.send_in_dialog_bye(now, id, &dialog);
                if !self.conference_agent_left(now, id) {
                    // No other agent in: as if the agent hung up.
                    self.drive(now, id, Input::Bye(Side::B));
                }
            }
            _ => {
                if entry
                    .phase
                    .conference()
                    .and_then(|c| c.party(party))
                    .is_none()
                {
                    return Err(CommandError::UnknownParty(party));
                }
                info!(call = %id, party, "a conference party is dropped");
                self.party_left(now, id, party, "dropped");
            }
        }
        Ok(())
    }
}

fn snapshot(
    id: u8,
    who: String,
    role: &'static str,
    voice: PartyVoice,
    joined_at: Option<u64>,
) -> PartySnapshot {
    PartySnapshot {
        id,
        who,
        role,
        state: if joined_at.is_some() {
            "joined"
        } else {
            "ringing"
        },
        muted: voice.muted,
        gain_db: f64::from(voice.gain_db10) / 10.0,
        joined_at,
    }
}
