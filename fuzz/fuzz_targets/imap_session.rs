//! The session state machine (RFC 9051 §3): the client's bytes of one connection, after a
//! login and SELECT chosen by the first byte, run by the server's own per-connection function
//! over loopback TCP against a real SqliteStore and FsBlobStore in tmpfs
//! (`congvu_imap::fuzzing::session`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    congvu_imap::fuzzing::session(data);
});
