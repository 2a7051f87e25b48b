//! Checking incoming access tokens on a resource server (an API):
//! the receiving side of [RFC 6750] (Bearer Token Usage).
//!
//! An API that trusts edge-token does three things per request:
//!
//! 1. [`extract_bearer`] takes the token out of the `Authorization` header
//!    ([RFC 6750 §2.1]).
//! 2. [`Verifier::verify`] checks it: structure, `alg` pinned to HS256 and
//!    `typ` `at+jwt` before any signature work, `kid` and signature (all by
//!    [`crate::token::verify`]), then lifetime, `iss`, `aud` and the scopes
//!    the operation needs.
//! 3. On failure, [`BearerError::render`] builds the response with the
//!    [RFC 6750 §3] `WWW-Authenticate` challenge: `401` without an error code
//!    when no token was sent, `400 invalid_request`, `401 invalid_token` or
//!    `403 insufficient_scope`.
//!
//! The [`Verifier`] is built once per process or isolate (parsing
//! `SIGNING_KEYS` prepares the HMAC key schedules) and is pure: it does no
//! I/O and never reads the clock; `now` is a parameter.
//!
//! ```rust
//! use edge_token_verify::bearer::{extract_bearer, BearerError, ErrorResponse, Verifier};
//! use edge_token_verify::token::KeySet;
//! # use edge_token_verify::token::AccessTokenClaims;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Once, at startup: the same SIGNING_KEYS secret and ISSUER the issuer uses,
//! // and this API's own identifier (its audience).
//! let keys = KeySet::parse(
//!     r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#,
//! )?;
//! let verifier = Verifier::new(keys, "https://issuer.example", "https://billing.example");
//!
//! // Per request.
//! // (Your framework's response type; here the error response's shape.)
//! fn handle(verifier: &Verifier, authorization: Option<&str>, now: u64) -> ErrorResponse {
//!     let claims = match extract_bearer(authorization)
//!         .and_then(|token| verifier.verify(token, &["invoices:read"], now))
//!     {
//!         Ok(claims) => claims,
//!         Err(e) => return e.render("billing"),
//!     };
//!     // If you need revocation: look up revoked_key(&claims.jti) in KV here.
//!     let body = serde_json::json!({"client": claims.client_id}).to_string();
//!     ErrorResponse { status: 200, headers: vec![], body }
//! }
//! # let claims: AccessTokenClaims = serde_json::from_value(serde_json::json!({
//! #     "iss": "https://issuer.example", "sub": "etc_abc", "aud": "https://billing.example",
//! #     "exp": 1_700_000_300, "iat": 1_700_000_000, "jti": "j1",
//! #     "client_id": "etc_abc", "scope": "invoices:read",
//! # }))?;
//! # let issuer_keys = KeySet::parse(r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#)?;
//! # let token = edge_token_verify::token::mint(&issuer_keys, &claims)?;
//! let now = 1_700_000_100;
//! let response = handle(&verifier, Some(&format!("Bearer {token}")), now);
//! assert_eq!(response.status, 200);
//!
//! // No token: 401 with a bare challenge, no error code (RFC 6750 §3.1).
//! let response = handle(&verifier, None, now);
//! assert_eq!(response.status, 401);
//! assert_eq!(response.header("WWW-Authenticate"), Some(r#"Bearer realm="billing""#));
//!
//! // Expired (exp + leeway has passed): 401 invalid_token.
//! let error = verifier.verify(&token, &[], 1_700_000_330).unwrap_err();
//! assert_eq!(error, BearerError::InvalidToken("token expired"));
//! assert_eq!(
//!     error.www_authenticate("billing"),
//!     r#"Bearer realm="billing", error="invalid_token", error_description="token expired""#
//! );
//! # Ok(())
//! # }
//! ```
//!
//! # Revocation
//!
//! Tokens are self-contained, so the verifier alone cannot know that one was
//! revoked before it expired. An API that needs revocation checks, **after**
//! [`Verifier::verify`] succeeded (so only signed `jti`s cause a lookup), that
//! the key [`revoked_key`]`(&claims.jti)` is absent from the issuer's KV
//! namespace. KV is eventually consistent: a revocation can take about 60
//! seconds (plus any `cacheTtl`) to be seen everywhere. The issuer keeps an
//! entry until the token's `exp` plus
//! [`REVOCATION_MARGIN_SECS`], which
//! is more than any leeway a [`Verifier`] takes ([`MAX_LEEWAY_SECS`]).
//! The denylist lives in its own KV namespace (binding `REVOCATIONS`), so an
//! API needs only read access to it, never to client records.
//!
//! # Token transport
//!
//! Only the `Authorization` header carries tokens here. The form-body and
//! URI-query methods ([RFC 6750 §2.2], [§2.3]) are not supported; the query
//! method leaks tokens into logs.
//!
//! [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
//! [RFC 6750 §2.1]: https://www.rfc-editor.org/rfc/rfc6750#section-2.1
//! [RFC 6750 §2.2]: https://www.rfc-editor.org/rfc/rfc6750#section-2.2
//! [§2.3]: https://www.rfc-editor.org/rfc/rfc6750#section-2.3
//! [RFC 6750 §3]: https://www.rfc-editor.org/rfc/rfc6750#section-3

pub use crate::revocation::{revoked_key, REVOCATION_MARGIN_SECS, REVOKED_KEY_PREFIX};
use crate::token::{AccessTokenClaims, KeySet};
use crate::validation::{validate, Validation};

/// Default clock-skew allowance, in seconds, for `exp`, `iat` and `nbf`.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Largest clock-skew allowance a [`Verifier`] takes, in seconds. Below the
/// issuer's denylist margin
/// ([`REVOCATION_MARGIN_SECS`]), so
/// a revoked token's denylist entry always outlives the last moment any
/// API accepts the token; and the issuer still revokes a token until its
/// `exp` plus this much.
pub const MAX_LEEWAY_SECS: u64 = 60;

const _: () = assert!(MAX_LEEWAY_SECS < REVOCATION_MARGIN_SECS);

/// Extracts the access token from an `Authorization` header value
/// ([RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1)):
/// `Bearer` (any case), one or more spaces, and one `b64token`
/// (`1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`).
///
/// * No header, an empty one, or another scheme (such as `Basic`):
///   [`BearerError::MissingToken`]. [RFC 6750 §3.1] says a request that
///   "lacks any authentication information" or uses "an unsupported
///   authentication method" gets a challenge without an error code.
/// * `Bearer` without a token, with several tokens, or with characters
///   outside the grammar: [`BearerError::InvalidRequest`].
///
/// Pass the header's single value. If a request carries the header more than
/// once, do not pick one: the Workers runtime joins repeats with `", "`, which
/// this function rejects as `invalid_request`.
///
/// [RFC 6750 §3.1]: https://www.rfc-editor.org/rfc/rfc6750#section-3.1
pub fn extract_bearer(authorization: Option<&str>) -> Result<&str, BearerError> {
    // A field value excludes surrounding whitespace (RFC 9110 §5.5).
    let value = authorization.map_or("", |v| v.trim_matches([' ', '\t']));
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(BearerError::MissingToken);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(BearerError::InvalidRequest("missing bearer token"));
    }
    if !is_b64token(token) {
        return Err(BearerError::InvalidRequest("malformed bearer token"));
    }
    Ok(token)
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// Checks access tokens for one API: the signing keys, the expected issuer
/// and audience, and the clock-skew leeway. Build it once per process or
/// isolate; it holds no per-request state.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: KeySet,
    issuer: String,
    audience: String,
    leeway_secs: u64,
}

impl Verifier {
    /// A verifier accepting tokens signed by `keys`, whose `iss` is exactly
    /// `issuer` (the issuer's `ISSUER` setting) and whose `aud` contains
    /// `audience` (this API's identifier, e.g. `https://billing.example.com`),
    /// with a leeway of [`DEFAULT_LEEWAY_SECS`].
    pub fn new(keys: KeySet, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Verifier {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }

    /// Sets the clock-skew leeway, in seconds, capped at
    /// [`MAX_LEEWAY_SECS`]. Keep it small: it extends the life of every
    /// token by that much (a revoked one stays on the denylist longer).
    #[must_use]
    pub fn with_leeway(mut self, leeway_secs: u64) -> Self {
        self.leeway_secs = leeway_secs.min(MAX_LEEWAY_SECS);
        self
    }

    /// The clock-skew leeway, in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway_secs
    }

    /// Checks `token` at time `now` (Unix seconds) and returns its claims.
    ///
    /// In order, any failure being [`BearerError::InvalidToken`]
    /// ([RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1))
    /// unless noted:
    ///
    /// 1-4. [`validate`] (the same decision the issuer's introspection and
    ///    revocation make):
    ///    [`crate::token::verify`] (at most [`crate::token::MAX_TOKEN_LEN`]
    ///    bytes, three base64url segments, `alg` exactly `HS256` and `typ`
    ///    `at+jwt` before any signature work, no `crit`, a known `kid`, a
    ///    correct signature compared in constant time, well-formed claims);
    ///    the lifetime (rejected if `now >= exp + leeway`, `iat > now +
    ///    leeway`, or, when the token has `nbf`, `nbf > now + leeway`; an
    ///    `nbf` that is not a non-negative integer is malformed); `iss` equal
    ///    to the configured issuer; `aud` (a string or an array) containing
    ///    the configured audience.
    /// 5. Every entry of `required_scopes` is one of the space-delimited
    ///    values of `scope`, else [`BearerError::InsufficientScope`]. Each
    ///    entry must be a single scope-token; an empty one never matches.
    ///
    /// Revocation is not checked here; see the [module docs](self#revocation).
    pub fn verify(
        &self,
        token: &str,
        required_scopes: &[&str],
        now: u64,
    ) -> Result<AccessTokenClaims, BearerError> {
        self.verify_with(&self.keys, token, required_scopes, now)
    }

    /// As [`verify`](Self::verify), with `keys` in place of the verifier's
    /// own (which are not used): for an API whose keys change at run time,
    /// such as the issuer's JWK Set, fetched and cached by the caller
    /// ([`KeySet::from_jwks`]). Build that verifier with an empty
    /// [`KeySet::default`]; the issuer, audience and leeway are its own.
    ///
    /// ```rust
    /// # use edge_token_verify::bearer::{BearerError, Verifier};
    /// # use edge_token_verify::token::KeySet;
    /// let verifier = Verifier::new(KeySet::default(), "https://issuer.example", "https://api.example");
    /// let jwks = KeySet::from_jwks(r#"{"keys":[]}"#).unwrap();
    /// let refused = verifier.verify_with(&jwks, "not-a-token", &[], 1_700_000_000);
    /// assert_eq!(refused, Err(BearerError::InvalidToken("malformed token")));
    /// ```
    pub fn verify_with(
        &self,
        keys: &KeySet,
        token: &str,
        required_scopes: &[&str],
        now: u64,
    ) -> Result<AccessTokenClaims, BearerError> {
        let validation = Validation {
            issuer: &self.issuer,
            audience: Some(&self.audience),
            leeway_secs: self.leeway_secs,
            now,
        };
        let claims = validate(keys, token, &validation)
            .map_err(|e| BearerError::InvalidToken(e.description()))?;
        let granted = || crate::grammar::split_list(&claims.scope);
        if !required_scopes.iter().all(|r| granted().any(|g| g == *r)) {
            return Err(BearerError::InsufficientScope {
                required: required_scopes.join(" "),
            });
        }
        Ok(claims)
    }
}

/// Why a request to a protected resource is refused: the error codes of
/// [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1), plus
/// the no-token case, which has no code. Descriptions are static text and
/// never repeat any part of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// No bearer token: no `Authorization` header, or another scheme.
    /// `401` with a bare challenge and no error code (RFC 6750 §3.1).
    MissingToken,
    /// `invalid_request` (`400`): the `Authorization: Bearer` header is
    /// malformed.
    InvalidRequest(&'static str),
    /// `invalid_token` (`401`): malformed, wrongly signed, expired, not yet
    /// valid, or for another issuer or audience.
    InvalidToken(&'static str),
    /// `insufficient_scope` (`403`): the token is valid but lacks a scope the
    /// operation needs.
    InsufficientScope {
        /// The scopes the operation requires, space-delimited (sent as the
        /// challenge's `scope` attribute, RFC 6750 §3).
        required: String,
    },
}

impl BearerError {
    /// The RFC 6750 §3.1 error code; `None` for [`BearerError::MissingToken`].
    pub fn code(&self) -> Option<&'static str> {
        match self {
            BearerError::MissingToken => None,
            BearerError::InvalidRequest(_) => Some("invalid_request"),
            BearerError::InvalidToken(_) => Some("invalid_token"),
            BearerError::InsufficientScope { .. } => Some("insufficient_scope"),
        }
    }

    /// The `error_description` (static text); `None` for
    /// [`BearerError::MissingToken`].
    pub fn description(&self) -> Option<&'static str> {
        match self {
            BearerError::MissingToken => None,
            BearerError::InvalidRequest(d) | BearerError::InvalidToken(d) => Some(d),
            BearerError::InsufficientScope { .. } => Some("token lacks a required scope"),
        }
    }

    /// The HTTP status RFC 6750 §3.1 gives each case: `401` for no token and
    /// `invalid_token`, `400` for `invalid_request`, `403` for
    /// `insufficient_scope`.
    pub fn status(&self) -> u16 {
        match self {
            BearerError::MissingToken | BearerError::InvalidToken(_) => 401,
            BearerError::InvalidRequest(_) => 400,
            BearerError::InsufficientScope { .. } => 403,
        }
    }

    /// The `WWW-Authenticate` value
    /// ([RFC 6750 §3](https://www.rfc-editor.org/rfc/rfc6750#section-3)), e.g.
    /// `Bearer realm="api", error="invalid_token", error_description="token expired"`,
    /// with `scope="..."` added for `insufficient_scope`.
    ///
    /// Characters RFC 6750 does not allow in these values (`"`, `\`, control
    /// and non-ASCII characters) are left out, so the header cannot be broken
    /// or split by a caller-supplied realm or scope.
    pub fn www_authenticate(&self, realm: &str) -> String {
        let mut out = String::with_capacity(96);
        out.push_str("Bearer ");
        push_param(&mut out, "realm", realm);
        if let Some(code) = self.code() {
            out.push_str(", ");
            push_param(&mut out, "error", code);
        }
        if let Some(description) = self.description() {
            out.push_str(", ");
            push_param(&mut out, "error_description", description);
        }
        if let BearerError::InsufficientScope { required } = self {
            out.push_str(", ");
            push_param(&mut out, "scope", required);
        }
        out
    }

    /// The whole error response: [`status`](Self::status), the
    /// [`www_authenticate`](Self::www_authenticate) challenge, a JSON body
    /// (`{"error": ..., "error_description": ...}`, plus `scope` for
    /// `insufficient_scope`; `{}` when no token was sent) and the JSON and
    /// no-store headers.
    pub fn render(&self, realm: &str) -> ErrorResponse {
        let mut body = serde_json::Map::new();
        if let Some(code) = self.code() {
            body.insert("error".into(), code.into());
        }
        if let Some(description) = self.description() {
            body.insert("error_description".into(), description.into());
        }
        if let BearerError::InsufficientScope { required } = self {
            body.insert("scope".into(), required.as_str().into());
        }
        ErrorResponse {
            status: self.status(),
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
                ("Pragma", "no-cache".to_owned()),
                ("WWW-Authenticate", self.www_authenticate(realm)),
            ],
            body: serde_json::Value::Object(body).to_string(),
        }
    }
}

/// An error response ready to send, whatever the HTTP framework: built by
/// [`BearerError::render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The HTTP status.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: String,
}

impl ErrorResponse {
    /// The value of header `name` (ASCII case-insensitive), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Appends `name="value"`, keeping only the characters RFC 6750 §3 allows in
/// attribute values (`%x20-21 / %x23-5B / %x5D-7E`).
fn push_param(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    out.extend(
        value
            .chars()
            .filter(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
    );
    out.push('"');
}

impl std::fmt::Display for BearerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code(), self.description()) {
            (Some(code), Some(description)) => write!(f, "{code}: {description}"),
            _ => f.write_str("no bearer token"),
        }
    }
}

impl std::error::Error for BearerError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{mint, Audience, MAX_TOKEN_LEN};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};

    const KEYS: &str = r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#;
    const RAW_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const ISS: &str = "https://issuer.example";
    const AUD: &str = "https://api.example";
    const IAT: u64 = 1_700_000_000;
    const EXP: u64 = IAT + 300;
    const NOW: u64 = IAT + 10;

    fn verifier() -> Verifier {
        Verifier::new(KeySet::parse(KEYS).unwrap(), ISS, AUD)
    }

    fn claims() -> AccessTokenClaims {
        serde_json::from_value(serde_json::json!({
            "iss": ISS,
            "sub": "etc_abc",
            "aud": AUD,
            "exp": EXP,
            "iat": IAT,
            "jti": "j1",
            "client_id": "etc_abc",
            "scope": "invoices:read invoices:write",
        }))
        .unwrap()
    }

    fn token_with(edit: impl FnOnce(&mut AccessTokenClaims)) -> String {
        let mut c = claims();
        edit(&mut c);
        mint(&KeySet::parse(KEYS).unwrap(), &c).unwrap()
    }

    /// A token with any header and payload, correctly HS256-signed with the real key.
    fn signed(header: &str, payload: &str) -> String {
        sign_segments(
            &URL_SAFE_NO_PAD.encode(header),
            &URL_SAFE_NO_PAD.encode(payload),
        )
    }

    /// `header_b64.payload_b64.signature`, the segments taken as given.
    fn sign_segments(header_b64: &str, payload_b64: &str) -> String {
        let signing_input = format!("{header_b64}.{payload_b64}");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(RAW_KEY).unwrap();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    fn payload() -> String {
        serde_json::to_string(&claims()).unwrap()
    }

    fn invalid(description: &'static str) -> Result<AccessTokenClaims, BearerError> {
        Err(BearerError::InvalidToken(description))
    }

    /// RFC 7515 Appendix A.3's P-256 key: its public JWK Set, and an ES256
    /// token over `claims` signed with its private half.
    #[cfg(feature = "rust-crypto")]
    fn es256_jwks_and_token(claims: &AccessTokenClaims) -> (KeySet, String) {
        use p256::ecdsa::signature::Signer;
        let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"es1","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let d = URL_SAFE_NO_PAD
            .decode("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI")
            .unwrap();
        let key = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
        let input = format!(
            "{}.{}",
            crate::token::header_b64(crate::keys::Algorithm::ES256, "es1"),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        );
        let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        (KeySet::from_jwks(jwks).unwrap(), token)
    }

    #[test]
    #[cfg(feature = "rust-crypto")]
    fn verify_with_uses_the_given_keys_and_the_verifiers_rules() {
        let (jwks, token) = es256_jwks_and_token(&claims());
        let jwks_verifier = Verifier::new(KeySet::default(), ISS, AUD);
        assert_eq!(
            jwks_verifier.verify_with(&jwks, &token, &["invoices:read"], NOW),
            Ok(claims())
        );
        // The verifier's own (empty) keys know no kid.
        assert_eq!(
            jwks_verifier.verify(&token, &[], NOW),
            invalid("unknown signing key")
        );
        // Only the given keys count: the HS256 verifier's key is not used.
        let hs256 = token_with(|_| {});
        assert_eq!(
            verifier().verify_with(&jwks, &hs256, &[], NOW),
            invalid("unknown signing key")
        );
        assert_eq!(
            verifier().verify_with(&KeySet::default(), &token, &[], NOW),
            invalid("unknown signing key")
        );
        // Issuer, audience, leeway and scopes are the verifier's.
        let other_aud = Verifier::new(KeySet::default(), ISS, "https://other.example");
        assert_eq!(
            other_aud.verify_with(&jwks, &token, &[], NOW),
            invalid("token is not for this audience")
        );
        let other_iss = Verifier::new(KeySet::default(), "https://other.example", AUD);
        assert_eq!(
            other_iss.verify_with(&jwks, &token, &[], NOW),
            invalid("token is from another issuer")
        );
        assert_eq!(
            jwks_verifier.verify_with(&jwks, &token, &[], EXP + DEFAULT_LEEWAY_SECS),
            invalid("token expired")
        );
        assert!(matches!(
            jwks_verifier.verify_with(&jwks, &token, &["admin"], NOW),
            Err(BearerError::InsufficientScope { .. })
        ));
        // A changed signature byte is refused.
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            jwks_verifier.verify_with(&jwks, &tampered, &[], NOW),
            invalid("invalid signature")
        );
    }

    // --- verify: accepted ---

    #[test]
    fn verify_valid_token_returns_claims() {
        let token = token_with(|_| {});
        assert_eq!(verifier().verify(&token, &[], NOW), Ok(claims()));
        assert_eq!(
            verifier().verify(&token, &["invoices:read", "invoices:write"], NOW),
            Ok(claims())
        );
    }

    #[test]
    fn verify_hand_signed_token_matches_mint() {
        let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;
        assert_eq!(
            verifier().verify(&signed(header, &payload()), &["invoices:read"], NOW),
            Ok(claims())
        );
    }

    #[test]
    fn verify_audience_array_containing_expected_passes() {
        let token = token_with(|c| {
            c.aud = Audience::Many(vec!["https://other.example".into(), AUD.into()])
        });
        assert!(verifier().verify(&token, &[], NOW).is_ok());
    }

    // --- verify: lifetime ---

    #[test]
    fn verify_exp_plus_leeway_boundary_rejects_expired() {
        let token = token_with(|_| {});
        let v = verifier();
        assert!(v.verify(&token, &[], EXP + DEFAULT_LEEWAY_SECS - 1).is_ok());
        assert_eq!(
            v.verify(&token, &[], EXP + DEFAULT_LEEWAY_SECS),
            invalid("token expired")
        );
    }

    #[test]
    fn leeway_is_capped_below_the_denylist_margin() {
        let v = verifier().with_leeway(3600);
        assert_eq!(v.leeway_secs(), MAX_LEEWAY_SECS);
        assert!(v.leeway_secs() < REVOCATION_MARGIN_SECS);
    }

    #[test]
    fn verify_zero_leeway_at_exp_rejects_expired() {
        let token = token_with(|_| {});
        let v = verifier().with_leeway(0);
        assert_eq!(v.leeway_secs(), 0);
        assert!(v.verify(&token, &[], EXP - 1).is_ok());
        assert_eq!(v.verify(&token, &[], EXP), invalid("token expired"));
    }

    #[test]
    fn verify_exp_near_u64_max_does_not_overflow() {
        let token = token_with(|c| c.exp = u64::MAX);
        assert!(verifier().verify(&token, &[], u64::MAX - 1).is_ok());
        assert!(verifier().verify(&token, &[], NOW).is_ok());
    }

    #[test]
    fn verify_iat_in_future_beyond_leeway_rejects() {
        let v = verifier();
        let at_edge = token_with(|c| c.iat = NOW + DEFAULT_LEEWAY_SECS);
        assert!(v.verify(&at_edge, &[], NOW).is_ok());
        let beyond = token_with(|c| c.iat = NOW + DEFAULT_LEEWAY_SECS + 1);
        assert_eq!(
            v.verify(&beyond, &[], NOW),
            invalid("token issued in the future")
        );
    }

    #[test]
    fn verify_nbf_beyond_leeway_rejects() {
        let v = verifier();
        let at_edge = token_with(|c| {
            c.extra
                .insert("nbf".into(), (NOW + DEFAULT_LEEWAY_SECS).into());
        });
        assert!(v.verify(&at_edge, &[], NOW).is_ok());
        let beyond = token_with(|c| {
            c.extra
                .insert("nbf".into(), (NOW + DEFAULT_LEEWAY_SECS + 1).into());
        });
        assert_eq!(v.verify(&beyond, &[], NOW), invalid("token not yet valid"));
    }

    #[test]
    fn verify_non_integer_nbf_rejects_malformed() {
        for nbf in [
            serde_json::json!("0"),
            serde_json::json!(-1),
            serde_json::json!(1.5),
        ] {
            let token = token_with(|c| {
                c.extra.insert("nbf".into(), nbf.clone());
            });
            assert_eq!(
                verifier().verify(&token, &[], NOW),
                invalid("malformed token"),
                "{nbf}"
            );
        }
    }

    // --- verify: issuer and audience ---

    #[test]
    fn verify_wrong_issuer_rejects() {
        for iss in [
            "https://evil.example",
            "https://issuer.example/",
            "",
            "HTTPS://issuer.example",
        ] {
            let token = token_with(|c| c.iss = iss.into());
            assert_eq!(
                verifier().verify(&token, &[], NOW),
                invalid("token is from another issuer"),
                "{iss}"
            );
        }
    }

    #[test]
    fn verify_wrong_audience_string_rejects() {
        for aud in ["https://other.example", "https://api.example/", ""] {
            let token = token_with(|c| c.aud = Audience::One(aud.into()));
            assert_eq!(
                verifier().verify(&token, &[], NOW),
                invalid("token is not for this audience"),
                "{aud}"
            );
        }
    }

    #[test]
    fn verify_wrong_audience_array_rejects() {
        for list in [
            vec![],
            vec![
                "https://a.example".to_owned(),
                "https://b.example".to_owned(),
            ],
        ] {
            let token = token_with(|c| c.aud = Audience::Many(list.clone()));
            assert_eq!(
                verifier().verify(&token, &[], NOW),
                invalid("token is not for this audience"),
                "{list:?}"
            );
        }
    }

    // --- verify: scope ---

    #[test]
    fn verify_missing_scope_returns_insufficient_scope_403() {
        let token = token_with(|c| c.scope = "invoices:read".into());
        let err = verifier()
            .verify(&token, &["invoices:read", "invoices:write"], NOW)
            .unwrap_err();
        assert_eq!(
            err,
            BearerError::InsufficientScope {
                required: "invoices:read invoices:write".into()
            }
        );
        assert_eq!(err.status(), 403);
        assert_eq!(
            err.www_authenticate("api"),
            r#"Bearer realm="api", error="insufficient_scope", error_description="token lacks a required scope", scope="invoices:read invoices:write""#
        );
    }

    #[test]
    fn verify_scope_prefix_or_substring_rejects() {
        let token = token_with(|c| c.scope = "invoices:readall admin".into());
        for required in ["invoices:read", "invoices", "adm", "admin invoices:readall"] {
            assert!(
                matches!(
                    verifier().verify(&token, &[required], NOW),
                    Err(BearerError::InsufficientScope { .. })
                ),
                "{required}"
            );
        }
    }

    #[test]
    fn verify_no_scope_claim_with_required_scope_rejects() {
        let token = token_with(|c| c.scope = String::new());
        assert!(verifier().verify(&token, &[], NOW).is_ok());
        assert!(matches!(
            verifier().verify(&token, &["read"], NOW),
            Err(BearerError::InsufficientScope { .. })
        ));
    }

    #[test]
    fn verify_empty_required_scope_never_matches() {
        let token = token_with(|c| c.scope = "a  b ".into());
        assert!(verifier().verify(&token, &["a", "b"], NOW).is_ok());
        assert!(matches!(
            verifier().verify(&token, &[""], NOW),
            Err(BearerError::InsufficientScope { .. })
        ));
    }

    // --- verify: structure, algorithm, key, signature ---

    #[test]
    fn verify_unknown_kid_rejects_invalid_token() {
        let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"k2"}"#;
        assert_eq!(
            verifier().verify(&signed(header, &payload()), &[], NOW),
            invalid("unknown signing key")
        );
        let no_kid = r#"{"alg":"HS256","typ":"at+jwt"}"#;
        assert_eq!(
            verifier().verify(&signed(no_kid, &payload()), &[], NOW),
            invalid("unknown signing key")
        );
    }

    #[test]
    fn verify_same_kid_other_key_rejects_invalid_signature() {
        let other =
            KeySet::parse(r#"[{"kid":"k1","key":"ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA"}]"#)
                .unwrap();
        let token = mint(&other, &claims()).unwrap();
        assert_eq!(
            verifier().verify(&token, &[], NOW),
            invalid("invalid signature")
        );
    }

    #[test]
    fn verify_other_alg_rejects_even_when_hs256_signed() {
        for alg in ["none", "HS512", "RS256", "hs256", ""] {
            let header = format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"k1"}}"#);
            assert_eq!(
                verifier().verify(&signed(&header, &payload()), &[], NOW),
                invalid("token type or algorithm not accepted"),
                "{alg}"
            );
        }
        // The classic alg=none shape: empty signature segment.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(payload())
        );
        assert_eq!(
            verifier().verify(&none, &[], NOW),
            invalid("token type or algorithm not accepted")
        );
    }

    #[test]
    fn verify_typ_jwt_or_missing_rejects() {
        for header in [
            r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#,
            r#"{"alg":"HS256","kid":"k1"}"#,
        ] {
            assert_eq!(
                verifier().verify(&signed(header, &payload()), &[], NOW),
                invalid("token type or algorithm not accepted"),
                "{header}"
            );
        }
    }

    #[test]
    fn verify_bad_base64_rejects_malformed() {
        let token = token_with(|_| {});
        let parts: Vec<&str> = token.split('.').collect();
        for t in [
            "!!.!!.!!".to_owned(),
            // Correctly signed, but the payload is not base64url.
            sign_segments(parts[0], "%%%"),
            sign_segments(parts[0], &format!("{}=", parts[1])),
            format!("{token}="),
            format!("{}.{}.{}+", parts[0], parts[1], parts[2]),
        ] {
            assert_eq!(
                verifier().verify(&t, &[], NOW),
                invalid("malformed token"),
                "{t}"
            );
        }
    }

    #[test]
    fn verify_two_or_four_segments_rejects_malformed() {
        let token = token_with(|_| {});
        let (signing_input, _) = token.rsplit_once('.').unwrap();
        for t in [
            signing_input.to_owned(),
            format!("{token}.x"),
            format!("{token}."),
            String::new(),
        ] {
            assert_eq!(
                verifier().verify(&t, &[], NOW),
                invalid("malformed token"),
                "{t}"
            );
        }
    }

    #[test]
    fn verify_oversize_token_rejects_malformed() {
        let token = token_with(|c| c.sub = "x".repeat(MAX_TOKEN_LEN));
        assert!(token.len() > MAX_TOKEN_LEN);
        assert_eq!(
            verifier().verify(&token, &[], NOW),
            invalid("malformed token")
        );
    }

    #[test]
    fn verify_signed_but_bad_claims_rejects_malformed() {
        let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;
        for p in [
            "not json",
            r#"{"iss":"https://issuer.example"}"#,
            &payload().replace(&format!("\"exp\":{EXP}"), "\"exp\":-1"),
        ] {
            assert_eq!(
                verifier().verify(&signed(header, p), &[], NOW),
                invalid("malformed token"),
                "{p}"
            );
        }
    }

    #[test]
    fn verify_tampered_payload_rejects_invalid_signature() {
        let token = token_with(|_| {});
        let mut parts = token.split('.');
        let (h, _, s) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
        let forged = payload().replace("invoices:read invoices:write", "admin");
        let t = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(forged));
        assert_eq!(
            verifier().verify(&t, &[], NOW),
            invalid("invalid signature")
        );
    }

    #[test]
    fn verify_tampered_signature_rejects_invalid_signature() {
        let token = token_with(|_| {});
        let (signing_input, sig) = token.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        raw[0] ^= 1;
        let flipped = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&raw));
        let truncated = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&raw[..16]));
        for t in [flipped, truncated] {
            assert_eq!(
                verifier().verify(&t, &[], NOW),
                invalid("invalid signature")
            );
        }
    }

    // --- extract_bearer ---

    #[test]
    fn extract_bearer_missing_or_other_scheme_returns_missing_token() {
        for h in [
            None,
            Some(""),
            Some("  "),
            Some("Basic x"),
            Some("Bearerabc"),
            Some("Token abc"),
        ] {
            assert_eq!(extract_bearer(h), Err(BearerError::MissingToken), "{h:?}");
        }
    }

    #[test]
    fn extract_bearer_no_token_returns_invalid_request() {
        for h in ["Bearer", "Bearer ", "bearer   "] {
            assert_eq!(
                extract_bearer(Some(h)),
                Err(BearerError::InvalidRequest("missing bearer token")),
                "{h:?}"
            );
        }
    }

    #[test]
    fn extract_bearer_malformed_returns_invalid_request() {
        for h in [
            "Bearer a b",
            "Bearer a, Bearer b",
            "Bearer a\tb",
            "Bearer a,b",
            "Bearer a\"b",
            "Bearer a%20b",
            "Bearer ab=c",
            "Bearer ===",
            "Bearer a\u{e9}",
            "Bearer a\r\nX: y",
        ] {
            assert_eq!(
                extract_bearer(Some(h)),
                Err(BearerError::InvalidRequest("malformed bearer token")),
                "{h:?}"
            );
        }
    }

    #[test]
    fn extract_bearer_valid_forms_return_token() {
        for (h, t) in [
            ("Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),
            ("bearer abc", "abc"),
            ("BEARER abc", "abc"),
            ("Bearer   abc", "abc"),
            (" Bearer abc \t", "abc"),
            ("Bearer a~+/b==", "a~+/b=="),
        ] {
            assert_eq!(extract_bearer(Some(h)), Ok(t), "{h:?}");
        }
        let token = token_with(|_| {});
        let header = format!("Bearer {token}");
        assert_eq!(extract_bearer(Some(&header)), Ok(token.as_str()));
    }

    // --- BearerError ---

    #[test]
    fn bearer_error_codes_and_statuses_match_rfc_6750() {
        let cases = [
            (BearerError::MissingToken, None, 401),
            (
                BearerError::InvalidRequest("x"),
                Some("invalid_request"),
                400,
            ),
            (BearerError::InvalidToken("x"), Some("invalid_token"), 401),
            (
                BearerError::InsufficientScope {
                    required: "a".into(),
                },
                Some("insufficient_scope"),
                403,
            ),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.code(), code);
            assert_eq!(e.status(), status);
        }
        assert_eq!(BearerError::MissingToken.to_string(), "no bearer token");
        assert_eq!(
            BearerError::InvalidToken("token expired").to_string(),
            "invalid_token: token expired"
        );
    }

    #[test]
    fn www_authenticate_missing_token_has_no_error_code() {
        // RFC 6750 §3: `WWW-Authenticate: Bearer realm="example"`
        assert_eq!(
            BearerError::MissingToken.www_authenticate("example"),
            r#"Bearer realm="example""#
        );
    }

    #[test]
    fn www_authenticate_invalid_token_matches_rfc_example_shape() {
        // RFC 6750 §3: Bearer realm="example", error="invalid_token",
        // error_description="The access token expired"
        assert_eq!(
            BearerError::InvalidToken("The access token expired").www_authenticate("example"),
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#
        );
        assert_eq!(
            BearerError::InvalidRequest("malformed bearer token").www_authenticate("example"),
            r#"Bearer realm="example", error="invalid_request", error_description="malformed bearer token""#
        );
    }

    #[test]
    fn www_authenticate_forbidden_characters_are_dropped() {
        let e = BearerError::InsufficientScope {
            required: "a\"b c\\d".into(),
        };
        assert_eq!(
            e.www_authenticate("ap\"i\r\nSet-Cookie: x\u{e9}"),
            r#"Bearer realm="apiSet-Cookie: x", error="insufficient_scope", error_description="token lacks a required scope", scope="ab cd""#
        );
    }

    #[test]
    fn render_missing_token_is_401_empty_object_no_store() {
        let r = BearerError::MissingToken.render("api");
        assert_eq!(r.status, 401);
        assert_eq!(r.body, "{}");
        assert_eq!(r.header("www-authenticate"), Some(r#"Bearer realm="api""#));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    #[test]
    fn render_invalid_token_has_json_error_and_challenge() {
        let r = BearerError::InvalidToken("token expired").render("api");
        assert_eq!(r.status, 401);
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_token", "error_description": "token expired"})
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer realm="api", error="invalid_token", error_description="token expired""#)
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }

    #[test]
    fn render_insufficient_scope_is_403_with_scope() {
        let r = BearerError::InsufficientScope {
            required: "a b".into(),
        }
        .render("api");
        assert_eq!(r.status, 403);
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
        assert_eq!(body["scope"], "a b");
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .ends_with(r#", scope="a b""#));
    }

    #[test]
    fn verify_errors_never_echo_token_contents() {
        let token = token_with(|c| c.iss = "https://evil.example".into());
        let err = verifier().verify(&token, &[], NOW).unwrap_err();
        let rendered = err.render("api");
        for part in token.split('.') {
            assert!(!rendered.body.contains(part));
            assert!(!err.www_authenticate("api").contains(part));
        }
        assert!(!rendered.body.contains("evil"));
    }

    // --- revocation key, Debug ---

    #[test]
    fn revoked_key_matches_issuer_denylist_key() {
        assert_eq!(revoked_key("j1"), "revoked:j1");
        assert!(revoked_key("x").starts_with(REVOKED_KEY_PREFIX));
    }

    #[test]
    fn verifier_debug_is_redacted() {
        let debug = format!("{:?}", verifier());
        assert!(!debug.contains("MDEy") && !debug.contains("0123456789abcdef"));
        assert!(debug.contains(ISS));
    }
}
