//! The example API (`examples/resource-worker`) on workerd beside the shared
//! issuer: it verifies the issuer's tokens locally with the same
//! `SIGNING_KEYS`, and reads the issuer's revocation denylist from the same
//! local KV state. JWKS mode (`JWKS_URL`) is in [`jwks`].

mod jwks;

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use edge_token_core::token::{mint, AccessTokenClaims, Audience, KeySet};

use crate::harness::{basic, now, signing_keys_json, HttpResponse, Worker, ROOT};
use crate::{standard_client, worker, GRANT, ISSUER};

/// The API's identifier: its `AUDIENCE`, and the audience its client gets.
const API_AUDIENCE: &str = "https://api.example";
const REALM: &str = "resource-worker";

fn resource_worker_main() -> std::path::PathBuf {
    Path::new(ROOT).join("examples/resource-worker/build/index.js")
}

/// The example API, with the issuer's keys and KV state.
fn api() -> &'static Worker {
    static API: OnceLock<Worker> = OnceLock::new();
    API.get_or_init(|| {
        let issuer = worker();
        Worker::start_at(
            &resource_worker_main(),
            "resource",
            &[("ISSUER", ISSUER), ("AUDIENCE", API_AUDIENCE)],
            &signing_keys_json(&[(&issuer.kid, &issuer.key)]),
            false,
            Some(issuer.state.clone()),
        )
    })
}

/// A client of the API: scopes `read write` (both granted by default) and
/// the API as its only, hence default, audience.
fn api_client() -> &'static (String, String) {
    static CLIENT: OnceLock<(String, String)> = OnceLock::new();
    CLIENT.get_or_init(|| {
        worker().create_client(&["--scope", "read write", "--audience", API_AUDIENCE])
    })
}

/// A token from the issuer for `client`; `extra` is appended to the form.
fn issue(client: &(String, String), extra: &str) -> String {
    let r = worker().token_basic(&client.0, &client.1, &format!("{GRANT}{extra}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Signs `claims` with the issuer's own key: tokens it would not issue.
fn forge(claims: &AccessTokenClaims) -> String {
    let w = worker();
    let keys = KeySet::parse(&signing_keys_json(&[(&w.kid, &w.key)])).expect("keys");
    mint(&keys, claims).expect("HS256 key")
}

fn api_claims(client_id: &str) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.to_owned(),
        sub: client_id.to_owned(),
        aud: Audience::One(API_AUDIENCE.to_owned()),
        exp: now() + 300,
        iat: now(),
        jti: format!("forged-{}-{}", client_id, now()),
        client_id: client_id.to_owned(),
        scope: "read".to_owned(),
        extra: Default::default(),
    }
}

/// `method path` on the API, with an optional `Authorization` value.
fn call(w: &Worker, method: &str, path: &str, authorization: Option<&str>) -> HttpResponse {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n");
    if let Some(value) = authorization {
        req.push_str(&format!("Authorization: {value}\r\n"));
    }
    if method != "GET" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    w.raw(req.as_bytes())
}

fn hello(token: &str) -> HttpResponse {
    call(api(), "GET", "/api/hello", Some(&format!("Bearer {token}")))
}

/// Asserts an RFC 6750 refusal: status, JSON error, no-store, and the
/// challenge `Bearer realm="resource-worker", error=..., error_description=...`.
#[track_caller]
fn assert_refused(r: &HttpResponse, status: u16, code: &str, description: &str) {
    r.assert_error(status, code);
    assert_eq!(r.json()["error_description"], description, "{}", r.body);
    let challenge =
        format!(r#"Bearer realm="{REALM}", error="{code}", error_description="{description}""#);
    assert_eq!(r.header("www-authenticate"), Some(challenge.as_str()));
}

#[test]
fn resource_valid_token_returns_hello_for_its_client() {
    let client = api_client();
    let id = &client.0;
    let token = issue(client, "");
    let r = hello(&token);
    assert_eq!(r.status, 200, "{}", r.body);
    r.assert_no_store();
    assert!(r
        .header("content-type")
        .is_some_and(|v| v.starts_with("application/json")));
    assert!(r.header("www-authenticate").is_none());
    assert_eq!(
        r.json(),
        serde_json::json!({"hello": id, "scope": "read write", "aud": API_AUDIENCE})
    );
    // A query string does not change the route.
    let q = call(
        api(),
        "GET",
        "/api/hello?x=1",
        Some(&format!("Bearer {token}")),
    );
    assert_eq!(q.status, 200, "{}", q.body);
    // The API logs the request, never the token.
    std::thread::sleep(Duration::from_millis(500));
    let log = api().log_text();
    assert!(log.contains(id.as_str()), "no log line for the request");
    assert!(!log.contains(&token), "access token in the API log");
    assert!(
        !log.contains(token.rsplit('.').next().unwrap()),
        "token signature in the API log"
    );
}

#[test]
fn resource_extra_claims_are_returned_but_cannot_override() {
    let (id, _) = api_client();
    let mut claims = api_claims(id);
    claims.extra.insert("tenant".into(), "acme".into());
    claims.extra.insert("hello".into(), "spoofed".into());
    let r = hello(&forge(&claims));
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["hello"], id.as_str());
    assert_eq!(body["scope"], "read");
}

#[test]
fn resource_without_token_is_401_with_bare_challenge() {
    for authorization in [None, Some("Basic ZXRjX3g6ZXRzX3k="), Some("")] {
        let r = call(api(), "GET", "/api/hello", authorization);
        assert_eq!(r.status, 401, "{authorization:?}: {}", r.body);
        r.assert_no_store();
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer realm="resource-worker""#),
            "{authorization:?}"
        );
        // RFC 6750 §3.1: no error code when no authentication was attempted.
        assert_eq!(r.json(), serde_json::json!({}), "{authorization:?}");
    }
}

#[test]
fn resource_garbage_or_malformed_token_is_refused() {
    for (token, description) in [
        ("garbage", "malformed token"),
        ("a.b.c", "malformed token"),
        // {"alg":"none","typ":"at+jwt"}.{}.
        (
            "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.",
            "token type or algorithm not accepted",
        ),
    ] {
        assert_refused(&hello(token), 401, "invalid_token", description);
    }
    let r = call(api(), "GET", "/api/hello", Some("Bearer a b"));
    assert_refused(&r, 400, "invalid_request", "malformed bearer token");
    // Signed with another key under the issuer's kid.
    let (id, _) = api_client();
    let other = KeySet::parse(&signing_keys_json(&[(
        &worker().kid,
        &crate::harness::random_key(),
    )]))
    .unwrap();
    let r = hello(&mint(&other, &api_claims(id)).expect("HS256 key"));
    assert_refused(&r, 401, "invalid_token", "invalid signature");
}

#[test]
fn resource_token_for_another_audience_is_401_invalid_token() {
    // The standard client's token carries the issuer's DEFAULT_AUDIENCE.
    let token = issue(standard_client(), "");
    assert_refused(
        &hello(&token),
        401,
        "invalid_token",
        "token is not for this audience",
    );
}

#[test]
fn resource_token_from_another_issuer_is_401_invalid_token() {
    let (id, _) = api_client();
    let mut claims = api_claims(id);
    claims.iss = "https://other-issuer.test".into();
    assert_refused(
        &hello(&forge(&claims)),
        401,
        "invalid_token",
        "token is from another issuer",
    );
}

#[test]
fn resource_token_without_read_scope_is_403_insufficient_scope() {
    let token = issue(api_client(), "&scope=write");
    let r = hello(&token);
    r.assert_error(403, "insufficient_scope");
    assert_eq!(r.json()["scope"], "read");
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="resource-worker", error="insufficient_scope", error_description="token lacks a required scope", scope="read""#
        )
    );
    // With read, the same client passes.
    assert_eq!(hello(&issue(api_client(), "&scope=read")).status, 200);
}

#[test]
fn resource_expired_token_is_401_invalid_token() {
    let (id, _) = api_client();
    let mut claims = api_claims(id);
    // Past exp plus the verifier's 30 s leeway.
    claims.iat = now() - 400;
    claims.exp = now() - 100;
    assert_refused(
        &hello(&forge(&claims)),
        401,
        "invalid_token",
        "token expired",
    );
}

#[test]
fn resource_revoked_token_is_401_token_revoked() {
    let client = api_client();
    let token = issue(client, "");
    let other = issue(client, "");
    assert_eq!(hello(&token).status, 200);
    let r = worker().post(
        "/oauth2/revoke",
        &[("Authorization", &basic(&client.0, &client.1))],
        &format!("token={token}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Local KV has no propagation delay, but allow a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut r = hello(&token);
    while r.status == 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        r = hello(&token);
    }
    assert_refused(&r, 401, "invalid_token", "token revoked");
    // Only that token.
    assert_eq!(hello(&other).status, 200, "{}", hello(&other).body);
}

#[test]
fn resource_other_paths_are_404_and_other_methods_405() {
    let token = issue(api_client(), "");
    let auth = format!("Bearer {token}");
    for path in ["/", "/api", "/api/hello/", "/api/hello/x", "/API/HELLO"] {
        call(api(), "GET", path, Some(&auth)).assert_error(404, "not_found");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = call(api(), method, "/api/hello", Some(&auth));
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some("GET"), "{method}");
    }
}

/// Broken settings: every protected request is a 500 that says nothing
/// more, and the log names each problem (never the key).
#[test]
fn resource_bad_config_is_500_and_logged() {
    let short_key = b"0123456789abcdef";
    let api = Worker::start_at(
        &resource_worker_main(),
        "resource-bad-config",
        &[("ISSUER", ISSUER)],
        &signing_keys_json(&[("short", short_key)]),
        false,
        None,
    );
    for _ in 0..2 {
        let r = call(&api, "GET", "/api/hello", Some("Bearer x.y.z"));
        r.assert_error(500, "server_error");
        assert_eq!(r.json(), serde_json::json!({"error": "server_error"}));
    }
    std::thread::sleep(Duration::from_millis(500));
    let log = api.log_text();
    assert!(
        log.contains("key for kid \\\"short\\\" is 16 bytes; at least 32 are required"),
        "{log}"
    );
    assert!(log.contains("AUDIENCE is not set"), "{log}");
    let encoded =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, short_key);
    assert!(!log.contains(&encoded), "key material in the log");
}

/// One rule for validity: a signed token with a malformed `nbf` is refused
/// by the API (401) and introspects as inactive at the issuer, while the
/// same token without it is accepted by both.
#[test]
fn malformed_nbf_is_invalid_for_the_api_and_for_introspection() {
    let client = api_client();
    let (introspector, introspector_secret) = worker().create_client(&["--introspect"]);
    let introspect = |token: &str| {
        let r = worker().post(
            "/oauth2/introspect",
            &[("Authorization", &basic(&introspector, &introspector_secret))],
            &format!("token={token}"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["active"].clone()
    };
    let good = forge(&api_claims(&client.0));
    assert_eq!(hello(&good).status, 200, "{}", hello(&good).body);
    assert_eq!(introspect(&good), true);

    let mut claims = api_claims(&client.0);
    claims.jti.push_str("-nbf");
    claims.extra.insert("nbf".into(), "soon".into());
    let bad = forge(&claims);
    assert_refused(&hello(&bad), 401, "invalid_token", "malformed token");
    assert_eq!(introspect(&bad), false);
}
