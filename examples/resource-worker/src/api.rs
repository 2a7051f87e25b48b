//! The Worker: routing, verification (shared keys or the cached JWK Set),
//! the revocation check, the JWKS fetch and the log lines.

use std::cell::{OnceCell, RefCell};
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use edge_token_verify::bearer::{extract_bearer, revoked_key, BearerError, ErrorResponse};
use edge_token_verify::token::{unverified_kid, AccessTokenClaims, Audience, KeySet};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use worker::{
    console_error, console_log, console_warn, event, AbortController, AbortSignal, Context, Delay,
    Env, Fetch, Headers, Method, Request, Response, ResponseBody,
};

use crate::jwks::{self, Cache, Plan, Reason, FETCH_TIMEOUT_MS, MAX_BODY_BYTES};
use crate::settings::{self, JwksSource, Keys, Settings};

/// The `realm` of every `WWW-Authenticate` challenge.
const REALM: &str = "resource-worker";
/// The protected route and the scopes it requires.
const HELLO_PATH: &str = "/api/hello";
const HELLO_SCOPES: &[&str] = &["read"];
/// The issuer's revocation denylist namespace. If bound, it is checked.
/// (Only this one: an API never needs, and never gets, the client records.)
const REVOCATIONS_BINDING: &str = "REVOCATIONS";
/// The service binding to the issuer Worker: if bound, `JWKS_URL` is
/// fetched through it instead of over the network. (Not `ISSUER`: that name
/// is the issuer identifier var, and bindings share one namespace.)
const ISSUER_SERVICE_BINDING: &str = "ISSUER_SERVICE";
/// The `error_description` when JWKS mode has no usable keys.
const KEYS_UNAVAILABLE: &str = "signing keys unavailable";

thread_local! {
    /// The settings, read on the isolate's first request (synchronously, so
    /// no request ever awaits another's initialisation), or what is wrong
    /// with them.
    static SETTINGS: OnceCell<Rc<Result<Settings, String>>> = const { OnceCell::new() };
    /// JWKS mode: the isolate's copy of the issuer's JWK Set. Borrowed only
    /// between awaits, never across one.
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

fn settings(env: &Env) -> Rc<Result<Settings, String>> {
    SETTINGS.with(|cell| {
        cell.get_or_init(|| {
            let has_binding = env.service(ISSUER_SERVICE_BINDING).is_ok();
            Rc::new(settings::load(
                |name| env.var(name).ok().map(|value| value.to_string()),
                has_binding,
            ))
        })
        .clone()
    })
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// The keys to verify `token` with in JWKS mode, or `None` when no usable
/// copy of the JWK Set can be had. Fetches (at most once per request) or
/// waits for another request's fetch as the cache decides.
async fn jwks_keys(env: &Env, source: &JwksSource, token: &str) -> Option<Rc<KeySet>> {
    // A token without a kid matches no JWK: no fetch for it (it is refused
    // for what is wrong with it, e.g. malformed).
    let Some(kid) = unverified_kid(token) else {
        return Some(Rc::new(KeySet::default()));
    };
    let now = now_ms();
    match CACHE.with(|c| c.borrow().decide(&source.policy, now, Some(&kid), true)) {
        Plan::Use { keys, .. } => return Some(keys),
        Plan::Unavailable => return None,
        Plan::Wait => wait_for_fetch().await,
        Plan::Fetch(reason) => refresh(env, source, reason).await,
    }
    // After one fetch or wait: what there is now, without fetching again.
    let now = now_ms();
    match CACHE.with(|c| c.borrow().decide(&source.policy, now, Some(&kid), false)) {
        Plan::Use { keys, .. } => Some(keys),
        _ => None,
    }
}

/// Waits (polling, on this request's own timer) until the fetch another
/// request started has finished, or can no longer be waited for.
async fn wait_for_fetch() {
    let before = CACHE.with(|c| c.borrow().attempts());
    let deadline = now_ms().saturating_add(FETCH_TIMEOUT_MS + 1_000);
    loop {
        Delay::from(Duration::from_millis(20)).await;
        let now = now_ms();
        let (attempts, in_flight) = CACHE.with(|c| {
            let c = c.borrow();
            (c.attempts(), c.in_flight(now))
        });
        if attempts != before || !in_flight || now >= deadline {
            return;
        }
    }
}

/// A fetched and parsed JWK Set.
struct Fetched {
    keys: KeySet,
    max_age: Option<u64>,
}

/// Fetches the JWK Set, stores the outcome in the cache, and logs it.
async fn refresh(env: &Env, source: &JwksSource, reason: Reason) {
    let started = now_ms();
    CACHE.with(|c| c.borrow_mut().begin(started));
    let outcome = fetch_jwks(env, source).await;
    let done = now_ms();
    let mut line = Map::new();
    line.insert("event".into(), "jwks".into());
    line.insert("reason".into(), reason.name().into());
    let via = if source.via_binding {
        "service_binding"
    } else {
        "url"
    };
    line.insert("via".into(), via.into());
    line.insert("ms".into(), done.saturating_sub(started).into());
    match outcome {
        Ok(fetched) => {
            // Key ids only: public names, never key material.
            let kids: Vec<Value> = fetched.keys.kids().map(Value::from).collect();
            let lifetime = CACHE.with(|c| {
                c.borrow_mut()
                    .finish(&source.policy, done, Ok((fetched.keys, fetched.max_age)))
            });
            line.insert("outcome".into(), "fetched".into());
            line.insert("kids".into(), Value::Array(kids));
            if let Some(max_age) = fetched.max_age {
                line.insert("max_age".into(), max_age.into());
            }
            line.insert("fresh_secs".into(), lifetime.into());
            console_log!("{}", Value::Object(line));
        }
        Err(cause) => {
            let standing = CACHE.with(|c| {
                let mut c = c.borrow_mut();
                c.finish(&source.policy, done, Err(()));
                c.standing(done)
            });
            line.insert("outcome".into(), "failed".into());
            line.insert("cause".into(), cause.into());
            // What tokens are checked with meanwhile: a fresh or stale copy,
            // or nothing (they are refused).
            line.insert("serving".into(), standing.name().into());
            if standing == jwks::Standing::None {
                console_error!("{}", Value::Object(line));
            } else {
                console_warn!("{}", Value::Object(line));
            }
        }
    }
}

/// One fetch of `JWKS_URL`: a `GET` with no redirects followed and no HTTP
/// cache, bounded by [`FETCH_TIMEOUT_MS`] and [`MAX_BODY_BYTES`]. Anything
/// but a 2xx answer with a JWK Set body is an error (a message for the log).
async fn fetch_jwks(env: &Env, source: &JwksSource) -> Result<Fetched, String> {
    let controller = AbortController::default();
    let request = jwks_request(&source.url, &controller.signal())?;
    let work = async {
        let sent = if source.via_binding {
            let fetcher = env
                .service(ISSUER_SERVICE_BINDING)
                .map_err(|e| format!("{ISSUER_SERVICE_BINDING} binding unusable: {e}"))?;
            fetcher.fetch_request(request).await
        } else {
            Fetch::Request(request).send().await
        };
        let mut response = sent.map_err(|e| format!("fetch failed: {e}"))?;
        let status = response.status_code();
        if !(200..300).contains(&status) {
            return Err(format!("HTTP status {status}"));
        }
        let header = |name: &str| response.headers().get(name).ok().flatten();
        if let Some(length) = header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok()) {
            if length > MAX_BODY_BYTES as u64 {
                return Err(format!(
                    "body of {length} bytes is over the {MAX_BODY_BYTES}-byte limit"
                ));
            }
        }
        let max_age = header("Cache-Control").as_deref().and_then(jwks::max_age);
        let body = read_body(&mut response).await?;
        let text = std::str::from_utf8(&body).map_err(|_| "body is not UTF-8".to_owned())?;
        let keys = KeySet::from_jwks(text).map_err(|e| e.0)?;
        Ok(Fetched { keys, max_age })
    };
    let timeout = Delay::from(Duration::from_millis(FETCH_TIMEOUT_MS));
    let result = match select(pin!(work), pin!(timeout)).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(format!("no complete answer within {} ms", FETCH_TIMEOUT_MS)),
    };
    if result.is_err() {
        // Stop whatever is still under way (a hanging answer, an oversized body).
        controller.abort();
    }
    result
}

/// `GET url`, asking for a JWK Set, cancelled by `signal`.
fn jwks_request(url: &str, signal: &AbortSignal) -> Result<Request, String> {
    let init = worker::web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_signal(Some(signal));
    // The issuer's jwks_uri answers itself; a redirect is not followed.
    init.set_redirect(worker::web_sys::RequestRedirect::Manual);
    // This cache is the only one: a refresh must reach the issuer.
    init.set_cache(worker::web_sys::RequestCache::NoStore);
    let headers = Headers::new();
    headers
        .set("Accept", "application/jwk-set+json, application/json")
        .map_err(|e| format!("request headers: {e}"))?;
    init.set_headers(headers.as_ref());
    worker::web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|_| "JWKS_URL cannot be requested".to_owned())
}

/// The body, refused once it grows past [`MAX_BODY_BYTES`].
async fn read_body(response: &mut Response) -> Result<Vec<u8>, String> {
    let mut stream = match response.body() {
        ResponseBody::Empty => return Ok(Vec::new()),
        ResponseBody::Body(bytes) if bytes.len() > MAX_BODY_BYTES => {
            return Err(format!("body is over the {MAX_BODY_BYTES}-byte limit"))
        }
        ResponseBody::Body(bytes) => return Ok(bytes.clone()),
        ResponseBody::Stream(_) => response
            .stream()
            .map_err(|e| format!("body unreadable: {e}"))?,
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("body unreadable: {e}"))?;
        if body.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
            return Err(format!("body is over the {MAX_BODY_BYTES}-byte limit"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A response to send: status, headers, JSON body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    /// A JSON answer that no cache keeps.
    fn json(status: u16, body: String) -> Self {
        let headers = vec![
            ("Content-Type", "application/json".to_owned()),
            ("Cache-Control", "no-store".to_owned()),
            ("Pragma", "no-cache".to_owned()),
        ];
        Reply {
            status,
            headers,
            body,
        }
    }
}

impl From<ErrorResponse> for Reply {
    fn from(e: ErrorResponse) -> Self {
        Reply {
            status: e.status,
            headers: e.headers,
            body: e.body,
        }
    }
}

/// What one request produced: the response and the fields of its log line.
struct Outcome {
    response: Reply,
    client_id: Option<String>,
    error: Option<&'static str>,
    cause: Option<String>,
}

impl Outcome {
    /// A refusal with an RFC 6750 challenge.
    fn refused(e: BearerError, client_id: Option<String>) -> Self {
        Outcome {
            response: e.render(REALM).into(),
            client_id,
            error: e.code(),
            cause: e.description().map(str::to_owned),
        }
    }

    /// Any other failure: `{"error": code}`, no-store. `cause` is only logged.
    fn failed(status: u16, code: &'static str, cause: Option<String>) -> Self {
        Outcome {
            response: Reply::json(status, json!({ "error": code }).to_string()),
            client_id: None,
            error: Some(code),
            cause,
        }
    }
}

async fn handle(req: &Request, env: &Env) -> Outcome {
    if req.path() != HELLO_PATH {
        return Outcome::failed(404, "not_found", None);
    }
    if req.method() != Method::Get {
        let mut outcome = Outcome::failed(405, "method_not_allowed", None);
        outcome.response.headers.push(("Allow", "GET".to_owned()));
        return outcome;
    }
    let config = settings(env);
    let settings = match config.as_ref() {
        Ok(settings) => settings,
        Err(problem) => return Outcome::failed(500, "server_error", Some(problem.clone())),
    };

    let authorization = req.headers().get("Authorization").ok().flatten();
    let token = match extract_bearer(authorization.as_deref()) {
        Ok(token) => token,
        Err(e) => return Outcome::refused(e, None),
    };
    let verifier = &settings.verifier;
    let verified = match &settings.keys {
        Keys::Shared => verifier.verify(token, HELLO_SCOPES, now_ms() / 1000),
        Keys::Jwks(source) => match jwks_keys(env, source, token).await {
            // The time after any fetch.
            Some(keys) => verifier.verify_with(&keys, token, HELLO_SCOPES, now_ms() / 1000),
            // Fail closed: without the issuer's keys no token is valid here.
            None => Err(BearerError::InvalidToken(KEYS_UNAVAILABLE)),
        },
    };
    let claims = match verified {
        Ok(claims) => claims,
        Err(e) => return Outcome::refused(e, None),
    };

    // Only a verified (signed) jti causes a KV read.
    if let Ok(kv) = env.kv(REVOCATIONS_BINDING) {
        match kv.get(&revoked_key(&claims.jti)).text().await {
            Ok(None) => {}
            Ok(Some(_)) => {
                let revoked = BearerError::InvalidToken("token revoked");
                return Outcome::refused(revoked, Some(claims.client_id));
            }
            // Fail closed: without the denylist a revoked token could pass.
            Err(e) => {
                let cause = format!("revocation lookup failed: {e}");
                return Outcome {
                    client_id: Some(claims.client_id),
                    ..Outcome::failed(503, "temporarily_unavailable", Some(cause))
                };
            }
        }
    }

    Outcome {
        response: Reply::json(200, hello(&claims).to_string()),
        client_id: Some(claims.client_id),
        error: None,
        cause: None,
    }
}

/// The greeting: the token's unregistered claims (such as `tenant`), then
/// `hello`, `scope` and `aud`, which they cannot override.
fn hello(claims: &AccessTokenClaims) -> Value {
    let mut body: Map<String, Value> = claims.extra.clone().into_iter().collect();
    body.insert("hello".into(), claims.client_id.clone().into());
    body.insert("scope".into(), claims.scope.clone().into());
    let aud = match &claims.aud {
        Audience::One(one) => Value::from(one.clone()),
        Audience::Many(list) => Value::from(list.clone()),
    };
    body.insert("aud".into(), aud);
    Value::Object(body)
}

fn to_worker(response: Reply) -> Response {
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
    let outcome = handle(&req, &env).await;
    let status = outcome.response.status;
    // One line per request. Never the token or the Authorization header.
    let mut line = Map::new();
    line.insert("event".into(), "api".into());
    line.insert("status".into(), status.into());
    for (field, value) in [
        ("client_id", outcome.client_id),
        ("error", outcome.error.map(str::to_owned)),
        ("cause", outcome.cause),
    ] {
        if let Some(value) = value {
            line.insert(field.into(), value.into());
        }
    }
    let line = Value::Object(line);
    if status >= 500 {
        console_error!("{line}");
    } else {
        console_log!("{line}");
    }
    Ok(to_worker(outcome.response))
}
