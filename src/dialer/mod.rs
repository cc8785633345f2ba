//! Outbound campaigns: whom to dial, when, and which agent takes the call.
//!
//! Pure, like the other cores: a [`Campaign`] takes one [`Event`] and the
//! time (since the Unix epoch, since calling windows are wall-clock) and
//! returns [`Action`]s; its RNG is given at construction. It owns the
//! contact states (retries per outcome, attempts, calling windows in each
//! contact's time zone, see [`tz`]), the do-not-call gate ([`dnc`]), and
//! the pacing (preview, progressive, predictive under an abandon cap over
//! rolling windows, [`pacing`]). Placing calls, playing the information
//! message, storing contacts and reading lists belong to drivers.
//! [`sim`] runs a campaign through a working day in virtual time.

pub mod blend;
pub mod campaign;
pub mod contact;
pub mod dnc;
pub mod list;
pub mod pacing;
pub mod sim;
pub mod sim_blend;
pub mod tz;

#[cfg(test)]
mod tests;

pub use campaign::{Action, Campaign, Counters, DialId, Event, Mode, Spec, Status, RING_MIN};
pub use contact::{Contact, ContactId, ContactState, Outcome, Retry, ABANDON_NO_REDIAL};
pub use dnc::{normalise, Dnc, NumberError, Numbering};
pub use tz::{Window, Zone};
