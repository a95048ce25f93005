//! LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.9) with CHILDREN (RFC 3348), SPECIAL-USE
//! (RFC 6154), LIST-EXTENDED (RFC 5258: selection options SUBSCRIBED, SPECIAL-USE,
//! RECURSIVEMATCH, REMOTE; return options CHILDREN, SUBSCRIBED, SPECIAL-USE; several patterns)
//! and LIST-STATUS (RFC 5819: RETURN (STATUS (…))).
//!
//! What it keeps true: `*` matches across the `/` delimiter and `%` does not (RFC 9051
//! §6.3.9); names are matched in UTF-8 and sent in modified UTF-7 unless UTF8=ACCEPT; each
//! folder is listed at most once however many patterns match it; a STATUS line follows only
//! the LIST line of its folder (RFC 5819 §2).

use crate::ImapContext;
use crate::cmd::status::{item_from_name, write_status};
use crate::done::CmdResult;
use crate::done::Done;
use crate::names;
use crate::rawargs::Arg;
use crate::response::Out;
use congvu_store::{Account, Folder};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::status::StatusDataItemName;

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

/// What an (extended) LIST asks for.
#[derive(Debug, Default)]
pub struct ListOptions {
    /// LSUB: only subscribed folders, reported as LSUB.
    pub lsub: bool,
    /// Selection SUBSCRIBED (RFC 5258 §3.1).
    pub subscribed: bool,
    /// Selection SPECIAL-USE (RFC 6154 §3).
    pub special_use: bool,
    /// Selection RECURSIVEMATCH: parents of selected folders, with CHILDINFO.
    pub recursive: bool,
    /// Return SUBSCRIBED: add `\Subscribed` (also implied by selection SUBSCRIBED).
    pub return_subscribed: bool,
    /// Return STATUS (RFC 5819).
    pub status: Vec<StatusDataItemName>,
}

impl ListOptions {
    fn selected(&self, f: &Folder) -> bool {
        (!self.subscribed || f.subscribed)
            && (!self.special_use || f.special_use.and_then(|u| u.attribute()).is_some())
    }
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
    let opts = ListOptions {
        lsub,
        subscribed: lsub,
        ..ListOptions::default()
    };
    list_folders(ctx, out, account, &reference, &[pattern], &opts).await
}

/// Whether a LIST command needs the extended reader: selection options, several patterns or
/// RETURN options (RFC 5258 §3).
pub fn is_extended(args: &[Arg]) -> bool {
    matches!(args.first(), Some(Arg::List(_)))
        || matches!(args.get(1), Some(Arg::List(_)))
        || args.len() > 2
}

/// LIST-EXTENDED, from the arguments read by `rawargs.rs`.
pub async fn list_extended(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    args: &[Arg],
) -> CmdResult {
    let mut opts = ListOptions::default();
    let mut rest = args;
    if let Some((Arg::List(selection), tail)) = rest.split_first() {
        for o in selection {
            match o {
                a if a.is_atom("SUBSCRIBED") => opts.subscribed = true,
                a if a.is_atom("SPECIAL-USE") => opts.special_use = true,
                a if a.is_atom("RECURSIVEMATCH") => opts.recursive = true,
                a if a.is_atom("REMOTE") => {} // no remote mailboxes here
                _ => return Err(Done::bad("unknown LIST selection option")),
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH alone is an error.
        if opts.recursive && !(opts.subscribed || opts.special_use) {
            return Err(Done::bad("RECURSIVEMATCH needs another selection option"));
        }
        rest = tail;
    }
    let (Some(reference), Some(patterns)) = (rest.first(), rest.get(1)) else {
        return Err(Done::bad("LIST needs a reference and a pattern"));
    };
    let reference = names::decode_bytes(
        reference
            .bytes()
            .ok_or_else(|| Done::bad("bad LIST reference"))?,
        out.utf8,
    )?;
    let patterns: Vec<String> = match patterns {
        Arg::List(list) if !list.is_empty() => list
            .iter()
            .map(|p| {
                names::decode_bytes(p.bytes().ok_or_else(|| Done::bad("bad pattern"))?, out.utf8)
            })
            .collect::<Result<_, _>>()?,
        Arg::List(_) => return Err(Done::bad("empty pattern list")),
        p => vec![names::decode_bytes(
            p.bytes().ok_or_else(|| Done::bad("bad pattern"))?,
            out.utf8,
        )?],
    };
    match &rest[2..] {
        [] => {}
        [ret, Arg::List(options)] if ret.is_atom("RETURN") => {
            let mut i = 0;
            while i < options.len() {
                match &options[i] {
                    a if a.is_atom("SUBSCRIBED") => opts.return_subscribed = true,
                    // Always returned anyway (RFC 5258 §4, RFC 6154 §2).
                    a if a.is_atom("CHILDREN") || a.is_atom("SPECIAL-USE") => {}
                    a if a.is_atom("STATUS") => {
                        let Some(Arg::List(items)) = options.get(i + 1) else {
                            return Err(Done::bad("STATUS needs a list of items"));
                        };
                        for item in items {
                            let Arg::Atom(name) = item else {
                                return Err(Done::bad("bad STATUS item"));
                            };
                            opts.status.push(
                                item_from_name(name)
                                    .ok_or_else(|| Done::bad("unknown STATUS item"))?,
                            );
                        }
                        i += 1;
                    }
                    _ => return Err(Done::bad("unknown LIST return option")),
                }
                i += 1;
            }
        }
        _ => return Err(Done::bad("bad LIST arguments")),
    }
    list_folders(ctx, out, account, &reference, &patterns, &opts).await
}

/// Every folder by name, plus the hierarchy levels that exist only through their children
/// ("Công văn" of "Công văn/2026", None), listed `\\Noselect` (RFC 9051 §6.3.9) so that `%`
/// can walk down to the children. INBOX first, then by name.
fn with_implicit_parents(folders: &[Folder]) -> Vec<(String, Option<&Folder>)> {
    let mut entries: Vec<(String, Option<&Folder>)> =
        folders.iter().map(|f| (f.name.clone(), Some(f))).collect();
    for f in folders {
        let mut at = 0;
        while let Some(pos) = f.name[at..].find('/') {
            let parent = &f.name[..at + pos];
            if !entries.iter().any(|(n, _)| n == parent) {
                entries.push((parent.to_string(), None));
            }
            at += pos + 1;
        }
    }
    entries.sort_by(|a, b| (a.0 != "INBOX", &a.0).cmp(&(b.0 != "INBOX", &b.0)));
    entries
}

pub async fn list_folders(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    reference: &str,
    patterns: &[String],
    opts: &ListOptions,
) -> CmdResult {
    let keyword = if opts.lsub { "LSUB" } else { "LIST" };
    if patterns.len() == 1 && patterns[0].is_empty() && !opts.lsub {
        // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root.
        out.untagged("LIST (\\Noselect) \"/\" \"\"");
        return Ok(Done::ok("LIST completed"));
    }
    let full: Vec<String> = patterns.iter().map(|p| format!("{reference}{p}")).collect();
    let mut folders: Vec<Folder> = ctx.store.list_folders(account.id).await?;
    // Unit mailboxes granted to the user, under "Shared/<unit>/" (`shared.rs`); STATUS is
    // only given for those the user may read.
    let shared = crate::shared::shared_folders(ctx, account).await?;
    let unreadable: Vec<String> = shared
        .iter()
        .filter(|(_, r)| !r.has('r'))
        .map(|(f, _)| f.name.clone())
        .collect();
    folders.extend(shared.into_iter().map(|(f, _)| f));
    let entries = with_implicit_parents(&folders);
    for (name, folder) in &entries {
        if !full.iter().any(|p| pattern_matches(p, name)) {
            continue;
        }
        let prefix = format!("{name}/");
        let mut child_info = false;
        if folder.is_none_or(|f| !opts.selected(f)) {
            // RFC 5258 §3.5: with RECURSIVEMATCH a parent of a selected folder is listed,
            // marked by CHILDINFO, even though it does not meet the criteria itself.
            child_info = opts.recursive
                && folders
                    .iter()
                    .any(|f| f.name.starts_with(&prefix) && opts.selected(f));
            let plain_listing = !(opts.subscribed || opts.special_use);
            if !(child_info || folder.is_none() && plain_listing) {
                continue;
            }
        }
        let has_children = folders.iter().any(|f| f.name.starts_with(&prefix));
        let mut attrs = vec![if has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }];
        match folder {
            None => attrs.insert(0, "\\Noselect"),
            Some(folder) => {
                if let Some(attr) = folder.special_use.and_then(|s| s.attribute()) {
                    attrs.push(attr);
                }
                if !opts.lsub && folder.subscribed && (opts.subscribed || opts.return_subscribed) {
                    attrs.push("\\Subscribed");
                }
            }
        }
        out.text(&format!("* {keyword} ({}) \"/\" ", attrs.join(" ")));
        out.string(names::to_wire(name, out.utf8).as_bytes());
        if child_info {
            let why = if opts.subscribed {
                "SUBSCRIBED"
            } else {
                "SPECIAL-USE"
            };
            out.text(&format!(" (\"CHILDINFO\" (\"{why}\"))"));
        }
        out.text("\r\n");
        if let Some(folder) = folder
            && !opts.status.is_empty()
            && !unreadable.contains(&folder.name)
        {
            let mut st = ctx.store.folder_status(folder.id).await?;
            if folder.account_id != account.id && opts.status.contains(&StatusDataItemName::Unseen)
            {
                st.unseen = crate::shared::keeper_unseen(ctx, account.id, folder.id).await?;
            }
            write_status(out, &folder.name, &st, &opts.status);
        }
    }
    Ok(Done::ok(format!("{keyword} completed")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_parents() {
        let folder = |name: &str| Folder {
            id: 1,
            account_id: 1,
            name: name.into(),
            special_use: None,
            uidvalidity: 1,
            uidnext: 1,
            highest_modseq: 1,
            subscribed: true,
        };
        let folders = [folder("Sở/Phòng/2026"), folder("INBOX"), folder("Sở")];
        let names: Vec<(String, bool)> = with_implicit_parents(&folders)
            .into_iter()
            .map(|(n, f)| (n, f.is_some()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("INBOX".to_string(), true),
                ("Sở".to_string(), true),
                ("Sở/Phòng".to_string(), false),
                ("Sở/Phòng/2026".to_string(), true),
            ]
        );
    }

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
