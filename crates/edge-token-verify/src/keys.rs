//! Keys: the algorithms ([`Algorithm`]), one verification key ([`Key`]), the
//! `SIGNING_KEYS` entry format ([`KeyEntry`]), and the set a token is checked
//! against ([`KeySet`]), read from `SIGNING_KEYS` or from a JWK Set
//! ([RFC 7517 §5](https://www.rfc-editor.org/rfc/rfc7517#section-5)).
//!
//! A key carries its algorithm. A token is checked with the algorithm of the
//! key its `kid` names; the header's `alg` must agree with it, and never
//! chooses the computation.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Shortest accepted HMAC key, in decoded bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_KEY_BYTES: usize = 32;
pub use crate::grammar::MAX_KID_LEN;

const BASE64URL_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A JWS algorithm ([RFC 7518](https://www.rfc-editor.org/rfc/rfc7518),
/// [RFC 8037](https://www.rfc-editor.org/rfc/rfc8037),
/// [RFC 9864](https://www.rfc-editor.org/rfc/rfc9864)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256: a shared secret that both signs and verifies.
    HS256,
    /// ECDSA on P-256 with SHA-256; the signature is the 64-byte `r || s`.
    ES256,
    /// EdDSA (RFC 8037), here always on Ed25519: the name most verifiers know.
    EdDSA,
    /// Ed25519 by its fully specified name (RFC 9864); the same computation as
    /// [`Algorithm::EdDSA`] on an Ed25519 key.
    Ed25519,
}

impl Algorithm {
    /// Every algorithm, in the order they are documented.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::HS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
    ];

    /// The JOSE name (`alg` header value).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// The algorithm with this exact (case-sensitive) JOSE name.
    pub fn from_name(name: &str) -> Option<Self> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether the public part may be published (everything but HS256).
    pub fn is_asymmetric(self) -> bool {
        self != Algorithm::HS256
    }

    /// Whether a token whose header names `header` may be checked with a key
    /// of this algorithm: equal names, and `EdDSA`/`Ed25519` on an Ed25519
    /// key are one computation under two names.
    pub fn accepts(self, header: Algorithm) -> bool {
        matches!(
            (self, header),
            (
                Algorithm::EdDSA | Algorithm::Ed25519,
                Algorithm::EdDSA | Algorithm::Ed25519
            )
        ) || self == header
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A configuration problem with a key (`SIGNING_KEYS` or a JWK Set). The
/// message names the problem and the `kid`, never any key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// A key's material. The public keys keep their bytes; with the
/// `rust-crypto` feature (the default) also the prepared verifier, which
/// checks them (without it, [`Key::check`] refuses their signatures: the
/// issuer Worker has Web Crypto check them instead).
#[derive(Clone)]
pub(crate) enum Material {
    Hmac(HmacSha256),
    P256 {
        x: [u8; 32],
        y: [u8; 32],
        #[cfg(feature = "rust-crypto")]
        key: p256::ecdsa::VerifyingKey,
    },
    Ed25519 {
        x: [u8; 32],
        #[cfg(feature = "rust-crypto")]
        key: ed25519_dalek::VerifyingKey,
    },
}

/// An HS256 key with the start of its input absorbed ([`Key::hmac_prefix`]).
/// It holds the key's HMAC state: never printed.
#[derive(Clone)]
pub struct HmacPrefix(HmacSha256);

impl HmacPrefix {
    /// The HMAC of the prefix followed by `rest`: the same as
    /// [`Key::hmac_sign`] of the whole input.
    pub fn sign(&self, rest: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(rest);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for HmacPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacPrefix(<redacted>)")
    }
}

/// One verification key: a `kid`, its algorithm, and an HMAC secret or a
/// public key, prepared once.
#[derive(Clone)]
pub struct Key {
    kid: String,
    alg: Algorithm,
    pub(crate) material: Material,
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    if crate::grammar::is_kid(kid) {
        Ok(())
    } else {
        Err(KeyError(format!(
            "kid {:?} must be 1-{MAX_KID_LEN} characters of A-Z a-z 0-9 - _ .",
            kid.chars().take(MAX_KID_LEN).collect::<String>()
        )))
    }
}

/// Exactly `N` bytes of unpadded base64url (RFC 7518 §6.2.1.2, §6.3.1; RFC 8037 §2).
fn fixed_b64<const N: usize>(kid: &str, name: &str, value: &str) -> Result<[u8; N], KeyError> {
    URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or_else(|| {
            KeyError(format!(
                "key for kid {kid:?}: \"{name}\" must be {N} bytes of unpadded base64url"
            ))
        })
}

impl Key {
    /// An HS256 key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn hmac(kid: &str, secret: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        if secret.len() < MIN_KEY_BYTES {
            return Err(KeyError(format!(
                "key for kid {kid:?} is {} bytes; at least {MIN_KEY_BYTES} are required",
                secret.len()
            )));
        }
        let mac = HmacSha256::new_from_slice(secret)
            .map_err(|_| KeyError(format!("key for kid {kid:?} is unusable")))?;
        Ok(Key {
            kid: kid.to_owned(),
            alg: Algorithm::HS256,
            material: Material::Hmac(mac),
        })
    }

    /// An ES256 key from its P-256 public point (`x`, `y`, 32 bytes each).
    /// (Without `rust-crypto`, the point is checked by whoever verifies.)
    pub fn p256(kid: &str, x: &[u8; 32], y: &[u8; 32]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        #[cfg(feature = "rust-crypto")]
        let key = {
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(4);
            sec1.extend_from_slice(x);
            sec1.extend_from_slice(y);
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| {
                KeyError(format!(
                    "key for kid {kid:?}: (x, y) is not a point on P-256"
                ))
            })?
        };
        Ok(Key {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            material: Material::P256 {
                x: *x,
                y: *y,
                #[cfg(feature = "rust-crypto")]
                key,
            },
        })
    }

    /// An `EdDSA` or `Ed25519` key from its 32-byte public key.
    pub fn ed25519(kid: &str, alg: Algorithm, x: &[u8; 32]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        if !matches!(alg, Algorithm::EdDSA | Algorithm::Ed25519) {
            return Err(KeyError(format!(
                "key for kid {kid:?}: an Ed25519 key signs EdDSA or Ed25519, not {alg}"
            )));
        }
        #[cfg(feature = "rust-crypto")]
        let key = ed25519_dalek::VerifyingKey::from_bytes(x).map_err(|_| {
            KeyError(format!(
                "key for kid {kid:?}: \"x\" is not an Ed25519 public key"
            ))
        })?;
        Ok(Key {
            kid: kid.to_owned(),
            alg,
            material: Material::Ed25519 {
                x: *x,
                #[cfg(feature = "rust-crypto")]
                key,
            },
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs and verifies with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// HS256 only: the HMAC of `input` (an HS256 key both signs and verifies).
    pub fn hmac_sign(&self, input: &[u8]) -> Option<[u8; 32]> {
        match &self.material {
            Material::Hmac(mac) => {
                let mut mac = mac.clone();
                mac.update(input);
                Some(mac.finalize().into_bytes().into())
            }
            _ => None,
        }
    }

    /// HS256 only: this key with `prefix` already absorbed, for the MACs
    /// of many inputs that start with it ([`HmacPrefix::sign`]): the
    /// prefix is hashed once, not once per input.
    pub fn hmac_prefix(&self, prefix: &[u8]) -> Option<HmacPrefix> {
        match &self.material {
            Material::Hmac(mac) => {
                let mut mac = mac.clone();
                mac.update(prefix);
                Some(HmacPrefix(mac))
            }
            _ => None,
        }
    }

    /// The public JWK (RFC 7517 §4, with `kid`, `alg`, `use: sig`), or `None`
    /// for an HS256 key, whose only part is secret.
    pub fn public_jwk(&self) -> Option<serde_json::Value> {
        let mut jwk = match &self.material {
            Material::Hmac(_) => return None,
            Material::P256 { x, y, .. } => {
                serde_json::json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y),
                })
            }
            Material::Ed25519 { x, .. } => serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(x),
            }),
        };
        let obj = jwk.as_object_mut()?;
        obj.insert("kid".into(), self.kid.clone().into());
        obj.insert("alg".into(), self.alg.name().into());
        obj.insert("use".into(), "sig".into());
        Some(jwk)
    }

    /// Whether `signature` over `signed` is this key's. The computation is
    /// the key's own; an ES256 signature must be the 64-byte `r || s` form
    /// (RFC 7518 §3.4), never DER.
    /// Without the `rust-crypto` feature only HS256 signatures are checked
    /// here; an ES256 or EdDSA one is refused.
    pub fn check(&self, signed: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Hmac(mac) => {
                let mut mac = mac.clone();
                mac.update(signed);
                mac.verify_slice(signature).is_ok()
            }
            #[cfg(not(feature = "rust-crypto"))]
            Material::P256 { .. } | Material::Ed25519 { .. } => false,
            #[cfg(feature = "rust-crypto")]
            Material::P256 { key, .. } => {
                use p256::ecdsa::signature::Verifier;
                if signature.len() != 64 {
                    return false;
                }
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify(signed, &sig).is_ok())
            }
            #[cfg(feature = "rust-crypto")]
            Material::Ed25519 { key, .. } => {
                let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
                    return false;
                };
                key.verify_strict(signed, &ed25519_dalek::Signature::from_bytes(&bytes))
                    .is_ok()
            }
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// One `SIGNING_KEYS` entry as written:
///
/// * HS256: `{"kid": "k1", "key": "<base64url secret>"}` (`"alg": "HS256"`
///   optional);
/// * ES256: a private JWK with `kid` and `alg`:
///   `{"kid", "alg": "ES256", "kty": "EC", "crv": "P-256", "x", "y", "d"}`;
/// * EdDSA or Ed25519: `{"kid", "alg": "EdDSA", "kty": "OKP", "crv": "Ed25519", "x", "d"}`.
///
/// An asymmetric entry without `d` is public only: it may verify, never
/// sign. `key` and `d` are secret: `Debug` redacts them. (The admin CLI reads
/// and writes key files with this type; [`KeySet::parse`] and the issuer's
/// signing keys validate them.)
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Key id (`kid` header of the tokens it signs).
    pub kid: String,
    /// Algorithm; absent means HS256 (the original `{"kid", "key"}` form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// HS256: the secret, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// JWK key type: `EC` or `OKP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kty: Option<String>,
    /// JWK curve: `P-256` or `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public key: the x coordinate (EC) or the key itself (OKP), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Public key: the y coordinate (EC only), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Private key (secret), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &redacted(&self.key))
            .field("kty", &self.kty)
            .field("crv", &self.crv)
            .field("x", &self.x)
            .field("y", &self.y)
            .field("d", &redacted(&self.d))
            .finish()
    }
}

impl KeyEntry {
    /// The entry's algorithm: `alg`, or HS256 for the `{"kid", "key"}` form.
    pub fn algorithm(&self) -> Result<Algorithm, KeyError> {
        match self.alg.as_deref() {
            None if self.key.is_some() => Ok(Algorithm::HS256),
            None => Err(KeyError(format!(
                "key for kid {:?} has no \"alg\" (HS256, ES256, EdDSA or Ed25519)",
                self.kid
            ))),
            Some(name) => Algorithm::from_name(name).ok_or_else(|| {
                KeyError(format!(
                    "key for kid {:?} has an unknown \"alg\" {:?} (HS256, ES256, EdDSA or Ed25519)",
                    self.kid,
                    name.chars().take(16).collect::<String>()
                ))
            }),
        }
    }

    /// Whether the entry holds private material (`key` or `d`): it can sign.
    pub fn is_private(&self) -> bool {
        self.key.is_some() || self.d.is_some()
    }

    /// The private scalar / seed `d` (32 bytes), if the entry has one.
    pub fn private_bytes(&self) -> Result<Option<[u8; 32]>, KeyError> {
        self.d
            .as_deref()
            .map(|d| fixed_b64::<32>(&self.kid, "d", d))
            .transpose()
    }

    fn require(&self, name: &str, value: &Option<String>, want: &str) -> Result<(), KeyError> {
        match value.as_deref() {
            Some(v) if v == want => Ok(()),
            _ => Err(KeyError(format!(
                "key for kid {:?} ({}) needs \"{name}\": \"{want}\"",
                self.kid,
                self.alg.as_deref().unwrap_or("HS256")
            ))),
        }
    }

    fn refuse(&self, name: &str, present: bool) -> Result<(), KeyError> {
        if present {
            Err(KeyError(format!(
                "key for kid {:?} ({}) must not have \"{name}\"",
                self.kid,
                self.alg.as_deref().unwrap_or("HS256")
            )))
        } else {
            Ok(())
        }
    }

    /// The verification key this entry describes (its shape checked: the
    /// members its algorithm needs and no others, sizes, the point on its
    /// curve). Whether a private part matches the public one is the
    /// issuer's check, as only the issuer holds private parts.
    pub fn verification_key(&self) -> Result<Key, KeyError> {
        check_kid(&self.kid)?;
        let alg = self.algorithm()?;
        match alg {
            Algorithm::HS256 => {
                for (name, v) in [
                    ("kty", &self.kty),
                    ("crv", &self.crv),
                    ("x", &self.x),
                    ("y", &self.y),
                    ("d", &self.d),
                ] {
                    self.refuse(name, v.is_some())?;
                }
                let Some(secret) = self.key.as_deref() else {
                    return Err(KeyError(format!(
                        "key for kid {:?} (HS256) needs \"key\"",
                        self.kid
                    )));
                };
                let raw = BASE64URL_ANY_PAD.decode(secret.trim()).map_err(|_| {
                    KeyError(format!("key for kid {:?} is not valid base64url", self.kid))
                })?;
                Key::hmac(&self.kid, &raw)
            }
            Algorithm::ES256 => {
                self.refuse("key", self.key.is_some())?;
                self.require("kty", &self.kty, "EC")?;
                self.require("crv", &self.crv, "P-256")?;
                let x = fixed_b64::<32>(&self.kid, "x", self.x.as_deref().unwrap_or(""))?;
                let y = fixed_b64::<32>(&self.kid, "y", self.y.as_deref().unwrap_or(""))?;
                self.private_bytes()?;
                Key::p256(&self.kid, &x, &y)
            }
            Algorithm::EdDSA | Algorithm::Ed25519 => {
                self.refuse("key", self.key.is_some())?;
                self.refuse("y", self.y.is_some())?;
                self.require("kty", &self.kty, "OKP")?;
                self.require("crv", &self.crv, "Ed25519")?;
                let x = fixed_b64::<32>(&self.kid, "x", self.x.as_deref().unwrap_or(""))?;
                self.private_bytes()?;
                Key::ed25519(&self.kid, alg, &x)
            }
        }
    }
}

/// Verification keys, looked up by `kid`. From `SIGNING_KEYS`
/// ([`KeySet::parse`]: the issuer and HS256 APIs) or from the issuer's JWK
/// Set ([`KeySet::from_jwks`]: APIs that hold only public keys).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// Parses `SIGNING_KEYS` (a JSON array of [`KeyEntry`]) into its entries,
/// checking each entry's shape and that no `kid` repeats. Errors never quote
/// the input.
pub fn parse_entries(json: &str) -> Result<Vec<(KeyEntry, Key)>, KeyError> {
    // serde's messages can quote the input; report only the position (or,
    // for an entry that parses as an object, its kid).
    let raw: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|e| {
        KeyError(format!(
            "SIGNING_KEYS is not a JSON array of key objects (error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if raw.is_empty() {
        return Err(KeyError(
            "SIGNING_KEYS is an empty array; at least one key is required".into(),
        ));
    }
    let mut out: Vec<(KeyEntry, Key)> = Vec::with_capacity(raw.len());
    for (i, value) in raw.into_iter().enumerate() {
        let kid = value
            .get("kid")
            .and_then(|k| k.as_str())
            .map(|k| k.chars().take(MAX_KID_LEN).collect::<String>());
        let entry: KeyEntry = serde_json::from_value(value).map_err(|_| {
            KeyError(match &kid {
                Some(kid) => format!(
                    "key for kid {kid:?} is not a key entry (members: kid, alg, key, kty, crv, x, y, d; all strings)"
                ),
                None => format!("SIGNING_KEYS entry {} has no string \"kid\"", i + 1),
            })
        })?;
        let key = entry.verification_key()?;
        if out.iter().any(|(e, _)| e.kid == entry.kid) {
            return Err(KeyError(format!(
                "kid {:?} appears more than once",
                entry.kid
            )));
        }
        out.push((entry, key));
    }
    Ok(out)
}

impl KeySet {
    /// Parses the `SIGNING_KEYS` secret (see [`KeyEntry`]) into its
    /// verification keys. At least one entry; no `kid` twice.
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        Ok(KeySet {
            keys: parse_entries(json)?.into_iter().map(|(_, k)| k).collect(),
        })
    }

    /// Reads a JWK Set (RFC 7517 §5), such as the issuer's
    /// `/.well-known/jwks.json`. Keys this crate cannot use are skipped, not
    /// refused: other key types or curves, `use` other than `sig`, no `kid`,
    /// an `alg` that does not fit the key. Private members (`d`) are ignored.
    /// The set may end up empty (an HS256-only issuer publishes none).
    pub fn from_jwks(json: &str) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<serde_json::Value>,
        }
        let jwks: Jwks = serde_json::from_str(json).map_err(|e| {
            KeyError(format!(
                "not a JWK Set (an object with a \"keys\" array; error at line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let mut keys = Vec::new();
        for jwk in &jwks.keys {
            if let Some(key) = key_from_public_jwk(jwk) {
                keys.push(key);
            }
        }
        Ok(KeySet { keys })
    }

    /// Builds a key set from already-made keys (the first is listed first).
    pub fn from_keys(keys: Vec<Key>) -> Self {
        KeySet { keys }
    }

    /// The first key (in `SIGNING_KEYS`, the one that signs).
    pub fn first(&self) -> Option<&Key> {
        self.keys.first()
    }

    /// The first key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The keys in order.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// All key ids, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public JWK Set of the asymmetric keys, in order (HS256 keys never
    /// appear): what the issuer serves at `/.well-known/jwks.json`.
    pub fn to_jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self.keys.iter().filter_map(Key::public_jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}

/// A usable public key from one JWK Set member, or `None` to skip it.
fn key_from_public_jwk(jwk: &serde_json::Value) -> Option<Key> {
    let s = |name: &str| jwk.get(name).and_then(|v| v.as_str());
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array()?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return None;
        }
    }
    let kid = s("kid")?;
    let alg = match s("alg") {
        Some(name) => Some(Algorithm::from_name(name)?),
        None => None,
    };
    match (s("kty")?, s("crv")?) {
        ("EC", "P-256") => {
            if alg.is_some_and(|a| a != Algorithm::ES256) {
                return None;
            }
            let x = fixed_b64::<32>(kid, "x", s("x")?).ok()?;
            let y = fixed_b64::<32>(kid, "y", s("y")?).ok()?;
            Key::p256(kid, &x, &y).ok()
        }
        ("OKP", "Ed25519") => {
            let alg = alg.unwrap_or(Algorithm::EdDSA);
            let x = fixed_b64::<32>(kid, "x", s("x")?).ok()?;
            Key::ed25519(kid, alg, &x).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_and_eddsa_names_are_one_computation() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("es256"), None);
        assert_eq!(Algorithm::from_name("none"), None);
        assert!(Algorithm::EdDSA.accepts(Algorithm::Ed25519));
        assert!(Algorithm::Ed25519.accepts(Algorithm::EdDSA));
        assert!(!Algorithm::ES256.accepts(Algorithm::HS256));
        assert!(!Algorithm::HS256.accepts(Algorithm::ES256));
        assert!(!Algorithm::HS256.is_asymmetric() && Algorithm::ES256.is_asymmetric());
    }

    #[test]
    fn jwks_members_that_cannot_be_used_are_skipped() {
        // A P-256 public key (RFC 7515 Appendix A.3).
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        let jwks = serde_json::json!({"keys": [
            {"kty":"EC","crv":"P-256","x":x,"y":y,"kid":"ok"},
            {"kty":"EC","crv":"P-256","x":x,"y":y,"kid":"enc","use":"enc"},
            {"kty":"EC","crv":"P-256","x":x,"y":y,"kid":"wrong-alg","alg":"EdDSA"},
            {"kty":"EC","crv":"P-256","x":x,"y":y},
            {"kty":"RSA","n":"AQAB","e":"AQAB","kid":"rsa"},
            {"kty":"EC","crv":"P-256","x":x,"y":x,"kid":"off-curve"},
            {"kty":"EC","crv":"P-256","x":x,"y":y,"kid":"ops","key_ops":["encrypt"]},
        ]});
        let set = KeySet::from_jwks(&jwks.to_string()).unwrap();
        // Without rust-crypto no point is checked against the curve: the
        // off-curve key is kept, and verifies nothing (as no asymmetric key
        // does in that build).
        let usable = if cfg!(feature = "rust-crypto") {
            vec!["ok"]
        } else {
            vec!["ok", "off-curve"]
        };
        assert_eq!(set.kids().collect::<Vec<_>>(), usable);
        assert_eq!(set.find("ok").unwrap().alg(), Algorithm::ES256);
        assert!(KeySet::from_jwks(r#"{"keys":[]}"#).unwrap().is_empty());
        for bad in ["", "[]", r#"{"keys":{}}"#, r#"{"nokeys":[]}"#] {
            assert!(KeySet::from_jwks(bad).is_err(), "{bad}");
        }
    }
}
