//! The SIP transaction layer (RFC 3261 §17, updated by RFC 6026): the four transaction
//! machines, their timers, and the table that owns every live transaction.
//!
//! It is pure: each input carries `now`, outputs are drained one at a time with
//! [`TransactionLayer::poll_output`], and [`TransactionLayer::poll_timeout`] gives the
//! next deadline. It does not parse: the caller computes the keys (§17.1.3, §17.2.3),
//! gives the raw bytes to send, and for INVITEs an [`AckTemplate`] from which the layer
//! builds the ACK for non-2xx responses. Matching CANCEL to its INVITE, ACKs for 2xx
//! and dialogs are the TU's.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use bytes::Bytes;
use hashbrown::HashTable;

use crate::sip::limits::TRANSACTIONS_MAX;
use crate::sip::Peer;

mod client_invite;
mod client_non_invite;
mod key;
mod machine;
mod remote;
mod server_invite;
mod server_non_invite;
mod step;
mod timer;

pub use key::{AckTemplate, ClientKey, ServerKey, TxMethod};
pub use remote::{client_key, server_key, Command, Seen};
pub use timer::TimerConfig;

use client_invite::ClientInvite;
use client_non_invite::ClientNonInvite;
use machine::Machine;
use server_invite::ServerInvite;
use server_non_invite::ServerNonInvite;
use step::{Action, StatusClass, Step};

/// Stale deadline entries allowed per live transaction before the heap is rebuilt.
const DEADLINES_STALE_PER_TX_MAX: usize = 4;
/// Stale deadline entries always tolerated, so that small tables never rebuild.
const DEADLINES_STALE_FLOOR: usize = 1024;
/// Below this many slots the table is never compacted: not worth a pass.
const COMPACT_FLOOR: usize = 4096;
/// The table is compacted once live transactions fill less than one
/// slot in this many (after a burst of load has expired).
const COMPACT_RATIO: usize = 8;

/// What the layer asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Transmit { peer: Peer, bytes: Bytes },
    Event(Event),
}

/// Outcomes the TU must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A client transaction got no final response in time (Timer B or F, RFC 3261
    /// §17.1.1.2, §17.1.2.2): the TU treats it as a 408.
    Timeout { key: ClientKey },
    /// A server INVITE's final response was never acknowledged (Timer H, or Timer L for
    /// a 2xx without a reported ACK): the TU ends the call (RFC 3261 §13.3.1.4).
    NoAck { key: ServerKey },
}

/// What became of an incoming request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerVerdict {
    /// A new server transaction exists; the TU must handle the request.
    New,
    /// A retransmission, absorbed; a resent response may be queued.
    Retransmission,
    /// An ACK for a non-2xx final response, absorbed (§17.2.1).
    AckAbsorbed,
    /// An ACK that no transaction takes: one for a 2xx, the TU's (§17.2.3).
    NotMatched,
}

/// What became of an incoming response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientVerdict {
    /// Pass the response to the TU.
    Deliver,
    /// A retransmission handled here.
    Absorbed,
    /// No transaction: a stray, or a 2xx retransmitted after Timer M (TU business).
    NotMatched,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Answered with 503 and Retry-After by the TU.
    #[error("transaction table full: {max} live transactions")]
    TableFull { max: usize },
    #[error("no live transaction has this key")]
    NoSuchTransaction,
    #[error("a live client transaction already has this key")]
    DuplicateKey,
    #[error("status {status} is outside 100..=699")]
    InvalidStatus { status: u16 },
    #[error("status {status} sent after the transaction's final response")]
    ResponseAfterFinal { status: u16 },
    #[error("a client INVITE needs an ACK template (RFC 3261 §17.1.1.3)")]
    AckTemplateMissing,
    #[error("an ACK template was given for a non-INVITE request")]
    AckTemplateUnexpected,
    #[error("an ACK template must end with CRLF")]
    AckTemplateUnterminated,
    #[error("timer T1 is {t1:?}, outside 1 ms..=60 s")]
    T1OutOfRange { t1: std::time::Duration },
    #[error("timer T2 is {t2:?}, below T1 {t1:?} or above 60 s")]
    T2OutOfRange {
        t1: std::time::Duration,
        t2: std::time::Duration,
    },
    #[error("timer T4 is {t4:?}, outside (0, 60 s]")]
    T4OutOfRange { t4: std::time::Duration },
}

impl TxError {
    /// The SIP status the TU answers the request with, when this is the peer's problem
    /// to hear about rather than a bug of the TU.
    pub fn status(&self) -> Option<u16> {
        match self {
            TxError::TableFull { .. } => Some(503),
            _ => None,
        }
    }
}

/// Plain counters the driver exports as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests, responses and ACKs sent again, by timers or for retransmitted input.
    pub retransmissions_total: u64,
    /// Client transactions ended by Timer B or F.
    pub timeouts_total: u64,
    /// Server INVITEs ended by Timer H or L without an ACK.
    pub no_acks_total: u64,
    /// New transactions refused because the table was full.
    pub table_full_total: u64,
}

/// Every live transaction, client and server, and their deadlines.
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    transactions_max: usize,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Slot indices by key hash. The key and its hash live in the slot
    /// alone: a table that grows or rehashes reads the stored hash, and a
    /// removal finds its slot index without hashing the key again.
    servers: HashTable<u32>,
    clients: HashTable<u32>,
    /// SipHash under a per-layer random key: peers choose branches and
    /// sent-bys, so they must not be able to aim keys at one bucket.
    hasher: RandomState,
    /// Each transaction's earliest deadline; entries that no longer match the
    /// transaction's `armed` deadline are stale and skipped (lazy deletion).
    deadlines: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    outputs: VecDeque<Output>,
    counters: Counters,
}

impl TransactionLayer {
    pub fn new(config: TimerConfig) -> Self {
        TransactionLayer::with_transactions_max(config, TRANSACTIONS_MAX)
    }

    /// A layer holding at most `transactions_max` live transactions.
    pub fn with_transactions_max(config: TimerConfig, transactions_max: usize) -> Self {
        TransactionLayer {
            config,
            transactions_max,
            slots: Vec::new(),
            free: Vec::new(),
            servers: HashTable::new(),
            clients: HashTable::new(),
            hasher: RandomState::new(),
            deadlines: BinaryHeap::new(),
            outputs: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// A request arrived from `peer`. `New`: the TU must handle it, a server transaction
    /// now exists. `Retransmission`: absorbed, a resend may be queued. For an ACK
    /// (`is_ack`, keyed as the INVITE): `AckAbsorbed` or `NotMatched` (TU business).
    pub fn server_request(
        &mut self,
        now: Instant,
        key: ServerKey,
        is_ack: bool,
        peer: Peer,
    ) -> Result<ServerVerdict, TxError> {
        let hash = self.hasher.hash_one(&key);
        if let Some(index) = self.find_server(hash, &key) {
            let config = self.config;
            let step = match &mut self.entry_mut(index).machine {
                Machine::ServerInvite(machine) => {
                    let input = if is_ack {
                        server_invite::Input::Ack
                    } else {
                        server_invite::Input::Request
                    };
                    machine.transition(now, input, &config)?
                }
                Machine::ServerNonInvite(_) if is_ack => return Ok(ServerVerdict::NotMatched),
                Machine::ServerNonInvite(machine) => {
                    machine.transition(now, server_non_invite::Input::Request, &config)?
                }
                _ => unreachable!("the server map holds only server transactions"),
            };
            let verdict = match (is_ack, step.deliver) {
                (false, _) => ServerVerdict::Retransmission,
                (true, false) => ServerVerdict::AckAbsorbed,
                (true, true) => ServerVerdict::NotMatched,
            };
            self.apply(index, step);
            self.settle(index);
            return Ok(verdict);
        }
        if is_ack {
            return Ok(ServerVerdict::NotMatched);
        }
        self.check_room()?;
        let reliable = peer.transport.is_reliable();
        let machine = match key.method {
            TxMethod::Invite => Machine::ServerInvite(ServerInvite::new(reliable)),
            TxMethod::NonInvite(_) => Machine::ServerNonInvite(ServerNonInvite::new(reliable)),
        };
        let index = self.insert(peer, TxKey::Server(key), hash, machine);
        let slots = &self.slots;
        self.servers
            .insert_unique(hash, index, |&i| hash_at(slots, i));
        Ok(ServerVerdict::New)
    }

    /// The TU sends a response on the server transaction `key`.
    pub fn server_respond(
        &mut self,
        now: Instant,
        key: &ServerKey,
        status: u16,
        bytes: Bytes,
    ) -> Result<(), TxError> {
        let index = self
            .find_server(self.hasher.hash_one(key), key)
            .ok_or(TxError::NoSuchTransaction)?;
        let config = self.config;
        let step = match &mut self.entry_mut(index).machine {
            Machine::ServerInvite(machine) => {
                let input = server_invite::Input::Respond { status, bytes };
                machine.transition(now, input, &config)?
            }
            Machine::ServerNonInvite(machine) => {
                let input = server_non_invite::Input::Respond { status, bytes };
                machine.transition(now, input, &config)?
            }
            _ => unreachable!("the server map holds only server transactions"),
        };
        self.apply(index, step);
        self.settle(index);
        Ok(())
    }

    /// The TU received the ACK for the 2xx sent on INVITE transaction `key`: stop
    /// retransmitting the 2xx. Unknown keys are ignored (the transaction may be
    /// gone); returns whether the key was known.
    pub fn server_ack_for_2xx(&mut self, now: Instant, key: &ServerKey) -> bool {
        let Some(index) = self.find_server(self.hasher.hash_one(key), key) else {
            return false;
        };
        let config = self.config;
        if let Machine::ServerInvite(machine) = &mut self.entry_mut(index).machine {
            if let Ok(step) = machine.transition(now, server_invite::Input::AckFor2xx, &config) {
                self.apply(index, step);
            }
        }
        self.settle(index);
        true
    }

    /// Starts a client transaction and queues `request` for `peer`. An INVITE needs the
    /// `ack` template; other methods must not have one.
    pub fn client_send(
        &mut self,
        now: Instant,
        key: ClientKey,
        peer: Peer,
        request: Bytes,
        ack: Option<AckTemplate>,
    ) -> Result<(), TxError> {
        self.try_client_send(now, key, peer, request, ack)
            .map_err(|(err, _)| err)
    }

    /// `client_send`, giving the key back when it fails.
    fn try_client_send(
        &mut self,
        now: Instant,
        key: ClientKey,
        peer: Peer,
        request: Bytes,
        ack: Option<AckTemplate>,
    ) -> Result<(), (TxError, ClientKey)> {
        let hash = self.hasher.hash_one(&key);
        if self.find_client(hash, &key).is_some() {
            return Err((TxError::DuplicateKey, key));
        }
        let reliable = peer.transport.is_reliable();
        let config = self.config;
        let invite = key.method == TxMethod::Invite;
        let machine = match (invite, ack) {
            (true, Some(ack)) => {
                let machine = ClientInvite::new(now, request.clone(), ack, reliable, &config);
                Machine::ClientInvite(machine)
            }
            (true, None) => return Err((TxError::AckTemplateMissing, key)),
            (false, None) => {
                let machine = ClientNonInvite::new(now, request.clone(), reliable, &config);
                Machine::ClientNonInvite(machine)
            }
            (false, Some(_)) => return Err((TxError::AckTemplateUnexpected, key)),
        };
        if let Err(err) = self.check_room() {
            return Err((err, key));
        }
        let index = self.insert(peer, TxKey::Client(key), hash, machine);
        let slots = &self.slots;
        self.clients
            .insert_unique(hash, index, |&i| hash_at(slots, i));
        self.outputs.push_back(Output::Transmit {
            peer,
            bytes: request,
        });
        self.settle(index);
        Ok(())
    }

    /// A response with `status` arrived for client transaction `key`; `to_header` is its
    /// To header value (used for the ACK of a non-2xx INVITE response).
    pub fn client_response(
        &mut self,
        now: Instant,
        key: &ClientKey,
        status: u16,
        to_header: &str,
    ) -> ClientVerdict {
        let Some(index) = self.find_client(self.hasher.hash_one(key), key) else {
            return ClientVerdict::NotMatched;
        };
        let config = self.config;
        let step = match &mut self.entry_mut(index).machine {
            Machine::ClientInvite(machine) => {
                let input = client_invite::Input::Response { status, to_header };
                machine.transition(now, input, &config)
            }
            Machine::ClientNonInvite(machine) => {
                let input = client_non_invite::Input::Response { status };
                machine.transition(now, input, &config)
            }
            _ => unreachable!("the client map holds only client transactions"),
        };
        let verdict = if step.deliver {
            ClientVerdict::Deliver
        } else {
            ClientVerdict::Absorbed
        };
        self.apply(index, step);
        self.settle(index);
        verdict
    }

    /// Fires every timer due at `now`, in deadline order per transaction, and removes
    /// the transactions that terminate.
    pub fn handle_timeout(&mut self, now: Instant) {
        let config = self.config;
        while let Some(&Reverse((at, index, generation))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if !self.is_armed(at, index, generation) {
                continue;
            }
            self.entry_mut(index).armed = None;
            loop {
                let entry = self.entry_mut(index);
                let Some(step) = entry.machine.fire_expired(now, &config) else {
                    break;
                };
                self.apply(index, step);
                if self.entry_mut(index).machine.is_terminated() {
                    break;
                }
            }
            self.settle(index);
        }
        self.drop_stale_deadlines();
        self.compact();
    }

    /// Gives back what a past burst of transactions left: the table
    /// keeps its high-water size otherwise (issue 13: memory did not come
    /// down after an overload). The live transactions move to the front of
    /// a new table sized for them; the key maps follow, and the deadline
    /// heap is rebuilt from each transaction's armed deadline.
    fn compact(&mut self) {
        let slots = self.slots.len();
        if slots < COMPACT_FLOOR || self.len() * COMPACT_RATIO >= slots {
            return;
        }
        let mut moved = vec![u32::MAX; slots];
        let mut packed = Vec::with_capacity(self.len() * 2);
        for (old, slot) in std::mem::take(&mut self.slots).into_iter().enumerate() {
            if let Some(entry) = slot.entry {
                moved[old] = u32::try_from(packed.len()).expect("fewer live than slots");
                packed.push(Slot {
                    generation: 0,
                    entry: Some(entry),
                });
            }
        }
        for index in self.servers.iter_mut().chain(self.clients.iter_mut()) {
            *index = moved[*index as usize];
        }
        self.deadlines = packed
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let at = slot.entry.as_ref()?.armed?;
                Some(Reverse((at, u32::try_from(i).ok()?, 0)))
            })
            .collect();
        self.slots = packed;
        self.free = Vec::new();
        let slots = &self.slots;
        self.servers
            .shrink_to(self.servers.len() * 2, |&i| hash_at(slots, i));
        self.clients
            .shrink_to(self.clients.len() * 2, |&i| hash_at(slots, i));
    }

    /// Slots held, live or free (the table's size in memory).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The earliest deadline of any live transaction.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next datagram to send or event for the TU. The queue holds what the last
    /// inputs produced (at most one output per fired timer or input), so draining it
    /// after each input keeps it short.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Live transactions, client and server.
    pub fn len(&self) -> usize {
        self.servers.len() + self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    fn check_room(&mut self) -> Result<(), TxError> {
        if self.len() >= self.transactions_max {
            self.counters.table_full_total += 1;
            return Err(TxError::TableFull {
                max: self.transactions_max,
            });
        }
        Ok(())
    }

    fn find_server(&self, hash: u64, key: &ServerKey) -> Option<u32> {
        find(
            &self.servers,
            &self.slots,
            hash,
            |k| matches!(k, TxKey::Server(k) if k == key),
        )
    }

    fn find_client(&self, hash: u64, key: &ClientKey) -> Option<u32> {
        find(
            &self.clients,
            &self.slots,
            hash,
            |k| matches!(k, TxKey::Client(k) if k == key),
        )
    }

    fn insert(&mut self, peer: Peer, key: TxKey, hash: u64, machine: Machine) -> u32 {
        let entry = Entry {
            peer,
            key,
            hash,
            machine,
            armed: None,
        };
        if let Some(index) = self.free.pop() {
            self.slots[index as usize].entry = Some(entry);
            return index;
        }
        // The table bound keeps slots far below u32::MAX.
        let index =
            u32::try_from(self.slots.len()).expect("slot count is bounded by transactions_max");
        self.slots.push(Slot {
            generation: 0,
            entry: Some(entry),
        });
        index
    }

    fn entry_mut(&mut self, index: u32) -> &mut Entry {
        self.slots[index as usize]
            .entry
            .as_mut()
            .expect("key maps and deadlines point at live slots")
    }

    fn is_armed(&self, at: Instant, index: u32, generation: u32) -> bool {
        let slot = &self.slots[index as usize];
        slot.generation == generation && slot.entry.as_ref().is_some_and(|e| e.armed == Some(at))
    }

    /// Turns a machine's step into outputs and counts.
    fn apply(&mut self, index: u32, step: Step) {
        let Some(action) = step.action else {
            return;
        };
        let entry = self.slots[index as usize]
            .entry
            .as_ref()
            .expect("a stepped transaction is live");
        let output = match (action, &entry.key) {
            (Action::Transmit(bytes), _) => Output::Transmit {
                peer: entry.peer,
                bytes,
            },
            (Action::Retransmit(bytes), _) => {
                self.counters.retransmissions_total += 1;
                Output::Transmit {
                    peer: entry.peer,
                    bytes,
                }
            }
            (Action::Timeout, TxKey::Client(key)) => {
                self.counters.timeouts_total += 1;
                Output::Event(Event::Timeout { key: key.clone() })
            }
            (Action::NoAck, TxKey::Server(key)) => {
                self.counters.no_acks_total += 1;
                Output::Event(Event::NoAck { key: key.clone() })
            }
            (action, key) => unreachable!("{action:?} from the wrong side ({key:?})"),
        };
        self.outputs.push_back(output);
    }

    /// Removes a terminated transaction, or queues its earliest deadline if it changed.
    fn settle(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let entry = slot.entry.as_mut().expect("a settled transaction is live");
        if entry.machine.is_terminated() {
            self.remove(index);
        } else {
            let next = entry.machine.next_deadline();
            if next != entry.armed {
                entry.armed = next;
                if let Some(at) = next {
                    self.deadlines.push(Reverse((at, index, slot.generation)));
                }
            }
        }
        self.drop_stale_deadlines();
    }

    /// Frees slot `index` and its key; its deadlines go stale.
    fn remove(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let Some(entry) = slot.entry.take() else {
            return;
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        let table = match entry.key {
            TxKey::Server(_) => &mut self.servers,
            TxKey::Client(_) => &mut self.clients,
        };
        if let Ok(found) = table.find_entry(entry.hash, |&i| i == index) {
            found.remove();
        }
    }

    /// Keeps the heap's top valid, so `poll_timeout` is exact, and rebuilds the heap
    /// when stale entries pile up.
    fn drop_stale_deadlines(&mut self) {
        while let Some(&Reverse((at, index, generation))) = self.deadlines.peek() {
            if self.is_armed(at, index, generation) {
                break;
            }
            self.deadlines.pop();
        }
        let stale_max = self.len() * DEADLINES_STALE_PER_TX_MAX + DEADLINES_STALE_FLOOR;
        if self.deadlines.len() > stale_max {
            let entries = std::mem::take(&mut self.deadlines).into_vec();
            let live: Vec<_> = entries
                .into_iter()
                .filter(|Reverse((at, index, generation))| self.is_armed(*at, *index, *generation))
                .collect();
            self.deadlines = BinaryHeap::from(live);
        }
    }
}

/// The stored hash of the transaction in slot `i` (the tables' rehash).
fn hash_at(slots: &[Slot], i: u32) -> u64 {
    slots
        .get(i as usize)
        .and_then(|slot| slot.entry.as_ref())
        .map_or(0, |entry| entry.hash)
}

/// The slot index under `hash` whose live transaction's key `is_key`.
fn find(
    table: &HashTable<u32>,
    slots: &[Slot],
    hash: u64,
    is_key: impl Fn(&TxKey) -> bool,
) -> Option<u32> {
    let live_key = |i: u32| Some(&slots.get(i as usize)?.entry.as_ref()?.key);
    table
        .find(hash, |&i| live_key(i).is_some_and(&is_key))
        .copied()
}

#[derive(Debug)]
struct Slot {
    /// Bumped when the slot is freed, so deadlines of a removed transaction go stale.
    generation: u32,
    entry: Option<Entry>,
}

#[derive(Debug)]
struct Entry {
    peer: Peer,
    key: TxKey,
    /// The key's hash, as the key tables hold it.
    hash: u64,
    machine: Machine,
    /// The deadline this transaction has in the heap.
    armed: Option<Instant>,
}

#[derive(Debug)]
enum TxKey {
    Server(ServerKey),
    Client(ClientKey),
}

/// The one base instant a test starts from; every other instant adds a `Duration`.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
fn test_start() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests;
