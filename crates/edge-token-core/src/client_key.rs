//! The public keys of `private_key_jwt` clients
//! ([RFC 7523 §2.2](https://www.rfc-editor.org/rfc/rfc7523#section-2.2)):
//! what the admin CLI accepts from a JWK or JWK Set, and what a client
//! record stores.
//!
//! Only public keys are ever stored: a JWK with any private member (`d`,
//! `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) is refused, as is a symmetric
//! (`oct`) key. Each key carries its algorithm; an assertion is checked
//! with the algorithm of the registered key, never the one its header
//! names (RFC 8725 §3.1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most keys one client holds at once (current, next, and one being retired).
pub const MAX_CLIENT_KEYS: usize = 3;
/// Smallest RSA modulus accepted, bits (RFC 7518 §3.3, RFC 9700 §2.4).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, bits (bounds the cost of one check).
pub const MAX_RSA_BITS: usize = 4096;
/// Longest client key id.
pub const MAX_CLIENT_KID_LEN: usize = 128;

/// JWK members that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The algorithm a client key signs its assertions with. HMAC and `none`
/// do not exist here: a public key can never verify them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKeyAlg {
    /// ECDSA on P-256 with SHA-256, 64-byte `r || s`.
    ES256,
    /// EdDSA on Ed25519 (RFC 8037).
    EdDSA,
    /// Ed25519 by its fully specified name (RFC 9864): the same computation.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, 32-byte salt (RFC 7518 §3.5).
    PS256,
}

impl ClientKeyAlg {
    /// Every algorithm, as listed in the server metadata.
    pub const ALL: [ClientKeyAlg; 5] = [
        ClientKeyAlg::ES256,
        ClientKeyAlg::EdDSA,
        ClientKeyAlg::Ed25519,
        ClientKeyAlg::RS256,
        ClientKeyAlg::PS256,
    ];

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            ClientKeyAlg::ES256 => "ES256",
            ClientKeyAlg::EdDSA => "EdDSA",
            ClientKeyAlg::Ed25519 => "Ed25519",
            ClientKeyAlg::RS256 => "RS256",
            ClientKeyAlg::PS256 => "PS256",
        }
    }

    /// The algorithm with this exact JOSE name.
    pub fn from_name(name: &str) -> Option<Self> {
        ClientKeyAlg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether an assertion whose header names `header` may be checked with
    /// a key of this algorithm: the same name, or `EdDSA`/`Ed25519` on an
    /// Ed25519 key (one computation under two names).
    pub fn accepts(self, header: &str) -> bool {
        match self {
            ClientKeyAlg::EdDSA | ClientKeyAlg::Ed25519 => header == "EdDSA" || header == "Ed25519",
            other => header == other.name(),
        }
    }

    /// The JWK key type the algorithm needs.
    pub fn kty(self) -> &'static str {
        match self {
            ClientKeyAlg::ES256 => "EC",
            ClientKeyAlg::EdDSA | ClientKeyAlg::Ed25519 => "OKP",
            ClientKeyAlg::RS256 | ClientKeyAlg::PS256 => "RSA",
        }
    }
}

impl std::fmt::Display for ClientKeyAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One registered public key of a client, as stored in its record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKey {
    /// Key id: the JWK's `kid`, or its RFC 7638 thumbprint when it had none.
    pub kid: String,
    /// `ES256`, `EdDSA`, `Ed25519`, `RS256` or `PS256`.
    pub alg: String,
    /// `EC`, `OKP` or `RSA`.
    pub kty: String,
    /// `P-256` (EC) or `Ed25519` (OKP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or OKP public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url (big-endian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url (big-endian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Unix seconds when it was registered.
    #[serde(default)]
    pub created_at: u64,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Whether `kid` may name a client key: 1 to [`MAX_CLIENT_KID_LEN`] visible
/// ASCII characters other than `"` and `\`.
pub fn is_client_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_CLIENT_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

fn b64(what: &str, value: Option<&str>) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("the key has no \"{what}\""))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("\"{what}\" is not unpadded base64url"))
}

fn fixed32(what: &str, value: Option<&str>) -> Result<[u8; 32], String> {
    <[u8; 32]>::try_from(b64(what, value)?).map_err(|_| format!("\"{what}\" must be 32 bytes"))
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_len(bytes: &[u8]) -> usize {
    let Some(first) = bytes.iter().position(|b| *b != 0) else {
        return 0;
    };
    let lead = bytes.get(first).copied().unwrap_or(0);
    (bytes.len() - first - 1) * 8 + (8 - lead.leading_zeros() as usize)
}

impl ClientKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Result<ClientKeyAlg, String> {
        ClientKeyAlg::from_name(&self.alg).ok_or_else(|| {
            format!(
                "key {:?}: unsupported alg {:?} (ES256, EdDSA, Ed25519, RS256 or PS256)",
                self.kid,
                self.alg.chars().take(16).collect::<String>()
            )
        })
    }

    /// Reads one public JWK (RFC 7517 §4). `alg` is the JWK's own `alg`
    /// or, when it has none, `default_alg` (if it is for this key type);
    /// otherwise EC keys are
    /// ES256 and OKP keys EdDSA, and an RSA key must be told (RS256 or
    /// PS256). A key without `kid` gets its RFC 7638 thumbprint.
    pub fn from_jwk(
        jwk: &serde_json::Value,
        default_alg: Option<ClientKeyAlg>,
        now: u64,
    ) -> Result<ClientKey, String> {
        let obj = jwk
            .as_object()
            .ok_or_else(|| "a JWK must be a JSON object".to_owned())?;
        let text = |name: &str| -> Result<Option<String>, String> {
            match obj.get(name) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("\"{name}\" must be a string")),
            }
        };
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(format!(
                "this JWK has the private member \"{private}\": give only the public key \
                 (the private key stays with the client; it was not stored)"
            ));
        }
        let kty = text("kty")?.ok_or_else(|| "the JWK has no \"kty\"".to_owned())?;
        if kty == "oct" {
            return Err("symmetric (oct) keys cannot authenticate a client".to_owned());
        }
        if let Some(usage) = text("use")? {
            if usage != "sig" {
                return Err(format!(
                    "the JWK's \"use\" is {usage:?}; it must be \"sig\""
                ));
            }
        }
        if let Some(ops) = obj.get("key_ops") {
            let verifies = ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|o| o == "verify"));
            if !verifies {
                return Err("the JWK's \"key_ops\" does not include \"verify\"".to_owned());
            }
        }
        let crv = text("crv")?;
        let alg = match text("alg")? {
            Some(name) => ClientKeyAlg::from_name(&name).ok_or_else(|| {
                format!(
                    "unsupported alg {:?} (ES256, EdDSA, Ed25519, RS256 or PS256)",
                    name.chars().take(16).collect::<String>()
                )
            })?,
            None => match (kty.as_str(), default_alg) {
                // A default for another key type (an RSA `--alg` given for
                // a set that also holds EC keys) does not apply.
                (kty, Some(alg)) if alg.kty() == kty => alg,
                ("EC", _) => ClientKeyAlg::ES256,
                ("OKP", _) => ClientKeyAlg::EdDSA,
                ("RSA", _) => {
                    return Err(
                        "this RSA key has no \"alg\": say which it signs with (RS256 or PS256)"
                            .to_owned(),
                    )
                }
                (other, _) => {
                    return Err(format!(
                        "unsupported key type {:?} (EC, OKP or RSA)",
                        other.chars().take(16).collect::<String>()
                    ))
                }
            },
        };
        let mut key = ClientKey {
            kid: String::new(),
            alg: alg.name().to_owned(),
            kty,
            crv,
            x: text("x")?,
            y: text("y")?,
            n: text("n")?,
            e: text("e")?,
            created_at: now,
        };
        key.check_material(alg)?;
        key.kid = match text("kid")? {
            Some(kid) => kid,
            None => key.thumbprint(),
        };
        key.validate()?;
        Ok(key)
    }

    /// Reads a file holding one public JWK or a JWK Set (`{"keys": [...]}`).
    pub fn parse_jwk_or_set(
        text: &str,
        default_alg: Option<ClientKeyAlg>,
        now: u64,
    ) -> Result<Vec<ClientKey>, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| "not a JSON JWK or JWK Set".to_owned())?;
        let keys = match value.get("keys") {
            Some(serde_json::Value::Array(keys)) => keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    ClientKey::from_jwk(k, default_alg, now).map_err(|e| format!("key {i}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err("\"keys\" must be an array of JWKs".to_owned()),
            None => vec![ClientKey::from_jwk(&value, default_alg, now)?],
        };
        if keys.is_empty() {
            return Err("the JWK Set has no keys".to_owned());
        }
        Ok(keys)
    }

    /// The members the algorithm needs are there, well formed, and no others.
    fn check_material(&self, alg: ClientKeyAlg) -> Result<(), String> {
        if self.kty != alg.kty() {
            return Err(format!(
                "an {alg} key must have \"kty\": \"{}\", not {:?}",
                alg.kty(),
                self.kty.chars().take(16).collect::<String>()
            ));
        }
        let refuse = |name: &str, v: &Option<String>| match v {
            Some(_) => Err(format!("an {} key must not have \"{name}\"", self.kty)),
            None => Ok(()),
        };
        match alg {
            ClientKeyAlg::ES256 => {
                if self.crv.as_deref() != Some("P-256") {
                    return Err("an ES256 key must have \"crv\": \"P-256\"".to_owned());
                }
                refuse("n", &self.n)?;
                refuse("e", &self.e)?;
                let x = fixed32("x", self.x.as_deref())?;
                let y = fixed32("y", self.y.as_deref())?;
                // Without rust-crypto (the Worker) Web Crypto checks the
                // point when it imports the key.
                #[cfg(feature = "rust-crypto")]
                {
                    let mut sec1 = [4u8; 65];
                    if let Some(dst) = sec1.get_mut(1..33) {
                        dst.copy_from_slice(&x);
                    }
                    if let Some(dst) = sec1.get_mut(33..) {
                        dst.copy_from_slice(&y);
                    }
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                        .map_err(|_| "(x, y) is not a point on P-256".to_owned())?;
                }
                #[cfg(not(feature = "rust-crypto"))]
                let _ = (x, y);
            }
            ClientKeyAlg::EdDSA | ClientKeyAlg::Ed25519 => {
                if self.crv.as_deref() != Some("Ed25519") {
                    return Err(format!("an {alg} key must have \"crv\": \"Ed25519\""));
                }
                refuse("y", &self.y)?;
                refuse("n", &self.n)?;
                refuse("e", &self.e)?;
                let x = fixed32("x", self.x.as_deref())?;
                #[cfg(feature = "rust-crypto")]
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| "\"x\" is not an Ed25519 public key".to_owned())?;
                #[cfg(not(feature = "rust-crypto"))]
                let _ = x;
            }
            ClientKeyAlg::RS256 | ClientKeyAlg::PS256 => {
                refuse("crv", &self.crv)?;
                refuse("x", &self.x)?;
                refuse("y", &self.y)?;
                let n = b64("n", self.n.as_deref())?;
                let e = b64("e", self.e.as_deref())?;
                let bits = bit_len(&n);
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(format!(
                        "the RSA modulus has {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
                    ));
                }
                if n.last().is_none_or(|b| b % 2 == 0) {
                    return Err("the RSA modulus is even".to_owned());
                }
                let e_bits = bit_len(&e);
                if !(2..=33).contains(&e_bits) || e.last().is_none_or(|b| b % 2 == 0) {
                    return Err(
                        "the RSA public exponent must be odd, at least 3 and below 2^33".to_owned(),
                    );
                }
            }
        }
        Ok(())
    }

    /// The rules every stored key obeys (checked on write by the CLI and on
    /// read by the Worker).
    pub fn validate(&self) -> Result<(), String> {
        if !is_client_kid(&self.kid) {
            return Err(format!(
                "key id {:?} must be 1-{MAX_CLIENT_KID_LEN} visible ASCII characters without '\"' or '\\'",
                self.kid.chars().take(MAX_CLIENT_KID_LEN).collect::<String>()
            ));
        }
        let alg = self.algorithm()?;
        self.check_material(alg)
            .map_err(|e| format!("key {:?}: {e}", self.kid))
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
    pub fn thumbprint(&self) -> String {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        // The required members in lexicographic order, no whitespace.
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                s(&self.crv),
                s(&self.x),
                s(&self.y)
            ),
            "OKP" => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                s(&self.crv),
                s(&self.x)
            ),
            _ => format!(
                r#"{{"e":"{}","kty":"{}","n":"{}"}}"#,
                s(&self.e),
                self.kty,
                s(&self.n)
            ),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The public JWK without `kid`/`alg` (what Web Crypto's `importKey` takes).
    pub fn public_jwk(&self) -> String {
        let mut jwk = serde_json::Map::new();
        jwk.insert("kty".into(), self.kty.clone().into());
        for (name, value) in [
            ("crv", &self.crv),
            ("x", &self.x),
            ("y", &self.y),
            ("n", &self.n),
            ("e", &self.e),
        ] {
            if let Some(v) = value {
                jwk.insert(name.into(), v.clone().into());
            }
        }
        serde_json::Value::Object(jwk).to_string()
    }

    /// The modulus size of an RSA key in bits, or the curve's for the others.
    pub fn bits(&self) -> usize {
        match self.kty.as_str() {
            "RSA" => self
                .n
                .as_deref()
                .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
                .map_or(0, |n| bit_len(&n)),
            _ => 256,
        }
    }
}

/// Checks a client's list of keys: at most [`MAX_CLIENT_KEYS`], distinct
/// kids, each valid.
pub fn check_client_keys(keys: &[ClientKey]) -> Result<(), String> {
    if keys.len() > MAX_CLIENT_KEYS {
        return Err(format!(
            "a client holds at most {MAX_CLIENT_KEYS} keys ({} given): remove one first",
            keys.len()
        ));
    }
    for (i, key) in keys.iter().enumerate() {
        key.validate()?;
        if keys.iter().take(i).any(|k| k.kid == key.kid) {
            return Err(format!("two keys have the kid {:?}", key.kid));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ES_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const ES_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn ec_and_okp_keys_get_their_default_algs_and_a_thumbprint_kid() {
        let ec = ClientKey::from_jwk(
            &json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y}),
            None,
            5,
        )
        .unwrap();
        assert_eq!(ec.alg, "ES256");
        assert_eq!(ec.kid, ec.thumbprint());
        assert_eq!(ec.created_at, 5);
        let ed = ClientKey::from_jwk(
            &json!({"kty":"OKP","crv":"Ed25519","x":ED_X,"kid":"c1"}),
            None,
            0,
        )
        .unwrap();
        assert_eq!((ed.alg.as_str(), ed.kid.as_str()), ("EdDSA", "c1"));
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let key = ClientKey::from_jwk(
            &json!({
                "kty": "RSA",
                "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
                "e": "AQAB",
                "alg": "RS256",
            }),
            None,
            0,
        )
        .unwrap();
        assert_eq!(key.kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(key.bits(), 2048);
    }

    #[test]
    fn private_and_symmetric_keys_are_refused_without_echoing_them() {
        for jwk in [
            json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"d":"c2VjcmV0LWQ"}),
            json!({"kty":"RSA","n":"AQAB","e":"AQAB","p":"c2VjcmV0LWQ"}),
            json!({"kty":"oct","k":"c2VjcmV0LWQ"}),
        ] {
            let e = ClientKey::from_jwk(&jwk, None, 0).unwrap_err();
            assert!(!e.contains("c2VjcmV0LWQ"), "{e}");
            assert!(e.contains("private") || e.contains("symmetric"), "{e}");
        }
        let e = ClientKey::from_jwk(&json!({"kty":"oct"}), None, 0).unwrap_err();
        assert!(e.contains("symmetric"), "{e}");
    }

    #[test]
    fn shapes_are_checked() {
        let bad = [
            (json!({"kty":"EC","crv":"P-384","x":ES_X,"y":ES_Y}), "P-256"),
            (json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ED_X}), "point"),
            (json!({"kty":"OKP","crv":"Ed25519","x":"AAAA"}), "32 bytes"),
            (
                json!({"kty":"RSA","n":"AQAB","e":"AQAB","alg":"RS256"}),
                "bits",
            ),
            (json!({"kty":"RSA","n":"AQAB","e":"AQAB"}), "RS256 or PS256"),
            (
                json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"alg":"HS256"}),
                "unsupported alg",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"alg":"none"}),
                "unsupported alg",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"alg":"RS256"}),
                "kty",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"use":"enc"}),
                "use",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"key_ops":["sign"]}),
                "key_ops",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"kid":"a\"b"}),
                "key id",
            ),
            (json!([1]), "object"),
        ];
        for (jwk, want) in bad {
            let e = ClientKey::from_jwk(&jwk, None, 0).unwrap_err();
            assert!(e.contains(want), "{jwk}: {e}");
        }
    }

    #[test]
    fn rsa_sizes_and_exponents() {
        let modulus = |bits: usize| {
            let mut n = vec![0xffu8; bits / 8];
            n[0] = 0xc1;
            URL_SAFE_NO_PAD.encode(n)
        };
        let rsa = |n: String, e: &str| json!({"kty":"RSA","n":n,"e":e,"alg":"PS256"});
        assert!(ClientKey::from_jwk(&rsa(modulus(2048), "AQAB"), None, 0).is_ok());
        assert!(ClientKey::from_jwk(&rsa(modulus(4096), "AQAB"), None, 0).is_ok());
        assert!(ClientKey::from_jwk(&rsa(modulus(2040), "AQAB"), None, 0).is_err());
        assert!(ClientKey::from_jwk(&rsa(modulus(4104), "AQAB"), None, 0).is_err());
        assert!(ClientKey::from_jwk(&rsa(modulus(2048), "AQ"), None, 0).is_err());
        assert!(ClientKey::from_jwk(&rsa(modulus(2048), "AQAA"), None, 0).is_err());
        let rs = ClientKey::from_jwk(
            &json!({"kty":"RSA","n":modulus(2048),"e":"AQAB"}),
            Some(ClientKeyAlg::RS256),
            0,
        )
        .unwrap();
        assert_eq!(rs.alg, "RS256");
        // An RSA default does not apply to the EC key of the same set.
        let set = json!({"keys":[
            {"kty":"RSA","n":modulus(2048),"e":"AQAB","kid":"r"},
            {"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"kid":"e"},
        ]});
        let keys =
            ClientKey::parse_jwk_or_set(&set.to_string(), Some(ClientKeyAlg::PS256), 0).unwrap();
        assert_eq!(
            (keys[0].alg.as_str(), keys[1].alg.as_str()),
            ("PS256", "ES256")
        );
    }

    #[test]
    fn sets_and_lists() {
        let set = json!({"keys":[
            {"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"kid":"a"},
            {"kty":"OKP","crv":"Ed25519","x":ED_X,"kid":"b"},
        ]});
        let keys = ClientKey::parse_jwk_or_set(&set.to_string(), None, 0).unwrap();
        assert_eq!(keys.len(), 2);
        check_client_keys(&keys).unwrap();
        let mut dup = keys.clone();
        dup[1].kid = "a".into();
        assert!(check_client_keys(&dup).unwrap_err().contains("two keys"));
        let four = vec![keys[0].clone(); 4];
        assert!(check_client_keys(&four).unwrap_err().contains("at most"));
        assert!(ClientKey::parse_jwk_or_set(r#"{"keys":[]}"#, None, 0).is_err());
        assert!(ClientKey::parse_jwk_or_set("nope", None, 0).is_err());
    }

    #[test]
    fn accepts_by_registered_alg_only() {
        assert!(ClientKeyAlg::EdDSA.accepts("Ed25519"));
        assert!(ClientKeyAlg::Ed25519.accepts("EdDSA"));
        assert!(ClientKeyAlg::RS256.accepts("RS256"));
        assert!(!ClientKeyAlg::RS256.accepts("PS256"));
        for header in ["none", "HS256", "ES256"] {
            assert!(!ClientKeyAlg::RS256.accepts(header));
        }
    }

    #[test]
    fn public_jwk_has_only_public_members() {
        let k = ClientKey::from_jwk(
            &json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y,"kid":"a"}),
            None,
            0,
        )
        .unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&k.public_jwk()).unwrap();
        assert_eq!(jwk, json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y}));
    }
}
