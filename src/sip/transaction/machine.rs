//! The four RFC 3261 machines behind one type, for the table.

use std::time::Instant;

use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::server_invite::ServerInvite;
use super::server_non_invite::ServerNonInvite;
use super::step::Step;
use super::timer::TimerConfig;

// Named after the four RFC machines, whose names share the suffix.
#[allow(clippy::enum_variant_names)]
#[derive(Debug)]
pub(super) enum Machine {
    ClientInvite(ClientInvite),
    ClientNonInvite(ClientNonInvite),
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
}

impl Machine {
    pub(super) fn is_terminated(&self) -> bool {
        match self {
            Machine::ClientInvite(m) => m.is_terminated(),
            Machine::ClientNonInvite(m) => m.is_terminated(),
            Machine::ServerInvite(m) => m.is_terminated(),
            Machine::ServerNonInvite(m) => m.is_terminated(),
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        match self {
            Machine::ClientInvite(m) => m.next_deadline(),
            Machine::ClientNonInvite(m) => m.next_deadline(),
            Machine::ServerInvite(m) => m.next_deadline(),
            Machine::ServerNonInvite(m) => m.next_deadline(),
        }
    }

    pub(super) fn fire_expired(&mut self, now: Instant, config: &TimerConfig) -> Option<Step> {
        match self {
            Machine::ClientInvite(m) => m.fire_expired(now, config),
            Machine::ClientNonInvite(m) => m.fire_expired(now, config),
            Machine::ServerInvite(m) => m.fire_expired(now, config),
            Machine::ServerNonInvite(m) => m.fire_expired(now, config),
        }
    }
}
