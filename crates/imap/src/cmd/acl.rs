//! ACL (RFC 4314 §3): MYRIGHTS, GETACL, LISTRIGHTS, SETACL, DELETEACL, read by `rawargs.rs`
//! (imap-codec does not parse them).
//!
//! What it keeps true: rights belong to the whole unit mailbox (every folder of it), as the
//! store keeps one grant per mailbox and keeper; so GETACL on any folder lists the same grants
//! and SETACL on any folder changes them for all. GETACL, LISTRIGHTS, SETACL and DELETEACL need
//! the `a` right (RFC 4314 §4); a user's own personal mailbox is never shared from IMAP —
//! grants are the operator's decision (`congvu mailbox grant`), or that of a keeper holding `a`
//! on a unit mailbox.

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::names;
use crate::rawargs::Arg;
use crate::response::Out;
use crate::shared::{self, ALL_RIGHTS, Rights, Target};
use congvu_store::Account;

fn text(arg: Option<&Arg>, what: &str) -> Result<String, Done> {
    let bytes = arg
        .and_then(Arg::bytes)
        .ok_or_else(|| Done::bad(format!("missing {what}")))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| Done::bad(format!("bad {what}")))
}

async fn mailbox(
    ctx: &ImapContext,
    out: &Out,
    account: &Account,
    arg: Option<&Arg>,
) -> Result<(Target, String), Done> {
    let raw = arg
        .and_then(Arg::bytes)
        .ok_or_else(|| Done::bad("missing mailbox"))?;
    let name = names::decode_bytes(raw, out.utf8)?;
    let (target, _) = shared::folder(ctx, account, &name).await?;
    Ok((target, name))
}

fn write_name(out: &mut Out, name: &str) {
    out.string(names::to_wire(name, out.utf8).as_bytes());
}

/// Runs one ACL command; `name` is the uppercased command name.
pub async fn run(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    name: &str,
    args: &[Arg],
) -> CmdResult {
    let (target, mbox) = mailbox(ctx, out, account, args.first()).await?;
    match name {
        "MYRIGHTS" => {
            if args.len() != 1 {
                return Err(Done::bad("MYRIGHTS takes a mailbox"));
            }
            out.text("* MYRIGHTS ");
            write_name(out, &mbox);
            out.text(&format!(" {}\r\n", target.rights.as_str()));
            Ok(Done::ok("MYRIGHTS completed"))
        }
        "GETACL" => {
            target.rights.need('a', "administer")?;
            let owner = ctx
                .store
                .account_by_id(target.owner)
                .await?
                .ok_or_else(|| Done::no(Some("NONEXISTENT"), "no such mailbox"))?;
            out.text("* ACL ");
            write_name(out, &mbox);
            out.text(" ");
            out.string(owner.address.as_bytes());
            out.text(&format!(" {ALL_RIGHTS}"));
            for g in ctx.store.grants_on(target.owner).await? {
                if let Some(who) = ctx.store.account_by_id(g.grantee).await? {
                    out.text(" ");
                    out.string(who.address.as_bytes());
                    out.text(&format!(" {}", Rights::from_letters(&g.rights).as_str()));
                }
            }
            out.text("\r\n");
            Ok(Done::ok("GETACL completed"))
        }
        "LISTRIGHTS" => {
            target.rights.need('a', "administer")?;
            let who = text(args.get(1), "identifier")?;
            out.text("* LISTRIGHTS ");
            write_name(out, &mbox);
            out.text(" ");
            out.string(who.as_bytes());
            // Nothing is always granted; each right can be granted on its own.
            let each: Vec<String> = ALL_RIGHTS.chars().map(String::from).collect();
            out.text(&format!(" \"\" {}\r\n", each.join(" ")));
            Ok(Done::ok("LISTRIGHTS completed"))
        }
        "SETACL" | "DELETEACL" => {
            if target.unit.is_none() {
                return Err(Done::no(
                    Some("NOPERM"),
                    "personal mailboxes are shared only by the operator",
                ));
            }
            target.rights.need('a', "administer")?;
            let who = text(args.get(1), "identifier")?;
            let grantee = ctx
                .store
                .account_by_address(&who)
                .await?
                .ok_or_else(|| Done::no(Some("NONEXISTENT"), "no such user"))?;
            if grantee.id == target.owner {
                return Err(Done::no(Some("CANNOT"), "the owner always has every right"));
            }
            let current = ctx
                .store
                .grants_on(target.owner)
                .await?
                .into_iter()
                .find(|g| g.grantee == grantee.id)
                .map(|g| g.rights)
                .unwrap_or_default();
            let rights = if name == "DELETEACL" {
                String::new()
            } else {
                let spec = text(args.get(2), "rights")?;
                let (mode, letters) = match spec.chars().next() {
                    Some('+') => ('+', &spec[1..]),
                    Some('-') => ('-', &spec[1..]),
                    _ => ('=', spec.as_str()),
                };
                if let Some(bad) = letters.chars().find(|c| !ALL_RIGHTS.contains(*c)) {
                    return Err(Done::bad(format!("unknown right {bad}")));
                }
                match mode {
                    '+' => format!("{current}{letters}"),
                    '-' => current.chars().filter(|c| !letters.contains(*c)).collect(),
                    _ => letters.to_string(),
                }
            };
            let rights = Rights::from_letters(&rights);
            ctx.store
                .set_grant(target.owner, grantee.id, rights.as_str())
                .await?;
            Ok(Done::ok(format!("{name} completed")))
        }
        _ => Err(Done::bad("unknown ACL command")),
    }
}
