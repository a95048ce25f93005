//! MULTIAPPEND (RFC 3502): `APPEND mailbox [flags] [date] literal [flags] [date] literal …`,
//! read by `rawargs.rs` because imap-codec parses a single message only.
//!
//! What it keeps true: every message goes through the same path as a single APPEND
//! (`append::append_all`), and either all are stored or none (RFC 3502 §6.3.11); the
//! APPENDUID lists the new UIDs in the order of the messages (RFC 4315 §3).

use crate::cmd::append::{NewMessage, append_all};
use crate::done::{CmdResult, Done};
use crate::names;
use crate::rawargs::Arg;
use crate::response::Out;
use crate::selected::uid_set;
use congvu_core::Flags;
use congvu_store::Account;
use std::net::SocketAddr;

/// The stored flags of a client flag list: system flags as named, keywords as atoms;
/// `\Recent` and unknown system flags are dropped, as for APPEND.
fn flags(list: &[Arg]) -> Result<Flags, Done> {
    let mut out = Flags::default();
    for f in list {
        let Arg::Atom(name) = f else {
            return Err(Done::bad("flags must be atoms"));
        };
        if let Some(system) = name.strip_prefix('\\') {
            let known = ["Answered", "Deleted", "Draft", "Flagged", "Seen"];
            if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(system)) {
                out.add_name(&format!("\\{k}"));
            }
        } else if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
        {
            out.add_name(name);
        } else {
            return Err(Done::bad("bad keyword"));
        }
    }
    Ok(out)
}

/// RFC 9051 date-time: `"dd-Mon-yyyy hh:mm:ss +zzzz"` (day may be space-padded).
fn date_time(s: &[u8]) -> Result<i64, Done> {
    let text = std::str::from_utf8(s).map_err(|_| Done::bad("bad date-time"))?;
    chrono::DateTime::parse_from_str(text.trim_start(), "%d-%b-%Y %H:%M:%S %z")
        .map(|d| d.timestamp())
        .map_err(|_| Done::bad("bad date-time"))
}

pub async fn multiappend(
    ctx: &crate::ImapContext,
    out: &Out,
    account: &Account,
    peer: SocketAddr,
    args: &[Arg],
) -> CmdResult {
    let Some((mailbox, mut rest)) = args.split_first() else {
        return Err(Done::bad("APPEND needs a mailbox"));
    };
    let raw_name = mailbox
        .bytes()
        .ok_or_else(|| Done::bad("bad mailbox name"))?;
    let name = if raw_name.eq_ignore_ascii_case(b"INBOX") {
        "INBOX".to_string()
    } else {
        names::decode_bytes(raw_name, out.utf8)?
    };
    let mut messages = Vec::new();
    while !rest.is_empty() {
        let mut msg_flags = Flags::default();
        let mut date = None;
        if let Some((Arg::List(list), tail)) = rest.split_first() {
            msg_flags = flags(list)?;
            rest = tail;
        }
        if let Some((Arg::Str(d), tail)) = rest.split_first() {
            date = Some(date_time(d)?);
            rest = tail;
        }
        let Some((Arg::Lit(raw), tail)) = rest.split_first() else {
            return Err(Done::bad("APPEND: each message must be a literal"));
        };
        rest = tail;
        messages.push(NewMessage {
            flags: msg_flags,
            internal_date: date,
            raw,
        });
    }
    let (uidvalidity, uids) = append_all(ctx, account, peer, &name, &messages).await?;
    Ok(Done::ok_code(
        format!("APPENDUID {uidvalidity} {}", uid_set(&uids)),
        "MULTIAPPEND completed",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_dates() {
        let f = flags(&[
            Arg::Atom("\\seen".into()),
            Arg::Atom("\\Recent".into()),
            Arg::Atom("$Work".into()),
        ])
        .unwrap();
        assert_eq!(f, Flags::from_names(["\\Seen", "$Work"]));
        assert!(flags(&[Arg::Str(b"x".to_vec())]).is_err());
        assert_eq!(
            date_time(b" 1-Jan-2026 07:00:00 +0700").unwrap(),
            1_767_225_600
        );
        assert!(date_time(b"yesterday").is_err());
    }
}
