//! LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.9) with CHILDREN (RFC 3348) and SPECIAL-USE
//! (RFC 6154) attributes.
//!
//! What it keeps true: `*` matches across the `/` delimiter and `%` does not (RFC 9051
//! §6.3.9); names are matched in UTF-8 and sent in modified UTF-7 unless UTF8=ACCEPT.

use crate::ImapContext;
use crate::done::CmdResult;
use crate::done::Done;
use crate::names;
use crate::response::Out;
use congvu_store::{Account, Folder};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};

/// Does `name` match the LIST pattern?
pub fn matches(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..])),
        Some(('%', rest)) => {
            let stop = name.iter().position(|&c| c == '/').unwrap_or(name.len());
            (0..=stop).any(|i| matches(rest, &name[i..]))
        }
        Some((p, rest)) => name.first() == Some(p) && matches(rest, &name[1..]),
    }
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // RFC 9051 §5.1: INBOX is case-insensitive, also in patterns.
    if name == "INBOX" && pattern.eq_ignore_ascii_case("inbox") {
        return true;
    }
    matches(&p, &n)
}

pub async fn list(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    reference: &Mailbox<'_>,
    pattern: &ListMailbox<'_>,
    lsub: bool,
) -> CmdResult {
    let reference = match reference {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(o) => names::decode_bytes(o.inner().as_ref(), out.utf8)?,
    };
    let pattern_raw: &[u8] = match pattern {
        ListMailbox::Token(t) => t.as_ref(),
        ListMailbox::String(s) => s.as_ref(),
    };
    let pattern = names::decode_bytes(pattern_raw, out.utf8)?;
    let keyword = if lsub { "LSUB" } else { "LIST" };
    if pattern.is_empty() && !lsub {
        // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root.
        out.untagged("LIST (\\Noselect) \"/\" \"\"");
        return Ok(Done::ok("LIST completed"));
    }
    let full = format!("{reference}{pattern}");
    let mut folders: Vec<Folder> = ctx.store.list_folders(account.id).await?;
    folders.sort_by(|a, b| (a.name != "INBOX", &a.name).cmp(&(b.name != "INBOX", &b.name)));
    for folder in &folders {
        if lsub && !folder.subscribed {
            continue;
        }
        if !pattern_matches(&full, &folder.name) {
            continue;
        }
        let prefix = format!("{}/", folder.name);
        let has_children = folders.iter().any(|f| f.name.starts_with(&prefix));
        let mut attrs = vec![if has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }];
        if let Some(attr) = folder.special_use.and_then(|s| s.attribute()) {
            attrs.push(attr);
        }
        out.text(&format!("* {keyword} ({}) \"/\" ", attrs.join(" ")));
        out.string(names::to_wire(&folder.name, out.utf8).as_bytes());
        out.text("\r\n");
    }
    Ok(Done::ok(format!("{keyword} completed")))
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;

    #[test]
    fn wildcards() {
        assert!(pattern_matches("*", "Công văn/2026"));
        assert!(pattern_matches("%", "Sent"));
        assert!(!pattern_matches("%", "Công văn/2026"));
        assert!(pattern_matches("Công văn/%", "Công văn/2026"));
        assert!(pattern_matches("C*/2026", "Công văn/2026"));
        assert!(pattern_matches("inbox", "INBOX"));
        assert!(!pattern_matches("Sent", "Sent/Old"));
        assert!(pattern_matches("Sent*", "Sent/Old"));
    }
}
