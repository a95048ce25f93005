//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3): encoding round-trips every string, and a
//! wire name that decodes is the one canonical encoding of its name (so one folder has exactly
//! one wire name).
#![no_main]

use congvu_wire::imap_utf7::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(name) = decode(data) {
        assert_eq!(
            encode(&name).as_bytes(),
            data,
            "non-canonical wire name accepted"
        );
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let wire = encode(s);
        assert!(wire.bytes().all(|b| (0x20..0x7f).contains(&b)));
        assert_eq!(decode(wire.as_bytes()).as_deref(), Ok(s));
    }
});
