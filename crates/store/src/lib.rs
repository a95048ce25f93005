//! The mail store: metadata (accounts, folders, the message index, flags) behind [`Store`],
//! message bodies behind [`BlobStore`], addressed by their BLAKE3 hash and kept once however
//! many mailboxes hold them.
//!
//! Invariants every backend keeps:
//! - A delivery is visible in full or not at all, and once `deliver`/`append` returns `Ok`
//!   it is on stable storage (the blob was fsynced by `BlobStore::put` before; the index by
//!   the commit).
//! - UIDs in a folder strictly increase and are never reused while UIDVALIDITY stays;
//!   every change to a message or folder gets a MODSEQ above every earlier one in that folder.
//! - The store knows no protocol: it speaks of accounts, folders, messages and flags.

use async_trait::async_trait;
use congvu_core::{Flags, SpecialUse, flags::FlagOp};
use congvu_wire::mime::MessageIndex;
use std::sync::Arc;

pub mod audit_chain;
pub mod blob_fs;
#[doc(hidden)]
pub mod conformance;
#[doc(hidden)]
pub mod conformance_accounts;
#[doc(hidden)]
pub mod conformance_api;
#[doc(hidden)]
pub mod conformance_directory;
#[doc(hidden)]
pub mod conformance_login;
#[doc(hidden)]
pub mod conformance_quarantine;
#[doc(hidden)]
pub mod conformance_seen;
#[doc(hidden)]
pub mod conformance_sieve;
pub mod login;
mod recent;
pub mod sqlite;

pub type AccountId = i64;
pub type FolderId = i64;
pub type Uid = u32;
pub type ModSeq = u64;

/// The BLAKE3 hash of a blob, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub String);

impl BlobHash {
    pub fn of(data: &[u8]) -> BlobHash {
        BlobHash(blake3::hash(data).to_hex().to_string())
    }
}

/// The 32 bytes 64 hex digits stand for: the form folder views keep hashes in (half the memory).
pub(crate) fn hash_bytes(hex: &str) -> Option<[u8; 32]> {
    blake3::Hash::from_hex(hex).ok().map(|h| *h.as_bytes())
}

impl std::fmt::Display for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// hộp thư cá nhân
    Person,
    /// hộp thư cơ quan
    Unit,
    /// the Department of Information and Communications' operator
    Operator,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Person => "person",
            AccountKind::Unit => "unit",
            AccountKind::Operator => "operator",
        }
    }
    pub fn from_token(s: &str) -> Option<Self> {
        [
            AccountKind::Person,
            AccountKind::Unit,
            AccountKind::Operator,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Active,
    /// khóa tạm thời: no login, mail still delivered
    Suspended,
    /// thu hồi: no login, no delivery, content kept for the retention period
    Revoked,
    /// Revoked and past the retention period: the content is gone and the row stays as a
    /// tombstone so the address is never given to anybody else.
    Purged,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Suspended => "suspended",
            AccountState::Revoked => "revoked",
            AccountState::Purged => "purged",
        }
    }
    pub fn from_token(s: &str) -> Option<Self> {
        [
            AccountState::Active,
            AccountState::Suspended,
            AccountState::Revoked,
            AccountState::Purged,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    /// Canonical lowercase address.
    pub address: String,
    pub display_name: String,
    /// Argon2id PHC string; never shown to anyone.
    pub password_hash: String,
    pub kind: AccountKind,
    pub state: AccountState,
    /// Seconds since the epoch.
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub address: String,
    pub display_name: String,
    pub password_hash: String,
    pub kind: AccountKind,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub id: FolderId,
    pub account_id: AccountId,
    /// Full hierarchical name in UTF-8 with `/` as delimiter ("INBOX", "Công văn/2026").
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub uidvalidity: u32,
    pub uidnext: Uid,
    pub highest_modseq: ModSeq,
    pub subscribed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderStatus {
    pub messages: u32,
    pub unseen: u32,
    pub deleted: u32,
    pub uidnext: Uid,
    pub uidvalidity: u32,
    pub highest_modseq: ModSeq,
    /// Sum of RFC822.SIZE of the messages (STATUS=SIZE, quotas).
    pub size: u64,
}

/// What a session needs to keep its view of a folder: one row per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    pub uid: Uid,
    pub modseq: ModSeq,
    pub flags: Flags,
    /// INTERNALDATE, seconds since the epoch.
    pub internal_date: i64,
    pub size: u64,
}

/// A folder's messages at one MODSEQ, as `Store::folder_view` hands it out: shared by every
/// session that opens the folder (a session copies `messages` on its first change of its own
/// view), so opening a 100,000-message folder copies nothing.
#[derive(Debug, Clone, Default)]
pub struct FolderView {
    pub uidvalidity: u32,
    /// Every change up to this MODSEQ is in the view.
    pub modseq: ModSeq,
    /// In UID order.
    pub messages: Arc<Vec<MessageSummary>>,
    /// The Date header of each message (`MessageIndex::sent_at`), in the order of `messages`:
    /// what SORT by DATE compares (RFC 5256 §2.2).
    pub sent_at: Vec<Option<i64>>,
    /// The BLAKE3 hash of each message's body, in the order of `messages`: with it the store
    /// finds a message's index, header text and file without asking the database. Empty from
    /// the default `Store::folder_view` (only the backend's own views need it).
    pub hashes: Vec<[u8; 32]>,
    /// Index in `messages` of the first message without `\Seen` (SELECT's UNSEEN).
    pub first_unseen: Option<usize>,
}

impl FolderView {
    /// Builds a view, computing `first_unseen`.
    pub fn new(
        uidvalidity: u32,
        modseq: ModSeq,
        messages: Vec<MessageSummary>,
        sent_at: Vec<Option<i64>>,
        hashes: Vec<[u8; 32]>,
    ) -> FolderView {
        let first_unseen = messages
            .iter()
            .position(|m| !m.flags.has(congvu_core::Flag::Seen));
        FolderView {
            uidvalidity,
            modseq,
            messages: Arc::new(messages),
            sent_at,
            hashes,
            first_unseen,
        }
    }
}

/// A message with its parsed index, for FETCH.
#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub summary: MessageSummary,
    pub blob: BlobHash,
    pub index: Arc<MessageIndex>,
}

/// Where a delivered message goes in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderTarget {
    /// The account's folder with this special use (INBOX for ordinary delivery, Junk for spam).
    Special(SpecialUse),
    Id(FolderId),
}

#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub account: AccountId,
    pub folder: FolderTarget,
    pub flags: Flags,
}

/// One message (already in the blob store) for one or many mailboxes: one SMTP transaction,
/// one APPEND, or one webmail send.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub blob: BlobHash,
    pub index: Arc<MessageIndex>,
    pub internal_date: i64,
    pub targets: Vec<DeliveryTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub account: AccountId,
    pub folder: FolderId,
    pub uid: Uid,
    pub modseq: ModSeq,
}

/// Changes in a folder after a MODSEQ: what IDLE, NOOP, CONDSTORE and QRESYNC report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderChanges {
    /// New or changed messages (flags), in UID order.
    pub changed: Vec<MessageSummary>,
    /// UIDs expunged after the MODSEQ, ascending.
    pub expunged: Vec<Uid>,
    pub highest_modseq: ModSeq,
    pub uidnext: Uid,
}

/// A change notification for IDLE and webmail pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderChange {
    pub account: AccountId,
    pub folder: FolderId,
    pub modseq: ModSeq,
}

/// Which searchable field a text search looks in (RFC 9051 §6.4.4 SUBJECT, FROM, TO, CC, BCC,
/// BODY; TEXT is headers and body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Subject,
    From,
    To,
    Cc,
    Bcc,
    Body,
    Text,
}

/// Result of COPY/MOVE: (source UID, destination UID) pairs for RFC 4315 COPYUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    pub uidvalidity: u32,
    pub pairs: Vec<(Uid, Uid)>,
    pub highest_modseq: ModSeq,
}

/// Metadata: accounts, folders, the message index and flags.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- accounts ----
    /// Creates the account and its special-use folders in one transaction.
    async fn create_account(&self, new: NewAccount) -> Result<Account>;
    async fn account_by_address(&self, address: &str) -> Result<Option<Account>>;
    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>>;
    async fn list_accounts(&self) -> Result<Vec<Account>>;
    async fn set_password_hash(&self, id: AccountId, hash: &str) -> Result<()>;
    async fn set_account_state(&self, id: AccountId, state: AccountState) -> Result<()>;
    /// Purges a revoked mailbox (R-ACC-5): in one transaction its folders and their entries,
    /// grants both ways, app passwords, TOTP, API sessions and tokens, Sieve scripts, password
    /// history and directory details go; the row stays as a tombstone in state `Purged`
    /// with an unusable password, and the move is added to the state history. Refused
    /// (`Invalid`) unless the mailbox is revoked. Message bodies no other mailbox holds are
    /// left for [`Store::collect_garbage`].
    async fn purge_account(&self, id: AccountId, at: i64, reason: &str) -> Result<PurgedAccount>;
    /// Removes the parsed index of every message no mailbox, queue entry or quarantine holds
    /// any more, and its file through `blobs`, while no delivery can start referencing it
    /// (see `sqlite/garbage.rs`). Returns what was removed.
    /// `now` only dates the bookkeeping.
    async fn collect_garbage(&self, blobs: &dyn BlobStore, now: i64) -> Result<Garbage>;

    // ---- folders ----
    async fn list_folders(&self, account: AccountId) -> Result<Vec<Folder>>;
    async fn folder_by_name(&self, account: AccountId, name: &str) -> Result<Option<Folder>>;
    async fn folder_by_id(&self, folder: FolderId) -> Result<Option<Folder>>;
    async fn create_folder(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Folder>;
    /// Deletes the folder and its messages (RFC 9051 §6.3.5); INBOX cannot be deleted.
    async fn delete_folder(&self, account: AccountId, name: &str) -> Result<()>;
    /// Renames the folder and its children (RFC 9051 §6.3.6). Renaming INBOX moves its
    /// messages into a new folder and leaves INBOX empty.
    async fn rename_folder(&self, account: AccountId, from: &str, to: &str) -> Result<()>;
    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()>;
    async fn folder_status(&self, folder: FolderId) -> Result<FolderStatus>;

    // ---- writing messages ----
    /// Indexes one message into every target mailbox, durably, in one transaction shared
    /// with concurrent deliveries (group commit). The blob must already be in the blob store.
    async fn deliver(&self, delivery: Delivery) -> Result<Vec<Delivered>>;
    /// STORE: changes flags of the given UIDs; with `unchanged_since` (RFC 7162 §3.1.3) only
    /// messages whose MODSEQ is not above it change, the others are returned as failed.
    async fn store_flags(
        &self,
        folder: FolderId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<StoreFlagsResult>;
    async fn copy_messages(&self, from: FolderId, uids: &[Uid], to: FolderId)
    -> Result<CopyResult>;
    /// MOVE (RFC 6851): copy then expunge from the source, atomically.
    async fn move_messages(&self, from: FolderId, uids: &[Uid], to: FolderId)
    -> Result<CopyResult>;
    /// Removes the messages flagged `\Deleted` (only those among `uids` when given, as
    /// UID EXPUNGE does), records them for QRESYNC, and returns their UIDs ascending.
    async fn expunge(&self, folder: FolderId, uids: Option<&[Uid]>) -> Result<Vec<Uid>>;

    // ---- reading ----
    /// Every message of the folder in UID order (the view a SELECT starts from).
    async fn list_messages(&self, folder: FolderId) -> Result<Vec<MessageSummary>>;
    /// Full records for the given UIDs (those that exist), in UID order. The records' index
    /// may leave `search_exact`/`search_folded` empty (searching goes through `search_text`).
    async fn fetch_records(&self, folder: FolderId, uids: &[Uid]) -> Result<Vec<MessageRecord>>;
    /// The Date header (`MessageIndex::sent_at`) of every message of the folder, in UID order:
    /// what SORT by DATE needs. The default reads full records; backends override it.
    async fn sent_dates(&self, folder: FolderId) -> Result<Vec<(Uid, Option<i64>)>> {
        let uids: Vec<Uid> = self
            .list_messages(folder)
            .await?
            .iter()
            .map(|m| m.uid)
            .collect();
        Ok(self
            .fetch_records(folder, &uids)
            .await?
            .iter()
            .map(|r| (r.summary.uid, r.index.sent_at))
            .collect())
    }
    async fn changes_since(&self, folder: FolderId, modseq: ModSeq) -> Result<FolderChanges>;
    /// True only when the backend knows, without a query, that nothing in `folder` changed
    /// after `modseq` (so `changes_since` would report nothing); false whenever unsure. Lets
    /// IMAP skip the read after every command. Changes this process committed count at once;
    /// the SQLite backend notices other processes' within a second (`sqlite/heads.rs`).
    fn unchanged_since(&self, _folder: FolderId, _modseq: ModSeq) -> bool {
        false
    }
    /// Makes what this process remembers of folders (see `unchanged_since`) catch up now with
    /// commits made by other processes, instead of within the second. Every login calls it
    /// (`login::check_login`), so a session always starts from everything committed before it,
    /// an operator's `quarantine release` or `purge` included.
    async fn notice_other_writers(&self) {}
    /// The folder's messages with their Date headers, current to `folder.highest_modseq` or
    /// later (callers pass the folder row they just read). Backends may hand the same view
    /// to many sessions; the default copies `list_messages` and `sent_dates`.
    async fn folder_view(&self, folder: &Folder) -> Result<Arc<FolderView>> {
        let messages = self.list_messages(folder.id).await?;
        let dates: std::collections::HashMap<Uid, Option<i64>> =
            self.sent_dates(folder.id).await?.into_iter().collect();
        let sent_at = messages
            .iter()
            .map(|m| dates.get(&m.uid).copied().flatten())
            .collect();
        Ok(Arc::new(FolderView::new(
            folder.uidvalidity,
            folder.highest_modseq,
            messages,
            sent_at,
            Vec::new(),
        )))
    }
    /// The summary and body hash of each of `uids` still in the folder, in UID order, without
    /// the parsed index: what FETCH of whole messages (`BODY[]`, `RFC822`) needs, the bytes.
    async fn fetch_bodies(
        &self,
        folder: FolderId,
        uids: &[Uid],
    ) -> Result<Vec<(MessageSummary, BlobHash)>> {
        Ok(self
            .fetch_records(folder, uids)
            .await?
            .into_iter()
            .map(|r| (r.summary, r.blob))
            .collect())
    }
    /// UIDs whose field contains `needle`. When `needle` has no diacritics the folded text is
    /// searched (matching with or without diacritics), otherwise the exact text. Case-insensitive.
    async fn search_text(
        &self,
        folder: FolderId,
        field: TextField,
        needle: &str,
    ) -> Result<Vec<Uid>>;

    /// Change notifications for IDLE; every committed change to a folder is sent once.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<FolderChange>;

    // ---- delegation of unit mailboxes (RFC 4314 rights letters) ----
    /// Grants `rights` (e.g. "lrswipkxtea") on `mailbox` to `grantee`, replacing earlier rights;
    /// empty rights remove the grant. Rights are stored in canonical order without duplicates;
    /// an unknown letter or a grant of a mailbox to its own account is `Invalid`, an unknown
    /// account `NotFound`.
    async fn set_grant(&self, mailbox: AccountId, grantee: AccountId, rights: &str) -> Result<()>;
    /// The mailboxes granted to `grantee`, with the rights on each, by mailbox id.
    async fn grants_to(&self, grantee: AccountId) -> Result<Vec<Grant>>;
    /// Every grant on `mailbox`, by grantee id.
    async fn grants_on(&self, mailbox: AccountId) -> Result<Vec<Grant>>;
    /// The UIDs of `folder` that `reader` (not the folder's owner: a keeper of a shared unit
    /// mailbox) has seen, ascending. Kept apart from the message flags (RFC 4314 `s` right).
    async fn private_seen(&self, reader: AccountId, folder: FolderId) -> Result<Vec<Uid>>;
    /// Marks `uids` seen (or unseen) for `reader` only; message flags and MODSEQ are untouched.
    async fn set_private_seen(
        &self,
        reader: AccountId,
        folder: FolderId,
        uids: &[Uid],
        seen: bool,
    ) -> Result<()>;

    // ---- outbound queue (remote recipients) ----
    /// Queues a message (blob already stored) for remote recipients; durable when it returns.
    /// Recipients are deduplicated; an empty list, or an address without `@`, is `Invalid`.
    /// Every recipient is due at `created_at`.
    async fn enqueue(&self, message: NewQueuedMessage) -> Result<QueueId>;
    /// Claims up to `limit` pending recipients due at `now` whose lease has run out, and
    /// leases them until `now + lease` so that no other worker (on any node) claims them
    /// meanwhile. Returns them grouped by message, each entry holding only its claimed
    /// recipients. (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one write transaction.)
    async fn claim_due(
        &self,
        now: i64,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<QueueEntry>>;
    /// Records the outcome of one delivery attempt to one recipient and releases its lease.
    async fn record_attempt(&self, attempt: QueueAttempt) -> Result<()>;
    /// Every queued message with all its recipients, oldest first.
    async fn list_queue(&self) -> Result<Vec<QueueEntry>>;
    async fn queue_entry(&self, id: QueueId) -> Result<Option<QueueEntry>>;
    /// Makes every pending recipient of the message due now (and drops a lease held by a
    /// worker that may have died). `NotFound` when there is no such message.
    async fn retry_now(&self, id: QueueId) -> Result<()>;
    /// Removes the message and its recipients from the queue. `NotFound` when absent.
    async fn delete_queued(&self, id: QueueId) -> Result<()>;
    /// Removes the message when none of its recipients is still pending apart from
    /// `finished` (just delivered by the caller); true when it was removed, false when a
    /// recipient still waits or the message is gone. The queue worker's one write after a
    /// delivery; backends should check and delete in one step (SQLite: one statement).
    async fn delete_queued_if_finished(
        &self,
        id: QueueId,
        finished: &[QueueRecipientId],
    ) -> Result<bool> {
        let Some(entry) = self.queue_entry(id).await? else {
            return Ok(false);
        };
        let done = entry
            .recipients
            .iter()
            .all(|r| finished.contains(&r.id) || r.status != QueueStatus::Pending);
        if !done {
            return Ok(false);
        }
        match self.delete_queued(id).await {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // ---- units, mailbox details and lifecycle (R-ACC-1, R-ACC-5) ----
    /// Creates a unit and, when `mailbox` is given, its unit mailbox (with its folders) in one
    /// transaction. An unknown parent is `NotFound`; a taken address `AlreadyExists`.
    async fn create_unit(&self, new: NewUnit) -> Result<Unit>;
    async fn unit_by_id(&self, id: UnitId) -> Result<Option<Unit>>;
    /// The unit whose unit mailbox is `account`.
    async fn unit_by_account(&self, account: AccountId) -> Result<Option<Unit>>;
    /// Every unit, by id.
    async fn list_units(&self) -> Result<Vec<Unit>>;
    /// Every mailbox that is not revoked, with its directory details, by account id: what the
    /// directory (R-ACC-4) lists, in one read. Carries no password material.
    async fn directory_rows(&self) -> Result<Vec<DirectoryRow>>;
    /// Makes `account` an IT contact of `unit` (idempotent); unknown ids are `NotFound`.
    async fn add_unit_contact(&self, unit: UnitId, account: AccountId) -> Result<()>;
    /// The units `account` is an IT contact of, by id.
    async fn contact_units(&self, account: AccountId) -> Result<Vec<UnitId>>;
    /// Creates a personal mailbox with its directory details in one transaction.
    async fn create_account_with_details(
        &self,
        new: NewAccount,
        details: AccountDetails,
    ) -> Result<Account>;
    /// Directory details and password bookkeeping; `None` for an unknown account.
    async fn account_details(&self, id: AccountId) -> Result<Option<AccountDetails>>;
    /// Replaces name, unit, title and phone (password fields are left alone).
    async fn update_account_details(
        &self,
        id: AccountId,
        display_name: &str,
        details: &AccountDetails,
    ) -> Result<()>;
    /// Moves the account to `change.to` and records the change in its history, in one
    /// transaction. `Invalid` when the account is not in `change.from` any more (someone else
    /// changed it meanwhile).
    async fn change_account_state(&self, id: AccountId, change: StateChange) -> Result<()>;
    /// Every state change of the account, oldest first.
    async fn state_history(&self, id: AccountId) -> Result<Vec<StateChange>>;
    /// Sets a new password hash; the old one goes to the history, which keeps the newest
    /// `keep_history` hashes (R-POL-1: no reuse of the last 5).
    async fn change_password(&self, id: AccountId, change: PasswordChange) -> Result<()>;
    /// Earlier password hashes, newest first (the current one is not included).
    async fn password_history(&self, id: AccountId) -> Result<Vec<String>>;

    // ---- requests (R-ACC-6) ----
    async fn file_request(&self, new: NewRequest) -> Result<Request>;
    async fn request_by_id(&self, id: RequestId) -> Result<Option<Request>>;
    /// Requests by id, only those in `status` when given.
    async fn list_requests(&self, status: Option<RequestStatus>) -> Result<Vec<Request>>;
    /// Moves a request from `from` to `decision.status` atomically; `Invalid` when it is not
    /// in `from` any more (decided by someone else), `NotFound` when absent.
    async fn decide_request(
        &self,
        id: RequestId,
        from: RequestStatus,
        decision: RequestDecision,
    ) -> Result<Request>;

    // ---- audit log (R-POL-10): append and read only; there is no update or delete ----
    /// Appends an entry chained to the last one (see [`audit_chain`]), durably.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry>;
    /// Every entry, oldest first.
    async fn list_audit(&self) -> Result<Vec<AuditEntry>>;

    // ---- JSON API sessions and tokens (crates/web; only hashes are stored) ----
    /// Stores a session or API token. A hash already stored is `AlreadyExists`, an unknown
    /// account `NotFound`. Expired sessions are removed on the way.
    async fn create_api_credential(&self, new: NewApiCredential) -> Result<ApiCredential>;
    /// The credential with this hash if it has not expired at `now`, recording `now` as its
    /// last use (at most once a minute, so reads stay cheap).
    async fn use_api_credential(&self, token_hash: &str, now: i64)
    -> Result<Option<ApiCredential>>;
    /// Credentials of `kind`, of one account or of all, by id.
    async fn list_api_credentials(
        &self,
        kind: ApiCredentialKind,
        account: Option<AccountId>,
    ) -> Result<Vec<ApiCredential>>;
    /// Removes a credential by id; `NotFound` when there is none.
    async fn revoke_api_credential(&self, id: ApiCredentialId) -> Result<()>;
    /// Removes the credential with this hash (logout); `false` when there was none.
    async fn delete_api_credential(&self, token_hash: &str) -> Result<bool>;

    // ---- app passwords, TOTP and expiry warnings (R-POL-2; see [`login`]) ----
    /// Adds a per-device app password (Argon2id hash). A label already used by the mailbox is
    /// `AlreadyExists`, an empty label `Invalid`, an unknown account `NotFound`.
    async fn add_app_password(&self, new: NewAppPassword) -> Result<AppPassword>;
    /// The mailbox's app passwords, by label.
    async fn app_passwords(&self, account: AccountId) -> Result<Vec<AppPassword>>;
    /// Removes the app password with this label; `NotFound` when there is none.
    async fn revoke_app_password(&self, account: AccountId, label: &str) -> Result<()>;
    /// Records that the app password was used to log in at `at`.
    async fn touch_app_password(&self, id: AppPasswordId, at: i64) -> Result<()>;
    /// The mailbox's TOTP secret, when the second factor is on.
    async fn totp(&self, account: AccountId) -> Result<Option<TotpSecret>>;
    /// Turns the second factor on with `secret` (replacing an earlier secret), or off with
    /// `None`. An unknown account is `NotFound`.
    async fn set_totp(&self, account: AccountId, secret: Option<&[u8]>, at: i64) -> Result<()>;
    /// Accepts the code of time step `step` once: `true` (and remembered) when `step` is newer
    /// than every step accepted before, `false` for a replayed or older code (RFC 6238 §5.2).
    async fn use_totp_step(&self, account: AccountId, step: i64) -> Result<bool>;
    /// Records that the warning `days` before expiry of the password set at
    /// `password_changed_at` was mailed; `false` when it already was (nothing changes).
    async fn record_expiry_warning(
        &self,
        account: AccountId,
        password_changed_at: i64,
        days: u32,
        at: i64,
    ) -> Result<bool>;
    /// Whether that warning was already recorded.
    async fn expiry_warning_sent(
        &self,
        account: AccountId,
        password_changed_at: i64,
        days: u32,
    ) -> Result<bool>;

    // ---- Sieve scripts (RFC 5228, managed over ManageSieve RFC 5804) ----
    /// The mailbox's scripts by name, with which one is active.
    async fn sieve_scripts(&self, account: AccountId) -> Result<Vec<SieveScriptInfo>>;
    /// One script's content; `None` when there is no script of that name.
    async fn sieve_script(&self, account: AccountId, name: &str) -> Result<Option<Vec<u8>>>;
    /// The active script's name and content, if any: what delivery runs.
    async fn active_sieve_script(&self, account: AccountId) -> Result<Option<(String, Vec<u8>)>>;
    /// Stores a script under `name`, replacing one of that name (its active state is kept).
    /// The caller has checked the script; the store keeps bytes.
    async fn put_sieve_script(
        &self,
        account: AccountId,
        name: &str,
        content: &[u8],
        at: i64,
    ) -> Result<()>;
    /// Deletes a script: `NotFound` when absent, `Invalid` when it is the active one.
    async fn delete_sieve_script(&self, account: AccountId, name: &str) -> Result<()>;
    /// Renames a script: `NotFound` / `AlreadyExists` as the names are.
    async fn rename_sieve_script(&self, account: AccountId, from: &str, to: &str) -> Result<()>;
    /// Makes `name` the only active script, or deactivates every script with `None`.
    async fn set_active_sieve_script(&self, account: AccountId, name: Option<&str>) -> Result<()>;
    /// Claims the right to send a vacation reply to `sender` under `handle`: `true` (and
    /// remembered at `now`) unless one went out less than `period` seconds ago (RFC 5230 §4.2).
    async fn claim_vacation_reply(
        &self,
        account: AccountId,
        handle: &str,
        sender: &str,
        now: i64,
        period: i64,
    ) -> Result<bool>;

    // ---- abnormal use of a mailbox (R-POL-9; migration 0013) ----
    /// The failure count of one throttling scope ("pair": `login|ip`, "ip", "account":
    /// the login); `None` when there is none.
    async fn login_failures(&self, scope: &str, key: &str) -> Result<Option<LoginFailures>>;
    /// Counts one failed login in a scope and returns the new count. A count whose last
    /// failure is `window` seconds or more before `now` starts again at 1.
    async fn record_login_failure(
        &self,
        scope: &str,
        key: &str,
        now: i64,
        window: i64,
    ) -> Result<LoginFailures>;
    /// Sets when the scope may try again (only ever later than before).
    async fn block_login(&self, scope: &str, key: &str, until: i64) -> Result<()>;
    /// Forgets the count of a scope (after a successful login).
    async fn clear_login_failures(&self, scope: &str, key: &str) -> Result<()>;
    /// Whether the mailbox has logged in from `network` before.
    async fn knows_login_network(&self, account: AccountId, network: &str) -> Result<bool>;
    /// Remembers a successful login from `network` at `now`; says whether the network was
    /// known and whether it is the mailbox's first network ever.
    async fn note_login_network(
        &self,
        account: AccountId,
        network: &str,
        now: i64,
    ) -> Result<NetworkNote>;
    /// Counts one sent message in `hour` (seconds since the epoch / 3600), forgets hours
    /// before `oldest_hour`, and returns the counts the anomaly rule needs.
    async fn count_sent_message(
        &self,
        account: AccountId,
        hour: i64,
        oldest_hour: i64,
    ) -> Result<SendCounts>;
    /// Marks `hour` as having raised an anomaly; `false` when it already had.
    async fn flag_send_hour(&self, account: AccountId, hour: i64) -> Result<bool>;
    /// Records a security event whose notices are still to be mailed.
    async fn record_security_event(&self, event: NewSecurityEvent) -> Result<SecurityEvent>;
    /// Events whose notices were not mailed yet, oldest first, at most `limit`.
    async fn pending_security_events(&self, limit: usize) -> Result<Vec<SecurityEvent>>;
    async fn mark_security_event_notified(&self, id: i64, at: i64) -> Result<()>;
    /// Holds the remote mail of `address` (idempotent: an existing hold is kept).
    async fn hold_outbound(&self, hold: OutboundHold) -> Result<()>;
    /// The hold of `address` (lowercase login), if any.
    async fn outbound_hold(&self, address: &str) -> Result<Option<OutboundHold>>;
    /// Every hold, oldest first.
    async fn outbound_holds(&self) -> Result<Vec<OutboundHold>>;
    /// Parks a queued message of a held mailbox: its pending recipients are not due (and any
    /// lease is dropped) until the hold is released.
    async fn hold_queued(&self, id: QueueId, address: &str, at: i64) -> Result<()>;
    /// Ids of the parked messages with the address they are held for.
    async fn held_queued(&self) -> Result<Vec<(QueueId, String)>>;
    /// Lifts the hold of `address` and makes its parked messages due at `now`, in one
    /// transaction. Returns how many messages were released; `NotFound` when `address` was
    /// neither held nor had parked messages.
    async fn release_outbound(&self, address: &str, now: i64) -> Result<usize>;
    /// Pending recipients in the outbound queue and parked messages, for the metrics.
    async fn queue_size(&self) -> Result<(u64, u64)>;

    // ---- quarantine (mail held for the operator) and purge (R-POL-3, R-POL-7) ----
    /// Records a held message (its blob already stored) with its parsed index, durably; the
    /// blob stays referenced while the row exists, and [`Store::collect_garbage`] removes it
    /// once neither the quarantine nor a mailbox holds it. An empty recipient list is `Invalid`.
    async fn quarantine(&self, new: NewQuarantined, index: &MessageIndex) -> Result<Quarantined>;
    /// Every held message, oldest first.
    async fn list_quarantine(&self) -> Result<Vec<Quarantined>>;
    async fn quarantined(&self, id: QuarantineId) -> Result<Option<Quarantined>>;
    /// Removes a held message (after release or on delete) and returns it; `NotFound` when
    /// absent (so two operators cannot release the same message twice).
    async fn remove_quarantined(&self, id: QuarantineId) -> Result<Quarantined>;
    /// Every mailbox entry holding a message with this Message-ID (without angle brackets)
    /// or this blob, by account, folder and UID: what `purge` expunges.
    async fn locate_messages(&self, key: &MessageKey) -> Result<Vec<MessageLocation>>;

    // ---- automatic forwarding set by the operator (R-POL-6) ----
    /// The mailbox's forwarding targets, sorted.
    async fn forwards(&self, account: AccountId) -> Result<Vec<String>>;
    /// Adds a target (stored lowercase); `AlreadyExists` when it is there, `NotFound` for an
    /// unknown account. The caller has checked the policy.
    async fn add_forward(&self, account: AccountId, address: &str, at: i64) -> Result<()>;
    /// Removes a target; `NotFound` when it is not set.
    async fn remove_forward(&self, account: AccountId, address: &str) -> Result<()>;

    // ---- the spam filter's Bayes counts (R-POL-5) ----
    /// Messages taught and the counts of `tokens` in one scope: the mail domain `domain`
    /// (`account` = `None`) or one mailbox's own teaching. Tokens never taught are left out.
    async fn bayes_counts(
        &self,
        domain: &str,
        account: Option<AccountId>,
        tokens: &[i64],
    ) -> Result<BayesCounts>;
    /// Teaches messages a user marked, in one transaction, counting each in the mailbox's
    /// scope and its domain's. A message already taught the same way is skipped; one taught
    /// the other way is untaught first. Returns what happened to each, in order.
    async fn bayes_train(&self, lessons: &[BayesLesson]) -> Result<Vec<BayesTrained>>;
}

/// A failed-login count (migration 0013).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginFailures {
    pub failures: u32,
    pub last_failure: i64,
    /// Seconds since the epoch before which this scope is refused without a check.
    pub blocked_until: i64,
}

/// What `note_login_network` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkNote {
    pub known_before: bool,
    /// No network was known at all: the first login ever (seeds the list, no alert).
    pub first_ever: bool,
}

/// The hourly send counts of a mailbox: this hour, and the earlier hours with mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendCounts {
    pub current: u64,
    pub history_sum: u64,
    pub history_hours: u64,
    /// An anomaly was already raised for this hour.
    pub flagged: bool,
}

/// A security event (R-POL-9) to record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewSecurityEvent {
    pub at: i64,
    /// "security.bruteforce", "security.new_network", "security.send_anomaly".
    pub kind: String,
    pub account: Option<AccountId>,
    pub address: String,
    pub source_ip: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub id: i64,
    pub event: NewSecurityEvent,
    pub notified_at: Option<i64>,
}

/// A mailbox whose remote mail waits for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundHold {
    pub address: String,
    pub account: Option<AccountId>,
    pub since: i64,
    pub reason: String,
}

pub type QuarantineId = i64;

/// A message to hold instead of delivering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuarantined {
    pub blob: BlobHash,
    /// Envelope sender ('' for the null reverse-path).
    pub mail_from: String,
    /// Envelope recipients, as RCPT TO gave them.
    pub recipients: Vec<String>,
    /// The pipeline's reason.
    pub reason: String,
    /// Where it came in ("mx", "submission").
    pub source: String,
    pub remote_ip: String,
    pub helo: String,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub subject: String,
    /// Seconds since the epoch.
    pub at: i64,
}

/// A held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: QuarantineId,
    pub message: NewQuarantined,
}

/// How `purge` names a message: by its Message-ID or by the hash of its blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKey {
    /// Without angle brackets.
    MessageId(String),
    Blob(BlobHash),
}

/// One copy of a message in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLocation {
    pub account: AccountId,
    pub folder: FolderId,
    pub uid: Uid,
    pub blob: BlobHash,
}

/// A stored Sieve script, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SieveScriptInfo {
    pub name: String,
    pub active: bool,
    pub size: u64,
    pub updated_at: i64,
}

pub type AppPasswordId = i64;

/// A per-device password for mail programs (IMAP, POP3, SMTP), never for the web.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPassword {
    pub id: AppPasswordId,
    pub account: AccountId,
    /// Names the device ("điện thoại", "Thunderbird ở cơ quan"); unique within the mailbox.
    pub label: String,
    /// Argon2id PHC string; the password itself is shown once and never kept.
    pub password_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppPassword {
    pub account: AccountId,
    pub label: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// The RFC 6238 shared secret of a mailbox with the second factor on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpSecret {
    pub secret: Vec<u8>,
    pub enabled_at: i64,
    /// The newest time step a code was accepted for.
    pub last_step: Option<i64>,
}

/// One delegation: `grantee` may use `mailbox` with `rights` (RFC 4314 letters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub mailbox: AccountId,
    pub grantee: AccountId,
    pub rights: String,
}

pub type QueueId = i64;

/// A message accepted for delivery to other mail systems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQueuedMessage {
    pub blob: BlobHash,
    /// Envelope sender (empty for bounces, RFC 5321 §4.5.5).
    pub mail_from: String,
    /// Remote recipients, each delivered and retried on its own.
    pub recipients: Vec<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The authenticated login that submitted it (audit, per-user limits), if any.
    pub submitted_by: Option<String>,
}

/// One recipient row of the queue.
pub type QueueRecipientId = i64;

/// Where a recipient of a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// Accepted by the remote system (2xx).
    Delivered,
    /// Given up (5xx or expired); the sender was told.
    Failed,
}

impl QueueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Pending => "pending",
            QueueStatus::Delivered => "delivered",
            QueueStatus::Failed => "failed",
        }
    }
    pub fn from_token(s: &str) -> Option<Self> {
        [
            QueueStatus::Pending,
            QueueStatus::Delivered,
            QueueStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One recipient of a queued message and its delivery history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecipient {
    pub id: QueueRecipientId,
    pub address: String,
    /// Lowercase domain of `address`: delivery connects once per domain.
    pub domain: String,
    pub status: QueueStatus,
    pub attempts: u32,
    /// Seconds since the epoch.
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub remote_host: Option<String>,
    pub remote_response: Option<String>,
    /// A "delayed" notice (RFC 3464 `Action: delayed`) was already sent for it.
    pub delay_warned: bool,
}

/// A queued message with (some of) its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: QueueId,
    pub blob: BlobHash,
    pub mail_from: String,
    pub created_at: i64,
    pub submitted_by: Option<String>,
    pub recipients: Vec<QueueRecipient>,
}

/// The outcome of one attempt to deliver to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAttempt {
    pub recipient: QueueRecipientId,
    /// Seconds since the epoch.
    pub at: i64,
    pub outcome: AttemptOutcome,
    /// The host that answered, if one did.
    pub remote_host: Option<String>,
    /// Its reply as received, or our own description of what went wrong.
    pub remote_response: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Temporary failure: try again at `next_attempt_at`. `delay_warned` records that a
    /// "delayed" notice was sent with this attempt (it is never cleared once set).
    Retry {
        error: String,
        next_attempt_at: i64,
        delay_warned: bool,
    },
    /// Permanent failure (or expiry): no more attempts.
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreFlagsResult {
    /// Messages whose flags were changed (or matched), with their new flags and MODSEQ.
    pub updated: Vec<MessageSummary>,
    /// UIDs refused because of UNCHANGEDSINCE (RFC 7162 MODIFIED response code).
    pub modified: Vec<Uid>,
    /// The MODSEQ the change took; None when no message's flags changed.
    pub modseq: Option<ModSeq>,
}

/// Message bodies, addressed by content.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores the bytes durably (fsynced) unless a blob with the same hash is already there,
    /// and returns the hash.
    async fn put(&self, data: &[u8]) -> Result<BlobHash>;
    async fn get(&self, hash: &BlobHash) -> Result<Arc<Vec<u8>>>;
    /// Reads several blobs, each answered on its own like [`BlobStore::get`]. A list view's FETCH
    /// reads 50 at once; a store whose reads block overrides this to pay one thread hand-off for
    /// all of them instead of one per blob.
    async fn get_many(&self, hashes: &[BlobHash]) -> Vec<Result<Arc<Vec<u8>>>> {
        let mut out = Vec::with_capacity(hashes.len());
        for hash in hashes {
            out.push(self.get(hash).await);
        }
        out
    }
    /// Total bytes on disk, for reports and the storage-growth test.
    async fn total_size(&self) -> Result<u64>;
    /// Removes the blob (durably); a blob that is not there is not an error. Only
    /// [`Store::collect_garbage`] calls this, when nothing references the blob.
    async fn delete(&self, hash: &BlobHash) -> Result<()>;
    /// Drops every blob kept in memory: another process may have deleted some (the SQLite
    /// store calls it when it notices another process's commit).
    fn forget_cached(&self) {}
    /// Whether the blob is on disk: the store checks it before a new reference is committed,
    /// so a blob collected between a `put` that found it present and the commit is noticed.
    fn contains(&self, hash: &BlobHash) -> bool;
}

pub use congvu_core::request::{RequestKind, RequestStatus};
pub use congvu_core::unit::UnitId;

/// A unit of the province's tree (R-ACC-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub id: UnitId,
    /// Vietnamese name, as written ("Sở Thông tin và Truyền thông").
    pub name: String,
    pub kind: congvu_core::naming::UnitKind,
    pub parent: Option<UnitId>,
    /// The unit mailbox.
    pub account: Option<AccountId>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewUnit {
    pub name: String,
    pub kind: congvu_core::naming::UnitKind,
    pub parent: Option<UnitId>,
    /// The unit mailbox to create with it (kind `Unit`).
    pub mailbox: Option<NewAccount>,
    pub mailbox_details: AccountDetails,
    pub created_at: i64,
}

/// A mailbox as the directory shows it (R-ACC-4): no password hash, never a revoked one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRow {
    pub account: AccountId,
    pub address: String,
    pub display_name: String,
    pub kind: AccountKind,
    /// Active or Suspended (a suspended mailbox still receives mail).
    pub state: AccountState,
    pub unit: Option<UnitId>,
    pub title: String,
    pub phone: String,
}

/// Directory details and password bookkeeping of a mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDetails {
    pub unit: Option<UnitId>,
    pub title: String,
    pub phone: String,
    /// A new or reset password that must be changed at first use (R-POL-2).
    pub must_change_password: bool,
    /// When the password was last set (the account's creation when never changed).
    pub password_changed_at: i64,
    /// When the lifecycle state last changed (`None`: never).
    pub state_changed_at: Option<i64>,
}

/// What [`Store::purge_account`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgedAccount {
    pub folders: u64,
    pub messages: u64,
}

/// What [`Store::collect_garbage`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Garbage {
    pub messages: u64,
    pub bytes: u64,
}

/// One lifecycle move of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub from: AccountState,
    pub to: AccountState,
    pub at: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChange {
    /// Argon2id PHC string.
    pub hash: String,
    pub at: i64,
    pub must_change: bool,
    /// How many earlier hashes to keep.
    pub keep_history: usize,
}

pub type RequestId = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub kind: RequestKind,
    pub requested_by: String,
    pub unit: Option<UnitId>,
    /// The mailbox concerned (empty for a new mailbox).
    pub mailbox: String,
    pub name: String,
    pub title: String,
    pub phone: String,
    pub reason: String,
    pub filed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: RequestId,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub requested_by: String,
    pub unit: Option<UnitId>,
    pub mailbox: String,
    pub name: String,
    pub title: String,
    pub phone: String,
    pub reason: String,
    pub filed_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_reason: String,
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDecision {
    pub status: RequestStatus,
    pub by: String,
    pub at: i64,
    pub reason: String,
    pub result: String,
}

/// What happened, for the audit log (R-POL-10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: i64,
    /// Who did it: an address, or "operator (cli)".
    pub actor: String,
    /// The actor's role (operator, unit-contact, user, system).
    pub role: String,
    /// A dotted verb: "mailbox.suspend", "request.approve", "login.failed".
    pub action: String,
    /// What it was done to: an address, a unit, a request.
    pub target: String,
    /// Who asked for it (a request's filer), if not the actor.
    pub requested_by: String,
    /// Who approved it, if approval was needed.
    pub approved_by: String,
    pub source_ip: String,
    pub detail: String,
}

/// A stored audit entry with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub entry: NewAuditEntry,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// BLAKE3 of `prev_hash` and this entry's fields (`audit_chain::entry_hash`).
    pub hash: String,
}

pub type ApiCredentialId = i64;

/// A login session of the web interface, or an API token for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCredentialKind {
    Session,
    Token,
}

impl ApiCredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiCredentialKind::Session => "session",
            ApiCredentialKind::Token => "token",
        }
    }
    pub fn from_token(s: &str) -> Option<Self> {
        [ApiCredentialKind::Session, ApiCredentialKind::Token]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiCredential {
    /// BLAKE3 of the secret, as hex; the secret itself is never stored.
    pub token_hash: String,
    pub account: AccountId,
    pub kind: ApiCredentialKind,
    pub label: String,
    /// Empty, or why the credential may only change the password ("expired", "must-change").
    pub restricted: String,
    pub created_at: i64,
    /// `None`: never (API tokens until revoked).
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCredential {
    pub id: ApiCredentialId,
    pub token_hash: String,
    pub account: AccountId,
    pub kind: ApiCredentialKind,
    pub label: String,
    pub restricted: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// What one scope of the spam filter has been taught (R-POL-5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BayesCounts {
    pub spam_messages: u64,
    pub ham_messages: u64,
    /// (token, spam messages with it, ham messages with it).
    pub tokens: Vec<(i64, u64, u64)>,
}

/// One message a user marked as spam or not spam.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BayesLesson {
    /// The mailbox that holds the message (the owner of the folder).
    pub account: AccountId,
    /// The mailbox's mail domain, the scope shared with its neighbours.
    pub domain: String,
    pub blob: BlobHash,
    pub spam: bool,
    /// The message's distinct token hashes.
    pub tokens: Vec<i64>,
    pub at: i64,
}

/// What teaching one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BayesTrained {
    /// Counted for the first time.
    Learned,
    /// Already taught the same way: nothing changed.
    Unchanged,
    /// Taught the other way before: untaught, then counted this way.
    Relearned,
}
