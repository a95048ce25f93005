//! Domain types and rules of congvu, with no I/O, no async and no clock.
//!
//! Everything here is a pure function of its arguments: time and randomness are parameters
//! (see `password::hash_password`, which takes the salt), so every rule is unit-testable.

pub mod address;
pub mod flags;
pub mod fold;
pub mod folder;
pub mod forwarding;
pub mod lifecycle;
pub mod metrics;
pub mod naming;
pub mod password;
pub mod request;
pub mod security;
pub mod totp;
pub mod unit;
pub mod verdict;

pub use address::{Address, AddressError};
pub use flags::{Flag, Flags};
pub use folder::SpecialUse;
pub use verdict::{Reply, Verdict};
