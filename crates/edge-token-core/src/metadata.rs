//! The authorization server metadata document ([RFC 8414 §2](https://www.rfc-editor.org/rfc/rfc8414#section-2)),
//! built from the router's own path constants.

use crate::client_key::ClientKeyAlg;
use crate::config::Config;
use crate::credentials::AuthMethod;

/// The RFC 8414 name of client authentication by signed assertion (RFC 7523 §2.2).
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";
use crate::routes::{INTROSPECT, JWKS, REVOKE, TOKEN};

/// `Cache-Control: max-age` of the metadata response, seconds.
pub const MAX_AGE_SECS: u32 = 3600;

/// The metadata for `config`. Endpoint URLs are the issuer (an origin) plus
/// the route paths.
pub fn document(config: &Config) -> String {
    let base = config.issuer.trim_end_matches('/');
    let methods = [
        AuthMethod::Basic.name(),
        AuthMethod::Post.name(),
        PRIVATE_KEY_JWT,
    ];
    let algs = ClientKeyAlg::ALL.map(ClientKeyAlg::name);
    let doc = Metadata {
        issuer: &config.issuer,
        token_endpoint: format!("{base}{TOKEN}"),
        introspection_endpoint: format!("{base}{INTROSPECT}"),
        revocation_endpoint: format!("{base}{REVOKE}"),
        jwks_uri: format!("{base}{JWKS}"),
        grant_types_supported: ["client_credentials"],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: methods,
        token_endpoint_auth_signing_alg_values_supported: algs,
        introspection_endpoint_auth_methods_supported: methods,
        introspection_endpoint_auth_signing_alg_values_supported: algs,
        revocation_endpoint_auth_methods_supported: methods,
        revocation_endpoint_auth_signing_alg_values_supported: algs,
        scopes_supported: &config.scopes_supported,
    };
    // Strings and arrays of strings only: serialisation cannot fail.
    serde_json::to_string(&doc).unwrap_or_default()
}

/// The RFC 8414 §2 fields edge-token publishes.
#[derive(serde::Serialize)]
struct Metadata<'a> {
    issuer: &'a str,
    token_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    jwks_uri: String,
    grant_types_supported: [&'static str; 1],
    response_types_supported: [&'static str; 0],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    token_endpoint_auth_signing_alg_values_supported: [&'static str; 5],
    introspection_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_signing_alg_values_supported: [&'static str; 5],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_signing_alg_values_supported: [&'static str; 5],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    scopes_supported: &'a [String],
}
