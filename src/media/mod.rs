//! Media: everything that anchors a call's audio in the switch.
//!
//! The pure pieces (no IO, no clock) sit at the top: SDP offer/answer rewriting
//! ([`sdp`]), RTP header continuity ([`rtp`]), G.711 ([`g711`]), G.722
//! ([`g722`]) and its 8 ↔ 16 kHz [`resample`]r, RFC 4733 DTMF
//! ([`dtmf`]), re-packetisation between packet times ([`packetize`]), tones
//! and a Goertzel detector ([`tone`]), the symmetric-RTP
//! latch ([`latch`]), the port pool ([`pool`]) and the supervision mixer ([`mix`]). [`relay`] is the driver: it
//! owns the UDP sockets and forwards packets between bridged legs. The call
//! engine decides what to bridge; this module only carries it out. The two
//! speak the words of [`command`]: commands in, events out, each call named
//! by the switch's own `CallRef`. The media metrics are exported by `ops`.

pub mod amd;
pub mod command;
pub mod demux;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod latch;
pub mod mix;
pub mod packetize;
pub mod pool;
pub mod prompts;
pub mod relay;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod srtp;
pub mod tone;
pub mod transcode;
pub mod watch;

/// G.711 and telephone-event clock rate (RFC 3551 §4.5.14, RFC 4733 §2.1).
pub const NARROWBAND_HZ: u32 = 8_000;
/// Samples in one 20 ms G.711 frame, the ptime every phone here defaults to.
pub const FRAME_SAMPLES_8K: u32 = 160;
