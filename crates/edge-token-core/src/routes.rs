//! Endpoint paths: one set of constants for the router and the metadata document.

/// The token endpoint ([RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2)).
pub const TOKEN: &str = "/oauth2/token";
/// The introspection endpoint ([RFC 7662 §2](https://www.rfc-editor.org/rfc/rfc7662#section-2)).
pub const INTROSPECT: &str = "/oauth2/introspect";
/// The revocation endpoint ([RFC 7009 §2](https://www.rfc-editor.org/rfc/rfc7009#section-2)).
pub const REVOKE: &str = "/oauth2/revoke";
/// Authorization server metadata ([RFC 8414 §3](https://www.rfc-editor.org/rfc/rfc8414#section-3)).
pub const METADATA: &str = "/.well-known/oauth-authorization-server";
/// The public signing keys ([RFC 7517 §5](https://www.rfc-editor.org/rfc/rfc7517#section-5)),
/// the metadata's `jwks_uri`.
pub const JWKS: &str = "/.well-known/jwks.json";

/// The endpoints the service answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /oauth2/token`.
    Token,
    /// `POST /oauth2/introspect`.
    Introspect,
    /// `POST /oauth2/revoke`.
    Revoke,
    /// `GET /.well-known/oauth-authorization-server`.
    Metadata,
    /// `GET /.well-known/jwks.json`.
    Jwks,
    /// Anything else.
    NotFound,
}

impl Route {
    /// The `event` name in audit records.
    pub fn event(self) -> &'static str {
        match self {
            Route::Token => "token",
            Route::Introspect => "introspect",
            Route::Revoke => "revoke",
            Route::Metadata => "metadata",
            Route::Jwks => "jwks",
            Route::NotFound => "not_found",
        }
    }
}

/// Maps a request path to its route.
pub fn route(path: &str) -> Route {
    match path {
        TOKEN => Route::Token,
        INTROSPECT => Route::Introspect,
        REVOKE => Route::Revoke,
        METADATA => Route::Metadata,
        JWKS => Route::Jwks,
        _ => Route::NotFound,
    }
}
