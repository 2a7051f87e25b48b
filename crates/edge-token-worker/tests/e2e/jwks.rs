//! The issuer's asymmetric signing on workerd: `/.well-known/jwks.json`,
//! `jwks_uri`, ES256 / EdDSA / Ed25519 tokens signed with Web Crypto and
//! checked here with the `p256` and `ed25519-dalek` crates against the
//! published keys, introspection and revocation of such tokens, and bad
//! `SIGNING_KEYS` refused without a trace of private key material.

use crate::asym::{
    assert_ed25519_signature, assert_es256_signature, ed25519_issuer, eddsa_issuer, es256_issuer,
    fetch_jwks, hs256_entry, introspect, request, signing_keys, split, tampered, EdIssuer, Issuer,
    TestKey, AUDIENCE, JWKS_MAX_AGE,
};
use crate::harness::{basic, HttpResponse, Setup, Worker};
use crate::{worker, GRANT, ISSUER};
use edge_token_core::routes::{JWKS, METADATA, REVOKE, TOKEN};

#[track_caller]
fn assert_public_document(r: &HttpResponse, max_age: &str) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("cache-control"),
        Some(format!("public, max-age={max_age}").as_str())
    );
}

#[test]
fn jwks_lists_exactly_the_asymmetric_public_keys() {
    let es = es256_issuer();
    let w = &es.issuer.w;
    let r = request(w, "GET", JWKS);
    assert_public_document(&r, JWKS_MAX_AGE);
    // Both asymmetric keys, the signer first, each with kid/alg/use=sig and
    // its public members only; the HS256 key is not there at all.
    assert_eq!(
        r.json(),
        serde_json::json!({"keys": [es.es.expected_jwk(), es.ed.expected_jwk()]}),
        "{}",
        r.body
    );
    for k in r.json()["keys"].as_array().unwrap() {
        assert!(k.get("d").is_none() && k.get("k").is_none(), "{k}");
    }
    assert!(!r.body.contains(&es.es.d), "private key in the JWKS");
    assert!(!r.body.contains(&es.hs_secret), "HS256 secret in the JWKS");
    assert!(!r.body.contains(&es.hs_kid), "HS256 key listed");

    let head = request(w, "HEAD", JWKS);
    assert_public_document(&head, JWKS_MAX_AGE);
    assert_eq!(head.body, "");

    let post = w.post(JWKS, &[], "");
    post.assert_error(405, "invalid_request");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn jwks_uri_in_metadata_is_issuer_plus_path() {
    let r = request(&es256_issuer().issuer.w, "GET", METADATA);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["jwks_uri"], format!("{ISSUER}{JWKS}"));
    // The shared (HS256) Worker publishes it too.
    let r = request(worker(), "GET", METADATA);
    assert_eq!(r.json()["jwks_uri"], format!("{ISSUER}{JWKS}"));
}

#[test]
fn jwks_of_hs256_only_issuer_is_empty() {
    let r = request(worker(), "GET", JWKS);
    // The default JWKS_MAX_AGE.
    assert_public_document(&r, "300");
    assert_eq!(r.body, r#"{"keys":[]}"#);
}

/// Claims of a token from one of the asymmetric issuers' clients.
#[track_caller]
fn assert_claims(i: &Issuer, claims: &serde_json::Value) {
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["client_id"], i.id.as_str());
    assert_eq!(claims["sub"], i.id.as_str());
    assert_eq!(claims["scope"], "read");
}

#[test]
fn jwks_es256_token_is_raw_rs_signed_with_the_published_key() {
    let es = es256_issuer();
    let token = es.issuer.token();
    let parts = split(&token);
    assert_eq!(
        parts.header,
        serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": es.es.kid})
    );
    assert_claims(&es.issuer, &parts.claims);
    // Web Crypto signs with the key configured: the JWKS key is it.
    assert_es256_signature(&fetch_jwks(&es.issuer.w), &token);
    // A fresh random k each time: two tokens, two signatures (and both good).
    let again = es.issuer.token();
    assert_ne!(split(&again).signature, parts.signature);
    assert_es256_signature(&fetch_jwks(&es.issuer.w), &again);
    assert_isolate_start(&es.issuer.w, "imported");
}

/// With `disallow_importable_env`, the `env` of `cloudflare:workers` that
/// the JS entry hands `prepare` at start-up is empty: nothing may be kept
/// from it. The start line says `error`, and the first request parses its
/// own bindings and imports the key: the Worker answers as without the
/// flag.
#[test]
fn jwks_empty_env_at_start_up_is_not_kept() {
    let es = TestKey::es256("es-late");
    let setup = Setup {
        compatibility_flags: vec!["disallow_importable_env"],
        ..Setup::default()
    };
    let w = Worker::start_issuer(
        "empty-start-env",
        &crate::asym::issuer_vars(),
        &signing_keys(std::slice::from_ref(&es.entry)),
        &setup,
    );
    assert_isolate_start(&w, "error");
    let (id, secret) =
        w.create_client(&["--scope", "read", "--audience", "https://api.example.com"]);
    for _ in 0..2 {
        let token = crate::asym::issue(&w, &id, &secret);
        assert_eq!(split(&token).header["kid"], "es-late");
        assert_es256_signature(&fetch_jwks(&w), &token);
    }
}

/// The isolate's start line says what became of its signing key (imported
/// into Web Crypto at start-up, and checked, before any request).
pub fn assert_isolate_start(w: &Worker, signing_key: &str) {
    let line =
        format!(r#"{{"event":"isolate_start","outcome":"ok","signing_key":"{signing_key}"}}"#);
    let log = w.log_with(&[&line]);
    assert!(log.contains(&line), "{line} not in log:\n{log}");
    assert!(
        !log.contains(r#""event":"isolate_start","outcome":"error""#),
        "{log}"
    );
}

fn assert_ed_issuer(i: &EdIssuer, alg: &str) {
    let token = i.issuer.token();
    let parts = split(&token);
    assert_eq!(
        parts.header,
        serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": i.ed.kid})
    );
    assert_claims(&i.issuer, &parts.claims);
    let jwks = fetch_jwks(&i.issuer.w);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&jwks).unwrap(),
        serde_json::json!({"keys": [i.ed.expected_jwk(), i.es.expected_jwk()]})
    );
    assert_ed25519_signature(&jwks, &token);
    let v = introspect(&i.issuer, &token);
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["jti"], parts.claims["jti"]);
    assert_eq!(introspect(&i.issuer, &tampered(&token))["active"], false);
    assert_isolate_start(&i.issuer.w, "imported");
}

#[test]
fn jwks_eddsa_token_verifies_with_the_published_key() {
    assert_ed_issuer(eddsa_issuer(), "EdDSA");
}

#[test]
fn jwks_ed25519_named_signer_says_ed25519_in_the_header() {
    assert_ed_issuer(ed25519_issuer(), "Ed25519");
}

#[test]
fn jwks_es256_tokens_introspect_and_revoke() {
    let es = es256_issuer();
    let i = &es.issuer;
    let token = i.token();
    let other = i.token();
    let claims = split(&token).claims;
    let v = introspect(i, &token);
    assert_eq!(v["active"], true, "{v}");
    for field in [
        "iss",
        "aud",
        "client_id",
        "sub",
        "exp",
        "iat",
        "jti",
        "scope",
    ] {
        assert_eq!(v[field], claims[field], "{field}");
    }
    assert_eq!(introspect(i, &tampered(&token))["active"], false);
    // An ES256 token whose signature is the DER form of the real one.
    let parts = split(&token);
    let sig = p256::ecdsa::Signature::from_slice(&parts.signature).unwrap();
    let der = format!(
        "{}.{}",
        parts.signing_input,
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            sig.to_der().as_bytes()
        )
    );
    assert_eq!(introspect(i, &der)["active"], false);

    let r = i.w.post(
        REVOKE,
        &[("Authorization", &basic(&i.id, &i.secret))],
        &format!("token={token}&token_type_hint=access_token"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(introspect(i, &token), serde_json::json!({"active": false}));
    assert_eq!(introspect(i, &other)["active"], true);
}

/// Starts the issuer with bad `SIGNING_KEYS` and checks: token requests
/// and the JWKS (and metadata) are `500 server_error`; none of `secrets`
/// (private key material in the configuration) is in any response or in
/// the Worker's log; the log names `kid` and says `problem`.
fn assert_bad_keys(name: &str, keys: &str, kid: &str, problem: &str, secrets: &[&str]) {
    let w = Worker::start(name, &crate::asym::issuer_vars(), keys, false);
    let mut responses = vec![
        w.token_basic("etc_any", "ets_any", GRANT),
        w.post(TOKEN, &[], GRANT),
        request(&w, "GET", JWKS),
        request(&w, "GET", METADATA),
    ];
    for r in &responses {
        r.assert_error(500, "server_error");
        assert_eq!(
            r.json()["error_description"],
            "internal error",
            "{}",
            r.body
        );
    }
    responses.push(request(&w, "HEAD", JWKS));
    assert_eq!(responses.last().unwrap().status, 500);
    // Each of the five requests logs what is wrong with which key
    // (JSON-escaped quotes).
    let named = format!("kid \\\"{kid}\\\"");
    let log = w.log_with_count(&[&named, problem], responses.len());
    assert!(log.contains(&named), "{named} not in log:\n{log}");
    assert!(log.contains(problem), "{problem:?} not in log:\n{log}");
    for secret in secrets {
        assert!(secret.len() >= 20, "{secret} is not a real secret");
        for r in &responses {
            assert!(!r.body.contains(secret), "key material in a response");
            for (_, v) in &r.headers {
                assert!(!v.contains(secret), "key material in a header");
            }
        }
        assert!(!log.contains(secret), "key material in the log:\n{log}");
    }
    // The configuration is refused at start-up too: nothing imported.
    assert_isolate_start(&w, "error");
}

#[test]
fn jwks_bad_keys_public_only_signer() {
    // The first entry signs: without "d" it cannot.
    let signer = TestKey::es256("pub-only-signer");
    let other = TestKey::ed25519("private-verify-only", "EdDSA");
    let keys = signing_keys(&[signer.public_entry(), other.entry.clone()]);
    assert_bad_keys(
        "bad-keys-public-signer",
        &keys,
        "pub-only-signer",
        "is public only",
        &[&signer.d, &other.d],
    );
}

#[test]
fn jwks_bad_keys_malformed_d() {
    let good = TestKey::es256("good-signer");
    let mut bad = TestKey::ed25519("malformed-d", "EdDSA");
    // Standard base64, not base64url: nearly the real key, still secret.
    let malformed = format!("+{}", &bad.d[1..]);
    bad.entry["d"] = malformed.clone().into();
    let keys = signing_keys(&[good.entry.clone(), bad.entry.clone()]);
    assert_bad_keys(
        "bad-keys-malformed-d",
        &keys,
        "malformed-d",
        "must be 32 bytes of unpadded base64url",
        &[&good.d, &malformed, &bad.d[1..]],
    );
}

#[test]
fn jwks_bad_keys_unknown_alg() {
    let mut key = TestKey::es256("unknown-alg");
    key.entry["alg"] = "ES512".into();
    let (hs, hs_secret) = hs256_entry("hs");
    let keys = signing_keys(&[key.entry.clone(), hs]);
    assert_bad_keys(
        "bad-keys-unknown-alg",
        &keys,
        "unknown-alg",
        "unknown \\\"alg\\\"",
        &[&key.d, &hs_secret],
    );
}

#[test]
fn jwks_bad_keys_duplicate_kid() {
    let a = TestKey::es256("twice");
    let b = TestKey::ed25519("twice", "EdDSA");
    let keys = signing_keys(&[a.entry.clone(), b.entry.clone()]);
    assert_bad_keys(
        "bad-keys-duplicate-kid",
        &keys,
        "twice",
        "appears more than once",
        &[&a.d, &b.d],
    );
}

#[test]
fn jwks_bad_keys_d_of_another_key_is_never_signed_with() {
    // A "d" that is not the private half of the entry's x/y. Natively
    // SigningKeys::parse refuses it; in the Worker (no asymmetric crypto in
    // its wasm) Web Crypto finds it at start-up, and again at the first
    // signature: the token
    // endpoint answers 500 and logs which key, and no token is signed that
    // the JWKS could not verify.
    for (kid, a, b) in [
        (
            "es-mismatch",
            TestKey::es256("es-mismatch"),
            TestKey::es256("es-other"),
        ),
        (
            "ed-mismatch",
            TestKey::ed25519("ed-mismatch", "EdDSA"),
            TestKey::ed25519("ed-other", "EdDSA"),
        ),
    ] {
        let mut entry = a.entry.clone();
        entry["d"] = b.d.clone().into();
        let keys = signing_keys(&[entry]);
        let w = Worker::start(
            &format!("bad-keys-{kid}"),
            &crate::asym::issuer_vars(),
            &keys,
            false,
        );
        let (id, secret) =
            w.create_client(&["--scope", "read", "--audience", "https://api.example.com"]);
        for _ in 0..2 {
            let r = w.token_basic(&id, &secret, GRANT);
            r.assert_error(500, "server_error");
            assert!(!r.body.contains("access_token"), "{}", r.body);
        }
        let log = w.log_with_count(&["is not the private key"], 2);
        assert!(log.contains(&format!("kid \\\"{kid}\\\"")), "{log}");
        // The start-up import found it first (and kept nothing).
        assert_isolate_start(&w, "error");
        for secret in [&a.d, &b.d] {
            assert!(
                !log.contains(secret.as_str()),
                "key material in the log:\n{log}"
            );
        }
    }
}
