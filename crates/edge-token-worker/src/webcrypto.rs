//! ES256 and EdDSA signatures from Web Crypto: workerd's native ECDSA P-256
//! and Ed25519 (BoringSSL), much cheaper per token than the same arithmetic
//! in wasm (figures in BENCHMARKS.md). The private key is imported on the
//! isolate's first asymmetric signature and kept, never imported per request.

use std::cell::RefCell;

use worker::js_sys::{self, Promise, Uint8Array};
use worker::wasm_bindgen::{self, prelude::*};
use worker::wasm_bindgen_futures::JsFuture;

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
    Ok(std::rc::Rc::new(Imported {
        kid: key.kid().to_owned(),
        key: crypto_key,
        params: json(sign_params)?,
    }))
}

impl Sign for WebCryptoSigner {
    async fn sign(&self, key: &AsymmetricKey, input: &[u8]) -> Result<Vec<u8>, String> {
        let cached = IMPORTED.with(|c| c.borrow().clone());
        let imported = match cached {
            Some(i) if i.kid == key.kid() => i,
            _ => {
                let fresh = import(key).await?;
                IMPORTED.with(|c| *c.borrow_mut() = Some(fresh.clone()));
                fresh
            }
        };
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
