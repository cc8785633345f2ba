//! Campaign calls: a placed call whose first leg is the customer. The
//! switch INVITEs the number through the campaign's trunk with its caller
//! ID and our own offer (as originate rings an agent first, `originate.rs`);
//! when the customer answers, their dialog becomes the A leg and the
//! campaign says which agent takes them: that agent's phones ring on the
//! B leg and the relay bridges the two on answer. With no agent in time
//! the customer hears the information message and the call ends.

use std::time::Instant;

use rand::RngCore;
use tracing::{info, warn};

use super::campaigns::{CampaignOutput, Dialled};
use super::event::EventKind;
use super::legs::{ALeg, Session};
use super::presence::Engagement;
use super::trunks::CarrierCall;
use super::{MediaCommand, MediaLeg, Output, Switch};
use crate::call::session::detail::{campaign_outcome, CallDetail, CampaignMark, Direction};
use crate::call::session::PhaseMachine;
use crate::call::{Call, CallRef, CallUuid, Input, Outcome, Private};
use crate::config::INFO_MESSAGE_DEFAULT;
use crate::dialer::{self, ContactId, DialId, Event};

/// The disposition that lists the customer's number as do-not-call.
pub const DO_NOT_CALL_DISPOSITION: &str = "do-not-call";
/// Ended campaign calls kept for a disposition at most (oldest go first).
pub const CAMPAIGN_DISPOSABLE_MAX: usize = 4_096;

impl Switch {
    /// Places campaign `i`'s dial: INVITE to the number on its trunk.
    pub(super) fn place_campaign_call(
        &mut self,
        now: Instant,
        i: usize,
        dial: DialId,
        contact: ContactId,
        number: &str,
    ) -> Result<CallRef, &'static str> {
        if self.draining {
            return Err("draining");
        }
        let config = &self.campaigns.list[i].config;
        let (campaign, trunk_name) = (config.name.clone(), config.trunk.clone());
        let caller_id = config.caller_id.clone();
        let ring_timeout = config.ring_timeout;
        let trunk = self.plan.trunks.iter().find(|t| t.name == trunk_name);
        let Some(out) = trunk.and_then(|t| t.outbound.clone()) else {
            return Err("the campaign's trunk has no outbound address");
        };
        if self.admission(now).is_err() {
            return Err("no capacity");
        }
        let sessions = (
            u64::from(self.rng.next_u32()),
            u64::from(self.rng.next_u32()),
        );
        let Some(anchoring) = self.anchoring.as_mut() else {
            return Err("no [media]: a campaign call needs the relay");
        };
        let Ok(media) = anchoring.anchor_late(sessions) else {
            self.stats.media_ports_exhausted += 1;
            return Err("no RTP ports");
        };
        let attempt = self.campaigns.list[i]
            .core
            .contact(contact)
            .map_or(1, |c| c.attempts);
        let id = self.new_call_ref();
        let uuid = self.uuids.next(now, &mut self.rng);
        let span = tracing::info_span!(
            "call",
            id = %uuid,
            caller = %Private(&caller_id.clone().unwrap_or_default()),
            did = %Private(number),
            queue = tracing::field::Empty,
            agent = tracing::field::Empty,
        );
        let entry = Session {
            call: Call::placed(id, now),
            a: ALeg::placed(),
            a_agent: None,
            b: None,
            trunk: Some(trunk_name.clone()),
            dialled: number.to_string(),
            queue: None,
            // The customer rings the campaign's time; the agent, once
            // they answered, the switch's.
            ring_timeout,
            agent: None,
            routed: false,
            transfer_from: None,
            fallback_hangup: None,
            transfer_parties: Vec::new(),
            transfer_returns: 0,
            media: Some(media),
            digits: String::new(),
            record: false,
            phase: PhaseMachine::default(),
            uuid,
            span: span.clone(),
            detail: CallDetail {
                caller: caller_id.clone().unwrap_or_default(),
                direction: Direction::Outbound,
                campaign: Some(CampaignMark {
                    name: campaign.clone(),
                    contact: contact.0,
                    attempt,
                    caller_id,
                    answered: false,
                    machine: false,
                }),
                ..Default::default()
            },
        };
        let _in_call = span.entered();
        info!(call = %id, %campaign, contact = contact.0, attempt, trunk = %trunk_name, "campaign call: dialling the customer");
        self.stats.calls_started += 1;
        self.calls.insert(id, entry);
        let dialled = Dialled {
            campaign: i,
            dial,
            answered: false,
            listening: None,
            machine: None,
        };
        self.campaigns.calls.insert(id, dialled);
        self.campaigns.list[i].dials.insert(dial, id);
        let carrier = CarrierCall {
            number: number.to_string(),
            tried: vec![trunk_name],
        };
        self.carriers.calls.insert(id, carrier);
        self.open_media(id);
        let uri = format!("sip:{number}@{}", out.peer.addr);
        let targets = vec![(uri.clone(), out.peer, None)];
        self.start_b_leg(now, id, None, format!("<{uri}>"), targets, out.credentials);
        Ok(id)
    }

    /// Whether the agent's phone is asked to answer campaign call `id` by
    /// itself: an answered customer waits 2 s at most for an agent.
    pub(super) fn campaign_auto_answer(&self, id: CallRef) -> bool {
        let Some(d) = self.campaigns.calls.get(&id) else {
            return false;
        };
        self.campaigns.list[d.campaign].config.auto_answer
    }

    /// Whether `id` is a campaign call (its customer not answered yet).
    pub(super) fn is_campaign_call(&self, id: CallRef) -> bool {
        self.campaigns.calls.contains_key(&id)
    }

    /// The customer answered (their dialog is the A leg now): our offer
    /// for an agent is written from their answer, and, once the relay
    /// heard a person when the campaign listens for machines
    /// (`campaign_amd.rs`), the campaign says who takes them.
    pub(super) fn campaign_answered(&mut self, now: Instant, id: CallRef, answer: &[u8]) {
        if !self.accept_late_answer(id, answer) {
            warn!(call = %id, "the customer's answer has no usable SDP: hanging up");
            return self.drive(now, id, Input::MediaLost);
        }
        self.write_b_offer(id);
        let Some(i) = self.campaigns.calls.get(&id).map(|d| d.campaign) else {
            return;
        };
        if !self.campaign_listen(now, id, i) {
            self.campaign_person(now, id);
        }
    }

    /// A person answered the campaign call: the campaign gives them an
    /// agent.
    pub(super) fn campaign_person(&mut self, now: Instant, id: CallRef) {
        let Some(d) = self.campaigns.calls.get_mut(&id) else {
            return;
        };
        d.answered = true;
        let (i, dial) = (d.campaign, d.dial);
        if let Some(entry) = self.calls.get_mut(&id) {
            // An agent who misses the customer leaves them waiting for
            // another, not hung up.
            entry.call.reoffer = true;
            entry.ring_timeout = self.plan.no_answer_timeout;
        }
        let mark = self
            .calls
            .get_mut(&id)
            .and_then(|e| e.detail.campaign.as_mut());
        if let Some(mark) = mark {
            mark.answered = true;
        }
        info!(call = %id, "campaign call answered by the customer");
        // A reserved agent an inbound call took meanwhile is away first.
        self.sync_campaign_agents(now, i);
        self.campaign_input(now, i, Event::Answered(dial));
    }

    /// The campaign gave the answered call to `agent`: their phones ring.
    /// An agent who is no longer free (an inbound call took them) missed
    /// it: the campaign looks for another.
    pub(super) fn campaign_connect(
        &mut self,
        now: Instant,
        i: usize,
        dial: DialId,
        agent: &str,
    ) -> Option<Event> {
        let id = *self.campaigns.list[i].dials.get(&dial)?;
        let free = !self.busy.contains_key(agent)
            && self.own_call(agent).is_none()
            && !self.agent_targets(now, agent).is_empty();
        if !free {
            warn!(call = %id, %agent, "campaign agent taken meanwhile");
            self.forget_campaign_agent(i, agent);
            return Some(Event::AgentMissed(dial));
        }
        self.forget_campaign_agent(i, agent);
        let queue = self.campaigns.list[i].config.queue.clone();
        if let Some(entry) = self.calls.get_mut(&id) {
            entry.span.record("queue", queue.as_str());
            entry.queue = Some(queue);
        }
        info!(call = %id, %agent, "campaign call: ringing the agent");
        self.offer_agent(now, id, agent);
        None
    }

    /// The agent answered the campaign call: a connect for the campaign.
    pub(super) fn campaign_agent_answered(&mut self, now: Instant, id: CallRef) {
        let Some(d) = self.campaigns.calls.get(&id).filter(|d| d.answered) else {
            return;
        };
        let (i, dial) = (d.campaign, d.dial);
        self.campaign_input(now, i, Event::AgentAnswered(dial));
    }

    /// The agent rung for an answered customer did not answer (or refused,
    /// `status`): their leg goes, and the campaign gives the customer to
    /// another agent or, with none in time, the information message.
    pub(super) fn campaign_agent_missed(&mut self, now: Instant, id: CallRef, status: u16) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let agent = entry.agent.take();
        let (uuid, queue) = (entry.uuid, entry.queue.clone());
        warn!(call = %id, agent = agent.as_deref().unwrap_or(""), status, "campaign call: the agent did not answer");
        if let Some(agent) = agent.clone() {
            let kind = EventKind::CallOfferMissed {
                call: uuid,
                agent,
                queue,
            };
            self.emit(now, kind);
        }
        self.drop_b_leg(now, id);
        self.release(now, &Engagement::Callee(id));
        let Some(d) = self.campaigns.calls.get(&id) else {
            return;
        };
        let (i, dial) = (d.campaign, d.dial);
        if let Some(agent) = &agent {
            self.forget_campaign_agent(i, agent);
        }
        self.campaign_input(now, i, Event::AgentMissed(dial));
    }

    /// No agent in time: the customer hears who called and why, then the
    /// switch hangs up (`campaigns_timeout`).
    pub(super) fn campaign_abandon(&mut self, now: Instant, i: usize, dial: DialId) {
        let Some(&id) = self.campaigns.list[i].dials.get(&dial) else {
            return;
        };
        warn!(call = %id, "campaign call abandoned: no agent in time");
        if !self.calls.contains_key(&id) {
            return;
        }
        let config = &self.campaigns.list[i].config;
        let prompt = config
            .info_message
            .as_deref()
            .unwrap_or(INFO_MESSAGE_DEFAULT);
        let (prompt, plays) = (prompt.to_owned(), config.info_plays);
        self.out.push_back(Output::Media(MediaCommand::Play {
            call: id,
            leg: MediaLeg::Caller,
            intro: vec![prompt],
            music: Vec::new(),
        }));
        self.campaigns.hangups.push((now + plays, id));
    }

    /// A campaign call is over (before its engagements end): the agent who
    /// talked to the customer wraps up as after a call of the campaign's
    /// queue, and may give the call a disposition.
    pub(super) fn campaign_call_gone(&mut self, now: Instant, id: CallRef) {
        let Some(d) = self.campaigns.calls.get(&id) else {
            return;
        };
        let (i, dial) = (d.campaign, d.dial);
        let Some(entry) = self.calls.get(&id) else {
            return;
        };
        if entry.call.answered.is_none() || entry.agent.is_none() {
            return;
        }
        let (uuid, queue) = (entry.uuid, entry.queue.clone());
        let Some(contact) = self.campaigns.list[i].core.dial_contact(dial) else {
            return;
        };
        self.release_to_wrap_up(now, &Engagement::Callee(id), uuid, queue);
        let kept = &mut self.campaigns.disposable;
        if kept.len() >= CAMPAIGN_DISPOSABLE_MAX {
            kept.pop_front();
        }
        kept.push_back((uuid, i, contact));
    }

    /// A `do-not-call` disposition of a campaign call: its contact is
    /// final and the number listed (stored as the API's numbers are).
    pub(super) fn campaign_do_not_call(&mut self, call: CallUuid) {
        let c = &mut self.campaigns;
        let Some(&(_, i, contact)) = c.disposable.iter().find(|(u, ..)| *u == call) else {
            return;
        };
        let Some(number) = c.list[i].core.list_do_not_call(contact, &mut c.dnc) else {
            return;
        };
        c.dnc_stored.insert(number.clone());
        c.push(CampaignOutput::Dnc {
            number,
            listed: true,
        });
        let campaign = c.list[i].config.name.clone();
        if let Some(saved) = c.list[i].core.contact(contact).cloned() {
            c.push(CampaignOutput::Contact {
                campaign: campaign.clone(),
                id: contact,
                contact: saved,
            });
        }
        info!(%call, %campaign, contact = contact.0, "do-not-call disposition: number listed");
    }

    /// A campaign call ended (its record): the campaign hears how.
    pub(super) fn campaign_call_ended(&mut self, now: Instant, record: &super::CallRecord) {
        let id = record.call;
        self.campaigns.hangups.retain(|(_, c)| *c != id);
        let Some(d) = self.campaigns.calls.remove(&id) else {
            return;
        };
        let Some(driven) = self.campaigns.list.get_mut(d.campaign) else {
            return;
        };
        driven.dials.remove(&d.dial);
        let event = match (d.answered, d.machine, d.listening) {
            (true, ..) => Event::Hangup(d.dial),
            (false, Some(message), _) => {
                Event::DialEnded(d.dial, dialer::Outcome::Machine { message })
            }
            (false, None, Some(_)) => {
                // Neither a person waiting for an agent nor a machine.
                warn!(call = %id, "the customer hung up while the detector listened: no answer");
                self.campaigns.listens.retain(|(_, c)| *c != id);
                Event::DialEnded(d.dial, dialer::Outcome::NoAnswer)
            }
            (false, None, None) => Event::DialEnded(d.dial, dial_outcome(record.outcome)),
        };
        // The core waits for a ready after the call: the next look says it.
        if let Some(agent) = &record.agent {
            self.forget_campaign_agent(d.campaign, agent);
        }
        self.campaign_input(now, d.campaign, event);
    }
}

/// How an unanswered campaign dial ended, for its retry.
pub fn dial_outcome(outcome: Outcome) -> dialer::Outcome {
    match campaign_outcome(outcome, false) {
        "busy" => dialer::Outcome::Busy,
        "no-answer" => dialer::Outcome::NoAnswer,
        _ => dialer::Outcome::Failed,
    }
}
