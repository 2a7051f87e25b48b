//! # resource-worker
//!
//! An example API (a resource server) on Cloudflare Workers that accepts
//! edge-token access tokens. It checks them itself with
//! [`edge_token_verify::bearer`]: no call to the issuer per request.
//!
//! * `GET /api/hello` needs the scope `read` and answers
//!   `{"hello": <client_id>, "scope": ..., "aud": ..., <extra claims>}`.
//! * Refusals follow [RFC 6750 §3]: `401` (no token, or `invalid_token`),
//!   `400 invalid_request`, `403 insufficient_scope`, each with a
//!   `WWW-Authenticate: Bearer realm="resource-worker", ...` challenge.
//! * Keys, one of two sources ([`settings`]):
//!   * `SIGNING_KEYS` (secret, the same JSON as the issuer's: shared keys);
//!   * `JWKS_URL`, the issuer's `jwks_uri`: its public keys, fetched (through
//!     the `ISSUER_SERVICE` service binding if there is one, else over the
//!     network), cached per isolate and refreshed as [`jwks`] describes. When
//!     no usable copy can be had, tokens are refused with `401
//!     invalid_token` ("signing keys unavailable"), never a `500`.
//! * Revocation: when the issuer's denylist namespace is bound as `REVOCATIONS`, a
//!   verified token whose `jti` is on the denylist is refused. KV is
//!   eventually consistent, so a revocation takes up to about 60 s to bite
//!   everywhere.
//!
//! Settings are parsed once per isolate: the keys, `ISSUER` (the issuer's
//! `iss`) and `AUDIENCE` (this API's identifier, which must be in the
//! token's `aud`).
//!
//! The two modules are plain Rust (they build and test natively); the
//! Worker itself is wasm32 only.
//!
//! [RFC 6750 §3]: https://www.rfc-editor.org/rfc/rfc6750#section-3
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod jwks;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod api;
