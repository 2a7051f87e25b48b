//! # edge-token-worker
//!
//! The edge-token issuer as a Cloudflare Worker: a thin adapter that connects
//! the Workers runtime (KV, the Rate Limiting bindings, `setTimeout`, Web
//! Crypto) to `edge-token-core`'s
//! [`Service`](edge_token_core::service::Service). Its JS entry
//! (`js/entry.mjs`) reads the request, calls the wasm export `handle` once
//! and builds the Response. `wrangler.toml` builds this crate (through
//! `scripts/build-worker.sh`); on any other target it is empty but for the
//! warm-up's test.

#[cfg(any(target_arch = "wasm32", test))]
mod answer;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod kv;
#[cfg(any(target_arch = "wasm32", test))]
mod warm;
#[cfg(all(target_arch = "wasm32", not(feature = "rust-signer")))]
mod webcrypto;
