//! The [`ClientStore`] on Workers KV: client records in `CLIENTS`, the
//! revocation denylist in `REVOCATIONS`.

use edge_token_core::store::{
    revoked_key, used_assertion_key, ClientStore, StoreError, CLIENTS_BINDING, REVOCATIONS_BINDING,
};
use worker::Env;

/// Workers KV as a [`ClientStore`]: client records in `CLIENTS`, the
/// denylist in `REVOCATIONS`. Each binding is looked up on first use: a
/// request answered from the isolate cache never touches it. (The warm-up's
/// bindings are made-up objects that answer at once: see [`crate::warm`].)
pub(crate) struct KvClientStore<'e> {
    env: &'e Env,
    clients: std::cell::OnceCell<Result<worker::KvStore, String>>,
    revocations: std::cell::OnceCell<Result<worker::KvStore, String>>,
}

impl<'e> KvClientStore<'e> {
    pub(crate) fn new(env: &'e Env) -> Self {
        KvClientStore {
            env,
            clients: std::cell::OnceCell::new(),
            revocations: std::cell::OnceCell::new(),
        }
    }

    fn binding<'s>(
        &self,
        cell: &'s std::cell::OnceCell<Result<worker::KvStore, String>>,
        name: &str,
    ) -> Result<&'s worker::KvStore, StoreError> {
        cell.get_or_init(|| {
            self.env
                .kv(name)
                .map_err(|e| format!("KV binding {name}: {e}"))
        })
        .as_ref()
        .map_err(|e| StoreError::Misconfigured(e.clone()))
    }

    fn clients(&self) -> Result<&worker::KvStore, StoreError> {
        self.binding(&self.clients, CLIENTS_BINDING)
    }

    fn revocations(&self) -> Result<&worker::KvStore, StoreError> {
        self.binding(&self.revocations, REVOCATIONS_BINDING)
    }
}

impl ClientStore for KvClientStore<'_> {
    async fn get_record(
        &self,
        client_id: &str,
        cache_ttl: u64,
    ) -> Result<Option<String>, StoreError> {
        self.clients()?
            .get(&edge_token_core::client::record_key(client_id))
            .cache_ttl(cache_ttl)
            .text()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.revocations()?
            .get(&revoked_key(jti))
            .text()
            .await
            .map(|v| v.is_some())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn revoke(&self, jti: &str, client_id: &str, expires_at: u64) -> Result<(), StoreError> {
        self.put(&revoked_key(jti), client_id.as_bytes(), expires_at)
            .await
    }

    async fn assertion_used(&self, replay_key: &str) -> Result<bool, StoreError> {
        self.revocations()?
            .get(&used_assertion_key(replay_key))
            .text()
            .await
            .map(|v| v.is_some())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn use_assertion(&self, replay_key: &str, expires_at: u64) -> Result<(), StoreError> {
        self.put(&used_assertion_key(replay_key), b"1", expires_at)
            .await
    }
}

impl KvClientStore<'_> {
    /// One write to `REVOCATIONS` that expires at `expires_at`.
    async fn put(&self, key: &str, value: &[u8], expires_at: u64) -> Result<(), StoreError> {
        self.revocations()?
            .put_bytes(key, value)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .expiration(expires_at)
            .execute()
            .await
            .map_err(|e| {
                let e = e.to_string();
                // KV's answer to a second write to one key within a second.
                if e.contains("429") {
                    StoreError::WriteConflict(e)
                } else {
                    StoreError::Unavailable(e)
                }
            })
    }
}
