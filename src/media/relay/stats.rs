//! Relay counters: each call counts in plain integers and flushes them
//! into these shared atomics once per tick, so packets touch no shared line.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

/// Why a received packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Hijack,
    UnexpectedSource,
    Malformed,
    UnmappedPayloadType,
    NoDestination,
    SendFailed,
    /// Audio of a codec we could not handle: a frame that does not decode
    /// or that no encoder takes (an Opus packet over 60 ms, a bad frame).
    CodecUnhandled,
    /// Comfort noise (RFC 3389) towards a leg that did not negotiate it:
    /// dropped quietly (no warning), the far end plays its own silence.
    ComfortNoise,
    /// Audio older than what was already re-packetised (reordered or
    /// duplicated on the way): on a transcoded path its place is gone.
    Late,
    /// SRTP that did not authenticate (a wrong key, a forgery, plain RTP
    /// on a secured leg), and SRTP replayed or too old (RFC 3711 §3.3.2).
    SrtpAuth,
    SrtpReplay,
}

/// How many [`DropReason`]s there are.
pub const DROP_REASONS: usize = 11;

impl DropReason {
    pub const ALL: [DropReason; DROP_REASONS] = [
        Self::Hijack,
        Self::UnexpectedSource,
        Self::Malformed,
        Self::UnmappedPayloadType,
        Self::NoDestination,
        Self::SendFailed,
        Self::CodecUnhandled,
        Self::ComfortNoise,
        Self::Late,
        Self::SrtpAuth,
        Self::SrtpReplay,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Hijack => "hijack",
            Self::UnexpectedSource => "unexpected_source",
            Self::Malformed => "malformed",
            Self::UnmappedPayloadType => "unmapped_pt",
            Self::NoDestination => "no_destination",
            Self::SendFailed => "send_failed",
            Self::CodecUnhandled => "codec_unhandled",
            Self::ComfortNoise => "comfort_noise",
            Self::Late => "late",
            Self::SrtpAuth => "srtp_auth",
            Self::SrtpReplay => "srtp_replay",
        }
    }
}

/// A call's counters since its last flush.
#[derive(Debug, Default, Clone)]
pub(crate) struct LocalCounters {
    pub rtp_packets: u64,
    pub rtp_bytes: u64,
    pub rtcp_packets: u64,
    pub received: u64,
    pub dropped: [u64; DROP_REASONS],
    pub learnt: u64,
    pub timeouts: u64,
    pub events_dropped: u64,
}

impl LocalCounters {
    pub fn drop(&mut self, reason: DropReason) {
        self.dropped[reason as usize] += 1;
    }
}

#[derive(Debug, Default)]
pub(crate) struct RelayStats {
    rtp_packets: AtomicU64,
    rtp_bytes: AtomicU64,
    rtcp_packets: AtomicU64,
    dropped: [AtomicU64; DROP_REASONS],
    learnt: AtomicU64,
    timeouts: AtomicU64,
    events_dropped: AtomicU64,
    ports_exhausted: AtomicU64,
    legs_active: AtomicU64,
}

impl RelayStats {
    pub fn flush(&self, c: &mut LocalCounters) {
        add(&self.rtp_packets, c.rtp_packets);
        add(&self.rtp_bytes, c.rtp_bytes);
        add(&self.rtcp_packets, c.rtcp_packets);
        for (a, v) in self.dropped.iter().zip(c.dropped) {
            add(a, v);
        }
        add(&self.learnt, c.learnt);
        add(&self.timeouts, c.timeouts);
        add(&self.events_dropped, c.events_dropped);
        *c = LocalCounters::default();
    }

    pub fn count_ports_exhausted(&self) {
        self.ports_exhausted.fetch_add(1, Relaxed);
    }

    pub fn legs_changed(&self, added: bool) {
        if added {
            self.legs_active.fetch_add(1, Relaxed);
        } else {
            // Release: a snapshot that sees the leg gone sees the call's
            // last flush (`close` flushes before it lets go of its legs).
            self.legs_active.fetch_sub(1, Release);
        }
    }

    pub fn snapshot(&self, port_pairs_free: usize, calls_active: usize) -> RelaySnapshot {
        // Legs first: counters read after it include every closed call's.
        let legs_active = self.legs_active.load(Acquire);
        RelaySnapshot {
            rtp_packets_relayed: self.rtp_packets.load(Relaxed),
            rtp_bytes_relayed: self.rtp_bytes.load(Relaxed),
            rtcp_packets_relayed: self.rtcp_packets.load(Relaxed),
            dropped: DropReason::ALL.map(|r| (r, self.dropped[r as usize].load(Relaxed))),
            peers_learnt: self.learnt.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            events_dropped: self.events_dropped.load(Relaxed),
            ports_exhausted: self.ports_exhausted.load(Relaxed),
            legs_active,
            calls_active: calls_active as u64,
            port_pairs_free: port_pairs_free as u64,
        }
    }
}

/// The relay's counters at one moment (counters lag by at most one tick).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySnapshot {
    pub rtp_packets_relayed: u64,
    pub rtp_bytes_relayed: u64,
    pub rtcp_packets_relayed: u64,
    pub dropped: [(DropReason, u64); DROP_REASONS],
    pub peers_learnt: u64,
    pub timeouts: u64,
    pub events_dropped: u64,
    pub ports_exhausted: u64,
    pub legs_active: u64,
    pub calls_active: u64,
    pub port_pairs_free: u64,
}

impl RelaySnapshot {
    /// Packets dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].1
    }
}

fn add(a: &AtomicU64, v: u64) {
    if v != 0 {
        a.fetch_add(v, Relaxed);
    }
}
