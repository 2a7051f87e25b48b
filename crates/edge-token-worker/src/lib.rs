//! # edge-token-worker
//!
//! The edge-token issuer as a Cloudflare Worker: a thin adapter that connects
//! the Workers runtime (the request, KV, the Rate Limiting bindings,
//! `setTimeout`, `console.log`) to `edge-token-core`'s
//! [`Service`](edge_token_core::service::Service). `wrangler.toml` builds
//! this crate; on any other target it is empty.

#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod kv;
#[cfg(any(target_arch = "wasm32", test))]
mod warm;
#[cfg(all(target_arch = "wasm32", not(feature = "rust-signer")))]
mod webcrypto;
