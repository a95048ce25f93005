//! One module per load mode; each prints `RESULT` lines.

pub mod bigfolder;
pub mod idle;
pub mod mixed;
pub mod populate;
pub mod smtp_feed;
