//! Metric names of the media relay (Prometheus naming, `switchyard_` prefix).
//! The integrator moves these into `ops::metrics`; until then the relay's
//! snapshot is published from here.

pub const RTP_PACKETS_RELAYED_TOTAL: &str = "switchyard_rtp_packets_relayed_total";
pub const RTP_BYTES_RELAYED_TOTAL: &str = "switchyard_rtp_bytes_relayed_total";
pub const RTCP_PACKETS_RELAYED_TOTAL: &str = "switchyard_rtcp_packets_relayed_total";
/// Label `reason`: `hijack`, `unexpected_source`, `malformed`, `unmapped_pt`,
/// `no_destination`, `send_failed`.
pub const RTP_PACKETS_DROPPED_TOTAL: &str = "switchyard_rtp_packets_dropped_total";
pub const RTP_PEERS_LEARNT_TOTAL: &str = "switchyard_rtp_peers_learnt_total";
pub const MEDIA_LEGS_ACTIVE: &str = "switchyard_media_legs_active";
pub const MEDIA_PORT_PAIRS_FREE: &str = "switchyard_media_port_pairs_free";
pub const MEDIA_PORTS_EXHAUSTED_TOTAL: &str = "switchyard_media_ports_exhausted_total";
pub const MEDIA_TIMEOUTS_TOTAL: &str = "switchyard_media_timeouts_total";
pub const MEDIA_EVENTS_DROPPED_TOTAL: &str = "switchyard_media_events_dropped_total";
