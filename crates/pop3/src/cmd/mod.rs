//! The command handlers, one file per group, each an `impl Session` block. Handlers write
//! status lines into the reply buffer and return what the session does next; they never touch
//! the socket (see `session.rs`).

mod auth;
mod capa;
mod delete;
mod listing;
mod quit;
mod retrieve;
