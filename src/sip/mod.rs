//! SIP: parsing and building messages, transactions, digest auth, the registrar.
//! Everything here is pure except `transport`, which owns the sockets.

pub mod auth;
pub mod build;
pub mod limits;
pub mod parse;
pub mod registrar;
pub mod transaction;
pub mod transport;

