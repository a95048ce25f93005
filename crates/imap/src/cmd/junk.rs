//! Teaching the spam filter from what users do (R-POL-5): a message moved or copied into the
//! \Junk folder (RFC 6154), or flagged `$Junk`, is spam; one moved out of Junk into any folder
//! but \Trash, or flagged `$NotJunk` (the keywords of RFC 5788's registry that Thunderbird and
//! Apple Mail set), is not.
//!
//! The lesson is written before the command's tagged reply (one transaction for all messages of
//! the command), so the next delivery is classified with it. Tokens come from the message as
//! stored, through the same `parse_message` and `message_tokens` the SMTP check uses. Teaching never
//! fails the command: the move or flag change the user asked for already happened, so an error
//! is logged and the user's mail stays where they put it.

use crate::ImapContext;
use congvu_core::SpecialUse;
use congvu_pipeline::checks::spam::tokens::message_tokens;
use congvu_store::{AccountId, BayesLesson, Folder, FolderId, Uid};
use congvu_wire::mime::parse_message;

/// What a MOVE or COPY from `from` to `to` teaches: `Some(true)` spam, `Some(false)` not spam.
pub fn lesson_of_copy(from: &Folder, to: &Folder, is_move: bool) -> Option<bool> {
    let junk = |f: &Folder| f.special_use == Some(SpecialUse::Junk);
    match (junk(from), junk(to)) {
        (false, true) => Some(true),
        (true, false) if is_move && to.special_use != Some(SpecialUse::Trash) => Some(false),
        _ => None,
    }
}

/// What adding these keywords teaches (case-insensitive, RFC 9051 §2.3.2).
pub fn lesson_of_keywords<'a>(keywords: impl IntoIterator<Item = &'a String>) -> Option<bool> {
    let mut lesson = None;
    for k in keywords {
        if k.eq_ignore_ascii_case("$Junk") {
            lesson = Some(true);
        } else if k.eq_ignore_ascii_case("$NotJunk") {
            // Both at once is a contradiction; "not junk" is the safer reading.
            return Some(false);
        }
    }
    lesson
}

/// Teaches the messages `uids` of `folder` (owned by `owner`) as spam or not.
pub async fn teach(
    ctx: &ImapContext,
    owner: AccountId,
    folder: FolderId,
    uids: &[Uid],
    spam: bool,
) {
    if uids.is_empty() {
        return;
    }
    if let Err(error) = try_teach(ctx, owner, folder, uids, spam).await {
        tracing::warn!(%error, owner, folder, spam, "spam filter: lesson not recorded");
    }
}

async fn try_teach(
    ctx: &ImapContext,
    owner: AccountId,
    folder: FolderId,
    uids: &[Uid],
    spam: bool,
) -> congvu_store::Result<()> {
    let Some(account) = ctx.store.account_by_id(owner).await? else {
        return Ok(());
    };
    let Some((_, domain)) = account.address.rsplit_once('@') else {
        return Ok(());
    };
    let at = (ctx.config.now)();
    let mut lessons: Vec<BayesLesson> = Vec::with_capacity(uids.len());
    for record in ctx.store.fetch_records(folder, uids).await? {
        // The stored index keeps its search text apart, so the message is parsed again here,
        // exactly as the SMTP check parsed it (off the runtime: messages can be large).
        let blob = ctx.blobs.get(&record.blob).await?;
        let tokens = tokio::task::spawn_blocking(move || message_tokens(&parse_message(&blob)))
            .await
            .map_err(|e| congvu_store::StoreError::Unavailable(format!("tokenising: {e}")))?;
        lessons.push(BayesLesson {
            account: owner,
            domain: domain.to_string(),
            tokens,
            blob: record.blob,
            spam,
            at,
        });
    }
    let results = ctx.store.bayes_train(&lessons).await?;
    tracing::info!(
        account = %account.address,
        spam,
        messages = results.len(),
        "spam filter: taught"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(special_use: Option<SpecialUse>) -> Folder {
        Folder {
            id: 1,
            account_id: 1,
            name: "x".into(),
            special_use,
            uidvalidity: 1,
            uidnext: 1,
            highest_modseq: 0,
            subscribed: true,
        }
    }

    #[test]
    fn moves_into_and_out_of_junk() {
        let inbox = folder(Some(SpecialUse::Inbox));
        let junk = folder(Some(SpecialUse::Junk));
        let trash = folder(Some(SpecialUse::Trash));
        let plain = folder(None);
        assert_eq!(lesson_of_copy(&inbox, &junk, true), Some(true));
        assert_eq!(lesson_of_copy(&plain, &junk, false), Some(true));
        assert_eq!(lesson_of_copy(&junk, &inbox, true), Some(false));
        assert_eq!(lesson_of_copy(&junk, &plain, true), Some(false));
        // Deleting spam is not saying it is good mail; copying out keeps the spam copy.
        assert_eq!(lesson_of_copy(&junk, &trash, true), None);
        assert_eq!(lesson_of_copy(&junk, &inbox, false), None);
        assert_eq!(lesson_of_copy(&inbox, &plain, true), None);
        assert_eq!(lesson_of_copy(&junk, &junk, true), None);
    }

    #[test]
    fn junk_keywords() {
        let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(lesson_of_keywords(&k(&["$junk"])), Some(true));
        assert_eq!(lesson_of_keywords(&k(&["$NotJunk"])), Some(false));
        assert_eq!(lesson_of_keywords(&k(&["$Junk", "$NotJunk"])), Some(false));
        assert_eq!(lesson_of_keywords(&k(&["$Forwarded"])), None);
    }
}
