//! What ops see: metric names and their export, the HTTP surface.
//! Drivers live here; the cores only keep counters.

pub mod http;
pub mod metrics;
