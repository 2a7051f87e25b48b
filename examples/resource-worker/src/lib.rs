//! # resource-worker
//!
//! An example API (a resource server) on Cloudflare Workers that accepts
//! edge-token access tokens. It checks them itself with
//! [`edge_token_verify::bearer`], using the issuer's `SIGNING_KEYS`: no call to the
//! issuer per request.
//!
//! * `GET /api/hello` needs the scope `read` and answers
//!   `{"hello": <client_id>, "scope": ..., "aud": ..., <extra claims>}`.
//! * Refusals follow [RFC 6750 §3]: `401` (no token, or `invalid_token`),
//!   `400 invalid_request`, `403 insufficient_scope`, each with a
//!   `WWW-Authenticate: Bearer realm="resource-worker", ...` challenge.
//! * Revocation: when the issuer's denylist namespace is bound as `REVOCATIONS`, a
//!   verified token whose `jti` is on the denylist is refused. KV is
//!   eventually consistent, so a revocation takes up to about 60 s to bite
//!   everywhere.
//!
//! Settings are parsed once per isolate: `SIGNING_KEYS` (secret, the same
//! JSON as the issuer's), `ISSUER` (the issuer's `iss`) and `AUDIENCE` (this
//! API's identifier, which must be in the token's `aud`).
//!
//! [RFC 6750 §3]: https://www.rfc-editor.org/rfc/rfc6750#section-3
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::cell::OnceCell;
use std::rc::Rc;

use edge_token_verify::bearer::{
    extract_bearer, revoked_key, BearerError, ErrorResponse, Verifier,
};
use edge_token_verify::token::{AccessTokenClaims, Audience, KeySet};
use serde_json::{json, Map, Value};
use worker::{console_error, console_log, event, Context, Env, Headers, Method, Request, Response};

/// The `realm` of every `WWW-Authenticate` challenge.
const REALM: &str = "resource-worker";
/// The protected route and the scopes it requires.
const HELLO_PATH: &str = "/api/hello";
const HELLO_SCOPES: &[&str] = &["read"];
/// The issuer's revocation denylist namespace. If bound, it is checked.
/// (Only this one: an API never needs, and never gets, the client records.)
const REVOCATIONS_BINDING: &str = "REVOCATIONS";

thread_local! {
    /// The verifier, built on the isolate's first request (synchronously, so
    /// no request ever awaits another's initialisation), or what is wrong
    /// with the settings.
    static VERIFIER: OnceCell<Rc<Result<Verifier, String>>> = const { OnceCell::new() };
}

fn verifier(env: &Env) -> Rc<Result<Verifier, String>> {
    VERIFIER.with(|cell| {
        cell.get_or_init(|| {
            Rc::new(load_verifier(|name| {
                env.var(name).ok().map(|value| value.to_string())
            }))
        })
        .clone()
    })
}

/// Reads `SIGNING_KEYS`, `ISSUER` and `AUDIENCE` through `lookup` and reports
/// every problem at once. Messages never contain key material.
fn load_verifier(lookup: impl Fn(&str) -> Option<String>) -> Result<Verifier, String> {
    let setting = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut problems = Vec::new();
    let keys = match setting("SIGNING_KEYS") {
        Some(json) => KeySet::parse(&json).map_err(|e| problems.push(e.0)).ok(),
        None => {
            problems.push("SIGNING_KEYS is not set (the issuer's signing keys)".to_owned());
            None
        }
    };
    let issuer = setting("ISSUER");
    if issuer.is_none() {
        problems.push("ISSUER is not set (the issuer's `iss`)".to_owned());
    }
    let audience = setting("AUDIENCE");
    if audience.is_none() {
        problems.push("AUDIENCE is not set (this API's identifier)".to_owned());
    }
    match (keys, issuer, audience) {
        (Some(keys), Some(issuer), Some(audience)) => Ok(Verifier::new(keys, issuer, audience)),
        _ => Err(format!("invalid configuration: {}", problems.join("; "))),
    }
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
    let config = verifier(env);
    let verifier = match config.as_ref() {
        Ok(verifier) => verifier,
        Err(problem) => return Outcome::failed(500, "server_error", Some(problem.clone())),
    };

    let authorization = req.headers().get("Authorization").ok().flatten();
    let now = worker::Date::now().as_millis() / 1000;
    let claims = match extract_bearer(authorization.as_deref())
        .and_then(|token| verifier.verify(token, HELLO_SCOPES, now))
    {
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
