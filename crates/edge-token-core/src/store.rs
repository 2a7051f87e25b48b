//! Where client records and the revocation denylist live: the
//! [`ClientStore`] capability (the test kit has an in-memory one).
//! On Workers they are two KV namespaces: `CLIENTS` (records, the issuer
//! only) and `REVOCATIONS` (the denylist, which APIs may read).

pub use edge_token_verify::revocation::{revoked_key, REVOKED_KEY_PREFIX};

/// KV key prefix of used client assertions (in `REVOCATIONS`, beside the
/// denylist: the namespace the issuer writes).
pub const USED_ASSERTION_KEY_PREFIX: &str = "assertion:";

/// The KV key remembering a used client assertion, from its
/// [`crate::assertion::replay_key`].
pub fn used_assertion_key(replay_key: &str) -> String {
    format!("{USED_ASSERTION_KEY_PREFIX}{replay_key}")
}

/// The KV binding of client records (`client:<id>`), read by the issuer
/// only and written by the CLI.
pub const CLIENTS_BINDING: &str = "CLIENTS";
/// The KV binding of the revocation denylist (`revoked:<jti>`): written by
/// the issuer, read by APIs, which never need the client records.
pub const REVOCATIONS_BINDING: &str = "REVOCATIONS";

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

/// A refused KV write as a [`StoreError`], from the error's text: KV's
/// refusal as too many (`KV PUT failed: 429 ...`) is a
/// [`StoreError::WriteConflict`], anything else [`StoreError::Unavailable`].
/// Only that status counts, not any `429` in the text (a key or an
/// expiration time in a message can hold those digits).
pub fn kv_write_error(text: String) -> StoreError {
    if text.contains("failed: 429") {
        StoreError::WriteConflict(text)
    } else {
        StoreError::Unavailable(text)
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

    /// Whether the client assertion named `replay_key`
    /// ([`crate::assertion::replay_key`]) was used before.
    async fn assertion_used(&self, replay_key: &str) -> Result<bool, StoreError>;

    /// Remembers the client assertion `replay_key` as used until
    /// `expires_at` (Unix seconds; at least a minute ahead).
    async fn use_assertion(&self, replay_key: &str, expires_at: u64) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kvs_429_is_a_write_conflict() {
        let conflict = "Error: KV PUT failed: 429 Too Many Requests";
        assert_eq!(
            kv_write_error(conflict.to_owned()),
            StoreError::WriteConflict(conflict.to_owned())
        );
        for other in [
            "Error: KV PUT failed: 400 Invalid expiration of 1765429000",
            "Error: KV PUT failed: 500 Internal Server Error",
            "TypeError: revoked:4290429 is not a valid key",
            "",
        ] {
            assert_eq!(
                kv_write_error(other.to_owned()),
                StoreError::Unavailable(other.to_owned()),
                "{other}"
            );
        }
    }
}
