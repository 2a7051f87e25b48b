//! The Workers adapter: `worker::Request`/`Env`/KV in, core calls, `worker::Response` out.
//! No protocol logic lives here.

use std::rc::Rc;

use futures_util::StreamExt;
use worker::{
    console_error, console_log, event, js_sys, wasm_bindgen::JsValue, Context, Env, Headers,
    Request, Response,
};

use crate::config::{Config, ConfigError};
use crate::error::OAuthError;
use crate::http::{split_url, Body, HttpRequest, HttpResponse, MAX_BODY_BYTES};
use crate::random::OsRandom;
use crate::service::Service;
use crate::store::{revoked_key, ClientStore, StoreError};

/// KV binding holding client records.
const CLIENTS_BINDING: &str = "CLIENTS";

thread_local! {
    /// Configuration, parsed on the isolate's first request. Synchronous to
    /// build, so no request ever awaits another's initialisation.
    static CONFIG: std::cell::OnceCell<Rc<Result<Config, ConfigError>>> = const { std::cell::OnceCell::new() };
}

fn config(env: &Env) -> Rc<Result<Config, ConfigError>> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| Rc::new(Config::from_lookup(|name| env_string(env, name))))
            .clone()
    })
}

/// A var or secret as a string; numbers and booleans in `[vars]` are accepted too.
fn env_string(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if let Some(s) = value.as_string() {
        Some(s)
    } else if let Some(n) = value.as_f64() {
        Some(format!("{n}"))
    } else {
        value.as_bool().map(|b| b.to_string())
    }
}

/// Workers KV as a [`ClientStore`].
struct KvClientStore(Result<worker::KvStore, String>);

impl KvClientStore {
    fn kv(&self) -> Result<&worker::KvStore, StoreError> {
        self.0
            .as_ref()
            .map_err(|e| StoreError::Misconfigured(e.clone()))
    }
}

impl ClientStore for KvClientStore {
    async fn get_record(
        &self,
        client_id: &str,
        cache_ttl: u64,
    ) -> Result<Option<String>, StoreError> {
        self.kv()?
            .get(&crate::client::record_key(client_id))
            .cache_ttl(cache_ttl)
            .text()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.kv()?
            .get(&revoked_key(jti))
            .text()
            .await
            .map(|v| v.is_some())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn revoke(&self, jti: &str, client_id: &str, expires_at: u64) -> Result<(), StoreError> {
        self.kv()?
            .put(&revoked_key(jti), client_id)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .expiration(expires_at)
            .execute()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; stops early on a larger declared or streamed body.
async fn read_body(req: &mut Request) -> Body {
    let declared = req.headers().get("content-length").ok().flatten();
    if declared
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Body::TooLarge;
    }
    let Ok(mut stream) = req.stream() else {
        return Body::Bytes(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Body::Bytes(Vec::new());
        };
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Body::TooLarge;
        }
        body.extend_from_slice(&chunk);
    }
    Body::Bytes(body)
}

async fn to_core(mut req: Request) -> Result<HttpRequest, worker::Error> {
    let url = req.inner().url();
    let (https, path) = split_url(&url);
    let method = req.method().to_string();
    let headers: Vec<(String, String)> = req.headers().entries().collect();
    let body = if method == "POST" {
        read_body(&mut req).await
    } else {
        Body::Bytes(Vec::new())
    };
    Ok(HttpRequest {
        method,
        path: path.to_owned(),
        https,
        headers,
        body,
    })
}

fn to_worker(response: HttpResponse) -> Response {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        let _ = headers.set(name, value);
    }
    match Response::ok(response.body) {
        Ok(r) => r.with_status(response.status).with_headers(headers),
        Err(_) => Response::empty()
            .map(|r| r.with_status(500))
            .unwrap_or_else(|_| Response::builder().empty()),
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let now_ms = worker::Date::now().as_millis();
    let ray = req.headers().get("cf-ray").ok().flatten();
    let config = config(&env);
    let store = KvClientStore(
        env.kv(CLIENTS_BINDING)
            .map_err(|e| format!("KV binding {CLIENTS_BINDING}: {e}")),
    );
    let service = Service {
        config: config.as_ref().as_ref(),
        store: &store,
        random: &OsRandom,
    };

    let outcome = match to_core(req).await {
        Ok(core_req) => Some(service.handle(&core_req, now_ms / 1000).await),
        Err(e) => {
            console_error!(
                "{}",
                serde_json::json!({"event": "adapter", "cause": e.to_string()})
            );
            None
        }
    };
    let Some(mut outcome) = outcome else {
        return Ok(to_worker(OAuthError::ServerError.render()));
    };
    outcome.audit.ts = Some(now_ms);
    outcome.audit.colo = ray
        .as_deref()
        .and_then(|r| r.rsplit_once('-'))
        .map(|(_, colo)| colo.to_owned());
    outcome.audit.ray = ray;
    if outcome.response.status >= 500 {
        console_error!("{}", outcome.audit.to_json());
    } else {
        console_log!("{}", outcome.audit.to_json());
    }
    Ok(to_worker(outcome.response))
}
