//! One file per command group (STYLE.md): each takes exactly the state it needs.

pub mod acl;
pub mod append;
pub mod auth;
pub mod compress;
pub mod copy;
pub mod fetch;
pub mod idle;
pub mod info;
pub mod junk;
pub mod list;
pub mod mailbox;
pub mod multiappend;
pub mod quota;
pub mod search;
pub mod select;
pub mod sort;
pub mod status;
pub mod store;
pub mod thread;
