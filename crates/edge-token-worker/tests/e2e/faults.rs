//! Abuse and faults on the wire: failed-authentication rate limiting with
//! the Workers Rate Limiting binding, a corrupt client record in KV, and the
//! Worker started with each kind of bad configuration.

use std::time::Duration;

use crate::harness::{random_key, signing_keys_json, Setup, Worker};

const ISSUER: &str = "https://issuer.test";
const GRANT: &str = "grant_type=client_credentials";
const CLIENT_LIMIT: usize = 3;
const ADDRESS_LIMIT: usize = 5;
const REVOCATION_LIMIT: usize = 3;

fn rate_limited_worker() -> Worker {
    let setup = Setup {
        extra_toml: format!(
            "[[ratelimits]]\nname = \"AUTH_FAILURES_BY_CLIENT\"\nnamespace_id = \"1001\"\n\
             simple = {{ limit = {CLIENT_LIMIT}, period = 60 }}\n\n\
             [[ratelimits]]\nname = \"AUTH_FAILURES_BY_ADDRESS\"\nnamespace_id = \"1002\"\n\
             simple = {{ limit = {ADDRESS_LIMIT}, period = 60 }}\n\n\
             [[ratelimits]]\nname = \"REVOCATIONS_BY_CLIENT\"\nnamespace_id = \"1003\"\n\
             simple = {{ limit = {REVOCATION_LIMIT}, period = 60 }}\n"
        ),
        ..Setup::default()
    };
    Worker::start_issuer(
        "ratelimit",
        &[
            ("ISSUER", ISSUER),
            ("REQUIRE_HTTPS", "false"),
            ("DEFAULT_AUDIENCE", "https://api.example"),
        ],
        &signing_keys_json(&[("rl", &random_key())]),
        &setup,
    )
}

fn token_from(w: &Worker, address: &str, id: &str, secret: &str) -> crate::harness::HttpResponse {
    w.post(
        "/oauth2/token",
        &[
            ("Authorization", &crate::harness::basic(id, secret)),
            ("CF-Connecting-IP", address),
        ],
        GRANT,
    )
}

fn assert_rate_limited(r: &crate::harness::HttpResponse) {
    r.assert_error(429, "temporarily_unavailable");
    let retry = r.header("retry-after").expect("429 carries Retry-After");
    let secs: u64 = retry.parse().expect("Retry-After is seconds");
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    assert!(r.header("www-authenticate").is_none(), "{:?}", r.headers);
}

/// Failures for one client id are limited, but the holder of the real
/// secret still gets tokens; failures from one address make further
/// failures from it 429, while valid credentials from it are still served.
#[test]
fn failed_authentication_is_rate_limited_by_client_and_by_address() {
    let w = rate_limited_worker();
    run_rate_limit_scenario(&w);
    // The same Worker's whole log, after a sweep of every endpoint.
    sweep_responses_and_log(&w);
}

fn run_rate_limit_scenario(w: &Worker) {
    let (id, secret) = w.create_client(&["--scope", "read"]);
    let (other_id, other_secret) = w.create_client(&["--scope", "read"]);

    // By client id, each failure from a different address.
    for i in 0..CLIENT_LIMIT {
        token_from(w, &format!("192.0.2.{i}"), &id, "ets_wrong")
            .assert_error(401, "invalid_client");
    }
    let r = token_from(w, "192.0.2.100", &id, "ets_wrong");
    assert_rate_limited(&r);
    assert_eq!(r.header("retry-after"), Some("60"));
    // Not locked out: the real secret works, from any address.
    let ok = token_from(w, "192.0.2.101", &id, &secret);
    assert_eq!(ok.status, 200, "{}", ok.body);

    // By address (a NAT shared by many jobs): 40 failures with different
    // unknown ids, as one misconfigured job retrying would cause.
    let nat = "198.51.100.66";
    for i in 0..40 {
        let r = token_from(w, nat, &format!("etc_unknown{i}"), "ets_x");
        if i < ADDRESS_LIMIT {
            r.assert_error(401, "invalid_client");
        } else {
            assert_rate_limited(&r);
        }
    }
    // A good client behind the same address still gets its token...
    let ok = token_from(w, nat, &other_id, &other_secret);
    assert_eq!(ok.status, 200, "{}", ok.body);
    // ...while a wrong secret from it is 429...
    assert_rate_limited(&token_from(w, nat, &other_id, "ets_wrong"));
    // ...and no other address is slowed.
    token_from(w, "203.0.113.5", "etc_unknown-x", "ets_x").assert_error(401, "invalid_client");
    let ok = token_from(w, "203.0.113.5", &other_id, &other_secret);
    assert_eq!(ok.status, 200, "{}", ok.body);
    // IPv6 by its /64: failures from hosts of one /64 add up.
    // (Each an id of its own: the per-id limit must not be what trips.)
    for i in 0..ADDRESS_LIMIT {
        token_from(
            w,
            &format!("2001:db8:9:9::{i:x}"),
            &format!("etc_v6_{i}"),
            "ets_x",
        )
        .assert_error(401, "invalid_client");
    }
    assert_rate_limited(&token_from(w, "2001:db8:9:9:ffff::1", "etc_v6b", "ets_x"));
    let ok = token_from(w, "2001:db8:9:9:ffff::2", &other_id, &other_secret);
    assert_eq!(ok.status, 200, "{}", ok.body);
    token_from(w, "2001:db8:9:a::1", "etc_v6c", "ets_x").assert_error(401, "invalid_client");

    // Successful callers are never counted: many successes from one address.
    for _ in 0..(ADDRESS_LIMIT * 3) {
        let ok = token_from(w, "203.0.113.6", &other_id, &other_secret);
        assert_eq!(ok.status, 200, "{}", ok.body);
    }

    let log = w.log_with(&["\"outcome\":\"rate_limited\"", "client id over"]);
    assert!(log.contains("\"outcome\":\"rate_limited\""), "{log}");
    assert!(
        log.contains("address over its failed-authentication limit"),
        "{log}"
    );
    assert!(
        log.contains("client id over its failed-authentication limit"),
        "{log}"
    );
    assert!(
        !log.contains(&secret) && !log.contains(&other_secret),
        "secret in log"
    );
}

/// Revocation is no free KV write loop: repeating one revocation writes
/// once (then reads), and denylist writes per client are rate limited.
#[test]
fn revocation_repeats_write_once_and_writes_are_limited_per_client() {
    let w = rate_limited_worker();
    let (id, secret) = w.create_client(&["--scope", "read"]);
    let token = |w: &Worker| {
        let r = w.token_basic(&id, &secret, GRANT);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["access_token"].as_str().unwrap().to_owned()
    };
    let revoke = |t: &str| {
        w.post(
            "/oauth2/revoke",
            &[("Authorization", &crate::harness::basic(&id, &secret))],
            &format!("token={t}"),
        )
    };
    // The same jti, many times in a row (well within KV's one write per
    // key per second): every answer 200, never 503.
    let first = token(&w);
    for _ in 0..10 {
        let r = revoke(&first);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let log = w.log_with_count(&["already revoked"], 9);
    assert_eq!(log.matches("\"outcome\":\"revoked\"").count(), 1, "{log}");
    assert_eq!(log.matches("already revoked").count(), 9, "{log}");
    // Distinct tokens: the limit's worth of writes, then 429.
    for _ in 1..REVOCATION_LIMIT {
        let r = revoke(&token(&w));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = revoke(&token(&w));
    assert_rate_limited(&r);
    assert_eq!(r.header("retry-after"), Some("60"));
    // A repeat of a done revocation still answers 200 (no write).
    assert_eq!(revoke(&first).status, 200);
    // Another client is not affected.
    let (other, other_secret) = w.create_client(&["--scope", "read"]);
    let t = w.token_basic(&other, &other_secret, GRANT).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = w.post(
        "/oauth2/revoke",
        &[(
            "Authorization",
            &crate::harness::basic(&other, &other_secret),
        )],
        &format!("token={t}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A record in KV that does not parse: `500 server_error`, nothing issued,
/// the cause in the log; other clients are unaffected.
#[test]
fn corrupt_client_record_is_server_error() {
    let w = Worker::start(
        "corrupt",
        &[
            ("ISSUER", ISSUER),
            ("REQUIRE_HTTPS", "false"),
            ("DEFAULT_AUDIENCE", "https://api.example"),
        ],
        &signing_keys_json(&[("c", &random_key())]),
        false,
    );
    let (id, secret) = w.create_client(&["--scope", "read"]);
    let (good_id, good_secret) = w.create_client(&["--scope", "read"]);
    w.kv_put_raw(
        &edge_token_core::client::record_key(&id),
        "{\"version\":1,\"trunc",
    );
    for _ in 0..2 {
        let r = w.token_basic(&id, &secret, GRANT);
        r.assert_error(500, "server_error");
        assert!(!r.body.contains("access_token") && !r.body.contains("trunc"));
    }
    let ok = w.token_basic(&good_id, &good_secret, GRANT);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let log = w.log_with(&["malformed client record"]);
    assert!(log.contains("malformed client record"), "{log}");
}

/// Starts the issuer with a bad configuration and checks that every
/// endpoint but 404 answers `500 server_error`, nothing is issued, and the
/// log names the problem (`expected_log`).
fn assert_bad_config(
    name: &str,
    vars: &[(&str, &str)],
    keys: &str,
    setup: Setup,
    expected_log: &[&str],
) {
    let w = Worker::start_issuer(name, vars, keys, &setup);
    assert_post_endpoints_server_error(&w);
    let r = w.raw(b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    r.assert_error(500, "server_error");
    let log = w.log_with(expected_log);
    for expected in expected_log {
        assert!(log.contains(expected), "{expected:?} not in log:\n{log}");
    }
    assert!(!log.contains("access_token"));
}

/// Token, introspection and revocation each answer `500 server_error` with
/// the generic description (no internal cause on the wire).
fn assert_post_endpoints_server_error(w: &Worker) {
    let basic = crate::harness::basic("etc_any", "ets_any");
    for path in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] {
        let r = w.post(path, &[("Authorization", &basic)], GRANT);
        r.assert_error(500, "server_error");
        assert_eq!(
            r.json()["error_description"],
            "internal error",
            "internal cause sent: {}",
            r.body
        );
    }
}

#[test]
fn missing_signing_keys_is_server_error() {
    assert_bad_config(
        "no-keys",
        &[("ISSUER", ISSUER), ("REQUIRE_HTTPS", "false")],
        "",
        Setup::default(),
        &["SIGNING_KEYS is not set"],
    );
}

#[test]
fn malformed_ttls_are_server_error() {
    assert_bad_config(
        "bad-ttls",
        &[
            ("ISSUER", ISSUER),
            ("REQUIRE_HTTPS", "false"),
            ("TOKEN_TTL", "5m"),
            ("MAX_TOKEN_TTL", "-1"),
            ("KV_CACHE_TTL", "29"),
            ("STORE_TIMEOUT_MS", "999999"),
        ],
        &signing_keys_json(&[("k", &random_key())]),
        Setup::default(),
        &[
            "TOKEN_TTL must be a positive whole number, got \\\"5m\\\"",
            "MAX_TOKEN_TTL must be a positive whole number, got \\\"-1\\\"",
            "KV_CACHE_TTL must be at least 30",
            "STORE_TIMEOUT_MS must be at most 30000",
        ],
    );
}

/// No `CLIENTS` binding: requests that need a client record are a 500 with
/// the binding named in the log (config itself is fine, so metadata works).
#[test]
fn missing_kv_binding_is_server_error() {
    let w = Worker::start_issuer(
        "no-kv",
        &[("ISSUER", ISSUER), ("REQUIRE_HTTPS", "false")],
        &signing_keys_json(&[("k", &random_key())]),
        &Setup {
            no_kv_binding: true,
            ..Setup::default()
        },
    );
    assert_post_endpoints_server_error(&w);
    let log = w.log_with(&["client store misconfigured: KV binding CLIENTS"]);
    assert!(
        log.contains("client store misconfigured: KV binding CLIENTS"),
        "{log}"
    );
}

/// Every endpoint, successes and each kind of failure: every response but
/// the public metadata carries the no-store headers, and the Worker's whole
/// log never holds a client secret, its digest, a token (or its signature)
/// or signing-key material.
fn sweep_responses_and_log(w: &Worker) {
    use crate::harness::basic;
    let (id, secret) = w.create_client(&["--scope", "read write", "--introspect"]);
    let digest = serde_json::to_value(edge_token_core::client::SecretHash::compute(
        &id,
        &edge_token_core::credentials::ClientSecret::new(secret.clone()),
    ))
    .unwrap();
    let digest = digest.as_str().unwrap().to_owned();
    let auth = basic(&id, &secret);
    let issued = w.post("/oauth2/token", &[("Authorization", &auth)], GRANT);
    assert_eq!(issued.status, 200, "{}", issued.body);
    let token = issued.json()["access_token"].as_str().unwrap().to_owned();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    let post_creds = format!("{GRANT}&client_id={id}&client_secret={secret}");
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let with_auth = [("Authorization", auth.as_str())];
    let mut responses = vec![
        issued.clone(),
        w.post("/oauth2/token", &[], &post_creds),
        w.post("/oauth2/token", &with_auth, &format!("{GRANT}&scope=admin")),
        w.post("/oauth2/token", &with_auth, "grant_type=password"),
        w.post(
            "/oauth2/token",
            &with_auth,
            &format!("{GRANT}&resource=not-a-uri"),
        ),
        w.post(
            "/oauth2/token",
            &[("Authorization", &basic(&id, "ets_wrong"))],
            GRANT,
        ),
        w.post(
            "/oauth2/token",
            &[],
            &format!("{GRANT}&client_id={id}&client_secret={secret}x"),
        ),
        w.post("/oauth2/token", &[], GRANT),
        w.post("/oauth2/token", &with_auth, &"a".repeat(20_000)),
        w.post("/oauth2/introspect", &with_auth, &format!("token={token}")),
        w.post("/oauth2/introspect", &with_auth, "token=garbage"),
        w.post("/oauth2/introspect", &with_auth, ""),
        w.post("/oauth2/revoke", &with_auth, "token=garbage"),
        w.post("/oauth2/revoke", &with_auth, &format!("token={token}")),
        w.post("/oauth2/introspect", &with_auth, &format!("token={token}")),
        w.post("/nope", &form, ""),
    ];
    for method in ["GET", "PUT", "DELETE", "OPTIONS"] {
        responses.push(
            w.raw(
                format!("{method} /oauth2/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            ),
        );
    }
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    for expected in [200, 400, 401, 404, 405, 413] {
        assert!(
            statuses.contains(&expected),
            "{expected} not swept: {statuses:?}"
        );
    }
    for r in &responses {
        r.assert_no_store();
        assert!(
            !r.body.contains(&secret) && !r.body.contains(&digest),
            "{}",
            r.body
        );
    }
    // A method the runtime's Request type does not know is still refused.
    let query = w.raw(
        b"QUERY /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    query.assert_error(405, "invalid_request");
    assert_eq!(query.header("allow"), Some("GET, HEAD"));
    let metadata = w.raw(b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(metadata.status, 200);
    assert!(metadata
        .header("cache-control")
        .is_some_and(|v| v.starts_with("public")));

    std::thread::sleep(Duration::from_millis(500));
    let log = w.log_text();
    assert!(log.contains(&id), "the sweep's requests are not in the log");
    for (what, needle) in [
        ("client secret", secret.as_str()),
        ("secret digest", digest.as_str()),
        ("access token", token.as_str()),
        ("token signature", signature.as_str()),
    ] {
        assert!(!log.contains(needle), "{what} in the log");
    }
    let key = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &w.key);
    assert!(!log.contains(&key), "signing key in the log");
}
