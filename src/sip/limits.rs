//! Named bounds on everything a peer can make the switch hold. Reaching one is
//! counted and answered, never a panic or an unbounded allocation.

use std::time::Duration;

/// Largest SIP message accepted, on any transport. UDP datagrams cannot exceed
/// 65 507 bytes anyway; a TCP peer sending more is cut off.
pub const MESSAGE_BYTES_MAX: usize = 65_535;
/// Header lines in one message.
pub const HEADERS_MAX: usize = 256;
/// Via values in one message: one per hop, and Max-Forwards starts at 70
/// (RFC 3261 §8.1.1.6). RFC 4475's valid longreq carries 34.
pub const VIAS_MAX: usize = 70;
/// Contact values in one message.
pub const CONTACTS_MAX: usize = 16;
/// Parameters on one URI or header value.
pub const PARAMS_MAX: usize = 32;
/// Open TCP connections.
pub const TCP_CONNECTIONS_MAX: usize = 4096;
/// A TCP connection with no complete message for this long is closed.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Live transactions, client and server together. A finished call keeps
/// three transactions for 32 s (Timers J, L, M) and one for 5 s (K), so the
/// table holds about 101 s of traffic: this bound carries ~9 000 calls/s.
/// A finished transaction keeps its last response (a few hundred bytes).
pub const TRANSACTIONS_MAX: usize = 1_000_000;
/// Bindings one AOR may hold at the registrar.
pub const BINDINGS_PER_AOR_MAX: usize = 8;
/// Calls in progress; past it new INVITEs get 503 with Retry-After.
pub const CALLS_MAX: usize = 100_000;
