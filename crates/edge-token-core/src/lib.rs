//! # edge-token-core
//!
//! The protocol core of edge-token, an OAuth 2.0 client-credentials token
//! issuer ([RFC 6749 §4.4]) for Cloudflare Workers: routes, form parsing,
//! client authentication, client records, scope and audience grants,
//! configuration, minting, introspection and revocation decisions, and the
//! audit record. Machines authenticate with `client_id` and `client_secret`,
//! or with a client assertion signed by their own key (`private_key_jwt`,
//! [`assertion`], [`client_key`]), and receive short-lived JWT access
//! tokens (HS256, ES256 or EdDSA) carrying the [RFC 9068] claims.
//!
//! It has no `worker` dependency and is tested natively; the Worker adapter
//! (`edge-token-worker`) connects the Workers runtime (KV, Rate Limiting,
//! timers) to [`service::Service`] through the [`store::ClientStore`],
//! [`limit::Limiter`] and [`timer::Timer`] traits. Token format and
//! verification come from `edge-token-verify`, re-exported here as
//! [`token`], [`bearer`] and [`grammar`].
//!
//! [RFC 6749 §4.4]: https://www.rfc-editor.org/rfc/rfc6749#section-4.4
//! [RFC 9068]: https://www.rfc-editor.org/rfc/rfc9068
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub use edge_token_verify::{bearer, grammar, token};

pub mod assertion;
pub mod audit;
pub mod cache;
pub mod client;
pub mod client_key;
pub mod config;
pub mod credentials;
pub mod error;
pub mod form;
pub mod http;
pub mod limit;
pub mod metadata;
pub mod random;
pub mod routes;
pub mod scope;
pub mod service;
pub mod signing;
pub mod store;
pub mod timer;
