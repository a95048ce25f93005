//! Bytes to types and back, with no I/O: MIME (parse once at delivery) and the pieces of the
//! mail protocols that no crate covers. Invariant: nothing here panics on input; every entry
//! point is a candidate for a fuzz target.

pub mod imap_utf7;
pub mod mime;
pub mod sieve;
