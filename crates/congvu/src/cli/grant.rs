//! `congvu mailbox grant | revoke-grant | grants`: who may use a (unit) mailbox, with which
//! RFC 4314 rights (issue 3 §2). A keeper granted a unit mailbox sees it over IMAP as
//! `Shared/<mailbox address>/…` with their own login (`crates/imap/src/shared.rs`), and with
//! `p` or `a` may send as it on submission (`crates/smtp/src/inbound/sender.rs`).
//!
//! What it keeps true:
//! - Rights are letters of RFC 4314 §2.1 `lrswipkxtea`; anything else is refused (exit 2)
//!   with a sentence naming the letter, before the store is touched. `+letters` adds to and
//!   `-letters` takes from the rights already held, as SETACL does (RFC 4314 §3.1).
//! - An unknown mailbox or user is refused with exit 2 naming it; so is granting a mailbox to
//!   itself.
//! - Every change is written to the audit log (`mailbox.grant`, `mailbox.revoke-grant`) with
//!   the rights before and after.

use super::ops::{Ops, Who};
use crate::config::ConfigError;
use anyhow::{Result, bail};
use congvu_store::{Account, Grant};
use serde_json::json;
use std::path::PathBuf;

/// RFC 4314 §2.1 rights in canonical order: lookup, read, seen, write, insert, post, create
/// folders (k), delete folders (x), delete messages (t), expunge (e), administer (a).
pub const RIGHTS: &str = "lrswipkxtea";

#[derive(Debug, clap::Args)]
pub struct GrantArgs {
    #[arg(long)]
    config: PathBuf,
    /// The mailbox to share: a unit (its id, its mailbox address or that address's local part)
    /// or a mailbox address.
    #[arg(long)]
    mailbox: String,
    /// The user (address or local part) who receives the rights.
    #[arg(long)]
    to: String,
    /// RFC 4314 letters, e.g. lrswipkxtea (all), lrs (read only); +letters / -letters change
    /// the rights already held.
    #[arg(long, allow_hyphen_values = true)]
    rights: String,
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    #[arg(long)]
    config: PathBuf,
    #[arg(long)]
    mailbox: String,
    #[arg(long)]
    to: String,
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    config: PathBuf,
    /// List who holds rights on this mailbox …
    #[arg(long, conflicts_with = "to", required_unless_present = "to")]
    mailbox: Option<String>,
    /// … or which mailboxes this user holds rights on.
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    json: bool,
}

/// How `--rights` changes the rights held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Set(String),
    Add(String),
    Remove(String),
}

/// Parses `--rights`: letters of [`RIGHTS`], optionally after `+` or `-`.
pub fn parse_rights(text: &str) -> Result<Change, ConfigError> {
    let t = text.trim();
    let (kind, letters): (fn(String) -> Change, &str) = match t.as_bytes().first() {
        Some(b'+') => (Change::Add, &t[1..]),
        Some(b'-') => (Change::Remove, &t[1..]),
        _ => (Change::Set, t),
    };
    if letters.is_empty() {
        return Err(ConfigError(format!(
            "--rights {text:?} names no right: give letters of {RIGHTS} (RFC 4314), e.g. lrs \
             to read or lrswipkxtea for all; use revoke-grant to take every right away"
        )));
    }
    if let Some(bad) = letters.chars().find(|c| !RIGHTS.contains(*c)) {
        return Err(ConfigError(format!(
            "--rights {text:?}: {bad:?} is not a right; rights are the RFC 4314 letters \
             {RIGHTS} (l lookup, r read, s seen, w write, i insert, p post/send as, k create \
             folders, x delete folders, t delete messages, e expunge, a administer/send as)"
        )));
    }
    Ok(kind(canonical(letters)))
}

/// The letters of `s` that are rights, once each, in canonical order.
fn canonical(s: &str) -> String {
    RIGHTS.chars().filter(|c| s.contains(*c)).collect()
}

/// The rights after applying `change` to `old`.
pub fn apply(old: &str, change: &Change) -> String {
    match change {
        Change::Set(r) => r.clone(),
        Change::Add(r) => canonical(&format!("{old}{r}")),
        Change::Remove(r) => RIGHTS
            .chars()
            .filter(|c| old.contains(*c) && !r.contains(*c))
            .collect(),
    }
}

/// The mailbox named by `--mailbox`: an address, or a unit by id / address / local part.
async fn mailbox(ops: &Ops, text: &str) -> Result<Account> {
    let t = text.trim();
    if t.contains('@')
        && let Some(a) = ops.store.account_by_address(&t.to_lowercase()).await?
    {
        return Ok(a);
    }
    if let Ok(unit) = ops.unit(t).await
        && let Some(id) = unit.account
        && let Some(a) = ops.store.account_by_id(id).await?
    {
        return Ok(a);
    }
    if !t.contains('@')
        && let Some(a) = ops
            .store
            .account_by_address(&format!("{}@{}", t.to_lowercase(), ops.domain()))
            .await?
    {
        return Ok(a);
    }
    bail!(ConfigError(format!(
        "--mailbox {t}: there is no such mailbox or unit (give a mailbox address, or a unit's \
         id or mailbox address)"
    )))
}

/// The user named by `--to`: an address or a local part in the first hosted domain.
async fn user(ops: &Ops, text: &str) -> Result<Account> {
    let t = text.trim().to_lowercase();
    let address = if t.contains('@') {
        t
    } else {
        format!("{t}@{}", ops.domain())
    };
    match ops.store.account_by_address(&address).await? {
        Some(a) => Ok(a),
        None => bail!(ConfigError(format!(
            "--to {text}: there is no mailbox {address}"
        ))),
    }
}

async fn rights_held(ops: &Ops, mailbox: &Account, user: &Account) -> Result<String> {
    Ok(ops
        .store
        .grants_on(mailbox.id)
        .await?
        .into_iter()
        .find(|g| g.grantee == user.id)
        .map(|g| g.rights)
        .unwrap_or_default())
}

async fn address_of(ops: &Ops, id: congvu_store::AccountId) -> Result<String> {
    Ok(ops
        .store
        .account_by_id(id)
        .await?
        .map(|a| a.address)
        .unwrap_or_else(|| format!("#{id}")))
}

pub async fn grant(args: GrantArgs) -> Result<()> {
    let change = parse_rights(&args.rights)?;
    let ops = Ops::open(&args.config).await?;
    let mailbox = mailbox(&ops, &args.mailbox).await?;
    let user = user(&ops, &args.to).await?;
    if mailbox.id == user.id {
        bail!(ConfigError(format!(
            "{} already holds every right on its own mailbox",
            user.address
        )));
    }
    let old = rights_held(&ops, &mailbox, &user).await?;
    let new = apply(&old, &change);
    ops.store.set_grant(mailbox.id, user.id, &new).await?;
    let detail = format!("to {} rights {:?} (before {:?})", user.address, new, old);
    ops.audit(
        &Who::cli(args.actor),
        "mailbox.grant",
        &mailbox.address,
        &detail,
    )
    .await?;
    if args.json {
        println!(
            "{}",
            json!({ "mailbox": mailbox.address, "to": user.address, "rights": new,
                "previous": old, "imap_name": format!("Shared/{}/INBOX", mailbox.address) })
        );
    } else if new.is_empty() {
        println!(
            "{} no longer holds rights on {}",
            user.address, mailbox.address
        );
    } else {
        println!(
            "{} may use {} with rights {new} (IMAP: Shared/{}/INBOX)",
            user.address, mailbox.address, mailbox.address
        );
    }
    Ok(())
}

pub async fn revoke(args: RevokeArgs) -> Result<()> {
    let ops = Ops::open(&args.config).await?;
    let mailbox = mailbox(&ops, &args.mailbox).await?;
    let user = user(&ops, &args.to).await?;
    let old = rights_held(&ops, &mailbox, &user).await?;
    if old.is_empty() {
        bail!(ConfigError(format!(
            "{} holds no rights on {}: nothing to revoke",
            user.address, mailbox.address
        )));
    }
    ops.store.set_grant(mailbox.id, user.id, "").await?;
    let detail = format!("to {} rights \"\" (before {:?})", user.address, old);
    ops.audit(
        &Who::cli(args.actor),
        "mailbox.revoke-grant",
        &mailbox.address,
        &detail,
    )
    .await?;
    if args.json {
        println!(
            "{}",
            json!({ "mailbox": mailbox.address, "to": user.address, "rights": "",
                "previous": old })
        );
    } else {
        println!(
            "{} no longer holds rights on {} (had {old})",
            user.address, mailbox.address
        );
    }
    Ok(())
}

pub async fn list(args: ListArgs) -> Result<()> {
    let ops = Ops::open(&args.config).await?;
    let grants: Vec<Grant> = match (&args.mailbox, &args.to) {
        (Some(m), _) => ops.store.grants_on(mailbox(&ops, m).await?.id).await?,
        (None, Some(u)) => ops.store.grants_to(user(&ops, u).await?.id).await?,
        (None, None) => bail!(ConfigError("give --mailbox or --to".into())),
    };
    let mut rows = Vec::with_capacity(grants.len());
    for g in grants {
        rows.push((
            address_of(&ops, g.mailbox).await?,
            address_of(&ops, g.grantee).await?,
            g.rights,
        ));
    }
    if args.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(m, u, r)| json!({ "mailbox": m, "to": u, "rights": r }))
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        for (m, u, r) in rows {
            println!("{m}\t{u}\t{r}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_are_rfc4314_letters() {
        assert_eq!(parse_rights("lrs").unwrap(), Change::Set("lrs".into()));
        assert_eq!(
            parse_rights("aetxkpiwsrl").unwrap(),
            Change::Set(RIGHTS.into())
        );
        assert_eq!(parse_rights("+pi").unwrap(), Change::Add("ip".into()));
        assert_eq!(parse_rights("-w").unwrap(), Change::Remove("w".into()));
        let e = parse_rights("lrz").unwrap_err().0;
        assert!(e.contains("'z' is not a right"), "{e}");
        // RFC 2086's obsolete c and d are not rights any more (RFC 4314 §2.1.1).
        assert!(parse_rights("lrcd").is_err());
        assert!(parse_rights("L").is_err());
        assert!(parse_rights("").is_err());
        assert!(parse_rights("+").is_err());
    }

    #[test]
    fn changes_apply_to_held_rights() {
        assert_eq!(apply("lr", &Change::Set("lrs".into())), "lrs");
        assert_eq!(apply("lr", &Change::Add("ip".into())), "lrip");
        assert_eq!(apply("lrswi", &Change::Remove("wi".into())), "lrs");
        assert_eq!(apply("", &Change::Remove("l".into())), "");
    }
}
