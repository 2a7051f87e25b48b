//! The [`ClientStore`] on Workers KV: client records in `CLIENTS`, the
//! revocation denylist in `REVOCATIONS`.

use edge_token_core::store::{
    kv_write_error, revoked_key, used_assertion_key, ClientStore, StoreError, CLIENTS_BINDING,
    REVOCATIONS_BINDING,
};
use worker::js_sys::{self, Object, Promise, Reflect};
use worker::wasm_bindgen::{self, prelude::*, JsCast};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

#[wasm_bindgen]
extern "C" {
    /// A Workers KV namespace binding: the two calls the issuer makes.
    /// (Declared here rather than through `worker::KvStore`, whose option
    /// objects go through serde-wasm-bindgen, and which looks up five methods
    /// per binding: this is smaller and does less per call.)
    pub(crate) type KvNamespace;
    /// `get(key, { cacheTtl })`: a Promise of the value as text (the default
    /// type), or `null`.
    #[wasm_bindgen(method, catch)]
    fn get(this: &KvNamespace, key: &str, options: &Object) -> Result<Promise, JsValue>;
    /// `put(key, value, { expiration })`: a Promise that settles once written.
    #[wasm_bindgen(method, catch)]
    fn put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &Object,
    ) -> Result<Promise, JsValue>;

    /// A Rate Limiting binding: `limit({ key })`, a Promise of `{ success }`.
    pub(crate) type RateLimit;
    #[wasm_bindgen(method, catch)]
    fn limit(this: &RateLimit, options: &Object) -> Result<Promise, JsValue>;
}

/// `env[name]` when it is an object with a function `method` (a binding of
/// that kind, or a stand-in with that method), else `None`.
pub(crate) fn binding<T: JsCast>(env: &Env, name: &str, method: &str) -> Option<T> {
    let value = Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if !value.is_object() {
        return None;
    }
    let call = Reflect::get(&value, &JsValue::from_str(method)).ok()?;
    call.is_function().then(|| value.unchecked_into())
}

/// A JS exception as text: for an `Error`, its `toString()` (its name and
/// message); for a string, itself; else wasm-bindgen's description of the
/// value.
pub(crate) fn error_text(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.to_string()),
        None => e.as_string().unwrap_or_else(|| format!("{e:?}")),
    }
}

/// The options object of one binding call: `{ name: value }`, or `{}`.
fn options(name: &str, value: Option<JsValue>) -> Object {
    let object = Object::new();
    if let Some(value) = value {
        // A set on a fresh plain object does not throw.
        let _ = Reflect::set(&object, &JsValue::from_str(name), &value);
    }
    object
}

/// `seconds` as a JS number (KV's `cacheTtl` and `expiration`).
fn seconds(seconds: u64) -> JsValue {
    JsValue::from_f64(seconds as f64)
}

/// `limiter.limit({ key })`: whether the call is within the limit.
pub(crate) async fn limit(limiter: &RateLimit, key: &str) -> Result<bool, String> {
    let key = options("key", Some(JsValue::from_str(key)));
    let outcome = JsFuture::from(limiter.limit(&key).map_err(|e| error_text(&e))?)
        .await
        .map_err(|e| error_text(&e))?;
    Reflect::get(&outcome, &JsValue::from_str("success"))
        .ok()
        .and_then(|v| v.as_bool())
        .ok_or_else(|| "rate limiter: an answer without a boolean `success`".to_owned())
}

/// Workers KV as a [`ClientStore`]: client records in `CLIENTS`, the
/// denylist in `REVOCATIONS`. Each binding is looked up on first use: a
/// request answered from the isolate cache never touches it. (The warm-up's
/// bindings are made-up objects that answer at once: see [`crate::warm`].)
pub(crate) struct KvClientStore<'e> {
    env: &'e Env,
    clients: std::cell::OnceCell<Option<KvNamespace>>,
    revocations: std::cell::OnceCell<Option<KvNamespace>>,
}

impl<'e> KvClientStore<'e> {
    pub(crate) fn new(env: &'e Env) -> Self {
        KvClientStore {
            env,
            clients: std::cell::OnceCell::new(),
            revocations: std::cell::OnceCell::new(),
        }
    }

    fn binding<'s>(
        &self,
        cell: &'s std::cell::OnceCell<Option<KvNamespace>>,
        name: &str,
    ) -> Result<&'s KvNamespace, StoreError> {
        cell.get_or_init(|| binding(self.env, name, "get"))
            .as_ref()
            .ok_or_else(|| {
                StoreError::Misconfigured(format!("KV binding {name}: not bound to a KV namespace"))
            })
    }

    fn clients(&self) -> Result<&KvNamespace, StoreError> {
        self.binding(&self.clients, CLIENTS_BINDING)
    }

    fn revocations(&self) -> Result<&KvNamespace, StoreError> {
        self.binding(&self.revocations, REVOCATIONS_BINDING)
    }

    /// One text read: the value, or `None` when the key has none.
    async fn read(
        &self,
        kv: &KvNamespace,
        key: &str,
        cache_ttl: Option<u64>,
    ) -> Result<Option<String>, StoreError> {
        let unavailable = |e: JsValue| StoreError::Unavailable(error_text(&e));
        let value = JsFuture::from(
            kv.get(key, &options("cacheTtl", cache_ttl.map(seconds)))
                .map_err(unavailable)?,
        )
        .await
        .map_err(unavailable)?;
        if value.is_null() || value.is_undefined() {
            return Ok(None);
        }
        value
            .as_string()
            .map(Some)
            .ok_or_else(|| StoreError::Unavailable("KV: a value that is not text".to_owned()))
    }
}

impl ClientStore for KvClientStore<'_> {
    async fn get_record(
        &self,
        client_id: &str,
        cache_ttl: u64,
    ) -> Result<Option<String>, StoreError> {
        let key = edge_token_core::client::record_key(client_id);
        self.read(self.clients()?, &key, Some(cache_ttl)).await
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.in_revocations(&revoked_key(jti)).await
    }

    async fn revoke(&self, jti: &str, client_id: &str, expires_at: u64) -> Result<(), StoreError> {
        self.put(&revoked_key(jti), client_id, expires_at).await
    }

    async fn assertion_used(&self, replay_key: &str) -> Result<bool, StoreError> {
        self.in_revocations(&used_assertion_key(replay_key)).await
    }

    async fn use_assertion(&self, replay_key: &str, expires_at: u64) -> Result<(), StoreError> {
        self.put(&used_assertion_key(replay_key), "1", expires_at)
            .await
    }
}

impl KvClientStore<'_> {
    /// Whether `REVOCATIONS` holds `key`.
    async fn in_revocations(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.read(self.revocations()?, key, None).await?.is_some())
    }

    /// One write to `REVOCATIONS` that expires at `expires_at`.
    async fn put(&self, key: &str, value: &str, expires_at: u64) -> Result<(), StoreError> {
        let kv = self.revocations()?;
        let written = match kv.put(
            key,
            value,
            &options("expiration", Some(seconds(expires_at))),
        ) {
            Ok(promise) => JsFuture::from(promise).await.map(drop),
            Err(e) => Err(e),
        };
        // KV's 429: most often a second write to one key within a second.
        written.map_err(|e| kv_write_error(error_text(&e)))
    }
}
