//! One structured JSON log line per request. Never carries a secret, a token
//! or a digest: only the fields below exist.

use serde::Serialize;

/// What happened to one request.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Unix milliseconds, set by the adapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
    /// The endpoint, e.g. `token`.
    pub event: &'static str,
    /// HTTP status sent.
    pub status: u16,
    /// `issued`, `rejected` (4xx) or `error` (5xx).
    pub outcome: &'static str,
    /// The client id presented (whether or not it exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `client_secret_basic` or `client_secret_post`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<&'static str>,
    /// The OAuth error code sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// Why a request failed, in more words than the wire gets (never secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// `jti` of the issued token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Granted scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Granted audiences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Vec<String>>,
    /// Expiry of the issued token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Cloudflare ray id, set by the adapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ray: Option<String>,
    /// Cloudflare data centre, set by the adapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
}

impl AuditRecord {
    /// The record as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
