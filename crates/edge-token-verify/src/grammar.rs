//! The grammar of every value edge-token accepts or writes: scope-tokens
//! (RFC 6749 §3.3), audiences and absolute URIs (RFC 8707 §2), `kid`s and
//! extra claim names. The issuer's configuration, its admin CLI, its request
//! parsing and this crate's verifier all check values with these functions
//! and nothing else.

/// Longest accepted `kid`.
pub const MAX_KID_LEN: usize = 64;

/// Whether `kid` is a key id edge-token uses: 1-[`MAX_KID_LEN`] characters
/// of `A-Z a-z 0-9 - _ .`.
pub fn is_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `token` is a valid scope-token: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// The items of a space-delimited list (a `scope` value, RFC 6749 §3.3, an
/// `audience` parameter, a list setting), in order, runs of spaces
/// tolerated. Nothing is checked or removed here.
pub fn split_list(list: &str) -> impl Iterator<Item = &str> + Clone {
    list.split(' ').filter(|t| !t.is_empty())
}

/// Whether `uri` is an absolute URI without a fragment, as RFC 8707 §2
/// requires of `resource`: a scheme, `:` and a non-empty rest of visible
/// ASCII without `#`. A rest that starts with `//` must name an authority
/// (`http://` and `https:///x` are refused: they identify no server).
pub fn is_absolute_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.bytes();
    scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !has_empty_authority(rest)
        && !uri.contains('#')
        && uri.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether the part of a URI after `scheme:` is `//` and an empty
/// authority: nothing before the next `/`, `?` (or `#`) or the end.
fn has_empty_authority(rest: &str) -> bool {
    rest.strip_prefix("//")
        .is_some_and(|after| after.is_empty() || after.starts_with(['/', '?', '#']))
}

/// Whether `value` may be an audience: visible ASCII other than `"` and
/// `\`, so it takes exactly its own length in a token. (`resource` values
/// must also be absolute URIs, RFC 8707 §2, and the CLI registers only
/// absolute URIs; `audience` values and `DEFAULT_AUDIENCE` need not be.)
pub fn is_audience(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// Claim names edge-token sets itself or that carry meaning in the JWT, OAuth
/// and OpenID registries; an extra claim may never use one of them.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "typ",
    "cty",
    "alg",
    "kid",
    "cnf",
    "act",
    "may_act",
    "azp",
    "auth_time",
    "acr",
    "amr",
    "sid",
    "nonce",
    "roles",
    "groups",
    "entitlements",
    "token_type",
    "active",
    "username",
];

/// Longest extra claim name.
pub const MAX_EXTRA_CLAIM_NAME: usize = 64;

/// Whether `name` may be used for a per-client extra claim: 1-64 characters
/// of `A-Z a-z 0-9 _ - . :`, not starting with a digit, and not a reserved
/// (registered) claim name in any letter case.
pub fn is_extra_claim_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_EXTRA_CLAIM_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !RESERVED_CLAIMS.iter().any(|r| r.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_uris_are_accepted() {
        for uri in [
            "https://api.example.com",
            "https://api.example.com/v1?x=1",
            "http://127.0.0.1:8788/",
            "urn:billing",
            "urn:example:a:b",
            "mailto:ops@example.com",
            "https://u@host",
            "x:/path",
            "x:a//b",
        ] {
            assert!(is_absolute_uri(uri), "{uri:?} refused");
        }
    }

    #[test]
    fn absolute_uris_need_an_authority_after_a_double_slash() {
        for uri in [
            "http://",
            "https://",
            "https:///x",
            "https:///",
            "http://?q=1",
            "urn://",
            "file:///etc/passwd",
        ] {
            assert!(!is_absolute_uri(uri), "{uri:?} accepted");
        }
        assert!(is_absolute_uri("http://a"));
        assert!(is_absolute_uri("http://a/"));
    }

    #[test]
    fn not_absolute_uris_are_refused() {
        for uri in [
            "",
            ":",
            "https:",
            "1http://a",
            "ht tp://a",
            "/relative",
            "api.example.com",
            "https://a.example/#frag",
            "https://a.example/ x",
            "https://a.example/\u{e9}",
        ] {
            assert!(!is_absolute_uri(uri), "{uri:?} accepted");
        }
    }
}
