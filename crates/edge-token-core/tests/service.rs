//! Service-level tests: `Service::handle` driven with crafted `HttpRequest`s
//! against the in-memory client store, natively (no Worker runtime).
// Test code: a failed fixture or assertion is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use edge_token_testkit::{block_on, config_from};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

use edge_token_core::bearer::Verifier;
use edge_token_core::client::{
    generate_client_id, generate_client_secret, ClientRecord, SecretEntry, SecretHash,
    RECORD_VERSION,
};
use edge_token_core::config::{Config, ConfigError};
use edge_token_core::credentials::ClientSecret;
use edge_token_core::form::encode_component;
use edge_token_core::http::{Body, HttpRequest, HttpResponse};
use edge_token_core::limit::{limit_key, Blocklist, LimitKind};
use edge_token_core::random::{OsRandom, Random, RandomError};
use edge_token_core::service::{Outcome, Service};
use edge_token_core::token::{verify, AccessTokenClaims, Audience};
use edge_token_testkit::MemoryStore;
use edge_token_testkit::{ImmediateTimer, NoTimer};
use edge_token_testkit::{MemoryLimiter, NoLimiter};
use hmac::{Hmac, Mac};
use sha2::Sha256;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

const NOW: u64 = 1_700_000_000;
const TOKEN_PATH: &str = "/oauth2/token";
const ISSUER: &str = "https://auth.example";
const API: &str = "https://api.example";
const BILLING: &str = "urn:billing";
const CONFIG_AUDIENCE: &str = "https://default.example";
const FORM: &str = "application/x-www-form-urlencoded";

/// The usual config: HTTPS required (default), TTL 300 / max 3600, a
/// config-level default audience.
fn default_config() -> Config {
    config_from(&[
        ("ISSUER", ISSUER),
        ("TOKEN_TTL", "300"),
        ("MAX_TOKEN_TTL", "3600"),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
    ])
}

/// A registered client and its plain secret.
struct TestClient {
    id: String,
    secret: ClientSecret,
    record: ClientRecord,
}

impl TestClient {
    fn new() -> Self {
        let id = generate_client_id(&OsRandom).unwrap();
        let secret = generate_client_secret(&OsRandom).unwrap();
        let record = ClientRecord {
            version: RECORD_VERSION,
            client_id: id.clone(),
            name: "test client".to_owned(),
            secrets: vec![SecretEntry {
                digest: SecretHash::compute(&id, &secret),
                created_at: NOW - 1_000,
                expires_at: None,
            }],
            keys: vec![],
            allowed_scopes: vec!["read".into(), "write".into(), "admin:all".into()],
            default_scopes: vec!["read".into()],
            allowed_audiences: vec![API.into(), BILLING.into()],
            default_audiences: vec![],
            token_ttl: None,
            disabled: false,
            introspect: false,
            introspect_audiences: vec![],
            extra_claims: Default::default(),
            created_at: NOW - 1_000,
            updated_at: NOW - 1_000,
        };
        TestClient { id, secret, record }
    }

    fn with(mut self, change: impl FnOnce(&mut ClientRecord)) -> Self {
        change(&mut self.record);
        self
    }

    fn store_in(&self, store: &MemoryStore) {
        store.put(&self.id, self.record.to_json());
    }

    fn basic(&self) -> String {
        basic_header(&self.id, self.secret.expose())
    }

    /// `client_id=...&client_secret=...` for `client_secret_post`.
    fn post_params(&self) -> String {
        format!(
            "client_id={}&client_secret={}",
            encode_component(&self.id),
            encode_component(self.secret.expose())
        )
    }

    /// The stored digests, as they appear in the record JSON.
    fn digests(&self) -> Vec<String> {
        self.record
            .secrets
            .iter()
            .map(|s| {
                serde_json::to_value(s.digest)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
}

/// A client stored in a fresh store.
fn stored_client() -> (MemoryStore, TestClient) {
    let store = MemoryStore::new();
    let client = TestClient::new();
    client.store_in(&store);
    (store, client)
}

fn basic_header(id: &str, secret: &str) -> String {
    basic_raw(format!("{}:{}", encode_component(id), encode_component(secret)).as_bytes())
}

fn basic_raw(raw: &[u8]) -> String {
    format!("Basic {}", STANDARD.encode(raw))
}

/// A request with exactly these parts.
fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Body) -> HttpRequest {
    HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        https: true,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body,
    }
}

/// An HTTPS form POST to the token endpoint.
fn form_post(body: &str, extra_headers: &[(&str, &str)]) -> HttpRequest {
    let mut headers = vec![("Content-Type", FORM)];
    headers.extend_from_slice(extra_headers);
    request(
        "POST",
        TOKEN_PATH,
        &headers,
        Body::Bytes(body.as_bytes().to_vec()),
    )
}

/// `client_credentials` with Basic authentication plus `params`.
fn basic_post(client: &TestClient, params: &str) -> HttpRequest {
    let body = if params.is_empty() {
        "grant_type=client_credentials".to_owned()
    } else {
        format!("grant_type=client_credentials&{params}")
    };
    form_post(&body, &[("Authorization", &client.basic())])
}

fn handle_with<R: Random>(
    config: Result<&Config, &ConfigError>,
    store: &MemoryStore,
    random: &R,
    req: &HttpRequest,
    now: u64,
) -> Outcome {
    handle_signed(
        config,
        store,
        random,
        &edge_token_core::signing::RustSigner,
        req,
        now,
    )
}

/// [`handle_with`] with the asymmetric signer given.
fn handle_signed<
    R: Random,
    G: edge_token_core::signing::Sign + edge_token_core::assertion::CheckSignature,
>(
    config: Result<&Config, &ConfigError>,
    store: &MemoryStore,
    random: &R,
    signer: &G,
    req: &HttpRequest,
    now: u64,
) -> Outcome {
    let service = Service {
        config,
        store,
        random,
        cache: None,
        limiter: &NoLimiter,
        blocklist: None,
        timer: &NoTimer,
        signer,
        replay: None,
    };
    block_on(service.handle(req, now))
}

fn handle_at(config: &Config, store: &MemoryStore, req: &HttpRequest, now: u64) -> Outcome {
    handle_with(Ok(config), store, &OsRandom, req, now)
}

fn handle(config: &Config, store: &MemoryStore, req: &HttpRequest) -> Outcome {
    handle_at(config, store, req, NOW)
}

/// A random source that always fails.
struct FailingRandom;

impl Random for FailingRandom {
    fn fill(&self, _buf: &mut [u8]) -> Result<(), RandomError> {
        Err(RandomError)
    }
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

/// Headers every response carries (RFC 6749 §5.1).
fn assert_no_store_json(response: &HttpResponse) {
    assert_eq!(
        response.get_header("content-type"),
        Some("application/json"),
        "{response:?}"
    );
    assert_eq!(
        response.get_header("cache-control"),
        Some("no-store"),
        "{response:?}"
    );
    assert_eq!(
        response.get_header("pragma"),
        Some("no-cache"),
        "{response:?}"
    );
}

/// Checks an error response: status, `error` code, the common headers and
/// exactly the status-specific ones. Returns the parsed body.
fn assert_error(outcome: &Outcome, status: u16, code: &str) -> Value {
    let response = &outcome.response;
    assert_eq!(response.status, status, "{response:?}");
    assert_no_store_json(response);
    let body: Value = serde_json::from_str(&response.body).expect("error body is JSON");
    assert_eq!(body["error"], code, "{response:?}");
    assert!(body["error_description"].is_string(), "{response:?}");
    assert!(body.get("access_token").is_none(), "{response:?}");

    let www = response.get_header("www-authenticate");
    if status == 401 {
        let www = www.expect("401 carries WWW-Authenticate");
        assert!(www.starts_with("Basic realm="), "{www}");
    } else {
        assert!(www.is_none(), "{response:?}");
    }
    if status == 405 {
        let expected = if matches!(outcome.audit.event, "metadata" | "jwks") {
            "GET, HEAD"
        } else {
            "POST"
        };
        assert_eq!(response.get_header("allow"), Some(expected), "{response:?}");
    } else {
        assert!(response.get_header("allow").is_none(), "{response:?}");
    }
    if status == 503 || status == 429 {
        let retry = response
            .get_header("retry-after")
            .expect("503 and 429 carry Retry-After");
        assert!(retry.parse::<u32>().is_ok_and(|s| s > 0), "{retry}");
    } else {
        assert!(response.get_header("retry-after").is_none(), "{response:?}");
    }

    assert_eq!(outcome.audit.status, status);
    assert_eq!(outcome.audit.error, Some(code));
    assert_eq!(
        outcome.audit.outcome,
        match status {
            429 => "rate_limited",
            500.. => "error",
            _ => "rejected",
        }
    );
    if outcome.audit.event == "token" {
        assert!(outcome.audit.jti.is_none());
    }
    body
}

/// A successful token response, checked and verified.
struct Issued {
    body: Value,
    token: String,
    claims: AccessTokenClaims,
    /// The JWT payload as raw JSON (to see how `aud` is encoded).
    payload: Value,
}

fn assert_issued(config: &Config, outcome: &Outcome) -> Issued {
    let response = &outcome.response;
    assert_eq!(response.status, 200, "{response:?}");
    assert_no_store_json(response);
    assert!(response.get_header("www-authenticate").is_none());
    let body: Value = serde_json::from_str(&response.body).expect("token body is JSON");
    let token = body["access_token"]
        .as_str()
        .expect("access_token is a string")
        .to_owned();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].is_u64(), "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("error").is_none(), "{body}");
    let claims = verify(config.keys.verify_keys(), &token).expect("issued token verifies");
    let payload_b64 = token.split('.').nth(1).expect("three segments");
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload_b64).unwrap())
        .expect("payload is JSON");

    assert_eq!(outcome.audit.status, 200);
    assert_eq!(outcome.audit.outcome, "issued");
    assert!(outcome.audit.error.is_none());
    assert_eq!(outcome.audit.jti.as_deref(), Some(claims.jti.as_str()));
    assert_eq!(outcome.audit.exp, Some(claims.exp));
    Issued {
        body,
        token,
        claims,
        payload,
    }
}

/// `aud` as a list, whatever its encoding.
fn aud_list(aud: &Audience) -> Vec<String> {
    match aud {
        Audience::One(a) => vec![a.clone()],
        Audience::Many(list) => list.clone(),
    }
}

// ---------------------------------------------------------------------------
// Success
// ---------------------------------------------------------------------------

fn assert_standard_grant(issued: &Issued, client: &TestClient, now: u64) {
    let c = &issued.claims;
    assert_eq!(c.iss, ISSUER);
    assert_eq!(c.sub, client.id);
    assert_eq!(c.client_id, client.id);
    assert_eq!(c.aud, Audience::One(CONFIG_AUDIENCE.to_owned()));
    assert_eq!(c.iat, now);
    assert_eq!(c.exp, now + 300);
    assert_eq!(c.scope, "read");
    // 16 random bytes, base64url without padding.
    assert_eq!(c.jti.len(), 22, "{}", c.jti);
    assert!(URL_SAFE_NO_PAD.decode(&c.jti).is_ok_and(|b| b.len() == 16));
    assert_eq!(issued.payload["aud"], CONFIG_AUDIENCE);
    assert_eq!(issued.body["expires_in"], 300);
    assert_eq!(issued.body["scope"], "read");
    let keys: Vec<&str> = issued
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);
}

#[test]
fn token_client_secret_basic_valid_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    let outcome = handle(&config, &store, &basic_post(&client, ""));
    let issued = assert_issued(&config, &outcome);
    assert_standard_grant(&issued, &client, NOW);
    assert_eq!(outcome.audit.client_id.as_deref(), Some(client.id.as_str()));
    assert_eq!(outcome.audit.auth_method, Some("client_secret_basic"));
    assert_eq!(outcome.audit.scope.as_deref(), Some("read"));
    assert_eq!(
        outcome.audit.aud.as_deref(),
        Some(&[CONFIG_AUDIENCE.to_owned()][..])
    );
    assert_eq!(store.reads(), 1);
}

#[test]
fn token_client_secret_post_valid_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    let body = format!("grant_type=client_credentials&{}", client.post_params());
    let outcome = handle(&config, &store, &form_post(&body, &[]));
    let issued = assert_issued(&config, &outcome);
    assert_standard_grant(&issued, &client, NOW);
    assert_eq!(outcome.audit.auth_method, Some("client_secret_post"));
}

#[test]
fn token_basic_with_matching_body_client_id_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    let params = format!("client_id={}", client.id);
    let outcome = handle(&config, &store, &basic_post(&client, &params));
    assert_eq!(assert_issued(&config, &outcome).claims.sub, client.id);
}

#[test]
fn token_basic_with_other_body_client_id_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    let outcome = handle(
        &config,
        &store,
        &basic_post(&client, "client_id=etc_someone_else"),
    );
    assert_error(&outcome, 400, "invalid_request");
}

#[test]
fn token_basic_scheme_lowercase_and_unpadded_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    let header = client
        .basic()
        .replacen("Basic", "basic", 1)
        .trim_end_matches('=')
        .to_owned();
    let req = form_post(
        "grant_type=client_credentials",
        &[("authorization", &header)],
    );
    assert_issued(&config, &handle(&config, &store, &req));
}

#[test]
fn token_two_requests_distinct_jti() {
    let config = default_config();
    let (store, client) = stored_client();
    let req = basic_post(&client, "");
    let first = assert_issued(&config, &handle(&config, &store, &req));
    let second = assert_issued(&config, &handle(&config, &store, &req));
    assert_ne!(first.claims.jti, second.claims.jti);
    assert_ne!(first.token, second.token);
}

#[test]
fn token_unknown_parameters_ignored_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    let outcome = handle(
        &config,
        &store,
        &basic_post(&client, "foo=bar&refresh_token=x&&username=u"),
    );
    assert_issued(&config, &outcome);
}

#[test]
fn token_http_with_require_https_false_issued() {
    let config = config_from(&[
        ("ISSUER", ISSUER),
        ("REQUIRE_HTTPS", "false"),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
    ]);
    let (store, client) = stored_client();
    let mut req = basic_post(&client, "");
    req.https = false;
    assert_issued(&config, &handle(&config, &store, &req));
}

// ---------------------------------------------------------------------------
// Method, path, transport
// ---------------------------------------------------------------------------

#[test]
fn token_non_post_method_method_not_allowed() {
    let config = default_config();
    let (store, client) = stored_client();
    for method in ["GET", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "post"] {
        let mut req = basic_post(&client, "");
        req.method = method.to_owned();
        let outcome = handle(&config, &store, &req);
        assert_error(&outcome, 405, "invalid_request");
        assert_eq!(outcome.audit.event, "token", "{method}");
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn unknown_path_any_method_not_found() {
    let config = default_config();
    let (store, client) = stored_client();
    for path in [
        "/",
        "/token",
        "/oauth2/token/",
        "/OAUTH2/TOKEN",
        "/oauth2/tokens",
        "/oauth2/token/x",
        "",
    ] {
        for method in ["POST", "GET"] {
            let mut req = basic_post(&client, "");
            req.path = path.to_owned();
            req.method = method.to_owned();
            let outcome = handle(&config, &store, &req);
            assert_error(&outcome, 404, "invalid_request");
            assert_eq!(outcome.audit.event, "not_found", "{path:?}");
        }
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_plain_http_with_default_require_https_invalid_request() {
    // REQUIRE_HTTPS unset: HTTPS is required.
    let config = config_from(&[("ISSUER", ISSUER), ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE)]);
    assert!(config.require_https);
    let (store, client) = stored_client();
    let mut req = basic_post(&client, "");
    req.https = false;
    let outcome = handle(&config, &store, &req);
    assert_error(&outcome, 400, "invalid_request");
    assert_eq!(store.reads(), 0, "the store must not be read over HTTP");
    assert!(outcome.audit.client_id.is_none());
}

#[test]
fn token_body_too_large_payload_too_large() {
    let config = default_config();
    let (store, client) = stored_client();
    let mut req = basic_post(&client, "");
    req.body = Body::TooLarge;
    let outcome = handle(&config, &store, &req);
    assert_error(&outcome, 413, "invalid_request");
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_body_timed_out_or_unreadable_refused_without_lookup() {
    let config = default_config();
    let (store, client) = stored_client();
    for (body, status, description) in [
        (Body::TimedOut, 408, "request body not received in time"),
        (Body::Unreadable, 400, "request body could not be read"),
    ] {
        let mut req = basic_post(&client, "");
        req.body = body;
        let outcome = handle(&config, &store, &req);
        let json = assert_error(&outcome, status, "invalid_request");
        assert_eq!(json["error_description"], description);
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_missing_content_type_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    let req = request(
        "POST",
        TOKEN_PATH,
        &[("Authorization", &client.basic())],
        Body::Bytes(b"grant_type=client_credentials".to_vec()),
    );
    assert_error(&handle(&config, &store, &req), 400, "invalid_request");
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_wrong_content_type_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    for content_type in [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencodedx",
        "application/x-www-form",
        "",
    ] {
        let req = request(
            "POST",
            TOKEN_PATH,
            &[
                ("Content-Type", content_type),
                ("Authorization", &client.basic()),
            ],
            Body::Bytes(b"grant_type=client_credentials".to_vec()),
        );
        let outcome = handle(&config, &store, &req);
        assert_error(&outcome, 400, "invalid_request");
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_content_type_with_charset_parameter_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    for content_type in [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "application/x-www-form-urlencoded;charset=utf-8",
        "Application/X-WWW-Form-Urlencoded",
        " application/x-www-form-urlencoded ",
    ] {
        let req = request(
            "POST",
            TOKEN_PATH,
            &[
                ("content-type", content_type),
                ("Authorization", &client.basic()),
            ],
            Body::Bytes(b"grant_type=client_credentials".to_vec()),
        );
        assert_issued(&config, &handle(&config, &store, &req));
    }
}

#[test]
fn token_malformed_percent_encoding_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    for body in [
        "grant_type=client_credentials&scope=%zz",
        "grant_type=client_credentials&scope=%4",
        "grant_type=client_credentials&scope=%",
        "grant_type=client_credentials&x%=1",
    ] {
        let req = form_post(body, &[("Authorization", &client.basic())]);
        let outcome = handle(&config, &store, &req);
        assert_error(&outcome, 400, "invalid_request");
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_invalid_utf8_body_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    let bodies: [&[u8]; 3] = [
        b"grant_type=client_credentials&scope=%ff%fe",
        b"grant_type=client_credentials&scope=\xff",
        b"grant_type=client_credentials&\xc3=1",
    ];
    for body in bodies {
        let req = request(
            "POST",
            TOKEN_PATH,
            &[("Content-Type", FORM), ("Authorization", &client.basic())],
            Body::Bytes(body.to_vec()),
        );
        assert_error(&handle(&config, &store, &req), 400, "invalid_request");
    }
    assert_eq!(store.reads(), 0);
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

#[test]
fn token_missing_grant_type_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    for body in ["", "scope=read", "grant_type=", "grant_type"] {
        let req = form_post(body, &[("Authorization", &client.basic())]);
        assert_error(&handle(&config, &store, &req), 400, "invalid_request");
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_other_grant_type_unsupported_grant_type() {
    let config = default_config();
    let (store, client) = stored_client();
    for grant in [
        "password",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "Client_Credentials",
        "client_credentials%20",
    ] {
        let req = form_post(
            &format!("grant_type={grant}"),
            &[("Authorization", &client.basic())],
        );
        assert_error(
            &handle(&config, &store, &req),
            400,
            "unsupported_grant_type",
        );
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_duplicated_single_valued_parameter_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    let basic = client.basic();
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "grant_type=client_credentials&grant_type=client_credentials".to_owned(),
            vec![("Authorization", basic.as_str())],
        ),
        (
            "grant_type=client_credentials&scope=read&scope=read".to_owned(),
            vec![("Authorization", basic.as_str())],
        ),
        (
            format!(
                "grant_type=client_credentials&client_id={0}&client_id={0}",
                client.id
            ),
            vec![("Authorization", basic.as_str())],
        ),
        (
            format!(
                "grant_type=client_credentials&{}&client_id={}",
                client.post_params(),
                client.id
            ),
            vec![],
        ),
        (
            format!(
                "grant_type=client_credentials&{}&client_secret={}",
                client.post_params(),
                client.secret.expose()
            ),
            vec![],
        ),
        (
            format!("grant_type=client_credentials&audience={API}&audience={API}"),
            vec![("Authorization", basic.as_str())],
        ),
    ];
    for (body, headers) in &cases {
        let outcome = handle(&config, &store, &form_post(body, headers));
        assert_error(&outcome, 400, "invalid_request");
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_basic_and_post_credentials_together_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    // The same, valid credentials both ways.
    let outcome = handle(&config, &store, &basic_post(&client, &client.post_params()));
    assert_error(&outcome, 400, "invalid_request");
    // A body secret alone beside Basic.
    let params = format!("client_secret={}", client.secret.expose());
    let outcome = handle(&config, &store, &basic_post(&client, &params));
    assert_error(&outcome, 400, "invalid_request");
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_malformed_basic_header_invalid_client() {
    let config = default_config();
    let (store, client) = stored_client();
    let secret = client.secret.expose();
    let cases: Vec<String> = vec![
        "Basic".to_owned(),
        "Basic ".to_owned(),
        "Basic !!!notbase64".to_owned(),
        "Basic //79".to_owned(),
        format!(
            "Bearer {}",
            STANDARD.encode(format!("{}:{secret}", client.id))
        ),
        format!(
            "Digest {}",
            STANDARD.encode(format!("{}:{secret}", client.id))
        ),
        format!(
            "Basic\t{}",
            STANDARD.encode(format!("{}:{secret}", client.id))
        ),
        basic_raw(format!("{}{secret}", client.id).as_bytes()),
        basic_raw(format!(":{secret}").as_bytes()),
        basic_raw(format!("{}:", client.id).as_bytes()),
        basic_raw(format!("{}:%zz", client.id).as_bytes()),
        basic_raw(b"id:\xff\xfe"),
        basic_raw(format!("{}:{}", "a".repeat(257), secret).as_bytes()),
        basic_raw(format!("{}:{}", client.id, "s".repeat(257)).as_bytes()),
        format!("Basic {}", "A".repeat(4096)),
        String::new(),
    ];
    for header in &cases {
        let req = form_post(
            "grant_type=client_credentials",
            &[("Authorization", header)],
        );
        let outcome = handle(&config, &store, &req);
        assert_error(&outcome, 401, "invalid_client");
    }
    assert_eq!(
        store.reads(),
        0,
        "malformed headers are refused before lookup"
    );
}

#[test]
fn token_two_authorization_headers_invalid_request() {
    let config = default_config();
    let (store, client) = stored_client();
    let req = form_post(
        "grant_type=client_credentials",
        &[
            ("Authorization", &client.basic()),
            ("authorization", &client.basic()),
        ],
    );
    assert_error(&handle(&config, &store, &req), 400, "invalid_request");
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_no_credentials_invalid_client() {
    let config = default_config();
    let (store, client) = stored_client();
    for body in [
        "grant_type=client_credentials".to_owned(),
        format!("grant_type=client_credentials&client_id={}", client.id),
        format!(
            "grant_type=client_credentials&client_id={}&client_secret=",
            client.id
        ),
        format!(
            "grant_type=client_credentials&client_secret={}",
            client.secret.expose()
        ),
        format!(
            "grant_type=client_credentials&client_id=&client_secret={}",
            client.secret.expose()
        ),
        format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            "a".repeat(257),
            client.secret.expose()
        ),
    ] {
        let outcome = handle(&config, &store, &form_post(&body, &[]));
        assert_error(&outcome, 401, "invalid_client");
    }
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_basic_for_nonexistent_client_invalid_client() {
    let config = default_config();
    let store = MemoryStore::new();
    let ghost = TestClient::new(); // never stored
    let outcome = handle(&config, &store, &basic_post(&ghost, ""));
    assert_error(&outcome, 401, "invalid_client");
    assert_eq!(store.reads(), 1);
    assert_eq!(outcome.audit.client_id.as_deref(), Some(ghost.id.as_str()));
}

#[test]
fn token_query_string_credentials_not_used_invalid_client() {
    // The adapter strips the query; even if a path carried one it would not be
    // the token endpoint, and credentials only count from header or body.
    let config = default_config();
    let (store, client) = stored_client();
    let mut req = form_post("grant_type=client_credentials", &[]);
    req.path = format!("{TOKEN_PATH}?{}", client.post_params());
    assert_error(&handle(&config, &store, &req), 404, "invalid_request");
    let req = form_post("grant_type=client_credentials", &[]);
    assert_error(&handle(&config, &store, &req), 401, "invalid_client");
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_secret_of_other_client_invalid_client() {
    let config = default_config();
    let (store, alice) = stored_client();
    let bob = TestClient::new();
    bob.store_in(&store);
    let req = form_post(
        "grant_type=client_credentials",
        &[(
            "Authorization",
            &basic_header(&alice.id, bob.secret.expose()),
        )],
    );
    assert_error(&handle(&config, &store, &req), 401, "invalid_client");
}

// ---------------------------------------------------------------------------
// Authentication failures look the same
// ---------------------------------------------------------------------------

#[test]
fn token_unknown_client_and_wrong_secret_identical_response() {
    let config = default_config();
    let store = MemoryStore::new();
    let valid = TestClient::new();
    valid.store_in(&store);
    let disabled = TestClient::new().with(|r| r.disabled = true);
    disabled.store_in(&store);
    let expired = TestClient::new().with(|r| r.secrets[0].expires_at = Some(NOW));
    expired.store_in(&store);
    let unknown = TestClient::new();
    let wrong_secret = generate_client_secret(&OsRandom).unwrap();

    // Sanity: the disabled and expired clients' secrets are otherwise right.
    let ok = handle_at(&config, &store, &basic_post(&expired, ""), NOW - 1);
    assert_issued(&config, &ok);

    type Case<'a> = (&'a str, String, String, &'a str);
    let cases: [Case; 4] = [
        (
            "unknown",
            unknown.id.clone(),
            unknown.secret.expose().to_owned(),
            "unknown client",
        ),
        (
            "wrong secret",
            valid.id.clone(),
            wrong_secret.expose().to_owned(),
            "secret mismatch or expired",
        ),
        (
            "disabled",
            disabled.id.clone(),
            disabled.secret.expose().to_owned(),
            "client disabled",
        ),
        (
            "expired",
            expired.id.clone(),
            expired.secret.expose().to_owned(),
            "secret mismatch or expired",
        ),
    ];
    for post in [false, true] {
        let mut responses = Vec::new();
        for (label, id, secret, cause) in &cases {
            let req = if post {
                form_post(
                    &format!(
                        "grant_type=client_credentials&client_id={}&client_secret={}",
                        encode_component(id),
                        encode_component(secret)
                    ),
                    &[],
                )
            } else {
                form_post(
                    "grant_type=client_credentials",
                    &[("Authorization", &basic_header(id, secret))],
                )
            };
            let outcome = handle(&config, &store, &req);
            assert_error(&outcome, 401, "invalid_client");
            assert_eq!(outcome.audit.cause.as_deref(), Some(*cause), "{label}");
            assert_eq!(outcome.audit.client_id.as_deref(), Some(id.as_str()));
            responses.push((label, outcome.response));
        }
        let (first_label, first) = &responses[0];
        for (label, response) in &responses[1..] {
            assert_eq!(
                response.body.as_bytes(),
                first.body.as_bytes(),
                "{label} vs {first_label}"
            );
            assert_eq!(response, first, "{label} vs {first_label}");
        }
    }
}

// ---------------------------------------------------------------------------
// Store, records, configuration, randomness
// ---------------------------------------------------------------------------

#[test]
fn token_store_unavailable_temporarily_unavailable() {
    let config = default_config();
    let (store, client) = stored_client();
    store.set_unavailable(true);
    let outcome = handle(&config, &store, &basic_post(&client, ""));
    let body = assert_error(&outcome, 503, "temporarily_unavailable");
    assert_eq!(outcome.response.get_header("retry-after"), Some("5"));
    let cause = outcome.audit.cause.as_deref().unwrap();
    assert!(cause.contains("injected failure"), "{cause}");
    assert!(!outcome.response.body.contains("injected"), "{body}");
    // And the client works again once the store is back.
    store.set_unavailable(false);
    assert_issued(&config, &handle(&config, &store, &basic_post(&client, "")));
}

#[test]
fn token_corrupt_record_server_error() {
    let config = default_config();
    let client = TestClient::new();
    let good = client.record.to_json();
    let other = TestClient::new();
    let cases = [
        ("{not json".to_owned(), "malformed client record"),
        (
            good.replace("\"version\":1", "\"version\":99"),
            "unsupported client record version 99",
        ),
        (other.record.to_json(), "does not match its key"),
        (
            good.replace(&client.digests()[0], "AAAA"),
            "malformed client record",
        ),
        (
            good.replace(
                "\"disabled\":",
                &format!(
                    "\"extra_claims\":{{\"big\":\"{}\"}},\"disabled\":",
                    "x".repeat(2100)
                ),
            ),
            "the extra claims take 2110 bytes as JSON; at most 2048 are allowed",
        ),
    ];
    for (json, internal) in cases {
        assert_ne!(json, good);
        let store = MemoryStore::new();
        store.put(&client.id, json.clone());
        let outcome = handle(&config, &store, &basic_post(&client, ""));
        let body = assert_error(&outcome, 500, "server_error");
        let cause = outcome.audit.cause.as_deref().unwrap();
        assert!(cause.contains(internal), "{cause}");
        for leak in [internal, "record", "version", "line", client.id.as_str()] {
            assert!(!outcome.response.body.contains(leak), "{leak} in {body}");
        }
    }
}

#[test]
fn token_config_error_server_error_nothing_issued() {
    let store = MemoryStore::new();
    let client = TestClient::new();
    client.store_in(&store);
    let error = ConfigError(vec![
        "SIGNING_KEYS is not set".to_owned(),
        "ISSUER is not set".to_owned(),
    ]);
    let req = basic_post(&client, "");
    let outcome = handle_with(Err(&error), &store, &OsRandom, &req, NOW);
    let body = assert_error(&outcome, 500, "server_error");
    assert!(!outcome.response.body.contains("SIGNING_KEYS"), "{body}");
    assert!(!outcome.response.body.contains("ISSUER"), "{body}");
    let cause = outcome.audit.cause.as_deref().unwrap();
    assert!(cause.contains("SIGNING_KEYS is not set"), "{cause}");
    assert_eq!(store.reads(), 0);
}

#[test]
fn token_random_source_failure_server_error_nothing_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    let req = basic_post(&client, "");
    let outcome = handle_with(Ok(&config), &store, &FailingRandom, &req, NOW);
    let body = assert_error(&outcome, 500, "server_error");
    assert!(!outcome.response.body.contains('.'), "{body}");
    assert!(outcome.audit.scope.is_none() && outcome.audit.exp.is_none());
    let cause = outcome.audit.cause.as_deref().unwrap();
    assert!(cause.contains("random"), "{cause}");
}

// ---------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------

#[test]
fn token_scope_absent_default_scopes_granted() {
    let config = default_config();
    let (store, client) = stored_client();
    for params in ["", "scope=", "scope=+++"] {
        let issued = assert_issued(
            &config,
            &handle(&config, &store, &basic_post(&client, params)),
        );
        assert_eq!(issued.claims.scope, "read", "{params}");
        assert_eq!(issued.body["scope"], "read", "{params}");
    }
}

#[test]
fn token_scope_subset_granted() {
    let config = default_config();
    let (store, client) = stored_client();
    for (requested, granted) in [
        ("write", "write"),
        ("write+read+write", "write read"),
        ("admin%3Aall", "admin:all"),
        ("read%20write%20admin:all", "read write admin:all"),
    ] {
        let outcome = handle(
            &config,
            &store,
            &basic_post(&client, &format!("scope={requested}")),
        );
        let issued = assert_issued(&config, &outcome);
        assert_eq!(issued.claims.scope, granted, "{requested}");
        assert_eq!(issued.payload["scope"], granted, "{requested}");
        assert_eq!(issued.body["scope"], granted, "{requested}");
        assert_eq!(outcome.audit.scope.as_deref(), Some(granted));
    }
}

#[test]
fn token_scope_not_allowed_invalid_scope() {
    let config = default_config();
    let (store, client) = stored_client();
    for requested in ["delete", "read+delete", "READ", "admin"] {
        let outcome = handle(
            &config,
            &store,
            &basic_post(&client, &format!("scope={requested}")),
        );
        assert_error(&outcome, 400, "invalid_scope");
    }
}

#[test]
fn token_scope_malformed_invalid_scope() {
    let config = default_config();
    let (store, client) = stored_client();
    for requested in ["re%22ad", "read%5C", "read%09write", "r%C3%A9ad", "read%0A"] {
        let outcome = handle(
            &config,
            &store,
            &basic_post(&client, &format!("scope={requested}")),
        );
        assert_error(&outcome, 400, "invalid_scope");
    }
}

#[test]
fn token_scope_requested_by_unauthenticated_client_invalid_client() {
    let config = default_config();
    let (store, client) = stored_client();
    let req = form_post(
        "grant_type=client_credentials&scope=delete",
        &[(
            "Authorization",
            &basic_header(&client.id, "ets_not_the_secret"),
        )],
    );
    assert_error(&handle(&config, &store, &req), 401, "invalid_client");
}

#[test]
fn token_client_without_default_scopes_scope_omitted() {
    let config = default_config();
    let store = MemoryStore::new();
    let client = TestClient::new().with(|r| r.default_scopes.clear());
    client.store_in(&store);
    let outcome = handle(&config, &store, &basic_post(&client, ""));
    // The log line omits what does not apply: no `"scope":""`.
    let line: Value = serde_json::from_str(&outcome.audit.to_json()).unwrap();
    assert_eq!(line["outcome"], "issued", "{line}");
    assert!(line.get("scope").is_none(), "{line}");
    let issued = assert_issued(&config, &outcome);
    assert!(issued.body.get("scope").is_none(), "{}", issued.body);
    assert!(issued.payload.get("scope").is_none(), "{}", issued.payload);
    assert_eq!(issued.claims.scope, "");
}

// ---------------------------------------------------------------------------
// Audience
// ---------------------------------------------------------------------------

#[test]
fn token_resource_repeated_all_granted_as_array() {
    let config = default_config();
    let (store, client) = stored_client();
    let params = format!(
        "resource={}&resource={}&resource={}",
        encode_component(API),
        encode_component(BILLING),
        encode_component(API)
    );
    let outcome = handle(&config, &store, &basic_post(&client, &params));
    let issued = assert_issued(&config, &outcome);
    assert_eq!(aud_list(&issued.claims.aud), [API, BILLING]);
    assert_eq!(issued.payload["aud"], serde_json::json!([API, BILLING]));
    assert_eq!(
        outcome.audit.aud,
        Some(vec![API.to_owned(), BILLING.to_owned()])
    );
}

#[test]
fn token_audience_space_delimited_granted() {
    let config = default_config();
    let (store, client) = stored_client();
    let params = format!(
        "audience={}",
        encode_component(&format!("{BILLING}  {API}"))
    );
    let issued = assert_issued(
        &config,
        &handle(&config, &store, &basic_post(&client, &params)),
    );
    assert_eq!(issued.payload["aud"], serde_json::json!([BILLING, API]));
}

#[test]
fn token_single_requested_audience_aud_is_string() {
    let config = default_config();
    let (store, client) = stored_client();
    for params in [
        format!("resource={}", encode_component(API)),
        format!("audience={}", encode_component(API)),
        format!(
            "resource={}&audience={}",
            encode_component(API),
            encode_component(API)
        ),
    ] {
        let issued = assert_issued(
            &config,
            &handle(&config, &store, &basic_post(&client, &params)),
        );
        assert!(issued.payload["aud"].is_string(), "{}", issued.payload);
        assert_eq!(issued.payload["aud"], API);
        assert_eq!(issued.claims.aud, Audience::One(API.to_owned()));
    }
}

#[test]
fn token_audience_not_allowed_invalid_target() {
    let config = default_config();
    let (store, client) = stored_client();
    for params in [
        "resource=https%3A%2F%2Fother.example".to_owned(),
        "audience=urn%3Anope".to_owned(),
        format!("resource={}&audience=urn%3Anope", encode_component(API)),
        format!("audience={}", encode_component(&format!("{API}/"))),
    ] {
        let outcome = handle(&config, &store, &basic_post(&client, &params));
        assert_error(&outcome, 400, "invalid_target");
    }
}

#[test]
fn token_audience_effective_default_requested_explicitly_issued() {
    // No client default: the configured default is what the client would
    // get anyway, so naming it explicitly is allowed.
    let config = default_config();
    let (store, client) = stored_client();
    let params = format!("audience={}", encode_component(CONFIG_AUDIENCE));
    let outcome = handle(&config, &store, &basic_post(&client, &params));
    assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
    // With a client default, the configured default is not requestable.
    let store = MemoryStore::new();
    let client = TestClient::new().with(|r| r.default_audiences = vec![API.into()]);
    client.store_in(&store);
    let outcome = handle(&config, &store, &basic_post(&client, &params));
    assert_error(&outcome, 400, "invalid_target");
}

#[test]
fn token_resource_not_absolute_uri_invalid_target() {
    let config = default_config();
    let store = MemoryStore::new();
    // A record cannot hold these values (ClientRecord::validate refuses
    // them), so they are refused for their form, whatever the record says.
    let bad = TestClient::new().with(|r| {
        r.allowed_audiences
            .extend(["/relative", "api.example", "https://api.example#frag"].map(String::from));
    });
    assert!(bad.record.validate().is_err());
    let client = TestClient::new();
    client.store_in(&store);
    for resource in [
        "/relative",
        "api.example",
        "https://api.example#frag",
        "",
        "1http://x",
    ] {
        let params = format!("resource={}", encode_component(resource));
        let outcome = handle(&config, &store, &basic_post(&client, &params));
        assert_error(&outcome, 400, "invalid_target");
    }
}

#[test]
fn token_audience_absent_client_default_used() {
    let config = default_config();
    let store = MemoryStore::new();
    let client = TestClient::new().with(|r| r.default_audiences = vec![BILLING.to_owned()]);
    client.store_in(&store);
    let issued = assert_issued(&config, &handle(&config, &store, &basic_post(&client, "")));
    assert_eq!(issued.payload["aud"], BILLING);
}

#[test]
fn token_audience_absent_config_default_used() {
    let config = config_from(&[
        ("ISSUER", ISSUER),
        ("DEFAULT_AUDIENCE", &format!("{CONFIG_AUDIENCE} urn:other")),
    ]);
    let (store, client) = stored_client();
    let issued = assert_issued(&config, &handle(&config, &store, &basic_post(&client, "")));
    assert_eq!(
        issued.payload["aud"],
        serde_json::json!([CONFIG_AUDIENCE, "urn:other"])
    );
}

#[test]
fn token_audience_absent_no_default_invalid_target() {
    let config = config_from(&[("ISSUER", ISSUER)]);
    assert!(config.default_audiences.is_empty());
    let (store, client) = stored_client();
    let outcome = handle(&config, &store, &basic_post(&client, ""));
    assert_error(&outcome, 400, "invalid_target");
    // Naming an allowed audience still works under that config.
    let params = format!("resource={}", encode_component(API));
    assert_issued(
        &config,
        &handle(&config, &store, &basic_post(&client, &params)),
    );
}

// ---------------------------------------------------------------------------
// Lifetime
// ---------------------------------------------------------------------------

fn assert_ttl(issued: &Issued, now: u64, ttl: u64) {
    assert_eq!(issued.body["expires_in"], ttl);
    assert_eq!(issued.claims.iat, now);
    assert_eq!(issued.claims.exp, now + ttl);
}

#[test]
fn token_ttl_unset_config_token_ttl_used() {
    let config = config_from(&[
        ("ISSUER", ISSUER),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
        ("TOKEN_TTL", "120"),
    ]);
    let (store, client) = stored_client();
    let issued = assert_issued(&config, &handle(&config, &store, &basic_post(&client, "")));
    assert_ttl(&issued, NOW, 120);
}

#[test]
fn token_ttl_per_client_used() {
    let config = default_config();
    let store = MemoryStore::new();
    let client = TestClient::new().with(|r| r.token_ttl = Some(900));
    client.store_in(&store);
    let issued = assert_issued(&config, &handle(&config, &store, &basic_post(&client, "")));
    assert_ttl(&issued, NOW, 900);
}

#[test]
fn token_ttl_per_client_above_max_capped() {
    let config = default_config();
    let store = MemoryStore::new();
    let client = TestClient::new().with(|r| r.token_ttl = Some(86_400));
    client.store_in(&store);
    let issued = assert_issued(&config, &handle(&config, &store, &basic_post(&client, "")));
    assert_ttl(&issued, NOW, 3600);
}

// ---------------------------------------------------------------------------
// Secret rotation
// ---------------------------------------------------------------------------

const GRACE: u64 = 600;

/// A stored client whose secret was rotated at `NOW` with `GRACE`; returns
/// the old and new secrets.
fn rotated_client() -> (MemoryStore, TestClient, ClientSecret) {
    let store = MemoryStore::new();
    let mut client = TestClient::new();
    let new_secret = generate_client_secret(&OsRandom).unwrap();
    client
        .record
        .rotate_secret(
            SecretHash::compute(&client.id, &new_secret),
            NOW,
            GRACE,
            false,
        )
        .unwrap();
    client.store_in(&store);
    (store, client, new_secret)
}

#[test]
fn token_rotated_old_secret_within_grace_issued() {
    let config = default_config();
    let (store, old, _) = rotated_client();
    for now in [NOW, NOW + GRACE - 1] {
        let issued = assert_issued(
            &config,
            &handle_at(&config, &store, &basic_post(&old, ""), now),
        );
        assert_eq!(issued.claims.iat, now);
    }
}

#[test]
fn token_rotated_old_secret_after_grace_invalid_client() {
    let config = default_config();
    let (store, old, _) = rotated_client();
    for now in [NOW + GRACE, NOW + GRACE + 86_400] {
        let outcome = handle_at(&config, &store, &basic_post(&old, ""), now);
        assert_error(&outcome, 401, "invalid_client");
        assert_eq!(
            outcome.audit.cause.as_deref(),
            Some("secret mismatch or expired")
        );
    }
}

#[test]
fn token_rotated_new_secret_issued() {
    let config = default_config();
    let (store, client, new_secret) = rotated_client();
    let req = form_post(
        "grant_type=client_credentials",
        &[(
            "Authorization",
            &basic_header(&client.id, new_secret.expose()),
        )],
    );
    for now in [NOW, NOW + GRACE - 1, NOW + GRACE, NOW + 10 * GRACE] {
        assert_issued(&config, &handle_at(&config, &store, &req, now));
    }
}

// ---------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------

#[test]
fn audit_any_outcome_no_secret_token_or_digest() {
    let config = default_config();
    let (store, client, new_secret) = rotated_client();
    let digests = client.digests();
    assert_eq!(digests.len(), 2);
    let wrong = generate_client_secret(&OsRandom).unwrap();

    let requests = [
        basic_post(&client, "scope=read+write"),
        form_post(
            &format!("grant_type=client_credentials&{}", client.post_params()),
            &[],
        ),
        form_post(
            "grant_type=client_credentials",
            &[(
                "Authorization",
                &basic_header(&client.id, new_secret.expose()),
            )],
        ),
        form_post(
            "grant_type=client_credentials",
            &[("Authorization", &basic_header(&client.id, wrong.expose()))],
        ),
        basic_post(&client, "scope=delete"),
        basic_post(&client, &client.post_params()),
    ];
    let mut issued = 0;
    for req in &requests {
        let outcome = handle(&config, &store, req);
        let audit = outcome.audit.to_json();
        let parsed: Value = serde_json::from_str(&audit).expect("audit is JSON");
        assert_eq!(parsed["event"], "token");
        assert_eq!(parsed["status"], outcome.response.status);
        for secret in [&client.secret, &new_secret, &wrong] {
            assert!(!audit.contains(secret.expose()), "secret in {audit}");
        }
        for digest in &digests {
            assert!(!audit.contains(digest.as_str()), "digest in {audit}");
        }
        assert!(!audit.contains("digest"), "{audit}");
        if outcome.response.status == 200 {
            issued += 1;
            let token = assert_issued(&config, &outcome).token;
            assert!(!audit.contains(&token), "token in {audit}");
            for segment in token.split('.') {
                assert!(!audit.contains(segment), "token part in {audit}");
            }
            assert_eq!(parsed["client_id"], client.id.as_str());
        }
    }
    assert_eq!(issued, 3, "the first three requests succeed");
}

// ---------------------------------------------------------------------------
// Introspection (RFC 7662), revocation (RFC 7009), metadata (RFC 8414)
// ---------------------------------------------------------------------------

/// Issues a token for `client` through the service and returns it.
fn issue(config: &Config, store: &MemoryStore, client: &TestClient, now: u64) -> String {
    let outcome = handle_at(config, store, &basic_post(client, ""), now);
    assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
    let body: Value = serde_json::from_str(&outcome.response.body).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A POST to `path` authenticated with Basic as `caller`.
fn post_as(caller: &TestClient, path: &str, body: &str) -> HttpRequest {
    let mut req = form_post(body, &[("Authorization", &caller.basic())]);
    req.path = path.to_owned();
    req
}

fn introspect_at(
    config: &Config,
    store: &MemoryStore,
    caller: &TestClient,
    token: &str,
    now: u64,
) -> Outcome {
    let body = format!(
        "token={}&token_type_hint=access_token",
        encode_component(token)
    );
    handle_at(
        config,
        store,
        &post_as(caller, "/oauth2/introspect", &body),
        now,
    )
}

fn body_json(outcome: &Outcome) -> Value {
    serde_json::from_str(&outcome.response.body).unwrap()
}

#[track_caller]
fn assert_inactive(outcome: &Outcome) {
    assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
    assert_no_store_json(&outcome.response);
    assert_eq!(body_json(outcome), serde_json::json!({"active": false}));
    assert_eq!(outcome.audit.outcome, "inactive");
}

/// A store with a token-holding client and an introspecting client.
fn introspection_setup() -> (Config, MemoryStore, TestClient, TestClient) {
    let config = default_config();
    let (store, subject) = stored_client();
    let caller = TestClient::new().with(|r| r.introspect = true);
    caller.store_in(&store);
    (config, store, subject, caller)
}

#[test]
fn introspect_valid_token_active_with_claims() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let outcome = introspect_at(&config, &store, &caller, &token, NOW + 10);
    assert_eq!(outcome.response.status, 200);
    assert_no_store_json(&outcome.response);
    let v = body_json(&outcome);
    let claims = verify(config.keys.verify_keys(), &token).unwrap();
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], subject.id.as_str());
    assert_eq!(v["sub"], subject.id.as_str());
    assert_eq!(v["scope"], "read");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["iss"], ISSUER);
    assert_eq!(v["aud"], CONFIG_AUDIENCE);
    assert_eq!(v["exp"], claims.exp);
    assert_eq!(v["iat"], claims.iat);
    assert_eq!(v["jti"], claims.jti.as_str());
    assert_eq!(outcome.audit.outcome, "active");
    assert_eq!(outcome.audit.jti.as_deref(), Some(claims.jti.as_str()));
    assert!(!outcome.audit.to_json().contains(&token));
}

#[test]
fn introspect_expired_token_inactive() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let exp = verify(config.keys.verify_keys(), &token).unwrap().exp;
    // Active exactly while an API verifying it locally (default leeway)
    // accepts it: one rule, edge_token_verify::validation::validate.
    let leeway = edge_token_core::bearer::DEFAULT_LEEWAY_SECS;
    assert_eq!(
        body_json(&introspect_at(
            &config,
            &store,
            &caller,
            &token,
            exp + leeway - 1
        ))["active"],
        true
    );
    assert_inactive(&introspect_at(
        &config,
        &store,
        &caller,
        &token,
        exp + leeway,
    ));
}

#[test]
fn introspect_tampered_malformed_or_foreign_token_inactive() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let other_config = config_from(&[
        ("ISSUER", "https://other.example"),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
    ]);
    let foreign_key = issue(&other_config, &store, &subject, NOW);
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    // Same key, other issuer: signature fine, iss wrong.
    let keys_json = edge_token_testkit::random_signing_keys();
    let same_key_a = config_from(&[
        ("ISSUER", ISSUER),
        ("SIGNING_KEYS", &keys_json),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
    ]);
    let same_key_b = config_from(&[
        ("ISSUER", "https://other.example"),
        ("SIGNING_KEYS", &keys_json),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
    ]);
    let foreign_issuer = issue(&same_key_b, &store, &subject, NOW);
    for t in [tampered.as_str(), "", "x", "a.b.c", foreign_key.as_str()] {
        assert_inactive(&introspect_at(&config, &store, &caller, t, NOW));
    }
    assert_inactive(&introspect_at(
        &same_key_a,
        &store,
        &caller,
        &foreign_issuer,
        NOW,
    ));
    let own = issue(&same_key_a, &store, &subject, NOW);
    assert_eq!(
        body_json(&introspect_at(&same_key_a, &store, &caller, &own, NOW))["active"],
        true
    );
}

#[test]
fn introspect_token_of_disabled_or_deleted_client_inactive() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let disabled = TestClient {
        record: ClientRecord {
            disabled: true,
            ..subject.record.clone()
        },
        id: subject.id.clone(),
        secret: subject.secret.clone(),
    };
    disabled.store_in(&store);
    assert_inactive(&introspect_at(&config, &store, &caller, &token, NOW));
    store.delete(&subject.id);
    assert_inactive(&introspect_at(&config, &store, &caller, &token, NOW));
}

#[test]
fn introspect_without_permission_unauthorized_client_403() {
    let (config, store, subject, _) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let outcome = introspect_at(&config, &store, &subject, &token, NOW);
    assert_error(&outcome, 403, "unauthorized_client");
}

#[test]
fn introspect_bad_credentials_invalid_client_and_missing_token_invalid_request() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let mut req = post_as(&caller, "/oauth2/introspect", &format!("token={token}"));
    req.headers = vec![
        ("Content-Type".to_owned(), FORM.to_owned()),
        (
            "Authorization".to_owned(),
            basic_header(&caller.id, "ets_wrong"),
        ),
    ];
    assert_error(&handle(&config, &store, &req), 401, "invalid_client");
    let req = post_as(
        &caller,
        "/oauth2/introspect",
        "token_type_hint=access_token",
    );
    assert_error(&handle(&config, &store, &req), 400, "invalid_request");
    let req = post_as(
        &caller,
        "/oauth2/introspect",
        &format!("token={token}&token=x"),
    );
    assert_error(&handle(&config, &store, &req), 400, "invalid_request");
}

#[test]
fn introspect_store_unavailable_temporarily_unavailable() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    store.set_unavailable(true);
    let outcome = introspect_at(&config, &store, &caller, &token, NOW);
    assert_error(&outcome, 503, "temporarily_unavailable");
}

#[test]
fn revoke_own_token_then_introspect_inactive() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let claims = verify(config.keys.verify_keys(), &token).unwrap();
    let outcome = handle(
        &config,
        &store,
        &post_as(&subject, "/oauth2/revoke", &format!("token={token}")),
    );
    assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
    assert_no_store_json(&outcome.response);
    assert_eq!(outcome.audit.outcome, "revoked");
    assert_eq!(
        store.revoked_until(&claims.jti),
        Some(claims.exp + edge_token_core::service::REVOCATION_MARGIN_SECS)
    );
    assert_inactive(&introspect_at(&config, &store, &caller, &token, NOW));
}

#[test]
fn revoke_short_lived_token_denylisted_past_exp_by_margin() {
    let config = config_from(&[
        ("ISSUER", ISSUER),
        ("TOKEN_TTL", "30"),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
    ]);
    let (store, subject) = stored_client();
    let token = issue(&config, &store, &subject, NOW);
    let claims = verify(config.keys.verify_keys(), &token).unwrap();
    handle(
        &config,
        &store,
        &post_as(&subject, "/oauth2/revoke", &format!("token={token}")),
    );
    assert_eq!(
        store.revoked_until(&claims.jti),
        Some(NOW + 30 + edge_token_core::service::REVOCATION_MARGIN_SECS)
    );
}

#[test]
fn revoke_invalid_or_expired_token_ok_without_denylisting() {
    let (config, store, subject, _) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let claims = verify(config.keys.verify_keys(), &token).unwrap();
    for t in ["garbage", "a.b.c"] {
        let outcome = handle(
            &config,
            &store,
            &post_as(&subject, "/oauth2/revoke", &format!("token={t}")),
        );
        assert_eq!(outcome.response.status, 200);
        assert_eq!(outcome.audit.outcome, "noop");
    }
    // Past exp plus the largest leeway any API applies: nothing to revoke.
    let outcome = handle_at(
        &config,
        &store,
        &post_as(&subject, "/oauth2/revoke", &format!("token={token}")),
        claims.exp + edge_token_core::bearer::MAX_LEEWAY_SECS,
    );
    assert_eq!(outcome.response.status, 200);
    assert_eq!(outcome.audit.outcome, "noop");
    assert_eq!(store.revoked_until(&claims.jti), None);
}

#[test]
fn revoke_other_clients_token_unauthorized_client_403() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let outcome = handle(
        &config,
        &store,
        &post_as(&caller, "/oauth2/revoke", &format!("token={token}")),
    );
    assert_error(&outcome, 403, "unauthorized_client");
    assert_eq!(
        body_json(&introspect_at(&config, &store, &caller, &token, NOW))["active"],
        true
    );
}

#[test]
fn metadata_lists_endpoints_and_is_cacheable() {
    let config = config_from(&[("ISSUER", ISSUER), ("SCOPES_SUPPORTED", "read write")]);
    let store = MemoryStore::new();
    let outcome = handle(
        &config,
        &store,
        &request(
            "GET",
            "/.well-known/oauth-authorization-server",
            &[],
            Body::Bytes(vec![]),
        ),
    );
    assert_eq!(outcome.response.status, 200);
    assert_eq!(
        outcome.response.get_header("cache-control"),
        Some("public, max-age=3600")
    );
    let v = body_json(&outcome);
    assert_eq!(v["issuer"], ISSUER);
    assert_eq!(
        v["token_endpoint"],
        format!("{ISSUER}{}", edge_token_core::routes::TOKEN)
    );
    assert_eq!(
        v["introspection_endpoint"],
        format!("{ISSUER}{}", edge_token_core::routes::INTROSPECT)
    );
    assert_eq!(
        v["revocation_endpoint"],
        format!("{ISSUER}{}", edge_token_core::routes::REVOKE)
    );
    assert_eq!(v["scopes_supported"], serde_json::json!(["read", "write"]));
    let without = default_config();
    let v = body_json(&handle(
        &without,
        &store,
        &request(
            "GET",
            "/.well-known/oauth-authorization-server",
            &[],
            Body::Bytes(vec![]),
        ),
    ));
    assert!(v.get("scopes_supported").is_none());
    let post = handle(
        &config,
        &store,
        &request(
            "POST",
            "/.well-known/oauth-authorization-server",
            &[],
            Body::Bytes(vec![]),
        ),
    );
    assert_error(&post, 405, "invalid_request");
    assert_eq!(post.response.get_header("allow"), Some("GET, HEAD"));
    assert_eq!(store.reads(), 0, "metadata must not touch the store");
}

#[test]
fn token_extra_claims_added_but_reserved_names_never_override() {
    let config = default_config();
    let store = MemoryStore::new();
    let client = TestClient::new().with(|r| {
        r.extra_claims
            .insert("tenant".into(), serde_json::json!("acme"));
    });
    client.store_in(&store);
    let token = issue(&config, &store, &client, NOW);
    let claims = verify(config.keys.verify_keys(), &token).unwrap();
    assert_eq!(claims.extra.get("tenant"), Some(&serde_json::json!("acme")));
    // A record smuggling a registered claim is refused as corrupt.
    let evil = TestClient::new().with(|r| {
        r.extra_claims
            .insert("iss".into(), serde_json::json!("https://evil.example"));
    });
    evil.store_in(&store);
    assert_error(
        &handle(&config, &store, &basic_post(&evil, "")),
        500,
        "server_error",
    );
}

// ---------------------------------------------------------------------------
// Per-isolate record cache
// ---------------------------------------------------------------------------

fn handle_cached(
    config: &Config,
    store: &MemoryStore,
    cache: &edge_token_core::cache::RecordCache,
    req: &HttpRequest,
    now: u64,
) -> Outcome {
    let service = Service {
        config: Ok(config),
        store,
        random: &OsRandom,
        cache: Some(cache),
        limiter: &NoLimiter,
        blocklist: None,
        timer: &NoTimer,
        signer: &edge_token_core::signing::RustSigner,
        replay: None,
    };
    block_on(service.handle(req, now))
}

#[test]
fn cache_warm_client_served_without_store_read() {
    let config = default_config();
    let (store, client) = stored_client();
    let cache = edge_token_core::cache::RecordCache::new(30, 100);
    let req = basic_post(&client, "");
    assert_eq!(
        handle_cached(&config, &store, &cache, &req, NOW)
            .response
            .status,
        200
    );
    assert_eq!(store.reads(), 1);
    for i in 1..10 {
        assert_eq!(
            handle_cached(&config, &store, &cache, &req, NOW + i)
                .response
                .status,
            200
        );
    }
    assert_eq!(store.reads(), 1, "warm requests must not read the store");
    // After the TTL the store is read again and a disable bites.
    let disabled = TestClient {
        record: ClientRecord {
            disabled: true,
            ..client.record.clone()
        },
        id: client.id.clone(),
        secret: client.secret.clone(),
    };
    disabled.store_in(&store);
    assert_eq!(
        handle_cached(&config, &store, &cache, &req, NOW + 29)
            .response
            .status,
        200
    );
    assert_error(
        &handle_cached(&config, &store, &cache, &req, NOW + 30),
        401,
        "invalid_client",
    );
    assert_eq!(store.reads(), 2);
}

#[test]
fn cache_unknown_id_flood_bounded_reads_and_memory() {
    let config = default_config();
    let store = MemoryStore::new();
    let cache = edge_token_core::cache::RecordCache::new(30, 64);
    // The same unknown id again and again: one store read per negative TTL.
    let req = form_post(
        "grant_type=client_credentials",
        &[("Authorization", &basic_header("etc_unknown", "ets_x"))],
    );
    for i in 0..100 {
        assert_error(
            &handle_cached(&config, &store, &cache, &req, NOW + i / 50),
            401,
            "invalid_client",
        );
    }
    assert_eq!(store.reads(), 1);
    // Many distinct unknown ids: memory stays bounded.
    for i in 0..5_000 {
        let req = form_post(
            "grant_type=client_credentials",
            &[(
                "Authorization",
                &basic_header(&format!("etc_u{i}"), "ets_x"),
            )],
        );
        handle_cached(&config, &store, &cache, &req, NOW);
    }
    assert!(cache.len() <= 64, "cache grew to {}", cache.len());
}

// ---------------------------------------------------------------------------
// Store faults: bounded waiting
// ---------------------------------------------------------------------------

/// The service with every dependency chosen by the test.
struct Rig<'a> {
    config: &'a Config,
    store: &'a MemoryStore,
    limiter: &'a MemoryLimiter,
    blocklist: Option<&'a Blocklist>,
}

impl Rig<'_> {
    fn handle_at(&self, req: &HttpRequest, now: u64) -> Outcome {
        let service = Service {
            config: Ok(self.config),
            store: self.store,
            random: &OsRandom,
            cache: None,
            limiter: self.limiter,
            blocklist: self.blocklist,
            timer: &ImmediateTimer,
            signer: &edge_token_core::signing::RustSigner,
            replay: None,
        };
        block_on(service.handle(req, now))
    }

    fn handle(&self, req: &HttpRequest) -> Outcome {
        self.handle_at(req, NOW)
    }
}

#[test]
fn store_answering_at_once_beats_an_expired_timer_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    let limiter = MemoryLimiter::new(10);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    assert_issued(&config, &rig.handle(&basic_post(&client, "")));
}

#[test]
fn token_store_hanging_times_out_temporarily_unavailable() {
    let config = config_from(&[
        ("ISSUER", ISSUER),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
        ("STORE_TIMEOUT_MS", "1500"),
    ]);
    let (store, client) = stored_client();
    store.set_hanging(true);
    let limiter = MemoryLimiter::new(10);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    let outcome = rig.handle(&basic_post(&client, ""));
    assert_error(&outcome, 503, "temporarily_unavailable");
    assert_eq!(outcome.response.get_header("retry-after"), Some("5"));
    let cause = outcome.audit.cause.as_deref().unwrap();
    assert_eq!(cause, "client store timed out after 1500 ms");
    // A timeout is not an authentication failure: nothing is counted.
    assert_eq!(limiter.keys(), 0);
    store.set_hanging(false);
    assert_issued(&config, &rig.handle(&basic_post(&client, "")));
}

#[test]
fn introspect_and_revoke_store_hanging_time_out() {
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let limiter = MemoryLimiter::new(10);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    // Warm: both callers' records read before the store hangs would still
    // need the store (no cache here), so every endpoint times out.
    store.set_hanging(true);
    let introspect = post_as(
        &caller,
        edge_token_core::routes::INTROSPECT,
        &format!("token={token}"),
    );
    let revoke = post_as(
        &subject,
        edge_token_core::routes::REVOKE,
        &format!("token={token}"),
    );
    for req in [introspect, revoke] {
        let outcome = rig.handle(&req);
        assert_error(&outcome, 503, "temporarily_unavailable");
        assert!(outcome
            .audit
            .cause
            .as_deref()
            .unwrap()
            .contains("timed out"));
    }
    // The token was not revoked on uncertain data.
    store.set_hanging(false);
    assert!(store
        .revoked_until(&verify(config.keys.verify_keys(), &token).unwrap().jti)
        .is_none());
}

#[test]
fn introspect_denylist_read_hanging_times_out_not_active() {
    // The caller's record comes from the cache; only the denylist read hangs.
    let (config, store, subject, caller) = introspection_setup();
    let token = issue(&config, &store, &subject, NOW);
    let cache = edge_token_core::cache::RecordCache::new(30, 16);
    let limiter = MemoryLimiter::new(10);
    let service = Service {
        config: Ok(&config),
        store: &store,
        random: &OsRandom,
        cache: Some(&cache),
        limiter: &limiter,
        blocklist: None,
        timer: &ImmediateTimer,
        signer: &edge_token_core::signing::RustSigner,
        replay: None,
    };
    let req = post_as(
        &caller,
        edge_token_core::routes::INTROSPECT,
        &format!("token={token}"),
    );
    let warm = block_on(service.handle(&req, NOW));
    assert_eq!(warm.response.status, 200, "{:?}", warm.response);
    assert!(warm.response.body.contains("\"active\":true"));
    store.set_hanging(true);
    let outcome = block_on(service.handle(&req, NOW));
    // Never "active" on a denylist that could not be read.
    assert_error(&outcome, 503, "temporarily_unavailable");
}

// ---------------------------------------------------------------------------
// Rate limiting of failed client authentication
// ---------------------------------------------------------------------------

fn from_address(mut req: HttpRequest, address: &str) -> HttpRequest {
    req.headers
        .push(("CF-Connecting-IP".to_owned(), address.to_owned()));
    req
}

fn wrong_secret(client: &TestClient) -> HttpRequest {
    form_post(
        "grant_type=client_credentials",
        &[(
            "Authorization",
            &basic_header(&client.id, "ets_wrong-secret"),
        )],
    )
}

#[test]
fn failures_over_client_limit_rate_limited_real_secret_still_issued() {
    let config = default_config();
    let (store, client) = stored_client();
    let limiter = MemoryLimiter::new(3);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    for _ in 0..3 {
        assert_error(&rig.handle(&wrong_secret(&client)), 401, "invalid_client");
    }
    let outcome = rig.handle(&wrong_secret(&client));
    let body = assert_error(&outcome, 429, "temporarily_unavailable");
    assert_eq!(outcome.response.get_header("retry-after"), Some("60"));
    assert_eq!(
        body["error_description"],
        "too many failed client authentications; try again later"
    );
    let cause = outcome.audit.cause.as_deref().unwrap();
    assert!(
        cause.contains("secret mismatch") && cause.contains("client id over"),
        "{cause}"
    );
    // The holder of the real secret is not locked out, and is not counted.
    assert_issued(&config, &rig.handle(&basic_post(&client, "")));
    assert_eq!(limiter.count(LimitKind::Client, &client.id), 4);
    // Nor are failures of other kinds (here: a bad scope) counted.
    let bad_scope = rig.handle(&basic_post(&client, "scope=nope"));
    assert_error(&bad_scope, 400, "invalid_scope");
    assert_eq!(limiter.count(LimitKind::Client, &client.id), 4);
}

#[test]
fn address_over_limit_refuses_failures_but_serves_valid_credentials() {
    let config = default_config();
    let (store, client) = stored_client();
    let limiter = MemoryLimiter::new(3);
    let blocklist = Blocklist::new(16);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: Some(&blocklist),
    };
    let nat = "203.0.113.7";
    let unknown = |i: u32| {
        form_post(
            "grant_type=client_credentials",
            &[(
                "Authorization",
                &basic_header(&format!("etc_u{i}"), "ets_x"),
            )],
        )
    };
    // Different unknown ids each time: only the address counter trips.
    for i in 0..3 {
        assert_error(
            &rig.handle(&from_address(unknown(i), nat)),
            401,
            "invalid_client",
        );
    }
    let outcome = rig.handle(&from_address(unknown(3), nat));
    assert_error(&outcome, 429, "temporarily_unavailable");
    assert_eq!(outcome.response.get_header("retry-after"), Some("60"));
    assert_eq!(blocklist.len(), 1);

    // A good client behind the same address is served, and not counted.
    let counted = limiter.count(LimitKind::Address, nat);
    assert_issued(
        &config,
        &rig.handle_at(&from_address(basic_post(&client, ""), nat), NOW + 20),
    );
    assert_eq!(limiter.count(LimitKind::Address, nat), counted);
    // A wrong secret from it is 429, with the time left as Retry-After.
    let outcome = rig.handle_at(&from_address(wrong_secret(&client), nat), NOW + 20);
    assert_error(&outcome, 429, "temporarily_unavailable");
    assert_eq!(outcome.response.get_header("retry-after"), Some("40"));
    assert!(outcome
        .audit
        .cause
        .as_deref()
        .is_some_and(|c| c.contains("address over its failed-authentication limit")));
    // So is another unknown id, even when the limiter itself fails.
    limiter.set_failing(true);
    let outcome = rig.handle_at(&from_address(unknown(9), nat), NOW + 20);
    assert_error(&outcome, 429, "temporarily_unavailable");
    limiter.set_failing(false);

    // Another address is not slowed.
    assert_error(
        &rig.handle(&from_address(unknown(10), "198.51.100.1")),
        401,
        "invalid_client",
    );
    // After the period, failures from the address are 401 again.
    limiter.reset();
    assert_error(
        &rig.handle_at(&from_address(unknown(11), nat), NOW + 60),
        401,
        "invalid_client",
    );
}

#[test]
fn address_over_limit_cached_unknown_id_refused_without_store_read() {
    let config = default_config();
    let (store, client) = stored_client();
    let limiter = MemoryLimiter::new(0);
    let blocklist = Blocklist::new(16);
    let cache = edge_token_core::cache::RecordCache::new(30, 64);
    let service = Service {
        config: Ok(&config),
        store: &store,
        random: &OsRandom,
        cache: Some(&cache),
        limiter: &limiter,
        blocklist: Some(&blocklist),
        timer: &ImmediateTimer,
        signer: &edge_token_core::signing::RustSigner,
        replay: None,
    };
    let nat = "2001:db8:7:7::1";
    let unknown = from_address(
        form_post(
            "grant_type=client_credentials",
            &[("Authorization", &basic_header("etc_nobody", "ets_x"))],
        ),
        nat,
    );
    // The first failure trips the limit (0 allowed) and caches the miss.
    assert_error(
        &block_on(service.handle(&unknown, NOW)),
        429,
        "temporarily_unavailable",
    );
    let reads = store.reads();
    let outcome = block_on(service.handle(&unknown, NOW + 1));
    assert_error(&outcome, 429, "temporarily_unavailable");
    assert_eq!(
        store.reads(),
        reads,
        "a cached unknown id costs no store read"
    );
    // Another host of the same /64 is the same address; a good client there is served.
    let good = from_address(basic_post(&client, ""), "2001:db8:7:7:ffff::2");
    assert_issued(&config, &block_on(service.handle(&good, NOW + 1)));
    let other = from_address(wrong_secret(&client), "2001:db8:7:7:abcd::3");
    assert_error(
        &block_on(service.handle(&other, NOW + 1)),
        429,
        "temporarily_unavailable",
    );
}

#[test]
fn ipv6_failures_counted_by_their_64() {
    let config = default_config();
    let (store, client) = stored_client();
    let limiter = MemoryLimiter::new(10);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    for host in [
        "2001:db8:1:2::1",
        "2001:db8:1:2:ffff::9",
        "2001:0db8:0001:0002::abcd",
    ] {
        rig.handle(&from_address(wrong_secret(&client), host));
    }
    rig.handle(&from_address(wrong_secret(&client), "2001:db8:1:3::1"));
    assert_eq!(limiter.count(LimitKind::Address, "2001:db8:1:2::/64"), 3);
    assert_eq!(limiter.count(LimitKind::Address, "2001:db8:1:3::/64"), 1);
}

#[test]
fn successful_callers_never_counted() {
    let config = default_config();
    let (store, client) = stored_client();
    let limiter = MemoryLimiter::new(1);
    let blocklist = Blocklist::new(16);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: Some(&blocklist),
    };
    for _ in 0..50 {
        assert_issued(
            &config,
            &rig.handle(&from_address(basic_post(&client, ""), "192.0.2.1")),
        );
    }
    assert_eq!(limiter.keys(), 0);
    assert!(blocklist.is_empty());
}

#[test]
fn limiter_failure_fails_open_and_is_logged() {
    let config = default_config();
    let (store, client) = stored_client();
    let limiter = MemoryLimiter::new(0);
    limiter.set_failing(true);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    let outcome = rig.handle(&from_address(wrong_secret(&client), "192.0.2.9"));
    assert_error(&outcome, 401, "invalid_client");
    let cause = outcome.audit.cause.as_deref().unwrap();
    assert!(
        cause.contains("rate limiter (address) failed: injected")
            && cause.contains("rate limiter (client id) failed: injected"),
        "{cause}"
    );
}

#[test]
fn rate_limit_period_sets_retry_after_and_long_ids_are_hashed() {
    let config = config_from(&[("ISSUER", ISSUER), ("RATE_LIMIT_PERIOD", "10")]);
    let store = MemoryStore::new();
    let limiter = MemoryLimiter::new(0);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    // Longer than a limiter key may be, within what credentials allow.
    let long_id = "x".repeat(250);
    let req = form_post(
        "grant_type=client_credentials",
        &[("Authorization", &basic_header(&long_id, "ets_x"))],
    );
    let outcome = rig.handle(&req);
    assert_error(&outcome, 429, "temporarily_unavailable");
    assert_eq!(outcome.response.get_header("retry-after"), Some("10"));
    assert_eq!(limiter.count(LimitKind::Client, &limit_key(&long_id)), 1);
    assert_eq!(limiter.count(LimitKind::Client, &long_id), 0);
}

#[test]
fn store_unavailable_is_not_counted_as_a_failure() {
    let config = default_config();
    let (store, client) = stored_client();
    store.set_unavailable(true);
    let limiter = MemoryLimiter::new(0);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    assert_error(
        &rig.handle(&wrong_secret(&client)),
        503,
        "temporarily_unavailable",
    );
    assert_eq!(limiter.keys(), 0);
}

#[test]
fn long_address_is_limited_by_its_bounded_key() {
    let config = default_config();
    let (store, client) = stored_client();
    let limiter = MemoryLimiter::new(0);
    let blocklist = Blocklist::new(16);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: Some(&blocklist),
    };
    let address = "9".repeat(5_000);
    let outcome = rig.handle(&from_address(wrong_secret(&client), &address));
    assert_error(&outcome, 429, "temporarily_unavailable");
    assert_eq!(limiter.count(LimitKind::Address, &limit_key(&address)), 1);
    assert_eq!(blocklist.blocked_for(&limit_key(&address), NOW), Some(60));
    // Blocked under the same bounded key: failures stay 429, valid
    // credentials are served.
    let outcome = rig.handle(&from_address(wrong_secret(&client), &address));
    assert_error(&outcome, 429, "temporarily_unavailable");
    assert_issued(
        &config,
        &rig.handle(&from_address(basic_post(&client, ""), &address)),
    );
}

// ---------------------------------------------------------------------------
// Introspection bound to audiences; revocation without a write loop
// ---------------------------------------------------------------------------

/// A token for `subject` naming `aud` (one of its allowed audiences).
fn issue_for(config: &Config, store: &MemoryStore, subject: &TestClient, aud: &str) -> String {
    let body = format!("resource={}", encode_component(aud));
    let outcome = handle(config, store, &basic_post(subject, &body));
    assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
    body_json(&outcome)["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn introspect_audience_bound_client_sees_other_tokens_as_inactive() {
    let config = default_config();
    let (store, subject) = stored_client();
    let caller = TestClient::new().with(|r| {
        r.introspect = true;
        r.introspect_audiences = vec![API.to_owned()];
    });
    caller.store_in(&store);
    let for_api = issue_for(&config, &store, &subject, API);
    let for_billing = issue_for(&config, &store, &subject, BILLING);
    let by_default = issue(&config, &store, &subject, NOW);

    let active = introspect_at(&config, &store, &caller, &for_api, NOW + 1);
    assert_eq!(body_json(&active)["active"], true);
    assert_eq!(body_json(&active)["aud"], API);
    for other in [&for_billing, &by_default] {
        let outcome = introspect_at(&config, &store, &caller, other, NOW + 1);
        assert_inactive(&outcome);
        // Byte for byte what any inactive token gets.
        let garbage = introspect_at(&config, &store, &caller, "garbage", NOW + 1);
        assert_eq!(outcome.response, garbage.response);
    }
    // A token naming the bound audience among others is visible.
    let both = {
        let body = format!(
            "resource={}&resource={}",
            encode_component(BILLING),
            encode_component(API)
        );
        let outcome = handle(&config, &store, &basic_post(&subject, &body));
        body_json(&outcome)["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        body_json(&introspect_at(&config, &store, &caller, &both, NOW + 1))["active"],
        true
    );
    // Without introspection audiences, a client keeps its full reach.
    let unbound = TestClient::new().with(|r| r.introspect = true);
    unbound.store_in(&store);
    for token in [&for_api, &for_billing, &by_default] {
        assert_eq!(
            body_json(&introspect_at(&config, &store, &unbound, token, NOW + 1))["active"],
            true
        );
    }
}

fn revoke_as(rig: &Rig, caller: &TestClient, token: &str, now: u64) -> Outcome {
    rig.handle_at(
        &post_as(caller, "/oauth2/revoke", &format!("token={token}")),
        now,
    )
}

#[test]
fn revoke_twice_writes_once() {
    let config = default_config();
    let (store, subject) = stored_client();
    let limiter = MemoryLimiter::new(100);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    let token = issue(&config, &store, &subject, NOW);
    let first = revoke_as(&rig, &subject, &token, NOW);
    assert_eq!(first.response.status, 200);
    assert_eq!(first.audit.outcome, "revoked");
    assert_eq!(store.writes(), 1);
    for _ in 0..5 {
        let again = revoke_as(&rig, &subject, &token, NOW);
        assert_eq!(again.response, first.response);
        assert_eq!(again.audit.outcome, "noop");
        assert_eq!(again.audit.cause.as_deref(), Some("already revoked"));
    }
    assert_eq!(store.writes(), 1);
    assert_eq!(limiter.count(LimitKind::Revocation, &subject.id), 1);
}

#[test]
fn revocations_over_client_limit_429_with_retry_after() {
    let config = default_config();
    let (store, subject) = stored_client();
    let limiter = MemoryLimiter::new(2);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    let tokens: Vec<String> = (0..3)
        .map(|_| issue(&config, &store, &subject, NOW))
        .collect();
    for t in &tokens[..2] {
        assert_eq!(revoke_as(&rig, &subject, t, NOW).audit.outcome, "revoked");
    }
    let outcome = revoke_as(&rig, &subject, &tokens[2], NOW);
    assert_error(&outcome, 429, "temporarily_unavailable");
    assert_eq!(outcome.response.get_header("retry-after"), Some("60"));
    assert_eq!(store.writes(), 2);
    // Repeating a done revocation is not a write, so not limited.
    assert_eq!(
        revoke_as(&rig, &subject, &tokens[0], NOW).response.status,
        200
    );
    // Another client has its own budget.
    let other = TestClient::new();
    other.store_in(&store);
    let t = issue(&config, &store, &other, NOW);
    assert_eq!(revoke_as(&rig, &other, &t, NOW).audit.outcome, "revoked");
    // A failing limiter does not stop a revocation (logged).
    limiter.set_failing(true);
    let t = issue(&config, &store, &other, NOW);
    let outcome = revoke_as(&rig, &other, &t, NOW);
    assert_eq!(outcome.audit.outcome, "revoked");
    assert!(outcome
        .audit
        .cause
        .unwrap()
        .contains("rate limiter (revocations) failed"));
}

#[test]
fn revoke_write_refused_once_is_written_again_and_twice_is_503() {
    let config = default_config();
    let (store, subject) = stored_client();
    let limiter = MemoryLimiter::new(100);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    // KV refuses the first write (a concurrent revocation wrote the key
    // within the second, unseen by our read): written again, revoked.
    let token = issue(&config, &store, &subject, NOW);
    let jti = verify(config.keys.verify_keys(), &token).unwrap().jti;
    store.set_write_conflicts(1);
    let writes = store.writes();
    let outcome = revoke_as(&rig, &subject, &token, NOW);
    assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
    assert_eq!(outcome.audit.outcome, "revoked");
    assert!(outcome
        .audit
        .cause
        .unwrap()
        .contains("written on the second try"));
    assert_eq!(store.writes(), writes + 2);
    assert!(store.revoked_until(&jti).is_some());
    // Refused twice (an exhausted write limit): 503, never a false 200.
    let token = issue(&config, &store, &subject, NOW);
    let jti = verify(config.keys.verify_keys(), &token).unwrap().jti;
    store.set_write_conflicts(2);
    let outcome = revoke_as(&rig, &subject, &token, NOW);
    assert_error(&outcome, 503, "temporarily_unavailable");
    assert!(store.revoked_until(&jti).is_none());
    assert_eq!(store.writes(), writes + 4);
}

#[test]
fn revoke_within_api_leeway_after_exp_is_denylisted() {
    let config = default_config();
    let (store, subject) = stored_client();
    let limiter = MemoryLimiter::new(100);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    let leeway = edge_token_core::bearer::MAX_LEEWAY_SECS;
    let token = issue(&config, &store, &subject, NOW);
    let claims = verify(config.keys.verify_keys(), &token).unwrap();
    // Expired for the issuer, still accepted by an API with the largest leeway.
    let at = claims.exp + leeway - 1;
    let outcome = revoke_as(&rig, &subject, &token, at);
    assert_eq!(outcome.audit.outcome, "revoked");
    let until = store.revoked_until(&claims.jti).unwrap();
    assert!(until >= claims.exp + leeway && until >= at + 60, "{until}");
    // An API at its largest leeway accepts it exactly until the entry is gone... never after.
    let verifier = edge_token_core::bearer::Verifier::new(
        config.keys.verify_keys().clone(),
        ISSUER,
        CONFIG_AUDIENCE,
    )
    .with_leeway(u64::MAX);
    assert!(verifier.verify(&token, &[], until).is_err());
    // Past exp + the largest leeway: nothing to revoke.
    let other = issue(&config, &store, &subject, NOW);
    let other_claims = verify(config.keys.verify_keys(), &other).unwrap();
    let outcome = revoke_as(&rig, &subject, &other, other_claims.exp + leeway);
    assert_eq!(outcome.audit.outcome, "noop");
    assert_eq!(store.revoked_until(&other_claims.jti), None);
}

// ---------------------------------------------------------------------------
// Bounds on what is asked for and what is given
// ---------------------------------------------------------------------------

#[test]
fn scope_and_audience_lists_bounded_before_deduplication() {
    let config = default_config();
    let (store, client) = stored_client();
    let many = vec!["read"; edge_token_core::scope::MAX_SCOPES + 1].join("+");
    let outcome = handle(
        &config,
        &store,
        &basic_post(&client, &format!("scope={many}")),
    );
    assert_error(&outcome, 400, "invalid_scope");
    let at_limit = vec!["read"; edge_token_core::scope::MAX_SCOPES].join("+");
    let outcome = handle(
        &config,
        &store,
        &basic_post(&client, &format!("scope={at_limit}")),
    );
    assert_eq!(assert_issued(&config, &outcome).claims.scope, "read");
    let repeated = vec![format!("resource={}", encode_component(API)); 17].join("&");
    let outcome = handle(&config, &store, &basic_post(&client, &repeated));
    assert_error(&outcome, 400, "invalid_target");
}

#[test]
fn record_giving_more_than_the_bound_is_refused_by_the_worker() {
    let config = default_config();
    let store = MemoryStore::new();
    // As a hand-written (or old CLI's) record: 17 default audiences.
    let client = TestClient::new().with(|r| {
        r.allowed_audiences = (0..17).map(|i| format!("urn:a{i}")).collect();
        r.default_audiences = r.allowed_audiences.clone();
    });
    client.store_in(&store);
    let outcome = handle(&config, &store, &basic_post(&client, ""));
    assert_error(&outcome, 500, "server_error");
    assert!(outcome
        .audit
        .cause
        .unwrap()
        .contains("more than 16 audiences"));
    // One 2,116-character audience.
    let long = TestClient::new().with(|r| {
        r.allowed_audiences = vec![format!("https://{}", "a".repeat(2108))];
        r.default_audiences = r.allowed_audiences.clone();
    });
    long.store_in(&store);
    assert_error(
        &handle(&config, &store, &basic_post(&long, "")),
        500,
        "server_error",
    );
}

#[test]
fn largest_record_mints_a_token_its_verifier_accepts() {
    use edge_token_core::client::{MAX_CLIENT_ID_LEN, MAX_EXTRA_CLAIMS_BYTES, MAX_ISSUER_LEN};
    use edge_token_core::scope::{MAX_AUDIENCES, MAX_AUDIENCE_BYTES, MAX_SCOPES, MAX_SCOPE_BYTES};
    // The longest issuer, kid and alg name, and the longest signature
    // (Ed25519: 64 bytes, as ES256).
    let issuer = format!("https://{}", "i".repeat(MAX_ISSUER_LEN - 8));
    let kid = "k".repeat(edge_token_core::token::MAX_KID_LEN);
    let keys = format!(
        "[{}]",
        edge_token_testkit::EDDSA_KEY
            .replace(r#""kid":"ed1""#, &format!(r#""kid":"{kid}""#))
            .replace(r#""alg":"EdDSA""#, r#""alg":"Ed25519""#)
    );
    let config = config_from(&[("ISSUER", &issuer), ("SIGNING_KEYS", &keys)]);
    let store = MemoryStore::new();
    // The longest id, 16 audiences filling their byte budget, scopes filling
    // theirs, and extra claims of exactly the largest size.
    let id = "c".repeat(MAX_CLIENT_ID_LEN);
    let secret = generate_client_secret(&OsRandom).unwrap();
    let aud_len = MAX_AUDIENCE_BYTES / MAX_AUDIENCES;
    let audiences: Vec<String> = (0..MAX_AUDIENCES)
        .map(|i| format!("urn:{i:02}:{}", "a".repeat(aud_len - 7)))
        .collect();
    let per_scope = (MAX_SCOPE_BYTES + 1) / MAX_SCOPES - 1;
    let scopes: Vec<String> = (0..MAX_SCOPES)
        .map(|i| format!("{i:02}{}", "s".repeat(per_scope - 2)))
        .collect();
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("x".to_owned(), Value::String(String::new()));
    let overhead = serde_json::to_string(&extra).unwrap().len();
    // Control characters: each takes six bytes escaped; fill what is left.
    let filler = "\u{1}".repeat((MAX_EXTRA_CLAIMS_BYTES - overhead) / 6);
    extra.insert("x".to_owned(), Value::String(filler));
    let mut record = ClientRecord::new(&id, "largest", NOW);
    record.secrets = vec![SecretEntry {
        digest: SecretHash::compute(&id, &secret),
        created_at: NOW,
        expires_at: None,
    }];
    record.allowed_scopes = scopes.clone();
    record.default_scopes = scopes.clone();
    record.allowed_audiences = audiences.clone();
    record.default_audiences = audiences.clone();
    record.token_ttl = Some(u64::MAX / 4);
    record.extra_claims = extra;
    record.validate().expect("the largest record is valid");
    store.put(&id, record.to_json());
    let req = form_post(
        "grant_type=client_credentials",
        &[("Authorization", &basic_header(&id, secret.expose()))],
    );
    let outcome = handle(&config, &store, &req);
    assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
    let token = body_json(&outcome)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        token.len() <= edge_token_core::client::MAX_MINTED_TOKEN_LEN,
        "{} > {}",
        token.len(),
        edge_token_core::client::MAX_MINTED_TOKEN_LEN
    );
    let claims = verify(config.keys.verify_keys(), &token)
        .expect("the issuer's own verification accepts it");
    assert_eq!(claims.aud, Audience::Many(audiences.clone()));
    let verifier = edge_token_core::bearer::Verifier::new(
        config.keys.verify_keys().clone(),
        &issuer,
        &audiences[0],
    );
    verifier
        .verify(&token, &[], NOW + 1)
        .expect("an API's verifier accepts the largest token");
}

#[test]
fn params_debug_redacts_secret_and_token() {
    let pairs = vec![
        ("client_id".to_owned(), "etc_visible".to_owned()),
        ("client_secret".to_owned(), "ets_hidden-secret".to_owned()),
        ("token".to_owned(), "eyJhidden.token.sig".to_owned()),
        ("scope".to_owned(), "read".to_owned()),
    ];
    let params = edge_token_core::service::Params::from_pairs(&pairs).unwrap();
    let shown = format!("{params:?}");
    assert!(
        shown.contains("etc_visible") && shown.contains("read"),
        "{shown}"
    );
    assert!(
        !shown.contains("ets_hidden") && !shown.contains("eyJhidden"),
        "{shown}"
    );
    // A whole request and a token response too.
    let (store, client) = stored_client();
    let req = basic_post(&client, &client.post_params());
    let shown = format!("{req:?}");
    assert!(!shown.contains(client.secret.expose()), "{shown}");
    assert!(!shown.contains(&client.basic()), "{shown}");
    let outcome = handle(&default_config(), &store, &basic_post(&client, ""));
    let token = body_json(&outcome)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = format!("{:?}", outcome.response);
    assert!(!shown.contains(&token), "{shown}");
}

// ---------------------------------------------------------------------------
// One rule for token validity
// ---------------------------------------------------------------------------

const TABLE_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A compact JWS of `header` and `payload`, HMAC-SHA256 with [`TABLE_KEY`].
fn sign_raw(header: &Value, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(TABLE_KEY).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The same tokens through the three places that judge a token (an API's
/// `Verifier`, introspection, revocation): the same verdict from each,
/// because all three call `edge_token_verify::validation::validate`.
#[test]
fn token_validity_is_one_verdict_for_verifier_introspection_and_revocation() {
    let keys = format!(
        r#"[{{"kid":"k1","key":"{}"}}]"#,
        URL_SAFE_NO_PAD.encode(TABLE_KEY)
    );
    let config = config_from(&[
        ("ISSUER", ISSUER),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
        ("SIGNING_KEYS", &keys),
    ]);
    let (store, subject) = stored_client();
    let caller = TestClient::new().with(|r| r.introspect = true);
    caller.store_in(&store);
    let limiter = MemoryLimiter::new(1_000);
    let rig = Rig {
        config: &config,
        store: &store,
        limiter: &limiter,
        blocklist: None,
    };
    let verifier = Verifier::new(config.keys.verify_keys().clone(), ISSUER, API);
    let id = subject.record.client_id.clone();
    let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
    let mut n = 0;
    let mut payload = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        n += 1;
        let mut claims = serde_json::json!({
            "iss": ISSUER, "sub": id, "aud": API, "exp": NOW + 300, "iat": NOW,
            "jti": format!("table-{n}"), "client_id": id, "scope": "read",
        });
        edit(claims.as_object_mut().unwrap());
        claims.to_string()
    };
    let with_header = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut h = header.clone();
        edit(h.as_object_mut().unwrap());
        h
    };
    let set = |k: &'static str, v: Value| {
        move |c: &mut serde_json::Map<String, Value>| {
            c.insert(k.to_owned(), v.clone());
        }
    };
    let valid = sign_raw(&header, &payload(&|_| {}));
    let mut bad_signature = valid.clone();
    let last = bad_signature.pop().unwrap();
    bad_signature.push(if last == 'A' { 'B' } else { 'A' });
    let alg_none = {
        let t = sign_raw(&with_header(&set("alg", "none".into())), &payload(&|_| {}));
        format!("{}.", t.rsplit_once('.').unwrap().0)
    };
    let cases: Vec<(&str, String, bool)> = vec![
        ("valid", valid, true),
        (
            "malformed nbf",
            sign_raw(&header, &payload(&set("nbf", "soon".into()))),
            false,
        ),
        (
            "future nbf",
            sign_raw(&header, &payload(&set("nbf", (NOW + 600).into()))),
            false,
        ),
        (
            "past nbf",
            sign_raw(&header, &payload(&set("nbf", (NOW - 5).into()))),
            true,
        ),
        (
            "iat beyond leeway",
            sign_raw(&header, &payload(&set("iat", (NOW + 600).into()))),
            false,
        ),
        (
            "iat within leeway",
            sign_raw(&header, &payload(&set("iat", (NOW + 5).into()))),
            true,
        ),
        (
            "unknown crit",
            sign_raw(
                &with_header(&|h| {
                    h.insert("crit".into(), serde_json::json!(["x-ext"]));
                    h.insert("x-ext".into(), 1.into());
                }),
                &payload(&|_| {}),
            ),
            false,
        ),
        ("alg none", alg_none, false),
        (
            "typ JWT",
            sign_raw(&with_header(&set("typ", "JWT".into())), &payload(&|_| {})),
            false,
        ),
        (
            "wrong iss",
            sign_raw(
                &header,
                &payload(&set("iss", "https://other.example".into())),
            ),
            false,
        ),
        (
            "expired within leeway",
            sign_raw(&header, &payload(&set("exp", (NOW - 10).into()))),
            true,
        ),
        (
            "expired beyond leeway",
            sign_raw(&header, &payload(&set("exp", (NOW - 3_600).into()))),
            false,
        ),
        (
            "over-size",
            sign_raw(&header, &payload(&set("pad", "x".repeat(8 * 1024).into()))),
            false,
        ),
        ("bad signature", bad_signature, false),
    ];
    for (name, token, expected) in cases {
        let by_verifier = verifier.verify(&token, &[], NOW).is_ok();
        let introspected = introspect_at(&config, &store, &caller, &token, NOW);
        let by_introspection = body_json(&introspected)["active"] == true;
        let revoked = revoke_as(&rig, &subject, &encode_component(&token), NOW);
        assert_eq!(
            revoked.response.status, 200,
            "{name}: {}",
            revoked.response.body
        );
        let by_revocation = revoked.audit.outcome == "revoked";
        assert_eq!(
            (by_verifier, by_introspection, by_revocation),
            (expected, expected, expected),
            "{name}: verifier, introspection, revocation"
        );
    }
}

// ---------------------------------------------------------------------------
// ES256 and EdDSA signers
// ---------------------------------------------------------------------------

/// A signer failing the way Web Crypto could, or answering with a DER-sized
/// ECDSA signature.
struct BadSigner(Result<usize, ()>);

impl edge_token_core::signing::Sign for BadSigner {
    async fn sign(
        &self,
        _key: &edge_token_core::signing::AsymmetricKey,
        _input: &[u8],
    ) -> Result<Vec<u8>, String> {
        match self.0 {
            Ok(len) => Ok(vec![0x30; len]),
            Err(()) => Err("importKey: DataError".to_owned()),
        }
    }
}

impl edge_token_core::assertion::CheckSignature for BadSigner {
    async fn check_signature(
        &self,
        _key: &edge_token_core::client_key::ClientKey,
        _input: &[u8],
        _signature: &[u8],
    ) -> Result<bool, String> {
        Err("importKey: DataError".to_owned())
    }
}

#[test]
fn asymmetric_signers_issue_tokens_their_jwks_verifies_and_introspection_and_revocation_accept() {
    use edge_token_core::token::{Algorithm, KeySet};
    use edge_token_testkit::{EDDSA_KEY, ES256_KEY};
    let hs = r#"{"kid":"hs1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}"#;
    let ed25519_named = EDDSA_KEY.replace(r#""alg":"EdDSA""#, r#""alg":"Ed25519""#);
    for (keys, alg, kid) in [
        (format!("[{ES256_KEY},{EDDSA_KEY},{hs}]"), "ES256", "es1"),
        (format!("[{EDDSA_KEY},{ES256_KEY}]"), "EdDSA", "ed1"),
        (format!("[{ed25519_named},{hs}]"), "Ed25519", "ed1"),
    ] {
        let config = config_from(&[
            ("ISSUER", ISSUER),
            ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
            ("SIGNING_KEYS", &keys),
        ]);
        let (store, subject) = stored_client();
        let caller = TestClient::new().with(|r| r.introspect = true);
        caller.store_in(&store);
        let issued = assert_issued(&config, &handle(&config, &store, &basic_post(&subject, "")));
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(issued.token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": kid})
        );
        let signature = URL_SAFE_NO_PAD
            .decode(issued.token.rsplit('.').next().unwrap())
            .unwrap();
        assert_eq!(signature.len(), 64, "{alg}: JOSE r||s / Ed25519 size");

        // What an API holding only the JWKS sees.
        let jwks = handle(
            &config,
            &store,
            &request("GET", "/.well-known/jwks.json", &[], Body::Bytes(vec![])),
        );
        assert_eq!(jwks.response.status, 200);
        assert_eq!(
            jwks.response.get_header("cache-control"),
            Some("public, max-age=300")
        );
        assert!(
            !jwks.response.body.contains("\"d\""),
            "{}",
            jwks.response.body
        );
        let public = KeySet::from_jwks(&jwks.response.body).unwrap();
        assert!(public.find("hs1").is_none());
        assert_eq!(
            public.find(kid).unwrap().alg(),
            Algorithm::from_name(alg).unwrap()
        );
        assert_eq!(verify(&public, &issued.token).unwrap(), issued.claims);

        let active = introspect_at(&config, &store, &caller, &issued.token, NOW + 1);
        assert_eq!(body_json(&active)["active"], true, "{alg}");
        let revoke = handle(
            &config,
            &store,
            &post_as(
                &subject,
                "/oauth2/revoke",
                &format!("token={}", issued.token),
            ),
        );
        assert_eq!(revoke.response.status, 200, "{}", revoke.response.body);
        assert!(store.revoked_until(&issued.claims.jti).is_some(), "{alg}");
    }
}

#[test]
fn a_failing_or_wrong_sized_asymmetric_signer_is_a_server_error() {
    let config = config_from(&[
        ("ISSUER", ISSUER),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE),
        ("SIGNING_KEYS", edge_token_testkit::ASYMMETRIC_SIGNING_KEYS),
    ]);
    let (store, subject) = stored_client();
    for signer in [BadSigner(Err(())), BadSigner(Ok(71))] {
        let outcome = handle_signed(
            Ok(&config),
            &store,
            &OsRandom,
            &signer,
            &basic_post(&subject, ""),
            NOW,
        );
        assert_error(&outcome, 500, "server_error");
        assert!(outcome.response.body.contains("server_error"));
    }
}
