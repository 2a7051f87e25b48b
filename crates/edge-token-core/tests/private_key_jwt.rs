//! `private_key_jwt` client authentication through the whole service
//! (RFC 7521 §4.2, RFC 7523 §2.2 and §3): every check, replay, rate
//! limiting, introspection and revocation, metadata.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};

use edge_token_core::assertion::{replay_key, ReplayCache, JWT_BEARER};
use edge_token_core::client::ClientRecord;
use edge_token_core::client_key::ClientKey;
use edge_token_core::config::Config;
use edge_token_core::http::{Body, HttpRequest};
use edge_token_core::limit::{limit_key, LimitKind};
use edge_token_core::random::OsRandom;
use edge_token_core::routes;
use edge_token_core::service::{Outcome, Service};
use edge_token_core::signing::RustSigner;
use edge_token_core::token::verify;
use edge_token_testkit::{
    block_on, config_from, public_jwk, sign_assertion, MemoryLimiter, MemoryStore, NoTimer,
    EDDSA_KEY, ES256_KEY, RSA_CLIENT_KEY,
};

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://auth.example";
const ID: &str = "etc_keyclient";
const FORM: &str = "application/x-www-form-urlencoded";

fn config() -> Config {
    config_from(&[
        ("ISSUER", ISSUER),
        ("TOKEN_TTL", "300"),
        ("DEFAULT_AUDIENCE", "https://api.example"),
    ])
}

fn token_endpoint() -> String {
    format!("{ISSUER}{}", routes::TOKEN)
}

/// A client registered with the public parts of `keys` (private JWK, alg, kid).
fn key_client(keys: &[(&str, &str, &str)]) -> ClientRecord {
    let mut record = ClientRecord::new(ID, "key client", NOW - 100);
    record.allowed_scopes = vec!["read".into()];
    record.default_scopes = vec!["read".into()];
    record.introspect = true;
    for (private, alg, kid) in keys {
        let mut jwk = public_jwk(private);
        jwk["alg"] = (*alg).into();
        jwk["kid"] = (*kid).into();
        record
            .add_key(
                ClientKey::from_jwk(&jwk, None, NOW - 100).unwrap(),
                NOW - 100,
            )
            .unwrap();
    }
    record
}

fn store_with(record: &ClientRecord) -> MemoryStore {
    let store = MemoryStore::new();
    store.put(&record.client_id, record.to_json());
    store
}

fn claims(jti: &str) -> Value {
    json!({
        "iss": ID, "sub": ID, "aud": token_endpoint(),
        "exp": NOW + 60, "iat": NOW, "jti": jti,
    })
}

fn post(path: &str, body: &str, headers: &[(&str, &str)]) -> HttpRequest {
    let mut all = vec![("content-type".to_owned(), FORM.to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        https: true,
        headers: all,
        body: Body::Bytes(body.as_bytes().to_vec()),
    }
}

fn assertion_form(assertion: &str) -> String {
    format!("client_assertion_type={JWT_BEARER}&client_assertion={assertion}")
}

fn token_request(assertion: &str) -> HttpRequest {
    post(
        routes::TOKEN,
        &format!(
            "grant_type=client_credentials&{}",
            assertion_form(assertion)
        ),
        &[],
    )
}

/// One service: the store, a limiter, a replay cache, pure-Rust crypto.
struct World {
    config: Config,
    store: MemoryStore,
    limiter: MemoryLimiter,
    replay: ReplayCache,
}

impl World {
    fn new(record: &ClientRecord) -> Self {
        World {
            config: config(),
            store: store_with(record),
            limiter: MemoryLimiter::new(1_000),
            replay: ReplayCache::new(64),
        }
    }

    fn handle_at(&self, req: &HttpRequest, now: u64) -> Outcome {
        let service = Service {
            config: Ok(&self.config),
            store: &self.store,
            random: &OsRandom,
            cache: None,
            limiter: &self.limiter,
            blocklist: None,
            timer: &NoTimer,
            signer: &RustSigner,
            replay: Some(&self.replay),
        };
        block_on(service.handle(req, now))
    }

    fn handle(&self, req: &HttpRequest) -> Outcome {
        self.handle_at(req, NOW)
    }
}

fn body(outcome: &Outcome) -> Value {
    serde_json::from_str(&outcome.response.body).unwrap()
}

/// A 401 `invalid_client` exactly like a wrong secret's, whose log cause
/// contains `cause`.
fn assert_refused(outcome: &Outcome, cause: &str) {
    assert_eq!(outcome.response.status, 401, "{:?}", outcome.response);
    assert_eq!(
        body(outcome),
        json!({"error": "invalid_client", "error_description": "client authentication failed"})
    );
    assert_eq!(outcome.audit.auth_method, Some("private_key_jwt"));
    let logged = outcome.audit.cause.as_deref().unwrap_or_default();
    assert!(logged.contains(cause), "cause {logged:?} lacks {cause:?}");
    assert!(
        !outcome.audit.to_json().contains(".ey"),
        "no assertion in the log"
    );
}

#[test]
fn every_algorithm_authenticates_a_token_request() {
    for (key, alg) in [
        (ES256_KEY, "ES256"),
        (EDDSA_KEY, "EdDSA"),
        (EDDSA_KEY, "Ed25519"),
        (RSA_CLIENT_KEY, "RS256"),
        (RSA_CLIENT_KEY, "PS256"),
    ] {
        let world = World::new(&key_client(&[(key, alg, "c1")]));
        let assertion = sign_assertion(key, alg, Some("c1"), &claims("j1"));
        let out = world.handle(&token_request(&assertion));
        assert_eq!(out.response.status, 200, "{alg}: {:?}", out);
        let token = body(&out)["access_token"].as_str().unwrap().to_owned();
        let claims = verify(world.config.keys.verify_keys(), &token).unwrap();
        assert_eq!(claims.client_id, ID);
        assert_eq!(claims.scope, "read");
        assert_eq!(out.audit.auth_method, Some("private_key_jwt"));
        assert_eq!(out.audit.client_id.as_deref(), Some(ID));
        assert_eq!(world.store.used_assertions(), 1, "{alg}");
    }
}

#[test]
fn audience_may_be_the_issuer_the_token_endpoint_or_a_list() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    for (i, aud) in [
        json!(ISSUER),
        json!(token_endpoint()),
        json!(["https://other.example", ISSUER]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = claims(&format!("aud{i}"));
        c["aud"] = aud.clone();
        let out = world.handle(&token_request(&sign_assertion(
            ES256_KEY,
            "ES256",
            Some("c1"),
            &c,
        )));
        assert_eq!(out.response.status, 200, "{aud}: {out:?}");
    }
}

#[test]
fn a_replayed_assertion_is_refused_here_and_through_the_store() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    let assertion = sign_assertion(ES256_KEY, "ES256", Some("c1"), &claims("once"));
    assert_eq!(
        world.handle(&token_request(&assertion)).response.status,
        200
    );
    assert_refused(
        &world.handle(&token_request(&assertion)),
        "seen by this isolate",
    );
    // Another isolate (an empty replay cache) still finds it in the store.
    let other = World {
        config: config(),
        store: store_with(&key_client(&[(ES256_KEY, "ES256", "c1")])),
        limiter: MemoryLimiter::new(1_000),
        replay: ReplayCache::new(64),
    };
    assert_eq!(
        other.handle(&token_request(&assertion)).response.status,
        200
    );
    let fresh_isolate = World {
        replay: ReplayCache::new(64),
        ..other
    };
    assert_refused(
        &fresh_isolate.handle(&token_request(&assertion)),
        "seen in the store",
    );
    // Remembered until exp plus the leeway (and at least KV's minute).
    let key = replay_key(ID, "once");
    assert_eq!(
        fresh_isolate.store.assertion_used_until(&key),
        Some(NOW + 60 + 30)
    );
}

#[test]
fn a_concurrent_write_of_the_same_jti_is_a_replay() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    world.store.set_write_conflicts(1);
    let assertion = sign_assertion(ES256_KEY, "ES256", Some("c1"), &claims("race"));
    assert_refused(
        &world.handle(&token_request(&assertion)),
        "written concurrently",
    );
}

#[test]
fn a_store_that_cannot_remember_the_jti_fails_closed() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    // Read the record first (the store is then made unavailable for the
    // replay check only by a cached record: here no cache, so the record
    // read fails too; the answer is 503 either way, never a token).
    world.store.set_unavailable(true);
    let assertion = sign_assertion(ES256_KEY, "ES256", Some("c1"), &claims("down"));
    let out = world.handle(&token_request(&assertion));
    assert_eq!(out.response.status, 503, "{out:?}");
}

#[test]
fn each_claim_check_refuses_with_its_cause() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    let signed = |c: Value| sign_assertion(ES256_KEY, "ES256", Some("c1"), &c);
    let with = |jti: &str, name: &str, v: Value| {
        let mut c = claims(jti);
        c[name] = v;
        c
    };
    let cases = [
        (
            with("a", "aud", json!("https://other.example/token")),
            "aud names neither",
        ),
        (with("b", "sub", json!("etc_other")), "iss differs from sub"),
        (with("c", "exp", json!(NOW - 31)), "expired"),
        (
            with("d", "exp", json!(NOW + 3631)),
            "more than 3600 s ahead",
        ),
        (with("e", "nbf", json!(NOW + 120)), "nbf is in the future"),
        (with("f", "iat", json!(NOW + 120)), "iat is in the future"),
        (with("g", "jti", json!("")), "jti missing"),
    ];
    for (c, cause) in cases {
        assert_refused(&world.handle(&token_request(&signed(c))), cause);
    }
    let mut no_jti = claims("h");
    no_jti.as_object_mut().unwrap().remove("jti");
    assert_refused(
        &world.handle(&token_request(&signed(no_jti))),
        "jti missing",
    );
    // authlib's default: exp exactly an hour after iat.
    let out = world.handle(&token_request(&signed(with("i", "exp", json!(NOW + 3600)))));
    assert_eq!(out.response.status, 200, "{out:?}");
    // Nothing refused was remembered as used.
    assert_eq!(world.store.used_assertions(), 1);
}

#[test]
fn keys_and_algorithms_are_the_registered_ones() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    // Unknown kid.
    let a = sign_assertion(ES256_KEY, "ES256", Some("zz"), &claims("k1"));
    assert_refused(
        &world.handle(&token_request(&a)),
        "kid names no registered key",
    );
    // Signed by another key under the registered kid.
    let a = sign_assertion(EDDSA_KEY, "EdDSA", Some("c1"), &claims("k2"));
    assert_refused(&world.handle(&token_request(&a)), "alg \"EdDSA\"");
    let other_p256 =
        r#"{"kty":"EC","crv":"P-256","d":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}"#;
    let a = sign_assertion(other_p256, "ES256", Some("c1"), &claims("k3"));
    assert_refused(&world.handle(&token_request(&a)), "signature invalid");
    // alg none, with an empty signature.
    let unsigned = |alg: &str, sig: &str| {
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{sig}",
            b64(&json!({"alg": alg, "kid": "c1"})),
            b64(&claims("k4"))
        )
    };
    assert_refused(
        &world.handle(&token_request(&unsigned("none", ""))),
        "alg \"none\"",
    );
    // HS256 keyed with the public key (the key-confusion attack).
    let input = unsigned("HS256", "");
    let input = input.trim_end_matches('.');
    let public = public_jwk(ES256_KEY).to_string();
    let mac = {
        use hmac::Mac;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(public.as_bytes()).unwrap();
        m.update(input.as_bytes());
        m.finalize().into_bytes()
    };
    let forged = format!(
        "{input}.{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, mac)
    );
    assert_refused(&world.handle(&token_request(&forged)), "alg \"HS256\"");
    // A tampered payload.
    let good = sign_assertion(ES256_KEY, "ES256", Some("c1"), &claims("k5"));
    let mut parts: Vec<&str> = good.split('.').collect();
    let evil = {
        use base64::Engine;
        let mut c = claims("k5");
        c["sub"] = ID.into();
        c["extra"] = "x".into();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string())
    };
    parts[1] = &evil;
    assert_refused(
        &world.handle(&token_request(&parts.join("."))),
        "signature invalid",
    );
    // Too long.
    let long = format!("{good}{}", "A".repeat(9000));
    assert_refused(&world.handle(&token_request(&long)), "longer than 8192");
    // crit.
    let crit = {
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.AA",
            b64(&json!({"alg":"ES256","crit":["x"],"x":1})),
            b64(&claims("k6"))
        )
    };
    assert_refused(&world.handle(&token_request(&crit)), "crit");
    assert_eq!(world.store.used_assertions(), 0);
}

#[test]
fn without_kid_every_key_of_the_alg_is_tried() {
    let world = World::new(&key_client(&[
        (EDDSA_KEY, "EdDSA", "old"),
        (ES256_KEY, "ES256", "new"),
    ]));
    let a = sign_assertion(ES256_KEY, "ES256", None, &claims("nokid"));
    assert_eq!(world.handle(&token_request(&a)).response.status, 200);
}

#[test]
fn the_client_and_its_method_must_match() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    // Unknown client.
    let mut c = claims("u1");
    c["iss"] = "etc_nobody".into();
    c["sub"] = "etc_nobody".into();
    assert_refused(
        &world.handle(&token_request(&sign_assertion(
            ES256_KEY,
            "ES256",
            Some("c1"),
            &c,
        ))),
        "unknown client",
    );
    // A body client_id naming another client.
    let a = sign_assertion(ES256_KEY, "ES256", Some("c1"), &claims("u2"));
    let req = post(
        routes::TOKEN,
        &format!(
            "grant_type=client_credentials&client_id=etc_other&{}",
            assertion_form(&a)
        ),
        &[],
    );
    assert_refused(&world.handle(&req), "client_id does not match");
    // The same client_id is fine.
    let req = post(
        routes::TOKEN,
        &format!(
            "grant_type=client_credentials&client_id={ID}&{}",
            assertion_form(&a)
        ),
        &[],
    );
    assert_eq!(world.handle(&req).response.status, 200);
    // A disabled client.
    let mut disabled = key_client(&[(ES256_KEY, "ES256", "c1")]);
    disabled.disabled = true;
    let w = World::new(&disabled);
    let a = sign_assertion(ES256_KEY, "ES256", Some("c1"), &claims("u3"));
    assert_refused(&w.handle(&token_request(&a)), "client disabled");
    // A secret client presenting an assertion.
    let mut secret_client = ClientRecord::new(ID, "secret client", NOW);
    secret_client.secrets = vec![];
    let w = World::new(&secret_client);
    assert_refused(&w.handle(&token_request(&a)), "no registered keys");
    // A key client presenting a secret: the same 401 as a wrong secret.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{ID}:ets_guess")
        )
    );
    let out = world.handle(&post(
        routes::TOKEN,
        "grant_type=client_credentials",
        &[("authorization", &basic)],
    ));
    assert_eq!(out.response.status, 401);
    assert_eq!(
        out.audit.cause.as_deref(),
        Some("secret mismatch or expired")
    );
}

#[test]
fn one_method_per_request() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    let a = sign_assertion(ES256_KEY, "ES256", Some("c1"), &claims("m1"));
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{ID}:x")
        )
    );
    let with_basic = world.handle(&post(
        routes::TOKEN,
        &format!("grant_type=client_credentials&{}", assertion_form(&a)),
        &[("authorization", &basic)],
    ));
    assert_eq!(with_basic.response.status, 400);
    assert_eq!(body(&with_basic)["error"], "invalid_request");
    let with_secret = world.handle(&post(
        routes::TOKEN,
        &format!(
            "grant_type=client_credentials&client_secret=x&{}",
            assertion_form(&a)
        ),
        &[],
    ));
    assert_eq!(body(&with_secret)["error"], "invalid_request");
    let half = world.handle(&post(
        routes::TOKEN,
        &format!("grant_type=client_credentials&client_assertion={a}"),
        &[],
    ));
    assert_eq!(body(&half)["error"], "invalid_request");
    let twice = world.handle(&post(
        routes::TOKEN,
        &format!(
            "grant_type=client_credentials&{}&client_assertion={a}",
            assertion_form(&a)
        ),
        &[],
    ));
    assert_eq!(body(&twice)["error"], "invalid_request");
    let wrong_type = world.handle(&post(
        routes::TOKEN,
        &format!("grant_type=client_credentials&client_assertion_type=urn:x&client_assertion={a}"),
        &[],
    ));
    assert_refused(&wrong_type, "unsupported client_assertion_type");
    assert_eq!(world.store.used_assertions(), 0);
}

#[test]
fn failures_count_against_the_client_and_the_address() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    let a = sign_assertion(ES256_KEY, "ES256", Some("zz"), &claims("r1"));
    let req = post(
        routes::TOKEN,
        &format!("grant_type=client_credentials&{}", assertion_form(&a)),
        &[("cf-connecting-ip", "192.0.2.7")],
    );
    assert_refused(&world.handle(&req), "kid");
    assert_eq!(world.limiter.count(LimitKind::Client, &limit_key(ID)), 1);
    assert_eq!(world.limiter.count(LimitKind::Address, "192.0.2.7"), 1);
    // Over the limit: 429.
    let strict = World {
        limiter: MemoryLimiter::new(0),
        ..World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]))
    };
    let out = strict.handle(&req);
    assert_eq!(out.response.status, 429, "{out:?}");
    // Garbage counts by address only (no client id to count).
    let garbage = post(
        routes::TOKEN,
        &format!("grant_type=client_credentials&{}", assertion_form("x.y.z")),
        &[("cf-connecting-ip", "192.0.2.8")],
    );
    assert_refused(&world.handle(&garbage), "malformed");
    assert_eq!(world.limiter.count(LimitKind::Address, "192.0.2.8"), 1);
}

#[test]
fn introspection_and_revocation_accept_assertions() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    let issued = world.handle(&token_request(&sign_assertion(
        ES256_KEY,
        "ES256",
        Some("c1"),
        &claims("t1"),
    )));
    let token = body(&issued)["access_token"].as_str().unwrap().to_owned();
    // aud: the introspection endpoint itself (authlib's default).
    let mut c = claims("t2");
    c["aud"] = format!("{ISSUER}{}", routes::INTROSPECT).into();
    let a = sign_assertion(ES256_KEY, "ES256", Some("c1"), &c);
    let out = world.handle(&post(
        routes::INTROSPECT,
        &format!("token={token}&{}", assertion_form(&a)),
        &[],
    ));
    assert_eq!(body(&out)["active"], true, "{out:?}");
    // The introspection endpoint's URL is no audience for the token endpoint.
    let out = world.handle(&token_request(&sign_assertion(
        ES256_KEY,
        "ES256",
        Some("c1"),
        &{
            let mut c = claims("t3");
            c["aud"] = format!("{ISSUER}{}", routes::INTROSPECT).into();
            c
        },
    )));
    assert_refused(&out, "aud");
    // Revocation with the issuer as audience.
    let mut c = claims("t4");
    c["aud"] = ISSUER.into();
    let a = sign_assertion(ES256_KEY, "ES256", Some("c1"), &c);
    let out = world.handle(&post(
        routes::REVOKE,
        &format!("token={token}&{}", assertion_form(&a)),
        &[],
    ));
    assert_eq!(out.response.status, 200, "{out:?}");
    assert_eq!(out.audit.outcome, edge_token_core::audit::Verdict::Revoked);
}

#[test]
fn metadata_advertises_private_key_jwt() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    let req = HttpRequest {
        method: "GET".into(),
        path: routes::METADATA.into(),
        https: true,
        headers: vec![],
        body: Body::Bytes(vec![]),
    };
    let doc = body(&world.handle(&req));
    for endpoint in ["token", "introspection", "revocation"] {
        let methods = &doc[format!("{endpoint}_endpoint_auth_methods_supported")];
        assert!(methods
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt")));
        assert_eq!(
            doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"])
        );
    }
}

#[test]
fn the_replay_window_follows_the_clock() {
    let world = World::new(&key_client(&[(ES256_KEY, "ES256", "c1")]));
    let assertion = sign_assertion(ES256_KEY, "ES256", Some("c1"), &claims("late"));
    assert_eq!(
        world.handle(&token_request(&assertion)).response.status,
        200
    );
    // After exp + leeway the assertion is refused as expired, not replayed.
    let out = world.handle_at(&token_request(&assertion), NOW + 91);
    assert_refused(&out, "expired");
}
