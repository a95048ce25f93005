//! The embedded metadata store: SQLite through sqlx, with the schema of `migrations/`.
//!
//! Implementation notes (what this module keeps true):
//! - One writer. Every write goes through the single write connection in [`Shared::write`]
//!   (a tokio mutex, FIFO), so SQLite never answers SQLITE_BUSY to our own writers; reads use
//!   a separate pool of connections, which WAL lets run beside the writer on a snapshot.
//! - Durability: `journal_mode=WAL`, `synchronous=FULL`: a commit returns after the WAL is
//!   fsynced, so an `Ok` from any write means the change survives a crash.
//! - Group commit: deliveries (the hot path), STOREs and EXPUNGEs go over a channel to one
//!   writer task (`deliver.rs`) that applies everything queued in one transaction and one
//!   fsync.
//! - `heads.rs` keeps each folder's highest MODSEQ as this process last committed or read it,
//!   so IMAP can skip `changes_since` (and SELECT its folder query) when nothing changed.
//! - UIDs come from `folders.uidnext` and MODSEQs from `folders.highest_modseq`, both only
//!   ever incremented inside a write transaction, so they strictly increase per folder.
//! - Change notifications are broadcast only after the commit that made the change.
//! - SQL text is always static; user input is only ever bound as a parameter. UID sets are
//!   bound as one JSON array and expanded with `json_each`, so every read is one query.

mod account_details;
mod accounts;
mod api_tokens;
mod app_passwords;
mod audit;
mod bayes;
mod deliver;
mod directory;
mod flags;
mod folders;
mod forwards;
mod garbage;
mod grants;
mod heads;
mod messages;
mod private_seen;
mod quarantine;
mod queue;
mod read;
mod requests;
mod rows;
mod search;
mod security;
mod sieve;
mod totp;
mod units;

pub use heads::WATCH_INTERVAL;

use crate::{
    Account, AccountId, AccountState, CopyResult, Delivered, Delivery, Folder, FolderChange,
    FolderChanges, FolderId, FolderStatus, Grant, MessageRecord, MessageSummary, ModSeq,
    NewAccount, NewQueuedMessage, QueueAttempt, QueueEntry, QueueId, Result, Store, StoreError,
    StoreFlagsResult, TextField, Uid,
};
use crate::{
    AccountDetails, AuditEntry, NewAuditEntry, NewRequest, NewUnit, PasswordChange, Request,
    RequestDecision, RequestId, RequestStatus, StateChange, Unit, UnitId,
};
use crate::{ApiCredential, ApiCredentialId, ApiCredentialKind, NewApiCredential};
use crate::{AppPassword, AppPasswordId, NewAppPassword, TotpSecret};
use async_trait::async_trait;
use congvu_core::{Flags, SpecialUse, flags::FlagOp};
use sqlx::Connection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, broadcast, mpsc, oneshot};

/// How long a connection waits for a lock held by another process (a backup, the CLI)
/// before giving up with "storage unavailable".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers run beside the writer; the machine has few cores, so a handful is enough.
const READ_CONNECTIONS: u32 = 8;
/// Memory for parsed message indexes (`Shared::indexes`): 2 to 3 KB each, so about 40,000
/// messages, the ones staff opened lately. A miss is a query and a JSON parse of the
/// envelope and body structure (0.1 to 0.2 ms under load).
const INDEX_CACHE_BYTES: usize = 96 << 20;
/// Bytes of the database file each connection maps (SQLite's `mmap_size`).
const MMAP_SIZE: u64 = 256 << 20;
/// Page cache per connection, as SQLite's negative `cache_size`: KiB, here 16 MiB.
const PAGE_CACHE_KIB: i64 = -16 * 1024;
/// Writes waiting for the mailbox writer; senders wait beyond this (back-pressure on SMTP).
const MAILBOX_WRITE_QUEUE: usize = 4096;
/// Change notifications kept for slow IDLE listeners before they lag (they then re-sync).
const CHANGE_BUFFER: usize = 4096;

/// The SQLite store. Open it once per process and share it (`Arc<dyn Store>`).
pub struct SqliteStore {
    shared: Arc<Shared>,
    /// The mailbox writer's group commit (`deliver.rs`): deliveries, STORE, EXPUNGE.
    mailbox_writes: mpsc::Sender<deliver::Pending>,
    writer: Dedicated,
    /// Notices other processes' commits (`heads.rs`).
    watcher: tokio::task::JoinHandle<()>,
    /// The outbound queue's group commit (`queue.rs`): enqueue, attempts, deletes.
    queue_writes: mpsc::Sender<queue::QueueWrite>,
    queue_writer: Dedicated,
}

/// A writer task on its own OS thread, with a single-threaded runtime of its own. A batch
/// makes a dozen round trips to SQLite's thread per write; on the shared runtime each of
/// them waited for a worker busy with every session's task (under the IMAP mixed load, a
/// STORE took 30 ms, almost all of it queueing), while here the kernel wakes the writer as
/// soon as SQLite answers.
struct Dedicated {
    /// Sent when the task ends; dropped unsent if it panicked.
    done: oneshot::Receiver<()>,
}

impl Dedicated {
    fn spawn<F>(name: &str, task: F) -> Result<Dedicated>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("{name} runtime: {e}")))?;
        let (tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(task);
                let _ = tx.send(());
            })
            .map_err(|e| StoreError::Unavailable(format!("{name} thread: {e}")))?;
        Ok(Dedicated { done })
    }

    /// Waits until the task has ended (its queue closed and drained).
    async fn join(self, name: &str) -> Result<()> {
        self.done
            .await
            .map_err(|_| StoreError::Unavailable(format!("{name} stopped abnormally")))
    }
}

/// What the writer task and the store methods share.
pub(crate) struct Shared {
    /// The one connection every write goes through.
    write: Mutex<SqliteConnection>,
    read: SqlitePool,
    changes: broadcast::Sender<FolderChange>,
    /// Transactions the mailbox writer committed with deliveries, and the deliveries they held.
    batches: AtomicU64,
    batched_deliveries: AtomicU64,
    /// Every transaction the mailbox writer committed, and the writes (of any kind) they held.
    write_batches: AtomicU64,
    batched_writes: AtomicU64,
    /// Views of folders for SELECT (`read.rs`).
    views: read::ViewCache,
    /// Parsed indexes (envelope, body structure) of recently fetched messages, by hash
    /// (`read.rs`): a list view fetches the same newest messages again and again.
    indexes: crate::recent::RecentCache<congvu_wire::mime::MessageIndex>,
    /// Header search text of messages, by hash (`search.rs`).
    header_texts: crate::recent::RecentCache<search::HeaderText>,
    /// Each folder's highest MODSEQ and row as last committed or read (`heads.rs`).
    heads: heads::Heads,
    /// The message files, once [`SqliteStore::guard_blobs`] was called: checked before a new
    /// reference to a blob is committed (`garbage.rs`).
    blobs: std::sync::OnceLock<Arc<dyn crate::BlobStore>>,
    /// `PRAGMA data_version` of the write connection when last read (`notice_other_writers`).
    data_version: std::sync::atomic::AtomicI64,
}

/// Counters of the group commit, for metrics and tests: `deliveries / batches` is the
/// number of deliveries sharing one fsync, `writes / write_batches` that of all writes
/// (deliveries, STOREs, EXPUNGEs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub batches: u64,
    pub deliveries: u64,
    pub write_batches: u64,
    pub writes: u64,
}

impl Shared {
    /// Records committed changes in `heads` and sends their notifications; nobody listening
    /// is fine. Called after the commit and before the writer's caller is answered.
    fn notify(&self, changes: impl IntoIterator<Item = FolderChange>) {
        for change in changes {
            self.heads.committed(change.folder, change.modseq);
            let _ = self.changes.send(change);
        }
    }
}

/// After another process's commit: the folder heads may be old, and the message caches may
/// hold what it purged (an operator's `purge` must leave no copy in this process's memory
/// either); views too, as a folder it deleted may give its id to a new one.
fn forget_what_others_may_have_changed(shared: &Shared) {
    shared.heads.forget_all();
    shared.indexes.clear();
    shared.header_texts.clear();
    // A purge by the CLI may have deleted folders whose ids a new folder can take.
    shared.views.clear();
    if let Some(blobs) = shared.blobs.get() {
        blobs.forget_cached();
    }
}

/// Looks every [`heads::WATCH_INTERVAL`] for commits by another process (the CLI) and makes
/// `heads` forget what it knew. Ends when the store is gone.
async fn watch_other_writers(shared: std::sync::Weak<Shared>) {
    loop {
        tokio::time::sleep(heads::WATCH_INTERVAL).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        notice_other_writers(&shared).await;
    }
}

/// Makes `heads` forget what it knew when another process committed since the last look:
/// `PRAGMA data_version` on the write connection changes only then.
async fn notice_other_writers(shared: &Shared) {
    let version = {
        let mut conn = shared.write.lock().await;
        sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut *conn)
            .await
    };
    match version {
        Ok(v) => {
            if shared.data_version.swap(v, Ordering::Relaxed) != v {
                forget_what_others_may_have_changed(shared);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading data_version failed");
            forget_what_others_may_have_changed(shared);
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, applies pending migrations, and
    /// starts the delivery writer task. Must be called inside a tokio runtime.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Pages are read through a memory map instead of a `pread` copy each (the list
            // view's FETCH reads hundreds of pages), and each connection keeps more of them.
            .pragma("mmap_size", MMAP_SIZE.to_string())
            .pragma("cache_size", PAGE_CACHE_KIB.to_string());
        let mut write = SqliteConnection::connect_with(&options)
            .await
            .map_err(rows::db)?;
        sqlx::migrate!("./migrations")
            .run(&mut write)
            .await
            .map_err(|e| StoreError::Unavailable(format!("database migration failed: {e}")))?;
        // Read before anything is known, so every later commit by another process shows.
        let data_version = sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut write)
            .await
            .map_err(rows::db)?;
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .min_connections(1)
            .connect_with(options)
            .await
            .map_err(rows::db)?;
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let shared = Arc::new(Shared {
            write: Mutex::new(write),
            read,
            changes,
            batches: AtomicU64::new(0),
            batched_deliveries: AtomicU64::new(0),
            write_batches: AtomicU64::new(0),
            batched_writes: AtomicU64::new(0),
            views: read::ViewCache::default(),
            indexes: crate::recent::RecentCache::new(INDEX_CACHE_BYTES, 256 << 10),
            header_texts: crate::recent::RecentCache::new(
                search::HEADER_TEXT_CACHE_BYTES,
                64 << 10,
            ),
            heads: heads::Heads::default(),
            blobs: std::sync::OnceLock::new(),
            data_version: std::sync::atomic::AtomicI64::new(data_version),
        });
        let (mailbox_writes, queue) = mpsc::channel(MAILBOX_WRITE_QUEUE);
        let writer =
            Dedicated::spawn("mailbox-writer", deliver::run_writer(shared.clone(), queue))?;
        let watcher = tokio::spawn(watch_other_writers(Arc::downgrade(&shared)));
        let (queue_writes, queue_rx) = mpsc::channel(queue::QUEUE_WRITES);
        let queue_writer =
            Dedicated::spawn("queue-writer", queue::run_writer(shared.clone(), queue_rx))?;
        Ok(SqliteStore {
            shared,
            mailbox_writes,
            writer,
            watcher,
            queue_writes,
            queue_writer,
        })
    }

    /// Makes every new reference to a message file (a delivery's new message row, a queued
    /// message) check that the file is still there before it commits, so garbage collection
    /// in this or another process can never leave a reference without its file. Call it
    /// once, right after opening, whenever the store is used with its blob store.
    pub fn guard_blobs(&self, blobs: Arc<dyn crate::BlobStore>) {
        let _ = self.shared.blobs.set(blobs);
    }

    /// How many delivery transactions were committed so far, and how many deliveries they held.
    pub fn delivery_stats(&self) -> DeliveryStats {
        DeliveryStats {
            batches: self.shared.batches.load(Ordering::Relaxed),
            deliveries: self.shared.batched_deliveries.load(Ordering::Relaxed),
            write_batches: self.shared.write_batches.load(Ordering::Relaxed),
            writes: self.shared.batched_writes.load(Ordering::Relaxed),
        }
    }

    /// Finishes queued deliveries and closes every connection. Dropping the store does the
    /// same in the background; call this when the caller must know the files are released.
    pub async fn close(self) -> Result<()> {
        let SqliteStore {
            shared,
            mailbox_writes,
            writer,
            watcher,
            queue_writes,
            queue_writer,
        } = self;
        watcher.abort();
        let _ = watcher.await;
        drop(mailbox_writes);
        drop(queue_writes);
        writer.join("delivery writer").await?;
        queue_writer.join("queue writer").await?;
        shared.read.close().await;
        match Arc::try_unwrap(shared) {
            Ok(shared) => shared.write.into_inner().close().await.map_err(rows::db),
            // Unreachable once the writer has ended, but harmless: the connection closes on drop.
            Err(_) => Ok(()),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, new: NewAccount) -> Result<Account> {
        accounts::create_account(&self.shared, new).await
    }

    async fn account_by_address(&self, address: &str) -> Result<Option<Account>> {
        accounts::account_by_address(&self.shared.read, address).await
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        accounts::account_by_id(&self.shared.read, id).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        accounts::list_accounts(&self.shared.read).await
    }

    async fn set_password_hash(&self, id: AccountId, hash: &str) -> Result<()> {
        accounts::set_password_hash(&self.shared, id, hash).await
    }

    async fn set_account_state(&self, id: AccountId, state: AccountState) -> Result<()> {
        accounts::set_account_state(&self.shared, id, state).await
    }

    async fn purge_account(
        &self,
        id: AccountId,
        at: i64,
        reason: &str,
    ) -> Result<crate::PurgedAccount> {
        let purged = accounts::purge_account(&self.shared, id, at, reason).await;
        // The account's folders are gone without new MODSEQs.
        self.shared.heads.forget_all();
        purged
    }

    async fn collect_garbage(
        &self,
        blobs: &dyn crate::BlobStore,
        now: i64,
    ) -> Result<crate::Garbage> {
        garbage::collect(&self.shared, blobs, now).await
    }

    async fn list_folders(&self, account: AccountId) -> Result<Vec<Folder>> {
        folders::list_folders(&self.shared.read, account).await
    }

    async fn folder_by_name(&self, account: AccountId, name: &str) -> Result<Option<Folder>> {
        folders::folder_by_name(&self.shared.read, &self.shared.heads, account, name).await
    }

    async fn folder_by_id(&self, folder: FolderId) -> Result<Option<Folder>> {
        folders::folder_by_id(&self.shared.read, folder).await
    }

    async fn create_folder(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Folder> {
        folders::create_folder(&self.shared, account, name, special_use).await
    }

    async fn delete_folder(&self, account: AccountId, name: &str) -> Result<()> {
        folders::delete_folder(&self.shared, account, name).await
    }

    async fn rename_folder(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        folders::rename_folder(&self.shared, account, from, to).await
    }

    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()> {
        folders::set_subscribed(&self.shared, account, name, subscribed).await
    }

    async fn folder_status(&self, folder: FolderId) -> Result<FolderStatus> {
        folders::folder_status(&self.shared.read, folder).await
    }

    async fn deliver(&self, delivery: Delivery) -> Result<Vec<Delivered>> {
        deliver::deliver(&self.mailbox_writes, delivery).await
    }

    async fn store_flags(
        &self,
        folder: FolderId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<StoreFlagsResult> {
        let change = flags::FlagChange {
            folder,
            uids: uids.to_vec(),
            op,
            flags: flags.clone(),
            unchanged_since,
        };
        deliver::store_flags(&self.mailbox_writes, change).await
    }

    async fn copy_messages(
        &self,
        from: FolderId,
        uids: &[Uid],
        to: FolderId,
    ) -> Result<CopyResult> {
        messages::copy_messages(&self.shared, from, uids, to, false).await
    }

    async fn move_messages(
        &self,
        from: FolderId,
        uids: &[Uid],
        to: FolderId,
    ) -> Result<CopyResult> {
        messages::copy_messages(&self.shared, from, uids, to, true).await
    }

    async fn expunge(&self, folder: FolderId, uids: Option<&[Uid]>) -> Result<Vec<Uid>> {
        deliver::expunge(&self.mailbox_writes, folder, uids.map(<[Uid]>::to_vec)).await
    }

    async fn list_messages(&self, folder: FolderId) -> Result<Vec<MessageSummary>> {
        read::list_messages(&self.shared, folder).await
    }

    async fn fetch_records(&self, folder: FolderId, uids: &[Uid]) -> Result<Vec<MessageRecord>> {
        read::fetch_records(&self.shared, folder, uids).await
    }

    async fn sent_dates(&self, folder: FolderId) -> Result<Vec<(Uid, Option<i64>)>> {
        read::sent_dates(&self.shared, folder).await
    }

    async fn folder_view(&self, folder: &Folder) -> Result<Arc<crate::FolderView>> {
        read::folder_view(&self.shared, folder).await
    }

    async fn fetch_bodies(
        &self,
        folder: FolderId,
        uids: &[Uid],
    ) -> Result<Vec<(MessageSummary, crate::BlobHash)>> {
        read::fetch_bodies(&self.shared, folder, uids).await
    }

    async fn changes_since(&self, folder: FolderId, modseq: ModSeq) -> Result<FolderChanges> {
        read::changes_since(&self.shared, folder, modseq).await
    }

    fn unchanged_since(&self, folder: FolderId, modseq: ModSeq) -> bool {
        self.shared.heads.unchanged_since(folder, modseq)
    }

    async fn notice_other_writers(&self) {
        notice_other_writers(&self.shared).await
    }

    async fn search_text(
        &self,
        folder: FolderId,
        field: TextField,
        needle: &str,
    ) -> Result<Vec<Uid>> {
        search::search_text(&self.shared, folder, field, needle).await
    }

    fn subscribe(&self) -> broadcast::Receiver<FolderChange> {
        self.shared.changes.subscribe()
    }

    async fn set_grant(&self, mailbox: AccountId, grantee: AccountId, rights: &str) -> Result<()> {
        grants::set_grant(&self.shared, mailbox, grantee, rights).await
    }

    async fn grants_to(&self, grantee: AccountId) -> Result<Vec<Grant>> {
        grants::grants_to(&self.shared.read, grantee).await
    }

    async fn grants_on(&self, mailbox: AccountId) -> Result<Vec<Grant>> {
        grants::grants_on(&self.shared.read, mailbox).await
    }

    async fn private_seen(&self, reader: AccountId, folder: FolderId) -> Result<Vec<Uid>> {
        private_seen::private_seen(&self.shared.read, reader, folder).await
    }

    async fn set_private_seen(
        &self,
        reader: AccountId,
        folder: FolderId,
        uids: &[Uid],
        seen: bool,
    ) -> Result<()> {
        private_seen::set_private_seen(&self.shared, reader, folder, uids, seen).await
    }

    async fn enqueue(&self, message: NewQueuedMessage) -> Result<QueueId> {
        queue::enqueue(&self.queue_writes, message).await
    }

    async fn claim_due(&self, now: i64, limit: usize, lease: Duration) -> Result<Vec<QueueEntry>> {
        queue::claim_due(&self.queue_writes, now, limit, lease).await
    }

    async fn record_attempt(&self, attempt: QueueAttempt) -> Result<()> {
        queue::record_attempt(&self.queue_writes, attempt).await
    }

    async fn list_queue(&self) -> Result<Vec<QueueEntry>> {
        queue::list_queue(&self.shared.read).await
    }

    async fn queue_entry(&self, id: QueueId) -> Result<Option<QueueEntry>> {
        queue::queue_entry(&self.shared.read, id).await
    }

    async fn retry_now(&self, id: QueueId) -> Result<()> {
        queue::retry_now(&self.shared, id).await
    }

    async fn delete_queued(&self, id: QueueId) -> Result<()> {
        queue::delete_queued(&self.queue_writes, id).await
    }

    async fn delete_queued_if_finished(
        &self,
        id: QueueId,
        finished: &[crate::QueueRecipientId],
    ) -> Result<bool> {
        queue::delete_if_finished(&self.queue_writes, id, finished).await
    }

    async fn create_unit(&self, new: NewUnit) -> Result<Unit> {
        units::create_unit(&self.shared, new).await
    }

    async fn unit_by_id(&self, id: UnitId) -> Result<Option<Unit>> {
        units::unit_by_id(&self.shared.read, id).await
    }

    async fn unit_by_account(&self, account: AccountId) -> Result<Option<Unit>> {
        units::unit_by_account(&self.shared.read, account).await
    }

    async fn list_units(&self) -> Result<Vec<Unit>> {
        units::list_units(&self.shared.read).await
    }

    async fn directory_rows(&self) -> Result<Vec<crate::DirectoryRow>> {
        directory::directory_rows(&self.shared.read).await
    }

    async fn add_unit_contact(&self, unit: UnitId, account: AccountId) -> Result<()> {
        units::add_unit_contact(&self.shared, unit, account).await
    }

    async fn contact_units(&self, account: AccountId) -> Result<Vec<UnitId>> {
        units::contact_units(&self.shared.read, account).await
    }

    async fn create_account_with_details(
        &self,
        new: NewAccount,
        details: AccountDetails,
    ) -> Result<Account> {
        account_details::create_account_with_details(&self.shared, new, details).await
    }

    async fn account_details(&self, id: AccountId) -> Result<Option<AccountDetails>> {
        account_details::account_details(&self.shared.read, id).await
    }

    async fn update_account_details(
        &self,
        id: AccountId,
        display_name: &str,
        details: &AccountDetails,
    ) -> Result<()> {
        account_details::update_account_details(&self.shared, id, display_name, details).await
    }

    async fn change_account_state(&self, id: AccountId, change: StateChange) -> Result<()> {
        account_details::change_account_state(&self.shared, id, change).await
    }

    async fn state_history(&self, id: AccountId) -> Result<Vec<StateChange>> {
        account_details::state_history(&self.shared.read, id).await
    }

    async fn change_password(&self, id: AccountId, change: PasswordChange) -> Result<()> {
        account_details::change_password(&self.shared, id, change).await
    }

    async fn password_history(&self, id: AccountId) -> Result<Vec<String>> {
        account_details::password_history(&self.shared.read, id).await
    }

    async fn file_request(&self, new: NewRequest) -> Result<Request> {
        requests::file_request(&self.shared, new).await
    }

    async fn request_by_id(&self, id: RequestId) -> Result<Option<Request>> {
        requests::request_by_id(&self.shared.read, id).await
    }

    async fn list_requests(&self, status: Option<RequestStatus>) -> Result<Vec<Request>> {
        requests::list_requests(&self.shared.read, status).await
    }

    async fn decide_request(
        &self,
        id: RequestId,
        from: RequestStatus,
        decision: RequestDecision,
    ) -> Result<Request> {
        requests::decide_request(&self.shared, id, from, decision).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
        audit::append_audit(&self.shared, entry).await
    }

    async fn list_audit(&self) -> Result<Vec<AuditEntry>> {
        audit::list_audit(&self.shared.read).await
    }

    async fn create_api_credential(&self, new: NewApiCredential) -> Result<ApiCredential> {
        api_tokens::create(&self.shared, new).await
    }

    async fn use_api_credential(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<ApiCredential>> {
        api_tokens::use_credential(&self.shared, token_hash, now).await
    }

    async fn list_api_credentials(
        &self,
        kind: ApiCredentialKind,
        account: Option<AccountId>,
    ) -> Result<Vec<ApiCredential>> {
        api_tokens::list(&self.shared.read, kind, account).await
    }

    async fn revoke_api_credential(&self, id: ApiCredentialId) -> Result<()> {
        api_tokens::revoke(&self.shared, id).await
    }

    async fn delete_api_credential(&self, token_hash: &str) -> Result<bool> {
        api_tokens::delete_by_hash(&self.shared, token_hash).await
    }

    async fn add_app_password(&self, new: NewAppPassword) -> Result<AppPassword> {
        app_passwords::add_app_password(&self.shared, new).await
    }

    async fn app_passwords(&self, account: AccountId) -> Result<Vec<AppPassword>> {
        app_passwords::app_passwords(&self.shared.read, account).await
    }

    async fn revoke_app_password(&self, account: AccountId, label: &str) -> Result<()> {
        app_passwords::revoke_app_password(&self.shared, account, label).await
    }

    async fn touch_app_password(&self, id: AppPasswordId, at: i64) -> Result<()> {
        app_passwords::touch_app_password(&self.shared, id, at).await
    }

    async fn totp(&self, account: AccountId) -> Result<Option<TotpSecret>> {
        totp::totp(&self.shared.read, account).await
    }

    async fn login_failures(&self, scope: &str, key: &str) -> Result<Option<crate::LoginFailures>> {
        security::login_failures(&self.shared.read, scope, key).await
    }

    async fn record_login_failure(
        &self,
        scope: &str,
        key: &str,
        now: i64,
        window: i64,
    ) -> Result<crate::LoginFailures> {
        security::record_login_failure(&self.shared, scope, key, now, window).await
    }

    async fn block_login(&self, scope: &str, key: &str, until: i64) -> Result<()> {
        security::block_login(&self.shared, scope, key, until).await
    }

    async fn clear_login_failures(&self, scope: &str, key: &str) -> Result<()> {
        security::clear_login_failures(&self.shared, scope, key).await
    }

    async fn knows_login_network(&self, account: AccountId, network: &str) -> Result<bool> {
        security::knows_login_network(&self.shared.read, account, network).await
    }

    async fn note_login_network(
        &self,
        account: AccountId,
        network: &str,
        now: i64,
    ) -> Result<crate::NetworkNote> {
        security::note_login_network(&self.shared, account, network, now).await
    }

    async fn count_sent_message(
        &self,
        account: AccountId,
        hour: i64,
        oldest_hour: i64,
    ) -> Result<crate::SendCounts> {
        security::count_sent_message(&self.shared, account, hour, oldest_hour).await
    }

    async fn flag_send_hour(&self, account: AccountId, hour: i64) -> Result<bool> {
        security::flag_send_hour(&self.shared, account, hour).await
    }

    async fn record_security_event(
        &self,
        event: crate::NewSecurityEvent,
    ) -> Result<crate::SecurityEvent> {
        security::record_security_event(&self.shared, event).await
    }

    async fn pending_security_events(&self, limit: usize) -> Result<Vec<crate::SecurityEvent>> {
        security::pending_security_events(&self.shared.read, limit).await
    }

    async fn mark_security_event_notified(&self, id: i64, at: i64) -> Result<()> {
        security::mark_security_event_notified(&self.shared, id, at).await
    }

    async fn hold_outbound(&self, hold: crate::OutboundHold) -> Result<()> {
        security::hold_outbound(&self.shared, hold).await
    }

    async fn outbound_hold(&self, address: &str) -> Result<Option<crate::OutboundHold>> {
        security::outbound_hold(&self.shared.read, address).await
    }

    async fn outbound_holds(&self) -> Result<Vec<crate::OutboundHold>> {
        security::outbound_holds(&self.shared.read).await
    }

    async fn hold_queued(&self, id: QueueId, address: &str, at: i64) -> Result<()> {
        security::hold_queued(&self.shared, id, address, at).await
    }

    async fn held_queued(&self) -> Result<Vec<(QueueId, String)>> {
        security::held_queued(&self.shared.read).await
    }

    async fn release_outbound(&self, address: &str, now: i64) -> Result<usize> {
        security::release_outbound(&self.shared, address, now).await
    }

    async fn queue_size(&self) -> Result<(u64, u64)> {
        security::queue_size(&self.shared.read).await
    }

    async fn set_totp(&self, account: AccountId, secret: Option<&[u8]>, at: i64) -> Result<()> {
        totp::set_totp(&self.shared, account, secret, at).await
    }

    async fn use_totp_step(&self, account: AccountId, step: i64) -> Result<bool> {
        totp::use_totp_step(&self.shared, account, step).await
    }

    async fn record_expiry_warning(
        &self,
        account: AccountId,
        password_changed_at: i64,
        days: u32,
        at: i64,
    ) -> Result<bool> {
        app_passwords::record_expiry_warning(&self.shared, account, password_changed_at, days, at)
            .await
    }

    async fn expiry_warning_sent(
        &self,
        account: AccountId,
        password_changed_at: i64,
        days: u32,
    ) -> Result<bool> {
        app_passwords::expiry_warning_sent(&self.shared.read, account, password_changed_at, days)
            .await
    }

    async fn sieve_scripts(&self, account: AccountId) -> Result<Vec<crate::SieveScriptInfo>> {
        sieve::list(&self.shared.read, account).await
    }

    async fn sieve_script(&self, account: AccountId, name: &str) -> Result<Option<Vec<u8>>> {
        sieve::get(&self.shared.read, account, name).await
    }

    async fn active_sieve_script(&self, account: AccountId) -> Result<Option<(String, Vec<u8>)>> {
        sieve::active(&self.shared.read, account).await
    }

    async fn put_sieve_script(
        &self,
        account: AccountId,
        name: &str,
        content: &[u8],
        at: i64,
    ) -> Result<()> {
        sieve::put(&self.shared, account, name, content, at).await
    }

    async fn delete_sieve_script(&self, account: AccountId, name: &str) -> Result<()> {
        sieve::delete(&self.shared, account, name).await
    }

    async fn rename_sieve_script(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        sieve::rename(&self.shared, account, from, to).await
    }

    async fn set_active_sieve_script(&self, account: AccountId, name: Option<&str>) -> Result<()> {
        sieve::set_active(&self.shared, account, name).await
    }

    async fn claim_vacation_reply(
        &self,
        account: AccountId,
        handle: &str,
        sender: &str,
        now: i64,
        period: i64,
    ) -> Result<bool> {
        sieve::claim_vacation_reply(&self.shared, account, handle, sender, now, period).await
    }

    async fn bayes_counts(
        &self,
        domain: &str,
        account: Option<AccountId>,
        tokens: &[i64],
    ) -> Result<crate::BayesCounts> {
        bayes::counts(&self.shared.read, domain, account, tokens).await
    }

    async fn bayes_train(
        &self,
        lessons: &[crate::BayesLesson],
    ) -> Result<Vec<crate::BayesTrained>> {
        bayes::train(&self.shared, lessons).await
    }

    async fn quarantine(
        &self,
        new: crate::NewQuarantined,
        index: &congvu_wire::mime::MessageIndex,
    ) -> Result<crate::Quarantined> {
        quarantine::quarantine(&self.shared, new, index).await
    }

    async fn list_quarantine(&self) -> Result<Vec<crate::Quarantined>> {
        quarantine::list(&self.shared.read).await
    }

    async fn quarantined(&self, id: crate::QuarantineId) -> Result<Option<crate::Quarantined>> {
        quarantine::get(&self.shared.read, id).await
    }

    async fn remove_quarantined(&self, id: crate::QuarantineId) -> Result<crate::Quarantined> {
        quarantine::remove(&self.shared, id).await
    }

    async fn locate_messages(
        &self,
        key: &crate::MessageKey,
    ) -> Result<Vec<crate::MessageLocation>> {
        quarantine::locate(&self.shared.read, key).await
    }

    async fn forwards(&self, account: AccountId) -> Result<Vec<String>> {
        forwards::list(&self.shared.read, account).await
    }

    async fn add_forward(&self, account: AccountId, address: &str, at: i64) -> Result<()> {
        forwards::add(&self.shared, account, address, at).await
    }

    async fn remove_forward(&self, account: AccountId, address: &str) -> Result<()> {
        forwards::remove(&self.shared, account, address).await
    }
}
