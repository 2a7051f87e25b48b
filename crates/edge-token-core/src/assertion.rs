//! `private_key_jwt` client authentication: the client assertion
//! ([RFC 7521 §4.2](https://www.rfc-editor.org/rfc/rfc7521#section-4.2),
//! [RFC 7523 §2.2, §3](https://www.rfc-editor.org/rfc/rfc7523#section-3)).
//!
//! [`Assertion::parse`] reads the compact JWS (size, segments, header,
//! claims); [`Assertion::check_claims`] applies RFC 7523 §3 (`iss` = `sub`,
//! our audience, a bounded `exp`, `nbf`/`iat`, a `jti`);
//! [`Assertion::candidates`] picks the registered keys that may have signed
//! it (by `kid`, the header's `alg` accepted by the key's own); the
//! signature itself is the adapter's [`CheckSignature`] (Web Crypto on
//! Workers, [`check_signature`] in pure Rust elsewhere). Replays are the
//! service's: [`replay_key`] names a used assertion, [`ReplayCache`]
//! remembers it per isolate and the store remembers it everywhere.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::client_key::ClientKey;
#[cfg(feature = "rust-crypto")]
use crate::client_key::ClientKeyAlg;

/// The only `client_assertion_type` (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest accepted assertion, bytes (a 4096-bit RSA signature is 683).
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// Latest accepted `exp`, seconds after now (plus the leeway): one hour,
/// authlib's default assertion lifetime and Okta's cap.
pub const MAX_ASSERTION_LIFETIME_SECS: u64 = 3600;
/// Longest accepted `jti`, bytes.
pub const MAX_JTI_LEN: usize = 256;

/// Why an assertion was refused: logged as the `cause`, never sent (the
/// wire gets `401 invalid_client`). Never holds the assertion itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionError {
    /// Over [`MAX_ASSERTION_LEN`].
    TooLong,
    /// Not a compact JWS with JSON header and claims of the right types.
    Malformed(&'static str),
    /// The header has `crit` (no extension is understood, RFC 7515 §4.1.11).
    Crit,
    /// `iss` or `sub` is not the client, or they differ.
    Subject(&'static str),
    /// `aud` does not name this server.
    Audience,
    /// Expired (`exp` plus leeway has passed).
    Expired,
    /// `exp` more than [`MAX_ASSERTION_LIFETIME_SECS`] ahead.
    TooLongLived,
    /// `nbf` or `iat` in the future (beyond the leeway).
    NotYetValid(&'static str),
    /// No `jti`, or an empty or over-long one.
    Jti,
    /// The header's `kid` names no registered key.
    UnknownKid,
    /// The header's `alg` is not what the key signs with (`none` and HMAC
    /// never are).
    Algorithm(String),
    /// No registered key verifies the signature.
    Signature,
    /// This client used this `jti` before.
    Replayed(&'static str),
}

impl std::fmt::Display for AssertionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AssertionError::TooLong => {
                write!(f, "client assertion longer than {MAX_ASSERTION_LEN} bytes")
            }
            AssertionError::Malformed(what) => write!(f, "malformed client assertion: {what}"),
            AssertionError::Crit => f.write_str("client assertion header has crit"),
            AssertionError::Subject(what) => write!(f, "client assertion {what}"),
            AssertionError::Audience => {
                f.write_str("client assertion aud names neither this issuer nor its endpoint")
            }
            AssertionError::Expired => f.write_str("client assertion expired"),
            AssertionError::TooLongLived => write!(
                f,
                "client assertion exp more than {MAX_ASSERTION_LIFETIME_SECS} s ahead"
            ),
            AssertionError::NotYetValid(what) => {
                write!(f, "client assertion {what} is in the future")
            }
            AssertionError::Jti => write!(
                f,
                "client assertion jti missing, empty or over {MAX_JTI_LEN} bytes"
            ),
            AssertionError::UnknownKid => {
                f.write_str("client assertion kid names no registered key")
            }
            AssertionError::Algorithm(alg) => write!(
                f,
                "client assertion alg {alg:?} is not the registered key's algorithm"
            ),
            AssertionError::Signature => f.write_str("client assertion signature invalid"),
            AssertionError::Replayed(where_) => {
                write!(f, "client assertion replayed (jti already used; {where_})")
            }
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3), as a list.
/// Read by its own visitor, not an untagged enum: serde's untagged enums
/// buffer the value first, and that machinery was about 900 B of the
/// Worker's gzipped wasm.
struct Aud(Vec<String>);

impl<'de> Deserialize<'de> for Aud {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> serde::de::Visitor<'de> for OneOrMany {
            type Value = Aud;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Aud, E> {
                Ok(Aud(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Aud, A::Error> {
                let mut list = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    list.push(item);
                }
                Ok(Aud(list))
            }
        }
        d.deserialize_any(OneOrMany)
    }
}

/// A NumericDate: JSON number, possibly with a fraction (RFC 7519 §2),
/// floored to whole seconds.
#[derive(Clone, Copy)]
struct NumericDate(u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        if let Some(v) = n.as_u64() {
            return Ok(NumericDate(v));
        }
        match n.as_f64() {
            Some(v) if (0.0..1.0e15).contains(&v) => Ok(NumericDate(v as u64)),
            _ => Err(serde::de::Error::custom("not a NumericDate")),
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Aud>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    iat: Option<NumericDate>,
    jti: Option<String>,
}

/// A parsed, not yet trusted client assertion.
pub struct Assertion {
    alg: String,
    kid: Option<String>,
    iss: String,
    sub: Option<String>,
    aud: Vec<String>,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    jti: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
}

impl std::fmt::Debug for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertion")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("iss", &self.iss)
            .finish_non_exhaustive()
    }
}

/// Why claims that are not a JWT claims set are refused.
const CLAIMS_MALFORMED: &str = "claims are not base64url JSON of JWT claims";

fn segment_json<T: serde::de::DeserializeOwned>(
    segment: &str,
    what: &'static str,
) -> Result<T, AssertionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AssertionError::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| AssertionError::Malformed(what))
}

impl Assertion {
    /// Reads a compact JWS: at most [`MAX_ASSERTION_LEN`] bytes, three
    /// base64url segments, a JSON header with a string `alg` and no
    /// `crit`, a JSON claims object with a string `iss`. Nothing is trusted yet.
    pub fn parse(raw: &str) -> Result<Assertion, AssertionError> {
        if raw.len() > MAX_ASSERTION_LEN {
            return Err(AssertionError::TooLong);
        }
        let mut parts = raw.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AssertionError::Malformed("not three segments"));
        };
        let header: Header = segment_json(header, "header is not base64url JSON")?;
        if header.crit {
            return Err(AssertionError::Crit);
        }
        let claims: Claims = segment_json(claims, CLAIMS_MALFORMED)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| AssertionError::Malformed("signature is not base64url"))?;
        let iss = claims
            .iss
            .filter(|i| !i.is_empty())
            .ok_or(AssertionError::Subject("has no iss"))?;
        if !crate::client::is_record_client_id(&iss) {
            return Err(AssertionError::Subject("iss is not a possible client id"));
        }
        let signing_input = raw
            .rsplit_once('.')
            .map(|(input, _)| input.to_owned())
            .unwrap_or_default();
        Ok(Assertion {
            alg: header.alg,
            kid: header.kid,
            iss,
            sub: claims.sub,
            aud: claims.aud.map(|Aud(list)| list).unwrap_or_default(),
            exp: claims.exp.map(|d| d.0),
            nbf: claims.nbf.map(|d| d.0),
            iat: claims.iat.map(|d| d.0),
            jti: claims.jti,
            signing_input,
            signature,
        })
    }

    /// The client the assertion claims to be (`iss`), unverified.
    pub fn client_id(&self) -> &str {
        &self.iss
    }

    /// The `jti` (present once [`Assertion::check_claims`] passed).
    pub fn jti(&self) -> &str {
        self.jti.as_deref().unwrap_or_default()
    }

    /// The `exp` (present once [`Assertion::check_claims`] passed).
    pub fn exp(&self) -> u64 {
        self.exp.unwrap_or_default()
    }

    /// The header's `alg`.
    pub fn alg(&self) -> &str {
        &self.alg
    }

    /// The JWS signing input (`header.claims`).
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// RFC 7523 §3: `iss` and `sub` are the client id; `aud` names one of
    /// `audiences` (the issuer, the token endpoint, the endpoint called);
    /// `exp` present, not past and at most [`MAX_ASSERTION_LIFETIME_SECS`]
    /// ahead; `nbf` and `iat`, if present, not in the future; all with
    /// `leeway_secs`; a `jti` of 1 to [`MAX_JTI_LEN`] bytes.
    pub fn check_claims(
        &self,
        audiences: &[&str],
        now: u64,
        leeway_secs: u64,
    ) -> Result<(), AssertionError> {
        match self.sub.as_deref() {
            None => return Err(AssertionError::Subject("has no sub")),
            Some(sub) if sub != self.iss => {
                return Err(AssertionError::Subject("iss differs from sub"))
            }
            Some(_) => {}
        }
        if !self.aud.iter().any(|a| audiences.contains(&a.as_str())) {
            return Err(AssertionError::Audience);
        }
        let exp = self.exp.ok_or(AssertionError::Malformed("no exp"))?;
        if exp.saturating_add(leeway_secs) <= now {
            return Err(AssertionError::Expired);
        }
        if exp > now.saturating_add(MAX_ASSERTION_LIFETIME_SECS + leeway_secs) {
            return Err(AssertionError::TooLongLived);
        }
        let future = |t: Option<u64>| t.is_some_and(|t| t > now.saturating_add(leeway_secs));
        if future(self.nbf) {
            return Err(AssertionError::NotYetValid("nbf"));
        }
        if future(self.iat) {
            return Err(AssertionError::NotYetValid("iat"));
        }
        match self.jti.as_deref() {
            Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => Ok(()),
            _ => Err(AssertionError::Jti),
        }
    }

    /// The registered keys that may have signed this assertion: the one its
    /// `kid` names, or without a `kid` every key; each must accept the
    /// header's `alg` (so `none`, HMAC or another family never reach a
    /// signature check).
    pub fn candidates<'k>(
        &self,
        keys: &'k [ClientKey],
    ) -> Result<Vec<&'k ClientKey>, AssertionError> {
        let named: Vec<&ClientKey> = match &self.kid {
            Some(kid) => keys.iter().filter(|k| &k.kid == kid).collect(),
            None => keys.iter().collect(),
        };
        if named.is_empty() {
            return Err(AssertionError::UnknownKid);
        }
        let usable: Vec<&ClientKey> = named
            .into_iter()
            .filter(|k| k.algorithm().is_ok_and(|a| a.accepts(&self.alg)))
            .collect();
        if usable.is_empty() {
            return Err(AssertionError::Algorithm(
                self.alg.chars().take(16).collect(),
            ));
        }
        Ok(usable)
    }
}

/// Whether a signature of this length can be `key`'s at all: 64 bytes for
/// ES256 (`r || s`, RFC 7518 §3.4) and Ed25519, the modulus length for RSA.
pub fn signature_len_ok(key: &ClientKey, signature: &[u8]) -> bool {
    match key.kty.as_str() {
        "RSA" => signature.len() == key.bits().div_ceil(8),
        _ => signature.len() == 64,
    }
}

/// Checks a client assertion's signature with a registered key.
pub trait CheckSignature {
    /// Whether `signature` over `input` was made by `key`, with the key's
    /// own algorithm. The length is already checked
    /// ([`signature_len_ok`]). An error is a message for the log.
    fn check_signature(
        &self,
        key: &ClientKey,
        input: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<bool, String>>;
}

/// The pure-Rust check (`p256`, `ed25519-dalek`, `rsa`): what native code
/// and tests use; the Worker asks Web Crypto.
#[cfg(feature = "rust-crypto")]
pub fn check_signature(key: &ClientKey, input: &[u8], signature: &[u8]) -> Result<bool, String> {
    let alg = key.algorithm()?;
    let field = |v: &Option<String>| -> Result<Vec<u8>, String> {
        v.as_deref()
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| format!("key {:?} is malformed", key.kid))
    };
    match alg {
        ClientKeyAlg::ES256 => {
            use p256::ecdsa::signature::Verifier;
            let mut sec1 = vec![4u8];
            sec1.extend(field(&key.x)?);
            sec1.extend(field(&key.y)?);
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| format!("key {:?} is not a P-256 point", key.kid))?;
            Ok(p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| vk.verify(input, &sig).is_ok()))
        }
        ClientKeyAlg::EdDSA | ClientKeyAlg::Ed25519 => {
            let x: [u8; 32] = field(&key.x)?
                .try_into()
                .map_err(|_| format!("key {:?} is malformed", key.kid))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map_err(|_| format!("key {:?} is not an Ed25519 key", key.kid))?;
            let Ok(sig) = <[u8; 64]>::try_from(signature) else {
                return Ok(false);
            };
            Ok(vk
                .verify_strict(input, &ed25519_dalek::Signature::from_bytes(&sig))
                .is_ok())
        }
        ClientKeyAlg::RS256 | ClientKeyAlg::PS256 => {
            use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
            let n = BigUint::from_bytes_be(&field(&key.n)?);
            let e = BigUint::from_bytes_be(&field(&key.e)?);
            let public = RsaPublicKey::new_with_max_size(n, e, crate::client_key::MAX_RSA_BITS)
                .map_err(|e| format!("key {:?}: {e}", key.kid))?;
            let digest = Sha256::digest(input);
            Ok(if alg == ClientKeyAlg::RS256 {
                public
                    .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
                    .is_ok()
            } else {
                public
                    .verify(rsa::Pss::new_with_salt::<Sha256>(32), &digest, signature)
                    .is_ok()
            })
        }
    }
}

/// The name under which a used assertion is remembered: a digest of the
/// client id and the `jti` (so any `jti` makes a short, safe store key).
pub fn replay_key(client_id: &str, jti: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"edge-token/client-assertion/v1\0");
    h.update((client_id.len() as u64).to_be_bytes());
    h.update(client_id.as_bytes());
    h.update(jti.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Default most used assertions one isolate remembers.
pub const DEFAULT_REPLAY_ENTRIES: usize = 8192;

/// Used assertions remembered per isolate until they expire: a replay to
/// the same isolate is refused without a store read, and before the
/// store's own copy has propagated. Bounded: when full, expired entries go
/// first, then the soonest to expire (the store still remembers those).
#[derive(Debug)]
pub struct ReplayCache {
    max_entries: usize,
    entries: RefCell<HashMap<String, u64>>,
}

impl ReplayCache {
    /// A cache of at most `max_entries` used assertions.
    pub fn new(max_entries: usize) -> Self {
        ReplayCache {
            max_entries,
            entries: RefCell::new(HashMap::new()),
        }
    }

    /// Whether `key` was used and is still remembered at `now`.
    pub fn seen(&self, key: &str, now: u64) -> bool {
        self.entries
            .borrow()
            .get(key)
            .is_some_and(|until| *until > now)
    }

    /// Remembers `key` until `until`.
    pub fn remember(&self, key: &str, until: u64, now: u64) {
        if self.max_entries == 0 {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= self.max_entries && !entries.contains_key(key) {
            entries.retain(|_, u| *u > now);
            if entries.len() >= self.max_entries {
                if let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, u)| **u)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(key.to_owned(), until);
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn jws(header: serde_json::Value, claims: serde_json::Value) -> String {
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        )
    }

    const AUD: &str = "https://auth.example.com";

    fn claims(now: u64) -> serde_json::Value {
        json!({"iss":"c1","sub":"c1","aud":AUD,"exp":now + 60,"iat":now,"jti":"j1"})
    }

    fn check(
        header: serde_json::Value,
        claims: serde_json::Value,
        now: u64,
    ) -> Result<(), AssertionError> {
        Assertion::parse(&jws(header, claims))?.check_claims(&[AUD], now, 30)
    }

    #[test]
    fn a_good_assertion_passes() {
        let a = Assertion::parse(&jws(json!({"alg":"ES256","kid":"k"}), claims(1000))).unwrap();
        assert_eq!(a.client_id(), "c1");
        a.check_claims(&[AUD], 1000, 30).unwrap();
        assert_eq!((a.jti(), a.exp()), ("j1", 1060));
        assert_eq!(a.signature(), &[7u8; 64]);
    }

    #[test]
    fn claim_failures_have_their_causes() {
        let now = 10_000;
        let h = || json!({"alg":"ES256"});
        let with = |k: &str, v: serde_json::Value| {
            let mut c = claims(now);
            c[k] = v;
            c
        };
        let without = |k: &str| {
            let mut c = claims(now);
            c.as_object_mut().unwrap().remove(k);
            c
        };
        assert_eq!(
            check(h(), with("sub", json!("c2")), now),
            Err(AssertionError::Subject("iss differs from sub"))
        );
        assert_eq!(
            check(h(), without("sub"), now),
            Err(AssertionError::Subject("has no sub"))
        );
        assert_eq!(
            check(h(), with("aud", json!("https://other.example")), now),
            Err(AssertionError::Audience)
        );
        assert_eq!(check(h(), with("aud", json!(["x", AUD])), now), Ok(()));
        assert_eq!(
            check(h(), with("aud", json!([])), now),
            Err(AssertionError::Audience)
        );
        // null is no aud.
        assert_eq!(
            check(h(), with("aud", json!(null)), now),
            Err(AssertionError::Audience)
        );
        // Neither a string nor an array of strings: not a claims set.
        for aud in [json!(5), json!(1.5), json!({"a": AUD}), json!([AUD, 5])] {
            assert_eq!(
                check(h(), with("aud", aud.clone()), now),
                Err(AssertionError::Malformed(CLAIMS_MALFORMED)),
                "{aud}"
            );
        }
        assert_eq!(
            check(h(), with("exp", json!(now - 31)), now),
            Err(AssertionError::Expired)
        );
        assert_eq!(check(h(), with("exp", json!(now - 29)), now), Ok(()));
        assert_eq!(check(h(), with("exp", json!(now + 3630)), now), Ok(()));
        assert_eq!(
            check(h(), with("exp", json!(now + 3631)), now),
            Err(AssertionError::TooLongLived)
        );
        assert_eq!(
            check(h(), without("exp"), now),
            Err(AssertionError::Malformed("no exp"))
        );
        assert_eq!(
            check(h(), with("exp", json!(now as f64 + 0.5)), now),
            Ok(())
        );
        assert_eq!(
            check(h(), with("nbf", json!(now + 31)), now),
            Err(AssertionError::NotYetValid("nbf"))
        );
        assert_eq!(
            check(h(), with("iat", json!(now + 31)), now),
            Err(AssertionError::NotYetValid("iat"))
        );
        assert_eq!(check(h(), without("jti"), now), Err(AssertionError::Jti));
        assert_eq!(
            check(h(), with("jti", json!("")), now),
            Err(AssertionError::Jti)
        );
        assert_eq!(
            check(h(), with("jti", json!("j".repeat(257))), now),
            Err(AssertionError::Jti)
        );
    }

    #[test]
    fn structural_failures() {
        let c = claims(1);
        assert_eq!(
            check(json!({"alg":"ES256","crit":["exp"]}), c.clone(), 1),
            Err(AssertionError::Crit)
        );
        assert!(matches!(
            Assertion::parse("a.b"),
            Err(AssertionError::Malformed(_))
        ));
        assert!(matches!(
            Assertion::parse("a.b.c.d"),
            Err(AssertionError::Malformed(_))
        ));
        assert!(matches!(
            Assertion::parse("!.!.!"),
            Err(AssertionError::Malformed(_))
        ));
        let mut no_iss = c.clone();
        no_iss.as_object_mut().unwrap().remove("iss");
        assert_eq!(
            check(json!({"alg":"ES256"}), no_iss, 1),
            Err(AssertionError::Subject("has no iss"))
        );
        let long = format!("{}.{}.{}", "a".repeat(MAX_ASSERTION_LEN), "b", "c");
        assert_eq!(
            Assertion::parse(&long).unwrap_err(),
            AssertionError::TooLong
        );
        let typed = jws(json!({"alg":"ES256"}), json!({"iss":"c1","exp":"soon"}));
        assert!(matches!(
            Assertion::parse(&typed),
            Err(AssertionError::Malformed(_))
        ));
    }

    fn key(kid: &str, alg: &str) -> ClientKey {
        ClientKey {
            kid: kid.into(),
            alg: alg.into(),
            kty: "EC".into(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            created_at: 0,
        }
    }

    #[test]
    fn candidates_follow_kid_and_the_registered_alg() {
        let keys = [key("a", "ES256"), key("b", "RS256"), key("c", "EdDSA")];
        let parse = |h: serde_json::Value| Assertion::parse(&jws(h, claims(1))).unwrap();
        let kids = |r: Result<Vec<&ClientKey>, AssertionError>| {
            r.map(|v| v.iter().map(|k| k.kid.clone()).collect::<Vec<_>>())
        };
        assert_eq!(
            kids(parse(json!({"alg":"ES256","kid":"a"})).candidates(&keys)),
            Ok(vec!["a".into()])
        );
        assert_eq!(
            kids(parse(json!({"alg":"RS256"})).candidates(&keys)),
            Ok(vec!["b".into()])
        );
        assert_eq!(
            kids(parse(json!({"alg":"Ed25519"})).candidates(&keys)),
            Ok(vec!["c".into()])
        );
        assert_eq!(
            kids(parse(json!({"alg":"ES256","kid":"z"})).candidates(&keys)),
            Err(AssertionError::UnknownKid)
        );
        for alg in ["none", "HS256", "PS256", "RS256"] {
            assert_eq!(
                kids(parse(json!({"alg":alg,"kid":"a"})).candidates(&keys)),
                Err(AssertionError::Algorithm(alg.into())),
                "{alg}"
            );
        }
    }

    #[test]
    fn replay_keys_bind_client_and_jti() {
        assert_ne!(replay_key("a", "b\0c"), replay_key("a\0b", "c"));
        assert_eq!(replay_key("a", "b"), replay_key("a", "b"));
        assert_eq!(replay_key("a", "b").len(), 43);
    }

    #[test]
    fn replay_cache_remembers_until_expiry_and_stays_bounded() {
        let cache = ReplayCache::new(2);
        cache.remember("a", 100, 10);
        assert!(cache.seen("a", 99));
        assert!(!cache.seen("a", 100));
        cache.remember("b", 200, 10);
        cache.remember("c", 300, 10);
        assert_eq!(cache.len(), 2);
        assert!(!cache.seen("a", 50), "the soonest to expire goes first");
        assert!(cache.seen("b", 50) && cache.seen("c", 50));
        cache.remember("d", 400, 250);
        assert!(!cache.seen("b", 250) && cache.seen("d", 250));
    }
}
