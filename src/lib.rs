//! # edge-token
//!
//! An OAuth 2.0 client-credentials token issuer ([RFC 6749 §4.4]) for
//! Cloudflare Workers. Machines authenticate with `client_id` and
//! `client_secret` and receive short-lived HS256 JWT access tokens carrying
//! the [RFC 9068] claims.
//!
//! The protocol core (everything but `worker_entry`) has no `worker`
//! dependency and is tested natively; `worker_entry` (wasm32 only) adapts the
//! Workers runtime to it.
//!
//! [RFC 6749 §4.4]: https://www.rfc-editor.org/rfc/rfc6749#section-4.4
//! [RFC 9068]: https://www.rfc-editor.org/rfc/rfc9068
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod audit;
pub mod bearer;
pub mod cache;
pub mod client;
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
pub mod store;
pub mod timer;
pub mod token;

#[cfg(all(target_arch = "wasm32", feature = "worker-entry"))]
mod worker_entry;
