//! HS256 JWT access tokens with the [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)
//! claims, and the signing key set they are made and checked with.
//!
//! Only HS256 exists here: the algorithm is fixed when a token is made and is
//! checked against that allow-list of one before any signature work when a
//! token is read.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Shortest accepted signing key, in decoded bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_KEY_BYTES: usize = 32;
pub use crate::grammar::MAX_KID_LEN;
/// Longest token [`verify`] looks at.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

const BASE64URL_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One HMAC key, with its key schedule and encoded JWT header prepared once.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    mac: HmacSha256,
    header_b64: String,
}

impl SigningKey {
    /// Builds a key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn new(kid: &str, key: &[u8]) -> Result<Self, KeyError> {
        if !crate::grammar::is_kid(kid) {
            return Err(KeyError(format!(
                "kid {:?} must be 1-{MAX_KID_LEN} characters of A-Z a-z 0-9 - _ .",
                kid.chars().take(MAX_KID_LEN).collect::<String>()
            )));
        }
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError(format!(
                "key for kid {kid:?} is {} bytes; at least {MIN_KEY_BYTES} are required",
                key.len()
            )));
        }
        let mac = HmacSha256::new_from_slice(key)
            .map_err(|_| KeyError(format!("key for kid {kid:?} is unusable")))?;
        let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        Ok(SigningKey {
            kid: kid.to_owned(),
            mac,
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A configuration problem with `SIGNING_KEYS`. The message names the
/// problem and the `kid`, never any key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The signing keys: the first signs, all verify.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

/// One `SIGNING_KEYS` entry as written: `{"kid": "...", "key": "<base64url>"}`.
/// `key` is secret: `Debug` redacts it. (The admin CLI reads and writes key
/// files with this type; [`KeySet::parse`] validates them.)
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Key id (`kid` header of the tokens it signs).
    pub kid: String,
    /// The key, base64url.
    pub key: String,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl KeySet {
    /// Parses the `SIGNING_KEYS` secret: `[{"kid": "...", "key": "<base64url>"}, ...]`.
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        // serde's messages can quote the input; report only the position.
        let entries: Vec<KeyEntry> = serde_json::from_str(json).map_err(|e| {
            KeyError(format!(
                "SIGNING_KEYS is not a JSON array of {{\"kid\", \"key\"}} objects (error at line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if entries.is_empty() {
            return Err(KeyError(
                "SIGNING_KEYS is an empty array; at least one key is required".into(),
            ));
        }
        let mut keys: Vec<SigningKey> = Vec::with_capacity(entries.len());
        for entry in &entries {
            let raw = BASE64URL_ANY_PAD.decode(entry.key.trim()).map_err(|_| {
                KeyError(format!(
                    "key for kid {:?} is not valid base64url",
                    entry.kid
                ))
            })?;
            let key = SigningKey::new(&entry.kid, &raw)?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(KeyError(format!(
                    "kid {:?} appears more than once",
                    entry.kid
                )));
            }
            keys.push(key);
        }
        Ok(KeySet { keys })
    }

    /// Builds a key set from already-made keys (first signs).
    pub fn from_keys(keys: Vec<SigningKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(KeySet { keys })
    }

    /// The key that signs new tokens.
    pub fn signer(&self) -> &SigningKey {
        // `keys` is never empty (checked at construction).
        #[allow(clippy::indexing_slicing)]
        &self.keys[0]
    }

    /// The verifying key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// All key ids, signer first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }
}

/// The `aud` claim: one string or an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// A single string for one audience, else an array.
    pub fn from_list(mut list: Vec<String>) -> Self {
        if list.len() == 1 {
            if let Some(one) = list.pop() {
                return Audience::One(one);
            }
        }
        Audience::Many(list)
    }

    /// Whether `aud` names `value`.
    pub fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(a) => a == value,
            Audience::Many(list) => list.iter().any(|a| a == value),
        }
    }
}

/// The claims of an access token (RFC 9068 §2.2).
///
/// (De)serialised by hand: registered claims first, then `extra`. serde's
/// `flatten` would route every token through a slow, bulky generic path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// Issuer identifier.
    pub iss: String,
    /// Subject: the client id, as no user is involved.
    pub sub: String,
    /// Audience(s).
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Unique token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-delimited granted scopes (absent when none).
    pub scope: String,
    /// Other claims: a client's static extra claims when minting; any
    /// unregistered claims found when reading.
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl<'de> Deserialize<'de> for AccessTokenClaims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        use serde_json::Value;
        let mut map = BTreeMap::<String, Value>::deserialize(d)?;
        let mut string = |name: &'static str| match map.remove(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(D::Error::custom(format_args!("{name} must be a string"))),
            None => Err(D::Error::missing_field(name)),
        };
        let iss = string("iss")?;
        let sub = string("sub")?;
        let jti = string("jti")?;
        let client_id = string("client_id")?;
        let scope = match map.remove("scope") {
            Some(Value::String(s)) => s,
            None => String::new(),
            Some(_) => return Err(D::Error::custom("scope must be a string")),
        };
        let aud = match map.remove("aud") {
            Some(Value::String(s)) => Audience::One(s),
            Some(Value::Array(items)) => Audience::Many(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(D::Error::custom("aud entries must be strings")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err(D::Error::custom("aud must be a string or an array")),
            None => return Err(D::Error::missing_field("aud")),
        };
        let mut number = |name: &'static str| match map.remove(name) {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| D::Error::custom(format_args!("{name} must be a whole number"))),
            None => Err(D::Error::missing_field(name)),
        };
        let exp = number("exp")?;
        let iat = number("iat")?;
        Ok(AccessTokenClaims {
            iss,
            sub,
            aud,
            exp,
            iat,
            jti,
            client_id,
            scope,
            extra: map,
        })
    }
}

/// The claims [`AccessTokenClaims`] serialises from its own fields.
const WRITTEN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "jti",
    "client_id",
    "scope",
];

impl Serialize for AccessTokenClaims {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("iss", &self.iss)?;
        map.serialize_entry("sub", &self.sub)?;
        map.serialize_entry("aud", &self.aud)?;
        map.serialize_entry("exp", &self.exp)?;
        map.serialize_entry("iat", &self.iat)?;
        map.serialize_entry("jti", &self.jti)?;
        map.serialize_entry("client_id", &self.client_id)?;
        if !self.scope.is_empty() {
            map.serialize_entry("scope", &self.scope)?;
        }
        // An extra claim never repeats a claim written above: a duplicate
        // key would let it override (or confuse) the registered value.
        for (name, value) in &self.extra {
            if !WRITTEN_CLAIMS.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// Signs `claims` with the key set's signer.
pub fn mint(keys: &KeySet, claims: &AccessTokenClaims) -> String {
    let signer = keys.signer();
    // Claims are strings and integers only: serialisation cannot fail.
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = String::with_capacity(signer.header_b64.len() + payload.len() * 4 / 3 + 48);
    token.push_str(&signer.header_b64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let mut mac = signer.mac.clone();
    mac.update(token.as_bytes());
    let signature = mac.finalize().into_bytes();
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}

/// Why a token failed [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Not three base64url segments of valid JSON, or too long.
    Malformed,
    /// `alg` is not HS256 or `typ` not `at+jwt` (checked before any signature work).
    Algorithm,
    /// The header has `crit` (RFC 7515 §4.1.11): it names extensions that
    /// must be understood, and this verifier understands none.
    Critical,
    /// No key with the token's `kid`.
    UnknownKey,
    /// The signature does not match.
    Signature,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyError::Malformed => "malformed token",
            VerifyError::Algorithm => "token algorithm or type not accepted",
            VerifyError::Critical => "critical header parameters not understood",
            VerifyError::UnknownKey => "unknown signing key",
            VerifyError::Signature => "bad signature",
        })
    }
}

impl std::error::Error for VerifyError {}
impl std::error::Error for KeyError {}

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    /// Present at all (even `null` or empty, which RFC 7515 forbids): refused.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// `true` for any value: whether the field was there.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// Checks a token's structure, algorithm and signature against `keys` and
/// returns its claims. Time, issuer and audience are
/// [`validate`](crate::validation::validate)'s (which calls this), scopes
/// the [`Verifier`](crate::bearer::Verifier)'s.
pub fn verify(keys: &KeySet, token: &str) -> Result<AccessTokenClaims, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let header_json = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| VerifyError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&header_json).map_err(|_| VerifyError::Malformed)?;
    // RFC 9068 §4: the type must be at+jwt (or its full media type).
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if header.alg != "HS256" || !typ_ok {
        return Err(VerifyError::Algorithm);
    }
    if header.crit {
        return Err(VerifyError::Critical);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.find(kid))
        .ok_or(VerifyError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| VerifyError::Malformed)?;
    let signed_len = header_b64.len() + 1 + payload_b64.len();
    let signed = token.get(..signed_len).ok_or(VerifyError::Malformed)?;
    let mut mac = key.mac.clone();
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| VerifyError::Signature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| VerifyError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyset(json: &str) -> KeySet {
        KeySet::parse(json).unwrap()
    }

    const K1: &str = r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#;

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://issuer.example".into(),
            sub: "etc_abc".into(),
            aud: Audience::One("https://api.example".into()),
            exp: 1300,
            iat: 1000,
            jti: "j1".into(),
            client_id: "etc_abc".into(),
            scope: "read write".into(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn mint_then_verify_round_trips() {
        let keys = keyset(K1);
        let token = mint(&keys, &claims());
        assert_eq!(verify(&keys, &token).unwrap(), claims());
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg":"HS256","typ":"at+jwt","kid":"k1"})
        );
    }

    #[test]
    fn mint_signature_matches_independent_hmac() {
        let keys = keyset(K1);
        let token = mint(&keys, &claims());
        let (signed, sig) = token.rsplit_once('.').unwrap();
        let mut mac = HmacSha256::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
        mac.update(signed.as_bytes());
        assert_eq!(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()), sig);
    }

    #[test]
    fn verify_any_changed_byte_fails() {
        let keys = keyset(K1);
        let token = mint(&keys, &claims());
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(changed) = String::from_utf8(bytes) else {
                continue;
            };
            if changed == token {
                continue;
            }
            assert!(
                verify(&keys, &changed).is_err(),
                "byte {i} changed and still verified"
            );
        }
    }

    #[test]
    fn verify_rejects_other_algorithms_before_signature() {
        let keys = keyset(K1);
        let token = mint(&keys, &claims());
        let rest = token.split_once('.').unwrap().1;
        for alg in ["none", "HS512", "RS256"] {
            let h =
                URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"k1"}}"#));
            assert_eq!(
                verify(&keys, &format!("{h}.{rest}")),
                Err(VerifyError::Algorithm)
            );
        }
        // A plain JWT or an ID token (other or no typ) is not an access token.
        for typ in [r#","typ":"JWT""#, ""] {
            let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256"{typ},"kid":"k1"}}"#));
            assert_eq!(
                verify(&keys, &format!("{h}.{rest}")),
                Err(VerifyError::Algorithm)
            );
        }
    }

    #[test]
    fn verify_rejects_malformed_and_unknown_kid() {
        let keys = keyset(K1);
        for t in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(verify(&keys, t), Err(VerifyError::Malformed), "{t:?}");
        }
        let other = keyset(r#"[{"kid":"k2","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#);
        assert_eq!(
            verify(&keys, &mint(&other, &claims())),
            Err(VerifyError::UnknownKey)
        );
    }

    #[test]
    fn second_key_verifies_but_does_not_sign() {
        let old = keyset(K1);
        let both = keyset(
            r#"[{"kid":"k2","key":"YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY"},{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#,
        );
        assert!(verify(&both, &mint(&old, &claims())).is_ok());
        assert_eq!(both.signer().kid(), "k2");
        assert_eq!(both.kids().collect::<Vec<_>>(), vec!["k2", "k1"]);
    }

    #[test]
    fn keyset_parse_errors_name_problem_without_key_material() {
        let cases = [
            ("", "not a JSON array"),
            ("[]", "empty array"),
            (r#"[{"kid":"k","key":"c2hvcnQ"}]"#, "5 bytes"),
            (
                r#"[{"kid":"k","key":"not base64!!"}]"#,
                "not valid base64url",
            ),
            (
                r#"[{"kid":"","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#,
                "kid",
            ),
            (
                r#"[{"kid":"a b","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#,
                "kid",
            ),
            (
                r#"[{"kid":"k","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"},{"kid":"k","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#,
                "more than once",
            ),
            (r#"{"kid":"k","key":"secretmaterial"}"#, "not a JSON array"),
            (r#"["secretmaterial"]"#, "not a JSON array"),
        ];
        for (json, expected) in cases {
            let err = KeySet::parse(json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
            assert!(
                !err.contains("secretmaterial")
                    && !err.contains("MDEy")
                    && !err.contains("c2hvcnQ"),
                "{err}"
            );
        }
    }

    #[test]
    fn audience_serialises_as_string_or_array() {
        assert_eq!(
            serde_json::to_string(&Audience::from_list(vec!["a".into()])).unwrap(),
            "\"a\""
        );
        assert_eq!(
            serde_json::to_string(&Audience::from_list(vec!["a".into(), "b".into()])).unwrap(),
            "[\"a\",\"b\"]"
        );
    }

    #[test]
    fn signing_key_debug_is_redacted() {
        let keys = keyset(K1);
        assert!(!format!("{keys:?}").contains("MDEy"));
    }
}
