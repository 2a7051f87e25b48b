//! OAuth 2.0 error responses ([RFC 6749 §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2)).
//!
//! Every failure a caller can see is one of these codes. The optional
//! description is always a `&'static str`: internal causes are logged by the
//! service, never sent on the wire.

use crate::http::HttpResponse;

/// Realm advertised in `WWW-Authenticate` when client authentication fails.
pub const REALM: &str = "edge-token";

/// The error codes of RFC 6749 §5.2 (plus RFC 8707's `invalid_target` and the
/// two server-side codes of §4.1.2.1), each with a static description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthError {
    /// Malformed request: missing or repeated parameter, wrong media type, ...
    InvalidRequest(&'static str),
    /// Client authentication failed. One description for every cause, so an
    /// unknown client, a wrong secret and a disabled client look the same.
    InvalidClient,
    /// The authenticated client may not use this grant or endpoint.
    UnauthorizedClient(&'static str),
    /// `grant_type` is not `client_credentials`.
    UnsupportedGrantType,
    /// The requested scope is malformed or exceeds what the client may have.
    InvalidScope(&'static str),
    /// A requested `resource`/`audience` is malformed or not allowed (RFC 8707 §2).
    InvalidTarget(&'static str),
    /// An internal failure (bad configuration, corrupt record). Logged, not described.
    ServerError,
    /// The client store could not be reached; the caller may retry.
    TemporarilyUnavailable,
    /// Too many failed client authentications from this address or for this
    /// client id: `429` with the wire code `temporarily_unavailable` and
    /// `Retry-After` (seconds).
    RateLimited {
        /// Seconds until the caller may try again.
        retry_after: u64,
    },
}

/// Seconds a caller is told to wait after `temporarily_unavailable`.
pub const RETRY_AFTER_SECS: u32 = 5;

impl OAuthError {
    /// The wire code, as spelled by the RFCs.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::ServerError => "server_error",
            OAuthError::TemporarilyUnavailable | OAuthError::RateLimited { .. } => {
                "temporarily_unavailable"
            }
        }
    }

    /// The human-readable `error_description` (static text only).
    pub fn description(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(d)
            | OAuthError::UnauthorizedClient(d)
            | OAuthError::InvalidScope(d)
            | OAuthError::InvalidTarget(d) => d,
            OAuthError::InvalidClient => "client authentication failed",
            OAuthError::UnsupportedGrantType => "only grant_type=client_credentials is supported",
            OAuthError::ServerError => "internal error",
            OAuthError::TemporarilyUnavailable => "try again later",
            OAuthError::RateLimited { .. } => {
                "too many failed client authentications; try again later"
            }
        }
    }

    /// HTTP status: 401 for failed client authentication, 429 when rate
    /// limited, 500/503 for server-side failures, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidClient => 401,
            OAuthError::ServerError => 500,
            OAuthError::TemporarilyUnavailable => 503,
            OAuthError::RateLimited { .. } => 429,
            _ => 400,
        }
    }

    /// Renders the RFC 6749 §5.2 JSON body with the no-store headers, and
    /// `WWW-Authenticate` / `Retry-After` where they apply.
    pub fn render(&self) -> HttpResponse {
        self.render_with_status(self.status())
    }

    /// As [`render`](Self::render), with another status (413 for an oversize
    /// body, 405 for a wrong method, 404 for an unknown path).
    pub fn render_with_status(&self, status: u16) -> HttpResponse {
        // Codes and descriptions are static ASCII without quotes or
        // backslashes (a test checks every one), so no escaping is needed.
        let body = format!(
            r#"{{"error":"{}","error_description":"{}"}}"#,
            self.code(),
            self.description()
        );
        let mut response = HttpResponse::json(status, body);
        match self {
            OAuthError::InvalidClient => {
                response.header(
                    "WWW-Authenticate",
                    format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
                );
            }
            OAuthError::TemporarilyUnavailable => {
                response.header("Retry-After", RETRY_AFTER_SECS.to_string());
            }
            OAuthError::RateLimited { retry_after } => {
                response.header("Retry-After", (*retry_after).max(1).to_string());
            }
            _ => {}
        }
        response
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_render_has_basic_challenge_and_no_store() {
        let r = OAuthError::InvalidClient.render();
        assert_eq!(r.status, 401);
        assert_eq!(
            r.get_header("www-authenticate"),
            Some("Basic realm=\"edge-token\", charset=\"UTF-8\"")
        );
        assert_eq!(r.get_header("cache-control"), Some("no-store"));
        assert_eq!(r.get_header("pragma"), Some("no-cache"));
        assert_eq!(r.get_header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"], "invalid_client");
    }

    #[test]
    fn temporarily_unavailable_render_has_retry_after() {
        let r = OAuthError::TemporarilyUnavailable.render();
        assert_eq!(r.status, 503);
        assert_eq!(r.get_header("retry-after"), Some("5"));
        assert!(r.get_header("www-authenticate").is_none());
    }

    #[test]
    fn rate_limited_render_is_429_with_its_retry_after() {
        let r = OAuthError::RateLimited { retry_after: 42 }.render();
        assert_eq!(r.status, 429);
        assert_eq!(r.get_header("retry-after"), Some("42"));
        assert_eq!(r.get_header("cache-control"), Some("no-store"));
        assert!(r.get_header("www-authenticate").is_none());
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"], "temporarily_unavailable");
    }

    #[test]
    fn every_description_in_the_code_needs_no_json_escaping() {
        let sources = [
            include_str!("service.rs"),
            include_str!("credentials.rs"),
            include_str!("scope.rs"),
            include_str!("error.rs"),
        ];
        let mut found = 0;
        for source in sources {
            for (_, rest) in source
                .match_indices("OAuthError::")
                .map(|(i, _)| source.split_at(i))
            {
                let Some(open) = rest.find('(') else { continue };
                let after = rest[open + 1..].trim_start();
                if let Some(literal) = after.strip_prefix('"') {
                    let text = &literal[..literal.find('"').unwrap()];
                    assert!(!text.contains('\\') && text.is_ascii(), "{text:?}");
                    found += 1;
                }
            }
        }
        assert!(found > 20, "only {found} descriptions found");
        for text in ["unknown endpoint", "HTTPS is required"] {
            let r = OAuthError::InvalidRequest(text).render();
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["error_description"], text);
        }
    }

    #[test]
    fn codes_match_rfc_spelling() {
        let all = [
            (OAuthError::InvalidRequest("x"), "invalid_request", 400),
            (OAuthError::InvalidClient, "invalid_client", 401),
            (
                OAuthError::UnauthorizedClient("x"),
                "unauthorized_client",
                400,
            ),
            (
                OAuthError::UnsupportedGrantType,
                "unsupported_grant_type",
                400,
            ),
            (OAuthError::InvalidScope("x"), "invalid_scope", 400),
            (OAuthError::InvalidTarget("x"), "invalid_target", 400),
            (OAuthError::ServerError, "server_error", 500),
            (
                OAuthError::TemporarilyUnavailable,
                "temporarily_unavailable",
                503,
            ),
            (
                OAuthError::RateLimited { retry_after: 7 },
                "temporarily_unavailable",
                429,
            ),
        ];
        for (e, code, status) in all {
            assert_eq!(e.code(), code);
            assert_eq!(e.to_string(), code);
            assert_eq!(e.status(), status);
        }
    }
}
