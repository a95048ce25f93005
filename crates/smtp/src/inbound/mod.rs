//! The inbound side, MX and submission: one session per TCP connection, one file per SMTP
//! phase.
//!
//! `session` runs the RFC 5321 §4.1 state machine and owns the connection; `ehlo`, `auth`,
//! `mail`, `rcpt`, `data`, `bdat` and `starttls` each handle one command; `trace` writes the
//! RFC 5321 §4.4 trace headers; `deliver` passes a finished message through the pipeline
//! into the store (or, when the pipeline says so, `quarantine` holds it for the operator);
//! `submit` does the same for submission, with `sender` (who may send as whom) and `limits`
//! (per-user sending limits).

pub(crate) mod auth;
pub(crate) mod bdat;
pub(crate) mod connection;
pub(crate) mod data;
pub(crate) mod deliver;
pub(crate) mod ehlo;
pub mod limits;
pub(crate) mod mail;
pub(crate) mod quarantine;
pub(crate) mod rcpt;
pub(crate) mod sender;
pub mod session;
pub(crate) mod sieve;
pub(crate) mod starttls;
pub mod submit;
pub(crate) mod trace;

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets; real clients send longer MAIL
/// lines with parameters, so we allow 4 KiB (CRLF included) and answer `500 5.5.2` above.
pub const MAX_COMMAND_LINE: usize = 4096;
