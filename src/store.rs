//! Where client records and the revocation denylist live: the
//! [`ClientStore`] capability, and an in-memory store for tests and benchmarks.
//! On Workers they are two KV namespaces: `CLIENTS` (records, the issuer
//! only) and `REVOCATIONS` (the denylist, which APIs may read).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// KV key prefix of the revocation denylist.
pub const REVOKED_KEY_PREFIX: &str = "revoked:";

/// The denylist key of a revoked token's `jti`.
pub fn revoked_key(jti: &str) -> String {
    format!("{REVOKED_KEY_PREFIX}{jti}")
}

/// Why the store could not answer. The text is logged, never sent to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Unreachable or timed out: worth retrying (`503`).
    Unavailable(String),
    /// Not configured (e.g. no KV binding): retrying will not help (`500`).
    Misconfigured(String),
    /// A write refused as too many (KV's `429`): most often another write
    /// to the same key within the last second (Workers KV allows one per
    /// key per second), but also an account's write limit. The caller may
    /// retry once after a second; a second refusal is `503`.
    WriteConflict(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(e) => write!(f, "client store unavailable: {e}"),
            StoreError::Misconfigured(e) => write!(f, "client store misconfigured: {e}"),
            StoreError::WriteConflict(e) => write!(f, "concurrent write to the same key: {e}"),
        }
    }
}

/// Client records (read) and the revocation denylist (read and write).
/// Implementations return the raw stored JSON; parsing and validation
/// belong to the core.
// Implementations run on a single-threaded runtime (Workers); no Send bound wanted.
#[allow(async_fn_in_trait)]
pub trait ClientStore {
    /// The record stored for `client_id`, if any. `cache_ttl` is how long an
    /// edge cache may serve it (KV's `cacheTtl`); stores without a cache ignore it.
    async fn get_record(
        &self,
        client_id: &str,
        cache_ttl: u64,
    ) -> Result<Option<String>, StoreError>;

    /// Whether the token with this `jti` has been revoked.
    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// Puts `jti` (issued to `client_id`) on the denylist until `expires_at`
    /// (Unix seconds; at least a minute ahead, as KV requires).
    async fn revoke(&self, jti: &str, client_id: &str, expires_at: u64) -> Result<(), StoreError>;
}

/// An in-memory store, with switches that make every operation fail or
/// never answer (fault injection for tests).
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: RefCell<HashMap<String, String>>,
    revoked: RefCell<HashMap<String, u64>>,
    unavailable: Cell<bool>,
    hanging: Cell<bool>,
    write_conflicts: Cell<u32>,
    reads: Cell<u64>,
    writes: Cell<u64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores raw JSON for `client_id`.
    pub fn put(&self, client_id: &str, json: String) {
        self.records.borrow_mut().insert(client_id.to_owned(), json);
    }

    /// Removes a client record.
    pub fn delete(&self, client_id: &str) {
        self.records.borrow_mut().remove(client_id);
    }

    /// Makes operations fail (or succeed again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.set(unavailable);
    }

    /// Makes operations never complete (or answer again).
    pub fn set_hanging(&self, hanging: bool) {
        self.hanging.set(hanging);
    }

    /// Makes the next `writes` denylist writes fail as a
    /// [`StoreError::WriteConflict`] without landing (KV's `429`: a
    /// concurrent write to the key, not yet visible to reads here, or an
    /// exhausted write limit).
    pub fn set_write_conflicts(&self, writes: u32) {
        self.write_conflicts.set(writes);
    }

    /// How many denylist writes were attempted.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }

    /// How many reads were made.
    pub fn reads(&self) -> u64 {
        self.reads.get()
    }

    /// The denylist expiry recorded for `jti`, if revoked.
    pub fn revoked_until(&self, jti: &str) -> Option<u64> {
        self.revoked.borrow().get(jti).copied()
    }

    async fn check(&self) -> Result<(), StoreError> {
        if self.hanging.get() {
            std::future::pending::<()>().await;
        }
        if self.unavailable.get() {
            return Err(StoreError::Unavailable("injected failure".into()));
        }
        Ok(())
    }
}

impl ClientStore for MemoryStore {
    async fn get_record(
        &self,
        client_id: &str,
        _cache_ttl: u64,
    ) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        self.check().await?;
        Ok(self.records.borrow().get(client_id).cloned())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.reads.set(self.reads.get() + 1);
        self.check().await?;
        Ok(self.revoked.borrow().contains_key(jti))
    }

    async fn revoke(&self, jti: &str, _client_id: &str, expires_at: u64) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        self.check().await?;
        if self.write_conflicts.get() > 0 {
            self.write_conflicts.set(self.write_conflicts.get() - 1);
            return Err(StoreError::WriteConflict(
                "KV PUT failed: 429 Too Many Requests (injected)".into(),
            ));
        }
        self.revoked.borrow_mut().insert(jti.to_owned(), expires_at);
        Ok(())
    }
}
