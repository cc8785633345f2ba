//! What ops see: metric names and their export, the HTTP surface, the call
//! detail record store.
//! Drivers live here; the cores only keep counters.

pub mod cdr;
pub mod http;
pub mod metrics;
