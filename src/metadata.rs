//! The authorization server metadata document ([RFC 8414 §2](https://www.rfc-editor.org/rfc/rfc8414#section-2)),
//! built from the router's own path constants.

use crate::config::Config;
use crate::credentials::AuthMethod;
use crate::routes::{INTROSPECT, REVOKE, TOKEN};

/// `Cache-Control: max-age` of the metadata response, seconds.
pub const MAX_AGE_SECS: u32 = 3600;

/// The metadata for `config`. Endpoint URLs are the issuer (an origin) plus
/// the route paths.
pub fn document(config: &Config) -> serde_json::Value {
    let base = config.issuer.trim_end_matches('/');
    let methods = [AuthMethod::Basic.name(), AuthMethod::Post.name()];
    let mut doc = serde_json::json!({
        "issuer": config.issuer,
        "token_endpoint": format!("{base}{TOKEN}"),
        "introspection_endpoint": format!("{base}{INTROSPECT}"),
        "revocation_endpoint": format!("{base}{REVOKE}"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
    });
    if !config.scopes_supported.is_empty() {
        if let Some(map) = doc.as_object_mut() {
            map.insert(
                "scopes_supported".to_owned(),
                serde_json::json!(config.scopes_supported),
            );
        }
    }
    doc
}
