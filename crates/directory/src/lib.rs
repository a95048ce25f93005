//! The directory (danh bạ, R-ACC-4): every mailbox that is not revoked, with its unit, the
//! unit's place in the tree, title and phone; searched by name with or without diacritics,
//! by unit and by title; exported as CSV (RFC 4180) and vCard 4.0 (RFC 6350); and served
//! read-only over LDAP (RFC 4511) so that Thunderbird and Outlook can use it as an address book.
//!
//! Implementation notes (what this crate keeps true):
//! - The directory is read from the store on each use ([`entries`]), in two queries whatever
//!   the number of mailboxes (`Store::directory_rows`, `Store::list_units`); nothing is cached,
//!   so a revoked mailbox disappears from the next search.
//! - No password material ever reaches an [`Entry`]: `DirectoryRow` has none.
//! - Text matching follows the project's search rule (R-PROTO-4): a needle with diacritics
//!   matches them exactly (after NFC and lowercasing), a needle without matches either form
//!   ([`text::Needle`]).

pub mod entry;
pub mod export;
pub mod ldap;
pub mod text;

pub use entry::{Entry, EntryKind, Query, entries, search};
