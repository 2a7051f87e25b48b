//! # edge-token-verify
//!
//! Verify edge-token access tokens in your API, locally, with no call to
//! the issuer: HS256 JWTs ([RFC 7515], [RFC 7518 §3.2]) carrying the
//! [RFC 9068] claims, checked the way the issuer itself checks them.
//!
//! * [`bearer`]: the resource-server side ([RFC 6750]): take the token out of
//!   `Authorization`, [`bearer::Verifier::verify`] it (signature, `alg`,
//!   `typ`, lifetime with leeway, `iss`, `aud`, scopes), and render the
//!   `WWW-Authenticate` error response.
//! * [`token`]: the JWS compact format, the key set (`SIGNING_KEYS`) and the
//!   claims.
//! * [`validation`]: [`validation::validate`], the one decision of whether a
//!   token is valid (used by the `Verifier` and by the issuer's
//!   introspection and revocation).
//! * [`revocation`]: how the issuer's denylist names a revoked token in KV.
//! * [`grammar`]: the syntax of scopes, audiences, `kid`s and claim names.
//!
//! It is pure Rust with no I/O and no clock (`now` is a parameter), so it
//! runs the same natively and on `wasm32-unknown-unknown` (Cloudflare
//! Workers, via `worker`, or any other host).
//!
//! ```rust
//! use edge_token_verify::bearer::{extract_bearer, Verifier};
//! use edge_token_verify::token::KeySet;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = KeySet::parse(r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#)?;
//! let verifier = Verifier::new(keys, "https://issuer.example", "https://api.example");
//! let header = Some("Bearer not-a-token");
//! let refused = extract_bearer(header).and_then(|t| verifier.verify(t, &["read"], 1_700_000_000));
//! assert_eq!(refused.unwrap_err().render("api").status, 401);
//! # Ok(())
//! # }
//! ```
//!
//! [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
//! [RFC 7515]: https://www.rfc-editor.org/rfc/rfc7515
//! [RFC 7518 §3.2]: https://www.rfc-editor.org/rfc/rfc7518#section-3.2
//! [RFC 9068]: https://www.rfc-editor.org/rfc/rfc9068
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bearer;
pub mod grammar;
pub mod json;
pub mod keys;
pub mod revocation;
pub mod token;
pub mod validation;
