//! STATUS (RFC 9051 §6.3.11, RFC 8438 STATUS=SIZE, RFC 7162 HIGHESTMODSEQ).

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::names;
use crate::response::Out;
use congvu_store::{Account, FolderStatus};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::status::StatusDataItemName;

pub async fn status(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
    items: &[StatusDataItemName],
) -> CmdResult {
    let name = names::from_wire(mailbox, out.utf8)?;
    let (target, folder) = crate::shared::folder(ctx, account, &name).await?;
    target.rights.need('r', "read")?; // RFC 4314 §4: STATUS needs r
    let mut st = ctx.store.folder_status(folder.id).await?;
    if target.unit.is_some() && items.contains(&StatusDataItemName::Unseen) {
        st.unseen = crate::shared::keeper_unseen(ctx, account.id, folder.id).await?;
    }
    write_status(out, &target.client_name(&folder.name), &st, items);
    Ok(Done::ok("STATUS completed"))
}

/// One `* STATUS name (…)` line (also sent by LIST-STATUS, RFC 5819).
pub fn write_status(out: &mut Out, name: &str, st: &FolderStatus, items: &[StatusDataItemName]) {
    let mut parts = Vec::new();
    for item in items {
        parts.push(match item {
            StatusDataItemName::Messages => format!("MESSAGES {}", st.messages),
            StatusDataItemName::Recent => "RECENT 0".to_string(),
            StatusDataItemName::UidNext => format!("UIDNEXT {}", st.uidnext),
            StatusDataItemName::UidValidity => format!("UIDVALIDITY {}", st.uidvalidity),
            StatusDataItemName::Unseen => format!("UNSEEN {}", st.unseen),
            StatusDataItemName::Deleted => format!("DELETED {}", st.deleted),
            StatusDataItemName::DeletedStorage => "DELETED-STORAGE 0".to_string(),
            StatusDataItemName::Size => format!("SIZE {}", st.size),
            StatusDataItemName::HighestModSeq => {
                format!("HIGHESTMODSEQ {}", st.highest_modseq.max(1))
            }
        });
    }
    out.text("* STATUS ");
    out.string(names::to_wire(name, out.utf8).as_bytes());
    out.text(&format!(" ({})\r\n", parts.join(" ")));
}

/// A STATUS item name given as an atom (LIST-STATUS arguments are read by `rawargs.rs`).
pub fn item_from_name(name: &str) -> Option<StatusDataItemName> {
    Some(match name.to_ascii_uppercase().as_str() {
        "MESSAGES" => StatusDataItemName::Messages,
        "RECENT" => StatusDataItemName::Recent,
        "UIDNEXT" => StatusDataItemName::UidNext,
        "UIDVALIDITY" => StatusDataItemName::UidValidity,
        "UNSEEN" => StatusDataItemName::Unseen,
        "DELETED" => StatusDataItemName::Deleted,
        "SIZE" => StatusDataItemName::Size,
        "HIGHESTMODSEQ" => StatusDataItemName::HighestModSeq,
        _ => return None,
    })
}
