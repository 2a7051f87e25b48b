//! Scope ([RFC 6749 §3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3)) and
//! audience ([RFC 8707](https://www.rfc-editor.org/rfc/rfc8707)) decisions,
//! and the one bound on each list ([`check_scopes`], [`check_audiences`]):
//! applied to what a client record may hold (CLI and Worker), to the
//! configured default audiences and to every request, so no token carries
//! more than the verifier's size limit allows (see [`crate::client`]'s
//! token budget).

use std::collections::HashSet;

pub use edge_token_verify::grammar::{is_absolute_uri, is_audience, is_scope_token, split_list};

use crate::client::ClientRecord;
use crate::error::OAuthError;

/// Most audiences one list (a request, a client's allowed or default
/// audiences, `DEFAULT_AUDIENCE`) and so one token may carry.
pub const MAX_AUDIENCES: usize = 16;
/// Longest accepted audience / resource value, in bytes.
pub const MAX_AUDIENCE_LEN: usize = 512;
/// Most bytes the audiences of one list take together.
pub const MAX_AUDIENCE_BYTES: usize = 1536;
/// Most scope-tokens in one list (a request's `scope`, a client's allowed scopes).
pub const MAX_SCOPES: usize = 64;
/// Longest scope-token, in bytes.
pub const MAX_SCOPE_LEN: usize = 128;
/// Most bytes the scopes of one list take, joined by spaces (a token's `scope`).
pub const MAX_SCOPE_BYTES: usize = 1024;

/// Why a scope or audience list is out of bounds (or malformed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListError {
    /// More entries than allowed.
    TooMany,
    /// One entry longer than allowed.
    TooLong,
    /// All entries together longer than allowed.
    TooLarge,
    /// An entry that is not a scope-token / absolute URI.
    Malformed,
}

impl ListError {
    fn describe(self, what: &str) -> String {
        match self {
            ListError::TooMany if what == "scope" => format!("more than {MAX_SCOPES} scopes"),
            ListError::TooMany => format!("more than {MAX_AUDIENCES} audiences"),
            ListError::TooLong if what == "scope" => {
                format!("a scope longer than {MAX_SCOPE_LEN} bytes")
            }
            ListError::TooLong => format!("an audience longer than {MAX_AUDIENCE_LEN} bytes"),
            ListError::TooLarge if what == "scope" => {
                format!("scopes longer than {MAX_SCOPE_BYTES} bytes together")
            }
            ListError::TooLarge => {
                format!("audiences longer than {MAX_AUDIENCE_BYTES} bytes together")
            }
            ListError::Malformed if what == "scope" => "a malformed scope".to_owned(),
            ListError::Malformed => {
                "an audience with a character other than visible ASCII (or with '\"' or '\\')"
                    .to_owned()
            }
        }
    }

    /// A message naming the bound, for configuration and CLI errors.
    pub fn scope_message(self) -> String {
        self.describe("scope")
    }

    /// A message naming the bound, for configuration and CLI errors.
    pub fn audience_message(self) -> String {
        self.describe("audience")
    }
}

/// The scope bound: at most [`MAX_SCOPES`] entries (counted before any
/// de-duplication), each a scope-token of at most [`MAX_SCOPE_LEN`] bytes,
/// at most [`MAX_SCOPE_BYTES`] joined by spaces.
pub fn check_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Result<(), ListError> {
    let mut count = 0usize;
    let mut bytes = 0usize;
    for s in scopes {
        count += 1;
        if count > MAX_SCOPES {
            return Err(ListError::TooMany);
        }
        if s.len() > MAX_SCOPE_LEN {
            return Err(ListError::TooLong);
        }
        if !is_scope_token(s) {
            return Err(ListError::Malformed);
        }
        bytes += s.len() + usize::from(count > 1);
    }
    if bytes > MAX_SCOPE_BYTES {
        return Err(ListError::TooLarge);
    }
    Ok(())
}

/// The audience bound: at most [`MAX_AUDIENCES`] entries (counted before
/// any de-duplication), each an audience of at most [`MAX_AUDIENCE_LEN`]
/// bytes ([`is_audience`]), at most [`MAX_AUDIENCE_BYTES`] together.
pub fn check_audiences<'a>(audiences: impl IntoIterator<Item = &'a str>) -> Result<(), ListError> {
    let mut count = 0usize;
    let mut bytes = 0usize;
    for a in audiences {
        count += 1;
        if count > MAX_AUDIENCES {
            return Err(ListError::TooMany);
        }
        if a.len() > MAX_AUDIENCE_LEN {
            return Err(ListError::TooLong);
        }
        if !is_audience(a) {
            return Err(ListError::Malformed);
        }
        bytes += a.len();
    }
    if bytes > MAX_AUDIENCE_BYTES {
        return Err(ListError::TooLarge);
    }
    Ok(())
}

/// Removes repeated entries, keeping the first of each, in linear time.
pub fn dedup<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.into_iter().filter(|i| seen.insert(*i)).collect()
}

/// Splits a space-delimited scope string into distinct scope-tokens, in order.
/// Runs of spaces are tolerated; any other invalid character, or a list
/// beyond [`check_scopes`]' bound (counted before de-duplication), is
/// `invalid_scope`.
pub fn parse_scope(scope: &str) -> Result<Vec<&str>, OAuthError> {
    let tokens = || split_list(scope);
    match check_scopes(tokens()) {
        Ok(()) => Ok(dedup(tokens())),
        Err(ListError::Malformed) => Err(OAuthError::InvalidScope("malformed scope")),
        Err(_) => Err(OAuthError::InvalidScope("too many or too long scopes")),
    }
}

/// The scopes to grant: the requested ones if all are allowed for the client,
/// else `invalid_scope`; the client's default scopes when none are requested.
pub fn grant_scopes(
    requested: Option<&str>,
    client: &ClientRecord,
) -> Result<Vec<String>, OAuthError> {
    let requested = match requested {
        Some(s) => parse_scope(s)?,
        None => Vec::new(),
    };
    if requested.is_empty() {
        return Ok(client.default_scopes.clone());
    }
    if requested
        .iter()
        .all(|r| client.allowed_scopes.iter().any(|a| a == r))
    {
        Ok(requested.into_iter().map(str::to_owned).collect())
    } else {
        Err(OAuthError::InvalidScope(
            "requested scope is not allowed for this client",
        ))
    }
}

/// The audiences for the token's `aud` claim.
///
/// Requested values come from every `resource` parameter (each an absolute
/// URI) and the space-delimited `audience` parameter; each must be in the
/// client's allowed audiences (or be one of its defaults), else
/// `invalid_target`. With none requested:
/// the client's default audiences, else `config_default`, else
/// `invalid_target` (RFC 9068 requires an `aud`).
pub fn grant_audiences(
    resources: &[&str],
    audience: Option<&str>,
    client: &ClientRecord,
    config_default: &[String],
) -> Result<Vec<String>, OAuthError> {
    if resources.iter().any(|r| !is_absolute_uri(r)) {
        return Err(OAuthError::InvalidTarget(
            "resource must be an absolute URI without a fragment",
        ));
    }
    let all = || {
        resources
            .iter()
            .copied()
            .chain(split_list(audience.unwrap_or_default()))
    };
    // Bounded before de-duplication: a long list of repeats is refused too.
    match check_audiences(all()) {
        Ok(()) => {}
        Err(ListError::Malformed) => return Err(OAuthError::InvalidTarget("malformed audience")),
        Err(ListError::TooMany) => {
            return Err(OAuthError::InvalidTarget("too many audiences requested"))
        }
        Err(ListError::TooLong | ListError::TooLarge) => {
            return Err(OAuthError::InvalidTarget("requested audiences too long"))
        }
    }
    let requested = dedup(all());
    let defaults: &[String] = if client.default_audiences.is_empty() {
        config_default
    } else {
        &client.default_audiences
    };
    if requested.is_empty() {
        if defaults.is_empty() {
            return Err(OAuthError::InvalidTarget(
                "no audience requested and none configured",
            ));
        }
        return Ok(defaults.to_vec());
    }
    // A client may name explicitly what it would get by default.
    let allowed = |r: &&str| {
        client
            .allowed_audiences
            .iter()
            .chain(defaults)
            .any(|a| a == r)
    };
    if requested.iter().all(allowed) {
        Ok(requested.into_iter().map(str::to_owned).collect())
    } else {
        Err(OAuthError::InvalidTarget(
            "requested audience is not allowed for this client",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientRecord {
        ClientRecord {
            allowed_scopes: vec!["read".into(), "write".into(), "admin:all".into()],
            default_scopes: vec!["read".into()],
            allowed_audiences: vec!["https://api.example".into(), "urn:billing".into()],
            ..ClientRecord::new("c", "c", 0)
        }
    }

    #[test]
    fn scope_absent_or_blank_gives_defaults() {
        assert_eq!(grant_scopes(None, &client()).unwrap(), vec!["read"]);
        assert_eq!(grant_scopes(Some("  "), &client()).unwrap(), vec!["read"]);
    }

    #[test]
    fn scope_subset_is_granted_in_order_without_duplicates() {
        assert_eq!(
            grant_scopes(Some("write read write"), &client()).unwrap(),
            vec!["write", "read"]
        );
        assert_eq!(
            grant_scopes(Some("admin:all"), &client()).unwrap(),
            vec!["admin:all"]
        );
    }

    #[test]
    fn scope_outside_allowed_is_invalid_scope() {
        assert_eq!(
            grant_scopes(Some("read delete"), &client())
                .unwrap_err()
                .code(),
            "invalid_scope"
        );
    }

    #[test]
    fn scope_with_forbidden_characters_is_invalid_scope() {
        for s in ["re\"ad", "read\\", "read\twrite", "r\u{e9}ad"] {
            assert_eq!(
                grant_scopes(Some(s), &client()).unwrap_err().code(),
                "invalid_scope",
                "{s:?}"
            );
        }
    }

    #[test]
    fn audience_absent_falls_back_to_client_then_config() {
        let mut c = client();
        assert_eq!(
            grant_audiences(&[], None, &c, &["https://d".into()]).unwrap(),
            vec!["https://d"]
        );
        assert_eq!(
            grant_audiences(&[], None, &c, &[]).unwrap_err().code(),
            "invalid_target"
        );
        c.default_audiences = vec!["urn:billing".into()];
        assert_eq!(
            grant_audiences(&[], None, &c, &["https://d".into()]).unwrap(),
            vec!["urn:billing"]
        );
    }

    #[test]
    fn audience_requested_must_be_allowed() {
        let c = client();
        assert_eq!(
            grant_audiences(&["https://api.example"], Some("urn:billing"), &c, &[]).unwrap(),
            vec!["https://api.example", "urn:billing"]
        );
        assert_eq!(
            grant_audiences(&["https://other"], None, &c, &[])
                .unwrap_err()
                .code(),
            "invalid_target"
        );
        assert_eq!(
            grant_audiences(&[], Some("urn:nope"), &c, &[])
                .unwrap_err()
                .code(),
            "invalid_target"
        );
        // The configured default may be named explicitly.
        assert_eq!(
            grant_audiences(&["https://d"], None, &c, &["https://d".into()]).unwrap(),
            vec!["https://d"]
        );
    }

    #[test]
    fn resource_must_be_absolute_uri_without_fragment() {
        let c = client();
        for r in [
            "api.example",
            "/relative",
            "https://api.example#frag",
            "1http://x",
            "",
            "https://a b",
        ] {
            assert_eq!(
                grant_audiences(&[r], None, &c, &[]).unwrap_err().code(),
                "invalid_target",
                "{r:?}"
            );
        }
        assert!(is_absolute_uri("urn:billing"));
        assert!(is_absolute_uri("https://api.example/v1?x=1"));
    }

    #[test]
    fn too_many_audiences_is_invalid_target() {
        let many: Vec<String> = (0..=MAX_AUDIENCES).map(|i| format!("urn:a{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            grant_audiences(&refs, None, &client(), &[])
                .unwrap_err()
                .code(),
            "invalid_target"
        );
    }
}
