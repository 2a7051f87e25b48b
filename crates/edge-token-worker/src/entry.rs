//! The `#[event(fetch)]` entry: `worker::Request`/`Env` in, one call into
//! [`Service`], `worker::Response` out. No protocol logic lives here.

use std::rc::Rc;

use futures_util::StreamExt;
use worker::{
    console_error, console_log, event, js_sys, wasm_bindgen::JsValue, Context, Env, Headers,
    Request, Response,
};

use crate::kv::KvClientStore;
use edge_token_core::assertion::{ReplayCache, DEFAULT_REPLAY_ENTRIES};
use edge_token_core::cache::{RecordCache, DEFAULT_MAX_ENTRIES};
use edge_token_core::config::{Config, ConfigError};
use edge_token_core::http::{
    split_url, Body, HttpRequest, HttpResponse, BODY_TIMEOUT_MS, MAX_BODY_BYTES, REQUEST_HEADERS,
};
use edge_token_core::limit::{Blocklist, LimitKind, Limiter, DEFAULT_BLOCKLIST_ENTRIES};
use edge_token_core::random::OsRandom;
use edge_token_core::service::Service;
use edge_token_core::timer::Timer;

/// What signs ES256 and EdDSA tokens: Web Crypto, or (to measure the two
/// side by side) pure Rust in wasm.
#[cfg(not(feature = "rust-signer"))]
const SIGNER: crate::webcrypto::WebCryptoSigner = crate::webcrypto::WebCryptoSigner;
#[cfg(feature = "rust-signer")]
const SIGNER: edge_token_core::signing::RustSigner = edge_token_core::signing::RustSigner;

/// Rate Limiting binding counting failed authentications per client id.
const CLIENT_LIMIT_BINDING: &str = "AUTH_FAILURES_BY_CLIENT";
/// Rate Limiting binding counting failed authentications per caller address.
const ADDRESS_LIMIT_BINDING: &str = "AUTH_FAILURES_BY_ADDRESS";
/// Rate Limiting binding counting denylist writes per client.
const REVOCATION_LIMIT_BINDING: &str = "REVOCATIONS_BY_CLIENT";

/// What an isolate keeps between requests.
struct IsolateState {
    config: Result<Config, ConfigError>,
    cache: RecordCache,
    blocklist: Blocklist,
    replay: ReplayCache,
}

thread_local! {
    /// Configuration (parsed on the isolate's first request) and the client
    /// record cache. Synchronous to build, so no request ever awaits another's
    /// initialisation.
    static STATE: std::cell::OnceCell<Rc<IsolateState>> = const { std::cell::OnceCell::new() };
}

fn isolate_state(env: &Env) -> Rc<IsolateState> {
    STATE.with(|cell| {
        cell.get_or_init(|| {
            let config = Config::from_lookup(|name| env_string(env, name));
            let ttl = config.as_ref().map_or(0, |c| c.client_cache_ttl);
            Rc::new(IsolateState {
                config,
                cache: RecordCache::new(ttl, DEFAULT_MAX_ENTRIES),
                blocklist: Blocklist::new(DEFAULT_BLOCKLIST_ENTRIES),
                replay: ReplayCache::new(DEFAULT_REPLAY_ENTRIES),
            })
        })
        .clone()
    })
}

/// A var or secret as a string; numbers and booleans in `[vars]` are accepted too.
fn env_string(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if let Some(s) = value.as_string() {
        Some(s)
    } else if let Some(n) = value.as_f64() {
        // Whole numbers only (TTLs): integer formatting keeps the float
        // formatter out of the binary. Anything else is reported as invalid.
        if n.fract() == 0.0 && n.abs() < 9.0e15 {
            Some((n as i64).to_string())
        } else {
            Some("not-a-whole-number".to_owned())
        }
    } else {
        value.as_bool().map(|b| b.to_string())
    }
}

/// The Workers Rate Limiting bindings as a [`Limiter`]. A binding
/// that is not configured limits nothing (see wrangler.toml).
struct BindingLimiter<'e> {
    env: &'e Env,
}

impl Limiter for BindingLimiter<'_> {
    async fn hit(&self, kind: LimitKind, key: &str) -> Result<bool, String> {
        let binding = match kind {
            LimitKind::Client => CLIENT_LIMIT_BINDING,
            LimitKind::Address => ADDRESS_LIMIT_BINDING,
            LimitKind::Revocation => REVOCATION_LIMIT_BINDING,
        };
        let Ok(limiter) = self.env.rate_limiter(binding) else {
            return Ok(true);
        };
        limiter
            .limit(key.to_owned())
            .await
            .map(|outcome| outcome.success)
            .map_err(|e| e.to_string())
    }
}

/// `setTimeout` as the core's [`Timer`].
struct WorkerTimer;

impl Timer for WorkerTimer {
    fn sleep(&self, ms: u64) -> impl std::future::Future<Output = ()> {
        worker::Delay::from(std::time::Duration::from_millis(ms))
    }
}

/// Reads at most [`MAX_BODY_BYTES`] within [`BODY_TIMEOUT_MS`]; stops early
/// on a larger declared or streamed body.
async fn read_body(req: &mut Request) -> Body {
    let deadline = WorkerTimer.sleep(BODY_TIMEOUT_MS);
    edge_token_core::timer::with_timeout(read_body_unbounded(req), deadline)
        .await
        .unwrap_or(Body::TimedOut)
}

async fn read_body_unbounded(req: &mut Request) -> Body {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES as u64 => return Body::TooLarge,
        // A declared, bounded length: one arrayBuffer() read is far cheaper
        // than pulling chunks through a stream. The runtime enforces the
        // declared length.
        Some(_) => {
            return match req.bytes().await {
                Ok(bytes) if bytes.len() <= MAX_BODY_BYTES => Body::Bytes(bytes),
                Ok(_) => Body::TooLarge,
                Err(_) => Body::Unreadable,
            }
        }
        None => {}
    }
    let Ok(mut stream) = req.stream() else {
        return Body::Unreadable;
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Body::Unreadable;
        };
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Body::TooLarge;
        }
        body.extend_from_slice(&chunk);
    }
    Body::Bytes(body)
}

async fn to_core(mut req: Request) -> HttpRequest {
    let url = req.inner().url();
    let (https, path) = split_url(&url);
    // The raw method: worker::Method maps methods it does not know (QUERY,
    // PROPFIND, ...) to GET, which would answer them as a GET.
    let method = req.inner().method();
    // Only the headers the core reads: one lookup each instead of walking
    // them all through JS. (Repeated headers arrive joined by ", ".)
    let headers: Vec<(String, String)> = REQUEST_HEADERS
        .iter()
        .filter_map(|name| {
            let value = req.headers().get(name).ok().flatten()?;
            Some(((*name).to_owned(), value))
        })
        .collect();
    let body = if method == "POST" {
        read_body(&mut req).await
    } else {
        Body::Bytes(Vec::new())
    };
    HttpRequest {
        method,
        path: path.to_owned(),
        https,
        headers,
        body,
    }
}

fn to_worker(response: HttpResponse) -> Response {
    let headers = Headers::new();
    for (name, value) in &response.headers {
        let _ = headers.set(name, value);
    }
    Response::builder()
        .with_status(response.status)
        .with_headers(headers)
        .fixed(response.body.into_bytes())
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let now_ms = worker::Date::now().as_millis();
    let ray = req.headers().get("cf-ray").ok().flatten();
    let state = isolate_state(&env);
    let store = KvClientStore::new(&env);
    let service = Service {
        config: state.config.as_ref(),
        store: &store,
        random: &OsRandom,
        cache: Some(&state.cache),
        limiter: &BindingLimiter { env: &env },
        blocklist: Some(&state.blocklist),
        timer: &WorkerTimer,
        signer: &SIGNER,
        replay: Some(&state.replay),
    };

    let core_req = to_core(req).await;
    let mut outcome = service.handle(&core_req, now_ms / 1000).await;
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
