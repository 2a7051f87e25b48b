//! ES256 and EdDSA signatures from Web Crypto: workerd's native ECDSA P-256
//! and Ed25519 (BoringSSL), much cheaper per token than the same arithmetic
//! in wasm (figures in BENCHMARKS.md). The private key is imported when the
//! isolate starts (`prepare` in entry.rs; else on its first asymmetric
//! signature) and kept, never imported per request.
//!
//! Client assertions (`private_key_jwt`) are checked here too: ES256,
//! Ed25519, RS256 and PS256 by Web Crypto's `verify`, each client key
//! imported once per isolate.

use std::cell::RefCell;

use worker::js_sys::{self, Promise, Uint8Array};
use worker::wasm_bindgen::{self, prelude::*};
use worker::wasm_bindgen_futures::JsFuture;

use edge_token_core::assertion::CheckSignature;
use edge_token_core::client_key::{ClientKey, ClientKeyAlg};
use edge_token_core::signing::{AsymmetricKey, Sign};
use edge_token_core::token::Algorithm;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &JsValue,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = sign, catch)]
    fn subtle_sign(
        algorithm: &JsValue,
        key: &JsValue,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

/// An imported key and the `sign()` parameters of its algorithm.
struct Imported {
    kid: String,
    key: JsValue,
    params: JsValue,
}

thread_local! {
    /// The signer's `CryptoKey`, imported once per isolate (the keys change
    /// only with a new deployment, which starts new isolates).
    static IMPORTED: RefCell<Option<std::rc::Rc<Imported>>> = const { RefCell::new(None) };
}

/// The Web Crypto [`Sign`] of the Worker.
pub struct WebCryptoSigner;

/// A JS error as a log message (Web Crypto's messages name the problem,
/// never the key).
fn message(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}

fn json(text: &str) -> Result<JsValue, String> {
    js_sys::JSON::parse(text).map_err(message)
}

async fn import(key: &AsymmetricKey) -> Result<std::rc::Rc<Imported>, String> {
    let (import_params, sign_params) = match key.alg() {
        Algorithm::ES256 => (
            r#"{"name":"ECDSA","namedCurve":"P-256"}"#,
            r#"{"name":"ECDSA","hash":"SHA-256"}"#,
        ),
        _ => (r#"{"name":"Ed25519"}"#, r#"{"name":"Ed25519"}"#),
    };
    let usages = json(r#"["sign"]"#)?;
    let promise = import_key(
        "jwk",
        &json(key.private_jwk())?,
        &json(import_params)?,
        false,
        &usages,
    )
    .map_err(|e| format!("importKey for kid {:?}: {}", key.kid(), message(e)))?;
    let crypto_key = JsFuture::from(promise)
        .await
        .map_err(|e| format!("importKey for kid {:?}: {}", key.kid(), message(e)))?;
    let imported = Imported {
        kid: key.kid().to_owned(),
        key: crypto_key,
        params: json(sign_params)?,
    };
    check_pair(key, &imported, import_params).await?;
    Ok(std::rc::Rc::new(imported))
}

/// `d` must be the private half of the entry's own `x`/`y`, or tokens would
/// be signed that its JWKS cannot verify (natively `SigningKeys::parse`
/// checks this; the Worker's core leaves it to Web Crypto): once per
/// isolate, a probe signed with the imported private key must verify with
/// the public key.
async fn check_pair(
    key: &AsymmetricKey,
    private: &Imported,
    import_params: &str,
) -> Result<(), String> {
    let context = |e: JsValue| format!("key check for kid {:?}: {}", key.kid(), message(e));
    let probe = Uint8Array::from(&b"edge-token: d matches x/y"[..]);
    let signature =
        JsFuture::from(subtle_sign(&private.params, &private.key, &probe).map_err(context)?)
            .await
            .map_err(context)?;
    let public = JsFuture::from(
        import_key(
            "jwk",
            &json(key.public_jwk())?,
            &json(import_params)?,
            false,
            &json(r#"["verify"]"#)?,
        )
        .map_err(context)?,
    )
    .await
    .map_err(context)?;
    let verdict = JsFuture::from(
        subtle_verify(
            &private.params,
            &public,
            &Uint8Array::new(&signature),
            &probe,
        )
        .map_err(context)?,
    )
    .await
    .map_err(context)?;
    if verdict.as_bool() == Some(true) {
        Ok(())
    } else {
        Err(format!(
            "key for kid {:?}: \"d\" is not the private key of its \"x\"/\"y\"",
            key.kid()
        ))
    }
}

/// The signer's imported key: the isolate's, or imported (and checked
/// against its `x`/`y`) now and kept.
async fn imported_signer(key: &AsymmetricKey) -> Result<std::rc::Rc<Imported>, String> {
    let cached = IMPORTED.with(|c| c.borrow().clone());
    match cached {
        Some(i) if i.kid == key.kid() => Ok(i),
        _ => {
            let fresh = import(key).await?;
            IMPORTED.with(|c| *c.borrow_mut() = Some(fresh.clone()));
            Ok(fresh)
        }
    }
}

/// Imports the signing key (and checks `d` against `x`/`y`) ahead of the
/// isolate's first signature: `prepare` calls it at module load. On
/// failure nothing is kept, and the first signature tries again (and its
/// request logs why).
pub async fn import_signer(key: &AsymmetricKey) -> Result<(), String> {
    imported_signer(key).await.map(|_| ())
}

impl Sign for WebCryptoSigner {
    async fn sign(&self, key: &AsymmetricKey, input: &[u8]) -> Result<Vec<u8>, String> {
        let imported = imported_signer(key).await?;
        let data = Uint8Array::from(input);
        let promise = subtle_sign(&imported.params, &imported.key, &data)
            .map_err(|e| format!("sign: {}", message(e)))?;
        let signature = JsFuture::from(promise)
            .await
            .map_err(|e| format!("sign: {}", message(e)))?;
        // Web Crypto's ECDSA signature is already the IEEE P1363 `r || s`
        // form JOSE uses (the core checks its length).
        Ok(Uint8Array::new(&signature).to_vec())
    }
}

/// The Worker's [`Sign`], one per request: once the isolate has imported
/// the signing key (at start-up, `prepare`, or else for its first
/// asymmetric token), a token's signature is
/// left to the JS entry, which calls `crypto.subtle.sign` itself on the
/// answer's way out (see `pack` in entry.rs and `respond` in js/wire.mjs):
/// the core gets 64 zero bytes in its place, the request stays synchronous
/// in wasm, and no Promise, task or closure of wasm-bindgen's is made for
/// it. Before the key is imported, and for a second signature in one
/// request (the core makes one), it signs through [`WebCryptoSigner`].
#[derive(Default)]
pub struct DeferringSigner {
    /// The signing input whose signature was deferred, and the length of
    /// that signature.
    pending: RefCell<Option<(String, usize)>>,
}

impl DeferringSigner {
    /// The signing input of the deferred signature and its length, if any.
    pub fn take_pending(&self) -> Option<(String, usize)> {
        self.pending.borrow_mut().take()
    }
}

impl Sign for DeferringSigner {
    async fn sign(&self, key: &AsymmetricKey, input: &[u8]) -> Result<Vec<u8>, String> {
        let imported = IMPORTED.with(|c| c.borrow().as_ref().is_some_and(|i| i.kid == key.kid()));
        if imported && self.pending.borrow().is_none() {
            if let Ok(text) = std::str::from_utf8(input) {
                *self.pending.borrow_mut() = Some((text.to_owned(), key.signature_len()));
                return Ok(vec![0; key.signature_len()]);
            }
        }
        WebCryptoSigner.sign(key, input).await
    }
}

impl CheckSignature for DeferringSigner {
    async fn check_signature(
        &self,
        key: &ClientKey,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        WebCryptoSigner.check_signature(key, input, signature).await
    }
}

/// The imported signing key and its `sign()` parameters, `[key, params]`,
/// for the JS entry's deferred signatures; `undefined` before the import.
#[wasm_bindgen]
pub fn signing_key() -> JsValue {
    IMPORTED.with(|c| {
        c.borrow().as_ref().map_or(JsValue::UNDEFINED, |i| {
            js_sys::Array::of2(&i.key, &i.params).into()
        })
    })
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify, catch)]
    fn subtle_verify(
        algorithm: &JsValue,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

/// Most client keys whose `CryptoKey` an isolate keeps.
const MAX_CLIENT_KEYS_CACHED: usize = 1024;

thread_local! {
    /// Imported client public keys, by algorithm and public JWK (so a key
    /// re-registered under the same kid is never confused with the old one).
    static CLIENT_KEYS: RefCell<std::collections::HashMap<String, std::rc::Rc<Imported>>> =
        RefCell::new(std::collections::HashMap::new());
}

/// The `importKey` and `verify` parameters of a client key's algorithm.
fn client_params(alg: ClientKeyAlg) -> (&'static str, &'static str) {
    match alg {
        ClientKeyAlg::ES256 => (
            r#"{"name":"ECDSA","namedCurve":"P-256"}"#,
            r#"{"name":"ECDSA","hash":"SHA-256"}"#,
        ),
        ClientKeyAlg::EdDSA | ClientKeyAlg::Ed25519 => {
            (r#"{"name":"Ed25519"}"#, r#"{"name":"Ed25519"}"#)
        }
        ClientKeyAlg::RS256 => (
            r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#,
            r#"{"name":"RSASSA-PKCS1-v1_5"}"#,
        ),
        // RFC 7518 §3.5: the salt is as long as the hash.
        ClientKeyAlg::PS256 => (
            r#"{"name":"RSA-PSS","hash":"SHA-256"}"#,
            r#"{"name":"RSA-PSS","saltLength":32}"#,
        ),
    }
}

async fn import_client_key(
    key: &ClientKey,
    alg: ClientKeyAlg,
    jwk: &str,
) -> Result<std::rc::Rc<Imported>, String> {
    let (import_params, verify_params) = client_params(alg);
    let context = |e: JsValue| format!("importKey for client key {:?}: {}", key.kid, message(e));
    let promise = import_key(
        "jwk",
        &json(jwk)?,
        &json(import_params)?,
        false,
        &json(r#"["verify"]"#)?,
    )
    .map_err(context)?;
    let crypto_key = JsFuture::from(promise).await.map_err(context)?;
    Ok(std::rc::Rc::new(Imported {
        kid: key.kid.clone(),
        key: crypto_key,
        params: json(verify_params)?,
    }))
}

impl CheckSignature for WebCryptoSigner {
    async fn check_signature(
        &self,
        key: &ClientKey,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        let alg = key.algorithm()?;
        let jwk = key.public_jwk();
        let cache_key = format!("{}{jwk}", alg.name());
        let cached = CLIENT_KEYS.with(|c| c.borrow().get(&cache_key).cloned());
        let imported = match cached {
            Some(i) => i,
            None => {
                let fresh = import_client_key(key, alg, &jwk).await?;
                CLIENT_KEYS.with(|c| {
                    let mut c = c.borrow_mut();
                    if c.len() >= MAX_CLIENT_KEYS_CACHED {
                        c.clear();
                    }
                    c.insert(cache_key, fresh.clone());
                });
                fresh
            }
        };
        let promise = subtle_verify(
            &imported.params,
            &imported.key,
            &Uint8Array::from(signature),
            &Uint8Array::from(input),
        )
        .map_err(|e| format!("verify: {}", message(e)))?;
        let verdict = JsFuture::from(promise)
            .await
            .map_err(|e| format!("verify: {}", message(e)))?;
        Ok(verdict.as_bool() == Some(true))
    }
}
