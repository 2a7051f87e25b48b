//! The Worker's settings, read once per isolate: which keys verify tokens
//! (the issuer's shared `SIGNING_KEYS`, or its JWK Set at `JWKS_URL`), the
//! expected issuer and audience, and the JWKS cache's bounds. Pure: the
//! Worker passes a lookup for its vars and whether the `ISSUER_SERVICE`
//! binding exists.

use edge_token_verify::bearer::Verifier;
use edge_token_verify::token::KeySet;

use crate::jwks::Policy;

/// Where the keys come from.
#[derive(Debug)]
pub enum Keys {
    /// `SIGNING_KEYS`: held by the [`Verifier`] itself.
    Shared,
    /// `JWKS_URL`: fetched, cached per isolate and refreshed by the Worker.
    Jwks(JwksSource),
}

/// JWKS mode: the URL, how it is fetched, and the cache's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSource {
    /// The issuer's `jwks_uri`.
    pub url: String,
    /// Fetched through the `ISSUER_SERVICE` service binding (else global
    /// `fetch`).
    pub via_binding: bool,
    /// Lifetimes and intervals.
    pub policy: Policy,
}

/// Everything the Worker needs to check tokens.
#[derive(Debug)]
pub struct Settings {
    /// Issuer, audience and leeway; in [`Keys::Shared`] mode also the keys.
    /// In JWKS mode its own key set is empty and the cached JWK Set is
    /// passed to [`Verifier::verify_with`].
    pub verifier: Verifier,
    /// Which keys.
    pub keys: Keys,
}

/// Bounds of the JWKS cache settings, in seconds: (name, default, lowest,
/// highest).
const REFRESH: (&str, u64, u64, u64) = ("JWKS_REFRESH_SECS", 60, 1, 86_400);
const CACHE_MIN: (&str, u64, u64, u64) = ("JWKS_CACHE_MIN_SECS", 60, 1, 86_400);
const CACHE_MAX: (&str, u64, u64, u64) = ("JWKS_CACHE_MAX_SECS", 3_600, 1, 86_400);
const STALE: (&str, u64, u64, u64) = ("JWKS_STALE_SECS", 3_600, 0, 86_400);

/// Reads the settings through `lookup` (a var or secret by name) and reports
/// every problem at once. Messages never contain key material.
///
/// * `JWKS_URL` set: JWKS mode. `SIGNING_KEYS` must then be absent: one
///   source of keys, so that a forgotten shared secret never keeps being
///   trusted beside the JWK Set.
/// * Otherwise `SIGNING_KEYS` (shared keys) is required.
pub fn load(
    lookup: impl Fn(&str) -> Option<String>,
    has_binding: bool,
) -> Result<Settings, String> {
    let setting = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut problems = Vec::new();
    let jwks_url = setting("JWKS_URL");
    let signing_keys = setting("SIGNING_KEYS");
    let keys = match (jwks_url, signing_keys) {
        (Some(_), Some(_)) => {
            problems.push(
                "JWKS_URL and SIGNING_KEYS are both set: use one (JWKS_URL for the issuer's \
                 public keys, SIGNING_KEYS for its shared keys) and remove the other"
                    .to_owned(),
            );
            None
        }
        (Some(url), None) => {
            let policy = policy(&setting, &mut problems);
            match check_url(&url, has_binding) {
                Ok(()) => policy.map(|policy| {
                    (
                        KeySet::default(),
                        Keys::Jwks(JwksSource {
                            url,
                            via_binding: has_binding,
                            policy,
                        }),
                    )
                }),
                Err(problem) => {
                    problems.push(problem);
                    None
                }
            }
        }
        (None, Some(json)) => match KeySet::parse(&json) {
            Ok(keys) => Some((keys, Keys::Shared)),
            Err(e) => {
                problems.push(e.0);
                None
            }
        },
        (None, None) => {
            problems.push(
                "neither JWKS_URL (the issuer's jwks_uri) nor SIGNING_KEYS (the issuer's \
                 shared keys) is set"
                    .to_owned(),
            );
            None
        }
    };
    let issuer = setting("ISSUER");
    if issuer.is_none() {
        problems.push("ISSUER is not set (the issuer's `iss`)".to_owned());
    }
    let audience = setting("AUDIENCE");
    if audience.is_none() {
        problems.push("AUDIENCE is not set (this API's identifier)".to_owned());
    }
    match (keys, issuer, audience) {
        (Some((key_set, keys)), Some(issuer), Some(audience)) if problems.is_empty() => {
            Ok(Settings {
                verifier: Verifier::new(key_set, issuer, audience),
                keys,
            })
        }
        _ => Err(format!("invalid configuration: {}", problems.join("; "))),
    }
}

/// The JWKS cache bounds, each checked against its range.
fn policy(setting: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Option<Policy> {
    let mut read = |(name, default, low, high): (&str, u64, u64, u64)| match setting(name) {
        None => Some(default),
        Some(value) => match value.parse::<u64>() {
            Ok(n) if (low..=high).contains(&n) => Some(n),
            _ => {
                problems.push(format!(
                    "{name} must be a whole number of seconds from {low} to {high}"
                ));
                None
            }
        },
    };
    let refresh = read(REFRESH);
    let min = read(CACHE_MIN);
    let max = read(CACHE_MAX);
    let stale = read(STALE);
    let (refresh, min, max, stale) = (refresh?, min?, max?, stale?);
    if min > max {
        problems.push(format!(
            "JWKS_CACHE_MIN_SECS ({min}) is above JWKS_CACHE_MAX_SECS ({max})"
        ));
        return None;
    }
    Some(Policy {
        refresh_secs: refresh,
        min_secs: min,
        max_secs: max,
        stale_secs: stale,
    })
}

/// `JWKS_URL` must be an absolute `https://` URL with a host, and without
/// credentials, a fragment, spaces or control characters. `http://` is
/// accepted for a loopback host (local development) or when the
/// `ISSUER_SERVICE` binding carries the request (no network involved).
/// (The runtime parses it fully when it is fetched; a failure there is a
/// failed fetch, logged.)
fn check_url(url: &str, has_binding: bool) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("JWKS_URL {why}"));
    let Some((scheme, rest)) = url.split_once("://") else {
        return refuse("is not an absolute URL (the issuer's jwks_uri)");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("must not contain spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return refuse("must not contain credentials");
    }
    if url.contains('#') {
        return refuse("must not have a fragment");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(addr, _)| addr),
        None => authority.split(':').next().unwrap_or(""),
    };
    if host.is_empty() {
        return refuse("has no host");
    }
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "::1");
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if loopback || has_binding => Ok(()),
        "http" => refuse(
            "must use https:// (http:// only for localhost, 127.0.0.1 or [::1], or through \
             the ISSUER_SERVICE binding)",
        ),
        _ => refuse("must be an https:// URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#;
    const URL: &str = "https://issuer.example/.well-known/jwks.json";

    fn with(vars: &[(&str, &str)], has_binding: bool) -> Result<Settings, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            has_binding,
        )
    }

    fn base(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = vec![
            ("ISSUER", "https://issuer.example"),
            ("AUDIENCE", "https://api.example"),
        ];
        vars.extend_from_slice(extra);
        vars
    }

    fn jwks(settings: Result<Settings, String>) -> JwksSource {
        match settings.unwrap().keys {
            Keys::Jwks(source) => source,
            Keys::Shared => panic!("shared mode"),
        }
    }

    #[test]
    fn signing_keys_alone_is_shared_mode() {
        let s = with(&base(&[("SIGNING_KEYS", KEYS)]), false).unwrap();
        assert!(matches!(s.keys, Keys::Shared));
        // The JWKS tuning vars do not matter in this mode.
        let s = with(
            &base(&[("SIGNING_KEYS", KEYS), ("JWKS_REFRESH_SECS", "x")]),
            false,
        );
        assert!(s.is_ok());
    }

    #[test]
    fn jwks_url_alone_is_jwks_mode_with_defaults() {
        let source = jwks(with(&base(&[("JWKS_URL", URL)]), false));
        assert_eq!(source.url, URL);
        assert!(!source.via_binding);
        assert_eq!(
            source.policy,
            Policy {
                refresh_secs: 60,
                min_secs: 60,
                max_secs: 3_600,
                stale_secs: 3_600
            }
        );
        let source = jwks(with(
            &base(&[
                ("JWKS_URL", URL),
                ("JWKS_REFRESH_SECS", "5"),
                ("JWKS_CACHE_MIN_SECS", "10"),
                ("JWKS_CACHE_MAX_SECS", "10"),
                ("JWKS_STALE_SECS", "0"),
            ]),
            true,
        ));
        assert!(source.via_binding);
        assert_eq!(
            source.policy,
            Policy {
                refresh_secs: 5,
                min_secs: 10,
                max_secs: 10,
                stale_secs: 0
            }
        );
    }

    #[test]
    fn both_sources_or_neither_is_refused() {
        let e = with(&base(&[("JWKS_URL", URL), ("SIGNING_KEYS", KEYS)]), true).unwrap_err();
        assert!(e.contains("JWKS_URL and SIGNING_KEYS are both set"), "{e}");
        assert!(!e.contains("MDEy"), "key material in {e}");
        let e = with(&base(&[]), true).unwrap_err();
        assert!(e.contains("neither JWKS_URL"), "{e}");
        // Every problem at once.
        let e = with(&[("JWKS_URL", "ftp://x")], false).unwrap_err();
        assert!(e.contains("JWKS_URL must be an https:// URL"), "{e}");
        assert!(e.contains("ISSUER is not set"), "{e}");
        assert!(e.contains("AUDIENCE is not set"), "{e}");
    }

    #[test]
    fn jwks_url_must_be_https_unless_loopback_or_binding() {
        for ok in [
            "https://issuer.example/.well-known/jwks.json",
            "http://127.0.0.1:8787/.well-known/jwks.json",
            "http://localhost:8787/.well-known/jwks.json",
            "http://[::1]:8787/.well-known/jwks.json",
        ] {
            assert!(with(&base(&[("JWKS_URL", ok)]), false).is_ok(), "{ok}");
        }
        let plain = "http://issuer.example/.well-known/jwks.json";
        let e = with(&base(&[("JWKS_URL", plain)]), false).unwrap_err();
        assert!(e.contains("must use https://"), "{e}");
        assert!(with(&base(&[("JWKS_URL", plain)]), true).is_ok());
        for (bad, why) in [
            ("/.well-known/jwks.json", "not an absolute URL"),
            ("issuer.example", "not an absolute URL"),
            ("https://user:pw@issuer.example/jwks", "credentials"),
            ("https://issuer.example/jwks#x", "fragment"),
            ("mailto:x@issuer.example", "not an absolute URL"),
            ("https:///jwks", "has no host"),
            ("https://:443/jwks", "has no host"),
            ("https://[::1/jwks", "has no host"),
            ("https://issuer.example/a b", "spaces"),
            ("ftp://issuer.example/jwks", "must be an https:// URL"),
        ] {
            let e = with(&base(&[("JWKS_URL", bad)]), true).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn cache_settings_are_range_checked() {
        for (name, bad) in [
            ("JWKS_REFRESH_SECS", "0"),
            ("JWKS_REFRESH_SECS", "86401"),
            ("JWKS_CACHE_MIN_SECS", "0"),
            ("JWKS_CACHE_MAX_SECS", "-1"),
            ("JWKS_STALE_SECS", "1.5"),
            ("JWKS_STALE_SECS", "90000"),
        ] {
            let e = with(&base(&[("JWKS_URL", URL), (name, bad)]), false).unwrap_err();
            assert!(e.contains(&format!("{name} must be a whole number")), "{e}");
        }
        let e = with(
            &base(&[
                ("JWKS_URL", URL),
                ("JWKS_CACHE_MIN_SECS", "600"),
                ("JWKS_CACHE_MAX_SECS", "300"),
            ]),
            false,
        )
        .unwrap_err();
        assert!(e.contains("JWKS_CACHE_MIN_SECS (600) is above"), "{e}");
    }
}
