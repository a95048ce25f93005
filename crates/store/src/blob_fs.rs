//! Message bodies as files, addressed by their BLAKE3 hash: `DIR/ab/<hash>` where `ab` is the
//! hash's first pair of hex digits. The 256 fan-out directories are created once at `open`, so
//! the hot path never creates (and fsyncs) a directory; ext4's hashed directories keep lookups
//! fast with tens of thousands of files in each.
//!
//! What this keeps true:
//! - A blob is stored once however many mailboxes hold it: `put` of bytes already present
//!   returns the existing hash without writing.
//! - `put` returns only after the bytes are on stable storage: the data is written to a
//!   temporary file, the file is fsynced, renamed into place, and the directory holding it
//!   (and every directory it had to create) is fsynced. A crash therefore leaves either no
//!   file or a complete one under the final name; never a torn blob.
//! - Temporary files live in `DIR/tmp/` (same filesystem, so the rename is atomic) rather than
//!   beside their final name, so that the orphans a crash leaves are removed at `open` by
//!   reading one directory instead of walking the whole fan-out.
//! - `get` checks the bytes against their hash: a corrupted file is reported, never served.
//! - Hashes given to `get` are validated (64 lowercase hex digits), so no path can escape `DIR`.
//! - Recently written and read blobs up to [`CACHED_BLOB_MAX`] are kept in memory within
//!   [`BLOB_CACHE_BYTES`] (`recent.rs`): a message is read right after it is written (the
//!   outbound queue sends it, an IDLE client fetches it) and a list view fetches the same
//!   newest messages again and again. Content addressing means a cached blob is never stale;
//!   `delete` drops it from the cache too.
//!
//! All file I/O runs in `tokio::task::spawn_blocking`.

use crate::recent::RecentCache;
use crate::{BlobHash, BlobStore, Result, StoreError};
use async_trait::async_trait;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Name of the directory holding files being written.
const TMP_DIR: &str = "tmp";
/// Memory for recently used blobs.
const BLOB_CACHE_BYTES: usize = 64 << 20;
/// Larger blobs are never cached (one must not push out hundreds of ordinary messages).
const CACHED_BLOB_MAX: usize = 1 << 20;

/// A content-addressed blob store on the local filesystem.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    tmp: PathBuf,
    /// Makes temporary names unique within this process (with the pid for other processes).
    counter: AtomicU64,
    recent: RecentCache<Vec<u8>>,
}

impl FsBlobStore {
    /// Opens (creating if needed) the store rooted at `dir` and removes temporary files left
    /// by a crash.
    pub async fn open(dir: &Path) -> Result<Self> {
        let root = dir.to_path_buf();
        let tmp = root.join(TMP_DIR);
        let (root, tmp) = blocking(move || {
            fs::create_dir_all(&tmp)?;
            for i in 0..=255u8 {
                let dir = root.join(format!("{i:02x}"));
                if !dir.is_dir() {
                    fs::create_dir(&dir)?;
                }
            }
            for entry in fs::read_dir(&tmp)? {
                let entry = entry?;
                if entry.file_type()?.is_file() {
                    fs::remove_file(entry.path())?;
                }
            }
            sync_dir(&root)?;
            Ok::<_, io::Error>((root, tmp))
        })
        .await?;
        Ok(FsBlobStore {
            inner: Arc::new(Inner {
                root,
                tmp,
                counter: AtomicU64::new(0),
                recent: RecentCache::new(BLOB_CACHE_BYTES, CACHED_BLOB_MAX),
            }),
        })
    }

    /// The root directory of the store.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the blob with this hash lives (whether or not it exists).
    pub fn path_of(&self, hash: &BlobHash) -> Result<PathBuf> {
        blob_path(&self.inner.root, &hash.0)
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, data: &[u8]) -> Result<BlobHash> {
        let hash = BlobHash::of(data);
        let data = Arc::new(data.to_vec());
        let inner = self.inner.clone();
        let hex = hash.0.clone();
        let written = data.clone();
        blocking(move || write_blob(&inner, &hex, &written)).await?;
        if let Some(key) = crate::hash_bytes(&hash.0) {
            self.inner.recent.insert(&key, data.clone(), data.len());
        }
        Ok(hash)
    }

    async fn get(&self, hash: &BlobHash) -> Result<Arc<Vec<u8>>> {
        self.get_many(std::slice::from_ref(hash))
            .await
            .pop()
            .unwrap_or_else(|| Err(StoreError::Unavailable("blob not read".into())))
    }

    async fn get_many(&self, hashes: &[BlobHash]) -> Vec<Result<Arc<Vec<u8>>>> {
        let mut results: Vec<Option<Result<Arc<Vec<u8>>>>> = hashes
            .iter()
            .map(|h| {
                crate::hash_bytes(&h.0)
                    .and_then(|key| self.inner.recent.get(&key))
                    .map(Ok)
            })
            .collect();
        let missing: Vec<(usize, BlobHash)> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_none())
            .map(|(i, _)| (i, hashes[i].clone()))
            .collect();
        if !missing.is_empty() {
            let root = self.inner.root.clone();
            // One blocking task reads them all in turn: a thread hand-off costs more than
            // reading and hashing a 10 KB file, and the list view reads 50.
            let read = tokio::task::spawn_blocking(move || {
                missing
                    .into_iter()
                    .map(|(i, hash)| (i, read_verified(&root, &hash)))
                    .collect::<Vec<_>>()
            })
            .await;
            match read {
                Ok(read) => {
                    for (i, result) in read {
                        if let Ok(data) = &result
                            && let Some(key) = crate::hash_bytes(&hashes[i].0)
                        {
                            self.inner.recent.insert(&key, data.clone(), data.len());
                        }
                        results[i] = Some(result);
                    }
                }
                Err(e) => {
                    for r in results.iter_mut().filter(|r| r.is_none()) {
                        *r = Some(Err(StoreError::Unavailable(format!(
                            "blob reader stopped: {e}"
                        ))));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(StoreError::Unavailable("blob not read".into()))))
            .collect()
    }

    async fn total_size(&self) -> Result<u64> {
        let root = self.inner.root.clone();
        blocking(move || sum_sizes(&root)).await
    }

    async fn delete(&self, hash: &BlobHash) -> Result<()> {
        let path = blob_path(&self.inner.root, &hash.0)?;
        if let Some(key) = crate::hash_bytes(&hash.0) {
            self.inner.recent.remove(&key);
        }
        blocking(move || {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            // The removal must survive a crash like a write does: a file that came back
            // would only be garbage again, but a purge is promised to be final.
            match path.parent() {
                Some(dir) => sync_dir(dir),
                None => Ok(()),
            }
        })
        .await
    }

    fn forget_cached(&self) {
        self.inner.recent.clear();
    }

    fn contains(&self, hash: &BlobHash) -> bool {
        blob_path(&self.inner.root, &hash.0).is_ok_and(|path| path.exists())
    }
}

/// Reads a blob and checks it against its hash (blocking).
fn read_verified(root: &Path, hash: &BlobHash) -> Result<Arc<Vec<u8>>> {
    let path = blob_path(root, &hash.0)?;
    let data = match fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(StoreError::NotFound(format!("blob {hash}")));
        }
        Err(e) => return Err(io_error(e)),
    };
    if BlobHash::of(&data) != *hash {
        return Err(StoreError::Unavailable(format!(
            "blob {hash} is corrupted on disk"
        )));
    }
    Ok(Arc::new(data))
}

/// `ab/<hash>` under `root`, after checking that `hex` is a BLAKE3 hex digest.
fn blob_path(root: &Path, hex: &str) -> Result<PathBuf> {
    let valid = hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !valid {
        return Err(StoreError::Invalid(format!("not a blob hash: {hex:?}")));
    }
    Ok(root.join(&hex[0..2]).join(hex))
}

fn write_blob(inner: &Inner, hex: &str, data: &[u8]) -> io::Result<()> {
    let Ok(path) = blob_path(&inner.root, hex) else {
        return Err(io::Error::other("BLAKE3 produced an invalid hex digest"));
    };
    if path.exists() {
        return Ok(());
    }
    let Some(dir) = path.parent() else {
        return Err(io::Error::other("blob path has no parent"));
    };
    create_dirs_durably(&inner.root, dir)?;

    let n = inner.counter.fetch_add(1, Ordering::Relaxed);
    let tmp = inner.tmp.join(format!("{hex}.{}.{n}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        // Two writers of the same blob both rename complete files: the last one wins and
        // the content is identical.
        fs::rename(&tmp, &path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` (under `root`) and its missing parents, fsyncing each parent after a child
/// was created in it, so that a new directory survives a crash.
fn create_dirs_durably(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let Some(parent) = dir.parent() else {
        return Err(io::Error::other("directory has no parent"));
    };
    if parent != root {
        create_dirs_durably(root, parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(parent),
        // Another writer created it at the same time; it syncs the parent.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => sync_dir(parent),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Sums the sizes of the blobs in the fan-out (the `tmp` directory is not counted).
fn sum_sizes(root: &Path) -> Result<u64> {
    let mut total = 0u64;
    for first in fs::read_dir(root).map_err(io_error)? {
        let first = first.map_err(io_error)?;
        if first.file_name() == TMP_DIR || !first.file_type().map_err(io_error)?.is_dir() {
            continue;
        }
        for blob in fs::read_dir(first.path()).map_err(io_error)? {
            let meta = blob.map_err(io_error)?.metadata().map_err(io_error)?;
            if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

fn io_error(e: io::Error) -> StoreError {
    StoreError::Unavailable(format!("blob store: {e}"))
}

/// Runs blocking file I/O off the async workers.
async fn blocking<T, E, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    E: Into<BlockingError> + Send + 'static,
    F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.into().0),
        Err(e) => Err(StoreError::Unavailable(format!(
            "blob I/O task stopped: {e}"
        ))),
    }
}

/// Either error a blocking closure may return.
struct BlockingError(StoreError);

impl From<io::Error> for BlockingError {
    fn from(e: io::Error) -> Self {
        BlockingError(io_error(e))
    }
}

impl From<StoreError> for BlockingError {
    fn from(e: StoreError) -> Self {
        BlockingError(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_dedup_and_cleanup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::open(dir.path()).await.expect("open");
        let a = store.put(b"hello").await.expect("put");
        let again = store.put(b"hello").await.expect("put again");
        assert_eq!(a, again);
        assert_eq!(&*store.get(&a).await.expect("get"), b"hello");
        assert_eq!(store.total_size().await.expect("size"), 5);
        let path = store.path_of(&a).expect("path");
        assert_eq!(path, dir.path().join(&a.0[0..2]).join(&a.0));

        // A crash left a temporary file: open removes it.
        fs::write(dir.path().join(TMP_DIR).join("orphan"), b"x").expect("write orphan");
        let store = FsBlobStore::open(dir.path()).await.expect("reopen");
        assert!(!dir.path().join(TMP_DIR).join("orphan").exists());
        assert_eq!(&*store.get(&a).await.expect("get after reopen"), b"hello");
    }

    #[tokio::test]
    async fn bad_hashes_and_corruption_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::open(dir.path()).await.expect("open");
        let traversal = BlobHash("../../etc/passwd".into());
        assert!(matches!(
            store.get(&traversal).await,
            Err(StoreError::Invalid(_))
        ));
        let missing = BlobHash::of(b"never stored");
        assert!(matches!(
            store.get(&missing).await,
            Err(StoreError::NotFound(_))
        ));

        let h = store.put(b"original").await.expect("put");
        let good = store.put(b"fine").await.expect("put");
        fs::write(store.path_of(&h).expect("path"), b"tampered").expect("tamper");
        // What was just written is served from memory; a store opened afresh reads the disk.
        assert_eq!(&*store.get(&h).await.expect("cached"), b"original");
        let store = FsBlobStore::open(dir.path()).await.expect("reopen");
        assert!(matches!(
            store.get(&h).await,
            Err(StoreError::Unavailable(_))
        ));

        // get_many answers each blob on its own: one bad blob does not fail the others.
        let many = store
            .get_many(&[good.clone(), h, missing, traversal, good])
            .await;
        assert_eq!(many.len(), 5);
        assert_eq!(&**many[0].as_ref().expect("good"), b"fine");
        assert!(matches!(many[1], Err(StoreError::Unavailable(_))));
        assert!(matches!(many[2], Err(StoreError::NotFound(_))));
        assert!(matches!(many[3], Err(StoreError::Invalid(_))));
        assert_eq!(&**many[4].as_ref().expect("good again"), b"fine");
    }
}
