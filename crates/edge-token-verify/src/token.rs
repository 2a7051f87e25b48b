//! JWT access tokens with the [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)
//! claims: the compact JWS format, [`verify`] against a [`KeySet`], and
//! [`mint`] for HS256.
//!
//! A token is checked with the algorithm of the key its `kid` names (HS256,
//! ES256, EdDSA/Ed25519); a header `alg` that is unknown or disagrees with
//! that key is refused before any signature work.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub use crate::keys::{
    parse_entries, Algorithm, HmacPrefix, Key, KeyEntry, KeyError, KeySet, MAX_KID_LEN,
    MIN_KEY_BYTES,
};

/// Longest token [`verify`] looks at.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

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
/// (De)serialised by hand: `iss`, `sub`, `aud`, `client_id`, `scope`, then
/// `extra`, then `exp`, `iat`, `jti` (what one client's tokens share comes
/// first: see [`AccessTokenClaims::to_json_split`]). serde's `flatten` would
/// route every token through a slow, bulky generic path.
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
        // The order of `to_json`: what one client's tokens share first.
        map.serialize_entry("iss", &self.iss)?;
        map.serialize_entry("sub", &self.sub)?;
        map.serialize_entry("aud", &self.aud)?;
        map.serialize_entry("client_id", &self.client_id)?;
        if !self.scope.is_empty() {
            map.serialize_entry("scope", &self.scope)?;
        }
        // An extra claim never repeats a registered claim: a duplicate
        // key would let it override (or confuse) the registered value.
        for (name, value) in &self.extra {
            if !WRITTEN_CLAIMS.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.serialize_entry("exp", &self.exp)?;
        map.serialize_entry("iat", &self.iat)?;
        map.serialize_entry("jti", &self.jti)?;
        map.end()
    }
}

impl AccessTokenClaims {
    /// The claims as compact JSON: the same bytes as `serde_json::to_string`
    /// of this value (its `Serialize`), written by [`crate::json`], which
    /// costs less per token in wasm.
    pub fn to_json(&self) -> String {
        self.to_json_split().0
    }

    /// [`to_json`](Self::to_json), and the length of its start that holds
    /// `iss`, `sub`, `aud`, `client_id`, `scope` and the extra claims: all
    /// but `exp`, `iat` and `jti`, which come last. Tokens of one client,
    /// grant and issuer share that start, which a signer can encode and
    /// hash once (`edge-token-core`'s signing keys do).
    pub fn to_json_split(&self) -> (String, usize) {
        let mut out = String::with_capacity(
            96 + self.iss.len()
                + self.sub.len()
                + self.jti.len()
                + self.client_id.len()
                + self.scope.len()
                + match &self.aud {
                    Audience::One(a) => a.len(),
                    Audience::Many(list) => list.iter().map(|a| a.len() + 3).sum(),
                },
        );
        let mut map = crate::json::Object::new(&mut out);
        map.str("iss", &self.iss)
            .str("sub", &self.sub)
            .audience("aud", &self.aud)
            .str("client_id", &self.client_id);
        if !self.scope.is_empty() {
            map.str("scope", &self.scope);
        }
        for (name, value) in &self.extra {
            if !WRITTEN_CLAIMS.contains(&name.as_str()) {
                map.value(name, value);
            }
        }
        let shared = map.written();
        map.u64("exp", self.exp)
            .u64("iat", self.iat)
            .str("jti", &self.jti);
        map.end();
        (out, shared)
    }
}

/// The encoded protected header of the tokens `kid` signs with `alg`:
/// `{"alg", "typ": "at+jwt", "kid"}` (RFC 9068 §2.1).
pub fn header_b64(alg: Algorithm, kid: &str) -> String {
    let header = serde_json::json!({"alg": alg.name(), "typ": "at+jwt", "kid": kid});
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// The JWS signing input `header.payload` for `claims`, with room for the
/// signature that [`append_signature`] adds.
pub fn signing_input(header_b64: &str, claims: &AccessTokenClaims) -> String {
    let payload = claims.to_json();
    let mut token = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 96);
    token.push_str(header_b64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    token
}

/// Completes a [`signing_input`] into a compact JWS.
pub fn append_signature(token: &mut String, signature: &[u8]) {
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, token);
}

/// Signs `claims` with the set's first key, which must be HS256 (an
/// asymmetric key's private part is the issuer's alone; see
/// `edge-token-core`'s signing keys). For tests and tools that share an
/// HS256 key with the issuer.
pub fn mint(keys: &KeySet, claims: &AccessTokenClaims) -> Result<String, KeyError> {
    let key = keys
        .first()
        .ok_or_else(|| KeyError("the key set is empty".into()))?;
    let mut token = signing_input(&header_b64(key.alg(), key.kid()), claims);
    let signature = key.hmac_sign(token.as_bytes()).ok_or_else(|| {
        KeyError(format!(
            "kid {:?} is {}: only an HS256 key signs here",
            key.kid(),
            key.alg()
        ))
    })?;
    append_signature(&mut token, &signature);
    Ok(token)
}

/// Why a token failed [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Not three base64url segments of valid JSON, or too long.
    Malformed,
    /// `alg` is not one this crate knows, is not the algorithm of the key
    /// `kid` names, or `typ` is not `at+jwt` (all checked before any
    /// signature work).
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

/// The `kid` of a token's header, **unverified**: nothing about the token
/// is checked but that it is at most [`MAX_TOKEN_LEN`] bytes of three
/// segments whose first is base64url JSON with a string `kid`.
///
/// For deciding which keys to verify it with, e.g. whether a cached JWK Set
/// should be fetched again because it lacks this `kid` (rate-limit such
/// fetches: anyone can send any `kid`). Never trust it further: [`verify`]
/// (or [`validate`](crate::validation::validate)) decides.
pub fn unverified_kid(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct KidOnly {
        kid: Option<String>,
    }
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return None;
    }
    let header_b64 = token.split('.').next()?;
    let header_json = URL_SAFE_NO_PAD.decode(header_b64).ok()?;
    serde_json::from_slice::<KidOnly>(&header_json).ok()?.kid
}

/// Checks a token's structure, algorithm and signature against `keys` and
/// returns its claims. Time, issuer and audience are
/// [`validate`](crate::validation::validate)'s (which calls this), scopes
/// the [`Verifier`](crate::bearer::Verifier)'s.
pub fn verify(keys: &KeySet, token: &str) -> Result<AccessTokenClaims, VerifyError> {
    let token = parse_unverified(keys, token)?;
    if !token.key().check(token.signed(), token.signature()) {
        return Err(VerifyError::Signature);
    }
    token.into_claims()
}

/// A token whose structure, header and key have been checked, its
/// signature not yet: [`verify`] in two steps, for a caller that checks the
/// signature itself (the issuer Worker asks Web Crypto about ES256 and
/// EdDSA). Only [`Unverified::into_claims`] after a good signature gives
/// claims to trust.
pub struct Unverified<'k, 't> {
    key: &'k Key,
    signed: &'t str,
    signature: Vec<u8>,
    payload_b64: &'t str,
}

impl<'k, 't> Unverified<'k, 't> {
    /// The key the header names, whose algorithm agrees with the header's.
    pub fn key(&self) -> &'k Key {
        self.key
    }

    /// The JWS signing input (`header.payload`).
    pub fn signed(&self) -> &'t [u8] {
        self.signed.as_bytes()
    }

    /// The decoded signature (any length: the checker checks it).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The claims: call only once the signature has been checked good.
    pub fn into_claims(self) -> Result<AccessTokenClaims, VerifyError> {
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload_b64)
            .map_err(|_| VerifyError::Malformed)?;
        serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)
    }
}

/// Everything [`verify`] checks before the signature: size, three
/// segments, the header (`typ` at+jwt, a known `alg`, no `crit`), a `kid`
/// in `keys` whose algorithm accepts the header's, a base64url signature.
pub fn parse_unverified<'k, 't>(
    keys: &'k KeySet,
    token: &'t str,
) -> Result<Unverified<'k, 't>, VerifyError> {
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
    let alg = Algorithm::from_name(&header.alg).ok_or(VerifyError::Algorithm)?;
    if !typ_ok {
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
    // The key decides the computation; the header must only agree with it.
    if !key.alg().accepts(alg) {
        return Err(VerifyError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| VerifyError::Malformed)?;
    let signed_len = header_b64.len() + 1 + payload_b64.len();
    let signed = token.get(..signed_len).ok_or(VerifyError::Malformed)?;
    Ok(Unverified {
        key,
        signed,
        signature,
        payload_b64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyset(json: &str) -> KeySet {
        KeySet::parse(json).unwrap()
    }

    const K1: &str = r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#;

    pub(super) fn claims() -> AccessTokenClaims {
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
    fn claims_json_is_what_serde_json_writes() {
        let mut c = claims();
        assert_eq!(c.to_json(), serde_json::to_string(&c).unwrap());
        c.scope = String::new();
        c.aud = Audience::Many(vec!["https://a.example".into(), "b\"\n".into()]);
        c.iss = "https://i.example/\u{1}\u{1f}é".into();
        c.extra.insert("tenant".into(), serde_json::json!("acme"));
        c.extra
            .insert("n\"k".into(), serde_json::json!({"x": [1, 2.5, null]}));
        // Never written twice, whatever extra holds.
        c.extra.insert("iss".into(), serde_json::json!("other"));
        assert_eq!(c.to_json(), serde_json::to_string(&c).unwrap());
        c.aud = Audience::Many(vec![]);
        assert_eq!(c.to_json(), serde_json::to_string(&c).unwrap());
    }

    #[test]
    fn the_shared_start_is_all_but_exp_iat_and_jti() {
        let mut c = claims();
        c.extra.insert("tenant".into(), serde_json::json!("acme"));
        let (json, shared) = c.to_json_split();
        assert_eq!(json, c.to_json());
        assert_eq!(
            &json[..shared],
            r#"{"iss":"https://issuer.example","sub":"etc_abc","aud":"https://api.example","client_id":"etc_abc","scope":"read write","tenant":"acme""#
        );
        assert_eq!(&json[shared..], r#","exp":1300,"iat":1000,"jti":"j1"}"#);
    }

    #[test]
    fn an_hmac_prefix_signs_as_the_whole_input() {
        let keys = keyset(K1);
        let key = keys.first().unwrap();
        let input =
            b"eyJhbGciOiJIUzI1NiJ9.a-payload-longer-than-one-sha256-block-of-64-bytes-to-cross-it";
        for cut in 0..=input.len() {
            let prefix = key.hmac_prefix(&input[..cut]).unwrap();
            assert_eq!(prefix.sign(&input[cut..]), key.hmac_sign(input).unwrap());
        }
        assert_eq!(
            format!("{:?}", key.hmac_prefix(b"x").unwrap()),
            "HmacPrefix(<redacted>)"
        );
    }

    #[test]
    fn mint_then_verify_round_trips() {
        let keys = keyset(K1);
        let token = mint(&keys, &claims()).unwrap();
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
        let token = mint(&keys, &claims()).unwrap();
        let (signed, sig) = token.rsplit_once('.').unwrap();
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(b"0123456789abcdef0123456789abcdef")
                .unwrap();
        mac.update(signed.as_bytes());
        assert_eq!(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()), sig);
    }

    #[test]
    fn verify_any_changed_byte_fails() {
        let keys = keyset(K1);
        let token = mint(&keys, &claims()).unwrap();
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
        let token = mint(&keys, &claims()).unwrap();
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
            verify(&keys, &mint(&other, &claims()).unwrap()),
            Err(VerifyError::UnknownKey)
        );
    }

    #[test]
    fn unverified_kid_reads_the_header_only() {
        let token = mint(&keyset(K1), &claims()).unwrap();
        assert_eq!(unverified_kid(&token).as_deref(), Some("k1"));
        // A wrong signature does not matter here; verify decides.
        let mut forged = token.clone();
        forged.push_str("AAAA");
        assert_eq!(unverified_kid(&forged).as_deref(), Some("k1"));
        let header = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let no_kid = format!("{}.e30.", header(r#"{"alg":"ES256"}"#));
        assert_eq!(unverified_kid(&no_kid), None);
        let number_kid = format!("{}.e30.", header(r#"{"alg":"ES256","kid":7}"#));
        assert_eq!(unverified_kid(&number_kid), None);
        let other = format!("{}.e30.x", header(r#"{"kid":"es1","alg":"ES256"}"#));
        assert_eq!(unverified_kid(&other).as_deref(), Some("es1"));
        for bad in ["", "garbage", "a.b", "a.b.c.d", "!!.e30.x", "e30.e30"] {
            assert_eq!(unverified_kid(bad), None, "{bad}");
        }
        let huge = format!(
            "{}.{}.x",
            header(r#"{"kid":"k1"}"#),
            "A".repeat(MAX_TOKEN_LEN)
        );
        assert_eq!(unverified_kid(&huge), None);
    }

    #[test]
    fn second_key_verifies_but_does_not_sign() {
        let old = keyset(K1);
        let both = keyset(
            r#"[{"kid":"k2","key":"YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY"},{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#,
        );
        assert!(verify(&both, &mint(&old, &claims()).unwrap()).is_ok());
        assert_eq!(both.first().unwrap().kid(), "k2");
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
            (r#"["secretmaterial"]"#, "no string \"kid\""),
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

#[cfg(test)]
mod asymmetric_tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;

    /// RFC 7515 Appendix A.3's P-256 key and RFC 8037 Appendix A.1's Ed25519 key.
    const ES_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const ES_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const ES_D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const ED_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

    fn b64(s: &str) -> [u8; 32] {
        URL_SAFE_NO_PAD.decode(s).unwrap().try_into().unwrap()
    }

    use super::tests::claims;

    /// Public-only SIGNING_KEYS entries for both keys (what an API could be given).
    fn public_set() -> KeySet {
        KeySet::parse(&format!(
            r#"[{{"kid":"es","alg":"ES256","kty":"EC","crv":"P-256","x":"{ES_X}","y":"{ES_Y}"}},
                {{"kid":"ed","alg":"EdDSA","kty":"OKP","crv":"Ed25519","x":"{ED_X}"}}]"#
        ))
        .unwrap()
    }

    fn es256(alg_in_header: &str, kid: &str) -> String {
        let sk = p256::ecdsa::SigningKey::from_bytes(&b64(ES_D).into()).unwrap();
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"{alg_in_header}","typ":"at+jwt","kid":"{kid}"}}"#
        ));
        let mut token = signing_input(&header, &claims());
        let sig: p256::ecdsa::Signature = sk.sign(token.as_bytes());
        append_signature(&mut token, &sig.to_bytes());
        token
    }

    fn ed25519(alg_in_header: &str) -> String {
        use ed25519_dalek::Signer as _;
        let sk = ed25519_dalek::SigningKey::from_bytes(&b64(ED_D));
        let mut token = signing_input(
            &header_b64(Algorithm::from_name(alg_in_header).unwrap(), "ed"),
            &claims(),
        );
        let sig = sk.sign(token.as_bytes());
        append_signature(&mut token, &sig.to_bytes());
        token
    }

    #[test]
    #[cfg(feature = "rust-crypto")]
    fn es256_token_verifies_with_the_public_key_only() {
        assert_eq!(
            verify(&public_set(), &es256("ES256", "es")).unwrap(),
            claims()
        );
    }

    #[test]
    fn es256_der_signature_is_refused() {
        let token = es256("ES256", "es");
        let (signed, sig) = token.rsplit_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let der = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
        let mut der_token = signed.to_owned();
        append_signature(&mut der_token, der.as_bytes());
        assert_eq!(
            verify(&public_set(), &der_token),
            Err(VerifyError::Signature)
        );
    }

    #[test]
    #[cfg(feature = "rust-crypto")]
    fn eddsa_key_takes_both_names_and_nothing_else() {
        for name in ["EdDSA", "Ed25519"] {
            assert_eq!(
                verify(&public_set(), &ed25519(name)).unwrap(),
                claims(),
                "{name}"
            );
        }
        // An ES256 header naming the Ed25519 key, and the reverse: refused
        // before any signature work.
        assert_eq!(
            verify(&public_set(), &es256("ES256", "ed")),
            Err(VerifyError::Algorithm)
        );
        assert_eq!(
            verify(&public_set(), &es256("EdDSA", "es")),
            Err(VerifyError::Algorithm)
        );
    }

    /// Without `rust-crypto` (the issuer Worker's build, which checks its
    /// own ES256/EdDSA tokens with Web Crypto): asymmetric keys still load
    /// and a wrong algorithm is still refused first, but no asymmetric
    /// signature ever verifies here.
    #[test]
    #[cfg(not(feature = "rust-crypto"))]
    fn without_rust_crypto_no_asymmetric_signature_verifies() {
        let keys = public_set();
        assert_eq!(keys.kids().collect::<Vec<_>>(), vec!["es", "ed"]);
        for token in [es256("ES256", "es"), ed25519("EdDSA"), ed25519("Ed25519")] {
            assert_eq!(verify(&keys, &token), Err(VerifyError::Signature));
            let (signed, sig) = token.rsplit_once('.').unwrap();
            let kid = if token == es256("ES256", "es") {
                "es"
            } else {
                "ed"
            };
            let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            assert!(!keys.find(kid).unwrap().check(signed.as_bytes(), &raw));
        }
        assert_eq!(
            verify(&keys, &es256("ES256", "ed")),
            Err(VerifyError::Algorithm)
        );
        // HS256 is unaffected.
        let hs =
            KeySet::parse(r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#)
                .unwrap();
        assert_eq!(
            verify(&hs, &mint(&hs, &claims()).unwrap()).unwrap(),
            claims()
        );
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused() {
        // The classic key confusion: HMAC keyed with public material.
        use hmac::Mac;
        let keys = public_set();
        for secret in [
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{ES_X}","y":"{ES_Y}"}}"#).into_bytes(),
            [b64(ES_X), b64(ES_Y)].concat(),
            keys.find("es")
                .unwrap()
                .public_jwk()
                .unwrap()
                .to_string()
                .into_bytes(),
        ] {
            let mut token = signing_input(&header_b64(Algorithm::HS256, "es"), &claims());
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
            mac.update(token.as_bytes());
            append_signature(&mut token, &mac.finalize().into_bytes());
            assert_eq!(verify(&keys, &token), Err(VerifyError::Algorithm));
        }
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"es"}"#),
            es256("ES256", "es").split('.').nth(1).unwrap()
        );
        assert_eq!(verify(&keys, &unsigned), Err(VerifyError::Algorithm));
    }

    #[test]
    fn changed_asymmetric_signatures_fail() {
        for token in [es256("ES256", "es"), ed25519("EdDSA")] {
            let (signed, sig) = token.rsplit_once('.').unwrap();
            let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
            for i in [0, 31, 32, 63] {
                raw[i] ^= 1;
                let mut t = signed.to_owned();
                append_signature(&mut t, &raw);
                assert_eq!(
                    verify(&public_set(), &t),
                    Err(VerifyError::Signature),
                    "byte {i}"
                );
                raw[i] ^= 1;
            }
            let mut short = signed.to_owned();
            append_signature(&mut short, &raw[..63]);
            assert_eq!(verify(&public_set(), &short), Err(VerifyError::Signature));
        }
    }

    #[test]
    #[cfg(feature = "rust-crypto")]
    fn published_jwks_verifies_what_the_entries_verify() {
        let from_jwks = KeySet::from_jwks(&public_set().to_jwks().to_string()).unwrap();
        assert_eq!(from_jwks.kids().collect::<Vec<_>>(), vec!["es", "ed"]);
        assert!(verify(&from_jwks, &es256("ES256", "es")).is_ok());
        assert!(verify(&from_jwks, &ed25519("Ed25519")).is_ok());
        // An HS256 key is never published.
        let hs =
            KeySet::parse(r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#)
                .unwrap();
        assert_eq!(hs.to_jwks(), serde_json::json!({"keys": []}));
        // mint refuses a set whose first key is asymmetric.
        assert!(mint(&public_set(), &claims()).is_err());
    }
}
