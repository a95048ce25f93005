//! The operations layer as the operator's commands open it: the configuration file and the
//! store, handed to `congvu_web::ops` (shared with the JSON API), with the binary's clock and
//! randomness. `Ops` dereferences to `congvu_web::ops::Ops`, so the commands call the same
//! functions the API calls.

use crate::config::{self, Loaded};
use crate::storage;
use anyhow::Result;
use std::path::Path;

pub use congvu_web::ops::{Who, rules_for, to_lifecycle, unit_kind};

/// An opened installation: its configuration and the shared operations on its store.
pub struct Ops {
    pub loaded: Loaded,
    /// The message files, for the commands that read or remove them.
    pub blobs: std::sync::Arc<dyn congvu_store::BlobStore>,
    inner: congvu_web::ops::Ops,
}

impl std::ops::Deref for Ops {
    type Target = congvu_web::ops::Ops;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl Ops {
    pub async fn open(config_path: &Path) -> Result<Ops> {
        let loaded = config::load(config_path, std::env::vars())?;
        let (store, blobs) = storage::open(&loaded).await?;
        let inner = shared_ops(&loaded, store);
        Ok(Ops {
            loaded,
            blobs,
            inner,
        })
    }
}

/// The operations on `store` with the settings of `loaded` (also used by `serve` for the API).
pub fn shared_ops(
    loaded: &Loaded,
    store: std::sync::Arc<dyn congvu_store::Store>,
) -> congvu_web::ops::Ops {
    let c = &loaded.config;
    congvu_web::ops::Ops {
        store,
        settings: congvu_web::ops::OpsSettings {
            domains: c.server.domains.clone(),
            naming: c.naming.naming_style(),
            password_history: usize::try_from(c.policy.password_history).unwrap_or(usize::MAX),
            revoked_retention: c.policy.revoked_retention_secs(),
            user_max_age: c.policy.user_max_age_secs(),
            admin_max_age: c.policy.admin_max_age_secs(),
        },
        env: congvu_web::ops::Env {
            now: storage::now,
            random_password: storage::random_password,
            random_salt: storage::random_salt,
        },
    }
}
