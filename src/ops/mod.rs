//! What ops see: metric names and their export, the HTTP surface, the live
//! wallboard, the call detail record store.
//! Drivers live here; the cores only keep counters.

pub mod api;
pub mod bans;
pub mod board;
pub mod callbacks;
pub mod cdr;
pub mod client;
pub mod contacts;
pub mod http;
pub mod logfmt;
pub mod metrics;
pub mod reload;
pub mod report;
pub mod retention;
pub mod sse;
pub mod wallboard;
