//! Shared pieces of the asymmetric-signing tests (jwks.rs, interop_jwt.rs,
//! rotation.rs): ES256 and Ed25519 key pairs made here at random as
//! `SIGNING_KEYS` entries (rotation.rs makes its keys with the CLI
//! instead), issuers started with them, the JWK Set fetched through the
//! metadata's `jwks_uri`, and JWT pieces checked with the `p256` and
//! `ed25519-dalek` crates directly (not through our verifier).

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_token_core::token::KeySet;

use crate::harness::{HttpResponse, Worker};
use crate::{GRANT, ISSUER};

/// The audience of every token the asymmetric issuers issue (the clients'
/// only `--audience`), and what the third-party verifiers require.
pub const AUDIENCE: &str = "https://api.interop.example";

/// `JWKS_MAX_AGE` of [`es256_issuer`] (not the default 300, so the header
/// shows the var is used).
pub const JWKS_MAX_AGE: &str = "120";

/// A key pair made for a test, as the `SIGNING_KEYS` entry the CLI would
/// write; made here so that a test can also use it public-only (without
/// `d`, an entry the CLI never writes).
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    /// The private entry: `{"kid","alg","kty","crv","x"[,"y"],"d"}`.
    pub entry: serde_json::Value,
    /// `d`, base64url: must never appear in a response or a log.
    pub d: String,
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("random");
    b
}

impl TestKey {
    /// A random P-256 key pair.
    pub fn es256(kid: &str) -> TestKey {
        loop {
            let d = random32();
            // A random 32-byte string is a valid scalar but for ~2^-32 of them.
            let Ok(sk) = p256::ecdsa::SigningKey::from_bytes(&d.into()) else {
                continue;
            };
            let point = sk.verifying_key().to_encoded_point(false);
            let d = URL_SAFE_NO_PAD.encode(d);
            return TestKey {
                kid: kid.to_owned(),
                entry: serde_json::json!({
                    "kid": kid, "alg": "ES256", "kty": "EC", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
                    "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
                    "d": d,
                }),
                d,
            };
        }
    }

    /// A random Ed25519 key pair whose algorithm is named `alg` (`EdDSA` or
    /// `Ed25519`).
    pub fn ed25519(kid: &str, alg: &'static str) -> TestKey {
        let seed = random32();
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        let d = URL_SAFE_NO_PAD.encode(seed);
        TestKey {
            kid: kid.to_owned(),
            entry: serde_json::json!({
                "kid": kid, "alg": alg, "kty": "OKP", "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(sk.verifying_key().as_bytes()),
                "d": d,
            }),
            d,
        }
    }

    /// The entry without `d`: a verify-only (public) key.
    pub fn public_entry(&self) -> serde_json::Value {
        let mut e = self.entry.clone();
        e.as_object_mut().unwrap().remove("d");
        e
    }

    /// What the issuer's JWK Set must list for this key: the public entry
    /// with `use: sig`.
    pub fn expected_jwk(&self) -> serde_json::Value {
        let mut e = self.public_entry();
        e.as_object_mut()
            .unwrap()
            .insert("use".into(), "sig".into());
        e
    }
}

/// `SIGNING_KEYS` from entries, in order (the first signs).
pub fn signing_keys(entries: &[serde_json::Value]) -> String {
    serde_json::Value::Array(entries.to_vec()).to_string()
}

/// An HS256 entry with a random secret; returns (entry, secret as written).
pub fn hs256_entry(kid: &str) -> (serde_json::Value, String) {
    let secret = URL_SAFE_NO_PAD.encode(random32());
    (serde_json::json!({"kid": kid, "key": secret}), secret)
}

/// The vars of every asymmetric issuer: plain HTTP locally, so no HTTPS
/// requirement; the issuer id is [`ISSUER`], as in production behind a
/// proxy (the tests reach it at its local address).
pub fn issuer_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ISSUER", ISSUER),
        ("REQUIRE_HTTPS", "false"),
        ("TOKEN_TTL", "300"),
        ("JWKS_MAX_AGE", JWKS_MAX_AGE),
    ]
}

/// Starts the issuer with raw `SIGNING_KEYS`, on `state` if given (a
/// restart with new keys, as a redeploy is).
pub fn start_issuer(name: &str, keys: &str, state: Option<PathBuf>) -> Worker {
    Worker::start_with_state(name, &issuer_vars(), keys, false, state)
}

/// An issuer with one client that may introspect, tokens for [`AUDIENCE`].
pub struct Issuer {
    pub w: Worker,
    pub id: String,
    pub secret: String,
}

impl Issuer {
    pub fn start(name: &str, keys: &str) -> Issuer {
        let w = start_issuer(name, keys, None);
        let (id, secret) =
            w.create_client(&["--scope", "read", "--introspect", "--audience", AUDIENCE]);
        Issuer { w, id, secret }
    }

    /// A new token (checked to be a 200).
    pub fn token(&self) -> String {
        issue(&self.w, &self.id, &self.secret)
    }
}

/// A token from `w` for the client (id, secret).
pub fn issue(w: &Worker, id: &str, secret: &str) -> String {
    let r = w.token_basic(id, secret, GRANT);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

/// The ES256 issuer: an ES256 signer, an EdDSA key verify-only (public
/// only), an HS256 key verify-only; `JWKS_MAX_AGE` = [`JWKS_MAX_AGE`].
pub struct Es256Issuer {
    pub issuer: Issuer,
    pub es: TestKey,
    pub ed: TestKey,
    pub hs_kid: String,
    pub hs_secret: String,
}

pub fn es256_issuer() -> &'static Es256Issuer {
    static ISSUER_: OnceLock<Es256Issuer> = OnceLock::new();
    ISSUER_.get_or_init(|| {
        let es = TestKey::es256("es-signer");
        let ed = TestKey::ed25519("ed-verify-only", "EdDSA");
        let (hs, hs_secret) = hs256_entry("hs-verify-only");
        let keys = signing_keys(&[es.entry.clone(), ed.public_entry(), hs]);
        Es256Issuer {
            issuer: Issuer::start("jwks-es256", &keys),
            es,
            ed,
            hs_kid: "hs-verify-only".into(),
            hs_secret,
        }
    })
}

/// An issuer whose signer is an Ed25519 key named `alg` (`EdDSA` or
/// `Ed25519`), with an ES256 key verify-only after it (so a JWK Set reader
/// that skips the signer's key still has a key to read).
pub struct EdIssuer {
    pub issuer: Issuer,
    pub ed: TestKey,
    pub es: TestKey,
}

fn ed_issuer(name: &str, alg: &'static str) -> EdIssuer {
    let ed = TestKey::ed25519(&format!("{}-signer", alg.to_ascii_lowercase()), alg);
    let es = TestKey::es256("es-verify-only");
    let keys = signing_keys(&[ed.entry.clone(), es.public_entry()]);
    EdIssuer {
        issuer: Issuer::start(name, &keys),
        ed,
        es,
    }
}

/// The issuer signing with an `EdDSA`-named Ed25519 key.
pub fn eddsa_issuer() -> &'static EdIssuer {
    static ISSUER_: OnceLock<EdIssuer> = OnceLock::new();
    ISSUER_.get_or_init(|| ed_issuer("jwks-eddsa", "EdDSA"))
}

/// The issuer signing with an `Ed25519`-named key (RFC 9864's name).
pub fn ed25519_issuer() -> &'static EdIssuer {
    static ISSUER_: OnceLock<EdIssuer> = OnceLock::new();
    ISSUER_.get_or_init(|| ed_issuer("jwks-ed25519", "Ed25519"))
}

/// A GET (or HEAD) of `path` on a fresh connection.
pub fn request(w: &Worker, method: &str, path: &str) -> HttpResponse {
    w.raw(
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// The `jwks_uri` of `w`'s metadata, checked to be [`ISSUER`] +
/// `/.well-known/jwks.json`, with its origin replaced by the Worker's local
/// address (what DNS and the edge would do for the real issuer).
pub fn jwks_uri(w: &Worker) -> String {
    let r = request(w, "GET", edge_token_core::routes::METADATA);
    assert_eq!(r.status, 200, "{}", r.body);
    let uri = r.json()["jwks_uri"].as_str().expect("jwks_uri").to_owned();
    assert_eq!(uri, format!("{ISSUER}{}", edge_token_core::routes::JWKS));
    uri.replacen(ISSUER, &w.url(""), 1)
}

/// The JWK Set document, fetched over HTTP from [`jwks_uri`].
pub fn fetch_jwks(w: &Worker) -> String {
    let uri = jwks_uri(w);
    let resp = ureq::get(&uri)
        .call()
        .unwrap_or_else(|e| panic!("GET {uri}: {e}"));
    assert_eq!(resp.status(), 200);
    resp.into_string().expect("JWKS body")
}

/// A compact JWS split and decoded.
pub struct Parts {
    pub header: serde_json::Value,
    pub claims: serde_json::Value,
    /// `header.claims` as signed.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

pub fn split(token: &str) -> Parts {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "token {token} is not three segments");
    let decode = |s: &str| -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).expect("base64url")).expect("json")
    };
    Parts {
        header: decode(parts[0]),
        claims: decode(parts[1]),
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("signature base64url"),
    }
}

/// The JWKS member with this kid.
pub fn jwk<'a>(jwks: &'a serde_json::Value, kid: &str) -> &'a serde_json::Value {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no key {kid} in {jwks}"))
}

fn b64_32(jwk: &serde_json::Value, name: &str) -> [u8; 32] {
    let raw = URL_SAFE_NO_PAD
        .decode(
            jwk[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} in {jwk}")),
        )
        .expect("base64url");
    raw.try_into().expect("32 bytes")
}

/// Checks an ES256 token against the JWK Set with the `p256` crate alone:
/// the signature is the 64-byte `r || s` (RFC 7518 §3.4) and verifies with
/// the published x/y. Its DER re-encoding, the form Web Crypto and JOSE do
/// not use, is refused by our own verifier, which accepts the original.
pub fn assert_es256_signature(jwks_json: &str, token: &str) {
    use p256::ecdsa::signature::Verifier;
    let jwks: serde_json::Value = serde_json::from_str(jwks_json).unwrap();
    let parts = split(token);
    assert_eq!(parts.header["alg"], "ES256");
    let key = jwk(&jwks, parts.header["kid"].as_str().expect("kid"));
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"]),
        (&"EC".into(), &"P-256".into(), &"ES256".into())
    );
    assert_eq!(
        parts.signature.len(),
        64,
        "an ES256 signature is 64 bytes r||s (DER would be 70-72)"
    );
    let mut sec1 = vec![4u8];
    sec1.extend_from_slice(&b64_32(key, "x"));
    sec1.extend_from_slice(&b64_32(key, "y"));
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).expect("P-256 point");
    let sig = p256::ecdsa::Signature::from_slice(&parts.signature).expect("r||s");
    vk.verify(parts.signing_input.as_bytes(), &sig)
        .expect("the signature verifies as raw r||s with the JWKS key");

    let keys = KeySet::from_jwks(jwks_json).expect("JWKS");
    edge_token_core::token::verify(&keys, token).expect("our verifier accepts the token");
    let der = sig.to_der();
    let der_token = format!(
        "{}.{}",
        parts.signing_input,
        URL_SAFE_NO_PAD.encode(der.as_bytes())
    );
    assert_eq!(
        edge_token_core::token::verify(&keys, &der_token),
        Err(edge_token_core::token::VerifyError::Signature),
        "a DER-encoded ES256 signature must be refused"
    );
}

/// Checks an EdDSA/Ed25519 token against the JWK Set with
/// `ed25519-dalek` alone, and with our verifier.
pub fn assert_ed25519_signature(jwks_json: &str, token: &str) {
    let jwks: serde_json::Value = serde_json::from_str(jwks_json).unwrap();
    let parts = split(token);
    let key = jwk(&jwks, parts.header["kid"].as_str().expect("kid"));
    assert_eq!(
        (&key["kty"], &key["crv"]),
        (&"OKP".into(), &"Ed25519".into())
    );
    assert_eq!(key["alg"], parts.header["alg"], "header alg is the key's");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&b64_32(key, "x")).expect("Ed25519 key");
    let sig: [u8; 64] = parts
        .signature
        .as_slice()
        .try_into()
        .expect("an Ed25519 signature is 64 bytes");
    vk.verify_strict(
        parts.signing_input.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .expect("the signature verifies with the JWKS key");
    let keys = KeySet::from_jwks(jwks_json).expect("JWKS");
    edge_token_core::token::verify(&keys, token).expect("our verifier accepts the token");
}

/// The token with one signature character changed (still base64url).
pub fn tampered(token: &str) -> String {
    let mut t = token.to_owned().into_bytes();
    let i = t.len() - 5;
    t[i] = if t[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(t).unwrap()
}

/// Introspects `token` with the issuer's own client.
pub fn introspect(i: &Issuer, token: &str) -> serde_json::Value {
    let r = i.w.post(
        edge_token_core::routes::INTROSPECT,
        &[("Authorization", &crate::harness::basic(&i.id, &i.secret))],
        &format!("token={token}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}
