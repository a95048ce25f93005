//! SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3): open a folder and report its state, with the
//! CONDSTORE and QRESYNC parameters of RFC 7162 §3.1.8 and §3.2.5.
//!
//! What it keeps true: the snapshot returned is the view every later sequence number refers
//! to; EXAMINE (and nothing else) opens it read-only. A QRESYNC resynchronisation reports only
//! UIDs absent from the snapshot as VANISHED (EARLIER) and only messages in it as FETCH, so the
//! client's cache ends up equal to the snapshot.

use crate::ImapContext;
use crate::done::Done;
use crate::names;
use crate::response::Out;
use crate::selected::{PrivateSeen, Selected, flag_list};
use crate::selected::{uid_in, uid_set};
use crate::shared;
use congvu_core::Flag;
use congvu_store::Account;
use congvu_store::Uid;
use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::mailbox::Mailbox;

pub async fn select(
    ctx: &ImapContext,
    out: &mut Out,
    account: &Account,
    mailbox: &Mailbox<'_>,
    read_only: bool,
    parameters: &[SelectParameter],
) -> Result<(Selected, Done), Done> {
    let mut resync = None;
    for p in parameters {
        match p {
            SelectParameter::CondStore => out.condstore = true,
            SelectParameter::QResync {
                uid_validity,
                mod_sequence_value,
                known_uids,
                ..
            } => {
                // RFC 7162 §3.2.5: QRESYNC parameters are an error unless QRESYNC is enabled.
                if !out.qresync {
                    return Err(Done::bad("ENABLE QRESYNC first"));
                }
                resync = Some((uid_validity.get(), mod_sequence_value.get(), known_uids));
            }
        }
    }
    let name = names::from_wire(mailbox, out.utf8)?;
    let (target, folder) = shared::folder(ctx, account, &name).await?;
    target.rights.need('r', "read")?;
    // RFC 4314 §4: without any right to change the folder, it opens read-only.
    let read_only = read_only || !"swite".chars().any(|r| target.rights.has(r));
    // The store's shared view: no copy, and no query when its cache is current (read.rs).
    let view = ctx.store.folder_view(&folder).await?;
    let mut selected = Selected::new(folder, read_only, view.messages.clone());
    // The view may be newer than the folder row read just before it.
    selected.modseq = selected.modseq.max(view.modseq);
    let mut first_unseen = view.first_unseen;
    if target.unit.is_some() {
        // A keeper's \Seen is their own (RFC 4314 `s`), not the unit's.
        let uids = ctx
            .store
            .private_seen(account.id, selected.folder.id)
            .await?;
        selected.private_seen = Some(Box::new(PrivateSeen {
            reader: account.id,
            uids: uids.into_iter().collect(),
        }));
        let mut messages = std::mem::take(&mut selected.messages);
        for m in messages.iter_mut() {
            selected.overlay(m);
        }
        selected.messages = messages;
        first_unseen = selected
            .messages
            .iter()
            .position(|m| !m.flags.has(Flag::Seen));
    }
    selected.rights = target.rights;
    let folder = &selected.folder;
    let flags = Flag::ALL.map(Flag::name).join(" ");
    out.untagged(&format!("FLAGS ({flags})"));
    out.untagged(&format!("{} EXISTS", selected.exists()));
    if !out.rev2 {
        out.untagged("0 RECENT"); // RFC 9051 has no \\Recent; RFC 3501 clients expect the line
    }
    if let Some(i) = first_unseen {
        out.untagged(&format!("OK [UNSEEN {}] first unseen message", i + 1));
    }
    out.untagged(&format!(
        "OK [UIDVALIDITY {}] UIDs valid",
        folder.uidvalidity
    ));
    let uidnext = folder.uidnext.max(
        selected
            .messages
            .last()
            .map(|m| m.uid.saturating_add(1))
            .unwrap_or(1),
    );
    out.untagged(&format!("OK [UIDNEXT {uidnext}] predicted next UID"));
    if read_only {
        out.untagged("OK [PERMANENTFLAGS ()] read-only mailbox");
    } else {
        out.untagged(&format!(
            "OK [PERMANENTFLAGS ({flags} \\*)] flags permitted"
        ));
    }
    out.untagged(&format!(
        "OK [HIGHESTMODSEQ {}] highest modseq",
        selected.modseq.max(1)
    ));
    if let Some((uidvalidity, modseq, known)) = resync
        && uidvalidity == folder.uidvalidity
    {
        // RFC 7162 §3.2.5.1: a different UIDVALIDITY means the client's cache is void, and
        // nothing more is reported. Sequence match data is an optimisation we do not need:
        // the expunged UIDs are known exactly.
        let changes = ctx.store.changes_since(folder.id, modseq).await?;
        let vanished: Vec<Uid> = changes
            .expunged
            .iter()
            .copied()
            .filter(|u| selected.index_of(*u).is_none())
            .filter(|u| known.as_ref().is_none_or(|k| uid_in(k, *u)))
            .collect();
        if !vanished.is_empty() {
            out.untagged(&format!("VANISHED (EARLIER) {}", uid_set(&vanished)));
        }
        for m in changes.changed {
            // Messages only in the store (delivered since the snapshot) come with EXISTS later.
            if let Some(i) = selected.index_of(m.uid) {
                let mine = &selected.messages[i];
                out.untagged(&format!(
                    "{} FETCH (UID {} FLAGS {} MODSEQ ({}))",
                    i + 1,
                    mine.uid,
                    flag_list(&mine.flags),
                    mine.modseq.max(1)
                ));
            }
        }
    }
    let done = if read_only {
        Done::ok_code("READ-ONLY", "EXAMINE completed")
    } else {
        Done::ok_code("READ-WRITE", "SELECT completed")
    };
    Ok((selected, done))
}
