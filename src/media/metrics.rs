//! Metric names of the media relay (Prometheus naming, `switchyard_` prefix).
//! The integrator moves these into `ops::metrics`; until then the relay's
//! snapshot is published from here.

use metrics::{counter, gauge};

use crate::media::relay::{DropReason, RelaySnapshot};

pub const RTP_PACKETS_RELAYED_TOTAL: &str = "switchyard_rtp_packets_relayed_total";
pub const RTP_BYTES_RELAYED_TOTAL: &str = "switchyard_rtp_bytes_relayed_total";
pub const RTCP_PACKETS_RELAYED_TOTAL: &str = "switchyard_rtcp_packets_relayed_total";
/// Label `reason`: `hijack`, `unexpected_source`, `malformed`, `unmapped_pt`,
/// `no_destination`, `send_failed`.
pub const RTP_PACKETS_DROPPED_TOTAL: &str = "switchyard_rtp_packets_dropped_total";
pub const RTP_PEERS_LEARNT_TOTAL: &str = "switchyard_rtp_peers_learnt_total";
pub const MEDIA_LEGS_ACTIVE: &str = "switchyard_media_legs_active";
pub const MEDIA_CALLS_ACTIVE: &str = "switchyard_media_calls_active";
pub const MEDIA_PORT_PAIRS_FREE: &str = "switchyard_media_port_pairs_free";
pub const MEDIA_PORTS_EXHAUSTED_TOTAL: &str = "switchyard_media_ports_exhausted_total";
pub const MEDIA_TIMEOUTS_TOTAL: &str = "switchyard_media_timeouts_total";
pub const MEDIA_EVENTS_DROPPED_TOTAL: &str = "switchyard_media_events_dropped_total";

/// Copies the relay's snapshot into the recorder.
pub fn publish(s: &RelaySnapshot) {
    counter!(RTP_PACKETS_RELAYED_TOTAL).absolute(s.rtp_packets_relayed);
    counter!(RTP_BYTES_RELAYED_TOTAL).absolute(s.rtp_bytes_relayed);
    counter!(RTCP_PACKETS_RELAYED_TOTAL).absolute(s.rtcp_packets_relayed);
    for reason in DropReason::ALL {
        counter!(RTP_PACKETS_DROPPED_TOTAL, "reason" => reason.label()).absolute(s.dropped(reason));
    }
    counter!(RTP_PEERS_LEARNT_TOTAL).absolute(s.peers_learnt);
    counter!(MEDIA_PORTS_EXHAUSTED_TOTAL).absolute(s.ports_exhausted);
    counter!(MEDIA_TIMEOUTS_TOTAL).absolute(s.timeouts);
    counter!(MEDIA_EVENTS_DROPPED_TOTAL).absolute(s.events_dropped);
    gauge!(MEDIA_LEGS_ACTIVE).set(s.legs_active as f64);
    gauge!(MEDIA_CALLS_ACTIVE).set(s.calls_active as f64);
    gauge!(MEDIA_PORT_PAIRS_FREE).set(s.port_pairs_free as f64);
}
