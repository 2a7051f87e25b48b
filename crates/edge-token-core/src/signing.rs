//! The issuer's signing keys: `SIGNING_KEYS` parsed once per isolate into
//! the signer (the first entry), the verification [`KeySet`] (every entry)
//! and the JWK Set document (the public part of every asymmetric entry).
//!
//! HS256 is signed here (an HMAC, microseconds). An ES256 or EdDSA
//! signature is the adapter's [`Sign`]: the Worker asks Web Crypto
//! (workerd's native ECDSA and Ed25519, see BENCHMARKS.md), tests and tools
//! use [`RustSigner`]. Either way the private key is prepared once, when the
//! keys are parsed or first used, never per request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::client_key::ClientKey;
use crate::token::{
    append_signature, header_b64, parse_entries, AccessTokenClaims, Algorithm, HmacPrefix, Key,
    KeyEntry, KeyError, KeySet,
};

/// An asymmetric private key, checked against its public part and prepared
/// for signing. `Debug` shows only its `kid` and `alg`.
#[derive(Clone)]
pub struct AsymmetricKey {
    kid: String,
    alg: Algorithm,
    /// `{"kty", "crv", "x", ("y",) "d"}`: the private JWK Web Crypto imports.
    private_jwk: String,
    /// The same without `d`.
    public_jwk: String,
    #[cfg(feature = "rust-crypto")]
    prepared: Prepared,
}

#[cfg(feature = "rust-crypto")]
#[derive(Clone)]
enum Prepared {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl AsymmetricKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// ES256, EdDSA or Ed25519.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The private key as a JWK (secret: for `crypto.subtle.importKey("jwk", ...)` only).
    pub fn private_jwk(&self) -> &str {
        &self.private_jwk
    }

    /// The public half as a JWK (`{"kty", "crv", "x", ("y")}`): what a
    /// signer that cannot check `d` against it at parse time (Web Crypto)
    /// verifies its first signature with.
    pub fn public_jwk(&self) -> &str {
        &self.public_jwk
    }

    /// The JOSE signature length: 64 bytes for ES256 (`r || s`) and Ed25519.
    pub fn signature_len(&self) -> usize {
        64
    }
}

impl std::fmt::Debug for AsymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsymmetricKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Makes the signature of an asymmetric key over a JWS signing input.
pub trait Sign {
    /// The raw JOSE signature of `input`: for ES256 the 64-byte `r || s`
    /// (RFC 7518 §3.4), for EdDSA the 64-byte Ed25519 signature. An error is
    /// a message for the log (never key material).
    fn sign(
        &self,
        key: &AsymmetricKey,
        input: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, String>>;
}

/// Signs in pure Rust (`p256`, `ed25519-dalek`) with the key prepared at
/// parse time. What native code, tests and tools use; the Worker uses Web
/// Crypto unless built with its `rust-signer` feature.
#[cfg(feature = "rust-crypto")]
#[derive(Debug, Clone, Copy, Default)]
pub struct RustSigner;

#[cfg(feature = "rust-crypto")]
impl RustSigner {
    /// The signature, synchronously.
    pub fn sign_now(key: &AsymmetricKey, input: &[u8]) -> Vec<u8> {
        match &key.prepared {
            Prepared::P256(sk) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = sk.sign(input);
                sig.to_bytes().to_vec()
            }
            Prepared::Ed25519(sk) => {
                use ed25519_dalek::Signer;
                sk.sign(input).to_bytes().to_vec()
            }
        }
    }
}

#[cfg(feature = "rust-crypto")]
impl Sign for RustSigner {
    async fn sign(&self, key: &AsymmetricKey, input: &[u8]) -> Result<Vec<u8>, String> {
        Ok(RustSigner::sign_now(key, input))
    }
}

#[cfg(feature = "rust-crypto")]
impl crate::assertion::CheckSignature for RustSigner {
    async fn check_signature(
        &self,
        key: &crate::client_key::ClientKey,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        crate::assertion::check_signature(key, input, signature)
    }
}

#[derive(Debug, Clone)]
enum SignerKey {
    Hmac(Key),
    Asymmetric(AsymmetricKey),
}

/// The parsed `SIGNING_KEYS`: the first entry signs, every entry verifies,
/// the asymmetric ones are published.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    verify: KeySet,
    /// Every asymmetric entry's public key, in the form a
    /// [`CheckSignature`](crate::assertion::CheckSignature) checks with.
    public: Vec<ClientKey>,
    signer: SignerKey,
    header_b64: String,
    jwks: String,
    starts: TokenStarts,
}

/// Most token starts kept per signer (a client, grant and issuer each: see
/// `TokenStart`); past that, tokens are made whole, as without the cache.
/// The first ones made stay for the isolate's life (a few KB each at most,
/// with the largest extra claims): a caller who fills them costs the others
/// speed only, never a wrong token.
pub const MAX_TOKEN_STARTS: usize = 256;

/// The start of the signing input that one client's tokens for one grant
/// share, made once: `header.` and the base64url of the claims' shared
/// start ([`AccessTokenClaims::to_json_split`]) cut to whole 3-byte groups,
/// and for HS256 the signer's HMAC with those bytes absorbed. A token then
/// costs the encoding and hashing of its last claims only (`exp`, `iat`,
/// `jti`).
struct TokenStart {
    /// How many bytes of the claims' JSON `encoded` holds.
    json_len: usize,
    encoded: String,
    mac: Option<HmacPrefix>,
}

/// The [`TokenStart`]s of one signer, by the claims' shared start (the JSON
/// itself: a start is used only for the very bytes it was made from).
/// Per isolate, like the record cache; a copy of the keys starts empty.
#[derive(Default)]
struct TokenStarts(RefCell<Starts>);

#[derive(Default)]
struct Starts {
    /// Where in `list` the start of each shared start is.
    index: HashMap<String, u64>,
    list: Vec<TokenStart>,
}

impl Starts {
    fn get(&self, shared: &str) -> Option<&TokenStart> {
        let at = *self.index.get(shared)?;
        self.list.get(usize::try_from(at).ok()?)
    }

    /// Keeps `start` for `shared`, unless [`MAX_TOKEN_STARTS`] are kept.
    fn keep(&mut self, shared: &str, start: TokenStart) {
        if self.list.len() < MAX_TOKEN_STARTS {
            self.index.insert(shared.to_owned(), self.list.len() as u64);
            self.list.push(start);
        }
    }

    fn len(&self) -> usize {
        self.list.len()
    }
}

impl Clone for TokenStarts {
    fn clone(&self) -> Self {
        TokenStarts::default()
    }
}

impl std::fmt::Debug for TokenStarts {
    // The HMAC states are the key's: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.try_borrow().map_or(0, |s| s.len());
        write!(f, "TokenStarts({n})")
    }
}

/// One private entry checked and prepared: `d` must be the private half of
/// the entry's own public key, or tokens would be signed that its JWKS
/// cannot verify. Checked here with `rust-crypto`; without it (the Worker)
/// the signer checks its first signature against the public key instead.
fn prepare(entry: &KeyEntry, alg: Algorithm) -> Result<AsymmetricKey, KeyError> {
    let kid = entry.kid.as_str();
    let d = entry
        .private_bytes()?
        .ok_or_else(|| KeyError(format!("key for kid {kid:?} has no private part \"d\"")))?;
    #[cfg(feature = "rust-crypto")]
    let prepared = check_private(entry, alg, &d)?;
    #[cfg(not(feature = "rust-crypto"))]
    let _ = d;
    let public = match alg {
        Algorithm::ES256 => serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": entry.x, "y": entry.y,
        }),
        Algorithm::EdDSA | Algorithm::Ed25519 => serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": entry.x,
        }),
        Algorithm::HS256 => {
            return Err(KeyError(format!(
                "key for kid {kid:?} is HS256, not asymmetric"
            )))
        }
    };
    let mut private = public.clone();
    if let Some(obj) = private.as_object_mut() {
        obj.insert("d".into(), entry.d.clone().into());
    }
    Ok(AsymmetricKey {
        kid: kid.to_owned(),
        alg,
        private_jwk: private.to_string(),
        public_jwk: public.to_string(),
        #[cfg(feature = "rust-crypto")]
        prepared,
    })
}

/// `d` as a signing key, checked to be the private half of `x`/`y`.
#[cfg(feature = "rust-crypto")]
fn check_private(entry: &KeyEntry, alg: Algorithm, d: &[u8; 32]) -> Result<Prepared, KeyError> {
    let kid = entry.kid.as_str();
    let mismatch = || {
        KeyError(format!(
            "key for kid {kid:?}: \"d\" is not the private key of its \"x\"/\"y\""
        ))
    };
    let b64 = |v: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    match alg {
        Algorithm::ES256 => {
            let sk = p256::ecdsa::SigningKey::from_bytes(&(*d).into()).map_err(|_| {
                KeyError(format!(
                    "key for kid {kid:?}: \"d\" is not a P-256 private key"
                ))
            })?;
            let point = sk.verifying_key().to_encoded_point(false);
            let (x, y) = (
                point.x().ok_or_else(mismatch)?,
                point.y().ok_or_else(mismatch)?,
            );
            if Some(b64(x)) != entry.x || Some(b64(y)) != entry.y {
                return Err(mismatch());
            }
            Ok(Prepared::P256(sk))
        }
        Algorithm::EdDSA | Algorithm::Ed25519 => {
            let sk = ed25519_dalek::SigningKey::from_bytes(d);
            if Some(b64(sk.verifying_key().as_bytes())) != entry.x {
                return Err(mismatch());
            }
            Ok(Prepared::Ed25519(sk))
        }
        Algorithm::HS256 => Err(KeyError(format!(
            "key for kid {kid:?} is HS256, not asymmetric"
        ))),
    }
}

impl SigningKeys {
    /// Parses `SIGNING_KEYS` (see [`KeyEntry`]). Errors name the problem and
    /// the `kid`, never key material: an unknown `alg`, a malformed key, a
    /// duplicate `kid`, a public-only first entry (the signer), a private
    /// part that does not match its public part.
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        let entries = parse_entries(json)?;
        let mut signer = None;
        for (i, (entry, key)) in entries.iter().enumerate() {
            let alg = key.alg();
            if i == 0 && !entry.is_private() {
                return Err(KeyError(format!(
                    "key for kid {:?} is public only (no \"d\") and cannot sign: the first entry of SIGNING_KEYS signs",
                    entry.kid
                )));
            }
            let made = if alg.is_asymmetric() && entry.is_private() {
                Some(prepare(entry, alg)?)
            } else {
                None
            };
            match (i, made) {
                (0, Some(k)) => signer = Some(SignerKey::Asymmetric(k)),
                (0, None) => signer = Some(SignerKey::Hmac(key.clone())),
                // Checked (a verify-only private part must match too); its
                // private part is not needed until it is promoted.
                _ => {}
            }
        }
        let signer = signer.ok_or_else(|| KeyError("SIGNING_KEYS has no signing key".into()))?;
        let verify = KeySet::from_keys(entries.into_iter().map(|(_, k)| k).collect());
        let public = verify
            .keys()
            .iter()
            .filter_map(|k| k.public_jwk())
            .map(|jwk| {
                ClientKey::from_jwk(&jwk, None, 0).map_err(|e| {
                    KeyError(format!(
                        "public key {:?}: {e}",
                        jwk.get("kid").and_then(|k| k.as_str()).unwrap_or("?")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (alg, kid) = match &signer {
            SignerKey::Hmac(k) => (k.alg(), k.kid().to_owned()),
            SignerKey::Asymmetric(k) => (k.alg, k.kid.clone()),
        };
        Ok(SigningKeys {
            jwks: verify.to_jwks().to_string(),
            public,
            header_b64: header_b64(alg, &kid),
            verify,
            signer,
            starts: TokenStarts::default(),
        })
    }

    /// Every key, for [`crate::token::verify`] and
    /// [`crate::validation::validate`].
    pub fn verify_keys(&self) -> &KeySet {
        &self.verify
    }

    /// The public key of asymmetric entry `kid`, for checking one of our own
    /// ES256/EdDSA signatures through a
    /// [`CheckSignature`](crate::assertion::CheckSignature); `None` for an
    /// HS256 or unknown `kid`.
    pub fn public_key(&self, kid: &str) -> Option<&ClientKey> {
        self.public.iter().find(|k| k.kid == kid)
    }

    /// The signer's `kid`.
    pub fn signer_kid(&self) -> &str {
        match &self.signer {
            SignerKey::Hmac(k) => k.kid(),
            SignerKey::Asymmetric(k) => &k.kid,
        }
    }

    /// The signer's algorithm.
    pub fn signer_alg(&self) -> Algorithm {
        match &self.signer {
            SignerKey::Hmac(k) => k.alg(),
            SignerKey::Asymmetric(k) => k.alg,
        }
    }

    /// The signer, if asymmetric (what an adapter imports once).
    pub fn asymmetric_signer(&self) -> Option<&AsymmetricKey> {
        match &self.signer {
            SignerKey::Asymmetric(k) => Some(k),
            SignerKey::Hmac(_) => None,
        }
    }

    /// The JWK Set document served at `/.well-known/jwks.json`:
    /// `{"keys": [...]}` with the public part of every asymmetric entry,
    /// signer first; `{"keys":[]}` when all keys are HS256.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// Signs `claims` into a compact JWS with the signer: HMAC here, an
    /// asymmetric key through `sign`. An error (the backend failed, or
    /// returned a signature of the wrong size) is for the log.
    pub async fn mint<G: Sign>(
        &self,
        claims: &AccessTokenClaims,
        sign: &G,
    ) -> Result<String, String> {
        let (json, shared) = claims.to_json_split();
        let (mut token, mac) = self.signing_input(&json, shared);
        match &self.signer {
            SignerKey::Hmac(_) => {
                let mac = mac.ok_or_else(|| "the HS256 signer has no HMAC key".to_owned())?;
                append_signature(&mut token, &mac);
            }
            SignerKey::Asymmetric(key) => {
                let signature = sign.sign(key, token.as_bytes()).await?;
                if signature.len() != key.signature_len() {
                    return Err(format!(
                        "{} signer returned {} bytes, not {}",
                        key.alg,
                        signature.len(),
                        key.signature_len()
                    ));
                }
                append_signature(&mut token, &signature);
            }
        }
        Ok(token)
    }

    /// The JWS signing input `header.payload` of the claims `json` (whose
    /// first `shared` bytes are their shared start), with room for the
    /// signature, and for HS256 its HMAC: from the [`TokenStart`] of that
    /// start, made now if new (and kept, up to [`MAX_TOKEN_STARTS`]).
    fn signing_input(&self, json: &str, shared: usize) -> (String, Option<[u8; 32]>) {
        let key = json.get(..shared).unwrap_or_default();
        // Never borrowed anywhere else while this runs (nothing here
        // awaits); were it, the token would be made whole.
        let Ok(mut starts) = self.starts.0.try_borrow_mut() else {
            return self.continue_start(&self.token_start(key), json);
        };
        if let Some(start) = starts.get(key) {
            return self.continue_start(start, json);
        }
        let start = self.token_start(key);
        let made = self.continue_start(&start, json);
        starts.keep(key, start);
        made
    }

    /// The signing input of the claims `json` from `start`, and its HMAC.
    fn continue_start(&self, start: &TokenStart, json: &str) -> (String, Option<[u8; 32]>) {
        let mut token = String::with_capacity(self.header_b64.len() + json.len() * 4 / 3 + 96);
        token.push_str(&start.encoded);
        // Bytes: a 3-byte group may end inside a character.
        let rest = json.as_bytes().get(start.json_len..).unwrap_or_default();
        URL_SAFE_NO_PAD.encode_string(rest, &mut token);
        let mac = start.mac.as_ref().map(|mac| {
            mac.sign(
                token
                    .as_bytes()
                    .get(start.encoded.len()..)
                    .unwrap_or_default(),
            )
        });
        (token, mac)
    }

    /// The [`TokenStart`] of the claims' shared start `json`.
    fn token_start(&self, json: &str) -> TokenStart {
        // Whole 3-byte groups only: their base64url does not depend on what
        // follows.
        let json_len = json.len() / 3 * 3;
        let mut encoded = String::with_capacity(self.header_b64.len() + 1 + json_len / 3 * 4);
        encoded.push_str(&self.header_b64);
        encoded.push('.');
        URL_SAFE_NO_PAD.encode_string(
            json.as_bytes().get(..json_len).unwrap_or_default(),
            &mut encoded,
        );
        let mac = match &self.signer {
            SignerKey::Hmac(key) => key.hmac_prefix(encoded.as_bytes()),
            SignerKey::Asymmetric(_) => None,
        };
        TokenStart {
            json_len,
            encoded,
            mac,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::verify;
    use std::collections::BTreeMap;

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://issuer.example".into(),
            sub: "etc_a".into(),
            aud: crate::token::Audience::One("https://api.example".into()),
            exp: 2000,
            iat: 1000,
            jti: "j".into(),
            client_id: "etc_a".into(),
            scope: String::new(),
            extra: BTreeMap::new(),
        }
    }

    fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// RFC 7515 Appendix A.3's P-256 key; RFC 8037 Appendix A.1's Ed25519 key.
    const ES: &str = r#"{"kid":"es","alg":"ES256","kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
    const ED: &str = r#"{"kid":"ed","alg":"EdDSA","kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#;
    const HS: &str = r#"{"kid":"hs","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}"#;

    #[test]
    fn each_algorithm_signs_and_verifies_with_its_own_set() {
        for (first, alg) in [
            (ES, Algorithm::ES256),
            (ED, Algorithm::EdDSA),
            (HS, Algorithm::HS256),
        ] {
            let others: Vec<&str> = [ES, ED, HS].into_iter().filter(|k| *k != first).collect();
            let keys = SigningKeys::parse(&format!("[{first},{}]", others.join(","))).unwrap();
            assert_eq!(keys.signer_alg(), alg);
            let token = block_on(keys.mint(&claims(), &RustSigner)).unwrap();
            assert_eq!(verify(keys.verify_keys(), &token).unwrap(), claims());
        }
    }

    #[test]
    fn tokens_from_a_kept_start_are_the_tokens_made_whole() {
        // Shared starts of each length mod 3, non-ASCII ones (a 3-byte group
        // that ends inside a character), extra claims, several clients and
        // grants interleaved: each token is the one its whole signing input
        // gives, when its start is made and when it is kept.
        for first in [HS, ES, ED] {
            let keys = SigningKeys::parse(&format!("[{first}]")).unwrap();
            let mut all = vec![];
            for iss in [
                "https://i.example",
                "https://i.example/a",
                "https://i.example/ab",
                "https://\u{e9}.example/\u{1f600}",
            ] {
                for scope in ["", "read", "read wri"] {
                    let mut c = claims();
                    c.iss = iss.into();
                    c.scope = scope.into();
                    all.push(c.clone());
                    c.extra.insert("tenant".into(), serde_json::json!("\u{fc}"));
                    all.push(c);
                }
            }
            for round in 0..2u64 {
                for (i, c) in all.iter_mut().enumerate() {
                    c.jti = format!("j{round}-{i}");
                    c.iat = 1000 + round * 100 + i as u64;
                    c.exp = c.iat + 300;
                    let token = block_on(keys.mint(c, &RustSigner)).unwrap();
                    let (input, signature) = token.rsplit_once('.').unwrap();
                    assert_eq!(input, crate::token::signing_input(&keys.header_b64, c));
                    if first == HS {
                        let key = keys.verify_keys().find("hs").unwrap();
                        let mac = key.hmac_sign(input.as_bytes()).unwrap();
                        assert_eq!(signature, URL_SAFE_NO_PAD.encode(mac));
                    }
                    assert_eq!(verify(keys.verify_keys(), &token).unwrap(), *c);
                }
            }
            assert_eq!(keys.starts.0.borrow().len(), all.len());
        }
    }

    #[test]
    fn token_starts_are_bounded_per_copy_and_never_printed() {
        let keys = SigningKeys::parse(&format!("[{HS}]")).unwrap();
        for i in 0..MAX_TOKEN_STARTS + 20 {
            let mut c = claims();
            c.sub = format!("etc_{i}");
            c.client_id = c.sub.clone();
            let token = block_on(keys.mint(&c, &RustSigner)).unwrap();
            assert_eq!(verify(keys.verify_keys(), &token).unwrap(), c);
        }
        assert_eq!(keys.starts.0.borrow().len(), MAX_TOKEN_STARTS);
        assert_eq!(keys.clone().starts.0.borrow().len(), 0);
        let shown = format!("{keys:?}");
        assert!(
            shown.contains(&format!("TokenStarts({MAX_TOKEN_STARTS})")),
            "{shown}"
        );
    }

    #[test]
    fn jwks_has_every_asymmetric_key_and_no_secret() {
        let keys = SigningKeys::parse(&format!("[{HS},{ES},{ED}]")).unwrap();
        let jwks: serde_json::Value = serde_json::from_str(keys.jwks_json()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, vec!["es", "ed"]);
        for secret in ["jpsQnnGQ", "nWGxne", "MDEy", "\"d\"", "\"key\""] {
            assert!(!keys.jwks_json().contains(secret), "{secret}");
        }
        let hs_only = SigningKeys::parse(&format!("[{HS}]")).unwrap();
        assert_eq!(hs_only.jwks_json(), r#"{"keys":[]}"#);
    }

    #[test]
    fn bad_entries_are_named_by_kid_without_key_material() {
        let public_es = ES.replace(r#","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI""#, "");
        let wrong_d = ED.replace(
            "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
        );
        let cases = [
            (format!("[{public_es}]"), "public only"),
            (format!("[{HS},{wrong_d}]"), "not the private key"),
            (ES.replace("ES256", "ES512").to_string(), "not a JSON array"),
            (
                format!("[{}]", ES.replace("ES256", "ES512")),
                "unknown \"alg\"",
            ),
            (
                format!("[{}]", ES.replace("P-256", "P-384")),
                "\"crv\": \"P-256\"",
            ),
            (
                format!("[{}]", ED.replace("\"d\":\"nWGxne_9", "\"d\":\"")),
                "\"d\" must be 32 bytes",
            ),
            (format!("[{ES},{ES}]"), "more than once"),
            (
                format!("[{}]", ES.replace("\"kty\"", "\"extra\":1,\"kty\"")),
                "not a key entry",
            ),
            (
                format!("[{}]", ED.replace("\"alg\":\"EdDSA\",", "")),
                "no \"alg\"",
            ),
        ];
        for (json, expected) in cases {
            let err = SigningKeys::parse(&json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
            for secret in ["jpsQnnGQ", "nWGxne", "MDEy", "f83OJ3", "11qYAY"] {
                assert!(!err.contains(secret), "{err} leaks {secret}");
            }
        }
        // A public-only asymmetric entry may verify.
        let keys = SigningKeys::parse(&format!("[{HS},{public_es}]")).unwrap();
        assert!(keys.verify_keys().find("es").is_some());
        assert!(!format!("{:?}", SigningKeys::parse(&format!("[{ES}]")).unwrap()).contains("jpsQ"));
    }
}
