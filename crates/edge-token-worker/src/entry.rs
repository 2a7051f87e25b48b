//! The wasm side of the Worker's entry: [`handle`], one call per request
//! from the JS entry (`js/entry.mjs`, which reads the request and its body
//! and builds the `Response`), into [`Service`]. No protocol logic lives
//! here.

use std::rc::Rc;

use worker::wasm_bindgen::{self, prelude::*};
use worker::wasm_bindgen_futures;
use worker::{js_sys, Env};

use crate::answer::{locate, pack, status_and_body};
use crate::kv::{KvClientStore, RateLimit};
use edge_token_core::assertion::{ReplayCache, DEFAULT_REPLAY_ENTRIES};
use edge_token_core::cache::{RecordCache, DEFAULT_MAX_ENTRIES};
use edge_token_core::config::{Config, ConfigError};
use edge_token_core::http::{
    split_url, Body, HttpRequest, BODY_TIMEOUT_MS, MAX_BODY_BYTES, REQUEST_HEADERS,
};
use edge_token_core::limit::{Blocklist, LimitKind, Limiter, DEFAULT_BLOCKLIST_ENTRIES};
use edge_token_core::random::{OsRandom, Random, RandomError};
use edge_token_core::service::Service;
use edge_token_core::timer::Timer;

/// What signs ES256 and EdDSA tokens, one per request: Web Crypto (once
/// the key is imported, by the JS entry on the answer's way out: see
/// [`crate::webcrypto::DeferringSigner`]), or (to measure the two side by
/// side) pure Rust in wasm.
#[cfg(not(feature = "rust-signer"))]
type Signer = crate::webcrypto::DeferringSigner;
#[cfg(feature = "rust-signer")]
type Signer = edge_token_core::signing::RustSigner;

/// The signing input whose signature `signer` left to the JS entry, and
/// that signature's length in bytes.
#[cfg(not(feature = "rust-signer"))]
fn deferred(signer: &Signer) -> Option<(String, usize)> {
    signer.take_pending()
}
#[cfg(feature = "rust-signer")]
fn deferred(_: &Signer) -> Option<(String, usize)> {
    None
}

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
    /// Configuration (parsed at module load by [`prepare`] when valid there,
    /// else on the isolate's first request) and the client record cache. Synchronous to build, so no request ever awaits another's
    /// initialisation.
    static STATE: std::cell::OnceCell<Rc<IsolateState>> = const { std::cell::OnceCell::new() };
}

fn isolate_state(env: &Env) -> Rc<IsolateState> {
    STATE.with(|cell| cell.get_or_init(|| new_state(env)).clone())
}

/// The configuration parsed from `env`, and empty caches.
fn new_state(env: &Env) -> Rc<IsolateState> {
    let config = Config::from_lookup(|name| env_string(env, name));
    let ttl = config.as_ref().map_or(0, |c| c.client_cache_ttl);
    Rc::new(IsolateState {
        config,
        cache: RecordCache::new(ttl, DEFAULT_MAX_ENTRIES),
        blocklist: Blocklist::new(DEFAULT_BLOCKLIST_ENTRIES),
        replay: ReplayCache::new(DEFAULT_REPLAY_ENTRIES),
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
/// that is not configured limits nothing (see wrangler.toml), as in the
/// warm-up's bindings.
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
        let Some(limiter) = crate::kv::binding::<RateLimit>(self.env, binding, "limit") else {
            return Ok(true);
        };
        crate::kv::limit(&limiter, key).await
    }
}

/// `setTimeout` as the core's [`Timer`] (the KV and rate-limiter call
/// bounds; the body-read bound is the JS entry's). The warm-up's never
/// fires: global scope has no timers, and its store answers at once.
struct WorkerTimer {
    warm: bool,
}

impl Timer for WorkerTimer {
    fn sleep(&self, ms: u64) -> impl std::future::Future<Output = ()> {
        let warm = self.warm;
        async move {
            if warm {
                std::future::pending::<()>().await;
            }
            Sleep::new(ms).await;
        }
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// A `setTimeout` as a future, cleared when dropped. Unlike
/// `worker::Delay`, which keeps the waker of its first poll, it wakes the
/// waker of its latest poll: [`handle`] polls each request once with a
/// no-op waker before a task takes it over. It owns its callback (no
/// Promise: a timer cleared before it fires leaves nothing behind).
struct Sleep {
    id: JsValue,
    state: Rc<SleepState>,
    _callback: Closure<dyn FnMut()>,
}

#[derive(Default)]
struct SleepState {
    fired: std::cell::Cell<bool>,
    waker: std::cell::RefCell<Option<std::task::Waker>>,
}

impl Sleep {
    fn new(ms: u64) -> Self {
        let state = Rc::new(SleepState::default());
        let fired = state.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            fired.fired.set(true);
            if let Some(waker) = fired.waker.borrow_mut().take() {
                waker.wake();
            }
        });
        let id = set_timeout(callback.as_ref().unchecked_ref(), ms as f64);
        Sleep {
            id,
            state,
            _callback: callback,
        }
    }
}

impl std::future::Future for Sleep {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.state.fired.get() {
            return std::task::Poll::Ready(());
        }
        *self.state.waker.borrow_mut() = Some(cx.waker().clone());
        std::task::Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // Before the callback goes: a cleared timer never calls it.
        clear_timeout(&self.id);
    }
}

/// `crypto.getRandomValues` (through getrandom), or for the warm-up, which
/// may not draw random numbers at global scope, fixed bytes.
struct WorkerRandom {
    warm: bool,
}

impl Random for WorkerRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        if self.warm {
            buf.fill(0x42);
            Ok(())
        } else {
            OsRandom.fill(buf)
        }
    }
}

/// What the JS entry makes the warm-up's bindings from (see
/// [`crate::warm::bindings`]).
#[wasm_bindgen]
pub fn warm_bindings() -> String {
    crate::warm::bindings()
}

/// The request path run once at module load (see [`crate::warm`]) on
/// `env`, the made-up bindings the JS entry built from [`warm_bindings`],
/// through [`serve`] as every request, so that its wasm functions and the
/// glue they call are compiled before the first request. Answers (or
/// promises) how many of the three requests answered as expected: 3 when
/// all of it ran. Nothing is kept: the warm-up has its own isolate state.
/// (The JS half of the path cannot run at global scope: no Response may be
/// made there.)
#[wasm_bindgen]
pub fn warm(env: Env) -> JsValue {
    let state = new_state(&env);
    settle(Box::pin(async move {
        let good = crate::warm::exercise(|req| {
            let (env, state) = (env.clone(), state.clone());
            let mut headers = String::new();
            for name in REQUEST_HEADERS {
                headers.push_str(req.header(name).unwrap_or("\0"));
                headers.push('\n');
            }
            headers.push('\0');
            let incoming = Incoming::new(
                req.method.to_owned(),
                &format!("{}{}", crate::warm::ORIGIN, req.path),
                &headers,
                BODY_READ,
                req.body.into_bytes(),
                (crate::warm::NOW_MS + req.later * 1000) as f64,
            );
            async move {
                let packed = serve(incoming, env, state, true).await;
                status_and_body(&packed).map(|(status, body)| (status, body.to_owned()))
            }
        })
        .await;
        JsValue::from(good)
    }))
}

/// At module load, on the Worker's own bindings (the JS entry passes `env`
/// from `cloudflare:workers`): a valid configuration becomes the isolate's
/// state, and an ES256/EdDSA signing key is imported into Web Crypto and
/// checked against its `x`/`y`, so that the first request pays for neither
/// (global scope allows both: no I/O). An invalid one is not kept: that
/// `env` may be empty (the `disallow_importable_env` compatibility flag),
/// and the first request parses its own, as it would have. Answers, or
/// promises, `"imported"`, `"none"` (an HS256 signer, or the rust-signer
/// build: nothing to import) or `"error"` (no valid configuration here, or
/// the import failed; requests then answer as they would have: the first
/// signature tries the import again, and its request logs why).
#[wasm_bindgen]
pub fn prepare(env: Env) -> JsValue {
    let fresh = new_state(&env);
    if fresh.config.is_err() {
        return JsValue::from_str("error");
    }
    let state = STATE.with(|cell| cell.get_or_init(|| fresh).clone());
    settle(Box::pin(async move {
        let outcome = match &state.config {
            Err(_) => "error",
            Ok(config) => import_signing_key(config).await,
        };
        JsValue::from_str(outcome)
    }))
}

#[cfg(not(feature = "rust-signer"))]
async fn import_signing_key(config: &Config) -> &'static str {
    match config.keys.asymmetric_signer() {
        None => "none",
        Some(key) => match crate::webcrypto::import_signer(key).await {
            Ok(()) => "imported",
            Err(_) => "error",
        },
    }
}

#[cfg(feature = "rust-signer")]
async fn import_signing_key(_: &Config) -> &'static str {
    "none"
}

/// Creates wasm-bindgen's task queue (the one behind every Promise [`handle`]
/// answers), which picks how it schedules its runs when created:
/// `queueMicrotask` if the global has one, else a `then` on a resolved
/// Promise. The JS entry calls this once per instance with
/// `queueMicrotask` hidden: in workerd the `then` costs less per request.
#[wasm_bindgen]
pub fn start_tasks() {
    wasm_bindgen_futures::spawn_local(async {});
}

/// What the JS entry learned about the body (`body_state` of [`handle`]).
const BODY_READ: u8 = 0;
const BODY_TOO_LARGE: u8 = 1;
const BODY_TIMED_OUT: u8 = 2;

/// The request headers the JS entry passes to [`handle`], one per line, in
/// this order: the ones the core reads, then `cf-ray` for the log.
#[wasm_bindgen]
pub fn request_headers() -> String {
    let mut names = REQUEST_HEADERS.join("\n");
    names.push_str("\ncf-ray");
    names
}

/// The body bounds the JS entry enforces: `[MAX_BODY_BYTES, BODY_TIMEOUT_MS]`.
#[wasm_bindgen]
pub fn body_limits() -> Vec<u32> {
    vec![MAX_BODY_BYTES as u32, BODY_TIMEOUT_MS as u32]
}

/// One request, start to end: called by the JS entry (js/entry.mjs) with the
/// method, the URL, the values of [`request_headers`] joined by `\n` (a
/// missing one as `\0`), what became of the body, the body, the bindings and
/// `Date.now()`. Answers the response and the log line packed in one string,
/// so that one string crosses back (see [`pack`]).
///
/// The answer is the string itself when the request never waited on I/O
/// (a cached record, an HS256 token: most requests), polled to its end here
/// without a Promise or a task; otherwise a Promise of it. Every future on
/// the way re-registers its waker when polled again (KV, the rate limiters
/// and Web Crypto through `JsFuture`, the timer through [`Sleep`]): the
/// task's first poll replaces the no-op one.
#[wasm_bindgen]
pub fn handle(
    method: String,
    url: String,
    headers: String,
    body_state: u8,
    body: Vec<u8>,
    env: Env,
    now_ms: f64,
) -> JsValue {
    let incoming = Incoming::new(method, &url, &headers, body_state, body, now_ms);
    let state = isolate_state(&env);
    settle(Box::pin(async move {
        JsValue::from(serve(incoming, env, state, false).await)
    }))
}

/// `fut`'s output if it is ready at its first poll (no Promise, no task),
/// else a Promise of it.
/// (One copy for both callers: the future is boxed as `dyn`.)
fn settle(mut fut: std::pin::Pin<Box<dyn std::future::Future<Output = JsValue>>>) -> JsValue {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => {
            wasm_bindgen_futures::future_to_promise(async move { Ok(fut.await) }).into()
        }
    }
}

/// What [`handle`] was given, as the core's request.
struct Incoming {
    request: HttpRequest,
    ray: Option<String>,
    now_ms: u64,
}

impl Incoming {
    fn new(
        method: String,
        url: &str,
        headers: &str,
        body_state: u8,
        body: Vec<u8>,
        now_ms: f64,
    ) -> Self {
        let (https, path) = split_url(url);
        let mut values = headers.split('\n');
        let headers: Vec<(String, String)> = REQUEST_HEADERS
            .iter()
            .zip(values.by_ref())
            .filter(|(_, value)| *value != "\0")
            .map(|(name, value)| ((*name).to_owned(), value.to_owned()))
            .collect();
        let ray = values.next().filter(|v| *v != "\0").map(str::to_owned);
        let body = match body_state {
            BODY_READ => Body::Bytes(body),
            BODY_TOO_LARGE => Body::TooLarge,
            BODY_TIMED_OUT => Body::TimedOut,
            _ => Body::Unreadable,
        };
        Incoming {
            request: HttpRequest {
                method,
                path: path.to_owned(),
                https,
                headers,
                body,
            },
            ray,
            now_ms: if now_ms.is_finite() && now_ms > 0.0 {
                now_ms as u64
            } else {
                0
            },
        }
    }
}

/// One request through the core, on `env` with `state`; `warm`: the
/// warm-up's (a fixed "random", no timers: global scope has neither).
async fn serve(incoming: Incoming, env: Env, state: Rc<IsolateState>, warm: bool) -> String {
    let Incoming {
        request,
        ray,
        now_ms,
    } = incoming;
    let store = KvClientStore::new(&env);
    let signer = Signer::default();
    let service = Service {
        config: state.config.as_ref(),
        store: &store,
        random: &WorkerRandom { warm },
        cache: Some(&state.cache),
        limiter: &BindingLimiter { env: &env },
        blocklist: Some(&state.blocklist),
        timer: &WorkerTimer { warm },
        signer: &signer,
        replay: Some(&state.replay),
    };
    let mut outcome = service.handle(&request, now_ms / 1000).await;
    outcome.audit.ts = Some(now_ms);
    outcome.audit.colo = ray
        .as_deref()
        .and_then(|r| r.rsplit_once('-'))
        .map(|(_, colo)| colo.to_owned());
    outcome.audit.ray = ray;
    let signature =
        deferred(&signer).and_then(|(input, len)| locate(&outcome.response.body, &input, len));
    pack(&outcome.response, &outcome.audit.to_json(), signature)
}
