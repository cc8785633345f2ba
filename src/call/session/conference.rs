//! A conference on a customer's call: the parties the agent brought in,
//! each one more leg of the customer's session (an INVITE from the switch,
//! like a consultation's, or a consultation merged in), their media on
//! relay legs of their own, mixed so that every party hears all the
//! others. Caller and agent are parties 0 and 1; added parties are
//! numbered from 2 in the order they were added, never reused in a call.
//! Pure data and bookkeeping: the switch rings, hangs up and mixes.

use std::time::Instant;

use super::consult::Consultation;
use crate::media::command::{MediaLeg, CONFERENCE_JOINS_PER_CALL_MAX};
use crate::media::mix::{Gain, Voice, CONFERENCE_PARTIES_MAX};

/// The API's number of the caller and the agent in a conference.
pub const CALLER_PARTY: u8 = 0;
pub const AGENT_PARTY: u8 = 1;

/// How loud a party is heard and whether it is muted; the gain in tenths
/// of a dB, as the API set it (already in range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartyVoice {
    pub muted: bool,
    pub gain_db10: i16,
}

impl PartyVoice {
    /// What the mixer makes of it.
    pub fn voice(self) -> Voice {
        Voice {
            gain: Gain::from_db(f64::from(self.gain_db10) / 10.0).unwrap_or(Gain::UNITY),
            muted: self.muted,
        }
    }
}

/// One added party: its leg, its media, its voice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceParty {
    /// Its number in the call (2 and up).
    pub id: u8,
    /// The relay leg its media is on: its own, or the consultation's.
    pub media: MediaLeg,
    /// Its INVITE (one fork) and dialog, what the API named, its port.
    pub leg: Consultation,
    pub voice: PartyVoice,
    /// When it answered; `None` while it rings.
    pub joined: Option<Instant>,
}

impl ConferenceParty {
    /// The party's agent id, when it is an agent.
    pub fn agent(&self) -> Option<&str> {
        self.leg.agent()
    }
}

/// Why a party cannot be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConferenceError {
    #[error("the conference has {CONFERENCE_PARTIES_MAX} parties already")]
    Full,
    #[error("the call has added {CONFERENCE_JOINS_PER_CALL_MAX} parties in its life")]
    TooManyJoins,
}

/// The parties of a call's conference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conference {
    pub caller: PartyVoice,
    pub agent: PartyVoice,
    /// Added parties, ringing or joined, oldest first.
    pub parties: Vec<ConferenceParty>,
    /// Parties added so far: the next one's relay leg number.
    joins: u8,
    /// Made by the agent's phone through the conference factory: the
    /// Call-ID of the agent dialog its focus dialog replaced (RFC 4579).
    pub focus: Option<String>,
    /// The party a REFER to the focus dials out (RFC 4579 §5.5): its
    /// INVITE's outcome ends that REFER's subscription.
    pub referred: Option<u8>,
}

impl Conference {
    /// Whether one more party may ring: caller, agent and the added ones
    /// (ringing too) stay within [`CONFERENCE_PARTIES_MAX`]. Gives the
    /// new party's id and its own relay leg.
    pub fn reserve(&mut self) -> Result<(u8, MediaLeg), ConferenceError> {
        if 2 + self.parties.len() >= CONFERENCE_PARTIES_MAX {
            return Err(ConferenceError::Full);
        }
        if usize::from(self.joins) >= CONFERENCE_JOINS_PER_CALL_MAX {
            return Err(ConferenceError::TooManyJoins);
        }
        let join = self.joins;
        self.joins += 1;
        Ok((join + 2, MediaLeg::Party(join)))
    }

    pub fn party(&self, id: u8) -> Option<&ConferenceParty> {
        self.parties.iter().find(|p| p.id == id)
    }

    pub fn party_mut(&mut self, id: u8) -> Option<&mut ConferenceParty> {
        self.parties.iter_mut().find(|p| p.id == id)
    }

    /// The party whose dialog has this Call-ID.
    pub fn by_dialog(&self, call_id: &str) -> Option<&ConferenceParty> {
        self.parties.iter().find(|p| p.leg.leg.call_id == call_id)
    }

    /// Takes the party out (it left, failed, or is dropped).
    pub fn remove(&mut self, id: u8) -> Option<ConferenceParty> {
        let i = self.parties.iter().position(|p| p.id == id)?;
        Some(self.parties.remove(i))
    }

    /// The voice of any party by id (caller and agent included).
    pub fn voice_mut(&mut self, id: u8) -> Option<&mut PartyVoice> {
        match id {
            CALLER_PARTY => Some(&mut self.caller),
            AGENT_PARTY => Some(&mut self.agent),
            _ => self.party_mut(id).map(|p| &mut p.voice),
        }
    }

    /// What the relay mixes: caller, agent (while the call has one on
    /// its agent leg) and every joined party, each with its voice.
    pub fn mix(&self, with_agent: bool) -> Vec<(MediaLeg, Voice)> {
        let mut mix = vec![(MediaLeg::Caller, self.caller.voice())];
        if with_agent {
            mix.push((MediaLeg::Agent, self.agent.voice()));
        }
        mix.extend(
            self.parties
                .iter()
                .filter(|p| p.joined.is_some())
                .map(|p| (p.media, p.voice.voice())),
        );
        mix
    }

    /// A joined party that is an agent, other than the call's own.
    pub fn joined_agent(&self) -> Option<&ConferenceParty> {
        self.parties
            .iter()
            .find(|p| p.joined.is_some() && p.agent().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any instant: these tests never compare times.
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn party(conf: &mut Conference, joined: bool) -> u8 {
        let (id, media) = conf.reserve().expect("room");
        let leg = Consultation {
            target: format!("p{id}"),
            leg: super::super::BLeg {
                agent: None,
                call_id: format!("c{id}"),
                local_tag: "t".into(),
                from: String::new(),
                to: String::new(),
                cseq: 1,
                forks: Vec::new(),
                winner: None,
                credentials: None,
            },
            port: 0,
            answered: joined,
            held_by_us: false,
        };
        let t = t0();
        conf.parties.push(ConferenceParty {
            id,
            media,
            leg,
            voice: PartyVoice::default(),
            joined: joined.then_some(t),
        });
        id
    }

    #[test]
    fn six_added_parties_fill_a_conference_of_eight() {
        let mut conf = Conference::default();
        let ids: Vec<u8> = (0..6).map(|_| party(&mut conf, true)).collect();
        assert_eq!(ids, vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(conf.reserve(), Err(ConferenceError::Full));
        conf.remove(4).expect("party 4");
        let (id, media) = conf.reserve().expect("room again");
        assert_eq!((id, media), (8, MediaLeg::Party(6)), "ids are not reused");
    }

    #[test]
    fn the_mix_names_joined_parties_only_and_their_voices() {
        let mut conf = Conference::default();
        let a = party(&mut conf, true);
        let _ringing = party(&mut conf, false);
        conf.voice_mut(a).unwrap().muted = true;
        conf.voice_mut(CALLER_PARTY).unwrap().gain_db10 = -60;
        let mix = conf.mix(true);
        assert_eq!(mix.len(), 3, "caller, agent, the joined party");
        assert_eq!(mix[2].0, MediaLeg::Party(0));
        assert!(mix[2].1.muted);
        assert_eq!(mix[0].1.gain, Gain::from_db(-6.0).unwrap());
        assert_eq!(conf.mix(false).len(), 2, "no agent leg");
        assert!(conf.voice_mut(9).is_none());
    }

    #[test]
    fn the_call_may_add_parties_only_so_often() {
        let mut conf = Conference::default();
        for _ in 0..CONFERENCE_JOINS_PER_CALL_MAX {
            let id = party(&mut conf, true);
            conf.remove(id);
        }
        assert_eq!(conf.reserve(), Err(ConferenceError::TooManyJoins));
    }
}
