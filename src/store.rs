//! Where client records live: the [`ClientStore`] capability, and an
//! in-memory store for tests and benchmarks.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Why the store could not answer. The text is logged, never sent to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Unreachable or timed out: worth retrying (`503`).
    Unavailable(String),
    /// Not configured (e.g. no KV binding): retrying will not help (`500`).
    Misconfigured(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(e) => write!(f, "client store unavailable: {e}"),
            StoreError::Misconfigured(e) => write!(f, "client store misconfigured: {e}"),
        }
    }
}

/// Read access to client records. Implementations return the raw stored
/// JSON; parsing and validation belong to the core.
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
}

/// An in-memory store, with a switch that makes every read fail.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: RefCell<HashMap<String, String>>,
    unavailable: Cell<bool>,
    reads: Cell<u64>,
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

    /// Makes reads fail (or succeed again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.set(unavailable);
    }

    /// How many reads were made.
    pub fn reads(&self) -> u64 {
        self.reads.get()
    }
}

impl ClientStore for MemoryStore {
    async fn get_record(
        &self,
        client_id: &str,
        _cache_ttl: u64,
    ) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        if self.unavailable.get() {
            return Err(StoreError::Unavailable("injected failure".into()));
        }
        Ok(self.records.borrow().get(client_id).cloned())
    }
}
