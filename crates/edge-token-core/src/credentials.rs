//! Client authentication parameters: `client_secret_basic` and
//! `client_secret_post` ([RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)).
//!
//! Parsing only: checking the secret against the store is
//! [`crate::client::ClientRecord::verify_secret`]'s job.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::error::OAuthError;
use crate::form::decode_component;

/// Longest client id or secret accepted before any lookup.
pub const MAX_CREDENTIAL_LEN: usize = 256;

/// A client secret as presented by a caller. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a presented secret.
    pub fn new(secret: String) -> Self {
        ClientSecret(secret)
    }

    /// The secret itself. Only digesting code should call this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// The authentication method a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic (`client_secret_basic`).
    Basic,
    /// Body parameters (`client_secret_post`).
    Post,
}

impl AuthMethod {
    /// The RFC 8414 name of the method.
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::Basic => "client_secret_basic",
            AuthMethod::Post => "client_secret_post",
        }
    }
}

/// Credentials extracted from a request, before verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The claimed client id.
    pub client_id: String,
    /// The presented secret.
    pub secret: ClientSecret,
    /// How they were sent.
    pub method: AuthMethod,
}

/// Base64 for Basic credentials: standard alphabet, padding optional.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Extracts the client's credentials from the `Authorization` header value
/// (if any) and the body's `client_id` / `client_secret` (if any).
///
/// Rules: exactly one method (Basic and a body secret together is
/// `invalid_request`, RFC 6749 §2.3); a body `client_id` beside Basic must
/// name the same client; a malformed Basic header, a non-Basic scheme, no
/// credentials at all, or a `client_id` without a secret is `invalid_client`.
pub fn extract(
    authorization: Option<&str>,
    body_client_id: Option<&str>,
    body_client_secret: Option<&str>,
) -> Result<Credentials, OAuthError> {
    match authorization {
        Some(header) => {
            if body_client_secret.is_some() {
                return Err(OAuthError::InvalidRequest(
                    "more than one client authentication method",
                ));
            }
            let (client_id, secret) = parse_basic(header)?;
            if body_client_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id does not match the Authorization header",
                ));
            }
            Ok(Credentials {
                client_id,
                secret: ClientSecret(secret),
                method: AuthMethod::Basic,
            })
        }
        None => match (body_client_id, body_client_secret) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                if id.len() > MAX_CREDENTIAL_LEN || secret.len() > MAX_CREDENTIAL_LEN {
                    return Err(OAuthError::InvalidClient);
                }
                Ok(Credentials {
                    client_id: id.to_owned(),
                    secret: ClientSecret(secret.to_owned()),
                    method: AuthMethod::Post,
                })
            }
            _ => Err(OAuthError::InvalidClient),
        },
    }
}

/// Parses `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').ok_or(OAuthError::InvalidClient)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::InvalidClient);
    }
    let encoded = rest.trim();
    // Two credentials of MAX_CREDENTIAL_LEN, urlencoded at worst 3x, in base64.
    if encoded.len() > MAX_CREDENTIAL_LEN * 3 * 2 * 4 / 3 + 8 {
        return Err(OAuthError::InvalidClient);
    }
    let decoded = BASIC_BASE64
        .decode(encoded)
        .map_err(|_| OAuthError::InvalidClient)?;
    let colon = decoded
        .iter()
        .position(|b| *b == b':')
        .ok_or(OAuthError::InvalidClient)?;
    let id = decoded.get(..colon).ok_or(OAuthError::InvalidClient)?;
    let secret = decoded.get(colon + 1..).ok_or(OAuthError::InvalidClient)?;
    let id = decode_component(id).map_err(|_| OAuthError::InvalidClient)?;
    let secret = decode_component(secret).map_err(|_| OAuthError::InvalidClient)?;
    if id.is_empty()
        || secret.is_empty()
        || id.len() > MAX_CREDENTIAL_LEN
        || secret.len() > MAX_CREDENTIAL_LEN
    {
        return Err(OAuthError::InvalidClient);
    }
    Ok((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn basic_valid_parses_and_urldecodes() {
        let c = extract(Some(&basic("my%3Aid:s%2Bcr+t")), None, None).unwrap();
        assert_eq!(c.client_id, "my:id");
        assert_eq!(c.secret.expose(), "s+cr t");
        assert_eq!(c.method, AuthMethod::Basic);
    }

    #[test]
    fn basic_scheme_is_case_insensitive_and_padding_optional() {
        let h = basic("id:secret");
        let lower = h
            .replacen("Basic", "basic", 1)
            .trim_end_matches('=')
            .to_owned();
        assert_eq!(extract(Some(&lower), None, None).unwrap().client_id, "id");
    }

    #[test]
    fn basic_malformed_is_invalid_client() {
        for h in [
            "Basic !!!notbase64",
            "Basic",
            "Bearer abc",
            &basic("no-colon"),
            &basic(":secret"),
            &basic("id:"),
            &basic("id:%zz"),
            "Basic //79",
        ] {
            assert_eq!(
                extract(Some(h), None, None),
                Err(OAuthError::InvalidClient),
                "{h}"
            );
        }
    }

    #[test]
    fn basic_not_utf8_is_invalid_client() {
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(b"id:\xff\xfe")
        );
        assert_eq!(
            extract(Some(&h), None, None),
            Err(OAuthError::InvalidClient)
        );
    }

    #[test]
    fn basic_and_post_secret_is_invalid_request() {
        let e = extract(Some(&basic("id:secret")), Some("id"), Some("secret")).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
    }

    #[test]
    fn basic_with_matching_body_client_id_is_accepted() {
        assert!(extract(Some(&basic("id:secret")), Some("id"), None).is_ok());
        let e = extract(Some(&basic("id:secret")), Some("other"), None).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
    }

    #[test]
    fn post_needs_both_id_and_secret() {
        assert_eq!(
            extract(None, Some("id"), Some("s")).unwrap().method,
            AuthMethod::Post
        );
        assert_eq!(
            extract(None, Some("id"), None),
            Err(OAuthError::InvalidClient)
        );
        assert_eq!(
            extract(None, None, Some("s")),
            Err(OAuthError::InvalidClient)
        );
        assert_eq!(
            extract(None, Some(""), Some("s")),
            Err(OAuthError::InvalidClient)
        );
        assert_eq!(extract(None, None, None), Err(OAuthError::InvalidClient));
    }

    #[test]
    fn oversize_credentials_are_rejected_before_lookup() {
        let long = "a".repeat(MAX_CREDENTIAL_LEN + 1);
        assert_eq!(
            extract(None, Some(&long), Some("s")),
            Err(OAuthError::InvalidClient)
        );
        assert_eq!(
            extract(Some(&basic(&format!("{long}:s"))), None, None),
            Err(OAuthError::InvalidClient)
        );
    }

    #[test]
    fn secret_debug_is_redacted() {
        let c = extract(None, Some("id"), Some("topsecret")).unwrap();
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
