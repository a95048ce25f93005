//! One IMAP command as the server decodes it: framing, the `$`/RETURN rewrites, the raw
//! argument reader and imap-codec's decoder, then mailbox-name decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    congvu_imap::fuzzing::command(data);
});
