//! Unit mailboxes shared with their keepers (issue 3 §2, RFC 4314 rights, RFC 2342 NAMESPACE).
//!
//! A keeper sees every folder of a unit mailbox granted to them (`store.grants_to`) under the
//! shared namespace `Shared/<unit address>/<folder>`, with the rights of the grant:
//! l (see it in LIST), r (SELECT, FETCH, SEARCH, COPY from), s (change \Seen), w (change
//! other flags), i (APPEND/COPY into), p (post), k (create folders), x (delete folders),
//! t (set \Deleted), e (EXPUNGE), a (administer: SETACL/DELETEACL).
//! The owner of a mailbox has every right on it.
//!
//! What it keeps true: a name that resolves to a unit mailbox not granted to the user is
//! answered exactly like a name that does not exist (NONEXISTENT), so grants cannot be probed;
//! every command checks the right it needs before touching the store.
//! \Seen is per keeper: a keeper's \Seen lives in the store's private table
//! (`private_seen`), the message's own \Seen stays the unit's; with `s` the keeper changes
//! theirs (STORE, FETCH BODY[]), without it nothing is stored (RFC 4314 §4). Changes to one's
//! own \Seen are not pushed to one's other sessions on the same folder (they carry no MODSEQ).

use crate::ImapContext;
use crate::done::Done;
use congvu_store::{Account, AccountId, Folder};

/// The prefix of the shared namespace (RFC 2342 "Other Users' Namespace" style, here for
/// unit mailboxes).
pub const PREFIX: &str = "Shared/";

/// Every right of RFC 4314 §2.1 this server knows, in canonical order.
pub const ALL_RIGHTS: &str = "lrswipkxtea";

/// A set of RFC 4314 rights letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights(String);

impl Rights {
    pub fn all() -> Rights {
        Rights(ALL_RIGHTS.to_string())
    }

    pub fn from_letters(s: &str) -> Rights {
        Rights(ALL_RIGHTS.chars().filter(|c| s.contains(*c)).collect())
    }

    pub fn has(&self, right: char) -> bool {
        self.0.contains(right)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `NO [NOPERM]` unless the right is held (RFC 4314 §4).
    pub fn need(&self, right: char, what: &str) -> Result<(), Done> {
        if self.has(right) {
            Ok(())
        } else {
            Err(Done::no(
                Some("NOPERM"),
                format!("no right to {what} in this mailbox"),
            ))
        }
    }
}

/// Where a client's mailbox name leads.
#[derive(Debug, Clone)]
pub struct Target {
    /// The account whose folder it is (the user's own, or a unit's).
    pub owner: AccountId,
    /// The folder name inside that account.
    pub folder: String,
    pub rights: Rights,
    /// The unit's address when the name is in the shared namespace.
    pub unit: Option<String>,
}

impl Target {
    /// The name the client uses for `folder` of this target.
    pub fn client_name(&self, folder: &str) -> String {
        match &self.unit {
            Some(unit) => format!("{PREFIX}{unit}/{folder}"),
            None => folder.to_string(),
        }
    }
}

fn nonexistent() -> Done {
    Done::no(Some("NONEXISTENT"), "no such mailbox")
}

/// The rights `account` holds on the unit mailbox `unit`, if any.
async fn granted(
    ctx: &ImapContext,
    account: &Account,
    unit: AccountId,
) -> Result<Option<Rights>, Done> {
    Ok(ctx
        .store
        .grants_to(account.id)
        .await?
        .into_iter()
        .find(|g| g.mailbox == unit)
        .map(|g| Rights::from_letters(&g.rights)))
}

/// Resolves a (decoded) mailbox name for `account`.
pub async fn resolve(ctx: &ImapContext, account: &Account, name: &str) -> Result<Target, Done> {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return Ok(Target {
            owner: account.id,
            folder: name.to_string(),
            rights: Rights::all(),
            unit: None,
        });
    };
    let (unit_address, folder) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(unit) = ctx.store.account_by_address(unit_address).await? else {
        return Err(nonexistent());
    };
    let Some(rights) = granted(ctx, account, unit.id).await? else {
        return Err(nonexistent());
    };
    if !(rights.has('l') || rights.has('r')) {
        return Err(nonexistent());
    }
    let folder = if folder.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        folder.to_string()
    };
    Ok(Target {
        owner: unit.id,
        folder,
        rights,
        unit: Some(unit.address),
    })
}

/// Resolves a name to an existing folder.
pub async fn folder(
    ctx: &ImapContext,
    account: &Account,
    name: &str,
) -> Result<(Target, Folder), Done> {
    let target = resolve(ctx, account, name).await?;
    match ctx
        .store
        .folder_by_name(target.owner, &target.folder)
        .await?
    {
        Some(f) => Ok((target, f)),
        None => Err(nonexistent()),
    }
}

/// The folders of every unit mailbox granted to `account` with the `l` right, renamed into
/// the shared namespace, with the rights on each. They are reported subscribed (a keeper
/// sees the unit's folders without subscribing to each) and without special-use attributes.
pub async fn shared_folders(
    ctx: &ImapContext,
    account: &Account,
) -> Result<Vec<(Folder, Rights)>, Done> {
    let mut out = Vec::new();
    for g in ctx.store.grants_to(account.id).await? {
        let rights = Rights::from_letters(&g.rights);
        if !rights.has('l') {
            continue;
        }
        let Some(unit) = ctx.store.account_by_id(g.mailbox).await? else {
            continue;
        };
        for mut f in ctx.store.list_folders(unit.id).await? {
            f.name = format!("{PREFIX}{}/{}", unit.address, f.name);
            f.subscribed = true;
            // The unit's Sent or Trash is not the keeper's: no special-use attribute, so a
            // client never files the keeper's own mail there.
            f.special_use = None;
            out.push((f, rights.clone()));
        }
    }
    Ok(out)
}

/// STATUS UNSEEN as a keeper sees it: the messages not in their own \Seen.
pub async fn keeper_unseen(
    ctx: &ImapContext,
    reader: AccountId,
    folder: congvu_store::FolderId,
) -> Result<u32, Done> {
    let seen: std::collections::HashSet<congvu_store::Uid> = ctx
        .store
        .private_seen(reader, folder)
        .await?
        .into_iter()
        .collect();
    let messages = ctx.store.list_messages(folder).await?;
    Ok(messages.iter().filter(|m| !seen.contains(&m.uid)).count() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_letters() {
        let r = Rights::from_letters("rlxs");
        assert_eq!(r.as_str(), "lrsx");
        assert!(r.has('s') && !r.has('w'));
        assert!(r.need('w', "write").is_err());
        assert_eq!(Rights::all().as_str(), ALL_RIGHTS);
    }
}
