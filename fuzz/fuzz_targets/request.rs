//! The whole service: an `HttpRequest` built from the fuzz input goes
//! through `Service::handle` against an in-memory store holding two real
//! clients (made with the public API, as `tests/service.rs` does) and a
//! fixed, valid configuration.
//!
//! Input layout (bytes, in order; a missing byte reads as 0):
//!
//! * `f0`: bits 0-2 method (POST, POST, GET, HEAD, PUT, `post`, OPTIONS,
//!   arbitrary); bits 3-5 path (token, token, introspect, revoke, metadata,
//!   `/oauth2/token/`, `/`, arbitrary); bit 6 plain HTTP; bit 7 record cache.
//! * `f1`: bits 0-2 `Authorization` (client A Basic, none, disabled client B
//!   Basic, A's id with a wrong secret, A's second secret (expires at NOW - 100),
//!   arbitrary string,
//!   `Basic ` + base64(arbitrary bytes), A's Basic twice); bits 3-4
//!   `Content-Type` (form, form with charset in odd case, none, arbitrary);
//!   bit 5 body too large; bit 6 follow-up requests; bit 7 rate limiter.
//! * `f2`: bits 0-1 `CF-Connecting-IP` (none, fixed, padded, arbitrary);
//!   bit 2 hanging store with a timer that fires at once; bit 3 lower-case
//!   header names; bits 4-7 clock offset ((n - 8) * 64 s around `NOW`).
//! * `f3`: bit 0 raw body (the rest, as is) instead of parameters.
//! * then the arbitrary strings the flags asked for (1-byte length prefix,
//!   in the order method, path, authorization, content type, address);
//! * then the body: raw, or parameters `[tag] [value]`: tag % 10 picks
//!   grant_type, scope, client_id, client_secret, resource, audience, token,
//!   token_type_hint, an arbitrary (name, value) or a raw unencoded segment;
//!   a value byte < 0xa0 picks from a per-parameter dictionary (real ids and
//!   secrets, allowed and disallowed scopes and audiences), else an
//!   arbitrary string follows. A token byte < 0x80 picks a minted token,
//!   < 0xc0 a minted token with 1-4 bytes changed, else arbitrary.
//!
//! Oracles: the future completes; the status is one of the expected set and
//! never 5xx (503 only with the hanging store); every response is JSON with
//! `Cache-Control: no-store` (metadata: `public`); 405 has `Allow`, 401
//! `WWW-Authenticate`, 429/503 `Retry-After`; only a request carrying client
//! A's real secret gets 200/403 from a POST endpoint; issued tokens verify
//! with the right claims; introspection and revocation of minted tokens
//! give exactly the expected answer (and mutated tokens are inactive / a
//! no-op; a token stays revocable until `exp` plus the largest verifier
//! leeway); with follow-ups, the same request again gives the same answer
//! (a repeated revocation is a no-op that writes nothing), an issued token
//! introspects as active, a revoked one as inactive, and after failed
//! attempts (limiter on) client A's valid credentials from the same address
//! still get a token.
#![no_main]
// Test code: a failed fixture or assertion is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

use edge_token_core::bearer::MAX_LEEWAY_SECS;
use edge_token_core::cache::RecordCache;
use edge_token_core::config::Config;
use edge_token_core::form::{decode_component, encode_component, parse};
use edge_token_core::http::{Body, HttpRequest};
use edge_token_core::limit::{Blocklist, Limiter};
use edge_token_core::metadata::MAX_AGE_SECS;
use edge_token_core::routes::{self, route, Route};
use edge_token_core::service::{Outcome, Service};
use edge_token_core::timer::Timer;
use edge_token_core::token::{self, KeySet};
use edge_token_fuzz::{
    basic_header, block_on, clients, config, keyset, known_tokens, Client, Input, KnownToken,
    SeqRandom, API, BILLING, CONFIG_AUDIENCE, ISSUER, NOW,
};
use edge_token_testkit::MemoryStore;
use edge_token_testkit::{ImmediateTimer, NoTimer};
use edge_token_testkit::{MemoryLimiter, NoLimiter};

struct Fixture {
    config: Config,
    keys: KeySet,
    clients: [Client; 2],
    tokens: Vec<KnownToken>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let clients = clients();
        Fixture {
            config: config(),
            keys: keyset(),
            tokens: known_tokens(&clients),
            clients,
        }
    })
}

/// Builds the service for one request. The only place that names the
/// `Service` fields: adapt here when the struct changes.
#[allow(clippy::too_many_arguments)]
fn handle<L: Limiter, T: Timer>(
    f: &Fixture,
    store: &MemoryStore,
    cache: Option<&RecordCache>,
    limiter: &L,
    blocklist: Option<&Blocklist>,
    timer: &T,
    req: &HttpRequest,
    now: u64,
) -> Outcome {
    let random = SeqRandom::new(now);
    let service = Service {
        config: Ok(&f.config),
        store,
        random: &random,
        cache,
        limiter,
        blocklist,
        timer,
        signer: &edge_token_core::signing::RustSigner,
        replay: None,
    };
    block_on(service.handle(req, now))
}

/// What one fuzz case set up besides the request.
struct Env<'a, L, T> {
    f: &'a Fixture,
    store: MemoryStore,
    cache: Option<RecordCache>,
    limiter: L,
    limited: bool,
    blocklist: Option<Blocklist>,
    timer: T,
    hanging: bool,
}

impl<L: Limiter, T: Timer> Env<'_, L, T> {
    /// Runs `req` and checks the answer with [`check_response`], telling it
    /// whether the request's token was on the denylist beforehand.
    fn run_checked(&self, req: &HttpRequest, now: u64) -> Outcome {
        let revoked_before = known_token_revoked(self.f, &self.store, req);
        let out = self.run(req, now);
        if debug() {
            eprintln!(
                "{req:?}\n  -> {} {} {:?}",
                out.response.status, out.response.body, out.audit
            );
        }
        check_response(self.f, req, &out, now, self.hanging, revoked_before);
        out
    }

    fn run(&self, req: &HttpRequest, now: u64) -> Outcome {
        handle(
            self.f,
            &self.store,
            self.cache.as_ref(),
            &self.limiter,
            self.blocklist.as_ref(),
            &self.timer,
            req,
            now,
        )
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

fn pick<'a>(input: &mut Input, dict: &[&'a str]) -> std::borrow::Cow<'a, str> {
    let v = input.byte();
    if usize::from(v) < 0xa0 {
        dict[usize::from(v) % dict.len()].into()
    } else {
        input.string().into()
    }
}

fn token_value(input: &mut Input, tokens: &[KnownToken]) -> String {
    let v = input.byte();
    if v < 0x80 {
        tokens[usize::from(v) % tokens.len()].token.clone()
    } else if v < 0xc0 {
        let mut bytes = tokens[usize::from(input.byte()) % tokens.len()]
            .token
            .clone()
            .into_bytes();
        for _ in 0..=(v & 3) {
            let pos = usize::from(input.u16()) % bytes.len();
            bytes[pos] = input.byte();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        input.string()
    }
}

/// The form body built from parameters.
fn params_body(input: &mut Input, f: &Fixture) -> Vec<u8> {
    let [a, b] = &f.clients;
    let mut segments: Vec<Vec<u8>> = Vec::new();
    let mut n = 0;
    while !input.is_empty() && n < 24 {
        n += 1;
        let tag = input.byte();
        let (name, value) = match tag % 10 {
            0 => (
                "grant_type",
                pick(
                    input,
                    &[
                        "client_credentials",
                        "",
                        "authorization_code",
                        "Client_Credentials",
                    ],
                ),
            ),
            1 => (
                "scope",
                pick(
                    input,
                    &[
                        "read",
                        "read write",
                        "admin:all",
                        "",
                        "bogus",
                        "read  write",
                        "read\twrite",
                        "read read",
                    ],
                ),
            ),
            2 => (
                "client_id",
                pick(
                    input,
                    &[
                        a.id.as_str(),
                        b.id.as_str(),
                        "",
                        "etc_unknown",
                        a.secret.expose(),
                    ],
                ),
            ),
            3 => (
                "client_secret",
                pick(
                    input,
                    &[
                        a.secret.expose(),
                        b.secret.expose(),
                        "wrong",
                        "",
                        a.old_secret.expose(),
                    ],
                ),
            ),
            4 => (
                "resource",
                pick(
                    input,
                    &[
                        API,
                        BILLING,
                        CONFIG_AUDIENCE,
                        "https://other.example",
                        "not a uri",
                        "https://api.example#f",
                        "",
                    ],
                ),
            ),
            5 => (
                "audience",
                pick(
                    input,
                    &[
                        API,
                        BILLING,
                        "urn:billing https://api.example",
                        "",
                        "https://x",
                        "  ",
                    ],
                ),
            ),
            6 => ("token", token_value(input, &f.tokens).into()),
            7 => (
                "token_type_hint",
                pick(input, &["access_token", "refresh_token", ""]),
            ),
            8 => {
                let name = input.string();
                let value = input.string();
                segments.push(
                    format!("{}={}", encode_component(&name), encode_component(&value))
                        .into_bytes(),
                );
                continue;
            }
            _ => {
                segments.push(input.bytes().to_vec());
                continue;
            }
        };
        segments.push(format!("{name}={}", encode_component(&value)).into_bytes());
    }
    segments.join(&b'&')
}

/// Whether the request carries `secret` anywhere the service could read it
/// as a client secret: a body parameter or a Basic credential in any header.
fn mentions_secret(req: &HttpRequest, secret: &str) -> bool {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if let Body::Bytes(body) = &req.body {
        if let Ok(pairs) = parse(body) {
            if pairs.iter().any(|(_, v)| v.contains(secret)) {
                return true;
            }
        }
    }
    req.headers.iter().any(|(_, v)| {
        let encoded = v.trim().split_once(' ').map_or("", |(_, rest)| rest.trim());
        LENIENT
            .decode(encoded)
            .ok()
            .and_then(|raw| decode_component(&raw).ok())
            .is_some_and(|text| text.contains(secret))
    })
}

/// The `token` form parameter, if the body has exactly one.
fn token_param(req: &HttpRequest) -> Option<String> {
    let Body::Bytes(body) = &req.body else {
        return None;
    };
    let pairs = parse(body).ok()?;
    let mut tokens = pairs.into_iter().filter(|(n, _)| n == "token");
    let first = tokens.next()?;
    tokens.next().is_none().then_some(first.1)
}

/// Whether the request's `token` is a known token already on the denylist.
fn known_token_revoked(f: &Fixture, store: &MemoryStore, req: &HttpRequest) -> bool {
    token_param(req)
        .and_then(|t| f.tokens.iter().find(|k| k.token == t))
        .is_some_and(|k| store.revoked_until(&k.claims.jti).is_some())
}

/// The verify crate's validity rule, written out independently: issuer,
/// then exp, iat and nbf with `leeway`; an nbf that is not a whole number
/// makes the token invalid.
fn valid_at(c: &edge_token_core::token::AccessTokenClaims, now: u64, leeway: u64) -> bool {
    let nbf_ok = match c.extra.get("nbf") {
        None => true,
        Some(v) => v.as_u64().is_some_and(|nbf| nbf <= now + leeway),
    };
    c.iss == ISSUER && now < c.exp + leeway && c.iat <= now + leeway && nbf_ok
}

/// Whether client A's introspection of `known` at `now` must say active.
fn expected_active(f: &Fixture, known: &KnownToken, now: u64) -> bool {
    valid_at(
        &known.claims,
        now,
        edge_token_core::bearer::DEFAULT_LEEWAY_SECS,
    ) && known.claims.client_id == f.clients[0].id
}

fn check_response(
    f: &Fixture,
    req: &HttpRequest,
    out: &Outcome,
    now: u64,
    hanging: bool,
    revoked_before: bool,
) {
    let r = &out.response;
    let route = route(&req.path);
    let status = r.status;
    assert!(
        matches!(
            status,
            200 | 400 | 401 | 403 | 404 | 405 | 408 | 413 | 429 | 503
        ),
        "unexpected status {status}: {r:?}"
    );
    assert!(
        status < 500 || (status == 503 && hanging),
        "server error {status} with a valid config and a working store: {r:?} audit {:?}",
        out.audit
    );
    assert_eq!(out.audit.status, status, "audit status differs");
    assert_eq!(r.get_header("Content-Type"), Some("application/json"));
    let metadata_ok = route == Route::Metadata && status == 200;
    if metadata_ok {
        assert_eq!(
            r.get_header("Cache-Control"),
            Some(format!("public, max-age={MAX_AGE_SECS}").as_str())
        );
    } else {
        assert_eq!(
            r.get_header("Cache-Control"),
            Some("no-store"),
            "response without no-store: {r:?}"
        );
        assert_eq!(r.get_header("Pragma"), Some("no-cache"));
    }
    if metadata_ok && req.method == "HEAD" {
        assert!(r.body.is_empty());
    } else {
        let body: Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", r.body));
        assert!(body.is_object());
        if status != 200 {
            assert!(body["error"].is_string(), "error without code: {body}");
        }
    }
    match status {
        405 => assert!(r.get_header("Allow").is_some()),
        401 => assert!(r
            .get_header("WWW-Authenticate")
            .is_some_and(|v| v.starts_with("Basic "))),
        429 | 503 => assert!(r
            .get_header("Retry-After")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1)),
        _ => {}
    }
    if matches!(route, Route::NotFound) {
        assert_eq!(status, 404);
    }
    let post_endpoint = matches!(route, Route::Token | Route::Introspect | Route::Revoke);
    if !post_endpoint || !matches!(status, 200 | 403) {
        return;
    }
    // A POST endpoint answered after authenticating: that needs A's secret
    // (or its second one, while that has not expired).
    let [a, _] = &f.clients;
    let old_active = a.record.secrets[1].is_active(now);
    assert!(
        mentions_secret(req, a.secret.expose())
            || (old_active && mentions_secret(req, a.old_secret.expose())),
        "{status} without client A's secret in the request: {req:?} -> {r:?}"
    );
    assert!(
        !hanging,
        "answered {status} although the store never answers"
    );
    assert_eq!(out.audit.client_id.as_deref(), Some(a.id.as_str()));
    let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
    match (route, status) {
        (Route::Token, 200) => {
            let at = body["access_token"].as_str().expect("access_token");
            assert_eq!(body["token_type"], "Bearer");
            assert_eq!(body["expires_in"], 300);
            let claims = token::verify(&f.keys, at).expect("issued token verifies");
            assert_eq!(claims.client_id, a.id);
            assert_eq!(claims.sub, a.id);
            assert_eq!(claims.iss, ISSUER);
            assert_eq!((claims.iat, claims.exp), (now, now + 300));
            assert_eq!(claims.extra.get("tenant"), Some(&Value::from("acme")));
            for s in claims.scope.split(' ').filter(|s| !s.is_empty()) {
                assert!(a.record.allowed_scopes.iter().any(|x| x == s), "scope {s}");
            }
            let auds: Vec<String> = match &claims.aud {
                edge_token_core::token::Audience::One(x) => vec![x.clone()],
                edge_token_core::token::Audience::Many(v) => v.clone(),
            };
            assert!(!auds.is_empty());
            for x in &auds {
                assert!(
                    a.record.allowed_audiences.contains(x) || x == CONFIG_AUDIENCE,
                    "audience {x}"
                );
            }
        }
        (Route::Token, _) => panic!("403 from the token endpoint: {r:?}"),
        (Route::Introspect, 200) => {
            let token = token_param(req).expect("introspection answered without one token");
            let known = f.tokens.iter().find(|t| t.token == token);
            let expected = known.is_some_and(|k| expected_active(f, k, now));
            assert_eq!(
                body["active"].as_bool(),
                Some(expected),
                "introspection of {token:?} at {now}: {body}"
            );
            if let (true, Some(k)) = (expected, known) {
                assert_eq!(body["jti"], k.claims.jti.as_str());
                assert_eq!(body["client_id"], k.claims.client_id.as_str());
                assert_eq!(body["exp"], k.claims.exp);
                assert_eq!(body["token_type"], "Bearer");
            }
        }
        (Route::Introspect, _) => panic!("403 from introspection for client A: {r:?}"),
        (Route::Revoke, _) => {
            let token = token_param(req).expect("revocation answered without one token");
            // Revocable while an API may still accept it: until `exp` plus
            // the largest verifier leeway.
            let known = f
                .tokens
                .iter()
                .find(|t| t.token == token)
                .filter(|k| valid_at(&k.claims, now, MAX_LEEWAY_SECS));
            match known {
                Some(k) if k.claims.client_id == a.id => {
                    assert_eq!(status, 200);
                    if revoked_before {
                        // Read first: an already revoked token is a no-op.
                        assert_eq!(out.audit.outcome, "noop", "re-revoked {token:?}");
                        assert_eq!(out.audit.cause.as_deref(), Some("already revoked"));
                    } else {
                        assert_eq!(out.audit.outcome, "revoked");
                    }
                }
                Some(_) => assert_eq!(status, 403, "revoked another client's token"),
                None => {
                    assert_eq!(status, 200);
                    assert_eq!(out.audit.outcome, "noop", "revoked {token:?}");
                }
            }
            if status == 200 {
                assert_eq!(r.body, "{}");
            }
        }
        _ => {}
    }
}

/// Client A asks for a token with its real secret, from the address (the
/// `CF-Connecting-IP` headers) of `like` (follow-up checks).
fn token_as_a(f: &Fixture, like: &HttpRequest) -> HttpRequest {
    let mut headers: Vec<(String, String)> = like
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cf-connecting-ip"))
        .cloned()
        .collect();
    headers.push(("Authorization".into(), f.clients[0].basic()));
    headers.push(("Content-Type".into(), FORM.into()));
    HttpRequest {
        method: "POST".into(),
        path: routes::TOKEN.into(),
        https: true,
        headers,
        body: Body::Bytes(b"grant_type=client_credentials".to_vec()),
    }
}

/// Client A introspects `token` (follow-up checks).
fn introspect_as_a(f: &Fixture, token: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: routes::INTROSPECT.into(),
        https: true,
        headers: vec![
            ("Authorization".into(), f.clients[0].basic()),
            ("Content-Type".into(), FORM.into()),
        ],
        body: Body::Bytes(format!("token={}", encode_component(token)).into_bytes()),
    }
}

fn follow_up<L: Limiter, T: Timer>(env: &Env<L, T>, req: &HttpRequest, first: &Outcome, now: u64) {
    let f = env.f;
    // The same request again: same answer (the cache and the limiter aside).
    let writes = env.store.writes();
    let again = env.run_checked(req, now);
    let (s1, s2) = (first.response.status, again.response.status);
    if route(&req.path) == Route::Revoke && first.audit.outcome == "revoked" {
        // Repeating a revocation reads, finds it done, and writes nothing.
        assert_eq!(
            env.store.writes(),
            writes,
            "repeated revocation wrote again"
        );
        assert_eq!(again.audit.outcome, "noop");
    }
    if env.limited && matches!(s1, 401 | 429) {
        assert!(matches!(s2, 401 | 429), "{s1} then {s2}");
        // Whatever the failures did to this address's and ids' counters,
        // valid credentials from the same address are still served.
        let valid = token_as_a(f, req);
        let out = env.run_checked(&valid, now);
        let expected = if env.hanging { 503 } else { 200 };
        assert_eq!(
            out.response.status, expected,
            "valid credentials refused after failures from the same address: {valid:?} -> {:?}",
            out.response
        );
    } else {
        assert_eq!(s1, s2, "same request, different status: {req:?}");
        if route(&req.path) != Route::Token {
            assert_eq!(first.response.body, again.response.body);
        }
    }
    if env.hanging || first.response.status != 200 {
        return;
    }
    match route(&req.path) {
        Route::Token => {
            let body: Value = serde_json::from_str(&first.response.body).unwrap_or_default();
            let Some(at) = body["access_token"].as_str() else {
                return;
            };
            let out = env.run(&introspect_as_a(f, at), now);
            assert_eq!(out.response.status, 200);
            let v: Value = serde_json::from_str(&out.response.body).unwrap_or_default();
            assert_eq!(v["active"], true, "fresh token not active: {v}");
            assert_eq!(v["client_id"], f.clients[0].id.as_str());
        }
        Route::Revoke if first.audit.outcome == "revoked" => {
            let token = token_param(req).unwrap_or_default();
            let out = env.run(&introspect_as_a(f, &token), now);
            assert_eq!(out.response.status, 200);
            assert_eq!(
                out.response.body, r#"{"active":false}"#,
                "revoked token still active"
            );
        }
        _ => {}
    }
}

/// `FUZZ_DEBUG=1`: print each request and its outcome (to check what seeds reach).
fn debug() -> bool {
    static D: OnceLock<bool> = OnceLock::new();
    *D.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some())
}

fn fuzz_one(data: &[u8]) {
    let f = fixture();
    let mut input = Input::new(data);
    let (f0, f1, f2, f3) = (input.byte(), input.byte(), input.byte(), input.byte());
    let lower = f2 & 8 != 0;
    let name = |title: &str| {
        if lower {
            title.to_ascii_lowercase()
        } else {
            title.to_owned()
        }
    };

    let method = match f0 & 7 {
        0 | 1 => "POST".to_owned(),
        2 => "GET".to_owned(),
        3 => "HEAD".to_owned(),
        4 => "PUT".to_owned(),
        5 => "post".to_owned(),
        6 => "OPTIONS".to_owned(),
        _ => input.string(),
    };
    let path = match (f0 >> 3) & 7 {
        0 | 1 => routes::TOKEN.to_owned(),
        2 => routes::INTROSPECT.to_owned(),
        3 => routes::REVOKE.to_owned(),
        4 => routes::METADATA.to_owned(),
        5 => format!("{}/", routes::TOKEN),
        6 => "/".to_owned(),
        _ => input.string(),
    };
    let [a, b] = &f.clients;
    let mut headers: Vec<(String, String)> = Vec::new();
    let auth = name("Authorization");
    match f1 & 7 {
        0 => headers.push((auth, a.basic())),
        1 => {}
        2 => headers.push((auth, b.basic())),
        3 => headers.push((auth, basic_header(&a.id, "ets_wrong"))),
        4 => headers.push((auth, basic_header(&a.id, a.old_secret.expose()))),
        5 => headers.push((auth, input.string())),
        6 => headers.push((auth, format!("Basic {}", STANDARD.encode(input.bytes())))),
        _ => {
            headers.push((auth.clone(), a.basic()));
            headers.push((auth.to_ascii_uppercase(), a.basic()));
        }
    }
    let ct = name("Content-Type");
    match (f1 >> 3) & 3 {
        0 => headers.push((ct, FORM.into())),
        1 => headers.push((
            ct,
            " Application/X-WWW-Form-Urlencoded ; charset=UTF-8".into(),
        )),
        2 => {}
        _ => headers.push((ct, input.string())),
    }
    let ip = name("CF-Connecting-IP");
    match f2 & 3 {
        0 => {}
        1 => headers.push((ip, "203.0.113.7".into())),
        2 => headers.push((ip, " 203.0.113.7\t".into())),
        _ => headers.push((ip, input.string())),
    }
    let body = if f1 & 0x20 != 0 {
        match f3 & 6 {
            0 => Body::TimedOut,
            2 => Body::Unreadable,
            _ => Body::TooLarge,
        }
    } else if f3 & 1 != 0 {
        Body::Bytes(input.rest().to_vec())
    } else {
        Body::Bytes(params_body(&mut input, f))
    };
    let req = HttpRequest {
        method,
        path,
        https: f0 & 0x40 == 0,
        headers,
        body,
    };
    let now = (NOW as i64 + (i64::from(f2 >> 4) - 8) * 64) as u64;

    let store = MemoryStore::new();
    for c in &f.clients {
        store.put(&c.id, c.record.to_json());
    }
    let hanging = f2 & 4 != 0;
    store.set_hanging(hanging);
    let cache = (f0 & 0x80 != 0).then(|| RecordCache::new(f.config.client_cache_ttl, 8));
    let limited = f1 & 0x80 != 0;
    let follow = f1 & 0x40 != 0;
    macro_rules! go {
        ($limiter:expr, $timer:expr) => {{
            let env = Env {
                f,
                store,
                cache,
                limiter: $limiter,
                limited,
                blocklist: limited.then(|| Blocklist::new(8)),
                timer: $timer,
                hanging,
            };
            let out = env.run_checked(&req, now);
            if follow {
                follow_up(&env, &req, &out, now);
            }
        }};
    }
    match (limited, hanging) {
        (false, false) => go!(NoLimiter, NoTimer),
        (false, true) => go!(NoLimiter, ImmediateTimer),
        (true, false) => go!(MemoryLimiter::new(1), NoTimer),
        (true, true) => go!(MemoryLimiter::new(1), ImmediateTimer),
    }
}

fuzz_target!(|data: &[u8]| fuzz_one(data));
