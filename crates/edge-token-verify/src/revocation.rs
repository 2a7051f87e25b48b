//! The revocation denylist as the issuer writes it and APIs read it: one KV
//! key per revoked token, `revoked:<jti>`, kept until the token's `exp` plus
//! [`REVOCATION_MARGIN_SECS`].

/// KV key prefix of the revocation denylist.
pub const REVOKED_KEY_PREFIX: &str = "revoked:";

/// How long a denylist entry outlives its token's `exp`, so APIs verifying
/// with a clock leeway (at most [`crate::bearer::MAX_LEEWAY_SECS`]) still
/// see it.
pub const REVOCATION_MARGIN_SECS: u64 = 120;

/// The denylist key of a revoked token's `jti`.
pub fn revoked_key(jti: &str) -> String {
    format!("{REVOKED_KEY_PREFIX}{jti}")
}
