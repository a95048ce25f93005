//! A stored message, as delivery indexes it and FETCH answers from it: MIME parsing
//! (`congvu_wire::mime::parse_message`), ENVELOPE/BODYSTRUCTURE, BODY[section] and BINARY.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    congvu_imap::fuzzing::message(data);
});
