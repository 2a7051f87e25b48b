//! Scope ([RFC 6749 §3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3)) and
//! audience ([RFC 8707](https://www.rfc-editor.org/rfc/rfc8707)) decisions.

use crate::client::ClientRecord;
use crate::error::OAuthError;

/// Most audiences one token may carry.
pub const MAX_AUDIENCES: usize = 16;
/// Longest accepted audience / resource value.
pub const MAX_AUDIENCE_LEN: usize = 2048;

/// Whether `token` is a valid scope-token: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// Splits a space-delimited scope string into distinct scope-tokens, in order.
/// Runs of spaces are tolerated; any other invalid character is `invalid_scope`.
pub fn parse_scope(scope: &str) -> Result<Vec<&str>, OAuthError> {
    let mut out: Vec<&str> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(OAuthError::InvalidScope("malformed scope"));
        }
        if !out.contains(&token) {
            out.push(token);
        }
    }
    Ok(out)
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

/// Whether `uri` is an absolute URI without a fragment, as RFC 8707 §2
/// requires of `resource`.
pub fn is_absolute_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.bytes();
    scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !uri.contains('#')
        && uri.bytes().all(|b| b.is_ascii_graphic())
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
    let mut requested: Vec<&str> = Vec::new();
    for r in resources {
        if !is_absolute_uri(r) || r.len() > MAX_AUDIENCE_LEN {
            return Err(OAuthError::InvalidTarget(
                "resource must be an absolute URI without a fragment",
            ));
        }
        if !requested.contains(r) {
            requested.push(r);
        }
    }
    for a in audience
        .unwrap_or_default()
        .split(' ')
        .filter(|a| !a.is_empty())
    {
        if a.len() > MAX_AUDIENCE_LEN || !a.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OAuthError::InvalidTarget("malformed audience"));
        }
        if !requested.contains(&a) {
            requested.push(a);
        }
    }
    if requested.len() > MAX_AUDIENCES {
        return Err(OAuthError::InvalidTarget("too many audiences requested"));
    }
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
