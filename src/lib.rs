//! switchyard: a SIP/RTP telephony switch with automatic call distribution.
//!
//! The switch is a few pure state machines driven by a thin async runtime.
//! Cores take input events and the current time and return actions; they do
//! no IO, read no clock and spawn nothing. Drivers own sockets and timers.
//!
//! - [`sip`]: message parser and builder, transactions (RFC 3261 §17), digest
//!   auth, registrar, our health checks and registrations with carriers
//!   (`sip::carrier`); `sip::transport` holds the UDP/TCP sockets (driver).
//! - [`call`]: the B2BUA: a call is a caller leg plus an agent leg.
//! - [`acd`]: queues and the router that picks an agent for a waiting call.
//! - [`config`]: the TOML config and dialplan, validated with file/line/field errors.
//! - [`media`]: SDP, RTP rewrite, G.711, DTMF, tones (pure) and the RTP relay (driver);
//!   `media::command` holds the words the switch and the relay speak, each
//!   call named by the switch's own `call::CallRef`.
//! - [`switch`]: the composite core that wires the cores above together.
//! - [`dialer`]: outbound campaigns, pacing and the do-not-call gate (pure).
//! - [`ops`]: metrics names and exporters (the relay's too), the HTTP surface (driver).
//! - [`run`]: starts the drivers and passes media commands and reports
//!   between the switch and the relay unchanged.

pub mod acd;
pub mod call;
pub mod config;
pub mod dial_rules;
pub mod dialer;
pub mod media;
pub mod ops;
pub mod run;
pub mod sip;
pub mod switch;
