//! COMPRESS (RFC 4978): turns on DEFLATE compression of the connection in both directions.
//! The deflate streams themselves are in `conn.rs`.
//!
//! What it keeps true:
//! - The tagged OK is the last thing sent uncompressed, and compression starts right after it
//!   (RFC 4978 §3), in both directions at once.
//! - A second COMPRESS is refused with `NO [COMPRESSIONACTIVE]` (RFC 4978 §3); a mechanism
//!   other than DEFLATE is a BAD naming the one we have (the decoder knows only DEFLATE).
//! - It works the same on a plain, STARTTLS or port-993 connection; with TLS the compressed
//!   octets are what TLS encrypts.

use crate::done::Done;
use crate::response::Status;
use crate::session::Session;

pub async fn compress(session: &mut Session, tag: &str) -> std::io::Result<Option<Done>> {
    if session.io.is_compressed() {
        return Ok(Some(Done::no(
            Some("COMPRESSIONACTIVE"),
            "DEFLATE compression is already active",
        )));
    }
    session
        .io
        .out
        .status(tag, Status::Ok, None, "DEFLATE active");
    session.io.flush().await?;
    session.io.start_compression();
    Ok(None)
}

/// The BAD for a COMPRESS command the decoder refused: an unknown mechanism, most likely.
pub fn refused() -> Done {
    Done::bad("unknown compression mechanism; only DEFLATE is supported")
}
