//! Minimal, platform-neutral HTTP request and response types for the core.
//!
//! The Worker adapter converts `worker::Request` into [`HttpRequest`] and
//! [`HttpResponse`] back into `worker::Response`; tests build them directly.

/// Largest request body the service reads, in bytes. Larger bodies are
/// refused with `413` before being read in full.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The request headers the service reads; adapters need copy only these.
/// (`cf-connecting-ip`, the caller's address, keys the failure rate limit.)
pub const REQUEST_HEADERS: &[&str] = &["authorization", "content-type", "cf-connecting-ip"];

/// Longest time an adapter waits for the whole request body, in
/// milliseconds. A caller that sends less than it announced (or never ends
/// a chunked body) gets `408` instead of holding the request open.
pub const BODY_TIMEOUT_MS: u64 = 10_000;

/// The request body as the adapter delivered it. Its `Debug` shows only
/// the length: a form body carries `client_secret` or `client_assertion`.
#[derive(Clone, PartialEq, Eq)]
pub enum Body {
    /// The whole body, at most [`MAX_BODY_BYTES`] long.
    Bytes(Vec<u8>),
    /// The body was longer than [`MAX_BODY_BYTES`] (declared or streamed);
    /// reading stopped there.
    TooLarge,
    /// The body did not arrive in full within [`BODY_TIMEOUT_MS`].
    TimedOut,
    /// Reading the body failed (e.g. the caller went away mid-body).
    Unreadable,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(bytes) => write!(f, "Bytes(<{} bytes, redacted>)", bytes.len()),
            Body::TooLarge => f.write_str("TooLarge"),
            Body::TimedOut => f.write_str("TimedOut"),
            Body::Unreadable => f.write_str("Unreadable"),
        }
    }
}

/// Placeholder that `Debug` output shows instead of a credential or token.
pub const REDACTED: &str = "<redacted>";

/// An incoming request. Header names are compared case-insensitively.
/// Its `Debug` redacts the `Authorization` header and the body.
#[derive(Clone)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `POST`.
    pub method: String,
    /// Path without query string, e.g. `/oauth2/token`.
    pub path: String,
    /// Whether the request reached the edge over HTTPS.
    pub https: bool,
    /// Header (name, value) pairs, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The (bounded) body.
    pub body: Body,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let secret =
                    n.eq_ignore_ascii_case("authorization") || n.eq_ignore_ascii_case("cookie");
                (n.as_str(), if secret { REDACTED } else { v.as_str() })
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("https", &self.https)
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

impl HttpRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many times a header occurs.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// An outgoing response. Its `Debug` redacts an `access_token` in the body.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header (name, value) pairs.
    pub headers: Vec<(&'static str, String)>,
    /// UTF-8 body.
    pub body: String,
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &redact_access_token(&self.body))
            .finish()
    }
}

/// `body` with the value of every `"access_token":"..."` replaced.
fn redact_access_token(body: &str) -> String {
    const FIELD: &str = "\"access_token\":\"";
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(FIELD) {
        let (head, tail) = rest.split_at(at + FIELD.len());
        out.push_str(head);
        out.push_str(REDACTED);
        rest = tail.find('"').map_or("", |end| tail.split_at(end).1);
    }
    out.push_str(rest);
    out
}

impl HttpResponse {
    /// A JSON response that must never be cached (RFC 6749 §5.1): sets
    /// `Content-Type: application/json`, `Cache-Control: no-store` and
    /// `Pragma: no-cache`.
    pub fn json(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
                ("Pragma", "no-cache".to_owned()),
            ],
            body,
        }
    }

    /// Adds a header.
    pub fn header(&mut self, name: &'static str, value: String) -> &mut Self {
        self.headers.push((name, value));
        self
    }

    /// The first value of a header, by case-insensitive name.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits an absolute request URL into (is HTTPS, path without query).
/// Used by the adapter instead of a full URL parser, to keep the Worker small.
pub fn split_url(url: &str) -> (bool, &str) {
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = after_scheme
        .find('/')
        .and_then(|i| after_scheme.get(i..))
        .unwrap_or("/");
    let path = path_and_query.split(['?', '#']).next().unwrap_or("/");
    (https, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_credentials_and_tokens() {
        let req = HttpRequest {
            method: "POST".into(),
            path: "/oauth2/token".into(),
            https: true,
            headers: vec![
                (
                    "Authorization".into(),
                    "Basic c2VjcmV0LWlkOmV0c19zZWNyZXQ=".into(),
                ),
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body: Body::Bytes(b"client_secret=ets_secret&client_assertion=eyJ.x.y".to_vec()),
        };
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("c2VjcmV0") && !shown.contains("ets_secret"),
            "{shown}"
        );
        assert!(!shown.contains("eyJ"), "{shown}");
        assert!(
            shown.contains("application/x-www-form-urlencoded"),
            "{shown}"
        );
        assert!(shown.contains("<49 bytes, redacted>"), "{shown}");
        let res = HttpResponse::json(
            200,
            r#"{"access_token":"eyJhbGc.eyJpc3M.c2ln","token_type":"Bearer"}"#.into(),
        );
        let shown = format!("{res:?}");
        assert!(!shown.contains("eyJ"), "{shown}");
        assert!(shown.contains("token_type"), "{shown}");
    }

    #[test]
    fn split_url_finds_scheme_and_path() {
        assert_eq!(
            split_url("https://a.example/oauth2/token?x=1"),
            (true, "/oauth2/token")
        );
        assert_eq!(
            split_url("http://127.0.0.1:8787/oauth2/token"),
            (false, "/oauth2/token")
        );
        assert_eq!(split_url("HTTPS://a.example"), (true, "/"));
        assert_eq!(split_url("http://a/#frag"), (false, "/"));
    }
}
