//! Copies the media relay's snapshot into the recorder. The metric names
//! live with every other name in [`crate::ops::metrics`].

use metrics::{counter, gauge};

use crate::media::relay::{DropReason, RelaySnapshot};
pub use crate::ops::metrics::{
    MEDIA_CALLS_ACTIVE, MEDIA_EVENTS_DROPPED_TOTAL, MEDIA_LEGS_ACTIVE, MEDIA_PORTS_EXHAUSTED_TOTAL,
    MEDIA_PORT_PAIRS_FREE, MEDIA_TIMEOUTS_TOTAL, RTCP_PACKETS_RELAYED_TOTAL,
    RTP_BYTES_RELAYED_TOTAL, RTP_PACKETS_DROPPED_TOTAL, RTP_PACKETS_RELAYED_TOTAL,
    RTP_PEERS_LEARNT_TOTAL,
};

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
