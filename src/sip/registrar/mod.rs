//! The registrar core (RFC 3261 §10.3): bindings from an address-of-record to
//! the contacts where its phones can be reached, with their expiry, and the
//! events the ACD uses for auto-login.
//!
//! Pure: the caller parses the REGISTER (this module does not depend on the
//! SIP parser), authenticates it, canonicalises the AOR (§10.3 step 5) and
//! passes `now`. Contact URIs are compared on their text (§19.1.4, see
//! `contact.rs`). The drivers' shared lookup tables are fed from the events
//! and from `register`'s result; this core owns the truth.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::sip::limits::BINDINGS_PER_AOR_MAX;
use crate::sip::Peer;

mod contact;

use contact::{parse_q, ContactKey};

/// Addresses-of-record holding at least one binding.
pub const AORS_MAX: usize = 100_000;
/// Events waiting for `poll_event`. The driver drains after every input, so
/// reaching it means a stuck driver: the oldest event is dropped and counted.
pub const EVENTS_QUEUED_MAX: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// A shorter non-zero expiry gets 423 Interval Too Brief (§10.3 step 6).
    pub min_expires: Duration,
    /// Longer expiries are shortened to this.
    pub max_expires: Duration,
    /// Used when neither the contact nor the request gives an expiry.
    pub default_expires: Duration,
    pub contacts: ContactLimit,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            default_expires: Duration::from_secs(3600),
            contacts: ContactLimit::default(),
        }
    }
}

/// How many phones (contacts; the flows of one `+sip.instance` count as
/// one phone) an AOR may have, and what a REGISTER from one more gets:
/// the oldest phone replaced (`remove_existing`, as Asterisk's option of
/// that name) or 403. Kamailio's and Asterisk's `max_contacts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactLimit {
    pub max_default: usize,
    /// Per-AOR exceptions to `max_default`.
    pub per_aor: HashMap<String, usize>,
    pub remove_existing: bool,
}

impl Default for ContactLimit {
    /// The core alone bounds only by [`BINDINGS_PER_AOR_MAX`]; the config
    /// sets the policy.
    fn default() -> Self {
        ContactLimit {
            max_default: BINDINGS_PER_AOR_MAX,
            per_aor: HashMap::new(),
            remove_existing: false,
        }
    }
}

impl ContactLimit {
    pub fn max_for(&self, aor: &str) -> usize {
        self.per_aor.get(aor).copied().unwrap_or(self.max_default)
    }
}

/// One Contact value of a REGISTER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactRequest {
    /// The contact URI, as written (with or without angle brackets).
    pub uri: String,
    /// The contact's `expires` parameter.
    pub expires: Option<u32>,
    pub q: Option<String>,
    /// The `+sip.instance` parameter (RFC 5626 §4.1), quotes allowed.
    pub instance: Option<String>,
    /// The `reg-id` parameter (RFC 5626 §4.2): with an instance, one flow
    /// of the phone. The caller passes it only when it applies outbound
    /// (we are the phone's first hop); else it must be `None`.
    pub reg_id: Option<u32>,
}

/// What a REGISTER asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// `Contact: *`: remove every binding (needs `Expires: 0`).
    Star,
    Contacts(Vec<ContactRequest>),
    /// No Contact header: list the bindings (§10.3 step 6).
    Fetch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub uri: String,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
    pub q: Option<String>,
    pub instance: Option<String>,
    /// The flow's `reg-id` (RFC 5626): requests for this binding go over
    /// the flow it registered on, `source`, whatever its Contact says.
    pub reg_id: Option<u32>,
    /// Where the REGISTER came from: INVITEs go there, past the phone's NAT.
    pub source: Peer,
}

impl Binding {
    /// An RFC 5626 flow: the phone's own connection or address is the way
    /// to reach it (§5.3), not its Contact.
    pub fn is_flow(&self) -> bool {
        self.instance.is_some() && self.reg_id.is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// The AOR went from no binding to at least one.
    Registered { aor: String },
    /// The AOR's last binding is gone, by expiry or removal.
    Unregistered { aor: String },
    /// A REGISTER from a new phone replaced the AOR's oldest one
    /// ([`ContactLimit::remove_existing`]); `source` is the newcomer.
    Replaced { aor: String, source: Peer },
}

/// Why a REGISTER was refused; nothing of it was applied (§10.3 step 7: all
/// updates commit or none do).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RegisterError {
    #[error("expiry below the minimum of {min:?}")]
    IntervalTooBrief { min: Duration },
    #[error("Contact: * with an expiry other than zero")]
    StarWithNonZeroExpires,
    #[error("CSeq {cseq} is not above {stored} stored for the same Call-ID")]
    OutOfOrder { cseq: u32, stored: u32 },
    #[error("more than {max} bindings for one address-of-record")]
    TooManyBindings { max: usize },
    #[error("more than {max} phones (contacts) for one address-of-record")]
    TooManyContacts { max: usize },
    #[error("registrar holds {max} addresses-of-record already")]
    TooManyAors { max: usize },
    #[error("contact {index} is not a URI")]
    InvalidContact { index: usize },
    #[error("contact {index} has a q-value outside 0..1")]
    InvalidQ { index: usize },
    #[error("address-of-record is empty")]
    EmptyAor,
}

impl RegisterError {
    /// The status code the switch answers with.
    pub fn status(&self) -> u16 {
        match self {
            // The response carries Min-Expires (§10.3 step 6).
            RegisterError::IntervalTooBrief { .. } => 423,
            RegisterError::StarWithNonZeroExpires
            | RegisterError::InvalidContact { .. }
            | RegisterError::InvalidQ { .. }
            | RegisterError::EmptyAor => 400,
            // §10.3 step 7: an update that cannot be committed fails with 500.
            RegisterError::OutOfOrder { .. } => 500,
            // Policy, not load: retrying later would not help.
            RegisterError::TooManyBindings { .. } | RegisterError::TooManyContacts { .. } => 403,
            RegisterError::TooManyAors { .. } => 503,
        }
    }
}

#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    aors: HashMap<String, AorBindings>,
    /// Each AOR once, at its earliest binding expiry.
    deadlines: BTreeSet<(Instant, String)>,
    events: VecDeque<RegistrarEvent>,
    events_dropped_total: u64,
    bindings: usize,
    /// Orders bindings by last update, for "most recent first".
    updates: u64,
}

impl Registrar {
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            aors: HashMap::new(),
            deadlines: BTreeSet::new(),
            events: VecDeque::new(),
            events_dropped_total: 0,
            bindings: 0,
            updates: 0,
        }
    }

    /// Applies a REGISTER for `aor` (RFC 3261 §10.3 steps 6–8) and returns the
    /// bindings after it, in `lookup` order, for the 200 OK's Contact values.
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        now: Instant,
        aor: &str,
        call_id: &str,
        cseq: u32,
        update: Update,
        header_expires: Option<u32>,
        source: Peer,
    ) -> Result<Vec<Binding>, RegisterError> {
        if aor.is_empty() {
            return Err(RegisterError::EmptyAor);
        }
        self.expire_aor(now, aor);
        let current: &[Entry] = self.aors.get(aor).map_or(&[], |a| &a.entries);
        let entries = match update {
            Update::Fetch => return Ok(self.lookup(now, aor).into_iter().cloned().collect()),
            Update::Star => {
                if header_expires != Some(0) {
                    return Err(RegisterError::StarWithNonZeroExpires);
                }
                // §10.3 step 6: a binding from the same Call-ID goes only
                // with a higher CSeq.
                for e in current {
                    check_order(&e.binding, call_id, cseq)?;
                }
                Vec::new()
            }
            Update::Contacts(contacts) => {
                let wanted = self.validate(&contacts, header_expires)?;
                for (contact, w) in contacts.iter().zip(&wanted) {
                    let id = (contact.instance.as_deref(), contact.reg_id);
                    if let Some(e) = current.iter().find(|e| e.matches(&w.key, id)) {
                        check_order(&e.binding, call_id, cseq)?;
                    }
                }
                let mut entries = current.to_vec();
                let was_empty = current.is_empty();
                let updates_before = self.updates;
                for (contact, w) in contacts.into_iter().zip(wanted) {
                    let found = entries.iter().position(|e| {
                        e.matches(&w.key, (contact.instance.as_deref(), contact.reg_id))
                    });
                    if w.expires.is_zero() {
                        if let Some(i) = found {
                            entries.remove(i);
                        }
                        continue;
                    }
                    self.updates += 1;
                    let entry = Entry {
                        binding: Binding {
                            uri: contact.uri,
                            expires_at: now + w.expires,
                            call_id: call_id.to_owned(),
                            cseq,
                            q: contact.q,
                            instance: contact.instance,
                            reg_id: contact.reg_id,
                            source,
                        },
                        key: w.key,
                        q: w.q,
                        updated: self.updates,
                    };
                    match found {
                        Some(i) => entries[i] = entry,
                        None => entries.push(entry),
                    }
                }
                if entries.len() > BINDINGS_PER_AOR_MAX {
                    return Err(RegisterError::TooManyBindings {
                        max: BINDINGS_PER_AOR_MAX,
                    });
                }
                self.limit_contacts(aor, &mut entries, updates_before, source)?;
                if was_empty && !entries.is_empty() && self.aors.len() >= AORS_MAX {
                    return Err(RegisterError::TooManyAors { max: AORS_MAX });
                }
                entries
            }
        };
        self.commit(aor, entries);
        Ok(self.lookup(now, aor).into_iter().cloned().collect())
    }

    /// Live bindings of an AOR, highest q first (no q counts as 1), then most
    /// recently updated.
    pub fn lookup(&self, now: Instant, aor: &str) -> Vec<&Binding> {
        let Some(a) = self.aors.get(aor) else {
            return Vec::new();
        };
        let mut live: Vec<&Entry> = a
            .entries
            .iter()
            .filter(|e| e.binding.expires_at > now)
            .collect();
        live.sort_by(|x, y| y.q.cmp(&x.q).then(y.updated.cmp(&x.updated)));
        live.into_iter().map(|e| &e.binding).collect()
    }

    /// The connection of RFC 5626 flows from `source` closed: their
    /// bindings go (a failed flow is not used, §5.3; the phone registers
    /// a new one). Other bindings from that address stay. A scan of every
    /// AOR: connections close far less often than calls arrive. Returns
    /// how many bindings went.
    pub fn flow_failed(&mut self, source: Peer) -> usize {
        let on_flow = |e: &Entry| e.binding.is_flow() && e.binding.source == source;
        let hit: Vec<String> = self
            .aors
            .iter()
            .filter(|(_, a)| a.entries.iter().any(on_flow))
            .map(|(aor, _)| aor.clone())
            .collect();
        let mut removed = 0;
        for aor in hit {
            let Some(a) = self.aors.get(&aor) else {
                continue;
            };
            let kept: Vec<Entry> = a.entries.iter().filter(|e| !on_flow(e)).cloned().collect();
            removed += a.entries.len() - kept.len();
            self.commit(&aor, kept);
        }
        removed
    }

    /// New limits for the REGISTERs to come (a reload); bindings keep
    /// the expiry they were given.
    pub fn set_config(&mut self, config: RegistrarConfig) {
        self.config = config;
    }

    /// Drops every binding of `aor` (an agent removed by a reload);
    /// returns how many went.
    pub fn remove(&mut self, aor: &str) -> usize {
        let n = self.aors.get(aor).map_or(0, |a| a.entries.len());
        if n > 0 {
            self.commit(aor, Vec::new());
        }
        n
    }

    /// Drops every binding whose expiry is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((deadline, aor)) = self.deadlines.first().cloned() {
            if deadline > now {
                break;
            }
            self.expire_aor(now, &aor);
        }
    }

    /// The earliest binding expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    /// Bindings held, for metrics.
    pub fn len(&self) -> usize {
        self.bindings
    }

    pub fn is_empty(&self) -> bool {
        self.bindings == 0
    }

    /// Events dropped because the queue was full, for metrics.
    pub fn events_dropped_total(&self) -> u64 {
        self.events_dropped_total
    }

    /// Checks every contact before anything changes; returns each one's
    /// comparison key, q and clamped expiry.
    fn validate(
        &self,
        contacts: &[ContactRequest],
        header_expires: Option<u32>,
    ) -> Result<Vec<Wanted>, RegisterError> {
        contacts
            .iter()
            .enumerate()
            .map(|(index, c)| {
                let key =
                    ContactKey::parse(&c.uri).ok_or(RegisterError::InvalidContact { index })?;
                let q = match &c.q {
                    None => 1000,
                    Some(q) => parse_q(q).ok_or(RegisterError::InvalidQ { index })?,
                };
                // §10.2.1.1: the contact's parameter wins over the header.
                let expires = match c.expires.or(header_expires) {
                    Some(secs) => Duration::from_secs(u64::from(secs)),
                    None => self.config.default_expires,
                };
                if !expires.is_zero() && expires < self.config.min_expires {
                    return Err(RegisterError::IntervalTooBrief {
                        min: self.config.min_expires,
                    });
                }
                Ok(Wanted {
                    key,
                    q,
                    expires: expires.min(self.config.max_expires),
                })
            })
            .collect()
    }

    /// Holds `entries` to the AOR's phone limit: a REGISTER that brings one
    /// phone more either replaces the least recently updated other phones
    /// or is refused. Entries this REGISTER wrote (`updated` above
    /// `updates_before`) are never the ones replaced.
    fn limit_contacts(
        &mut self,
        aor: &str,
        entries: &mut Vec<Entry>,
        updates_before: u64,
        source: Peer,
    ) -> Result<(), RegisterError> {
        let max = self.config.contacts.max_for(aor);
        let mut replaced = false;
        while phones(entries) > max {
            let oldest = entries
                .iter()
                .filter(|e| e.updated <= updates_before)
                .min_by_key(|e| e.updated)
                .cloned();
            let Some(oldest) = oldest.filter(|_| self.config.contacts.remove_existing) else {
                return Err(RegisterError::TooManyContacts { max });
            };
            entries.retain(|e| !same_phone(e, &oldest));
            replaced = true;
        }
        if replaced {
            self.push_event(RegistrarEvent::Replaced {
                aor: aor.to_owned(),
                source,
            });
        }
        Ok(())
    }

    fn expire_aor(&mut self, now: Instant, aor: &str) {
        let Some(a) = self.aors.get(aor) else {
            return;
        };
        if a.earliest > now {
            return;
        }
        let live: Vec<Entry> = a
            .entries
            .iter()
            .filter(|e| e.binding.expires_at > now)
            .cloned()
            .collect();
        self.commit(aor, live);
    }

    /// Replaces the AOR's bindings, keeping the deadline index, the count and
    /// the events in step.
    fn commit(&mut self, aor: &str, entries: Vec<Entry>) {
        let before = match self.aors.remove(aor) {
            Some(old) => {
                self.deadlines.remove(&(old.earliest, aor.to_owned()));
                old.entries.len()
            }
            None => 0,
        };
        self.bindings = self.bindings - before + entries.len();
        let earliest = entries.iter().map(|e| e.binding.expires_at).min();
        match earliest {
            None if before > 0 => self.push_event(RegistrarEvent::Unregistered {
                aor: aor.to_owned(),
            }),
            None => {}
            Some(earliest) => {
                self.deadlines.insert((earliest, aor.to_owned()));
                self.aors
                    .insert(aor.to_owned(), AorBindings { entries, earliest });
                if before == 0 {
                    self.push_event(RegistrarEvent::Registered {
                        aor: aor.to_owned(),
                    });
                }
            }
        }
    }

    fn push_event(&mut self, event: RegistrarEvent) {
        if self.events.len() >= EVENTS_QUEUED_MAX {
            self.events.pop_front();
            self.events_dropped_total += 1;
        }
        self.events.push_back(event);
    }
}

#[derive(Debug)]
struct AorBindings {
    entries: Vec<Entry>,
    earliest: Instant,
}

#[derive(Clone, Debug)]
struct Entry {
    binding: Binding,
    key: ContactKey,
    /// Thousandths; no q counts as 1.
    q: u16,
    updated: u64,
}

impl Entry {
    /// The same binding: by `+sip.instance` and `reg-id` when both have
    /// an instance (RFC 5626 §6: each flow of an instance is its own
    /// binding), else by URI (RFC 3261 §19.1.4).
    fn matches(&self, key: &ContactKey, (instance, reg_id): (Option<&str>, Option<u32>)) -> bool {
        match (self.binding.instance.as_deref(), instance) {
            (Some(a), Some(b)) => {
                a.trim_matches('"')
                    .eq_ignore_ascii_case(b.trim_matches('"'))
                    && self.binding.reg_id == reg_id
            }
            _ => self.key == *key,
        }
    }
}

struct Wanted {
    key: ContactKey,
    q: u16,
    expires: Duration,
}

/// Phones among `entries`: each `+sip.instance` once, each other binding
/// on its own.
fn phones(entries: &[Entry]) -> usize {
    entries
        .iter()
        .enumerate()
        .filter(|(i, e)| !entries[..*i].iter().any(|f| same_phone(f, e)))
        .count()
}

/// Two bindings of one phone: the same instance (RFC 5626 flows), or the
/// same contact.
fn same_phone(a: &Entry, b: &Entry) -> bool {
    match (a.binding.instance.as_deref(), b.binding.instance.as_deref()) {
        (Some(x), Some(y)) => x
            .trim_matches('"')
            .eq_ignore_ascii_case(y.trim_matches('"')),
        _ => a.key == b.key,
    }
}

/// §10.3 step 7: the same Call-ID must come with a higher CSeq.
fn check_order(binding: &Binding, call_id: &str, cseq: u32) -> Result<(), RegisterError> {
    if binding.call_id == call_id && cseq <= binding.cseq {
        return Err(RegisterError::OutOfOrder {
            cseq,
            stored: binding.cseq,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
