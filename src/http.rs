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

/// The request body as the adapter delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// An incoming request. Header names are compared case-insensitively.
#[derive(Debug, Clone)]
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

/// An outgoing response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header (name, value) pairs.
    pub headers: Vec<(&'static str, String)>,
    /// UTF-8 body.
    pub body: String,
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
