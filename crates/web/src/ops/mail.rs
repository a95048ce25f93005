//! Operations on mail itself rather than on mailboxes: the quarantine (release or delete a
//! held message), purge (remove a leaked message from every mailbox, R-POL-7) and the
//! operator's forwarding of a mailbox (R-POL-6). `congvu quarantine|purge|mailbox forward`
//! call these; the JSON API can call the same.
//!
//! Keeps true:
//! - Each change is audited after it happened, naming what and where; a refusal leaves no entry.
//! - A held message is claimed (removed from the quarantine) before it is delivered, so two
//!   operators releasing it at once deliver it once; if delivery then fails it is put back.
//! - Purge removes copies the way IMAP EXPUNGE does (`store_flags` \Deleted, then `expunge`
//!   of exactly those UIDs), so open IMAP sessions see EXPUNGE/VANISHED and MODSEQs advance.
//! - Forwarding outside `[policy] government_domains` is refused with the reason (R-POL-6,
//!   `core::forwarding`, the rule ManageSieve and Sieve delivery apply).

use super::{Ops, OpsError, Result, Who};
use congvu_core::flags::{Flag, FlagOp};
use congvu_core::forwarding::is_government_address;
use congvu_core::{Address, Flags, SpecialUse};
use congvu_store::{
    AccountState, BlobHash, BlobStore, Delivery, DeliveryTarget, FolderId, FolderTarget, Garbage,
    MessageKey, NewQueuedMessage, QuarantineId, Quarantined, QueueId, StoreError, Uid,
};
use congvu_wire::mime::{MessageIndex, parse_message};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// What releasing a held message did, recipient by recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub held: Quarantined,
    /// Hosted mailboxes it was delivered to (INBOX).
    pub delivered: Vec<String>,
    /// Recipients of other mail systems, queued for delivery.
    pub queued: Vec<String>,
    /// Recipients that could not get it (no such mailbox, revoked), with why.
    pub skipped: Vec<(String, String)>,
}

/// One removed copy of a purged message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedCopy {
    pub mailbox: String,
    pub folder: String,
    pub uid: Uid,
}

/// Where a purged message was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub copies: Vec<PurgedCopy>,
    pub quarantined: Vec<QuarantineId>,
    pub queued: Vec<QueueId>,
    /// The blobs that held it.
    pub blobs: Vec<BlobHash>,
    /// Message files removed from disk afterwards (those nothing else holds), and their bytes.
    pub files_removed: u64,
    pub bytes_removed: u64,
}

impl PurgeReport {
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty() && self.quarantined.is_empty() && self.queued.is_empty()
    }
}

/// A Message-ID as an operator may type it (`<id@host>` or `id@host`), as the store keeps it.
pub fn message_key_from_id(id: &str) -> Result<MessageKey> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(OpsError::Refused(format!(
            "--message-id `{id}` is not a Message-ID (e.g. <abc@example.gov.vn>)"
        )));
    }
    Ok(MessageKey::MessageId(id.to_string()))
}

/// A blob hash as `congvu` prints it: 64 hex digits.
pub fn message_key_from_hash(hash: &str) -> Result<MessageKey> {
    let hash = hash.trim().to_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpsError::Refused(format!(
            "--hash `{hash}` is not a BLAKE3 hash (64 hexadecimal digits)"
        )));
    }
    Ok(MessageKey::Blob(BlobHash(hash)))
}

fn describe_key(key: &MessageKey) -> String {
    match key {
        MessageKey::MessageId(id) => format!("message-id <{id}>"),
        MessageKey::Blob(hash) => format!("blob {hash}"),
    }
}

impl Ops {
    /// Every held message, oldest first.
    pub async fn quarantine_list(&self) -> Result<Vec<Quarantined>> {
        Ok(self.store.list_quarantine().await?)
    }

    fn quarantine_not_found(id: QuarantineId) -> impl FnOnce(StoreError) -> OpsError {
        move |e| match e {
            StoreError::NotFound(_) => OpsError::NotFound(format!(
                "no quarantined message with id {id} (see `congvu quarantine list`)"
            )),
            other => other.into(),
        }
    }

    /// Delivers a held message to its original recipients as ordinary delivery would (hosted
    /// mailboxes: INBOX; others: the outbound queue) and removes it from the quarantine.
    pub async fn quarantine_release(
        &self,
        id: QuarantineId,
        blobs: &dyn BlobStore,
        who: &Who,
    ) -> Result<Released> {
        let held = self
            .store
            .remove_quarantined(id)
            .await
            .map_err(Self::quarantine_not_found(id))?;
        let raw = match blobs.get(&held.message.blob).await {
            Ok(raw) => raw,
            Err(e) => {
                self.hold_again(&held, None).await;
                return Err(e.into());
            }
        };
        let index = parse_message(&raw);
        match self.deliver_released(&held, &index).await {
            Ok(released) => {
                let detail = format!(
                    "from {}; delivered to {}; queued for {}; skipped {}; reason: {}",
                    sender_text(&held.message.mail_from),
                    list_or_none(&released.delivered),
                    list_or_none(&released.queued),
                    list_or_none(
                        &released
                            .skipped
                            .iter()
                            .map(|(a, why)| format!("{a} ({why})"))
                            .collect::<Vec<_>>()
                    ),
                    held.message.reason
                );
                self.audit(
                    who,
                    "quarantine.release",
                    &format!("quarantine #{id}"),
                    &detail,
                )
                .await?;
                Ok(released)
            }
            Err(e) => {
                // Nothing was delivered (one store transaction): hold it again.
                self.hold_again(&held, Some(&index)).await;
                Err(e)
            }
        }
    }

    /// Puts back a message whose release failed (under a new id; a failure is logged).
    async fn hold_again(&self, held: &Quarantined, index: Option<&MessageIndex>) {
        let empty = parse_message(b"");
        let index = index.unwrap_or(&empty);
        if let Err(again) = self.store.quarantine(held.message.clone(), index).await {
            tracing::error!(%again, id = held.id, "quarantine: a failed release could not be put back");
        }
    }

    async fn deliver_released(&self, held: &Quarantined, index: &MessageIndex) -> Result<Released> {
        let m = &held.message;
        let mut released = Released {
            held: held.clone(),
            delivered: Vec::new(),
            queued: Vec::new(),
            skipped: Vec::new(),
        };
        let mut targets = Vec::new();
        let mut accounts = HashSet::new();
        let mut remote = Vec::new();
        for rcpt in &m.recipients {
            let address = rcpt.trim().to_lowercase();
            let hosted = address.rsplit_once('@').is_some_and(|(_, d)| {
                self.settings
                    .domains
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(d))
            });
            if !hosted {
                remote.push(address);
                continue;
            }
            match self.store.account_by_address(&address).await? {
                Some(a)
                    if a.state == AccountState::Active || a.state == AccountState::Suspended =>
                {
                    if accounts.insert(a.id) {
                        targets.push(DeliveryTarget {
                            account: a.id,
                            folder: FolderTarget::Special(SpecialUse::Inbox),
                            flags: Flags::default(),
                        });
                        released.delivered.push(address);
                    }
                }
                Some(a) => released
                    .skipped
                    .push((address, format!("mailbox is {}", a.state.as_str()))),
                None => released.skipped.push((address, "no such mailbox".into())),
            }
        }
        if !targets.is_empty() {
            self.store
                .deliver(Delivery {
                    blob: m.blob.clone(),
                    index: Arc::new(index.clone()),
                    internal_date: self.now(),
                    targets,
                })
                .await?;
        }
        if !remote.is_empty() {
            let queued = self
                .store
                .enqueue(NewQueuedMessage {
                    blob: m.blob.clone(),
                    mail_from: m.mail_from.clone(),
                    recipients: remote.clone(),
                    created_at: self.now(),
                    submitted_by: None,
                })
                .await;
            match queued {
                Ok(_) => released.queued = remote,
                Err(e) if released.delivered.is_empty() => return Err(e.into()),
                Err(e) => {
                    // The local copies are in; say which could not be queued rather than
                    // holding (and later delivering twice) the whole message.
                    for r in remote {
                        released.skipped.push((r, format!("not queued: {e}")));
                    }
                }
            }
        }
        Ok(released)
    }

    /// Removes a held message without delivering it, and its file when nothing else holds it.
    pub async fn quarantine_delete(
        &self,
        id: QuarantineId,
        blobs: &dyn BlobStore,
        who: &Who,
    ) -> Result<Quarantined> {
        let held = self
            .store
            .remove_quarantined(id)
            .await
            .map_err(Self::quarantine_not_found(id))?;
        let m = &held.message;
        let detail = format!(
            "from {} to {}; reason: {}",
            sender_text(&m.mail_from),
            m.recipients.join(", "),
            m.reason
        );
        self.audit(
            who,
            "quarantine.delete",
            &format!("quarantine #{id}"),
            &detail,
        )
        .await?;
        self.collect_files(blobs).await;
        Ok(held)
    }

    /// Removes a message from every mailbox that holds it, from the quarantine and from the
    /// outbound queue, and reports where it was. `NotFound` when it is nowhere.
    pub async fn purge(
        &self,
        key: &MessageKey,
        blobs: &dyn BlobStore,
        who: &Who,
    ) -> Result<PurgeReport> {
        let mut report = PurgeReport::default();
        let locations = self.store.locate_messages(key).await?;
        let mut hashes: HashSet<BlobHash> = locations.iter().map(|l| l.blob.clone()).collect();
        if let MessageKey::Blob(hash) = key {
            hashes.insert(hash.clone());
        }
        let mut by_folder: BTreeMap<FolderId, Vec<Uid>> = BTreeMap::new();
        for l in &locations {
            by_folder.entry(l.folder).or_default().push(l.uid);
        }
        let deleted = Flags::from_names([Flag::Deleted.name()]);
        for (folder, uids) in by_folder {
            // As IMAP does it: mark, then expunge exactly those UIDs.
            self.store
                .store_flags(folder, &uids, FlagOp::Add, &deleted, None)
                .await?;
            let removed = self.store.expunge(folder, Some(&uids)).await?;
            let (mailbox, name) = match self.store.folder_by_id(folder).await? {
                Some(f) => {
                    let owner = self.store.account_by_id(f.account_id).await?;
                    (owner.map(|a| a.address).unwrap_or_default(), f.name)
                }
                None => (String::new(), format!("folder {folder}")),
            };
            for uid in removed {
                report.copies.push(PurgedCopy {
                    mailbox: mailbox.clone(),
                    folder: name.clone(),
                    uid,
                });
            }
        }
        for held in self.store.list_quarantine().await? {
            let m = &held.message;
            let matches = hashes.contains(&m.blob)
                || matches!(key, MessageKey::MessageId(id) if m.message_id.as_deref() == Some(id.as_str()));
            if matches {
                match self.store.remove_quarantined(held.id).await {
                    Ok(_) => {
                        hashes.insert(m.blob.clone());
                        report.quarantined.push(held.id);
                    }
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for entry in self.store.list_queue().await? {
            let mut matches = hashes.contains(&entry.blob);
            if !matches && let MessageKey::MessageId(id) = key {
                // Redirected copies leave without Return-Path: another blob, same Message-ID.
                matches = match blobs.get(&entry.blob).await {
                    Ok(raw) => parse_message(&raw).message_id.as_deref() == Some(id.as_str()),
                    Err(_) => false,
                };
            }
            if matches {
                match self.store.delete_queued(entry.id).await {
                    Ok(()) => {
                        hashes.insert(entry.blob.clone());
                        report.queued.push(entry.id);
                    }
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let what = describe_key(key);
        if report.is_empty() {
            return Err(OpsError::NotFound(format!(
                "{what} is in no mailbox, the quarantine or the queue"
            )));
        }
        let mut blobs_found: Vec<BlobHash> = hashes.into_iter().collect();
        blobs_found.sort();
        report.blobs = blobs_found;
        // R-POL-7: a leaked document must not stay on disk either.
        if let Some(garbage) = self.collect_files(blobs).await {
            report.files_removed = garbage.messages;
            report.bytes_removed = garbage.bytes;
        }
        let places: Vec<String> = report
            .copies
            .iter()
            .map(|c| format!("{} {} uid {}", c.mailbox, c.folder, c.uid))
            .chain(
                report
                    .quarantined
                    .iter()
                    .map(|id| format!("quarantine #{id}")),
            )
            .chain(report.queued.iter().map(|id| format!("queue #{id}")))
            .collect();
        self.audit(who, "message.purge", &what, &places.join("; "))
            .await?;
        Ok(report)
    }

    /// Removes the files of messages nothing holds any more (`Store::collect_garbage`); the
    /// change itself is done, so a failure is logged and left to the next sweep.
    async fn collect_files(&self, blobs: &dyn BlobStore) -> Option<Garbage> {
        match self.store.collect_garbage(blobs, self.now()).await {
            Ok(garbage) => Some(garbage),
            Err(error) => {
                tracing::warn!(%error, "message files not collected; the next sweep will");
                None
            }
        }
    }

    /// The forwarding targets of a mailbox.
    pub async fn forwards(&self, address: &str) -> Result<Vec<String>> {
        let account = self.account(address).await?;
        Ok(self.store.forwards(account.id).await?)
    }

    /// Forwards the mailbox's mail to `to` as well (it keeps its own copy). Refused outside
    /// `government_domains` (R-POL-6) and to itself.
    pub async fn add_forward(
        &self,
        address: &str,
        to: &str,
        government_domains: &[String],
        who: &Who,
    ) -> Result<()> {
        let account = self.account(address).await?;
        let target = Address::parse(to.trim())
            .map_err(|e| OpsError::Refused(format!("--to {to}: {e}")))?
            .to_string()
            .to_lowercase();
        if !is_government_address(&target, government_domains) {
            return Err(OpsError::Refused(format!(
                "--to {target}: automatic forwarding outside the government domains ({}) is \
                 not allowed (R-POL-6)",
                government_domains.join(", ")
            )));
        }
        let hosted = target.rsplit_once('@').is_some_and(|(_, d)| {
            self.settings
                .domains
                .iter()
                .any(|h| h.eq_ignore_ascii_case(d))
        });
        if hosted && self.store.account_by_address(&target).await?.is_none() {
            return Err(OpsError::Refused(format!(
                "--to {target}: there is no such mailbox here"
            )));
        }
        if target == account.address {
            return Err(OpsError::Refused(format!(
                "--to {target}: a mailbox cannot forward to itself"
            )));
        }
        self.store
            .add_forward(account.id, &target, self.now())
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => {
                    OpsError::Conflict(format!("{} already forwards to {target}", account.address))
                }
                other => other.into(),
            })?;
        self.audit(
            who,
            "mailbox.forward.add",
            &account.address,
            &format!("to {target}"),
        )
        .await
    }

    /// Stops forwarding the mailbox's mail to `to`.
    pub async fn remove_forward(&self, address: &str, to: &str, who: &Who) -> Result<()> {
        let account = self.account(address).await?;
        let target = to.trim().to_lowercase();
        self.store
            .remove_forward(account.id, &target)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    OpsError::NotFound(format!("{} does not forward to {target}", account.address))
                }
                other => other.into(),
            })?;
        self.audit(
            who,
            "mailbox.forward.remove",
            &account.address,
            &format!("to {target}"),
        )
        .await
    }
}

fn sender_text(mail_from: &str) -> &str {
    if mail_from.is_empty() {
        "<>"
    } else {
        mail_from
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
