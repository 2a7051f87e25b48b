//! Endpoint paths, shared by the router and (later) the metadata document.

/// The token endpoint ([RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2)).
pub const TOKEN: &str = "/oauth2/token";

/// The endpoints the service answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /oauth2/token`.
    Token,
    /// Anything else.
    NotFound,
}

/// Maps a request path to its route.
pub fn route(path: &str) -> Route {
    match path {
        TOKEN => Route::Token,
        _ => Route::NotFound,
    }
}
