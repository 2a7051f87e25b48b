//! Worker configuration, parsed once per isolate from vars and secrets.

use crate::client::MAX_ISSUER_LEN;
use crate::scope::{check_audiences, is_absolute_uri, is_audience, split_list};
use crate::signing::SigningKeys;

/// Default access-token lifetime, seconds.
pub const DEFAULT_TOKEN_TTL: u64 = 300;
/// Default cap on any token lifetime, seconds.
pub const DEFAULT_MAX_TOKEN_TTL: u64 = 3600;
/// Default KV `cacheTtl`, seconds.
pub const DEFAULT_KV_CACHE_TTL: u64 = 60;
/// Default `CLIENT_CACHE_TTL`, seconds.
pub const DEFAULT_CLIENT_CACHE_TTL: u64 = 30;

/// The smallest `cacheTtl` Workers KV accepts: 30 s since 2026-01 (it was
/// 60 s); the pinned workerd accepts 30 and refuses 29.
pub const MIN_KV_CACHE_TTL: u64 = 30;
/// Largest `MAX_TOKEN_TTL` (and so any token lifetime) accepted, seconds.
/// A short-lived access token is the point: revocation and disabling bite
/// through expiry, and the denylist entry of a revoked token lives as long.
pub const MAX_MAX_TOKEN_TTL: u64 = 24 * 3600;
/// Largest `KV_CACHE_TTL` accepted, seconds: it adds to the time a disable,
/// rotation or deletion takes to bite everywhere.
pub const MAX_KV_CACHE_TTL: u64 = 300;
/// Default `JWKS_MAX_AGE`: how long clients may cache the JWK Set, seconds.
pub const DEFAULT_JWKS_MAX_AGE: u64 = 300;
/// Largest `JWKS_MAX_AGE` accepted, seconds: a new key waits this long
/// (plus propagation) between being published and signing.
pub const MAX_JWKS_MAX_AGE: u64 = 24 * 3600;
/// Default `RATE_LIMIT_PERIOD`, seconds.
pub const DEFAULT_RATE_LIMIT_PERIOD: u64 = 60;
/// Default `STORE_TIMEOUT_MS`.
pub const DEFAULT_STORE_TIMEOUT_MS: u64 = 3000;
/// Largest `STORE_TIMEOUT_MS` accepted (a Worker request should not wait longer).
pub const MAX_STORE_TIMEOUT_MS: u64 = 30_000;

/// Parsed configuration. Built by [`Config::from_lookup`].
#[derive(Debug, Clone)]
pub struct Config {
    /// `iss` of every token (`ISSUER`).
    pub issuer: String,
    /// Default token lifetime (`TOKEN_TTL`).
    pub token_ttl: u64,
    /// Upper bound on any lifetime, including per-client ones (`MAX_TOKEN_TTL`).
    pub max_token_ttl: u64,
    /// Audiences used when neither request nor client names one (`DEFAULT_AUDIENCE`, space-delimited).
    pub default_audiences: Vec<String>,
    /// KV read `cacheTtl` for client records (`KV_CACHE_TTL`).
    pub kv_cache_ttl: u64,
    /// Seconds a warm isolate may reuse a client record without reading KV
    /// (`CLIENT_CACHE_TTL`; 0 turns the cache off).
    pub client_cache_ttl: u64,
    /// Scopes advertised in the metadata document (`SCOPES_SUPPORTED`, space-delimited).
    pub scopes_supported: Vec<String>,
    /// Refuse requests that did not arrive over HTTPS (`REQUIRE_HTTPS`).
    pub require_https: bool,
    /// The period of the `[[ratelimits]]` bindings (`RATE_LIMIT_PERIOD`,
    /// 10 or 60): how long a caller over its limit is told to wait.
    pub rate_limit_period: u64,
    /// Longest wait for one store (KV) call before answering `503`
    /// (`STORE_TIMEOUT_MS`).
    pub store_timeout_ms: u64,
    /// `Cache-Control: max-age` of `/.well-known/jwks.json` (`JWKS_MAX_AGE`).
    pub jwks_max_age: u64,
    /// Signing keys (`SIGNING_KEYS` secret).
    pub keys: SigningKeys,
}

/// Everything wrong with the configuration, one problem per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration: {}", self.0.join("; "))
    }
}

fn parse_seconds(name: &str, value: Option<String>, default: u64, errors: &mut Vec<String>) -> u64 {
    match value.as_deref().map(str::trim) {
        None | Some("") => default,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                errors.push(format!("{name} must be a positive whole number, got {v:?}"));
                default
            }
        },
    }
}

impl Config {
    /// Reads every setting through `lookup` (a var or secret by name) and
    /// validates it. All problems are reported together.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut errors = Vec::new();

        let issuer = lookup("ISSUER")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        if issuer.is_empty() {
            errors.push("ISSUER is not set (e.g. \"https://auth.example.com\")".to_owned());
        } else if issuer.len() > MAX_ISSUER_LEN {
            errors.push(format!(
                "ISSUER must be at most {MAX_ISSUER_LEN} bytes, got {}",
                issuer.len()
            ));
        } else if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
            || !is_absolute_uri(&issuer)
            || !is_audience(&issuer)
            || issuer.contains('?')
            || issuer
                .split_once("://")
                .is_some_and(|(_, rest)| rest.contains('/'))
        {
            errors.push(format!(
                "ISSUER must be an http(s) origin without path, query or fragment \
                 (e.g. \"https://auth.example.com\"), got {issuer:?}"
            ));
        }

        let token_ttl = parse_seconds(
            "TOKEN_TTL",
            lookup("TOKEN_TTL"),
            DEFAULT_TOKEN_TTL,
            &mut errors,
        );
        let max_token_ttl = parse_seconds(
            "MAX_TOKEN_TTL",
            lookup("MAX_TOKEN_TTL"),
            DEFAULT_MAX_TOKEN_TTL,
            &mut errors,
        );
        if max_token_ttl > MAX_MAX_TOKEN_TTL {
            errors.push(format!(
                "MAX_TOKEN_TTL must be at most {MAX_MAX_TOKEN_TTL} (24 hours), got {max_token_ttl}"
            ));
        }
        if token_ttl > max_token_ttl {
            errors.push(format!(
                "TOKEN_TTL ({token_ttl}) is larger than MAX_TOKEN_TTL ({max_token_ttl})"
            ));
        }
        let kv_cache_ttl = parse_seconds(
            "KV_CACHE_TTL",
            lookup("KV_CACHE_TTL"),
            DEFAULT_KV_CACHE_TTL,
            &mut errors,
        );
        if kv_cache_ttl < MIN_KV_CACHE_TTL {
            errors.push(format!("KV_CACHE_TTL must be at least {MIN_KV_CACHE_TTL} (Workers KV minimum), got {kv_cache_ttl}"));
        }
        if kv_cache_ttl > MAX_KV_CACHE_TTL {
            errors.push(format!(
                "KV_CACHE_TTL must be at most {MAX_KV_CACHE_TTL} (it delays every disable and rotation), got {kv_cache_ttl}"
            ));
        }

        let client_cache_ttl = match lookup("CLIENT_CACHE_TTL").as_deref().map(str::trim) {
            None | Some("") => DEFAULT_CLIENT_CACHE_TTL,
            Some(v) => v.parse::<u64>().unwrap_or_else(|_| {
                errors.push(format!(
                    "CLIENT_CACHE_TTL must be a whole number of seconds (0 disables), got {v:?}"
                ));
                DEFAULT_CLIENT_CACHE_TTL
            }),
        };
        if client_cache_ttl > kv_cache_ttl {
            errors.push(format!(
                "CLIENT_CACHE_TTL ({client_cache_ttl}) must not exceed KV_CACHE_TTL ({kv_cache_ttl})"
            ));
        }

        let scopes_supported: Vec<String> =
            split_list(&lookup("SCOPES_SUPPORTED").unwrap_or_default())
                .map(str::to_owned)
                .collect();
        if let Some(bad) = scopes_supported
            .iter()
            .find(|s| !crate::scope::is_scope_token(s))
        {
            errors.push(format!(
                "SCOPES_SUPPORTED contains a malformed scope {bad:?}"
            ));
        }

        let default_audiences: Vec<String> =
            split_list(&lookup("DEFAULT_AUDIENCE").unwrap_or_default())
                .map(str::to_owned)
                .collect();
        if let Err(e) = check_audiences(default_audiences.iter().map(String::as_str)) {
            errors.push(format!(
                "DEFAULT_AUDIENCE: {} (the same bound as a client's audiences)",
                e.audience_message()
            ));
        }

        let require_https = match lookup("REQUIRE_HTTPS").as_deref().map(str::trim) {
            None | Some("") | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(other) => {
                errors.push(format!(
                    "REQUIRE_HTTPS must be \"true\" or \"false\", got {other:?}"
                ));
                true
            }
        };

        // RFC 8414 §2: the issuer identifier is an https URL.
        if require_https && issuer.starts_with("http://") {
            errors.push(format!(
                "ISSUER must be an https:// URL when REQUIRE_HTTPS is true (RFC 8414 §2), got {issuer:?}"
            ));
        }

        let rate_limit_period = parse_seconds(
            "RATE_LIMIT_PERIOD",
            lookup("RATE_LIMIT_PERIOD"),
            DEFAULT_RATE_LIMIT_PERIOD,
            &mut errors,
        );
        if rate_limit_period != 10 && rate_limit_period != 60 {
            errors.push(format!(
                "RATE_LIMIT_PERIOD must be 10 or 60 (the periods Workers Rate Limiting supports; \
                 the same as `simple.period` in [[ratelimits]]), got {rate_limit_period}"
            ));
        }
        let store_timeout_ms = parse_seconds(
            "STORE_TIMEOUT_MS",
            lookup("STORE_TIMEOUT_MS"),
            DEFAULT_STORE_TIMEOUT_MS,
            &mut errors,
        );
        if store_timeout_ms > MAX_STORE_TIMEOUT_MS {
            errors.push(format!(
                "STORE_TIMEOUT_MS must be at most {MAX_STORE_TIMEOUT_MS}, got {store_timeout_ms}"
            ));
        }

        let jwks_max_age = parse_seconds(
            "JWKS_MAX_AGE",
            lookup("JWKS_MAX_AGE"),
            DEFAULT_JWKS_MAX_AGE,
            &mut errors,
        );
        if jwks_max_age > MAX_JWKS_MAX_AGE {
            errors.push(format!(
                "JWKS_MAX_AGE must be at most {MAX_JWKS_MAX_AGE}, got {jwks_max_age}"
            ));
        }

        let keys = match lookup("SIGNING_KEYS") {
            None => {
                errors.push("SIGNING_KEYS is not set (wrangler secret put SIGNING_KEYS; see `edge-token key generate`)".to_owned());
                None
            }
            Some(json) => match SigningKeys::parse(&json) {
                Ok(keys) => Some(keys),
                Err(e) => {
                    errors.push(e.0);
                    None
                }
            },
        };

        match keys {
            Some(keys) if errors.is_empty() => Ok(Config {
                issuer,
                token_ttl,
                max_token_ttl,
                default_audiences,
                kv_cache_ttl,
                require_https,
                scopes_supported,
                client_cache_ttl,
                rate_limit_period,
                store_timeout_ms,
                jwks_max_age,
                keys,
            }),
            _ => Err(ConfigError(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEYS: &str = r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = from(&[("ISSUER", "https://auth.example"), ("SIGNING_KEYS", KEYS)]).unwrap();
        assert_eq!(c.token_ttl, DEFAULT_TOKEN_TTL);
        assert_eq!(c.max_token_ttl, DEFAULT_MAX_TOKEN_TTL);
        assert_eq!(c.kv_cache_ttl, DEFAULT_KV_CACHE_TTL);
        assert!(c.require_https);
        assert!(c.default_audiences.is_empty());
    }

    #[test]
    fn all_settings_parse() {
        let c = from(&[
            ("ISSUER", "http://127.0.0.1:8787"),
            ("SIGNING_KEYS", KEYS),
            ("TOKEN_TTL", "60"),
            ("MAX_TOKEN_TTL", "120"),
            ("KV_CACHE_TTL", "300"),
            ("DEFAULT_AUDIENCE", "https://a https://b"),
            ("REQUIRE_HTTPS", "false"),
        ])
        .unwrap();
        assert_eq!(
            (c.token_ttl, c.max_token_ttl, c.kv_cache_ttl),
            (60, 120, 300)
        );
        assert_eq!(c.default_audiences, vec!["https://a", "https://b"]);
        assert!(!c.require_https);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = from(&[
            ("TOKEN_TTL", "abc"),
            ("KV_CACHE_TTL", "10"),
            ("REQUIRE_HTTPS", "maybe"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for expected in [
            "ISSUER is not set",
            "TOKEN_TTL must be",
            "KV_CACHE_TTL must be at least",
            "REQUIRE_HTTPS",
            "SIGNING_KEYS is not set",
        ] {
            assert!(text.contains(expected), "{expected} missing from {text}");
        }
    }

    #[test]
    fn short_key_or_ttl_above_max_is_an_error() {
        let e = from(&[
            ("ISSUER", "https://a"),
            ("SIGNING_KEYS", r#"[{"kid":"k","key":"c2hvcnQ"}]"#),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("at least 32"));
        let e = from(&[
            ("ISSUER", "https://a"),
            ("SIGNING_KEYS", KEYS),
            ("TOKEN_TTL", "7200"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("larger than MAX_TOKEN_TTL"));
        let e = from(&[("ISSUER", "ftp://a"), ("SIGNING_KEYS", KEYS)]).unwrap_err();
        assert!(e.to_string().contains("ISSUER must be"));
    }

    #[test]
    fn rate_limit_period_and_store_timeout_are_validated() {
        let c = from(&[("ISSUER", "https://a"), ("SIGNING_KEYS", KEYS)]).unwrap();
        assert_eq!((c.rate_limit_period, c.store_timeout_ms), (60, 3000));
        let c = from(&[
            ("ISSUER", "https://a"),
            ("SIGNING_KEYS", KEYS),
            ("RATE_LIMIT_PERIOD", "10"),
            ("STORE_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!((c.rate_limit_period, c.store_timeout_ms), (10, 250));
        for (name, value, message) in [
            (
                "RATE_LIMIT_PERIOD",
                "30",
                "RATE_LIMIT_PERIOD must be 10 or 60",
            ),
            (
                "RATE_LIMIT_PERIOD",
                "x",
                "RATE_LIMIT_PERIOD must be a positive",
            ),
            (
                "STORE_TIMEOUT_MS",
                "0",
                "STORE_TIMEOUT_MS must be a positive",
            ),
            (
                "STORE_TIMEOUT_MS",
                "-5",
                "STORE_TIMEOUT_MS must be a positive",
            ),
            (
                "STORE_TIMEOUT_MS",
                "60000",
                "STORE_TIMEOUT_MS must be at most 30000",
            ),
        ] {
            let e = from(&[
                ("ISSUER", "https://a"),
                ("SIGNING_KEYS", KEYS),
                (name, value),
            ])
            .unwrap_err();
            assert!(e.to_string().contains(message), "{name}={value}: {e}");
        }
    }

    #[test]
    fn https_issuer_required_with_require_https() {
        let e = from(&[("ISSUER", "http://auth.example"), ("SIGNING_KEYS", KEYS)]).unwrap_err();
        assert!(
            e.to_string().contains("https:// URL when REQUIRE_HTTPS"),
            "{e}"
        );
        let e = from(&[
            ("ISSUER", "http://auth.example"),
            ("SIGNING_KEYS", KEYS),
            ("REQUIRE_HTTPS", "true"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("RFC 8414"), "{e}");
        assert!(from(&[
            ("ISSUER", "http://127.0.0.1:8787"),
            ("SIGNING_KEYS", KEYS),
            ("REQUIRE_HTTPS", "false"),
        ])
        .is_ok());
        assert!(from(&[("ISSUER", "https://auth.example"), ("SIGNING_KEYS", KEYS)]).is_ok());
    }

    #[test]
    fn upper_bounds_on_lifetimes_and_caches() {
        for (vars, message) in [
            (
                vec![("MAX_TOKEN_TTL", "86401")],
                "MAX_TOKEN_TTL must be at most 86400",
            ),
            (
                vec![("KV_CACHE_TTL", "301")],
                "KV_CACHE_TTL must be at most 300",
            ),
            (
                vec![("KV_CACHE_TTL", "60"), ("CLIENT_CACHE_TTL", "61")],
                "CLIENT_CACHE_TTL (61) must not exceed KV_CACHE_TTL (60)",
            ),
            (
                vec![("ISSUER", "https://a\"b")],
                "ISSUER must be an http(s) origin",
            ),
        ] {
            let mut all = vec![("ISSUER", "https://a"), ("SIGNING_KEYS", KEYS)];
            all.extend(vars.iter().copied());
            let e = from(&all).unwrap_err();
            assert!(e.to_string().contains(message), "{vars:?}: {e}");
        }
        let long = format!("https://{}", "a".repeat(MAX_ISSUER_LEN));
        let e = from(&[("ISSUER", long.as_str()), ("SIGNING_KEYS", KEYS)]).unwrap_err();
        assert!(
            e.to_string().contains("ISSUER must be at most 256 bytes"),
            "{e}"
        );
        let c = from(&[
            ("ISSUER", "https://a"),
            ("SIGNING_KEYS", KEYS),
            ("MAX_TOKEN_TTL", "86400"),
            ("KV_CACHE_TTL", "300"),
            ("CLIENT_CACHE_TTL", "300"),
        ])
        .unwrap();
        assert_eq!((c.max_token_ttl, c.kv_cache_ttl), (86400, 300));
    }

    #[test]
    fn default_audience_has_the_client_audience_bound() {
        let many: Vec<String> = (0..17).map(|i| format!("urn:a{i}")).collect();
        let many = many.join(" ");
        let e = from(&[
            ("ISSUER", "https://a"),
            ("SIGNING_KEYS", KEYS),
            ("DEFAULT_AUDIENCE", many.as_str()),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("more than 16 audiences"), "{e}");
        let e = from(&[
            ("ISSUER", "https://a"),
            ("SIGNING_KEYS", KEYS),
            ("DEFAULT_AUDIENCE", "has\"quote"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("DEFAULT_AUDIENCE"), "{e}");
    }
}
