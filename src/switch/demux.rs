//! The demultiplexer: one table from what a message carries (its Call-ID,
//! or the branch of its top Via) to the owner that must hear it, like
//! quinn-proto's `Endpoint` maps a datagram to its connection. Every SIP
//! message the switch takes after the transaction layer finds its owner
//! here, and every owner's entries leave here when it ends.
//!
//! Three name spaces share the table, so a peer's Call-ID can never be
//! taken for one of our branches:
//!
//! | key                         | owners                                                    |
//! |-----------------------------|-----------------------------------------------------------|
//! | Call-ID of a dialog         | a call's leg (caller or agent side), a feature-code dialog, a supervisor's dialog |
//! | branch of an INVITE we serve | the caller's INVITE (CANCEL, missing ACK), a feature or supervisor INVITE (missing ACK) |
//! | branch of a request we sent | a fork's INVITE, a BYE, a fork dropped but owed a CANCEL (zombie) |
//!
//! Bounds: a call holds at most two dialogs, one caller branch and its
//! forks' and BYEs' branches, and calls are capped by `CALLS_HARD_MAX`;
//! feature dialogs, supervisors and zombies are capped by their own limits
//! ([`FEATURE_DIALOGS_MAX`](super::FEATURE_DIALOGS_MAX),
//! `SUPERVISORS_MAX`, [`ZOMBIE_FORKS_MAX`](super::ZOMBIE_FORKS_MAX)),
//! checked against [`Demux::count`] before an insert.

use std::hash::{BuildHasher, RandomState};

use hashbrown::hash_table::Entry as HashEntry;
use hashbrown::HashTable;

use super::feature::FeatureLeg;
use super::legs::{Purpose, Zombie};
use crate::call::{CallRef, Side};

/// Who a message belongs to.
#[derive(Debug)]
pub enum Owner {
    /// A call's leg, by the leg's Call-ID.
    Leg { call: CallRef, side: Side },
    /// A feature-code dialog awaiting its ACK, by its Call-ID. Boxed, as
    /// is a zombie: every call's entries stay small.
    Feature(Box<FeatureLeg>),
    /// A supervisor listening in to `call`, by the Call-ID of its dialog;
    /// its leg is in the call's session.
    Supervisor {
        call: CallRef,
        invite_branch: String,
    },
    /// The caller's INVITE, by its branch: for CANCEL and a missing ACK.
    CallerInvite(CallRef),
    /// A consultation's dialog (API attended transfer), by its Call-ID;
    /// its leg is in the call's session.
    Consult { call: CallRef },
    /// A conference party's dialog, by its Call-ID; its leg is in the
    /// call's conference.
    Party { call: CallRef, party: u8 },
    /// A feature or supervisor INVITE, by its branch: the Call-ID of the
    /// dialog it opened, for a missing ACK.
    DialogInvite(String),
    /// A client transaction we started, by its branch.
    Client { call: CallRef, purpose: Purpose },
    /// A fork of a dropped agent leg owed a CANCEL once it sends a
    /// provisional (RFC 3261 §9.1), by its branch.
    Zombie(Box<Zombie>),
}

/// The kinds of owner, for [`Demux::count`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerKind {
    Leg,
    Feature,
    Supervisor,
    CallerInvite,
    DialogInvite,
    Client,
    Zombie,
    Consult,
    Party,
}

impl OwnerKind {
    const COUNT: usize = 9;

    fn index(self) -> usize {
        self as usize
    }
}

impl Owner {
    pub fn kind(&self) -> OwnerKind {
        match self {
            Owner::Leg { .. } => OwnerKind::Leg,
            Owner::Feature(_) => OwnerKind::Feature,
            Owner::Supervisor { .. } => OwnerKind::Supervisor,
            Owner::CallerInvite(_) => OwnerKind::CallerInvite,
            Owner::DialogInvite(_) => OwnerKind::DialogInvite,
            Owner::Client { .. } => OwnerKind::Client,
            Owner::Zombie(_) => OwnerKind::Zombie,
            Owner::Consult { .. } => OwnerKind::Consult,
            Owner::Party { .. } => OwnerKind::Party,
        }
    }

    fn space(&self) -> Space {
        match self.kind() {
            OwnerKind::Leg
            | OwnerKind::Feature
            | OwnerKind::Supervisor
            | OwnerKind::Consult
            | OwnerKind::Party => Space::CallId,
            OwnerKind::CallerInvite | OwnerKind::DialogInvite => Space::ServerBranch,
            OwnerKind::Client | OwnerKind::Zombie => Space::ClientBranch,
        }
    }
}

/// The one table.
#[derive(Debug, Default)]
pub struct Demux {
    /// Each entry keeps its key's hash, so a table that grows or rehashes
    /// (to clear the slots of removed entries) hashes no key again.
    table: HashTable<Entry>,
    /// SipHash under a random key: peers choose Call-IDs and branches.
    hasher: RandomState,
    counts: [usize; OwnerKind::COUNT],
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    space: Space,
    id: Box<str>,
    owner: Owner,
}

impl Entry {
    fn is(&self, space: Space, id: &str) -> bool {
        self.space == space && *self.id == *id
    }
}

impl Demux {
    /// Files `owner` under `id` (a Call-ID or a branch, as its kind says);
    /// gives back the owner it displaced, if any.
    pub fn insert(&mut self, id: &str, owner: Owner) -> Option<Owner> {
        let space = owner.space();
        let hash = self.hash(space, id);
        self.counts[owner.kind().index()] += 1;
        // One probe: the entry either holds the key or is where it goes.
        let eq = |e: &Entry| e.is(space, id);
        let old = match self.table.entry(hash, eq, |e| e.hash) {
            HashEntry::Occupied(mut found) => {
                Some(std::mem::replace(&mut found.get_mut().owner, owner))
            }
            HashEntry::Vacant(place) => {
                place.insert(Entry {
                    hash,
                    space,
                    id: id.into(),
                    owner,
                });
                None
            }
        };
        if let Some(old) = &old {
            self.counts[old.kind().index()] -= 1;
        }
        old
    }

    /// The owner of a dialog, by its Call-ID.
    pub fn dialog(&self, call_id: &str) -> Option<&Owner> {
        self.get(Space::CallId, call_id)
    }

    /// The owner of an INVITE we serve, by its branch.
    pub fn server_branch(&self, branch: &str) -> Option<&Owner> {
        self.get(Space::ServerBranch, branch)
    }

    /// The owner of a request we sent, by its branch.
    pub fn client_branch(&self, branch: &str) -> Option<&Owner> {
        self.get(Space::ClientBranch, branch)
    }

    /// Ends a dialog's owner. A feature or supervisor dialog takes the
    /// entry of its INVITE's branch with it.
    pub fn remove_dialog(&mut self, call_id: &str) -> Option<Owner> {
        let owner = self.take(Space::CallId, call_id)?;
        let invite = match &owner {
            Owner::Feature(leg) => Some(leg.invite_branch()),
            Owner::Supervisor { invite_branch, .. } => Some(invite_branch.as_str()),
            _ => None,
        };
        if let Some(branch) = invite {
            self.take(Space::ServerBranch, branch);
        }
        Some(owner)
    }

    /// Forgets an INVITE we serve (the caller's, once its call ends).
    pub fn remove_server_branch(&mut self, branch: &str) -> Option<Owner> {
        self.take(Space::ServerBranch, branch)
    }

    /// Forgets a request we sent (its final response came, or it timed out).
    pub fn remove_client_branch(&mut self, branch: &str) -> Option<Owner> {
        self.take(Space::ClientBranch, branch)
    }

    /// How many owners of that kind the table holds.
    pub fn count(&self, kind: OwnerKind) -> usize {
        self.counts[kind.index()]
    }

    /// Every entry, all kinds.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    fn hash(&self, space: Space, id: &str) -> u64 {
        self.hasher.hash_one((space, id))
    }

    fn get(&self, space: Space, id: &str) -> Option<&Owner> {
        let hash = self.hash(space, id);
        let entry = self.table.find(hash, |e| e.is(space, id))?;
        Some(&entry.owner)
    }

    fn take(&mut self, space: Space, id: &str) -> Option<Owner> {
        let hash = self.hash(space, id);
        let found = self.table.find_entry(hash, |e| e.is(space, id)).ok()?;
        let (entry, _) = found.remove();
        self.counts[entry.owner.kind().index()] -= 1;
        Some(entry.owner)
    }
}

/// Which name space a key is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Space {
    CallId,
    ServerBranch,
    ClientBranch,
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::sip::{Peer, Transport};

    fn zombie() -> Zombie {
        Zombie {
            peer: Peer {
                transport: Transport::Udp,
                addr: "127.0.0.1:5060".parse().unwrap(),
            },
            cancel: Bytes::from_static(b"CANCEL"),
        }
    }

    #[test]
    fn an_entry_stays_small() {
        // Several per call: the big owners are boxed.
        assert!(std::mem::size_of::<Owner>() <= 40);
    }

    #[test]
    fn a_call_id_and_a_branch_with_the_same_text_have_their_own_owners() {
        let mut demux = Demux::default();
        let a = Owner::Leg {
            call: CallRef(1),
            side: Side::A,
        };
        assert!(demux.insert("x", a).is_none());
        assert!(demux.insert("x", Owner::CallerInvite(CallRef(2))).is_none());
        let client = Owner::Client {
            call: CallRef(3),
            purpose: Purpose::Ignore,
        };
        assert!(demux.insert("x", client).is_none());
        assert!(matches!(
            demux.dialog("x"),
            Some(Owner::Leg {
                call: CallRef(1),
                side: Side::A
            })
        ));
        assert!(matches!(
            demux.server_branch("x"),
            Some(Owner::CallerInvite(CallRef(2)))
        ));
        assert!(matches!(
            demux.client_branch("x"),
            Some(Owner::Client {
                call: CallRef(3),
                ..
            })
        ));
        assert_eq!(demux.len(), 3);
    }

    #[test]
    fn counts_follow_inserts_displacements_and_removals() {
        let mut demux = Demux::default();
        demux.insert("b1", Owner::Zombie(Box::new(zombie())));
        demux.insert("b2", Owner::Zombie(Box::new(zombie())));
        assert_eq!(demux.count(OwnerKind::Zombie), 2);
        // The fork's branch changes hands: from its INVITE to its zombie.
        let fork = Owner::Client {
            call: CallRef(1),
            purpose: Purpose::Invite { fork: 0 },
        };
        demux.insert("b3", fork);
        let old = demux.insert("b3", Owner::Zombie(Box::new(zombie())));
        assert!(matches!(old, Some(Owner::Client { .. })));
        assert_eq!(demux.count(OwnerKind::Client), 0);
        assert_eq!(demux.count(OwnerKind::Zombie), 3);
        assert!(demux.remove_client_branch("b1").is_some());
        assert!(demux.remove_client_branch("b1").is_none());
        assert!(
            demux.remove_dialog("b2").is_none(),
            "a branch is no Call-ID"
        );
        assert_eq!(demux.count(OwnerKind::Zombie), 2);
        assert_eq!(demux.len(), 2);
    }

    #[test]
    fn a_feature_dialog_leaves_with_its_invite_branch() {
        let mut demux = Demux::default();
        let leg = FeatureLeg::opened_by("z9hG4bKf");
        demux.insert("feature-call", Owner::Feature(Box::new(leg)));
        demux.insert("z9hG4bKf", Owner::DialogInvite("feature-call".into()));
        assert_eq!(demux.count(OwnerKind::Feature), 1);
        assert!(matches!(
            demux.server_branch("z9hG4bKf"),
            Some(Owner::DialogInvite(id)) if id == "feature-call"
        ));
        assert!(matches!(
            demux.remove_dialog("feature-call"),
            Some(Owner::Feature(_))
        ));
        assert_eq!(demux.len(), 0, "its INVITE's branch went with it");
        assert_eq!(demux.count(OwnerKind::DialogInvite), 0);
    }

    #[test]
    fn removing_a_call_leg_leaves_the_other_legs() {
        let mut demux = Demux::default();
        for (id, side) in [("a-leg", Side::A), ("b-leg", Side::B)] {
            demux.insert(
                id,
                Owner::Leg {
                    call: CallRef(7),
                    side,
                },
            );
        }
        demux.insert("z9hG4bKa", Owner::CallerInvite(CallRef(7)));
        assert!(matches!(
            demux.remove_dialog("b-leg"),
            Some(Owner::Leg { side: Side::B, .. })
        ));
        assert!(demux.dialog("a-leg").is_some());
        assert!(demux.remove_server_branch("z9hG4bKa").is_some());
        assert!(demux.remove_dialog("a-leg").is_some());
        assert_eq!(demux.len(), 0);
        assert_eq!(demux.count(OwnerKind::Leg), 0);
    }
}
