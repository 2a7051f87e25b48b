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
    /// What became of the request.
    pub outcome: Verdict,
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
    /// Granted scope (absent when none was granted).
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

/// The log line's `outcome`: what became of the request.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A `200` with nothing more specific (metadata).
    #[default]
    Ok,
    /// A token was issued.
    Issued,
    /// Introspection: the token is active.
    Active,
    /// Introspection: the token is inactive (`{"active":false}`).
    Inactive,
    /// Revocation wrote the token to the denylist.
    Revoked,
    /// Revocation answered `200` without writing (already revoked, invalid).
    Noop,
    /// `429`: a rate limit.
    RateLimited,
    /// Any other 4xx.
    Rejected,
    /// A 5xx.
    Error,
}

impl Verdict {
    /// The name as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Issued => "issued",
            Verdict::Active => "active",
            Verdict::Inactive => "inactive",
            Verdict::Revoked => "revoked",
            Verdict::Noop => "noop",
            Verdict::RateLimited => "rate_limited",
            Verdict::Rejected => "rejected",
            Verdict::Error => "error",
        }
    }

    /// The verdict a status implies when the endpoint gave none more
    /// specific (or failed).
    pub fn from_status(status: u16) -> Self {
        match status {
            200 => Verdict::Ok,
            429 => Verdict::RateLimited,
            500.. => Verdict::Error,
            _ => Verdict::Rejected,
        }
    }
}

impl PartialEq<&str> for Verdict {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuditRecord {
    /// The record as one JSON line: the fields in the order above, the
    /// absent ones left out (the same bytes as its `Serialize`; written by
    /// hand, which costs less per request in wasm).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        let mut map = edge_token_verify::json::Object::new(&mut out);
        if let Some(ts) = self.ts {
            map.u64("ts", ts);
        }
        map.str("event", self.event)
            .u64("status", u64::from(self.status))
            .str("outcome", self.outcome.as_str())
            .opt_str("client_id", self.client_id.as_deref())
            .opt_str("auth_method", self.auth_method)
            .opt_str("error", self.error)
            .opt_str("cause", self.cause.as_deref())
            .opt_str("jti", self.jti.as_deref())
            .opt_str("scope", self.scope.as_deref());
        if let Some(aud) = &self.aud {
            map.strs("aud", aud);
        }
        if let Some(exp) = self.exp {
            map.u64("exp", exp);
        }
        map.opt_str("ray", self.ray.as_deref())
            .opt_str("colo", self.colo.as_deref());
        map.end();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_what_serde_json_writes() {
        let minimal = AuditRecord {
            event: "token",
            status: 400,
            outcome: Verdict::Rejected,
            ..AuditRecord::default()
        };
        assert_eq!(minimal.to_json(), serde_json::to_string(&minimal).unwrap());
        let full = AuditRecord {
            ts: Some(1_700_000_000_123),
            event: "token",
            status: 200,
            outcome: Verdict::Issued,
            client_id: Some("etc_abc".into()),
            auth_method: Some("client_secret_basic"),
            error: Some("invalid_client"),
            cause: Some("a \"quoted\" cause\nwith a line break and \u{1}".into()),
            jti: Some("jti".into()),
            scope: Some("read write".into()),
            aud: Some(vec!["https://a.example".into(), "b".into()]),
            exp: Some(1_700_000_300),
            ray: Some("8f00-LHR".into()),
            colo: Some("LHR".into()),
        };
        assert_eq!(full.to_json(), serde_json::to_string(&full).unwrap());
        for outcome in [
            Verdict::Ok,
            Verdict::Active,
            Verdict::Inactive,
            Verdict::Revoked,
            Verdict::Noop,
            Verdict::RateLimited,
            Verdict::Error,
        ] {
            let r = AuditRecord {
                outcome,
                aud: Some(vec![]),
                ..full.clone()
            };
            assert_eq!(r.to_json(), serde_json::to_string(&r).unwrap());
        }
    }
}
